//! The compliance history, taken at the end of every scan that writes the
//! store: a snapshot per mailbox (counts by rule and detector, judged as of
//! the scan's date) and the deviation register brought up to date.
//!
//! Why at scan time: a report made later cannot count mail that was
//! deleted in between, and "is it getting better?" needs those counts.

use crate::compliance;
use crate::inventory;
use crate::rules::RuleSet;
use crate::store::{RunId, SnapshotRecord, Store, StoreError};
use chrono::NaiveDate;

/// How long snapshots are kept by default.
pub const KEEP_YEARS: u32 = 5;

/// One scanned mailbox and how its scan went.
pub struct Scanned<'a> {
    pub source: &'a str,
    /// The owner's address, to tell sent from received.
    pub address: Option<&'a str>,
    pub status: &'a str,
}

/// A mailbox's snapshot as of `as_of`, with its part of the deviation
/// register brought up to date.
///
/// What changed since the last history is judged first (new messages,
/// changed flags, moved messages, other rules: `version` is the rules'
/// judgement version); the counts are then a query, and only the messages
/// with findings are read, a batch at a time, for their categories, distinct
/// values and deviations, each deviation reconciled with the register as it
/// comes ([`RegisterUpdate`]). A rescan that found nothing new costs what its
/// sensitive messages cost, not the mailbox, and holds neither them nor the
/// register in memory; the result is what judging every message as of the
/// date and reconciling the register whole gives (tested against it).
pub fn snapshot_and_register(
    store: &mut dyn Store,
    source: &str,
    address: Option<&str>,
    rules: &RuleSet,
    version: i64,
    as_of: NaiveDate,
) -> Result<compliance::Snapshot, StoreError> {
    store.judge_stored(source, version, &mut |r| {
        inventory::judgement(rules, version, r)
    })?;
    let counts = store.stored_counts(source, version, as_of)?;
    let mut counted = compliance::SnapshotBuilder::from_counts(source, as_of, counts);
    store.each_finding_set(source, &mut |date, findings| {
        counted.add_findings(date, findings)
    })?;
    let basis = register_basis(address);
    match store.register_changes(source, &basis, CHANGES_RECONCILED_ONE_BY_ONE)? {
        Some(changes) => reconcile_changes(store, source, address, as_of, &changes)?,
        None => reconcile_whole(store, source, address, as_of)?,
    }
    store.register_reconciled(source, &basis)?;
    store.flush()?;
    Ok(counted.finish())
}

/// What a mailbox's deviations are made from besides its messages: its
/// owner's address (sent or received, inside or outside) and how
/// [`compliance::deviation`] reads a message (its version: raise it when
/// that changes). The register is brought up to date from what changed
/// only while this stays the same.
fn register_basis(address: Option<&str>) -> String {
    const DEVIATION_VERSION: u32 = 1;
    format!("{DEVIATION_VERSION}\u{1f}{}", address.unwrap_or(""))
}

/// Beyond this many changed copies (a first scan, a mailbox reorganised)
/// the register is reconciled whole, a batch at a time, instead of copy by
/// copy.
const CHANGES_RECONCILED_ONE_BY_ONE: usize = 2048;

/// The whole register of a mailbox against every message with findings.
fn reconcile_whole(
    store: &mut dyn Store,
    source: &str,
    address: Option<&str>,
    as_of: NaiveDate,
) -> Result<(), StoreError> {
    let mut register = RegisterUpdate::new(source, as_of);
    let mut after = 0;
    loop {
        let mut batch = Vec::new();
        let mut last = None;
        store.sensitive_batch(source, after, &mut |id, m| {
            last = Some(id);
            batch.extend(compliance::deviation(source, address, as_of, &m.report));
            Ok(())
        })?;
        let Some(last) = last else {
            break;
        };
        after = last;
        register.offer(store, batch)?;
    }
    register.finish(store)
}

