//! The queue's guarantees against a private server: a worker whose lease
//! ended cannot write (by fence, by expiry, or by committing a transaction
//! it left open past the lease), claims respect tenant caps and pauses,
//! each job is claimed by one worker at a time, a run is finished once, and
//! a job that keeps killing its workers is given up.

use super::super::private_server::{PASSWORD, Postgres};
use super::*;
use crate::model::{Envelope, MessageMeta, MessageReport, TextSignals};

fn connector(server: &Postgres, dir: &std::path::Path) -> Connector {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("password");
    std::fs::write(&file, PASSWORD).expect("password file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let db = server.create_database("q");
    Connector::new(
        Target::parse(&server.url(&db)).expect("url"),
        &PasswordSource {
            env: None,
            file: Some(file),
        },
    )
    .expect("connector")
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 7).expect("date")
}

fn mailboxes(tenant: &str, n: usize, cap: u32) -> Vec<QueuedMailbox> {
    (0..n)
        .map(|i| QueuedMailbox {
            source: format!("imaps://u{i}@{tenant}.test"),
            tenant: tenant.into(),
            cap,
        })
        .collect()
}

fn queued_run(store: &mut PostgresStore, tenant: &str, n: usize, cap: u32) -> RunId {
    let run = store
        .begin_run(RunKind::Scan, day(), Utc::now())
        .expect("run");
    store
        .enqueue(run, &mailboxes(tenant, n, cap), false)
        .expect("enqueue");
    run
}

fn message(uid: u32) -> MessageReport {
    MessageReport {
        meta: MessageMeta {
            uid: Some(uid),
            uid_validity: Some(7),
            ..MessageMeta::local("INBOX", 100, format!("INBOX UID {uid}"))
        },
        envelope: Envelope::default(),
        date: None,
        findings: vec![],
        stale: None,
        problems: vec![],
        signals: TextSignals::default(),
    }
}

const LONG: Duration = Duration::from_secs(60);

#[test]
fn a_worker_whose_lease_ended_cannot_write() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = connector(&server, dir.path());
    let mut first = PostgresStore::open(&c).expect("open");
    let mut second = PostgresStore::open(&c).expect("open");
    queued_run(&mut first, "t", 1, 5);

    let short = Duration::from_millis(800);
    let job = first
        .claim("first", short, 5)
        .expect("claim")
        .expect("a job");
    assert_eq!((job.kind, job.fence, job.attempt), (JobKind::Scan, 1, 1));
    first.hold(Some(&job), short).expect("hold");
    first
        .set_setting("written", "while held")
        .expect("a held lease writes");

    // Paused past the lease (nothing renews it): every write is refused.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(matches!(
        first.set_setting("written", "after the lease"),
        Err(StoreError::LeaseLost)
    ));
    // Another worker takes the job over under a new fence.
    let taken = second
        .claim("second", LONG, 5)
        .expect("claim")
        .expect("the job again");
    assert_eq!((taken.job, taken.fence, taken.attempt), (job.job, 2, 2));
    second.hold(Some(&taken), LONG).expect("hold");
    second
        .set_setting("written", "by the second")
        .expect("the new holder writes");
    // The first, held again under its old fence (as if it had renewed in
    // time), is still refused: the fence moved on.
    first.hold(Some(&job), LONG).expect("hold");
    assert!(matches!(
        first.set_setting("written", "stale fence"),
        Err(StoreError::LeaseLost)
    ));
    assert!(matches!(
        first.finish_job(&job, &JobOutcome::default()),
        Err(StoreError::LeaseLost)
    ));
    second
        .finish_job(&taken, &JobOutcome::default())
        .expect("the holder finishes");
    second.hold(None, LONG).expect("release");
    assert_eq!(
        second.setting("written").expect("read").as_deref(),
        Some("by the second")
    );
    // Renewal is refused once a lease has run out, too.
    let mut session = c.connect().expect("session");
    assert!(!renew(&mut session, job.job, job.fence, LONG).expect("renew"));
}

