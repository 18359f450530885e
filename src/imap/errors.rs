//! What goes wrong talking IMAP, in words a sysadmin can act on: the
//! error type, how a library error and a server's reply are classified
//! (transient, throttled, refused), and never a credential in any of it.

use super::*;

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
        "nothing listens on {host}:{port} (the connection was refused): check the account's host, port and security (993 with TLS from the start, 143 with starttls)"
    )]
    NothingListens { host: String, port: u16 },
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
pub(super) fn library_words(text: &str) -> String {
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
