//! A local OAuth2 token endpoint, standing in for the Microsoft identity
//! platform: it checks the client credentials and mints JWTs that the test
//! Dovecot accepts for one mailbox.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

/// How the app proves itself to this endpoint.
#[derive(Clone)]
pub enum Proof {
    Secret(String),
    /// A JWT signed with the key whose RSAPublicKey DER and certificate
    /// thumbprint (`x5t`) are given.
    Certificate {
        public_key_der: Vec<u8>,
        x5t: String,
    },
}

/// Checks a client assertion: signature, thumbprint, audience, issuer, expiry.
fn assertion_ok(
    jwt: &str,
    public_key_der: &[u8],
    x5t: &str,
    client_id: &str,
    audience_suffix: &str,
) -> bool {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let (Ok(header), Ok(claims), Ok(signature)) = (
        b64.decode(parts[0]),
        b64.decode(parts[1]),
        b64.decode(parts[2]),
    ) else {
        return false;
    };
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap_or_default();
    let claims: serde_json::Value = serde_json::from_slice(&claims).unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let key = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        public_key_der,
    );
    header["alg"] == "RS256"
        && header["x5t"] == x5t
        && claims["iss"] == client_id
        && claims["sub"] == client_id
        && claims["aud"]
            .as_str()
            .is_some_and(|a| a.ends_with(audience_suffix))
        && claims["exp"].as_u64().is_some_and(|e| e > now)
        && key
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .is_ok()
}

pub struct TokenEndpoint {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
}

impl TokenEndpoint {
    /// Accepts `client_id`/`client_secret` for `tenant`, minting tokens for
    /// `mailbox` that live `expires_in` seconds.
    pub fn start(
        tenant: &str,
        client_id: &str,
        client_secret: &str,
        mailbox: &str,
        expires_in: i64,
        mint: fn(&str, i64) -> String,
    ) -> TokenEndpoint {
        Self::start_with(
            tenant,
            client_id,
            Proof::Secret(client_secret.to_string()),
            mailbox,
            expires_in,
            mint,
        )
    }

    /// As `start`, with any kind of proof.
    pub fn start_with(
        tenant: &str,
        client_id: &str,
        proof: Proof,
        mailbox: &str,
        expires_in: i64,
        mint: fn(&str, i64) -> String,
    ) -> TokenEndpoint {
        Self::start_for(
            tenant,
            client_id,
            proof,
            mailbox,
            (expires_in, mint),
            "https://outlook.office365.com/.default",
        )
    }

    /// As `start_with`, for the cloud whose app scope is `app_scope`: a
    /// client-credentials request asking for another scope is refused.
    pub fn start_for(
        tenant: &str,
        client_id: &str,
        proof: Proof,
        mailbox: &str,
        (expires_in, mint): (i64, fn(&str, i64) -> String),
        app_scope: &str,
    ) -> TokenEndpoint {
        let app_scope = app_scope.to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let polls = Arc::new(AtomicUsize::new(0));
        let (tenant, client_id, mailbox) = (
            tenant.to_string(),
            client_id.to_string(),
            mailbox.to_string(),
        );
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((request_line, body)) = read_request(&stream) else {
                    continue;
                };
                let form: std::collections::HashMap<String, String> =
                    String::from_utf8_lossy(&body)
                        .split('&')
                        .filter_map(|kv| kv.split_once('='))
                        .map(|(k, v)| (k.to_string(), decode(v)))
                        .collect();
                counter.fetch_add(1, Ordering::SeqCst);
                let path_ok = request_line.contains(&format!("/{tenant}/oauth2/v2.0/token"));
                let grant = form.get("grant_type").cloned().unwrap_or_default();
                let delegated = form
                    .get("scope")
                    .is_none_or(|s| s.contains("IMAP.AccessAsUser.All"));
                let (status, json) = if request_line
                    .contains(&format!("/{tenant}/oauth2/v2.0/devicecode"))
                {
                    (200, r#"{"device_code":"dc-1","user_code":"ABCD-1234","verification_uri":"https://microsoft.com/devicelogin","expires_in":60,"interval":1}"#.to_string())
                } else if path_ok && grant == "urn:ietf:params:oauth:grant-type:device_code" {
                    // The user signs in after the first poll.
                    if polls.fetch_add(1, Ordering::SeqCst) == 0 {
                        (400, r#"{"error":"authorization_pending"}"#.to_string())
                    } else {
                        let token = mint(&mailbox, expires_in);
                        (
                            200,
                            format!(
                                r#"{{"expires_in":{expires_in},"access_token":"{token}","refresh_token":"rt-1"}}"#
                            ),
                        )
                    }
                } else if path_ok && grant == "refresh_token" && delegated {
                    if form.get("refresh_token").map(String::as_str) == Some("rt-1") {
                        let token = mint(&mailbox, expires_in);
                        (
                            200,
                            format!(
                                r#"{{"expires_in":{expires_in},"access_token":"{token}","refresh_token":"rt-2"}}"#
                            ),
                        )
                    } else {
                        (400, r#"{"error":"invalid_grant","error_description":"AADSTS70008: expired."}"#.to_string())
                    }
                } else if !path_ok {
                    (400, r#"{"error":"invalid_request","error_description":"AADSTS90002: Tenant not found."}"#.to_string())
                } else if form.get("grant_type").map(String::as_str) != Some("client_credentials")
                    || form.get("scope") != Some(&app_scope)
                {
                    (400, r#"{"error":"unsupported_grant_type"}"#.to_string())
                } else if form.get("client_id") != Some(&client_id) {
                    (400, r#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application not found."}"#.to_string())
                } else if !match &proof {
                    Proof::Secret(secret) => form.get("client_secret") == Some(secret),
                    Proof::Certificate {
                        public_key_der,
                        x5t,
                    } => {
                        form.get("client_assertion_type").map(String::as_str)
                            == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                            && form.get("client_assertion").is_some_and(|jwt| {
                                assertion_ok(
                                    jwt,
                                    public_key_der,
                                    x5t,
                                    &client_id,
                                    &format!("/{tenant}/oauth2/v2.0/token"),
                                )
                            })
                    }
                } {
                    (401, r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided."}"#.to_string())
                } else {
                    let token = mint(&mailbox, expires_in);
                    (
                        200,
                        format!(
                            r#"{{"token_type":"Bearer","expires_in":{expires_in},"access_token":"{token}"}}"#
                        ),
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                    json.len()
                );
            }
        });
        TokenEndpoint { port, requests }
    }
}

/// An endpoint that refuses every request as the identity platform does,
/// with `error` and an `AADSTS…` description, at HTTP `status`.
pub fn refusing(status: u16, error: &str, description: &str) -> TokenEndpoint {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binds");
    let port = listener.local_addr().expect("addr").port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    let json = serde_json::json!({ "error": error, "error_description": description }).to_string();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if read_request(&stream).is_none() {
                continue;
            }
            counter.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
                json.len()
            );
        }
    });
    TokenEndpoint { port, requests }
}

/// One HTTP request: its request line and body (by Content-Length).
fn read_request(stream: &std::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    let _ = reader.read_exact(&mut body);
    Some((request_line, body))
}

fn decode(v: &str) -> String {
    let v = v.replace('+', " ");
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&v[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
