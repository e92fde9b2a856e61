//! Outcomes the store could not record at once (locked by another process, its disk full, an I/O
//! error): kept in order and written again every `AGAIN` until the store takes them, so that a
//! job does not stay "converting", nor a recipient "sending", until the next restart. Meanwhile
//! the job or recipient stays claimed in the store, so nothing dispatches it twice; a crash
//! meanwhile is recovered as any interrupted work is.

use faxhub_queue::job::JobId;
use faxhub_queue::spool::Spool;
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::{AttemptEnd, RecipientPages, Store, StoreError};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::time::Instant;

/// How long an outcome the store refused waits before it is written again.
pub const AGAIN: Duration = Duration::from_secs(1);

/// One outcome, as the store records it.
#[derive(Clone, Debug)]
pub enum Record {
    Converted {
        job: JobId,
        pages: i64,
        own: Vec<RecipientPages>,
        now_ms: i64,
    },
    ConversionDeferred {
        job: JobId,
        status: EnhancedStatus,
        reason: String,
        next_ms: i64,
        now_ms: i64,
    },
    ConversionFailed {
        job: JobId,
        status: EnhancedStatus,
        reason: String,
        now_ms: i64,
    },
    Attempt(AttemptEnd),
}

impl Record {
    pub async fn write(&self, store: &Store) -> Result<(), StoreError> {
        match self {
            Record::Converted {
                job,
                pages,
                own,
                now_ms,
            } => {
                let pages_rel = Spool::pages_rel(job.as_str());
                store
                    .conversion_done(job, *pages, &pages_rel, own, *now_ms)
                    .await
            }
            Record::ConversionDeferred {
                job,
                status,
                reason,
                next_ms,
                now_ms,
            } => {
                store
                    .conversion_deferred(job, *status, reason, *next_ms, *now_ms)
                    .await
            }
            Record::ConversionFailed {
                job,
                status,
                reason,
                now_ms,
            } => store.conversion_failed(job, *status, reason, *now_ms).await,
            Record::Attempt(end) => store.end_attempt(end).await.map(|_| ()),
        }
    }

    pub fn job(&self) -> &JobId {
        match self {
            Record::Converted { job, .. }
            | Record::ConversionDeferred { job, .. }
            | Record::ConversionFailed { job, .. } => job,
            Record::Attempt(end) => &end.job_id,
        }
    }
}

/// The outcomes waiting for the store, oldest first.
#[derive(Default)]
pub struct Unrecorded {
    records: VecDeque<Record>,
    next_try: Option<Instant>,
}

impl Unrecorded {
    /// Keeps `record` to be written again in `AGAIN`.
    pub fn push(&mut self, record: Record) {
        self.records.push_back(record);
        self.next_try.get_or_insert_with(|| Instant::now() + AGAIN);
    }

    /// When the next try is due, if any waits.
    pub fn next_try(&self) -> Option<Instant> {
        self.next_try
    }

    /// Writes the waiting outcomes in order, if their time has come, until the store refuses
    /// one (the rest wait `AGAIN` more).
    pub async fn retry(&mut self, store: &Store) {
        if self.next_try.is_none_or(|at| Instant::now() < at) {
            return;
        }
        while let Some(record) = self.records.front() {
            match record.write(store).await {
                Ok(()) => {
                    tracing::info!(job = %record.job(), "an outcome the store had refused is recorded");
                    self.records.pop_front();
                }
                Err(e) => {
                    tracing::warn!(job = %record.job(), waiting = self.records.len(), error = %e, "the store still refuses an outcome; trying again");
                    self.next_try = Some(Instant::now() + AGAIN);
                    return;
                }
            }
        }
        self.next_try = None;
    }
}
