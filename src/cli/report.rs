//! `report`: from the store alone, per message or the compliance report,
//! and its delivery.

use crate::*;

pub(crate) fn report_command(args: &ReportArgs) -> Result<u8> {
    let config = load_config(args.config.as_deref())?.map(|(_, c)| c);
    let as_of = parse_as_of(args.render.as_of.as_deref())?;
    if !(0.0..=1.0).contains(&args.render.min_confidence) {
        bail!(usage("--min-confidence must be between 0.0 and 1.0"));
    }
    let rules_dir = args
        .render
        .rules
        .clone()
        .or(config.as_ref().and_then(|c| c.rules.clone()));
    let rules = load_rules(rules_dir.as_deref())?;
    let url = store_url(args.state.as_deref(), config.as_ref())?;
    if !url.exists() {
        return Err(usage(format!(
            "no state database at {url}: scan a mailbox first (or give --state FILE)"
        )));
    }
    let (store, _) =
        mailhygiene::store::open(&url, &Default::default()).map_err(|e| usage(e.to_string()))?;
    if args.compliance {
        return compliance_report(args, store.as_ref(), &rules, as_of, config.as_ref());
    }
    if !args.render.format.per_message() {
        return Err(usage(
            "--format html and json are for `report --compliance`",
        ));
    }
    let known: Vec<String> = store.mailboxes()?.into_iter().map(|m| m.source).collect();
    let sources = if args.sources.is_empty() {
        known
    } else {
        for s in &args.sources {
            if !known.contains(s) {
                return Err(usage(format!(
                    "{s} is not in the store {}: scan it first (the source must be written as it was scanned)",
                    store.location()
                )));
            }
        }
        args.sources.clone()
    };
    let ctx = report_context(
        as_of,
        args.render.min_confidence,
        args.all,
        store.as_ref(),
        &rules,
    )?;
    let out = open_output(args.render.output.as_deref())?;
    let mut printer = report::printer(args.render.format, out, ctx);
    let rendered = mailhygiene::inventory::print(
        store.as_ref(),
        &sources,
        &rules,
        as_of,
        None,
        printer.as_mut(),
    )?;
    Ok(rendered.exit_code())
}

