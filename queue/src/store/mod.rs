//! The job store: the one source of truth for job and recipient state.
//!
//! SQL lives in this module only; `sqlite.rs` holds what is specific to SQLite (connection
//! options, pragmas). Statements are portable (integer milliseconds for times, text enums) so
//! that PostgreSQL can back the same schema later. Every state change is one transaction; a
//! crash leaves either the old or the new state. Writers in other processes (the CLI while the
//! daemon runs) are serialised by the database; the scheduler re-reads state from here.

pub use gauges::QueueGauges;
mod accounting;
mod blobs;
mod cluster;
mod connect;
mod conversions;
mod destinations;
pub mod events;
mod gauges;
mod insert;
mod outbox;
mod reports;
mod sessions;
mod tidings;
mod tokens;
mod usage;
mod usage_cache;
mod views;

pub use accounting::UsageRow;

use tidings::Tiding;

pub use cluster::{NodeView, Notifications, Reclaimed, Role};
pub use connect::{Backend, StoreConfig, Target, redacted};
pub use conversions::Conversion;
pub use outbox::{MailKind, NewMail, OutMail};
pub use reports::{Mark, ReportCandidate, ReportSource};
pub use sessions::SessionRow;
pub use tokens::TokenRow;
pub use views::{AttemptView, JobView, PageQuery, RecipientView};

use crate::dialplan::FaxNumber;
use crate::job::{JobId, Notify, Origin, Ret};
use crate::progress::CallProgress;
use crate::schedule::Priority;
use crate::state::{
    ActionEffect, ConversionState, OperatorAction, RecipientStatus, operator_effect,
};
use crate::status::EnhancedStatus;
use sqlx::{Any, AnyPool, Row};

/// Ends the call of a `sending` recipient (`row`: job_id, idx, number, progress) as
/// interrupted, with the pages its receiver confirmed so far, and makes the recipient due again
/// now; the job and number.
async fn interrupt(
    tx: &mut sqlx::Transaction<'static, Any>,
    row: &sqlx::any::AnyRow,
    reason: &str,
    now_ms: i64,
) -> Result<(JobId, String), StoreError> {
    let job_id: String = row.try_get("job_id")?;
    let idx: i64 = row.try_get("idx")?;
    let number: String = row.try_get("number")?;
    let progress: Option<CallProgress> = row
        .try_get::<Option<String>, _>("progress")?
        .and_then(|p| serde_json::from_str(&p).ok());
    let confirmed = progress
        .as_ref()
        .map_or(0, |p| i64::from(p.pages_confirmed));
    sqlx::query(
        "UPDATE attempts SET ended_at = $1, status_code = $2, reason = $3, pages_sent = $4, call = $5 \
         WHERE job_id = $6 AND rcpt_idx = $7 AND ended_at IS NULL",
    )
    .bind(now_ms)
    .bind(EnhancedStatus::EXPIRED.to_string())
    .bind(reason)
    .bind(confirmed)
    .bind(progress.and_then(|p| serde_json::to_string(&p).ok()))
    .bind(&job_id)
    .bind(idx)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE recipients SET status = 'deferred', tries = tries + 1, status_code = $1, reason = $2, \
         next_attempt_at = $3, updated_at = $4, progress = NULL, node = NULL, lease_until = NULL \
         WHERE job_id = $5 AND idx = $6",
    )
    .bind(EnhancedStatus::EXPIRED.to_string())
    .bind(reason)
    .bind(now_ms)
    .bind(now_ms)
    .bind(&job_id)
    .bind(idx)
    .execute(&mut **tx)
    .await?;
    Ok((JobId::from_stored(job_id), number))
}

/// Rows per multi-row INSERT (well under SQLite's 32,766 and PostgreSQL's 65,535 bound
/// parameters).
const ROWS_PER_STATEMENT: usize = 500;

/// Text as the store keeps it. PostgreSQL's TEXT cannot hold NUL, which hostile input can carry
/// (an encoded word's `=00` in a Subject or display name, an RFC 2231 file name in a conversion's
/// reason, a peer's error text): it is written as U+FFFD on both back ends, so that such a mail
/// is queued and reported, not refused by the database again and again.
pub(super) fn text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

pub(super) fn opt_text(s: &Option<String>) -> Option<String> {
    s.as_deref().map(text)
}

/// How far a (sender, number) pair's `last_at` may lag behind its latest job (the limits look
/// back a day).
const LAST_AT_STEP_MS: i64 = 1_000;

/// `($1, $2), ($3, $4)`: the placeholders of a multi-row `VALUES` of `rows` rows of `columns`.
fn values(rows: usize, columns: usize) -> String {
    values_from(1, rows, columns)
}

