//! The yearly reminder delivered for real: into INBOX over IMAP (Dovecot),
//! and by SMTP submission to a real SMTP server (aiosmtpd, STARTTLS and
//! authentication required) started by the test, the reminder read back.

mod support;

use assert_cmd::Command;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, SystemTime};
use support::dovecot::{ALICE, BOB, Dovecot};

const KEY: &str = "remind-test-key-0123456789";
/// A fødselsnummer (synthetic) planted in Alice's mail; it must never
/// appear in clear text in a reminder.
const PLANTED: &str = "15076500565";

fn old() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_880_000) // 2020-01-01
}

fn mailbox() -> Dovecot {
    let d = Dovecot::start(None);
    for (user, name, body) in [
        (&ALICE, "1.a", "Hei, her er referatet fra møtet."),
        (&ALICE, "2.a", "Fnr: 150765 00565, til lønn."),
        (&BOB, "1.b", "Kvartalsrapporten er klar."),
    ] {
        let raw = format!(
            "Message-ID: <{name}@remind.test>\r\nFrom: Kari <kari@example.test>\r\nTo: {}\r\nSubject: Sak {name}\r\n\r\n{body}\r\n",
            user.name
        );
        d.deliver(user, "", name, "S", raw.as_bytes(), old());
    }
    d
}

fn url(d: &Dovecot, user: &support::dovecot::User) -> String {
    format!(
        "imaps://{}@127.0.0.1:{}",
        user.name.replace('@', "%40"),
        d.imaps_port
    )
}

