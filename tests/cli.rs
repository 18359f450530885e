//! End-to-end tests of the built binary: sources, formats, exit codes, and
//! the promise that no detected value ever appears in clear text.

use assert_cmd::Command;
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

mod support;

const KEY: &str = "cli-test-key-0123456789";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A state directory of its own for every command, unless a test shares one.
fn fresh_state() -> PathBuf {
    tempfile::tempdir().expect("state dir").keep()
}

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("mailhygiene").expect("binary built");
    cmd.env("MAILHYGIENE_FINGERPRINT_KEY", KEY);
    let (name, value) = support::fresh_default_store(&fresh_state());
    cmd.env(name, value);
    cmd.env("PGPASSWORD", support::postgres::PASSWORD);
    cmd.env_remove("MAILHYGIENE_LOG");
    cmd
}

fn planted() -> Vec<String> {
    fs::read_to_string(root().join("tests/fixtures/corpus/PLANTED"))
        .expect("PLANTED list")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every written form of a planted value that would count as a leak.
fn leak_forms(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_string()];
    if value.len() == 11 && value.bytes().all(|b| b.is_ascii_digit()) {
        forms.push(format!("{} {}", &value[..6], &value[6..]));
        forms.push(format!("{}-{}", &value[..6], &value[6..]));
        forms.push(format!("{}.{}.{}", &value[..4], &value[4..6], &value[6..]));
    }
    if value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit()) {
        forms.push(format!("{}-{}", &value[..6], &value[6..]));
    }
    forms
}

fn assert_no_leak(what: &str, output: &str) {
    for value in planted() {
        for form in leak_forms(&value) {
            assert!(
                !output.contains(&form),
                "{what} leaks a planted value in the form {form:?}"
            );
        }
    }
}

/// Builds a Maildir++ tree from the fixture corpus: INBOX holds every
/// fixture, `.Arkiv.2019` holds two old ones (one flagged).
fn fixture_maildir(dir: &Path) -> usize {
    let corpus = root().join("tests/fixtures/corpus");
    for sub in ["cur", "new", "tmp", ".Arkiv.2019/cur", ".Arkiv.2019/new"] {
        fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }
    let mut n = 0;
    let mut names: Vec<_> = fs::read_dir(&corpus)
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    names.sort();
    for (i, eml) in names.iter().enumerate() {
        let target = dir
            .join("cur")
            .join(format!("17000000{i:02}.M{i}P1.test:2,S"));
        fs::copy(eml, &target).expect("copy");
        n += 1;
    }
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_546_300_800); // 2019-01-01
    for (name, flags) in [
        ("1546300800.M1P1.test:2,S", "plain"),
        ("1546300801.M2P1.test:2,FS", "flagged"),
    ] {
        let path = dir.join(".Arkiv.2019/cur").join(name);
        fs::write(
            &path,
            format!("Message-ID: <{flags}@arkiv.test>\r\nSubject: gammelt\r\n\r\nInnhold\r\n"),
        )
        .expect("write");
        fs::File::options()
            .write(true)
            .open(&path)
            .expect("open")
            .set_modified(old)
            .expect("mtime");
    }
    n + 2
}

fn jsonl(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8(stdout.to_vec())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[test]
fn jsonl_records_follow_the_contract() {
    let out = bin()
        .args([
            "scan",
            "mbox:sample/mailbox",
            "--format",
            "jsonl",
            "--as-of",
            "2026-11-25",
        ])
        .current_dir(root())
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = jsonl(&out.stdout);
    assert!(!records.is_empty());
    for r in &records {
        let kind = r["type"].as_str().expect("type");
        assert_eq!(r["source"], "mbox:sample/mailbox");
        assert!(r["folder"].is_string());
        assert!(r["uid"].is_null());
        let mid = r["message_id"].as_str().expect("message_id");
        assert!(mid.starts_with('<') && mid.ends_with('>'), "{mid}");
        let date = r["date"].as_str().expect("date");
        chrono::DateTime::parse_from_rfc3339(date).expect("RFC 3339 date");
        match kind {
            "sensitive" => {
                let detector = r["detector"].as_str().expect("detector");
                let c = r["confidence"].as_f64().expect("confidence");
                assert!((0.0..=1.0).contains(&c));
                let location = r["location"].as_str().expect("location");
                assert!(
                    location == "subject"
                        || location == "body"
                        || location.starts_with("attachment:")
                );
                let fp = r["fingerprint"].as_str().expect("fingerprint");
                if detector.starts_with("special_category.") {
                    assert_eq!(fp, "");
                } else {
                    assert_eq!(fp.len(), 64);
                    assert!(
                        fp.bytes()
                            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                    );
                    assert!(r["masked"].as_str().expect("masked").contains('*'));
                }
            }
            "stale" => {
                assert!(r["age_days"].as_i64().expect("age_days") > 0);
                assert!(r["rule"].is_string());
            }
            other => panic!("unexpected record type {other}"),
        }
    }
    let folders: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["folder"].as_str())
        .collect();
    assert!(
        folders.contains("INBOX") && folders.contains("Regnskap"),
        "{folders:?}"
    );
    // Each national ID found has one keyed fingerprint (64 hex digits),
    // distinct values distinct ones (the sample holds two, once each; the
    // same value in several places is `one_value_has_one_fingerprint_everywhere`).
    let mut fps: Vec<(&str, &str)> = records
        .iter()
        .filter(|r| r["detector"] == "no.fodselsnummer")
        .filter_map(|r| Some((r["masked"].as_str()?, r["fingerprint"].as_str()?)))
        .collect();
    fps.sort();
    fps.dedup();
    assert_eq!(fps.len(), 2, "{fps:?}");
    assert!(
        fps.iter()
            .all(|(_, f)| f.len() == 64 && f.chars().all(|c| c.is_ascii_hexdigit())),
        "{fps:?}"
    );
    assert_ne!(fps[0].1, fps[1].1);
}

