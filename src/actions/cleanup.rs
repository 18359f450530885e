//! The cleanup as a workflow over the store: `clean` and `undo` across the
//! mailboxes of a run, each mailbox through its own edge, one mailbox's
//! failure recorded and the run going on. The command layer gives it the
//! store, a way to open each mailbox's edge (it knows credentials and TLS)
//! and a printer; everything else is here, testable without the binary.

use super::clean::{self, Filter, FlaggedPolicy, Planned};
use super::movers::{Mover, TRASH_NAMES};
use super::{ActionError, MovePrinter, MoveRecord};
use crate::rules::RuleSet;
use crate::store::{Held, RunId, RunKind, Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};

/// Why a mailbox's edge could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenFailure {
    /// This kind of source is never changed (an mbox export): refused even
    /// in a dry run.
    Unsupported(String),
    /// Not reachable now (network, credentials): a dry run plans without it.
    Unreachable(String),
}

impl std::fmt::Display for OpenFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenFailure::Unsupported(why) | OpenFailure::Unreachable(why) => f.write_str(why),
        }
    }
}

/// Opens the edge that moves one mailbox's messages.
pub type OpenMover<'a> = dyn FnMut(&str) -> Result<Box<dyn Mover>, OpenFailure> + 'a;

/// The mailboxes that failed, with why; the others were done.
pub type Failures = Vec<(String, String)>;

