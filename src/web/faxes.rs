//! "My faxes": the user's jobs, newest first; a job's page with its recipients' status
//! changing live (server-sent events from `/faxes/{id}/events`), page 1, the sent PDF, and the
//! actions a sender has (cancel, retry; hold and release for administrators). Another user's
//! job is 404, as if absent, whatever its id.

use super::pages::{badge, csrf, layout, when};
use super::session::WebUser;
use super::{Failed, page, posted, signed_in};
use crate::http::Api;
use crate::http::faxes::{job_file, perform, visible};
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use faxhub_queue::store::{JobView, PageQuery};
use maud::{Markup, html};
use serde::Deserialize;
use std::time::Duration;

/// Jobs shown at most (the newest).
const SHOWN: usize = 1000;

/// `GET /faxes`.
pub async fn list(State(api): State<Api>, headers: HeaderMap) -> Response {
    let user = match signed_in(&api, &headers, "/faxes").await {
        Ok(user) => user,
        Err(to) => return to,
    };
    let jobs = api
        .store
        .jobs_page(&PageQuery {
            sender: Some(user.row.mail.clone()),
            status: None,
            since_ms: None,
            after: None,
            include_finished: true,
            limit: SHOWN,
        })
        .await;
    let mut jobs = match jobs {
        Ok(jobs) => jobs,
        Err(e) => return Failed::unavailable(e).into_response(),
    };
    jobs.reverse();
    page(
        StatusCode::OK,
        layout("My faxes", Some(&user), jobs_table(&jobs)),
    )
}

