//! Errors of the HTTP API as RFC 9457 problem documents (`application/problem+json`): a
//! `title` per HTTP status, a `detail` saying what was wrong with this request, and the RFC 3463
//! code (`status_code`, as in `faxhub queue --json`) where an outcome has one.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use faxhub_queue::status::EnhancedStatus;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Problem {
    /// Always `about:blank`: the status and title say what kind of problem it is.
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<String>,
    /// Bearer authentication asked for (401 only).
    #[serde(skip)]
    challenge: bool,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            status_code: None,
            challenge: status == StatusCode::UNAUTHORIZED,
        }
    }

    /// No such resource, or one the caller may not see (the same answer: a token bound to one
    /// sender cannot tell another sender's job from none).
    pub fn not_found(what: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, what)
    }

    /// The store or another part of faxhub failed: try again later (a temporary fault, 4.3.0).
    pub fn unavailable(what: impl std::fmt::Display) -> Problem {
        tracing::warn!(error = %what, "http: a request failed on a temporary fault");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "faxhub cannot answer now; try again later",
        )
        .with_code(EnhancedStatus::SYSTEM_TRANSIENT)
    }

    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// What was wrong, in words.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The RFC 3463 code of the outcome, from the one table (`EnhancedStatus`).
    pub fn with_code(mut self, code: EnhancedStatus) -> Problem {
        self.status_code = Some(code.to_string());
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"faxhub\""),
            );
        }
        response
    }
}
