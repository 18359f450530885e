//! Offboarding end to end against Dovecot: Alice leaves, Bob takes over.
//! A case and its plan, a handover that lands exactly the `handover` rows
//! once (also after a connection cut and a rerun), an edited plan that
//! cannot hand over private mail, data-subject search and export, and the
//! audit chain.

mod support;

use assert_cmd::Command;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};
use support::dovecot::{ALICE, BOB, Dovecot};

const KEY: &str = "offboard-test-key-0123456789";
/// A synthetic fødselsnummer planted in one message.
const PLANTED: &str = "15076500565";

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

const RECENT: u64 = 1_788_000_000; // 2026-08-29
const LAST_YEAR: u64 = 1_740_000_000; // 2025-02-19
const OLD: u64 = 1_672_000_000; // 2022-12-25

/// (name, folder, flags, from, subject, body, received)
const MESSAGES: &[(&str, &str, &str, &str, &str, &str, u64)] = &[
    (
        "1",
        "",
        "S",
        "Per Kunde <per@leverandor.no>",
        "Tilbud på rammeavtale",
        "Vedlagt tilbudet.",
        RECENT,
    ),
    (
        "2",
        "",
        "FS",
        "Siri Partner <siri@partner.no>",
        "Prosjektplan",
        "Se planen.",
        RECENT,
    ),
    (
        "3",
        "",
        "S",
        "Mamma <mamma@gmail.com>",
        "Middag søndag",
        "Kommer du?",
        RECENT,
    ),
    (
        "4",
        "",
        "S",
        "Tillitsvalgt <tv@fagforbundet.no>",
        "Lønnsforhandlinger",
        "Møte i klubben.",
        RECENT,
    ),
    (
        "5",
        ".Privat",
        "S",
        "Venn <venn@kunde.no>",
        "Hytta",
        "Nøkkelen ligger under matta.",
        RECENT,
    ),
    (
        "6",
        "",
        "S",
        "HR <hr@example.test>",
        "Lønnsslipp",
        "Fnr: 150765 00565.",
        RECENT,
    ),
    (
        "7",
        ".Regnskap",
        "S",
        "Regnskap <faktura@leverandor.no>",
        "Faktura 1001",
        "Beløp 1000.",
        LAST_YEAR,
    ),
    (
        "8",
        "",
        "S",
        "Gammel <gammel@leverandor.no>",
        "Gammel sak",
        "Avsluttet.",
        OLD,
    ),
];

fn mailbox() -> Dovecot {
    let d = Dovecot::start(None);
    for (name, folder, flags, from, subject, body, when) in MESSAGES {
        let raw = format!(
            "Message-ID: <{name}@offboard.test>\r\nFrom: {from}\r\nTo: Alice Nordmann <alice@example.test>\r\nSubject: {subject}\r\nDate: Mon, 1 Jun 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
        );
        d.deliver(&ALICE, folder, name, flags, raw.as_bytes(), at(*when));
    }
    d.deliver(
        &BOB,
        "",
        "b1",
        "S",
        b"Message-ID: <b1@offboard.test>\r\nFrom: x@example.test\r\nSubject: Hei\r\n\r\nHei\r\n",
        at(RECENT),
    );
    d
}

fn run(
    d: &Dovecot,
    state: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: &str,
) -> (i32, String, String) {
    let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
    cmd.env("MAILHYGIENE_FINGERPRINT_KEY", KEY)
        .env("MAILHYGIENE_IMAP_PASSWORD", ALICE.password)
        .env("MAILHYGIENE_HANDOVER_PASSWORD", BOB.password)
        .env("MAILHYGIENE_ACTOR", "leder")
        .env("SSL_CERT_FILE", d.ca_file())
        .env("MAILHYGIENE_LOG", "trace")
        .env_remove("MAILHYGIENE_IMAP_TOKEN")
        .args(args)
        .args(["--state", &state.display().to_string()])
        .write_stdin(stdin)
        .timeout(Duration::from_secs(120));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    let (stdout, stderr) = (
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    // Every command's output and trace-level log: never a clear value.
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains(PLANTED) && !text.contains("150765 00565"),
            "{args:?} leaked:\n{text}"
        );
    }
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

