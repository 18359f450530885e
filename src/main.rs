//! The `mailhygiene` command: a thin layer that parses arguments, loads keys
//! and rules, and hands over to the library. Exit status per the interface
//! contract: 0 complete, 1 failed or incomplete, 2 usage or configuration.

/// jemalloc rather than the system's malloc: a scan allocates and frees
/// buffers per part and per message from every worker thread, where glibc's
/// arenas spent a tenth of the time (see the README's benchmarks).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use mailhygiene::actions::clean::{self as cleanup, Filter, FlaggedPolicy, Planned};
use mailhygiene::actions::movers::{ImapMover, MaildirMover, Mover, TRASH_NAMES};
use mailhygiene::actions::{ActionFormat, MovePrinter};
use mailhygiene::config::Config;
use mailhygiene::deliver::{self, Delivery, SmtpSettings};
use mailhygiene::detect::identifiers::Rule2032;
use mailhygiene::engine::{Engine, EngineSettings};
use mailhygiene::fingerprint::Fingerprinter;
use mailhygiene::model::MessageMeta;
use mailhygiene::remind::{self, Lang, Templates};
use mailhygiene::report::{self, Format, ReportContext};
use mailhygiene::rules::{RuleError, RuleSet};
use mailhygiene::scan::{self, NamedSource, Progress, Silent};
use mailhygiene::source::SourceSpec;
use mailhygiene::store::{MailboxRecord, RunKind, SqliteStore, Store};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "mailhygiene",
    version,
    about = "Finds stale mail and sensitive personal data in mailboxes, without ever showing what it finds",
    after_help = "Exit status: 0 the run completed; 1 it failed or some messages could not be read; 2 usage or configuration error."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// What every command that prints findings takes: the rules, the date
/// judged by, and how and where to print.
#[derive(clap::Args, Debug, Clone)]
struct Rendering {
    /// Rules directory (retention rules, phrase lists, templates); default: the config's
    /// `rules`, else the rules built into this binary.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// The date judged by, "today" (YYYY-MM-DD); default: the current date.
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Write the report here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Leave out findings below this confidence (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0, value_name = "C")]
    min_confidence: f32,
}

#[derive(clap::Args, Debug, Clone)]
struct ScanOptions {
    #[command(flatten)]
    render: Rendering,
    /// The 2032 check-digit rule for Norwegian numbers: auto follows the scan date.
    #[arg(long, value_enum, default_value_t = Rule2032Arg::Auto)]
    rule_2032: Rule2032Arg,
    /// Messages larger than this many bytes are reported, not read.
    #[arg(long, default_value_t = 150 << 20, value_name = "BYTES")]
    max_message_size: u64,
    /// File with the fingerprint secret; default: MAILHYGIENE_FINGERPRINT_KEY, else a key generated once per installation.
    #[arg(long, value_name = "FILE")]
    fingerprint_key_file: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
struct ScanArgs {
    /// What to scan; with a configuration file and no sources, every mailbox of its accounts.
    #[arg(value_name = "SOURCE")]
    sources: Vec<String>,
    #[command(flatten)]
    options: ScanOptions,
    /// Worker threads; default: one per core.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No progress bar, even on a terminal.
    #[arg(long, short)]
    quiet: bool,
    /// Allow imap:// without TLS, to a loopback address only (tests, local bridges).
    #[arg(long)]
    allow_plaintext: bool,
    /// The state database (IMAP cursors, findings); default: the config's `store`, else $XDG_STATE_HOME/mailhygiene/state.sqlite.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Rescan every IMAP message, not only those new since the last run.
    #[arg(long)]
    full: bool,
    /// Configuration file; default: $XDG_CONFIG_HOME/mailhygiene/config.toml when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Only this account of the configuration file.
    #[arg(long, value_name = "NAME")]
    account: Option<String>,
    /// Mailboxes scanned at once; default: the config's limits.connections, else 4.
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Connections fetching one IMAP folder at once (1 to 8); default: the
    /// config's limits.connections_per_mailbox, else 1.
    #[arg(long, value_name = "N")]
    connections_per_mailbox: Option<usize>,
    /// The most each IMAP connection asks for: 50/s (messages), 4MB/s, or
    /// 50/s,4MB/s; default: the config's limits.pace, else unlimited.
    #[arg(long, value_name = "RATE", value_parser = mailhygiene::imap::pace::Rate::parse)]
    pace: Option<mailhygiene::imap::pace::Rate>,
    /// The most the whole run asks for, across every mailbox; default: the
    /// config's limits.total_pace, else unlimited.
    #[arg(long, value_name = "RATE", value_parser = mailhygiene::imap::pace::Rate::parse)]
    total_pace: Option<mailhygiene::imap::pace::Rate>,
    /// Only judge staleness, from IMAP metadata (flags, dates, sizes); no message is read
    /// and the inventory is left as it is. Rules that look at senders, subjects or findings
    /// cannot apply.
    #[arg(long)]
    stale_only: bool,
    /// Print only the messages read in this run, not the whole mailbox.
    #[arg(long)]
    changes_only: bool,
    /// When another run holds the state database, wait for it instead of stopping.
    #[arg(long)]
    wait: bool,
    /// A one-off scan: read everything, print it, keep nothing (no inventory, so no
    /// `report`, `clean` or `remind` afterwards).
    #[arg(long, conflicts_with_all = ["state", "changes_only", "full"])]
    no_state: bool,
    /// List every message in the text and Markdown reports, not the first 25 of each list.
    #[arg(long)]
    all: bool,
}

#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// Mailboxes to report, as they were scanned; default: every mailbox in the store.
    #[arg(value_name = "SOURCE")]
    sources: Vec<String>,
    #[command(flatten)]
    render: Rendering,
    /// The state database; default: the config's `store`, else $XDG_STATE_HOME/mailhygiene/state.sqlite.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Configuration file; default: $XDG_CONFIG_HOME/mailhygiene/config.toml when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// List every message in the text and Markdown reports, not the first 25 of each list.
    #[arg(long)]
    all: bool,
    /// The compliance officer's report over every mailbox (or --department): html, csv (-o DIR), json or markdown.
    #[arg(long)]
    compliance: bool,
    /// Only the mailboxes of this department (with --compliance).
    #[arg(long, value_name = "NAME", requires = "compliance")]
    department: Option<String>,
    /// Also deliver the compliance report: dir:PATH, or smtp (see --smtp, --to, --from).
    #[arg(long, value_name = "HOW", requires = "compliance")]
    deliver: Option<String>,
    /// SMTP server for --deliver smtp: smtp://USER@HOST[:587] or smtps://USER@HOST[:465],
    /// or account:NAME (a configured account's SMTP host and credentials).
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    /// Recipient of a delivered compliance report.
    #[arg(long, value_name = "ADDRESS")]
    to: Option<String>,
    /// Sender of a delivered compliance report.
    #[arg(long, value_name = "ADDRESS")]
    from: Option<String>,
}

