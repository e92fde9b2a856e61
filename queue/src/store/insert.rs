//! Inserting the intake's jobs (group commit): all of a batch or none, with multi-row statements
//! so that the round trips to the database are per batch, not per job.
//!
//! On PostgreSQL a batch that fits (no refused recipients, every message in memory or no spool
//! in the store, a few thousand parameters) is one statement of data-modifying CTEs, atomic by
//! itself: one round trip instead of seven (BEGIN, jobs, recipients, the senders' numbers twice,
//! blobs, COMMIT), which with several nodes, each committing small batches, was most of the
//! database's work per message. Otherwise, and on SQLite (in process: a round trip costs
//! nothing there), one transaction of several statements.
//!
//! Either way the senders' numbers (`sender_numbers`, what the limits count) are kept: a new
//! pair is inserted (and counted as a new destination); a known one has its `last_at` moved only
//! when it is `LAST_AT_STEP_MS` behind, so that a flood of one sender to one number does not
//! make every commit of every node wait for that one row. One row per pair in a statement:
//! PostgreSQL refuses to update a row twice in one.

use super::blobs::CHUNK;
use super::events::{Event, EventType};
use super::tidings::Tiding;
use super::{
    Any, Backend, ConversionState, LAST_AT_STEP_MS, NewJob, NewNumbers, NewRecipient,
    ROWS_PER_STATEMENT, Store, StoreError, opt_text, text, values, values_from,
};
use crate::dialplan::FaxNumber;
use crate::job::Ret;
use crate::state::RecipientStatus;
use sqlx::Row;
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use std::collections::BTreeMap;

type Q<'q> = Query<'q, Any, AnyArguments<'q>>;

const JOB_COLUMNS: &str = "id, origin, return_path, from_header, subject, received_at, env_id, \
     ret, message_path, size, conversion, source, request_hash, billing, priority, send_at, list_part";
/// Parameters of one job row: one per column of `JOB_COLUMNS`.
const JOB_PARAMETERS: usize = 17;
const RECIPIENT_COLUMNS: &str = "job_id, idx, number, address, display_name, subaddress, notify, \
     orcpt, status, updated_at, next_attempt_at, reason, list_row, company";
/// Parameters of one recipient row: one per column of `RECIPIENT_COLUMNS`.
const RECIPIENT_PARAMETERS: usize = 14;
/// Parameters in the one statement of a batch, at most (PostgreSQL takes 65,535).
const MAX_PARAMETERS: usize = 30_000;
/// Bytes of messages in the one statement of a batch, at most.
const MAX_BYTES: usize = 4 * CHUNK;

/// A recipient row: its job, its index, the recipient.
type RecipientRow<'a> = (&'a NewJob, usize, &'a NewRecipient);

/// Per (sender, number): the first and last time the rows name the pair.
type Pairs<'a> = BTreeMap<(String, &'a str), (i64, i64)>;

fn bind_jobs<'q>(mut q: Q<'q>, jobs: &'q [NewJob]) -> Q<'q> {
    for job in jobs {
        q = q
            .bind(job.id.as_str())
            .bind(job.origin.as_str())
            .bind(text(&job.return_path))
            .bind(opt_text(&job.from_header))
            .bind(opt_text(&job.subject))
            .bind(job.received_at_ms)
            .bind(opt_text(&job.env_id))
            .bind(job.ret.map(Ret::as_str))
            .bind(&job.message_path)
            .bind(job.size as i64)
            .bind(ConversionState::Pending.as_str())
            .bind(opt_text(&job.source))
            .bind(opt_text(&job.request_hash))
            .bind(opt_text(&job.billing))
            .bind(job.priority.rank())
            .bind(job.send_at_ms)
            .bind(opt_text(&job.list_part));
    }
    q
}

fn bind_recipients<'q>(mut q: Q<'q>, rows: &[RecipientRow<'q>]) -> Q<'q> {
    for (job, idx, r) in rows {
        q = q
            .bind(job.id.as_str())
            .bind(*idx as i64)
            .bind(r.number.as_str())
            .bind(text(&r.address))
            .bind(opt_text(&r.display_name))
            .bind(opt_text(&r.subaddress))
            .bind(r.notify.map(|n| n.to_string()))
            .bind(opt_text(&r.orcpt))
            .bind(match job.held_until() {
                Some(_) => RecipientStatus::Deferred.as_str(),
                None => RecipientStatus::Queued.as_str(),
            })
            .bind(job.received_at_ms)
            // a held job waits as a retry does, with the reason said
            .bind(job.held_until())
            .bind(job.held_until().map(super::held_reason))
            .bind(r.list_row.map(i64::from))
            .bind(opt_text(&r.company));
    }
    q
}

fn recipient_rows(jobs: &[NewJob]) -> Vec<RecipientRow<'_>> {
    jobs.iter()
        .flat_map(|job| {
            job.recipients
                .iter()
                .enumerate()
                .map(move |(idx, r)| (job, idx, r))
        })
        .collect()
}

