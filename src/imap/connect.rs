//! Connecting and signing in: TLS (or plain TCP to loopback), the
//! greeting, LOGIN or XOAUTH2, and what the server can do.

use super::*;

/// Any stream IMAP can run over: TLS, or plain TCP to loopback.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Transport for T {}

pub type Session = async_imap::Session<Box<dyn Transport>>;

fn tls_connector() -> Result<TlsConnector, ImapError> {
    let mut roots = rustls::RootCertStore::empty();
    // Honours SSL_CERT_FILE / SSL_CERT_DIR, else the system store.
    let loaded = rustls_native_certs::load_native_certs();
    for cert in loaded.certs {
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(ImapError::Tls {
            host: String::new(),
            reason: "no trusted certificates found (system store empty, SSL_CERT_FILE unreadable?)"
                .into(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls {
            host: String::new(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

pub(crate) async fn with_timeout<T>(
    limit: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, ImapError> {
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| ImapError::Timeout(limit))
}

async fn tls_wrap<S: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug + 'static>(
    stream: S,
    host: &str,
    limit: Duration,
) -> Result<Box<dyn Transport>, ImapError> {
    let connector = tls_connector()?;
    let name =
        rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| ImapError::Tls {
            host: host.into(),
            reason: e.to_string(),
        })?;
    let tls = with_timeout(limit, connector.connect(name, stream))
        .await?
        .map_err(|e| {
            // What rustls itself rejects (a certificate, a protocol violation)
            // will not get better; a connection dropped mid-handshake is worth
            // a retry.
            let rejected = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            if let Some(rejected) = rejected {
                ImapError::Tls {
                    host: host.into(),
                    reason: certificate_words(rejected, host),
                }
            } else {
                ImapError::Unavailable(format!("TLS handshake with {host} interrupted: {e}"))
            }
        })?;
    Ok(Box::new(tls))
}

/// What rustls refused, in words a sysadmin can act on (its own words
/// name enum variants: `Other(OtherError(CaUsedAsEndEntity))`).
pub(crate) fn certificate_words(e: &rustls::Error, host: &str) -> String {
    use rustls::CertificateError as C;
    let debug = format!("{e:?}");
    match e {
        _ if debug.contains("CaUsedAsEndEntity") => format!(
            "the server's certificate is itself a certificate authority (what `openssl req -x509` makes), which TLS does not accept as a server's certificate: make a CA, sign a server certificate for {host} with it, and point SSL_CERT_FILE at the CA"
        ),
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the server's certificate is not signed by an authority this machine trusts: point SSL_CERT_FILE at the issuing CA's certificate".to_string()
        }
        rustls::Error::InvalidCertificate(C::NotValidForName)
        | rustls::Error::InvalidCertificate(C::NotValidForNameContext { .. }) => format!(
            "the server's certificate is not made for {host}: connect by the name it was issued to"
        ),
        rustls::Error::InvalidCertificate(C::Expired)
        | rustls::Error::InvalidCertificate(C::ExpiredContext { .. }) => {
            "the server's certificate has expired".to_string()
        }
        rustls::Error::InvalidCertificate(C::NotValidYet)
        | rustls::Error::InvalidCertificate(C::NotValidYetContext { .. }) => {
            "the server's certificate is not valid yet (check this machine's clock)".to_string()
        }
        other => other.to_string(),
    }
}

/// XOAUTH2 as Exchange and Dovecot expect it; a failed token gets a second
/// challenge (a JSON error), which must be answered with an empty response.
struct XOAuth2 {
    payload: Vec<u8>,
    sent: bool,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = Vec<u8>;
    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        if self.sent {
            return Vec::new();
        }
        self.sent = true;
        std::mem::take(&mut self.payload)
    }
}

/// What signing in to one mailbox and opening its INBOX showed: what
/// `config check --online` reports before a first scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub inbox_messages: u32,
    /// `UID MOVE` (RFC 6851): `clean` and `undo` move in one step.
    pub moves: bool,
    /// UIDPLUS (RFC 4315): without MOVE, copy + expunge of only those UIDs.
    pub uidplus: bool,
}

/// Signs in as a scan would (the same retries, including Exchange's
/// passing "not connected"), reads the capabilities and opens INBOX
/// read-only (EXAMINE); nothing else is read.
pub async fn probe(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
) -> Result<Probe, ImapError> {
    let mut session = connect_with_retry(url, credentials, opts).await?;
    let (moves, uidplus) = move_capabilities(&mut session, opts.timeout).await?;
    let inbox = Folder {
        server_name: "INBOX".into(),
        name: "INBOX".into(),
    };
    let status = examine(&mut session, &inbox, opts.timeout).await?;
    let _ = with_timeout(Duration::from_secs(5), session.logout()).await;
    Ok(Probe {
        inbox_messages: status.exists,
        moves,
        uidplus,
    })
}

/// Whether the server moves (`MOVE`, RFC 6851) and expunges by UID
/// (`UIDPLUS`, RFC 4315): what `clean` and `undo` need.
pub(crate) async fn move_capabilities(
    session: &mut Session,
    timeout: Duration,
) -> Result<(bool, bool), ImapError> {
    let caps = with_timeout(timeout, session.capabilities())
        .await?
        .map_err(classify)?;
    let found = (caps.has_str("MOVE"), caps.has_str("UIDPLUS"));
    drain_unsolicited(session);
    Ok(found)
}

/// Connects, secures and authenticates one session.
pub async fn connect(
    url: &ImapUrl,
    credentials: &Credentials,
    opts: &ImapOptions,
) -> Result<Session, ImapError> {
    // A name that does not resolve will not resolve in a minute either.
    let addresses: Vec<std::net::SocketAddr> = match with_timeout(
        opts.timeout,
        tokio::net::lookup_host((url.host.as_str(), url.port)),
    )
    .await?
    {
        Ok(found) => found.collect(),
        Err(_) => return Err(ImapError::UnknownHost(url.host.clone())),
    };
    if addresses.is_empty() {
        return Err(ImapError::UnknownHost(url.host.clone()));
    }
    let tcp = with_timeout(opts.timeout, TcpStream::connect(&addresses[..]))
        .await?
        .map_err(|e| {
            // Refused is an answer, not a network hiccup: a wrong port or
            // host fails in a moment, not after a minute of retries.
            if e.kind() == std::io::ErrorKind::ConnectionRefused {
                ImapError::NothingListens {
                    host: url.host.clone(),
                    port: url.port,
                }
            } else {
                ImapError::Connect {
                    host: url.host.clone(),
                    port: url.port,
                    reason: e.to_string(),
                }
            }
        })?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Transport> = match url.security {
        Security::Implicit => tls_wrap(tcp, &url.host, opts.timeout).await?,
        Security::StartTls => {
            let mut client = Client::new(tcp);
            read_greeting(&mut client, opts.timeout).await?;
            if opts.allow_plaintext_loopback {
                if !url.is_loopback() {
                    return Err(ImapError::PlaintextRefused);
                }
                Box::new(client.into_inner())
            } else {
                with_timeout(
                    opts.timeout,
                    client.run_command_and_check_ok("STARTTLS", None),
                )
                .await?
                .map_err(|_| ImapError::NoStartTls)?;
                tls_wrap(client.into_inner(), &url.host, opts.timeout).await?
            }
        }
    };
    let mut client = Client::new(stream);
    if url.security == Security::Implicit {
        read_greeting(&mut client, opts.timeout).await?;
    }
    let session = match credentials {
        Credentials::Password(password) => {
            with_timeout(opts.timeout, client.login(&url.user, password))
                .await?
                .map_err(|(e, _)| auth_error(&url.user, e))?
        }
        Credentials::Token(token) => xoauth2(client, url, token, opts).await?,
        Credentials::OAuth(provider) => {
            // Cached, renewed before expiry: one request per hour, not per connection.
            let token = provider.token().map_err(|e| match e {
                crate::oauth::OAuthError::Unreachable { .. } => {
                    ImapError::Unavailable(e.to_string())
                }
                other => ImapError::Token(other.to_string()),
            })?;
            xoauth2(client, url, &token, opts).await?
        }
    };
    Ok(session)
}

async fn xoauth2(
    client: Client<Box<dyn Transport>>,
    url: &ImapUrl,
    token: &str,
    opts: &ImapOptions,
) -> Result<Session, ImapError> {
    let payload = format!("user={}\x01auth=Bearer {}\x01\x01", url.user, token).into_bytes();
    let auth = XOAuth2 {
        payload,
        sent: false,
    };
    with_timeout(opts.timeout, client.authenticate("XOAUTH2", auth))
        .await?
        .map_err(|(e, _)| auth_error(&url.user, e))
}

async fn read_greeting<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug>(
    client: &mut Client<T>,
    limit: Duration,
) -> Result<(), ImapError> {
    match with_timeout(limit, client.read_response()).await? {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(ImapError::Unavailable(
            "the server closed the connection before its greeting".into(),
        )),
        Err(e) => Err(classify(async_imap::error::Error::Io(e))),
    }
}

pub(super) fn auth_error(user: &str, err: async_imap::error::Error) -> ImapError {
    match classify(err) {
        ImapError::Refused(reply) => ImapError::AuthFailed {
            user: user.to_string(),
            reason: explain_login(&reply),
        },
        ImapError::Protocol(reason) => ImapError::AuthFailed {
            user: user.to_string(),
            reason,
        },
        ImapError::NotConnected { .. } => ImapError::NotConnected {
            user: format!(" {user}"),
        },
        other => other,
    }
}

#[cfg(test)]
mod certificate_tests {
    use super::*;

    #[derive(Debug)]
    struct CaUsedAsEndEntity;
    impl std::fmt::Display for CaUsedAsEndEntity {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("CaUsedAsEndEntity")
        }
    }
    impl std::error::Error for CaUsedAsEndEntity {}

    #[test]
    fn certificate_refusals_are_told_in_words_with_the_fix() {
        use rustls::CertificateError as C;
        let ca_as_server = rustls::Error::InvalidCertificate(C::Other(rustls::OtherError(
            Arc::new(CaUsedAsEndEntity),
        )));
        let words = certificate_words(&ca_as_server, "imap.firma.no");
        assert!(
            words.contains("itself a certificate authority")
                && words.contains("SSL_CERT_FILE")
                && !words.contains("OtherError"),
            "{words}"
        );
        let unknown = certificate_words(&rustls::Error::InvalidCertificate(C::UnknownIssuer), "h");
        assert!(
            unknown.contains("point SSL_CERT_FILE at the issuing CA"),
            "{unknown}"
        );
        let name = certificate_words(
            &rustls::Error::InvalidCertificate(C::NotValidForName),
            "imap.firma.no",
        );
        assert!(name.contains("not made for imap.firma.no"), "{name}");
    }
}
