//! Transport agents beside SMTP: the Exchange Foreign connector's Drop directory, the GroupWise
//! API gateway, a mail file read over IMAP (Domino's gateway mail file), scan-to-folder hot
//! folders.
//!
//! Every agent follows one contract, `take`:
//! - an item (a file, a message) is made into a submission and handed to the intake; it is
//!   removed (or flagged) at its source only after the job is committed;
//! - every item has a source key (`exchange:<file>:<size>:<mtime>:<inode>`, `imap:…;UID=…`),
//!   stored with its job and unique: an item taken again after a crash between the commit and
//!   its removal is recognised and only removed, so kill -9 at any moment loses nothing and
//!   queues nothing twice;
//! - an item that cannot become a job goes to quarantine with a reason file, never deleted;
//! - addresses that cannot be faxed in an item the mail system already accepted become failed
//!   recipients with their reason (as SMTP would refuse them at RCPT), so the report names them.
//!
//! Receipts go back through the agent the mail came from: `Origin::route` picks the outlet, and
//! `exchange::Replay` / `groupwise::ApiIn` write into Exchange and GroupWise.

pub mod exchange;
mod folder;
pub mod groupwise;
pub mod hotfolder;
pub mod imap;
mod quarantine;

pub use folder::{Entry, ready_files, remove_all};
pub use quarantine::Quarantine;

use crate::addressing::{Addressing, Refusal};
use crate::directory::FaxPolicy;
use faxhub_queue::intake::{Intake, IntakeError, Submission};
use faxhub_queue::job::JobId;
use faxhub_queue::store::{NewRecipient, RefusedRecipient};
use std::path::Path;
use std::time::Duration;
use tokio::sync::watch;

/// What became of an item.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken {
    /// Committed now as this job: remove it at its source.
    Queued(JobId),
    /// Committed before (faxhub stopped before removing it): remove it at its source.
    Already(JobId),
    /// It cannot become a job: quarantine it with this reason.
    Bad(String),
}

/// The one path from an agent's item to a job. `made` is the item parsed (or why it cannot be);
/// an intake error leaves the item where it is, to be taken again.
///
/// With `policy` (`[ldap] fax_group`), a sender outside the group gets a job whose every number
/// failed with `5.7.1` naming the policy, so that the report tells them, as SMTP's 550 would;
/// while the directory cannot say, the item waits (an intake error: taken again later).
pub async fn take(
    intake: &Intake,
    policy: Option<&FaxPolicy>,
    source: &str,
    made: Result<(Submission, Vec<u8>), String>,
) -> Result<Taken, IntakeError> {
    if let Some(id) = intake.committed(source).await? {
        return Ok(Taken::Already(id));
    }
    let (mut submission, message) = match made {
        Ok(m) => m,
        Err(why) => return Ok(Taken::Bad(why)),
    };
    if let Some(policy) = policy
        && !submission.return_path.is_empty()
    {
        let allowed = policy
            .may_fax(&submission.return_path)
            .await
            .map_err(|e| IntakeError::Unavailable(e.to_string()))?;
        if !allowed {
            tracing::info!(sender = %submission.return_path, group = policy.group(), "agent item: the sender may not fax (not in the fax group)");
            refuse_all(&mut submission, &policy.refusal());
        }
    }
    submission.source = Some(source.to_string());
    intake.accept(submission, message).await.map(Taken::Queued)
}

/// Fails every number of `submission` with `reason` (5.7.1).
fn refuse_all(submission: &mut Submission, reason: &str) {
    for r in std::mem::take(&mut submission.recipients) {
        submission.refused.push(RefusedRecipient {
            address: r.address,
            number: Some(r.number),
            display_name: r.display_name,
            notify: r.notify,
            orcpt: r.orcpt,
            status: faxhub_queue::status::EnhancedStatus::NOT_AUTHORIZED,
            reason: reason.to_string(),
            list_row: None,
        });
    }
}

/// Ends an item's turn by what `take` said: committed (now or before a restart), its files
/// are removed, companions first and the item's own file (`files[0]`) last, so that one
/// removed halfway is still found and recognised; bad, they go to quarantine with the reason;
/// an intake error leaves them for the next pass. Logs each case.
pub fn finish(
    agent: &str,
    item: &str,
    outcome: Result<Taken, IntakeError>,
    files: &[&Path],
    quarantine: &Quarantine,
) {
    let remove = || {
        let mut order: Vec<&Path> = files.iter().skip(1).copied().collect();
        order.extend(files.first());
        if let Err(e) = remove_all(&order) {
            tracing::error!(agent, item, error = %e, "queued, but cannot remove it: it will be recognised and not sent twice");
        }
    };
    match outcome {
        Ok(Taken::Queued(id)) => {
            tracing::info!(agent, job = %id, item, "queued");
            remove();
        }
        Ok(Taken::Already(id)) => {
            tracing::info!(agent, job = %id, item, "already queued before a restart; removing it");
            remove();
        }
        Ok(Taken::Bad(why)) => match quarantine.put(agent, files, &why) {
            Ok(folder) => {
                tracing::warn!(agent, item, reason = %why, quarantine = %folder.display(), "quarantined")
            }
            Err(e) => {
                tracing::error!(agent, item, reason = %why, error = %e, "cannot quarantine; left in place")
            }
        },
        Err(e) => {
            tracing::error!(agent, item, error = %e, "not queued; trying again later");
        }
    }
}

/// An agent's round over its source: every item ready is taken once.
pub trait Pass: Sync {
    fn pass(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

/// Runs `agent.pass()` every `poll` until shutdown; a failed pass is logged (`what` names the
/// source).
pub async fn every(
    name: &str,
    what: &Path,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
    agent: &impl Pass,
) {
    tracing::info!(agent = name, source = %what.display(), "agent started");
    loop {
        if let Err(e) = agent.pass().await {
            tracing::error!(agent = name, source = %what.display(), error = %e, "cannot read the source");
        }
        if !pause(poll, &mut shutdown).await {
            break;
        }
    }
}

/// Recipients from addresses: the fax numbers, and the addresses refused with their reason.
/// Twice the same number is one recipient.
pub fn recipients<'a>(
    addressing: &Addressing,
    addresses: impl IntoIterator<Item = &'a str>,
) -> (Vec<NewRecipient>, Vec<RefusedRecipient>) {
    let mut ok: Vec<NewRecipient> = Vec::new();
    let mut refused = Vec::new();
    for address in addresses {
        match addressing.recipient_of(address) {
            Ok(r) if ok.iter().any(|o| o.number == r.number) => {}
            Ok(r) => ok.push(r),
            Err(e) => refused.push(refused_recipient(address, &e)),
        }
    }
    (ok, refused)
}

/// A refused address as a failed recipient.
pub fn refused_recipient(address: &str, refusal: &Refusal) -> RefusedRecipient {
    RefusedRecipient {
        address: crate::addressing::strip_angles(address).to_string(),
        number: match refusal {
            Refusal::Denied { number, .. } => Some(number.clone()),
            _ => None,
        },
        display_name: None,
        notify: None,
        orcpt: None,
        status: refusal.status(),
        reason: refusal.to_string(),
        list_row: None,
    }
}

/// Waits `poll`, or less when shutting down; false once faxhub stops.
pub async fn pause(poll: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(poll) => !*shutdown.borrow(),
        _ = shutdown.changed() => false,
    }
}

#[cfg(test)]
mod tests;
