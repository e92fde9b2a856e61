//! `/v1/faxes`: jobs as `faxhub queue --json` shows them, to tokens with the `read` scope; a
//! token bound to a sender sees that sender's jobs only (another's is 404, as if absent).

use super::Api;
use super::auth::authorize;
use super::problem::Problem;
use super::token::Scope;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use faxhub_queue::job::JobId;
use faxhub_queue::store::JobView;
use serde::Deserialize;

/// `GET /v1/faxes/{id}`: the job with its recipients, their attempts and a call's progress.
pub async fn one(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<JobView>, Problem> {
    let caller = authorize(&api.store, &headers, Scope::Read).await?;
    let missing = || Problem::not_found(format!("no fax {id}"));
    let job_id = JobId::parse(&id).ok_or_else(missing)?;
    let job = api
        .store
        .job(&job_id)
        .await
        .map_err(Problem::unavailable)?
        .filter(|job| caller.sees(&job.sender))
        .ok_or_else(missing)?;
    Ok(Json(job))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Finished jobs too.
    #[serde(default)]
    all: bool,
}

/// `GET /v1/faxes[?all=true]`: the jobs the caller sees, unfinished ones unless `all`.
pub async fn list(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<JobView>>, Problem> {
    let caller = authorize(&api.store, &headers, Scope::Read).await?;
    let Query(query) =
        query.map_err(|e| Problem::new(axum::http::StatusCode::BAD_REQUEST, e.body_text()))?;
    let jobs = api
        .store
        .jobs(query.all)
        .await
        .map_err(Problem::unavailable)?;
    Ok(Json(
        jobs.into_iter()
            .filter(|j| caller.sees(&j.sender))
            .collect(),
    ))
}