/// The same, numbered from `$first`.
fn values_from(first: usize, rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for row in 0..rows {
        out.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..columns {
            if column > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("${}", first + row * columns + column));
        }
        out.push(')');
    }
    out
}
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("job store: {0}")]
    Db(sqlx::Error),
    #[error("job store migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("job store: spool file {0}: {1}")]
    Spool(String, std::io::Error),
    #[error("job store holds a bad value in {column}: {value:?}")]
    Corrupt { column: &'static str, value: String },
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> StoreError {
        connect::note_lost_connection(&e);
        StoreError::Db(e)
    }
}

/// Per sender, numbers faxed for the first time (what `Store::insert_jobs` added).
pub type NewNumbers = std::collections::HashMap<String, u64>;

/// A job to insert, with its recipients.
#[derive(Clone, Debug)]
pub struct NewJob {
    pub id: JobId,
    pub origin: Origin,
    pub return_path: String,
    pub from_header: Option<String>,
    pub subject: Option<String>,
    pub received_at_ms: i64,
    pub env_id: Option<String>,
    pub ret: Option<Ret>,
    pub message_path: String,
    pub size: u64,
    pub recipients: Vec<NewRecipient>,
    /// The agent's item the job was made from (unique), if it came through an agent, or the
    /// API's idempotency key (`api:<token>:<key>`).
    pub source: Option<String>,
    /// A hash of the API request, with its idempotency key.
    pub request_hash: Option<String>,
    /// The billing code the sender gave (`X-Fax-Billing`…), for `faxhub usage`.
    pub billing: Option<String>,
    /// Dispatched before the jobs of lower priority.
    pub priority: Priority,
    /// Held until then (`X-Fax-Send-At`), if that is after `received_at_ms`.
    pub send_at_ms: Option<i64>,
    /// A broadcast: the attachment that is its list (not faxed; one cumulative report).
    pub list_part: Option<String>,
    /// Addresses refused at intake; they follow `recipients` (their indexes continue).
    pub refused: Vec<RefusedRecipient>,
    /// The message itself when it is not in the spool at `message_path`: with several nodes a
    /// message that fits in memory goes to the store only (a node fetches it when it needs it).
    pub message: Option<std::sync::Arc<[u8]>>,
}

/// What a held job's recipients say while they wait.
fn held_reason(at_ms: i64) -> String {
    format!("held until {} (X-Fax-Send-At)", events::rfc3339(at_ms))
}

impl NewJob {
    /// When its recipients may first be called, if the sender held it past its arrival.
    pub fn held_until(&self) -> Option<i64> {
        self.send_at_ms.filter(|at| *at > self.received_at_ms)
    }
}

#[derive(Clone, Debug)]
pub struct NewRecipient {
    pub number: FaxNumber,
    pub address: String,
    pub display_name: Option<String>,
    pub subaddress: Option<String>,
    pub notify: Option<Notify>,
    pub orcpt: Option<String>,
    /// A broadcast's recipient: its row in the list, and the company the row gives.
    pub list_row: Option<u32>,
    pub company: Option<String>,
}