fn pairs<'a>(rows: &[RecipientRow<'a>]) -> Pairs<'a> {
    let mut seen = Pairs::new();
    for (job, _, r) in rows {
        let at = seen
            .entry((text(&job.return_path), r.number.as_str()))
            .or_insert((job.received_at_ms, job.received_at_ms));
        at.0 = at.0.min(job.received_at_ms);
        at.1 = at.1.max(job.received_at_ms);
    }
    seen
}

/// `INSERT` of the pairs `first..` (4 columns each), new ones returning their sender.
fn insert_pairs_sql(first: usize, n: usize) -> String {
    format!(
        "INSERT INTO sender_numbers (sender, number, first_at, last_at) VALUES {} \
         ON CONFLICT (sender, number) DO NOTHING RETURNING sender",
        values_from(first, n, 4)
    )
}

fn bind_insert_pairs<'q>(mut q: Q<'q>, seen: &'q Pairs<'q>) -> Q<'q> {
    for ((sender, number), (first, last)) in seen {
        q = q
            .bind(sender.as_str())
            .bind(*number)
            .bind(*first)
            .bind(*last);
    }
    q
}

/// `UPDATE` of the known pairs' `last_at` from rows `first..` (3 columns each).
fn update_pairs_sql(first: usize, n: usize) -> String {
    format!(
        "WITH v (sender, number, last_at) AS (VALUES {}) \
         UPDATE sender_numbers SET last_at = v.last_at FROM v \
         WHERE sender_numbers.sender = v.sender AND sender_numbers.number = v.number \
         AND sender_numbers.last_at < v.last_at - {LAST_AT_STEP_MS}",
        values_from(first, n, 3)
    )
}

fn bind_update_pairs<'q>(mut q: Q<'q>, seen: &'q Pairs<'q>) -> Q<'q> {
    for ((sender, number), (_, last)) in seen {
        q = q.bind(sender.as_str()).bind(*number).bind(*last);
    }
    q
}

/// Counts the senders of the new pairs returned.
fn count_new(rows: Vec<sqlx::any::AnyRow>, into: &mut NewNumbers) -> Result<(), StoreError> {
    for row in rows {
        *into.entry(row.try_get("sender")?).or_insert(0) += 1;
    }
    Ok(())
}

/// A `fax.queued` event for each job, and a `fax.failed` for each recipient refused at intake.
fn queued_events(jobs: &[NewJob]) -> Vec<Event> {
    let mut events = Vec::new();
    for job in jobs {
        events.push(Event::new(
            EventType::Queued,
            serde_json::json!({
                "fax": job.id.as_str(), "sender": job.return_path, "origin": job.origin.as_str(),
                "numbers": job.recipients.iter().map(|r| r.number.as_str()).collect::<Vec<_>>(),
            }),
        ));
        for (n, r) in job.refused.iter().enumerate() {
            events.push(Event::new(
                EventType::Failed,
                serde_json::json!({
                    "fax": job.id.as_str(), "recipient": job.recipients.len() + n,
                    "number": r.number.as_ref().map(FaxNumber::as_str), "status": "failed",
                    "status_code": r.status.to_string(), "reason": r.reason, "pages_sent": 0,
                }),
            ));
        }
    }
    events
}

impl Store {
    /// Inserts jobs, all or none (see the module's contract). Returns, per sender, how many
    /// numbers the jobs name that none of its jobs in the store named before.
    pub async fn insert_jobs(&self, jobs: &[NewJob]) -> Result<NewNumbers, StoreError> {
        let new_numbers = if self.fits_one_statement(jobs) {
            self.insert_at_once(jobs).await?
        } else {
            self.insert_in_transaction(jobs).await?
        };
        for job in jobs {
            self.usage_copies.update(&job.return_path, |usage| {
                usage
                    .numbers
                    .extend(job.recipients.iter().map(|r| r.number.as_str().to_string()));
            });
        }
        self.tell(Tiding::Jobs(jobs.len() as u64)).await;
        Ok(new_numbers)
    }

    /// Whether `jobs` can go in one statement (PostgreSQL; see the module's contract).
    fn fits_one_statement(&self, jobs: &[NewJob]) -> bool {
        let recipients: usize = jobs.iter().map(|j| j.recipients.len()).sum();
        // with several nodes, every message in memory, each one chunk, a few MiB in all
        let held: Option<usize> = jobs
            .iter()
            .map(|j| j.message.as_ref().map(|m| m.len()).filter(|n| *n < CHUNK))
            .sum();
        self.backend == Backend::Postgres
            && !self.has_subscribers()
            && !jobs.is_empty()
            && jobs.len() <= ROWS_PER_STATEMENT
            && (1..=ROWS_PER_STATEMENT).contains(&recipients)
            && jobs.iter().all(|j| j.refused.is_empty())
            && match self.blobs {
                // a message in memory has nowhere to go: the transaction refuses it
                None => jobs.iter().all(|j| j.message.is_none()),
                Some(_) => held.is_some_and(|bytes| bytes <= MAX_BYTES),
            }
            && jobs.len() * 16 + recipients * 17 <= MAX_PARAMETERS
    }

