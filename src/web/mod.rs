//! The web client (`[web]`), on the HTTP API's server: pages rendered here (maud, every value
//! escaped), one style sheet and one small script of our own, no outside resource. Signed-in
//! users send faxes with a preview of the exact pages (`send`), follow their faxes live
//! (`faxes`, server-sent events), read the faxes received for their numbers (`inbox`);
//! administrators also see the whole queue, the lines and the configuration check (`admin`).
//!
//! A user acts as the API's token bound to their address would (`session::WebUser::caller`):
//! they see and send their own faxes only, the inbox of the numbers they own; another's fax is
//! 404, as if absent. Every page is sent with a Content-Security-Policy that allows this site's
//! own script and style only, no framing, and `no-store`.

mod admin;
pub mod config;
mod faxes;
mod inbox;
mod pages;
mod send;
pub mod session;
mod signin;
pub mod users;

use crate::http::Api;
use crate::http::problem::Problem;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use faxhub_connectors::directory::Directory;
use maud::Markup;
use session::WebUser;
use std::sync::{Arc, Mutex};

/// What the web client needs beyond the API's state.
pub struct Web {
    pub config: config::WebConfig,
    /// Where directory users sign in (`[ldap]`).
    pub directory: Option<Directory>,
    /// Failed sign-ins lately, by name and by client address (the latter allowed ten times as
    /// many: one office behind one address has many users).
    pub attempts: Mutex<[users::Attempts; 2]>,
    /// The converters, for previews.
    pub converter: Arc<faxhub_converters::Converter>,
    /// What `faxhub check-config` said of the configuration at start-up.
    pub checks: Vec<String>,
    /// Mails received faxes (forwarding); none on a node that does not.
    pub mailer: Option<crate::inbound::Mailer>,
    /// Conversions the web client runs at once (previews, checks before sending, received
    /// pages drawn): as many as the converters' workers, whatever the number of users asking.
    pub conversions: tokio::sync::Semaphore,
}

impl Web {
    pub fn new(
        config: config::WebConfig,
        directory: Option<Directory>,
        converter: Arc<faxhub_converters::Converter>,
        checks: Vec<String>,
        mailer: Option<crate::inbound::Mailer>,
        conversions: usize,
    ) -> Web {
        let attempts = Mutex::new([
            users::Attempts::new(config.max_failures, config.lockout),
            users::Attempts::new(config.max_failures.saturating_mul(10), config.lockout),
        ]);
        Web {
            config,
            directory,
            attempts,
            converter,
            checks,
            mailer,
            conversions: tokio::sync::Semaphore::new(conversions.max(1)),
        }
    }
}

/// How long a conversion waits for its turn before the user is told the converters are busy.
const CONVERSION_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Web {
    /// A turn to convert, or 503 once `CONVERSION_WAIT` passed.
    pub async fn conversion_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, Problem> {
        match tokio::time::timeout(CONVERSION_WAIT, self.conversions.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the converters are busy: try again in a minute",
            )),
        }
    }
}

/// The web client's routes (none when `[web] enabled = false`); a fax sent from it may be
/// `max_size` bytes, as a mail may.
pub fn routes(enabled: bool, max_size: usize) -> Router<Api> {
    if !enabled {
        return Router::new();
    }
    let uploads = axum::extract::DefaultBodyLimit::max(max_size);
    Router::new()
        .route("/", get(home))
        .route("/static/{file}", get(pages::asset))
        .route("/signin", get(signin::form).post(signin::submit))
        .route("/signout", post(signin::signout))
        .route("/send", get(send::form).post(send::submit).layer(uploads))
        .route("/send/preview", post(send::preview).layer(uploads))
        .route("/send/check", get(send::check))
        .route("/faxes", get(faxes::list))
        .route("/faxes/{id}", get(faxes::one))
        .route("/faxes/{id}/events", get(faxes::events))
        .route("/faxes/{id}/act", post(faxes::act))
        .route("/faxes/{id}/file/{name}", get(faxes::file))
        .route("/faxes/{id}/report/{mail}", get(faxes::report))
        .route("/inbox", get(inbox::list))
        .route("/inbox/{id}", get(inbox::one))
        .route("/inbox/{id}/fax.pdf", get(inbox::pdf))
        .route("/inbox/{id}/forward", post(inbox::forward))
        .route("/admin", get(admin::queue))
        .route("/admin/lines", get(admin::lines))
        .route("/admin/config", get(admin::config))
}

async fn home(
    axum::extract::State(api): axum::extract::State<Api>,
    headers: HeaderMap,
) -> Response {
    match session::current(&api, &headers).await {
        Ok(Some(_)) => Redirect::to("/faxes").into_response(),
        _ => Redirect::to("/signin").into_response(),
    }
}

/// A page: HTML with the headers every page has.
pub fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    secure(response.headers_mut(), "text/html; charset=utf-8");
    response
}

/// The headers of everything the web client sends: its type, a CSP allowing only this site's
/// own script, style, images (and `data:` previews) and connections, no framing, no caching.
pub fn secure(headers: &mut HeaderMap, content_type: &'static str) {
    let set = [
        (header::CONTENT_TYPE, content_type),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "private, no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// A request the web client answers with a page saying what went wrong.
pub struct Failed {
    pub status: StatusCode,
    pub message: String,
    pub user: Option<WebUser>,
}

impl Failed {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failed {
        Failed {
            status,
            message: message.into(),
            user: None,
        }
    }

    pub fn of(user: &WebUser, problem: Problem) -> Failed {
        Failed {
            status: problem.status(),
            message: problem.detail().to_string(),
            user: Some(user.clone()),
        }
    }

    pub fn unavailable(what: impl std::fmt::Display) -> Failed {
        let p = Problem::unavailable(what);
        Failed::new(p.status(), p.detail())
    }
}

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        page(
            self.status,
            pages::failed(self.user.as_ref(), self.status, &self.message),
        )
    }
}

/// The signed-in user of a page request, or a redirection to the sign-in page (which comes
/// back to `back`, a path of this site).
pub async fn signed_in(api: &Api, headers: &HeaderMap, back: &str) -> Result<WebUser, Response> {
    match session::current(api, headers).await {
        Ok(Some(user)) => Ok(user),
        Ok(None) => Err(
            Redirect::to(&format!("/signin?next={}", signin::encode_next(back))).into_response(),
        ),
        Err(e) => Err(Failed::unavailable(e).into_response()),
    }
}

/// The signed-in user of a form posted, checked: a session, a page of this site (`Origin`) and
/// the session's CSRF token; 403 otherwise.
pub async fn posted(api: &Api, headers: &HeaderMap, csrf: Option<&str>) -> Result<WebUser, Failed> {
    let user = session::current(api, headers)
        .await
        .map_err(Failed::unavailable)?
        .ok_or_else(|| {
            Failed::new(
                StatusCode::FORBIDDEN,
                "you are not signed in (or your session ended): sign in again",
            )
        })?;
    if !session::same_origin(headers) || !session::csrf_ok(&user, csrf) {
        tracing::warn!(user = %user.row.login, "web: a form without this session's CSRF token, or from another site");
        return Err(Failed {
            status: StatusCode::FORBIDDEN,
            message:
                "this form is not from this session (CSRF check): reload the page and try again"
                    .into(),
            user: Some(user),
        });
    }
    Ok(user)
}