/// What every command that changes a mailbox takes.
#[derive(clap::Args, Debug)]
struct ChangeArgs {
    /// Make the changes; without it, print what would be done.
    #[arg(long)]
    apply: bool,
    /// What "due" means: the date to judge by (YYYY-MM-DD); default: today.
    #[arg(long, value_name = "DATE")]
    as_of: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
    /// Write the records here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The state database; default: the config's `store`, else $XDG_STATE_HOME/mailhygiene/state.sqlite.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Configuration file; default: $XDG_CONFIG_HOME/mailhygiene/config.toml when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Rules directory; default: the config's `rules`, else the built-in rules.
    #[arg(long, value_name = "DIR")]
    rules: Option<PathBuf>,
    /// Allow imap:// without TLS, to a loopback address only (tests, local bridges).
    #[arg(long)]
    allow_plaintext: bool,
    /// When another run holds the state database, wait for it instead of stopping.
    #[arg(long)]
    wait: bool,
}

#[derive(clap::Args, Debug)]
struct CleanArgs {
    /// Mailboxes to clean, as they were scanned (IMAP or Maildir).
    #[arg(value_name = "SOURCE", required = true)]
    sources: Vec<String>,
    /// Only messages due under this rule (repeatable).
    #[arg(long = "rule", value_name = "ID")]
    rules_only: Vec<String>,
    /// Only messages in folders matching this glob (`*` one level, `**` any depth; repeatable).
    #[arg(long = "folder", value_name = "GLOB")]
    folders: Vec<String>,
    /// Instead of the rules: the `delete` rows of this offboarding case's plan (with --plan).
    #[arg(
        long = "case",
        value_name = "ID",
        requires = "plan",
        conflicts_with = "messages"
    )]
    case_id: Option<String>,
    /// The case's plan, as edited.
    #[arg(long, value_name = "FILE", requires = "case_id")]
    plan: Option<PathBuf>,
    /// Instead of the rules: the messages listed in this file (`subject --format jsonl` output), for an erasure request.
    #[arg(long, value_name = "FILE")]
    messages: Option<PathBuf>,
    #[command(flatten)]
    change: ChangeArgs,
}

#[derive(clap::Args, Debug)]
struct RemindArgs {
    /// Mailboxes to remind, as they were scanned; default: every mailbox in the store.
    #[arg(value_name = "SOURCE")]
    sources: Vec<String>,
    /// How to deliver: imap (into the mailbox's INBOX), smtp (see --smtp), or dir:PATH (.eml files).
    #[arg(long, value_name = "HOW", default_value = "imap")]
    deliver: String,
    /// The reminder's language.
    #[arg(long, value_enum, default_value_t = Lang::Nb)]
    lang: Lang,
    /// Send even if this period's reminder was sent already.
    #[arg(long)]
    again: bool,
    /// The period a reminder is sent once in; default: the --as-of year.
    #[arg(long, value_name = "PERIOD")]
    period: Option<String>,
    /// The sender; default: mailhygiene at the recipient's domain (required with smtp).
    #[arg(long, value_name = "ADDRESS")]
    from: Option<String>,
    /// The recipient, for a single mailbox whose address the store does not know.
    #[arg(long, value_name = "ADDRESS")]
    to: Option<String>,
    /// SMTP server for --deliver smtp: smtp://USER@HOST[:587] (STARTTLS) or smtps://USER@HOST[:465];
    /// the secret from MAILHYGIENE_SMTP_PASSWORD or MAILHYGIENE_SMTP_TOKEN (XOAUTH2);
    /// or account:NAME: a configured account's SMTP host (its cloud's) and credentials.
    #[arg(long, value_name = "URL")]
    smtp: Option<String>,
    #[command(flatten)]
    change: ChangeArgs,
}

#[derive(clap::Args, Debug)]
struct UndoArgs {
    /// The clean run to undo (its number is in clean's output).
    #[arg(value_name = "RUN")]
    run: i64,
    #[command(flatten)]
    change: ChangeArgs,
}

