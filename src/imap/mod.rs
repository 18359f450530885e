//! IMAP sources (Exchange Online, Dovecot, any IMAP4rev1 server): the I/O
//! edge that turns a mailbox into [`Job`]s for the scan pipeline.
//!
//! Read-only by construction: folders are opened with EXAMINE, bodies fetched
//! with `BODY.PEEK[]`, and no command that changes a mailbox is ever sent.
//! Only extensions Exchange Online offers are relied on (no CONDSTORE,
//! QRESYNC or SPECIAL-USE).
//!
//! Faults are expected: a dropped connection, `BYE`, `NO Server Unavailable`
//! or Exchange's throttling reply make the scanner wait, reconnect and resume
//! after the last message it handed on, so nothing is missed or scanned twice.

pub mod pace;
/// Where an IMAP mailbox is: kept with the other source specs (a source
/// names its mailbox without depending on the IMAP client).
pub use crate::source::imap_url as url;
pub mod write;

use crate::model::{MessageMeta, ProblemKind};
use crate::source::{Content, Job, Work};
use crate::store::Sighting;
use async_imap::Client;
use async_imap::types::NameAttribute;
use futures::{StreamExt, TryStreamExt};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
pub use url::{ImapUrl, Security};

/// The most connections to one mailbox: Exchange's undocumented limit is
/// reported at 10–20; stay well below.
pub const MAX_CONNECTIONS_PER_MAILBOX: usize = 8;

/// How the scanner proves who it is. Never printed: `Debug` is redacted.
#[derive(Clone)]
pub enum Credentials {
    Password(String),
    /// An OAuth2 access token, used with SASL XOAUTH2.
    Token(String),
    /// Tokens from an OAuth2 flow, fetched and renewed as connections need them.
    OAuth(Arc<crate::oauth::TokenProvider>),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password(_) => f.write_str("Password(<redacted>)"),
            Credentials::Token(_) => f.write_str("Token(<redacted>)"),
            Credentials::OAuth(p) => write!(f, "OAuth({p:?})"),
        }
    }
}

impl Credentials {
    /// From the environment, as the contract names it: a ready token wins
    /// over a password.
    pub fn from_env() -> Option<Credentials> {
        if let Ok(token) = std::env::var("MAILHYGIENE_IMAP_TOKEN") {
            return Some(Credentials::Token(token));
        }
        std::env::var("MAILHYGIENE_IMAP_PASSWORD")
            .ok()
            .map(Credentials::Password)
    }
}

/// Connection and scanning settings.
#[derive(Debug, Clone)]
pub struct ImapOptions {
    /// Plain `imap://` without STARTTLS, only to a loopback address.
    pub allow_plaintext_loopback: bool,
    /// Per-operation timeout (connect, one response).
    pub timeout: Duration,
    /// Messages per `UID FETCH ... BODY.PEEK[]`.
    pub batch_messages: usize,
    /// Bytes per body batch (by RFC822.SIZE), so memory stays bounded.
    pub batch_bytes: u64,
    /// Larger messages are reported, never fetched.
    pub max_message_bytes: u64,
    /// Reconnect attempts after a fault before the mailbox is given up.
    pub max_retries: u32,
    /// The first back-off; it doubles per attempt.
    pub initial_backoff: Duration,
    /// Only the metadata (flags, dates, sizes): for the stale scan.
    pub metadata_only: bool,
    /// With the metadata, each message's `Date:` header too
    /// (`BODY.PEEK[HEADER.FIELDS (DATE)]`): when a rule ages by it.
    pub header_dates: bool,
    /// Connections fetching one folder's bodies at once (1 to 8).
    pub connections_per_mailbox: usize,
    /// The pace of each connection (unlimited by default).
    pub pace: pace::Rate,
    /// The pace of the whole run, shared by every connection to every
    /// mailbox (`None`: unlimited).
    pub total_pace: Option<std::sync::Arc<pace::Pacer>>,
    /// Where one mailbox's waits are counted; `scan_mailbox` gives each
    /// mailbox its own.
    pub waits: std::sync::Arc<pace::Waits>,
}

impl Default for ImapOptions {
    fn default() -> Self {
        ImapOptions {
            allow_plaintext_loopback: false,
            timeout: Duration::from_secs(60),
            batch_messages: 100,
            batch_bytes: 16 << 20,
            max_message_bytes: 150 << 20,
            max_retries: 6,
            initial_backoff: Duration::from_millis(500),
            metadata_only: false,
            header_dates: false,
            // One connection is fastest when the server shares the scanner's
            // cores (measured); raise it for remote servers such as Exchange.
            connections_per_mailbox: 1,
            pace: pace::Rate::default(),
            total_pace: None,
            waits: Default::default(),
        }
    }
}

/// What went wrong, in words a sysadmin can act on. No variant ever carries
/// a credential.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {host}:{port}: {reason}")]
    Connect {
        host: String,
        port: u16,
        reason: String,
    },
    #[error(
        "TLS with {host} failed: {reason} (the server's certificate must chain to the system store or to SSL_CERT_FILE)"
    )]
    Tls { host: String, reason: String },
    #[error(
        "plaintext IMAP is only allowed to a loopback address, and only with --allow-plaintext"
    )]
    PlaintextRefused,
    #[error("the server does not offer STARTTLS; use imaps:// (port 993)")]
    NoStartTls,
    #[error("no credentials: set MAILHYGIENE_IMAP_PASSWORD or MAILHYGIENE_IMAP_TOKEN")]
    NoCredentials,
    #[error("login refused for {user}: {reason}")]
    AuthFailed { user: String, reason: String },
    #[error(
        "authenticated but not connected to the mailbox{user}: an app lacks IMAP.AccessAsApp, \
         its Exchange service principal, or FullAccess on this mailbox; a person's sign-in \
         (device code) was made with another account than this mailbox's"
    )]
    NotConnected { user: String },
    #[error("the server is throttling: asked to wait {0:?}")]
    Throttled(Duration),
    #[error(
        "the server asked to wait {} s, more than the {} s mailhygiene waits; this mailbox is left for the next run",
        .0.as_secs(),
        MAX_THROTTLE_WAIT.as_secs()
    )]
    ThrottledTooLong(Duration),
    #[error("cannot find the host {0} (DNS): check the name")]
    UnknownHost(String),
    #[error("the server is unavailable: {0}")]
    Unavailable(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("the server refused: {0}")]
    Refused(String),
    #[error("no access token: {0}")]
    Token(String),
    #[error("IMAP protocol error: {0}")]
    Protocol(String),
}

impl ImapError {
    /// Whether reconnecting (after a wait) can help.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ImapError::Connect { .. }
                | ImapError::Throttled(_)
                | ImapError::Unavailable(_)
                | ImapError::Timeout(_)
        )
    }
}

/// Runs an IMAP conversation to its end on `runtime`. The IMAP library's
/// parser panics on some malformed replies (imap-proto 0.17 slices a
/// response text at a byte that is not a character boundary, found by
/// fuzzing): a hostile server must cost its own mailbox, not the run, so a
/// panic becomes an error here. The panic hook has already withheld the
/// panic's text, which quotes the reply.
pub fn run_guarded<T, E: From<ImapError>>(
    runtime: &tokio::runtime::Runtime,
    conversation: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(conversation)
    }))
    .unwrap_or_else(|_| Err(E::from(ImapError::unreadable_reply())))
}

impl ImapError {
    fn unreadable_reply() -> ImapError {
        ImapError::Protocol(
            "the server sent a reply the IMAP library cannot read (a fault of the server); \
             the mailbox is left for the next run"
                .into(),
        )
    }
}

/// The longest server-suggested wait honoured (Exchange suggests up to a
/// few minutes; a broken or hostile server could say years).
pub const MAX_THROTTLE_WAIT: Duration = Duration::from_secs(600);

