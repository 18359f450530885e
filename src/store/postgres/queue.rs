//! The queue many workers share (see the `workers` module): one job per
//! mailbox of a run and one that finishes the run, claimed with
//! `FOR UPDATE SKIP LOCKED` under a lease and a fencing token, and the
//! tenants whose connection budget and throttling pause every host sees.
//!
//! Why writes are safe: a worker's session names the job it holds
//! (`mailhygiene.job = 'ID:FENCE'`), and a trigger on every table of the
//! store (migration 2) refuses any statement from it unless that job still
//! has that fence and an unexpired lease, taking a key-share lock on the
//! job row that keeps a claimer off it until the transaction ends. A
//! session left idle inside a transaction longer than the lease is ended by
//! the server (`idle_in_transaction_session_timeout`), so a worker paused
//! mid-transaction cannot commit later either. The lease is renewed by a
//! thread of its own ([`LeaseKeeper`]) on a session of its own, and a lease
//! that has run out is never renewed: once lost, it stays lost.
//!
//! Times are the database server's clock (`clock_timestamp()`), the one
//! clock every host shares.

use super::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

/// Claims and finishes take this lock for their short transaction: the
/// count of a tenant's live leases and the claim that adds one are then
/// one step, and so are a run's last job and the job that finishes it.
const QUEUE_LOCK: i64 = 0x6d68_0004;

/// A tenant's cap now: its configured cap, or what throttling lowered it
/// to plus one connection per minute since (a cap recovers slowly: Exchange
/// throttles again soon after a pause when the load comes straight back).
/// `t` is the tenants row.
const EFFECTIVE_CAP: &str = "least(t.cap, coalesce(t.lowered_to
    + floor(extract(epoch FROM clock_timestamp() - t.lowered_at) / 60)::int, t.cap))";

/// What a job asks of its worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Scan one mailbox into the run.
    Scan,
    /// Finish the run once every mailbox's job is done or failed for good:
    /// its status, the compliance history, the audit entry.
    Finish,
}

impl JobKind {
    fn as_str(self) -> &'static str {
        match self {
            JobKind::Scan => "scan",
            JobKind::Finish => "finish",
        }
    }
}

/// A mailbox to queue: its source as the configuration names it, the
/// tenant whose budget it draws on, and that tenant's cap on live leases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMailbox {
    pub source: String,
    pub tenant: String,
    pub cap: u32,
}

/// A job a worker holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub job: i64,
    pub run: RunId,
    pub kind: JobKind,
    /// The mailbox (a scan job).
    pub source: Option<String>,
    pub tenant: Option<String>,
    /// The fencing token: every write of this worker carries it.
    pub fence: i64,
    /// 1 on the first claim; more when earlier workers stopped holding it.
    pub attempt: i32,
    /// The run reads every message again (`--full`).
    pub full: bool,
    pub as_of: NaiveDate,
}

/// How a run's jobs stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunJobs {
    pub queued: u64,
    pub leased: u64,
    pub done: u64,
    pub failed: u64,
}

/// A job's outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobOutcome {
    /// The mailbox failed for good, and why (its record says it too).
    pub failed: Option<String>,
    /// Messages read.
    pub messages: u64,
    /// Messages with a part that went unread.
    pub unread: u64,
}

/// A scan job of a run as it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedJob {
    pub source: String,
    /// Failed for good, and why; `None` when done.
    pub failed: Option<String>,
    pub messages: u64,
    pub unread: u64,
}

fn to_i64(n: u64) -> i64 {
    n.min(i64::MAX as u64) as i64
}

fn millis(d: Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

/// Whether an error is this session's lease ending: the fence's refusal,
/// or the server ending a session left idle in a transaction past it.
pub fn lease_ended(e: &::postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        c.code() == "MH001"
            || c == &::postgres::error::SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT
    })
}

