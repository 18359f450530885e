//! The yearly reminder as a workflow over the store: per mailbox, whether
//! one is due this period, its content from the inventory (the mailbox's
//! cleanup report through the templates), its keyed id and proof, and the
//! journal around its delivery (`sending` before, `delivered` or `failed`
//! after). The command layer gives it the store, the delivery edge (it
//! knows credentials, SMTP and TLS), a clock and where records go.

use crate::deliver;
use crate::fingerprint::Fingerprinter;
use crate::remind::{self, Lang, Templates};
use crate::report::{ReportContext, Summary};
use crate::rules::RuleSet;
use crate::store::{ReminderRecord, ReminderStatus, RunId, Store, StoreError};
use chrono::NaiveDate;
use std::time::SystemTime;

/// How this run reminds.
pub struct Settings<'a> {
    pub templates: &'a Templates,
    pub rules: &'a RuleSet,
    /// The installation's secret: keys each reminder's id and proof.
    pub secret: &'a Fingerprinter,
    pub lang: Lang,
    pub as_of: NaiveDate,
    pub period: &'a str,
    /// Send even when this period's reminder was sent.
    pub again: bool,
    pub from: Option<&'a str>,
    /// The recipient instead of the mailbox's address (one mailbox only).
    pub to: Option<&'a str>,
    /// `imap`, `smtp` or `dir`, as journaled.
    pub method: &'a str,
    /// Whether a delivery interrupted mid-send may have arrived (SMTP): then
    /// it is not sent again without `again`.
    pub unsure_after_interruption: bool,
    /// What the reminder's clean command repeats after the mailbox, so it
    /// runs as printed (` --config FILE --store URL`, as `remind` ran).
    pub clean_options: &'a str,
}

/// One mailbox's reminder as the contract's `reminder` record says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub source: String,
    pub to: String,
    /// `planned`, `delivered`, `already_sent` or `failed`.
    pub status: &'static str,
    pub subject: String,
    pub reason: String,
}

/// A built reminder, for the delivery edge.
pub struct Outgoing<'a> {
    pub source: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub reminder_id: &'a str,
    /// A file name for a directory delivery.
    pub name: String,
    pub bytes: &'a [u8],
}

/// What delivers a built reminder.
pub type Deliver<'a> = dyn FnMut(&Outgoing<'_>) -> Result<deliver::Outcome, String> + 'a;

