//! The state store: the inventory of every mailbox (each message as it is
//! now, with its findings and problems), the runs that built it, the journal
//! of every change made to a mailbox, and the reminders sent.
//!
//! Every workflow (scan, report, remind, clean, undo) speaks to the store
//! through the one narrow [`Store`] trait, in domain types; SQL lives only in
//! [`sqlite`]. A shared PostgreSQL store for deployments that outgrow one
//! machine is a second implementation of the same trait.
//!
//! Nothing here holds a detected value in clear text: findings carry the
//! masked rendering and the fingerprint, subjects are masked by the engine
//! before they arrive.

mod columns;
pub mod postgres;
pub mod sqlite;

use crate::audit::{AuditEntry, NewEntry};
use crate::case::{Case, Decision, PlanRow};
use crate::model::MessageReport;
use crate::register::{Deviation, Snapshot};
use chrono::{DateTime, NaiveDate, Utc};
pub use sqlite::SqliteStore;
use std::collections::{HashMap, HashSet};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state database {path}: {reason}")]
    Open { path: String, reason: String },
    /// The backend's own failure, in its words.
    #[error("state database: {0}")]
    Backend(String),
    #[error(
        "state database {path} has schema version {found}, newer than this mailhygiene ({known}); upgrade mailhygiene"
    )]
    TooNew {
        path: String,
        found: usize,
        known: usize,
    },
    #[error("state database: {0}")]
    Invalid(String),
    #[error(
        "another mailhygiene run (process {holder}) is using the state database {path}; nothing was done. Run again when it has finished, or give --wait to wait for it"
    )]
    Busy { path: String, holder: String },
    /// A worker's lease on its job ended (it was paused or cut off past
    /// it): the write was refused, and so will every later one be.
    #[error(
        "this worker's lease on its job ended (another worker may hold the mailbox now); the write was refused"
    )]
    LeaseLost,
}

/// Every concern's trait, for code that calls a store's methods on a
/// concrete store type (`use mailhygiene::store::prelude::*`).
pub mod prelude {
    pub use super::{
        AuditTrail, Cases, History, Inventory, Journal, Reminders, Runs, Settings, Store,
    };
}

/// Where the state lives, as a URL: `sqlite:PATH` (a bare path is the
/// same). The one place a command names a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    Sqlite(std::path::PathBuf),
    /// `postgresql://USER@HOST[:PORT]/DB`: the shared store.
    Postgres(postgres::Target),
}

impl StoreUrl {
    pub fn parse(s: &str) -> Result<StoreUrl, StoreError> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(StoreError::Invalid(
                    "sqlite: needs a path (sqlite:PATH)".into(),
                ));
            }
            return Ok(StoreUrl::Sqlite(path.into()));
        }
        if s.starts_with("postgresql://") || s.starts_with("postgres://") {
            return Ok(StoreUrl::Postgres(postgres::Target::parse(s)?));
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(StoreError::Invalid(format!(
                "unknown store {scheme}://: expected sqlite:PATH or postgresql://USER@HOST/DB"
            )));
        }
        Ok(StoreUrl::Sqlite(s.into()))
    }

    /// Whether a store is there already (a command that only reads needs one).
    pub fn exists(&self) -> bool {
        match self {
            StoreUrl::Sqlite(path) => path.exists(),
            // A server's database is there when it can be reached: opening
            // it says so, in the server's words.
            StoreUrl::Postgres(_) => true,
        }
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "{}", path.display()),
            StoreUrl::Postgres(target) => write!(f, "{}", target.display()),
        }
    }
}

/// A run's hold on its store: two runs that write never overlap. Released
/// when dropped.
pub struct RunGuard {
    _held: Box<dyn std::any::Any>,
}

/// The lock a command takes as it opens its store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Lock {
    /// None: the command only reads.
    #[default]
    Reading,
    /// The whole store: no other run writes to it meanwhile (a scan, a
    /// case being opened). Waits for it when `wait`.
    Store { wait: bool },
    /// Only the mailboxes the command changes, each held as it names them
    /// ([`Runs::hold_mailboxes`]), so hosts cleaning or reminding other
    /// mailboxes of a shared store go on beside it. A store one host keeps
    /// (SQLite) has no lock that small and takes the whole store.
    Mailboxes { wait: bool },
}

/// How a store is opened.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub lock: Lock,
    /// Where the audit anchor log goes, instead of the backend's default.
    pub audit_anchor: Option<std::path::PathBuf>,
    /// Where a PostgreSQL store's password comes from besides libpq's own
    /// places (the configuration's `store_password_env`/`_file`).
    pub password: postgres::PasswordSource,
}

