//! IMAP benchmark against the test suite's private Dovecot: mailhygiene's
//! stale (metadata-only) scan, content scan and empty rescan, each beside a
//! minimal raw client doing the bare minimum over the same connection type.
//!
//! Then the inventory: a full content scan of the 100,000-message mailbox,
//! a rescan with nothing new (flags refreshed, nothing read), `report` from
//! the store, and the store's size.
//!
//! `cargo bench --bench imap` (needs dovecot-imapd, as the tests do).
//! Sizes: MH_BENCH_METADATA (default 100000), MH_BENCH_CONTENT (default 20000).
//! MH_BENCH_INVENTORY=0 skips the inventory part; MH_BENCH_PROFILE=FILE
//! records one more one-off content scan with `perf record` into FILE (and
//! a rescan with nothing new into FILE.rescan). MH_BENCH_CORPUS=DIR fills
//! the content-scan mailbox with the messages of a Maildir instead (e.g. the
//! attachment-heavy one `MH_BENCH_OFFICE=real benches/gen_corpus.py` makes),
//! up to MH_BENCH_CONTENT of them.

#[path = "../tests/support/dovecot.rs"]
mod dovecot;

use dovecot::{ALICE, BOB, Dovecot, User};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Writes `count` realistic small messages straight into a Maildir (as the
/// notes advise: seconds for 100k), with spread-out received times.
fn fill(d: &Dovecot, user: &User, count: usize) {
    let cur = d.maildir(user).join("cur");
    std::fs::create_dir_all(&cur).expect("mkdir");
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_670_000_000);
    for i in 0..count {
        let body = if i % 33 == 0 {
            "Hei,\r\n\r\nFødselsnummer: 230478 10027 til lønnssystemet.\r\n\r\nHilsen Kari\r\n"
                .to_string()
        } else {
            "Hei,\r\n\r\nVedlagt referat fra møtet. Neste møte torsdag kl 10.\r\n"
                .repeat(1 + i % 20)
        };
        let msg = format!(
            "Message-ID: <b{i}@bench.test>\r\nFrom: kari@firma.example\r\nTo: ola@firma.example\r\nSubject: Sak {i}\r\nDate: Mon, 02 Jun 2025 09:30:00 +0200\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
        );
        let flags = if i % 17 == 0 { "FS" } else { "S" };
        let path = cur.join(format!("{}.M{i}P1.bench:2,{flags}", 1_700_000_000 + i));
        std::fs::write(&path, msg).expect("write");
        let when = base + Duration::from_secs(i as u64 * 600);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .expect("open")
            .set_modified(when)
            .expect("mtime");
    }
    Command::new("chown")
        .args(["-R", "5000:5000"])
        .arg(d.maildir(user))
        .status()
        .expect("chown");
}

/// A minimal IMAP client: LOGIN, EXAMINE INBOX, one UID FETCH, LOGOUT;
/// literals skipped. Returns the elapsed time and the bytes read.
fn raw_fetch(port: u16, user: &User, items: &str) -> (Duration, usize) {
    let started = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let mut line = Vec::new();
    let mut total = 0usize;
    let mut wait_for = |reader: &mut BufReader<TcpStream>, tag: &str, total: &mut usize| loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).expect("read");
        assert!(n > 0, "server closed");
        *total += n;
        if line.ends_with(b"}\r\n")
            && let Some(open) = line.iter().rposition(|&b| b == b'{')
        {
            let len: usize = std::str::from_utf8(&line[open + 1..line.len() - 3])
                .expect("ascii")
                .parse()
                .expect("literal");
            let mut skip = vec![0u8; len];
            reader.read_exact(&mut skip).expect("literal");
            *total += len;
        }
        if line.starts_with(tag.as_bytes()) {
            assert!(
                line[tag.len()..].starts_with(b" OK"),
                "{}",
                String::from_utf8_lossy(&line)
            );
            break;
        }
    };
    let mut greeting = String::new();
    reader.read_line(&mut greeting).expect("greeting");
    write!(writer, "a LOGIN {} {}\r\n", user.name, user.password).expect("write");
    wait_for(&mut reader, "a", &mut total);
    write!(writer, "b EXAMINE INBOX\r\n").expect("write");
    wait_for(&mut reader, "b", &mut total);
    write!(writer, "c UID FETCH 1:* {items}\r\n").expect("write");
    wait_for(&mut reader, "c", &mut total);
    write!(writer, "d LOGOUT\r\n").expect("write");
    (started.elapsed(), total)
}

