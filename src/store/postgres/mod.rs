//! The shared store: PostgreSQL, for organisations whose mailboxes are
//! scanned by more than one host. A second implementation of the store's
//! traits beside [`super::sqlite`], holding the same data in the same
//! shape (see [`schema`]); no code outside this module knows PostgreSQL.
//!
//! What several writers need, and SQLite's single file gave for free:
//! - the run lock is a session advisory lock (held on a connection of its
//!   own for as long as the run's guard lives), not a file;
//! - migrations run one transaction each under a transaction advisory
//!   lock, so processes that start at once apply each migration once;
//! - the audit chain appends under a transaction advisory lock, so two
//!   writers never fork it (and `seq` is the primary key besides).
//!
//! Built so far: connection (TLS verified, or plaintext to this machine),
//! migrations, the run lock, settings, runs, the audit trail and the
//! journal. The inventory, cases, history and reminders follow; until they
//! exist a command cannot name a PostgreSQL store (see [`super::StoreUrl`]).

mod cases;
mod inventory;
pub mod queue;
pub mod schema;
pub mod target;

use super::columns::{from_ts, ts};
use super::*;
use crate::audit::{AuditEntry, NewEntry};
use ::postgres::{Client, NoTls, Transaction};
pub use target::{Host, PasswordSource, Target};

/// Advisory lock keys (per database): migrations, the run lock, the audit
/// chain. Arbitrary, fixed, and not used by anything else we run.
const MIGRATION_LOCK: i64 = 0x6d68_0001;
const RUN_LOCK: i64 = 0x6d68_0002;
const AUDIT_LOCK: i64 = 0x6d68_0003;

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> StoreError {
        if queue::lease_ended(&e) {
            return StoreError::LeaseLost;
        }
        // The server's own words (its message, not the statement or its
        // parameters): what a person can act on, and nothing detected.
        StoreError::Backend(match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        })
    }
}

/// How the store connects: a target, its password, TLS or not.
pub struct Connector {
    target: Target,
    password: Option<String>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        f.debug_struct("Connector")
            .field("target", &self.target.display())
            .finish()
    }
}