/// Classifies an error from the IMAP library into a closed set of kinds.
/// Only the server's own words of a NO or BAD reply are kept (one short
/// line); the library's own texts are never shown, since its parse errors
/// quote the unparsed buffer (a batch of message bodies).
pub(crate) fn classify(err: async_imap::error::Error) -> ImapError {
    use async_imap::error::Error;
    let text = match &err {
        Error::No(t) | Error::Bad(t) => server_words(&library_words(t)),
        Error::ConnectionLost => return ImapError::Unavailable("connection lost".into()),
        Error::Io(e) => return ImapError::Unavailable(format!("connection error: {}", e.kind())),
        Error::Parse(_) => {
            return ImapError::Protocol("the server sent a reply that could not be read".into());
        }
        Error::Validate(_) => {
            return ImapError::Protocol(
                "a name or value the protocol cannot carry (a line break in it)".into(),
            );
        }
        Error::Append => {
            return ImapError::Refused("the server did not accept the message".into());
        }
        _ => return ImapError::Protocol("an unexpected reply from the server".into()),
    };
    if let Some(wait) = throttle_wait(&text) {
        return throttled(wait);
    }
    if text.contains("Server Unavailable") || text.contains("BYE") {
        return ImapError::Unavailable(text);
    }
    if text.contains("authenticated but not connected") {
        return ImapError::NotConnected {
            user: String::new(),
        };
    }
    ImapError::Refused(text)
}

/// The server's own words out of the IMAP library's debug rendering of a
/// reply (`code: None, info: Some("...")`, `outcome: Outcome { ...
/// information: Some("...") }`); other text as it is.
fn library_words(text: &str) -> String {
    for marker in ["info: Some(\"", "information: Some(\""] {
        if let Some(start) = text.find(marker) {
            let rest = &text[start + marker.len()..];
            let mut out = String::new();
            let mut chars = rest.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => return out,
                    c => out.push(c),
                }
            }
            return out;
        }
    }
    if text.contains("info: None") || text.contains("information: None") {
        return String::new();
    }
    text.to_string()
}

/// What a refused sign-in means, in sentences an administrator can act
/// on (Exchange Online's replies and Dovecot's).
pub fn explain_login(reply: &str) -> String {
    let lower = reply.to_ascii_lowercase();
    let why = if lower.contains("authenticate failed") {
        "the server refused the OAuth2 token. For Office 365 check the tenant, the cloud and its \
         scope (Exchange's /.default for an app, IMAP.AccessAsUser.All for a user), that \
         the Exchange service principal was created with the enterprise application's object ID (not \
         the app registration's), and that the app has FullAccess on this mailbox"
    } else if lower.contains("login failed") {
        "the server refused the password. On Exchange Online basic authentication is off: use \
         OAuth2 (auth = \"client_credentials\" or \"device_code\")"
    } else if lower.contains("authenticationfailed") || lower.contains("authentication failed") {
        "wrong user name or password (or token)"
    } else if lower.contains("authorizationfailed") || lower.contains("not authorized") {
        "this user may not open the mailbox"
    } else if lower.is_empty() {
        "the server gave no reason"
    } else {
        return format!("the server said: {reply}");
    };
    if reply.is_empty() {
        why.to_string()
    } else {
        format!("{why} (the server said: {reply})")
    }
}

/// A server's reply text as we show it: one line, printable, at most 200
/// characters.
pub fn server_words(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if text.chars().count() > 200 {
        out.push('…');
    }
    out.trim().to_string()
}

/// Exchange's `Request is throttled. Suggested Backoff Time: 299961 milliseconds`.
pub fn throttle_wait(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    if !lower.contains("throttl") {
        return None;
    }
    let after = lower.split("backoff time:").nth(1)?;
    let ms: u64 = after
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()?;
    Some(Duration::from_millis(ms))
}

/// Any stream IMAP can run over: TLS, or plain TCP to loopback.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Transport for T {}

pub type Session = async_imap::Session<Box<dyn Transport>>;

fn tls_connector() -> Result<TlsConnector, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    // Honours SSL_CERT_FILE / SSL_CERT_DIR, else the system store.
    let loaded = rustls_native_certs::load_native_certs();
    for cert in loaded.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(ImapError::Tls {
            host: String::new(),
            reason: "no trusted certificates found (system store empty, SSL_CERT_FILE unreadable?)"
                .into(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls {
            host: String::new(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

pub(crate) async fn with_timeout<T>(
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, ImapError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| ImapError::Timeout(limit))
}

async fn tls_wrap<S: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug + 'static>(
    stream: S,
    host: &str,
    limit: Duration,
) -> Result<Box<dyn Transport>, ImapError> {
    let connector = tls_connector()?;
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| ImapError::Tls {
            host: host.into(),
            reason: e.to_string(),
        })?;
    let tls = with_timeout(limit, connector.connect(name, stream))
        .await?
        .map_err(|e| {
            // What rustls itself rejects (a certificate, a protocol violation)
            // will not get better; a connection dropped mid-handshake is worth
            // a retry.
            let rejected = e
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some());
            if rejected {
                ImapError::Tls {
                    host: host.into(),
                    reason: e.to_string(),
                }
            } else {
                ImapError::Unavailable(format!("TLS handshake with {host} interrupted: {e}"))
            }
        })?;
    Ok(Box::new(tls))
}

/// XOAUTH2 as Exchange and Dovecot expect it; a failed token gets a second
/// challenge (a JSON error), which must be answered with an empty response.
struct XOAuth2 {
    payload: Vec<u8>,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        if self.sent {
            return Vec::new();
        }
        self.sent = true;
        std::mem::take(&mut self.payload)
    }
}

/// What signing in to one mailbox and opening its INBOX showed: what
/// `config check --online` reports before a first scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub inbox_messages: u32,
    /// `UID MOVE` (RFC 6851): `clean` and `undo` move in one step.
    pub moves: bool,
    /// UIDPLUS (RFC 4315): without MOVE, copy + expunge of only those UIDs.
    pub uidplus: bool,
}

/// Signs in as a scan would (the same retries, including Exchange's
/// passing "not connected"), reads the capabilities and opens INBOX
/// read-only (EXAMINE); nothing else is read.
pub async fn probe(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
) -> Result<Probe, ImapError> {
    let mut session = connect_with_retry(url, credentials, opts).await?;
    let (moves, uidplus) = move_capabilities(&mut session, opts.timeout).await?;
    let inbox = Folder {
        server_name: "INBOX".into(),
        name: "INBOX".into(),
    };
    let status = examine(&mut session, &inbox, opts.timeout).await?;
    let _ = with_timeout(Duration::from_secs(5), session.logout()).await;
    Ok(Probe {
        inbox_messages: status.exists,
        moves,
        uidplus,
    })
}

/// Whether the server moves (`MOVE`, RFC 6851) and expunges by UID
/// (`UIDPLUS`, RFC 4315): what `clean` and `undo` need.
pub(crate) async fn move_capabilities(
    session: &mut Session,
    timeout: Duration,
) -> Result<(bool, bool), ImapError> {
    let caps = with_timeout(timeout, session.capabilities())
        .await?
        .map_err(classify)?;
    let found = (caps.has_str("MOVE"), caps.has_str("UIDPLUS"));
    drain_unsolicited(session);
    Ok(found)
}

