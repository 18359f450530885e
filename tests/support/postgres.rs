//! A private PostgreSQL for the tests: Debian's `postgresql` binaries,
//! `initdb` in a temporary directory, listening on a loopback port and a
//! Unix socket in that directory, stopped (and its files removed) when
//! dropped. Password authentication (scram-sha-256) on both, as a real
//! installation would have it.
//!
//! Shared by the integration tests (`mod support`) and the library's unit
//! tests (included by path), so both start the same server the same way.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The role the tests connect as, and its password.
pub const USER: &str = "mailhygiene";
pub const PASSWORD: &str = "test-password-0123456789";

pub struct Postgres {
    dir: tempfile::TempDir,
    /// The server under a watchdog shell: it stops the server (and removes
    /// its files) when this end of its standard input closes, which the
    /// kernel does when the test process ends however it ends. A server
    /// kept for a whole test process is never left running.
    server: Child,
    watch: Option<std::process::ChildStdin>,
    pub port: u16,
}

/// Where Debian keeps the server's binaries (`/usr/lib/postgresql/N/bin`),
/// newest first; `MAILHYGIENE_PG_BIN` overrides.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("MAILHYGIENE_PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| {
                    let version = e.file_name().to_str()?.parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("initdb").exists().then_some((version, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server binaries are not installed (Debian: apt-get install postgresql); \
             .ci/run installs them"
        ),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The server refuses to run as root: as root, the tests run it as the
/// `postgres` user the Debian package creates.
fn server_user() -> Option<(u32, u32)> {
    let uid = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    if uid.ok() != Some(0) {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("postgres:"))
        .expect("the postgres user (created by Debian's postgresql package)");
    let fields: Vec<&str> = line.split(':').collect();
    Some((
        fields[2].parse().expect("uid"),
        fields[3].parse().expect("gid"),
    ))
}

fn command(bin: &Path, name: &str, user: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(bin.join(name));
    if let Some((uid, gid)) = user {
        c.uid(uid).gid(gid);
    }
    c.env_remove("PGPASSWORD").env("LC_ALL", "C");
    c
}

impl Postgres {
    /// Starts a server and waits until it accepts connections.
    pub fn start() -> Postgres {
        Postgres::start_with(None)
    }

    /// Starts a server that also speaks TLS, with this certificate and key
    /// (PEM).
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Postgres {
        Postgres::start_with(Some((cert_pem, key_pem)))
    }

    fn start_with(tls: Option<(&str, &str)>) -> Postgres {
        let bin = bin_dir();
        let user = server_user();
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, PASSWORD).expect("password file");
        if let Some((uid, gid)) = user {
            for p in [dir.path(), password_file.as_path()] {
                std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
            }
        }
        let out = command(&bin, "initdb", user)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .arg(format!("--pwfile={}", password_file.display()))
            .stdin(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut tls_settings = Vec::new();
        if let Some((cert, key)) = tls {
            let (cert_file, key_file) =
                (dir.path().join("server.crt"), dir.path().join("server.key"));
            std::fs::write(&cert_file, cert).expect("certificate");
            std::fs::write(&key_file, key).expect("key");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))
                .expect("chmod");
            if let Some((uid, gid)) = user {
                for p in [&cert_file, &key_file] {
                    std::os::unix::fs::chown(p, Some(uid), Some(gid)).expect("chown");
                }
            }
            tls_settings = vec![
                "-c".to_string(),
                "ssl=on".to_string(),
                "-c".to_string(),
                format!("ssl_cert_file={}", cert_file.display()),
                "-c".to_string(),
                format!("ssl_key_file={}", key_file.display()),
            ];
        }
        let port = free_port();
        let mut watchdog = {
            use std::os::unix::process::CommandExt;
            let mut c = Command::new("sh");
            if let Some((uid, gid)) = user {
                c.uid(uid).gid(gid);
            }
            c
        };
        let mut server = watchdog
            .env("LC_ALL", "C")
            .arg("-c")
            .arg(
                r#"dir=$1; shift; "$@" </dev/null & pid=$!; cat >/dev/null; kill -INT $pid; wait $pid; rm -rf "$dir""#,
            )
            .arg("watchdog")
            .arg(dir.path())
            .arg(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .args(&tls_settings)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("server.log")).expect("log"),
            ))
            .spawn()
            .expect("postgres starts");
        let watch = server.stdin.take();
        let pg = Postgres {
            dir,
            server,
            watch,
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        // Listening is not ready: a server still starting up refuses
        // sessions ("the database system is starting up"); pg_isready says
        // when it accepts them.
        let accepting = || {
            command(&bin, "pg_isready", None)
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success())
        };
        while !pg.dir.path().join(format!(".s.PGSQL.{port}")).exists()
            || std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
            || !accepting()
        {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start within 30 s: {}",
                std::fs::read_to_string(pg.dir.path().join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        pg
    }

    /// The directory of its Unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A store URL over loopback TCP for a database of this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// A store URL over the Unix socket for a database of this server.
    pub fn socket_url(&self, database: &str) -> String {
        format!(
            "postgresql://{USER}@{}:{}/{database}",
            percent(&self.dir.path().display().to_string()),
            self.port
        )
    }

    /// Makes a fresh database (named `prefix` and a counter) and returns
    /// its name.
    pub fn create_database(&self, prefix: &str) -> String {
        self.create_database_from(prefix, None)
    }

    /// A copy of `database` (its template), as a fresh database; nobody
    /// may be connected to `database` meanwhile.
    pub fn copy_database(&self, database: &str, prefix: &str) -> String {
        self.create_database_from(prefix, Some(database))
    }

    fn create_database_from(&self, prefix: &str, template: Option<&str>) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let name = format!(
            "{prefix}_{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        self.client("createdb", |c| {
            c.args(template.map(|t| ["-T", t]).into_iter().flatten())
                .arg(&name);
        });
        name
    }

    /// Every row of `database`, as `pg_dump` writes it (plain SQL).
    pub fn dump(&self, database: &str) -> String {
        self.client("pg_dump", |c| {
            c.args(["--no-owner", database]);
        })
    }

    /// Runs `sql` (one or more statements) in `database` with `psql`,
    /// stopping at the first error.
    pub fn sql(&self, database: &str, sql: &str) -> String {
        self.client("psql", |c| {
            c.args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                database,
                "-c",
                sql,
            ]);
        })
    }

    /// Runs one of the server's client programs as the test role over
    /// loopback, with the arguments `add` gives; its standard output, or a
    /// failed test naming the program and what it said.
    fn client(&self, program: &str, add: impl FnOnce(&mut Command)) -> String {
        let mut c = command(&bin_dir(), program, None);
        c.env("PGPASSWORD", PASSWORD).args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            USER,
        ]);
        add(&mut c);
        let out = c
            .output()
            .unwrap_or_else(|e| panic!("{program} cannot run: {e}"));
        assert!(
            out.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A path as a URL's host: `/` and other reserved bytes percent-encoded.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing the watchdog's input stops the server (a fast shutdown).
        drop(self.watch.take());
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.server.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