/// The same fødselsnummer in three messages, in the subject of one, the
/// body of another and an attachment of the third, written three ways, has
/// one fingerprint in every record (a finding is one value in one message).
#[test]
fn one_value_has_one_fingerprint_everywhere() {
    use base64::Engine as _;
    let tmp = tempfile::tempdir().expect("tempdir");
    let attachment = base64::engine::general_purpose::STANDARD
        .encode("Ansatt;Fødselsnummer\nKari;150765 00565\n");
    let head = |n: u32, subject: &str| {
        format!(
            "From a@example.test Mon Jun  2 09:30:00 2025\nMessage-ID: <fp{n}@t>\nFrom: a@example.test\nDate: Mon, 02 Jun 2025 09:30:00 +0200\nSubject: {subject}\nMIME-Version: 1.0\n"
        )
    };
    let mbox = format!(
        "{}Content-Type: text/plain\n\nHei.\n\n{}Content-Type: text/plain; charset=utf-8\n\nFødselsnummer: 150765-00565\n\n{}Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nVedlagt.\n--b\nContent-Type: text/csv; name=liste.csv\nContent-Disposition: attachment; filename=liste.csv\nContent-Transfer-Encoding: base64\n\n{attachment}\n--b--\n\n",
        head(1, "Fnr 15076500565"),
        head(2, "Lønn"),
        head(3, "Liste"),
    );
    let file = tmp.path().join("m.mbox");
    fs::write(&file, mbox).expect("write");
    let out = bin()
        .args([
            "scan",
            "--no-state",
            "--format",
            "jsonl",
            "--as-of",
            "2026-11-25",
        ])
        .arg(format!("mbox:{}", file.display()))
        .output()
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = jsonl(&out.stdout);
    let found: Vec<(String, String)> = records
        .iter()
        .filter(|r| r["detector"] == "no.fodselsnummer")
        .map(|r| {
            (
                r["location"].as_str().unwrap_or_default().to_string(),
                r["fingerprint"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let places: std::collections::BTreeSet<&str> = found
        .iter()
        .map(|(l, _)| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        places,
        ["attachment", "body", "subject"].into_iter().collect(),
        "{found:?}"
    );
    let prints: std::collections::BTreeSet<&str> = found.iter().map(|(_, f)| f.as_str()).collect();
    assert_eq!(prints.len(), 1, "{found:?}");
}

#[test]
fn fingerprints_depend_on_the_key() {
    let run = |key: &str| {
        let out = Command::cargo_bin("mailhygiene")
            .expect("binary")
            .env("MAILHYGIENE_FINGERPRINT_KEY", key)
            .env("XDG_STATE_HOME", fresh_state())
            .args([
                "scan",
                "mbox:sample/mailbox",
                "--format",
                "jsonl",
                "--as-of",
                "2026-11-25",
            ])
            .current_dir(root())
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        jsonl(&out.stdout)
            .into_iter()
            .filter_map(|r| r["fingerprint"].as_str().map(str::to_string))
            .filter(|f| !f.is_empty())
            .collect::<Vec<_>>()
    };
    let a = run("first-key-0123456789");
    let b = run("second-key-0123456789");
    // Something to compare: the sample's findings, under either key.
    assert!(a.len() >= 2, "{a:?}");
    assert_eq!(a.len(), b.len());
    assert!(a.iter().zip(&b).all(|(x, y)| x != y));
    assert_eq!(a, run("first-key-0123456789"));
}

#[test]
fn no_planted_value_appears_in_any_format_output_or_log() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let maildir = tmp.path().join("mail");
    fixture_maildir(&maildir);
    let source = format!("maildir:{}", maildir.display());
    for format in ["text", "jsonl", "csv", "markdown"] {
        let out = bin()
            .env("MAILHYGIENE_LOG", "trace")
            .args([
                "scan",
                &source,
                "mbox:sample/mailbox",
                "--format",
                format,
                "--as-of",
                "2026-11-25",
            ])
            .current_dir(root())
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stdout.len() > 200,
            "{format}: output too short to mean anything: {stdout}"
        );
        assert_no_leak(&format!("{format} stdout"), &stdout);
        assert_no_leak(&format!("{format} stderr"), &stderr);
        // The output file variant too.
        let file = tmp.path().join(format!("report.{format}"));
        bin()
            .args([
                "scan",
                &source,
                "--format",
                format,
                "--as-of",
                "2026-11-25",
                "--output",
            ])
            .arg(&file)
            .assert()
            .code(1); // the corpus holds unreadable parts
        assert_no_leak(
            &format!("{format} file"),
            &fs::read_to_string(&file).expect("report written"),
        );
    }
    // `check` on every fixture, each format.
    for entry in fs::read_dir(root().join("tests/fixtures/corpus")).expect("corpus") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        for format in ["text", "jsonl"] {
            let out = bin()
                .args(["check", "--format", format])
                .arg(&path)
                .output()
                .expect("runs");
            // It read the message: complete (0) or with a part unread (1),
            // never a usage error or a crash; text always says something.
            assert!(
                matches!(out.status.code(), Some(0 | 1)),
                "check {}: {:?} {}",
                path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                format != "text" || !out.stdout.is_empty(),
                "check {} printed nothing",
                path.display()
            );
            assert_no_leak(
                &format!("check {}", path.display()),
                &String::from_utf8_lossy(&out.stdout),
            );
            assert_no_leak(
                &format!("check {} stderr", path.display()),
                &String::from_utf8_lossy(&out.stderr),
            );
        }
    }
}

/// The store, reports rendered from it, reminders and clean plans: none
/// holds a planted value, in any format, at trace level.
#[test]
fn no_planted_value_in_the_store_reports_reminders_or_plans() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let maildir = tmp.path().join("mail");
    fixture_maildir(&maildir);
    let source = format!("maildir:{}", maildir.display());
    let state = tmp.path().join("state.sqlite");
    let state_arg = state.display().to_string();
    let store = support::on_test_store(&["--state", &state_arg]);
    let run = |args: &[&str]| {
        let out = bin()
            .env("MAILHYGIENE_LOG", "trace")
            .args(args)
            .args(&store)
            .args(["--as-of", "2026-11-25"])
            .current_dir(root())
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_no_leak(&format!("{args:?} stdout"), &stdout);
        assert_no_leak(&format!("{args:?} stderr"), &stderr);
        stdout
    };
    run(&["scan", &source, "--quiet"]);
    for format in ["text", "jsonl", "csv", "markdown"] {
        let out = run(&["report", "--format", format, "--all"]);
        assert!(out.len() > 200, "{format}: {out}");
    }
    // The reports people read, in every language.
    for lang in ["nb", "nn", "en"] {
        for format in ["text", "markdown"] {
            let out = run(&["report", "--format", format, "--all", "--lang", lang]);
            assert!(out.len() > 200, "{lang} {format}: {out}");
        }
    }
    let reminders = tmp.path().join("reminders");
    let deliver = format!("dir:{}", reminders.display());
    for lang in ["nb", "nn", "en"] {
        run(&[
            "remind",
            &source,
            "--to",
            "ola@example.test",
            "--deliver",
            &deliver,
            "--lang",
            lang,
            "--apply",
            "--again",
        ]);
    }
    let mut delivered = 0;
    for entry in fs::read_dir(&reminders).expect("reminders written") {
        let raw = fs::read(entry.expect("entry").path()).expect("reads");
        let parsed = mail_parser::MessageParser::default()
            .parse(&raw[..])
            .expect("a reminder parses");
        let text = format!(
            "{}\n{}\n{}",
            parsed.subject().unwrap_or_default(),
            parsed.body_text(0).unwrap_or_default(),
            parsed.body_html(0).unwrap_or_default()
        );
        assert!(
            text.contains('*'),
            "the reminder lists masked values: {text}"
        );
        assert_no_leak("reminder", &text);
        // Its headers too (the keyed id and proof), as delivered.
        assert_no_leak("reminder as delivered", &String::from_utf8_lossy(&raw));
        delivered += 1;
    }
    assert_eq!(delivered, 3);
    // The offboarding report (each language, both formats), its plan and
    // the notice letter: metadata only, values never in clear.
    for (n, lang) in ["nb", "nn", "en"].into_iter().enumerate() {
        let plan = tmp.path().join(format!("plan-{lang}.csv"));
        let notice = tmp.path().join(format!("notice-{lang}.txt"));
        for format in ["text", "jsonl"] {
            let out = run(&[
                "offboard",
                &source,
                "--case",
                &format!("K-{n}-{format}"),
                "--reason",
                "Videre drift",
                "--legal-basis",
                "e-postforskriften § 2",
                "--notified",
                "2026-11-01",
                "--lang",
                lang,
                "--format",
                format,
            ]);
            assert!(out.len() > 200, "{lang} {format}: {out}");
        }
        run(&[
            "offboard",
            &source,
            "--case",
            &format!("K-{n}-files"),
            "--reason",
            "Videre drift",
            "--legal-basis",
            "e-postforskriften § 2",
            "--notified",
            "2026-11-01",
            "--lang",
            lang,
            "--plan",
            &plan.display().to_string(),
            "--notice",
            &notice.display().to_string(),
        ]);
        for file in [&plan, &notice] {
            let text = fs::read_to_string(file).expect("written");
            assert!(text.len() > 100, "{}", file.display());
            assert_no_leak(&file.display().to_string(), &text);
        }
    }
    for format in ["text", "jsonl"] {
        let out = run(&["clean", &source, "--format", format]);
        assert!(out.contains("planned"), "{out}");
    }
    // Applied, then undone: every record and log line of both.
    let moved = run(&["clean", &source, "--format", "jsonl", "--apply"]);
    let run_id = jsonl(moved.as_bytes())
        .first()
        .and_then(|r| r["run"].as_i64())
        .expect("a clean run moved something")
        .to_string();
    for format in ["text", "jsonl"] {
        run(&["undo", &run_id, "--format", format]);
    }
    let undone = run(&["undo", &run_id, "--format", "jsonl", "--apply"]);
    assert!(undone.contains("\"moved\""), "{undone}");
    // The database itself (and its write-ahead log), or every row of a
    // PostgreSQL store as pg_dump writes it.
    if support::on_postgres() {
        let database = store[1].rsplit('/').next().expect("a database");
        let rows = support::postgres_server().dump(database);
        assert!(
            rows.contains("COPY public.findings"),
            "an empty dump proves nothing"
        );
        assert!(rows.len() > 4096, "an empty store proves nothing");
        assert_no_leak("the PostgreSQL store", &rows);
    } else {
        // The store must be there to be checked; its write-ahead log only
        // while a connection has it open (SQLite removes it on the last close).
        let bytes = fs::read(&state).expect("the store file is there to check");
        assert!(bytes.len() > 4096, "an empty store proves nothing");
        assert_no_leak(
            &state.display().to_string(),
            &String::from_utf8_lossy(&bytes),
        );
        let wal = tmp.path().join("state.sqlite-wal");
        match fs::read(&wal) {
            Ok(bytes) => {
                assert_no_leak(&wal.display().to_string(), &String::from_utf8_lossy(&bytes))
            }
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}"),
        }
    }
    // The outputs that take no date: the runs list, the audit trail in both
    // formats, and the audit's anchor log beside the store.
    for args in [
        vec!["runs"],
        vec!["runs", "--format", "jsonl"],
        vec!["audit", "show"],
        vec!["audit", "show", "--format", "jsonl"],
    ] {
        let out = bin()
            .env("MAILHYGIENE_LOG", "trace")
            .args(&args)
            .args(&store)
            .output()
            .expect("runs");
        assert!(out.status.success(), "{args:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.len() > 40, "{args:?}: {stdout}");
        assert_no_leak(&format!("{args:?} stdout"), &stdout);
        assert_no_leak(
            &format!("{args:?} stderr"),
            &String::from_utf8_lossy(&out.stderr),
        );
    }
    // (A PostgreSQL store has an anchor log only where the configuration
    // puts one.)
    if !support::on_postgres() {
        let anchor = fs::read_to_string(format!("{state_arg}.audit.log")).expect("the anchor log");
        assert!(anchor.lines().count() > 3, "{anchor}");
        assert_no_leak("the audit anchor log", &anchor);
    }
}

