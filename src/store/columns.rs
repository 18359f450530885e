//! How domain values are kept in columns, the same in every backend: a
//! store written by one reads as the other reads it.

use crate::case::Notice;
use chrono::{DateTime, NaiveDate, Utc};

/// A time as whole seconds since the epoch.
pub(crate) fn ts(d: Option<DateTime<Utc>>) -> Option<i64> {
    d.map(|d| d.timestamp())
}

pub(crate) fn from_ts(t: Option<i64>) -> Option<DateTime<Utc>> {
    t.and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
}

/// Address lists are stored one per line (no address holds a line break).
pub(crate) fn join_lines(items: &[String]) -> String {
    items.join("\n")
}

pub(crate) fn split_lines(s: &str) -> Vec<String> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split('\n').map(str::to_string).collect()
    }
}

/// A notice as the `cases` table keeps it: the date, or `none` and why.
pub(crate) fn notice_columns(notice: &Notice) -> (String, Option<String>) {
    match notice {
        Notice::On { date } => (date.to_string(), None),
        Notice::Not { why } => ("none".to_string(), Some(why.clone())),
    }
}

/// The notice [`notice_columns`] kept.
pub(crate) fn notice_from_columns(notified: &str, why: Option<String>) -> Notice {
    match NaiveDate::parse_from_str(notified, "%Y-%m-%d") {
        Ok(date) => Notice::On { date },
        Err(_) => Notice::Not {
            why: why.unwrap_or_default(),
        },
    }
}
