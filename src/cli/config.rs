//! `mailhygiene config check [--online]`: what an administrator runs after
//! writing the configuration and setting up the app registration. Offline
//! it validates the file and that each secret can be read; online it signs
//! in to every mailbox as a scan would, opens INBOX read-only and says, per
//! mailbox, whether a scan would work, and if not, why in plain words.

use crate::{Result, imap_options, load_config, usage};
use mailhygiene::config::{Account, AccountAuth};
use mailhygiene::imap::{Credentials, ImapError, Probe};
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    #[arg(value_name = "FILE")]
    file: Option<PathBuf>,
    /// Also sign in to every mailbox and open its INBOX read-only (EXAMINE).
    #[arg(long)]
    online: bool,
    /// Allow plain imap:// to a loopback address (test servers only).
    #[arg(long)]
    allow_plaintext: bool,
}

pub fn check_command(args: &CheckArgs) -> Result<u8> {
    let Some((path, config)) = load_config(args.file.as_deref())? else {
        return Err(usage(
            "no configuration file: give one, set MAILHYGIENE_CONFIG, or create $XDG_CONFIG_HOME/mailhygiene/config.toml",
        ));
    };
    let mut problems = Vec::new();
    let mut out = std::io::stdout().lock();
    match key_status(config.fingerprint_key_file.as_deref()) {
        Ok(said) => writeln!(out, "{said}")?,
        Err(e) => problems.push(e),
    }
    for account in &config.accounts {
        if let Err(e) = account.check_secret() {
            problems.push(format!("account {}: {e}", account.name));
        }
        match account.all_mailboxes() {
            Ok(m) => writeln!(out, "{}", describe(account, m.len()))?,
            Err(e) => problems.push(format!("account {}: {e}", account.name)),
        }
    }
    if !problems.is_empty() {
        return Err(usage(problems.join("\n")));
    }
    if !args.online {
        writeln!(out, "{}: OK", path.display())?;
        return Ok(0);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut options = imap_options(args.allow_plaintext);
    // A check answers in seconds: a fault is reported, not waited out.
    options.max_retries = 1;
    options.timeout = std::time::Duration::from_secs(30);
    let (mut working, mut failing) = (0usize, 0usize);
    for account in &config.accounts {
        let mailboxes = account.all_mailboxes().unwrap_or_default();
        // One token serves every mailbox of an app: a sign-in error is the
        // account's, said once.
        let credentials = match signed_in(account) {
            Ok(c) => c,
            Err(why) => {
                writeln!(out, "  FAIL  account {}: {why}", account.name)?;
                failing += mailboxes.len();
                continue;
            }
        };
        for mailbox in &mailboxes {
            let url = account.url(&mailbox.address);
            let probe = mailhygiene::imap::run_guarded(&runtime, async {
                mailhygiene::imap::probe(&url, &credentials, &options).await
            });
            match probe {
                Ok(p) => {
                    working += 1;
                    writeln!(out, "  ok    {}: {}", mailbox.address, works(&p))?;
                }
                Err(e) => {
                    failing += 1;
                    writeln!(out, "  FAIL  {}: {}", mailbox.address, fails(&e))?;
                }
            }
        }
    }
    writeln!(
        out,
        "{}: {working} mailbox{} would scan, {failing} would not",
        path.display(),
        if working == 1 { "" } else { "es" }
    )?;
    Ok(if failing == 0 { 0 } else { 1 })
}

/// One line per account: where it connects and how it signs in.
fn describe(account: &Account, mailboxes: usize) -> String {
    let how = match &account.auth {
        AccountAuth::Password(_) => "password".to_string(),
        AccountAuth::Token(_) => "a ready OAuth2 token".to_string(),
        AccountAuth::ClientCredentials { authority, .. }
        | AccountAuth::ClientCertificate { authority, .. } => {
            format!("app-only OAuth2 at {authority}")
        }
        AccountAuth::DeviceCode { authority, .. } => {
            format!("delegated OAuth2 (device code) at {authority}")
        }
    };
    let mut line = format!(
        "account {}: {mailboxes} mailbox{} on {}:{}, {how}",
        account.name,
        if mailboxes == 1 { "" } else { "es" },
        account.host,
        account.port
    );
    if let Some(cloud) = account.cloud {
        line.push_str(&format!(", {cloud} cloud"));
    }
    if let Some(smtp) = &account.smtp_host {
        line.push_str(&format!("; SMTP {smtp}:587"));
    }
    line
}

/// The account's credentials with a token already fetched, so a refused
/// sign-in at the identity platform is told apart from a refused mailbox.
fn signed_in(account: &Account) -> std::result::Result<Credentials, String> {
    let credentials = account.credentials()?;
    if let Credentials::OAuth(provider) = &credentials {
        provider
            .token()
            .map_err(|e| format!("no access token: {e}"))?;
    }
    Ok(credentials)
}

fn works(p: &Probe) -> String {
    let cleanup = if p.moves {
        "clean and undo move with MOVE"
    } else if p.uidplus {
        "clean and undo copy and expunge (no MOVE)"
    } else {
        "clean cannot move here (neither MOVE nor UIDPLUS)"
    };
    format!(
        "signed in, INBOX opened read-only ({} message{}); {cleanup}",
        p.inbox_messages,
        if p.inbox_messages == 1 { "" } else { "s" }
    )
}

/// A failure as the administrator needs it: what it means and what to do.
fn fails(e: &ImapError) -> String {
    match e {
        ImapError::Throttled(_) | ImapError::ThrottledTooLong(_) => format!(
            "{e} (Exchange throttles per mailbox and per app; a scan waits and resumes, a check does not)"
        ),
        _ => e.to_string(),
    }
}

/// Where the fingerprint key comes from, checked as a scan would use it: a
/// configured file must be there, readable, private and a usable key.
fn key_status(configured: Option<&std::path::Path>) -> std::result::Result<String, String> {
    if std::env::var_os("MAILHYGIENE_FINGERPRINT_KEY").is_some() {
        return Ok("fingerprint key: from MAILHYGIENE_FINGERPRINT_KEY".into());
    }
    let Some(path) = configured else {
        return Ok(match crate::default_key_path() {
            Ok(p) if p.exists() => format!("fingerprint key: {}", p.display()),
            Ok(p) => format!(
                "fingerprint key: none yet; the first scan makes one at {} (or run `mailhygiene key create`)",
                p.display()
            ),
            Err(e) => format!("fingerprint key: {e}"),
        });
    };
    let fix = format!(
        "make one with `mailhygiene key create --file {}`, or correct fingerprint_key_file",
        path.display()
    );
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("fingerprint_key_file {}: {e}: {fix}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "fingerprint_key_file {}: others can read it (mode {:o}): chmod 600 it",
                path.display(),
                meta.permissions().mode() & 0o777
            ));
        }
    }
    let key = std::fs::read(path)
        .map_err(|e| format!("fingerprint_key_file {}: {e}: {fix}", path.display()))?;
    mailhygiene::fingerprint::Fingerprinter::new(key.trim_ascii())
        .map_err(|e| format!("fingerprint_key_file {}: {e}: {fix}", path.display()))?;
    Ok(format!("fingerprint key: {}", path.display()))
}

/// `mailhygiene key create [--file FILE]`: a new random fingerprint key,
/// private from the moment it exists; an existing key is never replaced
/// (fingerprints made with another key do not match).
pub fn key_create_command(file: Option<&std::path::Path>) -> Result<u8> {
    let path = match file {
        Some(p) => p.to_path_buf(),
        None => crate::default_key_path()?,
    };
    if path.exists() {
        return Err(usage(format!(
            "{} exists: a key is never replaced (fingerprints made with another key do not match); give another --file",
            path.display()
        )));
    }
    crate::create_key_file(&path)?;
    println!("{}", path.display());
    Ok(0)
}
