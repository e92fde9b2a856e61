//! `/v1/faxes`: jobs as `faxhub queue --json` shows them, to tokens with the `read` scope, and
//! the operator actions on them with the `send` scope; a token bound to a sender sees and acts
//! on that sender's jobs only (another's is 404, as if absent).

use super::Api;
use super::auth::{Caller, authorize};
use super::problem::Problem;
use super::token::{self, Scope};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use faxhub_queue::job::{JobId, now_ms};
use faxhub_queue::state::{ActionEffect, OperatorAction, RecipientStatus};
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::{JobView, PageQuery};
use serde::Deserialize;

/// The job `id` if the caller sees it; `404` alike for no such job and another sender's.
pub(crate) async fn visible(
    api: &Api,
    caller: &Caller,
    id: &str,
) -> Result<(JobId, JobView), Problem> {
    let missing = || Problem::not_found(format!("no fax {id}"));
    let job_id = JobId::parse(id).ok_or_else(missing)?;
    let job = api
        .store
        .job(&job_id)
        .await
        .map_err(Problem::unavailable)?
        .filter(|job| caller.sees(&job.sender))
        .ok_or_else(missing)?;
    Ok((job_id, job))
}

/// `GET /v1/faxes/{id}`: the job with its recipients, their attempts and a call's progress.
pub async fn one(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    let caller = authorize(&api, &headers, Scope::Read).await?;
    let (_, job) = visible(&api, &caller, &id).await?;
    Ok(Json(job))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Finished jobs too.
    #[serde(default)]
    all: bool,
    /// Jobs with a recipient in this status (`queued`, `sending`, `deferred`, `done`, `failed`,
    /// `held`, `cancelled`).
    status: Option<String>,
    /// Jobs received at or after this time (RFC 3339).
    since: Option<String>,
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
    /// Jobs per page: 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// A page of the list, and where the next one starts (`None`: this was the last).
#[derive(serde::Serialize)]
pub struct Page {
    faxes: Vec<JobView>,
    next_cursor: Option<String>,
}

/// `GET /v1/faxes[?all=true&status=…&since=…&cursor=…&limit=…]`: the jobs the caller sees,
/// unfinished ones unless `all`, in the order they came, a page at a time.
pub async fn list(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, Problem> {
    let caller = authorize(&api, &headers, Scope::Read).await?;
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, detail);
    let Query(query) = query.map_err(|e| bad(e.body_text()))?;
    let status = match &query.status {
        Some(s) => Some(RecipientStatus::parse(s).ok_or_else(|| {
            bad(format!(
                "status {s:?}: queued, sending, deferred, done, failed, held or cancelled"
            ))
        })?),
        None => None,
    };
    let since_ms = match &query.since {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|e| bad(format!("since {t:?}: not an RFC 3339 time ({e})")))?
                .timestamp_millis(),
        ),
        None => None,
    };
    let after = match &query.cursor {
        Some(c) => Some(
            JobId::parse(c)
                .ok_or_else(|| bad(format!("cursor {c:?}: not a cursor of this list")))?
                .to_string(),
        ),
        None => None,
    };
    let limit = super::page_limit(query.limit)?;
    let sender = match token::grants(&caller.token, Scope::Admin) {
        true => None,
        false => caller.token.sender.clone(),
    };
    let faxes = api
        .store
        .jobs_page(&PageQuery {
            sender,
            status,
            since_ms,
            after,
            include_finished: query.all,
            limit,
        })
        .await
        .map_err(Problem::unavailable)?;
    let next_cursor = match faxes.len() == limit {
        true => faxes.last().map(|j| j.id.clone()),
        false => None,
    };
    Ok(Json(Page { faxes, next_cursor }))
}

/// The body of an action: one number of the job, or every one.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    number: Option<String>,
}

/// `POST /v1/faxes/{id}/{cancel|hold|release|retry}` (body `{"number": …}` optional, JSON):
/// the operator actions of `faxhub queue`, on a job the caller sees, with the `send` scope.
/// `200` with the job after the action; `409` naming why when nothing changed; a recipient on
/// a call is cancelled when its call ends, unless the call succeeds.
pub async fn act(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<JobView>, Problem> {
    let caller = authorize(&api, &headers, Scope::Send).await?;
    let request: ActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActionRequest::default()
    } else {
        super::request::parse_json("the JSON body", &body)
            .map_err(|e| Problem::new(StatusCode::BAD_REQUEST, e))?
    };
    perform(&api, &caller, &id, &action, request.number.as_deref())
        .await
        .map(Json)
}