fn records(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// The messages in Bob's handover folder: Message-ID -> (flags, mtime).
fn handed_over(d: &Dovecot) -> BTreeMap<String, Vec<(String, SystemTime)>> {
    let mut out: BTreeMap<String, Vec<(String, SystemTime)>> = BTreeMap::new();
    let root = d.maildir(&BOB);
    for entry in std::fs::read_dir(&root).expect("maildir").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(".Overf") {
            continue;
        }
        for sub in ["cur", "new"] {
            for file in std::fs::read_dir(entry.path().join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                let text = std::fs::read_to_string(file.path()).expect("message");
                let id = text
                    .lines()
                    .find_map(|l| l.strip_prefix("Message-ID: "))
                    .unwrap_or_default()
                    .to_string();
                let flags = file
                    .file_name()
                    .to_string_lossy()
                    .rsplit_once(":2,")
                    .map(|(_, f)| f.chars().filter(|c| c.is_ascii_uppercase()).collect())
                    .unwrap_or_default();
                let mtime = file.metadata().expect("meta").modified().expect("mtime");
                out.entry(id).or_default().push((flags, mtime));
            }
        }
    }
    out
}

#[test]
fn a_case_a_plan_and_a_handover_that_never_leaks_private_mail() {
    use support::proxy::{Fault, Proxy};
    let d = mailbox();
    let state = d.dir.path().join("state.sqlite");
    let alice = format!("imap://alice%40example.test@127.0.0.1:{}", d.imap_port);
    let plain = "--allow-plaintext";
    let (code, _, err) = run(
        &d,
        &state,
        &[],
        &["scan", &alice, "--quiet", plain, "--as-of", "2026-11-25"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let before = d.snapshot(&ALICE);

    // No reason, no case.
    let (code, _, err) = run(
        &d,
        &state,
        &[],
        &[
            "offboard",
            &alice,
            "--case",
            "K-1",
            "--reason",
            " ",
            "--legal-basis",
            "x",
            "--notified",
            "2026-11-01",
        ],
        "",
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(
        &d,
        &state,
        &[],
        &[
            "offboard",
            &alice,
            "--case",
            "K-1",
            "--reason",
            "Drift",
            "--legal-basis",
            "x",
            "--notified",
            "none",
        ],
        "",
    );
    assert_eq!(code, 2, "{err}");

    let plan = d.dir.path().join("plan.csv");
    let notice = d.dir.path().join("varsel.txt");
    let (code, report, err) = run(
        &d,
        &state,
        &[],
        &[
            "offboard",
            &alice,
            "--case",
            "K-1",
            "--reason",
            "Videre drift av kundeforhold",
            "--legal-basis",
            "e-postforskriften § 2 første ledd bokstav a",
            "--notified",
            "2026-11-01",
            "--leaving",
            "2026-11-30",
            "--successor",
            "bob@example.test",
            "--plan",
            plan.to_str().expect("utf-8"),
            "--notice",
            notice.to_str().expect("utf-8"),
            "--term",
            "rammeavtale",
            "--term",
            "middag",
            "--term",
            "fnr",
            "--as-of",
            "2026-11-25",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    for hidden in [
        "Middag",
        "Lønnsforhandlinger",
        "Hytta",
        "mamma@gmail.com",
        "fagforbundet",
        PLANTED,
    ] {
        assert!(
            !report.contains(hidden),
            "{hidden} shown in the report:\n{report}"
        );
    }
    assert!(report.contains("leverandor.no"), "{report}");
    assert!(
        report.contains("Delete the mailbox by: 2027-05-30"),
        "{report}"
    );
    // Previews: only declared terms, never private mail, each recorded.
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &[
            "offboard",
            "--case",
            "K-1",
            "--preview",
            "rammeavtale",
            plain,
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("<1@offboard.test>") && out.contains("Tilbud på rammeavtale"),
        "{out}"
    );
    assert!(out.contains("1 messages previewed"), "{out}");
    // A preview next to an identifier shows it masked (run() checks).
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &["offboard", "--case", "K-1", "--preview", "fnr", plain],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("<6@offboard.test>") && out.contains("15*******65"),
        "{out}"
    );
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &["offboard", "--case", "K-1", "--preview", "Middag", plain],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("0 messages previewed") && !out.contains("<3@"),
        "private mail previewed: {out}"
    );
    let (code, _, err) = run(
        &d,
        &state,
        &[],
        &["offboard", "--case", "K-1", "--preview", "lønn", plain],
        "",
    );
    assert_eq!(code, 2, "an undeclared term: {err}");
    assert!(err.contains("not declared"), "{err}");
    let letter = std::fs::read_to_string(&notice).expect("notice letter");
    assert!(
        letter.starts_with("Subject: Varsel om innsyn i e-postkassen din (K-1)"),
        "{letter}"
    );
    for said in [
        "Videre drift av kundeforhold",
        "e-postforskriften",
        "bob@example.test",
        "2027-05-30",
        "2026-11-08",
        "uttale deg",
    ] {
        assert!(letter.contains(said), "{said} missing:\n{letter}");
    }
    assert!(!letter.contains(PLANTED));
    let csv = std::fs::read_to_string(&plan).expect("plan");
    let header = csv.lines().next().expect("header");
    assert_eq!(
        header,
        "message_id,folder,uid,date,from,subject,decision,why"
    );
    for hidden in [
        "Middag",
        "Lønnsforhandlinger",
        "Hytta",
        "mamma@gmail.com",
        PLANTED,
    ] {
        assert!(!csv.contains(hidden), "{hidden} in the plan:\n{csv}");
    }
    let decision = |id: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("<{id}@offboard.test>")))
            .and_then(|l| l.split(',').nth(6))
            .unwrap_or_default()
            .to_string()
    };
    let expected = [
        ("1", "handover"),
        ("2", "handover"),
        ("3", "private"),
        ("4", "private"),
        ("5", "private"),
        ("6", "delete"),
        ("7", "keep"),
        ("8", "delete"),
    ];
    for (id, want) in expected {
        assert_eq!(decision(id), want, "message {id}:\n{csv}");
    }
    // The manager's edit: the private message 3 and message 6 (due for
    // deletion) become handovers.
    let edited: String = csv
        .lines()
        .map(|l| {
            if l.starts_with("<3@") || l.starts_with("<6@") {
                let mut cells: Vec<&str> = l.split(',').collect();
                cells[6] = "handover";
                cells.join(",")
            } else {
                l.to_string()
            }
        })
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&plan, edited).expect("edit");

    // A dry run copies nothing.
    let bob_proxy = Proxy::start(
        d.imap_port,
        Fault::DropAfterCommand {
            pattern: "APPEND".into(),
            times: 1,
        },
    );
    let bob = format!("imap://bob%40example.test@127.0.0.1:{}", bob_proxy.port);
    let handover = [
        "handover",
        "--case",
        "K-1",
        "--plan",
        plan.to_str().expect("utf-8"),
        "--to",
        &bob,
        "--format",
        "jsonl",
        plain,
    ];
    let (code, out, _) = run(&d, &state, &[], &handover, "");
    assert_eq!(code, 1);
    let statuses: Vec<String> = records(&out)
        .iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| *s == "planned").count(),
        3,
        "{out}"
    );
    assert!(handed_over(&d).is_empty());

    // The first run is cut at its first APPEND; the rerun finishes.
    let apply: Vec<&str> = handover.iter().copied().chain(["--apply"]).collect();
    let (code, out, err) = run(&d, &state, &[], &apply, "");
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        records(&out).iter().any(|r| r["status"] == "failed"),
        "{out}"
    );
    let (code, out, err) = run(&d, &state, &[], &apply, "");
    assert_eq!(code, 1, "the excluded row fails the run: {out}{err}");
    let recs = records(&out);
    let excluded: Vec<&Value> = recs.iter().filter(|r| r["status"] == "excluded").collect();
    assert_eq!(excluded.len(), 1, "{out}");
    assert_eq!(excluded[0]["message_id"], "<3@offboard.test>");
    assert!(
        err.contains("<3@offboard.test>") && err.contains("excluded"),
        "{err}"
    );
    assert!(recs.iter().all(|r| r["status"] != "failed"), "{out}");
    let there = handed_over(&d);
    let ids: Vec<&str> = there.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "<1@offboard.test>",
            "<2@offboard.test>",
            "<6@offboard.test>"
        ],
        "{there:?}"
    );
    for (id, copies) in &there {
        assert_eq!(copies.len(), 1, "{id} copied {} times", copies.len());
    }
    // Dates and flags as they were.
    assert_eq!(there["<2@offboard.test>"][0].0, "FS");
    assert_eq!(there["<1@offboard.test>"][0].0, "S");
    assert_eq!(there["<1@offboard.test>"][0].1, at(RECENT));
    // Once more: everything is already there.
    let (_, out, _) = run(&d, &state, &[], &apply, "");
    let recs = records(&out);
    assert_eq!(
        recs.iter()
            .filter(|r| r["status"] == "already_there")
            .count(),
        3,
        "{out}"
    );
    assert_eq!(handed_over(&d).values().map(Vec::len).sum::<usize>(), 3);

    // Exports instead of a mailbox: Maildir and mbox, once each.
    let export_dir = d.dir.path().join("export-maildir");
    let export_mbox = d.dir.path().join("export.mbox");
    for to in [
        format!("maildir:{}", export_dir.display()),
        format!("mbox:{}", export_mbox.display()),
    ] {
        for round in 0..2 {
            let args = [
                "handover",
                "--case",
                "K-1",
                "--plan",
                plan.to_str().expect("utf-8"),
                "--to",
                &to,
                "--format",
                "jsonl",
                "--apply",
                plain,
            ];
            let (_, out, err) = run(&d, &state, &[], &args, "");
            let want = if round == 0 {
                "copied"
            } else {
                "already_there"
            };
            assert_eq!(
                records(&out).iter().filter(|r| r["status"] == want).count(),
                3,
                "{to} round {round}: {out}{err}"
            );
        }
    }
    let exported: Vec<_> =
        std::fs::read_dir(export_dir.join(".Overf&APg-rt fra alice").join("cur"))
            .expect("export")
            .flatten()
            .collect();
    assert_eq!(exported.len(), 3);
    let mbox = std::fs::read_to_string(&export_mbox).expect("mbox");
    assert_eq!(
        mbox.matches("\nFrom mailhygiene-").count()
            + usize::from(mbox.starts_with("From mailhygiene-")),
        3
    );

    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &["offboard", "--status", "--as-of", "2026-12-01"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("case K-1") && out.contains("2027-05-30"),
        "{out}"
    );
    let (code, out, _) = run(
        &d,
        &state,
        &[],
        &["offboard", "--status", "--as-of", "2027-06-01"],
        "",
    );
    assert_eq!(code, 1, "a passed deadline is flagged: {out}");
    assert!(out.contains("PASSED"), "{out}");

    assert_eq!(
        d.snapshot(&ALICE),
        before,
        "the leaver's mailbox was changed"
    );
    let (code, out, _) = run(&d, &state, &[], &["audit", "show", "--format", "jsonl"], "");
    assert_eq!(code, 0);
    let actions: Vec<String> = records(&out)
        .iter()
        .map(|r| r["action"].as_str().unwrap_or_default().to_string())
        .collect();
    for want in ["scan", "case", "preview", "handover"] {
        assert!(
            actions.iter().any(|a| a == want),
            "{want} missing: {actions:?}"
        );
    }
    assert!(records(&out).iter().all(|r| r["actor"] == "leder"));
    let (code, out, err) = run(&d, &state, &[], &["audit", "verify"], "");
    assert_eq!(code, 0, "{out}{err}");

    // Data-subject requests: by address, by an identifier on stdin, export.
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &[
            "subject",
            "--address",
            "per@leverandor.no",
            "--format",
            "jsonl",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out).len(), 1, "{out}");
    let export = d.dir.path().join("innsyn");
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &[
            "subject",
            "--identifier-stdin",
            "--format",
            "jsonl",
            "--export",
            export.to_str().expect("utf-8"),
            plain,
        ],
        "150765 00565\n",
    );
    assert_eq!(code, 0, "{err}");
    let found = records(&out);
    assert_eq!(found.len(), 1, "{out}");
    assert_eq!(found[0]["message_id"], "<6@offboard.test>");
    let index: Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("index.json")).expect("index"))
            .expect("JSON");
    let file = index["messages"][0]["file"].as_str().expect("file");
    let eml = std::fs::read(export.join(file)).expect("eml");
    assert!(mail_parser::MessageParser::default().parse(&eml).is_some());
    assert!(String::from_utf8_lossy(&eml).contains("Message-ID: <6@offboard.test>"));

    // No clear value outside the exported message itself.
    let audit_out = run(&d, &state, &[], &["audit", "show"], "").1;
    for text in [
        report.as_str(),
        &csv,
        &audit_out,
        &std::fs::read_to_string(export.join("index.json")).expect("index"),
        &out,
        &err,
    ] {
        assert!(
            !text.contains(PLANTED) && !text.contains("150765 00565"),
            "{text}"
        );
    }

    // The plan's delete rows go through the journaled cleanup, undoably;
    // an erasure request through the same path.
    let plan_arg = plan.to_str().expect("utf-8");
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &[
            "clean", &alice, "--case", "K-1", "--plan", plan_arg, "--format", "jsonl", "--apply",
            plain,
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let moved = records(&out);
    assert_eq!(moved.len(), 1, "{out}");
    assert_eq!(moved[0]["message_id"], "<8@offboard.test>");
    assert_eq!(moved[0]["rule"], "case:K-1");
    assert_eq!(moved[0]["status"], "moved");
    let clean_run = moved[0]["run"].as_i64().expect("run").to_string();
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &["undo", &clean_run, "--format", "jsonl", "--apply", plain],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(records(&out)[0]["status"], "moved");
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &["scan", &alice, "--quiet", plain, "--as-of", "2026-11-25"],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let (_, listed, _) = run(
        &d,
        &state,
        &[],
        &[
            "subject",
            "--address",
            "gammel@leverandor.no",
            "--format",
            "jsonl",
        ],
        "",
    );
    let listed_file = d.dir.path().join("erase.jsonl");
    std::fs::write(&listed_file, &listed).expect("write");
    let (code, out, err) = run(
        &d,
        &state,
        &[],
        &[
            "clean",
            &alice,
            "--messages",
            listed_file.to_str().expect("utf-8"),
            "--format",
            "jsonl",
            plain,
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    let planned = records(&out);
    assert_eq!(planned.len(), 1, "{out}");
    assert_eq!(planned[0]["rule"], "erasure");
    assert_eq!(planned[0]["status"], "planned");

    // Tampering with the trail is found: a removed entry, a reordering, a
    // changed entry (each on its own copy of the store).
    let tampered = |name: &str, sql: &str| {
        let copy = d.dir.path().join(name);
        std::fs::copy(&state, &copy).expect("copy the store");
        let conn = rusqlite::Connection::open(&copy).expect("store");
        conn.execute_batch(sql).expect("tamper");
        drop(conn);
        run(&d, &copy, &[], &["audit", "verify"], "")
    };
    let (code, _, err) = tampered("removed.sqlite", "DELETE FROM audit WHERE seq = 3");
    assert_eq!(code, 1);
    assert!(err.contains("removed"), "{err}");
    let (code, _, err) = tampered(
        "reordered.sqlite",
        "CREATE TEMP TABLE a AS SELECT * FROM audit WHERE seq = 2; CREATE TEMP TABLE b AS SELECT * FROM audit WHERE seq = 3; UPDATE audit SET at = (SELECT at FROM b), actor = (SELECT actor FROM b), action = (SELECT action FROM b), case_id = (SELECT case_id FROM b), detail = (SELECT detail FROM b), prev = (SELECT prev FROM b), hash = (SELECT hash FROM b) WHERE seq = 2; UPDATE audit SET at = (SELECT at FROM a), actor = (SELECT actor FROM a), action = (SELECT action FROM a), case_id = (SELECT case_id FROM a), detail = (SELECT detail FROM a), prev = (SELECT prev FROM a), hash = (SELECT hash FROM a) WHERE seq = 3;",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("entry 3") || err.contains("reordered"),
        "{err}"
    );
    let (code, _, err) = tampered(
        "cut.sqlite",
        "DELETE FROM audit WHERE seq = (SELECT max(seq) FROM audit)",
    );
    assert_eq!(code, 1);
    assert!(err.contains("removed"), "{err}");
    let conn = rusqlite::Connection::open(&state).expect("store");
    conn.execute("UPDATE audit SET detail = '{}' WHERE seq = 2", [])
        .expect("tamper");
    drop(conn);
    let (code, _, err) = run(&d, &state, &[], &["audit", "verify"], "");
    assert_eq!(code, 1);
    assert!(err.contains("entry 2"), "{err}");
}