/// The text and Markdown reports in the reader's language: `--lang`, else
/// the configuration's `language`, else the locale, else English; the
/// machine formats have none.
#[test]
fn reports_follow_the_readers_language() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state.sqlite");
    let store = support::on_test_store(&["--state", &state.display().to_string()]);
    let run = |args: &[&str], locale: &str| {
        let out = bin()
            .env("LANG", locale)
            .env_remove("LC_ALL")
            .env_remove("LC_MESSAGES")
            .args(args)
            .args(&store)
            .args(["--as-of", "2026-11-25"])
            .current_dir(root())
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        String::from_utf8(out.stdout).expect("utf-8")
    };
    run(
        &[
            "scan",
            "mbox:sample/mailbox",
            "--quiet",
            "--format",
            "jsonl",
        ],
        "C",
    );
    let markdown = |extra: &[&str], locale: &str| {
        let mut args = vec!["report", "--format", "markdown"];
        args.extend_from_slice(extra);
        run(&args, locale)
    };
    let nb = markdown(&["--lang", "nb"], "C");
    assert!(nb.starts_with("# Opprydding i e-postkassen"), "{nb}");
    assert!(
        nb.contains("Eldre enn ett år og ikke flagget"),
        "the rule in bokmål:\n{nb}"
    );
    assert!(nb.contains("| fødselsnummer |"), "{nb}");
    let nn = markdown(&[], "nn_NO.UTF-8");
    assert!(nn.starts_with("# Opprydding i e-postkassa"), "{nn}");
    assert!(nn.contains("## Dette bør du gjere"), "{nn}");
    let en = markdown(&[], "C.UTF-8");
    assert!(en.starts_with("# Mailbox cleanup report"), "{en}");
    // --lang wins over the locale; the text format follows too.
    let text = run(&["report", "--lang", "en"], "nb_NO.UTF-8");
    assert!(
        text.contains(" as of 2026-11-25") && text.contains("By folder:"),
        "{text}"
    );
    let text = run(&["report"], "nb_NO.UTF-8");
    assert!(
        text.contains(" per 2026-11-25") && text.contains("Per mappe:"),
        "{text}"
    );
    // JSONL is the same whatever the language.
    assert_eq!(
        run(&["report", "--format", "jsonl"], "nn_NO.UTF-8"),
        run(&["report", "--format", "jsonl"], "C")
    );
}

