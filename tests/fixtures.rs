//! The fixture corpus: every `.eml` in tests/fixtures/corpus against its
//! `.expected` golden file (written by tests/fixtures/generate.py).
//!
//! Set `MAILHYGIENE_BLESS=1` to print the actual lines of failing fixtures in
//! the golden format, for review before updating a golden file.

use chrono::NaiveDate;
use mailhygiene::engine::{Engine, EngineSettings};
use mailhygiene::fingerprint::Fingerprinter;
use mailhygiene::model::{MessageMeta, MessageReport};
use mailhygiene::rules::RuleSet;
use std::collections::BTreeSet;
use std::path::Path;

fn engine() -> Engine {
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    Engine::new(
        EngineSettings::new(as_of),
        RuleSet::embedded().expect("embedded rules"),
        Fingerprinter::new(b"fixture-key-0123456789").expect("key"),
    )
}

fn scan(engine: &Engine, raw: &[u8]) -> MessageReport {
    let meta = MessageMeta::local("INBOX", raw.len() as u64, "fixture");
    engine.scan_message(meta, raw)
}

fn actual_lines(report: &MessageReport) -> BTreeSet<String> {
    let mut lines = BTreeSet::new();
    for f in &report.findings {
        let line = format!("sensitive\t{}\t{}\t{}", f.detector, f.location, f.masked);
        lines.insert(line.trim_end_matches('\t').to_string());
    }
    for p in &report.problems {
        let kind = serde_json::to_value(p.kind).expect("serialises");
        lines.insert(format!(
            "problem\t{}\t{}",
            kind.as_str().unwrap_or_default(),
            p.location
        ));
    }
    lines
}

#[test]
fn every_fixture_matches_its_golden_file() {
    let engine = engine();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/corpus");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 30, "the corpus has {} fixtures", names.len());
    let mut failures = Vec::new();
    for eml in &names {
        let raw = std::fs::read(eml).expect("fixture readable");
        let expected_text =
            std::fs::read_to_string(eml.with_extension("expected")).expect("golden file exists");
        let report = scan(&engine, &raw);
        let expected: BTreeSet<String> = expected_text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let actual = actual_lines(&report);
        if expected != actual {
            let name = eml
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let missing: Vec<_> = expected.difference(&actual).collect();
            let extra: Vec<_> = actual.difference(&expected).collect();
            let mut failure = format!("{name}:\n  missing: {missing:?}\n  unexpected: {extra:?}");
            // For review before a golden file is changed (by hand, or in
            // generate.py): the whole actual file, as it would be written.
            if std::env::var("MAILHYGIENE_BLESS").as_deref() == Ok("1") {
                failure.push_str("\n  actual golden file:\n");
                for line in &actual {
                    failure.push_str(&format!("    {line}\n"));
                }
            }
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Nesting: 200 levels of multipart are read whole (the parser flattens
/// them); forwarded mail twelve deep is read to the depth limit and the
/// rest reported as `too_deep`, the value below it never reached.
#[test]
fn deep_nesting_is_read_or_reported_as_too_deep() {
    let read = |name: &str| {
        let raw = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/corpus")
                .join(name),
        )
        .expect("fixture");
        actual_lines(&scan(&engine(), &raw))
    };
    assert_eq!(
        read("deep-nesting.eml"),
        BTreeSet::from(["sensitive\tno.fodselsnummer\tbody\t23*******27".to_string()])
    );
    let forwarded = read("deep-forwarding.eml");
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    assert!(
        forwarded
            .iter()
            .all(|l| l.starts_with("problem\ttoo_deep\tattachment:v11.eml/")),
        "{forwarded:?}"
    );
}
