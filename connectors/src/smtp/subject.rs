//! The end of DATA for a mail to a shared address (`[smtp] subject_addresses`): its numbers
//! are read from its Subject (`subject_numbers`), each checked as an address at the first fax
//! domain would be (parser, dial plan, the sender's limits, `max_recipients`). Every refusal is
//! final and names the number: `550 5.1.3` for no number or one that is not a number, `550
//! 5.7.1` for one the dial plan or a limit refuses, `550 5.5.3` for too many; nothing is queued
//! then, so that the sender fixes the Subject and sends again.

use super::Shared;
use super::config::DEFAULT_FAX_DOMAIN;
use super::rcpt;
use super::reply::Reply;
use super::session::{SubjectAddress, Transaction};
use crate::addressing::Refusal;
use crate::subject_numbers;
use faxhub_queue::store::NewRecipient;
use mail_parser::MessageParser;

/// Adds the Subject's numbers to `tx`'s recipients (a number already there is not added
/// twice); the Subject without them, which becomes the fax's subject.
pub(super) async fn recipients(
    shared: &Shared,
    peer: std::net::SocketAddr,
    tx: &mut Transaction,
    via: &SubjectAddress,
    head: &[u8],
) -> Result<Option<String>, Reply> {
    let subject = MessageParser::default()
        .parse_headers(head)
        .and_then(|m| m.subject().map(str::to_string))
        .unwrap_or_default();
    let Some(found) = subject_numbers::find(&subject) else {
        if !tx.recipients.is_empty() {
            return Ok(None); // numbers addressed as well: those are the fax's
        }
        tracing::info!(client = %peer, to = %via.address, "smtp message refused: no number in the Subject");
        return Err(Reply::new(
            550,
            "5.1.3",
            format!(
                "<{}>: the Subject names no fax number; write them after \"Fax:\", as in \
                 \"Fax: 01 69 29 39 99, +44 20 7946 0000\"",
                via.address
            ),
        ));
    };
    let domain = shared
        .addressing
        .fax_domains
        .first()
        .map_or(DEFAULT_FAX_DOMAIN, String::as_str);
    let max = shared.config.max_recipients as usize;
    for written in &found.numbers {
        let recipient = match shared.addressing.recipient(written, written, domain) {
            Ok(r) => r,
            Err(refusal) => {
                tracing::info!(client = %peer, number = %written, reason = %refusal, "smtp message refused: a number in the Subject");
                return Err(Reply::new(550, refusal.code(), subject_refusal(&refusal)));
            }
        };
        if tx.recipients.iter().any(|r| r.number == recipient.number) {
            continue;
        }
        if tx.recipients.len() >= max {
            return Err(Reply::new(
                550,
                "5.5.3",
                format!("Too many numbers: at most {max} per message"),
            ));
        }
        rcpt::admit(shared, peer, tx, &recipient.number, written).await?;
        tx.recipients.push(NewRecipient {
            address: format!("{}@{domain}", recipient.number.as_str()),
            notify: via.notify,
            orcpt: via
                .orcpt
                .clone()
                .or_else(|| Some(format!("rfc822;{}", via.address))),
            ..recipient
        });
    }
    Ok(Some(found.rest))
}

/// A refusal of a number written in the Subject, in the Subject's words.
fn subject_refusal(refusal: &Refusal) -> String {
    match refusal {
        Refusal::NotFax(written) => format!("{written} in the Subject is not a fax number"),
        Refusal::Malformed { address, why } | Refusal::Denied { address, why, .. } => {
            format!("{address} in the Subject: {why}")
        }
    }
}
