//! Reports, searches and plans stream from the store: a 100,000-message
//! store is reported, searched, summarised for compliance and offboarded by
//! the real binary with its peak resident memory measured (GNU time) and
//! held under the 100 MB. A command that gathered the mailbox in memory (about 1–2 KB a
//! message as reports) would pass that bound.
//!
//! The store is written through the library, as a scan writes it, so the
//! test spends its time on the commands, not on reading 100,000 files.

use mailhygiene::model::{
    DetectorId, Envelope, Finding, Location, MessageMeta, MessageReport, TextSignals,
};
use mailhygiene::store::prelude::*;
use mailhygiene::store::{MailboxRecord, RunKind, SqliteStore};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const MESSAGES: usize = 100_000;
const LIMIT_KB: u64 = 100 * 1024;
const KEY: &str = "memory-test-key-0123456789";

fn message(i: usize) -> MessageReport {
    let folder = ["INBOX", "Sendte elementer", "Arkiv/2021", "Ordre"][i % 4];
    let mut meta = MessageMeta::local(folder, 2_000 + (i as u64 % 700), format!("{i}.eml"));
    meta.local_key = Some(format!("{i}.mh"));
    meta.position = i as u64;
    meta.received =
        chrono::DateTime::from_timestamp(1_420_070_400 + (i as i64 % 3_600) * 86_400, 0);
    let findings = if i.is_multiple_of(20) {
        vec![Finding {
            detector: DetectorId::parse("no.fodselsnummer").expect("detector"),
            location: Location::Body,
            masked: "15******08".into(),
            fingerprint: format!("{:064x}", i % 997),
            confidence: 0.95,
        }]
    } else {
        Vec::new()
    };
    MessageReport {
        date: meta.received,
        meta,
        envelope: Envelope {
            message_id: format!("<{i}@memory.test>"),
            from: vec![format!("kunde{}@kunde.no", i % 5_000)],
            from_name: format!("Kunde {}", i % 5_000),
            to: vec!["kari@firma.no".into()],
            subject: format!("Tilbud nummer {i} på rammeavtale og levering"),
            ..Envelope::default()
        },
        findings,
        stale: None,
        problems: Vec::new(),
        signals: TextSignals {
            read: true,
            ..TextSignals::default()
        },
    }
}

/// Runs the binary under GNU time: (exit code, lines on stdout, peak RSS in KB).
fn measured(args: &[&str]) -> (i32, usize, u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let rss_file = dir.path().join("rss");
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&rss_file)
        .arg(env!("CARGO_BIN_EXE_mailhygiene"))
        .args(args)
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("GNU time (Debian's `time`, which .ci/run installs)");
    let lines = BufReader::new(child.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .count();
    let status = child.wait().expect("wait");
    let rss: u64 = std::fs::read_to_string(&rss_file)
        .expect("time's output")
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("a peak RSS in KB");
    (status.code().unwrap_or(-1), lines, rss)
}

#[test]
fn a_hundred_thousand_message_store_is_reported_in_flat_memory() {
    let dir = tempfile::tempdir().expect("tmp");
    let state = dir.path().join("state.sqlite");
    let source = "maildir:/srv/kari";
    {
        let mut store = SqliteStore::open(&state).expect("store");
        store
            .register_mailbox(&MailboxRecord {
                source: source.into(),
                owner: Some("Kari Nordmann".into()),
                address: Some("kari@firma.no".into()),
                ..MailboxRecord::default()
            })
            .expect("mailbox");
        let as_of = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let run = store
            .begin_run(RunKind::Scan, as_of, chrono::Utc::now())
            .expect("run");
        for i in 0..MESSAGES {
            store.record(run, source, &message(i)).expect("record");
        }
        store
            .finish_run(run, chrono::Utc::now(), "complete", MESSAGES as u64)
            .expect("finish");
        store.flush().expect("flush");
    }
    let state = state.to_str().expect("utf-8 path");
    let as_of = ["--as-of", "2026-11-25"];

    let (code, lines, rss) = measured(&[
        "report", "--state", state, "--format", "jsonl", "--all", as_of[0], as_of[1],
    ]);
    assert_eq!(code, 0);
    // One record per message (every one is listed with --all), and more.
    assert!(lines >= MESSAGES, "{lines} lines");
    assert!(rss <= LIMIT_KB, "report: peak RSS {rss} KB");

    let (code, lines, rss) = measured(&[
        "subject",
        "--state",
        state,
        "--address",
        "kunde7@kunde.no",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0);
    assert_eq!(
        lines,
        MESSAGES / 5_000,
        "every 5,000th message is from kunde7"
    );
    assert!(rss <= LIMIT_KB, "subject: peak RSS {rss} KB");

    let (code, lines, rss) = measured(&[
        "report",
        "--compliance",
        "--state",
        state,
        "--format",
        "json",
        as_of[0],
        as_of[1],
    ]);
    assert!(code == 0 || code == 1, "exit {code}");
    assert!(lines > 0);
    assert!(rss <= LIMIT_KB, "report --compliance: peak RSS {rss} KB");

    let plan = dir.path().join("plan.csv");
    let (code, _, rss) = measured(&[
        "offboard",
        source,
        "--state",
        state,
        "--case",
        "M-1",
        "--reason",
        "Kari slutter",
        "--legal-basis",
        "e-postforskriften § 2",
        "--notified",
        "2026-11-01",
        "--plan",
        plan.to_str().expect("utf-8 path"),
        as_of[0],
        as_of[1],
    ]);
    assert_eq!(code, 0);
    let rows = std::fs::read_to_string(&plan)
        .expect("plan")
        .lines()
        .count();
    assert_eq!(rows, MESSAGES + 1, "a plan row per message, and the header");
    assert!(rss <= LIMIT_KB, "offboard: peak RSS {rss} KB");
}