impl PostgresStore {
    /// Queues a run: one scan job per mailbox, each tenant's cap set as
    /// the configuration says now.
    pub fn enqueue(
        &mut self,
        run: RunId,
        mailboxes: &[QueuedMailbox],
        full: bool,
    ) -> Result<(), StoreError> {
        let mut db = self.write()?;
        let mut tx = db.transaction()?;
        for m in mailboxes {
            let cap = i32::try_from(m.cap.max(1)).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO tenants (name, cap) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET cap = excluded.cap",
                &[&m.tenant, &cap],
            )?;
            tx.execute(
                "INSERT INTO jobs (run, kind, source, tenant, full_scan) VALUES ($1, 'scan', $2, $3, $4)",
                &[&run, &m.source, &m.tenant, &full],
            )?;
        }
        if mailboxes.is_empty() {
            add_finish_job(&mut tx, run)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Claims the next job this worker may take, or `None` when none is
    /// free now (all held, their tenants at their cap or paused, or the
    /// queue empty). A job whose lease ran out is claimed again; one whose
    /// workers stopped `max_attempts` times is failed for good instead (a
    /// message that kills every worker must not stop the queue).
    pub fn claim(
        &mut self,
        holder: &str,
        lease: Duration,
        max_attempts: u32,
    ) -> Result<Option<Claimed>, StoreError> {
        self.hold(None, lease)?;
        let max_attempts = i32::try_from(max_attempts.max(1)).unwrap_or(i32::MAX);
        let mut db = self.write()?;
        let mut tx = db.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&QUEUE_LOCK])?;
        let given_up = tx.query(
            "UPDATE jobs SET state = 'failed', finished_at = clock_timestamp(), lease_until = NULL,
               error = 'its workers stopped ' || attempts || ' times while holding it'
             WHERE state = 'leased' AND lease_until <= clock_timestamp() AND attempts >= $1
             RETURNING run, kind, source, error",
            &[&max_attempts],
        )?;
        for row in given_up {
            let (run, kind): (i64, String) = (row.get(0), row.get(1));
            if kind == JobKind::Scan.as_str() {
                // The mailbox's record says so, as for a mailbox that failed.
                let (source, error): (Option<String>, Option<String>) = (row.get(2), row.get(3));
                tx.execute(
                    "UPDATE mailboxes SET last_status = 'failed', last_error = $2 WHERE source = $1",
                    &[&source, &error.map(|e| format!("its scan job failed: {e}"))],
                )?;
                add_finish_job(&mut tx, run)?;
            }
        }
        let sql = format!(
            "WITH live AS (
                 SELECT tenant, count(*) AS n FROM jobs
                 WHERE state = 'leased' AND lease_until > clock_timestamp() GROUP BY tenant)
             SELECT j.id, j.run, j.kind, j.source, j.tenant, j.full_scan, r.as_of
             FROM jobs j JOIN runs r ON r.id = j.run
               LEFT JOIN tenants t ON t.name = j.tenant
               LEFT JOIN live l ON l.tenant = j.tenant
             WHERE (j.state = 'queued' OR (j.state = 'leased' AND j.lease_until <= clock_timestamp()))
               AND (j.not_before IS NULL OR j.not_before <= clock_timestamp())
               AND (j.tenant IS NULL OR (
                    (t.paused_until IS NULL OR t.paused_until <= clock_timestamp())
                    AND coalesce(l.n, 0) < {EFFECTIVE_CAP}))
             ORDER BY j.id
             LIMIT 1
             FOR UPDATE OF j SKIP LOCKED"
        );
        let Some(row) = tx.query_opt(&sql, &[])? else {
            tx.commit()?;
            return Ok(None);
        };
        let job: i64 = row.get(0);
        let kind = match row.get::<_, String>(2).as_str() {
            "finish" => JobKind::Finish,
            _ => JobKind::Scan,
        };
        let as_of: String = row.get(6);
        let claimed = tx.query_one(
            "UPDATE jobs SET state = 'leased', attempts = attempts + 1, fence = fence + 1,
               holder = $2, lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond',
               started_at = clock_timestamp()
             WHERE id = $1 RETURNING fence, attempts",
            &[&job, &holder, &millis(lease)],
        )?;
        tx.commit()?;
        Ok(Some(Claimed {
            job,
            run: row.get(1),
            kind,
            source: row.get(3),
            tenant: row.get(4),
            fence: claimed.get(0),
            attempt: claimed.get(1),
            full: row.get(5),
            as_of: as_of.parse().map_err(|_| {
                StoreError::Invalid(format!(
                    "run {} has no valid as-of date",
                    row.get::<_, i64>(1)
                ))
            })?,
        }))
    }

    /// Makes every later write of this session conditional on holding
    /// `claimed` (see the module's documentation); `None` writes as itself
    /// again. What is buffered or in an open batch is committed first,
    /// under the fence it was written under.
    pub fn hold(&mut self, claimed: Option<&Claimed>, lease: Duration) -> Result<(), StoreError> {
        // Nothing held (a fresh session, or released already): nothing to
        // reset, no round trip on an idle worker's every claim.
        if claimed.is_none() && self.max_batch_age.is_none() {
            return self.commit_pending();
        }
        let mut db = self.write()?;
        match claimed {
            Some(c) => {
                db.batch_execute(&format!(
                    "SET mailhygiene.job = '{}:{}'; SET idle_in_transaction_session_timeout = {}",
                    c.job,
                    c.fence,
                    millis(lease).max(1)
                ))?;
            }
            None => db.batch_execute(
                "RESET mailhygiene.job; RESET idle_in_transaction_session_timeout",
            )?,
        }
        drop(db);
        // A worker's open batch must not outlast a third of its lease: a
        // transaction idle past the lease is ended by the server.
        self.max_batch_age = claimed.map(|_| lease / 3);
        Ok(())
    }

    /// Records a held job's end. [`StoreError::LeaseLost`] when the lease
    /// ended first: then nothing is recorded (another worker holds the job,
    /// or will). The last scan job of a run queues the job that finishes it.
    pub fn finish_job(
        &mut self,
        claimed: &Claimed,
        outcome: &JobOutcome,
    ) -> Result<(), StoreError> {
        self.commit_pending()?;
        let state = if outcome.failed.is_some() {
            "failed"
        } else {
            "done"
        };
        let mut db = self.session()?;
        let mut tx = db.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&QUEUE_LOCK])?;
        let changed = tx.execute(
            "UPDATE jobs SET state = $3, error = $4, messages = $5, unread = $6,
               finished_at = clock_timestamp(), lease_until = NULL
             WHERE id = $1 AND fence = $2 AND state = 'leased' AND lease_until > clock_timestamp()",
            &[
                &claimed.job,
                &claimed.fence,
                &state,
                &outcome.failed,
                &to_i64(outcome.messages),
                &to_i64(outcome.unread),
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::LeaseLost);
        }
        if claimed.kind == JobKind::Scan {
            add_finish_job(&mut tx, claimed.run)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Holds the job's mailbox on this session against every other writer
    /// of it (a `clean` on another host, say: see
    /// [`Runs::hold_mailboxes`]); false when another holds it. A finishing
    /// job has no mailbox and is always held.
    pub fn hold_job_mailbox(&mut self, claimed: &Claimed) -> Result<bool, StoreError> {
        match &claimed.source {
            Some(source) => super::try_hold_mailbox(&mut *self.write()?, source),
            None => Ok(true),
        }
    }

    /// Lets the job's mailbox go (the job ended).
    pub fn release_job_mailbox(&mut self, claimed: &Claimed) -> Result<(), StoreError> {
        match &claimed.source {
            Some(source) => super::release_mailbox(&mut *self.write()?, source),
            None => Ok(()),
        }
    }

    /// Gives a claimed job back, not to be claimed again for `pause`, the
    /// claim not counted as an attempt: its mailbox was busy.
    pub fn give_back(&mut self, claimed: &Claimed, pause: Duration) -> Result<(), StoreError> {
        self.commit_pending()?;
        self.session()?.execute(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, holder = NULL,
               lease_until = NULL, not_before = clock_timestamp() + $3::bigint * interval '1 millisecond'
             WHERE id = $1 AND fence = $2 AND state = 'leased'",
            &[&claimed.job, &claimed.fence, &millis(pause)],
        )?;
        Ok(())
    }

    /// Whether this worker still holds `claimed` (asked after a job's
    /// session failed: a lost lease, or a store fault).
    pub fn holds(&self, claimed: &Claimed) -> Result<bool, StoreError> {
        Ok(self
            .db()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND fence = $2
                   AND state = 'leased' AND lease_until > clock_timestamp())",
                &[&claimed.job, &claimed.fence],
            )?
            .get(0))
    }

    /// How the jobs of `run` stand.
    pub fn run_jobs(&self, run: RunId) -> Result<RunJobs, StoreError> {
        let mut jobs = RunJobs::default();
        for row in self.db()?.query(
            "SELECT state, count(*) FROM jobs WHERE run = $1 AND kind = 'scan' GROUP BY state",
            &[&run],
        )? {
            let n = row.get::<_, i64>(1).max(0) as u64;
            match row.get::<_, String>(0).as_str() {
                "queued" => jobs.queued += n,
                "leased" => jobs.leased += n,
                "done" => jobs.done += n,
                _ => jobs.failed += n,
            }
        }
        Ok(jobs)
    }

    /// The mailboxes of a run's scan jobs, in the order queued, as each
    /// ended (or stands: a job not ended counts as failed).
    pub fn run_mailboxes(&self, run: RunId) -> Result<Vec<EndedJob>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT source,
                        CASE WHEN state = 'done' THEN NULL
                             WHEN state = 'failed' THEN coalesce(error, 'failed')
                             ELSE 'not scanned: its job is ' || state END,
                        messages, unread
                 FROM jobs WHERE run = $1 AND kind = 'scan' ORDER BY id",
                &[&run],
            )?
            .iter()
            .map(|r| EndedJob {
                source: r.get(0),
                failed: r.get(1),
                messages: r.get::<_, i64>(2).max(0) as u64,
                unread: r.get::<_, i64>(3).max(0) as u64,
            })
            .collect())
    }

    /// Whether any job is queued or held (a worker with `--until-idle`
    /// stops when none is).
    pub fn jobs_open(&self) -> Result<bool, StoreError> {
        Ok(self
            .db()?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM jobs WHERE state IN ('queued', 'leased'))",
                &[],
            )?
            .get(0))
    }

    /// Live leases per tenant now (what the caps bound).
    pub fn live_leases(&self) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(self
            .db()?
            .query(
                "SELECT tenant, count(*) FROM jobs
                 WHERE state = 'leased' AND lease_until > clock_timestamp() AND tenant IS NOT NULL
                 GROUP BY tenant ORDER BY tenant",
                &[],
            )?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }
}

