//! OAuth2 for Office 365 (Microsoft identity platform), the edge that turns
//! an app registration or a person's sign-in into IMAP access tokens.
//!
//! Two flows: client credentials (an app scanning many mailboxes, with
//! `IMAP.AccessAsApp`) and device code (a person scanning their own mailbox,
//! with the refresh token kept in a 0600 file). Tokens are cached and renewed
//! before they expire. No token, secret or refresh token is ever logged or put
//! in an error; failures are explained in words an administrator can act on.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Renew this long before a token expires.
const RENEW_MARGIN: Duration = Duration::from_secs(300);

/// Which flow, with what it needs. `Debug` never shows the secret.
#[derive(Clone)]
pub enum Flow {
    ClientCredentials {
        client_secret: String,
    },
    /// Client credentials proven by a certificate: a JWT signed (RS256)
    /// with the certificate's private key.
    ClientCertificate {
        certificate: Vec<u8>,
        private_key_pkcs8: Vec<u8>,
    },
    DeviceCode {
        refresh_token_file: PathBuf,
    },
}

impl fmt::Debug for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flow::ClientCredentials { .. } => {
                f.write_str("ClientCredentials { client_secret: <redacted> }")
            }
            Flow::ClientCertificate { .. } => {
                f.write_str("ClientCertificate { private_key: <redacted> }")
            }
            Flow::DeviceCode { refresh_token_file } => {
                write!(
                    f,
                    "DeviceCode {{ refresh_token_file: {} }}",
                    refresh_token_file.display()
                )
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Where tokens are asked for: the cloud's, or a test's endpoint.
    pub authority: String,
    /// Which cloud's Exchange the tokens are for (their scopes).
    pub cloud: crate::cloud::Cloud,
    pub tenant: String,
    pub client_id: String,
    pub flow: Flow,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("the token endpoint {url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the identity platform refused ({code}): {explanation}")]
    Refused { code: String, explanation: String },
    #[error("the token endpoint answered something that is not a token response (HTTP {status})")]
    BadResponse { status: u16 },
    #[error("the sign-in was declined")]
    Declined,
    #[error("the device code expired before anyone signed in; run the scan again")]
    Expired,
    #[error("{authority} is not HTTPS; plain HTTP is only allowed to a loopback address")]
    InsecureAuthority { authority: String },
    #[error("cannot keep the refresh token in {path}: {reason}")]
    RefreshTokenFile { path: String, reason: String },
    #[error("the client certificate or its key cannot be used: {0}")]
    Certificate(String),
}

/// The JWT that proves an app's identity with its certificate (Microsoft
/// identity platform "certificate credentials"): RS256, `x5t` the SHA-1
/// thumbprint of the certificate, audience the token endpoint, valid ten
/// minutes.
pub fn client_assertion(
    client_id: &str,
    token_endpoint: &str,
    certificate_der: &[u8],
    private_key_pkcs8: &[u8],
    now: std::time::SystemTime,
) -> Result<String, OAuthError> {
    use base64::Engine as _;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let key = ring::signature::RsaKeyPair::from_pkcs8(private_key_pkcs8).map_err(|e| {
        OAuthError::Certificate(format!("the private key is not an RSA PKCS#8 key ({e})"))
    })?;
    let thumbprint = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, certificate_der);
    let thumbprint_256 = ring::digest::digest(&ring::digest::SHA256, certificate_der);
    let now = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut jti = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut jti)
        .map_err(|_| OAuthError::Certificate("no randomness for the assertion id".into()))?;
    let header = serde_json::json!({
        "alg": "RS256",
        "typ": "JWT",
        "x5t": b64(thumbprint.as_ref()),
        "x5t#S256": b64(thumbprint_256.as_ref()),
    });
    let claims = serde_json::json!({
        "aud": token_endpoint,
        "iss": client_id,
        "sub": client_id,
        "jti": hex::encode(jti),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    let signing_input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| OAuthError::Certificate("signing the assertion failed".into()))?;
    Ok(format!("{signing_input}.{}", b64(&signature)))
}

