//! The state store in SQLite: the embedded default behind [`Store`].
//!
//! One file, mode 0600, WAL. Schema changes are numbered migrations applied
//! in order. Writes from a scan are batched into transactions of a few
//! hundred messages; a folder's cursor moves in the same transaction as the
//! messages it passes, so a crash loses nothing and a restart reads nothing
//! twice. Journal entries are committed on their own before the change they
//! describe is made.

use super::columns::{from_ts, join_lines, notice_columns, notice_from_columns, split_lines, ts};
use super::{AuditTrail, Cases, History, Inventory, Journal, Reminders, Runs, Settings};
use super::{CaseRow, HandoverRecord, HandoverStatus, ReminderStatus, RunSummary, SnapshotRecord};
use super::{ChangedCopy, Judgement, KnownLocal, KnownMessage, RegisterEntry, StoredCounts};
use super::{
    Cursor, JournalEntry, JournalStatus, MailboxRecord, ReminderRecord, Resume, RunId, RunKind,
    RunRecord, Sighting, StoreError, StoredMessage,
};
use crate::audit::{AuditEntry, NewEntry};
use crate::case::{Case, Decision, PlanRow};
use crate::model::{
    DetectorId, Envelope, Finding, Location, MessageMeta, MessageReport, Problem, ProblemKind,
    TextSignals,
};
use crate::register::Deviation;
use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use std::collections::{HashMap, HashSet};
use std::path::Path;

mod audit;
mod cases;
mod history;
mod inventory;
mod journal;
mod reminders;
mod runs;
mod settings;