#[test]
fn a_transaction_left_open_past_the_lease_is_never_committed() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = connector(&server, dir.path());
    let mut worker = PostgresStore::open(&c).expect("open");
    let run = queued_run(&mut worker, "t", 1, 5);
    let lease = Duration::from_millis(900);
    let job = worker.claim("w", lease, 5).expect("claim").expect("a job");
    worker.hold(Some(&job), lease).expect("hold");
    let source = job.source.clone().expect("a mailbox");
    worker.record(run, &source, &message(1)).expect("record");
    // A read writes what is buffered: the insert runs inside the open
    // batch while the lease holds ...
    worker.holds_messages(&source).expect("read");
    // ... then the worker stops, mid-transaction, past its lease.
    std::thread::sleep(Duration::from_millis(2000));
    assert!(worker.flush().is_err(), "the late commit is refused");
    let reader = PostgresStore::open(&c).expect("open");
    assert!(
        !reader.holds_messages(&source).expect("read"),
        "nothing of the open batch was kept"
    );
    // Renewed in time, the same steps commit.
    let mut other = PostgresStore::open(&c).expect("open");
    let again = other.claim("w2", LONG, 5).expect("claim").expect("the job");
    other.hold(Some(&again), LONG).expect("hold");
    other.record(run, &source, &message(1)).expect("record");
    other.flush().expect("commits while held");
    assert!(reader.holds_messages(&source).expect("read"));
}

#[test]
fn claims_keep_to_each_tenants_cap_and_pause() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = connector(&server, dir.path());
    let mut s = PostgresStore::open(&c).expect("open");
    queued_run(&mut s, "a", 6, 2);
    queued_run(&mut s, "b", 6, 3);
    let mut held = Vec::new();
    while let Some(job) = s.claim("w", LONG, 5).expect("claim") {
        held.push(job);
    }
    let per = |t: &str, jobs: &[Claimed]| {
        jobs.iter()
            .filter(|j| j.tenant.as_deref() == Some(t))
            .count()
    };
    assert_eq!((per("a", &held), per("b", &held)), (2, 3));
    assert_eq!(
        s.live_leases().expect("leases"),
        vec![("a".to_string(), 2), ("b".to_string(), 3)]
    );
    // A throttling reply pauses tenant a for everyone and halves its cap.
    let mut session = c.connect().expect("session");
    pause_tenant(&mut session, "a", Duration::from_millis(1500)).expect("pause");
    // A second reply within the same pause does not halve it again.
    pause_tenant(&mut session, "a", Duration::from_millis(100)).expect("pause");
    for j in held.iter().filter(|j| j.tenant.as_deref() == Some("a")) {
        s.hold(Some(j), LONG).expect("hold");
        s.finish_job(j, &JobOutcome::default()).expect("done");
    }
    s.hold(None, LONG).expect("release");
    assert_eq!(
        s.claim("w", LONG, 5).expect("claim"),
        None,
        "a paused tenant is not claimed, even with room under its cap"
    );
    let (until, _) = read_pause(&mut session, "a").expect("pause");
    assert!(until > 0);
    std::thread::sleep(Duration::from_millis(1600));
    let next = s
        .claim("w", LONG, 5)
        .expect("claim")
        .expect("after the pause");
    assert_eq!(next.tenant.as_deref(), Some("a"));
    assert_eq!(
        s.claim("w", LONG, 5).expect("claim"),
        None,
        "the cap was lowered from 2 to 1"
    );
}

#[test]
fn each_job_is_claimed_by_one_worker_and_a_run_is_finished_once() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = std::sync::Arc::new(connector(&server, dir.path()));
    let mut s = PostgresStore::open(&c).expect("open");
    let run = queued_run(&mut s, "t", 40, 100);
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut s = PostgresStore::open(&c).expect("open");
                let mut mine = Vec::new();
                while let Some(job) = s.claim(&format!("w{w}"), LONG, 5).expect("claim") {
                    s.hold(Some(&job), LONG).expect("hold");
                    s.finish_job(&job, &JobOutcome::default()).expect("done");
                    mine.push((job.kind, job.source));
                }
                mine
            })
        })
        .collect();
    let mut all: Vec<(JobKind, Option<String>)> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let finishes = all.iter().filter(|(k, _)| *k == JobKind::Finish).count();
    all.retain(|(k, _)| *k == JobKind::Scan);
    let mut sources: Vec<String> = all.into_iter().filter_map(|(_, s)| s).collect();
    sources.sort();
    let mut expected: Vec<String> = mailboxes("t", 40, 1)
        .into_iter()
        .map(|m| m.source)
        .collect();
    expected.sort();
    assert_eq!(sources, expected, "every mailbox once, none twice");
    assert_eq!(finishes, 1, "one job finishes the run");
    assert_eq!(
        s.run_jobs(run).expect("jobs"),
        RunJobs {
            done: 40,
            ..RunJobs::default()
        }
    );
    assert!(!s.jobs_open().expect("open jobs"));
}

