//! The PostgreSQL store against a private server the test starts (Debian's
//! `postgresql`, `initdb` in a temporary directory): each concern built so
//! far behaves as the SQLite store does (the same checks run on both), and
//! the guarantees several writers need hold with several processes'
//! worth of connections.

use super::private_server::{PASSWORD, Postgres, USER};
use super::*;
use crate::audit::AuditKey;
use std::path::Path;

fn password_file(dir: &Path) -> PasswordSource {
    use std::os::unix::fs::PermissionsExt;
    let file = dir.join("password");
    std::fs::write(&file, PASSWORD).expect("password file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    PasswordSource {
        env: None,
        file: Some(file),
    }
}

/// A connector to a fresh database of `server`.
fn fresh(server: &Postgres, dir: &Path) -> Connector {
    let db = server.create_database("t");
    Connector::new(
        Target::parse(&server.url(&db)).expect("url"),
        &password_file(dir),
    )
    .expect("connector")
}

fn key() -> AuditKey {
    AuditKey::new([7; 32])
}

fn entry(run: RunId, n: u32) -> JournalEntry {
    JournalEntry {
        id: 0,
        run,
        source: "imaps://kari@mail.test".into(),
        folder: "INBOX".into(),
        uid_validity: Some(u32::MAX),
        uid: Some(n),
        local_key: None,
        message_id: format!("<{n}@t>"),
        to_folder: "Deleted Items".into(),
        rule: "yearly-review".into(),
        status: JournalStatus::Intent,
        reason: String::new(),
        dest_uid_validity: None,
        dest_uid: None,
        dest_key: None,
        flagged: n.is_multiple_of(2),
        undoes: None,
        size: Some(1234),
        received: DateTime::<Utc>::from_timestamp(1_700_000_000, 0),
    }
}

/// What both stores must do alike: settings, runs and their adoption, the
/// journal (intents, outcomes, what is unfinished, what an undo reversed),
/// run summaries and the audit chain. Returns what was observed, so the two
/// stores' observations can be compared whole.
fn observe<S: Settings + Runs + Journal + AuditTrail + Cases + Reminders>(
    s: &mut S,
) -> Vec<String> {
    let mut seen = Vec::new();
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    let at = DateTime::<Utc>::from_timestamp(1_764_000_000, 0).expect("time");
    assert_eq!(s.setting("missing").expect("setting"), None);
    s.set_setting("k", "one").expect("set");
    s.set_setting("k", "two").expect("set again");
    seen.push(format!("{:?}", s.setting("k").expect("setting")));

    let first = s.begin_run(RunKind::Clean, day, at).expect("run");
    let second = s.begin_run(RunKind::Clean, day, at).expect("run");
    let scan = s.begin_run(RunKind::Scan, day, at).expect("run");
    seen.push(format!("{:?}", s.adopt_interrupted(second, RunKind::Clean)));
    seen.push(format!("{:?}", s.adopt(first, scan)));
    seen.push(format!("{:?}", s.adopt(first, second)));
    seen.push(format!("{:?}", s.series(second)));
    s.finish_run(second, at, "complete", 3).expect("finish");
    seen.push(format!("{:?}", s.run(second).expect("run")));
    seen.push(format!("{:?}", s.run(9999).expect("no run")));

    let mut entries: Vec<JournalEntry> = (1..=3).map(|n| entry(second, n)).collect();
    s.journal_intents(&mut entries).expect("intents");
    assert!(entries.iter().all(|e| e.id > 0), "ids are set");
    entries[0].status = JournalStatus::Moved;
    entries[0].dest_uid_validity = Some(7);
    entries[0].dest_uid = Some(70);
    entries[1].status = JournalStatus::Failed;
    entries[1].reason = "the server said no".into();
    s.journal_outcomes(&entries[..2]).expect("outcomes");
    seen.push(format!("{:?}", s.journal_of_run(second).expect("journal")));
    seen.push(format!(
        "{:?}",
        s.unfinished("imaps://kari@mail.test").expect("unfinished")
    ));
    let undo = s.begin_run(RunKind::Undo, day, at).expect("undo run");
    let mut back = vec![JournalEntry {
        undoes: Some(entries[0].id),
        ..entry(undo, 1)
    }];
    s.journal_intents(&mut back).expect("undo intent");
    back[0].status = JournalStatus::Moved;
    s.journal_outcomes(&back).expect("undo outcome");
    seen.push(format!("{:?}", s.undone(second).expect("undone")));
    let summaries = s
        .run_summaries(&[RunKind::Clean, RunKind::Undo])
        .expect("summaries");
    for r in &summaries {
        seen.push(format!(
            "{} {:?} {:?} {:?} {:?} {:?}",
            r.record.id, r.record.kind, r.counts, r.sources, r.undoes, r.undone_by
        ));
    }

    observe_cases(s, &mut seen);
    assert!(
        s.append_audit(NewEntry::new(at, "scan", None, serde_json::json!({})))
            .is_err(),
        "no key, no entry"
    );
    s.set_audit_key(key());
    for i in 0..3 {
        s.append_audit(NewEntry::new(
            at,
            "clean",
            Some("SAK-1"),
            serde_json::json!({ "n": i }),
        ))
        .expect("audit");
    }
    let chain = s.audit_entries().expect("entries");
    let head = s.audit_head().expect("head");
    // A shared store's entries also name the host that anchors them (so
    // their hashes differ too): the rest must be the same.
    let same: Vec<_> = chain
        .iter()
        .map(|e| {
            let mut detail = e.detail.clone();
            if let Some(d) = detail.as_object_mut() {
                d.remove(crate::audit::ANCHORED_BY);
            }
            (e.seq, &e.at, &e.actor, &e.action, &e.case_id, detail)
        })
        .collect();
    seen.push(format!(
        "{same:?} head at {:?}",
        head.as_ref().map(|(n, _)| *n)
    ));
    let verified = crate::audit::verify(
        &chain,
        head.as_ref().map(|(n, h)| (*n, h.as_str())),
        &key(),
        s.audit_anchor().expect("anchor").as_ref(),
        s.audit_host().as_deref(),
    )
    .expect("the chain verifies");
    seen.push(format!("{verified:?}"));
    seen
}

