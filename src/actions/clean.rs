//! `clean` and `undo`: plans from the inventory and the journal, applied
//! batch by batch through a [`Mover`] with the journal written around every
//! change.

use super::movers::{Dest, Found, Item, Mover, Outcome, Whereabouts, is_trash};
use super::{ActionError, MovePrinter, MoveRecord};
use crate::inventory;
use crate::rules::RuleSet;
use crate::store::{JournalEntry, JournalStatus, RunId, RunKind, Store, StoreError};
use chrono::NaiveDate;
use regex::Regex;

/// Messages re-checked, journaled and moved together.
const BATCH: usize = 100;

/// Which due messages a `clean` takes (all, when empty).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub rules: Vec<String>,
    pub folders: Vec<Regex>,
    /// Messages chosen by a person instead of the rules (an offboarding
    /// plan's `delete` rows, an erasure request), by folder and inventory
    /// key, and the reason journaled for them. Flags do not protect them:
    /// a person decided.
    pub chosen: Option<Chosen>,
}

/// Messages chosen for deletion by a decision rather than by the rules.
#[derive(Debug, Clone, Default)]
pub struct Chosen {
    pub messages: std::collections::HashSet<(String, String)>,
    /// What is journaled as the rule: `case:K-1`, `erasure`.
    pub reason: String,
}

/// One message a run means to move.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub folder: String,
    pub item: Item,
    pub rule: String,
    /// Where it goes; empty for `clean` until the mailbox's Deleted Items
    /// folder is known.
    pub to_folder: String,
    pub undoes: Option<i64>,
    pub date: String,
    pub subject: String,
}

impl Planned {
    fn record(&self, source: &str, run: RunId, status: &'static str, reason: &str) -> MoveRecord {
        MoveRecord {
            kind: "move",
            source: source.to_string(),
            folder: self.folder.clone(),
            uid: self.item.uid,
            message_id: self.item.message_id.clone(),
            to_folder: self.to_folder.clone(),
            rule: self.rule.clone(),
            status,
            run,
            reason: reason.to_string(),
            date: self.date.clone(),
            subject: self.subject.clone(),
        }
    }

    fn entry(&self, source: &str, run: RunId, status: JournalStatus, reason: &str) -> JournalEntry {
        JournalEntry {
            id: 0,
            run,
            source: source.to_string(),
            folder: self.folder.clone(),
            uid_validity: self.item.uid_validity,
            uid: self.item.uid,
            local_key: self.item.key.clone(),
            message_id: self.item.message_id.clone(),
            to_folder: self.to_folder.clone(),
            rule: self.rule.clone(),
            status,
            reason: reason.to_string(),
            dest_uid_validity: None,
            dest_uid: None,
            dest_key: None,
            flagged: false,
            undoes: self.undoes,
            size: self.item.size,
            received: self.item.received,
        }
    }
}

/// What a run does with a message flagged since the plan was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlaggedPolicy {
    /// The rules chose it; the owner's flag says keep it.
    Keep,
    /// A person chose it (an erasure, a case's `delete` rows): moved, and
    /// the record says it was flagged.
    MoveAndSay,
    /// Flags do not matter (an undo puts messages back as they were).
    Ignore,
}

/// The messages of `source` the rules mark due as of `as_of`: never a
/// flagged message, never one already in a deleted-items folder.
pub fn plan_clean(
    store: &dyn Store,
    source: &str,
    rules: &RuleSet,
    as_of: NaiveDate,
    filter: &Filter,
) -> Result<Vec<Planned>, StoreError> {
    let mut plan = Vec::new();
    store.each_message(source, None, &mut |stored| {
        let r = inventory::judge(rules, as_of, stored.report);
        if let Some(chosen) = &filter.chosen {
            let key = (r.meta.folder.clone(), crate::model::message_key(&r));
            if chosen.messages.contains(&key) && !is_trash(&r.meta.folder) {
                plan.push(planned(&r, chosen.reason.clone()));
            }
            return Ok(());
        }
        let Some(stale) = &r.stale else {
            return Ok(());
        };
        if r.meta.flagged
            || is_trash(&r.meta.folder)
            || (!filter.rules.is_empty() && !filter.rules.contains(&stale.rule))
            || (!filter.folders.is_empty()
                && !filter.folders.iter().any(|f| f.is_match(&r.meta.folder)))
        {
            return Ok(());
        }
        plan.push(planned(&r, stale.rule.clone()));
        Ok(())
    })?;
    Ok(plan)
}

