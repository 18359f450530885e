//! The command layer of offboarding, handover, data-subject requests and
//! the audit trail: arguments in, library calls, exit codes out.

use crate::{
    JobArgs, Result, load_config, load_fingerprinter, load_rules, parse_as_of, resolve_sources,
    usage,
};
use anyhow::Context;
use mailhygiene::actions::ActionFormat;
use mailhygiene::actions::copiers::{ImapMailbox, MaildirOrigin, MaildirTarget, MboxTarget};
use mailhygiene::handover::{
    self, HandoverError, MailboxError, Mailboxes, Origin, OutcomePrinter, Target,
};
use mailhygiene::offboard::{self, Case, Notice};
use mailhygiene::scan::NamedSource;
use mailhygiene::source::SourceSpec;
use mailhygiene::store::Store;
use mailhygiene::subject;
use std::io::Write;
use std::path::PathBuf;

/// Months after leaving by which the mailbox should be deleted.
pub const DEFAULT_DELETION_MONTHS: u32 = 6;

#[derive(clap::Args, Debug)]
pub struct OffboardArgs {
    /// The leaver's mailbox, as scanned.
    #[arg(value_name = "SOURCE", required_unless_present_any = ["status", "preview"])]
    source: Option<String>,
    /// The case's id (e.g. a ticket number).
    #[arg(long = "case", value_name = "ID", required_unless_present = "status")]
    case_id: Option<String>,
    /// Why the mailbox is opened (e-postforskriften § 2: running the business, or a suspected serious breach of duty).
    #[arg(long, value_name = "TEXT", required_unless_present_any = ["status", "preview"])]
    reason: Option<String>,
    /// The legal basis relied on.
    #[arg(long, value_name = "TEXT", required_unless_present_any = ["status", "preview"])]
    legal_basis: Option<String>,
    /// When the employee was notified (YYYY-MM-DD), or `none`.
    #[arg(long, value_name = "DATE|none", required_unless_present_any = ["status", "preview"])]
    notified: Option<String>,
    /// Why the employee was not notified (required with --notified none).
    #[arg(long, value_name = "TEXT")]
    not_notified_because: Option<String>,
    /// Who receives the handed-over mail.
    #[arg(long, value_name = "ADDRESS")]
    successor: Option<String>,
    /// The leaving date (YYYY-MM-DD): the deletion deadline counts from it.
    #[arg(long, value_name = "DATE")]
    leaving: Option<String>,
    /// A search term content previews may use, declared now (repeatable).
    #[arg(long = "term", value_name = "TERM")]
    terms: Vec<String>,
    /// Write the notice letter to the employee (from the editable template notice.LANG.txt) to this file.
    #[arg(long, value_name = "FILE")]
    notice: Option<PathBuf>,
    /// The language of the report and the notice letter; default: the config's `language`, else the locale, else English.
    #[arg(long, alias = "lang", value_enum)]
    language: Option<mailhygiene::remind::Lang>,
    /// Write the plan (CSV, one row per message) to this new file; with --status, the manager's edited plan to count what is still to hand over.
    #[arg(long, value_name = "FILE")]
    plan: Option<PathBuf>,
    /// Show where a term declared in the case (--term) occurs in the leaver's mail (never in private mail); each preview is recorded.
    #[arg(long, value_name = "TERM", requires = "case_id")]
    preview: Option<String>,
    /// At most this many messages previewed.
    #[arg(long, value_name = "N", default_value_t = 20)]
    limit: usize,
    /// List the cases: what was handed over, what is pending, the deletion deadline.
    #[arg(long)]
    status: bool,
    /// Change an existing case's reason, legal basis, notice, successor or leaving date (old and new values are audited).
    #[arg(long)]
    amend: bool,
    #[command(flatten)]
    common: CaseArgs,
}

/// What `offboard` runs with: it opens cases and writes plans and reports,
/// but changes no mailbox, so it has no `--apply`.
#[derive(clap::Args, Debug)]
pub struct CaseArgs {
    /// What "due" means: the date to judge by (YYYY-MM-DD); default: today.
    #[arg(long, value_name = "DATE")]
    pub(crate) as_of: Option<String>,
    /// Rules directory; default: the config's `rules`, else the built-in rules.
    #[arg(long, value_name = "DIR")]
    pub(crate) rules: Option<PathBuf>,
    /// Allow imap:// without TLS, to a loopback address only (tests, local bridges).
    #[arg(long)]
    pub(crate) allow_plaintext: bool,
    #[command(flatten)]
    pub(crate) job: JobArgs,
}

