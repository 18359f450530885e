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
    /// The tenant's pause shared with other workers (`worker` sets it).
    pub shared_pause: Option<std::sync::Arc<dyn pace::SharedPause>>,
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
            shared_pause: None,
            waits: Default::default(),
        }
    }
}

mod connect;
mod errors;
mod fetch;
mod folders;
mod scan_loop;

pub use connect::*;
pub use errors::*;
pub use fetch::*;
pub use folders::*;
pub use scan_loop::*;

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