fn planned(r: &crate::model::MessageReport, rule: String) -> Planned {
    Planned {
        folder: r.meta.folder.clone(),
        item: Item {
            uid_validity: r.meta.uid_validity,
            uid: r.meta.uid,
            key: r.meta.local_key.clone(),
            message_id: r.envelope.message_id.clone(),
            size: Some(r.meta.size),
            received: r.meta.received,
        },
        rule,
        to_folder: String::new(),
        undoes: None,
        date: r
            .date
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        subject: r.envelope.subject.clone(),
    }
}

/// The messages a clean run moved that are not back yet, per mailbox (in
/// the order the run met them), with every run it took over after an
/// interruption: one undo restores the whole series.
pub fn plan_undo(
    store: &dyn Store,
    run: RunId,
) -> Result<Vec<(String, Vec<Planned>)>, ActionError> {
    let record = store
        .run(run)?
        .ok_or_else(|| ActionError::Refused(format!("there is no run {run} in the store")))?;
    if record.kind != RunKind::Clean {
        return Err(ActionError::Refused(format!(
            "run {run} was a {} run; only clean runs can be undone",
            record.kind.as_str()
        )));
    }
    let mut per_source: Vec<(String, Vec<Planned>)> = Vec::new();
    let mut any = false;
    for member in store.series(run)? {
        let undone = store.undone(member)?;
        for e in store.journal_of_run(member)? {
            any = true;
            if e.status != JournalStatus::Moved || undone.contains(&e.id) {
                continue;
            }
            let p = Planned {
                folder: e.to_folder.clone(),
                item: Item {
                    uid_validity: e.dest_uid_validity,
                    uid: e.dest_uid,
                    key: e.dest_key.clone(),
                    message_id: e.message_id.clone(),
                    size: e.size,
                    received: e.received,
                },
                rule: e.rule.clone(),
                to_folder: e.folder.clone(),
                undoes: Some(e.id),
                date: e
                    .received
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                subject: String::new(),
            };
            match per_source.iter_mut().find(|(s, _)| *s == e.source) {
                Some((_, list)) => list.push(p),
                None => per_source.push((e.source.clone(), vec![p])),
            }
        }
    }
    if !any {
        return Err(ActionError::Refused(format!("run {run} moved nothing")));
    }
    Ok(per_source)
}

