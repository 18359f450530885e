//! `clean`, `undo` and `runs`: the mailbox-changing cleanup and its
//! journal, as commands.

use crate::*;

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

/// What `clean` and `undo` both set up: config, rules, store, printer.
pub(crate) struct ChangeContext<'w> {
    /// What the audit entries of this run say besides counts: the case, the
    /// run undone, the plan's digest, the mailboxes.
    case_id: Option<String>,
    audit_detail: serde_json::Map<String, serde_json::Value>,
    config: Option<Config>,
    rules: RuleSet,
    store: SqliteStore,
    _lock: mailhygiene::store::sqlite::RunLock,
    printer: MovePrinter<'w>,
    as_of: NaiveDate,
}

pub(crate) fn change_context(args: &ChangeArgs) -> Result<ChangeContext<'static>> {
    let config = load_config(args.config.as_deref())?.map(|(_, c)| c);
    let as_of = parse_as_of(args.as_of.as_deref())?;
    let rules_dir = args
        .rules
        .clone()
        .or(config.as_ref().and_then(|c| c.rules.clone()));
    let rules = load_rules(rules_dir.as_deref())?;
    let (store, lock) = open_store_locked(args.state.as_deref(), config.as_ref(), args.wait)?;
    let printer = MovePrinter::new(open_output(args.output.as_deref())?, args.format);
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
        &cx.store,
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
    // A person chose these messages (an erasure, a case's `delete` rows):
    // a flag does not keep them, and the record says it was there.
    let flagged = if filter.chosen.is_some() {
        FlaggedPolicy::MoveAndSay
    } else {
        FlaggedPolicy::Keep
    };
    let mut failed = 0;
    for source in &named {
        let outcome = (|| -> std::result::Result<(), String> {
            let Some(run) = run else {
                // A dry run reads the inventory; the mailbox is only asked
                // what its Deleted Items folder is called.
                let mut plan =
                    cleanup::plan_clean(&cx.store, &source.given, &cx.rules, cx.as_of, &filter)
                        .map_err(|e| e.to_string())?;
                let trash = match open_mover(source, args.change.allow_plaintext) {
                    Ok(mut m) => m.find_trash().map_err(|e| e.to_string())?,
                    Err(e) if matches!(source.spec, SourceSpec::Mbox(_)) => return Err(e),
                    Err(_) => None,
                };
                let to = trash.unwrap_or_else(|| TRASH_NAMES[0].to_string());
                for p in &mut plan {
                    p.to_folder = to.clone();
                    cx.printer
                        .record(&planned_record(&source.given, p))
                        .map_err(|e| e.to_string())?;
                }
                return Ok(());
            };
            let mut mover = open_mover(source, args.change.allow_plaintext)?;
            cleanup::settle_and_apply(
                &mut cx.store,
                mover.as_mut(),
                run,
                &source.given,
                flagged,
                &mut cx.printer,
                |store, mover| {
                    let mut plan =
                        cleanup::plan_clean(store, &source.given, &cx.rules, cx.as_of, &filter)?;
                    let trash = mover.ensure_trash()?;
                    for p in &mut plan {
                        p.to_folder = trash.clone();
                    }
                    Ok(plan)
                },
            )
            .map_err(|e| format!("{e}; what was journaled is settled when you run clean again"))
        })();
        if let Err(e) = outcome {
            failed += 1;
            eprintln!("mailhygiene: {}: {e}", source.given);
        }
    }
    finish_change(&mut cx, &args.change, run, failed + refused, "clean")
}