/// Queues the job that finishes `run` once its last scan job has ended
/// (and only once). Called under [`QUEUE_LOCK`].
fn add_finish_job(tx: &mut Transaction<'_>, run: RunId) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO jobs (run, kind)
         SELECT $1, 'finish'
         WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE run = $1 AND (kind = 'finish'
                 OR (kind = 'scan' AND state IN ('queued', 'leased'))))",
        &[&run],
    )?;
    Ok(())
}

/// What the worker's scan learns from its [`LeaseKeeper`].
#[derive(Debug, Default)]
pub struct LeaseState {
    lost: AtomicBool,
    /// Until when (milliseconds since the Unix epoch, the server's clock)
    /// the tenant is paused; 0 when it is not.
    paused_until_ms: AtomicU64,
    /// The server's clock minus this host's, in milliseconds, as last seen.
    skew_ms: std::sync::atomic::AtomicI64,
}

impl LeaseState {
    /// The lease ended (renewal refused): the worker's writes will be too.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// How long the tenant is still paused, by this host's clock.
    pub fn paused_for(&self) -> Duration {
        let until = self.paused_until_ms.load(Ordering::SeqCst) as i64;
        if until == 0 {
            return Duration::ZERO;
        }
        let server_now =
            chrono::Utc::now().timestamp_millis() + self.skew_ms.load(Ordering::SeqCst);
        Duration::from_millis((until - server_now).max(0) as u64)
    }
}