#[cfg(any(test, feature = "test-support"))]
impl NewJob {
    /// For tests: a job from <a@example.com> received at `received_at_ms`, to `numbers` (E.164,
    /// each `NewRecipient::example`), its message at `msg/x.eml`.
    pub fn example(received_at_ms: i64, numbers: &[&str]) -> NewJob {
        NewJob {
            id: JobId::generate(received_at_ms),
            origin: Origin::Smtp,
            return_path: "a@example.com".into(),
            from_header: None,
            subject: Some("s".into()),
            received_at_ms,
            env_id: None,
            ret: None,
            message_path: "msg/x.eml".into(),
            size: 10,
            recipients: numbers.iter().map(|n| NewRecipient::example(n)).collect(),
            source: None,
            request_hash: None,
            billing: None,
            priority: Priority::Normal,
            send_at_ms: None,
            refused: Vec::new(),
            message: None,
            list_part: None,
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
impl NewRecipient {
    /// For tests: `number` (E.164) at `<number>@fax`, asking for no notice in particular.
    pub fn example(number: &str) -> NewRecipient {
        NewRecipient {
            number: FaxNumber::from_e164(number).expect("an E.164 number"),
            address: format!("{number}@fax"),
            display_name: None,
            subaddress: None,
            notify: None,
            orcpt: None,
            list_row: None,
            company: None,
        }
    }
}

/// An address an agent's item names that cannot be sent to (the mail system accepted it before
/// faxhub could refuse it, as SMTP would at RCPT): recorded as a failed recipient with its
/// status and reason, so that the sender's report names it.
#[derive(Clone, Debug)]
pub struct RefusedRecipient {
    pub address: String,
    /// The number, when the address named one (refused by the dial plan).
    pub number: Option<FaxNumber>,
    pub display_name: Option<String>,
    pub notify: Option<Notify>,
    pub orcpt: Option<String>,
    pub status: EnhancedStatus,
    pub reason: String,
    /// A broadcast's row refused (no number, one the dial plan refuses).
    pub list_row: Option<u32>,
}

/// A recipient due for an attempt, with what the scheduler needs to send it.
#[derive(Clone, Debug)]
pub struct DueRecipient {
    pub job_id: JobId,
    pub idx: i64,
    pub number: FaxNumber,
    pub tries: u32,
    pub dials: u32,
    pub received_at_ms: i64,
    pub pages_path: String,
    pub pages: i64,
    /// The job's envelope sender (whose limits the call counts against).
    pub sender: String,
    /// Pages of its set the far end confirmed on earlier calls: the next call sends the rest
    /// behind a continuation page (`resume`); 0 sends the whole fax.
    pub resume_from: u32,
}

/// A recipient's own page set (its cover page, then the job's pages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientPages {
    pub idx: i64,
    pub pages: i64,
    pub pages_path: String,
}

/// A recipient as a cover page names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressee {
    pub idx: i64,
    /// E.164.
    pub number: String,
    pub display_name: Option<String>,
    /// A broadcast row's company.
    pub company: Option<String>,
}

/// The record of one finished attempt, and the state it leaves the recipient in.
#[derive(Clone, Debug)]
pub struct AttemptEnd {
    pub job_id: JobId,
    pub idx: i64,
    pub line: String,
    pub started_at_ms: i64,
    pub ended_at_ms: i64,
    pub status: EnhancedStatus,
    pub reason: String,
    /// Pages this call confirmed (a continuation page counted).
    pub pages_sent: i64,
    /// The page of the recipient's set the call began with (1, or k+1 when it resumed).
    pub first_page: i64,
    /// The fax's pages confirmed so far over every call (`resume::after_call`), and where the
    /// next call begins (0: the whole fax).
    pub confirmed: i64,
    pub resume_from: i64,
    pub new_status: RecipientStatus,
    pub tries: u32,
    pub dials: u32,
    pub next_attempt_at_ms: Option<i64>,
    /// What the call did (the line's last progress), if it got that far.
    pub call: Option<CallProgress>,
}

/// The cluster's rules a call's start is held to (`start_attempt`).
#[derive(Clone, Copy, Debug)]
pub struct CallClaim<'a> {
    pub line: &'a str,
    /// Calls the line may carry at once, across all nodes.
    pub channels: u32,
    pub one_call_per_number: bool,
}

#[cfg(any(test, feature = "test-support"))]
impl CallClaim<'_> {
    /// For tests: a call on `line` with no limit of channels nor numbers.
    pub fn unlimited(line: &str) -> CallClaim<'_> {
        CallClaim {
            line,
            channels: u32::MAX,
            one_call_per_number: false,
        }
    }
}

/// Whether a call may start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Claimed: this node calls.
    Started,
    /// The recipient changed meanwhile (an operator held or cancelled it, another node took it).
    Changed,
    /// A call to the number is in progress (on any node).
    NumberBusy,
    /// The line carries `channels` calls already (across the nodes).
    LineFull,
}

/// What an operator action did to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionReport {
    pub number: String,
    pub effect: ActionEffect,
}

/// What start-up recovery found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    pub interrupted: Vec<(JobId, String)>,
    pub reconvert: usize,
}

#[derive(Clone)]
pub struct Store {
    /// Readers (SQLite's WAL: they never wait for a writer).
    pool: AnyPool,
    /// The one connection this process writes through: its writers queue here, in order,
    /// instead of meeting at the database's locks (SQLite's busy handler sleeps up to 100 ms a
    /// try: intake commits and the scheduler's claims did, under load).
    writer: AnyPool,
    backend: Backend,
    /// This node's name, on the work it claims (`with_node`; "local" by default).
    node: std::sync::Arc<str>,
    /// How long a claim holds without being renewed, in ms.
    lease_ms: i64,
    /// The spool whose files go into the store with their rows (`with_blobs`: several nodes).
    blobs: Option<std::path::PathBuf>,
    /// What RCPT reads of senders' usage (`sender_usage_cached`).
    usage_copies: std::sync::Arc<usage_cache::UsageCache>,
    /// What the other nodes are yet to be told (`tell`).
    tidings: std::sync::Arc<std::sync::Mutex<tidings::Tidings>>,
    /// The webhooks' endpoints and what they want (`events`).
    subscriptions: events::Subscriptions,
    /// Told when events are committed.
    events_added: std::sync::Arc<tokio::sync::Notify>,
}