/// Cases (a private row stays private when a plan is recorded again),
/// their rows in order (a local row without a UID first), handovers and
/// reminders.
fn observe_cases<S: Cases + Reminders>(s: &mut S, seen: &mut Vec<String>) {
    use crate::case::{Case, Decision, Notice, PlanRow};
    let case = Case {
        id: "SAK-1".into(),
        source: "imaps://kari@mail.test".into(),
        reason: "sluttet".into(),
        legal_basis: "arbeidsmiljøloven".into(),
        notice: Notice::On {
            date: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date"),
        },
        successor: Some("ola@firma.test".into()),
        leaving: None,
        terms: vec!["tilbud".into()],
        opened_by: "leder".into(),
        opened_at: "2026-11-25T10:00:00Z".into(),
    };
    let row = |folder: &str, uid: Option<u32>, key: &str, decision: Decision| PlanRow {
        message_id: format!("<{key}@t>"),
        folder: folder.into(),
        uid,
        key: key.into(),
        date: "2026-01-01".into(),
        from: "x@y.test".into(),
        subject: "s".into(),
        decision,
        why: format!("{decision:?}"),
    };
    let rows = [
        row("INBOX", Some(9), "v:9", Decision::Handover),
        row("INBOX", None, "local-b", Decision::Private),
        row("Arkiv", Some(2), "v:2", Decision::Keep),
        row("INBOX", Some(10), "v:10", Decision::Delete),
    ];
    s.open_case(&case, &mut rows.clone().into_iter().map(Ok))
        .expect("case");
    let again = [row("INBOX", None, "local-b", Decision::Handover)];
    s.open_case(
        &Case {
            reason: "another reason is not taken".into(),
            ..case.clone()
        },
        &mut again.into_iter().map(Ok),
    )
    .expect("again");
    seen.push(format!("{:?}", s.cases().expect("cases")));
    seen.push(format!("{:?}", s.case_rows("SAK-1").expect("rows")));
    let mut private: Vec<_> = s
        .private_case_messages()
        .expect("private")
        .into_iter()
        .collect();
    private.sort();
    seen.push(format!("{private:?}"));
    s.amend_case(&Case {
        notice: Notice::Not {
            why: "på ferie".into(),
        },
        ..case.clone()
    })
    .expect("amend");
    seen.push(format!("{:?}", s.case("SAK-1").expect("case")));
    for (key, status) in [
        ("v:9", HandoverStatus::Copying),
        ("v:9", HandoverStatus::Copied),
        ("v:2", HandoverStatus::AlreadyThere),
    ] {
        s.record_handover(&HandoverRecord {
            case_id: "SAK-1".into(),
            folder: "INBOX".into(),
            key: key.into(),
            destination: "imaps://ola@mail.test".into(),
            message_id: format!("<{key}@t>"),
            to_folder: "Fra Kari".into(),
            content_hash: "ab".repeat(32),
            status,
            at: "2026-11-26T09:00:00Z".into(),
        })
        .expect("handover");
    }
    seen.push(format!("{:?}", s.handovers("SAK-1").expect("handovers")));
    let reminder = ReminderRecord {
        source: "imaps://kari@mail.test".into(),
        period: "2026".into(),
        run: 1,
        method: "smtp".into(),
        recipient: "kari@firma.test".into(),
        status: ReminderStatus::Sending,
        at: "2026-11-26T09:00:00Z".into(),
    };
    s.record_reminder(&reminder).expect("reminder");
    s.record_reminder(&ReminderRecord {
        status: ReminderStatus::Delivered,
        ..reminder
    })
    .expect("reminder again");
    seen.push(format!(
        "{:?} {:?}",
        s.reminder("imaps://kari@mail.test", "2026")
            .expect("reminder"),
        s.reminder("imaps://kari@mail.test", "2025").expect("none")
    ));
}

