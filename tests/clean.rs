//! `clean` and `undo` against a real Dovecot: with and without MOVE, a
//! connection cut in the middle of a move then a rerun, and undo restoring
//! every message with its flags.

mod support;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};
use support::dovecot::{ALICE, BOB, Dovecot};

const KEY: &str = "clean-test-key-0123456789";
const AS_OF: &str = "2026-11-25";
/// Exchange Online's capabilities, with and without MOVE and UIDPLUS.
const EXCHANGE: &str = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
const NO_MOVE: &str = "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";
const NEITHER: &str =
    "IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+";

fn old() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_577_880_000) // 2020-01-01
}

fn recent() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_780_272_000) // 2026-06-01
}

fn message(id: &str) -> Vec<u8> {
    format!(
        "Message-ID: <{id}@clean.test>\r\nFrom: Kari <kari@example.test>\r\nTo: alice@example.test\r\nSubject: Sak {id}\r\nDate: Wed, 1 Jan 2020 10:00:00 +0000\r\n\r\nHei, dette gjelder sak {id}.\r\n"
    )
    .into_bytes()
}

/// Alice's mailbox: old mail (due), some of it flagged or seen, recent mail
/// (not due), in INBOX and a folder.
fn mailbox(capabilities: &str) -> Dovecot {
    let d = Dovecot::start(Some(capabilities));
    for i in 0..12 {
        let flags = match i % 3 {
            0 => "S",
            1 => "",
            _ => "RS",
        };
        d.deliver(
            &ALICE,
            "",
            &format!("{i}.old"),
            flags,
            &message(&format!("old{i}")),
            old(),
        );
    }
    d.deliver(&ALICE, "", "f.old", "FS", &message("flagged"), old());
    d.deliver(&ALICE, "", "n.new", "S", &message("new"), recent());
    d.deliver(&ALICE, ".Prosjekter", "p.old", "S", &message("proj"), old());
    d
}

struct Run<'a> {
    d: &'a Dovecot,
    /// `--state FILE` or `--store URL` (see `support::store_args`).
    store: [String; 2],
}

