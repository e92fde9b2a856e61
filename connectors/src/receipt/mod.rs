//! Delivery reports as mail (RFC 3464 in an RFC 6522 `multipart/report`), built with
//! mail-builder from what the store knows of a job; sent later with `MAIL FROM:<>` to the
//! envelope sender (RFC 3461 §6.2), never to `From:`.
//!
//! Structure (`multipart/report; report-type=delivery-status`, three parts as RFC 6522 wants):
//! 1. the human part, `multipart/mixed`: `multipart/alternative` (text, and HTML with the page-1
//!    thumbnail inline as `multipart/related`), then the pages sent as an attachment;
//! 2. `message/delivery-status` (`faxhub_queue::dsn`);
//! 3. `text/rfc822-headers` (RET=HDRS, the default) or `message/rfc822` (RET=FULL).
//!
//! One report holds recipients of one action: the caller sends delivered, failed and delayed
//! recipients of a mail in separate reports (Exchange classes a report by its most severe
//! action). Pure apart from the boundaries mail-builder draws.

pub mod broadcast;
mod human;
pub mod words;

use chrono::{DateTime, FixedOffset};
use faxhub_queue::EnhancedStatus;
use faxhub_queue::dsn::{self, Action, PerMessage, PerRecipient};
use mail_builder::MessageBuilder;
use mail_builder::headers::HeaderType;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use std::time::Duration;
pub use words::Language;

/// What became of one recipient, as the report tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub name: Option<String>,
    /// E.164.
    pub number: String,
    /// The address the mail was sent to (Final-Recipient).
    pub address: String,
    /// ORCPT, verbatim.
    pub orcpt: Option<String>,
    pub action: Action,
    pub status: EnhancedStatus,
    /// The technical reason (the line's or converter's words).
    pub reason: String,
    pub pages_sent: u32,
    pub pages: u32,
    pub attempts: u32,
    pub last_attempt: Option<DateTime<FixedOffset>>,
    /// How long the last call lasted.
    pub duration: Option<Duration>,
    /// The receiving machine's ident (CSI).
    pub remote_ident: Option<String>,
    pub bit_rate: Option<u32>,
    pub ecm: Option<bool>,
    pub next_attempt: Option<DateTime<FixedOffset>>,
    pub retry_until: Option<DateTime<FixedOffset>>,
    /// A fax resumed after a dropped call: the pages each call carried (first, last, when the
    /// call began), in order; empty when one call carried them all.
    pub calls: Vec<(u32, u32, DateTime<FixedOffset>)>,
}

/// What is attached to the human part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A report on one mail.
#[derive(Clone, Debug, PartialEq)]
pub struct Receipt {
    pub language: Language,
    /// Our host name (Reporting-MTA, Message-ID).
    pub reporting_mta: String,
    /// The From: of reports, e.g. `Fax <MAILER-DAEMON@fax.example.com>` as (name, address).
    pub from: (String, String),
    /// The original envelope sender.
    pub to: String,
    pub job_id: String,
    pub subject: Option<String>,
    /// The billing code the sender gave, shown with the job's facts.
    pub billing: Option<String>,
    pub env_id: Option<String>,
    pub arrived: DateTime<FixedOffset>,
    pub now: DateTime<FixedOffset>,
    /// All of one action.
    pub outcomes: Vec<Outcome>,
    /// The original message (only its header section is returned unless `return_full`).
    pub original: Vec<u8>,
    pub return_full: bool,
    /// PNG of page 1, shown inline in the HTML part.
    pub thumbnail: Option<Vec<u8>>,
    pub attachment: Option<Attachment>,
}

impl Receipt {
    /// The action this report is about (its most severe recipient's).
    pub fn action(&self) -> Action {
        self.outcomes
            .iter()
            .map(|o| o.action)
            .max()
            .unwrap_or(Action::Failed)
    }

    /// The subject: what happened, the original subject, the numbers.
    pub fn subject(&self) -> String {
        let w = words::words(self.language);
        let original = self
            .subject
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(w.no_subject);
        format!(
            "{}{}{original} ({} {})",
            (w.subject)(self.action()),
            w.colon,
            w.to,
            numbers(&self.outcomes)
        )
    }