/// Settles what interrupted runs left at `intent`: each message is looked
/// for where it was and where it was going, and the journal says what
/// really happened. Moved messages leave the inventory.
pub fn settle(
    store: &mut dyn Store,
    mover: &mut dyn Mover,
    run: RunId,
    source: &str,
    printer: &mut MovePrinter<'_>,
) -> Result<(), ActionError> {
    for mut entry in store.unfinished(source)? {
        // This run continues the one that left the entry open: one undo
        // of this run covers both.
        store.adopt(entry.run, run)?;
        let (status, reason, dest) = match mover.locate(&entry)? {
            Whereabouts::AtDest(dest) => (
                JournalStatus::Moved,
                "settled after an interrupted run",
                Some(dest),
            ),
            Whereabouts::Both(dest) => match mover.remove_source(&entry) {
                Ok(()) => (
                    JournalStatus::Moved,
                    "copied before an interruption; the original was removed now",
                    Some(dest),
                ),
                Err(e) if e.outcome_unknown() => return Err(e),
                Err(_) => (
                    JournalStatus::Skipped,
                    "found in both folders after an interruption; left as it is",
                    None,
                ),
            },
            Whereabouts::Unsure(why) => {
                entry.status = JournalStatus::Unsure;
                entry.reason = format!("{why}; the original was left alone");
                store.journal_outcomes(std::slice::from_ref(&entry))?;
                printer
                    .record(&settled_record(source, &entry, "unsure"))
                    .map_err(|e| ActionError::Io(e.to_string()))?;
                continue;
            }
            Whereabouts::AtSource => (
                JournalStatus::Failed,
                "interrupted before it moved; planned again if still due",
                None,
            ),
            Whereabouts::Gone => (
                JournalStatus::Skipped,
                "no longer in the mailbox (moved or deleted by someone else)",
                None,
            ),
        };
        entry.status = status;
        entry.reason = reason.to_string();
        if let Some(d) = &dest {
            entry.dest_uid_validity = d.uid_validity;
            entry.dest_uid = d.uid;
            entry.dest_key = d.key.clone();
        }
        // A `moved` outcome also moves the message's record in the
        // inventory (the store's journal_outcomes).
        store.journal_outcomes(std::slice::from_ref(&entry))?;
        let shown = match status {
            JournalStatus::Moved => "moved",
            JournalStatus::Failed => "failed",
            _ => "skipped",
        };
        printer
            .record(&settled_record(source, &entry, shown))
            .map_err(|e| ActionError::Io(e.to_string()))?;
    }
    Ok(())
}

fn settled_record(source: &str, entry: &JournalEntry, status: &'static str) -> MoveRecord {
    MoveRecord {
        kind: "move",
        source: source.to_string(),
        folder: entry.folder.clone(),
        uid: entry.uid,
        message_id: entry.message_id.clone(),
        to_folder: entry.to_folder.clone(),
        rule: entry.rule.clone(),
        status,
        run: entry.run,
        reason: entry.reason.clone(),
        date: entry
            .received
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        subject: String::new(),
    }
}

/// One mailbox of a `clean` or `undo` run: settles what an interrupted run
/// left, makes the plan (after settling, which may have moved part of it),
/// and applies it.
pub fn settle_and_apply(
    store: &mut dyn Store,
    mover: &mut dyn Mover,
    run: RunId,
    source: &str,
    flagged: FlaggedPolicy,
    printer: &mut MovePrinter<'_>,
    plan: impl FnOnce(&dyn Store, &mut dyn Mover) -> Result<Vec<Planned>, ActionError>,
) -> Result<(), ActionError> {
    settle(store, mover, run, source, printer)?;
    let plan = plan(store, mover)?;
    apply(store, mover, run, source, &plan, flagged, printer)
}

