//! Delivery of a message mailhygiene writes (the reminder): into the
//! mailbox's INBOX over IMAP (APPEND, unseen; the same access as the scan),
//! by SMTP submission (STARTTLS or implicit TLS, password or XOAUTH2;
//! Office 365's `smtp.office365.com:587`), or as an `.eml` file in a
//! directory for an existing mail pipeline. An I/O edge.
//!
//! Each way can tell whether a reminder it delivered earlier is already
//! there (the `X-Mailhygiene-Reminder` header in INBOX, the file), except
//! SMTP, which cannot look into the recipient's mailbox.

use crate::imap::write::WriteSession;
use crate::imap::{Credentials, Folder, ImapOptions, ImapUrl};
use std::path::{Path, PathBuf};

/// Where reminders go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Imap,
    Smtp,
    Dir(PathBuf),
}

impl Delivery {
    pub fn parse(s: &str) -> Result<Delivery, String> {
        match s {
            "imap" => Ok(Delivery::Imap),
            "smtp" => Ok(Delivery::Smtp),
            _ => match s.strip_prefix("dir:") {
                Some(path) if !path.is_empty() => Ok(Delivery::Dir(PathBuf::from(path))),
                _ => Err(format!("--deliver {s}: expected imap, smtp or dir:PATH")),
            },
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Delivery::Imap => "imap",
            Delivery::Smtp => "smtp",
            Delivery::Dir(_) => "dir",
        }
    }
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// It was there already (an earlier run delivered it).
    AlreadyThere,
}

/// How to reach an SMTP submission server. The secret never appears here
/// in `Debug`.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte (port 465); else STARTTLS, required.
    pub implicit_tls: bool,
    pub user: Option<String>,
    pub secret: Option<SmtpSecret>,
}

#[derive(Clone)]
pub enum SmtpSecret {
    Password(String),
    /// An OAuth2 access token (SASL XOAUTH2).
    Token(String),
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("implicit_tls", &self.implicit_tls)
            .field("user", &self.user)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl SmtpSettings {
    /// `smtp://USER@HOST[:PORT]` (STARTTLS, default 587) or
    /// `smtps://USER@HOST[:PORT]` (implicit TLS, default 465); the secret
    /// comes from `MAILHYGIENE_SMTP_PASSWORD` or `MAILHYGIENE_SMTP_TOKEN`.
    pub fn parse(url: &str) -> Result<SmtpSettings, String> {
        let (implicit_tls, rest) = if let Some(r) = url.strip_prefix("smtps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("smtp://") {
            (false, r)
        } else {
            return Err(format!(
                "--smtp {url}: expected smtp://USER@HOST[:PORT] or smtps://..."
            ));
        };
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        if user.is_some_and(|u| u.contains(':')) {
            return Err("passwords never go in the URL: use MAILHYGIENE_SMTP_PASSWORD".into());
        }
        let user = match user {
            Some(u) => Some(
                crate::imap::url::percent_decode(u)
                    .ok_or_else(|| format!("--smtp {url}: a malformed %-escape in the user"))?,
            ),
            None => None,
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("--smtp {url}: the port is not a number"))?,
            ),
            None => (hostport.to_string(), if implicit_tls { 465 } else { 587 }),
        };
        if host.is_empty() {
            return Err(format!("--smtp {url}: no host"));
        }
        let secret = std::env::var("MAILHYGIENE_SMTP_TOKEN")
            .ok()
            .map(SmtpSecret::Token)
            .or_else(|| {
                std::env::var("MAILHYGIENE_SMTP_PASSWORD")
                    .ok()
                    .map(SmtpSecret::Password)
            });
        Ok(SmtpSettings {
            host,
            port,
            implicit_tls,
            user,
            secret,
        })
    }
}

impl SmtpSettings {
    /// A configured account's submission server (`--smtp account:NAME`):
    /// its `smtp_host` (its cloud's by default; `HOST:PORT` allowed),
    /// STARTTLS, signed in as `user` with the account's own credentials. An
    /// app's token covers SMTP when the app also holds `SMTP.SendAsApp`; a
    /// person's device-code sign-in asks for IMAP access only.
    pub fn for_account(
        account: &crate::config::Account,
        user: &str,
    ) -> Result<SmtpSettings, String> {
        let Some(host) = &account.smtp_host else {
            return Err(format!(
                "account {} has no SMTP host: set smtp_host (or cloud) in its configuration",
                account.name
            ));
        };
        if matches!(account.auth, crate::config::AccountAuth::DeviceCode { .. }) {
            return Err(format!(
                "account {} signs in a person for IMAP only; use --smtp smtp://USER@{host} \
                 with MAILHYGIENE_SMTP_TOKEN",
                account.name
            ));
        }
        let (host, port) = match host.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse()
                    .map_err(|_| format!("smtp_host {host}: the port is not a number"))?,
            ),
            None => (host.clone(), 587),
        };
        let secret = match account.credentials()? {
            crate::imap::Credentials::Password(p) => SmtpSecret::Password(p),
            crate::imap::Credentials::Token(t) => SmtpSecret::Token(t),
            crate::imap::Credentials::OAuth(provider) => SmtpSecret::Token(
                provider
                    .token()
                    .map_err(|e| format!("no access token: {e}"))?,
            ),
        };
        Ok(SmtpSettings {
            host,
            port,
            implicit_tls: false,
            user: Some(user.to_string()),
            secret: Some(secret),
        })
    }
}

