//! The end of DATA for a mail to a broadcast address (`[smtp] broadcast_addresses`): its
//! numbers come from the spreadsheet it carries (`crate::broadcast`), one per row, each checked
//! as an address at the first fax domain would be (parser, dial plan, the sender's limits); the
//! row's name and company go on its cover. A row without a number, with one the dial plan
//! refuses, or repeating an earlier row's number is not dropped: it becomes a refused recipient
//! naming its row, which the report lists. The mail is refused (nothing queued) when it carries
//! no list, its list cannot be read or is too long, or no row can be faxed: `550 5.6.0` with the
//! reason, so that the sender fixes the list and sends again. A broadcast goes at low priority
//! unless the mail asks otherwise: one long list never holds back a single urgent fax.

use super::Shared;
use super::config::DEFAULT_FAX_DOMAIN;
use super::rcpt;
use super::reply::Reply;
use super::session::{SubjectAddress, Transaction};
use crate::broadcast;
use faxhub_queue::store::RefusedRecipient;
use mail_parser::{MessageParser, MimeHeaders};

/// What a broadcast mail's list gave: the attachment's name, and the rows refused.
pub(super) struct Listed {
    pub list_part: String,
    pub refused: Vec<RefusedRecipient>,
}

/// Adds the list's numbers to `tx`'s recipients (a number the envelope named already is not
/// added twice).
pub(super) async fn recipients(
    shared: &Shared,
    peer: std::net::SocketAddr,
    tx: &mut Transaction,
    via: &SubjectAddress,
    message: &[u8],
) -> Result<Listed, Reply> {
    let refuse = |why: String| {
        tracing::info!(client = %peer, to = %via.address, why = %why, "smtp broadcast refused");
        Reply::new(550, "5.6.0", why)
    };
    let parsed = MessageParser::default()
        .parse(message)
        .ok_or_else(|| refuse("the message could not be read".into()))?;
    let Some((name, bytes)) = parsed.attachments().find_map(|part| {
        let name = part.attachment_name()?;
        broadcast::is_list(name).then(|| (name.to_string(), part.contents().to_vec()))
    }) else {
        return Err(refuse(format!(
            "<{}>: attach a spreadsheet (.xlsx, .xls or .ods) listing the numbers in a column \
             headed Fax, and the document to fax",
            via.address
        )));
    };
    let max = shared.config.max_broadcast as usize;
    let list_name = name.clone();
    let rows = tokio::task::spawn_blocking(move || broadcast::read(&list_name, &bytes, max))
        .await
        .map_err(|_| {
            Reply::new(
                451,
                "4.3.0",
                "Temporary failure reading the list, try again later",
            )
        })?
        .map_err(|e| refuse(e.to_string()))?;
    let domain = shared
        .addressing
        .fax_domains
        .first()
        .map_or(DEFAULT_FAX_DOMAIN, String::as_str)
        .to_string();
    let notice = (
        via.notify,
        via.orcpt
            .clone()
            .or_else(|| Some(format!("rfc822;{}", via.address))),
    );
    let resolved = broadcast::resolve(&shared.addressing, &rows, &domain, notice);
    for recipient in resolved.recipients {
        if tx.recipients.iter().any(|r| r.number == recipient.number) {
            continue;
        }
        rcpt::admit(
            shared,
            peer,
            tx,
            &recipient.number,
            recipient.number.as_str(),
        )
        .await?;
        tx.recipients.push(recipient);
    }
    let refused = resolved.refused;
    if tx.recipients.is_empty() {
        let first = refused
            .first()
            .map_or(String::new(), |r| format!(" ({})", r.reason));
        return Err(refuse(format!(
            "{name}: no row has a number faxhub can dial{first}"
        )));
    }
    tracing::info!(client = %peer, list = %name, numbers = tx.recipients.len(), refused = refused.len(), "broadcast list read");
    Ok(Listed {
        list_part: name,
        refused,
    })
}
