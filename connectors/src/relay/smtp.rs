//! The SMTP relay (`[relay]`), through mail-send: one connection per batch, STARTTLS (or
//! implicit TLS, or none for a relay on the same host) with the certificate verified by rustls
//! against the system's CA bundle or `ca_file`, AUTH when credentials are configured. A reply
//! in 5xx fails that mail for good; anything else (connection, TLS, 4xx, timeout) for now.
//! STARTTLS is required when configured (no fall-back to plain text); nothing the server sent
//! before the handshake is read after it (mail-send reads each reply into its own buffer), and
//! the capabilities are asked again over TLS. Messages go with CRLF line ends only and
//! dot-stuffed; an address that would change its command is never written.

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
        // commands and replies are small and go in turn: without TCP_NODELAY each message's
        // last write waits out the relay's delayed ACK (40 ms a mail, measured against a relay
        // of the tests)
        let connected = match self.tls {
            RelayTls::None => match self.builder.connect_plain().await {
                Ok(client) => {
                    let _ = client.stream.set_nodelay(true);
                    Ok(send_all(client, mails).await)
                }
                Err(e) => Err(e),
            },
            _ => match self.builder.connect().await {
                Ok(client) => {
                    let _ = client.stream.get_ref().0.set_nodelay(true);
                    Ok(send_all(client, mails).await)
                }
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
        // an address that would end or change the command it is written into (a CR LF, a `>`)
        // is never written: it fails for good
        if let Some(bad) = [&mail.mail_from, &mail.rcpt_to]
            .into_iter()
            .find(|a| !envelope_safe(a))
        {
            results.push(Err(DeliveryError {
                permanent: true,
                why: format!("{bad:?} is not an address faxhub writes into an SMTP command"),
            }));
            continue;
        }
        let params = Parameters::default();
        let sent = async {
            client.mail_from(&mail.mail_from, &params).await?;
            client.rcpt_to(&mail.rcpt_to, &params).await?;
            client.data(crlf(&mail.message)).await.map(|_| ())
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

/// `message` with every line ending a CRLF: a bare CR or LF (a returned original may hold them)
/// becomes one, so that the relay reads the lines faxhub meant (mail-send dot-stuffs after them).
fn crlf(message: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bare = message.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => message.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || message[i - 1] != b'\r',
        _ => false,
    });
    if !bare {
        return std::borrow::Cow::Borrowed(message);
    }
    let mut out = Vec::with_capacity(message.len() + 64);
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' if message.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 2;
                continue;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// Whether `address` can go between `<` and `>` of MAIL or RCPT as it is.
fn envelope_safe(address: &str) -> bool {
    address.len() <= 320
        && !address
            .chars()
            .any(|c| c.is_control() || matches!(c, '<' | '>'))
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
    Ok(TlsConnector::from(client_config(ca_file, key)?))
}

/// The client configuration of [`tls_connector`].
pub fn client_config(
    ca_file: Option<&Path>,
    key: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
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
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader as AsyncBufReader};
    use tokio::net::TcpListener;

    /// A relay that takes everything and keeps the command lines it was sent.
    async fn recording_relay() -> (u16, tokio::task::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            write.write_all(b"220 relay ESMTP\r\n").await.unwrap();
            record(read, write).await
        });
        (port, task)
    }

    /// Answers every command with success until QUIT; the command lines, in order.
    async fn record(
        read: impl tokio::io::AsyncRead + Unpin,
        mut write: impl tokio::io::AsyncWrite + Unpin,
    ) -> Vec<String> {
        let mut lines = AsyncBufReader::new(read).lines();
        let mut seen = Vec::new();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            let reply: &[u8] = if in_data {
                if line != "." {
                    continue;
                }
                in_data = false;
                b"250 queued\r\n"
            } else {
                seen.push(line.clone());
                match line.get(..4).unwrap_or("") {
                    "DATA" => {
                        in_data = true;
                        b"354 go on\r\n"
                    }
                    "QUIT" => {
                        let _ = write.write_all(b"221 bye\r\n").await;
                        break;
                    }
                    _ => b"250 ok\r\n",
                }
            };
            if write.write_all(reply).await.is_err() {
                break;
            }
        }
        seen
    }

    const INJECTED: &str = "alice@example.com>\r\nRCPT TO:<eve@evil.test";

    fn rcpts(seen: &[String]) -> Vec<&String> {
        seen.iter().filter(|l| l.starts_with("RCPT")).collect()
    }

    #[tokio::test]
    async fn an_address_with_a_line_break_adds_a_recipient_through_mail_send_alone() {
        // the control: written as it is, the address becomes a second RCPT command
        let (port, relay) = recording_relay().await;
        let mut client = SmtpClientBuilder::new("127.0.0.1".to_string(), port)
            .unwrap()
            .connect_plain()
            .await
            .unwrap();
        let params = Parameters::default();
        client.mail_from("", &params).await.unwrap();
        let _ = client.rcpt_to(INJECTED, &params).await;
        let _ = client.quit().await;
        let seen = relay.await.unwrap();
        assert!(
            rcpts(&seen).iter().any(|l| l.contains("eve@evil.test")),
            "{seen:?}"
        );
    }

    #[tokio::test]
    async fn the_relay_never_writes_an_address_that_would_change_its_command() {
        let (port, relay) = recording_relay().await;
        let smtp = SmtpRelay::new(&RelayConfig {
            host: "127.0.0.1".into(),
            port,
            tls: RelayTls::None,
            ..RelayConfig::default()
        })
        .unwrap();
        let mail = |rcpt_to: &str| Envelope {
            mail_from: String::new(),
            rcpt_to: rcpt_to.into(),
            message: b"Subject: x\r\n\r\nx\r\n".to_vec(),
        };
        let results = smtp
            .deliver(&[mail(INJECTED), mail("bob@example.com")])
            .await;
        let refused = results[0].as_ref().unwrap_err();
        assert!(refused.permanent, "{refused:?}");
        assert!(refused.why.contains("not an address"), "{refused:?}");
        assert_eq!(results[1], Ok(()));
        let seen = relay.await.unwrap();
        assert_eq!(rcpts(&seen), ["RCPT TO:<bob@example.com>"], "{seen:?}");
        for (address, safe) in [
            ("bob@example.com", true),
            ("\"bob smith\"@example.com", true),
            ("", true),
            ("a@b>", false),
            ("a@b\r", false),
            ("a@b\n", false),
            ("a\0@b", false),
        ] {
            assert_eq!(envelope_safe(address), safe, "{address:?}");
        }
    }

    #[test]
    fn bare_line_ends_become_crlf() {
        assert_eq!(&*crlf(b"a\r\nb\r\n"), b"a\r\nb\r\n");
        assert_eq!(
            &*crlf(b"a\n.\nMAIL FROM:<x>\rb\r\n"),
            b"a\r\n.\r\nMAIL FROM:<x>\r\nb\r\n"
        );
        assert_eq!(&*crlf(b"\n"), b"\r\n");
    }

    /// A relay that answers STARTTLS with `220 Ready` and a `554` injected behind it, in the
    /// same segment or (`split`) in one of its own before the handshake; what faxhub's delivery
    /// came to, and what the relay heard over TLS (`None` if the handshake failed).
    async fn injecting_relay(split: bool) -> (Result<(), DeliveryError>, Option<Vec<String>>) {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir().unwrap();
        let acceptor =
            crate::smtp::tls::acceptor(&Default::default(), dir.path(), "localhost").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut plain, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            plain.write_all(b"220 relay ESMTP\r\n").await.unwrap();
            let _ = plain.read(&mut buf).await.unwrap(); // EHLO
            plain
                .write_all(b"250-relay\r\n250 STARTTLS\r\n")
                .await
                .unwrap();
            let _ = plain.read(&mut buf).await.unwrap(); // STARTTLS
            if split {
                plain.write_all(b"220 Ready\r\n").await.unwrap();
                plain.flush().await.unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
                plain.write_all(b"554 5.7.0 INJECTED\r\n").await.unwrap();
            } else {
                plain
                    .write_all(b"220 Ready\r\n554 5.7.0 INJECTED\r\n")
                    .await
                    .unwrap();
            }
            let tls = acceptor.accept(plain).await.ok()?;
            let (read, write) = tokio::io::split(tls);
            Some(record(read, write).await)
        });
        let smtp = SmtpRelay::new(&RelayConfig {
            host: "localhost".into(),
            port,
            tls: RelayTls::Starttls,
            ca_file: Some(dir.path().join("tls/cert.pem")),
            ..RelayConfig::default()
        })
        .unwrap();
        let mut results = smtp
            .deliver(&[Envelope {
                mail_from: String::new(),
                rcpt_to: "bob@example.com".into(),
                message: b"Subject: x\r\n\r\nx\r\n".to_vec(),
            }])
            .await;
        (results.remove(0), server.await.unwrap())
    }

    #[tokio::test]
    async fn nothing_a_relay_sends_before_the_tls_handshake_is_read_after_it() {
        let (result, seen) = injecting_relay(false).await;
        assert_eq!(result, Ok(()), "the injected 554 was not taken for a reply");
        let seen = seen.expect("the handshake went through");
        assert!(
            seen[0].starts_with("EHLO"),
            "capabilities asked again over TLS: {seen:?}"
        );
        // injected in a segment of its own: it lands in the handshake, which fails, and the
        // delivery is deferred (never failed for good, never the injected reply)
        let (result, seen) = injecting_relay(true).await;
        let error = result.expect_err("no TLS session with bytes in front of it");
        assert!(
            !error.permanent && !error.why.contains("INJECTED"),
            "{error:?}"
        );
        assert!(seen.is_none(), "{seen:?}");
    }
}