#[derive(clap::Args, Debug)]
pub struct HandoverArgs {
    /// The offboarding case.
    #[arg(long = "case", value_name = "ID")]
    case_id: String,
    /// The plan, as edited by the manager.
    #[arg(long, value_name = "FILE")]
    plan: PathBuf,
    /// Where to copy; default: the case's successor, on the leaver's server. Anything else (another mailbox, maildir:PATH or mbox:PATH for an export) needs --reason.
    #[arg(long, value_name = "DEST")]
    to: Option<String>,
    /// Why the mail goes somewhere other than the case's successor (recorded in the audit trail).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// The folder to copy into; default: `Overført fra <leaver>`.
    #[arg(long, value_name = "NAME")]
    folder: Option<String>,
    #[command(flatten)]
    common: CopyArgs,
}

/// What `handover` runs with: it copies into a mailbox (`--apply`) and
/// judges nothing, so it takes no rules and no date.
#[derive(clap::Args, Debug)]
pub struct CopyArgs {
    /// Make the changes; without it, print what would be done.
    #[arg(long)]
    apply: bool,
    /// Allow imap:// without TLS, to a loopback address only (tests, local bridges).
    #[arg(long)]
    allow_plaintext: bool,
    #[command(flatten)]
    job: JobArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the chain: exit 0 when intact, 1 naming the first entry that is not.
    Verify {
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
    /// Print the audit trail.
    Show {
        /// Only this case's entries.
        #[arg(long = "case", value_name = "ID")]
        case_id: Option<String>,
        #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
        format: ActionFormat,
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args, Debug)]
#[group(id = "who", required = true, multiple = false)]
pub struct SubjectArgs {
    /// Messages sent by or to this address.
    #[arg(long, value_name = "ADDR", group = "who")]
    address: Option<String>,
    /// Messages from a sender with this name.
    #[arg(long, value_name = "TEXT", group = "who")]
    name: Option<String>,
    /// Messages holding the identifier read from standard input (never the command line).
    #[arg(long, group = "who")]
    identifier_stdin: bool,
    /// Write the package for a right-of-access request here: index.json and the messages as .eml.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Include messages an offboarding case classified private (needs --reason; audited).
    #[arg(long)]
    include_private: bool,
    /// Why private messages are included.
    #[arg(long, value_name = "TEXT", requires = "include_private")]
    reason: Option<String>,
    #[command(flatten)]
    common: SearchArgs,
}

/// What a search reads with: it changes nothing, so it has no `--apply`
/// and no rules (the stored judgements are not asked).
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// The date identifiers are checked against (the 2032 rule for
    /// fødselsnummer; YYYY-MM-DD); default: today.
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Allow imap:// without TLS, to a loopback address only (for --export from a local bridge or tests).
    #[arg(long)]
    allow_plaintext: bool,
    #[command(flatten)]
    job: JobArgs,
}

/// The SHA-256 of a file as read now (a plan as it was applied), for the
/// audit trail: which edit of a plan a run followed.
pub fn file_digest(path: &std::path::Path) -> Result<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

fn date_arg(name: &str, value: &str) -> Result<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .map_err(|_| usage(format!("{name} {value}: expected YYYY-MM-DD")))
}

fn deletion_months(config: Option<&mailhygiene::config::Config>) -> u32 {
    config
        .and_then(|c| c.deletion_months)
        .unwrap_or(DEFAULT_DELETION_MONTHS)
}

