//! Many workers on one shared PostgreSQL store, against a real Dovecot and
//! a private PostgreSQL the tests start: worker processes killed and
//! paused mid-run leave the inventory a single-process scan makes (no
//! mailbox, folder or message missing or twice, the same findings), every
//! job done; a paused worker's lease is taken over and it writes nothing
//! after; tenant caps hold across workers (sampled) and a throttling reply
//! to one worker pauses its tenant for all.

mod support;

use assert_cmd::cargo::CommandCargoExt;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use support::dovecot::Dovecot;
use support::postgres::{PASSWORD, Postgres, USER};

const KEY: &str = "workers-test-key-0123456789";
const AS_OF: &str = "2026-12-07";
const PLANTED: &str = "15076500565";

fn message(user: &str, n: usize) -> Vec<u8> {
    let body = if n.is_multiple_of(7) {
        format!("Fødselsnummeret er {PLANTED}, som avtalt.")
    } else {
        format!("Melding {n} om prosjektet.")
    };
    format!(
        "Message-ID: <{n}.{user}>\r\nFrom: Kari <kari@example.test>\r\nTo: {user}\r\nSubject: Sak {n}\r\nDate: Wed, 1 Jan 2020 10:00:00 +0000\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// `count` users of a tenant, each with `per` messages in INBOX and a third
/// as many in a folder.
fn users(d: &Dovecot, tenant: &str, count: usize, per: usize) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("u{i}@{tenant}.test")).collect();
    d.add_users(&names, &format!("{tenant}-pass"));
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_880_000);
    for name in &names {
        let inbox: Vec<_> = (0..per)
            .map(|n| (format!("{n}.m"), "S", message(name, n), old))
            .collect();
        d.fill(name, "", &inbox);
        let folder: Vec<_> = (per..per + per / 3)
            .map(|n| (format!("{n}.m"), "", message(name, n), old))
            .collect();
        d.fill(name, ".Prosjekter", &folder);
    }
    names
}

struct Tenant<'a> {
    name: &'a str,
    port: u16,
    security: &'a str,
    cap: Option<u32>,
    users: &'a [String],
}

fn config(dir: &Path, tenants: &[Tenant<'_>]) -> std::path::PathBuf {
    let mut text = String::new();
    for t in tenants {
        let secret = dir.join(format!("{}.secret", t.name));
        std::fs::write(&secret, format!("{}-pass", t.name)).expect("secret");
        let list: Vec<String> = t.users.iter().map(|u| format!("\"{u}\"")).collect();
        text.push_str(&format!(
            "[[account]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"{}\"\nauth = \"password\"\npassword_file = \"{}\"\nmailboxes = [{}]\n{}\n",
            t.name,
            t.port,
            t.security,
            secret.display(),
            list.join(", "),
            t.cap
                .map(|c| format!("tenant_connections = {c}\n"))
                .unwrap_or_default()
        ));
    }
    let path = dir.join("config.toml");
    std::fs::write(&path, text).expect("config");
    path
}

fn mailhygiene(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
    cmd.env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", PASSWORD)
        .env("XDG_STATE_HOME", dir.join("state-home"))
        .env("MAILHYGIENE_IMAP_BACKOFF_MS", "50")
        .env_remove("MAILHYGIENE_STORE")
        .env_remove("MAILHYGIENE_CONFIG");
    cmd
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?}: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !stdout.contains(PLANTED) && !stderr.contains(PLANTED),
        "{cmd:?} shows the planted value"
    );
    assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD));
    stdout
}

