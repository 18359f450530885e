//! The inventory as reports see it: stored messages judged again by the
//! retention rules for any as-of date, and handed to a printer in the order
//! a scan reads them.
//!
//! Staleness is never stored: it depends on the date a report is made for
//! and on the rules in force, so it is judged here, from what the store
//! keeps (folder, flags, dates, sender, recipients, masked subject,
//! findings). The engine judges a freshly read message the same way, which
//! is why `report` prints exactly what `scan --full` prints.

use crate::model::MessageReport;
use crate::report::Printer;
use crate::rules::{self, RuleSet};
use crate::store::{Judgement, RunId, Store, StoreError};
use chrono::NaiveDate;

/// Judges a stored message's staleness as of `as_of`.
pub fn judge(rules: &RuleSet, as_of: NaiveDate, mut report: MessageReport) -> MessageReport {
    report.stale = report.date.and_then(|received| {
        let facts = rules::facts(&report.meta, &report.envelope, &report.findings);
        rules.judge(&facts, received, as_of)
    });
    report
}

/// A stored message judged as of `as_of`: by its stored judgement when the
/// rules that made it are these (`version`), so their conditions (subject
/// and sender patterns) are not run again for every message of a report;
/// else anew. Both give the same verdict: the stored one is the first day
/// [`judge`]'s rule holds, and its age is counted from the same day.
pub fn judge_as_stored(
    rules: &RuleSet,
    version: Option<i64>,
    as_of: NaiveDate,
    mut report: MessageReport,
    judgement: Option<crate::store::Judgement>,
) -> MessageReport {
    match judgement {
        Some(j) if Some(j.version) == version => {
            report.stale = j.stale.and_then(|(rule, from)| {
                let rule = rules.rules.iter().find(|r| r.id == rule)?;
                let received = report.date?;
                let day = rule
                    .age_by
                    .pick(received, report.envelope.date_header)
                    .date_naive();
                (from <= as_of).then(|| crate::model::Staleness {
                    rule: rule.id.clone(),
                    age_days: (as_of - day).num_days(),
                })
            });
            report
        }
        _ => judge(rules, as_of, report),
    }
}

/// A message's judgement for every date at once, as the store keeps it.
pub fn judgement(rules: &RuleSet, version: i64, r: &MessageReport) -> Judgement {
    let facts = crate::rules::facts(&r.meta, &r.envelope, &r.findings);
    Judgement {
        version,
        stale: r
            .date
            .and_then(|received| rules.stale_from(&facts, received))
            .map(|(rule, day)| (rule.to_string(), day)),
        unreadable: r.problems.iter().any(|p| p.kind.content_skipped()),
    }
}

/// What a report needs besides the messages: who owns each mailbox (from
/// the store) and each rule in words, in `lang`.
pub fn report_context(
    as_of: NaiveDate,
    min_confidence: f32,
    list_all: bool,
    store: &dyn Store,
    rules: &RuleSet,
    lang: crate::model::Lang,
) -> Result<crate::report::ReportContext, StoreError> {
    Ok(crate::report::ReportContext {
        as_of,
        lang,
        min_confidence,
        list_all,
        mailboxes: store
            .mailboxes()?
            .into_iter()
            .map(|m| {
                (
                    m.source,
                    crate::report::MailboxName {
                        owner: m.owner,
                        address: m.address,
                        not_mail: m.not_mail,
                        waited: m.waited,
                    },
                )
            })
            .collect(),
        rules: rules
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.describe(lang).to_string()))
            .collect(),
    })
}

/// What a rendering covered, for the exit status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Rendered {
    pub messages: u64,
    /// Messages with a part that went unscanned.
    pub incomplete: u64,
    /// Mailboxes whose last scan failed.
    pub failed: u64,
}

impl Rendered {
    /// Exit status per the contract: 0 complete, 1 something went unread.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.incomplete > 0 || self.failed > 0)
    }
}

/// Prints the inventory of `sources` (in that order) as of `as_of`; only the
/// messages read in `read_in` when given. Mailboxes whose last scan failed
/// are reported after their messages.
pub fn print(
    store: &dyn Store,
    sources: &[String],
    rules: &RuleSet,
    as_of: NaiveDate,
    read_in: Option<RunId>,
    printer: &mut dyn Printer,
) -> Result<Rendered, StoreError> {
    let mut rendered = Rendered::default();
    let failures: Vec<(String, String)> = store
        .mailboxes()?
        .into_iter()
        .filter(|m| sources.contains(&m.source) && m.last_status.as_deref() == Some("failed"))
        .map(|m| (m.source, m.last_error.unwrap_or_default()))
        .collect();
    let version = store.known_judgement_version(&rules.digest)?;
    for source in sources {
        store.each_message(source, read_in, &mut |stored| {
            let report = judge_as_stored(rules, version, as_of, stored.report, stored.judgement);
            rendered.messages += 1;
            if report.problems.iter().any(|p| p.kind.content_skipped()) {
                rendered.incomplete += 1;
            }
            printer.message(&stored.source, &report)
        })?;
    }
    for source in sources {
        if let Some((_, error)) = failures.iter().find(|(s, _)| s == source) {
            rendered.failed += 1;
            printer
                .source_failed(source, error)
                .map_err(|e| StoreError::Invalid(format!("writing the report: {e}")))?;
        }
    }
    printer
        .finish()
        .map_err(|e| StoreError::Invalid(format!("writing the report: {e}")))?;
    Ok(rendered)
}