#[derive(clap::Args, Debug)]
struct RunsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    format: ActionFormat,
    /// The state database; default: the config's `store`, else $XDG_STATE_HOME/mailhygiene/state.sqlite.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Configuration file; default: $XDG_CONFIG_HOME/mailhygiene/config.toml when it exists.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Rule2032Arg {
    Auto,
    On,
    Off,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Scan mailboxes: maildir:PATH, mbox:PATH, imaps://USER@HOST, imap://USER@HOST.
    Scan(ScanArgs),
    /// Report on mailboxes from the store alone (no connection): any format, any --as-of.
    Report(ReportArgs),
    /// Move what the rules mark due to the mailbox's Deleted Items folder (dry run without --apply).
    Clean(CleanArgs),
    /// Move a clean run's messages back where they came from (dry run without --apply).
    Undo(UndoArgs),
    /// List the clean and undo runs: what each moved, whether it finished, what undid what.
    Runs(RunsArgs),
    /// Prepare or send the yearly reminder, one per mailbox (dry run without --apply).
    Remind(RemindArgs),
    /// Open an offboarding case for a leaver's mailbox: a metadata report and a plan to edit (or --status).
    Offboard(Box<cases_cli::OffboardArgs>),
    /// Copy a case's `handover` rows to the successor (dry run without --apply).
    Handover(cases_cli::HandoverArgs),
    /// Find every message about a person (address, name, or an identifier on stdin); --export for an access request.
    Subject(cases_cli::SubjectArgs),
    /// Verify or show the audit trail.
    Audit {
        #[command(subcommand)]
        command: cases_cli::AuditCommand,
    },
    /// Scan one message file (an .eml), or standard input with `-`.
    Check {
        #[arg(value_name = "FILE")]
        file: String,
        #[command(flatten)]
        options: ScanOptions,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with rules directories.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate a configuration file: keys, accounts, and that each secret can be read;
    /// --online also signs in to every mailbox.
    Check(config_cli::CheckArgs),
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Validate a rules directory; errors name file, line and key.
    Check {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// List the retention rules in effect (a directory, or the built-in ones).
    List {
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// A configuration or usage problem: exit status 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Log lines for journald: `<priority>message fields`, no time (the
/// journal adds its own), no colour.
struct JournaldFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for JournaldFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let priority = match *event.metadata().level() {
            tracing::Level::ERROR => 3,
            tracing::Level::WARN => 4,
            tracing::Level::INFO => 6,
            _ => 7,
        };
        write!(writer, "<{priority}>")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    UsageError(message.into()).into()
}

mod cases_cli;
mod config_cli;

fn main() -> ExitCode {
    // A panic message could quote input; print only where it happened.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "mailhygiene: internal error at {location} (details withheld: they may quote scanned content)"
        );
    }));
    // Only our own events reach the log: dependencies' `log` records are not
    // bridged at all, and any `tracing` event of theirs is dropped, at every
    // level (an IMAP library's trace holds the LOGIN line and every body).
    {
        use tracing_subscriber::prelude::*;
        let filter = tracing_subscriber::EnvFilter::try_from_env("MAILHYGIENE_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let ours =
            tracing_subscriber::filter::filter_fn(|meta| meta.target().starts_with("mailhygiene"));
        // Under systemd (stderr to the journal) each line carries its
        // priority as `<N>` and no timestamp: journald keeps its own.
        let journal = std::env::var_os("JOURNAL_STREAM").is_some();
        let (plain, journald) = if journal {
            (
                None,
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_writer(io::stderr)
                        .with_ansi(false)
                        .event_format(JournaldFormat),
                ),
            )
        } else {
            (
                Some(
                    tracing_subscriber::fmt::layer()
                        .with_writer(io::stderr)
                        .with_target(false)
                        .with_ansi(io::stderr().is_terminal()),
                ),
                None,
            )
        };
        tracing_subscriber::registry()
            .with(plain.with_filter(filter).with_filter(ours))
            .with(
                journald
                    .with_filter(
                        tracing_subscriber::EnvFilter::try_from_env("MAILHYGIENE_LOG")
                            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
                    )
                    .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
                        meta.target().starts_with("mailhygiene")
                    })),
            )
            .init();
    }

    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if err
                .downcast_ref::<io::Error>()
                .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("mailhygiene: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::from(1)
            }
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Scan(args) => scan_command(&args),
        Command::Report(args) => report_command(&args),
        Command::Clean(args) => clean_command(&args),
        Command::Undo(args) => undo_command(&args),
        Command::Runs(args) => runs_command(&args),
        Command::Remind(args) => remind_command(&args),
        Command::Offboard(args) => cases_cli::offboard_command(&args),
        Command::Handover(args) => cases_cli::handover_command(&args),
        Command::Subject(args) => cases_cli::subject_command(&args),
        Command::Audit { command } => cases_cli::audit_command(&command),
        Command::Config {
            command: ConfigCommand::Check(args),
        } => config_cli::check_command(&args),
        Command::Check { file, options } => check_command(&file, &options),
        Command::Rules {
            command: RulesCommand::Check { dir },
        } => {
            let rules = load_rules(Some(&dir))?;
            load_templates(Some(&dir))?;
            println!(
                "{}: {} retention rules, {} special categories, reminder templates: OK",
                dir.display(),
                rules.rules.len(),
                rules.categories.len()
            );
            Ok(0)
        }
        Command::Rules {
            command: RulesCommand::List { dir },
        } => {
            let rules = load_rules(dir.as_deref())?;
            for r in &rules.rules {
                println!(
                    "{:<28} priority {:>3}  {:<40} {}",
                    r.id,
                    r.priority,
                    r.retention.to_string(),
                    r.description
                );
            }
            Ok(0)
        }
    }
}

