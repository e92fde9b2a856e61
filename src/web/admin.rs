//! Administrators' pages: the whole queue with hold, release, cancel and retry; the lines with
//! their channels in use and trunk registration; the configuration check of start-up. Another
//! user gets 404 (there is nothing for them here).

use super::pages::{badge, csrf, layout, when};
use super::session::WebUser;
use super::{Failed, page, signed_in};
use crate::http::Api;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use faxhub_queue::state::RecipientStatus;
use faxhub_queue::store::PageQuery;
use maud::html;

/// The administrator of the request, or the answer for anyone else.
async fn admin(api: &Api, headers: &HeaderMap, back: &str) -> Result<WebUser, Response> {
    let user = signed_in(api, headers, back).await?;
    match user.row.admin {
        true => Ok(user),
        false => Err(Failed {
            status: StatusCode::NOT_FOUND,
            message: "no such page".into(),
            user: Some(user),
        }
        .into_response()),
    }
}

/// Every sender's unfinished jobs (with a recipient in `status`, if given), the first 1,000.
async fn unfinished(
    api: &Api,
    status: Option<RecipientStatus>,
) -> Result<Vec<faxhub_queue::store::JobView>, Failed> {
    api.store
        .jobs_page(&PageQuery {
            sender: None,
            status,
            since_ms: None,
            after: None,
            include_finished: false,
            limit: 1000,
        })
        .await
        .map_err(Failed::unavailable)
}

fn admin_nav() -> maud::Markup {
    html! {
        nav.sub { a href="/admin" { "Queue" } a href="/admin/lines" { "Lines" } a href="/inbox" { "Received" } a href="/admin/config" { "Configuration" } }
    }
}

/// `GET /admin`: every unfinished job, with the operator's actions.
pub async fn queue(State(api): State<Api>, headers: HeaderMap) -> Response {
    let user = match admin(&api, &headers, "/admin").await {
        Ok(user) => user,
        Err(to) => return to,
    };
    let jobs = match unfinished(&api, None).await {
        Ok(jobs) => jobs,
        Err(e) => return e.into_response(),
    };
    let body = html! {
        (admin_nav())
        @if jobs.is_empty() { p { "The queue is empty." } }
        @else {
            table.queue {
                thead { tr { th { "Received" } th { "Sender" } th { "Subject" } th { "Numbers" } th { "Actions" } } }
                tbody {
                    @for job in &jobs {
                        tr data-job=(job.id) {
                            td { (when(&job.received_at)) }
                            td { (job.sender) }
                            td { a href={ "/faxes/" (job.id) } { (job.subject.as_deref().filter(|s| !s.is_empty()).unwrap_or("(no subject)")) } }
                            td { @for r in &job.recipients { span.rcpt { (r.number) " " (badge(r.status)) } } }
                            td {
                                form.actions method="post" action={ "/faxes/" (job.id) "/act" } {
                                    (csrf(&user))
                                    input type="hidden" name="back" value="admin";
                                    @for action in ["hold", "release", "cancel", "retry"] {
                                        button type="submit" name="action" value=(action) { (action) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Queue", Some(&user), body))
}

/// `GET /admin/lines`.
pub async fn lines(State(api): State<Api>, headers: HeaderMap) -> Response {
    let user = match admin(&api, &headers, "/admin/lines").await {
        Ok(user) => user,
        Err(to) => return to,
    };
    // the calls in progress, every node's
    let sending = match unfinished(&api, Some(RecipientStatus::Sending)).await {
        Ok(jobs) => jobs,
        Err(e) => return e.into_response(),
    };
    let calls: Vec<_> = sending
        .iter()
        .flat_map(|job| {
            job.recipients
                .iter()
                .filter(|r| r.status == RecipientStatus::Sending)
                .map(move |r| (job, r))
        })
        .collect();
    let body = html! {
        (admin_nav())
        table.lines {
            thead { tr { th { "Line" } th { "Kind" } th { "Channels in use" } th { "Trunk" } } }
            tbody {
                @for line in api.lines.iter().map(|l| l.view()) {
                    tr {
                        td { (line.name) }
                        td { (format!("{:?}", line.kind).to_lowercase()) }
                        td { (line.channels_in_use) " of " (line.channels) }
                        td {
                            @match &line.trunk {
                                None => "—",
                                Some(t) => @match t.registered {
                                    Some(true) => "registered",
                                    Some(false) => { "not registered" @if let Some(e) = &t.register_error { ": " (e) } },
                                    None => "keep-alive",
                                },
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        (body)
        h2 { "Calls in progress" }
        @if calls.is_empty() { p { "None." } }
        @else {
            table.calls {
                thead { tr { th { "Number" } th { "Fax" } th { "Line" } th { "Stage" } th { "Pages" } } }
                tbody {
                    @for (job, r) in &calls {
                        tr {
                            td { (r.number) }
                            td { a href={ "/faxes/" (job.id) } { (job.sender) } }
                            td { (r.line.as_deref().unwrap_or("")) @if let Some(node) = &r.node { " (" (node) ")" } }
                            td { (r.progress.as_ref().and_then(|p| p.stage).map(|s| format!("{s:?}").to_lowercase()).unwrap_or_else(|| "dialling".into())) }
                            td { (r.progress.as_ref().map(|p| format!("{} of {}", p.pages_confirmed, p.pages)).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Lines", Some(&user), body))
}

/// `GET /admin/config`: what the configuration check said at start-up.
pub async fn config(State(api): State<Api>, headers: HeaderMap) -> Response {
    let user = match admin(&api, &headers, "/admin/config").await {
        Ok(user) => user,
        Err(to) => return to,
    };
    let body = html! {
        (admin_nav())
        p { "The configuration was checked when faxhub started (" code { "faxhub check-config" } " says the same)." }
        @if api.web.checks.is_empty() { p.ok { "No warning." } }
        @else { ul.warnings { @for w in &api.web.checks { li { (w) } } } }
    };
    page(StatusCode::OK, layout("Configuration", Some(&user), body))
}
