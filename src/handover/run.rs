//! The handover job as one call: an edited plan checked against the case's
//! record, the destination decided, then (with `apply`) each chosen message
//! copied once, with the audit trail written before the first copy and
//! after the last. The command layer only reads the plan file and prints.

use super::{Checked, Destination, Origin, Outcome, OutcomePrinter, PlanMismatch, Target};
use crate::offboard::{Case, Decision, EditedRow};
use crate::store::{Store, StoreError};
use std::io;

/// Opens the mailboxes a job reads from or writes to, by the names the
/// store and the user give them. The command layer implements it from the
/// configuration and the environment (accounts, credentials); tests give
/// Maildirs.
pub trait Mailboxes {
    /// The mailbox behind a store source (`imaps://…`, `maildir:PATH`), to
    /// read originals from.
    fn origin(&mut self, source: &str) -> Result<Box<dyn Origin>, MailboxError>;
    /// Where copies go: `imaps://USER@HOST`, `maildir:PATH` or `mbox:PATH`.
    fn target(&mut self, destination: &str) -> Result<Box<dyn Target>, MailboxError>;
}

/// Why a mailbox could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxError {
    /// What was asked for cannot work as given (a missing account or
    /// credential, an unsupported kind of mailbox): the user must change it.
    #[error("{0}")]
    Unusable(String),
    /// It could not be reached or opened now (a connection, a login).
    #[error("{0}")]
    Unreachable(String),
}

/// Why a handover did not run.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("no case {0} in the store: open it with `mailhygiene offboard`")]
    NoCase(String),
    #[error(transparent)]
    Plan(#[from] PlanMismatch),
    #[error(transparent)]
    Destination(#[from] super::DestinationError),
    /// The named mailbox (the case's, or the destination) cannot be opened.
    #[error("{name}: {error}")]
    Mailbox { name: String, error: MailboxError },
    #[error("cannot write the audit trail: {0}")]
    Audit(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Output(#[from] io::Error),
}

/// What was asked for.
pub struct Request<'a> {
    pub case_id: &'a str,
    /// The plan as the manager edited it.
    pub plan: &'a [EditedRow],
    /// The plan file's SHA-256 as read (which edit was followed: audited).
    pub plan_sha256: &'a str,
    /// `--to`, `--reason`, `--folder`.
    pub to: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub folder: Option<&'a str>,
    /// Without it nothing is opened or copied: the rows are printed as
    /// `planned`.
    pub apply: bool,
    /// When another writer holds the destination mailbox, wait for it.
    pub wait: bool,
}

/// How it ended: rows refused by the check, and copies that failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Settled {
    pub refused: u64,
    pub failed: u64,
}

/// A refused plan row, for the user's attention (the printer has it too).
pub struct Refused<'a> {
    pub row: &'a EditedRow,
    pub status: &'static str,
    pub why: &'a str,
}

