//! The commands against a PostgreSQL store (a private server the test
//! starts: Debian's `postgresql`, `initdb` in a temporary directory) behave
//! as against SQLite: the same mailbox scanned, reported, cleaned and
//! restored through each store prints the same, step for step, and no
//! output names the database password.

mod support;

use assert_cmd::Command;
use std::path::Path;
use support::postgres::{PASSWORD, Postgres};

const KEY: &str = "postgres-test-key-0123456789";
const AS_OF: &str = "2026-11-25";
/// The synthetic national ID the mailbox holds.
const PLANTED: &str = "15076500565";

fn message(id: &str, year: u32, body: &str) -> String {
    format!(
        "Message-ID: <{id}@pg.test>\r\nFrom: Kari Nordmann <kari@example.test>\r\nTo: ola@firma.test\r\nSubject: Sak {id}\r\nDate: Wed, 1 Jan {year} 10:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

/// A Maildir: old mail in INBOX and a folder (due), one flagged, one
/// recent, two with a national ID number (a synthetic, valid one).
fn maildir(root: &Path) {
    let put = |folder: &str, name: &str, flags: &str, text: String| {
        let dir = if folder.is_empty() {
            root.to_path_buf()
        } else {
            root.join(format!(".{folder}"))
        };
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).expect("maildir");
        }
        let file = dir.join("cur").join(format!("{name}:2,{flags}"));
        std::fs::write(&file, text).expect("message");
        let when = filetime(if name.starts_with("new") {
            1_780_272_000
        } else {
            1_577_880_000
        });
        std::fs::File::options()
            .write(true)
            .open(&file)
            .and_then(|f| f.set_modified(when))
            .expect("mtime");
    };
    for i in 0..6 {
        put(
            "",
            &format!("old{i}"),
            "S",
            message(&format!("old{i}"), 2020, "Hei, gammel sak."),
        );
    }
    put("", "flagged", "FS", message("flagged", 2020, "Viktig."));
    put("", "new1", "S", message("new1", 2026, "Ny sak."));
    put(
        "",
        "id1",
        "S",
        message("id1", 2020, "Fødselsnummer: 15076500565, som avtalt."),
    );
    put(
        "Prosjekter",
        "id2",
        "S",
        message("id2", 2021, "Pasienten har diabetes. Fnr 15076500565."),
    );
    put("Prosjekter", "old7", "S", message("old7", 2019, "Arkiv."));
}

fn filetime(secs: u64) -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