#[test]
fn the_store_behaves_as_the_sqlite_store_does() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pg = PostgresStore::open(&fresh(&server, dir.path())).expect("opens");
    pg.set_audit_anchor(dir.path().join("pg.anchor"));
    let mut lite = crate::store::SqliteStore::open(&dir.path().join("s.sqlite")).expect("sqlite");
    let observed_pg = observe(&mut pg);
    let observed_lite = observe(&mut lite);
    // The audit entries carry the actor and each store's own anchor; the
    // rest must match line for line.
    assert_eq!(observed_pg.len(), observed_lite.len());
    for (p, l) in observed_pg.iter().zip(&observed_lite) {
        assert_eq!(p, l);
    }
    assert_eq!(
        pg.schema_version().expect("version"),
        schema::MIGRATIONS.len()
    );
}

#[test]
fn processes_that_start_at_once_migrate_once_and_share_one_audit_chain() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let connector = std::sync::Arc::new(fresh(&server, dir.path()));
    // Eight openers at once on an empty database: each migration applied
    // once, every opener sees the whole schema.
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let c = connector.clone();
            std::thread::spawn(move || {
                PostgresStore::open(&c)
                    .and_then(|s| s.schema_version())
                    .expect("opens while others migrate")
            })
        })
        .collect();
    for o in openers {
        assert_eq!(o.join().expect("thread"), schema::MIGRATIONS.len());
    }
    let mut check = connector.connect().expect("session");
    let applied: i64 = check
        .query_one("SELECT count(*) FROM mailhygiene_schema", &[])
        .expect("count")
        .get(0);
    assert_eq!(applied as usize, schema::MIGRATIONS.len());

    // Four writers appending at once make one chain: no fork, no gap (and
    // the anchor log they share names every entry).
    let anchor = dir.path().join("audit.anchor");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let c = connector.clone();
            let anchor = anchor.clone();
            std::thread::spawn(move || {
                let mut s = PostgresStore::open(&c).expect("opens");
                s.set_audit_key(key());
                s.set_audit_anchor(anchor);
                for i in 0..25 {
                    s.append_audit(NewEntry::new(
                        Utc::now(),
                        "scan",
                        None,
                        serde_json::json!({ "writer": w, "i": i }),
                    ))
                    .expect("appends");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let mut s = PostgresStore::open(&connector).expect("opens");
    s.set_audit_anchor(anchor);
    let chain = s.audit_entries().expect("entries");
    assert_eq!(chain.len(), 100);
    let seqs: Vec<i64> = chain.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        (1..=100).collect::<Vec<i64>>(),
        "stored in chain order"
    );
    let head = s.audit_head().expect("head");
    crate::audit::verify(
        &chain,
        head.as_ref().map(|(n, h)| (*n, h.as_str())),
        &key(),
        s.audit_anchor().expect("anchor").as_ref(),
        s.audit_host().as_deref(),
    )
    .expect("one unbroken chain");
}

#[test]
fn the_run_lock_is_held_across_hosts_and_released_with_its_session() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let connector = std::sync::Arc::new(fresh(&server, dir.path()));
    PostgresStore::open(&connector).expect("migrated");
    let held = RunLock::acquire(&connector, false).expect("the first run locks");
    match RunLock::acquire(&connector, false) {
        Err(StoreError::Busy { path, holder }) => {
            assert!(
                path.starts_with("postgresql://mailhygiene@127.0.0.1:"),
                "{path}"
            );
            assert!(
                holder.contains(&format!("mailhygiene pid {}", std::process::id())),
                "the holder is named: {holder}"
            );
        }
        other => panic!("a second run must be refused, got {:?}", other.map(|_| ())),
    }
    // A waiting run gets the lock when the first lets go.
    let (tx, rx) = std::sync::mpsc::channel();
    let c = connector.clone();
    let waiter = std::thread::spawn(move || {
        let lock = RunLock::acquire(&c, true).expect("waits, then locks");
        tx.send(()).expect("send");
        drop(lock);
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(500))
            .is_err(),
        "the waiter waits while the lock is held"
    );
    drop(held);
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the waiter got the lock");
    waiter.join().expect("waiter");
    RunLock::acquire(&connector, false).expect("free again");
}

