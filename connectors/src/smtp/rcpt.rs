//! RCPT TO: a fax number at a fax domain, checked as the mail arrives so that the sender's own
//! mail system bounces what faxhub can never send.
//!
//! - not a fax domain (or not an IMCEAFAX address at an `imcea_domains` domain): `550 5.7.1`,
//!   never relayed;
//! - not a number: `553 5.1.3`; refused by the dial plan: `550 5.7.1` naming the rule;
//! - more than `max_recipients` numbers: `452 4.5.3` (the client sends the rest later);
//! - past one of the sender's daily limits (`[limits]`: numbers, pages, calls): `550 5.7.1`
//!   naming the limit; the sender's usage is read once per transaction (`451 4.3.0` if the store
//!   cannot be read).
//!
//! RFC 3461 NOTIFY and ORCPT are kept with the recipient. A number given twice is one recipient.

use super::Shared;
use super::address::{decode_xtext, parse_path_and_params};
use super::mail::{address_fault, strip_keyword};
use super::reply::Reply;
use super::session::{Session, SubjectAddress, Transaction};
use crate::addressing::Refusal;
use faxhub_queue::Notify;
use faxhub_queue::dialplan::FaxNumber;
use faxhub_queue::store::NewRecipient;

pub(super) async fn rcpt(session: &mut Session, arg: &str) -> Reply {
    let shared = session.shared.clone();
    let Some(tx) = session.tx.as_mut() else {
        return Reply::bad_sequence("need MAIL command");
    };
    let Some(rest) = strip_keyword(arg, "TO:") else {
        return Reply::syntax("RCPT TO:<address>");
    };
    if !session.line_utf8 {
        return Reply::new(501, "5.1.3", "Bad recipient address: not UTF-8");
    }
    let (path, params) = match parse_path_and_params(rest) {
        Ok(parsed) => parsed,
        Err(why) => {
            return Reply::new(553, "5.1.3", format!("Bad recipient address syntax: {why}"));
        }
    };
    if let Some(bad) = address_fault(&path.raw) {
        return Reply::new(501, "5.1.3", format!("Bad recipient address: {bad}"));
    }
    if !tx.smtputf8 && !path.raw.is_ascii() {
        return Reply::new(553, "5.6.7", "Non-ASCII recipient address without SMTPUTF8");
    }
    let mut notify = None;
    let mut orcpt = None;
    for (key, value) in params {
        match (key.as_str(), value.as_deref()) {
            ("NOTIFY", Some(v)) => match Notify::parse(v) {
                Some(n) => notify = Some(n),
                None => return Reply::syntax("bad NOTIFY value"),
            },
            ("ORCPT", Some(v)) => match v
                .split_once(';')
                .and_then(|(kind, addr)| Some((kind, decode_xtext(addr)?)))
            {
                Some((kind, addr)) => orcpt = Some(format!("{kind};{addr}")),
                None => return Reply::syntax("bad ORCPT value"),
            },
            _ => return Reply::new(555, "5.5.4", format!("Unsupported parameter {key}")),
        }
    }
    // a shared address: the numbers come from the Subject, or from the attached list
    let shared_address = |list: &[String]| list.iter().any(|a| a.eq_ignore_ascii_case(&path.raw));
    let via = || SubjectAddress {
        address: path.raw.clone(),
        notify,
        orcpt: orcpt.clone(),
    };
    if shared_address(&shared.config.subject_addresses) {
        tx.subject_address = Some(via());
        return Reply::new(
            250,
            "2.1.5",
            "Ok: the numbers are read from the Subject (Fax: …)",
        );
    }
    if shared_address(&shared.config.broadcast_addresses) {
        tx.broadcast_address = Some(via());
        return Reply::new(
            250,
            "2.1.5",
            "Ok: the numbers are read from the attached list (.xlsx, .xls or .ods)",
        );
    }
    let recipient = match shared
        .addressing
        .recipient(&path.raw, &path.local, &path.domain)
    {
        Ok(r) => r,
        Err(refusal @ Refusal::NotFax(_)) => {
            tracing::info!(client = %session.peer, to = %path.raw, "smtp RCPT refused: not a fax domain");
            return Reply::new(
                550,
                refusal.code(),
                format!("<{}>: Relay access denied: not a fax domain", path.raw),
            );
        }
        Err(refusal @ Refusal::Malformed { .. }) => {
            return Reply::new(553, refusal.code(), refusal.to_string());
        }
        Err(refusal @ Refusal::Denied { .. }) => {
            tracing::info!(client = %session.peer, to = %path.raw, reason = %refusal, "smtp RCPT refused by dial plan");
            return Reply::new(550, refusal.code(), refusal.to_string());
        }
    };
    let number = recipient.number.clone();
    if tx.recipients.iter().any(|r| r.number == number) {
        return Reply::new(250, "2.1.5", format!("Ok: {number} is already a recipient"));
    }
    if tx.recipients.len() >= shared.config.max_recipients as usize {
        return Reply::new(452, "4.5.3", "Too many recipients");
    }
    if let Err(reply) = admit(&shared, session.peer, tx, &number, &path.raw).await {
        return reply;
    }
    tx.recipients.push(NewRecipient {
        notify,
        orcpt,
        ..recipient
    });
    Reply::new(250, "2.1.5", format!("Ok: fax to {number}"))
}

/// Whether the sender may fax `number` (shown as `shown`) within its daily limits
/// (`[limits]`); its usage is read at the first number of the transaction (`451 4.3.0` if the
/// store cannot be read). An admitted number counts towards the next.
pub(super) async fn admit(
    shared: &Shared,
    peer: std::net::SocketAddr,
    tx: &mut Transaction,
    number: &FaxNumber,
    shown: &str,
) -> Result<(), Reply> {
    if tx.usage.is_none() {
        match shared.intake.usage(&tx.return_path).await {
            Ok(usage) => tx.usage = Some(usage),
            Err(e) => {
                tracing::warn!(client = %peer, error = %e, "smtp deferred: the sender's usage could not be read");
                return Err(Reply::new(
                    451,
                    "4.3.0",
                    "Temporary failure, try again later",
                ));
            }
        }
    }
    let usage = tx.usage.as_mut().expect("invariant: read just above");
    let limits = shared.intake.limits();
    if let Err(limit) = limits
        .admit(&tx.return_path, usage)
        .and_then(|()| limits.admit_number(&tx.return_path, usage, number.as_str()))
    {
        tracing::warn!(client = %peer, from = %tx.return_path, rcpt = %number, reason = %limit, "smtp recipient refused by a sender limit");
        return Err(Reply::new(550, "5.7.1", format!("<{shown}>: {limit}")));
    }
    usage.numbers.insert(number.as_str().to_string());
    Ok(())
}