/// Turns the identity platform's error codes into advice.
fn explain(error: &str, description: &str) -> String {
    let code = description.split(':').next().unwrap_or_default().trim();
    let advice = match code {
        "AADSTS7000215" => "the client secret is wrong (use the secret's value, not its ID)",
        "AADSTS7000222" => {
            "the client secret has expired: create a new one in the app registration"
        }
        "AADSTS700016" => {
            "no app with this client ID exists in the tenant (check client_id and tenant)"
        }
        "AADSTS90002" | "AADSTS900023" => {
            "the tenant was not found (check the tenant ID or domain)"
        }
        "AADSTS65001" => "the app lacks admin consent for IMAP.AccessAsApp",
        "AADSTS70011" => "the scope is invalid for this flow",
        "AADSTS7000218" => {
            "public client flows are off for this app: the device-code flow needs \"Allow public client flows\" in the app registration's Authentication settings"
        }
        "AADSTS53003" => {
            "Conditional Access blocked the sign-in; many tenants block the device-code flow by policy: use client_credentials, or ask for an exception"
        }
        "AADSTS700024" => {
            "the client assertion is outside its validity window: check this machine's clock"
        }
        "AADSTS50076" | "AADSTS50079" => {
            "multi-factor authentication is required: sign in with the device-code flow as a user who can complete MFA, or use client_credentials"
        }
        _ => match error {
            "invalid_client" => "the client ID or secret is not accepted",
            "unauthorized_client" => {
                "the app is not allowed to use this flow (check the app registration)"
            }
            "invalid_grant" => {
                "the grant (refresh token or device code) is no longer valid: sign in again"
            }
            "invalid_scope" => "the scope is not valid for this app",
            _ => "see the app registration and the identity platform's sign-in logs",
        },
    };
    // Only the code, never the free text: it can echo request parameters.
    format!(
        "{advice}{}",
        if code.starts_with("AADSTS") {
            format!(" [{code}]")
        } else {
            String::new()
        }
    )
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: Option<String>,
    expires_in: Option<u64>,
    refresh_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    interval: Option<u64>,
}

