//! Many workers against the test suite's private Dovecot behind a proxy
//! that holds every connection to an Exchange-like pace, on a private
//! PostgreSQL store: the run's wall time (from the first worker started
//! to the last one stopped, `worker --until-idle` as processes) with 1, 2
//! and 4 workers under a tenant cap that does not bind, then 4 workers
//! under a cap of 2; the speed-up over one worker, and the queue's own
//! overhead (the time each worker spent between one job's end and its
//! next job's start, from the jobs table, over the workers' wall time).
//!
//! `cargo bench --bench workers` (needs dovecot-imapd and postgresql, as
//! the tests do). MH_BENCH_MAILBOXES (default 24), MH_BENCH_MESSAGES per
//! mailbox (default 200), MH_BENCH_PACE bytes a second per connection
//! (default 200000).

#[path = "../tests/support/dovecot.rs"]
mod dovecot;
#[path = "../tests/support/postgres.rs"]
mod postgres_server;

use dovecot::Dovecot;
use postgres_server::{PASSWORD, Postgres, USER};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Relays every connection to `target`, the server's bytes no faster than
/// `rate` bytes a second per connection (a token bucket of 50 ms): how
/// Exchange Online feels from outside, one connection at a time.
fn pacing_proxy(target: u16, rate: u64) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    return;
                };
                let (mut c_read, mut s_write) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c_read, &mut s_write);
                    let _ = s_write.shutdown(std::net::Shutdown::Write);
                });
                let (mut s_read, mut c_write) = (server, client);
                let started = Instant::now();
                let mut sent = 0u64;
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = match s_read.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    sent += n as u64;
                    let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    if c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = c_write.shutdown(std::net::Shutdown::Both);
                let _ = up.join();
            });
        }
    });
    port
}

fn fill(d: &Dovecot, user: &str, count: usize) {
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_670_000_000);
    let messages: Vec<_> = (0..count)
        .map(|i| {
            let body = if i % 33 == 0 {
                "Hei,\r\n\r\nFødselsnummer: 230478 10027 til lønnssystemet.\r\n".to_string()
            } else {
                "Hei,\r\n\r\nVedlagt referat fra møtet. Neste møte torsdag kl 10.\r\n".repeat(1 + i % 20)
            };
            let raw = format!(
                "Message-ID: <b{i}.{user}>\r\nFrom: kari@firma.example\r\nTo: {user}\r\nSubject: Sak {i}\r\nDate: Mon, 02 Jun 2025 09:30:00 +0200\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
            );
            (format!("{i}.b"), "S", raw.into_bytes(), old + Duration::from_secs(i as u64 * 600))
        })
        .collect();
    d.fill(user, "", &messages);
}

struct Setup {
    _dovecot: Dovecot,
    server: Postgres,
    dir: tempfile::TempDir,
    config_open: std::path::PathBuf,
    config_capped: std::path::PathBuf,
    messages: usize,
}

fn setup() -> Setup {
    let mailboxes = env_count("MH_BENCH_MAILBOXES", 24);
    let per = env_count("MH_BENCH_MESSAGES", 200);
    let rate = env_count("MH_BENCH_PACE", 200_000) as u64;
    let d = Dovecot::start(None);
    let users: Vec<String> = (0..mailboxes).map(|i| format!("b{i}@bench.test")).collect();
    d.add_users(&users, "bench-pass");
    for u in &users {
        fill(&d, u, per);
    }
    let port = pacing_proxy(d.imap_port, rate);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("secret"), "bench-pass").expect("secret");
    let list: Vec<String> = users.iter().map(|u| format!("\"{u}\"")).collect();
    let config = |cap: u32, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "[limits]\ntenant_connections = {cap}\n\n[[account]]\nname = \"bench\"\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\nauth = \"password\"\npassword_file = \"{}\"\nmailboxes = [{}]\n",
                dir.path().join("secret").display(),
                list.join(", ")
            ),
        )
        .expect("config");
        path
    };
    let config_open = config(20, "open.toml");
    let config_capped = config(2, "capped.toml");
    Setup {
        _dovecot: d,
        server: Postgres::start(),
        dir,
        config_open,
        config_capped,
        messages: mailboxes * per,
    }
}

fn mailhygiene(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mailhygiene"));
    cmd.env("MAILHYGIENE_FINGERPRINT_KEY", "bench-key-0123456789")
        .env("PGPASSWORD", PASSWORD)
        .env("XDG_STATE_HOME", dir.join("state-home"))
        .env_remove("MAILHYGIENE_STORE")
        .env_remove("MAILHYGIENE_CONFIG");
    cmd
}

/// One queued run worked by `workers` processes: (wall time, queue
/// overhead as a share of the workers' time).
fn run(s: &Setup, workers: usize, config: &Path) -> (Duration, f64) {
    let db = s.server.create_database("bench");
    let store = s.server.url(&db);
    let out = mailhygiene(s.dir.path())
        .args(["scan", "--enqueue", "--allow-plaintext", "--config"])
        .arg(config)
        .args(["--store", &store])
        .output()
        .expect("enqueue");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let mut children: Vec<_> = (0..workers)
        .map(|_| {
            mailhygiene(s.dir.path())
                .args([
                    "worker",
                    "--until-idle",
                    "--allow-plaintext",
                    "-q",
                    "--config",
                ])
                .arg(config)
                .args(["--store", &store])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("worker")
        })
        .collect();
    for c in &mut children {
        assert!(c.wait().expect("wait").success(), "a worker failed");
    }
    let wall = started.elapsed();
    let port = store
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .expect("port")
        .to_string();
    let mut client = postgres::Client::connect(
        &format!("host=127.0.0.1 port={port} user={USER} password={PASSWORD} dbname={db}"),
        postgres::NoTls,
    )
    .expect("session");
    // Between one job's end and the same worker's next start: the queue.
    let gaps: f64 = client
        .query_one(
            "SELECT coalesce(sum(extract(epoch FROM gap)), 0)::float8 FROM (
               SELECT started_at - lag(finished_at) OVER (PARTITION BY holder ORDER BY started_at) AS gap
               FROM jobs WHERE kind = 'scan') g WHERE gap IS NOT NULL",
            &[],
        )
        .expect("gaps")
        .get(0);
    let done: i64 = client
        .query_one("SELECT count(*) FROM jobs WHERE state = 'done'", &[])
        .expect("done")
        .get(0);
    assert_eq!(
        done as usize,
        env_count("MH_BENCH_MAILBOXES", 24) + 1,
        "every job done"
    );
    (wall, gaps / (wall.as_secs_f64() * workers as f64))
}

fn main() {
    let s = setup();
    println!(
        "workers: {} messages in {} mailboxes behind a proxy pacing each connection",
        s.messages,
        env_count("MH_BENCH_MAILBOXES", 24)
    );
    let mut one = None;
    for (workers, config, label) in [
        (1, &s.config_open, "cap 20"),
        (2, &s.config_open, "cap 20"),
        (4, &s.config_open, "cap 20"),
        (4, &s.config_capped, "cap 2"),
    ] {
        let (wall, overhead) = run(&s, workers, config);
        let base = *one.get_or_insert(wall);
        println!(
            "  {workers} worker(s), {label}: {:6.2} s, {:6.0} msg/s, {:.2}x one worker, queue overhead {:.2}% of worker time",
            wall.as_secs_f64(),
            s.messages as f64 / wall.as_secs_f64(),
            base.as_secs_f64() / wall.as_secs_f64(),
            overhead * 100.0
        );
    }
}