impl Connector {
    pub fn new(target: Target, passwords: &PasswordSource) -> Result<Connector, StoreError> {
        let password = target.password(passwords)?;
        Ok(Connector { target, password })
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// A new session, named for `pg_stat_activity` by this process (what a
    /// busy run lock reports as its holder).
    pub fn connect(&self) -> Result<Client, StoreError> {
        let t = &self.target;
        let open = |reason: String| StoreError::Open {
            path: t.display(),
            reason,
        };
        let mut config = ::postgres::Config::new();
        config
            .user(&t.user)
            .dbname(&t.database)
            .port(t.port)
            .application_name(&process_name())
            .connect_timeout(std::time::Duration::from_secs(15));
        if let Some(p) = &self.password {
            config.password(p);
        }
        match &t.host {
            Host::Tcp(h) => config.host(h),
            Host::Socket(dir) => config.host_path(dir),
        };
        let client = if t.is_local() && t.root_cert.is_none() {
            config.ssl_mode(::postgres::config::SslMode::Disable);
            config.connect(NoTls)
        } else {
            config.ssl_mode(::postgres::config::SslMode::Require);
            config.connect(tls(t)?)
        };
        client.map_err(|e| open(connect_error(&e)))
    }
}

/// A connection failure in words (the driver's `Display` for a refused
/// connection is terse; a server's refusal carries its own message).
fn connect_error(e: &::postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_string();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// This process as other sessions and workers see it (a lock's or a
/// job's holder): `mailhygiene pid N on HOST`.
pub fn process_name() -> String {
    format!("mailhygiene pid {} on {}", std::process::id(), hostname())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// TLS with the server's certificate verified against the system's roots,
/// or the PEM file the URL names.
fn tls(t: &Target) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    use tokio_rustls::rustls;
    let open = |reason: String| StoreError::Open {
        path: t.display(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    match &t.root_cert {
        Some(file) => {
            let pem = std::fs::read(file).map_err(|e| {
                open(format!(
                    "cannot read the certificate authorities in {}: {e}",
                    file.display()
                ))
            })?;
            use rustls_pki_types::pem::PemObject;
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    open(format!("{} is not a PEM certificate: {e}", file.display()))
                })?;
                roots
                    .add(cert)
                    .map_err(|e| open(format!("{}: {e}", file.display())))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(open(
            "no trusted certificates found (system store empty, or ?sslrootcert=FILE holds none)"
                .into(),
        ));
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| open(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The run lock: a session advisory lock on a connection of its own,
/// released when this is dropped (or the process dies: the server ends the
/// session and its locks with it).
pub struct RunLock {
    _session: Client,
}

impl RunLock {
    pub fn acquire(connector: &Connector, wait: bool) -> Result<RunLock, StoreError> {
        let mut session = connector.connect()?;
        let held: bool = session
            .query_one("SELECT pg_try_advisory_lock($1)", &[&RUN_LOCK])?
            .get(0);
        if held {
            return Ok(RunLock { _session: session });
        }
        let holder = lock_holder(&mut session, RUN_LOCK)?;
        if !wait {
            return Err(StoreError::Busy {
                path: connector.target.display(),
                holder,
            });
        }
        eprintln!(
            "mailhygiene: waiting for the run that uses {} ({holder}) to finish",
            connector.target.display()
        );
        session.execute("SELECT pg_advisory_lock($1)", &[&RUN_LOCK])?;
        Ok(RunLock { _session: session })
    }
}

/// The advisory lock key of one mailbox (per database): a hash of its
/// source in a space of its own.
pub(crate) fn mailbox_lock_sql() -> &'static str {
    "hashtextextended('mailhygiene mailbox ' || $1, 0)"
}

/// Tries to hold a mailbox on `session` (a session advisory lock, released
/// with the session or by [`release_mailbox`]); whether it is held now.
pub(crate) fn try_hold_mailbox(session: &mut Client, source: &str) -> Result<bool, StoreError> {
    Ok(session
        .query_one(
            &format!("SELECT pg_try_advisory_lock({})", mailbox_lock_sql()),
            &[&source],
        )?
        .get(0))
}

pub(crate) fn release_mailbox(session: &mut Client, source: &str) -> Result<(), StoreError> {
    session.execute(
        &format!("SELECT pg_advisory_unlock({})", mailbox_lock_sql()),
        &[&source],
    )?;
    Ok(())
}

/// The advisory lock key of one run: held by the session that began it
/// until it finishes, so a run still `running` whose key is free was left
/// by a process that is gone.
fn run_lock_sql() -> &'static str {
    "hashtextextended('mailhygiene run ' || ($1::bigint)::text, 0)"
}

/// Who holds an advisory lock, as its session named itself.
fn lock_holder(session: &mut Client, key: i64) -> Result<String, StoreError> {
    let row = session.query_opt(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (
             SELECT oid FROM pg_database WHERE datname = current_database())
           AND ((l.classid::bigint << 32) | l.objid::bigint) = $1
         LIMIT 1",
        &[&key],
    )?;
    Ok(row
        .map(|r| r.get::<_, String>(0))
        .unwrap_or_else(|| "unknown".into()))
}

/// The store over one PostgreSQL database.
pub struct PostgresStore {
    /// The session. The store's traits read through `&self`, the driver
    /// needs `&mut` for every statement: one borrow at a time (a visitor
    /// that called back into the store mid-read would be refused, never
    /// interleaved).
    client: std::cell::RefCell<Client>,
    location: String,
    /// Mailbox ids by source, as looked up.
    ids: std::cell::RefCell<HashMap<String, i64>>,
    /// Each mailbox's `judged_with` as last read or written.
    judged_with: HashMap<i64, Option<i64>>,
    /// Messages recorded in the open batch transaction.
    pending: usize,
    /// When the open batch began, and how old it may grow (a worker's
    /// batch must end well within its lease).
    batch_started: Option<std::time::Instant>,
    max_batch_age: Option<std::time::Duration>,
    /// Messages recorded but not yet written: a scan's records go to the
    /// server a batch at a time (a statement per message would cost a
    /// round trip each).
    buffer: std::cell::RefCell<inventory::Buffer>,
    audit_key: Option<crate::audit::AuditKey>,
    /// The append-only log outside the database each audit entry's hash
    /// also goes to, when the configuration names one (`[audit] anchor`):
    /// a shared database has no file beside it.
    anchor: Option<std::path::PathBuf>,
    /// The runs this session began and has not finished (it holds each
    /// one's lock).
    live_runs: std::collections::BTreeSet<RunId>,
    /// This host's name in the anchor log's sense: a shared store's
    /// entries say which host's log anchors them.
    anchor_host: Option<String>,
}

impl PostgresStore {
    /// Connects and brings the schema up to date.
    pub fn open(connector: &Connector) -> Result<PostgresStore, StoreError> {
        let mut client = connector.connect()?;
        let location = connector.target.display();
        migrate(&mut client, &location)?;
        Ok(PostgresStore {
            client: std::cell::RefCell::new(client),
            location,
            ids: Default::default(),
            judged_with: HashMap::new(),
            pending: 0,
            batch_started: None,
            max_batch_age: None,
            buffer: Default::default(),
            audit_key: None,
            anchor: None,
            anchor_host: None,
            live_runs: Default::default(),
        })
    }

    /// Writes the audit anchor log to this file, as this machine (its
    /// machine id and host name: a container is a host of its own).
    pub fn set_audit_anchor(&mut self, path: std::path::PathBuf) {
        let machine = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        self.set_audit_anchor_as(path, &format!("{}\0{}", machine.trim(), hostname()));
    }

    /// [`PostgresStore::set_audit_anchor`] as the host `machine` names
    /// (tests play several hosts in one process).
    pub fn set_audit_anchor_as(&mut self, path: std::path::PathBuf, machine: &str) {
        self.anchor = Some(path);
        self.anchor_host = Some(crate::audit::anchor_host(machine));
    }

    /// The schema version (how many migrations are applied).
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        schema_version(&mut *self.db()?)
    }

    /// The session as it is.
    fn session(&self) -> Result<std::cell::RefMut<'_, Client>, StoreError> {
        self.client.try_borrow_mut().map_err(|_| {
            StoreError::Invalid("the store was used again while it was being read".into())
        })
    }

    /// The session for a read or a scan's batched write: messages still
    /// buffered are written first (into the open batch), so what is read
    /// is what was recorded.
    fn db(&self) -> Result<std::cell::RefMut<'_, Client>, StoreError> {
        self.flush_buffer()?;
        self.session()
    }

    /// The session for a write of its own (a run, a journal entry, a case,
    /// the audit chain): the scan's open batch is committed first, so the
    /// write is never inside it.
    fn write(&mut self) -> Result<std::cell::RefMut<'_, Client>, StoreError> {
        self.commit_pending()?;
        self.session()
    }