enum KeeperCall {
    Throttled(Duration),
    Stop,
}

/// Keeps a held job's lease: renews it at a third of its length on a
/// session of its own, shares a throttling reply with every worker of the
/// tenant (the tenant's pause and lowered cap), and reads the tenant's
/// pause for this worker's connections. Stops when dropped.
pub struct LeaseKeeper {
    calls: mpsc::Sender<KeeperCall>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub state: Arc<LeaseState>,
}

impl LeaseKeeper {
    /// Starts keeping `claimed` (already held for `lease`).
    pub fn start(
        connector: &Connector,
        claimed: &Claimed,
        lease: Duration,
    ) -> Result<LeaseKeeper, StoreError> {
        let mut session = connector.connect()?;
        let state = Arc::new(LeaseState::default());
        let (calls, inbox) = mpsc::channel();
        let (job, fence, tenant) = (claimed.job, claimed.fence, claimed.tenant.clone());
        let shared = state.clone();
        // Renewed at a third of the lease; the tenant's pause is read more
        // often, so a throttling reply to one worker holds the others soon.
        let renew_every = lease / 3;
        let tick = renew_every.min(Duration::from_millis(250));
        let thread = std::thread::Builder::new()
            .name(format!("mailhygiene-lease-{job}"))
            .spawn(move || {
                let mut last_renewal = std::time::Instant::now();
                loop {
                    match inbox.recv_timeout(tick) {
                        Ok(KeeperCall::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        Ok(KeeperCall::Throttled(wait)) => {
                            if let Some(tenant) = &tenant
                                && let Err(e) = pause_tenant(&mut session, tenant, wait)
                            {
                                tracing::warn!(job, "could not share a throttling pause: {e}");
                            }
                        }
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                    }
                    if last_renewal.elapsed() >= renew_every {
                        last_renewal = std::time::Instant::now();
                        match renew(&mut session, job, fence, lease) {
                            Ok(true) => {}
                            Ok(false) => {
                                tracing::warn!(
                                    job,
                                    "the lease ended: another worker may hold the mailbox now"
                                );
                                shared.lost.store(true, Ordering::SeqCst);
                                return;
                            }
                            // A failed renewal is retried at the next tick;
                            // the lease itself says when it is too late.
                            Err(e) => tracing::warn!(job, "renewing the lease: {e}"),
                        }
                    }
                    if let Some(tenant) = &tenant {
                        match read_pause(&mut session, tenant) {
                            Ok((until, skew)) => {
                                shared.paused_until_ms.store(until, Ordering::SeqCst);
                                shared.skew_ms.store(skew, Ordering::SeqCst);
                            }
                            Err(e) => tracing::debug!(job, "reading the tenant's pause: {e}"),
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Invalid(format!("cannot start the lease keeper: {e}")))?;
        Ok(LeaseKeeper {
            calls,
            thread: Some(thread),
            state,
        })
    }

    /// A server asked one of this worker's connections to wait.
    pub fn throttled(&self, wait: Duration) {
        let _ = self.calls.send(KeeperCall::Throttled(wait));
    }

    /// A handle that reports throttling replies from other threads.
    pub fn reports(&self) -> ThrottleReports {
        ThrottleReports {
            calls: std::sync::Mutex::new(self.calls.clone()),
        }
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        let _ = self.calls.send(KeeperCall::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reports throttling replies to a [`LeaseKeeper`] from any thread.
pub struct ThrottleReports {
    calls: std::sync::Mutex<mpsc::Sender<KeeperCall>>,
}

impl ThrottleReports {
    /// A server asked one of the worker's connections to wait.
    pub fn throttled(&self, wait: Duration) {
        if let Ok(calls) = self.calls.lock() {
            let _ = calls.send(KeeperCall::Throttled(wait));
        }
    }
}

/// Extends the lease by `lease` from now, only while it is still held.
fn renew(session: &mut Client, job: i64, fence: i64, lease: Duration) -> Result<bool, StoreError> {
    Ok(session.execute(
        "UPDATE jobs SET lease_until = clock_timestamp() + $3::bigint * interval '1 millisecond'
         WHERE id = $1 AND fence = $2 AND state = 'leased' AND lease_until > clock_timestamp()",
        &[&job, &fence, &millis(lease)],
    )? == 1)
}

/// Pauses every worker of `tenant` for `wait` and halves its cap (at most
/// once per pause: the replies of many connections to one throttling
/// episode lower it once).
fn pause_tenant(session: &mut Client, tenant: &str, wait: Duration) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE tenants t SET
           paused_until = greatest(coalesce(t.paused_until, clock_timestamp()),
                                   clock_timestamp() + $2::bigint * interval '1 millisecond'),
           lowered_to = CASE WHEN t.paused_until IS NOT NULL AND t.paused_until > clock_timestamp()
                             THEN t.lowered_to ELSE greatest(1, ({EFFECTIVE_CAP}) / 2) END,
           lowered_at = CASE WHEN t.paused_until IS NOT NULL AND t.paused_until > clock_timestamp()
                             THEN t.lowered_at ELSE clock_timestamp() END
         WHERE t.name = $1"
    );
    session.execute(&sql, &[&tenant, &millis(wait)])?;
    Ok(())
}

/// The tenant's pause (ms since the epoch, 0 when none) and the server's
/// clock minus this host's.
fn read_pause(session: &mut Client, tenant: &str) -> Result<(u64, i64), StoreError> {
    let row = session.query_one(
        "SELECT coalesce((extract(epoch FROM paused_until) * 1000)::bigint, 0),
                (extract(epoch FROM clock_timestamp()) * 1000)::bigint
         FROM tenants WHERE name = $1",
        &[&tenant],
    )?;
    let until: i64 = row.get(0);
    let server_now: i64 = row.get(1);
    Ok((
        until.max(0) as u64,
        server_now - chrono::Utc::now().timestamp_millis(),
    ))
}

#[cfg(test)]
mod tests;