    /// The report as an RFC 5322 message (CRLF line ends).
    pub fn build(&self) -> Vec<u8> {
        let text = human::text(self);
        let html = human::html(self);
        let mut html_part = MimePart::new("text/html", BodyPart::Text(html.into()));
        if let Some(png) = &self.thumbnail {
            html_part = MimePart::new(
                ContentType::new("multipart/related"),
                BodyPart::Multipart(vec![
                    html_part,
                    MimePart::new("image/png", BodyPart::Binary(png.clone().into()))
                        .inline()
                        .cid(human::THUMBNAIL_CID),
                ]),
            );
        }
        let mut human_parts = vec![MimePart::new(
            "multipart/alternative",
            BodyPart::Multipart(vec![
                MimePart::new("text/plain", BodyPart::Text(text.into())),
                html_part,
            ]),
        )];
        if let Some(a) = &self.attachment {
            human_parts.push(
                MimePart::new(
                    ContentType::new(a.content_type.clone()),
                    BodyPart::Binary(a.data.clone().into()),
                )
                .attachment(a.filename.clone()),
            );
        }
        let status = MimePart::new(
            ContentType::new("message/delivery-status"),
            BodyPart::Binary(self.delivery_status().into_bytes().into()),
        )
        .transfer_encoding("7bit");
        let returned = self.returned();
        let report = MimePart::new(
            ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
            BodyPart::Multipart(vec![
                MimePart::new("multipart/mixed", BodyPart::Multipart(human_parts)),
                status,
                returned,
            ]),
        );
        let mut message = MessageBuilder::new()
            .from(Address::new_address(
                Some(self.from.0.clone()),
                self.from.1.clone(),
            ))
            .to(Address::new_address(None::<String>, self.to.clone()))
            .subject(self.subject())
            .header("Date", Raw::new(self.now.to_rfc2822()))
            .message_id(format!(
                "{}.{}.{}@{}",
                self.job_id,
                self.action().as_str(),
                self.now.timestamp_millis(),
                self.reporting_mta
            ))
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .header("X-Faxhub-Job", Raw::new(self.job_id.clone()))
            .header("Content-Language", Raw::new(self.language.tag()));
        if let Some(id) = original_message_id(&self.original) {
            message = message
                .header("In-Reply-To", HeaderType::Raw(Raw::new(id.clone())))
                .header("References", HeaderType::Raw(Raw::new(id)));
        }
        message.body(report).write_to_vec().unwrap_or_default()
    }

    /// The `message/delivery-status` body.
    pub fn delivery_status(&self) -> String {
        let per_message = PerMessage {
            reporting_mta: self.reporting_mta.clone(),
            envelope_id: self.env_id.clone(),
            arrival_date: self.arrived.to_rfc2822(),
        };
        let recipients: Vec<PerRecipient> = self
            .outcomes
            .iter()
            .map(|o| PerRecipient {
                original_recipient: o.orcpt.clone(),
                final_recipient: o.address.clone(),
                action: o.action,
                status: o.status,
                diagnostic: diagnostic(o),
                last_attempt: o.last_attempt.map(|t| t.to_rfc2822()),
                will_retry_until: o.retry_until.map(|t| t.to_rfc2822()),
                fax: fax_fields(o),
            })
            .collect();
        dsn::render(&per_message, &recipients)
    }

    /// The third part: the original's header section, or all of it.
    fn returned(&self) -> MimePart<'static> {
        let (content_type, body) = if self.return_full {
            ("message/rfc822", self.original.clone())
        } else {
            (
                "text/rfc822-headers",
                header_section(&self.original).to_vec(),
            )
        };
        let encoding = if body.is_ascii() { "7bit" } else { "8bit" };
        MimePart::new(
            ContentType::new(content_type),
            BodyPart::Binary(body.into()),
        )
        .transfer_encoding(encoding)
    }
}

/// `Diagnostic-Code: X-Fax; …`: the code in words, then the line's reason and the page count.
fn diagnostic(o: &Outcome) -> String {
    let mut d = format!(
        "{}; {}",
        words::status_words(Language::En, o.status),
        o.reason
    );
    if o.pages > 0 {
        d.push_str(&format!("; {}/{} pages", o.pages_sent, o.pages));
    }
    d
}

fn fax_fields(o: &Outcome) -> Vec<(&'static str, String)> {
    let mut f = vec![
        ("Number", o.number.clone()),
        ("Pages-Sent", o.pages_sent.to_string()),
        ("Pages", o.pages.to_string()),
        ("Attempts", o.attempts.to_string()),
    ];
    if let Some(id) = &o.remote_ident {
        f.push(("CSID", id.clone()));
    }
    if let Some(d) = o.duration {
        f.push(("Duration", format!("{}", d.as_secs())));
    }
    if let Some(bps) = o.bit_rate.filter(|b| *b > 0) {
        f.push(("Speed", bps.to_string()));
    }
    if let Some(ecm) = o.ecm {
        f.push(("ECM", if ecm { "yes" } else { "no" }.into()));
    }
    f
}

/// The numbers of a report for its subject: up to three, then how many more.
fn numbers(outcomes: &[Outcome]) -> String {
    let mut s: Vec<&str> = outcomes.iter().take(3).map(|o| o.number.as_str()).collect();
    let more = outcomes.len().saturating_sub(3);
    let more = format!("+{more}");
    if outcomes.len() > 3 {
        s.push(&more);
    }
    s.join(", ")
}

/// The header section of a message (up to and with the blank line's first CRLF).
fn header_section(message: &[u8]) -> &[u8] {
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 2)
        .or_else(|| message.windows(2).position(|w| w == b"\n\n").map(|p| p + 1))
        .unwrap_or(message.len());
    &message[..end]
}

/// The original's Message-ID (with its angle brackets), for In-Reply-To.
fn original_message_id(message: &[u8]) -> Option<String> {
    let headers = String::from_utf8_lossy(header_section(message)).replace("\r\n", "\n");
    let mut lines = headers.split('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("message-id")
        {
            let mut value = value.trim().to_string();
            while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                value.push_str(next.trim());
                lines.next();
            }
            return (value.starts_with('<') && value.ends_with('>') && !value.contains(' '))
                .then_some(value);
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests;