fn parse_as_of(as_of: Option<&str>) -> Result<NaiveDate> {
    match as_of {
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| usage(format!("--as-of `{s}`: expected a date as YYYY-MM-DD"))),
        None => Ok(chrono::Local::now().date_naive()),
    }
}

fn load_rules(dir: Option<&Path>) -> Result<RuleSet> {
    let result = match dir {
        None => RuleSet::embedded(),
        Some(dir) => {
            let mut files = Vec::new();
            let entries = std::fs::read_dir(dir).map_err(|e| {
                usage(format!(
                    "cannot read rules directory {}: {e}",
                    dir.display()
                ))
            })?;
            for entry in entries {
                let path = entry?.path();
                if path.extension().is_some_and(|e| e == "toml") {
                    let content = std::fs::read_to_string(&path)
                        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
                    files.push((path.display().to_string(), content));
                }
            }
            if files.is_empty() {
                return Err(usage(format!("{}: no .toml rules files", dir.display())));
            }
            files.sort();
            RuleSet::parse(&files)
        }
    };
    result.map_err(|errors: Vec<RuleError>| {
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        usage(format!("invalid rules:\n{}", listed.join("\n")))
    })
}

/// The installation's fingerprint secret: the environment, a named file, or
/// a key generated on first use in the user's config directory.
/// Whether a missing default key file may be made now: only by `scan`,
/// the command that starts a store. Any other command making one would
/// search or print under a key no store was made with, and say nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyFile {
    CreateIfMissing,
    MustExist,
}

fn load_fingerprinter(explicit: Option<&Path>, missing: KeyFile) -> Result<Fingerprinter> {
    let key: Vec<u8> = if let Ok(k) = std::env::var("MAILHYGIENE_FINGERPRINT_KEY") {
        k.into_bytes()
    } else if let Some(path) = explicit {
        read_key_file(path)?
    } else {
        let path = default_key_path()?;
        if path.exists() {
            read_key_file(&path)?
        } else if missing == KeyFile::CreateIfMissing {
            create_key_file(&path)?
        } else {
            return Err(usage(format!(
                "no fingerprint key at {}: `mailhygiene scan` makes one on its first run; or set MAILHYGIENE_FINGERPRINT_KEY or `fingerprint_key_file` in the configuration",
                path.display()
            )));
        }
    };
    Fingerprinter::new(&key).map_err(|e| usage(format!("fingerprint key: {e}")))
}

fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    let content = std::fs::read(path).map_err(|e| {
        usage(format!(
            "cannot read fingerprint key {}: {e}",
            path.display()
        ))
    })?;
    Ok(content.trim_ascii().to_vec())
}

/// `$VAR/mailhygiene/FILE`, or under `$HOME/HOME_DEFAULT` (the XDG base
/// directory rule); `hint` tells what to do when neither is set.
fn xdg_file(var: &str, home_default: &str, file: &str, hint: &str) -> Result<PathBuf> {
    let base = std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(home_default)))
        .ok_or_else(|| usage(format!("no HOME or {var}: {hint}")))?;
    Ok(base.join("mailhygiene").join(file))
}

fn default_state_path() -> Result<PathBuf> {
    xdg_file(
        "XDG_STATE_HOME",
        ".local/state",
        "state.sqlite",
        "give --state FILE",
    )
}

fn default_key_path() -> Result<PathBuf> {
    xdg_file(
        "XDG_CONFIG_HOME",
        ".config",
        "fingerprint.key",
        "set MAILHYGIENE_FINGERPRINT_KEY",
    )
}

fn create_key_file(path: &Path) -> Result<Vec<u8>> {
    let mut random = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .context("reading random bytes for a new fingerprint key")?;
    let key = hex::encode(random);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(key.as_bytes())?;
    eprintln!(
        "mailhygiene: created a fingerprint key at {} (keep it: fingerprints from different keys do not match)",
        path.display()
    );
    Ok(key.into_bytes())
}

fn build_engine(options: &ScanOptions, missing: KeyFile) -> Result<(Engine, ReportContext)> {
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

fn open_output(path: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => {
            // Reports list people's mail (masked, but still): private from
            // the moment the file exists.
            Box::new(io::BufWriter::new(
                mailhygiene::report::create_private(p)
                    .map_err(|e| usage(format!("cannot write {}: {e}", p.display())))?,
            ))
        }
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    })
}

/// A progress line per source (per mailbox when several are scanned at once).
struct Bars {
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

fn load_config(explicit: Option<&Path>) -> Result<Option<(PathBuf, Config)>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let base = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
            match base.map(|b| b.join("mailhygiene/config.toml")) {
                Some(p) if p.exists() => p,
                _ => return Ok(None),
            }
        }
    };
    let content = std::fs::read_to_string(&path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    let config = Config::parse(&path.display().to_string(), &content).map_err(|errors| {
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        usage(format!("invalid configuration:\n{}", listed.join("\n")))
    })?;
    Ok(Some((path, config)))
}

