//! `/v1/inbox`: the faxes this node received, as `faxhub inbox --json` shows them, to tokens
//! with the `read` scope. A token bound to a sender sees the faxes whose number that address
//! owns (`crate::owners`: the routes, the directory, the catch-all); another's is 404, as if
//! absent.
//! `GET /v1/inbox/{id}.pdf` is the pages as a PDF (as the mail to the owner carries them).
//!
//! Each node keeps the faxes it received in its own `inbox/`: with several nodes, ask each.

use super::Api;
use super::auth::{Caller, authorize};
use super::problem::Problem;
use super::token::{self, Scope};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faxhub_lines::inbox::{Inbox, Received};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// The `next_cursor` of the page before.
    cursor: Option<String>,
    /// Faxes per page: 1 to 1000 (default 100).
    limit: Option<usize>,
}

#[derive(Serialize)]
pub struct Page {
    faxes: Vec<Received>,
    next_cursor: Option<String>,
}

/// Whether the caller may see reception `r`: admin and unbound tokens see all, a bound one
/// those whose number its sender owns.
async fn sees(api: &Api, caller: &Caller, r: &Received) -> Result<bool, Problem> {
    if token::grants(&caller.token, Scope::Admin) {
        return Ok(true);
    }
    let Some(own) = &caller.token.sender else {
        return Ok(true);
    };
    // quarantined or refused by a junk-fax rule: for the administrators only
    if r.blocked.is_some() {
        return Ok(false);
    }
    let owner = api
        .owners
        .owner_of(&r.did, r.remote_ident.as_deref())
        .await
        .map_err(Problem::unavailable)?;
    Ok(owner.is_some_and(|to| to.eq_ignore_ascii_case(own)))
}

/// Records read at a time from the inbox.
const CHUNK: usize = 100;

/// `GET /v1/inbox[?cursor=…&limit=…]`: the faxes received, oldest first, a page at a time.
pub async fn list(
    State(api): State<Api>,
    headers: HeaderMap,
    query: Result<Query<InboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, Problem> {
    let caller = authorize(&api, &headers, Scope::Read).await?;
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, detail);
    let Query(query) = query.map_err(|e| bad(e.body_text()))?;
    let limit = super::page_limit(query.limit)?;
    let (faxes, next_cursor) = received_page(&api, &caller, query.cursor.as_deref(), limit).await?;
    Ok(Json(Page { faxes, next_cursor }))
}

/// The faxes received the caller sees, oldest first, after `cursor`, at most `limit`; and the
/// cursor of the next page (`None`: this was the last).
pub(crate) async fn received_page(
    api: &Api,
    caller: &Caller,
    cursor: Option<&str>,
    limit: usize,
) -> Result<(Vec<Received>, Option<String>), Problem> {
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, detail);
    if let Some(c) = cursor
        && !Inbox::is_id(c)
    {
        return Err(bad(format!("cursor {c:?}: not a cursor of this list")));
    }
    let inbox = api.inbox.clone();
    let ids: Vec<String> = tokio::task::spawn_blocking(move || inbox.ids())
        .await
        .map_err(Problem::unavailable)?
        .map_err(Problem::unavailable)?
        .into_iter()
        .filter(|id| cursor.is_none_or(|c| id.as_str() > c))
        .collect();
    let mut faxes = Vec::new();
    'read: for chunk in ids.chunks(CHUNK) {
        let (inbox, chunk) = (api.inbox.clone(), chunk.to_vec());
        let records = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<Received>> {
            let mut out = Vec::new();
            for id in chunk {
                match inbox.read(&id) {
                    Ok(r) => out.push(r),
                    // removed meanwhile (the purge)
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(out)
        })
        .await
        .map_err(Problem::unavailable)?
        .map_err(Problem::unavailable)?;
        for received in records {
            if sees(api, caller, &received).await? {
                faxes.push(received);
                if faxes.len() == limit {
                    break 'read;
                }
            }
        }
    }
    let next_cursor = match faxes.len() == limit {
        true => faxes.last().map(|r| r.id.clone()),
        false => None,
    };
    Ok((faxes, next_cursor))
}

/// `GET /v1/inbox/{id}` (the record) and `/v1/inbox/{id}.pdf` (its pages).
pub async fn one(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, Problem> {
    let caller = authorize(&api, &headers, Scope::Read).await?;
    let (id, pdf) = match name.strip_suffix(".pdf") {
        Some(id) => (id.to_string(), true),
        None => (name.clone(), false),
    };
    let received = received(&api, &caller, &id).await?;
    match pdf {
        false => Ok(Json(received).into_response()),
        true => received_pdf(&api, &received).await,
    }
}

/// Reception `id`, if the caller sees it (404 alike for none and another's).
pub(crate) async fn received(api: &Api, caller: &Caller, id: &str) -> Result<Received, Problem> {
    let missing = || Problem::not_found(format!("no received fax {id}"));
    let inbox = api.inbox.clone();
    let wanted = id.to_string();
    let received = tokio::task::spawn_blocking(move || inbox.read(&wanted))
        .await
        .map_err(Problem::unavailable)?;
    match received {
        Ok(r) if sees(api, caller, &r).await? => Ok(r),
        Ok(_) => Err(missing()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(missing()),
        Err(e) => Err(Problem::unavailable(e)),
    }
}

/// The pages of `received` as a PDF (as the mail to the owner carries them).
pub(crate) async fn received_pdf(api: &Api, received: &Received) -> Result<Response, Problem> {
    let id = &received.id;
    // the record names its pages; only the name the inbox gives them is followed
    let Some(tiff) = received
        .tiff
        .as_ref()
        .filter(|t| **t == format!("{id}.tif"))
    else {
        return Err(Problem::not_found(format!(
            "received fax {id} has no pages ({})",
            received.result
        )));
    };
    let path = api.inbox.dir().join(tiff);
    let made = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        faxhub_converters::received::pdf(&bytes).map_err(|e| e.to_string())
    })
    .await
    .map_err(Problem::unavailable)?;
    match made {
        Ok(pdf) => Ok((
            [
                (header::CONTENT_TYPE, "application/pdf"),
                (header::CACHE_CONTROL, "private, no-store"),
            ],
            pdf,
        )
            .into_response()),
        Err(why) => {
            tracing::warn!(fax = %id, %why, "http: a received fax could not be made a PDF");
            Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("received fax {id} cannot be made a PDF: {why}"),
            ))
        }
    }
}