/// Opens the store at `url`, with the run lock when asked.
pub fn open(
    url: &StoreUrl,
    options: &OpenOptions,
) -> Result<(Box<dyn Store>, Option<RunGuard>), StoreError> {
    match url {
        StoreUrl::Sqlite(path) => {
            let guard = match options.lock {
                Lock::Store { wait } | Lock::Mailboxes { wait } => Some(RunGuard {
                    _held: Box::new(sqlite::RunLock::acquire(path, wait)?),
                }),
                Lock::Reading => None,
            };
            let mut store = SqliteStore::open(path)?;
            if let Some(anchor) = &options.audit_anchor {
                store.set_audit_anchor(anchor.clone());
            }
            Ok((Box::new(store), guard))
        }
        StoreUrl::Postgres(target) => {
            let connector = postgres::Connector::new(target.clone(), &options.password)?;
            let guard = match options.lock {
                Lock::Store { wait } => Some(RunGuard {
                    _held: Box::new(postgres::RunLock::acquire(&connector, wait)?),
                }),
                // The store's own session holds each mailbox and each live
                // run (see `Runs::adopt_interrupted`): nothing store-wide.
                Lock::Mailboxes { .. } => Some(RunGuard {
                    _held: Box::new(()),
                }),
                Lock::Reading => None,
            };
            let mut store = postgres::PostgresStore::open(&connector)?;
            if let Some(anchor) = &options.audit_anchor {
                store.set_audit_anchor(anchor.clone());
            }
            Ok((Box::new(store), guard))
        }
    }
}

/// Proof that a store holds these mailboxes against every other writer of
/// them until it is dropped ([`Runs::hold_mailboxes`]): the workflows that
/// change a mailbox ask for it and refuse a mailbox it does not cover, so
/// none can change one it forgot to hold.
#[derive(Debug)]
pub struct Held {
    store: String,
    sources: Vec<String>,
}

impl Held {
    /// Refused unless `source` is held on `store`.
    pub fn check(&self, store: &dyn Store, source: &str) -> Result<(), StoreError> {
        if self.store == store.location() && self.sources.iter().any(|s| s == source) {
            return Ok(());
        }
        Err(StoreError::Invalid(format!(
            "{source} was not held on {} before it was to be changed",
            store.location()
        )))
    }
}

/// Holds `sources` on `store` (waiting for another writer when `wait`,
/// else [`StoreError::Busy`] naming it).
pub fn hold(store: &mut dyn Store, sources: &[String], wait: bool) -> Result<Held, StoreError> {
    store.hold_mailboxes(sources, wait)?;
    Ok(Held {
        store: store.location().to_string(),
        sources: sources.to_vec(),
    })
}

/// Opens the shared store that queued scans and workers use: PostgreSQL
/// only (a SQLite file is one host's). Returns the connector too: a worker
/// opens further sessions (its lease keeper, a fresh session after a lost
/// one). No run lock: the queue's leases keep workers apart.
pub fn open_shared(
    url: &StoreUrl,
    options: &OpenOptions,
) -> Result<(postgres::PostgresStore, postgres::Connector), StoreError> {
    let StoreUrl::Postgres(target) = url else {
        return Err(StoreError::Invalid(format!(
            "queued scans and workers need a shared PostgreSQL store (--store postgresql://USER@HOST/DB); {url} is one host's file"
        )));
    };
    let connector = postgres::Connector::new(target.clone(), &options.password)?;
    let store = open_postgres_session(&connector, options)?;
    Ok((store, connector))
}

/// Another session of a shared store (see [`open_shared`]).
pub fn open_postgres_session(
    connector: &postgres::Connector,
    options: &OpenOptions,
) -> Result<postgres::PostgresStore, StoreError> {
    let mut store = postgres::PostgresStore::open(connector)?;
    if let Some(anchor) = &options.audit_anchor {
        store.set_audit_anchor(anchor.clone());
    }
    Ok(store)
}

/// A store for tests: every workflow's tests take it from here, so a
/// second backend runs the same tests by changing this one function.
///
/// `MAILHYGIENE_TEST_STORE=postgresql` gives each a fresh database of one
/// private PostgreSQL server the test process starts (see
/// [`postgres::for_tests`]).
#[cfg(test)]
pub fn for_tests() -> Box<dyn Store> {
    if std::env::var("MAILHYGIENE_TEST_STORE").as_deref() == Ok("postgresql") {
        return Box::new(postgres::for_tests());
    }
    Box::new(SqliteStore::open_in_memory().expect("an in-memory store opens"))
}

/// Where a folder's scan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

pub type RunId = i64;

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Scan,
    Clean,
    Undo,
    Remind,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Scan => "scan",
            RunKind::Clean => "clean",
            RunKind::Undo => "undo",
            RunKind::Remind => "remind",
        }
    }

    pub fn parse(s: &str) -> Option<RunKind> {
        Some(match s {
            "scan" => RunKind::Scan,
            "clean" => RunKind::Clean,
            "undo" => RunKind::Undo,
            "remind" => RunKind::Remind,
            _ => return None,
        })
    }
}

/// One run as the store remembers it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: RunId,
    pub kind: RunKind,
    pub as_of: NaiveDate,
    pub started: String,
    pub status: String,
    pub finished: Option<String>,
    /// The run that found this one interrupted and took over what it left:
    /// undoing that run undoes this one too.
    pub adopted_by: Option<RunId>,
}

