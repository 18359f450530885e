//! Sources: where messages come from, converted at the boundary into
//! [`MessageMeta`] plus bytes. This is an I/O edge: files are opened
//! read-only and nothing here ever writes to a mailbox.

pub mod imap_url;
pub mod maildir;
pub mod mbox;
pub mod utf7;

use crate::model::MessageMeta;
use std::fmt;
use std::path::PathBuf;

/// A source as named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Maildir(PathBuf),
    Mbox(PathBuf),
    /// `imaps://USER@HOST[:PORT]` or `imap://USER@HOST[:PORT]`.
    Imap(imap_url::ImapUrl),
}

impl SourceSpec {
    pub fn parse(s: &str) -> Result<SourceSpec, SourceError> {
        if let Some(path) = s.strip_prefix("maildir:") {
            if path.is_empty() {
                return Err(SourceError::EmptyPath(s.to_string()));
            }
            return Ok(SourceSpec::Maildir(expand_home(path)));
        }
        if let Some(path) = s.strip_prefix("mbox:") {
            if path.is_empty() {
                return Err(SourceError::EmptyPath(s.to_string()));
            }
            return Ok(SourceSpec::Mbox(expand_home(path)));
        }
        if s.starts_with("imaps://") || s.starts_with("imap://") {
            return imap_url::ImapUrl::parse(s)
                .map(SourceSpec::Imap)
                .map_err(|e| match e {
                    imap_url::UrlError::SecretInUrl => SourceError::SecretInUrl,
                    other => SourceError::BadImapUrl(other.to_string()),
                });
        }
        Err(SourceError::UnknownScheme(s.to_string()))
    }
}

/// `~` or `~/...` is the home directory, as in a shell (`maildir:~/Maildir`
/// reaches the program unexpanded: the shell only expands a leading `~`).
fn expand_home(path: &str) -> PathBuf {
    let home = std::env::var_os("HOME");
    match (path, home) {
        ("~", Some(home)) => PathBuf::from(home),
        (p, Some(home)) if p.starts_with("~/") => PathBuf::from(home).join(&p[2..]),
        (p, _) => PathBuf::from(p),
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("`{0}`: a source is maildir:PATH, mbox:PATH, imaps://USER@HOST or imap://USER@HOST")]
    UnknownScheme(String),
    #[error("`{0}`: the path is empty")]
    EmptyPath(String),
    #[error("passwords never go in the URL: use MAILHYGIENE_IMAP_PASSWORD or the config file")]
    SecretInUrl,
    #[error("{0}")]
    BadImapUrl(String),
}

/// Where a message's bytes are.
pub enum Content {
    /// A file to read (Maildir): read by the worker, in parallel.
    File(PathBuf),
    /// Bytes already read (mbox, split by one reader).
    Bytes(Vec<u8>),
    /// Known only by its metadata: too large, or not readable.
    Unreadable(crate::model::ProblemKind),
    /// Judged by its metadata alone (a stale-only scan): never read; its
    /// `Date:` header when a rule ages by it.
    MetadataOnly {
        sent: Option<chrono::DateTime<chrono::Utc>>,
    },
}

impl fmt::Debug for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Content::File(p) => write!(f, "File({})", p.display()),
            Content::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Content::Unreadable(kind) => write!(f, "Unreadable({kind:?})"),
            Content::MetadataOnly { .. } => f.write_str("MetadataOnly"),
        }
    }
}

/// One message to scan.
#[derive(Debug)]
pub struct Job {
    pub meta: MessageMeta,
    pub content: Content,
}

/// What a lister hands on: a message to read, or what it saw of messages
/// it need not read (still there, flags, gone), kept in order with them.
#[derive(Debug)]
pub enum Work {
    Read(Job),
    Seen(crate::store::Sighting),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sources() {
        assert_eq!(
            SourceSpec::parse("maildir:/var/mail/x"),
            Ok(SourceSpec::Maildir("/var/mail/x".into()))
        );
        assert_eq!(
            SourceSpec::parse("mbox:a.mbox"),
            Ok(SourceSpec::Mbox("a.mbox".into()))
        );
        assert!(matches!(
            SourceSpec::parse("imaps://ola@example.no"),
            Ok(SourceSpec::Imap(_))
        ));
        assert_eq!(
            SourceSpec::parse("imaps://ola:hemmelig@example.no"),
            Err(SourceError::SecretInUrl)
        );
        assert!(SourceSpec::parse("/var/mail/x").is_err());
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                SourceSpec::parse("maildir:~/Maildir"),
                Ok(SourceSpec::Maildir(PathBuf::from(home).join("Maildir")))
            );
        }
        assert!(SourceSpec::parse("maildir:").is_err());
    }
}