/// `report` renders from the store what `scan` printed as it read: the
/// same records in the same order, in every format, and so does a rescan.
#[test]
fn report_prints_exactly_what_a_full_scan_prints() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let maildir = tmp.path().join("mail");
    fixture_maildir(&maildir);
    let maildir_source = format!("maildir:{}", maildir.display());
    for source in ["mbox:sample/mailbox", maildir_source.as_str()] {
        for format in ["jsonl", "text", "markdown", "csv"] {
            // A fresh store: the first scan prints as it reads.
            let state = tmp.path().join(format!("state-{format}.sqlite"));
            let state_arg = state.display().to_string();
            let store = support::on_test_store(&["--state", &state_arg]);
            let run = |args: &[&str]| {
                bin()
                    .args(args)
                    .args(&store)
                    .args(["--format", format, "--as-of", "2026-11-25"])
                    .current_dir(root())
                    .output()
                    .expect("runs")
                    .stdout
            };
            let scanned = run(&["scan", source, "--quiet"]);
            let reported = run(&["report", source]);
            let rescanned = run(&["scan", source, "--quiet"]);
            assert!(scanned.len() > 100, "{source} {format}");
            assert_eq!(
                String::from_utf8_lossy(&reported),
                String::from_utf8_lossy(&scanned),
                "{source} {format}: report differs from the scan"
            );
            assert_eq!(
                String::from_utf8_lossy(&rescanned),
                String::from_utf8_lossy(&scanned),
                "{source} {format}: a rescan differs from the first scan"
            );
        }
    }
}

