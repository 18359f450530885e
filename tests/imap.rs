//! IMAP sources against a real Dovecot started by the test (tests/support).

mod support;

use assert_cmd::Command;
use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use support::dovecot::{ALICE, BOB, Dovecot};

const KEY: &str = "imap-test-key-0123456789";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(root().join("tests/fixtures/corpus").join(name)).expect("fixture")
}

/// A server with Alice's mailbox: INBOX, Sent Items and a nested folder,
/// flagged and unflagged, old and new, with identifiers and health data.
fn server(capabilities: Option<&str>) -> Dovecot {
    let d = Dovecot::start(capabilities);
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_880_000); // 2020-01-01
    let recent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000); // 2025-11-24
    let messages = [
        ("", "1.a", "S", "plain-body.eml", old),
        ("", "2.a", "", "written-forms.eml", recent),
        ("", "3.a", "FS", "health-norwegian.eml", old),
        ("", "4.a", "", "xlsx-shared-inline-numeric.eml", recent),
        ("", "5.a", "S", "zip-archive.eml", recent),
        (".Sent Items", "6.a", "S", "financial.eml", old),
        (".Prosjekter.2024", "7.a", "", "nordic.eml", old),
        (
            ".Prosjekter.2024",
            "8.a",
            "S",
            "negatives-look-alikes.eml",
            recent,
        ),
    ];
    for (folder, name, flags, fixture, when) in messages {
        d.deliver(&ALICE, folder, name, flags, &corpus(fixture), when);
    }
    // Not mail: Exchange's Calendar folder is skipped (with Contacts and
    // Tasks beside it, the listing is Exchange's).
    for empty in [".Contacts", ".Tasks"] {
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(d.maildir(&ALICE).join(empty).join(sub)).expect("mkdir");
        }
    }
    d.deliver(
        &ALICE,
        ".Calendar",
        "9.c",
        "S",
        &corpus("plain-body.eml"),
        old,
    );
    d.deliver(&BOB, "", "1.b", "S", &corpus("d-and-h-numbers.eml"), recent);
    d
}

