//! The compliance report from the store alone, never a mailbox connection:
//! the mailboxes asked for (by source, by department), each judged by its
//! latest snapshot as of the date, the whole history for the trends, and
//! the deviation register.

use super::{
    ComplianceReport, DeviationStream, MailboxInfo, MailboxState, Snapshot, SnapshotBuilder, build,
};
use crate::rules::RuleSet;
use crate::store::{SnapshotRecord, Store, StoreError};
use chrono::NaiveDate;
use std::collections::HashMap;

/// Which mailboxes a report covers: those named (all when none are), of
/// one department when it is given.
pub struct Scope<'a> {
    pub sources: &'a [String],
    pub department: Option<&'a str>,
}

/// Builds the report as of `as_of`.
pub fn gather(
    store: &dyn Store,
    rules: &RuleSet,
    as_of: NaiveDate,
    scope: &Scope<'_>,
) -> Result<ComplianceReport, StoreError> {
    let wanted: Vec<_> = store
        .mailboxes()?
        .into_iter()
        .filter(|m| scope.sources.is_empty() || scope.sources.contains(&m.source))
        .filter(|m| {
            scope.department.is_none_or(|d| {
                m.department
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(d))
            })
        })
        .collect();
    let snapshots = store.snapshots()?;
    let mut by_source: HashMap<&str, Vec<&SnapshotRecord>> = HashMap::new();
    for s in &snapshots {
        by_source
            .entry(s.snapshot.source.as_str())
            .or_default()
            .push(s);
    }
    let unfinished = store.unfinished_jobs()?;
    let mut infos = Vec::new();
    let mut states = Vec::new();
    for m in &wanted {
        let own = by_source
            .get(m.source.as_str())
            .map_or(&[][..], Vec::as_slice);
        // The latest snapshot as of the date; a mailbox scanned before the
        // history existed is judged from its messages once.
        let latest = own
            .iter()
            .filter(|s| s.snapshot.as_of <= as_of)
            .max_by_key(|s| (s.snapshot.as_of, s.run))
            .map(|s| s.snapshot.clone());
        let snapshot = match latest {
            Some(s) => s,
            None => {
                let mut counted = SnapshotBuilder::new(&m.source, as_of);
                store.each_message(&m.source, None, &mut |stored| {
                    counted.add(&crate::inventory::judge(rules, as_of, stored.report));
                    Ok(())
                })?;
                counted.finish()
            }
        };
        let day = |s: &Option<String>| {
            s.as_deref().and_then(|s| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|d| d.date_naive())
                    .or_else(|| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
            })
        };
        infos.push(MailboxInfo {
            source: m.source.clone(),
            owner: m.owner.clone(),
            address: m.address.clone(),
            department: m.department.clone(),
            // The date the last scan judged by (its --as-of), as the
            // history knows it; a test or a late run scans "as of" a day.
            last_scan: own
                .iter()
                .map(|s| s.snapshot.as_of)
                .max()
                .or_else(|| day(&m.last_scan)),
            last_status: m.last_status.clone(),
            last_error: m.last_error.clone(),
            in_progress: unfinished.iter().find(|j| j.source == m.source).map(|j| {
                super::InProgress {
                    run: j.run,
                    holder: j.holder.clone(),
                }
            }),
        });
        states.push(snapshot);
    }
    let mailboxes: Vec<MailboxState<'_>> = infos
        .iter()
        .zip(&states)
        .map(|(info, snapshot)| MailboxState { info, snapshot })
        .collect();
    let now = wanted.iter().all(|m| {
        by_source
            .get(m.source.as_str())
            .is_none_or(|own| own.iter().all(|s| s.snapshot.as_of <= as_of))
    });
    let history: Vec<Snapshot> = snapshots.into_iter().map(|s| s.snapshot).collect();
    let mut report = build(
        as_of,
        scope.department,
        &mailboxes,
        &history,
        &Register { store },
    )
    .map_err(|e| StoreError::Invalid(e.to_string()))?;
    // Distinct values across mailboxes, by fingerprint (one card in two
    // mailboxes is one value), from what the store holds now: right for a
    // report as of the last scans, not for one of an earlier date (then
    // each mailbox's own count is summed, as the history kept it).
    if now {
        let sources: Vec<String> = wanted.iter().map(|m| m.source.clone()).collect();
        for category in super::Category::ALL {
            let Some(count) = report.totals.by_category.get_mut(category.label()) else {
                continue;
            };
            let detectors: Vec<String> = crate::model::DetectorId::VALUED
                .iter()
                .filter(|d| super::Category::of(d) == category)
                .map(|d| d.as_str().into_owned())
                .collect();
            if !detectors.is_empty() {
                count.values = store.distinct_values(&sources, &detectors)?;
            }
        }
    }
    Ok(report)
}