/// Migrations, applied in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        as_of TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running',
        messages INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE cursors (
        source TEXT NOT NULL,
        folder TEXT NOT NULL,
        uid_validity INTEGER NOT NULL,
        last_uid INTEGER NOT NULL,
        run INTEGER NOT NULL REFERENCES runs(id),
        PRIMARY KEY (source, folder)
    );
    CREATE TABLE findings (
        run INTEGER NOT NULL REFERENCES runs(id),
        source TEXT NOT NULL,
        folder TEXT NOT NULL,
        uid_validity INTEGER,
        uid INTEGER,
        message_id TEXT NOT NULL,
        received TEXT,
        detector TEXT NOT NULL,
        location TEXT NOT NULL,
        masked TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        confidence REAL NOT NULL
    );
    CREATE INDEX findings_by_folder ON findings (source, folder, uid);
    CREATE INDEX findings_by_fingerprint ON findings (fingerprint);
    CREATE TABLE problems (
        run INTEGER NOT NULL REFERENCES runs(id),
        source TEXT NOT NULL,
        folder TEXT NOT NULL,
        uid_validity INTEGER,
        uid INTEGER,
        message_id TEXT NOT NULL,
        location TEXT NOT NULL,
        kind TEXT NOT NULL
    );
    CREATE INDEX problems_by_folder ON problems (source, folder, uid);",
    // 2: the server's own name of each folder, so a rescan can STATUS known
    // folders before LIST (on Dovecot a LIST makes every later STATUS open
    // the folder: 1 ms becomes 280 ms on a 20,000-message folder).
    "ALTER TABLE cursors ADD COLUMN server_name TEXT",
    // 3: the inventory. Every message a scan sees, with its findings and
    // problems attached to it (stored once per message, replaced by a
    // rescan); mailboxes; the journal of changes; reminders. Findings of
    // schema 2 were not tied to messages and cannot be kept: the cursors
    // are reset, so the next scan reads every mailbox again.
    "DROP TABLE findings;
    DROP TABLE problems;
    DELETE FROM cursors;
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'scan';
    CREATE TABLE mailboxes (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL UNIQUE,
        owner TEXT,
        address TEXT,
        department TEXT,
        last_scan TEXT,
        last_status TEXT,
        last_error TEXT
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        mailbox INTEGER NOT NULL REFERENCES mailboxes(id),
        folder TEXT NOT NULL,
        key TEXT NOT NULL,
        uid_validity INTEGER,
        uid INTEGER,
        position INTEGER NOT NULL,
        server_folder TEXT,
        message_id TEXT NOT NULL,
        received INTEGER,
        date_header INTEGER,
        size INTEGER NOT NULL,
        flagged INTEGER NOT NULL,
        sender TEXT NOT NULL,
        sender_name TEXT NOT NULL,
        recipients TEXT NOT NULL,
        subject TEXT NOT NULL,
        read_run INTEGER NOT NULL,
        seen_run INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX messages_by_key ON messages (mailbox, folder, key);
    CREATE TABLE findings (
        message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        detector TEXT NOT NULL,
        location TEXT NOT NULL,
        masked TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        confidence REAL NOT NULL
    );
    CREATE INDEX findings_by_message ON findings (message);
    CREATE INDEX findings_by_fingerprint ON findings (fingerprint);
    CREATE TABLE problems (
        message INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        location TEXT NOT NULL,
        kind TEXT NOT NULL
    );
    CREATE INDEX problems_by_message ON problems (message);
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        run INTEGER NOT NULL,
        source TEXT NOT NULL,
        folder TEXT NOT NULL,
        uid_validity INTEGER,
        uid INTEGER,
        local_key TEXT,
        message_id TEXT NOT NULL,
        to_folder TEXT NOT NULL,
        rule TEXT NOT NULL,
        status TEXT NOT NULL,
        reason TEXT NOT NULL,
        dest_uid_validity INTEGER,
        dest_uid INTEGER,
        dest_key TEXT,
        flagged INTEGER NOT NULL,
        undoes INTEGER,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX journal_by_run ON journal (run);
    CREATE INDEX journal_by_status ON journal (source, status);
    CREATE TABLE reminders (
        source TEXT NOT NULL,
        period TEXT NOT NULL,
        run INTEGER NOT NULL,
        method TEXT NOT NULL,
        recipient TEXT NOT NULL,
        status TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (source, period)
    );
    CREATE TABLE settings (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );",
    // 4: offboarding cases and their plans as first made (a row classified
    // private stays private whatever an edited plan says), handovers, and
    // the audit chain.
    "CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        reason TEXT NOT NULL,
        legal_basis TEXT NOT NULL,
        notified TEXT NOT NULL,
        notified_why TEXT,
        successor TEXT,
        leaving TEXT,
        terms TEXT NOT NULL,
        opened_by TEXT NOT NULL,
        opened_at TEXT NOT NULL
    );
    CREATE TABLE case_rows (
        case_id TEXT NOT NULL REFERENCES cases(id),
        folder TEXT NOT NULL,
        key TEXT NOT NULL,
        uid INTEGER,
        message_id TEXT NOT NULL,
        decision TEXT NOT NULL,
        why TEXT NOT NULL,
        PRIMARY KEY (case_id, folder, key)
    );
    CREATE TABLE handovers (
        case_id TEXT NOT NULL,
        folder TEXT NOT NULL,
        key TEXT NOT NULL,
        destination TEXT NOT NULL,
        message_id TEXT NOT NULL,
        to_folder TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        at TEXT NOT NULL,
        PRIMARY KEY (case_id, folder, key, destination)
    );
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        case_id TEXT,
        detail TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );",
    // 5: history for the compliance report (a snapshot per mailbox per
    // scan) and the deviation register.
    "CREATE TABLE snapshots (
        run INTEGER NOT NULL,
        source TEXT NOT NULL,
        as_of TEXT NOT NULL,
        taken_at TEXT NOT NULL,
        full INTEGER NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run, source)
    );
    CREATE INDEX snapshots_by_date ON snapshots (as_of);
    CREATE TABLE deviations (
        id TEXT PRIMARY KEY,
        source TEXT NOT NULL,
        status TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE INDEX deviations_by_source ON deviations (source);",
    // 6: the folders a scan left out as not mail, per mailbox.
    "ALTER TABLE mailboxes ADD COLUMN not_mail TEXT",
    // 7: what the last scan of each mailbox waited, by cause.
    "ALTER TABLE mailboxes ADD COLUMN throttled_ms INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE mailboxes ADD COLUMN paced_ms INTEGER NOT NULL DEFAULT 0;",
    // 8: what each message's text showed beyond findings (TextSignals: its
    // flags as bits, organisation fingerprints space-separated). 0 for
    // messages stored before: not read, so unknown.
    "ALTER TABLE messages ADD COLUMN signals INTEGER NOT NULL DEFAULT 0;
     ALTER TABLE messages ADD COLUMN organisations TEXT NOT NULL DEFAULT '';",
    // 9: proof of identity for journaled moves (size and INTERNALDATE as
    // the inventory knew them), and the run that took over an interrupted
    // one.
    "ALTER TABLE journal ADD COLUMN size INTEGER;
     ALTER TABLE journal ADD COLUMN received INTEGER;
     ALTER TABLE runs ADD COLUMN adopted_by INTEGER;",
    // 10: each message's staleness for every date at once (its governing
    // rule and the first day it is stale) and whether it went partly
    // unread, judged under the rules of `judgements.digest` (a mailbox's
    // `judged_with`); NULL until judged, and only those indexed. Findings
    // and problems by mailbox, and messages by the run that read them: what
    // lets the compliance history count by a query and a rescan read only
    // what it needs; local folders' stamps, so an unchanged one is not
    // listed at all.
    "ALTER TABLE messages ADD COLUMN judged INTEGER;
     ALTER TABLE messages ADD COLUMN stale_rule TEXT;
     ALTER TABLE messages ADD COLUMN stale_from TEXT;
     ALTER TABLE messages ADD COLUMN unreadable INTEGER NOT NULL DEFAULT 0;
     CREATE INDEX messages_to_judge ON messages (mailbox, id) WHERE judged IS NULL;
     CREATE INDEX messages_by_read_run ON messages (mailbox, read_run);
     CREATE TABLE judgements (id INTEGER PRIMARY KEY, digest TEXT NOT NULL UNIQUE);
     ALTER TABLE mailboxes ADD COLUMN judged_with INTEGER;
     ALTER TABLE findings ADD COLUMN mailbox INTEGER;
     UPDATE findings SET mailbox = (SELECT m.mailbox FROM messages m WHERE m.id = findings.message);
     CREATE INDEX findings_by_mailbox ON findings (mailbox, message);
     ALTER TABLE problems ADD COLUMN mailbox INTEGER;
     UPDATE problems SET mailbox = (SELECT m.mailbox FROM messages m WHERE m.id = problems.message);
     CREATE INDEX problems_by_mailbox ON problems (mailbox, message);
     ALTER TABLE deviations ADD COLUMN identity TEXT;
     ALTER TABLE deviations ADD COLUMN first_seen TEXT;
     ALTER TABLE deviations ADD COLUMN action TEXT;
     ALTER TABLE deviations ADD COLUMN digest TEXT;
     CREATE INDEX deviations_by_identity ON deviations (source, identity);
     CREATE TABLE folder_stamps (
         mailbox INTEGER NOT NULL REFERENCES mailboxes(id),
         folder TEXT NOT NULL,
         stamp TEXT NOT NULL,
         PRIMARY KEY (mailbox, folder)
     );",
    // 11: what the compliance history counts, as an index that covers its
    // query and is ordered by its grouping (a rescan reads a fifth of the
    // bytes the message rows hold and sorts nothing), and the order a
    // report lists a mailbox in (INBOX first, then by folder, as read), so
    // a report streams its rows instead of sorting them all.
    "CREATE INDEX messages_counted ON messages
         (mailbox, stale_rule, stale_from, judged, size, received, date_header, unreadable);
     CREATE INDEX messages_in_order ON messages (mailbox, folder != 'INBOX', folder, position, key);",
    // 12: what an IMAP rescan with nothing new asks of a folder, each an
    // index range instead of a walk over every message of it: rows of
    // another UIDVALIDITY, rows above the last UID read, and the flagged
    // ones (a partial index: only the flagged few are in it).
    "CREATE INDEX messages_by_uid ON messages (mailbox, folder, uid_validity, uid);
     CREATE INDEX messages_flagged ON messages (mailbox, folder, uid) WHERE flagged;",
    // 13: the copies of messages with findings recorded, moved or forgotten
    // since a mailbox's deviation register was last reconciled, logged by
    // the store whoever changes them (a scan, a cleanup, an undo), and what
    // the register was last reconciled under: a rescan brings the register
    // up to date from these, not from every message with findings.
    "CREATE TABLE register_changes (
         mailbox INTEGER NOT NULL,
         message_id TEXT NOT NULL,
         folder TEXT NOT NULL,
         key TEXT NOT NULL
     );
     CREATE INDEX register_changes_by_mailbox ON register_changes (mailbox);
     ALTER TABLE mailboxes ADD COLUMN register_basis TEXT;
     CREATE TRIGGER register_found AFTER INSERT ON findings BEGIN
         INSERT INTO register_changes (mailbox, message_id, folder, key)
         SELECT m.mailbox, m.message_id, m.folder, m.key FROM messages m WHERE m.id = new.message;
     END;
     CREATE TRIGGER register_gone BEFORE DELETE ON messages
     WHEN EXISTS (SELECT 1 FROM findings f WHERE f.message = old.id) BEGIN
         INSERT INTO register_changes (mailbox, message_id, folder, key)
         VALUES (old.mailbox, old.message_id, old.folder, old.key);
     END;
     CREATE TRIGGER register_moved AFTER UPDATE OF mailbox, folder, key, message_id ON messages
     WHEN EXISTS (SELECT 1 FROM findings f WHERE f.message = new.id) BEGIN
         INSERT INTO register_changes (mailbox, message_id, folder, key)
         VALUES (old.mailbox, old.message_id, old.folder, old.key);
         INSERT INTO register_changes (mailbox, message_id, folder, key)
         VALUES (new.mailbox, new.message_id, new.folder, new.key);
     END;",
    // 14: the IMAP-only indexes of schema 12 hold only rows with a UID: a
    // local message was an entry in each that no query reads, a fifth of a
    // first local scan's index writes.
    "DROP INDEX messages_by_uid;
     DROP INDEX messages_flagged;
     CREATE INDEX messages_by_uid ON messages (mailbox, folder, uid_validity, uid)
         WHERE uid IS NOT NULL;
     CREATE INDEX messages_flagged ON messages (mailbox, folder, uid)
         WHERE flagged AND uid IS NOT NULL;",
];