/// The register's entries for the messages the changes touch, and only
/// those: each touched message (by identity) gets the deviation its copies
/// with findings give now, or, with none left, its open entry is handled.
/// Every other entry stays as the last reconciling left it, which is what
/// reconciling it whole would leave it as, since nothing it is made from
/// changed.
fn reconcile_changes(
    store: &mut dyn Store,
    source: &str,
    address: Option<&str>,
    as_of: NaiveDate,
    changes: &[crate::store::ChangedCopy],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let touched: std::collections::BTreeSet<String> =
        changes.iter().map(|c| c.identity(source)).collect();
    let mut current = Vec::new();
    store.sensitive_copies(source, changes, &mut |m| {
        current.extend(compliance::deviation(source, address, as_of, &m.report));
        Ok(())
    })?;
    let current = compliance::one_per_message(current);
    let met: std::collections::HashSet<String> =
        current.iter().map(crate::register::identity).collect();
    let mut register = RegisterUpdate::new(source, as_of);
    register.offer(store, current)?;
    let gone: Vec<String> = touched.into_iter().filter(|t| !met.contains(t)).collect();
    let handled: Vec<String> = store
        .register_entries(source, &gone)?
        .into_values()
        .flatten()
        .filter(|e| e.open)
        .map(|e| e.id)
        .collect();
    if !handled.is_empty() {
        store.handle_deviations(&handled, as_of)?;
    }
    Ok(())
}

/// Brings a mailbox's part of the deviation register up to date, one
/// deviation at a time, as [`compliance::reconcile`] does for the whole set:
/// each current deviation is matched by identity with what the register
/// holds (keeping when it was first seen and the action noted; an unchanged
/// one is not written; of a message's copies the one
/// [`compliance::stands_for_message`] chooses), and at the end the open
/// ones no longer current are marked handled as of `as_of`. It keeps only
/// the identities it has met.
pub struct RegisterUpdate<'a> {
    source: &'a str,
    as_of: NaiveDate,
    chosen: std::collections::HashMap<String, (compliance::DeviationStatus, String, String)>,
}

