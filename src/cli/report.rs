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
    let ctx = mailhygiene::inventory::report_context(
        as_of,
        args.render.min_confidence,
        args.all,
        store.as_ref(),
        &rules,
        language(args.render.lang, config.as_ref()),
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
    if let Some(wanted) = args.department.as_deref() {
        let mut known: Vec<String> = store
            .mailboxes()?
            .into_iter()
            .filter_map(|m| m.department)
            .collect();
        known.sort();
        known.dedup();
        if !known.iter().any(|d| d.eq_ignore_ascii_case(wanted)) {
            return Err(usage(format!(
                "--department {}: no mailbox in the store belongs to it (departments: {})",
                mailhygiene::report::summary::one_line(wanted),
                if known.is_empty() {
                    "none; give each mailbox one in the configuration".to_string()
                } else {
                    known.join(", ")
                }
            )));
        }
    }
    let report = compliance::gather(
        store,
        rules,
        as_of,
        &compliance::Scope {
            sources: &args.sources,
            department: args.department.as_deref(),
        },
    )?;
    let register = compliance::Register { store };
    let format = args.render.format;
    let lang = language(args.render.lang, config);
    if format == Format::Csv && args.render.output.is_none() {
        return Err(usage(
            "the compliance report's CSV is one file per table: give -o DIR",
        ));
    }
    // Written as the register is read (it may be larger than memory should
    // hold); a delivery needs the files whole, and has them rendered once.
    let mut rendered: Vec<(String, Vec<u8>)> = Vec::new();
    if args.deliver.is_some() {
        compliance::render_files(&report, &register, format, lang, &mut |name, render| {
            let mut bytes = Vec::new();
            render(&mut bytes)?;
            rendered.push((name.to_string(), bytes));
            Ok::<(), io::Error>(())
        })?;
    }
    if format == Format::Csv
        && let Some(dir) = &args.render.output
    {
        mailhygiene::report::create_private_dir(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    compliance::render_files(&report, &register, format, lang, &mut |name, render| {
        let mut out = output_for(name, &args.render.output, format)?;
        match rendered.iter().find(|(n, _)| n == name) {
            Some((_, bytes)) => out.write_all(bytes)?,
            None => render(&mut out)?,
        }
        out.flush()?;
        Ok::<(), anyhow::Error>(())
    })?;
    if let Some(how) = &args.deliver {
        deliver_compliance(args, how, &rendered, as_of, config)?;
        let mut trail = open_store_read(args.state.as_deref(), config)?;
        compliance::record_delivery(
            trail.as_mut(),
            as_of,
            how,
            args.to.as_deref(),
            rendered.len(),
        )
        .context("cannot write the audit trail")?;
    }
    Ok(u8::from(!report.coverage.is_empty()))
}

/// Where one file of the compliance report goes: CSV tables into the
/// `-o` directory (private files), a page to `-o FILE` or standard output.
fn output_for(name: &str, output: &Option<PathBuf>, format: Format) -> Result<Box<dyn Write>> {
    match (output, format) {
        (Some(dir), Format::Csv) => Ok(Box::new(io::BufWriter::new(
            mailhygiene::report::create_private(&dir.join(name))
                .with_context(|| format!("cannot write {}", dir.join(name).display()))?,
        ))),
        (output, _) => open_output(output.as_deref()),
    }
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
    let lang = language(args.render.lang, config);
    let message = mailhygiene::compliance::mail(from, to, as_of, lang, rendered)
        .map_err(|e| anyhow::anyhow!("cannot build the report message: {e}"))?;
    mailhygiene::deliver::by_smtp(&settings, from, to, &message)
        .map_err(|e| anyhow::anyhow!("cannot deliver the report: {e}"))?;
    Ok(())
}
