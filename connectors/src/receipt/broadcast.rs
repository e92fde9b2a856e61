//! The one report on a broadcast (a mail to a broadcast address with a list of numbers): sent
//! once every number is delivered or has failed, instead of a report per number. It says how
//! many were delivered and how many failed, then each row of the list in order (delivered, or
//! failed with the reason in plain words, the rows refused at intake among them), and carries
//! the same as a spreadsheet the sender can sort and filter (made by the caller). From the
//! reports' address, `Auto-Submitted: auto-replied`, to the mail's envelope sender.

use super::Attachment;
use chrono::{DateTime, FixedOffset};
use faxhub_queue::EnhancedStatus;
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};
use std::fmt::Write;

/// One row of the list, as it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Its row in the spreadsheet (0 for a number the envelope named besides the list).
    pub row: u32,
    pub name: Option<String>,
    pub company: Option<String>,
    /// E.164, or the number as written when it was refused.
    pub number: String,
    pub delivered: bool,
    pub status: EnhancedStatus,
    pub reason: String,
    pub pages_sent: u32,
    pub attempts: u32,
}

#[derive(Clone, Debug, PartialEq)]
pub struct BroadcastReport {
    pub reporting_mta: String,
    pub from: (String, String),
    pub to: String,
    pub job_id: String,
    pub subject: Option<String>,
    /// The list's file name.
    pub list: String,
    pub arrived: DateTime<FixedOffset>,
    pub now: DateTime<FixedOffset>,
    pub rows: Vec<Row>,
    /// The same rows as a spreadsheet.
    pub spreadsheet: Attachment,
}

impl BroadcastReport {
    pub fn delivered(&self) -> usize {
        self.rows.iter().filter(|r| r.delivered).count()
    }

    pub fn subject(&self) -> String {
        format!(
            "Broadcast report: {} ({} of {} delivered)",
            self.subject
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or("(no subject)"),
            self.delivered(),
            self.rows.len()
        )
    }

    /// The text part.
    pub fn text(&self) -> String {
        let failed = self.rows.len() - self.delivered();
        let mut out = format!(
            "Your broadcast of {:?} to the {} rows of {} is over: {} delivered, {failed} failed.\n\n\
             Submitted: {}\nJob: {}\n\n",
            self.subject.as_deref().unwrap_or(""),
            self.rows.len(),
            self.list,
            self.delivered(),
            self.arrived.format("%Y-%m-%d %H:%M:%S %:z"),
            self.job_id,
        );
        for r in &self.rows {
            let who = match (&r.name, &r.company) {
                (Some(n), Some(c)) => format!(" {n} ({c})"),
                (Some(n), None) => format!(" {n}"),
                (None, Some(c)) => format!(" {c}"),
                (None, None) => String::new(),
            };
            let how = match r.delivered {
                true => format!("delivered, {} page(s)", r.pages_sent),
                false => format!("FAILED ({}): {}", r.status, r.reason),
            };
            let number = match r.number.is_empty() {
                true => "(no number)",
                false => r.number.as_str(),
            };
            let _ = writeln!(out, "Row {}: {number}{who}: {how}", r.row);
        }
        let _ = write!(
            out,
            "\nThe same, as a spreadsheet: {}.\n",
            self.spreadsheet.filename
        );
        out
    }

    pub fn build(&self) -> Vec<u8> {
        let body = MimePart::new(
            "multipart/mixed",
            BodyPart::Multipart(vec![
                MimePart::new("text/plain", BodyPart::Text(self.text().into())),
                MimePart::new(
                    ContentType::new(self.spreadsheet.content_type.clone()),
                    BodyPart::Binary(self.spreadsheet.data.clone().into()),
                )
                .attachment(self.spreadsheet.filename.clone()),
            ]),
        );
        MessageBuilder::new()
            .from(Address::new_address(
                Some(self.from.0.clone()),
                self.from.1.clone(),
            ))
            .to(Address::new_address(None::<String>, self.to.clone()))
            .subject(self.subject())
            .header("Date", Raw::new(self.now.to_rfc2822()))
            .message_id(format!(
                "{}.broadcast.{}@{}",
                self.job_id,
                self.now.timestamp_millis(),
                self.reporting_mta
            ))
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .header("X-Faxhub-Job", Raw::new(self.job_id.clone()))
            .body(body)
            .write_to_vec()
            .unwrap_or_default()
    }
}
