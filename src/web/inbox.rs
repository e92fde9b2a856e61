//! "Inbox": the faxes received for the numbers the user owns (all of them for
//! administrators), newest first, unread ones marked; a fax's page with its pages drawn, the
//! PDF, and a form to forward it by mail. Opening a fax as its owner marks it read. Another
//! user's fax is 404, as if absent.

use super::pages::{csrf, layout, when};
use super::session::WebUser;
use super::{Failed, page, posted, signed_in};
use crate::http::Api;
use crate::http::inbox::{received, received_page, received_pdf};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use faxhub_lines::inbox::Received;
use maud::{Markup, html};
use serde::Deserialize;

/// Faxes listed at most (the newest).
const SHOWN: usize = 1000;

/// `GET /inbox`.
pub async fn list(State(api): State<Api>, headers: HeaderMap) -> Response {
    let user = match signed_in(&api, &headers, "/inbox").await {
        Ok(user) => user,
        Err(to) => return to,
    };
    let (mut faxes, _) = match received_page(&api, &user.caller(), None, SHOWN).await {
        Ok(page) => page,
        Err(problem) => return Failed::of(&user, problem).into_response(),
    };
    faxes.reverse();
    let body = html! {
        @if faxes.is_empty() {
            p { "No fax received for your numbers." }
        } @else {
            table.inbox {
                thead { tr { th { "Received" } th { "From" } th { "To" } th { "Pages" } th { "Result" } } }
                tbody {
                    @for r in &faxes {
                        @let unread = !api.inbox.is_read(&r.id);
                        tr class=[unread.then_some("unread")] {
                            td { a href={ "/inbox/" (r.id) } { (when(&r.received_at)) } }
                            td { (from(r)) }
                            td { (r.did) }
                            td { (r.pages) }
                            td { (r.result) }
                        }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Inbox", Some(&user), body))
}

fn from(r: &Received) -> String {
    match (&r.caller, &r.remote_ident) {
        (Some(c), Some(i)) if !i.trim().is_empty() => format!("{c} ({})", i.trim()),
        (Some(c), _) => c.clone(),
        (None, Some(i)) => i.trim().to_string(),
        (None, None) => "unknown".into(),
    }
}

/// The signed-in user of a request for reception `id`, and the reception if they see it.
async fn seen(api: &Api, headers: &HeaderMap, id: &str) -> Result<(WebUser, Received), Response> {
    let user = signed_in(api, headers, &format!("/inbox/{id}")).await?;
    match received(api, &user.caller(), id).await {
        Ok(r) => Ok((user, r)),
        Err(problem) => Err(Failed::of(&user, problem).into_response()),
    }
}

/// `GET /inbox/{id}`.
pub async fn one(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (user, r) = match seen(&api, &headers, &id).await {
        Ok(seen) => seen,
        Err(answer) => return answer,
    };
    // read by its owner (an administrator looking is not the owner reading)
    let owner = api
        .owners
        .owner_of(&r.did, r.remote_ident.as_deref())
        .await
        .ok()
        .flatten();
    if owner.is_some_and(|o| o.eq_ignore_ascii_case(&user.row.mail))
        && let Err(e) = api.inbox.mark_read(&r.id)
    {
        tracing::warn!(fax = %r.id, error = %e, "web: cannot mark a fax read");
    }
    let drawn = drawn_pages(&api, &r).await;
    let body = html! {
        p.meta { "From " (from(&r)) " to " (r.did) ", " (when(&r.received_at)) ": " (r.pages) " page(s), " (r.result) "." }
        @if r.tiff.is_some() { p { a href={ "/inbox/" (r.id) "/fax.pdf" } { "The fax (PDF)" } } }
        (drawn)
        form.forward method="post" action={ "/inbox/" (r.id) "/forward" } {
            (csrf(&user))
            label { "Forward to" input name="to" type="email" required placeholder="someone@example.com"; }
            button type="submit" { "Forward" }
        }
    };
    page(StatusCode::OK, layout("Received fax", Some(&user), body))
}

/// The pages of reception `r` drawn (through the converters, as a PDF of them would be sent),
/// or a line saying why not.
async fn drawn_pages(api: &Api, r: &Received) -> Markup {
    let Ok(response) = received_pdf(api, r).await else {
        return html! {};
    };
    let Ok(pdf) = axum::body::to_bytes(response.into_body(), usize::MAX).await else {
        return html! {};
    };
    let Ok(_turn) = api.web.conversion_turn().await else {
        return html! { p { "The converters are busy: the pages are not drawn now; the PDF has them." } };
    };
    let work = match tempfile::Builder::new()
        .prefix("web-inbox-")
        .tempdir_in(api.spool.tmp_dir())
    {
        Ok(work) => work,
        Err(_) => return html! {},
    };
    let pages = match api
        .web
        .converter
        .convert_file("fax.pdf", &pdf, work.path())
        .await
    {
        Ok(set) => tokio::fs::read(&set.g4)
            .await
            .map_err(|e| e.to_string())
            .and_then(|b| {
                faxhub_converters::tiff_f::FaxPage::from_tiff(&b).map_err(|e| e.to_string())
            }),
        Err(e) => Err(e.to_string()),
    };
    let images = match pages {
        Ok(pages) => super::pages::drawn(pages).await.unwrap_or_default(),
        Err(why) => {
            tracing::warn!(fax = %r.id, %why, "web: a received fax cannot be drawn");
            return html! { p { "The pages cannot be shown here; the PDF has them." } };
        }
    };
    html! {
        div.pages {
            @for (i, src) in images.iter().enumerate() {
                img.page src=(src) alt={ "page " (i + 1) };
            }
        }
    }
}

/// `GET /inbox/{id}/fax.pdf`.
pub async fn pdf(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let (user, r) = match seen(&api, &headers, &id).await {
        Ok(seen) => seen,
        Err(answer) => return answer,
    };
    match received_pdf(&api, &r).await {
        Ok(response) => response,
        Err(problem) => Failed::of(&user, problem).into_response(),
    }
}

#[derive(Deserialize)]
pub struct ForwardForm {
    csrf: Option<String>,
    to: String,
}

/// `POST /inbox/{id}/forward`: the fax mailed to the address given.
pub async fn forward(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ForwardForm>,
) -> Result<Response, Failed> {
    let user = posted(&api, &headers, form.csrf.as_deref()).await?;
    let r = received(&api, &user.caller(), &id)
        .await
        .map_err(|p| Failed::of(&user, p))?;
    let to = form.to.trim();
    if faxhub_queue::senders::mailbox(to).is_none() || to.chars().any(char::is_control) {
        return Err(Failed {
            status: StatusCode::BAD_REQUEST,
            message: format!("{to:?} is not a mail address"),
            user: Some(user),
        });
    }
    let Some(mailer) = &api.web.mailer else {
        return Err(Failed {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "this node does not mail received faxes".into(),
            user: Some(user),
        });
    };
    mailer
        .forward(&r.id, to)
        .await
        .map_err(Failed::unavailable)?;
    tracing::info!(fax = %r.id, login = %user.row.login, to = %to, "web: fax forwarded");
    Ok(Redirect::to(&format!("/inbox/{}", r.id)).into_response())
}