#[derive(Deserialize)]
struct DeviceCodeResponse {
    device_code: String,
    user_code: String,
    verification_uri: String,
    expires_in: u64,
    interval: Option<u64>,
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// Hands out access tokens, fetching and renewing them as needed.
pub struct TokenProvider {
    settings: OAuthSettings,
    agent: ureq::Agent,
    cache: Mutex<Option<Cached>>,
    /// How many tokens were fetched (for tests and logs).
    pub fetched: std::sync::atomic::AtomicUsize,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Whether a plain-http authority is this machine (tests, local bridges).
/// The host is the parsed one: `http://localhost:1@evil.example` names
/// evil.example (and user information has no place in an authority).
fn is_loopback_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, port)) if port.is_empty() || port.starts_with(':') => host,
            _ => return false,
        },
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl TokenProvider {
    pub fn new(settings: OAuthSettings) -> Result<TokenProvider, OAuthError> {
        let authority = settings.authority.trim_end_matches('/');
        if !authority.starts_with("https://") && !is_loopback_url(authority) {
            return Err(OAuthError::InsecureAuthority {
                authority: authority.to_string(),
            });
        }
        // The system store (or SSL_CERT_FILE), as for IMAP.
        let roots: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout))
            .tls_config(tls)
            .build()
            .into();
        Ok(TokenProvider {
            settings,
            agent,
            cache: Mutex::new(None),
            fetched: Default::default(),
        })
    }

    fn endpoint(&self, what: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{what}",
            self.settings.authority.trim_end_matches('/'),
            self.settings.tenant
        )
    }

    /// Posts a form; returns the HTTP status and the body.
    fn post_raw(&self, url: &str, form: &[(&str, &str)]) -> Result<(u16, String), OAuthError> {
        let unreachable = |e: ureq::Error| OAuthError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let mut response = self
            .agent
            .post(url)
            .send_form(form.iter().copied())
            .map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().map_err(unreachable)?;
        Ok((status, body))
    }

    fn post(&self, url: &str, form: &[(&str, &str)]) -> Result<(u16, TokenResponse), OAuthError> {
        let (status, body) = self.post_raw(url, form)?;
        let parsed: TokenResponse =
            serde_json::from_str(&body).map_err(|_| OAuthError::BadResponse { status })?;
        Ok((status, parsed))
    }

    /// A valid access token: the cached one, or a new one.
    pub fn token(&self) -> Result<String, OAuthError> {
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.renew_at) {
            return Ok(c.token.clone());
        }
        let (token, expires_in) = match &self.settings.flow {
            Flow::ClientCredentials { client_secret } => {
                self.client_credentials(&[("client_secret", client_secret)])?
            }
            Flow::ClientCertificate {
                certificate,
                private_key_pkcs8,
            } => {
                let assertion = client_assertion(
                    &self.settings.client_id,
                    &self.endpoint("token"),
                    certificate,
                    private_key_pkcs8,
                    std::time::SystemTime::now(),
                )?;
                self.client_credentials(&[
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ])?
            }
            Flow::DeviceCode { refresh_token_file } => self.delegated(refresh_token_file)?,
        };
        self.fetched
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // A token endpoint's number, trusted only so far: a day at most.
        let lifetime = Duration::from_secs(expires_in.min(86_400));
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_MARGIN).max(lifetime / 2);
        *cache = Some(Cached {
            token: token.clone(),
            renew_at,
        });
        tracing::info!(tenant = %self.settings.tenant, expires_in, "obtained an access token");
        Ok(token)
    }

    fn accept(
        &self,
        status: u16,
        r: TokenResponse,
    ) -> Result<(String, u64, Option<String>), OAuthError> {
        if let Some(error) = r.error {
            return Err(OAuthError::Refused {
                explanation: explain(&error, r.error_description.as_deref().unwrap_or_default()),
                code: error,
            });
        }
        let token = r.access_token.ok_or(OAuthError::BadResponse { status })?;
        Ok((token, r.expires_in.unwrap_or(3600), r.refresh_token))
    }

    /// The client-credentials grant; `proof` is the secret or the signed
    /// assertion.
    fn client_credentials(&self, proof: &[(&str, &str)]) -> Result<(String, u64), OAuthError> {
        let scope = self.settings.cloud.app_scope();
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "client_credentials"),
            ("client_id", &self.settings.client_id),
            ("scope", &scope),
        ];
        form.extend_from_slice(proof);
        let (status, r) = self.post(&self.endpoint("token"), &form)?;
        let (token, expires, _) = self.accept(status, r)?;
        Ok((token, expires))
    }

    /// A person's own mailbox: the stored refresh token if there is one,
    /// else a device-code sign-in.
    fn delegated(&self, refresh_file: &Path) -> Result<(String, u64), OAuthError> {
        let scope = self.settings.cloud.delegated_scope();
        if let Ok(refresh) = std::fs::read_to_string(refresh_file) {
            let (status, r) = self.post(
                &self.endpoint("token"),
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &self.settings.client_id),
                    ("refresh_token", refresh.trim()),
                    ("scope", &scope),
                ],
            )?;
            match self.accept(status, r) {
                Ok((token, expires, new_refresh)) => {
                    if let Some(new_refresh) = new_refresh {
                        save_private(refresh_file, &new_refresh)?;
                    }
                    return Ok((token, expires));
                }
                // A revoked or expired refresh token: sign in again.
                Err(OAuthError::Refused { code, .. }) if code == "invalid_grant" => {}
                Err(e) => return Err(e),
            }
        }
        let (token, expires, refresh) = self.device_code()?;
        if let Some(refresh) = refresh {
            save_private(refresh_file, &refresh)?;
        }
        Ok((token, expires))
    }

    fn device_code(&self) -> Result<(String, u64, Option<String>), OAuthError> {
        let url = self.endpoint("devicecode");
        let scope = self.settings.cloud.delegated_scope();
        let (status, body) = self.post_raw(
            &url,
            &[
                ("client_id", self.settings.client_id.as_str()),
                ("scope", scope.as_str()),
            ],
        )?;
        let code: DeviceCodeResponse = match serde_json::from_str(&body) {
            Ok(c) => c,
            Err(_) => {
                let r: TokenResponse =
                    serde_json::from_str(&body).map_err(|_| OAuthError::BadResponse { status })?;
                return self
                    .accept(status, r)
                    .and(Err(OAuthError::BadResponse { status }));
            }
        };
        eprintln!(
            "mailhygiene: to let this scan read your mailbox, open {} and enter the code {}",
            code.verification_uri, code.user_code
        );
        let deadline = Instant::now() + Duration::from_secs(code.expires_in.min(3_600));
        let mut interval = Duration::from_secs(code.interval.unwrap_or(5).clamp(1, 60));
        loop {
            if Instant::now() >= deadline {
                return Err(OAuthError::Expired);
            }
            std::thread::sleep(interval);
            let (status, r) = self.post(
                &self.endpoint("token"),
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ("client_id", &self.settings.client_id),
                    ("device_code", &code.device_code),
                ],
            )?;
            match r.error.as_deref() {
                Some("authorization_pending") => continue,
                Some("slow_down") => {
                    interval = Duration::from_secs(r.interval.unwrap_or(interval.as_secs() + 5));
                    continue;
                }
                Some("authorization_declined" | "access_denied") => {
                    return Err(OAuthError::Declined);
                }
                Some("expired_token" | "code_expired") => return Err(OAuthError::Expired),
                _ => return self.accept(status, r),
            }
        }
    }
}