#[test]
fn every_command_prints_the_same_from_postgresql_as_from_sqlite() {
    let server = Postgres::start();
    let database = server.create_database("cli");
    let tmp = tempfile::tempdir().expect("tempdir");
    let key_file = tmp.path().join("key");
    std::fs::write(&key_file, KEY).expect("key");
    let stores = [
        format!("sqlite:{}", tmp.path().join("state.sqlite").display()),
        server.url(&database),
    ];
    let mut transcripts = Vec::new();
    let stamp = regex::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").expect("regex");
    let binding = regex::Regex::new(r"SAK-7/[0-9a-f]{20}").expect("regex");
    let clock = regex::Regex::new(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC").expect("regex");
    for store in &stores {
        // The same mailbox at the same place for each store (a source's
        // path goes into its deviations' ids).
        let mail = tmp.path().join("mail");
        let _ = std::fs::remove_dir_all(&mail);
        maildir(&mail);
        let source = format!("maildir:{}", mail.display());
        let run = |args: &[&str]| -> (String, i32) {
            let out = Command::cargo_bin("mailhygiene")
                .expect("binary")
                .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
                .env("PGPASSWORD", PASSWORD)
                .env("MAILHYGIENE_LOG", "debug")
                .env("XDG_STATE_HOME", tmp.path().join("state-home"))
                .args(args)
                .args(["--store", store])
                .output()
                .expect("runs");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(
                !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
                "{args:?} names the password"
            );
            // Nor the planted national ID, in any output, through either store.
            assert!(
                !stdout.contains(PLANTED) && !stderr.contains(PLANTED),
                "{args:?} shows the planted value"
            );
            assert!(
                out.status.code().is_some_and(|c| c < 2),
                "{args:?} on {store}: {stderr}"
            );
            (
                stdout.replace(&mail.display().to_string(), "MAIL"),
                out.status.code().unwrap_or(-1),
            )
        };
        // The steps in order, as run.
        let mut t = vec![
            run(&["scan", &source, "--format", "jsonl", "--as-of", AS_OF]),
            run(&["report", "--format", "jsonl", "--as-of", AS_OF]),
            run(&["report", "--format", "text", "--as-of", AS_OF, "--all"]),
            run(&[
                "report",
                "--compliance",
                "--format",
                "json",
                "--as-of",
                AS_OF,
            ]),
            run(&["clean", &source, "--format", "jsonl", "--as-of", AS_OF]),
        ];
        let (moved, code) = run(&[
            "clean", &source, "--format", "jsonl", "--as-of", AS_OF, "--apply",
        ]);
        assert!(moved.contains("\"moved\""), "{store}: {moved}");
        let run_id =
            serde_json::from_str::<serde_json::Value>(moved.lines().next().expect("a record"))
                .expect("json")["run"]
                .as_i64()
                .expect("run id")
                .to_string();
        t.push((moved, code));
        t.push(run(&["report", "--format", "jsonl", "--as-of", AS_OF]));
        t.push(run(&["undo", &run_id, "--format", "jsonl", "--apply"]));
        t.push(run(&[
            "scan",
            &source,
            "--format",
            "jsonl",
            "--as-of",
            AS_OF,
            "--changes-only",
        ]));
        t.push(run(&[
            "subject",
            "--address",
            "kari@example.test",
            "--format",
            "jsonl",
        ]));
        let plan = tmp.path().join(format!("plan-{}.csv", transcripts.len()));
        let (opened, code) = run(&[
            "offboard",
            &source,
            "--case",
            "SAK-7",
            "--reason",
            "sluttet",
            "--legal-basis",
            "arbeidsmiljøloven",
            "--notified",
            "2026-11-01",
            "--as-of",
            AS_OF,
            "--plan",
            &plan.display().to_string(),
        ]);
        // Detectors are named in words in the manager's report, not by id.
        assert!(
            opened.contains("Norwegian national ID (fødselsnummer): 2")
                && !opened.contains("no.fodselsnummer"),
            "{opened}"
        );
        t.push((stamp.replace_all(&opened, "TIME").into_owned(), code));
        // Each row's binding is keyed to the case as opened (its time).
        let rows = std::fs::read_to_string(&plan).expect("the plan is written");
        assert!(binding.is_match(&rows), "{rows}");
        t.push((binding.replace_all(&rows, "SAK-7/ROW").into_owned(), 0));
        let (status, code) = run(&["offboard", "--status", "--case", "SAK-7"]);
        t.push((stamp.replace_all(&status, "TIME").into_owned(), code));
        let (verified, code) = run(&["audit", "verify"]);
        assert!(
            verified.starts_with("audit trail intact"),
            "{store}: {verified}"
        );
        t.push((verified, code));
        // When each run started, the one thing allowed to differ.
        let (runs, code) = run(&["runs"]);
        assert!(clock.is_match(&runs), "{runs}");
        t.push((clock.replace_all(&runs, "TIME").into_owned(), code));
        transcripts.push(t);
    }
    let [lite, pg] = &transcripts[..] else {
        panic!("two transcripts")
    };
    assert!(
        lite[0].0.contains("\"sensitive\""),
        "the scan found the planted ID"
    );
    for (i, (l, p)) in lite.iter().zip(pg).enumerate() {
        assert_eq!(l, p, "step {i} differs between SQLite and PostgreSQL");
    }
}

/// Two runs that write never overlap on one PostgreSQL store: the second
/// is refused while the first holds the run lock, naming its holder.
#[test]
fn a_second_run_is_refused_while_the_first_holds_the_store() {
    let server = Postgres::start();
    let database = server.create_database("lock");
    let url = server.url(&database);
    // An IMAP server that accepts and never greets: the first run holds
    // the store's lock while it waits for the greeting.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = silent.local_addr().expect("address").port();
    let (accepted, connected) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming().flatten() {
            held.push(conn);
            let _ = accepted.send(());
        }
    });
    let mut holder = std::process::Command::new(env!("CARGO_BIN_EXE_mailhygiene"))
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", PASSWORD)
        .env("MAILHYGIENE_IMAP_PASSWORD", "x")
        .args([
            "scan",
            &format!("imap://kari@127.0.0.1:{port}"),
            "--allow-plaintext",
            "--store",
            &url,
            "--quiet",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the first run starts");
    // It connects after it has opened and locked the store.
    connected
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the first run connects");
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", PASSWORD)
        .args(["scan", "mbox:/dev/null", "--store", &url, "--quiet"])
        .output()
        .expect("runs");
    let refused = (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        refused.1.contains("another mailhygiene run"),
        "refused: {}",
        refused.1
    );
    assert_eq!(refused.0, Some(1), "{}", refused.1);
    assert!(
        refused
            .1
            .contains(&format!("mailhygiene pid {}", holder.id())),
        "the holder is named: {}",
        refused.1
    );
    let _ = holder.kill();
    let _ = holder.wait();
    // Its session ended with it: the lock is free again.
    let out = Command::cargo_bin("mailhygiene")
        .expect("binary")
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", PASSWORD)
        .args(["scan", "mbox:/dev/null", "--store", &url, "--quiet"])
        .output()
        .expect("runs");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("another mailhygiene run"),
        "a killed run's lock is released"
    );
}