    /// This store's identity in an anchor log: made once, at random.
    fn store_id(&self) -> Result<String, StoreError> {
        let fresh = hex::encode(rand_bytes()?);
        let mut db = self.db()?;
        let mut tx = db.transaction()?;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES ('store_id', $1) ON CONFLICT (name) DO NOTHING",
            &[&fresh],
        )?;
        let id: String = tx
            .query_one("SELECT value FROM settings WHERE name = 'store_id'", &[])?
            .get(0);
        tx.commit()?;
        Ok(id)
    }

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
}

fn rand_bytes() -> Result<[u8; 16], StoreError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| StoreError::Invalid("no randomness for the store's id".into()))?;
    Ok(bytes)
}

fn schema_version(client: &mut Client) -> Result<usize, StoreError> {
    let exists: bool = client
        .query_one("SELECT to_regclass('mailhygiene_schema') IS NOT NULL", &[])?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i64> = client
        .query_one("SELECT max(version) FROM mailhygiene_schema", &[])?
        .get(0);
    Ok(v.unwrap_or(0).max(0) as usize)
}

/// Applies what is missing of [`schema::MIGRATIONS`], each in its own
/// transaction under [`MIGRATION_LOCK`]: a process that finds a migration
/// applied by another (while it waited for the lock) moves on.
fn migrate(client: &mut Client, location: &str) -> Result<(), StoreError> {
    let known = schema::MIGRATIONS.len();
    for (i, sql) in schema::MIGRATIONS.iter().enumerate() {
        let version = i + 1;
        let mut tx = client.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS mailhygiene_schema (
                 version BIGINT PRIMARY KEY,
                 applied_at TEXT NOT NULL
             )",
        )?;
        let current: Option<i64> = tx
            .query_one("SELECT max(version) FROM mailhygiene_schema", &[])?
            .get(0);
        let current = current.unwrap_or(0).max(0) as usize;
        if current > known {
            return Err(StoreError::TooNew {
                path: location.to_string(),
                found: current,
                known,
            });
        }
        if current >= version {
            tx.commit()?;
            continue;
        }
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO mailhygiene_schema (version, applied_at) VALUES ($1, $2)",
            &[&(version as i64), &Utc::now().to_rfc3339()],
        )?;
        tx.commit()?;
    }
    // A store newer than this build is refused even when nothing was left
    // to apply.
    let current = schema_version(client)?;
    if current > known {
        return Err(StoreError::TooNew {
            path: location.to_string(),
            found: current,
            known,
        });
    }
    Ok(())
}

