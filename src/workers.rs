//! Many workers, one organisation: a scan run queued in a shared
//! PostgreSQL store (`scan --enqueue`), and workers on any number of hosts
//! (`worker`) that take its mailboxes one job at a time.
//!
//! A worker claims a job under a lease and a fencing token
//! ([`crate::store::postgres::queue`]): the database refuses every write
//! of a worker whose lease ended, so a worker that was paused or cut off
//! past it cannot write over the one that took the mailbox over. A
//! mailbox whose worker died is claimed again once its lease runs out and
//! resumes from its folder cursors, as a rescan does. The tenant's
//! connection budget and a throttling pause are rows every host reads.
//! The last mailbox's job queues one that finishes the run: its status,
//! the compliance history, the audit entry, exactly as a one-process scan
//! ends.

use crate::engine::Engine;
use crate::imap::pace::SharedPause;
use crate::scan::stateful::{self, Keeping, Scanned, StatefulError};
use crate::scan::{ImapSettings, NamedSource, Progress, RunStats};
use crate::source::SourceSpec;
use crate::store::postgres::queue::{
    Claimed, JobKind, JobOutcome, LeaseKeeper, LeaseState, QueuedMailbox, ThrottleReports,
};
use crate::store::postgres::{Connector, PostgresStore};
use crate::store::prelude::*;
use crate::store::{RunId, RunKind, StoreError};
use chrono::NaiveDate;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The default lease (`--lease`, `[limits] lease`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(300);
/// The default cap of live leases per tenant (`[limits] tenant_connections`):
/// Exchange Online allows about 20 concurrent IMAP connections.
pub const DEFAULT_TENANT_CONNECTIONS: u32 = 20;
/// Claims of one job before it is given up (its workers kept dying).
pub const MAX_ATTEMPTS: u32 = 5;
/// The longest an idle worker waits before asking for a job again.
pub const MAX_IDLE_WAIT: Duration = Duration::from_secs(5);
/// How long a job whose mailbox another writer holds waits before it is
/// claimed again.
const MAILBOX_BUSY_PAUSE: Duration = Duration::from_secs(5);

/// The tenant a mailbox draws its budget from and that tenant's cap: its
/// configured account's (see [`crate::config::Account::budget_tenant`]),
/// else its server (local sources share one, `local`).
pub fn budget_of(
    source: &NamedSource,
    account: Option<&crate::config::Account>,
    default_cap: u32,
) -> (String, u32) {
    let tenant = match (account, &source.spec) {
        (Some(a), _) => a.budget_tenant(),
        (None, SourceSpec::Imap(url)) => url.host.to_ascii_lowercase(),
        _ => "local".to_string(),
    };
    let cap = account
        .and_then(|a| a.tenant_connections)
        .unwrap_or(default_cap);
    (tenant, cap)
}

/// Queues a scan run of `named` (each with its tenant and cap) and returns its id:
/// the store's key checked, the mailboxes registered, one job each, and
/// the queuing recorded in the audit trail.
pub fn enqueue(
    store: &mut PostgresStore,
    engine: &Engine,
    named: &[(NamedSource, (String, u32))],
    as_of: NaiveDate,
    full: bool,
) -> Result<RunId, StatefulError> {
    let sources: Vec<NamedSource> = named.iter().map(|(s, _)| s.clone()).collect();
    stateful::prepare(store, &engine.detectors.fingerprinter, &sources, full)?;
    let run = store.begin_run(RunKind::Scan, as_of, chrono::Utc::now())?;
    // Mailboxes of one tenant from accounts with other caps: the smallest
    // holds for the tenant.
    let mut smallest: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    for (_, (tenant, cap)) in named {
        let least = smallest.entry(tenant.as_str()).or_insert(*cap);
        *least = (*least).min(*cap);
    }
    let queued: Vec<QueuedMailbox> = named
        .iter()
        .map(|(s, (tenant, cap))| QueuedMailbox {
            source: s.given.clone(),
            tenant: tenant.clone(),
            cap: smallest.get(tenant.as_str()).copied().unwrap_or(*cap),
        })
        .collect();
    store.enqueue(run, &queued, full)?;
    store
        .audit(
            "scan queued",
            None,
            serde_json::json!({
                "run": run,
                "sources": named.iter().map(|(s, _)| s.given.as_str()).collect::<Vec<_>>(),
                "as_of": as_of.to_string(),
                "full": full,
            }),
        )
        .map_err(StatefulError::Audit)?;
    Ok(run)
}

/// How a worker works.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub lease: Duration,
    /// Stop when no job is queued or held (else wait for more).
    pub until_idle: bool,
    /// How long to wait before asking again when no job is free, at
    /// first; it doubles while none is, up to [`MAX_IDLE_WAIT`] (a run's
    /// last job is taken soon after it is queued, and an idle fleet asks
    /// rarely).
    pub idle_wait: Duration,
    /// This worker's name in the queue (`mailhygiene pid N on HOST`).
    pub holder: String,
    pub keep_years: u32,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Worked {
    /// Jobs it finished (scans and run endings).
    pub jobs: u64,
    /// Of those, mailboxes that failed.
    pub failed: u64,
    /// Jobs whose lease ended before it finished them (another worker
    /// takes them over; nothing this worker wrote after that was kept).
    pub lost: u64,
    pub messages: u64,
}

/// The tenant's shared pause as the IMAP edge sees it: replies reported
/// to the lease keeper, the pause read from what it last saw.
struct TenantPause {
    reports: ThrottleReports,
    state: Arc<LeaseState>,
}

impl std::fmt::Debug for TenantPause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantPause").finish_non_exhaustive()
    }
}

