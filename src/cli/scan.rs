//! `scan` and `check`: read mailboxes (or one message) into reports and
//! the store.

use crate::*;
use mailhygiene::scan::stateful;
use mailhygiene::store::prelude::AuditTrail as _;

pub(crate) fn build_engine(
    options: &ScanOptions,
    missing: KeyFile,
) -> Result<(Engine, ReportContext)> {
    let as_of = parse_as_of(options.render.as_of.as_deref())?;
    if !(0.0..=1.0).contains(&options.render.min_confidence) {
        bail!(usage("--min-confidence must be between 0.0 and 1.0"));
    }
    let rules = load_rules(options.render.rules.as_deref())?;
    let fingerprinter = load_fingerprinter(options.fingerprint_key_file.as_deref(), missing)?;
    let mut settings = EngineSettings::new(as_of);
    settings.rule_2032 = match options.rule_2032 {
        Rule2032Arg::Auto => Rule2032::Auto,
        Rule2032Arg::On => Rule2032::On,
        Rule2032Arg::Off => Rule2032::Off,
    };
    settings.max_message_bytes = options.max_message_size;
    let ctx = ReportContext {
        as_of,
        min_confidence: options.render.min_confidence,
        ..ReportContext::default()
    };
    Ok((Engine::new(settings, rules, fingerprinter), ctx))
}

/// A progress line per source (per mailbox when several are scanned at once).
pub(crate) struct Bars {
    multi: indicatif::MultiProgress,
    bars: std::sync::Mutex<std::collections::HashMap<String, ProgressBar>>,
}

impl Bars {
    fn bar(&self, source: &str) -> Option<ProgressBar> {
        let mut bars = self.bars.lock().ok()?;
        Some(
            bars.entry(source.to_string())
                .or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template(
                            "{spinner} {pos:>7} messages ({per_sec}) {wide_msg}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.set_message(source.to_string());
                    bar.enable_steady_tick(std::time::Duration::from_millis(120));
                    bar
                })
                .clone(),
        )
    }
}

impl Progress for Bars {
    fn message_done(&self, source: &str) {
        if let Some(bar) = self.bar(source) {
            bar.inc(1);
        }
    }
    fn source_started(&self, source: &str) {
        let _ = self.bar(source);
    }
    fn source_finished(&self, source: &str) {
        if let Some(bar) = self.bar(source) {
            bar.finish();
        }
    }
}

/// The sources to scan: those given, else every mailbox of the configured
/// accounts. IMAP sources on an account's server use its credentials.
pub(crate) fn sources_to_scan(
    args: &ScanArgs,
    config: Option<&Config>,
) -> Result<Vec<NamedSource>> {
    resolve_sources(&args.sources, args.account.as_ref(), config)
}

