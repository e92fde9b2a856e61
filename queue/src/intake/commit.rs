//! The committer: the one task that makes jobs durable, in batches (group commit across
//! sessions).
//!
//! It takes every job waiting at that moment (at most `MAX_BATCH`) and fsyncs the spool
//! directory once for all their renames (none when every message travels in its row). It then applies the per-sender limits: each sender's
//! usage is read once per batch and grows as the batch's own jobs take numbers, and as no other
//! job is committed meanwhile, two sessions of one sender cannot both pass a limit. It inserts
//! the jobs in one transaction, answers each caller after the commit, warns about a sender whose
//! new destinations (counted before the batch, plus those the batch added) crossed
//! `new_numbers_per_hour`, and tells the scheduler how many jobs came.
//! A batch the store refuses is committed job by job, so that one bad job fails alone.

use super::{Arrivals, SPIKES};
use crate::job::now_ms;
use crate::limits::{DAY, HOUR, SenderLimits, Usage};
use crate::spool::Spool;
use crate::store::{NewJob, NewNumbers, RefusedRecipient, Store};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// A job to commit and where to answer.
/// A job to commit, and where to answer: the job as committed (its recipients refused by a
/// limit moved to its refused ones), or why not.
pub(super) type Pending = (NewJob, oneshot::Sender<Result<NewJob, String>>);

/// Jobs committed in one transaction, at most.
const MAX_BATCH: usize = 256;

pub(super) async fn commit_loop(
    spool: Spool,
    store: Store,
    limits: SenderLimits,
    mut rx: mpsc::Receiver<Pending>,
    wake: Arc<Arrivals>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        // One directory fsync makes every rename of the batch durable, before any commit; a
        // batch whose messages all travel in their rows (`NewJob::message`) renamed nothing.
        let renamed = batch.iter().any(|(job, _)| job.message.is_none());
        let dir = spool.clone();
        let synced = if renamed {
            tokio::task::spawn_blocking(move || dir.sync_dir(crate::spool::MSG_DIR))
                .await
                .map_err(std::io::Error::other)
                .and_then(|r| r)
        } else {
            Ok(())
        };
        if let Err(e) = synced {
            tracing::error!(error = %e, "could not fsync the spool directory; refusing the batch");
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(format!("spool directory fsync failed: {e}")));
            }
            continue;
        }
        let now = now_ms();
        let watched = within_limits(&store, &limits, &mut batch, now).await;
        let (committed, new_numbers) = insert(&store, &mut batch).await;
        if limits.new_numbers_per_hour != 0 {
            for (sender, before) in watched {
                let after = before + new_numbers.get(&sender).copied().unwrap_or(0);
                watch_spike(&store, &limits, &sender, before, after).await;
            }
        }
        wake.committed(committed);
    }
}

/// Applies each sender's limits to the batch's jobs, in order. A job whose sender's usage cannot
/// be read is answered with the error and leaves the batch. Returns the senders whose new
/// destinations are watched, with their count before the batch.
async fn within_limits(
    store: &Store,
    limits: &SenderLimits,
    batch: &mut Vec<Pending>,
    now: i64,
) -> HashMap<String, u64> {
    let mut usage: HashMap<String, Result<Usage, String>> = HashMap::new();
    let mut watched = HashMap::new();
    let mut kept = Vec::with_capacity(batch.len());
    for (mut job, reply) in batch.drain(..) {
        if job.recipients.is_empty() {
            kept.push((job, reply));
            continue;
        }
        let sender = job.return_path.clone();
        if !usage.contains_key(&sender) {
            let since = now - DAY.as_millis() as i64;
            let read = if limits.new_numbers_per_hour != 0 {
                store
                    .sender_usage_and_new(&sender, since, now - HOUR.as_millis() as i64)
                    .await
                    .map(|(used, before)| {
                        watched.insert(sender.clone(), before);
                        used
                    })
            } else {
                store.sender_usage(&sender, since).await
            };
            usage.insert(sender.clone(), read.map_err(|e| e.to_string()));
        }
        match usage.get_mut(&sender).expect("read above") {
            Ok(used) => {
                admit(limits, &mut job, used);
                kept.push((job, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(format!("could not read the sender's usage: {e}")));
            }
        }
    }
    *batch = kept;
    watched
}

/// Moves the recipients `job`'s sender may not fax (`limits`, with `usage` so far) to its
/// refused ones, and counts the numbers it keeps into `usage`.
fn admit(limits: &SenderLimits, job: &mut NewJob, usage: &mut Usage) {
    let sender = job.return_path.clone();
    let admitted = limits.admit(&sender, usage);
    let mut kept = Vec::with_capacity(job.recipients.len());
    for r in std::mem::take(&mut job.recipients) {
        let number = r.number.as_str().to_string();
        match admitted
            .clone()
            .and_then(|()| limits.admit_number(&sender, usage, &number))
        {
            Ok(()) => {
                usage.numbers.insert(number);
                kept.push(r);
            }
            Err(limit) => {
                tracing::warn!(from = %sender, rcpt = %number, status = %limit.status(), reason = %limit, "recipient refused by a sender limit");
                job.refused.push(RefusedRecipient {
                    address: r.address,
                    number: Some(r.number),
                    display_name: r.display_name,
                    notify: r.notify,
                    orcpt: r.orcpt,
                    status: limit.status(),
                    reason: limit.to_string(),
                    list_row: None,
                });
            }
        }
    }
    job.recipients = kept;
}

/// Inserts the batch in one transaction (one by one if that fails) and answers each caller.
/// Returns the jobs committed, and the senders' new destinations among them.
async fn insert(store: &Store, batch: &mut Vec<Pending>) -> (u64, NewNumbers) {
    let jobs: Vec<NewJob> = batch.iter().map(|(job, _)| job.clone()).collect();
    if jobs.is_empty() {
        return (0, NewNumbers::new());
    }
    match store.insert_jobs(&jobs).await {
        Ok(new_numbers) => {
            let n = batch.len() as u64;
            for (job, reply) in batch.drain(..) {
                let _ = reply.send(Ok(job));
            }
            (n, new_numbers)
        }
        Err(batch_error) => {
            tracing::warn!(error = %batch_error, jobs = batch.len(), "group commit failed; committing one by one");
            let mut n = 0;
            let mut new_numbers = NewNumbers::new();
            for (job, reply) in batch.drain(..) {
                let result = store.insert_jobs(std::slice::from_ref(&job)).await;
                if let Ok(new) = &result {
                    n += 1;
                    for (sender, k) in new {
                        *new_numbers.entry(sender.clone()).or_insert(0) += k;
                    }
                }
                let _ = reply.send(result.map(|_| job).map_err(|e| e.to_string()));
            }
            (n, new_numbers)
        }
    }
}

/// Warns (once per crossing) and counts when `sender`'s new destinations spiked: `before` the
/// batch, and `after` it.
async fn watch_spike(store: &Store, limits: &SenderLimits, sender: &str, before: u64, after: u64) {
    if limits.spike(before, after) {
        tracing::warn!(from = %sender, new_numbers = after, limit = limits.new_numbers_per_hour, "a sender faxed more new numbers in the last hour than new_numbers_per_hour: a stolen mailbox or login?");
        if let Err(e) = store.count(SPIKES).await {
            tracing::warn!(error = %e, "could not count a spike");
        }
    }
}
