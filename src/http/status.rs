//! What a supervisor, a monitor and a developer ask: `/healthz` (the process answers), `/readyz`
//! (the store answers, the converters are warm and every trunk kept registered is up), `/metrics` (Prometheus; see
//! `crate::metrics`), `/v1/openapi.json` (the API's description, `share/openapi.json`), and
//! `GET /v1/lines` (each line's channels in use and its trunk's state, `read` scope). The first
//! four need no token: they tell counts, states and the API's shape, never a number, an address
//! or a document, and a monitor should not hold a secret that can read faxes.

use super::Api;
use super::auth::authorize;
use super::problem::Problem;
use super::token::Scope;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faxhub_lines::state::LineView;
use faxhub_queue::status::EnhancedStatus;
use serde::Serialize;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
}

/// Alive: the process answers.
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "alive" })
}

/// Ready: the store answers, the converters are warm and no trunk is down.
pub async fn readyz(State(api): State<Api>) -> Response {
    if let Err(e) = api.store.ping().await {
        tracing::warn!(error = %e, "readyz: the store does not answer");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the job store does not answer",
        )
        .with_code(EnhancedStatus::SYSTEM_TRANSIENT)
        .into_response();
    }
    let not_warm = match &*api.converters.borrow() {
        super::Warmth::Warm => None,
        super::Warmth::Warming => Some("the converters are warming up".to_string()),
        super::Warmth::Failed(why) => Some(format!("the converters could not start: {why}")),
    };
    if let Some(why) = not_warm {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, why)
            .with_code(EnhancedStatus::SYSTEM_TRANSIENT)
            .into_response();
    }
    let down: Vec<String> = api
        .lines
        .iter()
        .map(|l| l.view())
        .filter(|v| v.trunk.as_ref().is_some_and(|t| !t.up()))
        .map(|v| v.name)
        .collect();
    if !down.is_empty() {
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("trunk down on line {}", down.join(", ")),
        )
        .with_code(EnhancedStatus::NETWORK)
        .into_response();
    }
    Json(Health { status: "ready" }).into_response()
}

#[derive(Serialize)]
pub struct Lines {
    lines: Vec<LineView>,
}

/// `GET /v1/lines`.
pub async fn lines(State(api): State<Api>, headers: HeaderMap) -> Result<Json<Lines>, Problem> {
    authorize(&api, &headers, Scope::Read).await?;
    Ok(Json(Lines {
        lines: api.lines.iter().map(|l| l.view()).collect(),
    }))
}

/// `GET /metrics`, in Prometheus' text format.
pub async fn metrics(State(api): State<Api>) -> Response {
    let Some(handle) = crate::metrics::install() else {
        return Problem::new(StatusCode::SERVICE_UNAVAILABLE, "no metrics recorder")
            .into_response();
    };
    match crate::metrics::render(handle, &api.store, &api.lines, faxhub_queue::job::now_ms()).await
    {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => Problem::unavailable(e).into_response(),
    }
}

/// The OpenAPI 3.1 document of this API, as kept in the repository (tests check the answers
/// against it).
const OPENAPI: &str = include_str!("../../share/openapi.json");

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
