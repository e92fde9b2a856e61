//! The store's side of receipts: which recipients may be due a report, what a report is made
//! from, and marking recipients reported (with the report queued in the same transaction, so a
//! report is queued once: never lost, never twice).

use super::outbox::{NewMail, insert_mail};
use super::tidings::Tiding;
use super::{Store, StoreError};
use crate::job::{JobId, Notify};
use crate::report::{ReportInput, Reported};
use crate::state::RecipientStatus;
use sqlx::Row;

/// A recipient whose report may be due (the policy decides on `input`).
#[derive(Clone, Debug)]
pub struct ReportCandidate {
    pub job_id: JobId,
    pub idx: i64,
    pub input: ReportInput,
    /// Of a broadcast (one cumulative report, once every recipient is final).
    pub broadcast: bool,
}

/// A recipient's new report state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub job_id: JobId,
    pub idx: i64,
    pub reported: Reported,
}

/// What a report on a job is made from, besides its view: the spool files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportSource {
    pub message_path: String,
    /// The job's page set (TIFF; its PDF and thumbnail are companions), once converted.
    pub pages_path: Option<String>,
    pub from_header: Option<String>,
    pub received_at_ms: i64,
}

impl Store {
    /// Recipients not finally reported that are final, or have waited since before
    /// `delayed_before_ms` without any report, oldest first; a broadcast's only once the whole
    /// broadcast is finished (it gets one report then, no delay report).
    pub async fn report_candidates(
        &self,
        delayed_before_ms: i64,
        limit: i64,
    ) -> Result<Vec<ReportCandidate>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.job_id, r.idx, r.status, r.notify, r.reported, r.tries + r.dials AS attempts, \
             j.return_path, j.received_at, j.list_part FROM recipients r JOIN jobs j ON j.id = r.job_id \
             WHERE (r.reported IS NULL OR r.reported <> 'final') AND \
             (j.list_part IS NULL OR j.finished_at IS NOT NULL) AND \
             (r.status IN ('done', 'failed', 'cancelled') OR \
              (r.reported IS NULL AND r.status IN ('deferred', 'queued') AND j.received_at <= $1)) \
             ORDER BY j.received_at, r.job_id, r.idx LIMIT $2",
        )
        .bind(delayed_before_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status_text: String = row.try_get("status")?;
                let status = RecipientStatus::parse(&status_text).ok_or(StoreError::Corrupt {
                    column: "recipients.status",
                    value: status_text,
                })?;
                let reported_text: Option<String> = row.try_get("reported")?;
                let reported =
                    Reported::parse(reported_text.as_deref()).ok_or(StoreError::Corrupt {
                        column: "recipients.reported",
                        value: reported_text.clone().unwrap_or_default(),
                    })?;
                let notify: Option<String> = row.try_get("notify")?;
                Ok(ReportCandidate {
                    job_id: JobId::from_stored(row.try_get("job_id")?),
                    idx: row.try_get("idx")?,
                    input: ReportInput {
                        status,
                        notify: notify.as_deref().and_then(Notify::parse),
                        reported,
                        null_sender: row.try_get::<String, _>("return_path")?.is_empty(),
                        received_at_ms: row.try_get("received_at")?,
                        attempts: row.try_get::<i64, _>("attempts")? as u32,
                    },
                    broadcast: row.try_get::<Option<String>, _>("list_part")?.is_some(),
                })
            })
            .collect()
    }

    /// The spool files and headers a report on `job` is made from.
    pub async fn report_source(&self, job: &JobId) -> Result<Option<ReportSource>, StoreError> {
        let row = sqlx::query(
            "SELECT message_path, pages_path, from_header, received_at FROM jobs WHERE id = $1",
        )
        .bind(job.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ReportSource {
                message_path: row.try_get("message_path")?,
                pages_path: row.try_get("pages_path")?,
                from_header: row.try_get("from_header")?,
                received_at_ms: row.try_get("received_at")?,
            })
        })
        .transpose()
    }

    /// Marks recipients reported, queueing `mails` (their reports) in the same transaction.
    /// A mark only moves forward (none → delay → final); if another node marked one of the
    /// recipients meanwhile, nothing is marked nor queued (its reports went out already) and
    /// the answer is false. So too if one of the mails is queued already.
    pub async fn mark_reported(
        &self,
        marks: &[Mark],
        mails: &[NewMail],
    ) -> Result<bool, StoreError> {
        let mut tx = self.write_transaction().await?;
        for m in marks {
            let marked = sqlx::query(
                "UPDATE recipients SET reported = $1 WHERE job_id = $2 AND idx = $3 \
                 AND (reported IS NULL OR (reported <> 'final' AND reported <> $4))",
            )
            .bind(m.reported.as_str())
            .bind(m.job_id.as_str())
            .bind(m.idx)
            .bind(m.reported.as_str())
            .execute(&mut *tx)
            .await?;
            if marked.rows_affected() != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        for mail in mails {
            if !insert_mail(&mut tx, mail).await? {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        let files: Vec<&str> = mails.iter().map(|m| m.path.as_str()).collect();
        self.put_blobs(&mut tx, &files, false).await?;
        tx.commit().await?;
        self.tell(Tiding::Mail).await;
        Ok(true)
    }
}
