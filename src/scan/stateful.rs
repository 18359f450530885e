//! A scan that keeps state: the store's fingerprint key checked, the
//! mailboxes registered, one run recorded around [`super::run`], each
//! mailbox's outcome, the compliance history taken, and the scan written to
//! the audit trail. The command layer prints what it read.

use super::{ImapSettings, NamedSource, Progress, RunStats, StateSink};
use crate::engine::Engine;
use crate::fingerprint::Fingerprinter;
use crate::report::Printer;
use crate::source::SourceSpec;
use crate::store::{MailboxRecord, RunId, RunKind, Store, StoreError};
use chrono::NaiveDate;

/// The store setting holding a fingerprint of a fixed text under the
/// store's fingerprint key: it tells a key apart and reveals nothing of it.
pub const FINGERPRINT_KEY_CHECK: &str = "fingerprint_key_check";

/// Why a stateful scan did not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum StatefulError {
    #[error(
        "the state database {location} holds fingerprints made with another fingerprint key; scan with that key, or give a new --state"
    )]
    OtherKey { location: String },
    #[error("cannot write the audit trail: {0}")]
    Audit(StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Whether the store's fingerprints were made with this key: `Ok(true)`
/// when they were, `Ok(false)` when the store has none yet,
/// [`StatefulError::OtherKey`] when another key made them (the same value
/// would look like two).
pub fn same_fingerprint_key(
    store: &dyn Store,
    fingerprinter: &Fingerprinter,
) -> Result<bool, StatefulError> {
    let check = fingerprinter.fingerprint("mailhygiene fingerprint key check");
    match store.setting(FINGERPRINT_KEY_CHECK)? {
        Some(stored) if stored != check => Err(StatefulError::OtherKey {
            location: store.location().to_string(),
        }),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// What the store keeps about a mailbox besides its messages: its owner
/// (from the configuration) and address (the configuration's, or an IMAP
/// user that is one).
pub fn mailbox_record(source: &NamedSource) -> MailboxRecord {
    let address = match (&source.mailbox, &source.spec) {
        (Some(m), _) => Some(m.address.clone()),
        (None, SourceSpec::Imap(url)) if url.user.contains('@') => Some(url.user.clone()),
        _ => None,
    };
    MailboxRecord {
        source: source.given.clone(),
        address,
        owner: source.mailbox.as_ref().and_then(|m| m.owner.clone()),
        department: source.mailbox.as_ref().and_then(|m| m.department.clone()),
        ..MailboxRecord::default()
    }
}

/// Readies the store for a scan of `named`: the key checked (and set on
/// first use), the mailboxes registered. Returns whether the run can print
/// as it reads: it reads every message of the inventory (a first scan, or
/// `full`) from at most one IMAP mailbox at a time (several interleave).
pub fn prepare(
    store: &mut dyn Store,
    fingerprinter: &Fingerprinter,
    named: &[NamedSource],
    full: bool,
) -> Result<bool, StatefulError> {
    if !same_fingerprint_key(store, fingerprinter)? {
        let check = fingerprinter.fingerprint("mailhygiene fingerprint key check");
        store.set_setting(FINGERPRINT_KEY_CHECK, &check)?;
    }
    for s in named {
        store.register_mailbox(&mailbox_record(s))?;
    }
    let mut fresh = true;
    for s in named {
        fresh &= !store.holds_messages(&s.given)?;
    }
    let imap_sources = named
        .iter()
        .filter(|s| matches!(s.spec, SourceSpec::Imap(_)))
        .count();
    Ok((fresh || full) && imap_sources <= 1)
}

/// How the scan is kept.
pub struct Keeping {
    pub as_of: NaiveDate,
    /// Every message read again (`--full`), not only what is new.
    pub full: bool,
    /// Metadata only: it counts no sensitive data, so the compliance
    /// history is left alone.
    pub stale_only: bool,
    /// Snapshots older than this are forgotten.
    pub keep_years: u32,
}

/// A stateful scan as it ended.
pub struct Finished {
    pub run: RunId,
    pub stats: RunStats,
    /// `complete`, or `incomplete` when something went unread.
    pub status: &'static str,
}

/// Scans `named` into the store as one run (see the module's
/// documentation); `printer`, when given, gets each message as it is read
/// (what [`prepare`] allowed).
#[allow(clippy::too_many_arguments)]
pub fn scan_into(
    store: &mut dyn Store,
    engine: &Engine,
    named: &[NamedSource],
    pool: &rayon::ThreadPool,
    printer: Option<&mut dyn Printer>,
    progress: &dyn Progress,
    imap: &ImapSettings,
    keeping: &Keeping,
) -> Result<Finished, StatefulError> {
    let run = store.begin_run(RunKind::Scan, keeping.as_of, chrono::Utc::now())?;
    let stats = scan_mailboxes(store, run, engine, named, pool, printer, progress, imap)?;
    let mailboxes: Vec<Scanned> = named
        .iter()
        .map(|s| Scanned {
            source: s.given.clone(),
            failed: stats
                .failures
                .iter()
                .find(|(f, _)| f == &s.given)
                .map(|(_, e)| e.clone()),
        })
        .collect();
    let status = finish_run(
        store,
        run,
        &mailboxes,
        stats.messages,
        stats.exit_code() == 0,
        &engine.rules,
        keeping,
    )?;
    Ok(Finished { run, stats, status })
}

/// Scans `named` into `run` (begun by the caller: this process, or the
/// queue a worker took a mailbox's job from) and records each mailbox's
/// outcome.
#[allow(clippy::too_many_arguments)]
pub fn scan_mailboxes(
    store: &mut dyn Store,
    run: RunId,
    engine: &Engine,
    named: &[NamedSource],
    pool: &rayon::ThreadPool,
    printer: Option<&mut dyn Printer>,
    progress: &dyn Progress,
    imap: &ImapSettings,
) -> Result<RunStats, StatefulError> {
    let judge_version = Some(store.judgement_version(&engine.rules.digest)?);
    let stats = super::run(
        engine,
        named,
        pool,
        printer,
        progress,
        imap,
        Some(StateSink {
            store: &mut *store,
            run,
            judge_version,
        }),
    )
    .map_err(|e| match e.downcast::<StoreError>() {
        Ok(store_error) => StatefulError::Store(store_error),
        Err(other) => StatefulError::Io(other),
    })?;
    let now = chrono::Utc::now();
    for s in named {
        let failed = stats.failures.iter().find(|(f, _)| f == &s.given);
        let status = if failed.is_some() {
            "failed"
        } else {
            "complete"
        };
        store.mailbox_scanned(&s.given, now, status, failed.map(|(_, e)| e.as_str()))?;
    }
    Ok(stats)
}

/// A mailbox of a run as it ended: failed (and why), or scanned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    pub source: String,
    pub failed: Option<String>,
}

/// Ends a scan run: its status (`complete` when `complete` and no mailbox
/// failed, else `incomplete`), the compliance history (a snapshot per
/// mailbox, the deviation register) unless the scan was stale-only, and
/// the audit entry. Returns the status.
pub fn finish_run(
    store: &mut dyn Store,
    run: RunId,
    mailboxes: &[Scanned],
    messages_read: u64,
    complete: bool,
    rules: &crate::rules::RuleSet,
    keeping: &Keeping,
) -> Result<&'static str, StatefulError> {
    let now = chrono::Utc::now();
    let failed_sources = mailboxes.iter().filter(|m| m.failed.is_some()).count();
    let status = if complete && failed_sources == 0 {
        "complete"
    } else {
        "incomplete"
    };
    store.finish_run(run, now, status, messages_read)?;
    // A stale-only scan reads no content: it would count no sensitive data
    // at all, so it leaves the history alone.
    if !keeping.stale_only {
        let records = store.mailboxes()?;
        let addresses: Vec<Option<String>> = mailboxes
            .iter()
            .map(|s| {
                records
                    .iter()
                    .find(|m| m.source == s.source)
                    .and_then(|m| m.address.clone())
            })
            .collect();
        let scanned: Vec<crate::history::Scanned<'_>> = mailboxes
            .iter()
            .zip(&addresses)
            .map(|(s, address)| crate::history::Scanned {
                source: &s.source,
                address: address.as_deref(),
                status: if s.failed.is_some() {
                    "failed"
                } else {
                    "complete"
                },
            })
            .collect();
        crate::history::record(
            store,
            run,
            &scanned,
            rules,
            keeping.as_of,
            &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            keeping.full,
            keeping.keep_years,
        )?;
    }
    store
        .audit(
            "scan",
            None,
            serde_json::json!({
                "run": run,
                "sources": mailboxes.iter().map(|s| s.source.as_str()).collect::<Vec<_>>(),
                "as_of": keeping.as_of.to_string(),
                "messages_read": messages_read,
                "status": status,
                "failed_sources": failed_sources,
            }),
        )
        .map_err(StatefulError::Audit)?;
    Ok(status)
}

/// Records in the audit trail that a one-off scan (`--no-state`,
/// `--stale-only`) was made: it keeps nothing, but reading mailboxes is
/// recorded where the installation's trail is.
pub fn record_one_off(
    store: &mut dyn Store,
    named: &[NamedSource],
    stale_only: bool,
    stats: &RunStats,
) -> Result<(), StatefulError> {
    store
        .audit(
            "scan",
            None,
            serde_json::json!({
                "one_off": true,
                "stale_only": stale_only,
                "sources": named.iter().map(|s| s.given.as_str()).collect::<Vec<_>>(),
                "messages_read": stats.messages,
                "failed_sources": stats.failures.len(),
            }),
        )
        .map_err(StatefulError::Audit)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use std::path::{Path, PathBuf};

    /// A Maildir scanned into an in-memory store, as `scan --state` does.
    struct Fixture {
        _dir: tempfile::TempDir,
        root: PathBuf,
        given: String,
        engine: Engine,
        named: Vec<NamedSource>,
        store: Box<dyn Store>,
        pool: rayon::ThreadPool,
    }

    impl Fixture {
        fn new(files: &[(&str, &str)]) -> Fixture {
            let dir = tempfile::tempdir().expect("tmp");
            let root = dir.path().join("mail");
            crate::actions::test_support::write_old(&root, files);
            for sub in [
                "cur",
                "new",
                "tmp",
                ".Arkiv/cur",
                ".Arkiv/new",
                ".Arkiv/tmp",
            ] {
                std::fs::create_dir_all(root.join(sub)).expect("mkdir");
            }
            let engine = Engine::new(
                crate::engine::EngineSettings::new(as_of()),
                RuleSet::embedded().expect("rules"),
                Fingerprinter::new(b"test-key-0123456789").expect("key"),
            );
            let given = format!("maildir:{}", root.display());
            let named = vec![NamedSource {
                spec: SourceSpec::parse(&given).expect("source"),
                given: given.clone(),
                credentials: None,
                mailbox: None,
            }];
            let mut store = crate::store::for_tests();
            store.set_audit_key(engine.audit_key());
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .expect("pool");
            Fixture {
                _dir: dir,
                root,
                given,
                engine,
                named,
                store,
                pool,
            }
        }

        /// One stateful scan: whether it could print as it read, and how
        /// many messages it read.
        fn scan(&mut self) -> (bool, u64) {
            let stream = prepare(
                self.store.as_mut(),
                &self.engine.detectors.fingerprinter,
                &self.named,
                false,
            )
            .expect("prepared");
            let finished = scan_into(
                self.store.as_mut(),
                &self.engine,
                &self.named,
                &self.pool,
                None,
                &super::super::Silent,
                &ImapSettings::default(),
                &Keeping {
                    as_of: as_of(),
                    full: false,
                    stale_only: false,
                    keep_years: 5,
                },
            )
            .expect("scanned");
            assert_eq!(finished.status, "complete");
            (stream, finished.stats.messages)
        }

        fn held(&self) -> u64 {
            self.store.counts(&self.given).expect("counts").0
        }
    }

    fn as_of() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")
    }

    /// The job without the binary: a first scan records every message and
    /// prints as it reads, a rescan reads nothing new and may not; each run
    /// is recorded, snapshotted and audited; a store made under another
    /// fingerprint key is refused before anything is read.
    #[test]
    fn a_stateful_scan_records_its_run_history_and_audit() {
        let mut f = Fixture::new(&[
            ("cur/1:2,S", "a"),
            ("cur/2:2,S", "b"),
            (".Arkiv/cur/3:2,", "c"),
        ]);
        let read = [f.scan(), f.scan()];
        assert_eq!(read, [(true, 3), (false, 0)]);
        assert_eq!(f.held(), 3);
        assert_eq!(f.store.snapshots().expect("history").len(), 2);
        let trail = f.store.audit_entries().expect("trail");
        assert_eq!(trail.len(), 2);
        assert!(
            trail
                .iter()
                .all(|e| e.action == "scan" && e.detail["status"] == "complete")
        );
        assert_eq!(trail[0].detail["messages_read"], 3);

        let other = Fingerprinter::new(b"another-key-0123456789").expect("key");
        assert!(matches!(
            prepare(f.store.as_mut(), &other, &f.named, false),
            Err(StatefulError::OtherKey { .. })
        ));
    }

    fn age(dir: &Path, secs: u64) {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_790_000_000 - secs);
        std::fs::File::open(dir)
            .and_then(|d| d.set_modified(when))
            .expect("set the directory's time");
    }

    /// A folder whose files are as they were at its last complete listing
    /// is passed over (a file slipped in with the folder's time put back is
    /// not seen: the proof it was not listed); a change the folder's time
    /// shows (a message added, a flag changed by renaming) is listed and
    /// recorded; a folder changed too recently to judge is always listed.
    #[test]
    fn an_unchanged_maildir_folder_is_not_listed_again() {
        let mut f = Fixture::new(&[
            ("cur/1:2,S", "a"),
            (".Arkiv/cur/2:2,", "b"),
            (".Arkiv/cur/3:2,", "c"),
        ]);
        let root = f.root.clone();
        let settle = || {
            for sub in ["cur", "new", ".Arkiv/cur", ".Arkiv/new"] {
                age(&root.join(sub), 3600);
            }
        };
        settle();
        assert_eq!(f.scan().1, 3);
        assert_eq!(f.store.folder_stamps(&f.given).expect("stamps").len(), 2);

        // Slipped in behind the folder's back: passed over.
        crate::actions::test_support::write_old(&root, &[(".Arkiv/cur/4:2,", "d")]);
        settle();
        assert_eq!(f.scan().1, 0);
        assert_eq!(f.held(), 3);

        // Added the ordinary way (the folder's time moves): read.
        crate::actions::test_support::write_old(&root, &[(".Arkiv/cur/5:2,", "e")]);
        age(&root.join(".Arkiv/cur"), 1800);
        assert_eq!(f.scan().1, 2, "d and e");
        assert_eq!(f.held(), 5);

        // A flag changed by renaming, and a message removed, in INBOX.
        std::fs::rename(root.join("cur/1:2,S"), root.join("cur/1:2,FS")).expect("flag");
        std::fs::remove_file(root.join(".Arkiv/cur/2:2,")).expect("remove");
        age(&root.join("cur"), 900);
        age(&root.join(".Arkiv/cur"), 900);
        assert_eq!(f.scan().1, 0);
        assert_eq!(f.held(), 4);
        let mut flagged = Vec::new();
        f.store
            .each_message(&f.given, None, &mut |m| {
                flagged.push((m.report.envelope.message_id.clone(), m.report.meta.flagged));
                Ok(())
            })
            .expect("read");
        assert!(
            flagged.contains(&("<a@t>".to_string(), true)),
            "{flagged:?}"
        );
        assert!(!flagged.iter().any(|(id, _)| id == "<b@t>"));

        // Changed just now: no stamp is trusted, the folder is listed.
        std::fs::remove_file(root.join(".Arkiv/cur/3:2,")).expect("remove");
        assert_eq!(f.scan().1, 0);
        assert_eq!(f.held(), 3);
        assert!(
            !f.store
                .folder_stamps(&f.given)
                .expect("stamps")
                .contains_key("Arkiv")
        );
    }
}
