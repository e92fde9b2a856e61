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
//! leaves between rename and commit).
//!
//! The per-sender limits (`limits`) are applied here for every path: a number past the sender's
//! daily limit, or every number once its pages or calls reached theirs, becomes a refused
//! recipient (failed, `5.7.1`, the limit named); SMTP asks `usage` first to refuse at RCPT. After
//! the commit, a sender whose new destinations in the last hour cross `new_numbers_per_hour` is
//! logged as a warning and counted (`sender_destination_spikes`).

use crate::job::{JobId, Origin, Ret, now_ms};
use crate::limits::{DAY, HOUR, SenderLimits, Usage};
use crate::spool::{self, Spool};
use crate::store::{NewJob, NewRecipient, RefusedRecipient, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, mpsc, oneshot};

/// Jobs committed in one transaction, at most.
const MAX_BATCH: usize = 256;
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
}

type Pending = (NewJob, oneshot::Sender<Result<(), String>>);

/// Bytes a staged message keeps in memory before they go to its file.
const STAGING_BUFFER: usize = 64 << 10;

/// A message being written to the spool as it arrives (`Intake::stage`). Dropped unaccepted,
/// its file is removed.
pub struct Staged {
    writer: Option<tokio::io::BufWriter<tokio::fs::File>>,
    path: std::path::PathBuf,
    size: u64,
}

impl Staged {
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| std::io::Error::other("the staged message is closed"))?;
        writer.write_all(bytes).await?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
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
    Staged(Staged),
}

/// What the intake tells the scheduler: work was committed (a wake-up), and how many jobs so far
/// (from which the scheduler judges whether mail is arriving, to let intake go first).
#[derive(Default)]
pub struct Arrivals {
    notify: Notify,
    committed: AtomicU64,
}

impl Arrivals {
    /// `jobs` more jobs were committed: wakes the waiter.
    pub fn committed(&self, jobs: u64) {
        self.committed.fetch_add(jobs, Ordering::Relaxed);
        self.notify.notify_one();
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
    committer: mpsc::Sender<Pending>,
    limits: SenderLimits,
}

impl Intake {
    /// Starts the committer task; `wake` is notified after each commit (the scheduler waits on it).
    pub fn start(spool: Spool, store: Store, wake: Arc<Arrivals>, limits: SenderLimits) -> Intake {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(commit_loop(spool.clone(), store.clone(), rx, wake));
        Intake {
            spool,
            store,
            committer: tx,
            limits,
        }
    }

    pub fn limits(&self) -> &SenderLimits {
        &self.limits
    }

    /// What `sender` used in the last 24 hours.
    pub async fn usage(&self, sender: &str) -> Result<Usage, IntakeError> {
        let since = now_ms() - DAY.as_millis() as i64;
        self.store
            .sender_usage(sender, since)
            .await
            .map_err(|e| IntakeError::Store(e.to_string()))
    }

    /// The submission with the recipients its sender's limits do not admit moved to `refused`.
    async fn within_limits(&self, mut s: Submission) -> Result<Submission, IntakeError> {
        if s.recipients.is_empty() {
            return Ok(s);
        }
        let mut usage = self.usage(&s.return_path).await?;
        let admitted = self.limits.admit(&s.return_path, &usage);
        let mut kept = Vec::with_capacity(s.recipients.len());
        for r in std::mem::take(&mut s.recipients) {
            let number = r.number.as_str().to_string();
            match admitted
                .clone()
                .and_then(|()| self.limits.admit_number(&s.return_path, &usage, &number))
            {
                Ok(()) => {
                    usage.numbers.insert(number);
                    kept.push(r);
                }
                Err(limit) => {
                    tracing::warn!(from = %s.return_path, rcpt = %number, status = %limit.status(), reason = %limit, "recipient refused by a sender limit");
                    s.refused.push(RefusedRecipient {
                        address: r.address,
                        number: Some(r.number),
                        display_name: r.display_name,
                        notify: r.notify,
                        orcpt: r.orcpt,
                        status: limit.status(),
                        reason: limit.to_string(),
                    });
                }
            }
        }
        s.recipients = kept;
        Ok(s)
    }

    /// How many numbers `sender` faxed in the last hour that it never faxed before.
    async fn new_numbers(&self, sender: &str, now: i64) -> Result<u64, String> {
        self.store
            .new_numbers(sender, now - HOUR.as_millis() as i64)
            .await
            .map_err(|e| e.to_string())
    }