/// Writes `message` as `DIR/NAME.eml`, never over an existing file (that
/// file is the reminder delivered before).
pub fn to_dir(dir: &Path, name: &str, message: &[u8]) -> Result<Outcome, String> {
    use std::io::Write;
    crate::report::create_private_dir(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.eml"));
    if path.exists() {
        return Ok(Outcome::AlreadyThere);
    }
    // Written under a temporary name and renamed, so a pipeline watching
    // the directory never picks up half a message.
    let tmp = dir.join(format!(".{name}.eml.tmp"));
    let mut file = crate::report::create_private(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    file.write_all(message)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(Outcome::Delivered)
}

/// Appends `message` to the mailbox's INBOX, unseen, unless a message with
/// the same `X-Mailhygiene-Reminder` is already there.
pub fn to_inbox(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
    reminder_id: &str,
    message: &[u8],
) -> Result<Outcome, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the IMAP runtime: {e}"))?;
    crate::imap::run_guarded(&runtime, async {
        let mut session = WriteSession::open(url, credentials, opts).await?;
        let inbox = Folder {
            server_name: "INBOX".into(),
            name: "INBOX".into(),
        };
        let result = async {
            session.select(&inbox).await?;
            if !session
                .search_header("X-Mailhygiene-Reminder", reminder_id)
                .await?
                .is_empty()
            {
                return Ok(Outcome::AlreadyThere);
            }
            session.append("INBOX", "", message).await?;
            Ok(Outcome::Delivered)
        }
        .await;
        session.logout().await;
        result
    })
    .map_err(|e: crate::imap::ImapError| e.to_string())
}

/// Submits `message` to an SMTP server, from `from` to `to`.
pub fn by_smtp(
    settings: &SmtpSettings,
    from: &str,
    to: &str,
    message: &[u8],
) -> Result<Outcome, String> {
    use lettre::Transport;
    use lettre::transport::smtp::authentication::{Credentials as SmtpCredentials, Mechanism};
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    let mut tls = TlsParameters::builder(settings.host.clone());
    // The same trust as IMAP: the system store, or SSL_CERT_FILE.
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        let pem = std::fs::read(&file).map_err(|e| {
            format!(
                "cannot read SSL_CERT_FILE {}: {e}",
                PathBuf::from(&file).display()
            )
        })?;
        for block in pem_blocks(&pem) {
            let cert = Certificate::from_pem(&block).map_err(|e| format!("SSL_CERT_FILE: {e}"))?;
            tls = tls.add_root_certificate(cert);
        }
    }
    let tls = tls.build_rustls().map_err(|e| format!("TLS: {e}"))?;
    let mut builder = lettre::SmtpTransport::builder_dangerous(settings.host.as_str())
        .port(settings.port)
        .timeout(Some(std::time::Duration::from_secs(60)))
        .tls(if settings.implicit_tls {
            Tls::Wrapper(tls)
        } else {
            Tls::Required(tls)
        });
    if let (Some(user), Some(secret)) = (&settings.user, &settings.secret) {
        let (value, mechanisms) = match secret {
            SmtpSecret::Password(p) => (p.clone(), vec![Mechanism::Plain, Mechanism::Login]),
            SmtpSecret::Token(t) => (t.clone(), vec![Mechanism::Xoauth2]),
        };
        builder = builder
            .credentials(SmtpCredentials::new(user.clone(), value))
            .authentication(mechanisms);
    }
    let transport = builder.build();
    let envelope = lettre::address::Envelope::new(
        Some(
            address_of(from)
                .parse()
                .map_err(|e| format!("sender {from}: {e}"))?,
        ),
        vec![
            address_of(to)
                .parse()
                .map_err(|e| format!("recipient {to}: {e}"))?,
        ],
    )
    .map_err(|e| e.to_string())?;
    transport
        .send_raw(&envelope, message)
        .map(|_| Outcome::Delivered)
        // lettre's errors name the server's reply, never the credentials.
        .map_err(|e| {
            format!(
                "SMTP submission to {}:{} failed: {e}",
                settings.host, settings.port
            )
        })
}

/// `Name <a@b>` or `a@b` to `a@b`.
fn address_of(mailbox: &str) -> &str {
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(a), Some(b)) if a < b => &mailbox[a + 1..b],
        _ => mailbox.trim(),
    }
}

/// The PEM certificates in a bundle, one block each.
fn pem_blocks(pem: &[u8]) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(pem);
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE-----") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END CERTIFICATE-----") {
            out.push(std::mem::take(&mut current).into_bytes());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_and_smtp_urls_parse() {
        assert_eq!(Delivery::parse("imap"), Ok(Delivery::Imap));
        assert_eq!(
            Delivery::parse("dir:/tmp/x"),
            Ok(Delivery::Dir("/tmp/x".into()))
        );
        assert!(Delivery::parse("dir:").is_err());
        assert!(Delivery::parse("pigeon").is_err());
        let s = SmtpSettings::parse("smtp://ola%40firma.no@smtp.office365.com").expect("parses");
        assert_eq!(
            (s.host.as_str(), s.port, s.implicit_tls),
            ("smtp.office365.com", 587, false)
        );
        assert_eq!(s.user.as_deref(), Some("ola@firma.no"));
        let s = SmtpSettings::parse("smtps://127.0.0.1:2465").expect("parses");
        assert_eq!((s.port, s.implicit_tls, s.user), (2465, true, None));
        assert!(SmtpSettings::parse("smtp://ola:pw@host").is_err());
        assert_eq!(address_of("Ola <ola@x.test>"), "ola@x.test");
    }

    #[test]
    fn a_directory_delivery_never_overwrites() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            to_dir(dir.path(), "r", b"one").expect("writes"),
            Outcome::Delivered
        );
        assert_eq!(
            to_dir(dir.path(), "r", b"two").expect("writes"),
            Outcome::AlreadyThere
        );
        assert_eq!(
            std::fs::read(dir.path().join("r.eml")).expect("reads"),
            b"one"
        );
    }
}
