//! What the fax lines were used for in a period, for `faxhub usage`: per sender, billing code
//! and line, the calls placed, the faxes delivered, the permanent failures, the pages sent and
//! the time on the line. Counted from the calls (attempts) that started in the period, so a
//! fax retried across a month's end counts its calls where they were made; a recipient that
//! failed before any call (its document refused) is not a line's use and is not counted.

use super::{Store, StoreError};
use sqlx::Row;

/// One sender's use of one line under one billing code in the period.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct UsageRow {
    pub sender: String,
    pub billing: Option<String>,
    pub line: String,
    /// Calls placed (every attempt, busy and failed ones too).
    pub calls: i64,
    /// Calls that delivered the fax (a 2.x.x outcome).
    pub delivered: i64,
    /// Calls that ended the recipient for good (a 5.x.x outcome).
    pub failed: i64,
    /// Pages the far end confirmed.
    pub pages: i64,
    /// Time on the line, in milliseconds (a call still in progress counts nothing yet).
    pub line_ms: i64,
}

impl Store {
    /// The use of the lines by calls started in `[from_ms, to_ms)`, one row per (sender,
    /// billing code, line), ordered by them.
    pub async fn line_usage(&self, from_ms: i64, to_ms: i64) -> Result<Vec<UsageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT j.return_path AS sender, j.billing AS billing, a.line AS line, \
             CAST(COUNT(*) AS BIGINT) AS calls, \
             CAST(SUM(CASE WHEN a.status_code LIKE '2.%' THEN 1 ELSE 0 END) AS BIGINT) AS delivered, \
             CAST(SUM(CASE WHEN a.status_code LIKE '5.%' THEN 1 ELSE 0 END) AS BIGINT) AS failed, \
             CAST(SUM(a.pages_sent) AS BIGINT) AS pages, \
             CAST(SUM(COALESCE(a.ended_at, a.started_at) - a.started_at) AS BIGINT) AS line_ms \
             FROM attempts a JOIN jobs j ON j.id = a.job_id \
             WHERE a.started_at >= $1 AND a.started_at < $2 \
             GROUP BY j.return_path, j.billing, a.line \
             ORDER BY j.return_path, j.billing, a.line",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(UsageRow {
                    sender: row.try_get("sender")?,
                    billing: row.try_get("billing")?,
                    line: row.try_get("line")?,
                    calls: row.try_get("calls")?,
                    delivered: row.try_get("delivered")?,
                    failed: row.try_get("failed")?,
                    pages: row.try_get("pages")?,
                    line_ms: row.try_get("line_ms")?,
                })
            })
            .collect()
    }
}
