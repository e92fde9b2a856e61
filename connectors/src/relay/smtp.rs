//! The SMTP relay (`[relay]`), through mail-send: one connection per batch, STARTTLS (or
//! implicit TLS, or none for a relay on the same host) with the certificate verified by rustls
//! against the system's CA bundle or `ca_file`, AUTH when credentials are configured. A reply
//! in 5xx fails that mail for good; anything else (connection, TLS, 4xx, timeout) for now.

use super::{DeliveryError, Envelope};
use faxhub_queue::units::serde_duration;
use mail_send::smtp::message::Parameters;
use mail_send::{Credentials, SmtpClient, SmtpClientBuilder};
use serde::{Deserialize, Serialize};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

/// Debian's bundle of the system's trusted CAs.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    pub host: String,
    pub port: u16,
    pub tls: RelayTls,
    /// PEM file of the CAs that may sign the relay's certificate (default: the system's).
    pub ca_file: Option<PathBuf>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The name faxhub gives in EHLO (default: the host name).
    pub helo: Option<String>,
    /// For each step of the SMTP dialogue.
    #[serde(with = "serde_duration")]
    pub timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            host: String::new(),
            port: 25,
            tls: RelayTls::Starttls,
            ca_file: None,
            username: None,
            password: None,
            helo: None,
            timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RelayTls {
    /// STARTTLS, required (RFC 3207).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
    /// Plain text: only for a relay on this host or a trusted link.
    None,
}

pub struct SmtpRelay {
    builder: SmtpClientBuilder<String>,
    tls: RelayTls,
    config: RelayConfig,
}

impl SmtpRelay {
    pub fn new(config: &RelayConfig) -> Result<SmtpRelay, String> {
        if config.host.is_empty() {
            return Err("relay.host: give the relay's host name".into());
        }
        if config.username.is_some() != config.password.is_some() {
            return Err("relay: give both username and password, or neither".into());
        }
        let connector = tls_connector(config.ca_file.as_deref(), "relay.ca_file")?;
        let mut builder =
            SmtpClientBuilder::new_with_tls_connector(config.host.clone(), config.port, connector)
                .implicit_tls(config.tls == RelayTls::Implicit)
                .timeout(config.timeout);
        if let Some(helo) = &config.helo {
            builder = builder.helo_host(helo.clone());
        }
        if let (Some(u), Some(p)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(SmtpRelay {
            builder,
            tls: config.tls,
            config: config.clone(),
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "smtp {}:{} ({:?})",
            self.config.host, self.config.port, self.tls
        )
    }

    pub async fn deliver(&self, mails: &[Envelope]) -> Vec<Result<(), DeliveryError>> {
        let connected = match self.tls {
            RelayTls::None => match self.builder.connect_plain().await {
                Ok(client) => Ok(send_all(client, mails).await),
                Err(e) => Err(e),
            },
            _ => match self.builder.connect().await {
                Ok(client) => Ok(send_all(client, mails).await),
                Err(e) => Err(e),
            },
        };
        connected.unwrap_or_else(|e| {
            // a refusal before any mail (greeting, EHLO, STARTTLS, AUTH) is the relay's state or
            // faxhub's configuration, not the mail's: it is tried again
            let e = DeliveryError::transient(format!(
                "relay {}:{}: {e}",
                self.config.host, self.config.port
            ));
            mails.iter().map(|_| Err(e.clone())).collect()
        })
    }
}

/// Sends each mail over one connection; after a failed mail, RSET and go on.
async fn send_all<T: AsyncRead + AsyncWrite + Unpin>(
    mut client: SmtpClient<T>,
    mails: &[Envelope],
) -> Vec<Result<(), DeliveryError>> {
    let mut results = Vec::with_capacity(mails.len());
    let mut broken: Option<DeliveryError> = None;
    for mail in mails {
        if let Some(e) = &broken {
            results.push(Err(e.clone()));
            continue;
        }
        let params = Parameters::default();
        let sent = async {
            client.mail_from(&mail.mail_from, &params).await?;
            client.rcpt_to(&mail.rcpt_to, &params).await?;
            client.data(&mail.message).await.map(|_| ())
        }
        .await;
        match sent {
            Ok(()) => results.push(Ok(())),
            Err(e) => {
                let reply = matches!(e, mail_send::Error::UnexpectedReply(_));
                let e = classify(e);
                if !reply || client.rset().await.is_err() {
                    broken = Some(DeliveryError::transient(format!(
                        "connection lost after: {}",
                        e.why
                    )));
                }
                results.push(Err(e));
            }
        }
    }
    let _ = client.quit().await;
    results
}

/// A failed mail: for good when the relay answered it with 5xx, else for now.
fn classify(e: mail_send::Error) -> DeliveryError {
    let permanent = match &e {
        mail_send::Error::UnexpectedReply(r) => r.code() >= 500,
        _ => false,
    };
    DeliveryError {
        permanent,
        why: format!("relay: {e}"),
    }
}

/// rustls with the ring provider, trusting `ca_file` or the system's CAs; errors name the
/// setting `key` (`relay.ca_file`).
pub fn tls_connector(ca_file: Option<&Path>, key: &str) -> Result<TlsConnector, String> {
    let path = ca_file.map_or_else(|| PathBuf::from(SYSTEM_CA_BUNDLE), Path::to_path_buf);
    let mut roots = rustls::RootCertStore::empty();
    match std::fs::File::open(&path) {
        Ok(f) => {
            for cert in rustls_pemfile::certs(&mut BufReader::new(f)) {
                let cert = cert.map_err(|e| format!("{key} {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("{key} {}: {e}", path.display()))?;
            }
        }
        // without a system bundle, TLS to the relay fails (and says why) until one is given
        Err(e) if ca_file.is_some() => {
            return Err(format!("{key} {}: {e}", path.display()));
        }
        Err(_) => {}
    }
    if ca_file.is_some() && roots.is_empty() {
        return Err(format!("{key} {}: no certificate in it", path.display()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}
