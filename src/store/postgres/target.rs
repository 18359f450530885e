//! Where a PostgreSQL store is and how to reach it: the URL
//! (`postgresql://USER@HOST[:PORT]/DB`), the password by libpq's
//! conventions, and whether the connection must be TLS.
//!
//! A password never travels in the URL (URLs end up in shell history,
//! process lists and logs): it comes from the configuration's
//! `password_env`/`password_file`, else `PGPASSWORD`, else the passfile
//! (`PGPASSFILE`, default `~/.pgpass`), as libpq looks for it. The
//! connection is TLS with the server's certificate verified (the system's
//! roots, or `?sslrootcert=FILE`), except to loopback or a Unix socket,
//! where plaintext stays on the machine.

use crate::store::StoreError;
use std::path::{Path, PathBuf};

/// The server's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A host name or IP address, reached over TCP.
    Tcp(String),
    /// The directory holding the server's Unix socket.
    Socket(PathBuf),
}

/// A parsed store URL: what to connect to, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub user: String,
    pub host: Host,
    pub port: u16,
    pub database: String,
    /// A PEM file of the certificate authorities to trust instead of the
    /// system's (`?sslrootcert=FILE`).
    pub root_cert: Option<PathBuf>,
}

/// Where the password comes from when the configuration names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordSource {
    /// An environment variable holding it (`password_env`).
    pub env: Option<String>,
    /// A file holding it (`password_file`), private to its owner.
    pub file: Option<PathBuf>,
}

fn invalid(s: impl Into<String>) -> StoreError {
    StoreError::Invalid(s.into())
}

fn percent_decode(s: &str) -> Result<String, StoreError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| invalid("a store URL has a broken %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| invalid("a store URL decodes to invalid UTF-8"))
}