/// Connects, secures and authenticates one session.
pub async fn connect(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
) -> Result<Session, ImapError> {
    // A name that does not resolve will not resolve in a minute either.
    let addresses: Vec<std::net::SocketAddr> = match with_timeout(
        opts.timeout,
        tokio::net::lookup_host((url.host.as_str(), url.port)),
    )
    .await?
    {
        Ok(found) => found.collect(),
        Err(_) => return Err(ImapError::UnknownHost(url.host.clone())),
    };
    if addresses.is_empty() {
        return Err(ImapError::UnknownHost(url.host.clone()));
    }
    let tcp = with_timeout(opts.timeout, TcpStream::connect(&addresses[..]))
        .await?
        .map_err(|e| ImapError::Connect {
            host: url.host.clone(),
            port: url.port,
            reason: e.to_string(),
        })?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Transport> = match url.security {
        Security::Implicit => tls_wrap(tcp, &url.host, opts.timeout).await?,
        Security::StartTls => {
            let mut client = Client::new(tcp);
            read_greeting(&mut client, opts.timeout).await?;
            if opts.allow_plaintext_loopback {
                if !url.is_loopback() {
                    return Err(ImapError::PlaintextRefused);
                }
                Box::new(client.into_inner())
            } else {
                with_timeout(
                    opts.timeout,
                    client.run_command_and_check_ok("STARTTLS", None),
                )
                .await?
                .map_err(|_| ImapError::NoStartTls)?;
                tls_wrap(client.into_inner(), &url.host, opts.timeout).await?
            }
        }
    };
    let mut client = Client::new(stream);
    if url.security == Security::Implicit {
        read_greeting(&mut client, opts.timeout).await?;
    }
    let session = match credentials {
        Credentials::Password(password) => {
            with_timeout(opts.timeout, client.login(&url.user, password))
                .await?
                .map_err(|(e, _)| auth_error(&url.user, e))?
        }
        Credentials::Token(token) => xoauth2(client, url, token, opts).await?,
        Credentials::OAuth(provider) => {
            // Cached, renewed before expiry: one request per hour, not per connection.
            let token = provider.token().map_err(|e| match e {
                crate::oauth::OAuthError::Unreachable { .. } => {
                    ImapError::Unavailable(e.to_string())
                }
                other => ImapError::Token(other.to_string()),
            })?;
            xoauth2(client, url, &token, opts).await?
        }
    };
    Ok(session)
}

async fn xoauth2(
    client: Client<Box<dyn Transport>>,
    url: &ImapUrl,
    token: &str,
    opts: &ImapOptions,
) -> Result<Session, ImapError> {
    let payload = format!("user={}\x01auth=Bearer {}\x01\x01", url.user, token).into_bytes();
    let auth = XOAuth2 {
        payload,
        sent: false,
    };
    with_timeout(opts.timeout, client.authenticate("XOAUTH2", auth))
        .await?
        .map_err(|(e, _)| auth_error(&url.user, e))
}

async fn read_greeting<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug>(
    client: &mut Client<T>,
    limit: Duration,
) -> Result<(), ImapError> {
    match with_timeout(limit, client.read_response()).await? {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Unavailable(
            "the server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(classify(async_imap::error::Error::Io(e))),
    }
}

fn auth_error(user: &str, err: async_imap::error::Error) -> ImapError {
    match classify(err) {
        ImapError::Refused(reply) => ImapError::AuthFailed {
            user: user.to_string(),
            reason: explain_login(&reply),
        },
        ImapError::Protocol(reason) => ImapError::AuthFailed {
            user: user.to_string(),
            reason,
        },
        ImapError::NotConnected { .. } => ImapError::NotConnected {
            user: format!(" {user}"),
        },
        other => other,
    }
}

/// A folder worth scanning, by its server name and its display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub server_name: String,
    /// `/`-separated, modified UTF-7 decoded; `INBOX` for the inbox.
    pub name: String,
}

/// Folders that hold no mail on Exchange (English and Norwegian names):
/// calendars, contacts, tasks, notes, journals, conversation history, sync
/// problems, the outbox, RSS feeds, and the hidden `Files` folder (every
/// attachment again, without headers).
const NON_MAIL: &[&str] = &[
    "calendar",
    "contacts",
    "tasks",
    "notes",
    "journal",
    "conversation history",
    "sync issues",
    "outbox",
    "rss feeds",
    "rss subscriptions",
    "files",
    "kalender",
    "kontakter",
    "oppgaver",
    "notater",
    "logg",
    "samtalelogg",
    "synkroniseringsproblemer",
    "utboks",
    "rss-feeder",
    "filer",
];

/// The folders every Exchange mailbox has: when a listing holds at least
/// three of them at the top level, it is Exchange's, and its non-mail
/// folders are skipped. A user's own "Logg" or "Notes" on another server
/// is read like any folder.
const EXCHANGE_MARKERS: &[&str] = &[
    "calendar",
    "contacts",
    "tasks",
    "journal",
    "kalender",
    "kontakter",
    "oppgaver",
];

/// A folder as LIST describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFolder {
    pub folder: Folder,
    pub selectable: bool,
    /// Holds no mail (Exchange's Calendar, Contacts, ... and subfolders).
    pub non_mail: bool,
    /// Marked `\Trash` (SPECIAL-USE) by the server.
    pub trash: bool,
    /// The hierarchy delimiter.
    pub delimiter: String,
}

/// Every folder LIST reports, with what it is.
pub async fn list_folders(
    session: &mut Session,
    timeout: Duration,
) -> Result<Vec<ListedFolder>, ImapError> {
    let names: Vec<_> = with_timeout(timeout, async {
        session
            .list(Some(""), Some("*"))
            .await?
            .try_collect::<Vec<_>>()
            .await
    })
    .await?
    .map_err(classify)?;
    let mut out = Vec::new();
    for n in &names {
        let delimiter = n.delimiter().unwrap_or("/");
        let display: Vec<String> = n
            .name()
            .split(delimiter)
            .map(crate::source::utf7::decode)
            .collect();
        let top = display
            .first()
            .map(|s| s.to_lowercase())
            .unwrap_or_default();
        let name = if n.name().eq_ignore_ascii_case("INBOX") {
            "INBOX".to_string()
        } else {
            display.join("/")
        };
        out.push(ListedFolder {
            folder: Folder {
                server_name: n.name().to_string(),
                name,
            },
            selectable: !n
                .attributes()
                .iter()
                .any(|a| matches!(a, NameAttribute::NoSelect)),
            non_mail: NON_MAIL.contains(&top.as_str()),
            trash: n
                .attributes()
                .iter()
                .any(|a| matches!(a, NameAttribute::Trash)),
            delimiter: delimiter.to_string(),
        });
    }
    let tops: std::collections::HashSet<String> = out
        .iter()
        .filter(|f| !f.folder.name.contains('/'))
        .map(|f| f.folder.name.to_lowercase())
        .collect();
    let exchange = EXCHANGE_MARKERS
        .iter()
        .filter(|m| tops.contains(**m))
        .count()
        >= 3;
    if !exchange {
        for f in &mut out {
            f.non_mail = false;
        }
    }
    out.sort_by(|a, b| {
        (a.folder.name != "INBOX", &a.folder.name).cmp(&(b.folder.name != "INBOX", &b.folder.name))
    });
    drain_unsolicited(session);
    Ok(out)
}

/// Lists the folders to scan: everything selectable except Exchange's
/// non-mail folders (and their subfolders), which are returned apart so
/// reports can name them.
pub async fn folders(
    session: &mut Session,
    timeout: Duration,
) -> Result<(Vec<Folder>, Vec<String>), ImapError> {
    let mut scan = Vec::new();
    let mut skipped = Vec::new();
    for f in list_folders(session, timeout).await? {
        if f.non_mail {
            skipped.push(f.folder.name);
        } else if f.selectable {
            scan.push(f.folder);
        }
    }
    Ok((scan, skipped))
}

/// One message's metadata from `UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE)`.
#[derive(Debug, Clone)]
pub struct MessageInfo {
    pub uid: u32,
    pub flagged: bool,
    pub internal_date: Option<chrono::DateTime<chrono::Utc>>,
    pub size: u64,
    /// The `Date:` header, when it was asked for.
    pub sent: Option<chrono::DateTime<chrono::Utc>>,
}