/// The floor of a rescan: a minimal client asking only `STATUS INBOX (UIDNEXT
/// UIDVALIDITY)` in a new session.
fn raw_status(port: u16, user: &User) -> Duration {
    let started = Instant::now();
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("greeting");
    write!(
        writer,
        "a LOGIN {} {}\r\nb STATUS INBOX (UIDNEXT UIDVALIDITY MESSAGES)\r\nc LOGOUT\r\n",
        user.name, user.password
    )
    .expect("write");
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("read") == 0 || line.starts_with("b ") {
            break;
        }
    }
    started.elapsed()
}

fn mailhygiene(d: &Dovecot, user: &User, state: &Path, extra: &[&str]) -> (Duration, Option<u64>) {
    scan_as(d, user, state, extra, None)
}

/// A scan as `mailhygiene` times it, or recorded by `perf record` into
/// `profile` instead.
fn scan_as(
    d: &Dovecot,
    user: &User,
    state: &Path,
    extra: &[&str],
    profile: Option<&str>,
) -> (Duration, Option<u64>) {
    let binary = env!("CARGO_BIN_EXE_mailhygiene");
    let url = format!(
        "imap://{}@127.0.0.1:{}",
        user.name.replace('@', "%40"),
        d.imap_port
    );
    let mut cmd = if let Some(file) = profile {
        let mut c = Command::new("perf");
        c.args(["record", "-F", "1999", "-g", "-q", "-o", file, "--"])
            .arg(binary);
        c
    } else if Path::new("/usr/bin/time").exists() {
        let mut c = Command::new("/usr/bin/time");
        c.args(["-f", "%M"]).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    cmd.args([
        "scan",
        &url,
        "--format",
        "jsonl",
        "--quiet",
        "--allow-plaintext",
        "--as-of",
        "2026-11-25",
    ])
    .args(extra)
    .env("MAILHYGIENE_FINGERPRINT_KEY", "benchmark-key-0123456789")
    .env(
        "MAILHYGIENE_LOG",
        std::env::var("MH_BENCH_LOG").unwrap_or_else(|_| "warn".into()),
    )
    .env("MAILHYGIENE_IMAP_PASSWORD", user.password)
    .stdout(std::process::Stdio::null());
    // A one-off scan keeps nothing and takes no store.
    if !extra.contains(&"--no-state") {
        cmd.arg("--state").arg(state);
    }
    let started = Instant::now();
    let out = cmd.output().expect("runs");
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if std::env::var("MH_BENCH_LOG").is_ok() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    }
    let rss = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok());
    (elapsed, rss)
}

/// Timings of one contender over the rounds: the median is the figure, the
/// range shows how noisy the machine was.
struct Rounds(Vec<Duration>);

impl Rounds {
    fn new() -> Self {
        Rounds(Vec::new())
    }

    fn push(&mut self, took: Duration) -> Duration {
        self.0.push(took);
        took
    }

    fn median(&self) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort();
        match sorted.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
        }
    }

    /// `median (min–max)`, in seconds.
    fn show(&self) -> String {
        let min = self.0.iter().min().copied().unwrap_or_default();
        let max = self.0.iter().max().copied().unwrap_or_default();
        format!(
            "{:.3} s ({:.3}–{:.3})",
            self.median().as_secs_f64(),
            min.as_secs_f64(),
            max.as_secs_f64()
        )
    }

    /// The ratio of medians, both measured in the same rounds.
    fn ratio_to(&self, other: &Rounds) -> f64 {
        self.median().as_secs_f64() / other.median().as_secs_f64()
    }
}