impl<'a> RegisterUpdate<'a> {
    pub fn new(source: &'a str, as_of: NaiveDate) -> RegisterUpdate<'a> {
        RegisterUpdate {
            source,
            as_of,
            chosen: Default::default(),
        }
    }

    /// Reconciles a batch of current deviations (the register is asked
    /// once per batch).
    pub fn offer(
        &mut self,
        store: &mut dyn Store,
        batch: Vec<compliance::Deviation>,
    ) -> Result<(), StoreError> {
        let identities: Vec<String> = batch.iter().map(crate::register::identity).collect();
        let mut known = store.register_entries(self.source, &identities)?;
        for (c, who) in batch.into_iter().zip(identities) {
            if let Some((status, folder, key)) = self.chosen.get(&who)
                && !compliance::stands_for_message(&c, (*status, folder, key))
            {
                continue;
            }
            self.chosen
                .insert(who.clone(), (c.status, c.folder.clone(), c.key.clone()));
            let entries = known.remove(&who).unwrap_or_default();
            let merged = match entries.first() {
                Some(k) => compliance::Deviation {
                    first_seen: k.first_seen.min(c.first_seen),
                    action: k.action.clone(),
                    handled_on: None,
                    ..c
                },
                None => c,
            };
            let digest = crate::register::entry_digest(&merged);
            if let [only] = entries.as_slice()
                && only.id == merged.id
                && only.digest == digest
            {
                known.insert(who, entries);
                continue;
            }
            let replacing: Vec<String> = entries.into_iter().map(|k| k.id).collect();
            store.put_deviation(&merged, &replacing)?;
            // A later copy in this batch is matched against what was put.
            known.insert(
                who,
                vec![crate::store::RegisterEntry {
                    id: merged.id.clone(),
                    first_seen: merged.first_seen,
                    action: merged.action.clone(),
                    digest,
                    open: merged.status != compliance::DeviationStatus::Handled,
                }],
            );
        }
        Ok(())
    }

    pub fn finish(self, store: &mut dyn Store) -> Result<(), StoreError> {
        let mut gone = Vec::new();
        store.each_deviation_head(self.source, &mut |id, identity, open| {
            if open && !self.chosen.contains_key(identity) {
                gone.push(id.to_string());
            }
        })?;
        if !gone.is_empty() {
            store.handle_deviations(&gone, self.as_of)?;
        }
        store.flush()
    }
}

/// Snapshots each mailbox and reconciles its deviations; forgets snapshots
/// older than `keep_years` before `as_of`.
#[allow(clippy::too_many_arguments)]
pub fn record(
    store: &mut dyn Store,
    run: RunId,
    scanned: &[Scanned<'_>],
    rules: &RuleSet,
    as_of: NaiveDate,
    taken_at: &str,
    full: bool,
    keep_years: u32,
) -> Result<(), StoreError> {
    let version = store.judgement_version(&rules.digest)?;
    for s in scanned {
        // A failed scan read nothing new: its counts would be the last
        // run's, and a gone message cannot be told from an unread one.
        if s.status == "failed" {
            continue;
        }
        let snapshot = snapshot_and_register(store, s.source, s.address, rules, version, as_of)?;
        store.record_snapshot(
            run,
            &SnapshotRecord {
                run,
                taken_at: taken_at.to_string(),
                full,
                status: s.status.to_string(),
                snapshot,
            },
        )?;
    }
    if let Some(before) = as_of.checked_sub_months(chrono::Months::new(12 * keep_years)) {
        store.prune_snapshots(before)?;
    }
    store.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        DetectorId, Envelope, Finding, Location, MessageMeta, MessageReport, Problem, ProblemKind,
        TextSignals,
    };
    use crate::store::{RunKind, Sighting};
    use chrono::{DateTime, Utc};

    /// What judging every message as of the date gives: the reference the
    /// incremental history must equal.
    fn judged_whole(
        store: &dyn Store,
        source: &str,
        address: Option<&str>,
        rules: &RuleSet,
        as_of: NaiveDate,
    ) -> (compliance::Snapshot, Vec<compliance::Deviation>) {
        let mut counted = compliance::SnapshotBuilder::new(source, as_of);
        let mut current = Vec::new();
        store
            .each_message(source, None, &mut |m| {
                let report = inventory::judge(rules, as_of, m.report);
                counted.add(&report);
                current.extend(compliance::deviation(source, address, as_of, &report));
                Ok(())
            })
            .expect("read");
        current.sort_by(|a, b| a.id.cmp(&b.id));
        (counted.finish(), current)
    }

    /// A small deterministic generator: the same mailbox every run.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    fn message(g: &mut Lcg, i: usize) -> MessageReport {
        let folders = [
            "INBOX",
            "Sendte elementer",
            "Webskjema",
            "Ordre",
            "Regnskap",
            "Regnskap/Avtaler",
            "Slettede elementer",
            "Arkiv/2020",
        ];
        let folder = folders[g.next(folders.len() as u64) as usize];
        let base = DateTime::<Utc>::from_timestamp(1_420_070_400, 0).expect("2015");
        let received =
            (g.next(10) > 0).then(|| base + chrono::TimeDelta::days(g.next(4300) as i64));
        let date_header = (g.next(3) > 0)
            .then(|| received.unwrap_or(base) - chrono::TimeDelta::days(g.next(40) as i64));
        let detectors = [
            "no.fodselsnummer",
            "no.bank_account",
            "payment_card",
            "special_category.health",
            "special_category.trade_union",
        ];
        let mut findings = Vec::new();
        if g.next(4) == 0 {
            for _ in 0..=g.next(3) {
                let d = detectors[g.next(detectors.len() as u64) as usize];
                let special = d.starts_with("special_category.");
                findings.push(Finding {
                    detector: DetectorId::parse(d).expect("detector"),
                    location: if g.next(2) == 0 {
                        Location::Body
                    } else {
                        Location::Subject
                    },
                    masked: "**".into(),
                    fingerprint: if special {
                        String::new()
                    } else {
                        format!("fp{}", g.next(7))
                    },
                    confidence: 0.9,
                });
            }
        }
        let problems = match g.next(9) {
            0 => vec![Problem {
                location: Location::Attachment(vec!["a.pdf".into()]),
                kind: ProblemKind::Corrupt,
            }],
            1 => vec![Problem {
                location: Location::Body,
                kind: ProblemKind::EncodingProblem,
            }],
            _ => Vec::new(),
        };
        let mut meta = MessageMeta::local(folder, 100 + g.next(5000), "x");
        meta.local_key = Some(format!("k{i}"));
        meta.received = received;
        meta.flagged = g.next(5) == 0;
        meta.position = i as u64;
        MessageReport {
            date: received.or(date_header),
            meta,
            envelope: Envelope {
                message_id: format!("<m{}@t>", g.next(200)),
                date_header,
                from: vec![
                    ["kari@firma.no", "ordre@nettbutikk.no", "ola@kunde.no"][g.next(3) as usize]
                        .into(),
                ],
                to: vec!["kari@firma.no".into()],
                subject: ["Ordre 123", "Hei", "Skjema: kontakt"][g.next(3) as usize].into(),
                ..Envelope::default()
            },
            findings,
            stale: None,
            problems,
            signals: TextSignals::default(),
        }
    }