/// Starts a `clean` or `undo` run and takes over every earlier run of its
/// kind that never finished (a crash, Ctrl-C): what they left is settled by
/// this one, and undoing this one undoes them. Returns the run and the runs
/// taken over.
pub fn begin(
    store: &mut dyn Store,
    kind: RunKind,
    as_of: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(RunId, Vec<RunId>), StoreError> {
    let run = store.begin_run(kind, as_of, now)?;
    let adopted = store.adopt_interrupted(run, kind)?;
    Ok((run, adopted))
}

/// What the audit trail records of a change run besides its phase and
/// run: the sources, the digest of a plan or list it followed, the run it
/// undoes.
pub type AuditDetail = serde_json::Map<String, serde_json::Value>;

/// Why a change run could not be begun or finished as recorded.
#[derive(Debug, thiserror::Error)]
pub enum RunRecordError {
    #[error("cannot write the audit trail: {0}")]
    Audit(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// [`begin`], audited before any change (a run that dies leaves an entry
/// saying it began), and each run taken over audited as `interrupted`.
pub fn begin_audited(
    store: &mut dyn Store,
    kind: RunKind,
    as_of: NaiveDate,
    case_id: Option<&str>,
    detail: &AuditDetail,
) -> Result<(RunId, Vec<RunId>), RunRecordError> {
    let (run, adopted) = begin(store, kind, as_of, Utc::now())?;
    let mut detail = detail.clone();
    detail.insert("phase".into(), "started".into());
    detail.insert("run".into(), run.into());
    detail.insert("as_of".into(), as_of.to_string().into());
    store
        .audit(kind.as_str(), case_id, serde_json::Value::Object(detail))
        .map_err(RunRecordError::Audit)?;
    for old in &adopted {
        store
            .audit(
                "interrupted",
                None,
                serde_json::json!({"run": old, "kind": kind.as_str(), "adopted_by": run}),
            )
            .map_err(RunRecordError::Audit)?;
    }
    Ok((run, adopted))
}

/// Finishes a change run: `complete` unless `incomplete`, the moved count
/// kept, and the audit entry with every status counted. Returns the run's
/// series (it and the interrupted runs it took over).
#[allow(clippy::too_many_arguments)]
pub fn finish_audited(
    store: &mut dyn Store,
    kind: RunKind,
    run: RunId,
    as_of: NaiveDate,
    case_id: Option<&str>,
    detail: &AuditDetail,
    counts: &std::collections::BTreeMap<&'static str, u64>,
    incomplete: bool,
    sources_failed: u64,
) -> Result<Vec<RunId>, RunRecordError> {
    let status = if incomplete { "incomplete" } else { "complete" };
    let moved = counts.get("moved").copied().unwrap_or(0);
    store.finish_run(run, Utc::now(), status, moved)?;
    let series = store.series(run)?;
    let mut detail = detail.clone();
    for (k, v) in [
        ("phase", serde_json::json!("finished")),
        ("run", serde_json::json!(run)),
        ("series", serde_json::json!(series)),
        ("as_of", serde_json::json!(as_of.to_string())),
        ("status", serde_json::json!(status)),
        ("counts", serde_json::json!(counts)),
        ("sources_failed", serde_json::json!(sources_failed)),
    ] {
        detail.insert(k.into(), v);
    }
    store
        .audit(kind.as_str(), case_id, serde_json::Value::Object(detail))
        .map_err(RunRecordError::Audit)?;
    Ok(series)
}

/// A planned move as printed by a dry run.
pub fn planned_record(source: &str, p: &Planned) -> MoveRecord {
    MoveRecord {
        kind: "move",
        source: source.to_string(),
        folder: p.folder.clone(),
        uid: p.item.uid,
        message_id: p.item.message_id.clone(),
        to_folder: p.to_folder.clone(),
        rule: p.rule.clone(),
        status: "planned",
        run: 0,
        reason: String::new(),
        date: p.date.clone(),
        subject: p.subject.clone(),
    }
}

fn print_planned(
    printer: &mut MovePrinter<'_>,
    source: &str,
    plan: &[Planned],
) -> Result<(), String> {
    for p in plan {
        printer
            .record(&planned_record(source, p))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// One mailbox of a run through its own edge: settle, plan, apply. Why it
/// failed, if it did, in words that say a rerun settles what was begun.
#[allow(clippy::too_many_arguments)]
fn settle_and_apply(
    store: &mut dyn Store,
    open: &mut OpenMover<'_>,
    run: RunId,
    source: &str,
    flagged: FlaggedPolicy,
    printer: &mut MovePrinter<'_>,
    command: &str,
    plan: impl FnOnce(&dyn Store, &mut dyn Mover) -> Result<Vec<Planned>, ActionError>,
) -> Result<(), String> {
    let mut mover = open(source).map_err(|e| e.to_string())?;
    clean::settle_and_apply(store, mover.as_mut(), run, source, flagged, printer, plan)
        .map_err(|e| format!("{e}; what was journaled is settled when you run {command} again"))
}

/// `clean` over `sources`: with a run, per mailbox, settle what an earlier
/// run left, plan what is due (or chosen) and move it to Deleted Items;
/// without one (a dry run), print the plan, asking each mailbox only what
/// its Deleted Items folder is called. Every source must be `held`.
#[allow(clippy::too_many_arguments)]
pub fn clean(
    store: &mut dyn Store,
    held: &Held,
    run: Option<RunId>,
    sources: &[String],
    rules: &RuleSet,
    as_of: NaiveDate,
    filter: &Filter,
    open: &mut OpenMover<'_>,
    printer: &mut MovePrinter<'_>,
) -> Result<Failures, ActionError> {
    // A person chose these messages (an erasure, a case's `delete` rows):
    // a flag does not keep them, and the record says it was there.
    let flagged = if filter.chosen.is_some() {
        FlaggedPolicy::MoveAndSay
    } else {
        FlaggedPolicy::Keep
    };
    for source in sources {
        held.check(store, source)?;
    }
    let mut failed = Failures::new();
    for source in sources {
        let outcome = (|| -> Result<(), String> {
            let Some(run) = run else {
                let mut plan = clean::plan_clean(store, source, rules, as_of, filter)
                    .map_err(|e| e.to_string())?;
                let trash = match open(source) {
                    Ok(mut m) => m.find_trash().map_err(|e| e.to_string())?,
                    Err(OpenFailure::Unsupported(why)) => return Err(why),
                    Err(OpenFailure::Unreachable(_)) => None,
                };
                let to = trash.unwrap_or_else(|| TRASH_NAMES[0].to_string());
                for p in &mut plan {
                    p.to_folder = to.clone();
                }
                return print_planned(printer, source, &plan);
            };
            settle_and_apply(
                store,
                open,
                run,
                source,
                flagged,
                printer,
                "clean",
                |store, mover| {
                    let mut plan = clean::plan_clean(store, source, rules, as_of, filter)?;
                    let trash = mover.ensure_trash()?;
                    for p in &mut plan {
                        p.to_folder = trash.clone();
                    }
                    Ok(plan)
                },
            )
        })();
        if let Err(why) = outcome {
            failed.push((source.clone(), why));
        }
    }
    Ok(failed)
}

/// `undo` of a clean run (with the interrupted runs it took over): each
/// mailbox of the run through its own edge; one that cannot be opened is
/// reported and its entries wait, never tried through another. Every
/// mailbox of the run must be `held`.
pub fn undo(
    store: &mut dyn Store,
    held: &Held,
    run: Option<RunId>,
    undone: RunId,
    open: &mut OpenMover<'_>,
    printer: &mut MovePrinter<'_>,
) -> Result<Failures, ActionError> {
    let plan = clean::plan_undo(store, undone)?;
    for (source, _) in &plan {
        held.check(store, source)?;
    }
    let mut failed = Failures::new();
    for (source, planned) in &plan {
        let outcome = (|| -> Result<(), String> {
            let Some(run) = run else {
                return print_planned(printer, source, planned);
            };
            settle_and_apply(
                store,
                open,
                run,
                source,
                FlaggedPolicy::Ignore,
                printer,
                "undo",
                |store, _| {
                    Ok(clean::plan_undo(store, undone)?
                        .into_iter()
                        .find(|(s, _)| s == source)
                        .map(|(_, p)| p)
                        .unwrap_or_default())
                },
            )
        })();
        if let Err(why) = outcome {
            failed.push((source.clone(), why));
        }
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::super::ActionFormat;
    use super::super::movers::MaildirMover;
    use super::*;

    /// A change run is audited before any change and after the last; a run
    /// that never finished is taken over by the next, audited as
    /// `interrupted`, and belongs to its series.
    #[test]
    fn change_runs_are_bracketed_in_the_audit_trail() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let mut store = crate::store::for_tests();
        store.set_audit_key(crate::audit::AuditKey::new([5; 32]));
        let mut detail = AuditDetail::new();
        detail.insert("sources".into(), serde_json::json!(["maildir:/a"]));
        let (crashed, adopted) =
            begin_audited(store.as_mut(), RunKind::Clean, as_of, Some("K-1"), &detail)
                .expect("begun");
        assert!(adopted.is_empty());
        let (run, adopted) =
            begin_audited(store.as_mut(), RunKind::Clean, as_of, Some("K-1"), &detail)
                .expect("begun");
        assert_eq!(adopted, [crashed]);
        let counts = [("moved", 3), ("failed", 1)].into_iter().collect();
        let series = finish_audited(
            store.as_mut(),
            RunKind::Clean,
            run,
            as_of,
            Some("K-1"),
            &detail,
            &counts,
            true,
            0,
        )
        .expect("finished");
        assert_eq!(series.len(), 2);
        assert!(series.contains(&crashed) && series.contains(&run));
        let record = store.run(run).expect("run").expect("recorded");
        assert_eq!(record.status, "incomplete");
        let trail = store.audit_entries().expect("trail");
        let seen: Vec<(&str, &str)> = trail
            .iter()
            .map(|e| (e.action.as_str(), e.detail["phase"].as_str().unwrap_or("-")))
            .collect();
        assert_eq!(
            seen,
            [
                ("clean", "started"),
                ("clean", "started"),
                ("interrupted", "-"),
                ("clean", "finished")
            ]
        );
        let finished = &trail[3];
        assert_eq!(finished.case_id.as_deref(), Some("K-1"));
        assert_eq!(finished.detail["counts"]["moved"], 3);
        assert_eq!(finished.detail["sources"][0], "maildir:/a");
        assert_eq!(finished.detail["status"], "incomplete");
    }

    /// Two Maildirs cleaned in one run and undone in one call, through the
    /// library alone; a third mailbox that cannot be opened fails alone.
    #[test]
    fn a_run_over_several_mailboxes_is_cleaned_and_undone_mailbox_by_mailbox() {
        let dirs: Vec<tempfile::TempDir> =
            (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let rules = RuleSet::embedded().expect("rules");
        let engine = crate::engine::Engine::new(
            crate::engine::EngineSettings::new(as_of),
            rules.clone(),
            crate::fingerprint::Fingerprinter::new(b"cleanup-test-key-0123").expect("key"),
        );
        let mut store = crate::store::for_tests();
        let scan = store
            .begin_run(RunKind::Scan, as_of, Utc::now())
            .expect("run");
        let mut sources = Vec::new();
        for (n, dir) in dirs.iter().enumerate() {
            for sub in ["cur", "new", "tmp"] {
                std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
            }
            super::super::test_support::write_old(
                dir.path(),
                &[(&format!("cur/{n}.x:2,S"), &n.to_string())],
            );
            let source = format!("maildir:{}", dir.path().display());
            super::super::test_support::record_maildir(
                store.as_mut(),
                &engine,
                scan,
                dir.path(),
                &source,
            );
            sources.push(source);
        }
        let mut open = |source: &str| -> Result<Box<dyn Mover>, OpenFailure> {
            let path = source.strip_prefix("maildir:").unwrap_or(source);
            MaildirMover::open(std::path::Path::new(path))
                .map(|m| Box::new(m) as Box<dyn Mover>)
                .map_err(|e| OpenFailure::Unreachable(e.to_string()))
        };
        let (run, adopted) = begin(store.as_mut(), RunKind::Clean, as_of, Utc::now()).expect("run");
        assert!(adopted.is_empty());
        let mut with_gone = sources.clone();
        with_gone.push("maildir:/nonexistent/mailhygiene-test".into());
        // A mailbox not held is refused before anything is done.
        let held = crate::store::hold(store.as_mut(), &sources[..1], false).expect("held");
        let mut sink = Vec::new();
        let refused = {
            let mut printer = MovePrinter::new(Box::new(&mut sink), ActionFormat::Jsonl);
            clean(
                store.as_mut(),
                &held,
                Some(run),
                &sources,
                &rules,
                as_of,
                &Filter::default(),
                &mut open,
                &mut printer,
            )
        };
        assert!(
            matches!(&refused, Err(ActionError::Store(StoreError::Invalid(why))) if why.contains("was not held")),
            "{refused:?}"
        );
        assert!(sink.is_empty() && dirs[0].path().join("cur/0.x:2,S").exists());
        let held = crate::store::hold(store.as_mut(), &with_gone, false).expect("held");
        let mut sink = Vec::new();
        let failed = {
            let mut printer = MovePrinter::new(Box::new(&mut sink), ActionFormat::Jsonl);
            clean(
                store.as_mut(),
                &held,
                Some(run),
                &with_gone,
                &rules,
                as_of,
                &Filter::default(),
                &mut open,
                &mut printer,
            )
            .expect("cleans")
        };
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, "maildir:/nonexistent/mailhygiene-test");
        for (n, dir) in dirs.iter().enumerate() {
            assert!(
                dir.path()
                    .join(format!(".Deleted Items/cur/{n}.x:2,S"))
                    .exists()
            );
        }
        let (undo_run, _) = begin(store.as_mut(), RunKind::Undo, as_of, Utc::now()).expect("run");
        let mut sink = Vec::new();
        let failed = {
            let mut printer = MovePrinter::new(Box::new(&mut sink), ActionFormat::Jsonl);
            undo(
                store.as_mut(),
                &held,
                Some(undo_run),
                run,
                &mut open,
                &mut printer,
            )
            .expect("undoes")
        };
        assert!(failed.is_empty(), "{failed:?}");
        for (n, dir) in dirs.iter().enumerate() {
            assert!(
                dir.path().join(format!("cur/{n}.x:2,S")).exists(),
                "mailbox {n} restored"
            );
        }
    }
}