/// Copies up to `count` messages of a Maildir (every folder) into the
/// user's INBOX, keeping their flags and mtimes.
fn fill_from(d: &Dovecot, user: &User, corpus: &Path, count: usize) {
    let cur = d.maildir(user).join("cur");
    std::fs::create_dir_all(&cur).expect("mkdir");
    let mut files = Vec::new();
    let mut dirs = vec![corpus.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .parent()
                .is_some_and(|p| p.ends_with("cur") || p.ends_with("new"))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    for (i, from) in files.iter().take(count).enumerate() {
        let flags = from
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.rsplit_once(":2,"))
            .map_or("S", |(_, f)| f)
            .to_string();
        let to = cur.join(format!("{}.M{i}P1.bench:2,{flags}", 1_700_000_000 + i));
        std::fs::copy(from, &to).expect("copy");
        if let Ok(when) = std::fs::metadata(from).and_then(|m| m.modified()) {
            let _ = std::fs::File::options()
                .write(true)
                .open(&to)
                .and_then(|f| f.set_modified(when));
        }
    }
    Command::new("chown")
        .args(["-R", "5000:5000"])
        .arg(d.maildir(user))
        .status()
        .expect("chown");
}

/// Rounds of each timing, contenders alternating within a round so that a
/// burst of load on this shared machine hits all of them alike; medians are
/// reported, and every ratio is of medians over the same rounds.
const ROUNDS: usize = 5;

fn main() {
    let metadata_count = env_count("MH_BENCH_METADATA", 100_000);
    let content_count = env_count("MH_BENCH_CONTENT", 20_000);
    let d = Dovecot::start(None);
    let t = Instant::now();
    fill(&d, &ALICE, metadata_count);
    match std::env::var("MH_BENCH_CORPUS") {
        Ok(dir) => fill_from(&d, &BOB, Path::new(&dir), content_count),
        Err(_) => fill(&d, &BOB, content_count),
    }
    println!(
        "filled {metadata_count} + {content_count} messages in {:?}",
        t.elapsed()
    );
    // Let Dovecot build its indexes before anything is timed.
    raw_fetch(d.imap_port, &ALICE, "(UID FLAGS)");
    raw_fetch(d.imap_port, &BOB, "(UID FLAGS)");
    let state_dir = tempfile::tempdir().expect("state dir");

    let (mut raw_meta, mut mh_meta) = (Rounds::new(), Rounds::new());
    for i in 0..ROUNDS {
        raw_meta.push(raw_fetch(d.imap_port, &ALICE, "(UID INTERNALDATE RFC822.SIZE FLAGS)").0);
        let store = state_dir.path().join(format!("meta{i}.sqlite"));
        mh_meta.push(mailhygiene(&d, &ALICE, &store, &["--stale-only"]).0);
    }
    println!(
        "stale scan, {metadata_count} messages: raw UID FETCH {}, mailhygiene --stale-only {} ({:.2}x)",
        raw_meta.show(),
        mh_meta.show(),
        mh_meta.ratio_to(&raw_meta)
    );

    // Each round: the raw fetch, a first scan into a fresh store, a rescan
    // of that store with nothing new, and a raw LOGIN + STATUS (the floor
    // any rescan pays).
    let connections = std::env::var("MH_BENCH_CONNECTIONS").unwrap_or_else(|_| "1".into());
    let (mut raw_body, mut one_off, mut full, mut rescan, mut floor) = (
        Rounds::new(),
        Rounds::new(),
        Rounds::new(),
        Rounds::new(),
        Rounds::new(),
    );
    let mut rss = Vec::new();
    for i in 0..ROUNDS {
        raw_body.push(raw_fetch(d.imap_port, &BOB, "(UID BODY.PEEK[])").0);
        one_off.push(
            mailhygiene(
                &d,
                &BOB,
                state_dir.path(),
                &["--no-state", "--connections-per-mailbox", &connections],
            )
            .0,
        );
        let store = state_dir.path().join(format!("content{i}.sqlite"));
        let (took, peak) = mailhygiene(
            &d,
            &BOB,
            &store,
            &["--connections-per-mailbox", &connections],
        );
        full.push(took);
        rss.extend(peak);
        rescan.push(mailhygiene(&d, &BOB, &store, &["--changes-only"]).0);
        floor.push(raw_status(d.imap_port, &BOB));
    }
    println!(
        "content scan, {content_count} messages: raw UID FETCH BODY.PEEK[] {}, mailhygiene ({connections} connections) {} ({:.2}x), peak RSS {} KB",
        raw_body.show(),
        full.show(),
        full.ratio_to(&raw_body),
        rss.iter().max().map_or("?".to_string(), |r| r.to_string())
    );
    println!(
        "content scan without a store (--no-state): {} ({:.2}x the raw fetch); the store makes the first scan {:.2}x the one-off",
        one_off.show(),
        one_off.ratio_to(&raw_body),
        full.ratio_to(&one_off)
    );
    println!(
        "rescan with nothing new: {} ({:.1}% of the full scan); a raw LOGIN + STATUS takes {} ({:.1}%)",
        rescan.show(),
        100.0 * rescan.ratio_to(&full),
        floor.show(),
        100.0 * floor.ratio_to(&full)
    );

    // MH_BENCH_PROFILE=FILE: one more one-off content scan, recorded by
    // perf (where its time goes beside the raw fetch's).
    if let Ok(file) = std::env::var("MH_BENCH_PROFILE") {
        scan_as(
            &d,
            &BOB,
            state_dir.path(),
            &["--no-state", "--connections-per-mailbox", &connections],
            Some(&file),
        );
        println!("profile of a one-off content scan: perf report -i {file}");
    }

    if env_count("MH_BENCH_INVENTORY", 1) == 0 {
        return;
    }
    inventory(
        &d,
        &state_dir.path().join("inventory.sqlite"),
        metadata_count,
    );
}

