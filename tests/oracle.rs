//! Our checksums and validity rules against python-stdnum's verdicts, an
//! independent implementation (tables written by tests/oracle/generate.py on
//! 2026-11-25, which is the "today" of the fødselsnummer verdicts).

use chrono::NaiveDate;
use mailhygiene::checksum;
use mailhygiene::detect::identifiers::{self, IdentifierSettings, norwegian_id_kind};
use std::path::Path;

fn table(name: &str) -> Vec<(String, bool)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("oracle table");
    let rows: Vec<(String, bool)> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(v, ok)| (v.to_string(), ok == "1"))
        .collect();
    assert!(rows.len() > 1000, "{name} has {} rows", rows.len());
    assert!(
        rows.iter().any(|r| r.1) && rows.iter().any(|r| !r.1),
        "{name} needs both verdicts"
    );
    rows
}

fn settings() -> IdentifierSettings {
    IdentifierSettings {
        as_of: NaiveDate::from_ymd_opt(2026, 11, 25).expect("date"),
        rule_2032: false,
    }
}

fn disagreements(rows: &[(String, bool)], ours: impl Fn(&str) -> bool) -> Vec<String> {
    rows.iter()
        .filter(|(v, want)| ours(v) != *want)
        .map(|(v, want)| format!("{v} stdnum={want}"))
        .collect()
}

#[test]
fn fodselsnummer_agrees_with_stdnum() {
    let rows = table("no_fodselsnummer.txt");
    let bad = disagreements(&rows, |v| {
        checksum::digits::<11>(v.as_bytes())
            .is_some_and(|d| norwegian_id_kind(&d, &settings()).is_some())
    });
    assert!(
        bad.is_empty(),
        "{} disagreements: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn bank_account_agrees_with_stdnum() {
    let rows = table("no_kontonr.txt");
    let bad = disagreements(&rows, |v| {
        checksum::digits::<11>(v.as_bytes()).is_some_and(|d| checksum::no_bank_account(&d))
    });
    assert!(
        bad.is_empty(),
        "{} disagreements: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn luhn_agrees_with_stdnum() {
    let rows = table("luhn.txt");
    let bad = disagreements(&rows, |v| {
        checksum::luhn(&v.bytes().map(|b| b - b'0').collect::<Vec<_>>())
    });
    assert!(
        bad.is_empty(),
        "{} disagreements: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}

#[test]
fn hetu_agrees_with_stdnum() {
    // stdnum's HETU accepts birth dates in the future; we do not (no one
    // scanned today was born in 2030), so those rows are left out.
    let rows: Vec<(String, bool)> = table("fi_hetu.txt")
        .into_iter()
        .filter(|(v, _)| {
            !(v.as_bytes()[6] == b'A' && v[4..6].parse::<u32>().is_ok_and(|yy| yy > 26))
        })
        .collect();
    let bad = disagreements(&rows, |v| {
        identifiers::find(v, &settings(), false)
            .iter()
            .any(|h| h.detector.to_string() == "fi.hetu")
    });
    assert!(
        bad.is_empty(),
        "{} disagreements: {:?}",
        bad.len(),
        &bad[..bad.len().min(10)]
    );
}
