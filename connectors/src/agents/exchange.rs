//! Exchange Foreign connector: the Drop directory in, the Replay directory out.
//!
//! In: Exchange writes each message for the fax address space as an `.eml` file in the Drop
//! directory, its envelope in header lines on top: exactly one `X-Sender: <addr>` (with
//! optional `RET=`, `ENVID=`, `AUTH=`) and one `X-Receiver: <addr>` per recipient (with
//! optional `NOTIFY=`, `ORCPT=`). The envelope is what counts, not `To:` (Bcc, expanded
//! lists). Each file becomes one job; the X-Sender/X-Receiver lines are taken off the stored
//! message and a `Received:` line put on. Receivers that are not fax numbers (or that the dial
//! plan refuses) become failed recipients with their reason, as SMTP would have refused them. A
//! file with no X-Sender, no X-Receiver or no header goes to quarantine.
//!
//! Out (`Replay`): receipts on these jobs, and received faxes when `[inbound] via =
//! "exchange"`, are written into the Replay directory with `X-Sender`/`X-Receiver` first,
//! under a `.tmp` name, then renamed to `.eml` (Exchange picks up `.eml` only). A receipt's
//! X-Sender is `<>`, the null reverse path of every delivery report.

use super::{Pass, Quarantine, finish, folder, refused_recipient, take};
use crate::addressing::Addressing;
use crate::relay::publish::{publish, unique_name};
use crate::relay::{DeliveryError, Envelope};
use crate::smtp::address::{decode_xtext, parse_path_and_params};
use faxhub_queue::intake::{Intake, Submission};
use faxhub_queue::store::NewRecipient;
use faxhub_queue::units::serde_duration;
use faxhub_queue::{Notify, Origin, Ret};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExchangeConfig {
    /// The Foreign connector's Drop directory (`Set-ForeignConnector -DropDirectory`).
    pub drop: PathBuf,
    /// Exchange's Replay directory, for receipts and received faxes; without it they go by the
    /// relay.
    pub replay: Option<PathBuf>,
    #[serde(with = "serde_duration")]
    pub poll: Duration,
    /// A file is taken once unchanged this long.
    #[serde(with = "serde_duration")]
    pub settle: Duration,
    /// Default: `<data_dir>/quarantine/exchange`.
    pub quarantine: Option<PathBuf>,
}

impl Default for ExchangeConfig {
    fn default() -> Self {
        ExchangeConfig {
            drop: PathBuf::new(),
            replay: None,
            poll: Duration::from_secs(5),
            settle: Duration::from_secs(1),
            quarantine: None,
        }
    }
}

#[derive(Clone)]
pub struct DropDirectory {
    pub config: ExchangeConfig,
    pub quarantine: Quarantine,
    pub intake: Intake,
    /// Who may fax (`[ldap] fax_group`), if only a group may.
    pub policy: Option<std::sync::Arc<crate::directory::FaxPolicy>>,
    pub addressing: Addressing,
    pub host: String,
}

impl Pass for DropDirectory {
    fn pass(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        DropDirectory::pass(self)
    }
}