/// A `clean` or `undo` run as `mailhygiene runs` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub record: RunRecord,
    /// Journal entries by status.
    pub counts: std::collections::BTreeMap<String, u64>,
    pub sources: Vec<String>,
    /// For an undo run: the clean runs whose moves it reversed.
    pub undoes: Vec<RunId>,
    /// For a clean run: the undo runs that reversed some of its moves.
    pub undone_by: Vec<RunId>,
}

/// A mailbox the inventory describes, and how its last scan went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailboxRecord {
    /// The source as it was given (`imaps://ola%40firma.no@host:993`).
    pub source: String,
    /// Who the mailbox belongs to, when the configuration says.
    pub owner: Option<String>,
    /// The owner's address: the configuration's, or an IMAP user that is one.
    pub address: Option<String>,
    /// The owner's department, when the configuration says.
    pub department: Option<String>,
    pub last_scan: Option<String>,
    /// `complete`, `incomplete` or `failed`.
    pub last_status: Option<String>,
    /// Why the last scan failed, in our own words.
    pub last_error: Option<String>,
    /// Folders the last scan left out because they hold no mail.
    pub not_mail: Vec<String>,
    /// What the last scan waited: for the server's throttling, and for the
    /// configured pace.
    pub waited: Waited,
}

/// Time one scan of a mailbox spent waiting, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Waited {
    pub throttled: std::time::Duration,
    pub paced: std::time::Duration,
}

/// Where earlier runs left an IMAP mailbox: per folder (by display name) the
/// cursor, and the server's own name for the folder.
#[derive(Debug, Clone, Default)]
pub struct Resume {
    pub cursors: HashMap<String, Cursor>,
    pub server_names: HashMap<String, String>,
    /// Messages the inventory holds per folder: when the server has as many
    /// (besides new ones), none was expunged.
    pub stored: HashMap<String, u64>,
    /// Per folder, the UIDs of messages the inventory holds as not read for
    /// a reason that may pass (the server withheld the content): read again.
    pub unread: HashMap<String, Vec<u32>>,
}

/// A deviation as the register holds it, for reconciling: its id, what a
/// later scan must keep (when first seen, the action people noted), and a
/// digest of the whole entry ([`crate::register::entry_digest`]) to tell an
/// unchanged one without reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterEntry {
    pub id: String,
    pub first_seen: NaiveDate,
    pub action: String,
    pub digest: String,
    /// Not handled yet (open, or its message in Deleted Items).
    pub open: bool,
}

/// A copy of a message with findings that was recorded, moved or forgotten
/// since the mailbox's deviation register was last reconciled: logged by
/// the store itself (triggers on its tables), whoever made the change, so
/// the register is brought up to date from what changed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChangedCopy {
    pub message_id: String,
    pub folder: String,
    pub key: String,
}

impl ChangedCopy {
    /// The register's identity of this copy's message
    /// ([`crate::register::copy_identity`]).
    pub fn identity(&self, source: &str) -> String {
        crate::register::copy_identity(source, &self.message_id, &self.folder, &self.key)
    }
}

/// The messages a set of changed copies touches, by identity: what
/// [`History::sensitive_copies`] picks from a mailbox's messages with
/// findings, in either store.
pub(crate) struct TouchedMessages<'a> {
    source: &'a str,
    identities: HashSet<String>,
}

impl<'a> TouchedMessages<'a> {
    pub(crate) fn new(source: &'a str, changes: &[ChangedCopy]) -> TouchedMessages<'a> {
        TouchedMessages {
            source,
            identities: changes.iter().map(|c| c.identity(source)).collect(),
        }
    }

    /// Whether the stored copy (Message-ID, folder, key) is of a touched message.
    pub(crate) fn touches(&self, message_id: &str, folder: &str, key: &str) -> bool {
        self.identities.contains(&crate::register::copy_identity(
            self.source,
            message_id,
            folder,
            key,
        ))
    }
}

/// A message's judgement that does not depend on the date it is judged
/// on, stored with it so counts for any date are a query: see
/// [`crate::rules::RuleSet::stale_from`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// Which rules made it ([`History::judgement_version`]).
    pub version: i64,
    /// The governing rule and the first day the message is stale.
    pub stale: Option<(String, NaiveDate)>,
    /// A part of it went unscanned.
    pub unreadable: bool,
}

/// Counts of a mailbox that a query gives for any date, from the stored
/// judgements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCounts {
    pub messages: u64,
    pub bytes: u64,
    pub stale: u64,
    pub stale_by_rule: std::collections::BTreeMap<String, u64>,
    /// The day the oldest stale message is dated (received, else written).
    pub oldest_stale: Option<NaiveDate>,
    pub unreadable: u64,
    /// Messages not judged under the version asked for (0 after
    /// [`History::judge_stored`]).
    pub unjudged: u64,
}