#[test]
fn the_planted_values_are_really_found() {
    // Guards the leak test: it means nothing if the values were never seen.
    let tmp = tempfile::tempdir().expect("tempdir");
    fixture_maildir(tmp.path());
    let out = bin()
        .args([
            "scan",
            &format!("maildir:{}", tmp.path().display()),
            "--format",
            "jsonl",
            "--as-of",
            "2026-11-25",
        ])
        .output()
        .expect("runs");
    let records = jsonl(&out.stdout);
    let detectors: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["detector"].as_str())
        .collect();
    for want in [
        "no.fodselsnummer",
        "no.d_nummer",
        "no.h_nummer",
        "no.bank_account",
        "iban",
        "payment_card",
        "se.personnummer",
        "dk.cpr",
        "fi.hetu",
        "special_category.health",
    ] {
        assert!(
            detectors.contains(want),
            "{want} missing from {detectors:?}"
        );
    }
}

#[test]
fn maildir_folders_flags_and_ages() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let total = fixture_maildir(tmp.path());
    let out = bin()
        .args([
            "scan",
            &format!("maildir:{}", tmp.path().display()),
            "--format",
            "jsonl",
            "--as-of",
            "2026-11-25",
        ])
        .output()
        .expect("runs");
    let records = jsonl(&out.stdout);
    let stale: Vec<&Value> = records.iter().filter(|r| r["type"] == "stale").collect();
    let archived: Vec<&&Value> = stale
        .iter()
        .filter(|r| r["folder"] == "Arkiv/2019")
        .collect();
    assert_eq!(
        archived.len(),
        1,
        "only the unflagged archived message is stale: {archived:?}"
    );
    assert_eq!(archived[0]["message_id"], "<plain@arkiv.test>");
    assert_eq!(archived[0]["rule"], "yearly-review");
    assert_eq!(archived[0]["age_days"], 2885);
    assert_eq!(archived[0]["date"], "2019-01-01T00:00:00Z");
    // Every message was read: at least one record per INBOX fixture is not
    // guaranteed, but the unreadable ones are reported and the run says so.
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "unreadable" && r["problem"] == "decompression_limit")
    );
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "unreadable" && r["problem"] == "encrypted")
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(total > 30);
}

#[test]
fn exit_codes() {
    // Usage and configuration errors: 2.
    bin().args(["scan", "/no/scheme"]).assert().code(2);
    bin()
        .args(["scan", "mbox:sample/mailbox", "--as-of", "25.11.2026"])
        .current_dir(root())
        .assert()
        .code(2);
    bin()
        .args(["scan", "mbox:sample/mailbox", "--rules", "/no/such/dir"])
        .current_dir(root())
        .assert()
        .code(2);
    bin()
        .args(["scan", "imaps://ola:pw@example.test"])
        .assert()
        .code(2);
    bin().arg("scan").assert().code(2);
    // A source that cannot be read: 1, reported, and the other sources still run.
    let out = bin()
        .args([
            "scan",
            "maildir:/no/such/maildir",
            "mbox:sample/mailbox",
            "--format",
            "jsonl",
            "--as-of",
            "2026-11-25",
        ])
        .current_dir(root())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let records = jsonl(&out.stdout);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["type"] == "source_error")
            .count(),
        1
    );
    assert!(records.iter().any(|r| r["type"] == "sensitive"));
    // A clean run: 0.
    bin()
        .args(["scan", "mbox:sample/mailbox", "--as-of", "2026-11-25"])
        .current_dir(root())
        .assert()
        .code(0);
}