impl Run<'_> {
    fn new(d: &Dovecot) -> Run<'_> {
        Run {
            d,
            store: support::store_args(d.dir.path()),
        }
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([self.store[0].as_str(), &self.store[1], "--as-of", AS_OF]);
        self.as_printed(&all)
    }

    /// Runs exactly these arguments (a hint the tool printed).
    fn as_printed(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::cargo_bin("mailhygiene")
            .expect("binary")
            .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
            .env("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)
            .env("MAILHYGIENE_IMAP_BACKOFF_MS", "20")
            .env("SSL_CERT_FILE", self.d.ca_file())
            .env("PGPASSWORD", support::postgres::PASSWORD)
            .env("XDG_STATE_HOME", self.d.dir.path().join("state-home"))
            .env_remove("MAILHYGIENE_IMAP_TOKEN")
            .args(args)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).expect("utf-8"),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn url(d: &Dovecot) -> String {
    format!("imaps://alice%40example.test@127.0.0.1:{}", d.imaps_port)
}

fn records(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Every message on the server: (folder, Message-ID, flags), as Dovecot
/// keeps them (flags in the file name).
fn server_state(d: &Dovecot) -> BTreeSet<(String, String, String)> {
    state_of(d, &ALICE)
}

/// The same for any user.
fn state_of(d: &Dovecot, user: &support::dovecot::User) -> BTreeSet<(String, String, String)> {
    let root = d.maildir(user);
    let mut out = BTreeSet::new();
    let mut dirs = vec![(String::from("INBOX"), root.clone())];
    for entry in std::fs::read_dir(&root).expect("maildir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(folder) = name.strip_prefix('.')
            && entry.path().is_dir()
        {
            dirs.push((folder.to_string(), entry.path()));
        }
    }
    for (folder, dir) in dirs {
        for sub in ["cur", "new"] {
            let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let flags = name
                    .rsplit_once(":2,")
                    .map(|(_, f)| f.to_string())
                    .unwrap_or_default();
                // Dovecot's own bookkeeping flags are not the user's.
                let flags: String = flags.chars().filter(|c| c.is_ascii_uppercase()).collect();
                let text = std::fs::read_to_string(entry.path()).expect("message");
                let id = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Message-ID: "))
                    .unwrap_or_default()
                    .to_string();
                out.insert((folder.clone(), id, flags));
            }
        }
    }
    out
}

fn due_ids() -> BTreeSet<String> {
    let mut ids: BTreeSet<String> = (0..12).map(|i| format!("<old{i}@clean.test>")).collect();
    ids.insert("<proj@clean.test>".into());
    ids
}

fn ids_in(state: &BTreeSet<(String, String, String)>, folder: &str) -> BTreeSet<String> {
    state
        .iter()
        .filter(|(f, _, _)| f == folder)
        .map(|(_, id, _)| id.clone())
        .collect()
}

/// Scan, dry run, apply, rerun, undo: the whole cycle on one server.
fn clean_and_undo(capabilities: &str) {
    let d = mailbox(capabilities);
    let r = Run::new(&d);
    let url = url(&d);
    let before = server_state(&d);
    let (code, _, err) = r.run(&["scan", &url, "--quiet", "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");

    // The dry run plans exactly the due, unflagged messages and changes nothing.
    let (code, out, err) = r.run(&["clean", &url, "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    let planned = records(&out);
    assert!(
        planned
            .iter()
            .all(|p| p["status"] == "planned" && p["type"] == "move")
    );
    let planned_ids: BTreeSet<String> = planned
        .iter()
        .map(|p| p["message_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(planned_ids, due_ids());
    assert!(planned.iter().all(|p| p["to_folder"] == "Deleted Items"));
    assert_eq!(server_state(&d), before, "a dry run changed the mailbox");

    let (code, out, err) = r.run(&["clean", &url, "--format", "jsonl", "--apply"]);
    assert_eq!(code, 0, "{err}");
    let moved = records(&out);
    assert_eq!(moved.len(), 13, "{out}");
    assert!(moved.iter().all(|m| m["status"] == "moved"), "{out}");
    let run = moved[0]["run"].as_i64().expect("run id");
    let after = server_state(&d);
    assert_eq!(ids_in(&after, "Deleted Items"), due_ids());
    assert_eq!(
        ids_in(&after, "INBOX"),
        BTreeSet::from([
            "<flagged@clean.test>".to_string(),
            "<new@clean.test>".to_string()
        ])
    );
    // Flags travel with the messages.
    for (folder, id, flags) in &before {
        if due_ids().contains(id) {
            assert!(
                after.contains(&("Deleted Items".to_string(), id.clone(), flags.clone())),
                "{id} lost its flags {flags} moving from {folder}: {after:?}"
            );
        }
    }

    // Nothing is moved twice.
    let (code, out, err) = r.run(&["clean", &url, "--format", "jsonl", "--apply"]);
    assert_eq!(code, 0, "{err}");
    assert!(records(&out).is_empty(), "{out}");
    assert_eq!(server_state(&d), after);

    // Undo: every message back in its folder with its flags.
    let (code, out, err) = r.run(&["undo", &run.to_string(), "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out).len(), 13, "{out}");
    assert_eq!(
        server_state(&d),
        after,
        "a dry-run undo changed the mailbox"
    );
    let (code, out, err) = r.run(&["undo", &run.to_string(), "--format", "jsonl", "--apply"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        records(&out).iter().all(|m| m["status"] == "moved"),
        "{out}"
    );
    assert_eq!(server_state(&d), before);
    // A second undo has nothing left to do.
    let (code, out, _) = r.run(&["undo", &run.to_string(), "--format", "jsonl", "--apply"]);
    assert_eq!(code, 0);
    assert!(records(&out).is_empty(), "{out}");
}

#[test]
fn clean_and_undo_with_move() {
    clean_and_undo(EXCHANGE);
}

#[test]
fn clean_and_undo_with_copy_and_uid_expunge() {
    clean_and_undo(NO_MOVE);
}

#[test]
fn without_move_or_uidplus_nothing_is_touched() {
    let d = mailbox(NEITHER);
    let r = Run::new(&d);
    let url = url(&d);
    let before = server_state(&d);
    assert_eq!(r.run(&["scan", &url, "--quiet"]).0, 0);
    let (code, _, err) = r.run(&["clean", &url, "--apply"]);
    assert_eq!(code, 1);
    assert!(err.contains("neither MOVE nor UIDPLUS"), "{err}");
    assert_eq!(server_state(&d), before);
}

#[test]
fn a_message_flagged_after_the_scan_is_kept() {
    let d = mailbox(EXCHANGE);
    let r = Run::new(&d);
    let url = url(&d);
    assert_eq!(r.run(&["scan", &url, "--quiet"]).0, 0);
    d.set_flags(&ALICE, "", "0.old", "FS");
    let (code, out, err) = r.run(&["clean", &url, "--format", "jsonl", "--apply"]);
    assert_eq!(code, 0, "{err}");
    let kept = records(&out)
        .into_iter()
        .find(|m| m["message_id"] == "<old0@clean.test>")
        .expect("reported");
    assert_eq!(kept["status"], "skipped");
    assert!(ids_in(&server_state(&d), "INBOX").contains("<old0@clean.test>"));
}

/// The connection is cut right after a move command reaches the server, so
/// the client never hears whether it happened; the rerun finds out and
/// finishes without moving anything twice.
#[test]
fn a_connection_cut_mid_move_is_settled_by_the_rerun() {
    use support::proxy::{Fault, Proxy};
    for (capabilities, command) in [(EXCHANGE, "UID MOVE"), (NO_MOVE, "UID EXPUNGE")] {
        let d = mailbox(capabilities);
        let r = Run::new(&d);
        let proxy = Proxy::start(
            d.imap_port,
            Fault::DropAfterCommand {
                pattern: command.to_string(),
                // The scan's connection passes (it never moves); the
                // clean's is cut; the rerun's passes.
                times: 2,
            },
        );
        let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
        let (code, _, err) = r.run(&["scan", &via, "--quiet", "--allow-plaintext"]);
        assert_eq!(code, 0, "{err}");
        let (code, _, err) = r.run(&["clean", &via, "--apply", "--allow-plaintext"]);
        assert_eq!(code, 1, "the cut must be reported: {err}");
        assert!(err.contains("run clean again"), "{err}");
        // The rerun settles what the cut left open and moves the rest.
        let (code, out, err) = r.run(&[
            "clean",
            &via,
            "--apply",
            "--allow-plaintext",
            "--format",
            "jsonl",
        ]);
        assert_eq!(code, 0, "{capabilities}: {err}\n{out}");
        let state = server_state(&d);
        let trash: Vec<String> = state
            .iter()
            .filter(|(f, _, _)| f == "Deleted Items")
            .map(|(_, id, _)| id.clone())
            .collect();
        assert_eq!(
            trash.iter().cloned().collect::<BTreeSet<_>>(),
            due_ids(),
            "{capabilities}: something was lost"
        );
        assert_eq!(
            trash.len(),
            due_ids().len(),
            "{capabilities}: something moved twice"
        );
        assert_eq!(
            ids_in(&state, "INBOX"),
            BTreeSet::from([
                "<flagged@clean.test>".to_string(),
                "<new@clean.test>".to_string()
            ]),
            "{capabilities}"
        );
    }
}

/// The same for `undo`: the connection is cut right after the move back
/// reaches the server; the rerun settles it and restores the rest, and
/// nothing is moved twice.
#[test]
fn an_undo_cut_mid_move_is_settled_by_the_rerun() {
    use support::proxy::{Fault, Proxy};
    let d = mailbox(EXCHANGE);
    let r = Run::new(&d);
    let before = server_state(&d);
    let files = message_files(&d);
    // Connections: the scan (0) and the clean (1) never send this command;
    // the undo's (2) is cut after it; the rerun's (3) passes. The undo moves
    // Deleted Items' UIDs 1 to 12 back to INBOX in one command.
    let proxy = Proxy::start(
        d.imap_port,
        Fault::DropAfterCommand {
            pattern: "12 \"INBOX\"".to_string(),
            times: 3,
        },
    );
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let plain = ["--allow-plaintext"];
    assert_eq!(
        r.run(&[&["scan", via.as_str(), "--quiet"][..], &plain[..]].concat())
            .0,
        0
    );
    let (code, out, err) = r.run(
        &[
            &["clean", via.as_str(), "--apply", "--format", "jsonl"][..],
            &plain[..],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    let run = records(&out)[0]["run"]
        .as_i64()
        .expect("run id")
        .to_string();
    let (code, _, err) = r.run(&[&["undo", run.as_str(), "--apply"][..], &plain[..]].concat());
    assert_eq!(code, 1, "the cut must be reported: {err}");
    assert!(err.contains("run undo again"), "{err}");
    let (code, out, err) = r.run(
        &[
            &["undo", run.as_str(), "--apply", "--format", "jsonl"][..],
            &plain[..],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(server_state(&d), before, "lost by the cut undo");
    assert_eq!(message_files(&d), files, "doubled by the cut undo");
}

/// How many messages the server holds, copies included.
fn message_files(d: &Dovecot) -> usize {
    let mut n = 0;
    let mut pending = vec![d.maildir(&ALICE)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("maildir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "cur" || n == "new")
            {
                n += 1;
            }
        }
    }
    n
}

/// A config naming both test users, each with its own password file.
fn two_mailbox_config(d: &Dovecot, store: &str) -> String {
    let secrets = d.dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    std::fs::write(secrets.join("alice"), ALICE.password).expect("write");
    std::fs::write(secrets.join("bob"), BOB.password).expect("write");
    let config = d.dir.path().join("config.toml");
    // The same store the runs name with --state: a one-off scan (which
    // takes no --state) records itself there.
    let mut text = format!("store = \"{store}\"\n\n");
    for (name, user) in [("alice", &ALICE), ("bob", &BOB)] {
        text.push_str(&format!(
            "[[account]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {}\nauth = \"password\"\npassword_file = \"{}\"\nmailboxes = [\"{}\"]\n\n",
            d.imaps_port,
            secrets.join(name).display(),
            user.name
        ));
    }
    std::fs::write(&config, text).expect("config");
    config.display().to_string()
}

/// One clean over two mailboxes (whose Deleted Items folders, made in the
/// same second, share a UIDVALIDITY) is undone by one command, each entry
/// through its own mailbox's connection, message by message.
#[test]
fn a_clean_over_two_mailboxes_is_undone_in_one_command() {
    let d = mailbox(EXCHANGE);
    for i in 0..5 {
        d.deliver(
            &BOB,
            "",
            &format!("b{i}.old"),
            "S",
            &message(&format!("bob{i}")),
            old(),
        );
    }
    let r = Run::new(&d);
    let config = two_mailbox_config(&d, &r.store[1]);
    let before = (state_of(&d, &ALICE), state_of(&d, &BOB));
    let (code, _, err) = r.run(&["scan", "--config", &config, "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let alice = url(&d);
    let bob = format!("imaps://bob%40example.test@127.0.0.1:{}", d.imaps_port);
    let (code, out, err) = r.run(&["clean", &alice, &bob, "--config", &config, "--apply"]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(
        ids_in(&state_of(&d, &BOB), "Deleted Items").len(),
        5,
        "{out}"
    );
    assert_eq!(
        ids_in(&state_of(&d, &ALICE), "Deleted Items"),
        due_ids(),
        "{out}"
    );
    let hint = out
        .lines()
        .find_map(|l| {
            l.split_once("undo it with `")
                .map(|(_, h)| h.trim_end_matches('`').to_string())
        })
        .unwrap_or_else(|| panic!("no undo hint:\n{out}"));
    assert!(
        hint.contains("--config"),
        "the hint repeats the config: {hint}"
    );
    let args: Vec<&str> = hint.split_whitespace().skip(1).collect();
    let (code, out, err) = r.as_printed(&args);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(!out.contains("renumbered"), "{out}");
    assert_eq!((state_of(&d, &ALICE), state_of(&d, &BOB)), before, "{out}");
    // The trail: each run's started entry before its finished one, the
    // undo naming the run it undid; a one-off scan is an entry too.
    let (code, _, err) =
        r.as_printed(&["scan", &alice, "--no-state", "--quiet", "--config", &config]);
    assert_eq!(code, 0, "{err}");
    let (code, trail, err) = r.as_printed(&[
        "audit",
        "show",
        "--format",
        "jsonl",
        &r.store[0],
        &r.store[1],
        "--config",
        &config,
    ]);
    assert_eq!(code, 0, "{err}");
    let entries = records(&trail);
    let phases: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e["action"] == "clean" || e["action"] == "undo")
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default().to_string(),
                e["detail"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            ("clean".to_string(), "started".to_string()),
            ("clean".to_string(), "finished".to_string()),
            ("undo".to_string(), "started".to_string()),
            ("undo".to_string(), "finished".to_string()),
        ],
        "{trail}"
    );
    let undo = entries
        .iter()
        .find(|e| e["action"] == "undo")
        .expect("an undo entry");
    assert_eq!(undo["detail"]["undoes"], 2, "{trail}");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "scan" && e["detail"]["one_off"] == true),
        "{trail}"
    );
    let (code, _, err) = r.as_printed(&[
        "audit",
        "verify",
        &r.store[0],
        &r.store[1],
        "--config",
        &config,
    ]);
    assert_eq!(code, 0, "{err}");
}

/// A clean killed in the middle of a move (the command reached the server,
/// the answer never came back) leaves its run `running`. The next clean
/// takes it over, says so, and the one undo it prints restores everything
/// both moved; `runs` shows the series.
#[test]
fn an_interrupted_clean_is_undone_by_the_one_printed_undo() {
    use support::proxy::{Fault, Proxy};
    let d = mailbox(EXCHANGE);
    let r = Run::new(&d);
    let before = server_state(&d);
    let proxy = Proxy::start(
        d.imap_port,
        Fault::StallAfterCommand {
            pattern: "UID MOVE".into(),
            // The scan passes (it never moves); the clean's stalls.
            times: 2,
        },
    );
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let (code, _, err) = r.run(&["scan", &via, "--quiet", "--allow-plaintext"]);
    assert_eq!(code, 0, "{err}");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mailhygiene"))
        .env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("PGPASSWORD", support::postgres::PASSWORD)
        .env("XDG_STATE_HOME", d.dir.path().join("state-home"))
        .env("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)
        .env_remove("MAILHYGIENE_IMAP_TOKEN")
        .args([
            "clean",
            &via,
            "--apply",
            "--allow-plaintext",
            &r.store[0],
            &r.store[1],
            "--as-of",
            AS_OF,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starts");
    let waited = std::time::Instant::now();
    while !proxy.stalled.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the clean never moved"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");
    // The first folder's move happened on the server; the journal only
    // knows the intent.
    let moved = ids_in(&server_state(&d), "Deleted Items");
    assert!(
        !moved.is_empty() && moved.is_subset(&due_ids()),
        "{moved:?}"
    );
    let (code, out, err) = r.run(&["clean", &via, "--apply", "--allow-plaintext"]);
    assert_eq!(code, 0, "{err}\n{out}");
    assert!(err.contains("run 2 (clean) was interrupted"), "{err}");
    assert!(out.contains("run 3 (with interrupted run 2)"), "{out}");
    let hint = out
        .lines()
        .find_map(|l| {
            l.split_once("undo it with `")
                .map(|(_, h)| h.trim_end_matches('`').to_string())
        })
        .unwrap_or_else(|| panic!("no undo hint:\n{out}"));
    assert!(hint.contains(&r.store.join(" ")), "{hint}");
    let (code, runs, err) = r.as_printed(&["runs", "--format", "jsonl", &r.store[0], &r.store[1]]);
    assert_eq!(code, 0, "{err}");
    let listed = records(&runs);
    assert_eq!(listed.len(), 2, "{runs}");
    assert_eq!(listed[0]["status"], "interrupted", "{runs}");
    assert_eq!(listed[0]["adopted_by"], 3, "{runs}");
    assert_eq!(listed[0]["counts"]["moved"], moved.len(), "{runs}");
    assert_eq!(
        listed[1]["counts"]["moved"],
        due_ids().len() - moved.len(),
        "{runs}"
    );
    // The hint, exactly as printed (plus the proxy's plaintext flag).
    let mut args: Vec<&str> = hint.split_whitespace().skip(1).collect();
    args.push("--allow-plaintext");
    let (code, out, err) = r.as_printed(&args);
    assert_eq!(code, 0, "{err}\n{out}");
    assert_eq!(server_state(&d), before, "{out}");
    let (_, runs, _) = r.as_printed(&["runs", &r.store[0], &r.store[1]]);
    assert!(runs.contains("undone by run 4"), "{runs}");
}

/// Without MOVE: the server copies, then refuses to expunge. The outcome is
/// journaled `unknown`, not a plain failure, and the rerun removes the
/// originals once their copies are proven: nothing is copied twice.
#[test]
fn a_refused_expunge_after_copy_is_settled_without_copying_again() {
    use support::proxy::{Fault, Proxy};
    let d = mailbox(NO_MOVE);
    let r = Run::new(&d);
    let proxy = Proxy::start(
        d.imap_port,
        Fault::Refuse {
            pattern: "UID EXPUNGE".into(),
            reply: "Expunge not allowed now".into(),
            times: 2,
        },
    );
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let (code, _, err) = r.run(&["scan", &via, "--quiet", "--allow-plaintext"]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = r.run(&[
        "clean",
        &via,
        "--apply",
        "--allow-plaintext",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 1, "{err}\n{out}");
    assert!(out.contains("not removed"), "{out}");
    let (code, out, err) = r.run(&[
        "clean",
        &via,
        "--apply",
        "--allow-plaintext",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}\n{out}");
    let state = server_state(&d);
    let trash: Vec<String> = state
        .iter()
        .filter(|(f, _, _)| f == "Deleted Items")
        .map(|(_, id, _)| id.clone())
        .collect();
    assert_eq!(
        trash.len(),
        due_ids().len(),
        "copied twice: {trash:?}\n{out}"
    );
    assert_eq!(trash.into_iter().collect::<BTreeSet<_>>(), due_ids());
    assert!(ids_in(&state, "INBOX").is_disjoint(&due_ids()), "{state:?}");
}

/// Settling an interrupted COPY-fallback move finds, in Deleted Items, a
/// different message with the same Message-ID (a list copy). It is not
/// proof: the original is not expunged on its strength, the record says
/// `unsure`, and the message's own content is never lost.
#[test]
fn a_lookalike_in_deleted_items_is_not_proof() {
    use support::proxy::{Fault, Proxy};
    let d = Dovecot::start(Some(NO_MOVE));
    d.deliver(&ALICE, "", "m.old", "S", &message("list"), old());
    let r = Run::new(&d);
    let proxy = Proxy::start(
        d.imap_port,
        Fault::DropAfterCommand {
            pattern: "UID COPY".into(),
            times: 2,
        },
    );
    let via = format!("imap://alice%40example.test@127.0.0.1:{}", proxy.port);
    let (code, _, err) = r.run(&["scan", &via, "--quiet", "--allow-plaintext"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = r.run(&["clean", &via, "--apply", "--allow-plaintext"]);
    assert_eq!(code, 1, "{err}");
    // Our copy goes; a list's copy of the same message arrives instead
    // (same Message-ID, other content and date).
    let trash = d.maildir(&ALICE).join(".Deleted Items");
    for sub in ["cur", "new"] {
        for f in std::fs::read_dir(trash.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            std::fs::remove_file(f.path()).expect("remove");
        }
    }
    let lookalike = b"Message-ID: <list@clean.test>\r\nFrom: Liste <liste@example.test>\r\nSubject: [liste] Sak list\r\n\r\nEn annen kopi, med listens bunntekst.\r\n";
    d.deliver(&ALICE, ".Deleted Items", "l.copy", "S", lookalike, recent());
    let (code, out, err) = r.run(&[
        "clean",
        &via,
        "--apply",
        "--allow-plaintext",
        "--format",
        "jsonl",
    ]);
    assert!(code == 0 || code == 1, "{err}");
    let settled: Vec<Value> = records(&out)
        .into_iter()
        .filter(|r| r["run"] == 2)
        .collect();
    assert_eq!(settled.len(), 1, "{out}");
    assert_eq!(settled[0]["status"], "unsure", "{out}");
    // The original's content is still on the server (in INBOX, or moved
    // properly by this run), and the lookalike is untouched.
    let root = d.maildir(&ALICE);
    let mut bodies = Vec::new();
    for dir in [root.clone(), trash] {
        for sub in ["cur", "new"] {
            for f in std::fs::read_dir(dir.join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                bodies.push(std::fs::read_to_string(f.path()).expect("read"));
            }
        }
    }
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("Hei, dette gjelder sak list.")),
        "the original is gone: {bodies:?}"
    );
    assert!(
        bodies.iter().any(|b| b.contains("listens bunntekst")),
        "{bodies:?}"
    );
}

/// An erasure chooses a message; the owner's flag does not keep it, and
/// the record says it was flagged.
#[test]
fn an_erasure_moves_a_flagged_message_and_says_so() {
    let d = mailbox(EXCHANGE);
    d.deliver(
        &ALICE,
        "",
        "p.flag",
        "FS",
        b"Message-ID: <person@clean.test>\r\nFrom: Per Person <per.person@example.test>\r\nSubject: Om meg\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\n\r\nHei.\r\n",
        recent(),
    );
    let r = Run::new(&d);
    let (code, _, err) = r.run(&["scan", &url(&d), "--quiet"]);
    assert_eq!(code, 0, "{err}");
    let (code, found, err) = r.run(&[
        "subject",
        "--address",
        "per.person@example.test",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let list = d.dir.path().join("erasure.jsonl");
    std::fs::write(&list, &found).expect("write");
    let (code, out, err) = r.run(&[
        "clean",
        &url(&d),
        "--messages",
        list.to_str().expect("utf-8"),
        "--apply",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}\n{out}");
    let moved = records(&out);
    assert_eq!(moved.len(), 1, "{out}");
    assert_eq!(moved[0]["status"], "moved", "{out}");
    assert!(
        moved[0]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("flagged"),
        "{out}"
    );
    assert!(ids_in(&server_state(&d), "Deleted Items").contains("<person@clean.test>"));
}