fn to_i64(n: Option<u32>) -> Option<i64> {
    n.map(i64::from)
}

fn to_u32(n: Option<i64>) -> Option<u32> {
    n.and_then(|n| u32::try_from(n).ok())
}

impl Settings for PostgresStore {
    fn location(&self) -> &str {
        &self.location
    }
    fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db()?
            .query_opt("SELECT value FROM settings WHERE name = $1", &[&name])?
            .map(|r| r.get(0)))
    }
    fn set_setting(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        self.write()?.execute(
            "INSERT INTO settings (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            &[&name, &value],
        )?;
        Ok(())
    }
}

const RUN_COLUMNS: &str = "id, kind, as_of, started_at, status, finished_at, adopted_by";

/// A run's row (`RUN_COLUMNS`); `None` for a kind or date this build does
/// not know.
fn run_row(r: &::postgres::Row) -> Option<RunRecord> {
    let kind = RunKind::parse(r.get::<_, &str>(1))?;
    let as_of = NaiveDate::parse_from_str(r.get::<_, &str>(2), "%Y-%m-%d").ok()?;
    Some(RunRecord {
        id: r.get(0),
        kind,
        as_of,
        started: r.get(3),
        status: r.get(4),
        finished: r.get(5),
        adopted_by: r.get(6),
    })
}