fn scan(
    d: &Dovecot,
    source: &str,
    env: &[(&str, &str)],
    extra: &[&str],
) -> (i32, Vec<Value>, String) {
    let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
    cmd.env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("SSL_CERT_FILE", d.ca_file())
        .env_remove("MAILHYGIENE_IMAP_PASSWORD")
        .env_remove("MAILHYGIENE_IMAP_TOKEN")
        .env_remove("SSL_CERT_DIR")
        .arg("scan")
        .args((!source.is_empty()).then_some(source))
        .args(["--format", "jsonl", "--quiet", "--as-of", "2026-11-25"])
        .args(support::on_test_store(extra))
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .timeout(Duration::from_secs(120));
    for (k, v) in env {
        cmd.env(k, v);
    }
    // Each scan starts from empty state unless the test says otherwise.
    let fresh_state = tempfile::tempdir().expect("state dir");
    if !extra.contains(&"--state") {
        let (name, value) = support::fresh_default_store(fresh_state.path());
        cmd.env(name, value);
    }
    let out = cmd.output().expect("runs");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let records = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (
        out.status.code().unwrap_or(-1),
        records,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Records outside the folders an IMAP scan reads (Exchange's non-mail folders).
fn mail_only(records: &[Value]) -> Vec<Value> {
    records
        .iter()
        .filter(|r| r["folder"] != "Calendar")
        .cloned()
        .collect()
}

/// What a scan found, independent of how the mailbox was reached.
/// A scan to compare a faulty one with: it must have run whole and found
/// something, or the comparison proves nothing.
fn reference_scan(d: &Dovecot, source: &str, env: &[(&str, &str)], extra: &[&str]) -> Vec<Value> {
    let (code, records, stderr) = scan(d, source, env, extra);
    assert_eq!(code, 0, "the reference scan failed: {stderr}");
    assert!(
        records.iter().any(|r| r["type"] == "sensitive"),
        "the reference scan found nothing"
    );
    records
}

fn findings(records: &[Value]) -> BTreeSet<(String, String, String, String, String)> {
    records
        .iter()
        .filter(|r| r["type"] == "sensitive" || r["type"] == "stale")
        .map(|r| {
            (
                r["type"].as_str().unwrap_or_default().to_string(),
                r["folder"].as_str().unwrap_or_default().to_string(),
                r["message_id"].as_str().unwrap_or_default().to_string(),
                r["detector"]
                    .as_str()
                    .or(r["rule"].as_str())
                    .unwrap_or_default()
                    .to_string(),
                r["fingerprint"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn imaps_with_a_password_finds_what_a_local_scan_finds_and_changes_nothing() {
    let d = server(None);
    let before = d.snapshot(&ALICE);
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let (code, records, stderr) = scan(
        &d,
        &url,
        &[("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)],
        &[],
    );
    assert_eq!(code, 0, "stderr: {stderr}");
    assert_eq!(
        d.snapshot(&ALICE),
        before,
        "the scan changed flags or moved messages"
    );

    let local = format!("maildir:{}", d.maildir(&ALICE).display());
    let (_, local_records, _) = scan(&d, &local, &[], &[]);
    let not_calendar = |recs: &[Value]| -> Vec<Value> {
        recs.iter()
            .filter(|r| r["folder"] != "Calendar")
            .cloned()
            .collect()
    };
    assert_eq!(findings(&records), findings(&not_calendar(&local_records)));
    assert!(findings(&records).len() > 10);
    assert!(
        records.iter().all(|r| r["folder"] != "Calendar"),
        "non-mail folders are skipped"
    );

    // IMAP records carry UIDs; folders are named as Exchange users see them.
    assert!(
        records
            .iter()
            .all(|r| r["uid"].as_u64().is_some_and(|u| u > 0))
    );
    assert!(records.iter().all(|r| r["source"] == url.as_str()));
    let folders: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["folder"].as_str())
        .collect();
    assert!(
        folders.contains("Sent Items")
            && folders.contains("Prosjekter/2024")
            && folders.contains("INBOX"),
        "{folders:?}"
    );
    // The flagged old message is exempt; the unflagged old one is stale.
    let stale: BTreeSet<&str> = records
        .iter()
        .filter(|r| r["type"] == "stale")
        .filter_map(|r| r["message_id"].as_str())
        .collect();
    assert!(stale.contains("<plain@fixtures.example.test>"));
    assert!(!stale.contains("<health-no@fixtures.example.test>"));
    // Nothing secret in what was printed.
    assert!(!stderr.contains(ALICE.password));
}

#[test]
fn starttls_and_plaintext_only_on_request() {
    let d = server(None);
    let url = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let env = [("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)];
    let (code, records, stderr) = scan(&d, &url, &env, &[]);
    assert_eq!(code, 0, "STARTTLS scan failed: {stderr}");
    let (code, plain, stderr) = scan(&d, &url, &env, &["--allow-plaintext"]);
    assert_eq!(code, 0, "plaintext loopback scan failed: {stderr}");
    assert_eq!(findings(&records), findings(&plain));
    // Plaintext to anything but loopback is refused up front.
    let (code, _, stderr) = scan(
        &d,
        "imap://alice@mail.example.test",
        &env,
        &["--allow-plaintext"],
    );
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn wrong_passwords_are_explained_without_the_password() {
    let d = server(None);
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let (code, records, stderr) = scan(
        &d,
        &url,
        &[("MAILHYGIENE_IMAP_PASSWORD", "wrong-secret-xyz")],
        &[],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("login refused"), "{stderr}");
    assert!(stderr.contains("wrong user name or password"), "{stderr}");
    assert!(
        !stderr.contains("code: None") && !stderr.contains("Some("),
        "{stderr}"
    );
    assert!(!stderr.contains("wrong-secret-xyz"));
    assert_eq!(records[0]["type"], "source_error");
    assert!(!records[0].to_string().contains("wrong-secret-xyz"));
    // No credentials at all is a configuration error.
    let (code, _, _) = scan(&d, &url, &[], &[]);
    assert_eq!(code, 2);
}

#[test]
fn one_failing_mailbox_does_not_stop_the_others() {
    let d = server(None);
    let alice = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let nobody = format!("imaps://nobody%40example.test@127.0.0.1:{}", d.imaps_port);
    let (code, records, _) = scan(
        &d,
        &nobody,
        &[("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)],
        &[&alice],
    );
    assert_eq!(code, 1);
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "source_error" && r["source"] == nobody.as_str())
    );
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "sensitive" && r["source"] == alice.as_str())
    );
}

/// A reply the IMAP library's parser panics on (found by fuzzing the FETCH
/// reader: a response text after `[ALERT]` starting with a byte that is not
/// UTF-8) costs that mailbox, named with a plain reason, and nothing else:
/// the other mailbox is read, and the reply is not quoted anywhere.
#[test]
fn a_reply_that_crashes_the_imap_parser_costs_only_its_mailbox() {
    use support::proxy::{Fault, Proxy};
    let d = server(None);
    let proxy = Proxy::start(
        d.imap_port,
        Fault::Inject {
            pattern: "BODY.PEEK[]".into(),
            reply: b"* OK [ALERT]\xd4 FETCH 01019012345 leaked?\r\n".to_vec(),
        },
    );
    let hostile = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let direct = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let (code, records, stderr) = scan(
        &d,
        &hostile,
        &[("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)],
        &[&direct, "--allow-plaintext"],
    );
    assert_eq!(code, 1, "{stderr}");
    let failed: Vec<&Value> = records
        .iter()
        .filter(|r| r["type"] == "source_error")
        .collect();
    assert_eq!(failed.len(), 1, "{records:?}");
    assert_eq!(failed[0]["source"], hostile.as_str());
    assert!(
        failed[0].to_string().contains("cannot read"),
        "{}",
        failed[0]
    );
    assert!(
        records
            .iter()
            .any(|r| r["type"] == "sensitive" && r["source"] == direct.as_str()),
        "the other mailbox was not read: {stderr}"
    );
    let everything = format!("{records:?}{stderr}");
    assert!(
        !everything.contains("01019012345") && !everything.contains("leaked"),
        "{everything}"
    );
}

#[test]
fn xoauth2_tokens_valid_expired_and_for_another_user() {
    let d = server(None);
    let alice = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let good = d.token(ALICE.name, 3600);
    let (code, records, stderr) = scan(&d, &alice, &[("MAILHYGIENE_IMAP_TOKEN", &good)], &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(records.iter().any(|r| r["type"] == "sensitive"));
    assert!(!stderr.contains(&good));

    let expired = d.token(ALICE.name, -60);
    let (code, _, stderr) = scan(&d, &alice, &[("MAILHYGIENE_IMAP_TOKEN", &expired)], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!stderr.contains(&expired));

    let bobs = d.token(BOB.name, 3600);
    let (code, _, stderr) = scan(&d, &alice, &[("MAILHYGIENE_IMAP_TOKEN", &bobs)], &[]);
    assert_eq!(
        code, 1,
        "another user's token must not open Alice's mailbox: {stderr}"
    );
}

/// At trace level, over IMAP, with a password and with a token: neither
/// secret, nor any planted value (in any written form), reaches any output.
#[test]
fn no_secret_and_no_clear_value_at_trace_level_over_imap() {
    let d = server(None);
    let alice = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let planted: Vec<String> =
        std::fs::read_to_string(root().join("tests/fixtures/corpus/PLANTED"))
            .expect("PLANTED")
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
    let token = d.token(ALICE.name, 3600);
    let wrong = "wrong-pass-0987";
    for (env, secret) in [
        (
            ("MAILHYGIENE_IMAP_PASSWORD", ALICE.password),
            ALICE.password,
        ),
        (("MAILHYGIENE_IMAP_TOKEN", token.as_str()), token.as_str()),
        (("MAILHYGIENE_IMAP_PASSWORD", wrong), wrong),
    ] {
        for format in ["jsonl", "text"] {
            let (_, records, stderr) = scan(
                &d,
                &alice,
                &[env, ("MAILHYGIENE_LOG", "trace")],
                &["--format", format],
            );
            let _ = records;
            let mut all = stderr.clone();
            all.push_str(&format!("{records:?}"));
            assert!(!all.contains(secret), "the secret leaked at trace level");
            // The XOAUTH2 payload as sent (base64) must not show either.
            let payload = base64::engine::general_purpose::STANDARD.encode(format!(
                "user={}\x01auth=Bearer {secret}\x01\x01",
                ALICE.name
            ));
            assert!(!all.contains(&payload));
            for value in &planted {
                let spaced = if value.len() == 11 {
                    format!("{} {}", &value[..6], &value[6..])
                } else {
                    value.clone()
                };
                assert!(
                    !all.contains(value.as_str()) && !all.contains(&spaced),
                    "a planted value leaked at trace level"
                );
            }
        }
    }
}

#[test]
fn works_with_only_exchange_online_capabilities() {
    let exchange = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
    let d = server(Some(exchange));
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let (code, records, stderr) = scan(
        &d,
        &url,
        &[("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let local = format!("maildir:{}", d.maildir(&ALICE).display());
    let (_, local_records, _) = scan(&d, &local, &[], &[]);
    assert_eq!(findings(&records), findings(&mail_only(&local_records)));
}

/// Bytes the server sent in the last finished IMAP session (from Dovecot's
/// logout line, `out=N`).
fn last_session_bytes_out(d: &Dovecot) -> u64 {
    let log = std::fs::read_to_string(d.dir.path().join("dovecot.log")).expect("dovecot log");
    log.lines()
        .filter(|l| l.contains("Logged out") || l.contains("Disconnected"))
        .filter_map(|l| l.split("out=").nth(1))
        .filter_map(|rest| {
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .next_back()
        .expect("a logout line with out=")
}

fn message_ids(records: &[Value]) -> BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r["message_id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn rescans_fetch_only_what_is_new_and_restart_after_uidvalidity_changes() {
    let d = server(None);
    let state = d.dir.path().join("state.sqlite");
    let state_arg = state.display().to_string();
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let env = [("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)];
    let args = ["--state", state_arg.as_str()];
    let changes = ["--state", state_arg.as_str(), "--changes-only"];
    // Some bulk, so that bodies dominate what a full scan transfers.
    let recent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    for i in 0..4 {
        let big = format!(
            "Message-ID: <big{i}@imap.test>\r\nSubject: rapport\r\n\r\n{}",
            "Kvartalsrapporten for avdelingen er klar.\r\n".repeat(800)
        );
        d.deliver(
            &ALICE,
            ".Arkiv",
            &format!("{i}.big"),
            "S",
            big.as_bytes(),
            recent,
        );
    }

    let (code, first, stderr) = scan(&d, &url, &env, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(message_ids(&first).len(), 8 + 4, "{first:?}");
    let full_bytes = last_session_bytes_out(&d);

    // Nothing changed: nothing read, and (almost) nothing sent.
    let (code, again, stderr) = scan(&d, &url, &env, &changes);
    assert_eq!(code, 0, "{stderr}");
    assert!(again.is_empty(), "a rescan with nothing new read {again:?}");
    let idle_bytes = last_session_bytes_out(&d);
    assert!(
        idle_bytes * 10 < full_bytes,
        "rescan sent {idle_bytes} bytes, full scan {full_bytes}"
    );

    // Without --changes-only a rescan prints the mailbox as it stands:
    // exactly what the first scan printed.
    let (code, whole, stderr) = scan(&d, &url, &env, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(whole, first);

    // New mail: only it is fetched.
    d.deliver(&ALICE, "", "9.a", "", &corpus("pdf.eml"), recent);
    let (code, new, stderr) = scan(&d, &url, &env, &changes);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        message_ids(&new),
        BTreeSet::from(["<pdf@fixtures.example.test>".to_string()])
    );

    // The folder's UIDs are renumbered (index and uidlist rebuilt): it is
    // scanned again from the start; other folders are not.
    let inbox = d.maildir(&ALICE);
    for entry in std::fs::read_dir(&inbox).expect("maildir") {
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
    let (code, renumbered, stderr) = scan(&d, &url, &env, &changes);
    assert_eq!(code, 0, "{stderr}");
    let folders: BTreeSet<&str> = renumbered
        .iter()
        .filter_map(|r| r["folder"].as_str())
        .collect();
    assert_eq!(
        folders,
        BTreeSet::from(["INBOX"]),
        "only INBOX was renumbered"
    );
    assert_eq!(message_ids(&renumbered).len(), 6);

    // --full: everything again.
    let (code, all, stderr) = scan(&d, &url, &env, &["--state", state_arg.as_str(), "--full"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(message_ids(&all).len(), 9 + 4);
}

fn records_are_unique(records: &[Value]) {
    let keys: Vec<String> = records
        .iter()
        .map(|r| {
            format!(
                "{}|{}|{}|{}|{}",
                r["type"], r["folder"], r["message_id"], r["detector"], r["fingerprint"]
            )
        })
        .collect();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a message was reported twice");
}

#[test]
fn connections_cut_mid_fetch_lose_nothing_and_double_nothing() {
    use support::proxy::{Fault, Proxy};
    let d = server(None);
    let env = [
        ("MAILHYGIENE_IMAP_PASSWORD", ALICE.password),
        ("MAILHYGIENE_IMAP_BACKOFF_MS", "50"),
    ];
    let direct = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let reference = reference_scan(&d, &direct, &env, &[]);
    // Cut the first connections at different depths: in the handshake, in
    // the metadata, in the middle of the bodies.
    let proxy = Proxy::start(
        d.imaps_port,
        Fault::CutAfter(vec![200, 4_000, 9_000, 15_000]),
    );
    let via = format!("imaps://alice%40example.test@127.0.0.1:{}", proxy.port);
    let (code, records, stderr) = scan(&d, &via, &env, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        findings(&records),
        findings(&reference),
        "something was missed"
    );
    records_are_unique(&records);
    assert!(
        proxy.connections.load(std::sync::atomic::Ordering::SeqCst) >= 4,
        "the faults were not hit"
    );
}

#[test]
fn exchange_throttling_is_waited_out() {
    use support::proxy::{Fault, Proxy};
    let d = server(None);
    let env = [
        ("MAILHYGIENE_IMAP_PASSWORD", ALICE.password),
        ("MAILHYGIENE_IMAP_BACKOFF_MS", "50"),
    ];
    let direct = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let reference = reference_scan(&d, &direct, &env, &["--allow-plaintext"]);
    let proxy = Proxy::start(
        d.imap_port,
        Fault::Throttle {
            times: 2,
            backoff_ms: 700,
        },
    );
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let state = tempfile::tempdir().expect("state");
    let db = state.path().join("state.sqlite");
    let db_arg = db.to_str().expect("utf-8");
    let started = std::time::Instant::now();
    let (code, records, stderr) = scan(&d, &via, &env, &["--allow-plaintext", "--state", db_arg]);
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        elapsed >= Duration::from_millis(1400),
        "the suggested back-off was not honoured: {elapsed:?}\n{stderr}"
    );
    assert!(stderr.contains("throttl"), "{stderr}");
    assert_eq!(findings(&records), findings(&reference));
    records_are_unique(&records);
    // The report says how long the mailbox waited for the server.
    let report = markdown_report(&via, db_arg);
    assert!(
        report.contains("the last scan waited 1 s for the server's throttling"),
        "{report}"
    );
    assert!(!report.contains("configured pace"), "{report}");
}

fn markdown_report(source: &str, state: &str) -> String {
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .args(support::on_test_store(&[
            "report",
            source,
            "--state",
            state,
            "--as-of",
            "2026-11-25",
            "--format",
            "markdown",
        ]))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A pace spreads the requests out: 8 messages in three folders at 4
/// messages a second take about 1.5 s on one connection (the first
/// request goes at once), and the report says what the pace cost.
#[test]
fn a_pace_holds_the_scan_under_the_rate_and_is_reported() {
    let d = server(None);
    let env = [("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)];
    let direct = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let state = tempfile::tempdir().expect("state");
    let db = state.path().join("state.sqlite");
    let db_arg = db.to_str().expect("utf-8");
    let reference = reference_scan(&d, &direct, &env, &["--allow-plaintext"]);
    let started = std::time::Instant::now();
    let (code, records, stderr) = scan(
        &d,
        &direct,
        &env,
        &["--allow-plaintext", "--state", db_arg, "--pace", "4/s"],
    );
    let elapsed = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(findings(&records), findings(&reference));
    // INBOX's 5 messages go at once; the next folders wait 1.25 s for them.
    assert!(elapsed >= Duration::from_millis(1250), "{elapsed:?}");
    let report = markdown_report(&direct, db_arg);
    assert!(
        report.contains("the last scan waited 2 s for the configured pace")
            || report.contains("the last scan waited 1 s for the configured pace"),
        "{report}"
    );
    // An unpaced rescan waits for nothing, and says nothing of it.
    let (code, _, stderr) = scan(&d, &direct, &env, &["--allow-plaintext", "--state", db_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!markdown_report(&direct, db_arg).contains("waited"));
}

/// A message the server lists but whose content it does not send is
/// recorded as not read (exit 1), never passed over, and read on the next
/// run although the cursor has moved past it; after that it is not read
/// again.
#[test]
fn a_withheld_message_is_reported_and_read_on_the_next_run() {
    use support::proxy::{Fault, Proxy};
    let d = server(None);
    let env = [("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)];
    let direct = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let reference = reference_scan(&d, &direct, &env, &["--allow-plaintext"]);
    let proxy = Proxy::start(d.imap_port, Fault::Withhold { uid: 2, times: 1 });
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let state = tempfile::tempdir().expect("state");
    let db = state.path().join("state.db");
    let args = [
        "--allow-plaintext",
        "--state",
        db.to_str().expect("utf-8"),
        "--changes-only",
    ];
    let (code, first, stderr) = scan(&d, &via, &env, &args);
    assert_eq!(code, 1, "a withheld message must fail the run\n{stderr}");
    let withheld: BTreeSet<(String, u64)> = first
        .iter()
        .filter(|r| r["type"] == "unreadable")
        .map(|r| {
            assert_eq!(r["problem"], "not_returned", "{r}");
            (
                r["folder"].as_str().unwrap_or_default().to_string(),
                r["uid"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let expected: BTreeSet<(String, u64)> =
        [("INBOX".to_string(), 2), ("Prosjekter/2024".to_string(), 2)].into();
    assert_eq!(withheld, expected, "{first:?}");
    let of_withheld = |records: &[Value]| {
        findings(records)
            .into_iter()
            .filter(|f| {
                let uid = records
                    .iter()
                    .find(|r| r["message_id"] == f.2.as_str() && r["folder"] == f.1.as_str())
                    .and_then(|r| r["uid"].as_u64());
                uid == Some(2)
            })
            .count()
    };
    assert!(
        of_withheld(&reference) > 1,
        "the withheld messages have findings"
    );
    // The next run gets the content: only those messages are read, and what
    // the mailbox holds is what a scan without the fault finds.
    let (code, second, stderr) = scan(&d, &via, &env, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(!second.is_empty());
    assert!(
        second
            .iter()
            .all(|r| r["uid"] == 2 && r["type"] != "unreadable"),
        "only the withheld messages are read again: {second:?}"
    );
    let all = &args[..3];
    let (code, whole, stderr) = scan(&d, &via, &env, all);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(findings(&whole), findings(&reference));
    records_are_unique(&whole);
    let (code, third, stderr) = scan(&d, &via, &env, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(third.is_empty(), "read again: {third:?}");
}

/// Exchange's stand-in for an item it cannot convert to MIME is reported
/// as unconvertible (exit 1), never scanned as if it were the message, and
/// asked for again on the next run.
#[test]
fn exchange_conversion_stubs_are_reported_and_retried() {
    let d = server(None);
    let stub = b"From: Microsoft Exchange <postmaster@firma.no>\r\nSubject: Retrieval using the IMAP4 protocol failed for the following message: 3\r\nMessage-ID: <stub@firma.no>\r\n\r\nRetrieval using the IMAP4 protocol failed for the following message: 3\r\n\r\nThe server couldn't retrieve the following message:\r\n\r\nSubject: \"Referat\"\r\n";
    d.deliver(
        &ALICE,
        ".Stub",
        "1.s",
        "S",
        stub,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000),
    );
    let env = [("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)];
    let url = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let state = tempfile::tempdir().expect("state");
    let db = state.path().join("state.db");
    let args = [
        "--allow-plaintext",
        "--state",
        db.to_str().expect("utf-8"),
        "--changes-only",
    ];
    for run in 0..2 {
        let (code, records, stderr) = scan(&d, &url, &env, &args);
        assert_eq!(code, 1, "run {run}: {stderr}");
        let stubs: Vec<&Value> = records
            .iter()
            .filter(|r| r["folder"] == "Stub" && r["type"] == "unreadable")
            .collect();
        assert_eq!(stubs.len(), 1, "run {run}");
        assert_eq!(stubs[0]["problem"], "unconvertible");
        // Never scanned as if it were the message: no finding from it.
        assert!(
            !records
                .iter()
                .any(|r| r["folder"] == "Stub" && r["type"] == "sensitive")
        );
    }
}

/// Exchange's non-mail folders (English or Norwegian, and the hidden
/// Files folder) are skipped and named in the report; a folder that merely
/// shares such a name on another server is read.
#[test]
fn non_mail_folders_are_skipped_only_on_exchange_and_named() {
    let d = Dovecot::start(None);
    let when = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let planted = corpus("plain-body.eml");
    // Bob's mailbox looks like a Norwegian Exchange mailbox.
    for folder in [
        ".Kalender",
        ".Kontakter",
        ".Oppgaver",
        ".Files",
        ".Synkroniseringsproblemer.Konflikter",
    ] {
        d.deliver(&BOB, folder, "1.x", "S", &planted, when);
    }
    d.deliver(&BOB, "", "2.x", "S", &corpus("nordic.eml"), when);
    // Alice's is a plain server's, with her own Logg and Notes folders.
    for folder in [".Logg", ".Notes"] {
        d.deliver(&ALICE, folder, "1.x", "S", &planted, when);
    }
    let state = tempfile::tempdir().expect("state");
    let db = state.path().join("state.db");
    let db_arg = db.to_str().expect("utf-8");
    let bob = format!("imap://bob%40example.test@127.0.0.1:{}", d.imap_port);
    let (code, records, stderr) = scan(
        &d,
        &bob,
        &[("MAILHYGIENE_IMAP_PASSWORD", BOB.password)],
        &["--allow-plaintext", "--state", db_arg],
    );
    assert_eq!(code, 0, "{stderr}");
    let folders: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["folder"].as_str())
        .collect();
    assert_eq!(folders, BTreeSet::from(["INBOX"]), "non-mail folders read");
    let alice = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let (code, records, stderr) = scan(
        &d,
        &alice,
        &[("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)],
        &["--allow-plaintext", "--state", db_arg],
    );
    assert_eq!(code, 0, "{stderr}");
    let folders: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["folder"].as_str())
        .collect();
    assert_eq!(
        folders,
        BTreeSet::from(["Logg", "Notes"]),
        "a user's own folders skipped"
    );
    // The report names what it did not read, and the archive IMAP cannot reach.
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .args(support::on_test_store(&[
            "report",
            &bob,
            "--state",
            db_arg,
            "--as-of",
            "2026-11-25",
            "--format",
            "markdown",
        ]))
        .output()
        .expect("runs");
    let report = String::from_utf8_lossy(&out.stdout);
    for name in [
        "Kalender",
        "Kontakter",
        "Oppgaver",
        "Files",
        "Synkroniseringsproblemer/Konflikter",
    ] {
        assert!(report.contains(name), "{name} not named:\n{report}");
    }
    assert!(report.contains("online archive"), "{report}");
}

/// A migrated mailbox: every message "received" on the day of the import,
/// written over ten years. Aged by arrival nothing is stale and the report
/// says it looks imported; a rule that ages by the earlier date judges them
/// by when they were written, in a stale-only scan (the `Date:` header
/// fetched with the metadata) as in a full one.
#[test]
fn a_migrated_mailbox_is_recognised_and_judged_by_the_date_chosen() {
    let d = Dovecot::start(None);
    let imported = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_136_000); // 2026-11-20
    for i in 0..25 {
        let year = 2014 + i % 10;
        let raw = format!(
            "Message-ID: <m{i}@import.test>\r\nFrom: a@example.test\r\nSubject: Sak {i}\r\nDate: Mon, 3 Mar {year} 10:00:00 +0100\r\n\r\nHei\r\n"
        );
        d.deliver(&ALICE, "", &format!("{i}.m"), "S", raw.as_bytes(), imported);
    }
    let env = [("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)];
    let url = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let stale = |records: &[Value]| records.iter().filter(|r| r["type"] == "stale").count();
    let (code, records, stderr) = scan(&d, &url, &env, &["--allow-plaintext", "--stale-only"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stale(&records), 0, "aged by arrival, nothing is old");
    let (_, text, _) = {
        let out = Command::cargo_bin("mailhygiene")
            .expect("binary")
            .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
            .env("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)
            .env("XDG_STATE_HOME", d.dir.path())
            .args([
                "scan",
                &url,
                "--allow-plaintext",
                "--quiet",
                "--as-of",
                "2025-11-25",
            ])
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            (),
        )
    };
    assert!(text.contains("looks like an import"), "{text}");
    assert!(text.contains("2014 to 2023"), "{text}");
    let rules = d.dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("retention.toml"),
        "[[rule]]\nid = \"yearly-review\"\ndescription = \"Written more than a year ago\"\nmax_age_days = 365\ndate = \"earlier\"\n",
    )
    .expect("rules");
    let rules_arg = rules.to_str().expect("utf-8");
    for mode in [&["--stale-only"][..], &[][..]] {
        let mut args = vec!["--allow-plaintext", "--rules", rules_arg];
        args.extend_from_slice(mode);
        let (code, records, stderr) = scan(&d, &url, &env, &args);
        assert_eq!(code, 0, "{mode:?}: {stderr}");
        assert_eq!(
            stale(&records),
            25,
            "{mode:?}: judged by when they were written"
        );
    }
}

/// Exchange answers "User is authenticated but not connected" for a while
/// after many connections: tried once more after a pause, the scan goes on;
/// a second refusal is explained as a missing permission.
#[test]
fn authenticated_but_not_connected_is_tried_once_more() {
    use support::proxy::{Fault, Proxy};
    let d = server(None);
    let env = [
        ("MAILHYGIENE_IMAP_PASSWORD", ALICE.password),
        ("MAILHYGIENE_IMAP_BACKOFF_MS", "50"),
    ];
    let refuse = |times| {
        Proxy::start(
            d.imap_port,
            Fault::Refuse {
                pattern: "LOGIN".into(),
                reply: "User is authenticated but not connected.".into(),
                times,
            },
        )
    };
    let once = refuse(1);
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", once.port);
    let (code, records, stderr) = scan(&d, &via, &env, &["--allow-plaintext"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("trying once more"), "{stderr}");
    assert!(records.iter().any(|r| r["type"] == "sensitive"));
    let always = refuse(usize::MAX);
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", always.port);
    let (code, records, _) = scan(&d, &via, &env, &["--allow-plaintext"]);
    assert_eq!(code, 1);
    let error = records
        .iter()
        .find(|r| r["type"] == "source_error")
        .expect("a source error");
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("FullAccess"),
        "{error}"
    );
}

/// A server that asks to wait for years is not waited for: the mailbox
/// fails with a plain message (the scan's timeout would catch a sleep),
/// and a host that does not resolve is not retried for a minute.
#[test]
fn absurd_waits_and_unknown_hosts_fail_at_once() {
    use support::proxy::{Fault, Proxy};
    let d = server(None);
    let env = [
        ("MAILHYGIENE_IMAP_PASSWORD", ALICE.password),
        ("MAILHYGIENE_IMAP_BACKOFF_MS", "50"),
    ];
    let proxy = Proxy::start(
        d.imap_port,
        Fault::Throttle {
            times: 1,
            backoff_ms: 100_000_000_000,
        },
    );
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let (code, records, stderr) = scan(&d, &via, &env, &["--allow-plaintext"]);
    assert_eq!(code, 1, "{stderr}");
    let failed = records
        .iter()
        .find(|r| r["type"] == "source_error")
        .expect("the mailbox is reported");
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("next run"),
        "{failed}"
    );
    let (code, records, stderr) = scan(
        &d,
        "imaps://alice%40example.test@no-such-host.invalid",
        &env,
        &[],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        records.iter().any(|r| r["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot find the host")),
        "{records:?}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
}

#[test]
fn an_untrusted_certificate_is_refused_not_skipped() {
    let d = server(None);
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
    let state = tempfile::tempdir().expect("state");
    let out = cmd
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)
        .env("XDG_STATE_HOME", state.path())
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .args(["scan", &url, "--format", "jsonl", "--quiet"])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // In words, with what to do about it.
    assert!(
        stderr.contains("not signed by an authority this machine trusts")
            && stderr.contains("SSL_CERT_FILE"),
        "{stderr}"
    );
}

fn write_config(d: &Dovecot, body: &str) -> PathBuf {
    let path = d.dir.path().join("mailhygiene.toml");
    std::fs::write(&path, body).expect("config written");
    path
}

#[test]
fn client_credentials_end_to_end_against_a_local_token_endpoint() {
    use support::token_endpoint::TokenEndpoint;
    let d = server(None);
    let endpoint = TokenEndpoint::start(
        "test-tenant",
        "app-id",
        "s3cret-value",
        ALICE.name,
        3600,
        |mailbox, secs| {
            support::dovecot::mint_jwt(mailbox, secs, b"dovecot-test-jwt-signing-key-0123456789")
        },
    );
    let config = write_config(
        &d,
        &format!(
            r#"
[[account]]
name = "tenant"
host = "127.0.0.1"
port = {port}
auth = "client_credentials"
authority = "http://127.0.0.1:{token_port}"
tenant = "test-tenant"
client_id = "app-id"
client_secret_env = "MH_TEST_CLIENT_SECRET"
mailboxes = ["{alice}"]
"#,
            port = d.imaps_port,
            token_port = endpoint.port,
            alice = ALICE.name
        ),
    );
    let config_arg = config.display().to_string();
    let (code, records, stderr) = scan(
        &d,
        "",
        &[("MH_TEST_CLIENT_SECRET", "s3cret-value")],
        &["--config", &config_arg],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        records.iter().any(|r| r["type"] == "sensitive"),
        "{records:?}"
    );
    assert!(
        records
            .iter()
            .all(|r| r["source"]
                == format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port))
    );
    assert_eq!(
        endpoint.requests.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the token is fetched once and cached"
    );
    assert!(!stderr.contains("s3cret-value"));

    // A wrong secret is explained, and never echoed.
    let (code, records, stderr) = scan(
        &d,
        "",
        &[("MH_TEST_CLIENT_SECRET", "wrong-s3cret")],
        &["--config", &config_arg],
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("client secret is wrong"), "{stderr}");
    assert!(
        !stderr.contains("wrong-s3cret")
            && !records
                .iter()
                .any(|r| r.to_string().contains("wrong-s3cret"))
    );

    // config check: the secret must be readable.
    let check = |env: Option<&str>| {
        let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
        cmd.args(["config", "check", &config_arg])
            .env_remove("MH_TEST_CLIENT_SECRET");
        if let Some(v) = env {
            cmd.env("MH_TEST_CLIENT_SECRET", v);
        }
        cmd.output().expect("runs")
    };
    assert_eq!(check(Some("x")).status.code(), Some(0));
    let missing = check(None);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("MH_TEST_CLIENT_SECRET"));
}

#[test]
fn many_mailboxes_from_the_configuration_in_parallel() {
    let d = server(None);
    let secrets = d.dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    std::fs::write(secrets.join("alice"), ALICE.password).expect("write");
    std::fs::write(secrets.join("bob"), BOB.password).expect("write");
    std::fs::write(
        secrets.join("mailboxes.txt"),
        format!("# the offboarding list\n{}\n", BOB.name),
    )
    .expect("write");
    let config = write_config(
        &d,
        &format!(
            r#"
[limits]
connections = 2

[[account]]
name = "alice"
host = "127.0.0.1"
port = {port}
auth = "password"
password_file = "{dir}/alice"
mailboxes = ["{alice}"]

[[account]]
name = "bob"
host = "127.0.0.1"
port = {port}
auth = "password"
password_file = "{dir}/bob"
mailboxes_file = "{dir}/mailboxes.txt"
"#,
            port = d.imaps_port,
            dir = secrets.display(),
            alice = ALICE.name
        ),
    );
    let config_arg = config.display().to_string();
    // Same host and port for both accounts: each mailbox uses its own account.
    let (code, records, stderr) = scan(&d, "", &[], &["--config", &config_arg]);
    assert_eq!(code, 0, "{stderr}");
    let sources: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["source"].as_str())
        .collect();
    assert_eq!(sources.len(), 2, "{sources:?}");
    let local = format!("maildir:{}", d.maildir(&ALICE).display());
    let (_, local_records, _) = scan(&d, &local, &[], &[]);
    let alice: Vec<Value> = records
        .iter()
        .filter(|r| r["source"].as_str().is_some_and(|s| s.contains("alice")))
        .cloned()
        .collect();
    assert_eq!(findings(&alice), findings(&mail_only(&local_records)));
    // One account only.
    let (code, records, stderr) = scan(&d, "", &[], &["--config", &config_arg, "--account", "bob"]);
    assert_eq!(code, 0, "{stderr}");
    let sources: BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["source"].as_str())
        .collect();
    assert_eq!(sources.len(), 1);
    assert!(records.iter().any(|r| r["detector"] == "no.h_nummer"));
}

#[test]
fn device_code_sign_in_then_the_kept_refresh_token() {
    use support::token_endpoint::TokenEndpoint;
    let d = server(None);
    let endpoint = TokenEndpoint::start(
        "test-tenant",
        "app-id",
        "unused",
        ALICE.name,
        3600,
        |mailbox, secs| {
            support::dovecot::mint_jwt(mailbox, secs, b"dovecot-test-jwt-signing-key-0123456789")
        },
    );
    let refresh = d.dir.path().join("tokens/refresh-token");
    let config = write_config(
        &d,
        &format!(
            r#"
[[account]]
name = "me"
host = "127.0.0.1"
port = {port}
auth = "device_code"
authority = "http://127.0.0.1:{token_port}"
tenant = "test-tenant"
client_id = "app-id"
refresh_token_file = "{refresh}"
mailboxes = ["{alice}"]
"#,
            port = d.imaps_port,
            token_port = endpoint.port,
            refresh = refresh.display(),
            alice = ALICE.name
        ),
    );
    let config_arg = config.display().to_string();
    let (code, records, stderr) = scan(&d, "", &[], &["--config", &config_arg]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("ABCD-1234") && stderr.contains("devicelogin"),
        "the user is told how to sign in: {stderr}"
    );
    assert!(records.iter().any(|r| r["type"] == "sensitive"));
    assert_eq!(
        std::fs::read_to_string(&refresh).expect("refresh token kept"),
        "rt-1"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&refresh)
            .expect("exists")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(!stderr.contains("rt-1"));
    // The next run signs in silently with the refresh token, and keeps the new one.
    let (code, _, stderr) = scan(&d, "", &[], &["--config", &config_arg, "--full"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(!stderr.contains("ABCD-1234"), "no second sign-in: {stderr}");
    assert_eq!(
        std::fs::read_to_string(&refresh).expect("refresh token kept"),
        "rt-2"
    );
}

#[test]
fn a_stale_only_scan_reads_metadata_and_nothing_else() {
    let d = server(None);
    let before = d.snapshot(&ALICE);
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let (code, records, stderr) = scan(
        &d,
        &url,
        &[("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)],
        &["--stale-only"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(records.iter().all(|r| r["type"] == "stale"), "{records:?}");
    let stale: BTreeSet<String> = message_ids(&records);
    // Message-IDs are not fetched in a metadata scan: the records identify
    // messages by folder and UID.
    assert!(stale.iter().all(String::is_empty), "{stale:?}");
    let by_folder: BTreeSet<(String, u64)> = records
        .iter()
        .map(|r| {
            (
                r["folder"].as_str().unwrap_or_default().to_string(),
                r["uid"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    // Every message is over a year old on 2026-11-25 except that the one
    // flagged message is exempt: 4 in INBOX, 2 in Prosjekter/2024, 1 sent.
    let folders: Vec<&str> = by_folder.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        folders,
        vec![
            "INBOX",
            "INBOX",
            "INBOX",
            "INBOX",
            "Prosjekter/2024",
            "Prosjekter/2024",
            "Sent Items"
        ]
    );
    assert!(records.iter().all(|r| r["rule"] == "yearly-review"));
    assert_eq!(d.snapshot(&ALICE), before);
}

#[test]
fn a_big_folder_is_fetched_over_several_connections_in_order() {
    use support::proxy::{Fault, Proxy};
    let d = server(None);
    let recent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let fnr = corpus("plain-body.eml");
    for i in 0..450 {
        let raw = if i % 50 == 0 {
            String::from_utf8_lossy(&fnr)
                .replace("<plain@", &format!("<plain{i}@"))
                .into_bytes()
        } else {
            format!("Message-ID: <bulk{i}@imap.test>\r\nSubject: sak {i}\r\n\r\nHei {i}\r\n")
                .into_bytes()
        };
        d.deliver(
            &ALICE,
            ".Arkiv.Stort",
            &format!("{i}.bulk"),
            "S",
            &raw,
            recent,
        );
    }
    let env = [
        ("MAILHYGIENE_IMAP_PASSWORD", ALICE.password),
        ("MAILHYGIENE_IMAP_BACKOFF_MS", "50"),
    ];
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let logins_before = std::fs::read_to_string(d.dir.path().join("dovecot.log"))
        .unwrap_or_default()
        .matches("Login: user=<alice")
        .count();
    let (code, records, stderr) = scan(&d, &url, &env, &["--connections-per-mailbox", "4"]);
    assert_eq!(code, 0, "{stderr}");
    let logins = std::fs::read_to_string(d.dir.path().join("dovecot.log"))
        .expect("log")
        .matches("Login: user=<alice")
        .count();
    assert!(
        logins - logins_before >= 3,
        "one folder's bodies should come over several connections ({} logins)",
        logins - logins_before
    );
    let local = format!("maildir:{}", d.maildir(&ALICE).display());
    let (_, local_records, _) = scan(&d, &local, &[], &[]);
    assert_eq!(findings(&records), findings(&mail_only(&local_records)));
    records_are_unique(&records);
    // UIDs come out in order within the folder.
    let uids: Vec<u64> = records
        .iter()
        .filter(|r| r["folder"] == "Arkiv/Stort" && r["type"] == "stale")
        .filter_map(|r| r["uid"].as_u64())
        .collect();
    assert_eq!(uids.len(), 450);
    assert!(uids.windows(2).all(|w| w[0] < w[1]));

    // And with connections cut under it, still nothing lost or doubled.
    let proxy = Proxy::start(
        d.imaps_port,
        Fault::CutAfter(vec![30_000, 9_000, 60_000, 5_000, 20_000]),
    );
    let via = format!("imaps://alice%40example.test@127.0.0.1:{}", proxy.port);
    let (code, cut, stderr) = scan(&d, &via, &env, &["--connections-per-mailbox", "4"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(findings(&cut), findings(&mail_only(&local_records)));
    records_are_unique(&cut);
}

#[test]
fn client_credentials_with_a_certificate_assertion() {
    use base64::Engine as _;
    use support::token_endpoint::{Proof, TokenEndpoint};
    let d = server(None);
    let dir = d.dir.path().join("app-cert");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "key.pem",
    ]);
    openssl(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "key.pem",
        "-subj",
        "/CN=mailhygiene-app",
        "-days",
        "2",
        "-out",
        "cert.pem",
    ]);
    let public_key_der = openssl(&[
        "rsa",
        "-in",
        "key.pem",
        "-RSAPublicKey_out",
        "-outform",
        "DER",
    ]);
    let cert_der = openssl(&["x509", "-in", "cert.pem", "-outform", "DER"]);
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der).as_ref());
    let endpoint = TokenEndpoint::start_with(
        "test-tenant",
        "app-id",
        Proof::Certificate {
            public_key_der,
            x5t,
        },
        ALICE.name,
        3600,
        |mailbox, secs| {
            support::dovecot::mint_jwt(mailbox, secs, b"dovecot-test-jwt-signing-key-0123456789")
        },
    );
    let config = write_config(
        &d,
        &format!(
            r#"
[[account]]
name = "tenant"
host = "127.0.0.1"
port = {port}
auth = "client_credentials"
authority = "http://127.0.0.1:{token_port}"
tenant = "test-tenant"
client_id = "app-id"
client_certificate_file = "{dir}/cert.pem"
client_key_file = "{dir}/key.pem"
mailboxes = ["{alice}"]
"#,
            port = d.imaps_port,
            token_port = endpoint.port,
            dir = dir.display(),
            alice = ALICE.name
        ),
    );
    let (code, records, stderr) = scan(&d, "", &[], &["--config", &config.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(records.iter().any(|r| r["type"] == "sensitive"));
    assert_eq!(
        endpoint.requests.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

#[test]
fn messages_over_the_size_limit_are_reported_not_fetched() {
    let d = server(None);
    let url = format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port);
    let (code, records, stderr) = scan(
        &d,
        &url,
        &[("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)],
        &["--max-message-size", "1000"],
    );
    assert_eq!(code, 1, "unread messages make the run incomplete: {stderr}");
    let too_large: Vec<&Value> = records
        .iter()
        .filter(|r| r["problem"] == "message_too_large")
        .collect();
    assert!(!too_large.is_empty());
    assert!(too_large.iter().all(|r| r["uid"].as_u64().is_some()));
    // Nothing was learnt from their content.
    let big: BTreeSet<u64> = too_large.iter().filter_map(|r| r["uid"].as_u64()).collect();
    assert!(!records.iter().any(|r| r["type"] == "sensitive"
        && r["uid"].as_u64().is_some_and(|u| big.contains(&u))
        && r["folder"] == too_large[0]["folder"]));
}

#[test]
fn tokens_are_cached_and_renewed_before_they_expire() {
    use mailhygiene::oauth::{Flow, OAuthSettings, TokenProvider};
    use support::token_endpoint::TokenEndpoint;
    // Tokens that live 2 s are renewed at half-life; 3,600 s ones are reused.
    for (lifetime, calls_after_wait) in [(2i64, 2usize), (3600, 1)] {
        let endpoint = TokenEndpoint::start(
            "t",
            "app",
            "s3cret",
            ALICE.name,
            lifetime,
            |mailbox, secs| support::dovecot::mint_jwt(mailbox, secs, b"k"),
        );
        let provider = TokenProvider::new(OAuthSettings {
            authority: format!("http://127.0.0.1:{}", endpoint.port),
            cloud: mailhygiene::cloud::Cloud::Global,
            tenant: "t".into(),
            client_id: "app".into(),
            flow: Flow::ClientCredentials {
                client_secret: "s3cret".into(),
            },
            timeout: Duration::from_secs(5),
        })
        .expect("provider");
        let first = provider.token().expect("token");
        assert_eq!(provider.token().expect("cached"), first);
        assert_eq!(
            endpoint.requests.load(std::sync::atomic::Ordering::SeqCst),
            1
        );
        std::thread::sleep(Duration::from_millis(1100));
        provider.token().expect("token");
        assert_eq!(
            endpoint.requests.load(std::sync::atomic::Ordering::SeqCst),
            calls_after_wait,
            "lifetime {lifetime}"
        );
    }
}
