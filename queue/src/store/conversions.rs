//! The conversion's side of the store: jobs claimed for conversion when due, and the three
//! ends of a conversion, each one transaction: converted (the page sets recorded, recipients
//! that waited for it due at once), failed for the document's fault (every recipient not yet
//! final fails), or deferred for the server's trouble (the job due again later, its recipients
//! deferred with the temporary code). A crash mid-conversion leaves the job `converting`, which
//! recovery makes `pending` again.

use super::events::{Event, EventType};
use super::tidings::Tiding;
use super::{RecipientPages, Store, StoreError, text};
use crate::job::JobId;
use crate::state::{ConversionState, RecipientStatus};
use crate::status::EnhancedStatus;
use sqlx::Row;

/// A job claimed for conversion.
#[derive(Debug, Clone)]
pub struct Conversion {
    pub job: JobId,
    pub message_path: String,
    pub received_at_ms: i64,
    /// Conversions of it deferred so far.
    pub tries: u32,
    /// Its envelope sender (whose identity its cover pages may carry).
    pub sender: String,
    /// A broadcast's list: the attachment left out of the pages.
    pub list_part: Option<String>,
}

impl Store {
    /// Jobs waiting for conversion and due by `now_ms`, oldest first; each is marked
    /// `converting`.
    pub async fn claim_conversions(
        &self,
        limit: i64,
        now_ms: i64,
    ) -> Result<Vec<Conversion>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, message_path, received_at, convert_tries, return_path, list_part FROM jobs \
             WHERE conversion = $1 AND (convert_after IS NULL OR convert_after <= $2) \
             ORDER BY received_at LIMIT $3{}",
            self.backend.skip_locked()
        ))
        .bind(ConversionState::Pending.as_str())
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        let claim = format!(
            "UPDATE jobs SET conversion = $1, node = $2, lease_until = {} WHERE id = $3",
            self.lease_sql()
        );
        for row in rows {
            let id: String = row.try_get("id")?;
            sqlx::query(&claim)
                .bind(ConversionState::Converting.as_str())
                .bind(&*self.node)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            out.push(Conversion {
                job: JobId::from_stored(id),
                message_path: row.try_get("message_path")?,
                received_at_ms: row.try_get("received_at")?,
                tries: row.try_get::<i64, _>("convert_tries")? as u32,
                sender: row.try_get("return_path")?,
                list_part: row.try_get("list_part")?,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// When the next deferred conversion is due, if one is.
    pub async fn next_conversion_at(&self) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT MIN(convert_after) AS t FROM jobs WHERE conversion = 'pending'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get::<Option<i64>, _>("t")?)
    }

    /// Records a converted page set, and the page sets of recipients who have their own (a
    /// cover page made for them), in one transaction.
    pub async fn conversion_done(
        &self,
        id: &JobId,
        pages: i64,
        pages_path: &str,
        own: &[RecipientPages],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("UPDATE jobs SET conversion = $1, pages = $2, pages_path = $3, node = NULL, lease_until = NULL WHERE id = $4")
            .bind(ConversionState::Converted.as_str())
            .bind(pages)
            .bind(pages_path)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        // recipients deferred while the conversion waited are due now (they never had a call),
        // or, when the job is held until later (X-Fax-Send-At), then
        let send_at: Option<i64> = sqlx::query("SELECT send_at FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("send_at")?;
        let (status, next, reason) = match send_at.filter(|at| *at > now_ms) {
            Some(at) => (
                RecipientStatus::Deferred,
                Some(at),
                Some(super::held_reason(at)),
            ),
            None => (RecipientStatus::Queued, None, None),
        };
        sqlx::query(
            "UPDATE recipients SET status = $1, status_code = NULL, reason = $2, next_attempt_at = $3 \
             WHERE job_id = $4 AND status = $5 AND tries + dials = 0",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(next)
        .bind(id.as_str())
        .bind(RecipientStatus::Deferred.as_str())
        .execute(&mut *tx)
        .await?;
        for r in own {
            sqlx::query(
                "UPDATE recipients SET pages = $1, pages_path = $2 WHERE job_id = $3 AND idx = $4",
            )
            .bind(r.pages)
            .bind(&r.pages_path)
            .bind(id.as_str())
            .bind(r.idx)
            .execute(&mut *tx)
            .await?;
        }
        let files: Vec<&str> = std::iter::once(pages_path)
            .chain(own.iter().map(|r| r.pages_path.as_str()))
            .collect();
        self.put_blobs(&mut tx, &files, true).await?;
        let converted = Event::new(
            EventType::Converted,
            serde_json::json!({ "fax": id.as_str(), "pages": pages }),
        );
        self.add_events(&mut tx, &[converted], now_ms).await?;
        tx.commit().await?;
        self.events_committed();
        self.tell(Tiding::Work).await;
        Ok(())
    }

    /// Records a failed conversion: every recipient not yet final fails with the reason.
    pub async fn conversion_failed(
        &self,
        id: &JobId,
        status: EnhancedStatus,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query("UPDATE jobs SET conversion = $1, finished_at = $2, node = NULL, lease_until = NULL WHERE id = $3")
            .bind(ConversionState::Failed.as_str())
            .bind(now_ms)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        let failed = sqlx::query(
            "UPDATE recipients SET status = $1, status_code = $2, reason = $3, next_attempt_at = NULL, updated_at = $4 \
             WHERE job_id = $5 AND status NOT IN ('done', 'failed', 'cancelled') RETURNING idx, number",
        )
        .bind(RecipientStatus::Failed.as_str())
        .bind(status.to_string())
        .bind(text(reason))
        .bind(now_ms)
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut events = Vec::new();
        for row in &failed {
            let (idx, number): (i64, String) = (row.try_get("idx")?, row.try_get("number")?);
            events.push(Event::new(
                EventType::Failed,
                serde_json::json!({
                    "fax": id.as_str(), "recipient": idx, "number": number, "status": "failed",
                    "status_code": status.to_string(), "reason": reason, "pages_sent": 0,
                }),
            ));
        }
        self.add_events(&mut tx, &events, now_ms).await?;
        tx.commit().await?;
        self.events_committed();
        self.tell(Tiding::Outcome).await;
        Ok(())
    }

    /// Records a conversion that failed for the server's trouble: the job waits until
    /// `next_ms` to be converted again (its tries counted), its recipients not yet final are
    /// deferred with the temporary `status` and `reason`.
    pub async fn conversion_deferred(
        &self,
        id: &JobId,
        status: EnhancedStatus,
        reason: &str,
        next_ms: i64,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_transaction().await?;
        sqlx::query(
            "UPDATE jobs SET conversion = $1, convert_after = $2, convert_tries = convert_tries + 1, \
             node = NULL, lease_until = NULL WHERE id = $3",
        )
        .bind(ConversionState::Pending.as_str())
        .bind(next_ms)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recipients SET status = $1, status_code = $2, reason = $3, next_attempt_at = $4, updated_at = $5 \
             WHERE job_id = $6 AND status IN ('queued', 'deferred')",
        )
        .bind(RecipientStatus::Deferred.as_str())
        .bind(status.to_string())
        .bind(text(reason))
        .bind(next_ms)
        .bind(now_ms)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