impl Runs for PostgresStore {
    fn unfinished_jobs(&self) -> Result<Vec<UnfinishedJob>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT source, run,
                        CASE WHEN state = 'leased' AND lease_until > clock_timestamp() THEN holder END
                 FROM jobs WHERE kind = 'scan' AND state IN ('queued', 'leased')
                 ORDER BY source, run",
                &[],
            )?
            .iter()
            .map(|r| UnfinishedJob {
                source: r.get(0),
                run: r.get(1),
                holder: r.get(2),
            })
            .collect())
    }

    fn hold_mailboxes(&mut self, sources: &[String], wait: bool) -> Result<(), StoreError> {
        let mut sorted: Vec<&String> = sources.iter().collect();
        sorted.sort();
        sorted.dedup();
        let location = self.location.clone();
        let mut db = self.write()?;
        for source in sorted {
            if try_hold_mailbox(&mut db, source)? {
                continue;
            }
            let key: i64 = db
                .query_one(&format!("SELECT {}", mailbox_lock_sql()), &[source])?
                .get(0);
            let holder = lock_holder(&mut db, key)?;
            if !wait {
                return Err(StoreError::Busy {
                    path: format!("{location} (the mailbox {source})"),
                    holder,
                });
            }
            eprintln!("mailhygiene: waiting for {holder}, which is working on {source}");
            db.execute(
                &format!("SELECT pg_advisory_lock({})", mailbox_lock_sql()),
                &[source],
            )?;
        }
        Ok(())
    }

    fn begin_run(
        &mut self,
        kind: RunKind,
        as_of: NaiveDate,
        started: DateTime<Utc>,
    ) -> Result<RunId, StoreError> {
        let mut db = self.write()?;
        let mut tx = db.transaction()?;
        let run: RunId = tx
            .query_one(
                "INSERT INTO runs (started_at, as_of, kind) VALUES ($1, $2, $3) RETURNING id",
                &[&started.to_rfc3339(), &as_of.to_string(), &kind.as_str()],
            )?
            .get(0);
        // Locked before the run can be seen: no other session ever finds
        // it running with its lock free. A session lock outlives the
        // transaction.
        tx.execute(
            &format!("SELECT pg_advisory_lock({})", run_lock_sql()),
            &[&run],
        )?;
        tx.commit()?;
        drop(db);
        self.live_runs.insert(run);
        Ok(run)
    }
    fn finish_run(
        &mut self,
        run: RunId,
        finished: DateTime<Utc>,
        status: &str,
        messages: u64,
    ) -> Result<(), StoreError> {
        self.commit_pending()?;
        // The session alone is borrowed, beside the runs it holds.
        let db = self.client.get_mut();
        db.execute(
            "UPDATE runs SET finished_at = $1, status = $2, messages = $3 WHERE id = $4",
            &[
                &finished.to_rfc3339(),
                &status,
                &(messages.min(i64::MAX as u64) as i64),
                &run,
            ],
        )?;
        if self.live_runs.remove(&run) {
            db.execute(
                &format!("SELECT pg_advisory_unlock({})", run_lock_sql()),
                &[&run],
            )?;
        }
        Ok(())
    }
    fn run(&self, run: RunId) -> Result<Option<RunRecord>, StoreError> {
        Ok(self
            .db()?
            .query_opt(
                &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"),
                &[&run],
            )?
            .as_ref()
            .and_then(run_row))
    }
    fn adopt_interrupted(&mut self, run: RunId, kind: RunKind) -> Result<Vec<RunId>, StoreError> {
        self.commit_pending()?;
        // The session alone is borrowed, beside the runs it holds.
        let db = self.client.get_mut();
        let running: Vec<RunId> = db
            .query(
                "SELECT id FROM runs WHERE kind = $1 AND status = 'running' AND id <> $2 ORDER BY id",
                &[&kind.as_str(), &run],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut adopted = Vec::new();
        for old in running {
            // A run this session began and left is abandoned (this process
            // began another of its kind); one of another session is gone
            // only when its lock is free. Taking the lock to find out is
            // given back at once.
            let ours = self.live_runs.remove(&old);
            let gone = ours || {
                let free: bool = db
                    .query_one(
                        &format!("SELECT pg_try_advisory_lock({})", run_lock_sql()),
                        &[&old],
                    )?
                    .get(0);
                free
            };
            if !gone {
                continue;
            }
            db.execute(
                &format!("SELECT pg_advisory_unlock({})", run_lock_sql()),
                &[&old],
            )?;
            // Another run may have taken it over meanwhile: one adopter.
            if db.execute(
                "UPDATE runs SET status = 'interrupted', adopted_by = $1
                 WHERE id = $2 AND status = 'running'",
                &[&run, &old],
            )? > 0
            {
                adopted.push(old);
            }
        }
        Ok(adopted)
    }
    fn adopt(&mut self, run: RunId, by: RunId) -> Result<bool, StoreError> {
        if run == by {
            return Ok(false);
        }
        Ok(self.write()?.execute(
            "UPDATE runs SET adopted_by = $2 WHERE id = $1 AND adopted_by IS NULL
               AND kind = (SELECT kind FROM runs WHERE id = $2)",
            &[&run, &by],
        )? > 0)
    }
    fn series(&self, run: RunId) -> Result<Vec<RunId>, StoreError> {
        Ok(self
            .db()?
            .query(
                "WITH RECURSIVE s(id) AS (SELECT $1::bigint UNION SELECT runs.id FROM runs JOIN s ON runs.adopted_by = s.id)
                 SELECT id FROM s ORDER BY id",
                &[&run],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
    fn run_summaries(&self, kinds: &[RunKind]) -> Result<Vec<RunSummary>, StoreError> {
        let mut db = self.db()?;
        let mut out: Vec<RunSummary> = db
            .query(&format!("SELECT {RUN_COLUMNS} FROM runs ORDER BY id"), &[])?
            .iter()
            .filter_map(run_row)
            .filter(|record| kinds.contains(&record.kind))
            .map(|record| RunSummary {
                record,
                counts: Default::default(),
                sources: Vec::new(),
                undoes: Vec::new(),
                undone_by: Vec::new(),
            })
            .collect();
        let index: HashMap<RunId, usize> = out
            .iter()
            .enumerate()
            .map(|(i, s)| (s.record.id, i))
            .collect();
        for r in db.query(
            "SELECT run, status, count(*) FROM journal GROUP BY run, status",
            &[],
        )? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                out[i]
                    .counts
                    .insert(r.get(1), r.get::<_, i64>(2).max(0) as u64);
            }
        }
        for r in db.query(
            "SELECT DISTINCT run, source COLLATE \"C\" FROM journal ORDER BY 1, 2",
            &[],
        )? {
            if let Some(&i) = index.get(&r.get::<_, i64>(0)) {
                out[i].sources.push(r.get(1));
            }
        }
        for r in db.query(
            "SELECT DISTINCT u.run, c.run FROM journal u JOIN journal c ON u.undoes = c.id
             WHERE u.status = 'moved' ORDER BY u.run, c.run",
            &[],
        )? {
            let (undo, clean): (i64, i64) = (r.get(0), r.get(1));
            if let Some(&i) = index.get(&undo) {
                out[i].undoes.push(clean);
            }
            if let Some(&i) = index.get(&clean) {
                out[i].undone_by.push(undo);
            }
        }
        Ok(out)
    }
}

impl AuditTrail for PostgresStore {
    fn set_audit_key(&mut self, key: crate::audit::AuditKey) {
        self.audit_key = Some(key);
    }
    fn audit_host(&self) -> Option<String> {
        self.anchor_host.clone()
    }
    fn audit_anchor(&self) -> Result<Option<crate::audit::Anchor>, StoreError> {
        let Some(path) = &self.anchor else {
            return Ok(None);
        };
        let id = self.setting("store_id")?.unwrap_or_default();
        crate::audit::read_anchor(path, &id).map_err(StoreError::Invalid)
    }
    fn append_audit(&mut self, entry: NewEntry) -> Result<AuditEntry, StoreError> {
        let key = self.audit_key.clone().ok_or_else(|| {
            StoreError::Invalid(
                "the audit trail needs the installation's key, which was not loaded".into(),
            )
        })?;
        self.commit_pending()?;
        let store = self.store_id()?;
        let anchored = self.audit_anchor()?.is_some();
        // Which host's log anchors the entry: inside what its hash covers.
        let mut entry = entry;
        if let (Some(host), Some(detail)) = (&self.anchor_host, entry.detail.as_object_mut()) {
            detail.insert(
                crate::audit::ANCHORED_BY.into(),
                serde_json::Value::String(host.clone()),
            );
        }
        let e = {
            let mut db = self.write()?;
            let mut tx = db.transaction()?;
            // One appender at a time across every process and host: the
            // chain's next link is made from the head this one reads.
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])?;
            let last: Option<(i64, String)> = tx
                .query_opt("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &[])?
                .map(|r| (r.get(0), r.get(1)));
            let head: Option<(i64, String)> = tx
                .query_opt("SELECT value FROM settings WHERE name = 'audit_head'", &[])?
                .and_then(|r| crate::audit::parse_head(r.get::<_, &str>(0)));
            let last = crate::audit::link_after(last, head);
            let e = crate::audit::chain(last.as_ref().map(|(s, h)| (*s, h.as_str())), entry, &key);
            tx.execute(
                "INSERT INTO audit (seq, at, actor, action, case_id, detail, prev, hash)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &e.seq,
                    &e.at,
                    &e.actor,
                    &e.action,
                    &e.case_id,
                    &e.detail.to_string(),
                    &e.prev,
                    &e.hash,
                ],
            )?;
            tx.execute(
                "INSERT INTO settings (name, value) VALUES ('audit_head', $1)
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                &[&crate::audit::head_value(&e)],
            )?;
            tx.commit()?;
            e
        };
        // After the commit: a crash between the two leaves an entry the log
        // does not name, never a logged entry the store lacks.
        self.anchor_lines(&crate::audit::anchor_lines_for(&store, &e, anchored))?;
        Ok(e)
    }
    fn audit_entries(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT seq, at, actor, action, case_id, detail, prev, hash FROM audit ORDER BY stored",
                &[],
            )?
            .iter()
            .map(|r| AuditEntry {
                seq: r.get(0),
                at: r.get(1),
                actor: r.get(2),
                action: r.get(3),
                case_id: r.get(4),
                detail: serde_json::from_str(r.get::<_, &str>(5)).unwrap_or(serde_json::Value::Null),
                prev: r.get(6),
                hash: r.get(7),
            })
            .collect())
    }
    fn audit_head(&self) -> Result<Option<(i64, String)>, StoreError> {
        Ok(self
            .setting("audit_head")?
            .and_then(|v| crate::audit::parse_head(&v)))
    }
}

