//! The machine-readable part of a delivery report (RFC 3464 §2, the `message/delivery-status`
//! body of an RFC 6522 `multipart/report`): the per-message fields, then one block per
//! recipient, blank-line separated, CRLF line ends. Fax specifics go in `Diagnostic-Code: X-Fax;`
//! and `X-` fields (RFC 3464 §3.2 wants extension fields `X-` prefixed); Exchange shows
//! `X-Supplementary-Info` to the user. `Will-Retry-Until` only on a `delayed` recipient. A report
//! is classed by its most severe action (MS-OXCMAIL: delivered < delayed < failed), so successes
//! and failures of one mail go in separate reports. Pure: the report is built by the caller from
//! the job store (issue 5: receipts).

use crate::status::EnhancedStatus;

/// Action (RFC 3464 §2.3.3), in order of severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Delivered,
    Delayed,
    Failed,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Delivered => "delivered",
            Action::Delayed => "delayed",
            Action::Failed => "failed",
        }
    }
}

/// The per-message fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerMessage {
    /// Our host name (`dns;` type).
    pub reporting_mta: String,
    /// ENVID, as the client gave it.
    pub envelope_id: Option<String>,
    /// RFC 5322 date-time the message arrived.
    pub arrival_date: String,
}

/// One recipient's block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerRecipient {
    /// ORCPT as given (`rfc822;…` or another type), verbatim.
    pub original_recipient: Option<String>,
    /// The fax address (`rfc822;` is added).
    pub final_recipient: String,
    pub action: Action,
    pub status: EnhancedStatus,
    /// What happened, for `Diagnostic-Code: X-Fax; …` and `X-Supplementary-Info`.
    pub diagnostic: String,
    /// RFC 5322 date-times.
    pub last_attempt: Option<String>,
    pub will_retry_until: Option<String>,
    /// Fax facts, as `X-Fax-<name>: <value>` fields (pages, CSID, duration, speed).
    pub fax: Vec<(&'static str, String)>,
}

/// The most severe action of `recipients` (what a report of them is classed by).
pub fn most_severe(recipients: &[PerRecipient]) -> Option<Action> {
    recipients.iter().map(|r| r.action).max()
}

/// The `message/delivery-status` body.
pub fn render(message: &PerMessage, recipients: &[PerRecipient]) -> String {
    let mut out = String::new();
    field(
        &mut out,
        "Reporting-MTA",
        &format!("dns; {}", message.reporting_mta),
    );
    if let Some(envid) = &message.envelope_id {
        field(&mut out, "Original-Envelope-Id", envid);
    }
    field(&mut out, "Arrival-Date", &message.arrival_date);
    for r in recipients {
        out.push_str("\r\n");
        if let Some(orcpt) = &r.original_recipient {
            field(&mut out, "Original-Recipient", orcpt);
        }
        let final_recipient = format!("rfc822; {}", r.final_recipient);
        field(&mut out, "Final-Recipient", &final_recipient);
        field(&mut out, "Action", r.action.as_str());
        field(&mut out, "Status", &r.status.to_string());
        field(
            &mut out,
            "Diagnostic-Code",
            &format!("X-Fax; {}", r.diagnostic),
        );
        if let Some(last) = &r.last_attempt {
            field(&mut out, "Last-Attempt-Date", last);
        }
        if r.action == Action::Delayed
            && let Some(until) = &r.will_retry_until
        {
            field(&mut out, "Will-Retry-Until", until);
        }
        field(&mut out, "X-Supplementary-Info", &r.diagnostic);
        for (name, value) in &r.fax {
            field(&mut out, &format!("X-Fax-{name}"), value);
        }
    }
    out
}

/// `name: value` and CRLF, the value on one line.
fn field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str(": ");
    out.push_str(&one_line(value));
    out.push_str("\r\n");
}

