//! A private Dovecot for the IMAP tests: generated config, its own CA and
//! server certificate, its own ports on loopback, users with passwords and
//! an OAuth2 (JWT, HS256) passdb. Nothing under /etc/dovecot is used.
//! Requires Debian's `dovecot-imapd` (`.ci/run` installs it).

#![allow(dead_code)]

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fs;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const ISSUER: &str = "https://login.mailhygiene.test/tenant";
const JWT_KEY: &[u8] = b"dovecot-test-jwt-signing-key-0123456789";
pub const MAIL_UID: u32 = 5000;

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub imap_port: u16,
    pub imaps_port: u16,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn chown_tree(path: &Path) {
    let status = Command::new("chown")
        .args(["-R", &format!("{MAIL_UID}:{MAIL_UID}")])
        .arg(path)
        .status()
        .expect("chown runs");
    assert!(status.success(), "chown failed on {}", path.display());
}

/// A user and password known to the server.
pub struct User {
    pub name: &'static str,
    pub password: &'static str,
}

pub const ALICE: User = User {
    name: "alice@example.test",
    password: "alice-pass",
};
pub const BOB: User = User {
    name: "bob@example.test",
    password: "bob-pass",
};

impl Dovecot {
    /// Starts a server. `capabilities`, when given, is advertised exactly
    /// (e.g. Exchange Online's list).
    pub fn start(capabilities: Option<&str>) -> Dovecot {
        let binary = ["/usr/sbin/dovecot", "/usr/bin/dovecot"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect(
                "Dovecot is not installed: apt-get install -y dovecot-imapd (.ci/run does this)",
            );
        // Unix socket paths must stay under 108 bytes: a short directory.
        let dir = tempfile::Builder::new()
            .prefix("mh")
            .tempdir_in("/tmp")
            .expect("temp dir");
        let run = dir.path().to_path_buf();
        fs::set_permissions(&run, fs::Permissions::from_mode(0o755)).expect("chmod");
        for sub in ["base", "state", "keys/default/HS256", "home"] {
            fs::create_dir_all(run.join(sub)).expect("mkdir");
        }
        write_certificates(&run);
        let users = run.join("users");
        let mut lines = String::new();
        for user in [ALICE, BOB] {
            let home = run.join("home").join(user.name);
            fs::create_dir_all(home.join("Maildir/cur")).expect("mkdir");
            fs::create_dir_all(home.join("Maildir/new")).expect("mkdir");
            fs::create_dir_all(home.join("Maildir/tmp")).expect("mkdir");
            lines.push_str(&format!(
                "{}:{{PLAIN}}{}:{MAIL_UID}:{MAIL_UID}::{}::\n",
                user.name,
                user.password,
                home.display()
            ));
        }
        fs::write(&users, lines).expect("users file");
        fs::write(
            run.join("keys/default/HS256/default"),
            base64::engine::general_purpose::STANDARD.encode(JWT_KEY),
        )
        .expect("jwt key");
        fs::write(
            run.join("oauth2.conf"),
            format!(
                "introspection_mode = local\nlocal_validation_key_dict = fs:posix:prefix={}/keys/\nusername_attribute = email\nissuers = {ISSUER}\n",
                run.display()
            ),
        )
        .expect("oauth2 conf");
        let imap_port = free_port();
        let imaps_port = free_port();
        let capability = capabilities
            .map(|c| format!("protocol imap {{\n  imap_capability = {c}\n}}\n"))
            .unwrap_or_default();
        let conf = format!(
            r#"base_dir = {run}/base
state_dir = {run}/state
log_path = {run}/dovecot.log
instance_name = mh-{imap_port}
listen = 127.0.0.1
protocols = imap
ssl = yes
ssl_cert = <{run}/server.pem
ssl_key = <{run}/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
first_valid_uid = 1
mail_fsync = never
stats_writer_socket_path =
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "Sent Items" {{
    auto = subscribe
  }}
  mailbox "Deleted Items" {{
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {run}/users
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {run}/oauth2.conf
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {run}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{capability}"#,
            run = run.display()
        );
        fs::write(run.join("dovecot.conf"), conf).expect("config");
        chown_tree(&run.join("home"));
        let child = Command::new(binary)
            .args(["-F", "-c"])
            .arg(run.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("dovecot starts");
        let server = Dovecot {
            dir,
            imap_port,
            imaps_port,
            child,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.imaps_port)).is_ok()
                && TcpStream::connect(("127.0.0.1", self.imap_port)).is_ok()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default();
        panic!("Dovecot did not start listening within 10 s; log:\n{log}");
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn maildir(&self, user: &User) -> PathBuf {
        self.dir.path().join("home").join(user.name).join("Maildir")
    }

    /// Copies a message into a folder (`""` for INBOX, `".Sent Items"` for a
    /// folder) with Maildir flags and a received time, before first use.
    pub fn deliver(
        &self,
        user: &User,
        folder: &str,
        name: &str,
        flags: &str,
        raw: &[u8],
        received: SystemTime,
    ) {
        let dir = self.maildir(user).join(folder);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        let path = dir.join("cur").join(format!("{name}:2,{flags}"));
        fs::write(&path, raw).expect("write message");
        fs::File::options()
            .write(true)
            .open(&path)
            .expect("open")
            .set_modified(received)
            .expect("mtime");
        chown_tree(&self.maildir(user));
    }

    /// The file of message `name` in a folder (`""` for INBOX), in cur/ or new/.
    pub fn message_file(&self, user: &User, folder: &str, name: &str) -> Option<PathBuf> {
        let dir = self.maildir(user).join(folder);
        ["cur", "new"].into_iter().find_map(|sub| {
            fs::read_dir(dir.join(sub)).ok()?.find_map(|e| {
                let path = e.ok()?.path();
                let file = path.file_name()?.to_str()?.to_string();
                (file.split(':').next() == Some(name)).then_some(path)
            })
        })
    }

    /// Sets a message's flags as a client would (Dovecot reads them from the
    /// file name when it next syncs the folder).
    pub fn set_flags(&self, user: &User, folder: &str, name: &str, flags: &str) {
        let from = self
            .message_file(user, folder, name)
            .expect("message exists");
        let to = from
            .parent()
            .expect("dir")
            .join(format!("{name}:2,{flags}"));
        fs::rename(from, to).expect("rename");
    }

    /// Expunges a message as a client's delete-and-expunge would.
    pub fn expunge(&self, user: &User, folder: &str, name: &str) {
        let path = self
            .message_file(user, folder, name)
            .expect("message exists");
        fs::remove_file(path).expect("remove");
    }

    /// Every file name under the user's Maildir (flags live in the names).
    pub fn snapshot(&self, user: &User) -> Vec<String> {
        let mut out = Vec::new();
        let mut pending = vec![self.maildir(user)];
        while let Some(dir) = pending.pop() {
            for entry in fs::read_dir(&dir).expect("readable") {
                let entry = entry.expect("entry");
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                } else if matches!(
                    path.parent()
                        .and_then(|p| p.file_name())
                        .and_then(|n| n.to_str()),
                    Some("cur" | "new")
                ) {
                    out.push(
                        path.strip_prefix(self.maildir(user))
                            .expect("inside")
                            .display()
                            .to_string(),
                    );
                }
            }
        }
        out.sort();
        out
    }

    /// Adds users (all with `password`) to the running server: their
    /// homes made, their lines appended to the passwd file (which Dovecot
    /// reads again when it changes).
    pub fn add_users(&self, names: &[String], password: &str) {
        let mut lines = String::new();
        for name in names {
            let home = self.dir.path().join("home").join(name);
            for sub in ["cur", "new", "tmp"] {
                fs::create_dir_all(home.join("Maildir").join(sub)).expect("mkdir");
            }
            lines.push_str(&format!(
                "{name}:{{PLAIN}}{password}:{MAIL_UID}:{MAIL_UID}::{}::\n",
                home.display()
            ));
        }
        let users = self.dir.path().join("users");
        let mut all = fs::read_to_string(&users).expect("users file");
        all.push_str(&lines);
        fs::write(&users, all).expect("users file");
        chown_tree(&self.dir.path().join("home"));
    }

    /// Writes messages into a user's Maildir folder before first use
    /// (`""` for INBOX): (name, flags, bytes, received) each.
    pub fn fill(&self, user: &str, folder: &str, messages: &[(String, &str, Vec<u8>, SystemTime)]) {
        let dir = self
            .dir
            .path()
            .join("home")
            .join(user)
            .join("Maildir")
            .join(folder);
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        for (name, flags, raw, received) in messages {
            let path = dir.join("cur").join(format!("{name}:2,{flags}"));
            fs::write(&path, raw).expect("write message");
            fs::File::options()
                .write(true)
                .open(&path)
                .expect("open")
                .set_modified(*received)
                .expect("mtime");
        }
        chown_tree(&self.dir.path().join("home").join(user));
    }

    /// A JWT Dovecot accepts for `email` (HS256, our issuer), expiring
    /// `valid_for_secs` from now (negative: already expired).
    pub fn token(&self, email: &str, valid_for_secs: i64) -> String {
        mint_jwt(email, valid_for_secs, JWT_KEY)
    }
}

pub fn mint_jwt(email: &str, valid_for_secs: i64, key: &[u8]) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let header = b64(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = b64(format!(
        r#"{{"sub":"{email}","email":"{email}","iss":"{ISSUER}","iat":{now},"exp":{}}}"#,
        now + valid_for_secs
    )
    .as_bytes());
    let signing_input = format!("{header}.{claims}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(signing_input.as_bytes());
    format!("{signing_input}.{}", b64(&mac.finalize().into_bytes()))
}

fn write_certificates(run: &Path) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mailhygiene test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
    let mut leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params");
    leaf.distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).expect("leaf cert");
    fs::write(run.join("ca.pem"), ca_cert.pem()).expect("ca.pem");
    fs::write(run.join("server.pem"), leaf_cert.pem()).expect("server.pem");
    fs::write(run.join("server.key"), leaf_key.serialize_pem()).expect("server.key");
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