impl DropDirectory {
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let dir = self.config.drop.clone();
        super::every("exchange", &dir, self.config.poll, shutdown, &self).await
    }

    /// Takes every settled `.eml` file once.
    pub async fn pass(&self) -> std::io::Result<()> {
        let files = folder::ready_files(
            "exchange",
            &self.config.drop,
            self.config.settle,
            SystemTime::now(),
            |name| name.to_ascii_lowercase().ends_with(".eml"),
        )?;
        for entry in &files {
            let made = match folder::take_bytes(entry).await {
                Ok(Ok(bytes)) => self.make(&bytes),
                Ok(Err(why)) => Err(why),
                Err(e) => {
                    tracing::warn!(agent = "exchange", file = %entry.name, error = %e, "cannot read; trying again later");
                    continue;
                }
            };
            let outcome = take(&self.intake, self.policy.as_deref(), &entry.key, made).await;
            finish(
                "exchange",
                &entry.name,
                outcome,
                &[&entry.path],
                &self.quarantine,
            );
        }
        Ok(())
    }

    /// A Drop directory file as a submission and the message to spool.
    pub fn make(&self, bytes: &[u8]) -> Result<(Submission, Vec<u8>), String> {
        let envelope = DropEnvelope::read(bytes)?;
        let mut recipients: Vec<NewRecipient> = Vec::new();
        let mut refused = Vec::new();
        for r in &envelope.receivers {
            match self.addressing.recipient(&r.address, &r.local, &r.domain) {
                Ok(ok) if recipients.iter().any(|o| o.number == ok.number) => {}
                Ok(ok) => recipients.push(NewRecipient {
                    notify: r.notify,
                    orcpt: r.orcpt.clone(),
                    ..ok
                }),
                Err(e) => {
                    let mut failed = refused_recipient(&r.address, &e);
                    failed.notify = r.notify;
                    failed.orcpt = r.orcpt.clone();
                    refused.push(failed);
                }
            }
        }
        let received = format!(
            "Received: from Exchange Drop directory\r\n\tby {} (faxhub) with local-file;\r\n\t{}\r\n",
            self.host,
            chrono::Utc::now().to_rfc2822()
        );
        let mut message = received.into_bytes();
        message.extend_from_slice(&envelope.message);
        let mut submission = Submission {
            origin: Origin::Exchange,
            return_path: envelope.sender,
            from_header: None,
            subject: None,
            env_id: envelope.env_id,
            ret: envelope.ret,
            recipients,
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

/// One `X-Receiver`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Receiver {
    address: String,
    local: String,
    domain: String,
    notify: Option<Notify>,
    orcpt: Option<String>,
}

/// The envelope lines of a Drop directory file, and the message without them.
#[derive(Clone, Debug, PartialEq, Eq)]
struct DropEnvelope {
    sender: String,
    env_id: Option<String>,
    ret: Option<Ret>,
    receivers: Vec<Receiver>,
    message: Vec<u8>,
}

impl DropEnvelope {
    fn read(bytes: &[u8]) -> Result<DropEnvelope, String> {
        let header_end = header_end(bytes).ok_or(
            "not a message: no blank line ends its header (Exchange writes RFC 5322 files here)",
        )?;
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        let mut kept = Vec::with_capacity(bytes.len());
        for field in fields(&bytes[..header_end]) {
            let text = String::from_utf8_lossy(field);
            let (name, value) = text.split_once(':').unwrap_or((&text, ""));
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            if name.eq_ignore_ascii_case("X-Sender") {
                senders.push(value);
            } else if name.eq_ignore_ascii_case("X-Receiver") {
                receivers.push(receiver(&value)?);
            } else {
                kept.extend_from_slice(field);
            }
        }
        kept.extend_from_slice(&bytes[header_end..]);
        let sender = match senders.as_slice() {
            [one] => one,
            [] => {
                return Err(
                    "no X-Sender line: not a file from an Exchange Foreign connector".into(),
                );
            }
            _ => {
                return Err(format!(
                    "{} X-Sender lines; Exchange writes exactly one",
                    senders.len()
                ));
            }
        };
        if receivers.is_empty() {
            return Err("no X-Receiver line: the file names no recipient".into());
        }
        let (path, params) = parse_path_and_params(&bracketed(sender))
            .map_err(|why| format!("X-Sender {sender:?}: {why}"))?;
        let mut env_id = None;
        let mut ret = None;
        for (key, value) in params {
            match (key.as_str(), value) {
                ("RET", Some(v)) => ret = Ret::parse(&v),
                ("ENVID", Some(v)) => env_id = decode_xtext(&v),
                _ => {} // AUTH= and what a later Exchange adds
            }
        }
        Ok(DropEnvelope {
            sender: path.raw,
            env_id,
            ret,
            receivers,
            message: kept,
        })
    }
}

fn receiver(value: &str) -> Result<Receiver, String> {
    let (path, params) = parse_path_and_params(&bracketed(value))
        .map_err(|why| format!("X-Receiver {value:?}: {why}"))?;
    let mut notify = None;
    let mut orcpt = None;
    for (key, value) in params {
        match (key.as_str(), value) {
            ("NOTIFY", Some(v)) => notify = Notify::parse(&v),
            ("ORCPT", Some(v)) => {
                orcpt = v
                    .split_once(';')
                    .and_then(|(kind, addr)| Some(format!("{kind};{}", decode_xtext(addr)?)))
            }
            _ => {}
        }
    }
    Ok(Receiver {
        address: path.raw,
        local: path.local,
        domain: path.domain,
        notify,
        orcpt,
    })
}

/// `addr params` → `<addr> params` when the brackets are missing.
fn bracketed(value: &str) -> String {
    let v = value.trim();
    if v.starts_with('<') {
        v.to_string()
    } else {
        match v.split_once(' ') {
            Some((addr, rest)) => format!("<{addr}> {rest}"),
            None => format!("<{v}>"),
        }
    }
}

/// Where the header ends: just after the line break that precedes the blank line.
fn header_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 2);
    let lf = bytes.windows(2).position(|w| w == b"\n\n").map(|i| i + 1);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The header's fields, each with its continuation lines and line breaks, in order.
