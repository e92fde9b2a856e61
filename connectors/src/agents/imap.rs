//! A mail file read over IMAP: Domino's gateway mail file for a foreign domain (through
//! Domino's IMAP service), or any mailbox the fax mail is delivered to.
//!
//! One connection (implicit TLS, STARTTLS or plain on a trusted network), LOGIN, SELECT of
//! `mailbox`; then, round after round: the messages not yet taken (`UNDELETED`, or `UNSEEN`
//! with `after = "seen"`), each fetched with `BODY.PEEK[]`, made a job, and only then deleted
//! (`\Deleted` and EXPUNGE) or marked `\Seen`. Between rounds it waits in IDLE when the server
//! has it (woken by new mail) or polls. A lost connection is opened again after `poll`.
//!
//! Recipients are the fax addresses among `To:` and `Cc:` (the envelope is not visible over
//! IMAP; other addresses there are the mail's other recipients and are left alone). Receipts go
//! to the `Return-Path:` (or `From:`) by the relay: IMAP cannot send mail, and Domino takes
//! them over SMTP. The source key is `imap:<user>@<host>/<mailbox>;UIDVALIDITY=<v>;UID=<uid>`. A
//! message with no fax address is copied into the local quarantine with its reason, then
//! removed from the mailbox like the others.

use super::{Quarantine, Taken, recipients, take};
use crate::addressing::{Addressing, split_address, strip_angles};
use crate::relay::RelayTls;
use async_imap::Client;
use faxhub_queue::Origin;
use faxhub_queue::intake::{Intake, Submission};
use faxhub_queue::units::serde_duration;
use futures_util::StreamExt;
use mail_parser::MessageParser;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: RelayTls,
    /// PEM file of the CAs that may sign the server's certificate (default: the system's).
    pub ca_file: Option<PathBuf>,
    pub username: String,
    pub password: String,
    pub mailbox: String,
    /// What becomes of a message once its job is committed: "delete" or "seen".
    pub after: After,
    /// Wait in IDLE between rounds when the server offers it.
    pub idle: bool,
    /// Between rounds without IDLE, before reconnecting, and the longest IDLE.
    #[serde(with = "serde_duration")]
    pub poll: Duration,
    /// Domains of fax addresses besides `[smtp] fax_domains` (Domino's foreign domain, `FAX`).
    pub fax_domains: Vec<String>,
    /// Default: `<data_dir>/quarantine/imap`.
    pub quarantine: Option<PathBuf>,
    /// For each command.
    #[serde(with = "serde_duration")]
    pub timeout: Duration,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum After {
    #[default]
    Delete,
    Seen,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            host: String::new(),
            port: 993,
            tls: RelayTls::Implicit,
            ca_file: None,
            username: String::new(),
            password: String::new(),
            mailbox: "INBOX".into(),
            after: After::Delete,
            idle: true,
            poll: Duration::from_secs(30),
            fax_domains: Vec::new(),
            quarantine: None,
            timeout: Duration::from_secs(60),
        }
    }
}

impl ImapConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.host.is_empty() || self.username.is_empty() {
            return Err("imap: host and username are needed".into());
        }
        if self.tls != RelayTls::None {
            tls_connector(self)?;
        }
        Ok(())
    }
}

fn tls_connector(config: &ImapConfig) -> Result<TlsConnector, String> {
    crate::relay::tls_connector(config.ca_file.as_deref(), "imap.ca_file")
}

#[derive(Clone)]
pub struct MailFile {
    pub config: ImapConfig,
    pub quarantine: Quarantine,
    pub intake: Intake,
    /// Who may fax (`[ldap] fax_group`), if only a group may.
    pub policy: Option<std::sync::Arc<crate::directory::FaxPolicy>>,
    /// With the mail file's own fax domains added.
    pub addressing: Addressing,
    pub host: String,
}

type Error = String;