impl Target {
    /// Parses `postgresql://USER@HOST[:PORT]/DB[?sslrootcert=FILE]`
    /// (`postgres://` too). HOST is a name, an IPv4 address, `[IPv6]`, or
    /// a %-encoded absolute path: the directory of the server's Unix socket.
    pub fn parse(url: &str) -> Result<Target, StoreError> {
        let rest = url
            .strip_prefix("postgresql://")
            .or_else(|| url.strip_prefix("postgres://"))
            .ok_or_else(|| invalid("a PostgreSQL store URL starts with postgresql://"))?;
        let (rest, query) = match rest.split_once('?') {
            Some((r, q)) => (r, Some(q)),
            None => (rest, None),
        };
        let (authority, database) = rest.split_once('/').ok_or_else(|| {
            invalid("the store URL names no database: postgresql://USER@HOST[:PORT]/DB")
        })?;
        let database = percent_decode(database)?;
        if database.is_empty() || database.contains('/') {
            return Err(invalid(
                "the store URL names no database: postgresql://USER@HOST[:PORT]/DB",
            ));
        }
        let (userinfo, hostport) = authority
            .rsplit_once('@')
            .ok_or_else(|| invalid("the store URL names no user: postgresql://USER@HOST/DB"))?;
        if userinfo.contains(':') {
            return Err(invalid(
                "the store URL holds a password: give it in PGPASSWORD, a passfile (~/.pgpass) or the configuration's password_env/password_file, never in the URL",
            ));
        }
        let user = percent_decode(userinfo)?;
        if user.is_empty() {
            return Err(invalid(
                "the store URL names no user: postgresql://USER@HOST/DB",
            ));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| invalid("the store URL has an unclosed [IPv6] address"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(invalid("the store URL's host is followed by junk")),
            };
            (addr.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (percent_decode(h)?, Some(p)),
                None => (percent_decode(hostport)?, None),
            }
        };
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                invalid(format!(
                    "the store URL's port {p:?} is not a port number (1-65535)"
                ))
            })?,
            None => 5432,
        };
        let host = if host.starts_with('/') {
            Host::Socket(host.into())
        } else if host.is_empty() {
            return Err(invalid(
                "the store URL names no host: postgresql://USER@HOST/DB",
            ));
        } else {
            Host::Tcp(host)
        };
        let mut root_cert = None;
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            match pair.split_once('=') {
                Some(("sslrootcert", v)) => root_cert = Some(PathBuf::from(percent_decode(v)?)),
                _ => {
                    return Err(invalid(format!(
                        "the store URL's option {:?} is not known (known: sslrootcert)",
                        pair.split('=').next().unwrap_or_default()
                    )));
                }
            }
        }
        Ok(Target {
            user,
            host,
            port,
            database,
            root_cert,
        })
    }

    /// Whether plaintext is allowed: the server is on this machine (a Unix
    /// socket, or a loopback address).
    pub fn is_local(&self) -> bool {
        match &self.host {
            Host::Socket(_) => true,
            Host::Tcp(h) => {
                h == "localhost"
                    || h.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        }
    }

    /// How the store names itself in messages: the URL without secrets.
    pub fn display(&self) -> String {
        let host = match &self.host {
            Host::Tcp(h) if h.contains(':') => format!("[{h}]"),
            Host::Tcp(h) => h.clone(),
            Host::Socket(dir) => dir.display().to_string(),
        };
        format!(
            "postgresql://{}@{}:{}/{}",
            self.user, host, self.port, self.database
        )
    }

    /// The password, by libpq's conventions after the configuration's own
    /// sources; `None` when there is none (trust or peer authentication).
    pub fn password(&self, configured: &PasswordSource) -> Result<Option<String>, StoreError> {
        if let Some(var) = &configured.env {
            return match std::env::var(var) {
                Ok(v) if !v.is_empty() => Ok(Some(v)),
                _ => Err(invalid(format!(
                    "password_env names {var}, which is not set"
                ))),
            };
        }
        if let Some(file) = &configured.file {
            return read_secret_file(file).map(Some);
        }
        if let Ok(v) = std::env::var("PGPASSWORD")
            && !v.is_empty()
        {
            return Ok(Some(v));
        }
        let passfile = match std::env::var_os("PGPASSFILE") {
            Some(p) => PathBuf::from(p),
            None => match std::env::var_os("HOME") {
                Some(home) => Path::new(&home).join(".pgpass"),
                None => return Ok(None),
            },
        };
        let Ok(text) = std::fs::read_to_string(&passfile) else {
            return Ok(None);
        };
        // libpq ignores a passfile others can read, and says so.
        if group_or_world_readable(&passfile) {
            tracing::warn!(
                file = %passfile.display(),
                "the passfile can be read by others and is ignored (chmod 600 it)"
            );
            return Ok(None);
        }
        let host = match &self.host {
            Host::Tcp(h) => h.clone(),
            // libpq matches a socket connection against "localhost".
            Host::Socket(_) => "localhost".to_string(),
        };
        Ok(passfile_lookup(
            &text,
            &host,
            self.port,
            &self.database,
            &self.user,
        ))
    }
}

/// A secret from a file: its first line, the file private to its owner.
fn read_secret_file(path: &Path) -> Result<String, StoreError> {
    if group_or_world_readable(path) {
        return Err(invalid(format!(
            "the password file {} can be read by others: chmod 600 it",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(format!(
            "cannot read the password file {}: {e}",
            path.display()
        ))
    })?;
    let line = text.lines().next().unwrap_or_default().trim_end();
    if line.is_empty() {
        return Err(invalid(format!(
            "the password file {} is empty",
            path.display()
        )));
    }
    Ok(line.to_string())
}

fn group_or_world_readable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0)
}