/// `report --compliance`: from the store alone, never a mailbox connection.
pub(crate) fn compliance_report(
    args: &ReportArgs,
    store: &dyn Store,
    rules: &RuleSet,
    as_of: NaiveDate,
    config: Option<&Config>,
) -> Result<u8> {
    use mailhygiene::compliance;
    let records = store.mailboxes()?;
    let wanted: Vec<_> = records
        .into_iter()
        .filter(|m| args.sources.is_empty() || args.sources.contains(&m.source))
        .filter(|m| {
            args.department.as_ref().is_none_or(|d| {
                m.department
                    .as_deref()
                    .is_some_and(|x| x.eq_ignore_ascii_case(d))
            })
        })
        .collect();
    let snapshots = store.snapshots()?;
    let mut by_source: std::collections::HashMap<&str, Vec<&mailhygiene::store::SnapshotRecord>> =
        std::collections::HashMap::new();
    for s in &snapshots {
        by_source
            .entry(s.snapshot.source.as_str())
            .or_default()
            .push(s);
    }
    let mut infos = Vec::new();
    let mut states = Vec::new();
    for m in &wanted {
        let own = by_source
            .get(m.source.as_str())
            .map_or(&[][..], Vec::as_slice);
        // The latest snapshot as of the date; a mailbox scanned before the
        // history existed is judged from its messages once.
        let latest = own
            .iter()
            .filter(|s| s.snapshot.as_of <= as_of)
            .max_by_key(|s| (s.snapshot.as_of, s.run))
            .map(|s| s.snapshot.clone());
        let snapshot = match latest {
            Some(s) => s,
            None => {
                let mut counted = compliance::SnapshotBuilder::new(&m.source, as_of);
                store.each_message(&m.source, None, &mut |stored| {
                    counted.add(&mailhygiene::inventory::judge(rules, as_of, stored.report));
                    Ok(())
                })?;
                counted.finish()
            }
        };
        let day = |s: &Option<String>| {
            s.as_deref().and_then(|s| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|d| d.date_naive())
                    .or_else(|| NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok())
            })
        };
        infos.push(compliance::MailboxInfo {
            source: m.source.clone(),
            owner: m.owner.clone(),
            address: m.address.clone(),
            department: m.department.clone(),
            // The date the last scan judged by (its --as-of), as the
            // history knows it; a test or a late run scans "as of" a day.
            last_scan: own
                .iter()
                .map(|s| s.snapshot.as_of)
                .max()
                .or_else(|| day(&m.last_scan)),
            last_status: m.last_status.clone(),
            last_error: m.last_error.clone(),
        });
        states.push(snapshot);
    }
    let mailboxes: Vec<compliance::MailboxState<'_>> = infos
        .iter()
        .zip(&states)
        .map(|(info, snapshot)| compliance::MailboxState { info, snapshot })
        .collect();
    let history: Vec<compliance::Snapshot> = snapshots.into_iter().map(|s| s.snapshot).collect();
    let report = compliance::build(
        as_of,
        args.department.as_deref(),
        &mailboxes,
        &history,
        &store.deviations()?,
    );
    let rendered: Vec<(String, Vec<u8>)> = match args.render.format {
        Format::Csv => compliance::render_csv(&report)?
            .into_iter()
            .map(|(n, b)| (n.to_string(), b))
            .collect(),
        format => {
            let mut buf = Vec::new();
            match format {
                Format::Html => compliance::render_html(&report, &mut buf)?,
                Format::Json | Format::Jsonl => compliance::render_json(&report, &mut buf)?,
                _ => compliance::render_markdown(&report, &mut buf)?,
            }
            let ext = match format {
                Format::Html => "html",
                Format::Json | Format::Jsonl => "json",
                _ => "md",
            };
            vec![(format!("compliance-{as_of}.{ext}"), buf)]
        }
    };
    match (&args.render.output, args.render.format) {
        (Some(dir), Format::Csv) => {
            mailhygiene::report::create_private_dir(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, bytes) in &rendered {
                let mut f = mailhygiene::report::create_private(&dir.join(name))
                    .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
                f.write_all(bytes)?;
            }
        }
        (None, Format::Csv) => {
            return Err(usage(
                "the compliance report's CSV is one file per table: give -o DIR",
            ));
        }
        (output, _) => {
            let mut out = open_output(output.as_deref())?;
            out.write_all(&rendered[0].1)?;
            out.flush()?;
        }
    }
    if let Some(how) = &args.deliver {
        deliver_compliance(args, how, &rendered, as_of, config)?;
        let mut trail = open_store_read(args.state.as_deref(), config)?;
        cases_cli::audit(
            trail.as_mut(),
            "report",
            None,
            serde_json::json!({
                "compliance": true,
                "as_of": as_of.to_string(),
                "deliver": how.split(':').next().unwrap_or_default(),
                "to": args.to,
                "files": rendered.len(),
            }),
        )?;
    }
    Ok(u8::from(!report.coverage.is_empty()))
}

/// Sends or files the compliance report (the reminder's delivery).
pub(crate) fn deliver_compliance(
    args: &ReportArgs,
    how: &str,
    rendered: &[(String, Vec<u8>)],
    as_of: NaiveDate,
    config: Option<&Config>,
) -> Result<()> {
    let _ = config;
    if let Some(dir) = how.strip_prefix("dir:") {
        let dir = Path::new(dir);
        mailhygiene::report::create_private_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, bytes) in rendered {
            let path = dir.join(name);
            if path.exists() {
                return Err(usage(format!("{} exists: not overwritten", path.display())));
            }
            let mut f = mailhygiene::report::create_private(&path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            f.write_all(bytes)?;
        }
        return Ok(());
    }
    if how != "smtp" {
        return Err(usage("--deliver takes dir:PATH or smtp"));
    }
    let (Some(smtp), Some(to), Some(from)) = (&args.smtp, &args.to, &args.from) else {
        return Err(usage(
            "--deliver smtp needs --smtp URL, --to ADDRESS and --from ADDRESS",
        ));
    };
    let settings = smtp_settings(smtp, from, config)?;
    let message = mailhygiene::compliance::mail(from, to, as_of, rendered)
        .map_err(|e| anyhow::anyhow!("cannot build the report message: {e}"))?;
    mailhygiene::deliver::by_smtp(&settings, from, to, &message)
        .map_err(|e| anyhow::anyhow!("cannot deliver the report: {e}"))?;
    Ok(())
}
