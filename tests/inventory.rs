//! The inventory against a real Dovecot: rescans follow the server (flags,
//! expunges, new mail), reports come from the store alone for any date, and
//! `report` prints exactly what `scan --full` prints.

mod support;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use support::dovecot::{ALICE, Dovecot};

const KEY: &str = "inventory-test-key-0123456789";

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/corpus")
            .join(name),
    )
    .expect("fixture")
}

fn old() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_880_000) // 2020-01-01
}

fn recent() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000) // 2025-11-24
}

fn alice_url(d: &Dovecot) -> String {
    format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port)
}

/// Runs the binary with Alice's password (unless `connect` is false: then no
/// credential at all is available) and returns (exit code, stdout, stderr).
fn mailhygiene(d: &Dovecot, connect: bool, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
    cmd.env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("SSL_CERT_FILE", d.ca_file())
        .env_remove("MAILHYGIENE_IMAP_TOKEN")
        .env_remove("MAILHYGIENE_LOG")
        .env("XDG_STATE_HOME", d.dir.path().join("xdg-state"))
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .args(args)
        .timeout(Duration::from_secs(120));
    if connect {
        cmd.env("MAILHYGIENE_IMAP_PASSWORD", ALICE.password);
    } else {
        cmd.env_remove("MAILHYGIENE_IMAP_PASSWORD");
    }
    let out = cmd.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn jsonl(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Per Message-ID, the record types it has (`stale`, `sensitive`, ...).
fn by_message(records: &[Value]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in records {
        if let Some(id) = r["message_id"].as_str() {
            out.entry(id.to_string())
                .or_default()
                .push(r["type"].as_str().unwrap_or_default().to_string());
        }
    }
    out
}

fn mailbox() -> Dovecot {
    let d = Dovecot::start(None);
    for (folder, name, flags, fixture, when) in [
        ("", "1.a", "S", "plain-body.eml", old()),
        ("", "2.a", "", "written-forms.eml", recent()),
        ("", "3.a", "FS", "health-norwegian.eml", old()),
        ("", "4.a", "", "financial.eml", old()),
        (".Sent Items", "6.a", "S", "nordic.eml", old()),
    ] {
        d.deliver(&ALICE, folder, name, flags, &corpus(fixture), when);
    }
    d
}

/// `--state FILE`, or a fresh PostgreSQL database with
/// `MAILHYGIENE_TEST_STORE=postgresql` (see `support::store_args`).
fn state(d: &Dovecot) -> [String; 2] {
    support::store_args(d.dir.path())
}

#[test]
fn rescans_follow_the_server_and_reports_need_no_connection() {
    let d = mailbox();
    let url = alice_url(&d);
    let state = state(&d);
    let scan = |extra: &[&str]| {
        let mut args = vec!["scan", url.as_str(), "--quiet", &state[0], &state[1]];
        args.extend(extra);
        mailhygiene(&d, true, &args)
    };
    let (code, out, err) = scan(&["--format", "jsonl", "--as-of", "2026-11-25"]);
    assert_eq!(code, 0, "{err}");
    let first = by_message(&jsonl(&out));
    let plain = "<plain@fixtures.example.test>";
    let financial = "<fin@fixtures.example.test>";
    assert!(first[plain].contains(&"stale".to_string()), "{first:?}");
    assert!(first.contains_key(financial), "{first:?}");

    // On the server a stale message is flagged (nothing else changes: the
    // rescan asks only for the flagged UIDs), then unflagged again.
    d.set_flags(&ALICE, "", "1.a", "FS");
    let (code, out, err) = scan(&["--format", "jsonl", "--as-of", "2026-11-25"]);
    assert_eq!(code, 0, "{err}");
    let flagged = by_message(&jsonl(&out));
    assert!(
        !flagged[plain].contains(&"stale".to_string()),
        "{flagged:?}"
    );
    d.set_flags(&ALICE, "", "1.a", "S");
    let (_, out, _) = scan(&["--format", "jsonl", "--as-of", "2026-11-25"]);
    assert!(by_message(&jsonl(&out))[plain].contains(&"stale".to_string()));

    // Flagged again, one expunged, one arrives: all three seen in one rescan.
    d.set_flags(&ALICE, "", "1.a", "FS");
    d.expunge(&ALICE, "", "4.a");
    d.deliver(&ALICE, "", "9.a", "", &corpus("pdf.eml"), old());
    let (code, out, err) = scan(&["--format", "jsonl", "--as-of", "2026-11-25"]);
    assert_eq!(code, 0, "{err}");
    let now = by_message(&jsonl(&out));
    assert!(
        !now.get(plain)
            .is_some_and(|t| t.contains(&"stale".to_string())),
        "a message flagged on the server is still stale: {now:?}"
    );
    assert!(
        !now.contains_key(financial),
        "an expunged message is still reported"
    );
    assert!(
        now["<pdf@fixtures.example.test>"].contains(&"stale".to_string()),
        "{now:?}"
    );
    // The text report counts the mailbox as it is, not what this run read.
    let (_, text, _) = scan(&["--as-of", "2026-11-25"]);
    assert!(text.contains("5 messages"), "{text}");

    // A year on, from the store alone (no credentials: nothing can connect),
    // exactly what a full scan of the same mailbox prints for that date.
    let (code, report, err) = mailhygiene(
        &d,
        false,
        &[
            "report",
            &state[0],
            &state[1],
            "--format",
            "jsonl",
            "--as-of",
            "2027-11-25",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let fresh_dir = d.dir.path().join("fresh");
    std::fs::create_dir_all(&fresh_dir).expect("mkdir");
    let fresh = support::store_args(&fresh_dir);
    let (code, full, err) = mailhygiene(
        &d,
        true,
        &[
            "scan",
            &url,
            "--quiet",
            "--full",
            &fresh[0],
            &fresh[1],
            "--format",
            "jsonl",
            "--as-of",
            "2027-11-25",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(report, full);
    let later = by_message(&jsonl(&report));
    assert!(
        later["<forms@fixtures.example.test>"].contains(&"stale".to_string()),
        "mail from 2025-11-24 is due a year on: {later:?}"
    );
    // Every other format renders from the store too.
    for format in ["text", "csv", "markdown"] {
        let (code, out, err) = mailhygiene(
            &d,
            false,
            &["report", &state[0], &state[1], "--format", format],
        );
        assert_eq!(code, 0, "{format}: {err}");
        assert!(!out.is_empty(), "{format}");
    }
    // A mailbox that was never scanned is a usage error, not an empty report.
    let (code, _, err) = mailhygiene(
        &d,
        false,
        &["report", &state[0], &state[1], "maildir:/nowhere"],
    );
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_changed_uidvalidity_rebuilds_the_folder_and_full_never_duplicates() {
    let d = mailbox();
    let url = alice_url(&d);
    let state = state(&d);
    let args = [
        "scan",
        url.as_str(),
        "--quiet",
        &state[0],
        &state[1],
        "--format",
        "jsonl",
        "--as-of",
        "2026-11-25",
    ];
    let (code, first, err) = mailhygiene(&d, true, &args);
    assert_eq!(code, 0, "{err}");
    let mut full_args = args.to_vec();
    full_args.push("--full");
    let (code, full, err) = mailhygiene(&d, true, &full_args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(full, first, "--full stored something twice");
    // Renumber INBOX: its messages are read again, and nothing doubles.
    remove_index(&d.maildir(&ALICE));
    let (code, after, err) = mailhygiene(&d, true, &args);
    assert_eq!(code, 0, "{err}");
    assert_eq!(by_message(&jsonl(&after)), by_message(&jsonl(&first)));
}

fn remove_index(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("maildir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if name.starts_with("dovecot-uidlist") || name.starts_with("dovecot.index") {
            std::fs::remove_file(&path).expect("remove index");
        }
    }
}

#[test]
fn local_rescans_read_only_new_files_and_forget_deleted_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let maildir = dir.path().join("Maildir");
    for sub in ["cur", "new", "tmp", ".Arkiv/cur"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
    }
    let put = |path: &str, fixture: &str| {
        let file = maildir.join(path);
        std::fs::write(&file, corpus(fixture)).expect("write");
        std::fs::File::options()
            .write(true)
            .open(&file)
            .expect("open")
            .set_modified(old())
            .expect("mtime");
    };
    put("cur/1.x:2,S", "plain-body.eml");
    put("cur/2.x:2,S", "financial.eml");
    put(".Arkiv/cur/3.x:2,", "nordic.eml");
    let source = format!("maildir:{}", maildir.display());
    let state = support::store_args(dir.path());
    let run = |extra: &[&str]| {
        let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
        cmd.env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
            .env("PGPASSWORD", support::postgres::PASSWORD)
            .env("XDG_STATE_HOME", dir.path().join("xdg-state"))
            .args(["scan", &source, &state[0], &state[1], "--format", "jsonl"])
            .args(["--as-of", "2026-11-25"])
            .args(extra);
        let out = cmd.output().expect("runs");
        assert_eq!(out.status.code(), Some(0));
        jsonl(&String::from_utf8(out.stdout).expect("utf-8"))
    };
    let first = run(&[]);
    assert_eq!(by_message(&first).len(), 3);
    // Flag one (its name changes), delete one, add one.
    std::fs::rename(maildir.join("cur/1.x:2,S"), maildir.join("cur/1.x:2,FS")).expect("flag");
    std::fs::remove_file(maildir.join("cur/2.x:2,S")).expect("delete");
    put("new/4.x", "pdf.eml");
    let changed = run(&["--changes-only"]);
    assert_eq!(
        by_message(&changed).keys().collect::<Vec<_>>(),
        vec!["<pdf@fixtures.example.test>"],
        "only the new file is read"
    );
    let now = by_message(&run(&[]));
    assert!(!now.contains_key("<fin@fixtures.example.test>"));
    assert!(
        !now.get("<plain@fixtures.example.test>")
            .is_some_and(|t| t.contains(&"stale".to_string())),
        "{now:?}"
    );
    assert_eq!(now.len(), 3, "{now:?}");
}

#[test]
fn another_fingerprint_key_is_refused_on_the_same_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = support::store_args(dir.path());
    let root = env!("CARGO_MANIFEST_DIR");
    let run = |key: &str| {
        Command::cargo_bin("mailhygiene")
            .expect("binary")
            .env("MAILHYGIENE_FINGERPRINT_KEY", key)
            .env("PGPASSWORD", support::postgres::PASSWORD)
            .env("XDG_STATE_HOME", dir.path().join("xdg-state"))
            .current_dir(root)
            .args(["scan", "mbox:sample/mailbox", &state[0], &state[1]])
            .output()
            .expect("runs")
    };
    assert_eq!(run(KEY).status.code(), Some(0));
    let other = run("another-key-0123456789");
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("another fingerprint key"));
}