/// A local message as the inventory holds it, for a rescan to compare with
/// what it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownMessage {
    pub flagged: bool,
    pub position: u64,
}

/// The local messages of a source in the inventory: folder -> key -> state.
pub type KnownLocal = HashMap<String, HashMap<String, KnownMessage>>;

/// What a scan learns about messages it does not read: that they are still
/// there, with which flags, and what is gone.
#[derive(Debug, Clone, PartialEq)]
pub enum Sighting {
    /// A local message already in the inventory is still there.
    Present {
        folder: String,
        key: String,
        flagged: bool,
        position: u64,
    },
    /// A local folder was listed completely: these keys the inventory held
    /// (from [`Inventory::known_local`]) are no longer there, and the
    /// folder's stamp as it was before the listing (when it can be
    /// trusted), for the next scan to pass over the folder if it still
    /// matches ([`Inventory::folder_stamps`]).
    FolderListed {
        folder: String,
        gone: Vec<String>,
        stamp: Option<String>,
    },
    /// An IMAP folder as it is now, for the messages up to `upto` (those
    /// above were read in this run): which UIDs exist (`None`: all that the
    /// inventory holds) and which are flagged. A different UIDVALIDITY
    /// empties the folder in the inventory.
    FolderState {
        folder: String,
        uid_validity: u32,
        upto: u32,
        present: Option<Vec<u32>>,
        flagged: Vec<u32>,
    },
    /// The folders the source has now (every folder the scan would read);
    /// the inventory forgets the others.
    Folders { names: Vec<String> },
    /// Folders not read because they hold no mail (Exchange's Calendar,
    /// Contacts, Files, ...), for reports to name.
    NotMail { names: Vec<String> },
    /// How long the scan waited for the server's throttling and for the
    /// configured pace.
    Waited {
        throttled: std::time::Duration,
        paced: std::time::Duration,
    },
}

/// One message from the inventory: what a scan recorded, to be judged
/// again for any as-of date.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub source: String,
    pub report: MessageReport,
    /// Its judgement as stored (`None` until judged, or since re-flagged).
    pub judgement: Option<Judgement>,
}

/// A change to a mailbox, journaled before it is made and updated after.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub id: i64,
    pub run: RunId,
    pub source: String,
    /// The folder the message leaves.
    pub folder: String,
    pub uid_validity: Option<u32>,
    pub uid: Option<u32>,
    pub local_key: Option<String>,
    pub message_id: String,
    pub to_folder: String,
    pub rule: String,
    pub status: JournalStatus,
    pub reason: String,
    /// Where it landed: the destination's UIDVALIDITY and UID (COPYUID), or
    /// the local key in the destination folder.
    pub dest_uid_validity: Option<u32>,
    pub dest_uid: Option<u32>,
    pub dest_key: Option<String>,
    pub flagged: bool,
    /// For an undo: the clean run entry it reverses.
    pub undoes: Option<i64>,
    /// The message's size and INTERNALDATE (or receipt time) as the
    /// inventory knew them: with the exact Message-ID, what proves that a
    /// copy found later is this message and not another with its id.
    pub size: Option<u64>,
    pub received: Option<DateTime<Utc>>,
}

/// Where one journaled change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalStatus {
    /// About to be done; if a run ends here, the next one finds out what
    /// happened before doing anything.
    Intent,
    Moved,
    Skipped,
    Failed,
    /// An error came after the change began (a copy made, the original not
    /// yet removed; a connection lost mid-command): the next run looks
    /// where the message is before doing anything else.
    Unknown,
    /// A message like it was found where it was going, but not provably
    /// this one (another with the same Message-ID): the original was left
    /// alone and the user told.
    Unsure,
}

impl JournalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Intent => "intent",
            JournalStatus::Moved => "moved",
            JournalStatus::Skipped => "skipped",
            JournalStatus::Failed => "failed",
            JournalStatus::Unknown => "unknown",
            JournalStatus::Unsure => "unsure",
        }
    }

    pub fn parse(s: &str) -> Option<JournalStatus> {
        Some(match s {
            "intent" => JournalStatus::Intent,
            "moved" => JournalStatus::Moved,
            "skipped" => JournalStatus::Skipped,
            "failed" => JournalStatus::Failed,
            "unknown" => JournalStatus::Unknown,
            "unsure" => JournalStatus::Unsure,
            _ => return None,
        })
    }
}

/// A reminder sent (or being sent) to one mailbox for one period.
#[derive(Debug, Clone, PartialEq)]
pub struct ReminderRecord {
    pub source: String,
    pub period: String,
    pub run: RunId,
    pub method: String,
    pub recipient: String,
    pub status: ReminderStatus,
    pub at: String,
}

/// Where one mailbox's reminder for one period stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReminderStatus {
    /// Journaled before delivery: a run that stops here may have delivered.
    Sending,
    Delivered,
    Failed,
}