/// What EXAMINE says about a folder.
#[derive(Debug, Clone, Copy)]
pub struct FolderStatus {
    pub uid_validity: u32,
    pub exists: u32,
    pub uid_next: Option<u32>,
}

/// Opens a folder read-only.
pub async fn examine(
    session: &mut Session,
    folder: &Folder,
    timeout: Duration,
) -> Result<FolderStatus, ImapError> {
    // The library quotes the name itself (names may hold spaces: `Sent Items`).
    let mailbox = with_timeout(timeout, session.examine(&folder.server_name))
        .await?
        .map_err(classify)?;
    Ok(FolderStatus {
        uid_validity: mailbox.uid_validity.unwrap_or(0),
        exists: mailbox.exists,
        uid_next: mailbox.uid_next,
    })
}

/// One message as a FETCH response describes it.
#[derive(Debug, Default)]
pub(crate) struct Fetched {
    pub(crate) uid: Option<u32>,
    pub(crate) flagged: bool,
    pub(crate) internal_date: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) size: Option<u32>,
    pub(crate) body: Option<Vec<u8>>,
    /// The system flags a copy keeps (`\Seen`, `\Answered`, `\Flagged`,
    /// `\Draft`); `\Deleted` and `\Recent` are not carried over.
    pub(crate) kept_flags: Vec<&'static str>,
}

/// Runs a `UID FETCH` and reads its responses ourselves. The library's fetch
/// stream ends quietly at the tagged reply whatever its status, so a
/// `NO Request is throttled` (Exchange) would look like an empty result and
/// messages would be lost; here every reply is checked.
pub(crate) async fn uid_fetch(
    session: &mut Session,
    set: &str,
    items: &str,
    timeout: Duration,
) -> Result<Vec<Fetched>, ImapError> {
    use async_imap::imap_proto::{AttributeValue, Response, Status};
    let tag = with_timeout(
        timeout,
        session.run_command(format!("UID FETCH {set} {items}")),
    )
    .await?
    .map_err(classify)?;
    let mut out = Vec::new();
    let mut bye: Option<String> = None;
    loop {
        let Some(resp) = with_timeout(timeout, session.read_response())
            .await?
            .map_err(|e| classify(async_imap::error::Error::Io(e)))?
        else {
            let said = bye.unwrap_or_default();
            return Err(throttle_wait(&said).map_or_else(
                || {
                    ImapError::Unavailable(
                        format!("connection closed during FETCH {said}")
                            .trim_end()
                            .to_string(),
                    )
                },
                throttled,
            ));
        };
        match resp.parsed() {
            Response::Fetch(_, attrs) => {
                let mut f = Fetched::default();
                for a in attrs {
                    match a {
                        AttributeValue::Uid(u) => f.uid = Some(*u),
                        AttributeValue::Flags(flags) => {
                            for flag in flags {
                                if let Some(kept) = ["\\Seen", "\\Answered", "\\Flagged", "\\Draft"]
                                    .into_iter()
                                    .find(|k| flag.eq_ignore_ascii_case(k))
                                {
                                    f.kept_flags.push(kept);
                                }
                            }
                            f.flagged = f.kept_flags.contains(&"\\Flagged");
                        }
                        AttributeValue::InternalDate(d) => f.internal_date = internal_date(d),
                        AttributeValue::Rfc822Size(n) => f.size = Some(*n),
                        // `BODY[] NIL` is no body, not an empty one.
                        AttributeValue::BodySection { data, .. } => {
                            f.body = data.as_deref().map(<[u8]>::to_vec)
                        }
                        AttributeValue::Rfc822(data) => {
                            f.body = data.as_deref().map(<[u8]>::to_vec)
                        }
                        _ => {}
                    }
                }
                out.push(f);
            }
            Response::Done {
                tag: t,
                status,
                outcome,
            } if *t == tag => {
                let text = outcome
                    .information
                    .as_deref()
                    .unwrap_or_default()
                    .to_string();
                return match status {
                    Status::Ok => Ok(out),
                    _ => Err(classify(async_imap::error::Error::No(text))),
                };
            }
            Response::Data {
                status: Status::Bye,
                outcome,
                ..
            } => {
                bye = Some(
                    outcome
                        .information
                        .as_deref()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
            _ => {}
        }
    }
}

/// Parses an INTERNALDATE (`17-Jul-1996 02:44:25 -0700`, the day possibly
/// space-padded) by hand: it runs once per message of a 100,000-message
/// stale scan, where a format-string parser shows in the profile.
pub fn internal_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    let b = s.as_bytes();
    let dash = s.find('-')?;
    let num = |r: std::ops::Range<usize>| -> Option<u32> { s.get(r)?.trim().parse().ok() };
    let day = num(0..dash)?;
    let month = match s.get(dash + 1..dash + 4)?.to_ascii_lowercase().as_str() {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let rest = dash + 5; // "yyyy hh:mm:ss +zzzz"
    let year = num(rest..rest + 4)? as i32;
    let (hour, minute, second) = (
        num(rest + 5..rest + 7)?,
        num(rest + 8..rest + 10)?,
        num(rest + 11..rest + 13)?,
    );
    let zone = s.get(rest + 14..rest + 19)?;
    let sign = match b.get(rest + 14)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i32 = zone.get(1..3)?.parse().ok()?;
    let zm: i32 = zone.get(3..5)?.parse().ok()?;
    let offset = chrono::FixedOffset::east_opt(sign * (zh * 3600 + zm * 60))?;
    let naive =
        chrono::NaiveDate::from_ymd_opt(year, month, day)?.and_hms_opt(hour, minute, second)?;
    naive
        .and_local_timezone(offset)
        .single()
        .map(|d| d.with_timezone(&chrono::Utc))
}

/// The metadata of every message with a UID above `after`, in UID order.
pub async fn metadata(
    session: &mut Session,
    after: u32,
    header_dates: bool,
    timeout: Duration,
) -> Result<Vec<MessageInfo>, ImapError> {
    // No UID lies above the largest there can be.
    let Some(first) = after.checked_add(1) else {
        return Ok(Vec::new());
    };
    let range = format!("{first}:*");
    let items = if header_dates {
        "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (DATE)])"
    } else {
        "(UID FLAGS INTERNALDATE RFC822.SIZE)"
    };
    let fetched = uid_fetch(session, &range, items, timeout).await?;
    drain_unsolicited(session);
    let mut infos: Vec<MessageInfo> = fetched
        .iter()
        .filter_map(|f| {
            Some(MessageInfo {
                uid: f.uid?,
                flagged: f.flagged,
                internal_date: f.internal_date,
                size: u64::from(f.size.unwrap_or(0)),
                sent: f.body.as_deref().and_then(header_date),
            })
        })
        // `n:*` also returns the last message when n is past it.
        .filter(|i| i.uid > after)
        .collect();
    infos.sort_by_key(|i| i.uid);
    infos.dedup_by_key(|i| i.uid);
    Ok(infos)
}

/// Whether a fetched body is Exchange's stand-in for an item it cannot
/// convert to MIME (a short message whose body says "Retrieval using the
/// IMAP4 protocol failed for the following message"): scanning it would
/// report the item clean.
pub fn is_conversion_stub(body: &[u8]) -> bool {
    const SAYS: &[u8] = b"Retrieval using the IMAP4 protocol failed for the following message";
    body.len() < 64 * 1024 && memchr::memmem::find(body, SAYS).is_some()
}

/// The metadata of the messages `uids` that still exist, in UID order.
async fn metadata_of(
    session: &mut Session,
    uids: &[u32],
    timeout: Duration,
) -> Result<Vec<MessageInfo>, ImapError> {
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched = uid_fetch(
        session,
        &set,
        "(UID FLAGS INTERNALDATE RFC822.SIZE)",
        timeout,
    )
    .await?;
    drain_unsolicited(session);
    let asked: std::collections::HashSet<u32> = uids.iter().copied().collect();
    let mut infos: Vec<MessageInfo> = fetched
        .iter()
        .filter_map(|f| {
            Some(MessageInfo {
                uid: f.uid.filter(|u| asked.contains(u))?,
                flagged: f.flagged,
                internal_date: f.internal_date,
                size: u64::from(f.size.unwrap_or(0)),
                sent: None,
            })
        })
        .collect();
    infos.sort_by_key(|i| i.uid);
    infos.dedup_by_key(|i| i.uid);
    Ok(infos)
}

/// The date in a fetched `Date:` header field (`Date: ...\r\n\r\n`).
fn header_date(field: &[u8]) -> Option<chrono::DateTime<chrono::Utc>> {
    let parsed = mail_parser::MessageParser::new().parse_headers(field)?;
    let d = parsed.date()?;
    chrono::DateTime::from_timestamp(d.to_timestamp(), 0)
}

/// Fetches the bodies of `uids` with `BODY.PEEK[]`, which never sets `\Seen`.
pub async fn bodies(
    session: &mut Session,
    uids: &[u32],
    timeout: Duration,
) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetched = uid_fetch(session, &set, "(UID BODY.PEEK[])", timeout).await?;
    drain_unsolicited(session);
    Ok(fetched
        .into_iter()
        .filter_map(|f| Some((f.uid?, f.body?)))
        .collect())
}

/// The library queues untagged responses it does not consume in a bounded
/// channel; an unread one would eventually stall the connection.
pub(crate) fn drain_unsolicited(session: &mut Session) {
    while session.unsolicited_responses.try_recv().is_ok() {}
}

/// UIDs the metadata reader returned, and (UID, body length) pairs the
/// body reader returned.
#[doc(hidden)]
pub type FetchReading = (Vec<u32>, Vec<(u32, usize)>);

/// The FETCH reply reader fed with any server bytes, for the fuzz target
/// and the tests: a session over an in-memory stream whose "server" answers
/// the login, then each `UID FETCH` with `reply` and a tagged `OK`. Returns
/// what the metadata and the body readers made of it (UIDs, body lengths),
/// or the error kind they ended with. It must return, without panicking
/// and without holding more than the reply's own size, for every input.
#[doc(hidden)]
pub fn read_fetch_reply(reply: &[u8]) -> Result<FetchReading, ImapError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| ImapError::Unavailable(e.to_string()))?;
    run_guarded(&runtime, async move {
        let limit = Duration::from_secs(10);
        let mut session = answering(reply, limit).await?;
        let infos = metadata(&mut session, 0, true, limit).await;
        let mut session = answering(reply, limit).await?;
        let bodies = bodies(&mut session, &[1, 2, 3], limit).await;
        Ok((
            infos?.into_iter().map(|i| i.uid).collect(),
            bodies?.into_iter().map(|(uid, b)| (uid, b.len())).collect(),
        ))
    })
}