fn run(d: &Dovecot, state: &[String; 2], password: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("MAILHYGIENE_IMAP_PASSWORD", password)
        .env("SSL_CERT_FILE", d.ca_file())
        .env_remove("MAILHYGIENE_IMAP_TOKEN")
        .env_remove("MAILHYGIENE_SMTP_TOKEN")
        .env("MAILHYGIENE_SMTP_PASSWORD", "smtp-secret-pass")
        .env("MAILHYGIENE_LOG", "debug")
        // A Norwegian machine: the reminder follows its locale.
        .env("LANG", "nb_NO.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .env("XDG_STATE_HOME", d.dir.path().join("state-home"))
        .args(args)
        .args([&state[0], &state[1], "--as-of", "2026-11-25"])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn records(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The reminders in a user's INBOX (Dovecot keeps INBOX in cur/ and new/).
fn reminders_in_inbox(d: &Dovecot, user: &support::dovecot::User) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(entries) = std::fs::read_dir(d.maildir(user).join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if text.contains("X-Mailhygiene-Kind: reminder") {
                out.push((entry.file_name().to_string_lossy().into_owned(), text));
            }
        }
    }
    out
}

fn assert_readable_reminder(raw: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse(raw)
        .expect("the reminder parses");
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    assert!(parsed.body_html(0).is_some(), "an HTML part");
    let text = parsed.body_text(0).expect("a plain-text part").into_owned();
    let all = format!(
        "{}\n{text}\n{}",
        parsed.subject().unwrap_or_default(),
        parsed.body_html(0).unwrap_or_default()
    );
    for form in [PLANTED, "150765 00565", "150765\u{a0}00565"] {
        assert!(!all.contains(form), "a clear value in the reminder: {all}");
    }
    assert!(
        all.contains("15*******65"),
        "the masked value is listed: {all}"
    );
    text
}

#[test]
fn one_reminder_per_inbox_over_imap_and_never_a_second() {
    let d = mailbox();
    let state = support::store_args(d.dir.path());
    for user in [&ALICE, &BOB] {
        let (code, _, err) = run(
            &d,
            &state,
            user.password,
            &["scan", &url(&d, user), "--quiet"],
        );
        assert_eq!(code, 0, "{err}");
    }
    // The dry run says who gets what and sends nothing.
    let (code, out, err) = run(
        &d,
        &state,
        ALICE.password,
        &["remind", &url(&d, &ALICE), "--format", "jsonl"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out)[0]["status"], "planned");
    assert!(reminders_in_inbox(&d, &ALICE).is_empty());

    for user in [&ALICE, &BOB] {
        let (code, out, err) = run(
            &d,
            &state,
            user.password,
            &["remind", &url(&d, user), "--apply", "--format", "jsonl"],
        );
        assert_eq!(code, 0, "{err}");
        let r = &records(&out)[0];
        assert_eq!(r["type"], "reminder");
        assert_eq!(r["status"], "delivered", "{out}");
        assert_eq!(r["to"], user.name);
        assert!(!err.contains(user.password), "the password in the log");
    }
    let alice = reminders_in_inbox(&d, &ALICE);
    assert_eq!(alice.len(), 1);
    assert_eq!(reminders_in_inbox(&d, &BOB).len(), 1);
    // Delivered unread.
    assert!(
        !alice[0]
            .0
            .rsplit(":2,")
            .next()
            .unwrap_or_default()
            .contains('S'),
        "{}",
        alice[0].0
    );
    let text = assert_readable_reminder(alice[0].1.as_bytes());
    assert!(
        text.contains("Årlig") || text.contains("Hei"),
        "Norwegian from the locale: {text}"
    );

    // Again: the store says it was sent.
    let (code, out, _) = run(
        &d,
        &state,
        ALICE.password,
        &["remind", &url(&d, &ALICE), "--apply", "--format", "jsonl"],
    );
    assert_eq!(code, 0);
    assert_eq!(records(&out)[0]["status"], "already_sent");
    // A store that lost the record (a crash after the APPEND): the mailbox
    // is asked, and the reminder found there.
    let lost_dir = d.dir.path().join("lost");
    std::fs::create_dir_all(&lost_dir).expect("mkdir");
    let lost = support::store_args(&lost_dir);
    assert_eq!(
        run(
            &d,
            &lost,
            ALICE.password,
            &["scan", &url(&d, &ALICE), "--quiet"]
        )
        .0,
        0
    );
    let (code, out, err) = run(
        &d,
        &lost,
        ALICE.password,
        &["remind", &url(&d, &ALICE), "--apply", "--format", "jsonl"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out)[0]["status"], "already_sent", "{out}");
    assert_eq!(reminders_in_inbox(&d, &ALICE).len(), 1);
}

/// aiosmtpd on loopback with the Dovecot test CA's certificate.
struct SmtpServer {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl SmtpServer {
    fn start(d: &Dovecot) -> SmtpServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("port")
            .local_addr()
            .expect("addr")
            .port();
        let out = d.dir.path().join("smtp-out");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py");
        let mut child = std::process::Command::new("python3")
            .arg(script)
            .args(["--port", &port.to_string()])
            .arg("--cert")
            .arg(d.dir.path().join("server.pem"))
            .arg("--key")
            .arg(d.dir.path().join("server.key"))
            .arg("--out")
            .arg(&out)
            .args(["--user", "alice@example.test", "--password", "smtp-secret-pass"])
            .args(["--token", "smtp-oauth-token-123"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts (the SMTP test server needs aiosmtpd: pip install aiosmtpd; .ci/run does this)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reads");
        assert_eq!(
            line.trim(),
            "ready",
            "the SMTP server did not start (is aiosmtpd installed?)"
        );
        SmtpServer { child, port, out }
    }

    fn messages(&self) -> Vec<(Vec<u8>, String)> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.out).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "eml") {
                let envelope =
                    std::fs::read_to_string(path.with_extension("envelope")).unwrap_or_default();
                out.push((std::fs::read(&path).expect("reads"), envelope));
            }
        }
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn smtp_submission_with_starttls_and_authentication() {
    let d = mailbox();
    let smtp = SmtpServer::start(&d);
    let state = support::store_args(d.dir.path());
    assert_eq!(
        run(
            &d,
            &state,
            ALICE.password,
            &["scan", &url(&d, &ALICE), "--quiet"]
        )
        .0,
        0
    );
    let server = format!("smtp://alice%40example.test@127.0.0.1:{}", smtp.port);
    let args = [
        "remind",
        &url(&d, &ALICE),
        "--deliver",
        "smtp",
        "--smtp",
        &server,
        "--from",
        "Personvern <alice@example.test>",
        "--lang",
        "en",
        "--apply",
        "--format",
        "jsonl",
    ];
    let (code, out, err) = run(&d, &state, ALICE.password, &args);
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(records(&out)[0]["status"], "delivered", "{out}");
    assert!(
        !err.contains("smtp-secret-pass"),
        "the SMTP password in the log"
    );
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1);
    let (raw, envelope) = &messages[0];
    assert!(envelope.contains("alice@example.test"), "{envelope}");
    let text = assert_readable_reminder(raw);
    assert!(text.contains("Hello"), "English on request: {text}");
    // Once per period.
    let (code, out, _) = run(&d, &state, ALICE.password, &args);
    assert_eq!(code, 0);
    assert_eq!(records(&out)[0]["status"], "already_sent");
    assert_eq!(smtp.messages().len(), 1);

    // A wrong password: failed, said plainly, the password nowhere.
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .env("XDG_STATE_HOME", d.dir.path().join("state-home"))
        .env("SSL_CERT_FILE", d.ca_file())
        .env("MAILHYGIENE_SMTP_PASSWORD", "wrong-secret-pass")
        .args(args)
        .args(["--again", &state[0], &state[1], "--as-of", "2026-11-25"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("failed"), "{all}");
    assert!(!all.contains("wrong-secret-pass"), "{all}");
    assert_eq!(smtp.messages().len(), 1);

    // XOAUTH2, as Office 365's smtp.office365.com takes it: a good token
    // delivers, a bad one fails; neither is shown.
    for (token, code, delivered) in [("smtp-oauth-token-123", 0, 2), ("bad-token-456", 1, 2)] {
        let out = Command::cargo_bin("mailhygiene")
            .expect("binary")
            .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
            .env("PGPASSWORD", support::postgres::PASSWORD)
            .env("XDG_STATE_HOME", d.dir.path().join("state-home"))
            .env("SSL_CERT_FILE", d.ca_file())
            .env_remove("MAILHYGIENE_SMTP_PASSWORD")
            .env("MAILHYGIENE_SMTP_TOKEN", token)
            .args(args)
            .args(["--again", &state[0], &state[1], "--as-of", "2026-11-25"])
            .output()
            .expect("runs");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{token}: {all}");
        assert!(!all.contains(token), "{all}");
        assert_eq!(smtp.messages().len(), delivered, "{token}");
    }

    // `--smtp account:NAME`: the account's SMTP host and its own app token,
    // fetched from the (local) identity platform for the account's cloud.
    let endpoint = support::token_endpoint::TokenEndpoint::start_for(
        "test-tenant",
        "app-id",
        support::token_endpoint::Proof::Secret("app-s3cret".into()),
        ALICE.name,
        (3600, |_, _| "smtp-oauth-token-123".to_string()),
        "https://outlook.office365.us/.default",
    );
    let config = d.dir.path().join("smtp-account.toml");
    std::fs::write(
        &config,
        format!(
            "[[account]]\nname = \"tenant\"\ncloud = \"us-government\"\n\
             host = \"127.0.0.1\"\nsmtp_host = \"127.0.0.1:{}\"\n\
             auth = \"client_credentials\"\nauthority = \"http://127.0.0.1:{}\"\n\
             tenant = \"test-tenant\"\nclient_id = \"app-id\"\n\
             client_secret_env = \"MH_TEST_CLIENT_SECRET\"\nmailboxes = [\"{}\"]\n",
            smtp.port, endpoint.port, ALICE.name
        ),
    )
    .expect("config");
    let mut by_account = args.to_vec();
    by_account[5] = "account:tenant";
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .env("XDG_STATE_HOME", d.dir.path().join("state-home"))
        .env("SSL_CERT_FILE", d.ca_file())
        .env_remove("MAILHYGIENE_SMTP_PASSWORD")
        .env_remove("MAILHYGIENE_SMTP_TOKEN")
        .env("MH_TEST_CLIENT_SECRET", "app-s3cret")
        .args(by_account)
        .args(["--again", "--config", &config.display().to_string()])
        .args([&state[0], &state[1], "--as-of", "2026-11-25"])
        .output()
        .expect("runs");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(
        !all.contains("app-s3cret") && !all.contains("smtp-oauth-token-123"),
        "{all}"
    );
    assert_eq!(smtp.messages().len(), 3);
}

/// A connection cut as the APPEND reaches the server: the run says it
/// failed, and the rerun delivers exactly one reminder.
#[test]
fn a_connection_cut_during_the_append_then_a_rerun_delivers_once() {
    use support::proxy::{Fault, Proxy};
    let d = mailbox();
    let state = support::store_args(d.dir.path());
    // Connections: the scan (0) passes, the reminder's (1) is cut after its
    // APPEND line, the rerun's (2) passes.
    let proxy = Proxy::start(
        d.imap_port,
        Fault::DropAfterCommand {
            pattern: "APPEND".to_string(),
            times: 2,
        },
    );
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let plain = "--allow-plaintext";
    assert_eq!(
        run(
            &d,
            &state,
            ALICE.password,
            &["scan", &via, "--quiet", plain]
        )
        .0,
        0
    );
    let remind = [
        "remind",
        via.as_str(),
        "--apply",
        "--format",
        "jsonl",
        plain,
    ];
    let (code, out, _) = run(&d, &state, ALICE.password, &remind);
    assert_eq!(code, 1, "{out}");
    assert_eq!(records(&out)[0]["status"], "failed");
    let (code, out, err) = run(&d, &state, ALICE.password, &remind);
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out)[0]["status"], "delivered");
    assert_eq!(reminders_in_inbox(&d, &ALICE).len(), 1);
    let (_, out, _) = run(&d, &state, ALICE.password, &remind);
    assert_eq!(records(&out)[0]["status"], "already_sent");
    assert_eq!(reminders_in_inbox(&d, &ALICE).len(), 1);
}

