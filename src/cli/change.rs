//! `clean`, `undo` and `runs`: the mailbox-changing cleanup and its
//! journal, as commands.

use crate::*;
use mailhygiene::actions::cleanup;

/// The edge that moves messages of one source.
pub(crate) fn open_mover(
    source: &NamedSource,
    allow_plaintext: bool,
) -> std::result::Result<Box<dyn Mover>, String> {
    match &source.spec {
        SourceSpec::Maildir(path) => MaildirMover::open(path)
            .map(|m| Box::new(m) as Box<dyn Mover>)
            .map_err(|e| e.to_string()),
        SourceSpec::Imap(url) => {
            let credentials = source
                .credentials
                .clone()
                .or_else(mailhygiene::imap::Credentials::from_env)
                .ok_or_else(|| {
                    "IMAP sources need MAILHYGIENE_IMAP_PASSWORD, MAILHYGIENE_IMAP_TOKEN, or an account in the configuration file".to_string()
                })?;
            let mover = ImapMover::open(url, &credentials, &imap_options(allow_plaintext))
                .map_err(|e| e.to_string())?;
            if !mover.can_move() {
                return Err("the server offers neither MOVE nor UIDPLUS: moving messages would need a plain EXPUNGE, which would also remove messages the user marked deleted; refused".into());
            }
            Ok(Box::new(mover))
        }
        SourceSpec::Mbox(_) => Err(
            "an mbox file is an export, not a mailbox: clean works on IMAP mailboxes and Maildirs"
                .into(),
        ),
    }
}

/// The edge of one of the named sources, as the cleanup workflow asks for
/// it: an mbox export is never changed, anything else that cannot be
/// opened is unreachable now.
fn open_named(
    named: &[NamedSource],
    given: &str,
    allow_plaintext: bool,
) -> std::result::Result<Box<dyn Mover>, cleanup::OpenFailure> {
    let source = named.iter().find(|s| s.given == given).ok_or_else(|| {
        cleanup::OpenFailure::Unreachable(format!("cannot read the source {given}"))
    })?;
    let opened = open_mover(source, allow_plaintext);
    match (&source.spec, opened) {
        (_, Ok(mover)) => Ok(mover),
        (SourceSpec::Mbox(_), Err(why)) => Err(cleanup::OpenFailure::Unsupported(why)),
        (_, Err(why)) => Err(cleanup::OpenFailure::Unreachable(why)),
    }
}

/// What `clean` and `undo` both set up: config, rules, store, printer.
pub(crate) struct ChangeContext<'w> {
    /// What the audit entries of this run say besides counts: the case, the
    /// run undone, the plan's digest, the mailboxes.
    case_id: Option<String>,
    audit_detail: serde_json::Map<String, serde_json::Value>,
    config: Option<Config>,
    rules: RuleSet,
    store: Box<dyn Store>,
    _lock: mailhygiene::store::RunGuard,
    printer: MovePrinter<'w>,
    as_of: NaiveDate,
}

pub(crate) fn change_context(change: &ChangeArgs) -> Result<ChangeContext<'static>> {
    let args = &change.case;
    let config = args.job.load_config()?;
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let rules_dir = args
        .rules
        .clone()
        .or(config.as_ref().and_then(|c| c.rules.clone()));
    let rules = load_rules(rules_dir.as_deref())?;
    let (store, lock) = args.job.open_store_for_mailboxes(config.as_ref())?;
    let printer = MovePrinter::new(args.job.open_output()?, args.job.format);
    Ok(ChangeContext {
        case_id: None,
        audit_detail: Default::default(),
        config,
        rules,
        store,
        _lock: lock,
        printer,
        as_of,
    })
}