/// Without the store-wide lock (hosts changing different mailboxes of
/// one shared store), a run of another host is taken over only once its
/// session is gone; two hosts never hold one mailbox.
#[test]
fn another_hosts_run_is_taken_over_only_when_its_session_is_gone() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let connector = fresh(&server, dir.path());
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    let at = DateTime::<Utc>::from_timestamp(1_764_000_000, 0).expect("time");
    let mut first = PostgresStore::open(&connector).expect("first host");
    let mut second = PostgresStore::open(&connector).expect("second host");
    first
        .hold_mailboxes(&["maildir:/a".into()], false)
        .expect("the first host holds a");
    let alive = first.begin_run(RunKind::Clean, day, at).expect("run");
    // The second host cleans another mailbox beside it.
    second
        .hold_mailboxes(&["maildir:/b".into()], false)
        .expect("b is free");
    assert!(matches!(
        second.hold_mailboxes(&["maildir:/a".into()], false),
        Err(StoreError::Busy { .. })
    ));
    let beside = second.begin_run(RunKind::Clean, day, at).expect("run");
    assert_eq!(
        second
            .adopt_interrupted(beside, RunKind::Clean)
            .expect("adopts"),
        Vec::<RunId>::new(),
        "a live run is not taken over"
    );
    assert_eq!(
        first.run(alive).expect("run").expect("kept").status,
        "running"
    );
    // A run that finished gives its lock back and is not taken over.
    second
        .finish_run(beside, at, "complete", 0)
        .expect("finish");
    // The first host dies: its session, its mailbox and its run are let go.
    drop(first);
    let mut third = PostgresStore::open(&connector).expect("third host");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while third.hold_mailboxes(&["maildir:/a".into()], false).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "a closed session lets go of its mailbox"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let next = third.begin_run(RunKind::Clean, day, at).expect("run");
    assert_eq!(
        third
            .adopt_interrupted(next, RunKind::Clean)
            .expect("adopts"),
        vec![alive]
    );
    let record = third.run(alive).expect("run").expect("kept");
    assert_eq!(
        (record.status.as_str(), record.adopted_by),
        ("interrupted", Some(next))
    );
    assert_eq!(
        third.run(beside).expect("run").expect("kept").status,
        "complete"
    );
}