/// A session over an in-memory stream whose far end accepts the login,
/// answers the first `UID FETCH` with `reply` and a tagged `OK`, then
/// hangs up (so a reply that promises more than it holds ends at once).
async fn answering(reply: &[u8], limit: Duration) -> Result<Session, ImapError> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let reply = reply.to_vec();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    tokio::spawn(async move {
        let (read, mut write) = tokio::io::split(theirs);
        let mut lines = tokio::io::BufReader::new(read).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let tag = line.split(' ').next().unwrap_or("*").to_string();
            let fetch = line.contains(" FETCH ");
            if fetch {
                let _ = write.write_all(&reply).await;
                let _ = write.write_all(b"\r\n").await;
            }
            let _ = write
                .write_all(format!("{tag} OK done\r\n").as_bytes())
                .await;
            if fetch {
                let _ = write.shutdown().await;
                break;
            }
        }
    });
    let stream: Box<dyn Transport> = Box::new(ours);
    with_timeout(limit, Client::new(stream).login("fuzz", "fuzz"))
        .await?
        .map_err(|(e, _)| classify(e))
}

pub use crate::store::{Cursor, Resume};

/// Scans one mailbox: every folder, metadata first, then bodies in batches,
/// handing each message to `emit` in UID order, then what became of the
/// messages read in earlier runs (flags, expunged) and which folders exist.
/// Reconnects and resumes after transient faults. Returns the folders that
/// failed for good (with why); an `Err` means the mailbox could not be
/// scanned at all.
///
/// `start` holds where earlier runs stopped, per folder: only messages with
/// a higher UID are fetched, unless the folder's UIDVALIDITY changed.
pub async fn scan_mailbox(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
    start: &Resume,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<Vec<(String, String)>, ImapError> {
    let opts = &ImapOptions {
        waits: Default::default(),
        ..opts.clone()
    };
    let result = scan_mailbox_folders(url, credentials, opts, start, emit).await;
    // Also when the mailbox failed: a mailbox given up on because the server
    // kept throttling is where the waits matter most.
    let (throttled, paced) = opts.waits.totals();
    if !throttled.is_zero() || !paced.is_zero() {
        tracing::info!(host = %url.host, user = %url.user, ?throttled, ?paced, "waited");
    }
    emit(Work::Seen(Sighting::Waited { throttled, paced }));
    result
}

async fn scan_mailbox_folders(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
    start: &Resume,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<Vec<(String, String)>, ImapError> {
    let started = std::time::Instant::now();
    // The first connection's pace holds across folders.
    let pacer = pace::Pacer::new(opts.pace);
    let pacer = pacer.as_ref();
    let mut session = connect_with_retry(url, credentials, opts).await?;
    tracing::debug!(host = %url.host, elapsed = ?started.elapsed(), "connected and authenticated");
    // Folders read before are opened before LIST: after a LIST in the same
    // session Dovecot re-reads a Maildir folder on EXAMINE (measured: 240 ms
    // instead of a few on a 20,000-message folder), which would make every
    // rescan cost as much as the mailbox is large.
    let mut known: Vec<Folder> = start
        .server_names
        .iter()
        .filter(|(name, _)| start.cursors.contains_key(*name))
        .map(|(name, server_name)| Folder {
            server_name: server_name.clone(),
            name: name.clone(),
        })
        .collect();
    known.sort_by(|a, b| (a.name != "INBOX", &a.name).cmp(&(b.name != "INBOX", &b.name)));
    let mut done = std::collections::HashSet::new();
    for folder in &known {
        let mut cursor = start.cursors.get(&folder.name).copied().unwrap_or_default();
        let stored = start.stored.get(&folder.name).copied().unwrap_or(0);
        let unread = start
            .unread
            .get(&folder.name)
            .map_or(&[][..], Vec::as_slice);
        match scan_folder_retrying(
            (&mut session, pacer),
            (url, credentials),
            folder,
            &mut cursor,
            (stored, unread),
            opts,
            emit,
        )
        .await
        {
            Ok(()) => {
                done.insert(folder.name.clone());
            }
            // Gone or renamed, or failing: LIST below says whether it still
            // exists, and it is tried again (and reported) if so.
            Err(e) if !e.is_transient() => {}
            Err(e) => return Err(e),
        }
    }
    tracing::debug!(known = done.len(), elapsed = ?started.elapsed(), "read known folders");
    let mut attempt = 0;
    let (folder_list, not_mail): (Vec<Folder>, Vec<String>) = loop {
        match folders(&mut session, opts.timeout).await {
            Ok(list) => break list,
            Err(e) if e.is_transient() && attempt < opts.max_retries => {
                attempt += 1;
                let wait = backoff(opts, attempt, &e);
                tracing::warn!(host = %url.host, attempt, ?wait, "LIST failed, retrying: {e}");
                pause(opts, wait, &e).await;
                session = connect_with_retry(url, credentials, opts).await?;
            }
            Err(e) => return Err(e),
        }
    };
    tracing::debug!(folders = folder_list.len(), elapsed = ?started.elapsed(), "listed folders");
    let mut failed = Vec::new();
    let names: Vec<String> = folder_list.iter().map(|f| f.name.clone()).collect();
    for folder in folder_list {
        if done.contains(&folder.name) {
            continue;
        }
        let mut cursor = start.cursors.get(&folder.name).copied().unwrap_or_default();
        let stored = start.stored.get(&folder.name).copied().unwrap_or(0);
        let unread = start
            .unread
            .get(&folder.name)
            .map_or(&[][..], Vec::as_slice);
        if let Err(e) = scan_folder_retrying(
            (&mut session, pacer),
            (url, credentials),
            &folder,
            &mut cursor,
            (stored, unread),
            opts,
            emit,
        )
        .await
        {
            if e.is_transient() {
                return Err(e);
            }
            failed.push((folder.name.clone(), e.to_string()));
        }
    }
    if !opts.metadata_only {
        emit(Work::Seen(Sighting::Folders { names }));
        emit(Work::Seen(Sighting::NotMail { names: not_mail }));
    }
    let _ = with_timeout(Duration::from_secs(5), session.logout()).await;
    Ok(failed)
}

/// Scans one folder, reconnecting and resuming after transient faults up to
/// the retry limit; the error that ended it otherwise.
async fn scan_folder_retrying(
    (session, pacer): (&mut Session, Option<&pace::Pacer>),
    (url, credentials): (&ImapUrl, &Credentials),
    folder: &Folder,
    cursor: &mut Cursor,
    (stored, unread): (u64, &[u32]),
    opts: &ImapOptions,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<(), ImapError> {
    let mut attempt = 0;
    let mut passed = cursor.last_uid;
    loop {
        let stored = if cursor.uid_validity == 0 { 0 } else { stored };
        match scan_folder(
            (session, pacer),
            (url, credentials),
            folder,
            cursor,
            (stored, unread),
            opts,
            emit,
        )
        .await
        {
            Ok(()) => return Ok(()),
            Err(e) if e.is_transient() && attempt < opts.max_retries => {
                // A big folder meets several token expiries and throttles:
                // the budget is for faults in a row, not for the folder.
                if cursor.last_uid > passed {
                    attempt = 0;
                    passed = cursor.last_uid;
                }
                attempt += 1;
                let wait = backoff(opts, attempt, &e);
                tracing::warn!(folder = %folder.name, attempt, ?wait, "IMAP fault, resuming after UID {}: {e}", cursor.last_uid);
                pause(opts, wait, &e).await;
                *session = connect_with_retry(url, credentials, opts).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sleeps out a back-off; time the server asked for is counted as time
/// spent throttled.
async fn pause(opts: &ImapOptions, wait: Duration, err: &ImapError) {
    if matches!(err, ImapError::Throttled(_)) {
        opts.waits.add_throttled(wait);
    }
    tokio::time::sleep(wait).await;
}

fn backoff(opts: &ImapOptions, attempt: u32, err: &ImapError) -> Duration {
    let exponential = opts.initial_backoff.saturating_mul(1 << attempt.min(10));
    match err {
        ImapError::Throttled(asked) => (*asked).max(opts.initial_backoff),
        _ => exponential.min(Duration::from_secs(120)),
    }
}

/// A server's request to wait: waited out up to [`MAX_THROTTLE_WAIT`];
/// asking for longer fails this mailbox (retried on the next run) instead
/// of putting the scan to sleep. Every throttling reply is made here.
fn throttled(asked: Duration) -> ImapError {
    if asked > MAX_THROTTLE_WAIT {
        ImapError::ThrottledTooLong(asked)
    } else {
        ImapError::Throttled(asked)
    }
}

/// What a test can call with any error: throttling replies as [`throttled`]
/// makes them.
#[cfg(test)]
fn capped(err: ImapError) -> ImapError {
    match err {
        ImapError::Throttled(asked) => throttled(asked),
        other => other,
    }
}

pub(crate) async fn connect_with_retry(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
) -> Result<Session, ImapError> {
    let mut attempt = 0;
    let mut not_connected_seen = false;
    loop {
        match connect(url, credentials, opts).await {
            Ok(s) => return Ok(s),
            // Exchange also says this for a while after many connections:
            // once, after a pause, before it counts as a missing permission.
            Err(e @ ImapError::NotConnected { .. }) if !not_connected_seen => {
                not_connected_seen = true;
                let wait = opts.initial_backoff.saturating_mul(4);
                tracing::warn!(host = %url.host, ?wait, "{e}; trying once more after a pause");
                tokio::time::sleep(wait).await;
            }
            Err(e) if e.is_transient() && attempt < opts.max_retries => {
                attempt += 1;
                let wait = backoff(opts, attempt, &e);
                tracing::warn!(host = %url.host, attempt, ?wait, "cannot connect, retrying: {e}");
                pause(opts, wait, &e).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// What became of the messages up to `known_upto` read in earlier runs
/// (`stored` of them are in the inventory; `old_exist` messages other than
/// the new ones are on the server). When the counts agree nothing was
/// expunged and only the flagged UIDs are asked for (`UID SEARCH FLAGGED`:
/// a short answer); otherwise one `UID FETCH 1:n (FLAGS)` tells which are
/// still there and how they are flagged.
async fn refresh(
    session: &mut Session,
    folder: &Folder,
    uid_validity: u32,
    known_upto: u32,
    stored: u64,
    old_exist: u64,
    timeout: Duration,
) -> Result<Sighting, ImapError> {
    let state = |present: Option<Vec<u32>>, flagged: Vec<u32>| Sighting::FolderState {
        folder: folder.name.clone(),
        uid_validity,
        upto: known_upto,
        present,
        flagged,
    };
    if known_upto == 0 || old_exist == 0 {
        return Ok(state(Some(Vec::new()), Vec::new()));
    }
    if old_exist == stored {
        let flagged = with_timeout(
            timeout,
            session.uid_search(format!("UID 1:{known_upto} FLAGGED")),
        )
        .await?
        .map_err(classify)?;
        drain_unsolicited(session);
        let mut flagged: Vec<u32> = flagged.into_iter().filter(|u| *u <= known_upto).collect();
        flagged.sort_unstable();
        return Ok(state(None, flagged));
    }
    let fetched = uid_fetch(session, &format!("1:{known_upto}"), "(UID FLAGS)", timeout).await?;
    drain_unsolicited(session);
    let mut present = Vec::with_capacity(fetched.len());
    let mut flagged = Vec::new();
    for f in fetched {
        // `1:n` also answers with the last message when n is below it.
        let Some(uid) = f.uid.filter(|u| *u <= known_upto) else {
            continue;
        };
        present.push(uid);
        if f.flagged {
            flagged.push(uid);
        }
    }
    Ok(state(Some(present), flagged))
}

async fn scan_folder(
    (session, pacer): (&mut Session, Option<&pace::Pacer>),
    (url, credentials): (&ImapUrl, &Credentials),
    folder: &Folder,
    cursor: &mut Cursor,
    (stored, unread): (u64, &[u32]),
    opts: &ImapOptions,
    emit: &mut (dyn FnMut(Work) -> bool + Send),
) -> Result<(), ImapError> {
    let started = std::time::Instant::now();
    let status = examine(session, folder, opts.timeout).await?;
    tracing::debug!(folder = %folder.name, exists = status.exists, uid_next = ?status.uid_next, last_uid = cursor.last_uid, elapsed = ?started.elapsed(), "examined");
    let uid_validity = status.uid_validity;
    if cursor.uid_validity != uid_validity {
        // A new folder, or its UIDs were renumbered: start over.
        *cursor = Cursor {
            uid_validity,
            last_uid: 0,
        };
    }
    // Messages an earlier run could not read for a passing reason (the
    // server withheld them) are read again, as long as the UIDs still mean
    // the same messages.
    let unread: Vec<u32> = if cursor.uid_validity == uid_validity && !opts.metadata_only {
        unread
            .iter()
            .copied()
            .filter(|u| *u <= cursor.last_uid)
            .collect()
    } else {
        Vec::new()
    };
    // Nothing new since the last run: not even the metadata is fetched.
    let nothing_new = status.exists == 0
        || status
            .uid_next
            .is_some_and(|next| next <= cursor.last_uid.saturating_add(1));
    let known_upto = cursor.last_uid;
    let mut infos = if nothing_new {
        Vec::new()
    } else {
        metadata(session, cursor.last_uid, opts.header_dates, opts.timeout).await?
    };
    let new_messages = infos.len() as u64;
    if !unread.is_empty() && status.exists > 0 {
        let again = metadata_of(session, &unread, opts.timeout).await?;
        tracing::debug!(folder = %folder.name, asked = unread.len(), found = again.len(), "reading again what the server withheld before");
        infos.splice(0..0, again);
    }
    // What was read in earlier runs is not read again, but its flags may
    // have changed and some of it may be gone.
    let state = if opts.metadata_only {
        None
    } else {
        Some(
            refresh(
                session,
                folder,
                uid_validity,
                known_upto,
                stored,
                u64::from(status.exists).saturating_sub(new_messages),
                opts.timeout,
            )
            .await?,
        )
    };
    tracing::debug!(folder = %folder.name, elapsed = ?started.elapsed(), "flags refreshed");
    if infos.is_empty() {
        if let Some(state) = state {
            emit(Work::Seen(state));
        }
        return Ok(());
    }
    let meta_of = |info: &MessageInfo| MessageMeta {
        uid: Some(info.uid),
        uid_validity: Some(uid_validity),
        server_folder: Some(folder.server_name.clone()),
        received: info.internal_date,
        flagged: info.flagged,
        position: u64::from(info.uid),
        ..MessageMeta::local(
            folder.name.clone(),
            info.size,
            format!("{} UID {}", folder.name, info.uid),
        )
    };
    if opts.metadata_only {
        // The metadata was the request; the pace holds back the next one.
        let n = infos.len() as u64;
        for p in pacer.into_iter().chain(opts.total_pace.as_deref()) {
            p.wait(n, 0, &opts.waits).await;
        }
        for info in &infos {
            if !emit(Work::Read(Job {
                meta: meta_of(info),
                content: Content::MetadataOnly { sent: info.sent },
            })) {
                return Ok(());
            }
            cursor.last_uid = cursor.last_uid.max(info.uid);
        }
        return Ok(());
    }
    let steps = plan(&infos, opts);
    let mut missing: Vec<&MessageInfo> = Vec::new();
    let batches = steps.iter().filter(|s| matches!(s, Step::Fetch(_))).count();
    // More connections for big folders, up to the per-mailbox cap: the
    // server reads and sends messages while we parse the previous batch.
    let wanted = opts
        .connections_per_mailbox
        .clamp(1, MAX_CONNECTIONS_PER_MAILBOX)
        .min(batches);
    // Opened together: opening a folder can cost the server as much as a
    // batch of bodies.
    let opening = (1..wanted).map(|_| async {
        let mut s = connect(url, credentials, opts).await?;
        examine(&mut s, folder, opts.timeout).await?;
        Ok::<_, ImapError>(s)
    });
    let mut extra: Vec<Session> = Vec::new();
    for opened in futures::future::join_all(opening).await {
        match opened {
            Ok(s) => extra.push(s),
            // Fewer connections is slower, not wrong.
            Err(e) => {
                tracing::warn!(folder = %folder.name, "an extra connection failed, going on with fewer: {e}")
            }
        }
    }
    let n_sessions = 1 + extra.len();
    let sessions: Vec<futures::lock::Mutex<&mut Session>> = std::iter::once(&mut *session)
        .chain(extra.iter_mut())
        .map(futures::lock::Mutex::new)
        .collect();
    // Each extra connection keeps its own pace, as the first does.
    let extra_pacers: Vec<Option<pace::Pacer>> = (1..n_sessions)
        .map(|_| pace::Pacer::new(opts.pace))
        .collect();
    let pacers: Vec<Option<&pace::Pacer>> = std::iter::once(pacer)
        .chain(extra_pacers.iter().map(Option::as_ref))
        .collect();
    let pacers = &pacers;
    let n = sessions.len();
    let timeout = opts.timeout;
    // `buffered` keeps at most n steps in flight and yields them in order,
    // so step i and i + n never use the same connection at once, and the
    // cursor only ever passes messages whose results were handed on.
    let mut results = futures::stream::iter(steps.into_iter().enumerate())
        .map(|(i, step)| {
            let cell = &sessions[i % n];
            async move {
                match step {
                    Step::TooLarge(info) => Ok((vec![info], None)),
                    Step::Fetch(batch) => {
                        let uids: Vec<u32> = batch.iter().map(|b| b.uid).collect();
                        let mut session = cell.lock().await;
                        let bytes: u64 = batch.iter().map(|b| b.size).sum();
                        for p in pacers[i % n].into_iter().chain(opts.total_pace.as_deref()) {
                            p.wait(uids.len() as u64, bytes, &opts.waits).await;
                        }
                        let mut fetched = bodies(&mut session, &uids, timeout).await?;
                        fetched.sort_by_key(|(uid, _)| *uid);
                        Ok::<_, ImapError>((batch, Some(fetched)))
                    }
                }
            }
        })
        .buffered(n);
    while let Some(result) = futures::StreamExt::next(&mut results).await {
        let (infos, mut fetched) = result?;
        for info in infos {
            let content = match fetched.as_mut() {
                // Never fetched: reported from its metadata alone.
                None => Content::Unreadable(ProblemKind::MessageTooLarge),
                Some(fetched) => match fetched.binary_search_by_key(&info.uid, |(uid, _)| *uid) {
                    // The size the server announced is its word; the body
                    // it sent is the fact.
                    Ok(pos) if fetched[pos].1.len() as u64 > opts.max_message_bytes => {
                        fetched[pos].1 = Vec::new();
                        Content::Unreadable(ProblemKind::MessageTooLarge)
                    }
                    Ok(pos) if is_conversion_stub(&fetched[pos].1) => {
                        fetched[pos].1 = Vec::new();
                        tracing::warn!(folder = %folder.name, uid = info.uid, "the server could not convert the item to MIME");
                        Content::Unreadable(ProblemKind::Unconvertible)
                    }
                    Ok(pos) => Content::Bytes(std::mem::take(&mut fetched[pos].1)),
                    // Expunged since the metadata, or withheld: found out below.
                    Err(_) => {
                        missing.push(info);
                        continue;
                    }
                },
            };
            if !emit(Work::Read(Job {
                meta: meta_of(info),
                content,
            })) {
                return Ok(());
            }
            // Messages read again lie below the cursor.
            cursor.last_uid = cursor.last_uid.max(info.uid);
        }
    }
    drop(results);
    drop(sessions);
    for mut s in extra {
        let _ = with_timeout(Duration::from_secs(5), s.logout()).await;
    }
    // A message asked for but not in the reply: gone since the metadata
    // (nothing to record), or still there and withheld, which is recorded
    // as not read, never passed over in silence.
    if !missing.is_empty() {
        let set = missing
            .iter()
            .map(|i| i.uid.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let still: std::collections::HashSet<u32> = uid_fetch(session, &set, "(UID)", opts.timeout)
            .await?
            .into_iter()
            .filter_map(|f| f.uid)
            .collect();
        drain_unsolicited(session);
        for info in missing.into_iter().filter(|i| still.contains(&i.uid)) {
            tracing::warn!(folder = %folder.name, uid = info.uid, "the server did not return the message's content");
            if !emit(Work::Read(Job {
                meta: meta_of(info),
                content: Content::Unreadable(ProblemKind::NotReturned),
            })) {
                return Ok(());
            }
        }
    }
    if let Some(state) = state {
        emit(Work::Seen(state));
    }
    Ok(())
}

/// One step of a folder's body phase, in UID order.
enum Step<'a> {
    Fetch(Vec<&'a MessageInfo>),
    TooLarge(&'a MessageInfo),
}

/// Groups messages into body batches (by count and bytes); a message over
/// the size limit is a step of its own and is never fetched.
fn plan<'a>(infos: &'a [MessageInfo], opts: &ImapOptions) -> Vec<Step<'a>> {
    let mut steps = Vec::new();
    let mut batch: Vec<&MessageInfo> = Vec::new();
    let mut bytes = 0u64;
    for info in infos {
        if info.size > opts.max_message_bytes {
            if !batch.is_empty() {
                steps.push(Step::Fetch(std::mem::take(&mut batch)));
                bytes = 0;
            }
            steps.push(Step::TooLarge(info));
            continue;
        }
        if !batch.is_empty()
            && (batch.len() >= opts.batch_messages || bytes + info.size > opts.batch_bytes)
        {
            steps.push(Step::Fetch(std::mem::take(&mut batch)));
            bytes = 0;
        }
        bytes += info.size;
        batch.push(info);
    }
    if !batch.is_empty() {
        steps.push(Step::Fetch(batch));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_capped_and_uids_never_overflow() {
        let opts = ImapOptions::default();
        assert!(matches!(
            capped(ImapError::Throttled(Duration::from_secs(3 * 365 * 86_400))),
            ImapError::ThrottledTooLong(_)
        ));
        assert!(
            !capped(ImapError::Throttled(Duration::from_secs(3 * 365 * 86_400))).is_transient()
        );
        assert!(matches!(
            capped(ImapError::Throttled(Duration::from_secs(300))),
            ImapError::Throttled(_)
        ));
        assert_eq!(
            backoff(&opts, 3, &ImapError::Throttled(Duration::from_secs(30))),
            Duration::from_secs(30)
        );
        assert!(!ImapError::UnknownHost("nowhere.invalid".into()).is_transient());
    }

    #[test]
    fn throttle_replies_are_understood() {
        assert_eq!(
            throttle_wait("Request is throttled. Suggested Backoff Time: 299961 milliseconds"),
            Some(Duration::from_millis(299_961))
        );
        assert_eq!(throttle_wait("LOGIN failed."), None);
    }

    #[test]
    fn internal_dates() {
        let d = internal_date("17-Jul-1996 02:44:25 -0700").expect("valid");
        assert_eq!(d.to_rfc3339(), "1996-07-17T09:44:25+00:00");
        let d = internal_date(" 1-Jan-2025 00:00:00 +0100").expect("space-padded day");
        assert_eq!(d.to_rfc3339(), "2024-12-31T23:00:00+00:00");
        assert_eq!(internal_date("31-Feb-2025 00:00:00 +0000"), None);
        assert_eq!(internal_date("garbage"), None);
    }

    #[test]
    fn library_errors_never_quote_what_they_failed_to_parse() {
        use async_imap::error::{Error, ParseError};
        let body = b"* 1 FETCH (BODY[] {20}\r\nFnr 15076500565 here)".to_vec();
        let shown = classify(Error::Parse(ParseError::Invalid(body))).to_string();
        assert!(!shown.contains("15076500565"), "{shown}");
        let long = format!("No such folder\r\n\x1b[31m{}", "x".repeat(500));
        let shown = classify(Error::No(long)).to_string();
        assert!(!shown.contains('\x1b') && !shown.contains('\n'), "{shown}");
        assert!(shown.chars().count() < 260, "{shown}");
    }

    #[test]
    fn fetch_replies_good_bad_and_hostile() {
        let good = b"* 1 FETCH (UID 1 FLAGS (\\Flagged) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" RFC822.SIZE 5 BODY[] {5}\r\nhello)\r\n* 2 FETCH (UID 2 BODY[] NIL)";
        let (uids, bodies) = read_fetch_reply(good).expect("a good reply is read");
        assert_eq!(uids, vec![1, 2]);
        // `BODY[] NIL` is no body: the message is missing, not empty.
        assert_eq!(bodies, vec![(1, 5)]);
        // Garbage, an unterminated literal, a literal far larger than what
        // follows, a UID past u32: each ends with an error or nothing, and
        // none quotes the reply.
        for hostile in [
            &b"* 1 FETCH (UID 1 BODY[] {99999999999}\r\nshort"[..],
            b"* 1 FETCH (UID 1 BODY[] {4294967295}\r\n",
            b"* 1 FETCH (UID 4294967296)",
            b"\x00\xff secret-looking 01019012345 (((((",
            b"* 1 FETCH (UID 1 FLAGS (",
            // Found by the fuzz target: imap-proto panics on this.
            b"* 3 FETCH (UID 3 FLAGS ())\r\n* OK [ALERT]\xd4 FETCH 3\r\n",
            b"* 1 FETCH (UID 1 INTERNALDATE NIL)",
        ] {
            match read_fetch_reply(hostile) {
                Ok((uids, bodies)) => assert!(uids.len() <= 1 && bodies.len() <= 1),
                Err(e) => assert!(!e.to_string().contains("01019012345"), "{e}"),
            }
        }
    }

    #[test]
    fn sign_in_refusals_are_sentences() {
        assert_eq!(
            library_words(
                r#"code: None, info: Some("[AUTHENTICATIONFAILED] Authentication failed.")"#
            ),
            "[AUTHENTICATIONFAILED] Authentication failed."
        );
        assert_eq!(
            library_words(r#"outcome: Outcome { code: None, information: Some("LOGIN failed.") }"#),
            "LOGIN failed."
        );
        assert_eq!(library_words("plain words"), "plain words");
        let dovecot = explain_login("[AUTHENTICATIONFAILED] Authentication failed.");
        assert!(
            dovecot.starts_with("wrong user name or password"),
            "{dovecot}"
        );
        assert!(explain_login("AUTHENTICATE failed.").contains("enterprise application"));
        assert!(explain_login("LOGIN failed.").contains("basic authentication is off"));
        let e = auth_error(
            "ola@firma.no",
            async_imap::error::Error::No(r#"code: None, info: Some("LOGIN failed.")"#.into()),
        )
        .to_string();
        assert!(!e.contains("code:") && !e.contains("Some("), "{e}");
        assert!(e.contains("OAuth2"), "{e}");
    }

    #[test]
    fn credentials_never_print() {
        let c = Credentials::Password("hunter2-secret".into());
        assert!(!format!("{c:?}").contains("hunter2"));
        let t = Credentials::Token("eyJsecret".into());
        assert!(!format!("{t:?}").contains("eyJ"));
    }

    #[test]
    fn server_replies_are_classified() {
        use async_imap::error::Error;
        assert!(matches!(
            classify(Error::No("Mailbox doesn't exist: x".into())),
            ImapError::Refused(_)
        ));
        assert!(!classify(Error::No("Mailbox doesn't exist: x".into())).is_transient());
        assert!(classify(Error::No("Server Unavailable. 15".into())).is_transient());
        assert!(matches!(
            classify(Error::No(
                "Request is throttled. Suggested Backoff Time: 1000 milliseconds".into()
            )),
            ImapError::Throttled(_)
        ));
        assert!(matches!(
            classify(Error::Bad(
                "User is authenticated but not connected.".into()
            )),
            ImapError::NotConnected { .. }
        ));
        assert!(classify(Error::ConnectionLost).is_transient());
    }
}
