//! Mail into GroupWise through the API gateway's `API_IN` (keyword files) and `ATT_IN` (their
//! files): receipts on jobs that came from GroupWise, and received faxes when `[inbound] via =
//! "groupwise"`.
//!
//! Each mail becomes a `Msg-Type= Mail` file: `To` (a `CDBA` block for a native
//! `domain.po.user` address, else `To-Text`), `From-Text`, `Subject`, `Date-Sent`, the text as
//! `Msg-File` and each named attachment (the pages as PDF or TIFF) as an `Attach-File` block.
//! A delivery report also gives a `Msg-Type= Status` file tied to the original message:
//! `Orig-Msg-ID` (the report's Original-Envelope-Id, which is the GroupWise `Msg-Id`) and a
//! `Status-Report` block with `Action` (Delivered, Undeliverable, Delayed) and `Time`.
//! Attachments are published first, then the mail, then the status, each written aside and
//! renamed in (`publish`), so the gateway never reads a file half written or one whose
//! attachments are not there yet.

use super::keyword::KeywordFile;
use super::{API_IN, ATT_IN};
use crate::relay::publish::{publish, unique_name};
use crate::relay::{DeliveryError, Envelope};
use mail_parser::{MessageParser, MimeHeaders};
use std::path::{Path, PathBuf};

/// Where faxhub's writes wait before they are renamed in (same file system as API_IN).
const STAGING: &str = ".faxhub-staging";

pub struct ApiIn {
    dir: PathBuf,
}

impl ApiIn {
    /// `dir` is the gateway's directory (holding API_IN and ATT_IN).
    pub fn new(dir: PathBuf) -> ApiIn {
        ApiIn { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub async fn deliver(&self, mail: &Envelope) -> Result<(), DeliveryError> {
        let dir = self.dir.clone();
        let mail = mail.clone();
        tokio::task::spawn_blocking(move || write(&dir, &mail))
            .await
            .map_err(|e| DeliveryError::transient(e.to_string()))?
    }
}

/// What a mail says, as GroupWise gets it.
#[derive(Debug, Default)]
struct Parsed {
    from: String,
    subject: String,
    text: String,
    files: Vec<(String, Vec<u8>)>,
    /// For a delivery report: the original Msg-Id and the action.
    status: Option<(String, String)>,
}

fn parse(message: &[u8]) -> Option<Parsed> {
    let m = MessageParser::default().parse(message)?;
    let from = m
        .from()
        .and_then(|a| a.first())
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(addr)) => format!("{n} <{addr}>"),
            (_, Some(addr)) => addr.to_string(),
            (Some(n), None) => n.to_string(),
            _ => String::new(),
        })
        .unwrap_or_default();
    let mut parsed = Parsed {
        from,
        subject: m.subject().unwrap_or_default().to_string(),
        text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        ..Parsed::default()
    };
    for part in &m.parts {
        let Some(ct) = part.content_type() else {
            continue;
        };
        let subtype = ct.subtype().unwrap_or_default();
        if ct.ctype().eq_ignore_ascii_case("message")
            && subtype.eq_ignore_ascii_case("delivery-status")
        {
            parsed.status = delivery_status(&String::from_utf8_lossy(part.contents()));
        } else if let Some(name) = part.attachment_name()
            && part
                .content_disposition()
                .is_some_and(|d| d.is_attachment())
        {
            parsed
                .files
                .push((name.to_string(), part.contents().to_vec()));
        }
    }
    Some(parsed)
}

/// (Original-Envelope-Id, GroupWise action) from a `message/delivery-status` body.
pub(super) fn delivery_status(text: &str) -> Option<(String, String)> {
    let value = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    let env_id = value("Original-Envelope-Id")?;
    let action = match value("Action")?.to_ascii_lowercase().as_str() {
        "delivered" | "relayed" | "expanded" => "Delivered",
        "delayed" => "Delayed",
        _ => "Undeliverable",
    };
    Some((env_id, action.to_string()))
}

fn write(dir: &Path, mail: &Envelope) -> Result<(), DeliveryError> {
    let parsed = parse(&mail.message).ok_or_else(|| DeliveryError {
        permanent: true,
        why: "the mail does not parse".into(),
    })?;
    let io =
        |e: std::io::Error| DeliveryError::transient(format!("groupwise {}: {e}", dir.display()));
    let staging = dir.join(STAGING);
    for sub in [STAGING, API_IN, ATT_IN] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io)?;
    }
    let base = unique_name();
    let attach = |n: usize, ext: &str, bytes: &[u8]| -> std::io::Result<String> {
        let name = format!("{base}.{n}.{ext}");
        publish(
            &staging.join(&name),
            &dir.join(ATT_IN).join(&name),
            &[bytes],
        )?;
        Ok(name)
    };
    let body = attach(0, "txt", parsed.text.as_bytes()).map_err(io)?;
    let mut blocks = Vec::new();
    for (i, (name, bytes)) in parsed.files.iter().enumerate() {
        let ext = name.rsplit_once('.').map_or("bin", |(_, e)| e);
        let current = attach(i + 1, ext, bytes).map_err(io)?;
        blocks.push([
            ("Current-File", current),
            ("Original-File", name.clone()),
            ("Size", bytes.len().to_string()),
        ]);
    }
    let now = chrono::Local::now().format("%-d/%-m/%Y %H:%M").to_string();
    let mut file = header("Mail");
    address(&mut file, &mail.rcpt_to);
    file.push_text("From-Text", parsed.from.clone())
        .push_text("Subject", parsed.subject.clone())
        .push_text("Date-Sent", now.clone())
        .push_text("Msg-File", body);
    for block in &blocks {
        file.push_block("Attach-File", block);
    }
    let api = |suffix: &str, file: &KeywordFile| {
        let name = format!("{base}{suffix}.api");
        publish(
            &staging.join(&name),
            &dir.join(API_IN).join(&name),
            &[file.write().as_bytes()],
        )
    };
    api("", &file).map_err(io)?;
    if let Some((orig, action)) = parsed.status {
        let mut status = header("Status");
        address(&mut status, &mail.rcpt_to);
        status
            .push_text("Orig-Msg-ID", orig)
            .push_text("Subject", parsed.subject)
            .push_block("Status-Report", &[("Action", action), ("Time", now)]);
        api(".status", &status).map_err(io)?;
    }
    Ok(())
}

fn header(kind: &str) -> KeywordFile {
    let mut f = KeywordFile::default();
    f.push_text("WPC-API", "1.2")
        .push_text("Header-Char", "T50")
        .push_text("Msg-Type", kind);
    f
}

/// A native `domain.po.user` address as a `To` block, anything else as `To-Text`.
fn address(file: &mut KeywordFile, to: &str) {
    let parts: Vec<&str> = to.split('.').collect();
    if !to.contains('@') && parts.len() == 3 && parts.iter().all(|p| !p.is_empty()) {
        file.push_block(
            "To",
            &[
                ("WPD", parts[0].to_string()),
                ("WPPO", parts[1].to_string()),
                ("WPU", parts[2].to_string()),
                ("CDBA", to.to_string()),
            ],
        );
    } else {
        file.push_text("To-Text", to);
    }
}