#[test]
fn connections_are_refused_in_words_without_secrets() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = server.create_database("t");
    // The Unix socket works as loopback does.
    let socket = Connector::new(
        Target::parse(&server.socket_url(&db)).expect("socket url"),
        &password_file(dir.path()),
    )
    .expect("connector");
    PostgresStore::open(&socket).expect("over the socket");
    // A wrong password: the server's words, never the password.
    use std::os::unix::fs::PermissionsExt;
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password-4711").expect("write");
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let e = PostgresStore::open(
        &Connector::new(
            Target::parse(&server.url(&db)).expect("url"),
            &PasswordSource {
                env: None,
                file: Some(wrong),
            },
        )
        .expect("connector"),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(e.contains("password authentication failed"), "{e}");
    assert!(!e.contains("4711") && !e.contains(PASSWORD), "{e}");
    // TLS asked for (a CA file given) from a server without it: refused,
    // never a silent fallback to plaintext.
    let ca = dir.path().join("ca.pem");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    std::fs::write(&ca, cert.cert.pem()).expect("ca");
    let e = PostgresStore::open(
        &Connector::new(
            Target::parse(&format!(
                "{}?sslrootcert={}",
                server.url(&db),
                ca.display().to_string().replace('/', "%2F")
            ))
            .expect("url"),
            &password_file(dir.path()),
        )
        .expect("connector"),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(e.to_lowercase().contains("tls"), "{e}");
    // A database that is not there.
    let e = PostgresStore::open(
        &Connector::new(
            Target::parse(&server.url("no_such_db")).expect("url"),
            &password_file(dir.path()),
        )
        .expect("connector"),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(
        e.contains("no_such_db") && e.contains("does not exist"),
        "{e}"
    );
    let _ = USER;
}

#[test]
fn journals_written_at_once_by_several_runs_stay_whole() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let connector = std::sync::Arc::new(fresh(&server, dir.path()));
    PostgresStore::open(&connector).expect("migrated");
    let day = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
    // Four processes' worth of runs, each journaling intents and outcomes
    // in small transactions while the others do.
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let c = connector.clone();
            std::thread::spawn(move || {
                let mut s = PostgresStore::open(&c).expect("opens");
                let run = s.begin_run(RunKind::Clean, day, Utc::now()).expect("run");
                let mut ids = Vec::new();
                for chunk in 0..10 {
                    let mut entries: Vec<JournalEntry> =
                        (0..5).map(|i| entry(run, chunk * 5 + i + 1)).collect();
                    s.journal_intents(&mut entries).expect("intents");
                    for e in &mut entries {
                        e.status = JournalStatus::Moved;
                    }
                    s.journal_outcomes(&entries).expect("outcomes");
                    ids.extend(entries.iter().map(|e| e.id));
                }
                (run, ids)
            })
        })
        .collect();
    let s = PostgresStore::open(&connector).expect("opens");
    let mut every = HashSet::new();
    for w in writers {
        let (run, ids) = w.join().expect("writer");
        let journal = s.journal_of_run(run).expect("journal");
        assert_eq!(
            journal.iter().map(|e| e.id).collect::<Vec<_>>(),
            ids,
            "a run's journal is its own entries, in order"
        );
        assert!(journal.iter().all(|e| e.status == JournalStatus::Moved));
        assert_eq!(
            journal.iter().filter_map(|e| e.uid).collect::<Vec<_>>(),
            (1..=50).collect::<Vec<u32>>()
        );
        every.extend(ids);
    }
    assert_eq!(every.len(), 200, "no id given twice");
    assert!(
        s.unfinished("imaps://kari@mail.test")
            .expect("unfinished")
            .is_empty()
    );
}

