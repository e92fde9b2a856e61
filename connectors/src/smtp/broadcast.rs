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
use crate::broadcast::{self, ListRow};
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::{NewRecipient, RefusedRecipient};
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
    let mut refused = Vec::new();
    let mut first_of: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    for row in rows {
        match take(shared, &row, &domain, via) {
            Err(r) => refused.push(*r),
            Ok(recipient) => {
                let number = recipient.number.as_str().to_string();
                if let Some(first) = first_of.get(&number) {
                    refused.push(row_refused(
                        &row,
                        via,
                        EnhancedStatus::new(5, 1, 3),
                        format!("row {}: {number} is already on row {first}", row.row),
                    ));
                    continue;
                }
                first_of.insert(number, row.row);
                if tx.recipients.iter().any(|r| r.number == recipient.number) {
                    continue;
                }
                rcpt::admit(shared, peer, tx, &recipient.number, &row.number).await?;
                tx.recipients.push(recipient);
            }
        }
    }
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

/// The recipient a row names, or why it cannot be one.
fn take(
    shared: &Shared,
    row: &ListRow,
    domain: &str,
    via: &SubjectAddress,
) -> Result<NewRecipient, Box<RefusedRecipient>> {
    if row.number.is_empty() {
        return Err(Box::new(row_refused(
            row,
            via,
            EnhancedStatus::new(5, 1, 3),
            format!("row {}: no fax number", row.row),
        )));
    }
    match shared
        .addressing
        .recipient(&row.number, &row.number, domain)
    {
        Ok(recipient) => Ok(NewRecipient {
            address: format!("{}@{domain}", recipient.number.as_str()),
            display_name: row.name.clone(),
            notify: via.notify,
            orcpt: via
                .orcpt
                .clone()
                .or_else(|| Some(format!("rfc822;{}", via.address))),
            list_row: Some(row.row),
            company: row.company.clone(),
            ..recipient
        }),
        Err(refusal) => Err(Box::new(row_refused(
            row,
            via,
            refusal.status(),
            format!("row {}: {refusal}", row.row),
        ))),
    }
}

fn row_refused(
    row: &ListRow,
    via: &SubjectAddress,
    status: EnhancedStatus,
    reason: String,
) -> RefusedRecipient {
    RefusedRecipient {
        address: format!("row {}: {}", row.row, row.number),
        number: None,
        display_name: row.name.clone(),
        notify: via.notify,
        orcpt: via.orcpt.clone(),
        status,
        reason,
        list_row: Some(row.row),
    }
}
