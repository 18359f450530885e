//! The compliance report at organisation scale: a store with 1,000
//! mailboxes (100 messages each, a tenth with findings), 12 monthly
//! snapshots per mailbox and the deviation register, then
//! `mailhygiene report --compliance` in each format, best of 5 runs.
//! Target: under 2 s.
//!
//! `cargo bench --bench compliance`. Sizes: MH_BENCH_MAILBOXES (default
//! 1000), MH_BENCH_MESSAGES (per mailbox, default 100).

use chrono::{NaiveDate, TimeZone, Utc};
use mailhygiene::compliance::{self, Snapshot};
use mailhygiene::model::{DetectorId, Envelope, Finding, Location, MessageMeta, MessageReport};
use mailhygiene::store::prelude::*;
use mailhygiene::store::sqlite::SqliteStore;
use mailhygiene::store::{MailboxRecord, RunKind, SnapshotRecord};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let mailboxes = env("MH_BENCH_MAILBOXES", 1000);
    let per = env("MH_BENCH_MESSAGES", 100);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("state.sqlite");
    let built = Instant::now();
    let mut store = SqliteStore::open(&path).expect("store");
    let as_of = NaiveDate::from_ymd_opt(2026, 12, 1).expect("date");
    let run = store
        .begin_run(RunKind::Scan, as_of, Utc::now())
        .expect("run");
    let departments = ["Salg", "Økonomi", "HR", "Drift", "Ledelse"];
    for m in 0..mailboxes {
        let source = format!("imaps://user{m}%40firma.no@outlook.office365.com");
        store
            .register_mailbox(&MailboxRecord {
                source: source.clone(),
                owner: Some(format!("Ansatt {m}")),
                address: Some(format!("user{m}@firma.no")),
                department: Some(departments[m % departments.len()].into()),
                ..Default::default()
            })
            .expect("mailbox");
        let mut reports = Vec::with_capacity(per);
        for i in 0..per {
            let findings = if i % 10 == 0 {
                vec![Finding {
                    detector: DetectorId::NoFodselsnummer,
                    location: Location::Body,
                    masked: "01*******46".into(),
                    fingerprint: format!("{:064x}", m * per + i),
                    confidence: 0.85,
                }]
            } else {
                Vec::new()
            };
            let report = MessageReport {
                meta: MessageMeta {
                    uid: Some(i as u32 + 1),
                    uid_validity: Some(1),
                    position: i as u64 + 1,
                    ..MessageMeta::local("INBOX", 4000, "bench")
                },
                envelope: Envelope {
                    message_id: format!("<{m}.{i}@bench>"),
                    date_header: None,
                    from: vec![format!("kunde{i}@ekstern.no")],
                    from_name: String::new(),
                    to: vec![format!("user{m}@firma.no")],
                    subject: "Sak".into(),
                },
                date: Some(
                    Utc.timestamp_opt(1_700_000_000 + (i as i64) * 86_400, 0)
                        .unwrap(),
                ),
                findings,
                stale: None,
                problems: Vec::new(),
                signals: Default::default(),
            };
            store.record(run, &source, &report).expect("record");
            reports.push(report);
        }
        // Twelve months of history, and the register as a scan leaves it.
        for month in 0..12u32 {
            let day = as_of
                .checked_sub_months(chrono::Months::new(11 - month))
                .expect("date");
            let snapshot: Snapshot = compliance::snapshot(&source, day, reports.iter());
            store
                .record_snapshot(
                    run + i64::from(month),
                    &SnapshotRecord {
                        run: run + i64::from(month),
                        taken_at: day.to_string(),
                        full: false,
                        status: "complete".into(),
                        snapshot,
                    },
                )
                .expect("snapshot");
        }
        let deviations = compliance::deviations(
            &source,
            Some(&format!("user{m}@firma.no")),
            as_of,
            reports.iter(),
        );
        store
            .save_deviations(&source, &deviations)
            .expect("deviations");
        store
            .mailbox_scanned(&source, Utc::now(), "complete", None)
            .expect("scanned");
    }
    store.flush().expect("commit");
    drop(store);
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "store: {mailboxes} mailboxes, {} messages, {} snapshots, {:.1} MB, built in {:.1} s",
        mailboxes * per,
        mailboxes * 12,
        size as f64 / 1e6,
        built.elapsed().as_secs_f64()
    );
    let binary = env!("CARGO_BIN_EXE_mailhygiene");
    for format in ["html", "json", "markdown", "csv"] {
        let mut best = Duration::MAX;
        for _ in 0..5 {
            let out = dir.path().join(format!("out-{format}"));
            let started = Instant::now();
            let status = std::process::Command::new(binary)
                .args([
                    "report",
                    "--compliance",
                    "--format",
                    format,
                    "--as-of",
                    "2026-12-01",
                    "--state",
                ])
                .arg(&path)
                .arg("-o")
                .arg(&out)
                .env("MAILHYGIENE_FINGERPRINT_KEY", "bench-key-0123456789abcdef")
                .status()
                .expect("runs");
            let took = started.elapsed();
            assert!(status.code().is_some_and(|c| c <= 1), "{status}");
            best = best.min(took);
        }
        println!(
            "report --compliance --format {format}: {:.3} s (best of 5; target < 2 s)",
            best.as_secs_f64()
        );
    }
}
