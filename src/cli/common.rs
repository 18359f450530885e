//! What every command shares: keys, configuration, rules, stores and
//! output files, resolved the same way everywhere.

use crate::*;

pub(crate) fn parse_as_of(as_of: Option<&str>) -> Result<NaiveDate> {
    match as_of {
        Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| usage(format!("--as-of `{s}`: expected a date as YYYY-MM-DD"))),
        None => Ok(chrono::Local::now().date_naive()),
    }
}

pub(crate) fn load_rules(dir: Option<&Path>) -> Result<RuleSet> {
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
pub(crate) enum KeyFile {
    CreateIfMissing,
    MustExist,
}

pub(crate) fn load_fingerprinter(
    explicit: Option<&Path>,
    missing: KeyFile,
) -> Result<Fingerprinter> {
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

pub(crate) fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    let content = std::fs::read(path).map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                ": make one with `mailhygiene key create --file {}` (or correct fingerprint_key_file)",
                path.display()
            )
        } else {
            String::new()
        };
        usage(format!(
            "cannot read fingerprint key {}: {e}{hint}",
            path.display()
        ))
    })?;
    Ok(content.trim_ascii().to_vec())
}

/// `$VAR/mailhygiene/FILE`, or under `$HOME/HOME_DEFAULT` (the XDG base
/// directory rule); `hint` tells what to do when neither is set.
pub(crate) fn xdg_file(var: &str, home_default: &str, file: &str, hint: &str) -> Result<PathBuf> {
    let base = std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(home_default)))
        .ok_or_else(|| usage(format!("no HOME or {var}: {hint}")))?;
    Ok(base.join("mailhygiene").join(file))
}

pub(crate) fn default_state_path() -> Result<PathBuf> {
    xdg_file(
        "XDG_STATE_HOME",
        ".local/state",
        "state.sqlite",
        "give --state FILE",
    )
}

pub(crate) fn default_key_path() -> Result<PathBuf> {
    xdg_file(
        "XDG_CONFIG_HOME",
        ".config",
        "fingerprint.key",
        "set MAILHYGIENE_FINGERPRINT_KEY",
    )
}

