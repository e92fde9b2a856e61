//! Intake: the one durable path by which a message becomes a job (SMTP, `faxhub send`, and the
//! other connectors later).
//!
//! `accept` writes the message into the spool (write, fsync, rename), then hands the job row to
//! the committer task, which takes every job waiting at that moment, fsyncs the spool directory
//! once for all their renames, inserts them in one transaction (group commit across sessions)
//! and answers each caller after the commit. Only then
//! may the caller acknowledge (SMTP `250`). If the commit fails the spool file is removed and the
//! caller gets an error to turn into a temporary failure: nothing is acknowledged that is not
//! durable, and nothing durable is left without a job (start-up recovery quarantines what a crash
//! leaves between rename and commit). With several nodes the store keeps the message (in the
//! job's transaction): one that fits in memory is not written to the spool at all.
//!
//! The per-sender limits (`limits`) are applied by the committer for every path, in the batch
//! (`commit`): a number past the sender's daily limit, or every number once its pages or calls
//! reached theirs, becomes a refused recipient (failed, `5.7.1`, the limit named); SMTP asks
//! `usage` first to refuse at RCPT. After the commit, a sender whose new destinations in the last
//! hour cross `new_numbers_per_hour` is logged as a warning and counted
//! (`sender_destination_spikes`).

mod billing;
mod commit;
#[cfg(test)]
mod tests;

use crate::job::{JobId, Origin, Ret, now_ms};
use crate::limits::{DAY, SenderLimits, Usage};
use crate::spool::{self, Spool};
use crate::store::{NewJob, NewRecipient, RefusedRecipient, Store};
pub use billing::{BillingConfig, MAX_BILLING, billing_code, subject_tag};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc, oneshot};

/// Submissions waiting for the committer, at most (back-pressure on the listeners).
const QUEUE_DEPTH: usize = 1024;

