//! `imaps://USER@HOST[:PORT]` and `imap://USER@HOST[:PORT]`, parsed. Pure.

use std::fmt;
use std::net::IpAddr;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imaps://`: TLS from the first byte (port 993).
    Implicit,
    /// `imap://`: STARTTLS (port 143); plaintext only to loopback, only when
    /// the user allows it explicitly.
    StartTls,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    pub security: Security,
    /// Percent-decoded: `ola%40firma.no` is `ola@firma.no`.
    pub user: String,
    pub host: String,
    pub port: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("`{0}` is not an IMAP URL (imaps://USER@HOST[:PORT] or imap://USER@HOST[:PORT])")]
    NotImap(String),
    #[error("`{0}`: the user is missing (imaps://USER@HOST)")]
    NoUser(String),
    #[error("passwords never go in the URL: use MAILHYGIENE_IMAP_PASSWORD or the config file")]
    SecretInUrl,
    #[error("`{0}`: bad port")]
    BadPort(String),
    #[error("`{0}`: bad percent-encoding in the user")]
    BadEncoding(String),
}

/// `%40` to `@`; `None` when an escape is malformed or not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl ImapUrl {
    pub fn parse(s: &str) -> Result<ImapUrl, UrlError> {
        let (security, rest, default_port) = if let Some(r) = s.strip_prefix("imaps://") {
            (Security::Implicit, r, 993)
        } else if let Some(r) = s.strip_prefix("imap://") {
            (Security::StartTls, r, 143)
        } else {
            return Err(UrlError::NotImap(s.to_string()));
        };
        let authority = rest.split('/').next().unwrap_or("");
        let (userinfo, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| UrlError::NoUser(s.to_string()))?;
        if userinfo.contains(':') {
            return Err(UrlError::SecretInUrl);
        }
        if userinfo.is_empty() {
            return Err(UrlError::NoUser(s.to_string()));
        }
        let user = percent_decode(userinfo).ok_or_else(|| UrlError::BadEncoding(s.to_string()))?;
        let (host, port) = if let Some(stripped) = hostport.strip_prefix('[') {
            // [::1]:993
            let (h, after) = stripped
                .split_once(']')
                .ok_or_else(|| UrlError::BadPort(s.to_string()))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| UrlError::BadPort(s.to_string()))?,
                None => default_port,
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (
                    h.to_string(),
                    p.parse().map_err(|_| UrlError::BadPort(s.to_string()))?,
                ),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NotImap(s.to_string()));
        }
        Ok(ImapUrl {
            security,
            user,
            host,
            port,
        })
    }

    pub fn is_loopback(&self) -> bool {
        self.host.eq_ignore_ascii_case("localhost")
            || self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.security {
            Security::Implicit => "imaps",
            Security::StartTls => "imap",
        };
        // The user is percent-encoded so the URL parses back to itself.
        let user: String = self
            .user
            .chars()
            .map(|c| match c {
                '@' => "%40".to_string(),
                ':' => "%3A".to_string(),
                '%' => "%25".to_string(),
                '/' => "%2F".to_string(),
                c => c.to_string(),
            })
            .collect();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{scheme}://{user}@{host}:{}", self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = ImapUrl::parse("imaps://ola%40firma.no@outlook.office365.com").expect("valid");
        assert_eq!(u.security, Security::Implicit);
        assert_eq!(u.user, "ola@firma.no");
        assert_eq!(u.host, "outlook.office365.com");
        assert_eq!(u.port, 993);
        let u = ImapUrl::parse("imap://kari@127.0.0.1:1143").expect("valid");
        assert_eq!((u.security, u.port), (Security::StartTls, 1143));
        assert!(u.is_loopback());
        let u = ImapUrl::parse("imaps://kari@[::1]:9993").expect("valid");
        assert_eq!((u.host.as_str(), u.port), ("::1", 9993));
        assert!(u.is_loopback());
        assert_eq!(
            ImapUrl::parse("imaps://ola:pw@host"),
            Err(UrlError::SecretInUrl)
        );
        assert!(ImapUrl::parse("imaps://host").is_err());
        assert!(ImapUrl::parse("imaps://a@host:x").is_err());
        assert!(ImapUrl::parse("maildir:/x").is_err());
        for url in [
            "imaps://ola%40firma.no@outlook.office365.com:993",
            "imap://a%3Ab@[::1]:143",
        ] {
            assert_eq!(ImapUrl::parse(url).expect("valid").to_string(), url);
        }
    }
}