/// The lock a run that writes holds on its state file (`FILE.lock`, the
/// holder's process id inside), released when dropped.
#[derive(Debug)]
pub struct RunLock {
    _file: std::fs::File,
}

impl RunLock {
    pub fn acquire(state: &Path, wait: bool) -> Result<RunLock, StoreError> {
        let mut name = state.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        let path = state.with_file_name(name);
        let err = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(|e| err(e.to_string()))?;
        if wait {
            // Said once, when it has to wait: a scheduled run that seems to
            // hang is waiting for another, and for which.
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    eprintln!(
                        "mailhygiene: waiting for the run that uses {} (process {}) to finish",
                        state.display(),
                        holder.trim()
                    );
                    file.lock().map_err(|e| err(e.to_string()))?;
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(err(e.to_string())),
            }
        } else if let Err(e) = file.try_lock() {
            return Err(match e {
                std::fs::TryLockError::WouldBlock => {
                    let holder = std::fs::read_to_string(&path).unwrap_or_default();
                    StoreError::Busy {
                        path: state.display().to_string(),
                        holder: holder.trim().to_string(),
                    }
                }
                std::fs::TryLockError::Error(e) => err(e.to_string()),
            });
        }
        use std::io::{Seek, Write};
        let _ = file.set_len(0);
        let _ = file.seek(std::io::SeekFrom::Start(0));
        let _ = write!(file, "{}", std::process::id());
        Ok(RunLock { _file: file })
    }
}