/// The inventory as `report --format jsonl` prints it, one line per
/// message, sorted.
fn inventory(dir: &Path, store: &str) -> Vec<String> {
    let out = run_ok(mailhygiene(dir).args([
        "report", "--format", "jsonl", "--as-of", AS_OF, "--store", store,
    ]));
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

/// `scan --enqueue`: the run's id, printed on standard output.
fn enqueue(dir: &Path, config: &Path, store: &str) -> i64 {
    run_ok(
        mailhygiene(dir)
            .args(["scan", "--enqueue", "--allow-plaintext", "--config"])
            .arg(config)
            .args(["--store", store, "--as-of", AS_OF]),
    )
    .trim()
    .parse()
    .expect("the run's id on standard output")
}

fn sql(server: &Postgres, db: &str) -> postgres::Client {
    postgres::Client::connect(
        &format!(
            "host=127.0.0.1 port={} user={USER} password={PASSWORD} dbname={db}",
            server
                .url(db)
                .rsplit(':')
                .next()
                .and_then(|p| p.split('/').next())
                .expect("port")
        ),
        postgres::NoTls,
    )
    .expect("a test session")
}

fn spawn_worker(dir: &Path, config: &Path, store: &str, extra: &[&str], log: &str) -> Child {
    let stderr = std::fs::File::create(dir.join(log)).expect("log file");
    mailhygiene(dir)
        .args(["worker", "--config"])
        .arg(config)
        .args(["--store", store, "--until-idle", "--lease", "3s", "-q"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("a worker starts")
}

fn signal(child: &Child, which: &str) {
    let status = Command::new("kill")
        .args([which, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {which}");
}

fn wait_all(children: &mut [Child], limit: Duration) {
    let deadline = Instant::now() + limit;
    for child in children.iter_mut() {
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "a worker failed: {status:?}");
                break;
            }
            if Instant::now() > deadline {
                for c in children.iter_mut() {
                    let _ = c.kill();
                }
                panic!("the workers did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Whether `child` holds a lease now.
fn holds_a_lease(db: &mut postgres::Client, child: &Child) -> bool {
    db.query_one(
        "SELECT count(*) FROM jobs WHERE state = 'leased' AND lease_until > clock_timestamp()
           AND holder LIKE $1",
        &[&format!("mailhygiene pid {} on %", child.id())],
    )
    .expect("query")
    .get::<_, i64>(0)
        > 0
}

#[test]
fn killed_and_paused_workers_leave_the_inventory_one_scan_makes() {
    let d = Dovecot::start(None);
    let server = Postgres::start();
    let database = server.create_database("workers");
    let store = server.url(&database);
    let tmp = tempfile::tempdir().expect("tempdir");
    let east = users(&d, "east", 20, 300);
    let west = users(&d, "west", 20, 300);
    let config = config(
        tmp.path(),
        &[
            Tenant {
                name: "east",
                port: d.imap_port,
                security: "starttls",
                cap: None,
                users: &east,
            },
            Tenant {
                name: "west",
                port: d.imap_port,
                security: "starttls",
                cap: None,
                users: &west,
            },
        ],
    );
    // The reference: one process, one SQLite store.
    let reference = format!("sqlite:{}", tmp.path().join("reference.sqlite").display());
    run_ok(
        mailhygiene(tmp.path())
            .args(["scan", "--allow-plaintext", "--config"])
            .arg(&config)
            .args([
                "--store", &reference, "--as-of", AS_OF, "-q", "--format", "jsonl",
            ]),
    );
    let expected = inventory(tmp.path(), &reference);
    // Every message due (from 2020), and a national ID in every seventh.
    assert_eq!(
        expected.len(),
        40 * (400 + 58),
        "the reference scan read every message"
    );

    // The queued run.
    let run = enqueue(tmp.path(), &config, &store);
    let mut db = sql(&server, &database);
    // The test's own record of every statement that wrote the inventory
    // and committed, with the job and fence its session wrote under.
    db.batch_execute(
        "CREATE TABLE write_log (job TEXT, at TIMESTAMPTZ);
         CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             INSERT INTO write_log VALUES (current_setting('mailhygiene.job', true), clock_timestamp());
             RETURN NULL;
         END $$;
         CREATE TRIGGER messages_logged AFTER INSERT OR UPDATE OR DELETE ON messages
             FOR EACH STATEMENT EXECUTE FUNCTION log_write();
         CREATE TRIGGER cursors_logged AFTER INSERT OR UPDATE OR DELETE ON cursors
             FOR EACH STATEMENT EXECUTE FUNCTION log_write();
         CREATE TRIGGER findings_logged AFTER INSERT OR UPDATE OR DELETE ON findings
             FOR EACH STATEMENT EXECUTE FUNCTION log_write();",
    )
    .expect("the write log");
    // Each connection at an Exchange-like pace, so the run lasts long
    // enough to be interrupted.
    let pace = ["--pace", "200/s", "--allow-plaintext"];
    let worker = |log: &str| spawn_worker(tmp.path(), &config, &store, &pace, log);
    let mut workers = vec![worker("a.log"), worker("b.log"), worker("c.log")];
    // Kill one worker mid-job, twice.
    for round in 0..2 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !holds_a_lease(&mut db, &workers[0]) {
            assert!(Instant::now() < deadline, "worker a never held a job");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        signal(&workers[0], "-KILL");
        let _ = workers[0].wait();
        workers[0] = worker(&format!("a{round}.log"));
    }
    // Pause another past its lease while it holds a job it has written
    // to, then let it go on.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (paused_job, paused_fence) = loop {
        assert!(
            Instant::now() < deadline,
            "worker b never wrote under a job"
        );
        let held = db
            .query_opt(
                "SELECT id, fence FROM jobs WHERE state = 'leased' AND holder LIKE $1",
                &[&format!("mailhygiene pid {} on %", workers[1].id())],
            )
            .expect("b's job")
            .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)));
        if let Some((job, fence)) = held {
            let wrote: i64 = db
                .query_one(
                    "SELECT count(*) FROM write_log WHERE job = $1",
                    &[&format!("{job}:{fence}")],
                )
                .expect("log")
                .get(0);
            if wrote > 0 {
                break (job, fence);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    signal(&workers[1], "-STOP");
    std::thread::sleep(Duration::from_secs(8));
    let resumed: SystemTime = db
        .query_one("SELECT clock_timestamp()", &[])
        .expect("the server's clock")
        .get(0);
    signal(&workers[1], "-CONT");
    wait_all(&mut workers, Duration::from_secs(240));

    // Every job done, the run finished by one job, complete.
    let states: BTreeMap<String, i64> = db
        .query(
            "SELECT kind || ':' || state, count(*) FROM jobs WHERE run = $1 GROUP BY 1",
            &[&run],
        )
        .expect("jobs")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        states,
        BTreeMap::from([
            ("finish:done".to_string(), 1),
            ("scan:done".to_string(), 40)
        ])
    );
    let status: String = db
        .query_one("SELECT status FROM runs WHERE id = $1", &[&run])
        .expect("run")
        .get(0);
    assert_eq!(status, "complete");
    // The paused worker's job was taken over under a new fence, and the
    // paused worker said its lease had ended.
    let (fence, holder): (i64, String) = db
        .query_one(
            "SELECT fence, holder FROM jobs WHERE id = $1",
            &[&paused_job],
        )
        .map(|r| (r.get(0), r.get(1)))
        .expect("the paused job");
    assert!(fence >= 2, "the paused job was claimed again");
    assert!(
        !holder.contains(&format!("pid {} ", workers[1].id())),
        "another worker finished it: {holder}"
    );
    // What the paused worker wrote under its old fence, it wrote before it
    // was paused: nothing after it went on was accepted.
    let held = format!("{paused_job}:{paused_fence}");
    let (before, after): (i64, i64) = db
        .query_one(
            "SELECT count(*) FILTER (WHERE at < $2), count(*) FILTER (WHERE at >= $2)
             FROM write_log WHERE job = $1",
            &[&held, &resumed],
        )
        .map(|r| (r.get(0), r.get(1)))
        .expect("the write log");
    assert!(before > 0, "the paused worker wrote while it held the job");
    assert_eq!(
        after, 0,
        "writes accepted from a worker whose lease had ended"
    );
    let b_log = std::fs::read_to_string(tmp.path().join("b.log")).expect("log");
    assert!(
        b_log.contains("the lease ended before the job did"),
        "{b_log}"
    );
    // Jobs claimed more than once: at least the two killed and the paused.
    let retried: i64 = db
        .query_one(
            "SELECT count(*) FROM jobs WHERE run = $1 AND attempts > 1",
            &[&run],
        )
        .expect("retries")
        .get(0);
    assert!(retried >= 3, "{retried} jobs were claimed again");

    // The inventory equals the single-process scan's, message for message.
    let got = inventory(tmp.path(), &store);
    assert_eq!(got.len(), expected.len(), "no message missing or twice");
    assert_eq!(got, expected);
    // The compliance report is the same from either store of the
    // organisation (the run's own number and times aside).
    let compliance = |store: &str| {
        let out = run_ok(mailhygiene(tmp.path()).args([
            "report",
            "--compliance",
            "--format",
            "json",
            "--as-of",
            AS_OF,
            "--store",
            store,
        ]));
        let mut v: serde_json::Value = serde_json::from_str(&out).expect("json");
        let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
            .expect("regex");
        normalise(&mut v, &stamp);
        v
    };
    assert_eq!(compliance(&store), compliance(&reference));
    for log in ["a.log", "a0.log", "a1.log", "b.log", "c.log"] {
        let text = std::fs::read_to_string(tmp.path().join(log)).unwrap_or_default();
        assert!(!text.contains(PLANTED) && !text.contains(PASSWORD), "{log}");
    }
}

#[test]
fn tenant_caps_hold_across_workers_and_a_throttling_reply_pauses_the_tenant() {
    use support::proxy::{Fault, Proxy};
    let d = Dovecot::start(None);
    let server = Postgres::start();
    let database = server.create_database("caps");
    let store = server.url(&database);
    let tmp = tempfile::tempdir().expect("tempdir");
    let east = users(&d, "east", 10, 300);
    let west = users(&d, "west", 10, 300);
    // East's server throttles the first connection's first body fetch
    // ("Request is throttled. Suggested Backoff Time: 3000 milliseconds").
    let proxy = Proxy::start(
        d.imap_port,
        Fault::Throttle {
            times: 1,
            backoff_ms: 3000,
        },
    );
    let config = config(
        tmp.path(),
        &[
            Tenant {
                name: "east",
                port: proxy.port,
                security: "starttls",
                cap: Some(2),
                users: &east,
            },
            Tenant {
                name: "west",
                port: d.imap_port,
                security: "starttls",
                cap: Some(3),
                users: &west,
            },
        ],
    );
    let run = enqueue(tmp.path(), &config, &store);
    // Sample the live leases per tenant while six workers run.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let mut db = sql(&server, &database);
        std::thread::spawn(move || {
            let mut most: BTreeMap<String, i64> = BTreeMap::new();
            let mut samples = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for row in db
                    .query(
                        "SELECT tenant, count(*) FROM jobs WHERE state = 'leased'
                           AND lease_until > clock_timestamp() AND tenant IS NOT NULL
                         GROUP BY tenant",
                        &[],
                    )
                    .expect("sample")
                {
                    let n: i64 = row.get(1);
                    let most = most.entry(row.get(0)).or_default();
                    *most = (*most).max(n);
                }
                samples += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            (most, samples)
        })
    };
    let extra = ["--pace", "100/s", "--allow-plaintext"];
    let mut workers: Vec<Child> = (0..6)
        .map(|i| spawn_worker(tmp.path(), &config, &store, &extra, &format!("w{i}.log")))
        .collect();
    wait_all(&mut workers, Duration::from_secs(180));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (most, samples) = sampler.join().expect("sampler");
    assert!(samples > 20, "{samples} samples");
    assert!(most.get("east").copied().unwrap_or(0) <= 2, "{most:?}");
    assert_eq!(
        most.get("west").copied(),
        Some(3),
        "west reached its cap: {most:?}"
    );

    let mut db = sql(&server, &database);
    let done: i64 = db
        .query_one(
            "SELECT count(*) FROM jobs WHERE run = $1 AND state = 'done'",
            &[&run],
        )
        .expect("jobs")
        .get(0);
    assert_eq!(done, 21, "every mailbox and the run's end");
    // The throttling reply paused east for every worker and lowered its
    // cap: no east job began while it lasted, west's went on.
    let (lowered_to, paused_until): (Option<i32>, SystemTime) = db
        .query_one(
            "SELECT lowered_to, paused_until FROM tenants WHERE name = 'east'",
            &[],
        )
        .map(|r| (r.get(0), r.get(1)))
        .expect("east");
    assert_eq!(lowered_to, Some(1));
    let window_start = paused_until - Duration::from_millis(2800);
    let began = |tenant: &str, db: &mut postgres::Client| -> i64 {
        db.query_one(
            "SELECT count(*) FROM jobs WHERE tenant = $1 AND started_at > $2 AND started_at < $3",
            &[&tenant, &window_start, &paused_until],
        )
        .expect("jobs")
        .get(0)
    };
    assert_eq!(
        began("east", &mut db),
        0,
        "an east job began during its pause"
    );
    let west_working: i64 = db
        .query_one(
            "SELECT count(*) FROM jobs WHERE tenant = 'west' AND started_at < $2 AND finished_at > $1",
            &[&window_start, &paused_until],
        )
        .expect("jobs")
        .get(0);
    assert!(west_working > 0, "west went on during east's pause");
    let throttled: Vec<(String, i64)> = db
        .query(
            "SELECT source, throttled_ms FROM mailboxes WHERE throttled_ms > 0 ORDER BY source",
            &[],
        )
        .expect("mailboxes")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // The server throttled one connection; the other east mailbox being
    // read then waited too (its worker honoured the tenant's pause), and
    // no west mailbox did.
    assert!(
        throttled.len() >= 2 && throttled.iter().all(|(s, _)| s.contains("east.test")),
        "{throttled:?}"
    );
}

/// Times and run numbers out of a report, for comparing two stores'.
fn normalise(v: &mut serde_json::Value, stamp: &regex::Regex) {
    match v {
        serde_json::Value::String(s) => *s = stamp.replace_all(s, "TIME").into_owned(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| normalise(x, stamp)),
        serde_json::Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == "run" || k == "generated_at" {
                    *x = serde_json::Value::Null;
                } else {
                    normalise(x, stamp);
                }
            }
        }
        _ => {}
    }
}