    /// Warns (once per crossing) and counts when `sender`'s new destinations spike.
    async fn watch_spike(&self, sender: &str, before: u64, now: i64) {
        let after = match self.new_numbers(sender, now).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(from = %sender, error = %e, "could not count a sender's new destinations");
                return;
            }
        };
        if self.limits.spike(before, after) {
            tracing::warn!(from = %sender, new_numbers = after, limit = self.limits.new_numbers_per_hour, "a sender faxed more new numbers in the last hour than new_numbers_per_hour: a stolen mailbox or login?");
            if let Err(e) = self.store.count(SPIKES).await {
                tracing::warn!(error = %e, "could not count a spike");
            }
        }
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
        self.accept_body(submission, Body::Bytes(message)).await
    }

    /// A file in the spool to write a message into as it arrives (SMTP's DATA), so that a
    /// connection holds a buffer, never the message; `accept_staged` makes it a job.
    pub async fn stage(&self) -> Result<Staged, IntakeError> {
        let path = self.spool.staging_path();
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(|e| self.full_or(IntakeError::Spool(e)))?;
        Ok(Staged {
            writer: Some(tokio::io::BufWriter::with_capacity(STAGING_BUFFER, file)),
            path,
            size: 0,
        })
    }

    /// Makes the message written to `staged` a durable job, as `accept` does.
    pub async fn accept_staged(
        &self,
        submission: Submission,
        mut staged: Staged,
    ) -> Result<JobId, IntakeError> {
        if let Some(mut writer) = staged.writer.take() {
            writer
                .flush()
                .await
                .map_err(|e| self.full_or(IntakeError::Spool(e)))?;
        }
        self.accept_body(submission, Body::Staged(staged)).await
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

    async fn accept_body(&self, submission: Submission, body: Body) -> Result<JobId, IntakeError> {
        self.accept_durably(submission, body)
            .await
            .map_err(|e| self.full_or(e))
    }

    async fn accept_durably(
        &self,
        submission: Submission,
        body: Body,
    ) -> Result<JobId, IntakeError> {
        let received_at_ms = now_ms();
        let submission = self.within_limits(submission).await?;
        let watching = self.limits.new_numbers_per_hour != 0 && !submission.recipients.is_empty();
        let before = match watching {
            true => Some(
                self.new_numbers(&submission.return_path, received_at_ms)
                    .await
                    .map_err(IntakeError::Store)?,
            ),
            false => None,
        };
        let sender = submission.return_path.clone();
        let id = JobId::generate(received_at_ms);
        let rel = Spool::message_rel(id.as_str());
        let spool = self.spool.clone();
        let path = rel.clone();
        let size = tokio::task::spawn_blocking(move || match body {
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
        .map_err(|e| IntakeError::Spool(std::io::Error::other(e)))??;
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
            refused: submission.refused,
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
        if let (Ok(()), Some(before)) = (&committed, before) {
            self.watch_spike(&sender, before, received_at_ms).await;
        }
        committed.map(|()| id)
    }
}

async fn commit_loop(
    spool: Spool,
    store: Store,
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
        // One directory fsync makes every rename of the batch durable, before any commit.
        let dir = spool.clone();
        let synced = tokio::task::spawn_blocking(move || dir.sync_dir(crate::spool::MSG_DIR))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        if let Err(e) = synced {
            tracing::error!(error = %e, "could not fsync the spool directory; refusing the batch");
            for (_, reply) in batch.drain(..) {
                let _ = reply.send(Err(format!("spool directory fsync failed: {e}")));
            }
            continue;
        }
        let jobs: Vec<NewJob> = batch.iter().map(|(job, _)| job.clone()).collect();
        let mut committed = 0;
        match store.insert_jobs(&jobs).await {
            Ok(()) => {
                committed = batch.len() as u64;
                for (_, reply) in batch.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(batch_error) => {
                // One bad job must not fail the others: commit them one by one.
                tracing::warn!(error = %batch_error, jobs = batch.len(), "group commit failed; committing one by one");
                for (job, reply) in batch.drain(..) {
                    let result = store
                        .insert_jobs(std::slice::from_ref(&job))
                        .await
                        .map_err(|e| e.to_string());
                    committed += u64::from(result.is_ok());
                    let _ = reply.send(result);
                }
            }
        }
        wake.committed(committed);
    }
}
