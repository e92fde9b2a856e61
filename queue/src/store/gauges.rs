//! What `/metrics` reads from the store at each scrape: recipients by status, when the oldest
//! recipient still waiting for its call was received, and the mail waiting in the outbox. Three
//! aggregates over indexes (`recipients_due`, `outbox_due`), one round trip: a scrape costs the
//! same whatever the store holds of finished jobs, up to a count of index entries.

use super::{Store, StoreError};
use crate::state::RecipientStatus;
use sqlx::Row;

/// The store's side of the metrics. With several nodes, the whole cluster's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueGauges {
    /// Every status, with 0 for those no recipient has.
    pub recipients: Vec<(RecipientStatus, i64)>,
    /// When the job of the oldest recipient not yet called through (queued, deferred or
    /// sending) was received.
    pub oldest_waiting_ms: Option<i64>,
    /// Mails queued in the outbox, not yet sent.
    pub outbox_queued: i64,
}

impl Store {
    pub async fn queue_gauges(&self) -> Result<QueueGauges, StoreError> {
        let rows = sqlx::query(
            "SELECT 'r' AS what, status AS name, COUNT(*) AS n FROM recipients GROUP BY status \
             UNION ALL SELECT 'o', 'queued', COUNT(*) FROM outbox WHERE state = 'queued' \
             UNION ALL SELECT 'w', 'oldest', MIN(j.received_at) FROM recipients r \
             JOIN jobs j ON j.id = r.job_id \
             WHERE r.status IN ('queued', 'deferred', 'sending')",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut gauges = QueueGauges {
            recipients: RecipientStatus::ALL.iter().map(|s| (*s, 0)).collect(),
            ..QueueGauges::default()
        };
        for row in rows {
            let what: String = row.try_get("what")?;
            let n: Option<i64> = row.try_get("n")?;
            match what.as_str() {
                "r" => {
                    let name: String = row.try_get("name")?;
                    if let Some(status) = RecipientStatus::parse(&name)
                        && let Some(slot) = gauges.recipients.iter_mut().find(|(s, _)| *s == status)
                    {
                        slot.1 = n.unwrap_or(0);
                    }
                }
                "o" => gauges.outbox_queued = n.unwrap_or(0),
                _ => gauges.oldest_waiting_ms = n,
            }
        }
        Ok(gauges)
    }
}
