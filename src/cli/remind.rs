//! `remind`: the yearly reminder, planned or delivered.

use crate::*;
use mailhygiene::store::ReminderStatus;

/// One reminder record (the contract's `reminder` record).
#[derive(serde::Serialize)]
pub(crate) struct ReminderOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'a str,
    to: &'a str,
    status: &'a str,
    period: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    subject: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'a str,
}

pub(crate) fn remind_command(args: &RemindArgs) -> Result<u8> {
    let change = &args.change;
    let config = load_config(change.config.as_deref())?.map(|(_, c)| c);
    let as_of = parse_as_of(change.as_of.as_deref())?;
    let rules_dir = change
        .rules
        .clone()
        .or(config.as_ref().and_then(|c| c.rules.clone()));
    let rules = load_rules(rules_dir.as_deref())?;
    let templates = load_templates(rules_dir.as_deref())?;
    let delivery = Delivery::parse(&args.deliver).map_err(usage)?;
    let smtp = match (&delivery, &args.smtp) {
        (Delivery::Smtp, Some(url)) => Some(smtp_settings(
            url,
            args.from.as_deref().unwrap_or_default(),
            config.as_ref(),
        )?),
        (Delivery::Smtp, None) => {
            return Err(usage("--deliver smtp needs --smtp smtp://USER@HOST[:PORT]"));
        }
        _ => None,
    };
    if matches!(delivery, Delivery::Smtp) && args.from.is_none() {
        return Err(usage(
            "--deliver smtp needs --from (the address the server lets you send as)",
        ));
    }
    let (mut store, _lock) =
        open_store_locked(change.state.as_deref(), config.as_ref(), change.wait)?;
    // The installation's secret keys each reminder's id and proof.
    let secret = load_fingerprinter(
        config
            .as_ref()
            .and_then(|c| c.fingerprint_key_file.as_deref()),
        KeyFile::MustExist,
    )?;
    let mailboxes = store.mailboxes()?;
    let sources: Vec<String> = if args.sources.is_empty() {
        mailboxes.iter().map(|m| m.source.clone()).collect()
    } else {
        for s in &args.sources {
            if !mailboxes.iter().any(|m| &m.source == s) {
                return Err(usage(format!(
                    "{s} is not in the store {}: scan it first",
                    store.location()
                )));
            }
        }
        args.sources.clone()
    };
    if args.to.is_some() && sources.len() != 1 {
        return Err(usage("--to applies to a single mailbox"));
    }
    let period = args
        .period
        .clone()
        .unwrap_or_else(|| chrono::Datelike::year(&as_of).to_string());
    let named = resolve_sources(&sources, None, config.as_ref())?;
    let run = if change.apply {
        let run = store.begin_run(RunKind::Remind, as_of, chrono::Utc::now())?;
        cases_cli::audit(
            &mut store,
            "remind",
            None,
            serde_json::json!({"phase": "started", "run": run, "sources": named.iter().map(|s| s.given.clone()).collect::<Vec<_>>()}),
        )?;
        Some(run)
    } else {
        None
    };
    let mut out = open_output(change.output.as_deref())?;
    let mut counts: std::collections::BTreeMap<String, u64> = Default::default();
    for source in &named {
        let record = mailboxes.iter().find(|m| m.source == source.given);
        let to = args
            .to
            .clone()
            .or(record.and_then(|m| m.address.clone()))
            .unwrap_or_default();
        let mut emit = |status: &str, subject: &str, reason: &str| -> Result<()> {
            *counts.entry(status.to_string()).or_default() += 1;
            match change.format {
                ActionFormat::Jsonl => {
                    serde_json::to_writer(
                        &mut out,
                        &ReminderOut {
                            kind: "reminder",
                            source: &source.given,
                            to: &to,
                            status,
                            period: &period,
                            subject,
                            reason,
                        },
                    )?;
                    out.write_all(b"\n")?;
                }
                ActionFormat::Text => {
                    let why = if reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({reason})")
                    };
                    writeln!(
                        out,
                        "{status:<13} {} -> {} via {}: {}{why}",
                        report::summary::one_line(&source.given),
                        report::summary::one_line(&to),
                        delivery.name(),
                        report::summary::one_line(subject)
                    )?;
                }
            }
            Ok(())
        };
        if to.is_empty() {
            emit(
                "failed",
                "",
                "the store has no address for this mailbox: give --to, or a config entry",
            )?;
            continue;
        }
        let prior = store.reminder(&source.given, &period)?;
        if prior
            .as_ref()
            .is_some_and(|p| p.status == ReminderStatus::Delivered)
            && !args.again
        {
            emit("already_sent", "", "")?;
            continue;
        }
        let mut summary = report::Summary::new(report_context(as_of, 0.0, true, &store, &rules)?);
        mailhygiene::inventory::print(
            &store,
            std::slice::from_ref(&source.given),
            &rules,
            as_of,
            None,
            &mut summary,
        )?;
        let clean_command = format!("mailhygiene clean {} --apply", source.given);
        let ctx = remind::context(&summary, &source.given, &period, clean_command);
        let rendered = templates
            .render(args.lang, &ctx)
            .map_err(|e| usage(format!("reminder template: {e}")))?;
        let Some(run) = run else {
            emit("planned", &rendered.subject, "")?;
            continue;
        };
        let now = std::time::SystemTime::now();
        let stamp = now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let reminder_id = if args.again {
            let nanos = now
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            remind::reminder_id(&secret, &source.given, &format!("{period}#{nanos}"))
        } else {
            remind::reminder_id(&secret, &source.given, &period)
        };
        let from = args.from.clone().unwrap_or_else(|| {
            let domain = to.rsplit_once('@').map(|(_, d)| d).unwrap_or("localhost");
            format!("mailhygiene <mailhygiene@{domain}>")
        });
        let message_id = format!("<{reminder_id}.{stamp}@mailhygiene.invalid>");
        let proof = remind::reminder_proof(&secret, &reminder_id, &message_id);
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
                emit("failed", &rendered.subject, &e)?;
                continue;
            }
        };
        if prior
            .as_ref()
            .is_some_and(|p| p.status == ReminderStatus::Sending)
            && matches!(delivery, Delivery::Smtp)
            && !args.again
        {
            emit(
                "failed",
                &rendered.subject,
                "an earlier run was interrupted while sending it, so it may have arrived: check, then use --again",
            )?;
            continue;
        }
        let mut entry = mailhygiene::store::ReminderRecord {
            source: source.given.clone(),
            period: period.clone(),
            run,
            method: delivery.name().to_string(),
            recipient: to.clone(),
            status: ReminderStatus::Sending,
            at: chrono::Utc::now().to_rfc3339(),
        };
        store.record_reminder(&entry)?;
        let outcome = match &delivery {
            Delivery::Dir(dir) => {
                let name = format!("reminder-{period}-{reminder_id}");
                deliver::to_dir(dir, &name, &bytes)
            }
            Delivery::Smtp => match &smtp {
                Some(settings) => deliver::by_smtp(settings, &from, &to, &bytes),
                None => Err("no SMTP server".to_string()),
            },
            Delivery::Imap => match &source.spec {
                SourceSpec::Imap(url) => match source
                    .credentials
                    .clone()
                    .or_else(mailhygiene::imap::Credentials::from_env)
                {
                    Some(credentials) => deliver::to_inbox(
                        url,
                        &credentials,
                        &imap_options(change.allow_plaintext),
                        &reminder_id,
                        &bytes,
                    ),
                    None => Err("IMAP delivery needs MAILHYGIENE_IMAP_PASSWORD, MAILHYGIENE_IMAP_TOKEN, or an account in the configuration file".to_string()),
                },
                _ => Err("IMAP delivery needs an IMAP mailbox; use --deliver dir:PATH or smtp".to_string()),
            },
        };
        match outcome {
            Ok(result) => {
                entry.status = ReminderStatus::Delivered;
                entry.at = chrono::Utc::now().to_rfc3339();
                store.record_reminder(&entry)?;
                let status = match result {
                    deliver::Outcome::Delivered => "delivered",
                    deliver::Outcome::AlreadyThere => "already_sent",
                };
                emit(status, &rendered.subject, "")?;
            }
            Err(e) => {
                entry.status = ReminderStatus::Failed;
                store.record_reminder(&entry)?;
                emit("failed", &rendered.subject, &e)?;
            }
        }
    }
    let failed = counts.get("failed").copied().unwrap_or(0);
    if let Some(run) = run {
        let status = if failed == 0 {
            "complete"
        } else {
            "incomplete"
        };
        let delivered = counts.get("delivered").copied().unwrap_or(0);
        store.finish_run(run, chrono::Utc::now(), status, delivered)?;
        cases_cli::audit(
            &mut store,
            "remind",
            None,
            serde_json::json!({"phase": "finished", "run": run, "status": status, "counts": counts}),
        )?;
    }
    if change.format == ActionFormat::Text {
        let listed: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        writeln!(
            out,
            "{}",
            if listed.is_empty() {
                "nothing to do".to_string()
            } else {
                listed.join(", ")
            }
        )?;
        if run.is_none() {
            writeln!(out, "dry run: nothing was sent; add --apply to send")?;
        }
    }
    out.flush()?;
    Ok(u8::from(failed > 0))
}