pub struct SqliteStore {
    conn: Connection,
    path: String,
    pending: usize,
    /// Mailbox ids by source: messages name their mailbox by number, which
    /// keeps rows and the key index small.
    ids: std::cell::RefCell<HashMap<String, i64>>,
    /// Mailboxes known to hold judgements of one version only (their
    /// `judged_with`), as this process last wrote or read it.
    judged_with: HashMap<i64, Option<i64>>,
    audit_key: Option<crate::audit::AuditKey>,
    /// The append-only log outside the database each audit entry's hash
    /// also goes to: `FILE.audit.log` beside a store file; none in memory.
    anchor: Option<std::path::PathBuf>,
}

/// Messages per transaction: large enough to be fast, small enough that a
/// crash loses little work.
const COMMIT_EVERY: usize = 8192;

/// Keeps the inventory true after a move: the message is recorded at its
/// new folder and key (COPYUID's UIDVALIDITY and UID, or the new file
/// name), so a search right after a cleanup or an undo finds it where it
/// is. A move whose new place the server did not say takes the message
/// out of its old folder's record; the next scan finds it where it is.
fn follow_move(tx: &rusqlite::Transaction<'_>, e: &JournalEntry) -> Result<(), StoreError> {
    // The inventory's key: the UID, or the local file's key.
    let old_key = match (e.uid, &e.local_key) {
        (Some(u), _) => u.to_string(),
        (None, Some(k)) => k.clone(),
        (None, None) => return Ok(()),
    };
    let new_place = match (e.dest_uid_validity, e.dest_uid, &e.dest_key) {
        (Some(v), Some(u), _) => Some((u.to_string(), Some(v), Some(u))),
        (_, _, Some(k)) => Some((k.clone(), None, None)),
        _ => None,
    };
    let mailbox: Option<i64> = tx
        .query_row(
            "SELECT id FROM mailboxes WHERE source = ?1",
            params![e.source],
            |r| r.get(0),
        )
        .optional()?;
    let Some(mailbox) = mailbox else {
        return Ok(());
    };
    let moved: Option<i64> = tx
        .query_row(
            "SELECT id FROM messages WHERE mailbox = ?1 AND folder = ?2 AND key = ?3",
            params![mailbox, e.folder, old_key],
            |r| r.get(0),
        )
        .optional()?;
    let Some(moved) = moved else {
        return Ok(());
    };
    let Some((new_key, validity, uid)) = new_place else {
        tx.execute("DELETE FROM messages WHERE id = ?1", params![moved])?;
        return Ok(());
    };
    // A scan may already have seen the message at its new place.
    tx.execute(
        "DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2 AND key = ?3",
        params![mailbox, e.to_folder, new_key],
    )?;
    tx.execute(
        "UPDATE messages SET folder = ?2, key = ?3, uid_validity = ?4, uid = ?5, server_folder = NULL,
           judged = NULL
         WHERE id = ?1",
        params![moved, e.to_folder, new_key, validity, uid],
    )?;
    Ok(())
}