pub(crate) fn clean_command(args: &CleanArgs) -> Result<u8> {
    let mut cx = change_context(&args.change)?;
    let mut folders = Vec::new();
    for glob in &args.folders {
        folders.push(
            mailhygiene::rules::folder_glob(glob)
                .map_err(|e| usage(format!("--folder {glob}: {e}")))?,
        );
    }
    for rule in &args.rules_only {
        if !cx.rules.rules.iter().any(|r| &r.id == rule) {
            return Err(usage(format!("--rule {rule}: no such retention rule")));
        }
    }
    let named = resolve_sources(&args.sources, None, cx.config.as_ref())?;
    let held = hold_mailboxes(cx.store.as_mut(), &args.sources, args.change.case.job.wait)?;
    cx.case_id = args.case_id.clone();
    cx.audit_detail
        .insert("sources".into(), serde_json::json!(args.sources));
    for (name, file) in [
        ("plan_sha256", &args.plan),
        ("messages_sha256", &args.messages),
    ] {
        if let Some(path) = file {
            cx.audit_detail
                .insert(name.into(), cases_cli::file_digest(path)?.into());
        }
    }
    let (chosen, refused) = cases_cli::chosen_for_clean(
        cx.store.as_ref(),
        &args.sources,
        args.case_id.as_deref(),
        args.plan.as_deref(),
        args.messages.as_deref(),
    )?;
    let filter = Filter {
        rules: args.rules_only.clone(),
        folders,
        chosen,
    };
    let known: Vec<String> = cx
        .store
        .mailboxes()?
        .into_iter()
        .map(|m| m.source)
        .collect();
    for s in &named {
        if !known.contains(&s.given) {
            return Err(usage(format!(
                "{} is not in the store {}: scan it first",
                s.given,
                cx.store.location()
            )));
        }
    }
    let run = if args.change.apply {
        Some(begin_change_run(&mut cx, RunKind::Clean)?)
    } else {
        None
    };
    let allow_plaintext = args.change.case.allow_plaintext;
    let mut open = |given: &str| open_named(&named, given, allow_plaintext);
    let failed = cleanup::clean(
        cx.store.as_mut(),
        &held,
        run,
        &args.sources,
        &cx.rules,
        cx.as_of,
        &filter,
        &mut open,
        &mut cx.printer,
    )?;
    for (source, why) in &failed {
        eprintln!("mailhygiene: {source}: {why}");
    }
    let failed = failed.len() as u64;
    finish_change(&mut cx, &args.change, run, failed + refused, "clean")
}

/// Starts a `clean` or `undo` run: takes over every earlier run of its kind
/// that never finished (a crash, Ctrl-C), so what they moved is settled now
/// and undone with this run, and says so.
pub(crate) fn begin_change_run(cx: &mut ChangeContext<'_>, kind: RunKind) -> Result<i64> {
    let (run, adopted) = cleanup::begin_audited(
        cx.store.as_mut(),
        kind,
        cx.as_of,
        cx.case_id.as_deref(),
        &cx.audit_detail,
    )
    .map_err(anyhow::Error::new)?;
    for old in adopted {
        eprintln!(
            "mailhygiene: run {old} ({}) was interrupted; run {run} settles what it left{}",
            kind.as_str(),
            if kind == RunKind::Clean {
                " and its undo restores both"
            } else {
                ""
            }
        );
    }
    Ok(run)
}

/// The options a printed hint repeats so it works as printed: the state
/// and configuration the command ran with.
pub(crate) fn same_store_args(change: &ChangeArgs) -> String {
    let mut out = String::new();
    if let Some(config) = &change.case.job.config {
        out.push_str(&format!(
            " --config {}",
            shell_word(&config.display().to_string())
        ));
    }
    if let Some(state) = &change.case.job.state {
        out.push_str(&format!(
            " --state {}",
            shell_word(&state.display().to_string())
        ));
    }
    // `--store URL` (never with a password: a URL with one is refused).
    if let Some(url) = STORE_GIVEN.get() {
        out.push_str(&format!(" --store {}", shell_word(url)));
    }
    out
}

