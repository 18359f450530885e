//! The configuration file: accounts (an Office 365 tenant or an IMAP
//! server), how each authenticates and where its secret comes from, the
//! mailboxes to scan, limits, and where state and rules live.
//!
//! Parsing is pure and every error names the file, line and key. Secrets are
//! never in the file itself: only the name of an environment variable or a
//! file that holds them.

use crate::cloud::Cloud;
use crate::imap::{ImapUrl, Security};
use crate::rules::RuleError;
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    store: Option<String>,
    /// A PostgreSQL store's password: the variable holding it, or a file.
    store_password_env: Option<String>,
    store_password_file: Option<String>,
    rules: Option<String>,
    fingerprint_key_file: Option<String>,
    /// What people read is written in: `nb`, `nn` or `en`.
    language: Option<Spanned<String>>,
    #[serde(default)]
    limits: LimitsSpec,
    #[serde(default)]
    offboarding: OffboardingSpec,
    #[serde(default)]
    history: HistorySpec,
    #[serde(default)]
    audit: AuditSpec,
    #[serde(default)]
    account: Vec<Spanned<AccountSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSpec {
    /// The append-only log each audit entry's hash is also written to.
    anchor: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistorySpec {
    /// Years of compliance snapshots kept.
    keep_years: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OffboardingSpec {
    /// Months after leaving by which a leaver's mailbox is deleted.
    deletion_months: Option<u32>,
    /// The union's local representatives among the staff (addresses).
    #[serde(default)]
    union_representatives: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsSpec {
    max_message_bytes: Option<Spanned<u64>>,
    connections: Option<Spanned<usize>>,
    connections_per_mailbox: Option<Spanned<usize>>,
    /// The pace of each connection: `50/s`, `4MB/s` or `50/s,4MB/s`.
    pace: Option<Spanned<String>>,
    /// The pace of the whole run, across every mailbox.
    total_pace: Option<Spanned<String>>,
    /// A worker's lease on a job: `5m`, `90s`.
    lease: Option<Spanned<String>>,
    /// Live leases per tenant (account), across every host.
    tenant_connections: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    Password,
    Token,
    ClientCredentials,
    DeviceCode,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountSpec {
    name: Spanned<String>,
    /// The IMAP host; an Office 365 account may leave it to its cloud.
    host: Option<Spanned<String>>,
    /// The Microsoft cloud (global, us-government, us-dod, china): sets the
    /// authority, the scopes and the IMAP and SMTP hosts together.
    cloud: Option<Spanned<String>>,
    /// The SMTP submission host for reports and reminders sent by SMTP.
    smtp_host: Option<String>,
    port: Option<u16>,
    security: Option<Spanned<String>>,
    auth: Spanned<AuthKind>,
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<String>,
    client_certificate_file: Option<String>,
    client_key_file: Option<String>,
    authority: Option<String>,
    password_env: Option<String>,
    password_file: Option<String>,
    token_env: Option<String>,
    refresh_token_file: Option<String>,
    #[serde(default)]
    mailboxes: Vec<String>,
    mailboxes_file: Option<Spanned<String>>,
    /// Live leases of workers on this account's tenant, across hosts
    /// (overrides `[limits] tenant_connections`).
    tenant_connections: Option<Spanned<u32>>,
}

/// Where an account's secret comes from (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

impl SecretSource {
    pub fn read(&self) -> Result<String, String> {
        match self {
            SecretSource::Env(var) => {
                std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))
            }
            SecretSource::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| format!("cannot read {}: {e}", path.display())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountAuth {
    Password(SecretSource),
    Token(SecretSource),
    ClientCredentials {
        tenant: String,
        client_id: String,
        secret: SecretSource,
        authority: String,
    },
    ClientCertificate {
        tenant: String,
        client_id: String,
        certificate: PathBuf,
        key: PathBuf,
        authority: String,
    },
    DeviceCode {
        tenant: String,
        client_id: String,
        refresh_token_file: PathBuf,
        authority: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub host: String,
    /// The Microsoft cloud of an Office 365 account (`None`: another server).
    pub cloud: Option<Cloud>,
    /// Where this account's mail is submitted by SMTP (port 587,
    /// STARTTLS), when known: set, or the cloud's.
    pub smtp_host: Option<String>,
    pub port: u16,
    pub security: Security,
    pub auth: AccountAuth,
    pub mailboxes: Vec<String>,
    /// A file of addresses, read when the scan starts.
    pub mailboxes_file: Option<PathBuf>,
    /// `tenant_connections`: this account's cap on workers' live leases.
    pub tenant_connections: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub store: Option<PathBuf>,
    /// `store_password_env`, `store_password_file`: where a PostgreSQL
    /// store's password is (else PGPASSWORD, else the passfile).
    pub store_password: crate::store::postgres::PasswordSource,
    pub rules: Option<PathBuf>,
    pub fingerprint_key_file: Option<PathBuf>,
    pub max_message_bytes: Option<u64>,
    pub connections: Option<usize>,
    pub connections_per_mailbox: Option<usize>,
    /// `[limits] pace`: the most each connection asks for.
    pub pace: Option<crate::imap::pace::Rate>,
    /// `[limits] total_pace`: the most the whole run asks for.
    pub total_pace: Option<crate::imap::pace::Rate>,
    /// `[limits] lease`: how long a worker holds a job without renewing it.
    pub lease: Option<std::time::Duration>,
    /// `[limits] tenant_connections`: live leases per tenant, all hosts.
    pub tenant_connections: Option<u32>,
    /// `[offboarding] deletion_months`: how long after leaving a mailbox
    /// may live (default 6).
    pub deletion_months: Option<u32>,
    /// `[audit] anchor`: the append-only log outside the database each
    /// audit entry's hash is written to (default: beside the store,
    /// `STORE.audit.log`).
    pub audit_anchor: Option<PathBuf>,
    /// `[offboarding] union_representatives`: colleagues who are the
    /// union's local representatives; their mail with a leaver is
    /// union-related (lower-cased addresses).
    pub union_representatives: Vec<String>,
    /// `language`: what reminders, notices and reports are written in
    /// (`--lang` overrides it; without either, the locale, else English).
    pub language: Option<crate::model::Lang>,
    /// `[history] keep_years`: how long compliance snapshots are kept
    /// (default 5).
    pub keep_years: Option<u32>,
    pub accounts: Vec<Account>,
}

pub use crate::imap::MAX_CONNECTIONS_PER_MAILBOX;

fn expand(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => PathBuf::from(path),
    }
}

fn line_col(content: &str, offset: usize) -> (usize, usize) {
    let before = &content[..offset.min(content.len())];
    (
        before.matches('\n').count() + 1,
        before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
    )
}

impl Config {
    /// Parses a configuration file's content; `file` names it in errors.
    pub fn parse(file: &str, content: &str) -> Result<Config, Vec<RuleError>> {
        let err = |span: std::ops::Range<usize>, key: &str, message: String| {
            let (line, column) = line_col(content, span.start);
            RuleError {
                file: file.to_string(),
                line,
                column,
                key: Some(key.to_string()),
                message,
            }
        };
        let parsed: ConfigFile = toml::from_str(content).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let (line, column) = line_col(content, at);
            let mut message = e.message().to_string();
            let key = message
                .split('`')
                .nth(1)
                .filter(|_| message.contains("field"))
                .map(str::to_string)
                .or_else(|| key_at(content, at));
            // A number written as text: say so in words.
            if message.starts_with("invalid type: string") && message.contains("expected u") {
                message = format!("{message}: write the number without quotes");
            }
            if let Some(k) = &key
                && !message.contains(k.as_str())
            {
                message = format!("{k}: {message}");
            }
            vec![RuleError {
                file: file.to_string(),
                line,
                column,
                key,
                message,
            }]
        })?;
        let mut errors = Vec::new();
        let mut config = Config {
            store: parsed.store.as_deref().map(expand),
            store_password: crate::store::postgres::PasswordSource {
                env: parsed.store_password_env.clone(),
                file: parsed.store_password_file.as_deref().map(expand),
            },
            rules: parsed.rules.as_deref().map(expand),
            fingerprint_key_file: parsed.fingerprint_key_file.as_deref().map(expand),
            max_message_bytes: parsed
                .limits
                .max_message_bytes
                .as_ref()
                .map(|v| *v.get_ref()),
            connections: parsed.limits.connections.as_ref().map(|v| *v.get_ref()),
            connections_per_mailbox: parsed
                .limits
                .connections_per_mailbox
                .as_ref()
                .map(|v| *v.get_ref()),
            pace: None,
            total_pace: None,
            lease: None,
            tenant_connections: None,
            deletion_months: parsed.offboarding.deletion_months,
            union_representatives: parsed
                .offboarding
                .union_representatives
                .iter()
                .map(|a| a.trim().to_lowercase())
                .collect(),
            keep_years: parsed.history.keep_years,
            language: None,
            audit_anchor: parsed.audit.anchor.as_deref().map(expand),
            accounts: Vec::new(),
        };
        for (value, key, slot) in [
            (&parsed.limits.pace, "limits.pace", &mut config.pace),
            (
                &parsed.limits.total_pace,
                "limits.total_pace",
                &mut config.total_pace,
            ),
        ] {
            if let Some(v) = value {
                match crate::imap::pace::Rate::parse(v.get_ref()) {
                    Ok(rate) => *slot = Some(rate),
                    Err(e) => errors.push(err(v.span(), key, e)),
                }
            }
        }
        if let Some(v) = &parsed.language {
            match crate::model::Lang::parse(v.get_ref()) {
                Some(lang) => config.language = Some(lang),
                None => errors.push(err(
                    v.span(),
                    "language",
                    format!("`{}`: write nb (bokmål), nn (nynorsk) or en", v.get_ref()),
                )),
            }
        }
        if let Some(v) = &parsed.limits.lease {
            match parse_lease(v.get_ref()) {
                Ok(lease) => config.lease = Some(lease),
                Err(e) => errors.push(err(v.span(), "limits.lease", e)),
            }
        }
        if let Some(v) = &parsed.limits.tenant_connections {
            if *v.get_ref() == 0 {
                errors.push(err(
                    v.span(),
                    "limits.tenant_connections",
                    "must be at least 1".to_string(),
                ));
            } else {
                config.tenant_connections = Some(*v.get_ref());
            }
        }
        if let Some(c) = &parsed.limits.connections_per_mailbox
            && !(1..=MAX_CONNECTIONS_PER_MAILBOX).contains(c.get_ref())
        {
            errors.push(err(
                c.span(),
                "limits.connections_per_mailbox",
                format!("must be 1 to {MAX_CONNECTIONS_PER_MAILBOX}"),
            ));
        }
        if let Some(c) = &parsed.limits.connections
            && *c.get_ref() == 0
        {
            errors.push(err(
                c.span(),
                "limits.connections",
                "must be at least 1".into(),
            ));
        }
        for spec in parsed.account {
            let span = spec.span();
            let a = spec.into_inner();
            let name = a.name.get_ref().clone();
            if config.accounts.iter().any(|x: &Account| x.name == name) {
                errors.push(err(
                    a.name.span(),
                    "account.name",
                    format!("account `{name}` is defined twice"),
                ));
            }
            let security = match a.security.as_ref().map(|s| s.get_ref().as_str()) {
                None | Some("implicit") => Security::Implicit,
                Some("starttls") => Security::StartTls,
                Some(other) => {
                    let s = a.security.as_ref().map_or(span.clone(), |s| s.span());
                    errors.push(err(
                        s,
                        "account.security",
                        format!("`{other}`: use implicit or starttls"),
                    ));
                    Security::Implicit
                }
            };
            let secret = |env: &Option<String>,
                          file: &Option<String>,
                          what: &str|
             -> Result<SecretSource, String> {
                match (env, file) {
                    (Some(e), None) => Ok(SecretSource::Env(e.clone())),
                    (None, Some(f)) => Ok(SecretSource::File(expand(f))),
                    _ => Err(format!("give exactly one of {what}_env and {what}_file")),
                }
            };
            let needs = |v: &Option<String>, key: &str| {
                v.clone()
                    .ok_or_else(|| format!("`{key}` is required for this auth"))
            };
            let cloud = match &a.cloud {
                None => None,
                Some(c) => match Cloud::parse(c.get_ref()) {
                    Some(cloud) => Some(cloud),
                    None => {
                        errors.push(err(
                            c.span(),
                            "account.cloud",
                            format!(
                                "`{}`: use global, us-government, us-dod or china",
                                c.get_ref()
                            ),
                        ));
                        None
                    }
                },
            };
            // The OAuth2 flows are Microsoft's: such an account is in a
            // Microsoft cloud, the global one unless it says otherwise.
            let microsoft = matches!(
                a.auth.get_ref(),
                AuthKind::ClientCredentials | AuthKind::DeviceCode
            );
            let cloud = cloud.or(microsoft.then_some(Cloud::Global));
            let authority = a
                .authority
                .clone()
                .unwrap_or_else(|| cloud.unwrap_or_default().authority().to_string());
            let auth: Result<AccountAuth, String> = match a.auth.get_ref() {
                AuthKind::Password => {
                    secret(&a.password_env, &a.password_file, "password").map(AccountAuth::Password)
                }
                AuthKind::Token => a
                    .token_env
                    .clone()
                    .map(|e| AccountAuth::Token(SecretSource::Env(e)))
                    .ok_or_else(|| "`token_env` is required for auth = \"token\"".to_string()),
                AuthKind::ClientCredentials
                    if a.client_certificate_file.is_some() || a.client_key_file.is_some() =>
                {
                    (|| {
                        Ok(AccountAuth::ClientCertificate {
                            tenant: needs(&a.tenant, "tenant")?,
                            client_id: needs(&a.client_id, "client_id")?,
                            certificate: expand(&needs(
                                &a.client_certificate_file,
                                "client_certificate_file",
                            )?),
                            key: expand(&needs(&a.client_key_file, "client_key_file")?),
                            authority: authority.clone(),
                        })
                    })()
                }
                AuthKind::ClientCredentials => (|| {
                    Ok(AccountAuth::ClientCredentials {
                        tenant: needs(&a.tenant, "tenant")?,
                        client_id: needs(&a.client_id, "client_id")?,
                        secret: secret(
                            &a.client_secret_env,
                            &a.client_secret_file,
                            "client_secret",
                        )?,
                        authority: authority.clone(),
                    })
                })(),
                AuthKind::DeviceCode => (|| {
                    Ok(AccountAuth::DeviceCode {
                        tenant: needs(&a.tenant, "tenant")?,
                        client_id: needs(&a.client_id, "client_id")?,
                        refresh_token_file: a
                            .refresh_token_file
                            .as_deref()
                            .map(expand)
                            .unwrap_or_else(|| {
                                expand(&format!("~/.local/state/mailhygiene/refresh-token-{name}"))
                            }),
                        authority: authority.clone(),
                    })
                })(),
            };
            let auth = match auth {
                Ok(auth) => auth,
                Err(message) => {
                    errors.push(err(a.auth.span(), "account.auth", message));
                    continue;
                }
            };
            if a.mailboxes.is_empty() && a.mailboxes_file.is_none() {
                errors.push(err(
                    span.clone(),
                    "account.mailboxes",
                    format!("account `{name}` lists no mailboxes (mailboxes or mailboxes_file)"),
                ));
            }
            if let Some(h) = &a.host
                && let Some((bare, port)) = h.get_ref().rsplit_once(':')
                && !bare.contains(':')
            {
                errors.push(err(
                    h.span(),
                    "account.host",
                    format!(
                        "account `{name}`: host holds a port; write host = \"{bare}\" and port = {port}"
                    ),
                ));
                continue;
            }
            if let Some(v) = &a.tenant_connections
                && *v.get_ref() == 0
            {
                errors.push(err(
                    v.span(),
                    "account.tenant_connections",
                    format!("account `{name}`: must be at least 1"),
                ));
            }
            for m in &a.mailboxes {
                if let Err(why) = MailboxEntry::parse(m).check() {
                    errors.push(err(
                        span.clone(),
                        "account.mailboxes",
                        format!("account `{name}`: mailbox entry {m:?} {why}"),
                    ));
                }
            }
            let host = match (&a.host, cloud) {
                (Some(h), _) => h.get_ref().clone(),
                (None, Some(cloud)) => cloud.imap_host().to_string(),
                (None, None) => {
                    errors.push(err(
                        span.clone(),
                        "account.host",
                        format!("account `{name}` needs a host (or, for Office 365, a cloud)"),
                    ));
                    continue;
                }
            };
            config.accounts.push(Account {
                name,
                host,
                cloud,
                smtp_host: a
                    .smtp_host
                    .clone()
                    .or_else(|| cloud.map(|c| c.smtp_host().to_string())),
                port: a.port.unwrap_or(match security {
                    Security::Implicit => 993,
                    Security::StartTls => 143,
                }),
                security,
                auth,
                mailboxes: a.mailboxes,
                mailboxes_file: a.mailboxes_file.map(|f| expand(f.get_ref())),
                tenant_connections: a.tenant_connections.map(|v| *v.get_ref()),
            });
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

fn read_pem(path: &std::path::Path, what: &str) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the {what} {}: {e}", path.display()))
}

/// One mailbox of an account: its address, and who it belongs to where
/// the configuration says (`"Ola Nordmann <ola@firma.no>; Salg"`: owner,
/// address, department; only the address is required).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxEntry {
    pub address: String,
    pub owner: Option<String>,
    pub department: Option<String>,
}

impl MailboxEntry {
    pub fn parse(entry: &str) -> MailboxEntry {
        let (person, department) = match entry.split_once(';') {
            Some((p, d)) => (p.trim(), Some(d.trim()).filter(|d| !d.is_empty())),
            None => (entry.trim(), None),
        };
        let (owner, address) = match (person.rfind('<'), person.ends_with('>')) {
            (Some(open), true) => (
                Some(person[..open].trim().trim_matches('"').trim().to_string())
                    .filter(|o| !o.is_empty()),
                person[open + 1..person.len() - 1].trim(),
            ),
            _ => (None, person),
        };
        MailboxEntry {
            address: address.to_string(),
            owner,
            department: department.map(str::to_string),
        }
    }
}

impl MailboxEntry {
    /// Whether the entry is an address (with an owner and a department
    /// around it as the format allows): what is wrong, with the format, when
    /// it is not.
    pub fn check(&self) -> Result<(), String> {
        const FORMAT: &str =
            "(write `address`, `Owner Name <address>`, optionally followed by `; department`)";
        let a = &self.address;
        if a.is_empty() {
            return Err(format!("names no address {FORMAT}"));
        }
        // A login name without a domain is fine (a plain IMAP server's
        // users); a broken address is not.
        let broken_at = a.split_once('@').is_some_and(|(local, domain)| {
            local.is_empty() || domain.is_empty() || domain.contains('@')
        });
        if broken_at
            || a.chars()
                .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | ';' | ',' | '"'))
        {
            return Err(format!("is not an address {FORMAT}"));
        }
        Ok(())
    }
}

/// The key whose value starts at byte `at`: the name before `=` on its
/// line, under the table the line is in (`account.port`).
fn key_at(content: &str, at: usize) -> Option<String> {
    let start = content[..at.min(content.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = content[start..].lines().next()?;
    let (name, _) = line.split_once('=')?;
    let name = name.trim().trim_matches('"');
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let table = content[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match table {
        Some(t) => format!("{t}.{name}"),
        None => name.to_string(),
    })
}

impl Config {
    /// The account an IMAP mailbox belongs to (see [`account_for`]).
    pub fn account_for(&self, url: &crate::imap::ImapUrl) -> Option<&Account> {
        account_for(&self.accounts, url)
    }
}

/// Of `accounts`, the one an IMAP mailbox belongs to: of those on its
/// server and port, the one that lists it (where several share a server,
/// one per department, say), else the first.
pub fn account_for<'a>(
    accounts: impl IntoIterator<Item = &'a Account>,
    url: &crate::imap::ImapUrl,
) -> Option<&'a Account> {
    let on_server: Vec<&Account> = accounts
        .into_iter()
        .filter(|a| a.host.eq_ignore_ascii_case(&url.host) && a.port == url.port)
        .collect();
    on_server
        .iter()
        .find(|a| {
            a.all_mailboxes()
                .is_ok_and(|m| m.iter().any(|m| m.address.eq_ignore_ascii_case(&url.user)))
        })
        .or(on_server.first())
        .copied()
}

impl Account {
    /// Whose connection budget this account's mailboxes draw on: the
    /// Microsoft tenant its app signs in to (accounts of one tenant share
    /// Exchange's limits), else the account itself.
    pub fn budget_tenant(&self) -> String {
        match &self.auth {
            AccountAuth::ClientCredentials { tenant, .. }
            | AccountAuth::ClientCertificate { tenant, .. }
            | AccountAuth::DeviceCode { tenant, .. } => format!("tenant {tenant}"),
            AccountAuth::Password(_) | AccountAuth::Token(_) => self.name.clone(),
        }
    }

    /// Every mailbox, from the list and the file (one a line, `#` comments),
    /// each `address`, `Owner Name <address>`, optionally `; department`.
    pub fn all_mailboxes(&self) -> Result<Vec<MailboxEntry>, String> {
        let mut out: Vec<MailboxEntry> = self
            .mailboxes
            .iter()
            .map(|m| MailboxEntry::parse(m))
            .collect();
        if let Some(path) = &self.mailboxes_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.split('#').next().unwrap_or_default().trim();
                if line.is_empty() {
                    continue;
                }
                let entry = MailboxEntry::parse(line);
                entry
                    .check()
                    .map_err(|why| format!("{}:{}: {line:?} {why}", path.display(), n + 1))?;
                out.push(entry);
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|m| seen.insert(m.address.to_lowercase()));
        Ok(out)
    }

    /// The IMAP URL of one mailbox of this account, as the source is shown.
    pub fn url(&self, mailbox: &str) -> ImapUrl {
        ImapUrl {
            security: self.security,
            user: mailbox.to_string(),
            host: self.host.clone(),
            port: self.port,
        }
    }

    /// Whether the secret this account needs can be read now.
    pub fn check_secret(&self) -> Result<(), String> {
        match &self.auth {
            AccountAuth::Password(s)
            | AccountAuth::Token(s)
            | AccountAuth::ClientCredentials { secret: s, .. } => s.read().map(|_| ()),
            AccountAuth::ClientCertificate {
                certificate, key, ..
            } => read_pem(certificate, "certificate")
                .and(read_pem(key, "private key"))
                .map(|_| ()),
            AccountAuth::DeviceCode { .. } => Ok(()),
        }
    }

    /// The credentials IMAP connections of this account use.
    pub fn credentials(&self) -> Result<crate::imap::Credentials, String> {
        use crate::imap::Credentials;
        use crate::oauth::{Flow, OAuthSettings, TokenProvider};
        let oauth = |tenant: &str, client_id: &str, authority: &str, flow: Flow| {
            TokenProvider::new(OAuthSettings {
                authority: authority.to_string(),
                cloud: self.cloud.unwrap_or_default(),
                tenant: tenant.to_string(),
                client_id: client_id.to_string(),
                flow,
                timeout: std::time::Duration::from_secs(30),
            })
            .map(|p| Credentials::OAuth(std::sync::Arc::new(p)))
            .map_err(|e| e.to_string())
        };
        match &self.auth {
            AccountAuth::Password(s) => s.read().map(Credentials::Password),
            AccountAuth::Token(s) => s.read().map(Credentials::Token),
            AccountAuth::ClientCredentials {
                tenant,
                client_id,
                secret,
                authority,
            } => {
                let client_secret = secret.read()?;
                oauth(
                    tenant,
                    client_id,
                    authority,
                    Flow::ClientCredentials { client_secret },
                )
            }
            AccountAuth::ClientCertificate {
                tenant,
                client_id,
                certificate,
                key,
                authority,
            } => {
                use rustls_pki_types::pem::PemObject;
                let cert = rustls_pki_types::CertificateDer::from_pem_file(certificate)
                    .map_err(|e| format!("certificate {}: {e}", certificate.display()))?;
                let key_der =
                    rustls_pki_types::PrivatePkcs8KeyDer::from_pem_file(key).map_err(|e| {
                        format!("private key {} (PKCS#8 PEM expected): {e}", key.display())
                    })?;
                oauth(
                    tenant,
                    client_id,
                    authority,
                    Flow::ClientCertificate {
                        certificate: cert.as_ref().to_vec(),
                        private_key_pkcs8: key_der.secret_pkcs8_der().to_vec(),
                    },
                )
            }
            AccountAuth::DeviceCode {
                tenant,
                client_id,
                refresh_token_file,
                authority,
            } => oauth(
                tenant,
                client_id,
                authority,
                Flow::DeviceCode {
                    refresh_token_file: refresh_token_file.clone(),
                },
            ),
        }
    }
}

/// Reads a lease's length: `300ms`, `90s`, `5m`, `1h` (a bare number is
/// seconds). At least one second: a shorter lease would be renewed more
/// often than the database can answer across a network.
pub fn parse_lease(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write 90s, 5m or 1h"))?;
    let lease = match unit.trim() {
        "ms" => std::time::Duration::from_millis(n),
        "" | "s" => std::time::Duration::from_secs(n),
        "m" | "min" => std::time::Duration::from_secs(n.saturating_mul(60)),
        "h" => std::time::Duration::from_secs(n.saturating_mul(3600)),
        other => {
            return Err(format!(
                "`{text}`: unknown unit `{other}`: write 90s, 5m or 1h"
            ));
        }
    };
    if lease < std::time::Duration::from_secs(1) {
        return Err(format!("`{text}`: a lease is at least 1s"));
    }
    Ok(lease)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_entries_name_owner_and_department() {
        assert_eq!(
            MailboxEntry::parse("Ola Nordmann <ola@firma.no>; Salg"),
            MailboxEntry {
                address: "ola@firma.no".into(),
                owner: Some("Ola Nordmann".into()),
                department: Some("Salg".into()),
            }
        );
        assert_eq!(
            MailboxEntry::parse(" kari@firma.no "),
            MailboxEntry {
                address: "kari@firma.no".into(),
                ..MailboxEntry::default()
            }
        );
        assert_eq!(
            MailboxEntry::parse("\"Per\" <per@firma.no>")
                .owner
                .as_deref(),
            Some("Per")
        );
    }

    const GOOD: &str = r#"
store = "/var/lib/mailhygiene/state.sqlite"
[limits]
connections = 16
connections_per_mailbox = 4
pace = "20/s"
total_pace = "100/s,10MB/s"

[[account]]
name = "firma"
host = "outlook.office365.com"
auth = "client_credentials"
tenant = "firma.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-000000000000"
client_secret_env = "MAILHYGIENE_CLIENT_SECRET"
mailboxes = ["ola@firma.no", "kari@firma.no"]

[[account]]
name = "egen"
host = "imap.example.test"
security = "starttls"
auth = "password"
password_file = "/etc/mailhygiene/imap-password"
mailboxes = ["drift@example.test"]
"#;

    #[test]
    fn a_valid_file() {
        let c = Config::parse("c.toml", GOOD).expect("valid");
        assert_eq!(c.accounts.len(), 2);
        assert_eq!(c.accounts[0].port, 993);
        assert_eq!(c.accounts[1].port, 143);
        assert_eq!(c.connections_per_mailbox, Some(4));
        assert_eq!(c.pace.and_then(|p| p.messages_per_second), Some(20.0));
        assert_eq!(c.total_pace.and_then(|p| p.bytes_per_second), Some(10e6));
        assert!(matches!(
            c.accounts[0].auth,
            AccountAuth::ClientCredentials { .. }
        ));
        assert_eq!(
            c.accounts[0].url("ola@firma.no").to_string(),
            "imaps://ola%40firma.no@outlook.office365.com:993"
        );
    }

    #[test]
    fn malformed_values_are_refused_naming_their_key() {
        let bad = GOOD.replace("security = \"starttls\"", "port = \"39993\"");
        let e = Config::parse("c.toml", &bad).expect_err("a port in quotes");
        assert_eq!(e[0].key.as_deref(), Some("account.port"), "{e:?}");
        assert!(
            e[0].message.contains("account.port") && e[0].message.contains("without quotes"),
            "{}",
            e[0].message
        );
        let bad = GOOD.replace("\"imap.example.test\"", "\"imap.example.test:993\"");
        let e = Config::parse("c.toml", &bad).expect_err("a port in the host");
        assert_eq!(e[0].key.as_deref(), Some("account.host"));
        assert!(
            e[0].message
                .contains("host = \"imap.example.test\" and port = 993"),
            "{}",
            e[0].message
        );
        for entry in [
            "Ola <ola@firma.no; Salg",
            "kari firma.no",
            "per@",
            "@firma.no",
            "; Salg",
        ] {
            let bad = GOOD.replace("\"drift@example.test\"", &format!("{entry:?}"));
            let e = Config::parse("c.toml", &bad).expect_err(entry);
            assert_eq!(e[0].key.as_deref(), Some("account.mailboxes"), "{entry}");
            assert!(
                e[0].message.contains("Owner Name <address>"),
                "{}",
                e[0].message
            );
        }
        for fine in [
            "Ola Nordmann <ola@firma.no>; Salg",
            "kari@firma.no",
            "\"Per\" <per@firma.no>",
            "alice",
            "drift@localhost",
        ] {
            let good = GOOD.replace("\"drift@example.test\"", &format!("{fine:?}"));
            Config::parse("c.toml", &good).expect(fine);
        }
    }

    #[test]
    fn a_shared_store_and_where_its_password_is() {
        let c = Config::parse(
            "c.toml",
            r#"
store = "postgresql://mh@db.firma.no/mailhygiene"
store_password_file = "/etc/mailhygiene/store-password"
"#,
        )
        .expect("valid");
        assert_eq!(
            c.store.as_deref(),
            Some(std::path::Path::new(
                "postgresql://mh@db.firma.no/mailhygiene"
            ))
        );
        assert_eq!(
            c.store_password.file.as_deref(),
            Some(std::path::Path::new("/etc/mailhygiene/store-password"))
        );
        assert_eq!(c.store_password.env, None);
        let c =
            Config::parse("c.toml", "store_password_env = \"MH_STORE_PASSWORD\"\n").expect("valid");
        assert_eq!(c.store_password.env.as_deref(), Some("MH_STORE_PASSWORD"));
    }

    #[test]
    fn errors_name_the_line_and_key() {
        let bad = GOOD.replace(
            "connections_per_mailbox = 4",
            "connections_per_mailbox = 40",
        );
        let e = Config::parse("c.toml", &bad).expect_err("too many");
        assert_eq!(e[0].key.as_deref(), Some("limits.connections_per_mailbox"));
        assert_eq!(e[0].line, 5);

        let bad = GOOD.replace("pace = \"20/s\"", "pace = \"20\"");
        let e = Config::parse("c.toml", &bad).expect_err("no unit");
        assert_eq!(e[0].key.as_deref(), Some("limits.pace"));
        assert_eq!(e[0].line, 6);

        let bad = GOOD.replace("client_secret_env", "client_secret");
        let e = Config::parse("c.toml", &bad).expect_err("unknown key");
        assert_eq!(e[0].key.as_deref(), Some("client_secret"));

        let bad = GOOD.replace("tenant = \"firma.onmicrosoft.com\"\n", "");
        let e = Config::parse("c.toml", &bad).expect_err("no tenant");
        assert_eq!(e[0].key.as_deref(), Some("account.auth"));
        assert!(e[0].message.contains("tenant"));

        let bad = GOOD.replace("auth = \"password\"", "auth = \"kerberos\"");
        assert!(Config::parse("c.toml", &bad).is_err());
    }

    #[test]
    fn a_cloud_sets_the_hosts_and_the_authority_together() {
        let gov = GOOD.replace(
            "host = \"outlook.office365.com\"\n",
            "cloud = \"gcc-high\"\n",
        );
        let c = Config::parse("c.toml", &gov).expect("valid");
        let firma = &c.accounts[0];
        assert_eq!(firma.cloud, Some(Cloud::UsGovernment));
        assert_eq!(firma.host, "outlook.office365.us");
        assert_eq!(firma.smtp_host.as_deref(), Some("smtp.office365.us"));
        assert!(matches!(
            &firma.auth,
            AccountAuth::ClientCredentials { authority, .. }
                if authority == "https://login.microsoftonline.us"
        ));
        // An OAuth2 account without a cloud is in the global one.
        let c = Config::parse("c.toml", GOOD).expect("valid");
        assert_eq!(c.accounts[0].cloud, Some(Cloud::Global));
        assert_eq!(
            c.accounts[0].smtp_host.as_deref(),
            Some("smtp.office365.com")
        );
        // Another server has neither, and must name its host.
        assert_eq!(c.accounts[1].cloud, None);
        assert_eq!(c.accounts[1].smtp_host, None);
        let bad = GOOD.replace("host = \"imap.example.test\"\n", "");
        let e = Config::parse("c.toml", &bad).expect_err("no host");
        assert_eq!(e[0].key.as_deref(), Some("account.host"));
        let bad = gov.replace("gcc-high", "germany");
        let e = Config::parse("c.toml", &bad).expect_err("no such cloud");
        assert_eq!(e[0].key.as_deref(), Some("account.cloud"));
        assert!(e[0].message.contains("us-government"), "{}", e[0].message);
    }

    #[test]
    fn leases_are_read_in_the_units_people_write() {
        for (text, secs) in [
            ("90s", 90),
            ("5m", 300),
            ("1h", 3600),
            ("2", 2),
            ("1500ms", 1),
        ] {
            assert_eq!(parse_lease(text).map(|d| d.as_secs()), Ok(secs), "{text}");
        }
        for bad in ["", "m", "5 weeks", "500ms", "0s", "-3s", "1.5m"] {
            assert!(parse_lease(bad).is_err(), "{bad}");
        }
    }
}