/// Applies a plan: per folder and batch, re-checks each message (still
/// there, same UIDVALIDITY, flagged as `flagged` says), journals the
/// intent, moves, journals the outcome. A fault whose outcome is unknown
/// stops the run with the intents open for the next run to settle.
pub fn apply(
    store: &mut dyn Store,
    mover: &mut dyn Mover,
    run: RunId,
    source: &str,
    plan: &[Planned],
    flagged: FlaggedPolicy,
    printer: &mut MovePrinter<'_>,
) -> Result<(), ActionError> {
    let out = |printer: &mut MovePrinter<'_>, r: MoveRecord| {
        printer
            .record(&r)
            .map_err(|e| ActionError::Io(e.to_string()))
    };
    // Keep the plan's order, grouped by where messages come from and go.
    let mut groups: Vec<((String, String), Vec<&Planned>)> = Vec::new();
    for p in plan {
        let key = (p.folder.clone(), p.to_folder.clone());
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(p),
            None => groups.push((key, vec![p])),
        }
    }
    for ((folder, to), members) in groups {
        for batch in members.chunks(BATCH) {
            let items: Vec<Item> = batch.iter().map(|p| p.item.clone()).collect();
            let inspection = match mover.inspect(&folder, &items) {
                Ok(i) => i,
                Err(ActionError::Refused(why)) => {
                    for p in batch {
                        let mut entry = p.entry(source, run, JournalStatus::Skipped, &why);
                        store.journal_intents(std::slice::from_mut(&mut entry))?;
                        out(printer, p.record(source, run, "skipped", &why))?;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut movable: Vec<(&Planned, Found)> = Vec::new();
            let mut skipped: Vec<JournalEntry> = Vec::new();
            for (p, found) in batch.iter().zip(inspection.found) {
                let why = if p.item.uid.is_some()
                    && p.item.uid_validity.is_some()
                    && inspection.uid_validity != p.item.uid_validity
                {
                    Some("the folder was renumbered since the scan (UIDVALIDITY); scan again")
                } else {
                    match &found {
                        None => Some("no longer in the folder"),
                        Some(f) if flagged == FlaggedPolicy::Keep && f.flagged => {
                            Some("flagged since the scan: kept")
                        }
                        Some(_) => None,
                    }
                };
                match (why, found) {
                    (None, Some(f)) => movable.push((p, f)),
                    (why, _) => {
                        let why = why.unwrap_or("no longer in the folder");
                        skipped.push(p.entry(source, run, JournalStatus::Skipped, why));
                        out(printer, p.record(source, run, "skipped", why))?;
                    }
                }
            }
            store.journal_intents(&mut skipped)?;
            if movable.is_empty() {
                continue;
            }
            // What is about to move, durably, before it moves.
            let mut entries: Vec<JournalEntry> = movable
                .iter()
                .map(|(p, f)| {
                    let mut e = p.entry(source, run, JournalStatus::Intent, "");
                    e.uid = f.uid.or(e.uid);
                    e.local_key = f.key.clone().or(e.local_key);
                    e.flagged = f.flagged;
                    e
                })
                .collect();
            store.journal_intents(&mut entries)?;
            let found: Vec<Found> = movable.iter().map(|(_, f)| f.clone()).collect();
            match mover.move_items(&folder, &found, &to) {
                Ok(outcomes) => {
                    let mut shown = Vec::with_capacity(entries.len());
                    for ((entry, outcome), (_, f)) in entries.iter_mut().zip(outcomes).zip(&movable)
                    {
                        let (status, reason, dest) = match outcome {
                            Outcome::Moved(dest) => {
                                let said = if f.flagged && flagged == FlaggedPolicy::MoveAndSay {
                                    "flagged, moved because the request chose it"
                                } else {
                                    ""
                                };
                                (JournalStatus::Moved, said.to_string(), Some(dest))
                            }
                            Outcome::Unknown { dest, why } => (
                                JournalStatus::Unknown,
                                format!("{why}; looked at again on the next run"),
                                dest,
                            ),
                            Outcome::Failed(why) => (JournalStatus::Failed, why, None),
                        };
                        entry.status = status;
                        entry.reason = reason.clone();
                        if let Some(Dest {
                            uid_validity,
                            uid,
                            key,
                        }) = dest
                        {
                            entry.dest_uid_validity = uid_validity;
                            entry.dest_uid = uid;
                            entry.dest_key = key;
                        }
                        shown.push((
                            match status {
                                JournalStatus::Moved => "moved",
                                _ => "failed",
                            },
                            reason,
                        ));
                    }
                    store.journal_outcomes(&entries)?;
                    for ((p, _), (status, reason)) in movable.iter().zip(shown) {
                        out(printer, p.record(source, run, status, &reason))?;
                    }
                }
                Err(e) if e.outcome_unknown() => {
                    // The connection broke during the command: whether it
                    // happened is for the next run to find out.
                    for entry in entries.iter_mut() {
                        entry.status = JournalStatus::Unknown;
                        entry.reason = format!("{e}; looked at again on the next run");
                    }
                    store.journal_outcomes(&entries)?;
                    return Err(e);
                }
                Err(e) => {
                    let why = e.to_string();
                    for entry in entries.iter_mut() {
                        entry.status = JournalStatus::Failed;
                        entry.reason = why.clone();
                    }
                    store.journal_outcomes(&entries)?;
                    for (p, _) in &movable {
                        out(printer, p.record(source, run, "failed", &why))?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::movers::MaildirMover;
    use super::*;
    use chrono::Utc;

    #[test]
    fn a_maildir_clean_moves_due_mail_keeps_flagged_and_undo_restores_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in ["cur", "new", "tmp", ".Arkiv/cur"] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        super::super::test_support::write_old(
            root,
            &[
                ("cur/1.x:2,S", "a"),
                ("cur/2.x:2,FS", "b"),
                (".Arkiv/cur/3.x:2,", "c"),
            ],
        );
        let mut store = crate::store::for_tests();
        let rules = RuleSet::embedded().expect("rules");
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let source = "maildir:test";
        // Inventory as a scan would record it.
        let engine = crate::engine::Engine::new(
            crate::engine::EngineSettings::new(as_of),
            rules.clone(),
            crate::fingerprint::Fingerprinter::new(b"test-key-0123456789").expect("key"),
        );
        let scan_run = store
            .begin_run(RunKind::Scan, as_of, Utc::now())
            .expect("run");
        super::super::test_support::record_maildir(store.as_mut(), &engine, scan_run, root, source);
        let plan =
            plan_clean(store.as_ref(), source, &rules, as_of, &Filter::default()).expect("plan");
        let ids: Vec<&str> = plan.iter().map(|p| p.item.message_id.as_str()).collect();
        assert_eq!(ids, vec!["<a@t>", "<c@t>"], "flagged mail is never planned");

        let mut mover = MaildirMover::open(root).expect("mover");
        let trash = mover.ensure_trash().expect("trash");
        let plan: Vec<Planned> = plan
            .into_iter()
            .map(|mut p| {
                p.to_folder = trash.clone();
                p
            })
            .collect();
        // Flagged between the scan and the apply: re-checked, kept.
        std::fs::rename(
            root.join(".Arkiv/cur/3.x:2,"),
            root.join(".Arkiv/cur/3.x:2,F"),
        )
        .expect("flag");
        let clean_run = store
            .begin_run(RunKind::Clean, as_of, Utc::now())
            .expect("run");
        let mut out = Vec::new();
        {
            let mut printer =
                MovePrinter::new(Box::new(&mut out), super::super::ActionFormat::Jsonl);
            apply(
                store.as_mut(),
                &mut mover,
                clean_run,
                source,
                &plan,
                FlaggedPolicy::Keep,
                &mut printer,
            )
            .expect("applies");
        }
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains(r#""status":"moved""#), "{text}");
        assert!(text.contains(r#""status":"skipped""#), "{text}");
        assert!(root.join(".Deleted Items/cur/1.x:2,S").exists());
        assert!(!root.join("cur/1.x:2,S").exists());
        assert!(root.join(".Arkiv/cur/3.x:2,F").exists());
        // Moved mail is recorded where it landed, not forgotten: a search
        // right after the cleanup finds it in Deleted Items.
        assert_eq!(store.counts(source).expect("counts").0, 3);
        let mut folders = Vec::new();
        store
            .each_message(source, None, &mut |m| {
                folders.push((
                    m.report.meta.folder.clone(),
                    m.report.meta.local_key.clone(),
                ));
                Ok(())
            })
            .expect("reads");
        assert!(
            folders
                .iter()
                .any(|(f, k)| f == "Deleted Items" && k.as_deref() == Some("1.x")),
            "{folders:?}"
        );

        // Undo: back where it came from, flags intact; a second undo does nothing.
        let mut per_source = plan_undo(store.as_ref(), clean_run).expect("undo plan");
        assert_eq!(per_source.len(), 1);
        let (undo_source, undo_plan) = per_source.remove(0);
        assert_eq!(undo_source, source);
        assert_eq!(undo_plan.len(), 1);
        let undo_run = store
            .begin_run(RunKind::Undo, as_of, Utc::now())
            .expect("run");
        let mut sink = Vec::new();
        let mut printer = MovePrinter::new(Box::new(&mut sink), super::super::ActionFormat::Jsonl);
        apply(
            store.as_mut(),
            &mut mover,
            undo_run,
            source,
            &undo_plan,
            FlaggedPolicy::Ignore,
            &mut printer,
        )
        .expect("undoes");
        assert!(root.join("cur/1.x:2,S").exists());
        // And the inventory follows it back.
        let mut back = Vec::new();
        store
            .each_message(source, None, &mut |m| {
                if m.report.meta.local_key.as_deref() == Some("1.x") {
                    back.push(m.report.meta.folder.clone());
                }
                Ok(())
            })
            .expect("reads");
        assert_eq!(back, ["INBOX"]);
        assert!(
            plan_undo(store.as_ref(), clean_run)
                .expect("again")
                .iter()
                .all(|(_, p)| p.is_empty())
        );
        assert!(
            plan_undo(store.as_ref(), undo_run).is_err(),
            "an undo run is not undone"
        );
    }

    /// One refused rename in the middle of a batch is that file's failure:
    /// the files before and after it are moved and journaled as moved, so
    /// an undo finds every one of them.
    #[test]
    fn a_maildir_batch_reports_each_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in [
            "cur",
            "new",
            "tmp",
            ".Deleted Items/cur",
            ".Deleted Items/new",
            ".Deleted Items/tmp",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("mkdir");
        }
        for name in ["1.x:2,S", "2.x:2,S", "3.x:2,S"] {
            std::fs::write(
                root.join("cur").join(name),
                format!("Message-ID: <{name}@t>\r\n\r\nhei\r\n"),
            )
            .expect("write");
        }
        // Someone else's file already sits where the second would go.
        std::fs::write(root.join(".Deleted Items/cur/2.x:2,S"), "other").expect("write");
        let mut mover = MaildirMover::open(root).expect("mover");
        let plan: Vec<Planned> = ["1.x", "2.x", "3.x"]
            .iter()
            .map(|key| Planned {
                folder: "INBOX".into(),
                item: Item {
                    uid_validity: None,
                    uid: None,
                    key: Some(key.to_string()),
                    message_id: format!("<{key}@t>"),
                    size: None,
                    received: None,
                },
                rule: "test".into(),
                to_folder: "Deleted Items".into(),
                undoes: None,
                date: String::new(),
                subject: String::new(),
            })
            .collect();
        let mut store = crate::store::for_tests();
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let run = store
            .begin_run(RunKind::Clean, as_of, Utc::now())
            .expect("run");
        let mut out = Vec::new();
        {
            let mut printer =
                MovePrinter::new(Box::new(&mut out), super::super::ActionFormat::Jsonl);
            apply(
                store.as_mut(),
                &mut mover,
                run,
                "maildir:t",
                &plan,
                FlaggedPolicy::Keep,
                &mut printer,
            )
            .expect("applies");
        }
        let statuses: Vec<(Option<String>, JournalStatus)> = store
            .journal_of_run(run)
            .expect("journal")
            .into_iter()
            .map(|e| (e.local_key, e.status))
            .collect();
        assert_eq!(
            statuses,
            [
                (Some("1.x".to_string()), JournalStatus::Moved),
                (Some("2.x".to_string()), JournalStatus::Failed),
                (Some("3.x".to_string()), JournalStatus::Moved),
            ]
        );
        assert!(root.join("cur/2.x:2,S").exists());
        assert!(root.join(".Deleted Items/cur/3.x:2,S").exists());
        assert_eq!(
            std::fs::read_to_string(root.join(".Deleted Items/cur/2.x:2,S")).expect("read"),
            "other"
        );
    }
}
