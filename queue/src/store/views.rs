//! Read models for `faxhub queue`: jobs with their recipients and attempts, shaped as the JSON
//! that scripts rely on. Field names are a contract (issue 2) and are kept stable.

use super::StoreError;
use crate::job::{JobId, rfc3339};
use crate::progress::CallProgress;
use crate::state::{ConversionState, JobPhase, RecipientStatus};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};
use std::collections::HashMap;

#[derive(Clone, Debug, Serialize)]
pub struct JobView {
    pub id: String,
    pub origin: String,
    pub sender: String,
    pub subject: Option<String>,
    pub received_at: String,
    pub phase: JobPhase,
    pub pages: Option<i64>,
    pub recipients: Vec<RecipientView>,
    pub size: i64,
    pub env_id: Option<String>,
    pub ret: Option<String>,
    pub finished_at: Option<String>,
    /// The agent's item the job was made from (`exchange:…`, `groupwise:…`, `imap:…`,
    /// `hotfolder:…`); absent for SMTP and the CLI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The billing code the sender gave, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing: Option<String>,
    /// `high`, `normal` or `low`.
    pub priority: &'static str,
    /// When the sender asked it to be sent, if it was held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    /// A broadcast: the attachment that is its list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecipientView {
    pub number: String,
    pub address: String,
    pub display_name: Option<String>,
    pub status: RecipientStatus,
    pub attempts: i64,
    pub tries: i64,
    pub dials: i64,
    /// Pages of this recipient's own page set (its cover page and the job's pages), if it has one.
    #[serde(rename = "pages", skip_serializing_if = "Option::is_none")]
    pub own_pages: Option<i64>,
    pub pages_sent: i64,
    pub status_code: Option<String>,
    pub reason: Option<String>,
    pub next_attempt_at: Option<String>,
    pub notify: Option<String>,
    pub orcpt: Option<String>,
    /// What the call in progress has done so far (while `sending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<CallProgress>,
    /// The node making the call in progress, and its line (while `sending`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attempt_log: Vec<AttemptView>,
    /// A broadcast's recipient: its row in the list, and the company the row gives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_row: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct AttemptView {
    pub n: i64,
    pub line: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status_code: Option<String>,
    pub reason: Option<String>,
    pub pages_sent: i64,
    /// The page of the recipient's set the call began with: 1, or k+1 when it resumed after a
    /// dropped call behind a continuation page (then `pages_sent` counts that page too).
    pub first_page: i64,
    /// What the call did: the far end's ident, speed, ECM, transport (as `progress`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call: Option<CallProgress>,
}

const JOB_COLUMNS: &str = "id, origin, return_path, subject, received_at, conversion, pages, size, env_id, ret, finished_at, source, billing, priority, send_at, list_part";

pub(super) async fn load_job(pool: &AnyPool, id: &JobId) -> Result<Option<JobView>, StoreError> {
    let Some(row) = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id.as_str())
        .fetch_optional(pool)
        .await?
    else {
        return Ok(None);
    };
    let mut recipients = load_recipients(pool, Filter::Job(id)).await?;
    let attempts = sqlx::query(
        "SELECT rcpt_idx, n, line, started_at, ended_at, status_code, reason, pages_sent, call, first_page FROM attempts WHERE job_id = $1 ORDER BY rcpt_idx, n",
    )
    .bind(id.as_str())
    .fetch_all(pool)
    .await?;
    let mut rcpts = recipients.remove(id.as_str()).unwrap_or_default();
    for a in attempts {
        let idx: i64 = a.try_get("rcpt_idx")?;
        if let Some((_, r)) = rcpts.iter_mut().find(|(i, _)| *i == idx) {
            r.attempt_log.push(AttemptView {
                n: a.try_get("n")?,
                line: a.try_get("line")?,
                started_at: rfc3339(a.try_get("started_at")?),
                ended_at: a.try_get::<Option<i64>, _>("ended_at")?.map(rfc3339),
                status_code: a.try_get("status_code")?,
                reason: a.try_get("reason")?,
                pages_sent: a.try_get("pages_sent")?,
                first_page: a.try_get("first_page")?,
                call: a
                    .try_get::<Option<String>, _>("call")?
                    .and_then(|c| serde_json::from_str(&c).ok()),
            });
        }
    }
    Ok(Some(job_view(
        &row,
        rcpts.into_iter().map(|(_, r)| r).collect(),
    )?))
}

pub(super) async fn load_jobs(
    pool: &AnyPool,
    include_finished: bool,
) -> Result<Vec<JobView>, StoreError> {
    let filter = if include_finished {
        ""
    } else {
        "WHERE finished_at IS NULL"
    };
    let rows = sqlx::query(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs {filter} ORDER BY received_at, id"
    ))
    .fetch_all(pool)
    .await?;
    let recipients = load_recipients(
        pool,
        if include_finished {
            Filter::All
        } else {
            Filter::Unfinished
        },
    )
    .await?;
    views_of(&rows, recipients)
}