/// The inventory's costs on the big mailbox: the full content scan, a
/// rescan with nothing new (one FLAGS fetch per folder refreshes flags and
/// finds what is gone), `report` from the store, the store's size.
fn inventory(d: &Dovecot, state: &Path, count: usize) {
    // Each round a first content scan into a fresh store and a rescan of it.
    let (mut one_off, mut full, mut rescan) = (Rounds::new(), Rounds::new(), Rounds::new());
    let mut rss = Vec::new();
    for _ in 0..ROUNDS {
        one_off.push(mailhygiene(d, &ALICE, state, &["--no-state"]).0);
        let _ = std::fs::remove_file(state);
        let _ = std::fs::remove_file(format!("{}-wal", state.display()));
        let _ = std::fs::remove_file(format!("{}-shm", state.display()));
        let (took, peak) = mailhygiene(d, &ALICE, state, &["--changes-only"]);
        full.push(took);
        rss.extend(peak);
        rescan.push(mailhygiene(d, &ALICE, state, &["--changes-only"]).0);
    }
    if let Ok(file) = std::env::var("MH_BENCH_PROFILE") {
        let file = format!("{file}.rescan");
        scan_as(d, &ALICE, state, &["--changes-only"], Some(&file));
        println!("profile of a rescan with nothing new: perf report -i {file}");
    }
    println!(
        "inventory: full content scan of {count} messages {}, peak RSS {} KB",
        full.show(),
        rss.iter().max().map_or("?".to_string(), |r| r.to_string())
    );
    println!(
        "inventory: one-off content scan (--no-state) {}; the first scan into a store is {:.2}x it",
        one_off.show(),
        full.ratio_to(&one_off)
    );
    println!(
        "inventory: rescan with nothing new, flags refreshed: {} ({:.1}% of the full scan)",
        rescan.show(),
        100.0 * rescan.ratio_to(&full)
    );
    let mut whole = Rounds::new();
    for _ in 0..ROUNDS {
        whole.push(mailhygiene(d, &ALICE, state, &[]).0);
    }
    println!(
        "inventory: rescan printing the whole mailbox as JSONL: {}",
        whole.show()
    );
    for format in ["jsonl", "text", "markdown"] {
        let mut report = Rounds::new();
        for _ in 0..ROUNDS {
            let started = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_mailhygiene"))
                .args([
                    "report",
                    "--format",
                    format,
                    "--as-of",
                    "2026-11-25",
                    "--state",
                ])
                .arg(state)
                .stdout(std::process::Stdio::null())
                .output()
                .expect("runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            report.push(started.elapsed());
        }
        println!(
            "inventory: report --format {format} of {count} messages from the store: {}",
            report.show()
        );
    }
    // Fold the write-ahead log in, so the file size is the store's size.
    let _ = Command::new(env!("CARGO_BIN_EXE_mailhygiene"))
        .args(["report", "--format", "jsonl", "--state"])
        .arg(state)
        .stdout(std::process::Stdio::null())
        .status();
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", state.display()))
                .ok()
                .map(|m| m.len())
        })
        .sum();
    println!(
        "inventory: store size {:.1} MB for {count} messages ({:.0} bytes a message)",
        bytes as f64 / 1e6,
        bytes as f64 / count as f64
    );
}