/// Writes a secret to a file only its owner can read.
fn save_private(path: &Path, content: &str) -> Result<(), OAuthError> {
    let err = |e: std::io::Error| OAuthError::RefreshTokenFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // A temporary name of its own (two runs renewing at once must not
    // write one file), created new and private, on disk before the rename.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(format!(".{}.{nanos}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        use std::io::Write;
        let mut f = options.open(&tmp)?;
        f.write_all(content.as_bytes())?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_explained_without_echoing_the_description() {
        let e = explain(
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided. secret=abc",
        );
        assert!(e.contains("client secret is wrong"));
        assert!(e.contains("AADSTS7000215"));
        assert!(!e.contains("secret=abc"));
        assert!(explain("invalid_grant", "").contains("sign in again"));
        for (code, says) in [
            ("AADSTS7000218", "Allow public client flows"),
            ("AADSTS53003", "Conditional Access"),
            ("AADSTS700016", "no app with this client ID"),
            ("AADSTS700024", "clock"),
            ("AADSTS50076", "multi-factor"),
            ("AADSTS50079", "multi-factor"),
            ("AADSTS65001", "consent"),
            ("AADSTS90002", "tenant was not found"),
        ] {
            let e = explain(
                "invalid_request",
                &format!("{code}: something with user=ola@firma.no"),
            );
            assert!(e.contains(says) && e.contains(code), "{code}: {e}");
            assert!(!e.contains("ola@firma.no"));
        }
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let settings = |authority: &str| OAuthSettings {
            authority: authority.into(),
            cloud: crate::cloud::Cloud::Global,
            tenant: "t".into(),
            client_id: "c".into(),
            flow: Flow::ClientCredentials {
                client_secret: "s".into(),
            },
            timeout: Duration::from_secs(5),
        };
        assert!(TokenProvider::new(settings("http://login.example.test")).is_err());
        assert!(TokenProvider::new(settings("http://127.0.0.1:8080")).is_ok());
        for hostile in [
            "http://localhost:1@evil.example",
            "http://127.0.0.1@evil.example/x",
            "http://localhost.evil.example",
            "http://[::1]evil.example",
            "http://evil.example/localhost",
        ] {
            assert!(!is_loopback_url(hostile), "{hostile}");
            assert!(TokenProvider::new(settings(hostile)).is_err(), "{hostile}");
        }
        assert!(is_loopback_url("http://[::1]:8080/tenant"));
        assert!(is_loopback_url("http://LOCALHOST/x"));
        assert!(TokenProvider::new(settings("https://login.microsoftonline.com")).is_ok());
    }

    #[test]
    fn flows_do_not_print_secrets() {
        let f = Flow::ClientCredentials {
            client_secret: "very-secret-value".into(),
        };
        assert!(!format!("{f:?}").contains("very-secret"));
    }
}