/// A page of jobs (`Store::jobs_page`): newest filters first, in the order of their ids (the
/// order they came in), after a cursor.
#[derive(Clone, Debug, Default)]
pub struct PageQuery {
    /// Jobs of this sender only (case-insensitive).
    pub sender: Option<String>,
    /// Jobs with a recipient in this status only.
    pub status: Option<RecipientStatus>,
    /// Jobs received at or after this time only.
    pub since_ms: Option<i64>,
    /// Jobs after this one (the last of the page before).
    pub after: Option<String>,
    /// Finished jobs too.
    pub include_finished: bool,
    pub limit: usize,
}

pub(super) async fn load_page(pool: &AnyPool, q: &PageQuery) -> Result<Vec<JobView>, StoreError> {
    let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1 = 1");
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    if !q.include_finished {
        sql.push_str(" AND finished_at IS NULL");
    }
    if q.sender.is_some() {
        sql.push_str(&format!(" AND LOWER(return_path) = LOWER(${})", next()));
    }
    if q.since_ms.is_some() {
        sql.push_str(&format!(" AND received_at >= ${}", next()));
    }
    if q.after.is_some() {
        sql.push_str(&format!(" AND id > ${}", next()));
    }
    if q.status.is_some() {
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM recipients r WHERE r.job_id = jobs.id AND r.status = ${})",
            next()
        ));
    }
    sql.push_str(&format!(" ORDER BY id LIMIT ${}", next()));
    let mut query = sqlx::query(&sql);
    if let Some(sender) = &q.sender {
        query = query.bind(super::text(sender));
    }
    if let Some(since) = q.since_ms {
        query = query.bind(since);
    }
    if let Some(after) = &q.after {
        query = query.bind(super::text(after));
    }
    if let Some(status) = q.status {
        query = query.bind(status.as_str());
    }
    let rows = query.bind(q.limit as i64).fetch_all(pool).await?;
    let ids: Vec<String> = rows
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
    let recipients = load_recipients(pool, Filter::Jobs(&ids)).await?;
    views_of(&rows, recipients)
}

/// The views of job `rows`, each with its recipients from `recipients`.
fn views_of(rows: &[AnyRow], mut recipients: RecipientsByJob) -> Result<Vec<JobView>, StoreError> {
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let rcpts = recipients.remove(&id).unwrap_or_default();
            job_view(row, rcpts.into_iter().map(|(_, r)| r).collect())
        })
        .collect()
}

type RecipientsByJob = HashMap<String, Vec<(i64, RecipientView)>>;