const JOURNAL_COLUMNS: &str = "id, run, source, folder, uid_validity, uid, local_key, message_id, to_folder, rule, status, reason, dest_uid_validity, dest_uid, dest_key, flagged, undoes, size, received";

fn journal_row(r: &::postgres::Row) -> JournalEntry {
    JournalEntry {
        id: r.get(0),
        run: r.get(1),
        source: r.get(2),
        folder: r.get(3),
        uid_validity: to_u32(r.get(4)),
        uid: to_u32(r.get(5)),
        local_key: r.get(6),
        message_id: r.get(7),
        to_folder: r.get(8),
        rule: r.get(9),
        status: JournalStatus::parse(r.get::<_, &str>(10)).unwrap_or(JournalStatus::Failed),
        reason: r.get(11),
        dest_uid_validity: to_u32(r.get(12)),
        dest_uid: to_u32(r.get(13)),
        dest_key: r.get(14),
        flagged: r.get(15),
        undoes: r.get(16),
        size: r.get::<_, Option<i64>>(17).map(|n| n.max(0) as u64),
        received: from_ts(r.get(18)),
    }
}

impl Journal for PostgresStore {
    fn journal_intents(&mut self, entries: &mut [JournalEntry]) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        let mut db = self.write()?;
        let mut tx = db.transaction()?;
        let insert = tx.prepare(
            "INSERT INTO journal (run, source, folder, uid_validity, uid, local_key, message_id, to_folder,
               rule, status, reason, dest_uid_validity, dest_uid, dest_key, flagged, undoes, updated_at,
               size, received)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
             RETURNING id",
        )?;
        for e in entries.iter_mut() {
            e.id = tx
                .query_one(
                    &insert,
                    &[
                        &e.run,
                        &e.source,
                        &e.folder,
                        &to_i64(e.uid_validity),
                        &to_i64(e.uid),
                        &e.local_key,
                        &e.message_id,
                        &e.to_folder,
                        &e.rule,
                        &e.status.as_str(),
                        &e.reason,
                        &to_i64(e.dest_uid_validity),
                        &to_i64(e.dest_uid),
                        &e.dest_key,
                        &e.flagged,
                        &e.undoes,
                        &now,
                        &e.size.map(|n| n.min(i64::MAX as u64) as i64),
                        &ts(e.received),
                    ],
                )?
                .get(0);
        }
        tx.commit()?;
        Ok(())
    }
    fn journal_outcomes(&mut self, entries: &[JournalEntry]) -> Result<(), StoreError> {
        let now = Utc::now().to_rfc3339();
        let mut db = self.write()?;
        let mut tx = db.transaction()?;
        for e in entries {
            tx.execute(
                "UPDATE journal SET status = $1, reason = $2, dest_uid_validity = $3, dest_uid = $4,
                   dest_key = $5, updated_at = $6 WHERE id = $7",
                &[
                    &e.status.as_str(),
                    &e.reason,
                    &to_i64(e.dest_uid_validity),
                    &to_i64(e.dest_uid),
                    &e.dest_key,
                    &now,
                    &e.id,
                ],
            )?;
            if e.status == JournalStatus::Moved {
                follow_move(&mut tx, e)?;
            }
        }
        tx.commit()?;
        Ok(())
    }
    fn journal_of_run(&self, run: RunId) -> Result<Vec<JournalEntry>, StoreError> {
        Ok(self
            .db()?
            .query(
                &format!("SELECT {JOURNAL_COLUMNS} FROM journal WHERE run = $1 ORDER BY id"),
                &[&run],
            )?
            .iter()
            .map(journal_row)
            .collect())
    }
    fn undone(&self, run: RunId) -> Result<HashSet<i64>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT undoes FROM journal WHERE status = 'moved'
                 AND undoes IN (SELECT id FROM journal WHERE run = $1)",
                &[&run],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }
    fn unfinished(&self, source: &str) -> Result<Vec<JournalEntry>, StoreError> {
        Ok(self
            .db()?
            .query(
                &format!(
                    "SELECT {JOURNAL_COLUMNS} FROM journal WHERE source = $1 AND status IN ('intent', 'unknown')
                     ORDER BY id"
                ),
                &[&source],
            )?
            .iter()
            .map(journal_row)
            .collect())
    }
}