/// Runs a handover: see the module's documentation. `refused` hears of each
/// plan row that is not copied, as it is found.
pub fn hand_over(
    store: &mut dyn Store,
    mailboxes: &mut dyn Mailboxes,
    request: &Request<'_>,
    printer: &mut OutcomePrinter<'_>,
    refused_row: &mut dyn FnMut(Refused<'_>),
) -> Result<Settled, HandoverError> {
    let case = store
        .case(request.case_id)?
        .ok_or_else(|| HandoverError::NoCase(request.case_id.to_string()))?;
    let owner = store
        .mailboxes()?
        .into_iter()
        .find(|m| m.source == case.source)
        .and_then(|m| m.owner.or(m.address));
    let destination = super::destination(
        &case,
        request.to,
        request.reason,
        request.folder,
        owner.as_deref(),
    )?;
    // No other writer (another host's handover or clean) has the
    // destination while copies go in; the case's rows are read once it is
    // held, so a handover that just finished elsewhere is seen.
    if request.apply {
        crate::store::hold(store, std::slice::from_ref(&destination.to), request.wait)?;
    }
    let recorded = store.case_rows(&case.id)?;
    let checked = super::check(request.plan, &recorded, &case, Decision::Handover)?;
    let mut settled = Settled::default();
    let mut copy = Vec::new();
    for item in checked {
        let (row, status, why) = match item {
            Checked::Copy(r) => {
                copy.push(r);
                continue;
            }
            Checked::Excluded { row, why } => (row, "excluded", why),
            Checked::Unknown { row, why } => (row, "failed", why),
        };
        settled.refused += 1;
        refused_row(Refused {
            row: &row,
            status,
            why: &why,
        });
        printer.record(&outcome(&case, &destination, row, status, why))?;
    }
    if !request.apply {
        // What an earlier run copied to this destination is not planned
        // again: a dry run after the handover says so.
        let done: std::collections::HashMap<(String, String), String> = store
            .handovers(&case.id)?
            .into_iter()
            .filter(|h| h.status.done() && h.destination == destination.to)
            .map(|h| ((h.folder, h.key), h.at))
            .collect();
        for r in &copy {
            let earlier = done.get(&(r.folder.clone(), r.key.clone()));
            printer.record(&Outcome {
                kind: "handover",
                source: case.source.clone(),
                message_id: r.message_id.clone(),
                folder: r.folder.clone(),
                uid: r.uid,
                to_folder: destination.folder.clone(),
                status: if earlier.is_some() {
                    "already_there"
                } else {
                    "planned"
                },
                reason: earlier
                    .map(|at| format!("copied by an earlier run ({at})"))
                    .unwrap_or_default(),
            })?;
        }
        printer.finish("dry run: nothing was copied; add --apply to do it")?;
        return Ok(settled);
    }
    let opened = |name: &str, error| HandoverError::Mailbox {
        name: name.to_string(),
        error,
    };
    let mut origin = mailboxes
        .origin(&case.source)
        .map_err(|e| opened(&case.source, e))?;
    let mut target = mailboxes
        .target(&destination.to)
        .map_err(|e| opened(&destination.to, e))?;
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    // Recorded before the first copy: a crash mid-handover leaves an entry
    // saying it began.
    audited(
        store,
        &case,
        &destination,
        request,
        serde_json::json!({ "phase": "started", "rows": copy.len() }),
    )?;
    super::copy(
        store,
        origin.as_mut(),
        target.as_mut(),
        &super::Run {
            case_id: &case.id,
            source: &case.source,
            destination: &destination.to,
            to_folder: &destination.folder,
            at: &at,
        },
        &copy,
        printer,
    )?;
    let counts = printer.counts.clone();
    audited(
        store,
        &case,
        &destination,
        request,
        serde_json::json!({ "phase": "finished", "counts": counts }),
    )?;
    settled.failed = counts.get("failed").copied().unwrap_or(0);
    printer.finish(if settled.failed > 0 {
        "some messages were not copied: run handover again to finish"
    } else {
        "done"
    })?;
    Ok(settled)
}

fn outcome(
    case: &Case,
    destination: &Destination,
    row: EditedRow,
    status: &'static str,
    why: String,
) -> Outcome {
    Outcome {
        kind: "handover",
        source: case.source.clone(),
        message_id: row.message_id,
        folder: row.folder,
        uid: row.uid,
        to_folder: destination.folder.clone(),
        status,
        reason: why,
    }
}

/// One handover entry in the audit trail: where from, where to, why, and
/// which edit of the plan; `phase` and what it counted come in `detail`.
fn audited(
    store: &mut dyn Store,
    case: &Case,
    destination: &Destination,
    request: &Request<'_>,
    detail: serde_json::Value,
) -> Result<(), HandoverError> {
    let mut entry = serde_json::json!({
        "source": case.source,
        "to": destination.to,
        "to_successor": destination.to_successor,
        "reason": destination.reason,
        "to_folder": destination.folder,
        "plan_sha256": request.plan_sha256,
    });
    if let (Some(map), serde_json::Value::Object(more)) = (entry.as_object_mut(), detail) {
        map.extend(more);
    }
    store
        .audit("handover", Some(&case.id), entry)
        .map(|_| ())
        .map_err(HandoverError::Audit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::copiers::{MaildirOrigin, MaildirTarget};
    use crate::rules::RuleSet;
    use crate::store::{MailboxRecord, RunKind};
    use chrono::NaiveDate;
    use std::collections::HashSet;
    use std::path::{Path, PathBuf};

    /// Maildirs by path, or a mailbox that cannot be reached.
    struct Local {
        reachable: bool,
    }

    impl Mailboxes for Local {
        fn origin(&mut self, source: &str) -> Result<Box<dyn Origin>, MailboxError> {
            if !self.reachable {
                return Err(MailboxError::Unreachable("connection refused".into()));
            }
            let path = source.strip_prefix("maildir:").expect("a Maildir");
            Ok(Box::new(
                MaildirOrigin::open(Path::new(path)).map_err(MailboxError::Unreachable)?,
            ))
        }
        fn target(&mut self, destination: &str) -> Result<Box<dyn Target>, MailboxError> {
            let path = destination
                .strip_prefix("maildir:")
                .ok_or_else(|| MailboxError::Unusable("a Maildir, please".into()))?;
            Ok(Box::new(MaildirTarget::new(Path::new(path))))
        }
    }

    fn write(root: &Path, name: &str, from: &str, id: &str) {
        let dir = root.join("cur");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::create_dir_all(root.join("new")).expect("mkdir");
        std::fs::create_dir_all(root.join("tmp")).expect("mkdir");
        std::fs::write(
            dir.join(name),
            format!(
                "Message-ID: <{id}@t>\r\nFrom: {from}\r\nTo: alice@firma.no\r\nSubject: {id}\r\nDate: Tue, 1 Sep 2026 10:00:00 +0000\r\n\r\nhei\r\n"
            ),
        )
        .expect("write");
    }

    /// A leaver's Maildir recorded as a scan would, a case opened on it,
    /// and its plan with every row marked `handover` (the private one
    /// too, as a careless edit would).
    fn opened(dir: &Path) -> (Box<dyn Store>, String, Vec<EditedRow>) {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let rules = RuleSet::embedded().expect("rules");
        let root = dir.join("leaver");
        write(&root, "1:2,S", "kunde@kunde.no", "tilbud");
        write(&root, "2:2,S", "Mamma Haugen <mamma@gmail.com>", "middag");
        let source = format!("maildir:{}", root.display());
        let mut store = crate::store::for_tests();
        store.set_audit_key(crate::audit::AuditKey::new([7; 32]));
        store
            .register_mailbox(&MailboxRecord {
                source: source.clone(),
                owner: Some("Alice Haugen".into()),
                address: Some("alice@firma.no".into()),
                ..Default::default()
            })
            .expect("mailbox");
        let engine = crate::engine::Engine::new(
            crate::engine::EngineSettings::new(as_of),
            rules.clone(),
            crate::fingerprint::Fingerprinter::new(b"test-key-0123456789").expect("key"),
        );
        let run = store
            .begin_run(RunKind::Scan, as_of, chrono::Utc::now())
            .expect("run");
        crate::actions::test_support::record_maildir(store.as_mut(), &engine, run, &root, &source);
        let mut case = Case::for_tests("K-7");
        case.source = source.clone();
        case.successor = Some("bob@firma.no".into());
        let opened =
            crate::offboard::open_case(store.as_mut(), case, false, &rules, as_of, HashSet::new())
                .expect("case");
        let mut csv = Vec::new();
        crate::offboard::write_plan(
            &opened.case,
            opened.rows.iter().expect("rows"),
            crate::model::Lang::En,
            &mut csv,
        )
        .expect("plan");
        let mut plan = crate::offboard::read_plan(csv.as_slice()).expect("read");
        assert_eq!(plan.len(), 2);
        for row in &mut plan {
            row.decision = Decision::Handover;
        }
        (store, source, plan)
    }

    fn request<'a>(plan: &'a [EditedRow], to: &'a str, apply: bool) -> Request<'a> {
        Request {
            case_id: "K-7",
            plan,
            plan_sha256: "abc",
            to: Some(to),
            reason: Some("arkivkopi"),
            folder: Some("Arkiv"),
            apply,
            wait: false,
        }
    }

    fn copies(target: &Path) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for sub in ["cur", "new"] {
            if let Ok(dir) = std::fs::read_dir(target.join(".Arkiv").join(sub)) {
                found.extend(dir.flatten().map(|e| e.path()));
            }
        }
        found
    }

    /// The whole job without the binary: a dry run opens nothing and copies
    /// nothing; applied, the business message is copied once (a rerun finds
    /// it there), the private one is refused and named, and the audit trail
    /// has the run's start and end with the plan's digest.
    #[test]
    fn a_handover_copies_the_chosen_mail_once_and_never_the_private() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut store, _source, plan) = opened(dir.path());
        let target = dir.path().join("arkiv");
        let to = format!("maildir:{}", target.display());
        let mut refused = Vec::new();
        let mut out = Vec::new();
        let mut printer = OutcomePrinter::new(Box::new(&mut out), true);
        let settled = hand_over(
            store.as_mut(),
            &mut Local { reachable: false },
            &request(&plan, &to, false),
            &mut printer,
            &mut |r| refused.push((r.row.message_id.clone(), r.status)),
        )
        .expect("a dry run needs no mailbox");
        drop(printer);
        assert_eq!(
            settled,
            Settled {
                refused: 1,
                failed: 0
            }
        );
        // The private row carries no Message-ID in the plan (it shows a
        // count, not the message).
        assert_eq!(refused, [(String::new(), "excluded")]);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains("\"status\":\"planned\"") && text.contains("<tilbud@t>"),
            "{text}"
        );
        assert!(copies(&target).is_empty());

        // Applied, with the leaver's mailbox unreachable: nothing happens,
        // and the error names the mailbox.
        let mut printer = OutcomePrinter::new(Box::new(std::io::sink()), true);
        let err = hand_over(
            store.as_mut(),
            &mut Local { reachable: false },
            &request(&plan, &to, true),
            &mut printer,
            &mut |_| {},
        )
        .expect_err("unreachable");
        assert!(
            matches!(&err, HandoverError::Mailbox { error: MailboxError::Unreachable(_), name } if name.starts_with("maildir:")),
            "{err}"
        );
        assert!(store.audit_entries().expect("trail").is_empty());

        for round in 0..2 {
            let mut out = Vec::new();
            let mut printer = OutcomePrinter::new(Box::new(&mut out), true);
            let settled = hand_over(
                store.as_mut(),
                &mut Local { reachable: true },
                &request(&plan, &to, true),
                &mut printer,
                &mut |_| {},
            )
            .expect("applied");
            drop(printer);
            assert_eq!(
                settled,
                Settled {
                    refused: 1,
                    failed: 0
                }
            );
            let text = String::from_utf8(out).expect("utf-8");
            let expected = if round == 0 {
                "copied"
            } else {
                "already_there"
            };
            assert!(
                text.contains(&format!("\"status\":\"{expected}\"")),
                "{text}"
            );
            assert_eq!(copies(&target).len(), 1, "round {round}");
        }
        // A dry run now plans nothing again: the row was copied.
        let mut out = Vec::new();
        let mut printer = OutcomePrinter::new(Box::new(&mut out), true);
        hand_over(
            store.as_mut(),
            &mut Local { reachable: false },
            &request(&plan, &to, false),
            &mut printer,
            &mut |_| {},
        )
        .expect("dry run");
        drop(printer);
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains("\"status\":\"already_there\"") && !text.contains("\"planned\""),
            "{text}"
        );
        let copied = std::fs::read_to_string(&copies(&target)[0]).expect("copy");
        assert!(copied.contains("<tilbud@t>") && !copied.contains("middag"));
        let trail = store.audit_entries().expect("trail");
        let phases: Vec<&str> = trail
            .iter()
            .map(|e| e.detail["phase"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(phases, ["started", "finished", "started", "finished"]);
        assert!(trail.iter().all(|e| e.action == "handover"
            && e.case_id.as_deref() == Some("K-7")
            && e.detail["plan_sha256"] == "abc"
            && e.detail["to_successor"] == false
            && e.detail["reason"] == "arkivkopi"));
        assert_eq!(trail[0].detail["rows"], 1);
    }

    /// A plan from another case is refused whole, before anything opens.
    #[test]
    fn a_plan_of_another_case_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let (mut store, _source, mut plan) = opened(dir.path());
        for row in &mut plan {
            row.row_ref = row.row_ref.as_ref().map(|r| r.replace("K-7", "K-8"));
        }
        let mut printer = OutcomePrinter::new(Box::new(std::io::sink()), true);
        let err = hand_over(
            store.as_mut(),
            &mut Local { reachable: true },
            &request(&plan, "maildir:/nonexistent", true),
            &mut printer,
            &mut |_| {},
        )
        .expect_err("another case's plan");
        assert!(matches!(err, HandoverError::Plan(_)), "{err}");
        let err = hand_over(
            store.as_mut(),
            &mut Local { reachable: true },
            &Request {
                case_id: "K-9",
                ..request(&plan, "maildir:/x", true)
            },
            &mut OutcomePrinter::new(Box::new(std::io::sink()), true),
            &mut |_| {},
        )
        .expect_err("no such case");
        assert!(matches!(err, HandoverError::NoCase(ref id) if id == "K-9"));
    }
}
