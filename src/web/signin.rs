//! `/signin` and `/signout`. The sign-in form carries the value of a random cookie it set
//! (double submit: another site cannot post a sign-in in the user's browser); a name with
//! `max_failures` failed sign-ins within `lockout`, or a client address with ten times as many,
//! gets 429 without its password being checked; a directory that cannot be reached is said so (503), and is no failure of the
//! user's. The page a user wanted comes back after sign-in, if it is a path of this site.

use super::pages::layout;
use super::session::{self, SIGNIN_COOKIE};
use super::users::{self, SignInError};
use super::{Failed, page};
use crate::http::{Api, Peer};
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use std::time::Instant;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `next` if it is a path of this site (`/…`, not `//host` or `/\host`), else `/faxes`.
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.chars().any(|c| c.is_control()) =>
        {
            p
        }
        _ => "/faxes",
    }
}

/// `path` for a query string: every byte but unreserved ones and '/' percent-encoded.
pub fn encode_next(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn signin_page(
    secure: bool,
    status: StatusCode,
    next: &str,
    login: &str,
    message: Option<&str>,
) -> Response {
    let nonce = session::signin_nonce();
    let mut response = page(
        status,
        layout(
            "Sign in",
            None,
            html! {
                @if let Some(message) = message { p.error role="alert" { (message) } }
                form.signin method="post" action="/signin" {
                    input type="hidden" name="nonce" value=(nonce);
                    input type="hidden" name="next" value=(next);
                    label { "Name" input name="login" autocomplete="username" required autofocus value=(login); }
                    label { "Password" input name="password" type="password" autocomplete="current-password" required; }
                    button type="submit" { "Sign in" }
                }
            },
        ),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        session::set_cookie(SIGNIN_COOKIE, &nonce, 3600, secure),
    );
    response
}

/// `GET /signin`.
pub async fn form(
    State(api): State<Api>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
    Query(next): Query<Next>,
) -> Response {
    let secure = session::over_tls(peer.as_ref());
    let next = local_path(next.next.as_deref());
    if let Ok(Some(_)) = session::current(&api, &headers).await {
        return Redirect::to(next).into_response();
    }
    signin_page(secure, StatusCode::OK, next, "", None)
}

#[derive(Deserialize)]
pub struct SignIn {
    login: String,
    password: String,
    nonce: String,
    next: Option<String>,
}

/// `POST /signin`.
pub async fn submit(
    State(api): State<Api>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
    Form(form): Form<SignIn>,
) -> Response {
    let secure = session::over_tls(peer.as_ref());
    let next = local_path(form.next.as_deref()).to_string();
    let full_login = form.login.trim();
    // a name longer than any is not kept whole (it is wrong anyway)
    let login: &str = match full_login.char_indices().nth(users::MAX_LOGIN) {
        Some((at, _)) => &full_login[..at],
        None => full_login,
    };
    let sent = session::cookie(&headers, SIGNIN_COOKIE);
    if !session::same_origin(&headers)
        || !sent.is_some_and(|c| crate::http::token::same(c, &form.nonce))
    {
        return signin_page(
            secure,
            StatusCode::FORBIDDEN,
            &next,
            login,
            Some("this sign-in form is not from this site or has expired (CSRF check): try again"),
        );
    }
    let keys = [
        format!("name:{}", login.to_lowercase()),
        format!(
            "from:{}",
            peer.map(|p| p.0.addr.ip().to_string()).unwrap_or_default()
        ),
    ];
    let now = Instant::now();
    let wait = {
        let mut attempts = api.web.attempts.lock().unwrap_or_else(|p| p.into_inner());
        attempts
            .iter_mut()
            .zip(&keys)
            .filter_map(|(a, k)| a.wait(k, now))
            .max()
    };
    if let Some(wait) = wait {
        tracing::warn!(login = %login, "web: sign-in refused: too many failures");
        let minutes = wait.as_secs().div_ceil(60).max(1);
        return signin_page(
            secure,
            StatusCode::TOO_MANY_REQUESTS,
            &next,
            login,
            Some(&format!(
                "too many failed sign-ins: try again in {minutes} minute(s)"
            )),
        );
    }
    let web = &api.web;
    match users::sign_in(
        &web.config,
        web.directory.as_ref(),
        full_login,
        &form.password,
    )
    .await
    {
        Ok(Some(user)) => {
            web.attempts.lock().unwrap_or_else(|p| p.into_inner())[0].succeeded(&keys[0]);
            match session::begin(&api, &user, web.config.session_ttl, secure).await {
                Ok(cookie) => {
                    tracing::info!(login = %user.login, admin = user.admin, "web: signed in");
                    let mut response = Redirect::to(&next).into_response();
                    let h = response.headers_mut();
                    h.append(header::SET_COOKIE, cookie);
                    h.append(
                        header::SET_COOKIE,
                        session::set_cookie(SIGNIN_COOKIE, "", 0, secure),
                    );
                    response
                }
                Err(e) => Failed::unavailable(e).into_response(),
            }
        }
        Ok(None) => {
            {
                let mut attempts = web.attempts.lock().unwrap_or_else(|p| p.into_inner());
                for (a, key) in attempts.iter_mut().zip(&keys) {
                    a.failed(key, now);
                }
            }
            tracing::warn!(login = %login, "web: a failed sign-in");
            signin_page(
                secure,
                StatusCode::UNAUTHORIZED,
                &next,
                login,
                Some("wrong name or password"),
            )
        }
        Err(e @ SignInError::Directory(_)) => {
            tracing::warn!(login = %login, error = %e, "web: sign-in impossible");
            signin_page(
                secure,
                StatusCode::SERVICE_UNAVAILABLE,
                &next,
                login,
                Some(
                    "the directory cannot be reached now, so nobody can sign in with a directory account: try again in a few minutes",
                ),
            )
        }
        Err(e @ SignInError::NoMail(_)) => signin_page(
            secure,
            StatusCode::FORBIDDEN,
            &next,
            login,
            Some(&format!("{e}: ask your administrator")),
        ),
    }
}

#[derive(Deserialize)]
pub struct Csrf {
    csrf: Option<String>,
}

/// `POST /signout`.
pub async fn signout(
    State(api): State<Api>,
    headers: HeaderMap,
    peer: Option<axum::Extension<Peer>>,
    Form(form): Form<Csrf>,
) -> Result<Response, Failed> {
    let user = super::posted(&api, &headers, form.csrf.as_deref()).await?;
    let cookie = session::end(&api, &user, session::over_tls(peer.as_ref()))
        .await
        .map_err(Failed::unavailable)?;
    tracing::info!(login = %user.row.login, "web: signed out");
    let mut response = Redirect::to("/signin").into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_of_this_site_come_back_after_sign_in() {
        let cases = [
            (Some("/faxes/abc"), "/faxes/abc"),
            (Some("//evil.example/x"), "/faxes"),
            (Some("/\\evil.example"), "/faxes"),
            (Some("https://evil.example"), "/faxes"),
            (Some("/a\r\nSet-Cookie: x"), "/faxes"),
            (None, "/faxes"),
        ];
        for (next, want) in cases {
            assert_eq!(local_path(next), want, "{next:?}");
        }
        assert_eq!(encode_next("/faxes/a b?c"), "/faxes/a%20b%3Fc");
    }
}