/// A table of jobs, each linking to its page.
pub fn jobs_table(jobs: &[JobView]) -> Markup {
    html! {
        @if jobs.is_empty() {
            p { "No fax yet. " a href="/send" { "Send one" } "." }
        } @else {
            table.jobs {
                thead { tr { th { "Received" } th { "Subject" } th { "Pages" } th { "Numbers" } } }
                tbody {
                    @for job in jobs {
                        tr {
                            td { (when(&job.received_at)) }
                            td { a href={ "/faxes/" (job.id) } { (job.subject.as_deref().filter(|s| !s.is_empty()).unwrap_or("(no subject)")) } }
                            td { (job.pages.map(|p| p.to_string()).unwrap_or_else(|| "…".into())) }
                            td {
                                @for r in &job.recipients {
                                    span.rcpt { (r.number) " " (badge(r.status)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /faxes/{id}`.
pub async fn one(State(api): State<Api>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let user = match signed_in(&api, &headers, &format!("/faxes/{id}")).await {
        Ok(user) => user,
        Err(to) => return to,
    };
    let (job_id, job) = match visible(&api, &user.caller(), &id).await {
        Ok(found) => found,
        Err(problem) => return Failed::of(&user, problem).into_response(),
    };
    match api.store.job_reports(&job_id).await {
        Ok(reports) => page(StatusCode::OK, job_page(&user, &job, &reports)),
        Err(e) => Failed::unavailable(e).into_response(),
    }
}

/// A job's reports: id, kind, spool path, when made.
type Reports = [(String, String, String, i64)];

fn job_page(user: &WebUser, job: &JobView, reports: &Reports) -> Markup {
    let title = job
        .subject
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or("Fax");
    let actions: &[&str] = match user.row.admin {
        true => &["cancel", "retry", "hold", "release"],
        false => &["cancel", "retry"],
    };
    layout(
        title,
        Some(user),
        html! {
            section.job id="job" data-events={ "/faxes/" (job.id) "/events" } {
                p.meta {
                    "From " (job.sender) ", received " (when(&job.received_at)) ". "
                    span id="pages" { (pages_text(job)) }
                }
                div #pages-view data-base={ "/faxes/" (job.id) "/file/" } {
                    @if job.pages.is_some() {
                        a href={ "/faxes/" (job.id) "/file/pages.pdf" } {
                            img.thumb src={ "/faxes/" (job.id) "/file/thumbnail.png" } alt="page 1";
                        }
                        p { a href={ "/faxes/" (job.id) "/file/pages.pdf" } { "The pages sent (PDF)" } }
                    }
                }
                table.recipients {
                    thead { tr { th { "Number" } th { "Status" } th { "Pages" } th { "Why" } th { "Tries" } } }
                    tbody {
                        @for r in &job.recipients {
                            tr data-number=(r.number) {
                                td { (r.number) @if let Some(n) = &r.display_name { " (" (n) ")" } }
                                td.status { (badge(r.status)) }
                                td.sent { (r.pages_sent) }
                                td.reason { (r.reason.as_deref().unwrap_or("")) }
                                td.tries { (r.attempts) }
                            }
                        }
                    }
                }
                @if !reports.is_empty() {
                    h2 { "Reports" }
                    ul.reports {
                        @for (mail, kind, _, at) in reports {
                            li {
                                a href={ "/faxes/" (job.id) "/report/" (mail) } { (kind) }
                                " (" (chrono::DateTime::from_timestamp_millis(*at).map(|t| t.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()) ")"
                            }
                        }
                    }
                }
                form.actions method="post" action={ "/faxes/" (job.id) "/act" } {
                    (csrf(user))
                    @for action in actions {
                        button type="submit" name="action" value=(action) { (action) }
                    }
                }
            }
        },
    )
}

fn pages_text(job: &JobView) -> String {
    match job.pages {
        Some(n) => format!("{n} page(s)."),
        None => format!("Pages: {}.", job.phase.as_str()),
    }
}

/// What the live page needs of a job, as JSON.
fn snapshot(job: &JobView) -> serde_json::Value {
    serde_json::json!({
        "phase": job.phase.as_str(),
        "pages": pages_text(job),
        "converted": job.pages.is_some(),
        "recipients": job.recipients.iter().map(|r| serde_json::json!({
            "number": r.number,
            "status": r.status.as_str(),
            "pages_sent": r.pages_sent,
            "reason": r.reason,
            "tries": r.attempts,
        })).collect::<Vec<_>>(),
    })
}

/// How often a followed job is read again.
const EVERY: Duration = Duration::from_secs(1);
/// How long one stream lasts (the browser opens another).
const AT_MOST: Duration = Duration::from_secs(3600);

/// `GET /faxes/{id}/events`: the job each time it changes (`event: job`), until every recipient
/// is finished (then `event: end`) or an hour passed.
pub async fn events(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let user = match super::session::current(&api, &headers).await {
        Ok(Some(user)) => user,
        Ok(None) => return Failed::new(StatusCode::UNAUTHORIZED, "not signed in").into_response(),
        Err(e) => return Failed::unavailable(e).into_response(),
    };
    let caller = user.caller();
    let job_id = match visible(&api, &caller, &id).await {
        Ok((job_id, _)) => job_id,
        Err(problem) => return Failed::of(&user, problem).into_response(),
    };
    let started = tokio::time::Instant::now();
    struct Follow {
        api: Api,
        job_id: faxhub_queue::job::JobId,
        last: Option<serde_json::Value>,
        ended: bool,
        started: tokio::time::Instant,
    }
    let follow = Follow {
        api,
        job_id,
        last: None,
        ended: false,
        started,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        if f.ended || f.started.elapsed() > AT_MOST {
            return None;
        }
        loop {
            if f.last.is_some() {
                tokio::time::sleep(EVERY).await;
            }
            let job = match f.api.store.job(&f.job_id).await {
                Ok(Some(job)) => job,
                // gone (purged) or the store down: the browser tries again
                _ => return None,
            };
            let now = snapshot(&job);
            let finished = job.recipients.iter().all(|r| r.status.is_final());
            if f.last.as_ref() != Some(&now) {
                f.last = Some(now.clone());
                f.ended = finished;
                let event = Event::default().event("job").data(now.to_string());
                return Some((Ok::<_, std::convert::Infallible>(event), f));
            }
            if finished || f.started.elapsed() > AT_MOST {
                f.ended = true;
                return Some((Ok(Event::default().event("end").data("{}")), f));
            }
        }
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

#[derive(Deserialize)]
pub struct ActForm {
    csrf: Option<String>,
    action: String,
    number: Option<String>,
    /// `admin`: back to the queue rather than the job.
    back: Option<String>,
}

/// `POST /faxes/{id}/act`: cancel, retry (the sender), hold, release (administrators too).
pub async fn act(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<ActForm>,
) -> Result<Response, Failed> {
    let user = posted(&api, &headers, form.csrf.as_deref()).await?;
    if !user.row.admin && !matches!(form.action.as_str(), "cancel" | "retry") {
        return Err(Failed {
            status: StatusCode::FORBIDDEN,
            message: format!("{}: for administrators", form.action),
            user: Some(user),
        });
    }
    let number = form.number.as_deref().filter(|n| !n.is_empty());
    perform(&api, &user.caller(), &id, &form.action, number)
        .await
        .map_err(|p| Failed::of(&user, p))?;
    tracing::info!(job = %id, login = %user.row.login, action = %form.action, "web: action");
    let back = match form.back.as_deref() {
        Some("admin") => "/admin".to_string(),
        _ => format!("/faxes/{id}"),
    };
    Ok(Redirect::to(&back).into_response())
}

/// `GET /faxes/{id}/file/{pages.pdf|thumbnail.png}`.
pub async fn file(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    let user = match signed_in(&api, &headers, &format!("/faxes/{id}")).await {
        Ok(user) => user,
        Err(to) => return to,
    };
    match job_file(&api, &user.caller(), &id, &name).await {
        Ok(response) => response,
        Err(problem) => Failed::of(&user, problem).into_response(),
    }
}

/// `GET /faxes/{id}/report/{mail}`: a report on the job, as mailed (`message/rfc822`).
pub async fn report(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, mail)): Path<(String, String)>,
) -> Response {
    let user = match signed_in(&api, &headers, &format!("/faxes/{id}")).await {
        Ok(user) => user,
        Err(to) => return to,
    };
    let (job_id, _) = match visible(&api, &user.caller(), &id).await {
        Ok(found) => found,
        Err(problem) => return Failed::of(&user, problem).into_response(),
    };
    let missing = || {
        Failed {
            status: StatusCode::NOT_FOUND,
            message: format!("fax {id} has no report {mail}"),
            user: Some(user.clone()),
        }
        .into_response()
    };
    // only a path the store gives for this job's report is read
    let reports = match api.store.job_reports(&job_id).await {
        Ok(reports) => reports,
        Err(e) => return Failed::unavailable(e).into_response(),
    };
    let Some((_, kind, path, _)) = reports.into_iter().find(|(m, ..)| *m == mail) else {
        return missing();
    };
    let local = match api.spool.local(&path).await {
        Ok(local) => local,
        Err(_) => return missing(),
    };
    match tokio::fs::read(&local).await {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            super::secure(response.headers_mut(), "message/rfc822");
            if let Ok(v) = axum::http::HeaderValue::from_str(&format!(
                "attachment; filename=\"fax-{id}-{kind}.eml\""
            )) {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(_) => missing(),
    }
}