pub(crate) fn create_key_file(path: &Path) -> Result<Vec<u8>> {
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

pub(crate) fn open_output(path: Option<&Path>) -> Result<Box<dyn Write>> {
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

pub(crate) fn load_config(explicit: Option<&Path>) -> Result<Option<(PathBuf, Config)>> {
    let named = std::env::var_os("MAILHYGIENE_CONFIG").filter(|v| !v.is_empty());
    let path = match (explicit, named) {
        (Some(p), _) => p.to_path_buf(),
        // Named in the environment: it must be there, as --config's.
        (None, Some(p)) => {
            let p = PathBuf::from(p);
            if !p.exists() {
                return Err(usage(format!(
                    "MAILHYGIENE_CONFIG names {}, which does not exist",
                    p.display()
                )));
            }
            p
        }
        (None, None) => {
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

/// Sources as given (with their account's credentials and owner), else
/// every mailbox of the configured accounts (or of one account).
pub(crate) fn resolve_sources(
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
                mailhygiene::config::account_for(accounts.iter().copied(), url)
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

/// Whether the store's fingerprints were made with this key (see
/// [`mailhygiene::scan::stateful::same_fingerprint_key`]); another key is a
/// usage error.
pub(crate) fn same_fingerprint_key(
    store: &dyn Store,
    fingerprinter: &Fingerprinter,
) -> Result<bool> {
    mailhygiene::scan::stateful::same_fingerprint_key(store, fingerprinter)
        .map_err(crate::stateful_error)
}

/// `--store URL`, given to any command (set once, before it runs).
pub(crate) static STORE_FLAG: std::sync::OnceLock<StoreUrl> = std::sync::OnceLock::new();
/// `--store` as it was written (a printed hint repeats it as given: the
/// parsed URL drops `?sslrootcert=` and a socket directory's encoding).
pub(crate) static STORE_GIVEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Where the state lives: `--store URL` or `--state FILE` (that is
/// `sqlite:FILE`), else
/// `MAILHYGIENE_STORE`, else the config's `store`, else the default file.
pub(crate) fn store_url(explicit: Option<&Path>, config: Option<&Config>) -> Result<StoreUrl> {
    match (explicit, STORE_FLAG.get()) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "--state FILE and --store URL name the store twice: give one",
            ));
        }
        (Some(path), None) => return Ok(StoreUrl::Sqlite(path.to_path_buf())),
        (None, Some(url)) => return Ok(url.clone()),
        (None, None) => {}
    }
    if let Ok(url) = std::env::var("MAILHYGIENE_STORE")
        && !url.trim().is_empty()
    {
        return StoreUrl::parse(&url).map_err(|e| usage(format!("MAILHYGIENE_STORE: {e}")));
    }
    if let Some(store) = config.and_then(|c| c.store.clone()) {
        return StoreUrl::parse(&store.to_string_lossy())
            .map_err(|e| usage(format!("store in the configuration: {e}")));
    }
    Ok(StoreUrl::Sqlite(default_state_path()?))
}

pub(crate) fn open_options(
    url: &StoreUrl,
    config: Option<&Config>,
    lock: Lock,
) -> mailhygiene::store::OpenOptions {
    // A shared database has no file beside it for the anchor log: each
    // host keeps one in its state directory (lines name their store), unless
    // the configuration says where.
    let anchor = config.and_then(|c| c.audit_anchor.clone()).or_else(|| {
        matches!(url, StoreUrl::Postgres(_))
            .then(default_state_path)
            .and_then(Result::ok)
            .map(|p| p.with_file_name("audit-anchor.log"))
    });
    mailhygiene::store::OpenOptions {
        lock,
        audit_anchor: anchor,
        password: config.map(|c| c.store_password.clone()).unwrap_or_default(),
    }
}

/// The language a command writes in for people: `--lang`, else the
/// configuration's `language`, else the locale, else English.
pub(crate) fn language(asked: Option<Lang>, config: Option<&Config>) -> Lang {
    let locale: Vec<Option<String>> = ["LC_ALL", "LC_MESSAGES", "LANG"]
        .iter()
        .map(|v| std::env::var(v).ok())
        .collect();
    Lang::choose(asked, config.and_then(|c| c.language), &locale)
}

/// The shared PostgreSQL store of `scan --enqueue` and `worker`, with its
/// connector and how it was opened (for further sessions).
pub(crate) fn open_shared(
    url: &StoreUrl,
    config: Option<&Config>,
) -> Result<(
    mailhygiene::store::postgres::PostgresStore,
    mailhygiene::store::postgres::Connector,
)> {
    mailhygiene::store::open_shared(url, &open_options(url, config, Lock::Reading))
        .map_err(|e| usage(e.to_string()))
}

/// The store for a command that only reads it (no run lock).
pub(crate) fn open_store_read(
    explicit: Option<&Path>,
    config: Option<&Config>,
) -> Result<Box<dyn Store>> {
    let url = store_url(explicit, config)?;
    if !url.exists() {
        return Err(usage(format!("no store at {url}: scan first")));
    }
    let (mut store, _) = mailhygiene::store::open(&url, &open_options(&url, config, Lock::Reading))
        .map_err(|e| usage(e.to_string()))?;
    give_audit_key(store.as_mut(), config);
    Ok(store)
}

/// Gives the store the key its audit chain is made with, when the
/// installation's key can be read (a command that then appends to the
/// trail without it is refused, naming the key).
pub(crate) fn give_audit_key(store: &mut dyn Store, config: Option<&Config>) {
    let explicit = config.and_then(|c| c.fingerprint_key_file.as_deref());
    if let Ok(fingerprinter) = load_fingerprinter(explicit, KeyFile::MustExist) {
        store.set_audit_key(fingerprinter.audit_key());
    }
}

/// The store for a run that writes to it, with the run lock held: two runs
/// never overlap on one store. The second waits (`--wait`) or stops with
/// a message saying which run holds it.
pub(crate) fn open_store_locked(
    explicit: Option<&Path>,
    config: Option<&Config>,
    wait: bool,
) -> Result<(Box<dyn Store>, mailhygiene::store::RunGuard)> {
    open_store_with(explicit, config, Lock::Store { wait })
}

/// The store for a run that changes mailboxes and holds each one it
/// changes (`hold_mailboxes`): on a shared store, runs of other mailboxes
/// go on beside it; on a SQLite file it is [`open_store_locked`].
pub(crate) fn open_store_for_mailboxes(
    explicit: Option<&Path>,
    config: Option<&Config>,
    wait: bool,
) -> Result<(Box<dyn Store>, mailhygiene::store::RunGuard)> {
    open_store_with(explicit, config, Lock::Mailboxes { wait })
}

fn open_store_with(
    explicit: Option<&Path>,
    config: Option<&Config>,
    lock: Lock,
) -> Result<(Box<dyn Store>, mailhygiene::store::RunGuard)> {
    let url = store_url(explicit, config)?;
    let (mut store, guard) = mailhygiene::store::open(&url, &open_options(&url, config, lock))
        .map_err(|e| match e {
            e @ mailhygiene::store::StoreError::Busy { .. } => anyhow::Error::new(e),
            other => usage(other.to_string()),
        })?;
    give_audit_key(store.as_mut(), config);
    let guard = guard.ok_or_else(|| anyhow::anyhow!("the store gave no run lock"))?;
    Ok((store, guard))
}

/// Holds the mailboxes a command is about to change against every other
/// writer of them (see `Runs::hold_mailboxes`); busy is said as the run
/// lock says it.
pub(crate) fn hold_mailboxes(
    store: &mut dyn Store,
    sources: &[String],
    wait: bool,
) -> Result<mailhygiene::store::Held> {
    mailhygiene::store::hold(store, sources, wait).map_err(|e| match e {
        e @ mailhygiene::store::StoreError::Busy { .. } => anyhow::Error::new(e),
        other => usage(other.to_string()),
    })
}

/// The SMTP server of `--smtp`: a URL, or `account:NAME` for a configured
/// account's own (its cloud's SMTP host and its credentials), sending as
/// the address in `from`.
pub(crate) fn smtp_settings(
    arg: &str,
    from: &str,
    config: Option<&Config>,
) -> Result<SmtpSettings> {
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
pub(crate) fn imap_options(allow_plaintext: bool) -> mailhygiene::imap::ImapOptions {
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

/// The reminder templates: the shipped ones, replaced by those in the rules
/// directory's `templates/`.
pub(crate) fn load_templates(rules_dir: Option<&Path>) -> Result<Templates> {
    let dir = rules_dir.map(|d| d.join("templates"));
    Templates::load(dir.as_deref()).map_err(|errors| {
        let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
        usage(format!(
            "invalid reminder templates:\n{}",
            listed.join("\n")
        ))
    })
}

/// What every job that opens the state database for a run takes: where
/// the state and configuration are, whether to wait for another run, and
/// where and how the records are written. Flattened into the change,
/// case, copy and search arguments so the flags read and resolve the same
/// everywhere.
#[derive(clap::Args, Debug)]
pub(crate) struct JobArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = ActionFormat::Text)]
    pub(crate) format: ActionFormat,
    /// Write the records here instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// The state database; default: the config's `store`, else $XDG_STATE_HOME/mailhygiene/state.sqlite.
    #[arg(long, value_name = "FILE")]
    pub(crate) state: Option<PathBuf>,
    /// Configuration file; default: $XDG_CONFIG_HOME/mailhygiene/config.toml when it exists.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// When another run holds the state database, wait for it instead of stopping.
    #[arg(long)]
    pub(crate) wait: bool,
}

impl JobArgs {
    /// The configuration of `--config`, or the default one when it exists.
    pub(crate) fn load_config(&self) -> Result<Option<Config>> {
        Ok(load_config(self.config.as_deref())?.map(|(_, c)| c))
    }

    /// The store of `--state` (or the config's), with the run lock held.
    pub(crate) fn open_store_locked(
        &self,
        config: Option<&Config>,
    ) -> Result<(Box<dyn Store>, mailhygiene::store::RunGuard)> {
        open_store_locked(self.state.as_deref(), config, self.wait)
    }

    /// The store of `--state` (or the config's) for a command that holds
    /// each mailbox it changes (see [`open_store_for_mailboxes`]).
    pub(crate) fn open_store_for_mailboxes(
        &self,
        config: Option<&Config>,
    ) -> Result<(Box<dyn Store>, mailhygiene::store::RunGuard)> {
        open_store_for_mailboxes(self.state.as_deref(), config, self.wait)
    }

    /// Where the records go: `--output`, else standard output.
    pub(crate) fn open_output(&self) -> Result<Box<dyn Write>> {
        open_output(self.output.as_deref())
    }
}
