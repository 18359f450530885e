//! An offboarding case as the store keeps it: the documented reason for
//! opening a leaver's mailbox, and the plan's rows with their decisions.
//! Below the store (which keeps them) and the offboarding workflow (which
//! makes them), so each depends only downward.

use chrono::NaiveDate;
use serde::Serialize;

/// Whether and when the employee was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "notified", rename_all = "snake_case")]
pub enum Notice {
    /// Notified on this day.
    On { date: NaiveDate },
    /// Not notified, and why (e.g. unreachable): shown wherever the case is.
    Not { why: String },
}

/// An offboarding case: the documented reason for opening a mailbox.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    pub id: String,
    /// The leaver's mailbox, as scanned.
    pub source: String,
    pub reason: String,
    pub legal_basis: String,
    pub notice: Notice,
    pub successor: Option<String>,
    pub leaving: Option<NaiveDate>,
    /// Search terms declared up front: the only terms content previews may use.
    pub terms: Vec<String>,
    pub opened_by: String,
    pub opened_at: String,
}

impl Case {
    /// When the mailbox should be gone: `months` after leaving (or after
    /// the case was opened, when no leaving date was given).
    pub fn deletion_deadline(&self, months: u32) -> Option<NaiveDate> {
        let from = self.leaving.or_else(|| {
            chrono::DateTime::parse_from_rfc3339(&self.opened_at)
                .ok()
                .map(|d| d.date_naive())
        })?;
        from.checked_add_months(chrono::Months::new(months))
    }
}

/// One fact of a case that a rerun of `offboard` would change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseChange {
    pub field: &'static str,
    pub old: String,
    pub new: String,
}

/// What differs between a recorded case and the same case given again:
/// reason, legal basis, notice, and a successor or leaving date that was
/// given (leaving one out is not a change).
pub fn case_changes(old: &Case, new: &Case) -> Vec<CaseChange> {
    let notice = |n: &Notice| match n {
        Notice::On { date } => date.to_string(),
        Notice::Not { why } => format!("none ({why})"),
    };
    let date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let mut out = Vec::new();
    let mut differs = |field: &'static str, old: String, new: String| {
        if old != new {
            out.push(CaseChange { field, old, new });
        }
    };
    differs("reason", old.reason.clone(), new.reason.clone());
    differs(
        "legal basis",
        old.legal_basis.clone(),
        new.legal_basis.clone(),
    );
    differs("notice", notice(&old.notice), notice(&new.notice));
    if new.successor.is_some() {
        differs(
            "successor",
            old.successor.clone().unwrap_or_default(),
            new.successor.clone().unwrap_or_default(),
        );
    }
    if new.leaving.is_some() {
        differs("leaving date", date(old.leaving), date(new.leaving));
    }
    out
}

#[cfg(test)]
impl Case {
    /// A case with fixed facts, for unit tests of plans and handovers.
    pub(crate) fn for_tests(id: &str) -> Case {
        Case {
            id: id.into(),
            source: "imaps://kari%40firma.no@host".into(),
            reason: "drift".into(),
            legal_basis: "§ 2".into(),
            notice: Notice::Not { why: "x".into() },
            successor: None,
            leaving: None,
            terms: Vec::new(),
            opened_by: "leder".into(),
            opened_at: "2026-11-01T10:00:00Z".into(),
        }
    }
}

/// The decisions a plan row can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Copy to the successor.
    Handover,
    /// Retention requires keeping it (e.g. accounting).
    Keep,
    /// Past retention: goes through the journaled cleanup.
    Delete,
    /// Private or union-related: never handed over, never shown.
    Private,
    /// A person decides.
    Review,
}

impl Decision {
    pub const ALL: [Decision; 5] = [
        Decision::Handover,
        Decision::Keep,
        Decision::Delete,
        Decision::Private,
        Decision::Review,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Handover => "handover",
            Decision::Keep => "keep",
            Decision::Delete => "delete",
            Decision::Private => "private",
            Decision::Review => "review",
        }
    }

    pub fn parse(s: &str) -> Option<Decision> {
        Decision::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// One row of the plan: a message and what to do with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    pub message_id: String,
    pub folder: String,
    /// IMAP UID; `None` for local sources.
    pub uid: Option<u32>,
    /// The inventory's key of the message (UIDVALIDITY and UID, or the
    /// local key): how the store finds it again.
    #[serde(skip)]
    pub key: String,
    pub date: String,
    pub from: String,
    /// Masked as in every report.
    pub subject: String,
    pub decision: Decision,
    pub why: String,
}