#[derive(Debug, thiserror::Error)]
pub enum RemindError {
    /// A template that does not render: the run stops before sending.
    #[error("reminder template: {0}")]
    Template(String),
    #[error("cannot write the audit trail: {0}")]
    Audit(StoreError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A reminder run as it ended: its id (none for a dry run) and the
/// mailboxes counted by status (`delivered`, `already_sent`, `failed`, ...).
#[derive(Debug, Default)]
pub struct Reminded {
    pub run: Option<RunId>,
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// [`remind`] as a whole job: with `apply`, a `remind` run is begun and
/// audited before the first message and finished and audited after the
/// last (`incomplete` when any failed); without, a dry run.
#[allow(clippy::too_many_arguments)]
pub fn remind_as_run(
    store: &mut dyn Store,
    held: &crate::store::Held,
    apply: bool,
    sources: &[String],
    context: &ReportContext,
    s: &Settings<'_>,
    deliver: &mut Deliver<'_>,
    clock: &dyn Fn() -> SystemTime,
    emit: &mut dyn FnMut(&Sent) -> std::io::Result<()>,
) -> Result<Reminded, RemindError> {
    // Each mailbox is held: no other host reminds it (or changes it)
    // meanwhile, so a reminder is never sent twice.
    for source in sources {
        held.check(store, source)?;
    }
    let mut reminded = Reminded::default();
    if apply {
        let run = store.begin_run(crate::store::RunKind::Remind, s.as_of, chrono::Utc::now())?;
        store
            .audit(
                "remind",
                None,
                serde_json::json!({"phase": "started", "run": run, "sources": sources}),
            )
            .map_err(RemindError::Audit)?;
        reminded.run = Some(run);
    }
    let counts = &mut reminded.counts;
    remind(
        store,
        reminded.run,
        sources,
        context,
        s,
        deliver,
        clock,
        &mut |sent| {
            *counts.entry(sent.status.to_string()).or_default() += 1;
            emit(sent)
        },
    )?;
    if let Some(run) = reminded.run {
        let failed = reminded.counts.get("failed").copied().unwrap_or(0);
        let status = if failed == 0 {
            "complete"
        } else {
            "incomplete"
        };
        let delivered = reminded.counts.get("delivered").copied().unwrap_or(0);
        store.finish_run(run, chrono::Utc::now(), status, delivered)?;
        store
            .audit(
                "remind",
                None,
                serde_json::json!({"phase": "finished", "run": run, "status": status, "counts": reminded.counts}),
            )
            .map_err(RemindError::Audit)?;
    }
    Ok(reminded)
}

/// A mailbox with an offboarding case gets no reminder. Not a reminder
/// record's status in the contract: the command says it on standard error
/// and in its text, never as a `reminder` record.
pub const NOT_REMINDED: &str = "not_reminded";

/// Reminds each of `sources`: without a run (a dry run) says what each
/// would get; with one, builds, journals and delivers it. `emit` gets one
/// record per mailbox, `clock` the time of each message.
#[allow(clippy::too_many_arguments)]
pub fn remind(
    store: &mut dyn Store,
    run: Option<RunId>,
    sources: &[String],
    context: &ReportContext,
    s: &Settings<'_>,
    deliver: &mut Deliver<'_>,
    clock: &dyn Fn() -> SystemTime,
    emit: &mut dyn FnMut(&Sent) -> std::io::Result<()>,
) -> Result<(), RemindError> {
    let mailboxes = store.mailboxes()?;
    let cases = store.cases()?;
    for source in sources {
        let record = mailboxes.iter().find(|m| &m.source == source);
        let to =
            s.to.map(str::to_string)
                .or(record.and_then(|m| m.address.clone()))
                .unwrap_or_default();
        let mut say = |status: &'static str, subject: &str, reason: &str| {
            emit(&Sent {
                source: source.clone(),
                to: to.clone(),
                status,
                subject: subject.to_string(),
                reason: reason.to_string(),
            })
        };
        // Someone leaving (or gone) is not asked to tidy a mailbox that a
        // manager is handing over: the case decides what happens to it.
        if let Some(case) = cases.iter().find(|c| &c.source == source) {
            say(
                NOT_REMINDED,
                "",
                &format!(
                    "offboarding case {} is open for this mailbox: a leaver gets no reminder",
                    case.id
                ),
            )?;
            continue;
        }
        if to.is_empty() {
            say(
                "failed",
                "",
                "the store has no address for this mailbox: give --to, or a config entry",
            )?;
            continue;
        }
        let prior = store.reminder(source, s.period)?;
        if prior
            .as_ref()
            .is_some_and(|p| p.status == ReminderStatus::Delivered)
            && !s.again
        {
            say("already_sent", "", "")?;
            continue;
        }
        let mut summary = Summary::new(context.clone());
        crate::inventory::print(
            store,
            std::slice::from_ref(source),
            s.rules,
            s.as_of,
            None,
            &mut summary,
        )?;
        let clean_command = format!("mailhygiene clean {source} --apply{}", s.clean_options);
        let ctx = remind::context(&summary, source, s.period, clean_command, s.lang, s.rules);
        let rendered = s
            .templates
            .render(s.lang, &ctx)
            .map_err(|e| RemindError::Template(e.to_string()))?;
        let Some(run) = run else {
            say("planned", &rendered.subject, "")?;
            continue;
        };
        let now = clock();
        let since = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let reminder_id = if s.again {
            remind::reminder_id(
                s.secret,
                source,
                &format!("{}#{}", s.period, since.as_nanos()),
            )
        } else {
            remind::reminder_id(s.secret, source, s.period)
        };
        let from = s.from.map(str::to_string).unwrap_or_else(|| {
            let domain = to.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
            format!("mailhygiene <mailhygiene@{domain}>")
        });
        let message_id = format!("<{reminder_id}.{}@mailhygiene.invalid>", since.as_secs());
        let proof = remind::reminder_proof(s.secret, &reminder_id, &message_id);
        let bytes = match remind::message(
            &rendered,
            &from,
            &to,
            now,
            &message_id,
            &reminder_id,
            &proof,
        ) {
            Ok(b) => b,
            Err(e) => {
                say("failed", &rendered.subject, &e)?;
                continue;
            }
        };
        if prior
            .as_ref()
            .is_some_and(|p| p.status == ReminderStatus::Sending)
            && s.unsure_after_interruption
            && !s.again
        {
            say(
                "failed",
                &rendered.subject,
                "an earlier run was interrupted while sending it, so it may have arrived: check, then use --again",
            )?;
            continue;
        }
        let at = |t: SystemTime| chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339();
        let mut entry = ReminderRecord {
            source: source.clone(),
            period: s.period.to_string(),
            run,
            method: s.method.to_string(),
            recipient: to.clone(),
            status: ReminderStatus::Sending,
            at: at(now),
        };
        store.record_reminder(&entry)?;
        let outcome = deliver(&Outgoing {
            source,
            from: &from,
            to: &to,
            reminder_id: &reminder_id,
            name: format!("reminder-{}-{reminder_id}", s.period),
            bytes: &bytes,
        });
        match outcome {
            Ok(result) => {
                entry.status = ReminderStatus::Delivered;
                entry.at = at(clock());
                store.record_reminder(&entry)?;
                let status = match result {
                    deliver::Outcome::Delivered => "delivered",
                    deliver::Outcome::AlreadyThere => "already_sent",
                };
                say(status, &rendered.subject, "")?;
            }
            Err(e) => {
                entry.status = ReminderStatus::Failed;
                store.record_reminder(&entry)?;
                say("failed", &rendered.subject, &e)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MessageMeta, MessageReport};
    use crate::store::{MailboxRecord, RunKind};

    /// Once per period, journaled around the delivery, through the library
    /// alone: delivered, then already sent; a refused delivery is `failed`
    /// in the journal and sent on the next run.
    #[test]
    fn one_reminder_per_period_journaled_around_its_delivery() {
        let as_of = NaiveDate::from_ymd_opt(2026, 11, 25).expect("date");
        let rules = RuleSet::embedded().expect("rules");
        let templates = Templates::load(None).expect("templates");
        let secret = Fingerprinter::new(b"reminders-test-key-01").expect("key");
        let mut store = crate::store::for_tests();
        let source = "maildir:/tmp/kari".to_string();
        store
            .register_mailbox(&MailboxRecord {
                source: source.clone(),
                address: Some("kari@firma.no".into()),
                ..Default::default()
            })
            .expect("mailbox");
        let scan = store
            .begin_run(RunKind::Scan, as_of, chrono::Utc::now())
            .expect("run");
        let mut meta = MessageMeta::local("INBOX", 10, "1.x");
        meta.received = chrono::DateTime::<chrono::Utc>::from_timestamp(1_577_880_000, 0);
        let engine = crate::engine::Engine::new(
            crate::engine::EngineSettings::new(as_of),
            rules.clone(),
            secret.clone(),
        );
        let report: MessageReport = engine.scan_message(meta, b"Subject: gammel\r\n\r\nhei\r\n");
        store.record(scan, &source, &report).expect("record");
        let settings = Settings {
            templates: &templates,
            rules: &rules,
            secret: &secret,
            lang: Lang::Nb,
            as_of,
            period: "2026",
            again: false,
            from: None,
            to: None,
            method: "dir",
            unsure_after_interruption: false,
            clean_options: " --config /etc/mailhygiene/config.toml",
        };
        let context = ReportContext {
            as_of,
            ..Default::default()
        };
        let clock = || std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_000_000);
        store.set_audit_key(crate::audit::AuditKey::new([3; 32]));
        let outcome = |apply: bool, refuse: bool, store: &mut dyn crate::store::Store| {
            let mut sent: Vec<Vec<u8>> = Vec::new();
            let mut records = Vec::new();
            let mut deliver = |o: &Outgoing<'_>| {
                if refuse {
                    return Err("the directory is full".to_string());
                }
                sent.push(o.bytes.to_vec());
                Ok(deliver::Outcome::Delivered)
            };
            let held =
                crate::store::hold(store, std::slice::from_ref(&source), false).expect("held");
            let reminded = remind_as_run(
                store,
                &held,
                apply,
                std::slice::from_ref(&source),
                &context,
                &settings,
                &mut deliver,
                &clock,
                &mut |r| {
                    records.push(r.status);
                    Ok(())
                },
            )
            .expect("reminds");
            let status = reminded
                .run
                .map(|run| store.run(run).expect("run").expect("recorded").status);
            let counted: u64 = reminded.counts.values().sum();
            assert_eq!(counted, records.len() as u64);
            (records, sent, status)
        };
        // A dry run: no run, nothing sent, nothing journaled or audited.
        let (records, sent, status) = outcome(false, false, store.as_mut());
        assert_eq!((records.len(), sent.len(), status), (1, 0, None));
        assert!(store.audit_entries().expect("trail").is_empty());
        assert_eq!(store.reminder(&source, "2026").expect("journal"), None);
        let outcome = |refuse, store: &mut dyn crate::store::Store| {
            let (records, sent, status) = outcome(true, refuse, store);
            let expected = if refuse { "incomplete" } else { "complete" };
            assert_eq!(status.as_deref(), Some(expected));
            (records, sent)
        };
        let (records, _) = outcome(true, store.as_mut());
        assert_eq!(records, ["failed"]);
        assert_eq!(
            store
                .reminder(&source, "2026")
                .expect("journal")
                .map(|r| r.status),
            Some(ReminderStatus::Failed)
        );
        let (records, sent) = outcome(false, store.as_mut());
        assert_eq!(records, ["delivered"]);
        assert_eq!(sent.len(), 1);
        assert!(crate::own_mail::is_own_reminder(&secret, &sent[0]));
        // The clean command in it runs as printed: the options remind ran with.
        let parsed = mail_parser::MessageParser::default()
            .parse(&sent[0][..])
            .expect("parses");
        let text = parsed.body_text(0).expect("a text part").into_owned();
        assert!(
            text.contains(&format!(
                "mailhygiene clean {source} --apply --config /etc/mailhygiene/config.toml"
            )),
            "{text}"
        );
        let (records, sent) = outcome(false, store.as_mut());
        assert_eq!(records, ["already_sent"]);
        assert!(sent.is_empty());
        // Each applied run audited before and after.
        let phases: Vec<String> = store
            .audit_entries()
            .expect("trail")
            .iter()
            .filter(|e| e.action == "remind")
            .map(|e| e.detail["phase"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(phases, ["started", "finished"].repeat(3));
    }
}