enum Filter<'a> {
    Job(&'a JobId),
    Jobs(&'a [String]),
    Unfinished,
    All,
}

async fn load_recipients(
    pool: &AnyPool,
    filter: Filter<'_>,
) -> Result<RecipientsByJob, StoreError> {
    let sql = "SELECT r.job_id, r.idx, r.number, r.address, r.display_name, r.status, r.tries, r.dials, r.pages, r.pages_sent, \
               r.status_code, r.reason, r.next_attempt_at, r.notify, r.orcpt, r.progress, r.node, r.line, r.list_row, r.company, \
               (SELECT COUNT(*) FROM attempts a WHERE a.job_id = r.job_id AND a.rcpt_idx = r.idx) AS attempts \
               FROM recipients r";
    let rows = match filter {
        Filter::Job(id) => sqlx::query(&format!("{sql} WHERE r.job_id = $1 ORDER BY r.idx")).bind(id.as_str()).fetch_all(pool).await?,
        Filter::Unfinished => {
            sqlx::query(&format!("{sql} JOIN jobs j ON j.id = r.job_id WHERE j.finished_at IS NULL ORDER BY r.job_id, r.idx")).fetch_all(pool).await?
        }
        Filter::All => sqlx::query(&format!("{sql} ORDER BY r.job_id, r.idx")).fetch_all(pool).await?,
        Filter::Jobs([]) => Vec::new(),
        Filter::Jobs(ids) => {
            let list = (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let text = format!("{sql} WHERE r.job_id IN ({list}) ORDER BY r.job_id, r.idx");
            let mut q = sqlx::query(&text);
            for id in ids.iter() {
                q = q.bind(id.as_str());
            }
            q.fetch_all(pool).await?
        }
    };
    let mut out: RecipientsByJob = HashMap::new();
    for row in rows {
        let status_text: String = row.try_get("status")?;
        let status = RecipientStatus::parse(&status_text).ok_or(StoreError::Corrupt {
            column: "recipients.status",
            value: status_text,
        })?;
        let view = RecipientView {
            number: row.try_get("number")?,
            address: row.try_get("address")?,
            display_name: row.try_get("display_name")?,
            status,
            attempts: row.try_get("attempts")?,
            tries: row.try_get("tries")?,
            dials: row.try_get("dials")?,
            own_pages: row.try_get("pages")?,
            pages_sent: row.try_get("pages_sent")?,
            status_code: row.try_get("status_code")?,
            reason: row.try_get("reason")?,
            next_attempt_at: row
                .try_get::<Option<i64>, _>("next_attempt_at")?
                .filter(|_| status == RecipientStatus::Deferred)
                .map(rfc3339),
            notify: row.try_get("notify")?,
            orcpt: row.try_get("orcpt")?,
            progress: row
                .try_get::<Option<String>, _>("progress")?
                .and_then(|p| serde_json::from_str(&p).ok()),
            node: row
                .try_get::<Option<String>, _>("node")?
                .filter(|_| status == RecipientStatus::Sending),
            line: row
                .try_get::<Option<String>, _>("line")?
                .filter(|_| status == RecipientStatus::Sending),
            attempt_log: Vec::new(),
            list_row: row.try_get("list_row")?,
            company: row.try_get("company")?,
        };
        out.entry(row.try_get("job_id")?)
            .or_default()
            .push((row.try_get("idx")?, view));
    }
    Ok(out)
}

impl RecipientView {
    /// A recipient queued, never tried.
    pub fn queued(number: &str, address: &str) -> RecipientView {
        RecipientView {
            number: number.to_string(),
            address: address.to_string(),
            display_name: None,
            status: RecipientStatus::Queued,
            attempts: 0,
            tries: 0,
            dials: 0,
            own_pages: None,
            pages_sent: 0,
            status_code: None,
            reason: None,
            next_attempt_at: None,
            notify: None,
            orcpt: None,
            progress: None,
            node: None,
            line: None,
            attempt_log: Vec::new(),
            list_row: None,
            company: None,
        }
    }
}

impl JobView {
    /// The view of `job` just committed, as `Store::job` would read it back then: nothing
    /// converted, no attempt, its recipients queued (deferred while it is held) and its refused
    /// ones failed after them.
    pub fn of_new(job: &super::NewJob) -> JobView {
        use super::{opt_text, text};
        let fresh = |number: &str, address: &str, display_name: &Option<String>| RecipientView {
            display_name: opt_text(display_name),
            ..RecipientView::queued(number, &text(address))
        };
        let mut recipients: Vec<RecipientView> = job
            .recipients
            .iter()
            .map(|r| RecipientView {
                notify: r.notify.map(|n| n.to_string()),
                orcpt: opt_text(&r.orcpt),
                // a held job's numbers wait as the insert wrote them
                status: match job.held_until() {
                    Some(_) => RecipientStatus::Deferred,
                    None => RecipientStatus::Queued,
                },
                reason: job.held_until().map(super::held_reason),
                next_attempt_at: job.held_until().map(rfc3339),
                list_row: r.list_row.map(i64::from),
                company: opt_text(&r.company),
                ..fresh(r.number.as_str(), &r.address, &r.display_name)
            })
            .collect();
        recipients.extend(job.refused.iter().map(|r| RecipientView {
            status: RecipientStatus::Failed,
            status_code: Some(r.status.to_string()),
            reason: Some(text(&r.reason)),
            notify: r.notify.map(|n| n.to_string()),
            orcpt: opt_text(&r.orcpt),
            list_row: r.list_row.map(i64::from),
            ..fresh(
                r.number.as_ref().map_or("", |n| n.as_str()),
                &r.address,
                &r.display_name,
            )
        }));
        let statuses: Vec<RecipientStatus> = recipients.iter().map(|r| r.status).collect();
        JobView {
            id: job.id.as_str().to_string(),
            origin: job.origin.as_str().to_string(),
            sender: text(&job.return_path),
            subject: opt_text(&job.subject),
            received_at: rfc3339(job.received_at_ms),
            phase: JobPhase::derive(ConversionState::Pending, &statuses),
            pages: None,
            recipients,
            size: job.size as i64,
            env_id: opt_text(&job.env_id),
            ret: job.ret.map(|r| r.as_str().to_string()),
            finished_at: None,
            source: opt_text(&job.source),
            billing: opt_text(&job.billing),
            priority: job.priority.as_str(),
            send_at: job.held_until().map(rfc3339),
            list: opt_text(&job.list_part),
        }
    }
}

fn job_view(row: &AnyRow, recipients: Vec<RecipientView>) -> Result<JobView, StoreError> {
    let conversion_text: String = row.try_get("conversion")?;
    let conversion = ConversionState::parse(&conversion_text).ok_or(StoreError::Corrupt {
        column: "jobs.conversion",
        value: conversion_text,
    })?;
    let statuses: Vec<RecipientStatus> = recipients.iter().map(|r| r.status).collect();
    Ok(JobView {
        id: row.try_get("id")?,
        origin: row.try_get("origin")?,
        sender: row.try_get("return_path")?,
        subject: row.try_get("subject")?,
        received_at: rfc3339(row.try_get("received_at")?),
        phase: JobPhase::derive(conversion, &statuses),
        pages: row.try_get("pages")?,
        recipients,
        size: row.try_get("size")?,
        env_id: row.try_get("env_id")?,
        ret: row.try_get("ret")?,
        finished_at: row.try_get::<Option<i64>, _>("finished_at")?.map(rfc3339),
        source: row.try_get("source")?,
        billing: row.try_get("billing")?,
        priority: crate::schedule::Priority::from_rank(row.try_get::<i64, _>("priority")?).as_str(),
        send_at: row.try_get::<Option<i64>, _>("send_at")?.map(rfc3339),
        list: row.try_get("list_part")?,
    })
}
