//! The outbox: mail faxhub sends (receipts to senders, received faxes to their owners). A row
//! is queued in the transaction that decides the mail (with its message already synced in the
//! spool), taken by the postman while due, and ends `sent` (after the relay's 250 or the
//! Maildir rename) or `failed` (a permanent refusal, or too long undeliverable), never deleted
//! before the retention.

use super::tidings::Tiding;
use super::{Store, StoreError, text};
use crate::job::{JobId, Route};
use sqlx::{Any, Row, Transaction};

/// What a mail is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MailKind {
    /// Reports, by their action.
    Delivered,
    Failed,
    Delayed,
    /// A received fax, to the owner of the number dialled.
    Fax,
    /// The one report on a broadcast.
    Broadcast,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Delivered => "delivered",
            MailKind::Failed => "failed",
            MailKind::Delayed => "delayed",
            MailKind::Fax => "fax",
            MailKind::Broadcast => "broadcast",
        }
    }

    pub fn parse(s: &str) -> Option<MailKind> {
        [
            MailKind::Delivered,
            MailKind::Failed,
            MailKind::Delayed,
            MailKind::Fax,
            MailKind::Broadcast,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// A mail to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMail {
    pub id: String,
    pub kind: MailKind,
    pub job_id: Option<JobId>,
    /// `""` for the null return path.
    pub mail_from: String,
    pub rcpt_to: String,
    /// The message, relative to the spool.
    pub path: String,
    pub created_at_ms: i64,
    pub route: Route,
}

/// A queued mail due for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutMail {
    pub id: String,
    pub kind: MailKind,
    pub mail_from: String,
    pub rcpt_to: String,
    pub path: String,
    pub created_at_ms: i64,
    pub tries: u32,
    pub route: Route,
}

/// Queues `mail` unless a mail with its id is queued already (by another node, at once:
/// the database decides); whether it was.
pub(super) async fn insert_mail(
    tx: &mut Transaction<'static, Any>,
    mail: &NewMail,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO outbox (id, kind, job_id, mail_from, rcpt_to, path, created_at, state, next_attempt_at, route) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', $8, $9) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&mail.id)
    .bind(mail.kind.as_str())
    .bind(mail.job_id.as_ref().map(|j| j.as_str().to_string()))
    .bind(text(&mail.mail_from))
    .bind(text(&mail.rcpt_to))
    .bind(&mail.path)
    .bind(mail.created_at_ms)
    .bind(mail.created_at_ms)
    .bind(mail.route.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

impl Store {
    /// Queues a mail on its own (a received fax). False if a mail with this id exists already.
    pub async fn queue_mail(&self, mail: &NewMail) -> Result<bool, StoreError> {
        let mut tx = self.write_transaction().await?;
        let inserted = insert_mail(&mut tx, mail).await?;
        if inserted {
            self.put_blobs(&mut tx, &[mail.path.as_str()], false)
                .await?;
        }
        tx.commit().await?;
        self.tell(Tiding::Mail).await;
        Ok(inserted)
    }

    /// The reports on job `job` (sent or not), oldest first: id, kind, the spool path of the
    /// message, when it was made.
    pub async fn job_reports(
        &self,
        job: &JobId,
    ) -> Result<Vec<(String, String, String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, path, created_at FROM outbox WHERE job_id = $1 ORDER BY created_at, id",
        )
        .bind(job.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("kind")?,
                    r.try_get("path")?,
                    r.try_get("created_at")?,
                ))
            })
            .collect()
    }

    /// Ids of every mail of `kind` (sent or not).
    pub async fn mail_ids(&self, kind: MailKind) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT id FROM outbox WHERE kind = $1")
            .bind(kind.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("id").map_err(StoreError::from))
            .collect()
    }

    /// Queued mail due by `now_ms`, oldest first, claimed by this node for a lease (another
    /// node's claim that expired counts as none: it stopped before it could say how it went).
    pub async fn mail_due(&self, now_ms: i64, limit: i64) -> Result<Vec<OutMail>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let rows = sqlx::query(&format!(
            "SELECT id, kind, mail_from, rcpt_to, path, created_at, tries, route FROM outbox \
             WHERE state = 'queued' AND next_attempt_at <= $1 \
             AND (lease_until IS NULL OR lease_until < {}) \
             ORDER BY next_attempt_at, created_at LIMIT $2{}",
            self.backend.now_ms(),
            self.backend.skip_locked()
        ))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let claim = format!(
            "UPDATE outbox SET node = $1, lease_until = {} WHERE id = $2",
            self.lease_sql()
        );
        for row in &rows {
            sqlx::query(&claim)
                .bind(&*self.node)
                .bind(row.try_get::<String, _>("id")?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                Ok(OutMail {
                    id: row.try_get("id")?,
                    kind: MailKind::parse(&kind).ok_or(StoreError::Corrupt {
                        column: "outbox.kind",
                        value: kind,
                    })?,
                    mail_from: row.try_get("mail_from")?,
                    rcpt_to: row.try_get("rcpt_to")?,
                    path: row.try_get("path")?,
                    created_at_ms: row.try_get("created_at")?,
                    tries: row.try_get::<i64, _>("tries")? as u32,
                    route: {
                        let route: String = row.try_get("route")?;
                        Route::parse(&route).ok_or(StoreError::Corrupt {
                            column: "outbox.route",
                            value: route,
                        })?
                    },
                })
            })
            .collect()
    }

    /// The earliest time a queued mail is due, if any.
    pub async fn next_mail_due(&self) -> Result<Option<i64>, StoreError> {
        let row =
            sqlx::query("SELECT MIN(next_attempt_at) AS t FROM outbox WHERE state = 'queued'")
                .fetch_one(&self.pool)
                .await?;
        Ok(row.try_get::<Option<i64>, _>("t")?)
    }

    /// The mails were delivered (one transaction).
    pub async fn mails_sent(&self, ids: &[String], now_ms: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        for id in ids {
            sqlx::query("UPDATE outbox SET state = 'sent', tries = tries + 1, sent_at = $1, last_error = NULL WHERE id = $2")
                .bind(now_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Delivery failed for now: try again at `next_ms`, or, with `None`, never (failed).
    pub async fn mail_not_sent(
        &self,
        id: &str,
        next_ms: Option<i64>,
        error: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = CASE WHEN $1 IS NULL THEN 'failed' ELSE 'queued' END, \
             next_attempt_at = COALESCE($2, next_attempt_at), tries = tries + 1, last_error = $3, \
             node = NULL, lease_until = NULL WHERE id = $4",
        )
        .bind(next_ms)
        .bind(next_ms)
        .bind(text(error))
        .bind(id)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Spool paths of every mail in the outbox.
    pub async fn mail_paths(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT path FROM outbox")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("path").map_err(StoreError::from))
            .collect()
    }

    /// Deletes mail sent or failed before `before_ms` and returns their spool paths.
    pub async fn purge_mail(&self, before_ms: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let rows =
            sqlx::query("SELECT path FROM outbox WHERE state <> 'queued' AND created_at < $1")
                .bind(before_ms)
                .fetch_all(&mut *tx)
                .await?;
        let paths = rows
            .iter()
            .map(|r| r.try_get("path").map_err(StoreError::from))
            .collect::<Result<Vec<String>, _>>()?;
        sqlx::query("DELETE FROM outbox WHERE state <> 'queued' AND created_at < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        self.delete_blobs(&mut tx, &paths).await?;
        tx.commit().await?;
        Ok(paths)
    }
}