impl MailFile {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let c = &self.config;
        tracing::info!(agent = "imap", server = %format!("{}:{}", c.host, c.port), mailbox = %c.mailbox, "agent started");
        loop {
            let result = match self.config.tls {
                RelayTls::None => match self.tcp().await {
                    Ok(tcp) => self.greet_and_serve(tcp, &mut shutdown).await,
                    Err(e) => Err(e),
                },
                RelayTls::Implicit => match self.tls(self.tcp().await).await {
                    Ok(tls) => self.greet_and_serve(tls, &mut shutdown).await,
                    Err(e) => Err(e),
                },
                RelayTls::Starttls => self.starttls(&mut shutdown).await,
            };
            match result {
                Ok(()) => break, // shutting down
                Err(e) => {
                    tracing::warn!(agent = "imap", server = %self.config.host, error = %e, retry_in = ?self.config.poll, "IMAP session ended");
                }
            }
            if !super::pause(self.config.poll, &mut shutdown).await {
                break;
            }
        }
    }

    async fn tcp(&self) -> Result<TcpStream, Error> {
        let addr = (self.config.host.as_str(), self.config.port);
        tokio::time::timeout(self.config.timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| "connection timed out".to_string())?
            .map_err(|e| format!("cannot connect: {e}"))
    }

    async fn tls<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: Result<S, Error>,
    ) -> Result<tokio_rustls::client::TlsStream<S>, Error> {
        let stream = stream?;
        let name = rustls::pki_types::ServerName::try_from(self.config.host.clone())
            .map_err(|e| format!("bad host name: {e}"))?;
        tls_connector(&self.config)?
            .connect(name, stream)
            .await
            .map_err(|e| format!("TLS: {e}"))
    }

    async fn starttls(&self, shutdown: &mut watch::Receiver<bool>) -> Result<(), Error> {
        let mut client = Client::new(self.tcp().await?);
        self.greeting(&mut client).await?;
        self.timed(client.run_command_and_check_ok("STARTTLS", None))
            .await?;
        let tls = self.tls(Ok(client.into_inner())).await?;
        // no greeting after STARTTLS
        self.serve(Client::new(tls), shutdown).await
    }

    async fn greeting<S: AsyncRead + AsyncWrite + Unpin + Debug + Send>(
        &self,
        client: &mut Client<S>,
    ) -> Result<(), Error> {
        match tokio::time::timeout(self.config.timeout, client.read_response()).await {
            Ok(Ok(Some(_))) => Ok(()),
            Ok(Ok(None)) => Err("the server closed the connection before its greeting".into()),
            Ok(Err(e)) => Err(format!("greeting: {e}")),
            Err(_) => Err("no greeting".into()),
        }
    }

    async fn greet_and_serve<S: AsyncRead + AsyncWrite + Unpin + Debug + Send>(
        &self,
        stream: S,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let mut client = Client::new(stream);
        self.greeting(&mut client).await?;
        self.serve(client, shutdown).await
    }

    async fn timed<T, E: std::fmt::Display>(
        &self,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.config.timeout, f)
            .await
            .map_err(|_| "the server did not answer in time".to_string())?
            .map_err(|e| e.to_string())
    }

    /// Logs in and takes the mailbox's messages until shutdown (`Ok`) or an error.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin + Debug + Send>(
        &self,
        client: Client<S>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), Error> {
        let c = &self.config;
        let mut session = self
            .timed(async {
                client
                    .login(&c.username, &c.password)
                    .await
                    .map_err(|(e, _)| format!("login as {}: {e}", c.username))
            })
            .await?;
        let idle = c.idle && self.timed(session.capabilities()).await?.has_str("IDLE");
        loop {
            let mailbox = self.timed(session.select(&c.mailbox)).await?;
            let validity = mailbox.uid_validity.unwrap_or(0);
            let query = match c.after {
                After::Delete => "UNDELETED",
                After::Seen => "UNSEEN UNDELETED",
            };
            let mut uids: Vec<u32> = self
                .timed(session.uid_search(query))
                .await?
                .into_iter()
                .collect();
            uids.sort_unstable();
            let mut taken = Vec::new();
            for uid in uids {
                let bytes = {
                    let mut fetches = self
                        .timed(session.uid_fetch(uid.to_string(), "BODY.PEEK[]"))
                        .await?;
                    let mut body = None;
                    while let Some(f) = fetches.next().await {
                        let f = f.map_err(|e| e.to_string())?;
                        if f.uid == Some(uid) {
                            body = f.body().map(<[u8]>::to_vec);
                        }
                    }
                    body
                };
                let Some(bytes) = bytes else {
                    continue; // expunged meanwhile
                };
                let key = format!(
                    "imap:{}@{}/{};UIDVALIDITY={validity};UID={uid}",
                    c.username, c.host, c.mailbox
                );
                if self.take_one(&key, uid, &bytes).await {
                    taken.push(uid);
                }
            }
            if !taken.is_empty() {
                let set = taken
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                let flag = match c.after {
                    After::Delete => "+FLAGS.SILENT (\\Deleted)",
                    After::Seen => "+FLAGS.SILENT (\\Seen)",
                };
                {
                    let mut updates = self.timed(session.uid_store(&set, flag)).await?;
                    while let Some(u) = updates.next().await {
                        u.map_err(|e| e.to_string())?;
                    }
                }
                if c.after == After::Delete {
                    let gone = self.timed(session.expunge()).await?;
                    let mut gone = std::pin::pin!(gone);
                    while let Some(g) = gone.next().await {
                        g.map_err(|e| e.to_string())?;
                    }
                }
            }
            if *shutdown.borrow() {
                let _ = self.timed(session.logout()).await;
                return Ok(());
            }
            if idle {
                let mut handle = session.idle();
                self.timed(handle.init()).await?;
                let stop = {
                    let (wait, interrupt) = handle.wait_with_timeout(c.poll);
                    tokio::select! {
                        r = wait => {
                            r.map_err(|e| format!("IDLE: {e}"))?;
                            false
                        }
                        _ = shutdown.changed() => {
                            drop(interrupt);
                            true
                        }
                    }
                };
                session = self.timed(handle.done()).await?;
                if stop {
                    let _ = self.timed(session.logout()).await;
                    return Ok(());
                }
            } else if !super::pause(c.poll, shutdown).await {
                let _ = self.timed(session.logout()).await;
                return Ok(());
            }
        }
    }

    /// Makes the message a job (or quarantines it); true when it may leave the mailbox.
    async fn take_one(&self, key: &str, uid: u32, bytes: &[u8]) -> bool {
        let made = self.make(bytes);
        match take(&self.intake, self.policy.as_deref(), key, made).await {
            Ok(Taken::Queued(id)) => {
                tracing::info!(agent = "imap", job = %id, uid, mailbox = %self.config.mailbox, "queued");
                true
            }
            Ok(Taken::Already(id)) => {
                tracing::info!(agent = "imap", job = %id, uid, "already queued before a restart; removing the message");
                true
            }
            Ok(Taken::Bad(why)) => {
                let name = format!("uid-{uid}.eml");
                match self.quarantine.put_bytes("imap", &name, bytes, key, &why) {
                    Ok(folder) => {
                        tracing::warn!(agent = "imap", uid, reason = %why, quarantine = %folder.display(), "quarantined");
                        true
                    }
                    Err(e) => {
                        tracing::error!(agent = "imap", uid, reason = %why, error = %e, "cannot quarantine; left in the mailbox");
                        false
                    }
                }
            }
            Err(e) => {
                tracing::error!(agent = "imap", uid, error = %e, "not queued; trying again later");
                false
            }
        }
    }

    /// A fetched message as a submission.
    pub fn make(&self, bytes: &[u8]) -> Result<(Submission, Vec<u8>), String> {
        let parsed = MessageParser::default()
            .parse_headers(bytes)
            .ok_or("not a message: its header does not parse")?;
        let addresses: Vec<String> = parsed
            .to()
            .into_iter()
            .chain(parsed.cc())
            .flat_map(|a| a.iter())
            .filter_map(|a| a.address().map(str::to_string))
            .filter(|a| {
                split_address(a)
                    .is_some_and(|(local, domain)| self.addressing.is_fax_address(&local, domain))
            })
            .collect();
        if addresses.is_empty() {
            return Err("no fax address in To: or Cc:".into());
        }
        let (ok, refused) = recipients(&self.addressing, addresses.iter().map(String::as_str));
        let return_path = parsed
            .header_raw("Return-Path")
            .map(|r| strip_angles(r).to_string())
            .or_else(|| {
                parsed
                    .from()
                    .and_then(|a| a.first())
                    .and_then(|a| a.address())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let received = format!(
            "Received: from IMAP {}/{}\r\n\tby {} (faxhub) with IMAP;\r\n\t{}\r\n",
            self.config.host,
            self.config.mailbox,
            self.host,
            chrono::Utc::now().to_rfc2822()
        );
        let mut message = received.into_bytes();
        message.extend_from_slice(bytes);
        let mut submission = Submission {
            origin: Origin::Imap,
            return_path,
            from_header: None,
            subject: None,
            env_id: None,
            ret: None,
            recipients: ok,
            source: None,
            refused,
            request_hash: None,
            billing: None,
            priority: Default::default(),
            send_at_ms: None,
            list_part: None,
        };
        crate::smtp::data::describe(&message, &mut submission);
        Ok((submission, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail_file(intake: Intake) -> MailFile {
        let mut addressing = super::super::tests::addressing();
        addressing.fax_domains.push("FAX".into());
        MailFile {
            config: ImapConfig::default(),
            quarantine: Quarantine::new(PathBuf::from("/nonexistent")),
            intake,
            policy: None,
            addressing,
            host: "faxhub.test".into(),
        }
    }

    #[tokio::test]
    async fn fax_addresses_in_to_and_cc_are_the_recipients_and_the_rest_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (intake, _) = super::super::tests::intake(dir.path()).await;
        let agent = mail_file(intake);
        let (s, message) = agent
            .make(
                b"Return-Path: <jdoe@acme.example>\r\nFrom: John Doe <jdoe@acme.example>\r\n\
To: Sales <0169293999@FAX>, Bob <bob@acme.example>\r\nCc: 0899123456@fax.example.com\r\n\
Subject: Devis\r\n\r\nbody\r\n",
            )
            .unwrap();
        assert_eq!(s.return_path, "jdoe@acme.example");
        assert_eq!(s.subject.as_deref(), Some("Devis"));
        assert_eq!(s.recipients.len(), 1);
        assert_eq!(s.recipients[0].number.as_str(), "+33169293999");
        assert_eq!(s.recipients[0].display_name.as_deref(), Some("Sales"));
        assert_eq!(s.refused.len(), 1, "the premium-rate number is refused");
        assert!(message.starts_with(b"Received: from IMAP "));
        let none = agent
            .make(b"From: a@b\r\nTo: bob@acme.example\r\nSubject: x\r\n\r\nbody\r\n")
            .unwrap_err();
        assert!(none.contains("no fax address"), "{none}");
    }
}