/// The sources to scan: those given, else every mailbox of the configured
/// accounts. IMAP sources on an account's server use its credentials.
fn sources_to_scan(args: &ScanArgs, config: Option<&Config>) -> Result<Vec<NamedSource>> {
    resolve_sources(&args.sources, args.account.as_ref(), config)
}

/// Sources as given (with their account's credentials and owner), else
/// every mailbox of the configured accounts (or of one account).
fn resolve_sources(
    sources: &[String],
    account: Option<&String>,
    config: Option<&Config>,
) -> Result<Vec<NamedSource>> {
    struct Picked<'a> {
        sources: &'a [String],
        account: Option<String>,
    }
    let args = Picked {
        sources,
        account: account.cloned(),
    };
    let accounts: Vec<&mailhygiene::config::Account> = config
        .map(|c| {
            c.accounts
                .iter()
                .filter(|a| args.account.as_ref().is_none_or(|n| &a.name == n))
                .collect()
        })
        .unwrap_or_default();
    if let Some(name) = &args.account
        && accounts.is_empty()
    {
        return Err(usage(format!(
            "no account named {name} in the configuration"
        )));
    }
    let credentials_of = |account: &mailhygiene::config::Account| {
        account
            .credentials()
            .map_err(|e| usage(format!("account {}: {e}", account.name)))
    };
    let mut named = Vec::new();
    if args.sources.is_empty() {
        if accounts.is_empty() {
            return Err(usage(
                "nothing to scan: give a SOURCE, or a configuration file with accounts",
            ));
        }
        for account in accounts {
            let credentials = credentials_of(account)?;
            let mailboxes = account
                .all_mailboxes()
                .map_err(|e| usage(format!("account {}: {e}", account.name)))?;
            for mailbox in mailboxes {
                let url = account.url(&mailbox.address);
                named.push(NamedSource {
                    given: url.to_string(),
                    spec: SourceSpec::Imap(url),
                    credentials: Some(credentials.clone()),
                    mailbox: Some(mailbox),
                });
            }
        }
        return Ok(named);
    }
    for given in args.sources {
        let spec = SourceSpec::parse(given).map_err(|e| usage(e.to_string()))?;
        // The account for the server; where several share it (one per
        // department, say), the one that lists this mailbox.
        let account = match &spec {
            SourceSpec::Imap(url) => {
                let on_server: Vec<&&mailhygiene::config::Account> = accounts
                    .iter()
                    .filter(|a| a.host.eq_ignore_ascii_case(&url.host) && a.port == url.port)
                    .collect();
                on_server
                    .iter()
                    .find(|a| {
                        a.all_mailboxes().is_ok_and(|m| {
                            m.iter().any(|m| m.address.eq_ignore_ascii_case(&url.user))
                        })
                    })
                    .or(on_server.first())
                    .map(|a| **a)
            }
            _ => None,
        };
        let credentials = account.map(&credentials_of).transpose()?;
        let mailbox = match (&spec, account) {
            (SourceSpec::Imap(url), Some(account)) => account.all_mailboxes().ok().and_then(|m| {
                m.into_iter()
                    .find(|m| m.address.eq_ignore_ascii_case(&url.user))
            }),
            _ => None,
        };
        named.push(NamedSource {
            given: given.clone(),
            spec,
            credentials,
            mailbox,
        });
    }
    Ok(named)
}