/// Hosts that clean different mailboxes of one shared store go on side by
/// side: each holds only the mailboxes it changes. A mailbox another host
/// holds is refused, naming it; that host's run is taken over (and what it
/// left settled) only once its session is gone.
#[test]
fn hosts_clean_other_mailboxes_beside_each_other() {
    use mailhygiene::store::{Lock, OpenOptions, RunKind, StoreUrl, postgres::PasswordSource};
    let server = Postgres::start();
    let database = server.create_database("beside");
    let url = server.url(&database);
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    maildir(&a);
    maildir(&b);
    let (a, b) = (
        format!("maildir:{}", a.display()),
        format!("maildir:{}", b.display()),
    );
    let run = |args: &[&str]| {
        let out = Command::cargo_bin("mailhygiene")
            .expect("binary")
            .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
            .env("PGPASSWORD", PASSWORD)
            .args(args)
            .args(["--store", &url, "--as-of", AS_OF])
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, stderr) = run(&["scan", &a, &b, "--quiet", "--changes-only"]);
    assert_eq!(code, Some(0), "{stderr}");
    // Another host, midway through cleaning mailbox a.
    let password = dir.path().join("password");
    std::fs::write(&password, PASSWORD).expect("password");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let (mut other, guard) = mailhygiene::store::open(
        &StoreUrl::parse(&url).expect("url"),
        &OpenOptions {
            lock: Lock::Mailboxes { wait: false },
            password: PasswordSource {
                env: None,
                file: Some(password),
            },
            ..Default::default()
        },
    )
    .expect("the other host opens the store");
    other
        .hold_mailboxes(std::slice::from_ref(&a), false)
        .expect("holds a");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    let alive = other
        .begin_run(RunKind::Clean, day, chrono::Utc::now())
        .expect("its run");

    let (code, stdout, stderr) = run(&["clean", &b, "--apply", "--format", "jsonl"]);
    assert_eq!(code, Some(0), "b is cleaned beside it: {stderr}");
    let moved = stdout.lines().filter(|l| l.contains("\"moved\"")).count();
    assert!(moved >= 7, "b's old mail moved ({moved}): {stdout}");
    assert!(
        !stderr.contains("interrupted"),
        "a live run is not taken over: {stderr}"
    );
    let (code, stdout, stderr) = run(&["clean", &a, "--apply"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("mailhygiene pid {}", std::process::id())) && stderr.contains(&a),
        "the holder and the mailbox are named: {stderr}"
    );
    assert!(
        std::fs::read_dir(dir.path().join("a/cur"))
            .expect("a")
            .count()
            >= 8,
        "nothing of a was moved"
    );
    // The other host dies: its run is taken over by the next clean of a.
    drop(other);
    drop(guard);
    let (code, stdout, stderr) = run(&["clean", &a, "--apply", "--wait", "--format", "jsonl"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("run {alive} (clean) was interrupted")),
        "{stderr}"
    );
    assert!(stdout.lines().filter(|l| l.contains("\"moved\"")).count() >= 7);
}