/// The password of the first passfile line that matches
/// (`hostname:port:database:username:password`, `*` matching anything,
/// `\:` and `\\` escaped, `#` lines comments), as libpq reads it.
pub fn passfile_lookup(
    text: &str,
    host: &str,
    port: u16,
    database: &str,
    user: &str,
) -> Option<String> {
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        field.push(next);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        if fields.len() != 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], database)
            && matches(&fields[3], user)
        {
            return Some(fields.swap_remove(4));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_read_as_libpq_writes_them() {
        let t = Target::parse("postgresql://mh@db.firma.no:6543/mailhygiene").expect("url");
        assert_eq!(t.user, "mh");
        assert_eq!(t.host, Host::Tcp("db.firma.no".into()));
        assert_eq!(t.port, 6543);
        assert_eq!(t.database, "mailhygiene");
        assert!(!t.is_local());
        assert_eq!(t.display(), "postgresql://mh@db.firma.no:6543/mailhygiene");
        let t = Target::parse("postgres://mh@127.0.0.1/m").expect("url");
        assert_eq!((t.port, t.is_local()), (5432, true));
        let t = Target::parse("postgresql://mh@[::1]:5433/m").expect("v6");
        assert_eq!(
            (t.host.clone(), t.port, t.is_local()),
            (Host::Tcp("::1".into()), 5433, true)
        );
        let t = Target::parse("postgresql://mh@%2Frun%2Fpostgresql:5432/m").expect("socket");
        assert_eq!(t.host, Host::Socket("/run/postgresql".into()));
        assert!(t.is_local());
        let t = Target::parse("postgresql://mh@db/m?sslrootcert=%2Fetc%2Fca.pem").expect("ca");
        assert_eq!(t.root_cert, Some(PathBuf::from("/etc/ca.pem")));
        assert!(
            Target::parse("postgresql://mh@localhost/m")
                .expect("localhost")
                .is_local()
        );
    }

    #[test]
    fn bad_urls_are_refused_in_words_and_never_echo_a_password() {
        for (url, says) in [
            ("postgresql://mh:hemmelig-passord@db/m", "never in the URL"),
            ("postgresql://db/m", "names no user"),
            ("postgresql://mh@db", "names no database"),
            ("postgresql://mh@db/", "names no database"),
            ("postgresql://mh@db:99999/m", "not a port number"),
            ("postgresql://mh@db:x/m", "not a port number"),
            ("postgresql://mh@/m", "names no host"),
            ("postgresql://mh@db/m?sslmode=disable", "not known"),
            ("postgresql://mh@db/m%zz", "%-escape"),
        ] {
            let e = Target::parse(url).expect_err(url).to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(!e.contains("hemmelig"), "{e}");
        }
    }

    #[test]
    fn the_passfile_is_read_as_libpq_reads_it() {
        let text = "# comment\n\
                    other:5432:m:mh:wrong\n\
                    db\\:x:*:m:mh:escaped\\:colon\n\
                    db:5432:*:mh:first\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            passfile_lookup(text, "db", 5432, "m", "mh").as_deref(),
            Some("first")
        );
        assert_eq!(
            passfile_lookup(text, "db:x", 1, "m", "mh").as_deref(),
            Some("escaped:colon")
        );
        assert_eq!(
            passfile_lookup(text, "db", 5433, "m", "mh").as_deref(),
            Some("fallback")
        );
        assert_eq!(
            passfile_lookup("db:5432:m:mh\n", "db", 5432, "m", "mh"),
            None
        );
    }

    #[test]
    fn a_password_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret-value\n").expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let t = Target::parse("postgresql://mh@db/m").expect("url");
        let source = PasswordSource {
            env: None,
            file: Some(file.clone()),
        };
        let e = t
            .password(&source)
            .expect_err("readable by others")
            .to_string();
        assert!(e.contains("chmod 600") && !e.contains("s3cret"), "{e}");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert_eq!(
            t.password(&source).expect("read").as_deref(),
            Some("s3cret-value")
        );
        let missing = PasswordSource {
            env: Some("MAILHYGIENE_TEST_NO_SUCH_VARIABLE".into()),
            file: None,
        };
        assert!(
            t.password(&missing)
                .expect_err("unset")
                .to_string()
                .contains("not set")
        );
    }
}