fn scan_command(args: &ScanArgs) -> Result<u8> {
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
    let (engine, ctx) = build_engine(options, KeyFile::CreateIfMissing)?;
    let imap = scan::ImapSettings {
        options: mailhygiene::imap::ImapOptions {
            allow_plaintext_loopback: args.allow_plaintext,
            initial_backoff: std::env::var("MAILHYGIENE_IMAP_BACKOFF_MS")
                .ok()
                .and_then(|v| v.parse().ok())
                .map(std::time::Duration::from_millis)
                .unwrap_or(mailhygiene::imap::ImapOptions::default().initial_backoff),
            metadata_only: args.stale_only,
            header_dates: args.stale_only && engine.rules.needs_sent_date(),
            connections_per_mailbox: args
                .connections_per_mailbox
                .or(config.as_ref().and_then(|c| c.connections_per_mailbox))
                .unwrap_or(mailhygiene::imap::ImapOptions::default().connections_per_mailbox),
            pace: args
                .pace
                .or(config.as_ref().and_then(|c| c.pace))
                .unwrap_or_default(),
            total_pace: args
                .total_pace
                .or(config.as_ref().and_then(|c| c.total_pace))
                .and_then(mailhygiene::imap::pace::Pacer::new)
                .map(std::sync::Arc::new),
            ..Default::default()
        },
        credentials: mailhygiene::imap::Credentials::from_env(),
        // A stale-only scan reads every message's metadata and must not move
        // the cursors of the content scan.
        full: args.full || args.stale_only,
        parallel_mailboxes: args
            .parallel
            .or(config.as_ref().and_then(|c| c.connections))
            .unwrap_or(4)
            .max(1),
    };
    if args
        .connections_per_mailbox
        .is_some_and(|n| !(1..=mailhygiene::config::MAX_CONNECTIONS_PER_MAILBOX).contains(&n))
    {
        return Err(usage(format!(
            "--connections-per-mailbox must be 1 to {}",
            mailhygiene::config::MAX_CONNECTIONS_PER_MAILBOX
        )));
    }
    if args.stale_only && named.iter().any(|s| !matches!(s.spec, SourceSpec::Imap(_))) {
        return Err(usage("--stale-only applies to IMAP sources"));
    }
    let (mut store, _lock) = if args.stale_only || args.no_state {
        (None, None)
    } else {
        let (mut store, lock) =
            open_store_locked(args.state.as_deref(), config.as_ref(), args.wait)?;
        store.set_audit_key(engine.audit_key());
        (Some(store), Some(lock))
    };
    if named
        .iter()
        .any(|s| matches!(s.spec, SourceSpec::Imap(_)) && s.credentials.is_none())
        && imap.credentials.is_none()
    {
        return Err(usage(
            "IMAP sources need MAILHYGIENE_IMAP_PASSWORD, MAILHYGIENE_IMAP_TOKEN, or an account in the configuration file",
        ));
    }
    if args.allow_plaintext {
        for s in &named {
            if let SourceSpec::Imap(url) = &s.spec
                && (url.security != mailhygiene::imap::Security::StartTls || !url.is_loopback())
            {
                return Err(usage(format!(
                    "--allow-plaintext applies to imap:// on a loopback address only, not {}",
                    s.given
                )));
            }
        }
    }
    let (threads, quiet) = (args.threads, args.quiet);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads.unwrap_or(0))
        .thread_name(|i| format!("mailhygiene-worker-{i}"))
        .build()
        .context("starting worker threads")?;
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
        if store_path(args.state.as_deref(), config.as_ref()).is_ok_and(|p| p.exists()) {
            let mut trail = open_store_read(args.state.as_deref(), config.as_ref())?;
            trail.set_audit_key(engine.audit_key());
            cases_cli::audit(
                &mut trail,
                "scan",
                None,
                serde_json::json!({
                    "one_off": true,
                    "stale_only": args.stale_only,
                    "sources": named.iter().map(|s| s.given.clone()).collect::<Vec<_>>(),
                    "messages_read": stats.messages,
                    "failed_sources": stats.failures.len(),
                }),
            )?;
        }
        return Ok(stats.exit_code() as u8);
    };
    check_fingerprint_key(store, &engine)?;
    for s in &named {
        store.register_mailbox(&mailbox_record(s))?;
    }
    let sources: Vec<String> = named.iter().map(|s| s.given.clone()).collect();
    // When this run reads every message of every mailbox (a first scan, or
    // --full), what it reads is the whole inventory: it is printed as it is
    // read, in the order the store would give, instead of read back after.
    let mut fresh = true;
    for s in &sources {
        fresh &= store.counts(s)?.0 == 0;
    }
    // Mailboxes scanned in parallel interleave as they are read: those are
    // read back from the store, mailbox by mailbox.
    let imap_sources = named
        .iter()
        .filter(|s| matches!(s.spec, SourceSpec::Imap(_)))
        .count();
    let stream = (fresh || args.full) && imap_sources <= 1;
    let ctx = report_context(
        ctx.as_of,
        ctx.min_confidence,
        args.all,
        &*store,
        &engine.rules,
    )?;
    let out = open_output(output.as_deref())?;
    let mut printer = report::printer(format, out, ctx);
    let run_id = store.begin_run(RunKind::Scan, as_of, chrono::Utc::now())?;
    let stats = scan::run(
        &engine,
        &named,
        &pool,
        stream.then_some(printer.as_mut()),
        progress,
        &imap,
        Some(scan::StateSink {
            store: &mut *store,
            run: run_id,
        }),
    )?;
    let now = chrono::Utc::now();
    for s in &named {
        let failure = stats.failures.iter().find(|(f, _)| f == &s.given);
        let status = if failure.is_some() {
            "failed"
        } else {
            "complete"
        };
        store.mailbox_scanned(&s.given, now, status, failure.map(|(_, e)| e.as_str()))?;
    }
    let status = if stats.exit_code() == 0 {
        "complete"
    } else {
        "incomplete"
    };
    store.finish_run(run_id, now, status, stats.messages)?;
    // The compliance history: a snapshot per mailbox, the deviation
    // register. A stale-only scan reads no content: it would count no
    // sensitive data at all, so it leaves the history alone.
    if !args.stale_only {
        let records = store.mailboxes()?;
        let scanned: Vec<(String, Option<String>, &str)> = named
            .iter()
            .map(|s| {
                let failed = stats.failures.iter().any(|(f, _)| f == &s.given);
                let address = records
                    .iter()
                    .find(|m| m.source == s.given)
                    .and_then(|m| m.address.clone());
                let status = if failed { "failed" } else { "complete" };
                (s.given.clone(), address, status)
            })
            .collect();
        let scanned: Vec<mailhygiene::history::Scanned<'_>> = scanned
            .iter()
            .map(|(source, address, status)| mailhygiene::history::Scanned {
                source,
                address: address.as_deref(),
                status,
            })
            .collect();
        mailhygiene::history::record(
            &mut *store,
            run_id,
            &scanned,
            &engine.rules,
            as_of,
            &now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            args.full,
            config
                .as_ref()
                .and_then(|c| c.keep_years)
                .unwrap_or(mailhygiene::history::KEEP_YEARS),
        )?;
    }
    cases_cli::audit(
        &mut *store,
        "scan",
        None,
        serde_json::json!({
            "run": run_id,
            "sources": sources,
            "as_of": as_of.to_string(),
            "messages_read": stats.messages,
            "status": status,
            "failed_sources": stats.failures.len(),
        }),
    )?;
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
            &*store,
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