/// The deviation register as a report reads it: from the store, one
/// deviation at a time, each time it is listed.
pub struct Register<'a> {
    pub store: &'a dyn Store,
}

impl DeviationStream for Register<'_> {
    fn each(
        &self,
        visit: &mut dyn FnMut(&super::Deviation) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        self.store
            .each_deviation(&mut |d| visit(&d))
            .map_err(|e| std::io::Error::other(e.to_string()))
    }
}

/// Records in the audit trail that a compliance report was delivered (how,
/// to whom, how many files): the board's copy can be traced.
pub fn record_delivery(
    store: &mut dyn Store,
    as_of: NaiveDate,
    how: &str,
    to: Option<&str>,
    files: usize,
) -> Result<(), StoreError> {
    store.audit(
        "report",
        None,
        serde_json::json!({
            "compliance": true,
            "as_of": as_of.to_string(),
            "deliver": how.split(':').next().unwrap_or_default(),
            "to": to,
            "files": files,
        }),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MessageMeta;
    use crate::store::{MailboxRecord, RunKind};

    /// A department's report covers its mailboxes only; a mailbox scanned
    /// before the history existed is judged from its messages.
    #[test]
    fn a_report_covers_its_scope_from_the_store_alone() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let rules = RuleSet::embedded().expect("rules");
        let mut store = crate::store::for_tests();
        for (source, department) in [("maildir:/a", "Salg"), ("maildir:/b", "Drift")] {
            store
                .register_mailbox(&MailboxRecord {
                    source: source.into(),
                    department: Some(department.into()),
                    ..Default::default()
                })
                .expect("mailbox");
        }
        let engine = crate::engine::Engine::new(
            crate::engine::EngineSettings::new(as_of),
            rules.clone(),
            crate::fingerprint::Fingerprinter::new(b"gather-test-key-0123").expect("key"),
        );
        let run = store
            .begin_run(RunKind::Scan, as_of, chrono::Utc::now())
            .expect("run");
        for (i, source) in ["maildir:/a", "maildir:/a", "maildir:/b"]
            .iter()
            .enumerate()
        {
            let mut meta = MessageMeta::local("INBOX", 10, format!("{i}.x"));
            meta.local_key = Some(format!("{i}.x"));
            meta.received = chrono::DateTime::<chrono::Utc>::from_timestamp(1_577_880_000, 0);
            let report = engine.scan_message(meta, b"Subject: gammel\r\n\r\nhei\r\n");
            store.record(run, source, &report).expect("record");
        }
        store.flush().expect("flush");
        let report = gather(
            store.as_ref(),
            &rules,
            as_of,
            &Scope {
                sources: &[],
                department: Some("salg"),
            },
        )
        .expect("report");
        let covered: Vec<&str> = report.mailboxes.iter().map(|m| m.source.as_str()).collect();
        assert_eq!(covered, ["maildir:/a"]);
        assert_eq!(report.totals.messages, 2);
        assert_eq!(report.totals.stale, 2);
        let everyone = gather(
            store.as_ref(),
            &rules,
            as_of,
            &Scope {
                sources: &[],
                department: None,
            },
        )
        .expect("report");
        assert_eq!(everyone.totals.messages, 3);
    }

    /// Distinct values are counted across mailboxes by fingerprint: the
    /// same fødselsnummer in two mailboxes is one value, not two.
    #[test]
    fn distinct_values_are_counted_across_mailboxes() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let rules = RuleSet::embedded().expect("rules");
        let mut store = crate::store::for_tests();
        let engine = crate::engine::Engine::new(
            crate::engine::EngineSettings::new(as_of),
            rules.clone(),
            crate::fingerprint::Fingerprinter::new(b"gather-test-key-0123").expect("key"),
        );
        let run = store
            .begin_run(RunKind::Scan, as_of, chrono::Utc::now())
            .expect("run");
        for (i, (source, body)) in [
            ("maildir:/a", "Fødselsnummer: 150765 00565"),
            ("maildir:/b", "Fødselsnummer: 150765 00565"),
            ("maildir:/b", "Fødselsnummer: 311299 56715"),
        ]
        .iter()
        .enumerate()
        {
            store
                .register_mailbox(&MailboxRecord {
                    source: source.to_string(),
                    ..Default::default()
                })
                .expect("mailbox");
            let mut meta = MessageMeta::local("INBOX", 10, format!("{i}.x"));
            meta.local_key = Some(format!("{i}.x"));
            let raw = format!("Subject: skjema\r\n\r\n{body}\r\n");
            let report = engine.scan_message(meta, raw.as_bytes());
            assert_eq!(report.findings.len(), 1, "{body}");
            store.record(run, source, &report).expect("record");
        }
        store.flush().expect("flush");
        let report = gather(
            store.as_ref(),
            &rules,
            as_of,
            &Scope {
                sources: &[],
                department: None,
            },
        )
        .expect("report");
        let ids = &report.totals.by_category[crate::compliance::Category::NationalId.label()];
        assert_eq!((ids.messages, ids.values), (3, 2));
        let per_mailbox: u64 = report
            .mailboxes
            .iter()
            .map(|m| m.by_category[crate::compliance::Category::NationalId.label()].values)
            .sum();
        assert_eq!(per_mailbox, 3, "each mailbox counts its own");
    }

    /// Workers on a shared store: the coverage names each mailbox a queued
    /// run has not finished, and who holds it.
    #[test]
    fn the_compliance_report_names_the_mailboxes_a_queued_run_has_not_finished() {
        use crate::store::postgres::queue::{JobOutcome, QueuedMailbox};
        use crate::store::prelude::*;
        use std::time::Duration;
        const LONG: Duration = Duration::from_secs(60);
        let mut s = crate::store::postgres::for_tests();
        let all: Vec<QueuedMailbox> = (0..3)
            .map(|i| QueuedMailbox {
                source: format!("imaps://u{i}@t.test"),
                tenant: "t".into(),
                cap: 5,
            })
            .collect();
        for m in &all {
            s.register_mailbox(&MailboxRecord {
                source: m.source.clone(),
                ..MailboxRecord::default()
            })
            .expect("registered");
        }
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).expect("date");
        let run = s
            .begin_run(RunKind::Scan, day, chrono::Utc::now())
            .expect("run");
        s.enqueue(run, &all, false).expect("enqueue");
        let held = s
            .claim("mailhygiene pid 7 on host-a", LONG, 5)
            .expect("claim")
            .expect("a job");
        let done = s.claim("w", LONG, 5).expect("claim").expect("a job");
        s.hold(Some(&done), LONG).expect("hold");
        s.finish_job(&done, &JobOutcome::default()).expect("done");
        s.hold(None, LONG).expect("release");
        let report = gather(
            &s,
            &RuleSet::embedded().expect("rules"),
            day,
            &Scope {
                sources: &[],
                department: None,
            },
        )
        .expect("report");
        let in_progress: Vec<(String, String)> = report
            .coverage
            .iter()
            .filter(|g| g.problem == "in_progress")
            .map(|g| (g.source.clone(), g.detail.clone()))
            .collect();
        assert_eq!(
            in_progress,
            vec![
                (
                    held.source.clone().expect("source"),
                    format!("run {run} is scanning it now (mailhygiene pid 7 on host-a)")
                ),
                (
                    all[2].source.clone(),
                    format!("run {run} has not scanned it yet (queued)")
                ),
            ]
        );
    }
}