    /// One statement: the jobs, their recipients, the senders' numbers and (with several
    /// nodes) the messages.
    async fn insert_at_once(&self, jobs: &[NewJob]) -> Result<NewNumbers, StoreError> {
        let rows = recipient_rows(jobs);
        let seen = pairs(&rows);
        // the placeholders of each part, numbered on from the last
        let mut next = 1;
        let mut take = |n: usize, columns: usize| {
            next += n * columns;
            next - n * columns
        };
        let (j, r) = (
            take(jobs.len(), JOB_PARAMETERS),
            take(rows.len(), RECIPIENT_PARAMETERS),
        );
        let blobs = self.blobs.is_some();
        let b = if blobs { take(jobs.len(), 3) } else { 0 };
        let (u, i) = (take(seen.len(), 3), take(seen.len(), 4));
        let mut sql = format!(
            "WITH j AS (INSERT INTO jobs ({JOB_COLUMNS}) VALUES {}), \
             r AS (INSERT INTO recipients ({RECIPIENT_COLUMNS}) VALUES {}), ",
            values_from(j, jobs.len(), JOB_PARAMETERS),
            values_from(r, rows.len(), RECIPIENT_PARAMETERS),
        );
        if blobs {
            sql.push_str(&format!(
                "b AS (INSERT INTO blobs (name, seq, data) VALUES {}), ",
                values_from(b, jobs.len(), 3)
            ));
        }
        sql.push_str(&format!(
            "u AS ({}) {}",
            update_pairs_sql(u, seen.len()),
            insert_pairs_sql(i, seen.len())
        ));
        let mut q = bind_recipients(bind_jobs(sqlx::query(&sql), jobs), &rows);
        if blobs {
            for job in jobs {
                let message = job.message.as_deref().unwrap_or_default().to_vec();
                q = q.bind(job.message_path.as_str()).bind(0i64).bind(message);
            }
        }
        let q = bind_insert_pairs(bind_update_pairs(q, &seen), &seen);
        let mut new_numbers = NewNumbers::new();
        count_new(q.fetch_all(&self.writer).await?, &mut new_numbers)?;
        Ok(new_numbers)
    }

    /// One transaction of several statements (SQLite, and batches too big for one).
    async fn insert_in_transaction(&self, jobs: &[NewJob]) -> Result<NewNumbers, StoreError> {
        let mut new_numbers = NewNumbers::new();
        let mut tx = self.write_transaction().await?;
        for chunk in jobs.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO jobs ({JOB_COLUMNS}) VALUES {}",
                values(chunk.len(), JOB_PARAMETERS)
            );
            bind_jobs(sqlx::query(&sql), chunk)
                .execute(&mut *tx)
                .await?;
        }
        let rows = recipient_rows(jobs);
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO recipients ({RECIPIENT_COLUMNS}) VALUES {}",
                values(chunk.len(), RECIPIENT_PARAMETERS)
            );
            bind_recipients(sqlx::query(&sql), chunk)
                .execute(&mut *tx)
                .await?;
            let seen = pairs(chunk);
            let sql = insert_pairs_sql(1, seen.len());
            count_new(
                bind_insert_pairs(sqlx::query(&sql), &seen)
                    .fetch_all(&mut *tx)
                    .await?,
                &mut new_numbers,
            )?;
            let sql = update_pairs_sql(1, seen.len());
            bind_update_pairs(sqlx::query(&sql), &seen)
                .execute(&mut *tx)
                .await?;
        }
        for job in jobs {
            for (n, r) in job.refused.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO recipients (job_id, idx, number, address, display_name, notify, orcpt, status, status_code, reason, updated_at, list_row) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(job.id.as_str())
                .bind((job.recipients.len() + n) as i64)
                .bind(r.number.as_ref().map_or("", FaxNumber::as_str))
                .bind(text(&r.address))
                .bind(opt_text(&r.display_name))
                .bind(r.notify.map(|n| n.to_string()))
                .bind(opt_text(&r.orcpt))
                .bind(RecipientStatus::Failed.as_str())
                .bind(r.status.to_string())
                .bind(text(&r.reason))
                .bind(job.received_at_ms)
                .bind(r.list_row.map(i64::from))
                .execute(&mut *tx)
                .await?;
            }
        }
        // the messages in the spool, and those in memory (several nodes)
        let (held, spooled): (Vec<&NewJob>, Vec<&NewJob>) =
            jobs.iter().partition(|j| j.message.is_some());
        let spooled: Vec<&str> = spooled.iter().map(|j| j.message_path.as_str()).collect();
        self.put_blobs(&mut tx, &spooled, false).await?;
        let held: Vec<(&str, &[u8])> = held
            .iter()
            .filter_map(|j| Some((j.message_path.as_str(), j.message.as_deref()?)))
            .collect();
        self.put_blob_bytes(&mut tx, &held).await?;
        if self.has_subscribers() {
            let events = queued_events(jobs);
            let at = jobs
                .iter()
                .map(|j| j.received_at_ms)
                .max()
                .unwrap_or_default();
            self.add_events(&mut tx, &events, at).await?;
        }
        tx.commit().await?;
        self.events_committed();
        Ok(new_numbers)
    }
}