/// Fingerprints in one store must come from one key, or the same value
/// would look like two. The store keeps a check value (a fingerprint of a
/// fixed text, which reveals nothing about the key) and refuses another key.
fn check_fingerprint_key(store: &mut SqliteStore, engine: &Engine) -> Result<()> {
    if same_fingerprint_key(store, &engine.detectors.fingerprinter)? {
        return Ok(());
    }
    let check = engine
        .detectors
        .fingerprinter
        .fingerprint("mailhygiene fingerprint key check");
    Ok(store.set_setting(FINGERPRINT_KEY_CHECK, &check)?)
}

const FINGERPRINT_KEY_CHECK: &str = "fingerprint_key_check";

/// Whether the store's fingerprints were made with this key: `Ok(true)`
/// when they were, `Ok(false)` when the store has none yet, an error
/// naming the problem when another key made them.
fn same_fingerprint_key(store: &dyn Store, fingerprinter: &Fingerprinter) -> Result<bool> {
    let check = fingerprinter.fingerprint("mailhygiene fingerprint key check");
    match store.setting(FINGERPRINT_KEY_CHECK)? {
        Some(stored) if stored != check => Err(usage(format!(
            "the state database {} holds fingerprints made with another fingerprint key; \
             scan with that key, or give a new --state",
            store.location()
        ))),
        Some(_) => Ok(true),
        None => Ok(false),
    }
}

/// What the store keeps about a mailbox besides its messages: its owner
/// (from the configuration) and address (the configuration's, or an IMAP
/// user that is one).
fn mailbox_record(source: &NamedSource) -> MailboxRecord {
    let address = match (&source.mailbox, &source.spec) {
        (Some(m), _) => Some(m.address.clone()),
        (None, SourceSpec::Imap(url)) if url.user.contains('@') => Some(url.user.clone()),
        _ => None,
    };
    MailboxRecord {
        source: source.given.clone(),
        address,
        owner: source.mailbox.as_ref().and_then(|m| m.owner.clone()),
        department: source.mailbox.as_ref().and_then(|m| m.department.clone()),
        ..MailboxRecord::default()
    }
}

/// What a report needs besides the messages: who owns each mailbox (from
/// the store) and each rule in words.
fn report_context(
    as_of: NaiveDate,
    min_confidence: f32,
    list_all: bool,
    store: &dyn Store,
    rules: &RuleSet,
) -> Result<ReportContext> {
    Ok(ReportContext {
        as_of,
        min_confidence,
        list_all,
        mailboxes: store
            .mailboxes()?
            .into_iter()
            .map(|m| {
                (
                    m.source,
                    report::MailboxName {
                        owner: m.owner,
                        address: m.address,
                        not_mail: m.not_mail,
                        waited: m.waited,
                    },
                )
            })
            .collect(),
        rules: rules
            .rules
            .iter()
            .map(|r| (r.id.clone(), r.description.clone()))
            .collect(),
    })
}

/// The state database: `--state`, else the config's `store`, else the
/// default path.
fn store_path(explicit: Option<&Path>, config: Option<&Config>) -> Result<PathBuf> {
    match explicit
        .map(Path::to_path_buf)
        .or(config.and_then(|c| c.store.clone()))
    {
        Some(p) => Ok(p),
        None => default_state_path(),
    }
}

/// The store for a command that only reads it (no run lock).
fn open_store_read(explicit: Option<&Path>, config: Option<&Config>) -> Result<SqliteStore> {
    let path = store_path(explicit, config)?;
    if !path.exists() {
        return Err(usage(format!("no store at {}: scan first", path.display())));
    }
    let mut store = SqliteStore::open(&path).map_err(|e| usage(e.to_string()))?;
    give_audit_key(&mut store, config);
    Ok(store)
}

/// Gives the store the key its audit chain is made with, when the
/// installation's key can be read (a command that then appends to the
/// trail without it is refused, naming the key).
fn give_audit_key(store: &mut SqliteStore, config: Option<&Config>) {
    let explicit = config.and_then(|c| c.fingerprint_key_file.as_deref());
    if let Ok(fingerprinter) = load_fingerprinter(explicit, KeyFile::MustExist) {
        store.set_audit_key(fingerprinter.audit_key());
    }
    if let Some(anchor) = config.and_then(|c| c.audit_anchor.clone()) {
        store.set_audit_anchor(anchor);
    }
}

/// The store for a run that writes to it, with the run lock held: two runs
/// never overlap on one store. The second waits (`--wait`) or stops with
/// a message saying which run holds it.
fn open_store_locked(
    explicit: Option<&Path>,
    config: Option<&Config>,
    wait: bool,
) -> Result<(SqliteStore, mailhygiene::store::sqlite::RunLock)> {
    let path = store_path(explicit, config)?;
    let lock = mailhygiene::store::sqlite::RunLock::acquire(&path, wait)?;
    let mut store = SqliteStore::open(&path).map_err(|e| usage(e.to_string()))?;
    give_audit_key(&mut store, config);
    Ok((store, lock))
}