impl SharedPause for TenantPause {
    fn throttled(&self, wait: Duration) {
        self.reports.throttled(wait);
    }
    fn remaining(&self) -> Duration {
        self.state.paused_for()
    }
}

/// What a worker scans with: the engine, the configured mailboxes (a job
/// names one by its source), the thread pool, the IMAP settings.
pub struct Scanning<'a> {
    pub engine: &'a Engine,
    pub named: &'a [NamedSource],
    pub pool: &'a rayon::ThreadPool,
    pub progress: &'a dyn Progress,
    pub imap: &'a ImapSettings,
}

/// Works jobs until `stop` is set, or (with `until_idle`) until none is
/// queued or held, starting with the session `store`; `open` opens another
/// when a job's session failed (its lease ended mid-transaction, say). One mailbox's failure never stops the worker; a store that
/// cannot be reached does.
pub fn work(
    connector: &Connector,
    mut store: PostgresStore,
    open: &dyn Fn() -> Result<PostgresStore, StoreError>,
    scanning: &Scanning<'_>,
    settings: &WorkerSettings,
    stop: &AtomicBool,
) -> Result<Worked, StatefulError> {
    let mut worked = Worked::default();
    if !stateful::same_fingerprint_key(&store, &scanning.engine.detectors.fingerprinter)? {
        return Err(StatefulError::Store(StoreError::Invalid(
            "the store has no queued scan yet (its fingerprint key is set by `scan --enqueue`)"
                .into(),
        )));
    }
    let mut idle = settings.idle_wait;
    while !stop.load(Ordering::SeqCst) {
        let Some(job) = store.claim(&settings.holder, settings.lease, MAX_ATTEMPTS)? else {
            if settings.until_idle && !store.jobs_open()? {
                break;
            }
            sleep_unless_stopped(idle, stop);
            // A worker told to stop when idle is part of a run someone
            // waits for: it looks again within a second.
            let most = if settings.until_idle {
                Duration::from_secs(1)
            } else {
                MAX_IDLE_WAIT
            };
            idle = (idle * 2).min(most);
            continue;
        };
        idle = settings.idle_wait;
        tracing::info!(job = job.job, run = job.run, source = ?job.source, attempt = job.attempt, "claimed");
        if !store.hold_job_mailbox(&job)? {
            // Another writer (a `clean` somewhere) has the mailbox: the job
            // waits for it, the worker goes on with others.
            tracing::info!(job = job.job, source = ?job.source, "the mailbox is busy; the job is given back");
            store.give_back(&job, MAILBOX_BUSY_PAUSE)?;
            continue;
        }
        store.hold(Some(&job), settings.lease)?;
        let keeper = LeaseKeeper::start(connector, &job, settings.lease)?;
        let result = match job.kind {
            JobKind::Scan => scan_job(&mut store, &job, scanning, &keeper),
            JobKind::Finish => finish_job(&mut store, &job, scanning.engine, settings),
        };
        let recorded = match result {
            Ok(outcome) => store.finish_job(&job, &outcome).map(|()| outcome),
            Err(e) => Err(e),
        };
        drop(keeper);
        match recorded {
            Ok(outcome) => {
                worked.jobs += 1;
                worked.messages += outcome.messages;
                worked.failed += u64::from(outcome.failed.is_some());
                store.hold(None, settings.lease)?;
                store.release_job_mailbox(&job)?;
            }
            Err(e) => {
                // The session may be gone (the server ends one left idle in
                // a transaction past its lease): ask a fresh one whether the
                // lease still holds.
                store = open()?;
                if matches!(e, StoreError::LeaseLost) || !store.holds(&job)? {
                    tracing::warn!(job = job.job, source = ?job.source, "the lease ended before the job did: another worker takes it over; nothing written after the lease was kept");
                    eprintln!(
                        "mailhygiene: job {} ({}): the lease ended before the job did; another worker takes it over",
                        job.job,
                        job.source.as_deref().unwrap_or("finishing the run")
                    );
                    worked.lost += 1;
                } else {
                    // A store fault mid-job: the lease runs out and a
                    // later claim (this worker's or another's) retries it.
                    tracing::error!(job = job.job, "the job stopped: {e}");
                    eprintln!(
                        "mailhygiene: job {} ({}) stopped: {e}; it is retried after its lease",
                        job.job,
                        job.source.as_deref().unwrap_or("finishing the run")
                    );
                }
            }
        }
    }
    Ok(worked)
}