/// The reminder repeats the subject of a sick note it lists; scanned
/// again, it is the tool's own (its keyed proof verifies) and no finding.
/// A message forging the reminder header (with the id an unkeyed scheme
/// would give this mailbox and year) neither stops the reminder nor
/// escapes the scan.
#[test]
fn the_reminder_is_not_a_finding_and_a_forged_one_suppresses_nothing() {
    use sha2::Digest;
    let d = mailbox();
    d.deliver(
        &ALICE,
        "",
        "3.a",
        "S",
        b"Message-ID: <3.a@remind.test>\r\nFrom: Kari <kari@example.test>\r\nTo: alice@example.test\r\nSubject: Er sykmeldt hele uka\r\n\r\nJeg er sykmeldt hele uka.\r\n",
        old(),
    );
    let source = url(&d, &ALICE);
    let guessed = hex::encode(&sha2::Sha256::digest(format!("{source}\n2026").as_bytes())[..12]);
    let forged = format!(
        "Message-ID: <forged@evil.test>\r\nFrom: Noen <noen@evil.test>\r\nTo: alice@example.test\r\nSubject: Sykmelding\r\nX-Mailhygiene-Kind: reminder\r\nX-Mailhygiene-Reminder: {guessed}\r\nX-Mailhygiene-Proof: {}\r\n\r\nJeg er sykmeldt.\r\n",
        "ab".repeat(32)
    );
    d.deliver(&ALICE, "", "4.a", "S", forged.as_bytes(), old());
    let state = support::store_args(d.dir.path());
    let scan = |what: &str| {
        let (code, _, err) = run(&d, &state, ALICE.password, &["scan", &source, "--quiet"]);
        assert_eq!(code, 0, "{what}: {err}");
    };
    scan("first scan");
    let (code, out, err) = run(
        &d,
        &state,
        ALICE.password,
        &["remind", &source, "--apply", "--format", "jsonl"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out)[0]["status"], "delivered", "{out}");
    let delivered = reminders_in_inbox(&d, &ALICE);
    let ours: Vec<&(String, String)> = delivered
        .iter()
        .filter(|(_, text)| text.contains("X-Mailhygiene-Proof") && !text.contains("forged@evil"))
        .collect();
    assert_eq!(ours.len(), 1, "{delivered:?}");
    assert!(
        ours[0].1.contains("sykmeldt"),
        "the reminder lists the sick note's subject"
    );
    let our_id = ours[0]
        .1
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .expect("a Message-ID")
        .trim()
        .to_string();
    scan("rescan");
    let (code, out, err) = run(&d, &state, ALICE.password, &["report", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let findings_of = |id: &str| {
        records(&out)
            .into_iter()
            .filter(|r| r["type"] == "sensitive" && r["message_id"] == id)
            .count()
    };
    assert_eq!(
        findings_of(&our_id),
        0,
        "the reminder became a finding:\n{out}"
    );
    assert!(
        findings_of("<forged@evil.test>") > 0,
        "the forgery escaped the scan:\n{out}"
    );
    assert!(findings_of("<3.a@remind.test>") > 0, "{out}");
    // The reminder itself was read and is in the inventory.
    let (code, found, err) = run(
        &d,
        &state,
        ALICE.password,
        &[
            "subject",
            "--address",
            "mailhygiene@example.test",
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(found.contains(&our_id), "{found}");
}

/// A leaver whose mailbox has an offboarding case is not asked to tidy it:
/// no reminder, no `reminder` record (the contract has no status for it),
/// a line on standard error naming the case, exit 0; the other mailbox is
/// reminded as usual.
#[test]
fn a_leaver_with_an_offboarding_case_gets_no_reminder() {
    let d = mailbox();
    let state = support::store_args(d.dir.path());
    for user in [&ALICE, &BOB] {
        let (code, _, err) = run(
            &d,
            &state,
            user.password,
            &["scan", &url(&d, user), "--quiet"],
        );
        assert_eq!(code, 0, "{err}");
    }
    let (code, out, err) = run(
        &d,
        &state,
        ALICE.password,
        &[
            "offboard",
            &url(&d, &ALICE),
            "--case",
            "HR-2026-17",
            "--reason",
            "Videre drift av kundeforhold",
            "--legal-basis",
            "e-postforskriften § 3",
            "--notified",
            "2026-11-20",
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let outbox = d.dir.path().join("outbox");
    let (code, out, err) = run(
        &d,
        &state,
        ALICE.password,
        &[
            "remind",
            &url(&d, &ALICE),
            &url(&d, &BOB),
            "--apply",
            "--deliver",
            &format!("dir:{}", outbox.display()),
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let sent = records(&out);
    assert_eq!(sent.len(), 1, "{out}");
    assert_eq!(sent[0]["source"], url(&d, &BOB));
    assert_eq!(sent[0]["status"], "delivered");
    assert!(
        err.contains(&url(&d, &ALICE))
            && err.contains("HR-2026-17")
            && err.contains("not reminded"),
        "{err}"
    );
    let written = std::fs::read_dir(&outbox).expect("outbox").count();
    assert_eq!(written, 1, "one reminder, Bob's");
    assert!(reminders_in_inbox(&d, &ALICE).is_empty());
}