#[test]
fn a_job_that_keeps_stopping_its_workers_is_given_up() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = connector(&server, dir.path());
    let mut s = PostgresStore::open(&c).expect("open");
    let source = mailboxes("t", 1, 5)[0].source.clone();
    s.register_mailbox(&MailboxRecord {
        source: source.clone(),
        ..MailboxRecord::default()
    })
    .expect("registered");
    let run = queued_run(&mut s, "t", 1, 5);
    let short = Duration::from_millis(300);
    for attempt in 1..=2 {
        let job = s.claim("w", short, 2).expect("claim").expect("the job");
        assert_eq!(job.attempt, attempt);
        std::thread::sleep(Duration::from_millis(400)); // the worker died
    }
    let next = s.claim("w", LONG, 2).expect("claim").expect("a job");
    assert_eq!(next.kind, JobKind::Finish, "the run is finished without it");
    let listed = s.run_mailboxes(run).expect("mailboxes");
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0]
            .failed
            .as_deref()
            .is_some_and(|e| e.contains("stopped 2 times")),
        "{listed:?}"
    );
    assert_eq!(s.run_jobs(run).expect("jobs").failed, 1);
    let record = s
        .mailboxes()
        .expect("mailboxes")
        .into_iter()
        .find(|m| m.source == source)
        .expect("the mailbox");
    assert_eq!(record.last_status.as_deref(), Some("failed"));
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("its scan job failed")),
        "{record:?}"
    );
}

#[test]
fn every_table_of_the_store_is_fenced() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = connector(&server, dir.path());
    PostgresStore::open(&c).expect("open");
    let mut session = c.connect().expect("session");
    let unfenced: Vec<String> = session
        .query(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = current_schema() AND c.relkind = 'r'
               AND c.relname NOT IN ('jobs', 'tenants', 'mailhygiene_schema')
               AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid
                               AND t.tgname = c.relname || '_fenced')
             ORDER BY 1",
            &[],
        )
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        unfenced,
        Vec::<String>::new(),
        "a table a worker could write unfenced"
    );
}

#[test]
fn a_mailbox_held_by_one_writer_is_refused_to_the_others_and_its_job_waits() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let c = connector(&server, dir.path());
    let mut cleaner = PostgresStore::open(&c).expect("open");
    let mut other = PostgresStore::open(&c).expect("open");
    let mut worker = PostgresStore::open(&c).expect("open");
    queued_run(&mut worker, "t", 2, 5);
    let first = mailboxes("t", 2, 5)[0].source.clone();
    let second = mailboxes("t", 2, 5)[1].source.clone();
    // A `clean` on one host holds the first mailbox.
    cleaner
        .hold_mailboxes(std::slice::from_ref(&first), false)
        .expect("free");
    match other.hold_mailboxes(&[second.clone(), first.clone()], false) {
        Err(StoreError::Busy { path, holder }) => {
            assert!(path.contains(&first), "{path}");
            assert!(
                holder.contains(&format!("mailhygiene pid {}", std::process::id())),
                "{holder}"
            );
        }
        other => panic!("a held mailbox must be refused, got {other:?}"),
    }
    // A worker that claims its job does not scan it: the job goes back,
    // uncounted, not to be claimed for a while; the other mailbox's is.
    let job = worker.claim("w", LONG, 5).expect("claim").expect("a job");
    assert_eq!(job.source.as_deref(), Some(first.as_str()));
    assert!(!worker.hold_job_mailbox(&job).expect("try"));
    worker
        .give_back(&job, Duration::from_millis(600))
        .expect("given back");
    let next = worker.claim("w", LONG, 5).expect("claim").expect("a job");
    assert_eq!(next.source.as_deref(), Some(second.as_str()));
    assert!(worker.hold_job_mailbox(&next).expect("try"));
    // Held by the worker now: the second host's clean is refused there.
    assert!(matches!(
        other.hold_mailboxes(std::slice::from_ref(&second), false),
        Err(StoreError::Busy { .. })
    ));
    // The clean ends (its session with it): the first job is claimable
    // after its pause, as a first attempt.
    drop(cleaner);
    assert_eq!(worker.claim("w", LONG, 5).expect("claim"), None);
    std::thread::sleep(Duration::from_millis(700));
    let again = worker.claim("w", LONG, 5).expect("claim").expect("the job");
    assert_eq!((again.job, again.attempt), (job.job, 1));
    assert!(worker.hold_job_mailbox(&again).expect("free now"));
    worker.release_job_mailbox(&next).expect("released");
    other
        .hold_mailboxes(std::slice::from_ref(&second), false)
        .expect("free after the worker let it go");
}