/// What a connector knows about a message besides its bytes.
#[derive(Clone, Debug)]
pub struct Submission {
    pub origin: Origin,
    pub return_path: String,
    pub from_header: Option<String>,
    pub subject: Option<String>,
    pub env_id: Option<String>,
    pub ret: Option<Ret>,
    pub recipients: Vec<NewRecipient>,
    /// The agent's item the message was made from (unique among jobs), if any.
    pub source: Option<String>,
    /// Addresses of the item refused at intake (reported as failed).
    pub refused: Vec<RefusedRecipient>,
    /// With a `source`: a hash of the request it was made from, to tell a repeat of the same
    /// request (an API client retrying with its idempotency key) from another one.
    pub request_hash: Option<String>,
    /// The billing code the sender gave (`X-Fax-Billing`, a Subject tag, the API's field).
    pub billing: Option<String>,
    /// Its place in the queue (`X-Fax-Priority`…).
    pub priority: crate::schedule::Priority,
    /// Held until then (`X-Fax-Send-At`).
    pub send_at_ms: Option<i64>,
    /// A broadcast: the attachment that is its list (not faxed; one cumulative report).
    pub list_part: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("could not write the message to the spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error("could not record the job: {0}")]
    Store(String),
    /// The spool's disk is full (a write failed for it, or with it nearly full).
    #[error("the spool's disk is full: {0}")]
    Full(String),
    #[error("faxhub is shutting down")]
    ShuttingDown,
    /// A service the intake needs to decide cannot be reached (the directory).
    #[error("{0}")]
    Unavailable(String),
}

/// Bytes a staged message keeps in memory: a message within it goes to the spool in one write,
/// a larger one to a staging file as it comes, through a buffer of this size.
const STAGING_BUFFER: usize = 64 << 10;

/// A message being written to the spool as it arrives (`Intake::stage`): in memory up to
/// `STAGING_BUFFER`, then in a staging file. Dropped unaccepted, its file is removed.
pub struct Staged {
    /// The message while it fits in `STAGING_BUFFER`.
    head: Vec<u8>,
    /// The staging file once it did not.
    writer: Option<tokio::io::BufWriter<tokio::fs::File>>,
    /// The staging file's path (made at the first write that does not fit).
    path: std::path::PathBuf,
    /// Where a staging file goes.
    spool: Spool,
    size: u64,
}

impl Staged {
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.writer.is_none() && self.head.len() + bytes.len() <= STAGING_BUFFER {
            self.head.extend_from_slice(bytes);
            self.size += bytes.len() as u64;
            return Ok(());
        }
        if self.writer.is_none() {
            let path = self.spool.staging_path();
            let file = tokio::fs::File::create(&path).await?;
            self.path = path;
            let mut writer = tokio::io::BufWriter::with_capacity(STAGING_BUFFER, file);
            writer.write_all(&std::mem::take(&mut self.head)).await?;
            self.writer = Some(writer);
        }
        let writer = self.writer.as_mut().expect("made above");
        writer.write_all(bytes).await?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The whole message as written so far (a broadcast reads its list from it): from memory,
    /// or the staging file flushed and read back (at most the message's size limit).
    pub async fn contents(&mut self) -> std::io::Result<Vec<u8>> {
        match self.writer.as_mut() {
            None => Ok(self.head.clone()),
            Some(writer) => {
                writer.flush().await?;
                tokio::fs::read(&self.path).await
            }
        }
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A message in memory, or written to a staged file.
enum Body {
    Bytes(Vec<u8>),
    Staged(Box<Staged>),
}

/// What the intake tells the scheduler: work was committed (a wake-up), and how many jobs so far
/// (from which the scheduler judges whether mail is arriving, to let intake go first).
/// With several nodes, jobs other nodes committed count too, and the nodes that committed them
/// are remembered (at most `MAX_PEERS`, the cluster's own names from its NOTIFY channel).
#[derive(Default)]
pub struct Arrivals {
    notify: Notify,
    committed: AtomicU64,
    /// Other nodes that committed jobs, and when they last did.
    peers: std::sync::Mutex<std::collections::HashMap<String, tokio::time::Instant>>,
}

/// Other nodes remembered at most.
const MAX_PEERS: usize = 64;

impl Arrivals {
    /// `jobs` more jobs were committed: wakes the waiter.
    pub fn committed(&self, jobs: u64) {
        self.committed.fetch_add(jobs, Ordering::Relaxed);
        self.notify.notify_one();
    }

    /// `jobs` more jobs were committed by the other node `node`: counted like this node's, and
    /// `node` noted as receiving mail.
    pub fn committed_by(&self, jobs: u64, node: &str) {
        {
            let mut peers = self.peers.lock().expect("arrivals lock");
            if peers.len() >= MAX_PEERS && !peers.contains_key(node) {
                let oldest = peers
                    .iter()
                    .min_by_key(|(_, at)| **at)
                    .map(|(n, _)| n.clone());
                peers.remove(&oldest.expect("full, so not empty"));
            }
            peers.insert(node.to_string(), tokio::time::Instant::now());
        }
        self.committed(jobs);
    }

    /// How many other nodes committed jobs within the last `within`.
    pub fn peers_receiving(&self, within: std::time::Duration) -> usize {
        let peers = self.peers.lock().expect("arrivals lock");
        peers.values().filter(|at| at.elapsed() < within).count()
    }

    /// Wakes the waiter without new jobs (an operator's action, a test).
    pub fn notify_one(&self) {
        self.notify.notify_one();
    }

    /// Jobs committed since the start.
    pub fn total(&self) -> u64 {
        self.committed.load(Ordering::Relaxed)
    }

    /// Completes at the next wake-up (or at once if one came since the last wait).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

/// The counter of senders whose new destinations spiked.
pub const SPIKES: &str = "sender_destination_spikes";

#[derive(Clone)]
pub struct Intake {
    spool: Spool,
    store: Store,
    committer: mpsc::Sender<commit::Pending>,
    limits: SenderLimits,
    /// `[billing] subject_tag`: the prefix of a billing code tagged in the Subject.
    subject_tag: Option<Arc<str>>,
}

impl Intake {
    /// Starts the committer task; `wake` is notified after each commit (the scheduler waits on it).
    pub fn start(spool: Spool, store: Store, wake: Arc<Arrivals>, limits: SenderLimits) -> Intake {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(commit::commit_loop(
            spool.clone(),
            store.clone(),
            limits.clone(),
            rx,
            wake,
        ));
        Intake {
            spool,
            store,
            committer: tx,
            limits,
            subject_tag: None,
        }
    }

    /// Takes billing codes from Subject tags as well (`[billing] subject_tag`): the tag leaves
    /// the fax's subject; a code given otherwise (`X-Fax-Billing`) wins.
    pub fn with_billing(mut self, billing: &BillingConfig) -> Intake {
        self.subject_tag = billing.subject_tag.as_deref().map(Arc::from);
        self
    }

    pub fn limits(&self) -> &SenderLimits {
        &self.limits
    }

    /// What `sender` used in the last 24 hours, from a copy at most a second old (for an early
    /// refusal: the committer decides on the store's own figures).
    pub async fn usage(&self, sender: &str) -> Result<Usage, IntakeError> {
        let since = now_ms() - DAY.as_millis() as i64;
        self.store
            .sender_usage_cached(sender, since)
            .await
            .map_err(|e| IntakeError::Store(e.to_string()))
    }

    pub fn spool(&self) -> &Spool {
        &self.spool
    }

    /// The job already made from the agent's item `source`, if any.
    pub async fn committed(&self, source: &str) -> Result<Option<JobId>, IntakeError> {
        self.store
            .job_by_source(source)
            .await
            .map_err(|e| IntakeError::Store(e.to_string()))
    }

    /// Makes `message` a durable job; returns its id once committed. A failure with the spool's
    /// disk full is `Full`.
    pub async fn accept(
        &self,
        submission: Submission,
        message: Vec<u8>,
    ) -> Result<JobId, IntakeError> {
        Ok(self.accept_body(submission, Body::Bytes(message)).await?.id)
    }

    /// [`Intake::accept`], answering with the job as committed, as `Store::job` would show it
    /// then (without reading it back).
    pub async fn accept_viewed(
        &self,
        submission: Submission,
        message: Vec<u8>,
    ) -> Result<crate::store::JobView, IntakeError> {
        let job = self.accept_body(submission, Body::Bytes(message)).await?;
        Ok(crate::store::JobView::of_new(&job))
    }

    /// Where to write a message as it arrives (SMTP's DATA), so that a connection holds a
    /// buffer, never the message; `accept_staged` makes it a job. No file is made until the
    /// message outgrows the buffer.
    pub async fn stage(&self) -> Result<Staged, IntakeError> {
        Ok(Staged {
            head: Vec::new(),
            writer: None,
            path: std::path::PathBuf::new(),
            spool: self.spool.clone(),
            size: 0,
        })
    }

    /// Makes the message written to `staged` a durable job, as `accept` does.
    pub async fn accept_staged(
        &self,
        submission: Submission,
        mut staged: Staged,
    ) -> Result<JobId, IntakeError> {
        let Some(mut writer) = staged.writer.take() else {
            let message = std::mem::take(&mut staged.head);
            return Ok(self.accept_body(submission, Body::Bytes(message)).await?.id);
        };
        writer
            .flush()
            .await
            .map_err(|e| self.full_or(IntakeError::Spool(e)))?;
        Ok(self
            .accept_body(submission, Body::Staged(Box::new(staged)))
            .await?
            .id)
    }

    /// `e`, or `Full` when the spool's disk is full.
    fn full_or(&self, e: IntakeError) -> IntakeError {
        match e {
            IntakeError::Spool(io) if spool::is_full(&io) => IntakeError::Full(io.to_string()),
            IntakeError::Spool(_) | IntakeError::Store(_)
                if spool::low_on_space(self.spool.root()) =>
            {
                IntakeError::Full(e.to_string())
            }
            other => other,
        }
    }

    async fn accept_body(&self, submission: Submission, body: Body) -> Result<NewJob, IntakeError> {
        self.accept_durably(submission, body)
            .await
            .map_err(|e| self.full_or(e))
    }

    /// Puts `body` in the spool at `rel`, synced; its size.
    async fn write_body(&self, body: Body, rel: &str) -> Result<u64, IntakeError> {
        let spool = self.spool.clone();
        let path = rel.to_string();
        Ok(tokio::task::spawn_blocking(move || match body {
            Body::Bytes(message) => spool
                .write_synced(&path, &message)
                .map(|_| message.len() as u64),
            Body::Staged(mut staged) => {
                let installed = spool.install_synced(&staged.path, &path);
                // renamed away: nothing left for its drop to remove
                if installed.is_ok() {
                    staged.path = std::path::PathBuf::new();
                }
                installed.map(|_| staged.size)
            }
        })
        .await
        .map_err(|e| IntakeError::Spool(std::io::Error::other(e)))??)
    }

    async fn accept_durably(
        &self,
        mut submission: Submission,
        body: Body,
    ) -> Result<NewJob, IntakeError> {
        if let Some(prefix) = &self.subject_tag
            && let Some((code, rest)) = submission
                .subject
                .as_deref()
                .and_then(|s| subject_tag(s, prefix))
        {
            submission.billing = submission.billing.or(Some(code));
            submission.subject = Some(rest).filter(|s| !s.is_empty());
        }
        let received_at_ms = now_ms();
        let id = JobId::generate(received_at_ms);
        let rel = Spool::message_rel(id.as_str());
        // several nodes: a message in memory goes to the store only (its commit is what makes
        // it durable), sparing the spool's disk a file per message
        let (size, held) = match body {
            Body::Bytes(message) if self.spool.is_cache() => {
                (message.len() as u64, Some(std::sync::Arc::from(message)))
            }
            body => (self.write_body(body, &rel).await?, None),
        };
        let job = NewJob {
            id: id.clone(),
            origin: submission.origin,
            return_path: submission.return_path,
            from_header: submission.from_header,
            subject: submission.subject,
            received_at_ms,
            env_id: submission.env_id,
            ret: submission.ret,
            message_path: rel.clone(),
            size,
            recipients: submission.recipients,
            source: submission.source,
            request_hash: submission.request_hash,
            billing: submission.billing,
            priority: submission.priority,
            send_at_ms: submission.send_at_ms,
            refused: submission.refused,
            message: held,
            list_part: submission.list_part,
        };
        let (reply_tx, reply_rx) = oneshot::channel();
        let committed = match self.committer.send((job, reply_tx)).await {
            Ok(()) => reply_rx
                .await
                .map_err(|_| IntakeError::ShuttingDown)
                .and_then(|r| r.map_err(IntakeError::Store)),
            Err(_) => Err(IntakeError::ShuttingDown),
        };
        if committed.is_err() {
            // Not acknowledged: the client will send again. Leave no orphan behind.
            let _ = std::fs::remove_file(self.spool.path(&rel));
        }
        committed
    }
}