impl ReminderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReminderStatus::Sending => "sending",
            ReminderStatus::Delivered => "delivered",
            ReminderStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<ReminderStatus> {
        [
            ReminderStatus::Sending,
            ReminderStatus::Delivered,
            ReminderStatus::Failed,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Runs: begun, finished, taken over after an interruption, listed.
pub trait Runs {
    fn begin_run(
        &mut self,
        kind: RunKind,
        as_of: NaiveDate,
        started: DateTime<Utc>,
    ) -> Result<RunId, StoreError>;
    fn finish_run(
        &mut self,
        run: RunId,
        finished: DateTime<Utc>,
        status: &str,
        messages: u64,
    ) -> Result<(), StoreError>;
    fn run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError>;
    /// Marks every other run of `kind` still `running` whose process is gone
    /// as `interrupted` and adopted by `run`; returns their ids. A run is
    /// alive while its store is open: on SQLite the caller holds the file's
    /// run lock, so no other run is; on PostgreSQL each run holds a lock of
    /// its own on its session, and only runs whose lock is free are taken.
    /// What an adopted run left open in a mailbox is settled only by a run
    /// that holds that mailbox.
    fn adopt_interrupted(&mut self, run: RunId, kind: RunKind) -> Result<Vec<RunId>, StoreError>;
    /// Records that `by` took over what `run` left (it settled entries
    /// `run` left open), unless another run already did or the two are of
    /// different kinds; whether it was adopted now.
    fn adopt(&mut self, run: RunId, by: RunId) -> Result<bool, StoreError>;
    /// `run` and every run it adopted, directly or through another.
    fn series(&self, run: RunId) -> Result<Vec<RunId>, StoreError>;
    /// The runs of these kinds, oldest first, with what they did.
    fn run_summaries(&self, kinds: &[RunKind]) -> Result<Vec<RunSummary>, StoreError>;
    /// Holds these mailboxes against every other writer of them (another
    /// host's `clean`, a worker scanning one) until this store is dropped:
    /// a command that changes a mailbox takes it before it plans. Waits
    /// when `wait`, else [`StoreError::Busy`] naming the holder. A SQLite
    /// store is one host's and its run lock holds every mailbox already.
    fn hold_mailboxes(&mut self, _sources: &[String], _wait: bool) -> Result<(), StoreError> {
        Ok(())
    }
    /// The mailboxes a queued run has not finished scanning (workers on a
    /// shared store), by source. None on a SQLite store: it has no queue.
    fn unfinished_jobs(&self) -> Result<Vec<UnfinishedJob>, StoreError> {
        Ok(Vec::new())
    }
}

/// A mailbox a queued run still has to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedJob {
    pub source: String,
    pub run: RunId,
    /// Held by this worker now (`mailhygiene pid N on HOST`), or waiting.
    pub holder: Option<String>,
}

/// The inventory: mailboxes and every message a scan saw, with where each scan stands.
pub trait Inventory {
    /// Adds a mailbox (or updates its owner and address).
    fn register_mailbox(&mut self, mailbox: &MailboxRecord) -> Result<(), StoreError>;
    /// Records how a scan of a mailbox ended.
    fn mailbox_scanned(
        &mut self,
        source: &str,
        at: DateTime<Utc>,
        status: &str,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// Every mailbox in the store, by source.
    fn mailboxes(&self) -> Result<Vec<MailboxRecord>, StoreError>;
    /// Where the IMAP scans of a source stopped.
    fn resume(&self, source: &str) -> Result<Resume, StoreError>;
    /// The local messages of a source already in the inventory, by folder
    /// and key, with the flag and place they were recorded with: a rescan
    /// reports only what differs.
    fn known_local(&self, source: &str) -> Result<KnownLocal, StoreError>;
    /// [`Inventory::known_local`] for these folders only.
    fn known_local_in(&self, source: &str, folders: &[&str]) -> Result<KnownLocal, StoreError>;
    /// Each local folder's stamp as of its last complete listing: a folder
    /// whose stamp is unchanged is as the inventory holds it.
    fn folder_stamps(&self, source: &str) -> Result<HashMap<String, String>, StoreError>;
    /// Stores one message read in `run`, replacing what was stored for it,
    /// and (IMAP) moves its folder's cursor past it in the same transaction.
    fn record(
        &mut self,
        run: RunId,
        source: &str,
        report: &MessageReport,
    ) -> Result<(), StoreError> {
        self.record_judged(run, source, report, None)
    }
    /// [`Inventory::record`] with the message's judgement made as it was
    /// read (so the history need not read it again).
    fn record_judged(
        &mut self,
        run: RunId,
        source: &str,
        report: &MessageReport,
        judgement: Option<&Judgement>,
    ) -> Result<(), StoreError>;
    /// Applies what a scan saw without reading: flags, presence, gone.
    fn sighting(&mut self, run: RunId, source: &str, seen: &Sighting) -> Result<(), StoreError>;
    /// Removes messages from the inventory (moved away by `clean`):
    /// (folder, key) pairs.
    fn forget(&mut self, source: &str, messages: &[(String, String)]) -> Result<(), StoreError>;
    /// Visits every stored message of `source` in listing order (folder,
    /// then position). `read_in` limits it to messages read in that run.
    fn each_message(
        &self,
        source: &str,
        read_in: Option<RunId>,
        visit: &mut dyn FnMut(StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError>;
    /// The next few hundred messages of a source that hold findings, after
    /// the one with row id `after` (0: from the first), in row order, each
    /// with its row id: what the compliance history and the deviation
    /// register need beyond counts, a batch at a time so the caller can
    /// write between batches.
    fn sensitive_batch(
        &self,
        source: &str,
        after: i64,
        visit: &mut dyn FnMut(i64, StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError>;
    /// Counts for tests and benchmarks: (messages, findings, problems).
    fn counts(&self, source: &str) -> Result<(u64, u64, u64), StoreError>;
    /// Whether the inventory holds any message of the source (cheaper than
    /// counting them).
    fn holds_messages(&self, source: &str) -> Result<bool, StoreError>;
    /// Makes everything recorded so far durable.
    fn flush(&mut self) -> Result<(), StoreError>;
}

/// The journal of changes to mailboxes: intents and outcomes.
pub trait Journal {
    /// Journals changes before they are made, durably, in one transaction;
    /// sets each entry's id.
    fn journal_intents(&mut self, entries: &mut [JournalEntry]) -> Result<(), StoreError>;
    /// Records how journaled changes ended (status, reason, destination),
    /// durably, in one transaction.
    fn journal_outcomes(&mut self, entries: &[JournalEntry]) -> Result<(), StoreError>;
    /// The journal of one run, in order.
    fn journal_of_run(&self, run: RunId) -> Result<Vec<JournalEntry>, StoreError>;
    /// Ids of a run's entries that a later undo moved back.
    fn undone(&self, run: RunId) -> Result<HashSet<i64>, StoreError>;
    /// Entries of a source (any run) still at `intent` or `unknown`: what a
    /// crash or a half-done change left.
    fn unfinished(&self, source: &str) -> Result<Vec<JournalEntry>, StoreError>;
}

/// Offboarding cases, their plans and handovers.
pub trait Cases {
    /// Records a case (once: a second call keeps the first reason and
    /// notice) and its plan; a row once classified private stays private.
    /// The rows come one at a time (a large plan is never whole in memory).
    fn open_case(
        &mut self,
        case: &Case,
        rows: &mut dyn Iterator<Item = Result<PlanRow, StoreError>>,
    ) -> Result<(), StoreError>;
    /// Replaces a recorded case's reason, legal basis, notice, successor
    /// and leaving date (`offboard --amend`; the caller audits the change).
    fn amend_case(&mut self, case: &Case) -> Result<(), StoreError>;
    fn case(&self, id: &str) -> Result<Option<Case>, StoreError>;
    fn cases(&self) -> Result<Vec<Case>, StoreError>;
    /// The plan as the case recorded it.
    fn case_rows(&self, id: &str) -> Result<Vec<CaseRow>, StoreError>;
    /// Every message any case classified private, as (source, folder,
    /// inventory key): what subject requests leave out unless asked.
    fn private_case_messages(&self) -> Result<HashSet<(String, String, String)>, StoreError>;
    fn handovers(&self, case_id: &str) -> Result<Vec<HandoverRecord>, StoreError>;
    /// Records a handover's intent or outcome, durably.
    fn record_handover(&mut self, h: &HandoverRecord) -> Result<(), StoreError>;
}

/// The audit trail: keyed, chained, anchored outside the store.
pub trait AuditTrail {
    /// The key audit entries are chained with (see [`crate::audit`]); until
    /// it is given, appending to the trail is refused.
    fn set_audit_key(&mut self, key: crate::audit::AuditKey);
    /// Appends to the audit chain, durably, keyed, and to the anchor log
    /// outside the database; returns the chained entry.
    fn append_audit(&mut self, entry: NewEntry) -> Result<AuditEntry, StoreError>;
    /// What the anchor log outside the database holds for this store.
    fn audit_anchor(&self) -> Result<Option<crate::audit::Anchor>, StoreError>;
    /// This host's name in a shared store's anchor sense (see
    /// [`crate::audit::verify`]); `None` for a store one host keeps.
    fn audit_host(&self) -> Option<String> {
        None
    }
    /// The chain as stored, in stored order.
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError>;
    /// The last entry appended (kept apart from the entries).
    fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError>;
    /// Appends an entry stamped now: what every workflow records.
    fn audit(
        &mut self,
        action: &str,
        case_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<AuditEntry, StoreError> {
        self.append_audit(NewEntry::new(chrono::Utc::now(), action, case_id, detail))
    }
}

/// What [`History::each_finding_set`] hands each message with findings:
/// its date and its findings.
pub type FindingSetVisitor<'a> = dyn FnMut(Option<DateTime<Utc>>, &[crate::model::Finding]) + 'a;

/// The compliance history: snapshots and the deviation register.
pub trait History {
    /// Keeps a mailbox's snapshot for a run (the compliance history).
    fn record_snapshot(&mut self, run: RunId, snap: &SnapshotRecord) -> Result<(), StoreError>;
    /// Every snapshot kept, oldest first.
    fn snapshots(&self) -> Result<Vec<SnapshotRecord>, StoreError>;
    /// Forgets snapshots judged before `before`; how many.
    fn prune_snapshots(&mut self, before: NaiveDate) -> Result<u64, StoreError>;
    /// The deviation register, open and handled, in (source, id) order.
    fn deviations(&self) -> Result<Vec<Deviation>, StoreError> {
        let mut all = Vec::new();
        self.each_deviation(&mut |d| {
            all.push(d);
            Ok(())
        })?;
        Ok(all)
    }
    /// Each deviation of the register in (source, id) order, one at a
    /// time: what a report lists without holding the register.
    fn each_deviation(
        &self,
        visit: &mut dyn FnMut(Deviation) -> std::io::Result<()>,
    ) -> Result<(), StoreError>;
    /// Replaces a mailbox's part of the register.
    fn save_deviations(&mut self, source: &str, list: &[Deviation]) -> Result<(), StoreError>;
    /// What the register holds of a mailbox's deviations with these
    /// identities ([`crate::register::identity`]): per identity, its
    /// entries by id, as much as reconciling needs (not the whole entry).
    fn register_entries(
        &self,
        source: &str,
        identities: &[String],
    ) -> Result<HashMap<String, Vec<RegisterEntry>>, StoreError>;
    /// Puts a deviation in the register in place of these (by id).
    fn put_deviation(&mut self, d: &Deviation, replacing: &[String]) -> Result<(), StoreError>;
    /// Each deviation of a mailbox as (id, identity, open), one at a time.
    fn each_deviation_head(
        &self,
        source: &str,
        visit: &mut dyn FnMut(&str, &str, bool),
    ) -> Result<(), StoreError>;
    /// Marks these deviations handled on `on`.
    fn handle_deviations(&mut self, ids: &[String], on: NaiveDate) -> Result<(), StoreError>;
    /// The copies with findings of `source` recorded, moved or forgotten
    /// since its register was last reconciled under `basis`, at most
    /// `limit` of them: `None` when there are more, or when the register
    /// was never reconciled under this basis (then it is reconciled whole).
    fn register_changes(
        &self,
        source: &str,
        basis: &str,
        limit: usize,
    ) -> Result<Option<Vec<ChangedCopy>>, StoreError>;
    /// The register of `source` is reconciled under `basis`: the changes
    /// logged until now are forgotten.
    fn register_reconciled(&mut self, source: &str, basis: &str) -> Result<(), StoreError>;
    /// Each message of `source` with findings that is a copy of one of
    /// these (the same Message-ID; without one, the same folder and key).
    fn sensitive_copies(
        &self,
        source: &str,
        of: &[ChangedCopy],
        visit: &mut dyn FnMut(StoredMessage) -> std::io::Result<()>,
    ) -> Result<(), StoreError>;
    /// Each message of `source` with findings as its date and findings
    /// only, read from the findings (what the compliance snapshot counts;
    /// the messages themselves are not read).
    fn each_finding_set(
        &self,
        source: &str,
        visit: &mut FindingSetVisitor<'_>,
    ) -> Result<(), StoreError>;
    /// The id judgements made under the rules with this digest are stored
    /// by (made on first use).
    fn judgement_version(&mut self, digest: &str) -> Result<i64, StoreError>;
    /// That id if the rules with this digest ever judged (nothing made).
    fn known_judgement_version(&self, digest: &str) -> Result<Option<i64>, StoreError>;
    /// Judges with `judge` each message of `source` not judged under
    /// `version` (new or re-flagged since, or judged under other rules) and
    /// stores the judgements; returns how many. Reads those messages only,
    /// a batch at a time.
    fn judge_stored(
        &mut self,
        source: &str,
        version: i64,
        judge: &mut dyn FnMut(&MessageReport) -> Judgement,
    ) -> Result<u64, StoreError>;
    /// How many distinct values (by fingerprint) the findings of these
    /// detectors hold across these mailboxes, by a query: the same card in
    /// two mailboxes is one value.
    fn distinct_values(&self, sources: &[String], detectors: &[String]) -> Result<u64, StoreError>;
    /// A mailbox's counts as of `as_of` from the stored judgements, by a
    /// query: nothing is read into the process.
    fn stored_counts(
        &self,
        source: &str,
        version: i64,
        as_of: NaiveDate,
    ) -> Result<StoredCounts, StoreError>;
}

/// Reminders sent, per mailbox and period.
pub trait Reminders {
    fn reminder(&self, source: &str, period: &str) -> Result<Option<ReminderRecord>, StoreError>;
    fn record_reminder(&mut self, reminder: &ReminderRecord) -> Result<(), StoreError>;
}

/// Where the store is, and the few settings it keeps (the key check, the audit head).
pub trait Settings {
    /// Where the state lives, for messages.
    fn location(&self) -> &str;
    /// A named setting of the store (e.g. which fingerprint key made its
    /// fingerprints: a check value, never the key).
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError>;
}

/// The one interface every workflow uses to read and change the state.
pub trait Store:
    Runs + Inventory + Journal + Cases + AuditTrail + History + Reminders + Settings
{
}

impl<T> Store for T where
    T: Runs + Inventory + Journal + Cases + AuditTrail + History + Reminders + Settings
{
}

/// One group of a mailbox's messages under one rule, as the counting
/// query of every backend gives it (counts as the database's integers).
#[derive(Debug, Clone, Default)]
pub(crate) struct CountedGroup {
    pub rule: Option<String>,
    pub messages: i64,
    pub stale: i64,
    pub bytes: i64,
    /// When the oldest stale message is dated (seconds since the epoch).
    pub oldest_stale: Option<i64>,
    pub unreadable: i64,
    pub unjudged: i64,
}

impl StoredCounts {
    /// Adds one group of the counting query.
    pub(crate) fn add_group(&mut self, g: CountedGroup) {
        let count = |v: i64| v.max(0) as u64;
        self.messages += count(g.messages);
        self.bytes += count(g.bytes);
        self.unreadable += count(g.unreadable);
        self.unjudged += count(g.unjudged);
        let stale = count(g.stale);
        if stale > 0 {
            self.stale += stale;
            *self
                .stale_by_rule
                .entry(g.rule.unwrap_or_default())
                .or_default() += stale;
            let oldest = columns::from_ts(g.oldest_stale).map(|d| d.date_naive());
            self.oldest_stale = match (self.oldest_stale, oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
}

/// A snapshot as the history keeps it: which run took it, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRecord {
    pub run: RunId,
    pub taken_at: String,
    /// A `--full` scan (or the first), not an incremental one.
    pub full: bool,
    /// `complete`, `incomplete`, `failed`.
    pub status: String,
    pub snapshot: Snapshot,
}

/// One row of a case's plan as the case recorded it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRow {
    pub folder: String,
    pub key: String,
    pub uid: Option<u32>,
    pub message_id: String,
    pub decision: Decision,
    pub why: String,
}

/// A message handed over (or on its way) to a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct HandoverRecord {
    pub case_id: String,
    pub folder: String,
    pub key: String,
    /// The destination as given (`imaps://...`, `maildir:PATH`).
    pub destination: String,
    pub message_id: String,
    pub to_folder: String,
    /// SHA-256 of the message as read from the leaver's mailbox.
    pub content_hash: String,
    pub status: HandoverStatus,
    pub at: String,
}

/// Where one handed-over message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverStatus {
    /// About to be copied (journaled before the copy).
    Copying,
    Copied,
    /// The destination already held it.
    AlreadyThere,
}

impl HandoverStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HandoverStatus::Copying => "copying",
            HandoverStatus::Copied => "copied",
            HandoverStatus::AlreadyThere => "already_there",
        }
    }

    pub fn parse(s: &str) -> Option<HandoverStatus> {
        [
            HandoverStatus::Copying,
            HandoverStatus::Copied,
            HandoverStatus::AlreadyThere,
        ]
        .into_iter()
        .find(|h| h.as_str() == s)
    }

    /// The message is in the successor's mailbox.
    pub fn done(self) -> bool {
        self != HandoverStatus::Copying
    }
}

#[cfg(test)]
mod url_tests {
    use super::*;

    #[test]
    fn store_urls_name_their_backend() {
        assert_eq!(
            StoreUrl::parse("sqlite:/var/lib/mh/state.sqlite").expect("sqlite"),
            StoreUrl::Sqlite("/var/lib/mh/state.sqlite".into())
        );
        assert_eq!(
            StoreUrl::parse("state.sqlite").expect("a bare path"),
            StoreUrl::Sqlite("state.sqlite".into())
        );
        assert!(matches!(
            StoreUrl::parse("postgresql://mh@db/mh").expect("postgresql"),
            StoreUrl::Postgres(_)
        ));
        for refused in ["sqlite:", "postgresql://mh:pw@db/mh", "mysql://x/y"] {
            assert!(StoreUrl::parse(refused).is_err(), "{refused}");
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let url = StoreUrl::Sqlite(dir.path().join("s.sqlite"));
        assert!(!url.exists());
        let (store, guard) = open(
            &url,
            &OpenOptions {
                lock: Lock::Store { wait: false },
                ..Default::default()
            },
        )
        .expect("opens");
        assert!(guard.is_some() && url.exists());
        assert!(store.mailboxes().expect("reads").is_empty());
        // A second writer is refused while the first holds the lock.
        assert!(matches!(
            open(
                &url,
                &OpenOptions {
                    lock: Lock::Mailboxes { wait: false },
                    ..Default::default()
                }
            ),
            Err(StoreError::Busy { .. })
        ));
    }
}