/// A word a POSIX shell reads back as itself.
pub(crate) fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub(crate) fn finish_change(
    cx: &mut ChangeContext<'_>,
    change: &ChangeArgs,
    run: Option<i64>,
    failed: u64,
    what: &str,
) -> Result<u8> {
    let moved_failed = cx.printer.counts.get("failed").copied().unwrap_or(0);
    let code = u8::from(failed > 0 || moved_failed > 0);
    let note = match run {
        Some(run) => {
            let kind = if what == "clean" {
                RunKind::Clean
            } else {
                RunKind::Undo
            };
            let series = cleanup::finish_audited(
                cx.store.as_mut(),
                kind,
                run,
                cx.as_of,
                cx.case_id.as_deref(),
                &cx.audit_detail,
                &cx.printer.counts,
                code != 0,
                failed,
            )
            .map_err(anyhow::Error::new)?;
            if what == "clean" {
                let took_over = if series.len() > 1 {
                    let earlier: Vec<String> = series
                        .iter()
                        .filter(|r| **r != run)
                        .map(i64::to_string)
                        .collect();
                    format!(" (with interrupted run {})", earlier.join(", "))
                } else {
                    String::new()
                };
                format!(
                    "run {run}{took_over}: undo it with `mailhygiene undo {run} --apply{}`",
                    same_store_args(change)
                )
            } else {
                format!("run {run}: scan the mailbox to bring the inventory up to date")
            }
        }
        None => "dry run: nothing was changed; add --apply to do it".to_string(),
    };
    cx.printer.finish(&note)?;
    Ok(code)
}

pub(crate) fn undo_command(args: &UndoArgs) -> Result<u8> {
    let mut cx = change_context(&args.change)?;
    let plan = mailhygiene::actions::clean::plan_undo(cx.store.as_ref(), args.run)
        .map_err(|e| usage(e.to_string()))?;
    let mut touched: Vec<String> = plan.iter().map(|(s, _)| s.clone()).collect();
    touched.dedup();
    let held = hold_mailboxes(cx.store.as_mut(), &touched, args.change.case.job.wait)?;
    // The run undone, with every interrupted run it took over.
    cx.audit_detail.insert("undoes".into(), args.run.into());
    cx.audit_detail.insert(
        "undoes_series".into(),
        serde_json::json!(cx.store.series(args.run)?),
    );
    cx.audit_detail.insert(
        "sources".into(),
        serde_json::json!(plan.iter().map(|(s, _)| s).collect::<Vec<_>>()),
    );
    let run = if args.change.apply {
        Some(begin_change_run(&mut cx, RunKind::Undo)?)
    } else {
        None
    };
    // Each mailbox of the run through its own connection; one that cannot
    // be reached is reported and its entries wait, never tried elsewhere.
    let allow_plaintext = args.change.case.allow_plaintext;
    let config = cx.config.clone();
    let mut open = |given: &str| {
        let named = resolve_sources(&[given.to_string()], None, config.as_ref())
            .map_err(|e| cleanup::OpenFailure::Unreachable(e.to_string()))?;
        open_named(&named, given, allow_plaintext)
    };
    let failed = cleanup::undo(
        cx.store.as_mut(),
        &held,
        run,
        args.run,
        &mut open,
        &mut cx.printer,
    )
    .map_err(|e| usage(e.to_string()))?;
    for (source, why) in &failed {
        eprintln!("mailhygiene: {source}: {why}");
    }
    let failed = failed.len() as u64;
    finish_change(&mut cx, &args.change, run, failed, "undo")
}

pub(crate) fn runs_command(args: &RunsArgs) -> Result<u8> {
    let config = load_config(args.config.as_deref())?.map(|(_, c)| c);
    let store = open_store_read(args.state.as_deref(), config.as_ref())?;
    let runs = store.run_summaries(&[RunKind::Clean, RunKind::Undo])?;
    let mut out = io::stdout().lock();
    mailhygiene::actions::runs::write_runs(&runs, args.format, &mut out)?;
    Ok(0)
}