/// Deviations registered before schema 10 get their identity (computed by
/// the same function as new ones, so a later scan finds them).
fn fill_deviation_identities(conn: &Connection) -> Result<(), StoreError> {
    let missing: Vec<(String, String)> = {
        let mut stmt = conn.prepare("SELECT id, data FROM deviations WHERE identity IS NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    if missing.is_empty() {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    for (id, data) in &missing {
        match serde_json::from_str::<Deviation>(data) {
            Ok(d) => conn.execute(
                "UPDATE deviations SET identity = ?2, first_seen = ?3, action = ?4, digest = ?5
                 WHERE id = ?1",
                params![
                    id,
                    crate::register::identity(&d),
                    d.first_seen.to_string(),
                    d.action,
                    crate::register::entry_digest(&d)
                ],
            )?,
            Err(_) => conn.execute(
                "UPDATE deviations SET identity = ?1 WHERE id = ?1",
                params![id],
            )?,
        };
    }
    conn.execute_batch("COMMIT")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed, mode 0600 from the start) and migrates the
    /// database.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let display = path.display().to_string();
        let open_err = |reason: String| StoreError::Open {
            path: display.clone(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        }
        if !path.exists() {
            // Created private, before SQLite writes anything into it.
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(false);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            options.open(path).map_err(|e| open_err(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| open_err(e.to_string()))?;
        SqliteStore::init(conn, display)
    }

    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        SqliteStore::init(Connection::open_in_memory()?, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // A scan writes a few hundred bytes a message: a larger page cache
        // and fewer checkpoints keep the writing off the scan's path.
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.pragma_update(None, "wal_autocheckpoint", 8_192)?;
        // Sorts larger than the cache (a report's order over a large
        // mailbox) spill to a temporary file, not to memory: memory stays
        // flat however large the mailbox.
        conn.pragma_update(None, "temp_store", "FILE")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                path,
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        if version < MIGRATIONS.len() {
            // One write transaction for all of them, the version read again
            // inside it: two processes opening an old store at once migrate
            // it once.
            conn.execute_batch("BEGIN IMMEDIATE")?;
            let migrated = (|| -> Result<(), StoreError> {
                let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
                let version = usize::try_from(version).unwrap_or(usize::MAX);
                for migration in MIGRATIONS.iter().skip(version) {
                    conn.execute_batch(migration)?;
                }
                conn.pragma_update(None, "user_version", MIGRATIONS.len() as i64)?;
                Ok(())
            })();
            match migrated {
                Ok(()) => conn.execute_batch("COMMIT")?,
                Err(e) => {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(e);
                }
            }
        }
        fill_deviation_identities(&conn)?;
        let anchor =
            (path != ":memory:").then(|| std::path::PathBuf::from(format!("{path}.audit.log")));
        Ok(SqliteStore {
            conn,
            path,
            pending: 0,
            ids: Default::default(),
            judged_with: HashMap::new(),
            audit_key: None,
            anchor,
        })
    }

    /// Writes the audit anchor somewhere else than beside the store (the
    /// configuration's `[audit] anchor`).
    pub fn set_audit_anchor(&mut self, path: std::path::PathBuf) {
        self.anchor = Some(path);
    }

    /// This store's identity in a shared anchor log: made once, at random.
    fn store_id(&self) -> Result<String, StoreError> {
        self.conn.execute(
            "INSERT INTO settings (name, value) VALUES ('store_id', lower(hex(randomblob(16))))
             ON CONFLICT (name) DO NOTHING",
            [],
        )?;
        Ok(self.setting("store_id")?.unwrap_or_default())
    }

    /// Appends lines to the anchor log: created private, opened for
    /// appending only, never through a symbolic link; syslog gets the same
    /// line where `/dev/log` exists.
    fn anchor_lines(&self, lines: &[String]) -> Result<(), StoreError> {
        let Some(path) = &self.anchor else {
            return Ok(());
        };
        crate::audit::append_anchor_lines(path, lines).map_err(|e| {
            StoreError::Invalid(format!(
                "cannot write the audit anchor log {}: {e}",
                path.display()
            ))
        })
    }

    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(usize::try_from(version).unwrap_or(usize::MAX))
    }

    fn in_transaction(&mut self) -> Result<(), StoreError> {
        if self.pending == 0 {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        self.pending += 1;
        Ok(())
    }

    fn maybe_commit(&mut self) -> Result<(), StoreError> {
        if self.pending >= COMMIT_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// The id of a mailbox already in the store.
    fn lookup(&self, source: &str) -> Result<Option<i64>, StoreError> {
        if let Some(id) = self.ids.borrow().get(source) {
            return Ok(Some(*id));
        }
        let id: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM mailboxes WHERE source = ?1")?
            .query_row(params![source], |r| r.get(0))
            .optional()?;
        if let Some(id) = id {
            self.ids.borrow_mut().insert(source.to_string(), id);
        }
        Ok(id)
    }

    /// The id of a mailbox, added to the store if new.
    fn mailbox_id(&self, source: &str) -> Result<i64, StoreError> {
        if let Some(id) = self.lookup(source)? {
            return Ok(id);
        }
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO mailboxes (source) VALUES (?1)")?
            .execute(params![source])?;
        self.lookup(source)?
            .ok_or_else(|| StoreError::Invalid(format!("cannot add the mailbox {source}")))
    }

    /// Keeps `mailboxes.judged_with` true: a judgement of another version
    /// stored in a mailbox makes it mixed (NULL) until the history judges
    /// it again under one.
    fn note_judged(&mut self, mailbox: i64, version: i64) -> Result<(), StoreError> {
        let known = match self.judged_with.get(&mailbox) {
            Some(v) => *v,
            None => self.conn.query_row(
                "SELECT judged_with FROM mailboxes WHERE id = ?1",
                params![mailbox],
                |r| r.get(0),
            )?,
        };
        if known.is_some() && known != Some(version) {
            self.conn
                .prepare_cached("UPDATE mailboxes SET judged_with = NULL WHERE id = ?1")?
                .execute(params![mailbox])?;
            self.judged_with.insert(mailbox, None);
        } else {
            self.judged_with.insert(mailbox, known);
        }
        Ok(())
    }

    fn delete_folder(&self, mailbox: i64, folder: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM messages WHERE mailbox = ?1 AND folder = ?2")?
            .execute(params![mailbox, folder])?;
        self.conn
            .prepare_cached("DELETE FROM folder_stamps WHERE mailbox = ?1 AND folder = ?2")?
            .execute(params![mailbox, folder])?;
        Ok(())
    }

    /// Runs `f` in its own transaction and makes it durable before
    /// returning: a journal entry must be on disk before the change it
    /// announces is made (the scan's batches need only survive a crash of
    /// the process, and stay at `synchronous=NORMAL`).
    fn durably<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.flush()?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        result
    }

    /// A run's row (`RUN_COLUMNS`); `None` for a kind or date this build
    /// does not know.
    fn run_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<RunRecord>> {
        let kind: String = r.get(1)?;
        let as_of: String = r.get(2)?;
        let (Some(kind), Ok(as_of)) = (
            RunKind::parse(&kind),
            NaiveDate::parse_from_str(&as_of, "%Y-%m-%d"),
        ) else {
            return Ok(None);
        };
        Ok(Some(RunRecord {
            id: r.get(0)?,
            kind,
            as_of,
            started: r.get(3)?,
            status: r.get(4)?,
            finished: r.get(5)?,
            adopted_by: r.get(6)?,
        }))
    }

    fn journal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JournalEntry> {
        Ok(JournalEntry {
            id: r.get(0)?,
            run: r.get(1)?,
            source: r.get(2)?,
            folder: r.get(3)?,
            uid_validity: r.get(4)?,
            uid: r.get(5)?,
            local_key: r.get(6)?,
            message_id: r.get(7)?,
            to_folder: r.get(8)?,
            rule: r.get(9)?,
            status: JournalStatus::parse(&r.get::<_, String>(10)?).unwrap_or(JournalStatus::Failed),
            reason: r.get(11)?,
            dest_uid_validity: r.get(12)?,
            dest_uid: r.get(13)?,
            dest_key: r.get(14)?,
            flagged: r.get(15)?,
            undoes: r.get(16)?,
            size: r.get::<_, Option<i64>>(17)?.map(|n| n.max(0) as u64),
            received: from_ts(r.get(18)?),
        })
    }
}

const RUN_COLUMNS: &str = "id, kind, as_of, started_at, status, finished_at, adopted_by";

const JOURNAL_COLUMNS: &str = "id, run, source, folder, uid_validity, uid, local_key, message_id, to_folder, rule, status, reason, dest_uid_validity, dest_uid, dest_key, flagged, undoes, size, received";

impl Drop for SqliteStore {
    fn drop(&mut self) {
        // Whatever was recorded is kept; an error here has nowhere to go.
        let _ = self.flush();
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Backend(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DetectorId, Envelope, Finding, Location, MessageMeta};

    fn report(folder: &str, uid: u32, validity: u32) -> MessageReport {
        MessageReport {
            meta: MessageMeta {
                uid: Some(uid),
                uid_validity: Some(validity),
                server_folder: Some(folder.into()),
                ..MessageMeta::local(folder, 10, "")
            },
            envelope: Envelope {
                message_id: format!("<{uid}@t>"),
                from: vec!["ola@example.test".into()],
                from_name: "Ola".into(),
                to: vec!["kari@example.test".into(), "per@example.test".into()],
                subject: "Fnr 15*******65".into(),
                ..Envelope::default()
            },
            date: None,
            findings: vec![Finding {
                detector: DetectorId::NoFodselsnummer,
                location: Location::Body,
                masked: "15*******65".into(),
                fingerprint: "ab".repeat(32),
                confidence: 0.85,
            }],
            stale: None,
            problems: vec![Problem {
                location: Location::Attachment(vec!["a.zip".into(), "b.doc".into()]),
                kind: ProblemKind::UnsupportedFormat,
            }],
            signals: TextSignals {
                read: true,
                organisations: vec!["cd".repeat(32), "ef".repeat(32)],
                union_terms: true,
                own_reminder: true,
            },
        }
    }

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).expect("date")
    }

    fn stored(s: &dyn crate::store::Store, source: &str) -> Vec<MessageReport> {
        let mut out = Vec::new();
        s.each_message(source, None, &mut |m| {
            out.push(m.report);
            Ok(())
        })
        .expect("reads");
        out
    }

    #[test]
    fn cursors_move_with_the_messages_and_reset_on_uidvalidity_change() {
        // Run against PostgreSQL too (MAILHYGIENE_TEST_STORE=postgresql).
        let mut s = crate::store::for_tests();
        let run = s.begin_run(RunKind::Scan, date(), Utc::now()).expect("run");
        for uid in [1, 2, 5] {
            s.record(run, "imaps://a@h", &report("INBOX", uid, 7))
                .expect("records");
        }
        s.flush().expect("flush");
        assert_eq!(
            s.resume("imaps://a@h").expect("resume").cursors["INBOX"],
            Cursor {
                uid_validity: 7,
                last_uid: 5
            }
        );
        assert_eq!(s.counts("imaps://a@h").expect("count"), (3, 3, 3));
        // UIDVALIDITY changed: old results go, the cursor starts over.
        s.record(run, "imaps://a@h", &report("INBOX", 1, 8))
            .expect("records");
        s.flush().expect("flush");
        assert_eq!(
            s.resume("imaps://a@h").expect("resume").cursors["INBOX"],
            Cursor {
                uid_validity: 8,
                last_uid: 1
            }
        );
        assert_eq!(s.counts("imaps://a@h").expect("count"), (1, 1, 1));
    }

    #[test]
    fn a_message_reads_back_as_it_was_recorded_and_a_rescan_replaces_it() {
        // Run against PostgreSQL too (MAILHYGIENE_TEST_STORE=postgresql).
        let mut s = crate::store::for_tests();
        let run = s.begin_run(RunKind::Scan, date(), Utc::now()).expect("run");
        let mut original = report("Sent Items", 4, 1);
        original.meta.received = DateTime::<Utc>::from_timestamp(1_700_000_000, 0);
        original.date = original.meta.received;
        s.record(run, "src", &original).expect("records");
        s.record(run, "src", &original).expect("again");
        let back = stored(s.as_ref(), "src");
        assert_eq!(back.len(), 1, "recorded twice, stored once");
        let mut want = original.clone();
        want.meta.origin = String::new();
        // An IMAP message's place in its folder is its UID.
        want.meta.position = 4;
        assert_eq!(back[0], want);
    }

    #[test]
    fn sightings_refresh_flags_and_forget_what_is_gone() {
        // Run against PostgreSQL too (MAILHYGIENE_TEST_STORE=postgresql).
        let mut s = crate::store::for_tests();
        let run = s.begin_run(RunKind::Scan, date(), Utc::now()).expect("run");
        for uid in 1..=4 {
            s.record(run, "imap", &report("INBOX", uid, 7))
                .expect("records");
        }
        s.record(run, "imap", &report("Old", 1, 3))
            .expect("records");
        let run2 = s.begin_run(RunKind::Scan, date(), Utc::now()).expect("run");
        // In the run that read UID 4 (above `upto`), the folder's state.
        s.sighting(
            run,
            "imap",
            &Sighting::FolderState {
                folder: "INBOX".into(),
                uid_validity: 7,
                upto: 3,
                present: Some(vec![1, 3]),
                flagged: vec![3],
            },
        )
        .expect("state");
        s.sighting(
            run2,
            "imap",
            &Sighting::Folders {
                names: vec!["INBOX".into()],
            },
        )
        .expect("folders");
        s.flush().expect("flush");
        s.flush().expect("flush");
        let now: Vec<(String, Option<u32>, bool)> = stored(s.as_ref(), "imap")
            .into_iter()
            .map(|r| (r.meta.folder, r.meta.uid, r.meta.flagged))
            .collect();
        assert_eq!(
            now,
            vec![
                ("INBOX".into(), Some(1), false),
                ("INBOX".into(), Some(3), true),
                // Above `upto`: read in the same run, untouched.
                ("INBOX".into(), Some(4), false),
            ]
        );
        // A folder read from the start (--full, `upto` 0) keeps only what
        // the run read.
        s.sighting(
            run2,
            "imap",
            &Sighting::FolderState {
                folder: "Other".into(),
                uid_validity: 1,
                upto: 0,
                present: Some(Vec::new()),
                flagged: Vec::new(),
            },
        )
        .expect("state");
        assert!(
            !s.resume("imap")
                .expect("resume")
                .cursors
                .contains_key("Old")
        );

        // Local messages: seen ones stay (flags refreshed), unseen ones go.
        let mut local = report("INBOX", 0, 0);
        local.meta.uid = None;
        local.meta.uid_validity = None;
        for key in ["a", "b"] {
            local.meta.local_key = Some(key.into());
            s.record(run, "maildir:x", &local).expect("records");
        }
        s.sighting(
            run2,
            "maildir:x",
            &Sighting::Present {
                folder: "INBOX".into(),
                key: "b".into(),
                flagged: true,
                position: 0,
            },
        )
        .expect("present");
        s.sighting(
            run2,
            "maildir:x",
            &Sighting::FolderListed {
                folder: "INBOX".into(),
                gone: vec!["a".into()],
                stamp: None,
            },
        )
        .expect("listed");
        s.flush().expect("flush");
        let keys: Vec<(Option<String>, bool)> = stored(s.as_ref(), "maildir:x")
            .into_iter()
            .map(|r| (r.meta.local_key, r.meta.flagged))
            .collect();
        assert_eq!(keys, vec![(Some("b".to_string()), true)]);
        let known = s.known_local("maildir:x").expect("known");
        assert_eq!(known.len(), 1);
        assert_eq!(
            known["INBOX"].get("b"),
            Some(&KnownMessage {
                flagged: true,
                position: 0
            })
        );
        assert_eq!(known["INBOX"].len(), 1);
    }

    #[test]
    fn the_journal_and_reminders_are_kept() {
        // Run against PostgreSQL too (MAILHYGIENE_TEST_STORE=postgresql).
        let mut s = crate::store::for_tests();
        let run = s
            .begin_run(RunKind::Clean, date(), Utc::now())
            .expect("run");
        let mut entries = vec![JournalEntry {
            id: 0,
            run,
            source: "imap".into(),
            folder: "INBOX".into(),
            uid_validity: Some(7),
            uid: Some(3),
            local_key: None,
            message_id: "<m@t>".into(),
            to_folder: "Deleted Items".into(),
            rule: "yearly-review".into(),
            status: JournalStatus::Intent,
            reason: String::new(),
            dest_uid_validity: None,
            dest_uid: None,
            dest_key: None,
            flagged: false,
            undoes: None,
            size: Some(1234),
            received: DateTime::<Utc>::from_timestamp(1_700_000_000, 0),
        }];
        s.journal_intents(&mut entries).expect("intent");
        assert!(entries[0].id > 0);
        assert_eq!(s.unfinished("imap").expect("unfinished"), entries);
        // A change begun but not finished stays open for the next run.
        entries[0].status = JournalStatus::Unknown;
        s.journal_outcomes(&entries).expect("outcome");
        assert_eq!(s.unfinished("imap").expect("unfinished"), entries);
        entries[0].status = JournalStatus::Moved;
        entries[0].dest_uid = Some(9);
        entries[0].dest_uid_validity = Some(2);
        s.journal_outcomes(&entries).expect("outcome");
        assert!(s.unfinished("imap").expect("unfinished").is_empty());
        assert_eq!(s.journal_of_run(run).expect("journal"), entries);
        assert_eq!(
            s.run(run).expect("run").expect("exists").kind,
            RunKind::Clean
        );
        // The run never finished (Ctrl-C); the next clean takes it over,
        // and that one in turn by a third: one series, undone together.
        let second = s
            .begin_run(RunKind::Clean, date(), Utc::now())
            .expect("run");
        let scan = s.begin_run(RunKind::Scan, date(), Utc::now()).expect("run");
        assert_eq!(
            s.adopt_interrupted(second, RunKind::Clean).expect("adopt"),
            [run]
        );
        let third = s
            .begin_run(RunKind::Clean, date(), Utc::now())
            .expect("run");
        assert_eq!(
            s.adopt_interrupted(third, RunKind::Clean).expect("adopt"),
            [second]
        );
        assert!(
            s.adopt_interrupted(third, RunKind::Clean)
                .expect("again")
                .is_empty()
        );
        assert_eq!(s.series(third).expect("series"), [run, second, third]);
        assert_eq!(s.series(second).expect("series"), [run, second]);
        let first = s.run(run).expect("run").expect("exists");
        assert_eq!(
            (first.status.as_str(), first.adopted_by),
            ("interrupted", Some(second))
        );
        assert_eq!(s.run(scan).expect("run").expect("exists").status, "running");
        let listed = s.run_summaries(&[RunKind::Clean]).expect("summaries");
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].counts.get("moved"), Some(&1));
        assert_eq!(listed[0].sources, ["imap"]);

        assert_eq!(s.reminder("imap", "2026").expect("reminder"), None);
        let sent = ReminderRecord {
            source: "imap".into(),
            period: "2026".into(),
            run,
            method: "imap".into(),
            recipient: "ola@example.test".into(),
            status: ReminderStatus::Delivered,
            at: "2026-11-25T00:00:00+00:00".into(),
        };
        s.record_reminder(&sent).expect("records");
        assert_eq!(s.reminder("imap", "2026").expect("reminder"), Some(sent));
    }

    #[test]
    fn reopening_keeps_state_and_the_file_is_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/state.sqlite");
        {
            let mut s = SqliteStore::open(&path).expect("opens");
            let run = s.begin_run(RunKind::Scan, date(), Utc::now()).expect("run");
            s.record(run, "src", &report("INBOX", 3, 1))
                .expect("records");
        }
        let s = SqliteStore::open(&path).expect("reopens");
        assert_eq!(
            s.resume("src").expect("resume").cursors["INBOX"].last_uid,
            3
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("exists")
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn an_older_schema_is_migrated_and_its_scans_start_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sqlite");
        let conn = Connection::open(&path).expect("opens");
        conn.execute_batch(&format!(
            "BEGIN; {}; PRAGMA user_version = 1; COMMIT;",
            MIGRATIONS[0]
        ))
        .expect("schema 1");
        conn.execute_batch(
            "INSERT INTO runs (started_at, as_of) VALUES ('2026-01-01T00:00:00Z', '2026-01-01');
             INSERT INTO cursors (source, folder, uid_validity, last_uid, run) VALUES ('src', 'INBOX', 7, 42, 1);",
        )
        .expect("old rows");
        drop(conn);
        let mut s = SqliteStore::open(&path).expect("migrates");
        assert_eq!(s.schema_version().expect("version"), MIGRATIONS.len());
        // Schema 2 kept findings apart from messages: the inventory is
        // rebuilt by reading every mailbox again.
        assert!(s.resume("src").expect("resume").cursors.is_empty());
        let run = s.begin_run(RunKind::Scan, date(), Utc::now()).expect("run");
        s.record(run, "src", &report("INBOX", 43, 7))
            .expect("records");
        s.flush().expect("flush");
        assert_eq!(
            s.resume("src").expect("resume").server_names["INBOX"],
            "INBOX"
        );
    }

    #[test]
    fn an_imap_rescan_asks_each_folder_by_index_ranges() {
        use super::inventory::*;
        let dir = tempfile::tempdir().expect("tempdir");
        let s = SqliteStore::open(&dir.path().join("state.sqlite")).expect("opens");
        let plan = |sql: &str| -> String {
            let mut stmt = s
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("plans");
            let unbound = vec![rusqlite::types::Null; stmt.parameter_count()];
            let rows = stmt
                .query_map(rusqlite::params_from_iter(unbound), |r| {
                    r.get::<_, String>(3)
                })
                .expect("plan rows");
            rows.map(|r| r.expect("detail"))
                .collect::<Vec<_>>()
                .join("; ")
        };
        for (sql, range) in [
            (OTHER_VALIDITY[0], "uid_validity<?)"),
            (OTHER_VALIDITY[1], "uid_validity>?)"),
            (GONE_ABOVE, "uid_validity=? AND uid>?)"),
            (GONE_ABOVE_NO_VALIDITY, "uid_validity=? AND uid>?)"),
            // Every row of the folder with a UID: what the caller asked.
            (STORED_UP_TO, ")"),
        ] {
            let plan = plan(sql);
            let expected = format!(
                "INDEX messages_by_uid (mailbox=? AND folder=?{}{range}",
                if range == ")" { "" } else { " AND " }
            );
            assert!(
                plan.starts_with("SEARCH messages USING") && plan.contains(&expected),
                "{sql}: {plan}"
            );
        }
        let plan = plan(WAS_FLAGGED);
        assert!(
            plan.contains("INDEX messages_flagged (mailbox=? AND folder=? AND uid"),
            "{plan}"
        );
        // They hold IMAP rows only: a local message is in neither.
        let partial: Vec<String> = s
            .conn
            .prepare("SELECT sql FROM sqlite_master WHERE name IN ('messages_by_uid', 'messages_flagged')")
            .expect("schema")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .map(|r| r.expect("sql"))
            .collect();
        assert_eq!(partial.len(), 2);
        assert!(
            partial.iter().all(|sql| sql.contains("uid IS NOT NULL")),
            "{partial:?}"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.sqlite");
        let conn = Connection::open(&path).expect("opens");
        conn.pragma_update(None, "user_version", 99)
            .expect("pragma");
        drop(conn);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::TooNew { .. })
        ));
    }
}