/// How long a claim holds by default without being renewed.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(30);

impl Store {
    /// A transaction that takes the write lock at once (see `Backend::begin_write`).
    async fn write_transaction(&self) -> Result<sqlx::Transaction<'static, Any>, StoreError> {
        Ok(self.writer.begin_with(self.backend.begin_write()).await?)
    }

    /// Opens (creating and migrating) the SQLite database at `path`.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        Store::connect(&Target::File(path.to_path_buf())).await
    }

    /// Opens the store at `target`, bringing its schema up to date first.
    pub async fn connect(target: &Target) -> Result<Store, StoreError> {
        let (pool, writer) = target.pools().await?;
        let backend = target.backend();
        // A schema newer than this build (a node of the next version migrated it during a
        // rolling upgrade) is not an error: migrations only expand, and a column or table is
        // dropped only in a version after every node stopped using it. On PostgreSQL the
        // migrator holds an advisory lock, so nodes starting together migrate once.
        let mut migrator = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        migrator.set_ignore_missing(true);
        migrator.run(&writer).await?;
        Ok(Store {
            pool,
            writer,
            backend,
            node: "local".into(),
            lease_ms: DEFAULT_LEASE.as_millis() as i64,
            blobs: None,
            usage_copies: Default::default(),
            tidings: Default::default(),
            subscriptions: Default::default(),
            events_added: Default::default(),
        })
    }

    /// The same store, keeping the files of the spool at `root` in the database with the rows
    /// that refer to them (several nodes; `blobs`).
    pub fn with_blobs(mut self, root: &Path) -> Store {
        self.blobs = Some(root.to_path_buf());
        self
    }

    /// The same store, claiming work as node `name` with leases of `lease`.
    pub fn with_node(mut self, name: &str, lease: std::time::Duration) -> Store {
        self.node = name.into();
        self.lease_ms = lease.as_millis() as i64;
        self
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// SQL for "a lease from now": the database's clock plus the lease.
    fn lease_sql(&self) -> String {
        format!("{} + {}", self.backend.now_ms(), self.lease_ms)
    }

    /// The database behind this store.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The job made from the agent's item `source`, if there is one (it was committed and the
    /// item not yet removed when faxhub stopped).
    pub async fn job_by_source(&self, source: &str) -> Result<Option<JobId>, StoreError> {
        Ok(self.job_and_hash_by_source(source).await?.map(|(id, _)| id))
    }

    /// The job made from `source`, with the hash of the request it was made from.
    pub async fn job_and_hash_by_source(
        &self,
        source: &str,
    ) -> Result<Option<(JobId, Option<String>)>, StoreError> {
        let row = sqlx::query("SELECT id, request_hash FROM jobs WHERE source = $1")
            .bind(text(source))
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some((
            JobId::from_stored(row.try_get::<String, _>("id")?),
            row.try_get("request_hash")?,
        )))
    }

    /// Crash recovery, run before any listener accepts: attempts left `sending` become
    /// interrupted attempts and their recipients are deferred (due now); conversions left
    /// `converting` start again.
    pub async fn recover(&self, now_ms: i64) -> Result<Recovery, StoreError> {
        let mut tx = self.write_transaction().await?;
        // on SQLite every call is this node's; on PostgreSQL those of its earlier run (another
        // node's are taken back when their lease expires: `reclaim_expired`)
        let rows = sqlx::query(
            "SELECT job_id, idx, number, progress FROM recipients \
             WHERE status = 'sending' AND (node IS NULL OR node = $1 OR $2)",
        )
        .bind(&*self.node)
        .bind(self.backend == Backend::Sqlite)
        .fetch_all(&mut *tx)
        .await?;
        let mut recovery = Recovery::default();
        let reason = "attempt interrupted: faxhub stopped during the call";
        for row in &rows {
            let (job, number) = interrupt(&mut tx, row, reason, now_ms).await?;
            recovery.interrupted.push((job, number));
        }
        let reconvert = sqlx::query(
            "UPDATE jobs SET conversion = 'pending', node = NULL, lease_until = NULL \
             WHERE conversion = 'converting' AND (node IS NULL OR node = $1 OR $2)",
        )
        .bind(&*self.node)
        .bind(self.backend == Backend::Sqlite)
        .execute(&mut *tx)
        .await?;
        recovery.reconvert = reconvert.rows_affected() as usize;
        tx.commit().await?;
        self.tell(Tiding::Work).await;
        Ok(recovery)
    }

    /// Every spool-relative path the store refers to (messages and page sets).
    pub async fn spool_paths(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT message_path, pages_path FROM jobs")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len() * 2);
        for row in rows {
            out.push(row.try_get::<String, _>("message_path")?);
            if let Some(p) = row.try_get::<Option<String>, _>("pages_path")? {
                out.push(p);
            }
        }
        let own = sqlx::query("SELECT pages_path FROM recipients WHERE pages_path IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        for row in own {
            out.push(row.try_get("pages_path")?);
        }
        Ok(out)
    }

    /// Who a job is for, in order (what a cover page names).
    pub async fn addressees(&self, id: &JobId) -> Result<Vec<Addressee>, StoreError> {
        let rows = sqlx::query(
            "SELECT idx, number, display_name, company FROM recipients \
             WHERE job_id = $1 AND status <> 'failed' ORDER BY idx",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(Addressee {
                    idx: row.try_get("idx")?,
                    number: row.try_get("number")?,
                    display_name: row.try_get("display_name")?,
                    company: row.try_get("company")?,
                })
            })
            .collect()
    }

    /// Recipients of converted jobs that are queued, or deferred and due by `now_ms`: the jobs
    /// of higher priority first, then the oldest job first.
    pub async fn due_recipients(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueRecipient>, StoreError> {
        self.due(now_ms, limit, false).await
    }

    /// [`Store::due_recipients`] less those whose number has a call in progress on any node:
    /// what the scheduler can start when it makes one call per number. Without this, a queue
    /// headed by many faxes to one busy number would hide the others behind it, and every node
    /// would try (and fail) to claim each of them at every look.
    pub async fn due_to_free_numbers(
        &self,
        now_ms: i64,
        limit: i64,
    ) -> Result<Vec<DueRecipient>, StoreError> {
        self.due(now_ms, limit, true).await
    }

    async fn due(
        &self,
        now_ms: i64,
        limit: i64,
        free_numbers_only: bool,
    ) -> Result<Vec<DueRecipient>, StoreError> {
        let free = if free_numbers_only {
            " AND NOT EXISTS (SELECT 1 FROM recipients b WHERE b.number = r.number AND b.status = 'sending')"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            // a held job's retries are counted from when it was let go, not from its arrival
            "SELECT r.job_id, r.idx, r.number, r.tries, r.dials, j.return_path, r.resume_from, \
             CASE WHEN j.send_at > j.received_at THEN j.send_at ELSE j.received_at END AS received_at, \
             COALESCE(r.pages_path, j.pages_path) AS pages_path, COALESCE(r.pages, j.pages) AS pages \
             FROM recipients r JOIN jobs j ON j.id = r.job_id \
             WHERE j.conversion = 'converted' AND (r.status = 'queued' OR (r.status = 'deferred' AND r.next_attempt_at <= $1)){free} \
             ORDER BY j.priority DESC, j.received_at, r.idx LIMIT $2",
        ))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|row| {
                let number: String = row.try_get("number")?;
                Ok(DueRecipient {
                    job_id: JobId::from_stored(row.try_get("job_id")?),
                    idx: row.try_get("idx")?,
                    number: FaxNumber::from_e164(&number).ok_or(StoreError::Corrupt {
                        column: "recipients.number",
                        value: number,
                    })?,
                    tries: row.try_get::<i64, _>("tries")? as u32,
                    dials: row.try_get::<i64, _>("dials")? as u32,
                    received_at_ms: row.try_get("received_at")?,
                    pages_path: row
                        .try_get::<Option<String>, _>("pages_path")?
                        .unwrap_or_default(),
                    pages: row.try_get::<Option<i64>, _>("pages")?.unwrap_or(0),
                    sender: row.try_get("return_path")?,
                    resume_from: row.try_get::<i64, _>("resume_from")?.max(0) as u32,
                })
            })
            .collect()
    }

    /// The earliest `next_attempt_at` of a deferred recipient, if any.
    pub async fn next_due_at(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) AS t FROM recipients WHERE status = 'deferred'",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("t")?)
    }

    /// Marks a due recipient `sending` (this node's, with a lease) and opens its attempt
    /// record, if the cluster's rules allow the call: no other call to its number anywhere
    /// (when `one_call_per_number`), fewer than `channels` calls on the line across all nodes.
    /// On PostgreSQL the check and the claim hold advisory locks on the number and the line
    /// (taken in that order), so that two nodes cannot both pass it.
    pub async fn start_attempt(
        &self,
        due: &DueRecipient,
        claim: &CallClaim<'_>,
        now_ms: i64,
    ) -> Result<Start, StoreError> {
        let line = claim.line;
        let mut tx = self.write_transaction().await?;
        if self.backend == Backend::Postgres {
            for key in [
                format!("number {}", due.number.as_str()),
                format!("line {line}"),
            ] {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if claim.one_call_per_number {
            let calls: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM recipients WHERE number = $1 AND status = 'sending'",
            )
            .bind(due.number.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if calls > 0 {
                tx.rollback().await?;
                return Ok(Start::NumberBusy);
            }
        }
        let on_line: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM recipients WHERE line = $1 AND status = 'sending'",
        )
        .bind(line)
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if on_line >= i64::from(claim.channels) {
            tx.rollback().await?;
            return Ok(Start::LineFull);
        }
        let updated = sqlx::query(&format!(
            "UPDATE recipients SET status = 'sending', updated_at = $1, progress = NULL, \
             node = $2, line = $3, lease_until = {} \
             WHERE job_id = $4 AND idx = $5 AND (status = 'queued' OR status = 'deferred')",
            self.lease_sql()
        ))
        .bind(now_ms)
        .bind(&*self.node)
        .bind(line)
        .bind(due.job_id.as_str())
        .bind(due.idx)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(Start::Changed);
        }
        let n: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM attempts WHERE job_id = $1 AND rcpt_idx = $2")
                .bind(due.job_id.as_str())
                .bind(due.idx)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        sqlx::query(
            "INSERT INTO attempts (job_id, rcpt_idx, n, line, started_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(due.job_id.as_str())
        .bind(due.idx)
        .bind(n + 1)
        .bind(line)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        // what the sender's limits count (`sender_usage`)
        sqlx::query("INSERT INTO sender_calls (sender, started_at, pages) VALUES ($1, $2, $3)")
            .bind(&due.sender)
            .bind(now_ms)
            .bind(due.pages)
            .execute(&mut *tx)
            .await?;
        let dialing = events::Event::new(
            events::EventType::Dialing,
            serde_json::json!({
                "fax": due.job_id.as_str(), "recipient": due.idx, "number": due.number.as_str(),
                "line": line, "attempt": n + 1, "pages": due.pages,
            }),
        );
        self.add_events(&mut tx, &[dialing], now_ms).await?;
        tx.commit().await?;
        self.events_committed();
        self.usage_copies.update(&due.sender, |usage| {
            usage.calls += 1;
            usage.pages += due.pages;
        });
        Ok(Start::Started)
    }

    /// What the call in progress to recipient `idx` of `job` has done so far, while it is
    /// `sending`; shown by `queue show` and followed by `queue watch`.
    /// When the receiver confirmed a page (`page_confirmed`, at `now_ms`), a
    /// `fax.page_confirmed` event is written with it.
    pub async fn set_progress(
        &self,
        job: &JobId,
        idx: i64,
        progress: &CallProgress,
        page_confirmed: Option<i64>,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(progress).map_err(|e| StoreError::Corrupt {
            column: "recipients.progress",
            value: e.to_string(),
        })?;
        let mut tx = self.write_transaction().await?;
        let updated = sqlx::query(&format!(
            "UPDATE recipients SET progress = $1, lease_until = {} \
             WHERE job_id = $2 AND idx = $3 AND status = 'sending' AND node = $4",
            self.lease_sql()
        ))
        .bind(json)
        .bind(job.as_str())
        .bind(idx)
        .bind(&*self.node)
        .execute(&mut *tx)
        .await?;
        if let Some(now_ms) = page_confirmed.filter(|_| updated.rows_affected() == 1) {
            let event = events::Event::new(
                events::EventType::PageConfirmed,
                serde_json::json!({
                    "fax": job.as_str(), "recipient": idx,
                    "pages_confirmed": progress.pages_confirmed, "pages": progress.pages,
                    "remote_ident": progress.remote_ident,
                }),
            );
            self.add_events(&mut tx, &[event], now_ms).await?;
        }
        tx.commit().await?;
        self.events_committed();
        Ok(())
    }

    /// Closes an attempt and moves the recipient to its new state, in one transaction. A cancel
    /// requested during the call applies now unless the fax went through. `None` if the call is
    /// no longer this node's: its lease expired and another node took the recipient back (and
    /// recorded the attempt as interrupted); nothing is recorded then.
    pub async fn end_attempt(
        &self,
        end: &AttemptEnd,
    ) -> Result<Option<RecipientStatus>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let row = sqlx::query(
            "SELECT cancel_requested FROM recipients \
             WHERE job_id = $1 AND idx = $2 AND status = 'sending' AND node = $3",
        )
        .bind(end.job_id.as_str())
        .bind(end.idx)
        .bind(&*self.node)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let cancel_requested: i64 = row.try_get("cancel_requested")?;
        let (status, next) = if cancel_requested != 0 && end.new_status != RecipientStatus::Done {
            (RecipientStatus::Cancelled, None)
        } else {
            (end.new_status, end.next_attempt_at_ms)
        };
        sqlx::query(
            "UPDATE attempts SET ended_at = $1, status_code = $2, reason = $3, pages_sent = $4, call = $5, \
             first_page = $6 WHERE job_id = $7 AND rcpt_idx = $8 AND ended_at IS NULL",
        )
        .bind(end.ended_at_ms)
        .bind(end.status.to_string())
        .bind(text(&end.reason))
        .bind(end.pages_sent)
        .bind(end.call.as_ref().and_then(|c| serde_json::to_string(c).ok()))
        .bind(end.first_page)
        .bind(end.job_id.as_str())
        .bind(end.idx)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE recipients SET status = $1, tries = $2, dials = $3, pages_sent = $4, status_code = $5, reason = $6, \
             next_attempt_at = $7, cancel_requested = 0, updated_at = $8, progress = NULL, node = NULL, lease_until = NULL, \
             resume_from = $9 WHERE job_id = $10 AND idx = $11",
        )
        .bind(status.as_str())
        .bind(end.tries as i64)
        .bind(end.dials as i64)
        .bind(end.confirmed)
        .bind(end.status.to_string())
        .bind(text(&end.reason))
        .bind(next)
        .bind(end.ended_at_ms)
        .bind(end.resume_from)
        .bind(end.job_id.as_str())
        .bind(end.idx)
        .execute(&mut *tx)
        .await?;
        finish_job_if_final(&mut tx, &end.job_id, end.ended_at_ms).await?;
        let kind = match status {
            RecipientStatus::Done => events::EventType::Delivered,
            RecipientStatus::Deferred | RecipientStatus::Queued => events::EventType::Deferred,
            _ => events::EventType::Failed,
        };
        let call = end.call.clone().unwrap_or_default();
        let event = events::Event::new(
            kind,
            serde_json::json!({
                "fax": end.job_id.as_str(), "recipient": end.idx, "status": status.as_str(),
                "status_code": end.status.to_string(), "reason": end.reason,
                "pages_sent": end.confirmed, "remote_ident": call.remote_ident,
                "line": end.line, "next_attempt_at": next.map(events::rfc3339),
            }),
        );
        self.add_events(&mut tx, &[event], end.ended_at_ms).await?;
        tx.commit().await?;
        self.events_committed();
        self.tell(Tiding::Outcome).await;
        Ok(Some(status))
    }

    /// Applies an operator action to a job's recipients (all, or those with `number`).
    /// Returns `None` if there is no such job.
    pub async fn operator_action(
        &self,
        id: &JobId,
        number: Option<&FaxNumber>,
        action: OperatorAction,
        now_ms: i64,
    ) -> Result<Option<Vec<ActionReport>>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let exists = sqlx::query("SELECT id FROM jobs WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT idx, number, status FROM recipients WHERE job_id = $1 ORDER BY idx",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let mut reports = Vec::new();
        for row in rows {
            let idx: i64 = row.try_get("idx")?;
            let rcpt_number: String = row.try_get("number")?;
            if number.is_some_and(|n| n.as_str() != rcpt_number) {
                continue;
            }
            let status_text: String = row.try_get("status")?;
            let status = RecipientStatus::parse(&status_text).ok_or(StoreError::Corrupt {
                column: "recipients.status",
                value: status_text,
            })?;
            let effect = operator_effect(action, status);
            match effect {
                ActionEffect::Becomes(new) => {
                    let reset = action == OperatorAction::Retry;
                    sqlx::query(
                        "UPDATE recipients SET status = $1, next_attempt_at = NULL, updated_at = $2, \
                         tries = CASE WHEN $3 THEN 0 ELSE tries END, dials = CASE WHEN $4 THEN 0 ELSE dials END, \
                         reported = CASE WHEN $5 THEN NULL ELSE reported END \
                         WHERE job_id = $6 AND idx = $7",
                    )
                    .bind(new.as_str())
                    .bind(now_ms)
                    .bind(reset)
                    .bind(reset)
                    .bind(reset)
                    .bind(id.as_str())
                    .bind(idx)
                    .execute(&mut *tx)
                    .await?;
                    if new == RecipientStatus::Cancelled {
                        let cancelled = events::Event::new(
                            events::EventType::Failed,
                            serde_json::json!({
                                "fax": id.as_str(), "recipient": idx, "number": rcpt_number,
                                "status": "cancelled", "status_code": EnhancedStatus::CANCELLED.to_string(),
                                "reason": "cancelled by the operator", "pages_sent": 0,
                            }),
                        );
                        self.add_events(&mut tx, &[cancelled], now_ms).await?;
                    }
                }
                ActionEffect::AfterAttempt => {
                    sqlx::query("UPDATE recipients SET cancel_requested = 1, updated_at = $1 WHERE job_id = $2 AND idx = $3")
                        .bind(now_ms)
                        .bind(id.as_str())
                        .bind(idx)
                        .execute(&mut *tx)
                        .await?;
                }
                ActionEffect::Refused(_) => {}
            }
            reports.push(ActionReport {
                number: rcpt_number,
                effect,
            });
        }
        if action == OperatorAction::Retry
            && reports
                .iter()
                .any(|r| matches!(r.effect, ActionEffect::Becomes(_)))
        {
            // A job whose conversion failed is converted again (the tool may have been fixed),
            // and one whose conversion waits after the server's trouble, now.
            sqlx::query("UPDATE jobs SET finished_at = NULL, convert_after = NULL, conversion = CASE WHEN conversion = 'failed' THEN 'pending' ELSE conversion END WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        finish_job_if_final(&mut tx, id, now_ms).await?;
        tx.commit().await?;
        self.events_committed();
        self.tell(Tiding::Work).await;
        Ok(Some(reports))
    }

    /// Deletes jobs finished before `before_ms` (with their recipients and attempts) and
    /// returns the spool-relative paths of their files, for the caller to remove.
    pub async fn purge_finished(&self, before_ms: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.write_transaction().await?;
        let rows = sqlx::query("SELECT id, message_path, pages_path FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1")
            .bind(before_ms)
            .fetch_all(&mut *tx)
            .await?;
        let mut files = Vec::with_capacity(rows.len() * 2);
        for row in &rows {
            files.push(row.try_get::<String, _>("message_path")?);
            if let Some(p) = row.try_get::<Option<String>, _>("pages_path")? {
                files.push(p);
            }
        }
        let own = sqlx::query(
            "SELECT r.pages_path FROM recipients r JOIN jobs j ON j.id = r.job_id \
             WHERE r.pages_path IS NOT NULL AND j.finished_at IS NOT NULL AND j.finished_at < $1",
        )
        .bind(before_ms)
        .fetch_all(&mut *tx)
        .await?;
        for row in &own {
            files.push(row.try_get("pages_path")?);
        }
        sqlx::query("DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1")
            .bind(before_ms)
            .execute(&mut *tx)
            .await?;
        // the senders' limits look back a day: what is older than the retention goes too
        for forget in [
            "DELETE FROM sender_calls WHERE started_at < $1",
            "DELETE FROM sender_numbers WHERE last_at < $1",
        ] {
            sqlx::query(forget)
                .bind(before_ms)
                .execute(&mut *tx)
                .await?;
        }
        self.delete_blobs(&mut tx, &files).await?;
        tx.commit().await?;
        Ok(files)
    }

    /// One job with its recipients and their attempts.
    pub async fn job(&self, id: &JobId) -> Result<Option<JobView>, StoreError> {
        views::load_job(&self.pool, id).await
    }

    /// Jobs still in the queue (or all of them, finished ones too), oldest first.
    pub async fn jobs(&self, include_finished: bool) -> Result<Vec<JobView>, StoreError> {
        views::load_jobs(&self.pool, include_finished).await
    }

    /// A page of jobs (`PageQuery`), at most `limit` (the API's list).
    pub async fn jobs_page(&self, query: &PageQuery) -> Result<Vec<JobView>, StoreError> {
        views::load_page(&self.pool, query).await
    }
}

/// Stamps `finished_at` once every recipient of the job is final.
async fn finish_job_if_final(
    tx: &mut sqlx::Transaction<'_, Any>,
    id: &JobId,
    now_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE jobs SET finished_at = $1 WHERE id = $2 AND finished_at IS NULL AND conversion IN ('converted', 'failed') \
         AND NOT EXISTS (SELECT 1 FROM recipients WHERE job_id = $3 AND status NOT IN ('done', 'failed', 'cancelled'))",
    )
    .bind(now_ms)
    .bind(id.as_str())
    .bind(id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;