    /// The history counted from stored judgements and the sensitive
    /// messages equals judging every message again, on many dates, after
    /// flags change (by a rescan, with its position too), messages go and
    /// come, and the rules change.
    #[test]
    fn incremental_history_equals_judging_every_message() {
        let mut g = Lcg(7);
        let source = "maildir:/kari";
        let address = Some("kari@firma.no");
        let rules = RuleSet::embedded().expect("rules");
        let mut store = crate::store::for_tests();
        let run = store
            .begin_run(
                RunKind::Scan,
                NaiveDate::from_ymd_opt(2026, 1, 1).expect("d"),
                Utc::now(),
            )
            .expect("run");
        let version = store.judgement_version(&rules.digest).expect("version");
        // Half judged as a scan judges them, half left to the history.
        for i in 0..400 {
            let m = message(&mut g, i);
            let judged = (i % 2 == 0).then(|| inventory::judgement(&rules, version, &m));
            store
                .record_judged(run, source, &m, judged.as_ref())
                .expect("record");
        }
        store.flush().expect("flush");
        let dates = [
            "2016-03-01",
            "2019-12-31",
            "2024-06-10",
            "2026-11-25",
            "2031-01-01",
        ];
        let check = |store: &mut Box<dyn Store>, rules: &RuleSet, version: i64| {
            for day in dates {
                let as_of: NaiveDate = day.parse().expect("date");
                let register = |store: &dyn Store| {
                    let mut r: Vec<compliance::Deviation> = store
                        .deviations()
                        .expect("register")
                        .into_iter()
                        .filter(|d| d.source == source)
                        .collect();
                    r.sort_by(|a, b| a.id.cmp(&b.id));
                    r
                };
                let known = register(store.as_ref());
                // Judging every message again and reconciling the register
                // whole, against judging what changed and reconciling one
                // deviation at a time.
                let (whole, current) = judged_whole(store.as_ref(), source, address, rules, as_of);
                let mut expected = compliance::reconcile(
                    &known,
                    source,
                    compliance::one_per_message(current),
                    as_of,
                );
                expected.sort_by(|a, b| a.id.cmp(&b.id));
                let snapshot =
                    snapshot_and_register(store.as_mut(), source, address, rules, version, as_of)
                        .expect("incremental");
                assert_eq!(snapshot, whole, "as of {day}");
                // A report's verdicts from the stored judgements (every
                // message judged under these rules now) equal judging anew.
                let mut from_stored = 0;
                store
                    .each_message(source, None, &mut |m| {
                        let anew = inventory::judge(rules, as_of, m.report.clone());
                        if m.judgement.as_ref().is_some_and(|j| j.version == version) {
                            from_stored += 1;
                        }
                        let stored = inventory::judge_as_stored(
                            rules,
                            Some(version),
                            as_of,
                            m.report,
                            m.judgement,
                        );
                        assert_eq!(stored.stale, anew.stale, "{} as of {day}", anew.meta.key());
                        Ok(())
                    })
                    .expect("read");
                assert_eq!(from_stored, whole.messages, "all judged under these rules");
                let got = register(store.as_ref());
                assert_eq!(got.len(), expected.len(), "register as of {day}");
                if let Some((a, b)) = got.iter().zip(&expected).find(|(a, b)| a != b) {
                    panic!("register as of {day}: {a:?} where {b:?}");
                }
            }
        };
        check(&mut store, &rules, version);
        let before = snapshot_and_register(
            store.as_mut(),
            source,
            address,
            &rules,
            version,
            "2026-11-25".parse().expect("d"),
        )
        .expect("s");
        assert!(
            before.stale > 50 && before.sensitive_messages > 20 && before.unreadable > 10,
            "{before:?}"
        );

        // A rescan: flags flipped on some, others gone, new ones read.
        let run2 = store
            .begin_run(
                RunKind::Scan,
                NaiveDate::from_ymd_opt(2026, 2, 1).expect("d"),
                Utc::now(),
            )
            .expect("run");
        let mut known = store.known_local(source).expect("known");
        let mut flipped = 0;
        for (folder, keys) in &mut known {
            let mut gone = Vec::new();
            for (key, state) in keys.iter() {
                match g.next(10) {
                    0 => {
                        flipped += 1;
                        store
                            .sighting(
                                run2,
                                source,
                                &Sighting::Present {
                                    folder: folder.clone(),
                                    key: key.clone(),
                                    flagged: !state.flagged,
                                    position: state.position,
                                },
                            )
                            .expect("flag");
                    }
                    1 => gone.push(key.clone()),
                    _ => {}
                }
            }
            store
                .sighting(
                    run2,
                    source,
                    &Sighting::FolderListed {
                        folder: folder.clone(),
                        gone,
                        stamp: None,
                    },
                )
                .expect("gone");
        }
        assert!(flipped > 10);
        for i in 400..450 {
            store
                .record(run2, source, &message(&mut g, i))
                .expect("record");
        }
        store.flush().expect("flush");
        check(&mut store, &rules, version);

        // A cleanup moves messages (sensitive ones among them) to Deleted
        // Items: the inventory follows them, and the register with them.
        let clean = store
            .begin_run(
                RunKind::Clean,
                NaiveDate::from_ymd_opt(2026, 2, 2).expect("d"),
                Utc::now(),
            )
            .expect("run");
        let mut moves: Vec<crate::store::JournalEntry> = Vec::new();
        store
            .each_message(source, None, &mut |m| {
                let r = &m.report;
                if r.meta.folder != "Slettede elementer" && moves.len() < 12 && g.next(4) == 0 {
                    moves.push(crate::store::JournalEntry {
                        id: 0,
                        run: clean,
                        source: source.into(),
                        folder: r.meta.folder.clone(),
                        uid_validity: None,
                        uid: None,
                        local_key: r.meta.local_key.clone(),
                        message_id: r.envelope.message_id.clone(),
                        to_folder: "Slettede elementer".into(),
                        rule: "arsgjennomgang".into(),
                        status: crate::store::JournalStatus::Intent,
                        reason: String::new(),
                        dest_uid_validity: None,
                        dest_uid: None,
                        dest_key: r.meta.local_key.as_ref().map(|k| format!("{k}-moved")),
                        flagged: r.meta.flagged,
                        undoes: None,
                        size: Some(r.meta.size),
                        received: r.meta.received,
                    });
                }
                Ok(())
            })
            .expect("read");
        store.journal_intents(&mut moves).expect("intents");
        for m in &mut moves {
            m.status = crate::store::JournalStatus::Moved;
        }
        store.journal_outcomes(&moves).expect("moved");
        let basis = register_basis(address);
        let changes = store
            .register_changes(source, &basis, CHANGES_RECONCILED_ONE_BY_ONE)
            .expect("changes")
            .expect("reconciled from the changes, not whole");
        assert!(
            !changes.is_empty() && changes.len() <= 2 * moves.len(),
            "{} changes for {} moves",
            changes.len(),
            moves.len()
        );
        check(&mut store, &rules, version);
        assert!(
            store
                .deviations()
                .expect("register")
                .iter()
                .any(|d| d.status == compliance::DeviationStatus::InDeletedItems),
            "a sensitive message moved to Deleted Items"
        );

        // Other rules (a stricter yearly review, by the sent date): judged again
        // under them.
        let files: Vec<(String, String)> = crate::rules::EMBEDDED
            .iter()
            .map(|(n, c)| {
                (
                    n.to_string(),
                    // Aged by the Date header: a report's ages from stored
                    // judgements count from the day the rule names.
                    c.replace("max_age_days = 365", "max_age_days = 200\ndate = \"sent\""),
                )
            })
            .collect();
        let stricter = RuleSet::parse(&files).expect("rules");
        assert_ne!(stricter.digest, rules.digest);
        let v2 = store.judgement_version(&stricter.digest).expect("version");
        assert_ne!(v2, version);
        check(&mut store, &stricter, v2);
        // And back: the first rules' version judges everything again too.
        check(&mut store, &rules, version);
        // A scan under the stricter rules that stopped before its history
        // left their judgements behind: the next history under the first
        // rules does not take them for its own.
        let run3 = store
            .begin_run(
                RunKind::Scan,
                NaiveDate::from_ymd_opt(2026, 3, 1).expect("d"),
                Utc::now(),
            )
            .expect("run");
        for i in 450..470 {
            let m = message(&mut g, i);
            let judged = inventory::judgement(&stricter, v2, &m);
            store
                .record_judged(run3, source, &m, Some(&judged))
                .expect("record");
        }
        store.flush().expect("flush");
        check(&mut store, &rules, version);
    }
}
