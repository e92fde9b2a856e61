//! Who is calling: the bearer token of `Authorization`, checked against the store, then the
//! scope the endpoint needs. No token or a wrong one is 401 (the same answer for a token that
//! does not exist, is revoked, or has another secret); a token without the scope is 403.

use super::problem::Problem;
use super::token::{self, Scope};
use axum::http::{HeaderMap, StatusCode, header};
use faxhub_queue::store::{Store, TokenRow};

/// The caller of a request, authenticated.
pub struct Caller {
    pub token: TokenRow,
}

impl Caller {
    /// Whether the caller may see a job of `sender`: admin tokens and tokens bound to no sender
    /// see every job, a bound one only its sender's.
    pub fn sees(&self, sender: &str) -> bool {
        token::grants(&self.token, Scope::Admin)
            || self
                .token
                .sender
                .as_deref()
                .is_none_or(|own| own.eq_ignore_ascii_case(sender))
    }
}

/// The caller of a request with `headers`, if its token is valid and grants `scope`.
pub async fn authorize(
    store: &Store,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Caller, Problem> {
    let unauthorized = |why: &str| Problem::new(StatusCode::UNAUTHORIZED, why);
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("an API token is needed: Authorization: Bearer fxh_…"))?;
    let presented = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header is not a bearer token"))?;
    let invalid = || unauthorized("the API token is not valid");
    let (id, secret) = token::split(presented).ok_or_else(invalid)?;
    let row = store
        .token(id)
        .await
        .map_err(Problem::unavailable)?
        .ok_or_else(invalid)?;
    if !token::matches(&row, secret) {
        tracing::warn!(token = %id, "http: a request with a wrong or revoked token");
        return Err(invalid());
    }
    if !token::grants(&row, scope) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "token {id} has scopes {}; this needs {}",
                row.scopes,
                scope.as_str()
            ),
        ));
    }
    Ok(Caller { token: row })
}
