//! `remind`: the yearly reminder, planned or delivered.

use crate::*;

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
    let change = &args.change.case;
    let config = change.job.load_config()?;
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
    let (mut store, _lock) = change.job.open_store_for_mailboxes(config.as_ref())?;
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
    // No other host reminds these mailboxes (nor, delivered into the
    // mailbox itself, writes to them) meanwhile.
    let held = hold_mailboxes(store.as_mut(), &sources, change.job.wait)?;
    let mut out = change.job.open_output()?;
    let clean_options = same_store_args(&args.change);
    let settings = mailhygiene::reminders::Settings {
        templates: &templates,
        rules: &rules,
        secret: &secret,
        lang: language(args.lang, config.as_ref()),
        as_of,
        period: &period,
        again: args.again,
        from: args.from.as_deref(),
        to: args.to.as_deref(),
        method: delivery.name(),
        clean_options: &clean_options,
        unsure_after_interruption: matches!(delivery, Delivery::Smtp),
    };
    // The delivery edges: a directory, SMTP, or the mailbox's own INBOX
    // with the scan's credentials.
    let mut send = |o: &mailhygiene::reminders::Outgoing<'_>| match &delivery {
        Delivery::Dir(dir) => deliver::to_dir(dir, &o.name, o.bytes),
        Delivery::Smtp => match &smtp {
            Some(settings) => deliver::by_smtp(settings, o.from, o.to, o.bytes),
            None => Err("no SMTP server".to_string()),
        },
        Delivery::Imap => {
            let Some(source) = named.iter().find(|s| s.given == o.source) else {
                return Err(format!("cannot read the source {}", o.source));
            };
            match &source.spec {
                SourceSpec::Imap(url) => match source
                    .credentials
                    .clone()
                    .or_else(mailhygiene::imap::Credentials::from_env)
                {
                    Some(credentials) => deliver::to_inbox(
                        url,
                        &credentials,
                        &imap_options(change.allow_plaintext),
                        o.reminder_id,
                        o.bytes,
                    ),
                    None => Err("IMAP delivery needs MAILHYGIENE_IMAP_PASSWORD, MAILHYGIENE_IMAP_TOKEN, or an account in the configuration file".to_string()),
                },
                _ => Err("IMAP delivery needs an IMAP mailbox; use --deliver dir:PATH or smtp".to_string()),
            }
        }
    };
    let context = mailhygiene::inventory::report_context(
        as_of,
        0.0,
        true,
        store.as_ref(),
        &rules,
        settings.lang,
    )?;
    let mut emit = |r: &mailhygiene::reminders::Sent| -> std::io::Result<()> {
        if r.status == mailhygiene::reminders::NOT_REMINDED {
            // Not one of the contract's reminder statuses: said, not recorded.
            eprintln!(
                "mailhygiene: {}: not reminded ({})",
                report::summary::one_line(&r.source),
                r.reason
            );
            if change.job.format == ActionFormat::Jsonl {
                return Ok(());
            }
        }
        match change.job.format {
            ActionFormat::Jsonl => {
                serde_json::to_writer(
                    &mut out,
                    &ReminderOut {
                        kind: "reminder",
                        source: &r.source,
                        to: &r.to,
                        status: r.status,
                        period: &period,
                        subject: &r.subject,
                        reason: &r.reason,
                    },
                )?;
                out.write_all(b"\n")
            }
            ActionFormat::Text => {
                let why = if r.reason.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", r.reason)
                };
                writeln!(
                    out,
                    "{:<13} {} -> {} via {}: {}{why}",
                    r.status,
                    report::summary::one_line(&r.source),
                    report::summary::one_line(&r.to),
                    delivery.name(),
                    report::summary::one_line(&r.subject)
                )
            }
        }
    };
    let given: Vec<String> = named.iter().map(|s| s.given.clone()).collect();
    let mailhygiene::reminders::Reminded { run, counts } = mailhygiene::reminders::remind_as_run(
        store.as_mut(),
        &held,
        args.change.apply,
        &given,
        &context,
        &settings,
        &mut send,
        &std::time::SystemTime::now,
        &mut emit,
    )
    .map_err(|e| match e {
        mailhygiene::reminders::RemindError::Template(_) => usage(e.to_string()),
        other => anyhow::Error::new(other),
    })?;
    let failed = counts.get("failed").copied().unwrap_or(0);
    if change.job.format == ActionFormat::Text {
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