/// Starts a `clean` or `undo` run: takes over every earlier run of its kind
/// that never finished (a crash, Ctrl-C), so what they moved is settled now
/// and undone with this run, and says so.
pub(crate) fn begin_change_run(cx: &mut ChangeContext<'_>, kind: RunKind) -> Result<i64> {
    let run = cx.store.begin_run(kind, cx.as_of, chrono::Utc::now())?;
    // Before any change: a run that dies leaves an entry saying it began.
    let mut detail = cx.audit_detail.clone();
    detail.insert("phase".into(), "started".into());
    detail.insert("run".into(), run.into());
    detail.insert("as_of".into(), cx.as_of.to_string().into());
    cases_cli::audit(
        &mut cx.store,
        kind.as_str(),
        cx.case_id.as_deref(),
        serde_json::Value::Object(detail),
    )?;
    for old in cx.store.adopt_interrupted(run, kind)? {
        cases_cli::audit(
            &mut cx.store,
            "interrupted",
            None,
            serde_json::json!({"run": old, "kind": kind.as_str(), "adopted_by": run}),
        )?;
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
    if let Some(config) = &change.config {
        out.push_str(&format!(
            " --config {}",
            shell_word(&config.display().to_string())
        ));
    }
    if let Some(state) = &change.state {
        out.push_str(&format!(
            " --state {}",
            shell_word(&state.display().to_string())
        ));
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

pub(crate) fn planned_record(source: &str, p: &Planned) -> mailhygiene::actions::MoveRecord {
    mailhygiene::actions::MoveRecord {
        kind: "move",
        source: source.to_string(),
        folder: p.folder.clone(),
        uid: p.item.uid,
        message_id: p.item.message_id.clone(),
        to_folder: p.to_folder.clone(),
        rule: p.rule.clone(),
        status: "planned",
        run: 0,
        reason: String::new(),
        date: p.date.clone(),
        subject: p.subject.clone(),
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
            let status = if code == 0 { "complete" } else { "incomplete" };
            let moved = cx.printer.counts.get("moved").copied().unwrap_or(0);
            cx.store
                .finish_run(run, chrono::Utc::now(), status, moved)?;
            let counts = cx.printer.counts.clone();
            let mut detail = cx.audit_detail.clone();
            for (k, v) in [
                ("phase", serde_json::json!("finished")),
                ("run", serde_json::json!(run)),
                ("series", serde_json::json!(cx.store.series(run)?)),
                ("as_of", serde_json::json!(cx.as_of.to_string())),
                ("status", serde_json::json!(status)),
                ("counts", serde_json::json!(counts)),
                ("sources_failed", serde_json::json!(failed)),
            ] {
                detail.insert(k.into(), v);
            }
            cases_cli::audit(
                &mut cx.store,
                what,
                cx.case_id.as_deref(),
                serde_json::Value::Object(detail),
            )?;
            if what == "clean" {
                let series = cx.store.series(run)?;
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
    let plan = cleanup::plan_undo(&cx.store, args.run).map_err(|e| usage(e.to_string()))?;
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
    let mut failed = 0;
    for (source_given, planned) in &plan {
        let outcome = (|| -> std::result::Result<(), String> {
            let named =
                resolve_sources(std::slice::from_ref(source_given), None, cx.config.as_ref())
                    .map_err(|e| e.to_string())?;
            let source = named
                .first()
                .ok_or_else(|| format!("cannot read the source {source_given}"))?;
            let Some(run) = run else {
                for p in planned {
                    cx.printer
                        .record(&planned_record(&source.given, p))
                        .map_err(|e| e.to_string())?;
                }
                return Ok(());
            };
            let mut mover = open_mover(source, args.change.allow_plaintext)?;
            cleanup::settle_and_apply(
                &mut cx.store,
                mover.as_mut(),
                run,
                &source.given,
                FlaggedPolicy::Ignore,
                &mut cx.printer,
                |store, _| {
                    Ok(cleanup::plan_undo(store, args.run)?
                        .into_iter()
                        .find(|(s, _)| s == source_given)
                        .map(|(_, p)| p)
                        .unwrap_or_default())
                },
            )
            .map_err(|e| format!("{e}; what was journaled is settled when you run undo again"))
        })();
        if let Err(e) = outcome {
            failed += 1;
            eprintln!("mailhygiene: {source_given}: {e}");
        }
    }
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
