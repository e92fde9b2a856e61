//! Sessions: a signed-in browser holds `faxhub_session=<id>.<secret>` (HttpOnly,
//! SameSite=Strict, Path=/, Secure over TLS); the store keeps the id, a SHA-256 of the secret, who signed in and
//! until when (`web_sessions`, shared by every node). Sign-out deletes the row.
//!
//! Every form carries a CSRF token: an HMAC of "csrf" keyed with the session's secret, which
//! only the browser holding the cookie and the server reading it can compute; a POST without the
//! right one is 403. The sign-in form, before any session, carries the value of a random
//! `faxhub_signin` cookie instead (double submit). A POST whose `Origin` is another site's is
//! refused too.

use super::users::User;
use crate::http::Api;
use crate::http::auth::Caller;
use crate::http::token::{hash as digest, hex, random_hex, same};
use axum::http::{HeaderMap, HeaderValue, header};
use faxhub_queue::job::now_ms;
use faxhub_queue::store::{SessionRow, TokenRow};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const COOKIE: &str = "faxhub_session";
pub const SIGNIN_COOKIE: &str = "faxhub_signin";

/// A signed-in user's request.
#[derive(Clone)]
pub struct WebUser {
    pub row: SessionRow,
    secret: String,
}

impl WebUser {
    /// The token every form of this session carries.
    pub fn csrf(&self) -> String {
        csrf_of(&self.secret)
    }

    /// The user as the API's handlers know a caller: a token bound to the user's address (so it
    /// sees and sends that address's faxes), with `admin` for administrators.
    pub fn caller(&self) -> Caller {
        let scopes = match self.row.admin {
            true => "send,read,admin",
            false => "send,read",
        };
        Caller {
            token: TokenRow {
                id: format!("web:{}", self.row.id),
                hash: String::new(),
                scopes: scopes.into(),
                sender: Some(self.row.mail.clone()),
                name: Some(self.row.login.clone()),
                created_at_ms: self.row.created_at_ms,
                revoked_at_ms: None,
            },
        }
    }

    pub fn shown_name(&self) -> &str {
        self.row.name.as_deref().unwrap_or(&self.row.login)
    }
}

fn csrf_of(secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("invariant: HMAC takes a key of any length");
    mac.update(b"faxhub csrf");
    hex(&mac.finalize().into_bytes())
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Whether a request came over TLS (its cookies are `Secure`); a request the server did not
/// mark is taken as TLS.
pub fn over_tls(peer: Option<&axum::Extension<crate::http::Peer>>) -> bool {
    peer.is_none_or(|p| p.0.tls)
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, `max_age` seconds (0: delete it),
/// and Secure when `secure` (over TLS; plain HTTP is served on loopback addresses only, where
/// a browser would not keep a Secure cookie).
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly{secure}; SameSite=Strict"
    ))
    .expect("invariant: cookie names and values here are hex and ASCII")
}

/// The session of the request, if it has a valid one.
pub async fn current(api: &Api, headers: &HeaderMap) -> Result<Option<WebUser>, String> {
    let Some((id, secret)) = cookie(headers, COOKIE).and_then(|v| v.split_once('.')) else {
        return Ok(None);
    };
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let row = api
        .store
        .session(id, now_ms())
        .await
        .map_err(|e| e.to_string())?;
    Ok(row
        .filter(|row| same(&row.hash, &digest(secret)))
        .map(|row| WebUser {
            row,
            secret: secret.to_string(),
        }))
}

/// Starts a session for `user`: the `Set-Cookie` that holds it.
pub async fn begin(
    api: &Api,
    user: &User,
    ttl: std::time::Duration,
    secure: bool,
) -> Result<HeaderValue, String> {
    let (id, secret) = (random_hex(8), random_hex(32));
    let now = now_ms();
    let row = SessionRow {
        id: id.clone(),
        hash: digest(&secret),
        login: user.login.clone(),
        mail: user.mail.clone(),
        name: user.name.clone(),
        admin: user.admin,
        created_at_ms: now,
        expires_at_ms: now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
    };
    api.store
        .create_session(&row, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(set_cookie(
        COOKIE,
        &format!("{id}.{secret}"),
        ttl.as_secs(),
        secure,
    ))
}

/// Ends `user`'s session: the `Set-Cookie` that removes it.
pub async fn end(api: &Api, user: &WebUser, secure: bool) -> Result<HeaderValue, String> {
    api.store
        .end_session(&user.row.id)
        .await
        .map_err(|e| e.to_string())?;
    Ok(set_cookie(COOKIE, "", 0, secure))
}

/// A new value for the sign-in form's double-submit cookie.
pub fn signin_nonce() -> String {
    random_hex(16)
}

/// Whether a POST with `headers` comes from a page of this site: no `Origin` (an older or
/// same-origin client), or one whose host is the `Host` asked for.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest.eq_ignore_ascii_case(host))
}

/// Whether `form_token` is the CSRF token of `user`'s session.
pub fn csrf_ok(user: &WebUser, form_token: Option<&str>) -> bool {
    form_token.is_some_and(|t| same(t, &user.csrf()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_read_by_name_and_origins_compared_with_the_host() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; faxhub_session=ab.cd"),
        );
        assert_eq!(cookie(&h, COOKIE), Some("ab.cd"));
        assert_eq!(cookie(&h, "faxhub"), None);
        h.insert(
            header::HOST,
            HeaderValue::from_static("fax.example.com:8329"),
        );
        assert!(same_origin(&h), "no Origin");
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://fax.example.com:8329"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn the_csrf_token_depends_on_the_secret() {
        assert_eq!(csrf_of("s1"), csrf_of("s1"));
        assert_ne!(csrf_of("s1"), csrf_of("s2"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
