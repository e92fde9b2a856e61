//! The store's side of the per-sender limits (`crate::limits`): what a sender used in a window,
//! how many of its numbers are new, a recipient refused by a limit or put off until its sending
//! window opens (`crate::window`), and the event counters.

use super::{Store, StoreError, text};
use crate::limits::Usage;
use crate::state::RecipientStatus;
use crate::status::EnhancedStatus;
use sqlx::Row;

impl Store {
    /// [`Store::sender_usage`] from a copy at most `usage_cache::FRESH` old that no change this
    /// process made since outdates (for SMTP's RCPT, which only refuses early).
    pub async fn sender_usage_cached(
        &self,
        sender: &str,
        since_ms: i64,
    ) -> Result<Usage, StoreError> {
        if let Some(usage) = self.usage_copies.get(sender) {
            return Ok(usage);
        }
        let (read_at, generation) = (tokio::time::Instant::now(), self.usage_copies.generation());
        let usage = self.sender_usage(sender, since_ms).await?;
        self.usage_copies
            .put(sender, usage.clone(), read_at, generation);
        Ok(usage)
    }

    /// What `sender` used since `since_ms`: the numbers of its jobs received since then (not
    /// those refused at intake: `sender_numbers`, kept as jobs are committed), and the calls
    /// placed since then with the pages they were sending (`sender_calls`, kept as calls start).
    pub async fn sender_usage(&self, sender: &str, since_ms: i64) -> Result<Usage, StoreError> {
        Ok(self.usage_rows(sender, since_ms, None).await?.0)
    }

    /// [`Store::sender_usage`], and how many numbers `sender`'s jobs received since
    /// `new_since_ms` name that none of its earlier jobs (still in the store) named: in one
    /// statement (the committer asks both at every batch).
    pub async fn sender_usage_and_new(
        &self,
        sender: &str,
        since_ms: i64,
        new_since_ms: i64,
    ) -> Result<(Usage, u64), StoreError> {
        self.usage_rows(sender, since_ms, Some(new_since_ms)).await
    }

    async fn usage_rows(
        &self,
        sender: &str,
        since_ms: i64,
        new_since_ms: Option<i64>,
    ) -> Result<(Usage, u64), StoreError> {
        // one statement: the numbers' rows, one row of the calls, and one of the new numbers
        let new = if new_since_ms.is_some() {
            " UNION ALL SELECT NULL, NULL, NULL, COUNT(*) FROM sender_numbers \
             WHERE sender = $5 AND first_at >= $6"
        } else {
            ""
        };
        let sql = format!(
            "SELECT number, NULL AS calls, NULL AS pages, CAST(NULL AS BIGINT) AS fresh FROM sender_numbers \
             WHERE sender = $1 AND last_at >= $2 \
             UNION ALL SELECT NULL, COUNT(*), CAST(COALESCE(SUM(pages), 0) AS BIGINT), NULL \
             FROM sender_calls WHERE sender = $3 AND started_at >= $4{new}"
        );
        let mut query = sqlx::query(&sql)
            .bind(text(sender))
            .bind(since_ms)
            .bind(text(sender))
            .bind(since_ms);
        if let Some(new_since_ms) = new_since_ms {
            query = query.bind(text(sender)).bind(new_since_ms);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut usage = Usage::default();
        let mut fresh = 0;
        for row in rows {
            if let Some(number) = row.try_get::<Option<String>, _>("number")? {
                usage.numbers.insert(number);
            } else if let Some(calls) = row.try_get::<Option<i64>, _>("calls")? {
                usage.calls = calls;
                usage.pages = row.try_get::<Option<i64>, _>("pages")?.unwrap_or(0);
            } else {
                fresh = row.try_get::<Option<i64>, _>("fresh")?.unwrap_or(0).max(0) as u64;
            }
        }
        Ok((usage, fresh))
    }

    /// Fails a recipient waiting for a call (queued or deferred) for good, with the limit it
    /// reached; false if it was no longer waiting.
    pub async fn refuse_recipient(
        &self,
        job_id: &str,
        idx: i64,
        status: EnhancedStatus,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recipients SET status = $1, status_code = $2, reason = $3, next_attempt_at = NULL, \
             updated_at = $4 WHERE job_id = $5 AND idx = $6 AND status IN ('queued', 'deferred')",
        )
        .bind(RecipientStatus::Failed.as_str())
        .bind(status.to_string())
        .bind(text(reason))
        .bind(now_ms)
        .bind(job_id)
        .bind(idx)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Puts off a due recipient until `until_ms` (its sending window opens then), `reason`
    /// saying so; no try is counted. False if it is no longer waiting (an operator acted).
    pub async fn postpone_recipient(
        &self,
        job_id: &str,
        idx: i64,
        until_ms: i64,
        reason: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recipients SET status = $1, reason = $2, next_attempt_at = $3, updated_at = $4 \
             WHERE job_id = $5 AND idx = $6 AND status IN ('queued', 'deferred')",
        )
        .bind(RecipientStatus::Deferred.as_str())
        .bind(text(reason))
        .bind(until_ms)
        .bind(now_ms)
        .bind(job_id)
        .bind(idx)
        .execute(&self.writer)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds one to the counter `name`.
    pub async fn count(&self, name: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO counters (name, value) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET value = counters.value + 1",
        )
        .bind(name)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Every counter, by name.
    pub async fn counters(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT name, value FROM counters ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|row| Ok((row.try_get("name")?, row.try_get("value")?)))
            .collect()
    }
}