pub fn offboard_command(args: &OffboardArgs) -> Result<u8> {
    if args.status {
        return status_command(args);
    }
    if let Some(term) = &args.preview {
        return preview_command(args, term);
    }
    let (Some(source), Some(case_id), Some(reason), Some(basis), Some(notified)) = (
        args.source.as_deref(),
        args.case_id.as_deref(),
        args.reason.as_deref(),
        args.legal_basis.as_deref(),
        args.notified.as_deref(),
    ) else {
        return Err(usage(
            "offboard needs SOURCE, --case, --reason, --legal-basis and --notified",
        ));
    };
    if reason.trim().is_empty() || basis.trim().is_empty() {
        return Err(usage(
            "a case needs a reason and a legal basis in words (e-postforskriften § 2)",
        ));
    }
    let notice = if notified.eq_ignore_ascii_case("none") {
        match args.not_notified_because.as_deref().map(str::trim) {
            Some(why) if !why.is_empty() => Notice::Not {
                why: why.to_string(),
            },
            _ => {
                return Err(usage(
                    "--notified none needs --not-notified-because TEXT (why the employee was not told)",
                ));
            }
        }
    } else {
        Notice::On {
            date: date_arg("--notified", notified)?,
        }
    };
    let leaving = args
        .leaving
        .as_deref()
        .map(|d| date_arg("--leaving", d))
        .transpose()?;
    let c = &args.common;
    let config = c.job.load_config()?;
    let as_of = parse_as_of(c.as_of.as_deref())?;
    let rules_dir = c
        .rules
        .clone()
        .or(config.as_ref().and_then(|c| c.rules.clone()));
    let rules = load_rules(rules_dir.as_deref())?;
    let (mut store, _lock) = c.job.open_store_locked(config.as_ref())?;
    if let Some(plan) = &args.plan
        && plan.exists()
    {
        return Err(usage(format!(
            "{} exists (it may hold the manager's edits): choose another file",
            plan.display()
        )));
    }
    if let Some(notice) = &args.notice
        && notice.exists()
    {
        return Err(usage(format!(
            "{} exists (it may be the letter the employee was given): choose another file",
            notice.display()
        )));
    }
    let case = Case {
        id: case_id.to_string(),
        source: source.to_string(),
        reason: reason.to_string(),
        legal_basis: basis.to_string(),
        notice,
        successor: args.successor.clone(),
        leaving,
        terms: args.terms.clone(),
        opened_by: mailhygiene::audit::actor(),
        opened_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let representatives = config
        .as_ref()
        .map(|c| c.union_representatives.iter().cloned().collect())
        .unwrap_or_default();
    let offboard::Opened {
        case,
        rows,
        report: counted,
        mailbox,
        leaver: _,
        amended: _,
    } = offboard::open_case(
        store.as_mut(),
        case,
        args.amend,
        &rules,
        as_of,
        representatives,
    )
    .map_err(|e| match e {
        offboard::CaseError::Store(e) => anyhow::Error::new(e),
        e @ offboard::CaseError::Audit(_) => anyhow::Error::new(e),
        other => usage(other.to_string()),
    })?;
    if let Some(plan) = &args.plan {
        // The manager reads the plan's reasons in the report's language.
        let plan_lang = crate::language(args.language, config.as_ref());
        let mut file = mailhygiene::report::create_private(plan)
            .with_context(|| format!("cannot write the plan {}", plan.display()))?;
        if plan
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"))
        {
            // The workbook is made in memory (the spreadsheet writer's
            // way); CSV plans are written a row at a time.
            let bytes = mailhygiene::plan_xlsx::write(&case, &rows.to_vec()?, plan_lang)
                .map_err(|e| anyhow::anyhow!("cannot make the plan spreadsheet: {e}"))?;
            file.write_all(&bytes)
        } else {
            offboard::write_plan(
                &case,
                rows.iter()?,
                plan_lang,
                std::io::BufWriter::new(file),
            )
        }
        .with_context(|| format!("cannot write the plan {}", plan.display()))?;
    }
    if let Some(path) = &args.notice {
        let templates = crate::load_templates(rules_dir.as_deref())?;
        let ctx =
            offboard::notice_context(&case, &mailbox, as_of, deletion_months(config.as_ref()));
        let (subject, body) = templates
            .render_notice(crate::language(args.language, config.as_ref()), &ctx)
            .map_err(|e| usage(e.to_string()))?;
        let mut f = mailhygiene::report::create_private(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        write!(f, "Subject: {subject}\n\n{body}")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let report = counted.finish(
        &case,
        mailbox.owner.as_deref(),
        as_of,
        deletion_months(config.as_ref()),
    );
    let mut out = c.job.open_output()?;
    // `--format text`: the report in Markdown (it reads as text too);
    // `--format jsonl`: the same as one JSON document.
    match c.job.format {
        ActionFormat::Text => offboard::render_markdown_in(
            &report,
            crate::language(args.language, config.as_ref()),
            &mut out,
        )?,
        ActionFormat::Jsonl => {
            serde_json::to_writer(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    offboard::record_opened(
        store.as_mut(),
        &case,
        &report,
        args.plan
            .as_ref()
            .map(|p| p.display().to_string())
            .as_deref(),
        args.notice
            .as_ref()
            .map(|p| p.display().to_string())
            .as_deref(),
    )
    .context("cannot write the audit trail")?;
    Ok(0)
}

fn status_command(args: &OffboardArgs) -> Result<u8> {
    let c = &args.common;
    let config = c.job.load_config()?;
    let as_of = parse_as_of(c.as_of.as_deref())?;
    let (store, _lock) = c.job.open_store_locked(config.as_ref())?;
    let mut out = c.job.open_output()?;
    let mut cases = offboard::status(
        store.as_ref(),
        args.case_id.as_deref(),
        as_of,
        deletion_months(config.as_ref()),
    )?;
    // The manager's edited plan decides what is still to hand over: the
    // case's own rows know nothing of the edits until a handover reads them.
    let mut by_plan = None;
    if let Some(path) = &args.plan {
        let Some(case_id) = args.case_id.as_deref() else {
            return Err(usage(
                "--status --plan FILE needs --case ID (the plan is one case's)",
            ));
        };
        let plan = read_plan_file(path)?;
        let (pending, refused) = handover::pending_by_plan(store.as_ref(), case_id, &plan)
            .map_err(|e| usage(e.to_string()))?;
        for status in cases.iter_mut() {
            status.pending = pending;
        }
        by_plan = Some((path.display().to_string(), refused));
    }
    if cases.is_empty() {
        writeln!(out, "No offboarding cases.")?;
    }
    let overdue = cases.iter().any(|s| s.overdue);
    for status in cases {
        let case = &status.case;
        let notice = match &case.notice {
            Notice::On { date } => format!("notified {date}"),
            Notice::Not { why } => format!(
                "not notified ({})",
                mailhygiene::report::summary::one_line(why)
            ),
        };
        writeln!(
            out,
            "case {}: {} ({}; opened {} by {})",
            mailhygiene::report::summary::one_line(&case.id),
            mailhygiene::report::summary::one_line(&case.source),
            notice,
            case.opened_at,
            mailhygiene::report::summary::one_line(&case.opened_by)
        )?;
        writeln!(
            out,
            "  handed over: {} messages; planned for handover and not yet copied: {}; private: {}",
            status.handed_over, status.pending, status.private
        )?;
        match &by_plan {
            Some((file, 0)) => writeln!(out, "  (as the plan {file} decides)")?,
            Some((file, refused)) => writeln!(
                out,
                "  (as the plan {file} decides; {refused} of its handover rows would be refused: run handover without --apply to see which)"
            )?,
            None => writeln!(
                out,
                "  (as the case recorded its plan; give --plan FILE for the manager's edits)"
            )?,
        }
        match status.deletion_deadline {
            Some(d) if status.overdue => writeln!(out, "  delete the mailbox by {d}: PASSED")?,
            Some(d) => writeln!(out, "  delete the mailbox by {d}")?,
            None => writeln!(out, "  deletion deadline: unknown (no leaving date)")?,
        }
    }
    out.flush()?;
    Ok(u8::from(overdue))
}

/// The IMAP or Maildir mailbox behind a source, for reading originals.
fn origin_of(
    source: &NamedSource,
    allow_plaintext: bool,
) -> std::result::Result<Box<dyn Origin>, String> {
    match &source.spec {
        SourceSpec::Maildir(path) => Ok(Box::new(MaildirOrigin::open(path)?)),
        SourceSpec::Imap(url) => {
            let credentials = source
                .credentials
                .clone()
                .or_else(mailhygiene::imap::Credentials::from_env)
                .ok_or("IMAP sources need MAILHYGIENE_IMAP_PASSWORD, MAILHYGIENE_IMAP_TOKEN, or an account in the configuration file")?;
            Ok(Box::new(ImapMailbox::open(
                url,
                &credentials,
                &crate::imap_options(allow_plaintext),
            )?))
        }
        SourceSpec::Mbox(_) => Err("mbox exports are not read for handovers or exports yet".into()),
    }
}

/// The destination's credentials: the configuration's account for it, else
/// MAILHYGIENE_HANDOVER_PASSWORD / MAILHYGIENE_HANDOVER_TOKEN, else the
/// scanner's own variables (one app can reach every mailbox on Office 365).
fn handover_credentials(dest: &NamedSource) -> Option<mailhygiene::imap::Credentials> {
    use mailhygiene::imap::Credentials;
    dest.credentials
        .clone()
        .or_else(|| {
            std::env::var("MAILHYGIENE_HANDOVER_TOKEN")
                .ok()
                .map(Credentials::Token)
        })
        .or_else(|| {
            std::env::var("MAILHYGIENE_HANDOVER_PASSWORD")
                .ok()
                .map(Credentials::Password)
        })
        .or_else(Credentials::from_env)
}

/// Reads an edited plan: CSV (any of the separators a spreadsheet writes),
/// or `.xlsx`.
fn read_plan_file(path: &std::path::Path) -> Result<Vec<offboard::EditedRow>> {
    let is_xlsx = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let rows = if is_xlsx {
        mailhygiene::plan_xlsx::read(path)
    } else {
        let file = std::fs::File::open(path)
            .with_context(|| format!("cannot read the plan {}", path.display()))?;
        offboard::read_plan(file)
    };
    rows.map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// The mailboxes a job opens, from the configuration's accounts and the
/// environment's credentials.
pub struct ConfiguredMailboxes<'a> {
    pub config: Option<&'a mailhygiene::config::Config>,
    pub allow_plaintext: bool,
}

impl ConfiguredMailboxes<'_> {
    fn resolve(&self, name: &str) -> std::result::Result<NamedSource, MailboxError> {
        resolve_sources(&[name.to_string()], None, self.config)
            .map_err(|e| MailboxError::Unusable(format!("{e:#}")))?
            .into_iter()
            .next()
            .ok_or_else(|| MailboxError::Unusable(format!("{name} cannot be resolved")))
    }
}

impl Mailboxes for ConfiguredMailboxes<'_> {
    fn origin(&mut self, source: &str) -> std::result::Result<Box<dyn Origin>, MailboxError> {
        let source = self.resolve(source)?;
        origin_of(&source, self.allow_plaintext).map_err(MailboxError::Unreachable)
    }

    fn target(&mut self, destination: &str) -> std::result::Result<Box<dyn Target>, MailboxError> {
        if let Some(path) = destination.strip_prefix("maildir:") {
            return Ok(Box::new(MaildirTarget::new(std::path::Path::new(path))));
        }
        if let Some(path) = destination.strip_prefix("mbox:") {
            return Ok(Box::new(MboxTarget::new(std::path::Path::new(path))));
        }
        let dest = self.resolve(destination)?;
        let SourceSpec::Imap(url) = &dest.spec else {
            return Err(MailboxError::Unusable(
                "--to takes imaps://USER@HOST, maildir:PATH or mbox:PATH".into(),
            ));
        };
        let credentials = handover_credentials(&dest).ok_or_else(|| {
            MailboxError::Unusable("the successor's mailbox needs MAILHYGIENE_HANDOVER_PASSWORD, MAILHYGIENE_HANDOVER_TOKEN, or an account in the configuration file".into())
        })?;
        Ok(Box::new(
            ImapMailbox::open(
                url,
                &credentials,
                &crate::imap_options(self.allow_plaintext),
            )
            .map_err(MailboxError::Unreachable)?,
        ))
    }
}

/// A job's error as the command reports it: what the user must change is a
/// usage error (exit status 2).
fn job_error(e: HandoverError, plan: &std::path::Path) -> anyhow::Error {
    match e {
        HandoverError::NoCase(_) | HandoverError::Destination(_) => usage(e.to_string()),
        HandoverError::Plan(e) => usage(format!("{}: {e}", plan.display())),
        HandoverError::Mailbox {
            error: MailboxError::Unusable(m),
            ..
        } => usage(m),
        other => anyhow::Error::new(other),
    }
}

pub fn handover_command(args: &HandoverArgs) -> Result<u8> {
    let c = &args.common;
    let config = c.job.load_config()?;
    let (mut store, _lock) = c.job.open_store_for_mailboxes(config.as_ref())?;
    let plan = read_plan_file(&args.plan)?;
    let plan_sha256 = file_digest(&args.plan)?;
    let mut printer =
        OutcomePrinter::new(c.job.open_output()?, c.job.format == ActionFormat::Jsonl);
    let settled = handover::hand_over(
        store.as_mut(),
        &mut ConfiguredMailboxes {
            config: config.as_ref(),
            allow_plaintext: c.allow_plaintext,
        },
        &handover::Request {
            case_id: &args.case_id,
            plan: &plan,
            plan_sha256: &plan_sha256,
            to: args.to.as_deref(),
            reason: args.reason.as_deref(),
            folder: args.folder.as_deref(),
            apply: c.apply,
            wait: c.job.wait,
        },
        &mut printer,
        &mut |r| eprintln!("{}", refusal(r.row, r.status, r.why)),
    )
    .map_err(|e| job_error(e, &args.plan))?;
    Ok(u8::from(settled.refused > 0 || settled.failed > 0))
}

/// A plan row not acted on, as the user reads it on standard error.
fn refusal(row: &offboard::EditedRow, status: &str, why: &str) -> String {
    format!(
        "mailhygiene: plan line {}: {} {} {}: {status}: {why}",
        row.line,
        mailhygiene::report::summary::one_line(&row.folder),
        row.uid.map(|u| format!("UID {u}")).unwrap_or_default(),
        mailhygiene::report::summary::one_line(&row.message_id),
    )
}

pub fn audit_command(command: &AuditCommand) -> Result<u8> {
    match command {
        AuditCommand::Verify { state, config } => {
            let config = load_config(config.as_deref())?.map(|(_, c)| c);
            let store = crate::open_store_read(state.as_deref(), config.as_ref())?;
            // The chain is keyed: checking it takes the installation's key.
            let key = crate::load_fingerprinter(
                config
                    .as_ref()
                    .and_then(|c| c.fingerprint_key_file.as_deref()),
                crate::KeyFile::MustExist,
            )?
            .audit_key();
            let entries = store.audit_entries()?;
            let head = store.audit_head()?;
            let anchor = store.audit_anchor()?;
            let host = store.audit_host();
            match mailhygiene::audit::verify(
                &entries,
                head.as_ref().map(|(s, h)| (*s, h.as_str())),
                &key,
                anchor.as_ref(),
                host.as_deref(),
            ) {
                Ok(done) => {
                    print!("audit trail intact: {} entries", done.entries);
                    if done.legacy > 0 {
                        print!(
                            " ({} from before the chain was keyed, checked as they were made)",
                            done.legacy
                        );
                    }
                    if done.unanchored > 0 {
                        print!(
                            " ({} not in the anchor log: written when a run stopped between the two)",
                            done.unanchored
                        );
                    }
                    if done.elsewhere > 0 {
                        print!(
                            " ({} anchored on other hosts: verify there to check their anchors)",
                            done.elsewhere
                        );
                    }
                    println!();
                    Ok(0)
                }
                Err(broken) => {
                    eprintln!("mailhygiene: the audit trail is broken: {broken}");
                    Ok(1)
                }
            }
        }
        AuditCommand::Show {
            case_id,
            format,
            state,
            config,
        } => {
            let config = load_config(config.as_deref())?.map(|(_, c)| c);
            let store = crate::open_store_read(state.as_deref(), config.as_ref())?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for e in store.audit_entries()? {
                if case_id
                    .as_ref()
                    .is_some_and(|id| e.case_id.as_ref() != Some(id))
                {
                    continue;
                }
                match format {
                    ActionFormat::Jsonl => {
                        serde_json::to_writer(&mut out, &e)?;
                        writeln!(out)?;
                    }
                    ActionFormat::Text => writeln!(
                        out,
                        "{:>5} {} {:<10} {:<8} {} {}",
                        e.seq,
                        e.at,
                        mailhygiene::report::summary::one_line(&e.actor),
                        e.action,
                        e.case_id
                            .as_deref()
                            .map(mailhygiene::report::summary::one_line)
                            .unwrap_or_default(),
                        mailhygiene::report::summary::one_line(&e.detail.to_string())
                    )?,
                }
            }
            out.flush()?;
            Ok(0)
        }
    }
}

pub fn subject_command(args: &SubjectArgs) -> Result<u8> {
    let c = &args.common;
    let config = c.job.load_config()?;
    let as_of = parse_as_of(c.as_of.as_deref())?;
    if args.include_private && args.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(usage(
            "--include-private needs --reason TEXT (recorded in the audit trail)",
        ));
    }
    let (mut store, _lock) = c.job.open_store_locked(config.as_ref())?;
    // The search is only as good as the key: the store's fingerprints must
    // be this key's, and no key is made here.
    let fingerprinter = load_fingerprinter(
        config
            .as_ref()
            .and_then(|c| c.fingerprint_key_file.as_deref()),
        crate::KeyFile::MustExist,
    )?;
    crate::same_fingerprint_key(store.as_ref(), &fingerprinter)?;
    let fingerprints: std::collections::HashSet<String> = if args.identifier_stdin {
        let mut raw = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(std::io::stdin().lock(), 4096),
            &mut raw,
        )
        .context("cannot read the identifier from standard input")?;
        let values = subject::valid_identifiers(raw.trim(), as_of);
        if values.is_empty() {
            return Err(usage(
                "standard input is not a valid fødselsnummer, D-number, H-number, bank account, card number, IBAN or Nordic ID number: check the digits",
            ));
        }
        values
            .iter()
            .map(|f| fingerprinter.fingerprint(f))
            .collect()
    } else {
        Default::default()
    };
    let address = args.address.as_deref().map(|a| a.trim().to_lowercase());
    let owners: Vec<String> = store
        .mailboxes()?
        .into_iter()
        .filter_map(|m| m.owner)
        .collect();
    let name: Option<Vec<String>> = match args.name.as_deref() {
        Some(n) if !subject::whole_name(n, &owners) => {
            return Err(usage(format!(
                "--name `{}`: give a whole name (first and family name), not a part of one",
                mailhygiene::report::summary::one_line(n)
            )));
        }
        Some(n) => Some(offboard::words(n).collect()),
        None => None,
    };
    let query = match (&address, &name) {
        (Some(a), _) => subject::Query::Address(a.clone()),
        (None, Some(n)) => subject::Query::Name(n.clone()),
        (None, None) => subject::Query::Fingerprints(fingerprints.clone()),
    };
    let found = subject::search(store.as_ref(), &query, args.include_private)?;
    let (hits, left_out) = (&found.hits, found.left_out);
    let mut out = c.job.open_output()?;
    let index: Vec<serde_json::Value> = hits.iter().map(subject::index_record).collect();
    for (m, v) in hits.iter().zip(&index) {
        match c.job.format {
            ActionFormat::Jsonl => {
                serde_json::to_writer(&mut out, v)?;
                writeln!(out)?;
            }
            ActionFormat::Text => {
                let r = &m.report;
                writeln!(
                    out,
                    "{} {} {} {} from {}: {}",
                    r.date
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default(),
                    mailhygiene::report::summary::one_line(&m.source),
                    mailhygiene::report::summary::one_line(&r.meta.folder),
                    mailhygiene::report::summary::one_line(&r.envelope.message_id),
                    mailhygiene::report::summary::one_line(&r.envelope.from.join(", ")),
                    mailhygiene::report::summary::one_line(&r.envelope.subject)
                )?;
            }
        }
    }
    if c.job.format == ActionFormat::Text {
        writeln!(out, "{} messages", hits.len())?;
    }
    out.flush()?;
    if left_out > 0 {
        eprintln!(
            "mailhygiene: {left_out} messages an offboarding case classified private were left out; --include-private --reason TEXT includes them"
        );
    }
    let mut failed = 0u64;
    if let Some(dir) = &args.export {
        let mut mailboxes = ConfiguredMailboxes {
            config: config.as_ref(),
            allow_plaintext: c.allow_plaintext,
        };
        failed = subject::export(
            hits,
            &index,
            dir,
            &mut mailboxes,
            &mut |source, folder, e| match folder {
                Some(folder) => eprintln!("mailhygiene: {source} {folder}: {e}"),
                None => eprintln!("mailhygiene: {source}: {e}"),
            },
        )
        .map_err(|e| match e {
            subject::ExportError::Directory(e) => usage(format!("--export {}: {e}", dir.display())),
            other => anyhow::Error::new(other),
        })?;
    }
    // What was searched for, as a fingerprint: the audit trail shows that
    // a search was made and for whom it can be matched, never the value.
    let export_dir = args.export.as_ref().map(|d| d.display().to_string());
    subject::record(
        store.as_mut(),
        &fingerprinter,
        &subject::Recorded {
            query: &query,
            found: &found,
            include_private: args
                .include_private
                .then_some(args.reason.as_deref())
                .flatten(),
            export: export_dir.as_deref().map(|d| (d, failed)),
        },
    )
    .context("cannot write the audit trail")?;
    Ok(u8::from(failed > 0))
}

/// The messages a person chose for deletion, for `clean` (see
/// [`mailhygiene::actions::chosen`]): the files read, refused rows named on
/// standard error. Returns how many rows were refused.
pub fn chosen_for_clean(
    store: &dyn Store,
    sources: &[String],
    case_id: Option<&str>,
    plan: Option<&std::path::Path>,
    messages: Option<&std::path::Path>,
) -> Result<(Option<mailhygiene::actions::clean::Chosen>, u64)> {
    use mailhygiene::actions::chosen::{self, Choice, ChoiceError, NotChosen};
    if case_id.is_none() && messages.is_none() {
        return Ok((None, 0));
    }
    let [source] = sources else {
        return Err(usage("--case and --messages take exactly one SOURCE"));
    };
    let edited = match (case_id, plan) {
        (Some(id), Some(plan)) => Some((id, read_plan_file(plan)?)),
        _ => None,
    };
    let list = messages
        .map(|path| {
            std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
        })
        .transpose()?;
    let choice = Choice {
        source,
        case: edited.as_ref().map(|(id, rows)| (*id, rows.as_slice())),
        erasure: list.as_deref(),
    };
    let shown =
        |p: Option<&std::path::Path>| p.map(|p| p.display().to_string()).unwrap_or_default();
    let (chosen, refused) = chosen::chosen(store, &choice).map_err(|e| match e {
        ChoiceError::Store(e) => anyhow::Error::new(e),
        ChoiceError::Plan(e) => usage(format!("{}: {e}", shown(plan))),
        ChoiceError::List { .. } => usage(format!("{}: {e}", shown(messages))),
        other => usage(other.to_string()),
    })?;
    for r in &refused {
        match r {
            NotChosen::PlanRow { row, why } => eprintln!(
                "mailhygiene: plan line {}: {} {} {}: not deleted: {why}",
                row.line,
                mailhygiene::report::summary::one_line(&row.folder),
                row.uid.map(|u| format!("UID {u}")).unwrap_or_default(),
                mailhygiene::report::summary::one_line(&row.message_id)
            ),
            NotChosen::Listed {
                line,
                folder,
                message_id,
            } => eprintln!(
                "mailhygiene: {} line {line}: {} {}: not deleted: the store holds no such message there (scan again and repeat the search)",
                shown(messages),
                mailhygiene::report::summary::one_line(folder),
                mailhygiene::report::summary::one_line(message_id)
            ),
        }
    }
    Ok((Some(chosen), refused.len() as u64))
}

fn preview_command(args: &OffboardArgs, term: &str) -> Result<u8> {
    use mailhygiene::preview::{self, PreviewError};
    let c = &args.common;
    let case_id = args.case_id.as_deref().unwrap_or_default();
    let config = c.job.load_config()?;
    let as_of = parse_as_of(c.as_of.as_deref())?;
    let (mut store, _lock) = c.job.open_store_locked(config.as_ref())?;
    let failed = |e: PreviewError| match e {
        PreviewError::NoCase(_) | PreviewError::Undeclared { .. } => usage(e.to_string()),
        PreviewError::Mailbox {
            error: MailboxError::Unusable(m),
            ..
        } => usage(m),
        other => anyhow::Error::new(other),
    };
    let case = preview::declared(store.as_ref(), case_id, term).map_err(failed)?;
    let rules_dir = c
        .rules
        .clone()
        .or(config.as_ref().and_then(|c| c.rules.clone()));
    let engine = mailhygiene::engine::Engine::new(
        mailhygiene::engine::EngineSettings::new(as_of),
        load_rules(rules_dir.as_deref())?,
        load_fingerprinter(
            config
                .as_ref()
                .and_then(|c| c.fingerprint_key_file.as_deref()),
            crate::KeyFile::MustExist,
        )?,
    );
    let mut out = c.job.open_output()?;
    preview::preview(
        store.as_mut(),
        &case,
        term,
        args.limit,
        &engine,
        &mut ConfiguredMailboxes {
            config: config.as_ref(),
            allow_plaintext: c.allow_plaintext,
        },
        &mut out,
    )
    .map_err(failed)?;
    Ok(0)
}
