//! Who is calling: the bearer token of `Authorization`, checked against the store, then the
//! scope the endpoint needs. No token or a wrong one is 401 (the same answer for a token that
//! does not exist, is revoked, or has another secret); a token without the scope is 403.
//!
//! A token's row is kept for `FRESH` after it was read (`Tokens`), so that a client sending
//! many requests costs the store one read a second, not one each; its secret is checked at
//! every request. `faxhub token revoke` waits `FRESH` before it says the token is revoked: by
//! then no node holds a copy from before.

use super::problem::Problem;
use super::token::{self, Scope};
use axum::http::{HeaderMap, StatusCode, header};
use faxhub_queue::store::{Store, TokenRow};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a token's row read from the store is used without reading it again.
pub const FRESH: Duration = Duration::from_secs(1);
/// Rows kept at most (more are read each time until the copies age out).
const MAX_KEPT: usize = 10_000;

/// Tokens read lately, by id (only tokens that exist: an unknown id is asked every time).
#[derive(Default)]
pub struct Tokens(Mutex<HashMap<String, (Instant, TokenRow)>>);

impl Tokens {
    /// Token `id`'s row, from a copy at most `FRESH` old or from `store`.
    async fn get(&self, store: &Store, id: &str) -> Result<Option<TokenRow>, Problem> {
        let now = Instant::now();
        {
            let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
            match kept.get(id) {
                Some((read, row)) if now.duration_since(*read) < FRESH => {
                    return Ok(Some(row.clone()));
                }
                Some(_) => {
                    kept.remove(id);
                }
                None => {}
            }
        }
        let row = store.token(id).await.map_err(Problem::unavailable)?;
        if let Some(row) = &row {
            let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if kept.len() >= MAX_KEPT {
                kept.retain(|_, (read, _)| now.duration_since(*read) < FRESH);
            }
            if kept.len() < MAX_KEPT {
                kept.insert(id.to_string(), (now, row.clone()));
            }
        }
        Ok(row)
    }
}

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

/// The caller of a request with `headers` to `api`, if its token is valid and grants `scope`.
pub async fn authorize(
    api: &super::Api,
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
    let row = api.tokens.get(&api.store, id).await?.ok_or_else(invalid)?;
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