#[test]
fn check_reads_a_file_or_standard_input() {
    let eml = root().join("tests/fixtures/corpus/plain-body.eml");
    let out = bin()
        .args(["check", "--format", "jsonl"])
        .arg(&eml)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let records = jsonl(&out.stdout);
    let sensitive: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "sensitive")
        .collect();
    assert_eq!(sensitive.len(), 1);
    assert_eq!(sensitive[0]["detector"], "no.fodselsnummer");
    let from_stdin = bin()
        .args(["check", "--format", "jsonl", "-"])
        .write_stdin(fs::read(&eml).expect("fixture"))
        .output()
        .expect("runs");
    let again = jsonl(&from_stdin.stdout);
    // A file and standard input are judged alike (age from `Date:`).
    let without_source = |rs: &[Value]| -> Vec<Value> {
        rs.iter()
            .map(|r| {
                let mut r = r.clone();
                r["source"] = Value::Null;
                r
            })
            .collect()
    };
    assert_eq!(without_source(&again), without_source(&records));
    // A message with an unreadable part exits 1.
    bin()
        .args(["check"])
        .arg(root().join("tests/fixtures/corpus/zip-bomb.eml"))
        .assert()
        .code(1);
    // Past --max-message-size: reported, not read, exit 1.
    let out = bin()
        .args(["check", "--format", "jsonl", "--max-message-size", "100"])
        .arg(&eml)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        jsonl(&out.stdout)
            .iter()
            .any(|r| r["problem"] == "message_too_large")
    );
    // Not an mbox: said, exit 1 (a single message, or anything else).
    let out = bin()
        .args(["scan", "--format", "jsonl"])
        .arg(format!("mbox:{}", eml.display()))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("not an mbox file") && said.contains("single message"),
        "{said}"
    );
    let out = bin()
        .args(["scan", "--format", "jsonl"])
        .arg(format!("mbox:{}", root().join("README.md").display()))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn rules_check_accepts_the_shipped_rules_and_locates_errors() {
    bin()
        .args(["rules", "check", "rules"])
        .current_dir(root())
        .assert()
        .code(0);
    let tmp = tempfile::tempdir().expect("tempdir");
    fs::write(
        tmp.path().join("bad.toml"),
        "[[rule]]\nid = \"x\"\nmax_age_days = 5\nexempt_flaged = true\n",
    )
    .expect("write");
    let out = bin()
        .args(["rules", "check"])
        .arg(tmp.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:4:"), "{stderr}");
    assert!(stderr.contains("exempt_flaged"), "{stderr}");

    // A company's own reminder template, broken: named with file and line.
    let rules = tempfile::tempdir().expect("tempdir");
    for file in ["retention.toml", "special_categories.toml"] {
        fs::copy(root().join("rules").join(file), rules.path().join(file)).expect("copy");
    }
    fs::create_dir(rules.path().join("templates")).expect("mkdir");
    fs::write(
        rules.path().join("templates/reminder.en.txt"),
        "Subject: Review\n\nHello {{ mailbox.owner }},\n{% for f in folders %}\n",
    )
    .expect("write");
    let out = bin()
        .args(["rules", "check"])
        .arg(rules.path())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("templates/reminder.en.txt:"), "{stderr}");
    // Fixed, the directory passes.
    fs::write(
        rules.path().join("templates/reminder.en.txt"),
        "Subject: Review\n\nHello {{ mailbox.owner }}, {{ due }} due.\n",
    )
    .expect("write");
    bin()
        .args(["rules", "check"])
        .arg(rules.path())
        .assert()
        .code(0);

    // A configuration in nynorsk: every shipped rule says why in it; a
    // company's rule that says it only in English is named.
    let config = tmp.path().join("config.toml");
    fs::write(&config, "language = \"nn\"\n").expect("write");
    bin()
        .args(["rules", "check"])
        .arg(rules.path())
        .arg("--config")
        .arg(&config)
        .assert()
        .code(0);
    let mut own = fs::read_to_string(rules.path().join("retention.toml")).expect("read");
    own.push_str("\n[[rule]]\nid = \"prosjekt-2y\"\ndescription = \"Project mail: two years\"\ndescription_nb = \"Prosjektpost: to år\"\nmax_age_days = 730\nmatch = { folders = [\"Prosjekt/**\"] }\n");
    fs::write(rules.path().join("retention.toml"), own).expect("write");
    let out = bin()
        .args(["rules", "check"])
        .arg(rules.path())
        .arg("--config")
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("prosjekt-2y") && stderr.contains("description_nn"),
        "{stderr}"
    );
    fs::write(&config, "language = \"nb\"\n").expect("write");
    bin()
        .args(["rules", "check"])
        .arg(rules.path())
        .arg("--config")
        .arg(&config)
        .assert()
        .code(0);
    fs::write(&config, "language = \"sv\"\n").expect("write");
    let out = bin()
        .args(["rules", "check"])
        .arg(rules.path())
        .arg("--config")
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("language"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn text_and_markdown_reports_put_the_worst_first() {
    let out = bin()
        .args(["scan", "mbox:sample/mailbox", "--as-of", "2026-11-25"])
        .current_dir(root())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let worst = text
        .split("Messages to handle first:")
        .nth(1)
        .expect("worst section");
    let first_entry: String = worst.lines().skip(1).take(3).collect::<Vec<_>>().join("\n");
    assert!(
        first_entry.contains("fødselsnummer") || first_entry.contains("Special category: health"),
        "a person's data should lead, not an invoice IBAN:\n{first_entry}"
    );
    // Plain words: friendly names, not detector ids; "1 message", not "1 messages".
    assert!(!text.contains("no.fodselsnummer"), "{text}");
    assert!(!text.contains(" 1 messages"), "{text}");
    let md = bin()
        .args([
            "scan",
            "mbox:sample/mailbox",
            "--as-of",
            "2026-11-25",
            "--format",
            "markdown",
        ])
        .current_dir(root())
        .output()
        .expect("runs");
    let md = String::from_utf8_lossy(&md.stdout);
    assert!(
        md.starts_with("# Mailbox cleanup report: mbox:sample/mailbox, 2026-11-25"),
        "{md}"
    );
    assert!(md.contains("## Due for review"));
    assert!(md.contains("| INBOX |"));
    // What a person needs to find a message: sender name and address, subject.
    assert!(
        md.contains("| Ingrid Eksempel \\<ingrid@firma.example\\> | Ny ansatt - personalia |"),
        "{md}"
    );
    // Sent mail names its recipient.
    assert!(md.contains("| to lonn@firma.example |"), "{md}");
    assert!(!md.contains("&lt;") && !md.contains("&gt;"), "{md}");
}

#[test]
fn csv_has_a_header_and_one_row_per_record() {
    let csv_out = bin()
        .args([
            "scan",
            "mbox:sample/mailbox",
            "--as-of",
            "2026-11-25",
            "--format",
            "csv",
        ])
        .current_dir(root())
        .output()
        .expect("runs");
    let jsonl_out = bin()
        .args([
            "scan",
            "mbox:sample/mailbox",
            "--as-of",
            "2026-11-25",
            "--format",
            "jsonl",
        ])
        .current_dir(root())
        .output()
        .expect("runs");
    assert_eq!(csv_out.status.code(), Some(0));
    assert_eq!(jsonl_out.status.code(), Some(0));
    let mut reader = csv::Reader::from_reader(&csv_out.stdout[..]);
    let header = reader.headers().expect("header").clone();
    assert_eq!(&header[0], "type");
    let records = jsonl(&jsonl_out.stdout).len();
    assert!(
        records > 10,
        "the sample has findings and due mail: {records}"
    );
    assert_eq!(reader.records().count(), records);
}

/// Two runs never write one store at once: the second stops with a plain
/// message (exit 1), or waits with --wait; reports read meanwhile.
#[test]
fn a_run_lock_keeps_two_runs_apart() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let state = tmp.path().join("state.sqlite");
    let state_arg = state.display().to_string();
    // The command is made before it is timed: making one may create a
    // database first (with MAILHYGIENE_TEST_STORE=postgresql, for the
    // default store this test does not use).
    let command = |extra: &[&str]| {
        let mut cmd = bin();
        cmd.args([
            "scan",
            "mbox:sample/mailbox",
            "--quiet",
            "--state",
            &state_arg,
        ])
        .args(extra)
        .current_dir(root());
        cmd
    };
    let scan = |extra: &[&str]| command(extra).output().expect("runs");
    assert_eq!(scan(&[]).status.code(), Some(0));
    let held = mailhygiene::store::sqlite::RunLock::acquire(&state, false).expect("lock");
    let out = scan(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another mailhygiene run"), "{stderr}");
    assert!(stderr.contains(&std::process::id().to_string()), "{stderr}");
    // A report without any store is a usage error, not an empty report.
    bin()
        .args(["report", "--state"])
        .arg(tmp.path().join("none.sqlite"))
        .assert()
        .code(2);
    // Reading needs no lock.
    let report = bin()
        .args(["report", "--state", &state_arg])
        .output()
        .expect("runs");
    assert_eq!(report.status.code(), Some(0));
    // --wait: the run says it waits, and goes ahead once the lock is
    // released (released only after it said so: a loaded machine may take
    // longer than any fixed delay to start it).
    let (name, value) = support::fresh_default_store(&fresh_state());
    let mut waiting = std::process::Command::new(env!("CARGO_BIN_EXE_mailhygiene"))
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env(name, value)
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .env_remove("MAILHYGIENE_LOG")
        .args([
            "scan",
            "mbox:sample/mailbox",
            "--quiet",
            "--wait",
            "--state",
            &state_arg,
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("runs");
    let mut said = String::new();
    let mut stderr = std::io::BufReader::new(waiting.stderr.take().expect("stderr"));
    while !said.contains("waiting for the run") {
        let mut line = String::new();
        let read = std::io::BufRead::read_line(&mut stderr, &mut line).expect("reads");
        assert!(read > 0, "it ended without waiting: {said}");
        said.push_str(&line);
    }
    // It waits while the lock is held.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        waiting.try_wait().expect("status").is_none(),
        "it did not wait"
    );
    assert!(
        said.contains(&std::process::id().to_string()),
        "it names the holder: {said}"
    );
    drop(held);
    let status = waiting.wait().expect("ends");
    assert_eq!(status.code(), Some(0), "{said}");
}

/// Names from mail are shown, never acted on: a folder name, subject,
/// attachment name or folded Message-ID with line breaks and escape codes
/// adds no line to a report and no escape code to a terminal.
#[test]
fn control_characters_in_names_are_escaped_in_every_format() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let maildir = tmp.path().join("mail");
    let folder = maildir.join(".Evil\u{1b}[31m\nINJECTED folder");
    for sub in ["cur", "new", "tmp"] {
        fs::create_dir_all(maildir.join(sub)).expect("mkdir");
        fs::create_dir_all(folder.join(sub)).expect("mkdir");
    }
    let message = "Message-ID: <a\r\n INJECTED@x>\r\nFrom: Kari <kari@example.test>\r\nSubject: =?utf-8?b?SGVpGxtbMzFtCklOSkVDVEVEIHN1YmplY3Q=?=\r\nDate: Wed, 1 Jan 2020 10:00:00 +0000\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nFnr 150765 00565\r\n--b\r\nContent-Type: application/pdf; name=\"=?utf-8?b?eBtbMzFtCklOSkVDVEVELnBkZg==?=\"\r\nContent-Disposition: attachment; filename=\"=?utf-8?b?eBtbMzFtCklOSkVDVEVELnBkZg==?=\"\r\n\r\nnot a pdf\r\n--b--\r\n";
    fs::write(folder.join("cur/1.x:2,S"), message).expect("write");
    let source = format!("maildir:{}", maildir.display());
    for format in ["text", "markdown", "csv", "jsonl"] {
        let out = bin()
            .args(["scan", &source, "--no-state", "--format", format, "--all"])
            .args(["--as-of", "2026-11-25"])
            .output()
            .expect("runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.len() > 50, "{format}: {stdout}");
        assert!(
            !stdout.contains('\u{1b}'),
            "{format}: an escape code reached the output"
        );
        for line in stdout.lines() {
            assert!(
                !line
                    .trim_start_matches(['|', ' ', '"'])
                    .starts_with("INJECTED"),
                "{format}: a name added a line: {line:?}"
            );
        }
    }
}

/// Under systemd (JOURNAL_STREAM set) log lines carry their priority for
/// journald and no timestamp of their own.
#[test]
fn logs_suit_journald_under_systemd() {
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("JOURNAL_STREAM", "8:12345")
        .env("MAILHYGIENE_LOG", "warn")
        .env(
            "MAILHYGIENE_FINGERPRINT_KEY",
            "journald-test-key-0123456789",
        )
        .args([
            "scan",
            "mbox:/nonexistent/mailbox",
            "--no-state",
            "--quiet",
            "--format",
            "jsonl",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let logged: Vec<&str> = stderr.lines().filter(|l| l.starts_with('<')).collect();
    assert!(!logged.is_empty(), "{stderr}");
    assert!(
        logged
            .iter()
            .all(|l| l.starts_with("<3>") || l.starts_with("<4>")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Z ERROR") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(1));
}

/// The store is named by URL the same way for every command: `--store
/// sqlite:PATH`, or `MAILHYGIENE_STORE`; `--state FILE` is `sqlite:FILE`;
/// naming it twice, or a backend this build lacks, is a usage error.
#[test]
fn the_store_is_named_by_url_for_every_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let maildir = dir.path().join("mail");
    let n = fixture_maildir(&maildir);
    let source = format!("maildir:{}", maildir.display());
    let path = dir.path().join("by-url.sqlite");
    let url = format!("sqlite:{}", path.display());
    let out = bin()
        .args([
            "scan",
            &source,
            "--quiet",
            "--store",
            &url,
            "--as-of",
            "2026-11-25",
        ])
        .output()
        .expect("runs");
    // 1: the corpus holds messages that cannot be fully read, on purpose.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(path.exists(), "the store was made where the URL says");
    // The same store through the environment, and as --state.
    let by_env = bin()
        .env("MAILHYGIENE_STORE", &url)
        .args(["report", "--format", "jsonl", "--as-of", "2026-11-25"])
        .output()
        .expect("runs");
    let by_state = bin()
        .args([
            "report",
            "--format",
            "jsonl",
            "--as-of",
            "2026-11-25",
            "--state",
        ])
        .arg(&path)
        .output()
        .expect("runs");
    assert_eq!(by_env.status.code(), by_state.status.code());
    assert!(
        matches!(by_env.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&by_env.stderr)
    );
    assert_eq!(by_env.stdout, by_state.stdout);
    assert!(
        jsonl(&by_env.stdout).len() >= n / 2,
        "the report read the store"
    );
    for (args, what) in [
        (
            vec!["report", "--store", &url, "--state", "x.sqlite"],
            "twice",
        ),
        (
            vec!["report", "--store", "postgresql://mh@127.0.0.1/mh"],
            "postgresql",
        ),
    ] {
        let out = bin().args(&args).output().expect("runs");
        assert_eq!(
            out.status.code(),
            Some(2),
            "{what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A port nothing listens on fails at once, in words that say what to
/// check, not after a minute of retries with the system's error text.
#[test]
fn a_refused_connection_says_nothing_listens() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let out = bin()
        .env("MAILHYGIENE_IMAP_PASSWORD", "x")
        .env("MAILHYGIENE_FINGERPRINT_KEY", "refused-test-key-0123456789")
        .args([
            "scan",
            &format!("imaps://kari@127.0.0.1:{port}"),
            "--no-state",
        ])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("nothing listens on 127.0.0.1:{port}"))
            && stderr.contains("host, port and security"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("retrying"),
        "refused is not retried: {stderr}"
    );
}

/// `MAILHYGIENE_CONFIG` names the configuration for every command that
/// reads one (a scheduler's unit sets it once); named and missing is an
/// error, not a silent default.
#[test]
fn the_configuration_can_be_named_in_the_environment() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = tmp.path().join("mh.toml");
    fs::write(
        &config,
        "[[account]]\nname = \"egen\"\nhost = \"imap.example.test\"\nauth = \"password\"\npassword_env = \"MH_TEST_PASSWORD\"\nmailboxes = [\"drift@example.test\"]\n",
    )
    .expect("config");
    let out = bin()
        .env("MAILHYGIENE_CONFIG", &config)
        .env("MH_TEST_PASSWORD", "x")
        .env("XDG_CONFIG_HOME", tmp.path().join("none"))
        .args(["config", "check"])
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("account egen: 1 mailbox"), "{stdout}");
    let out = bin()
        .env("MAILHYGIENE_CONFIG", tmp.path().join("missing.toml"))
        .args(["config", "check"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MAILHYGIENE_CONFIG names"), "{stderr}");
}

/// `config check` checks the fingerprint key as a scan will use it (a
/// missing or readable-by-others file is named with the fix), and
/// `key create` makes one, private, never replacing one.
#[test]
fn config_check_checks_the_key_and_key_create_makes_one() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = tmp.path().join("keys").join("fingerprint.key");
    let config = tmp.path().join("config.toml");
    fs::write(
        &config,
        format!("fingerprint_key_file = \"{}\"\n", key.display()),
    )
    .expect("write");
    let check = || {
        bin()
            .env_remove("MAILHYGIENE_FINGERPRINT_KEY")
            .args(["config", "check"])
            .arg(&config)
            .output()
            .expect("runs")
    };
    let out = check();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("fingerprint_key_file") && stderr.contains("mailhygiene key create --file"),
        "{stderr}"
    );
    let made = bin()
        .env_remove("MAILHYGIENE_FINGERPRINT_KEY")
        .args(["key", "create", "--file"])
        .arg(&key)
        .output()
        .expect("runs");
    assert_eq!(
        made.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let mode = fs::metadata(&key).expect("made").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let first = fs::read(&key).expect("key");
    assert!(first.len() >= 32);
    let out = check();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("fingerprint key: {}", key.display())),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Never replaced.
    let again = bin()
        .args(["key", "create", "--file"])
        .arg(&key)
        .output()
        .expect("runs");
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(fs::read(&key).expect("key"), first);
    // Readable by others: refused with the fix.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = check();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