/// A field value on one line, in ASCII: line breaks and other control characters become
/// spaces, other characters `?`.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            c if c.is_control() => ' ',
            // message/delivery-status is 7-bit (RFC 3464 §2.1.1): no 8-bit text in it
            c if !c.is_ascii() => '?',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(action: Action) -> PerRecipient {
        PerRecipient {
            original_recipient: Some("rfc822;0169293999@fax.example.com".into()),
            final_recipient: "+33169293999@fax.example.com".into(),
            action,
            status: EnhancedStatus::BUSY,
            diagnostic: "the line was busy (SIP 486)\r\nInjected: yes".into(),
            last_attempt: Some("Fri, 27 Nov 2026 16:40:00 +0000".into()),
            will_retry_until: Some("Sat, 28 Nov 2026 16:00:00 +0000".into()),
            fax: vec![("Pages-Sent", "0".into())],
        }
    }

    fn message() -> PerMessage {
        PerMessage {
            reporting_mta: "fax.example.com".into(),
            envelope_id: Some("QQ314159".into()),
            arrival_date: "Fri, 27 Nov 2026 16:00:00 +0000".into(),
        }
    }

    #[test]
    fn fields_in_rfc_3464_order_and_retry_only_when_delayed() {
        let text = render(&message(), &[busy(Action::Delayed)]);
        assert_eq!(
            text,
            "Reporting-MTA: dns; fax.example.com\r\nOriginal-Envelope-Id: QQ314159\r\n\
             Arrival-Date: Fri, 27 Nov 2026 16:00:00 +0000\r\n\r\n\
             Original-Recipient: rfc822;0169293999@fax.example.com\r\n\
             Final-Recipient: rfc822; +33169293999@fax.example.com\r\nAction: delayed\r\n\
             Status: 4.4.1\r\nDiagnostic-Code: X-Fax; the line was busy (SIP 486)  Injected: yes\r\n\
             Last-Attempt-Date: Fri, 27 Nov 2026 16:40:00 +0000\r\n\
             Will-Retry-Until: Sat, 28 Nov 2026 16:00:00 +0000\r\n\
             X-Supplementary-Info: the line was busy (SIP 486)  Injected: yes\r\n\
             X-Fax-Pages-Sent: 0\r\n"
        );
        let failed = render(&message(), &[busy(Action::Failed)]);
        assert!(!failed.contains("Will-Retry-Until"), "{failed}");
    }

    #[test]
    fn a_report_is_classed_by_its_most_severe_action() {
        let mut done = busy(Action::Delivered);
        done.status = EnhancedStatus::OK;
        assert_eq!(most_severe(&[done.clone()]), Some(Action::Delivered));
        assert_eq!(
            most_severe(&[done.clone(), busy(Action::Delayed)]),
            Some(Action::Delayed)
        );
        assert_eq!(
            most_severe(&[busy(Action::Failed), done]),
            Some(Action::Failed)
        );
        assert_eq!(most_severe(&[]), None);
    }

    #[test]
    fn python_s_email_package_reads_it_as_rfc_3464() {
        // an independent parser: the per-message block, then one block per recipient
        let text = render(&message(), &[busy(Action::Delayed), busy(Action::Failed)]);
        let mail =
            format!("Content-Type: message/delivery-status\r\nMIME-Version: 1.0\r\n\r\n{text}");
        let script = "import sys, email\n\
            m = email.message_from_bytes(sys.stdin.buffer.read())\n\
            blocks = m.get_payload()\n\
            print(len(blocks), blocks[0]['Reporting-MTA'], blocks[1]['Action'], blocks[2]['Action'], blocks[2]['Status'], blocks[1]['X-Fax-Pages-Sent'])\n";
        let mut child = std::process::Command::new("/usr/bin/python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(mail.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "3 dns; fax.example.com delayed failed 4.4.1 0"
        );
    }

    #[test]
    fn field_values_are_one_ascii_line() {
        assert_eq!(
            one_line(" occupée\r\nX-Injected: 1 "),
            "occup?e  X-Injected: 1"
        );
    }
}