/// The inventory follows a journaled move, in the same transaction: the
/// message is where the move put it (or gone, when its new place is not
/// known), so a report made before the next scan is right.
fn follow_move(tx: &mut Transaction<'_>, e: &JournalEntry) -> Result<(), StoreError> {
    // The inventory's key: the UID, or the local file's key.
    let old_key = match (e.uid, &e.local_key) {
        (Some(u), _) => u.to_string(),
        (None, Some(k)) => k.clone(),
        (None, None) => return Ok(()),
    };
    let new_place = match (e.dest_uid_validity, e.dest_uid, &e.dest_key) {
        (Some(v), Some(u), _) => Some((u.to_string(), Some(i64::from(v)), Some(i64::from(u)))),
        (_, _, Some(k)) => Some((k.clone(), None, None)),
        _ => None,
    };
    let Some(mailbox) = tx
        .query_opt("SELECT id FROM mailboxes WHERE source = $1", &[&e.source])?
        .map(|r| r.get::<_, i64>(0))
    else {
        return Ok(());
    };
    let Some(moved) = tx
        .query_opt(
            "SELECT id FROM messages WHERE mailbox = $1 AND folder = $2 AND key = $3",
            &[&mailbox, &e.folder, &old_key],
        )?
        .map(|r| r.get::<_, i64>(0))
    else {
        return Ok(());
    };
    let Some((new_key, validity, uid)) = new_place else {
        tx.execute("DELETE FROM messages WHERE id = $1", &[&moved])?;
        return Ok(());
    };
    // A scan may already have seen the message at its new place.
    tx.execute(
        "DELETE FROM messages WHERE mailbox = $1 AND folder = $2 AND key = $3",
        &[&mailbox, &e.to_folder, &new_key],
    )?;
    tx.execute(
        "UPDATE messages SET folder = $2, key = $3, uid_validity = $4, uid = $5, server_folder = NULL,
           judged = NULL
         WHERE id = $1",
        &[&moved, &e.to_folder, &new_key, &validity, &uid],
    )?;
    Ok(())
}

#[cfg(test)]
#[path = "../../../tests/support/postgres.rs"]
mod private_server;

#[cfg(test)]
mod tests;

/// A store in a fresh database of the test process's private server
/// (started once, stopped when the process ends): what
/// [`super::for_tests`] gives when the tests run against PostgreSQL.
#[cfg(test)]
pub fn for_tests() -> PostgresStore {
    static SERVER: std::sync::OnceLock<(private_server::Postgres, tempfile::TempDir)> =
        std::sync::OnceLock::new();
    let (server, dir) = SERVER.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("password");
        std::fs::write(&file, private_server::PASSWORD).expect("password file");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        (private_server::Postgres::start(), dir)
    });
    let db = server.create_database("store");
    let connector = Connector::new(
        Target::parse(&server.url(&db)).expect("url"),
        &PasswordSource {
            env: None,
            file: Some(dir.path().join("password")),
        },
    )
    .expect("connector");
    PostgresStore::open(&connector).expect("a fresh PostgreSQL store opens")
}