fn report_command(args: &ReportArgs) -> Result<u8> {
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
    let path = store_path(args.state.as_deref(), config.as_ref())?;
    if !path.exists() {
        return Err(usage(format!(
            "no state database at {}: scan a mailbox first (or give --state FILE)",
            path.display()
        )));
    }
    let store = SqliteStore::open(&path).map_err(|e| usage(e.to_string()))?;
    if args.compliance {
        return compliance_report(args, &store, &rules, as_of, config.as_ref());
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
    let ctx = report_context(as_of, args.render.min_confidence, args.all, &store, &rules)?;
    let out = open_output(args.render.output.as_deref())?;
    let mut printer = report::printer(args.render.format, out, ctx);
    let rendered =
        mailhygiene::inventory::print(&store, &sources, &rules, as_of, None, printer.as_mut())?;
    Ok(rendered.exit_code())
}

/// `report --compliance`: from the store alone, never a mailbox connection.
fn compliance_report(
    args: &ReportArgs,
    store: &SqliteStore,
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
            &mut trail,
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
fn deliver_compliance(
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

/// The SMTP server of `--smtp`: a URL, or `account:NAME` for a configured
/// account's own (its cloud's SMTP host and its credentials), sending as
/// the address in `from`.
fn smtp_settings(arg: &str, from: &str, config: Option<&Config>) -> Result<SmtpSettings> {
    let Some(name) = arg.strip_prefix("account:") else {
        return SmtpSettings::parse(arg).map_err(usage);
    };
    let account = config
        .and_then(|c| c.accounts.iter().find(|a| a.name == name))
        .ok_or_else(|| {
            usage(format!(
                "--smtp {arg}: no account named {name} in the configuration"
            ))
        })?;
    let address = match (from.rfind('<'), from.ends_with('>')) {
        (Some(open), true) => &from[open + 1..from.len() - 1],
        _ => from,
    };
    SmtpSettings::for_account(account, address.trim()).map_err(|e| anyhow::anyhow!(e))
}

/// IMAP settings for commands that connect (scan, clean, undo, remind).
fn imap_options(allow_plaintext: bool) -> mailhygiene::imap::ImapOptions {
    mailhygiene::imap::ImapOptions {
        allow_plaintext_loopback: allow_plaintext,
        initial_backoff: std::env::var("MAILHYGIENE_IMAP_BACKOFF_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(std::time::Duration::from_millis)
            .unwrap_or(mailhygiene::imap::ImapOptions::default().initial_backoff),
        ..Default::default()
    }
}

/// The edge that moves messages of one source.
fn open_mover(
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
struct ChangeContext<'w> {
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

fn change_context(args: &ChangeArgs) -> Result<ChangeContext<'static>> {
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

fn clean_command(args: &CleanArgs) -> Result<u8> {
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
fn begin_change_run(cx: &mut ChangeContext<'_>, kind: RunKind) -> Result<i64> {
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
fn same_store_args(change: &ChangeArgs) -> String {
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
fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn planned_record(source: &str, p: &Planned) -> mailhygiene::actions::MoveRecord {
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

fn finish_change(
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

fn undo_command(args: &UndoArgs) -> Result<u8> {
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

fn runs_command(args: &RunsArgs) -> Result<u8> {
    let config = load_config(args.config.as_deref())?.map(|(_, c)| c);
    let store = open_store_read(args.state.as_deref(), config.as_ref())?;
    let runs = store.run_summaries(&[RunKind::Clean, RunKind::Undo])?;
    let mut out = io::stdout().lock();
    mailhygiene::actions::runs::write_runs(&runs, args.format, &mut out)?;
    Ok(0)
}

/// The reminder templates: the shipped ones, replaced by those in the rules
/// directory's `templates/`.
fn load_templates(rules_dir: Option<&Path>) -> Result<Templates> {
    let dir = rules_dir.map(|d| d.join("templates"));
    Templates::load(dir.as_deref()).map_err(|errors| {
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        usage(format!(
            "invalid reminder templates:\n{}",
            listed.join("\n")
        ))
    })
}

/// One reminder record (the contract's `reminder` record).
#[derive(serde::Serialize)]
struct ReminderOut<'a> {
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

fn remind_command(args: &RemindArgs) -> Result<u8> {
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
        if prior.as_ref().is_some_and(|p| p.status == "delivered") && !args.again {
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
        if prior.as_ref().is_some_and(|p| p.status == "sending")
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
            status: "sending".into(),
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
                entry.status = "delivered".into();
                entry.at = chrono::Utc::now().to_rfc3339();
                store.record_reminder(&entry)?;
                let status = match result {
                    deliver::Outcome::Delivered => "delivered",
                    deliver::Outcome::AlreadyThere => "already_sent",
                };
                emit(status, &rendered.subject, "")?;
            }
            Err(e) => {
                entry.status = "failed".into();
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

fn check_command(file: &str, options: &ScanOptions) -> Result<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every mailhygiene command in the shipped systemd units and cron
    /// example parses: a renamed option must not break scheduled runs.
    #[test]
    fn the_shipped_schedules_use_commands_that_exist() {
        let files = [
            include_str!("../contrib/systemd/mailhygiene-monthly.service"),
            include_str!("../contrib/systemd/mailhygiene-remind.service"),
            include_str!("../contrib/cron/mailhygiene"),
        ];
        let mut checked = 0;
        for text in files {
            let joined = text.replace("\\\n", " ");
            for part in joined.split("/usr/local/bin/mailhygiene ").skip(1) {
                let command = part
                    .split([';', '\'', '\n'])
                    .next()
                    .unwrap_or_default()
                    .split("||")
                    .next()
                    .unwrap_or_default();
                let args: Vec<&str> = std::iter::once("mailhygiene")
                    .chain(command.split_whitespace())
                    .collect();
                if let Err(e) = Cli::try_parse_from(&args) {
                    panic!("{args:?}: {e}");
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 7);
    }
}