pub(crate) fn scan_command(args: &ScanArgs) -> Result<u8> {
    let config = load_config(args.config.as_deref())?.map(|(_, c)| c);
    let named = sources_to_scan(args, config.as_ref())?;
    let mut options = args.options.clone();
    if options.render.rules.is_none() {
        options.render.rules = config.as_ref().and_then(|c| c.rules.clone());
    }
    if options.fingerprint_key_file.is_none() {
        options.fingerprint_key_file = config.as_ref().and_then(|c| c.fingerprint_key_file.clone());
    }
    if let Some(max) = config.as_ref().and_then(|c| c.max_message_bytes) {
        options.max_message_size = options.max_message_size.min(max);
    }
    let options = &options;
    let (engine, mut ctx) = build_engine(options, KeyFile::CreateIfMissing)?;
    ctx.lang = language(options.render.lang, config.as_ref());
    let imap = imap_settings(
        &args.connections,
        config.as_ref(),
        &engine,
        args.stale_only,
        args.full,
    )?;
    if args.stale_only && named.iter().any(|s| !matches!(s.spec, SourceSpec::Imap(_))) {
        return Err(usage("--stale-only applies to IMAP sources"));
    }
    check_plaintext(&args.connections, &named)?;
    if named
        .iter()
        .any(|s| matches!(s.spec, SourceSpec::Imap(_)) && s.credentials.is_none())
        && imap.credentials.is_none()
    {
        return Err(usage(
            "IMAP sources need MAILHYGIENE_IMAP_PASSWORD, MAILHYGIENE_IMAP_TOKEN, or an account in the configuration file",
        ));
    }
    if args.enqueue {
        return enqueue(args, config.as_ref(), &engine, &named, ctx.as_of);
    }
    let (mut store, _lock) = if args.stale_only || args.no_state {
        (None, None)
    } else {
        let (mut store, lock) =
            open_store_locked(args.state.as_deref(), config.as_ref(), args.wait)?;
        store.set_audit_key(engine.audit_key());
        (Some(store), Some(lock))
    };
    let (threads, quiet) = (args.connections.threads, args.connections.quiet);
    let pool = thread_pool(threads)?;
    let as_of = ctx.as_of;
    let format = options.render.format;
    if !format.per_message() {
        return Err(usage(
            "--format html and json are for `report --compliance`",
        ));
    }
    let output = options.render.output.clone();
    let bar = (!quiet && io::stderr().is_terminal()).then(|| Bars {
        multi: indicatif::MultiProgress::new(),
        bars: Default::default(),
    });
    let progress: &dyn Progress = match &bar {
        Some(b) => b,
        None => &Silent,
    };
    let Some(store) = store.as_mut() else {
        // A stale-only or --no-state scan prints as it reads and keeps nothing.
        let out = open_output(output.as_deref())?;
        let mut printer = report::printer(format, out, ctx);
        let stats = scan::run(
            &engine,
            &named,
            &pool,
            Some(printer.as_mut()),
            progress,
            &imap,
            None,
        )?;
        for (source, error) in &stats.failures {
            printer.source_failed(source, error)?;
        }
        printer.finish()?;
        if let Some(bars) = bar {
            let _ = bars.multi.clear();
        }
        // A one-off scan keeps nothing, but that it was made is recorded
        // in the audit trail of the store it would have used, when there
        // is one (it does not make a store to say so).
        if store_url(args.state.as_deref(), config.as_ref()).is_ok_and(|u| u.exists()) {
            let mut trail = open_store_read(args.state.as_deref(), config.as_ref())?;
            trail.set_audit_key(engine.audit_key());
            stateful::record_one_off(trail.as_mut(), &named, args.stale_only, &stats)
                .map_err(stateful_error)?;
        }
        return Ok(stats.exit_code() as u8);
    };
    // On a shared store, workers may be scanning some of these mailboxes:
    // this scan waits for them (or says who has them) instead of writing
    // beside them.
    let given: Vec<String> = named.iter().map(|s| s.given.clone()).collect();
    hold_mailboxes(store.as_mut(), &given, args.wait)?;
    let stream = stateful::prepare(
        store.as_mut(),
        &engine.detectors.fingerprinter,
        &named,
        args.full,
    )
    .map_err(stateful_error)?;
    let sources: Vec<String> = named.iter().map(|s| s.given.clone()).collect();
    let ctx = mailhygiene::inventory::report_context(
        ctx.as_of,
        ctx.min_confidence,
        args.all,
        store.as_ref(),
        &engine.rules,
        ctx.lang,
    )?;
    let out = open_output(output.as_deref())?;
    let mut printer = report::printer(format, out, ctx);
    let stateful::Finished {
        run: run_id,
        stats,
        status: _,
    } = stateful::scan_into(
        store.as_mut(),
        &engine,
        &named,
        &pool,
        stream.then_some(printer.as_mut()),
        progress,
        &imap,
        &stateful::Keeping {
            as_of,
            full: args.full,
            stale_only: args.stale_only,
            keep_years: config
                .as_ref()
                .and_then(|c| c.keep_years)
                .unwrap_or(mailhygiene::history::KEEP_YEARS),
        },
    )
    .map_err(stateful_error)?;
    if let Some(bars) = bar {
        let _ = bars.multi.clear();
    }
    tracing::info!(?stats, "scan finished");
    let rendered_code = if stream {
        // As `inventory::print` reports them: after the messages, in source order.
        for s in &sources {
            if let Some((_, error)) = stats.failures.iter().find(|(f, _)| f == s) {
                printer.source_failed(s, error)?;
            }
        }
        printer.finish()?;
        0
    } else {
        mailhygiene::inventory::print(
            store.as_ref(),
            &sources,
            &engine.rules,
            as_of,
            args.changes_only.then_some(run_id),
            printer.as_mut(),
        )?
        .exit_code()
    };
    if stats.incomplete_messages > 0 {
        eprintln!(
            "mailhygiene: {} messages could not be fully read (listed in the report)",
            stats.incomplete_messages
        );
    }
    Ok((stats.exit_code() as u8).max(rendered_code))
}

