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
use mailhygiene::actions::clean::Filter;
use mailhygiene::actions::movers::{ImapMover, MaildirMover, Mover};
use mailhygiene::actions::{ActionFormat, MovePrinter};
use mailhygiene::config::Config;
use mailhygiene::deliver::{self, Delivery, SmtpSettings};
use mailhygiene::detect::identifiers::Rule2032;
use mailhygiene::engine::{Engine, EngineSettings};
use mailhygiene::fingerprint::Fingerprinter;
use mailhygiene::model::MessageMeta;
use mailhygiene::remind::{Lang, Templates};
use mailhygiene::report::{self, Format, ReportContext};
use mailhygiene::rules::{RuleError, RuleSet};
use mailhygiene::scan::{self, NamedSource, Progress, Silent};
use mailhygiene::source::SourceSpec;
use mailhygiene::store::{Lock, RunKind, Store, StoreUrl};
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
    /// Where the state lives, for any command: sqlite:PATH (`--state FILE` is sqlite:FILE); else MAILHYGIENE_STORE, the config's `store`, the default file.
    #[arg(long, value_name = "URL", global = true)]
    store: Option<String>,
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
    /// The language of the text and Markdown reports (nb, nn, en); default: the
    /// config's `language`, else the locale, else English.
    #[arg(long, value_enum)]
    lang: Option<Lang>,
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

/// How a scan connects and how much it does at once.
#[derive(clap::Args, Debug, Clone)]
struct Connections {
    /// Worker threads; default: one per core.
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// No progress bar, even on a terminal.
    #[arg(long, short)]
    quiet: bool,
    /// Allow imap:// without TLS, to a loopback address only (tests, local bridges).
    #[arg(long)]
    allow_plaintext: bool,
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
}

#[derive(clap::Args, Debug)]
struct ScanArgs {
    /// What to scan; with a configuration file and no sources, every mailbox of its accounts.
    #[arg(value_name = "SOURCE")]
    sources: Vec<String>,
    #[command(flatten)]
    options: ScanOptions,
    #[command(flatten)]
    connections: Connections,
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
    /// Queue the scan in a shared PostgreSQL store, one job per mailbox, for
    /// `mailhygiene worker` processes on any host; prints the run's id.
    #[arg(long, conflicts_with_all = ["no_state", "stale_only", "changes_only", "all"])]
    enqueue: bool,
}

#[derive(clap::Args, Debug)]
struct WorkerArgs {
    /// Configuration file (the mailboxes jobs name, their accounts, rules, key).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// How long a job is held without renewal (renewed at a third of it): 90s, 5m;
    /// default: the config's limits.lease, else 5m.
    #[arg(long, value_name = "DURATION", value_parser = mailhygiene::config::parse_lease)]
    lease: Option<std::time::Duration>,
    /// Stop when no job is queued or held, instead of waiting for more.
    #[arg(long)]
    until_idle: bool,
    /// File with the fingerprint secret; default: the config's, else MAILHYGIENE_FINGERPRINT_KEY.
    #[arg(long, value_name = "FILE")]
    fingerprint_key_file: Option<PathBuf>,
    #[command(flatten)]
    connections: Connections,
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
    /// `--as-of`, `--rules`, `--allow-plaintext` and the job's flags, as
    /// for the commands that change no mailbox.
    #[command(flatten)]
    case: cases_cli::CaseArgs,
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
    /// The reminder's language (nb, nn, en); default: the config's `language`, else the locale, else English.
    #[arg(long, value_enum)]
    lang: Option<Lang>,
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
    /// Take queued scan jobs from a shared PostgreSQL store (see `scan --enqueue`).
    Worker(WorkerArgs),
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
    /// Work with the fingerprint key.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
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
enum KeyCommand {
    /// Make a new random fingerprint key (private, never replacing one).
    Create {
        /// Where; default: $XDG_CONFIG_HOME/mailhygiene/fingerprint.key.
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Validate a rules directory; errors name file, line and key. Every
    /// rule must say why in the configuration's `language`.
    Check {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        /// Configuration file (its `language`); default: $XDG_CONFIG_HOME/mailhygiene/config.toml when it exists.
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
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

mod cli;

use cli::cases as cases_cli;
use cli::change::*;
use cli::common::*;
use cli::config as config_cli;
use cli::remind::*;
use cli::report::*;
use cli::scan::*;
use cli::worker as worker_cli;

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
    if let Some(url) = &cli.store {
        let url = StoreUrl::parse(url).map_err(|e| usage(format!("--store: {e}")))?;
        let _ = STORE_FLAG.set(url);
        let _ = STORE_GIVEN.set(cli.store.clone().unwrap_or_default());
    }
    match cli.command {
        Command::Scan(args) => scan_command(&args),
        Command::Worker(args) => worker_cli::worker_command(&args),
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
        Command::Key {
            command: KeyCommand::Create { file },
        } => config_cli::key_create_command(file.as_deref()),
        Command::Rules {
            command: RulesCommand::Check { dir, config },
        } => {
            let rules = load_rules(Some(&dir))?;
            load_templates(Some(&dir))?;
            let config = load_config(config.as_deref())?.map(|(_, c)| c);
            if let Some(lang) = config.as_ref().and_then(|c| c.language) {
                let silent: Vec<String> = rules
                    .rules
                    .iter()
                    .filter(|r| r.description_in(lang).is_none())
                    .map(|r| format!("{} ({})", r.id, r.origin))
                    .collect();
                if !silent.is_empty() {
                    return Err(usage(format!(
                        "{}: the configuration's language is {}, and these rules do not say why in it (add description_{}): {}",
                        dir.display(),
                        lang.code(),
                        lang.code(),
                        silent.join(", ")
                    )));
                }
            }
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
            include_str!("../contrib/systemd/mailhygiene-worker@.service"),
            include_str!("../contrib/systemd/mailhygiene-enqueue.service"),
            include_str!("../contrib/kubernetes/mailhygiene-workers.yaml"),
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
        assert_eq!(checked, 11);
    }
}