fn sleep_unless_stopped(wait: Duration, stop: &AtomicBool) {
    let step = Duration::from_millis(50);
    let mut slept = Duration::ZERO;
    while slept < wait && !stop.load(Ordering::SeqCst) {
        std::thread::sleep(step);
        slept += step;
    }
}

/// Scans a job's mailbox into its run. A mailbox that fails is an
/// outcome (the job failed for good, the mailbox's record says why); a
/// store that fails is an error.
fn scan_job(
    store: &mut PostgresStore,
    job: &Claimed,
    scanning: &Scanning<'_>,
    keeper: &LeaseKeeper,
) -> Result<JobOutcome, StoreError> {
    let source = job.source.as_deref().unwrap_or_default();
    let Some(named) = scanning.named.iter().find(|s| s.given == source) else {
        let why = format!("{source} is not among this worker's configured mailboxes");
        store.mailbox_scanned(source, chrono::Utc::now(), "failed", Some(&why))?;
        return Ok(JobOutcome {
            failed: Some(why),
            ..JobOutcome::default()
        });
    };
    let mut imap = scanning.imap.clone();
    imap.full = job.full;
    imap.options.shared_pause = Some(Arc::new(TenantPause {
        reports: keeper.reports(),
        state: keeper.state.clone(),
    }));
    let stats: RunStats = stateful::scan_mailboxes(
        store,
        job.run,
        scanning.engine,
        std::slice::from_ref(named),
        scanning.pool,
        None,
        scanning.progress,
        &imap,
    )
    .map_err(|e| match e {
        StatefulError::Store(e) => e,
        other => StoreError::Invalid(other.to_string()),
    })?;
    Ok(JobOutcome {
        failed: stats.failures.first().map(|(_, why)| why.clone()),
        messages: stats.messages,
        unread: stats.incomplete_messages,
    })
}

/// Ends a run whose mailboxes' jobs all ended, as a one-process scan ends
/// (see [`stateful::finish_run`]).
fn finish_job(
    store: &mut PostgresStore,
    job: &Claimed,
    engine: &Engine,
    settings: &WorkerSettings,
) -> Result<JobOutcome, StoreError> {
    let ended = store.run_mailboxes(job.run)?;
    let mailboxes: Vec<Scanned> = ended
        .iter()
        .map(|e| Scanned {
            source: e.source.clone(),
            failed: e.failed.clone(),
        })
        .collect();
    let messages: u64 = ended.iter().map(|e| e.messages).sum();
    let unread: u64 = ended.iter().map(|e| e.unread).sum();
    stateful::finish_run(
        store,
        job.run,
        &mailboxes,
        messages,
        unread == 0,
        &engine.rules,
        &Keeping {
            as_of: job.as_of,
            full: job.full,
            stale_only: false,
            keep_years: settings.keep_years,
        },
    )
    .map_err(|e| match e {
        StatefulError::Store(e) | StatefulError::Audit(e) => e,
        other => StoreError::Invalid(other.to_string()),
    })?;
    Ok(JobOutcome::default())
}