/// Operator action `action` (by name) on job `id`, for one `number` or all, if the caller sees
/// the job: the job after it, or why nothing changed (409), or 404.
pub(crate) async fn perform(
    api: &Api,
    caller: &Caller,
    id: &str,
    action: &str,
    number: Option<&str>,
) -> Result<JobView, Problem> {
    let action = [
        OperatorAction::Cancel,
        OperatorAction::Hold,
        OperatorAction::Release,
        OperatorAction::Retry,
    ]
    .into_iter()
    .find(|a| a.as_str() == action)
    .ok_or_else(|| {
        Problem::not_found(format!(
            "no action {action:?} (cancel, hold, release, retry)"
        ))
    })?;
    let (job_id, seen) = visible(api, caller, id).await?;
    let missing = || Problem::not_found(format!("no fax {id}"));
    let number = match number {
        Some(n) => Some(api.addressing.dialplan.normalize(n).map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("number {n:?}: {e}"),
            )
            .with_code(EnhancedStatus::BAD_NUMBER)
        })?),
        None => None,
    };
    let reports = api
        .store
        .operator_action(&job_id, number.as_ref(), action, now_ms())
        .await
        .map_err(Problem::unavailable)?
        .ok_or_else(missing)?;
    if reports.is_empty() {
        return Err(Problem::not_found(format!(
            "fax {id} has no number {}",
            number.map(|n| n.to_string()).unwrap_or_default()
        )));
    }
    let changed = reports
        .iter()
        .filter(|r| !matches!(r.effect, ActionEffect::Refused(_)))
        .count();
    if changed == 0 {
        let why: Vec<String> = reports
            .iter()
            .filter_map(|r| match r.effect {
                ActionEffect::Refused(why) => Some(format!("{}: {why}", r.number)),
                _ => None,
            })
            .collect();
        return Err(Problem::new(
            StatusCode::CONFLICT,
            format!(
                "{} {id}: nothing to do ({})",
                action.as_str(),
                why.join("; ")
            ),
        ));
    }
    tracing::info!(job = %id, token = %caller.token.id, action = action.as_str(), changed, "http: operator action");
    api.wakeups.scheduler.notify_one();
    api.wakeups.reporter.notify_one();
    let job = api
        .store
        .job(&job_id)
        .await
        .map_err(Problem::unavailable)?
        .unwrap_or(seen);
    Ok(job)
}

/// `GET /v1/faxes/{id}/pages.pdf` and `/thumbnail.png`: the fax's pages as faxhub sends them
/// (without a recipient's cover page), and page 1 small, once converted (404 before, naming
/// why). Read from this node's spool, or from the store with several nodes.
pub async fn file(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> Result<axum::response::Response, Problem> {
    let caller = authorize(&api, &headers, Scope::Read).await?;
    job_file(&api, &caller, &id, &name).await
}

/// The file `name` (`pages.pdf`, `thumbnail.png`) of job `id`, if the caller sees it.
pub(crate) async fn job_file(
    api: &Api,
    caller: &Caller,
    id: &str,
    name: &str,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse;
    let [_, pdf, png] = faxhub_queue::spool::Spool::page_set_rels(id);
    let (rel, content_type) = match name {
        "pages.pdf" => (pdf, "application/pdf"),
        "thumbnail.png" => (png, "image/png"),
        _ => {
            return Err(Problem::not_found(format!(
                "no {name:?} (pages.pdf, thumbnail.png)"
            )));
        }
    };
    let (_, job) = visible(api, caller, id).await?;
    if job.pages.is_none() {
        return Err(Problem::not_found(format!(
            "fax {id} has no pages yet (it is {})",
            job.phase.as_str()
        )));
    }
    let path = api.spool.local(&rel).await.map_err(Problem::unavailable)?;
    let bytes = match tokio::fs::read(&path).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Problem::not_found(format!("fax {id} has no {name}")));
        }
        Err(e) => return Err(Problem::unavailable(e)),
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response())
}
