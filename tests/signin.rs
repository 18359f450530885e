//! Sign-in problems explained end to end: `config check --online` against a
//! real Dovecot, the local token endpoint standing in for the identity
//! platform, and the fault proxy answering as Exchange Online does. Every
//! reply an administrator meets while setting up an app registration gets
//! its sentence, and no secret or token is ever printed.

mod support;

use assert_cmd::Command;
use std::path::PathBuf;
use std::time::Duration;
use support::dovecot::{ALICE, Dovecot};
use support::proxy::{Fault, Proxy};
use support::token_endpoint::{self, Proof, TokenEndpoint};

const JWT_KEY: &[u8] = b"dovecot-test-jwt-signing-key-0123456789";
const SECRET: &str = "s3cret-value-never-shown";

fn mint(mailbox: &str, secs: i64) -> String {
    support::dovecot::mint_jwt(mailbox, secs, JWT_KEY)
}

fn server() -> Dovecot {
    let d = Dovecot::start(None);
    let body = b"From: a@example.test\r\nSubject: hei\r\n\r\nhei\r\n";
    d.deliver(&ALICE, "", "1.a", "S", body, std::time::SystemTime::now());
    d
}

/// Runs `config check --online` on a configuration of one account; the
/// exit code and stdout + stderr.
fn check_online(d: &Dovecot, account: &str, env: &[(&str, &str)]) -> (i32, String) {
    let path: PathBuf = d.dir.path().join(format!(
        "check-{}.toml",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::write(&path, format!("[[account]]\nname = \"tenant\"\n{account}")).expect("config");
    let mut cmd = Command::cargo_bin("mailhygiene").expect("binary");
    cmd.env("SSL_CERT_FILE", d.ca_file())
        .env("MAILHYGIENE_IMAP_BACKOFF_MS", "50")
        .env("MAILHYGIENE_LOG", "trace")
        .env_remove("SSL_CERT_DIR")
        .args(["config", "check", "--online", "--allow-plaintext"])
        .arg(&path)
        .timeout(Duration::from_secs(60));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn app_account(d: &Dovecot, token_port: u16, extra: &str) -> String {
    format!(
        "host = \"127.0.0.1\"\nport = {}\nauth = \"client_credentials\"\n\
         authority = \"http://127.0.0.1:{token_port}\"\ntenant = \"test-tenant\"\n\
         client_id = \"app-id\"\nclient_secret_env = \"MH_TEST_CLIENT_SECRET\"\n{extra}\
         mailboxes = [\"{}\"]\n",
        d.imaps_port, ALICE.name
    )
}

#[test]
fn a_working_app_registration_is_confirmed_per_mailbox() {
    let d = server();
    let endpoint = TokenEndpoint::start("test-tenant", "app-id", SECRET, ALICE.name, 3600, mint);
    let account = app_account(&d, endpoint.port, "")
        .replace("mailboxes = [\"", "mailboxes = [\"bob@example.test\", \"");
    let (code, out) = check_online(&d, &account, &[("MH_TEST_CLIENT_SECRET", SECRET)]);
    // Alice's token opens Alice's mailbox; Bob's is refused with a reason.
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("ok    alice@example.test: signed in, INBOX opened read-only (1 message)"),
        "{out}"
    );
    assert!(out.contains("clean and undo move with MOVE"), "{out}");
    assert!(
        out.contains("FAIL  bob@example.test: login refused for bob@example.test"),
        "{out}"
    );
    assert!(out.contains("1 mailbox would scan, 1 would not"), "{out}");
    assert!(!out.contains(SECRET), "{out}");
    assert!(!out.contains(&mint(ALICE.name, 3600)[..40]), "{out}");
}

#[test]
fn the_cloud_setting_asks_for_its_own_clouds_scope() {
    let d = server();
    let government = TokenEndpoint::start_for(
        "test-tenant",
        "app-id",
        Proof::Secret(SECRET.into()),
        ALICE.name,
        (3600, mint),
        "https://outlook.office365.us/.default",
    );
    let env = [("MH_TEST_CLIENT_SECRET", SECRET)];
    let (code, out) = check_online(
        &d,
        &app_account(&d, government.port, "cloud = \"us-government\"\n"),
        &env,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("us-government cloud; SMTP smtp.office365.us:587"),
        "{out}"
    );
    assert!(out.contains("ok    alice@example.test"), "{out}");
    // The global cloud's scope is refused by the government's endpoint.
    let (code, out) = check_online(&d, &app_account(&d, government.port, ""), &env);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("FAIL  account tenant: no access token"),
        "{out}"
    );
}

/// Each identity-platform error an administrator meets, with the words
/// that tell them what to change.
#[test]
fn identity_platform_errors_are_explained() {
    let d = server();
    let device_code = |port: u16| {
        format!(
            "host = \"127.0.0.1\"\nport = {}\nauth = \"device_code\"\n\
             authority = \"http://127.0.0.1:{port}\"\ntenant = \"test-tenant\"\n\
             client_id = \"app-id\"\nrefresh_token_file = \"{}\"\nmailboxes = [\"{}\"]\n",
            d.imaps_port,
            d.dir.path().join("no-refresh-token").display(),
            ALICE.name
        )
    };
    let cases: [(&str, u16, &str, bool, &str); 9] = [
        (
            "invalid_client",
            401,
            "AADSTS7000215",
            false,
            "client secret is wrong",
        ),
        (
            "unauthorized_client",
            400,
            "AADSTS700016",
            false,
            "no app with this client ID",
        ),
        (
            "invalid_request",
            400,
            "AADSTS90002",
            false,
            "tenant was not found",
        ),
        (
            "invalid_client",
            400,
            "AADSTS700024",
            false,
            "this machine's clock",
        ),
        ("invalid_grant", 400, "AADSTS65001", false, "admin consent"),
        (
            "invalid_client",
            400,
            "AADSTS7000218",
            true,
            "Allow public client flows",
        ),
        (
            "invalid_grant",
            400,
            "AADSTS53003",
            true,
            "Conditional Access",
        ),
        (
            "invalid_grant",
            400,
            "AADSTS50076",
            true,
            "multi-factor authentication",
        ),
        (
            "invalid_grant",
            400,
            "AADSTS50079",
            true,
            "multi-factor authentication",
        ),
    ];
    for (error, status, code, delegated, says) in cases {
        // The description echoes what was sent, as the platform's do.
        let endpoint = token_endpoint::refusing(
            status,
            error,
            &format!(
                "{code}: Trace for client app-id and user {} with {SECRET}",
                ALICE.name
            ),
        );
        let account = if delegated {
            device_code(endpoint.port)
        } else {
            app_account(&d, endpoint.port, "")
        };
        let (exit, out) = check_online(&d, &account, &[("MH_TEST_CLIENT_SECRET", SECRET)]);
        assert_eq!(exit, 1, "{code}: {out}");
        assert!(
            out.contains("FAIL  account tenant: no access token"),
            "{code}: {out}"
        );
        assert!(out.contains(says) && out.contains(code), "{code}: {out}");
        assert!(
            !out.contains(SECRET) && !out.contains("Trace for"),
            "{code}: {out}"
        );
    }
}

/// Exchange Online's own refusals at the IMAP sign-in, as its replies read.
#[test]
fn exchange_login_replies_are_explained() {
    let d = server();
    let token = mint(ALICE.name, 3600);
    let plain = |port: u16, auth: &str| {
        format!(
            "host = \"127.0.0.1\"\nport = {port}\nsecurity = \"starttls\"\n{auth}\nmailboxes = [\"{}\"]\n",
            ALICE.name
        )
    };
    let cases = [
        (
            "LOGIN",
            "LOGIN failed.",
            "auth = \"password\"\npassword_env = \"MH_TEST_PASSWORD\"",
            "basic authentication is off",
        ),
        (
            "AUTHENTICATE",
            "AUTHENTICATE failed.",
            "auth = \"token\"\ntoken_env = \"MH_TEST_TOKEN\"",
            "enterprise application's object ID",
        ),
        (
            "AUTHENTICATE",
            "User is authenticated but not connected.",
            "auth = \"token\"\ntoken_env = \"MH_TEST_TOKEN\"",
            "FullAccess",
        ),
    ];
    for (command, reply, auth, says) in cases {
        let proxy = Proxy::start(
            d.imap_port,
            Fault::Refuse {
                pattern: command.into(),
                reply: reply.into(),
                times: usize::MAX,
            },
        );
        let (exit, out) = check_online(
            &d,
            &plain(proxy.port, auth),
            &[
                ("MH_TEST_PASSWORD", ALICE.password),
                ("MH_TEST_TOKEN", &token),
            ],
        );
        assert_eq!(exit, 1, "{reply}: {out}");
        assert!(out.contains("FAIL  alice@example.test"), "{reply}: {out}");
        assert!(out.contains(says), "{reply}: {out}");
        assert!(
            !out.contains(ALICE.password) && !out.contains(&token[..40]),
            "{reply}: {out}"
        );
    }
}