/// The IMAP side of a scan: flags first, then the configuration's
/// `[limits]`, then the defaults.
pub(crate) fn imap_settings(
    args: &Connections,
    config: Option<&Config>,
    engine: &Engine,
    stale_only: bool,
    full: bool,
) -> Result<scan::ImapSettings> {
    if args
        .connections_per_mailbox
        .is_some_and(|n| !(1..=mailhygiene::config::MAX_CONNECTIONS_PER_MAILBOX).contains(&n))
    {
        return Err(usage(format!(
            "--connections-per-mailbox must be 1 to {}",
            mailhygiene::config::MAX_CONNECTIONS_PER_MAILBOX
        )));
    }
    Ok(scan::ImapSettings {
        options: mailhygiene::imap::ImapOptions {
            allow_plaintext_loopback: args.allow_plaintext,
            initial_backoff: std::env::var("MAILHYGIENE_IMAP_BACKOFF_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(std::time::Duration::from_millis)
                .unwrap_or(mailhygiene::imap::ImapOptions::default().initial_backoff),
            metadata_only: stale_only,
            header_dates: stale_only && engine.rules.needs_sent_date(),
            connections_per_mailbox: args
                .connections_per_mailbox
                .or(config.and_then(|c| c.connections_per_mailbox))
                .unwrap_or(mailhygiene::imap::ImapOptions::default().connections_per_mailbox),
            pace: args
                .pace
                .or(config.and_then(|c| c.pace))
                .unwrap_or_default(),
            total_pace: args
                .total_pace
                .or(config.and_then(|c| c.total_pace))
                .and_then(mailhygiene::imap::pace::Pacer::new)
                .map(std::sync::Arc::new),
            ..Default::default()
        },
        credentials: mailhygiene::imap::Credentials::from_env(),
        // A stale-only scan reads every message's metadata and must not move
        // the cursors of the content scan.
        full: full || stale_only,
        parallel_mailboxes: args
            .parallel
            .or(config.and_then(|c| c.connections))
            .unwrap_or(4)
            .max(1),
    })
}

/// `--allow-plaintext` is for `imap://` on a loopback address only.
pub(crate) fn check_plaintext(args: &Connections, named: &[NamedSource]) -> Result<()> {
    if !args.allow_plaintext {
        return Ok(());
    }
    for s in named {
        if let SourceSpec::Imap(url) = &s.spec
            && (url.security != mailhygiene::imap::Security::StartTls || !url.is_loopback())
        {
            return Err(usage(format!(
                "--allow-plaintext applies to imap:// on a loopback address only, not {}",
                s.given
            )));
        }
    }
    Ok(())
}

pub(crate) fn thread_pool(threads: Option<usize>) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .thread_name(|i| format!("mailhygiene-worker-{i}"))
        .build()
        .context("starting worker threads")
}

/// `scan --enqueue`: the run queued in the shared store, its id printed.
fn enqueue(
    args: &ScanArgs,
    config: Option<&Config>,
    engine: &Engine,
    named: &[NamedSource],
    as_of: chrono::NaiveDate,
) -> Result<u8> {
    let url = store_url(args.state.as_deref(), config)?;
    let (mut store, _connector) = open_shared(&url, config)?;
    store.set_audit_key(engine.audit_key());
    let cap = config
        .and_then(|c| c.tenant_connections)
        .unwrap_or(mailhygiene::workers::DEFAULT_TENANT_CONNECTIONS);
    let tenants: Vec<(NamedSource, (String, u32))> = named
        .iter()
        .map(|s| {
            let account = match (&s.spec, config) {
                (SourceSpec::Imap(url), Some(c)) => c.account_for(url),
                _ => None,
            };
            (s.clone(), mailhygiene::workers::budget_of(s, account, cap))
        })
        .collect();
    let run = mailhygiene::workers::enqueue(&mut store, engine, &tenants, as_of, args.full)
        .map_err(stateful_error)?;
    eprintln!(
        "mailhygiene: run {run} queued: {} mailboxes for `mailhygiene worker` to scan",
        named.len()
    );
    println!("{run}");
    Ok(0)
}

/// A stateful scan's error as the command reports it: a store made under
/// another fingerprint key is the user's to fix (exit status 2).
pub(crate) fn stateful_error(e: stateful::StatefulError) -> anyhow::Error {
    match e {
        stateful::StatefulError::OtherKey { .. } => usage(e.to_string()),
        other => anyhow::Error::new(other),
    }
}

pub(crate) fn check_command(file: &str, options: &ScanOptions) -> Result<u8> {
    let (engine, ctx) = build_engine(options, KeyFile::MustExist)?;
    // Read no more than the size limit allows (stdin included); one byte
    // more tells that the message is larger.
    let limit = engine.max_message_bytes;
    let mut bytes = Vec::new();
    let read = if file == "-" {
        io::stdin()
            .lock()
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .context("reading standard input")
    } else {
        std::fs::File::open(file)
            .map_err(|e| usage(format!("cannot read {file}: {e}")))?
            .take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {file}"))
    };
    read?;
    // A message's age comes from its `Date:` header here, from a file and
    // from standard input alike (a file's time is when it was saved).
    let meta = MessageMeta::local("", bytes.len() as u64, file);
    let content = if bytes.len() as u64 > limit {
        mailhygiene::source::Content::Unreadable(mailhygiene::model::ProblemKind::MessageTooLarge)
    } else {
        mailhygiene::source::Content::Bytes(bytes)
    };
    // The same guard as a scan: a panic reading the message is a problem
    // on it, not a crash.
    let report = scan::process(&engine, mailhygiene::source::Job { meta, content });
    let incomplete = report.problems.iter().any(|p| p.kind.content_skipped());
    let out = open_output(options.render.output.as_deref())?;
    if !options.render.format.per_message() {
        return Err(usage(
            "--format html and json are for `report --compliance`",
        ));
    }
    let mut printer = report::printer(options.render.format, out, ctx);
    printer.message(file, &report)?;
    printer.finish()?;
    Ok(u8::from(incomplete))
}
