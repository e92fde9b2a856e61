//! The postman: the one owner of the outbox. It takes due mail (reports, received faxes) in
//! batches, hands each batch to the outlet of its route (the relay: one SMTP connection, or the
//! Maildir; Exchange's Replay directory; GroupWise's API_IN), and records
//! each result: sent; deferred with a doubling wait while the relay is down or answers 4xx;
//! failed on a 5xx or once `give_up_after` has passed (logged as an error: the mail is kept in
//! the spool until the retention). A mail is marked sent right after the relay's 250, so one is
//! sent twice only if faxhub dies between the two (as with any MTA).

#[cfg(test)]
mod tests;

use crate::receipts::ReceiptsConfig;
use crate::wakeups::Wakeups;
use faxhub_connectors::relay::{Envelope, Outlets};
use faxhub_queue::clock::Clock;
use faxhub_queue::job::Route;
use faxhub_queue::spool::Spool;
use faxhub_queue::store::{OutMail, Store};
use std::time::Duration;
use tokio::sync::watch;

/// Mail per connection.
const BATCH: i64 = 50;
/// How often the postman looks without being woken (mail queued by another process).
const POLL: Duration = Duration::from_secs(5);
/// How often sent mail past the retention is purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub struct Postman {
    pub store: Store,
    pub spool: Spool,
    pub outlets: Outlets,
    pub config: ReceiptsConfig,
    /// How long sent mail is kept.
    pub retention: Duration,
    /// Waited on (`postman`).
    pub wakeups: Wakeups,
    /// Where `now` comes from.
    pub clock: Clock,
}

impl Postman {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        tracing::info!(relay = %self.outlets.describe(Route::Relay), "postman started");
        let mut next_purge = tokio::time::Instant::now();
        loop {
            if *shutdown.borrow() {
                break;
            }
            if tokio::time::Instant::now() >= next_purge {
                next_purge += PURGE_EVERY;
                self.purge().await;
            }
            loop {
                match self.round().await {
                    Ok(n) if n as i64 >= BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "postman: could not read the outbox");
                        break;
                    }
                }
            }
            let sleep = match self.store.next_mail_due().await {
                Ok(Some(at)) => Duration::from_millis(
                    (at - self.clock.now_ms()).clamp(0, POLL.as_millis() as i64) as u64,
                ),
                _ => POLL,
            };
            tokio::select! {
                _ = self.wakeups.postman.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Delivers one batch of due mail; returns how many it tried.
    async fn round(&self) -> Result<usize, String> {
        let due = self
            .store
            .mail_due(self.clock.now_ms(), BATCH)
            .await
            .map_err(|e| e.to_string())?;
        if due.is_empty() {
            return Ok(0);
        }
        // by route, in the order they came
        let mut groups: Vec<(Route, Vec<(&OutMail, Envelope)>)> = Vec::new();
        for mail in &due {
            let read = match self.spool.local(&mail.path).await {
                Ok(path) => tokio::fs::read(path).await,
                Err(e) => Err(e),
            };
            match read {
                Ok(message) => {
                    let envelope = Envelope {
                        mail_from: mail.mail_from.clone(),
                        rcpt_to: mail.rcpt_to.clone(),
                        message,
                    };
                    match groups.iter_mut().find(|(r, _)| *r == mail.route) {
                        Some((_, group)) => group.push((mail, envelope)),
                        None => groups.push((mail.route, vec![(mail, envelope)])),
                    }
                }
                Err(e) => {
                    let why = format!("the message {} cannot be read: {e}", mail.path);
                    self.not_sent(mail, true, &why).await;
                }
            }
        }
        // the mail sent are recorded together, in one transaction
        let mut sent = Vec::new();
        for (route, group) in groups {
            let envelopes: Vec<Envelope> = group.iter().map(|(_, e)| e.clone()).collect();
            let results = self.outlets.deliver(route, &envelopes).await;
            let outlet = self.outlets.describe(route);
            for ((mail, _), result) in group.into_iter().zip(results) {
                match result {
                    Ok(()) => {
                        tracing::info!(mail = %mail.id, kind = mail.kind.as_str(), to = %mail.rcpt_to, via = %outlet, "mail sent");
                        sent.push(mail.id.clone());
                        crate::metrics::mail_sent(mail.kind);
                    }
                    Err(e) => self.not_sent(mail, e.permanent, &e.why).await,
                }
            }
        }
        if let Err(e) = self.store.mails_sent(&sent, self.clock.now_ms()).await {
            tracing::error!(mails = ?sent, error = %e, "could not record mail sent: it will be sent again");
        }
        Ok(due.len())
    }

    /// Records a failed delivery: deferred with a doubling wait, or failed for good (a 5xx, or
    /// too old).
    async fn not_sent(&self, mail: &OutMail, permanent: bool, why: &str) {
        let now = self.clock.now_ms();
        let next = if permanent {
            None
        } else {
            self.config.next_try(mail.created_at_ms, mail.tries, now)
        };
        match next {
            Some(at) => {
                tracing::warn!(mail = %mail.id, to = %mail.rcpt_to, error = %why, retry_in_s = (at - now) / 1000, "mail deferred")
            }
            None => {
                tracing::error!(mail = %mail.id, kind = mail.kind.as_str(), to = %mail.rcpt_to, error = %why, path = %mail.path, "mail failed: it will not be sent")
            }
        }
        if let Err(e) = self.store.mail_not_sent(&mail.id, next, why).await {
            tracing::error!(mail = %mail.id, error = %e, "could not record a mail's delivery");
        }
    }

    async fn purge(&self) {
        let before = self.clock.now_ms() - self.retention.as_millis() as i64;
        match self.store.purge_mail(before).await {
            Ok(paths) => {
                for p in &paths {
                    let _ = tokio::fs::remove_file(self.spool.path(p)).await;
                }
                if !paths.is_empty() {
                    tracing::info!(mails = paths.len(), "purged mail past its retention");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not purge old mail"),
        }
    }
}