fn fields(header: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < header.len() {
        let end = header[i..]
            .iter()
            .position(|b| *b == b'\n')
            .map_or(header.len(), |p| i + p + 1);
        let continues = end < header.len() && matches!(header[end], b' ' | b'\t');
        if !continues {
            out.push(&header[start..end]);
            start = end;
        }
        i = end;
    }
    out
}

/// Exchange's Replay directory: where faxhub's mail for Exchange users goes in.
pub struct Replay {
    dir: PathBuf,
}

impl Replay {
    pub fn new(dir: PathBuf) -> Replay {
        Replay { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub async fn deliver(&self, mail: &Envelope) -> Result<(), DeliveryError> {
        let dir = self.dir.clone();
        let envelope = format!(
            "X-Sender: <{}>\r\nX-Receiver: <{}>\r\n",
            mail.mail_from, mail.rcpt_to
        );
        let message = mail.message.clone();
        tokio::task::spawn_blocking(move || {
            let name = format!("faxhub-{}", unique_name());
            publish(
                &dir.join(format!("{name}.tmp")),
                &dir.join(format!("{name}.eml")),
                &[envelope.as_bytes(), &message],
            )
        })
        .await
        .map_err(|e| DeliveryError::transient(e.to_string()))?
        .map(|_| ())
        .map_err(|e| {
            DeliveryError::transient(format!("replay directory {}: {e}", self.dir.display()))
        })
    }
}

/// The drop-file envelope reader, for the fuzzing tests.
#[cfg(test)]
pub(crate) fn fuzz_read(bytes: &[u8]) -> Result<(), String> {
    DropEnvelope::read(bytes).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &[u8] = b"X-Sender: <alice@contoso.com> RET=HDRS ENVID=QQ314159 auth=<>\r\n\
X-Receiver: <0169293999@fax.example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;0169293999@fax.example.com\r\n\
X-Receiver: <IMCEAFAX-+2B33169293998@contoso.com>\r\n\
X-Receiver: <hello@fax.example.com> NOTIFY=NEVER\r\n\
X-CreatedBy: MSExchange15\r\n\
X-EndOfInjectedXHeaders: 123\r\n\
From: Alice <alice@contoso.com>\r\n\
To: Bob <0169293999@fax.example.com>,\r\n\
\tCarol <IMCEAFAX-+2B33169293998@contoso.com>\r\n\
Subject: Devis\r\n\
\r\n\
X-Receiver: not a header, the body\r\n";

    fn drop_directory(dir: &Path, intake: Intake) -> DropDirectory {
        DropDirectory {
            config: ExchangeConfig {
                drop: dir.join("Drop"),
                settle: Duration::ZERO,
                ..ExchangeConfig::default()
            },
            quarantine: Quarantine::new(dir.join("q")),
            intake,
            policy: None,
            addressing: Addressing {
                imcea_domains: vec!["contoso.com".into()],
                ..super::super::tests::addressing()
            },
            host: "faxhub.test".into(),
        }
    }

    #[test]
    fn the_envelope_comes_from_the_x_lines_and_leaves_the_message() {
        let e = DropEnvelope::read(FILE).unwrap();
        assert_eq!(e.sender, "alice@contoso.com");
        assert_eq!(e.env_id.as_deref(), Some("QQ314159"));
        assert_eq!(e.ret, Some(Ret::Hdrs));
        assert_eq!(e.receivers.len(), 3);
        assert_eq!(e.receivers[0].notify, Notify::parse("SUCCESS,FAILURE"));
        assert_eq!(
            e.receivers[0].orcpt.as_deref(),
            Some("rfc822;0169293999@fax.example.com")
        );
        assert_eq!(e.receivers[1].local, "IMCEAFAX-+2B33169293998");
        let text = String::from_utf8(e.message).unwrap();
        assert!(text.starts_with("X-CreatedBy: MSExchange15\r\n"), "{text}");
        assert!(!text.contains("X-Sender"));
        assert!(text.contains("\tCarol <IMCEAFAX"), "folded lines are kept");
        assert!(text.ends_with("\r\n\r\nX-Receiver: not a header, the body\r\n"));
    }

    #[test]
    fn files_without_an_envelope_are_refused_with_why() {
        let no_sender =
            DropEnvelope::read(b"X-Receiver: <1@f>\r\nSubject: x\r\n\r\nbody").unwrap_err();
        assert!(no_sender.contains("no X-Sender"), "{no_sender}");
        let no_receiver = DropEnvelope::read(b"X-Sender: <a@b>\r\n\r\nbody").unwrap_err();
        assert!(no_receiver.contains("no X-Receiver"), "{no_receiver}");
        let two = DropEnvelope::read(b"X-Sender: <a@b>\nX-Sender: <c@d>\nX-Receiver: <1@f>\n\nx")
            .unwrap_err();
        assert!(two.contains("2 X-Sender lines"), "{two}");
        let no_header = DropEnvelope::read(b"garbage without a blank line").unwrap_err();
        assert!(no_header.contains("no blank line"), "{no_header}");
        // bare LF files and missing brackets are read too
        let lf =
            DropEnvelope::read(b"X-Sender: a@b\nX-Receiver: 1234@f NOTIFY=NEVER\n\nx").unwrap();
        assert_eq!(lf.sender, "a@b");
        assert_eq!(lf.receivers[0].address, "1234@f");
        assert_eq!(lf.message, b"\nx");
    }

    #[tokio::test]
    async fn a_drop_file_becomes_one_job_with_a_recipient_per_receiver() {
        let dir = tempfile::tempdir().unwrap();
        let (intake, store) = super::super::tests::intake(dir.path()).await;
        let agent = drop_directory(dir.path(), intake);
        std::fs::create_dir_all(dir.path().join("Drop")).unwrap();
        std::fs::write(dir.path().join("Drop/a.eml"), FILE).unwrap();
        std::fs::write(
            dir.path().join("Drop/b.eml"),
            b"Subject: no envelope\r\n\r\nx",
        )
        .unwrap();
        std::fs::write(dir.path().join("Drop/c.txt"), b"not taken").unwrap();
        agent.pass().await.unwrap();

        let jobs = store.jobs(true).await.unwrap();
        assert_eq!(jobs.len(), 1);
        let job = &jobs[0];
        assert_eq!(job.origin, "exchange");
        assert_eq!(job.sender, "alice@contoso.com");
        assert_eq!(job.env_id.as_deref(), Some("QQ314159"));
        assert_eq!(job.subject.as_deref(), Some("Devis"));
        let numbers: Vec<&str> = job.recipients.iter().map(|r| r.number.as_str()).collect();
        assert_eq!(numbers, ["+33169293999", "+33169293998", ""]);
        assert_eq!(job.recipients[0].display_name.as_deref(), Some("Bob"));
        assert_eq!(job.recipients[0].notify.as_deref(), Some("SUCCESS,FAILURE"));
        assert_eq!(job.recipients[2].status.as_str(), "failed");
        assert_eq!(job.recipients[2].status_code.as_deref(), Some("5.1.3"));
        assert_eq!(job.recipients[2].notify.as_deref(), Some("NEVER"));
        assert!(!dir.path().join("Drop/a.eml").exists());
        assert!(dir.path().join("Drop/c.txt").exists());
        let q: Vec<_> = std::fs::read_dir(dir.path().join("q")).unwrap().collect();
        assert_eq!(q.len(), 1);
        let folder = q.into_iter().next().unwrap().unwrap().path();
        let reason = std::fs::read_to_string(folder.join("reason.txt")).unwrap();
        assert!(reason.starts_with("no X-Sender line"), "{reason}");
        assert!(folder.join("b.eml").exists());
    }

    #[tokio::test]
    async fn replay_files_carry_the_envelope_first_and_appear_whole_as_eml() {
        let dir = tempfile::tempdir().unwrap();
        let replay = Replay::new(dir.path().to_path_buf());
        replay
            .deliver(&Envelope {
                mail_from: String::new(),
                rcpt_to: "alice@contoso.com".into(),
                message: b"Subject: Fax delivered\r\n\r\nbody\r\n".to_vec(),
            })
            .await
            .unwrap();
        let files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().unwrap(), "eml");
        assert_eq!(
            std::fs::read_to_string(&files[0]).unwrap(),
            "X-Sender: <>\r\nX-Receiver: <alice@contoso.com>\r\nSubject: Fax delivered\r\n\r\nbody\r\n"
        );
    }
}