#[test]
fn tls_is_verified_against_the_given_authority() {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let server = Postgres::start_with_tls(&cert.pem(), &key.serialize_pem());
    let dir = tempfile::tempdir().expect("tempdir");
    let db = server.create_database("tls");
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).expect("ca");
    let url = |ca: &Path| {
        format!(
            "{}?sslrootcert={}",
            server.url(&db),
            ca.display().to_string().replace('/', "%2F")
        )
    };
    let connector = Connector::new(
        Target::parse(&url(&ca)).expect("url"),
        &password_file(dir.path()),
    )
    .expect("connector");
    let store = PostgresStore::open(&connector).expect("TLS, verified");
    let over_tls: bool = store
        .session()
        .expect("session")
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .expect("ssl state")
        .get(0);
    assert!(over_tls, "the session is encrypted");
    // Another authority: the server's certificate is refused.
    let other_key = rcgen::KeyPair::generate().expect("key");
    let other = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .self_signed(&other_key)
        .expect("certificate");
    let wrong = dir.path().join("other.pem");
    std::fs::write(&wrong, other.pem()).expect("other ca");
    let e = PostgresStore::open(
        &Connector::new(
            Target::parse(&url(&wrong)).expect("url"),
            &password_file(dir.path()),
        )
        .expect("connector"),
    )
    .err()
    .expect("an unknown authority is refused")
    .to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");
}

/// Each host anchors the entries it writes in its own log: verifying on a
/// host checks its own entries against its log and counts the others; a
/// host that never wrote verifies without a log; a host whose log is gone
/// while the store names its entries is told so; which host anchored an
/// entry cannot be changed without breaking the chain.
#[test]
fn each_host_anchors_its_own_entries_of_a_shared_chain() {
    let server = Postgres::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let connector = fresh(&server, dir.path());
    let as_host = |name: &str| {
        let mut s = PostgresStore::open(&connector).expect("opens");
        s.set_audit_key(key());
        s.set_audit_anchor_as(dir.path().join(format!("{name}.anchor")), name);
        s
    };
    let mut a = as_host("A");
    let mut b = as_host("B");
    for (s, n) in [(&mut a, 3), (&mut b, 2)] {
        for i in 0..n {
            s.append_audit(NewEntry::new(
                Utc::now(),
                "scan",
                None,
                serde_json::json!({ "i": i }),
            ))
            .expect("appends");
        }
    }
    let verify = |s: &PostgresStore| {
        let chain = s.audit_entries().expect("entries");
        let head = s.audit_head().expect("head");
        crate::audit::verify(
            &chain,
            head.as_ref().map(|(n, h)| (*n, h.as_str())),
            &key(),
            s.audit_anchor().expect("anchor").as_ref(),
            s.audit_host().as_deref(),
        )
        .map(|v| (v.entries, v.unanchored, v.elsewhere))
    };
    assert_eq!(verify(&a), Ok((5, 0, 2)));
    assert_eq!(verify(&b), Ok((5, 0, 3)));
    // The compliance officer's laptop, which never wrote: no log, no alarm.
    assert_eq!(verify(&as_host("C")), Ok((5, 0, 5)));
    // A's log removed: A's entries are named in the store, so it is missed.
    std::fs::remove_file(dir.path().join("A.anchor")).expect("remove");
    assert_eq!(verify(&a), Err(crate::audit::Broken::AnchorMissing));
    assert_eq!(verify(&b), Ok((5, 0, 3)));
    // Moving an entry to another host's account breaks the chain.
    let mut db = connector.connect().expect("session");
    db.execute(
        "UPDATE audit SET detail = replace(detail, $1, $2) WHERE seq = 1",
        &[
            &crate::audit::anchor_host("A"),
            &crate::audit::anchor_host("C"),
        ],
    )
    .expect("tamper");
    assert_eq!(verify(&b), Err(crate::audit::Broken::Changed { seq: 1 }));
}
