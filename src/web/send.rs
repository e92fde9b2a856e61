//! "Send": numbers (checked as they are typed, by the dial plan SMTP uses), files, a subject, a
//! note, the cover page, paper and resolution; a preview of the exact pages faxhub will send
//! (the message converted as the job will be, its TIFF-F pages drawn as images); then the fax
//! is queued through the API's intake. The documents are converted before the job is queued,
//! so a file that cannot be faxed is named on the page and nothing is queued. The form's key
//! makes a second click the same fax, not another.

use super::pages::{csrf, layout};
use super::session::WebUser;
use super::{Failed, page, signed_in};
use crate::http::Api;
use crate::http::problem::Problem;
use crate::http::request::{FaxRequest, To};
use crate::http::send::{Prepared, intake_problem, prepare, queue};
use axum::Json;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use faxhub_converters::ConvertError;
use maud::{Markup, html};
use serde::Deserialize;

/// `GET /send`.
pub async fn form(State(api): State<Api>, headers: HeaderMap) -> Response {
    match signed_in(&api, &headers, "/send").await {
        Ok(user) => page(StatusCode::OK, send_page(&user, &Filled::default(), None)),
        Err(to) => to,
    }
}

/// What the form held, to show it again with what was wrong.
#[derive(Default)]
struct Filled {
    to: String,
    subject: String,
    text: String,
}

fn send_page(user: &WebUser, filled: &Filled, message: Option<&str>) -> Markup {
    let key = crate::http::token::random_hex(16);
    layout(
        "Send a fax",
        Some(user),
        html! {
            @if let Some(message) = message { p.error role="alert" { (message) } }
            form #send method="post" action="/send" enctype="multipart/form-data" {
                (csrf(user))
                input type="hidden" name="key" value=(key);
                label { "To (numbers or fax addresses, one a line; Name <number> for the cover)"
                    textarea #to name="to" rows="3" required { (filled.to) }
                }
                ul #numbers aria-live="polite" {}
                label { "Documents (PDF, Word, Excel, images, text)"
                    input #files type="file" name="files" multiple;
                }
                label { "Subject" input name="subject" value=(filled.subject); }
                label { "Note (a page of its own)" textarea name="text" rows="3" { (filled.text) } }
                fieldset.options {
                    label { "Cover page"
                        select name="cover" {
                            option value="" { "as the site does" }
                            option value="yes" { "yes" }
                            option value="no" { "no" }
                        }
                    }
                    label { "Resolution"
                        select name="resolution" {
                            option value="" { "as the site does" }
                            option value="normal" { "normal (98 dpi)" }
                            option value="fine" { "fine (196 dpi)" }
                            option value="superfine" { "superfine (392 dpi)" }
                        }
                    }
                    label { "Paper"
                        select name="paper" {
                            option value="" { "as the site does" }
                            option value="a4" { "A4" }
                            option value="letter" { "Letter" }
                            option value="legal" { "Legal" }
                        }
                    }
                }
                div.buttons {
                    button #preview-button type="button" { "Preview" }
                    button #send-button type="submit" { "Send" }
                }
            }
            section #preview aria-live="polite" {}
        },
    )
}

/// The form, read.
struct SendForm {
    csrf: Option<String>,
    key: Option<String>,
    fax: FaxRequest,
    files: Vec<(String, Vec<u8>)>,
    filled: Filled,
}

fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail)
}

/// The entries of the "to" field: lines, commas or semicolons apart.
fn entries(to: &str) -> Vec<String> {
    to.split(['\n', ',', ';'])
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// An entry as the request has it: `Name <number>` names the cover's addressee.
fn to_of(entry: &str) -> To {
    match entry.strip_suffix('>').and_then(|e| e.rsplit_once('<')) {
        Some((name, number)) if !name.trim().is_empty() => To::Named(crate::http::request::Named {
            number: number.trim().to_string(),
            name: name.trim().trim_matches('"').to_string(),
        }),
        Some((_, number)) => To::Plain(number.trim().to_string()),
        None => To::Plain(entry.to_string()),
    }
}

/// A select's word as the request's enum (`""`: not given).
fn choice<T: serde::de::DeserializeOwned>(field: &str, word: &str) -> Result<Option<T>, Problem> {
    if word.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(serde_json::Value::String(word.to_string()))
        .map(Some)
        .map_err(|_| bad(format!("{field}: {word:?} is not one of the choices")))
}

async fn read_form(api: &Api, request: Request) -> Result<SendForm, Problem> {
    let too_big = |status: StatusCode, text: String| match status {
        StatusCode::PAYLOAD_TOO_LARGE => Problem::new(
            status,
            format!("the fax is too large: at most {} bytes", api.max_size),
        ),
        _ => Problem::new(status, text),
    };
    let mut multipart = Multipart::from_request(request, api)
        .await
        .map_err(|e| too_big(e.status(), e.body_text()))?;
    let mut form = SendForm {
        csrf: None,
        key: None,
        fax: FaxRequest::default(),
        files: Vec::new(),
        filled: Filled::default(),
    };
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| too_big(e.status(), e.body_text()))?
    {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().map(str::to_string);
        let bytes = field
            .bytes()
            .await
            .map_err(|e| too_big(e.status(), e.body_text()))?;
        if name == "files" {
            // a file input left empty still sends a part, with no name and no bytes
            if let Some(file_name) = file_name.filter(|n| !n.is_empty()) {
                form.files.push((file_name, bytes.to_vec()));
            }
            continue;
        }
        let text = String::from_utf8(bytes.to_vec())
            .map_err(|_| bad(format!("{name}: not UTF-8 text")))?;
        match name.as_str() {
            "csrf" => form.csrf = Some(text),
            "key" => form.key = Some(text),
            "to" => {
                form.fax.to = entries(&text).iter().map(|e| to_of(e)).collect();
                form.filled.to = text;
            }
            "subject" => {
                form.fax.subject = Some(text.trim().to_string()).filter(|s| !s.is_empty());
                form.filled.subject = text;
            }
            "text" => {
                form.fax.text = Some(text.clone()).filter(|s| !s.trim().is_empty());
                form.filled.text = text;
            }
            "cover" => {
                form.fax.cover = match text.as_str() {
                    "yes" => Some(true),
                    "no" => Some(false),
                    _ => None,
                }
            }
            "resolution" => form.fax.resolution = choice("resolution", &text)?,
            "paper" => form.fax.paper = choice("paper", &text)?,
            other => return Err(bad(format!("{other:?}: not a field of this form"))),
        }
    }
    Ok(form)
}

/// Reads and checks a posted form: the user (session, CSRF), the form, the fax prepared.
async fn posted_fax(
    api: &Api,
    headers: &HeaderMap,
    request: Request,
) -> Result<(WebUser, SendForm, Prepared), Failed> {
    let user = match super::session::current(api, headers).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            return Err(Failed::new(
                StatusCode::FORBIDDEN,
                "you are not signed in (or your session ended): sign in again",
            ));
        }
        Err(e) => return Err(Failed::unavailable(e)),
    };
    let mut form = read_form(api, request)
        .await
        .map_err(|p| Failed::of(&user, p))?;
    let user = super::posted(api, headers, form.csrf.as_deref()).await?;
    form.fax.from_name = user.row.name.clone();
    let files = std::mem::take(&mut form.files);
    let prepared =
        prepare(api, &user.caller(), &form.fax, files).map_err(|p| Failed::of(&user, p))?;
    Ok((user, form, prepared))
}

/// The pages of a prepared fax, converted as its job will be (no cover page: that is each
/// recipient's); a conversion's refusal names the document.
async fn convert(
    api: &Api,
    prepared: &Prepared,
) -> Result<Vec<faxhub_converters::tiff_f::FaxPage>, Problem> {
    let _turn = api.web.conversion_turn().await?;
    let scratch = api.spool.tmp_dir();
    let work = tempfile::Builder::new()
        .prefix("web-preview-")
        .tempdir_in(&scratch)
        .map_err(Problem::unavailable)?;
    let message = work.path().join("message.eml");
    tokio::fs::write(&message, &prepared.message)
        .await
        .map_err(Problem::unavailable)?;
    let set = api
        .web
        .converter
        .convert(&message, work.path())
        .await
        .map_err(conversion_problem)?;
    let bytes = tokio::fs::read(&set.g4)
        .await
        .map_err(Problem::unavailable)?;
    faxhub_converters::tiff_f::FaxPage::from_tiff(&bytes).map_err(conversion_problem)
}

fn conversion_problem(e: ConvertError) -> Problem {
    match e.is_temporary() {
        true => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the documents cannot be converted now ({e}): try again later"),
        ),
        false => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("this cannot be faxed: {e}"),
        ),
    }
    .with_code(e.status())
}

/// `POST /send/preview`: `{"pages": n, "images": ["data:image/png;base64,…"]}` (the first
/// `pages::MAX_DRAWN` pages), or `{"error": "…"}`.
pub async fn preview(State(api): State<Api>, headers: HeaderMap, request: Request) -> Response {
    let failed = |status: StatusCode, message: String| {
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    };
    let (_, _, prepared) = match posted_fax(&api, &headers, request).await {
        Ok(ok) => ok,
        Err(f) => return failed(f.status, f.message),
    };
    let pages = match convert(&api, &prepared).await {
        Ok(pages) => pages,
        Err(p) => return failed(p.status(), p.detail().to_string()),
    };
    let count = pages.len();
    let images = super::pages::drawn(pages).await;
    match images {
        Ok(images) => Json(serde_json::json!({ "pages": count, "images": images })).into_response(),
        Err(e) => failed(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `POST /send`: the fax queued (then its page), or the form again saying what is wrong.
pub async fn submit(State(api): State<Api>, headers: HeaderMap, request: Request) -> Response {
    let (user, form, prepared) = match posted_fax(&api, &headers, request).await {
        Ok(ok) => ok,
        Err(f) => return f.into_response(),
    };
    let again = |problem: Problem| {
        page(
            problem.status(),
            send_page(&user, &form.filled, Some(problem.detail())),
        )
    };
    let source = form
        .key
        .as_deref()
        .filter(|k| k.len() == 32 && k.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|k| format!("web:{}:{k}", user.row.id));
    if let Some(source) = &source
        && let Ok(Some((id, _))) = api.store.job_and_hash_by_source(source).await
    {
        return Redirect::to(&format!("/faxes/{id}")).into_response();
    }
    if let Err(problem) = convert(&api, &prepared).await {
        return again(problem);
    }
    match queue(&api, prepared, source.clone(), source.clone()).await {
        Ok(job) => {
            tracing::info!(job = %job.id, login = %user.row.login, "web: fax queued");
            Redirect::to(&format!("/faxes/{}", job.id)).into_response()
        }
        Err(e) => {
            // the same form sent twice at once: the other one made it
            if let Some(source) = &source
                && let Ok(Some((id, _))) = api.store.job_and_hash_by_source(source).await
            {
                return Redirect::to(&format!("/faxes/{id}")).into_response();
            }
            again(intake_problem(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_numbers_or_named_numbers() {
        let got: Vec<(String, Option<String>)> =
            entries("01 69 29 39 98, Jean Dupont <0169293997>\n\"Ma, rie\" <x@fax>;<0169293996>")
                .iter()
                .map(|e| to_of(e))
                .map(|t| (t.number().to_string(), t.name().map(str::to_string)))
                .collect();
        assert_eq!(
            got,
            [
                ("01 69 29 39 98".into(), None),
                ("0169293997".into(), Some("Jean Dupont".into())),
                // a comma separates entries, even in quotes: the check shows both halves
                ("\"Ma".into(), None),
                ("x@fax".into(), Some("rie".into())),
                ("0169293996".into(), None),
            ]
        );
    }
}

#[derive(Deserialize)]
pub struct CheckQuery {
    to: String,
}

/// `GET /send/check?to=…`: each entry of the field as the dial plan reads it:
/// `[{"entry", "number"}]` or `[{"entry", "error"}]`.
pub async fn check(
    State(api): State<Api>,
    headers: HeaderMap,
    Query(query): Query<CheckQuery>,
) -> Response {
    match super::session::current(&api, &headers).await {
        Ok(Some(_)) => {}
        _ => return (StatusCode::UNAUTHORIZED, Json(serde_json::json!([]))).into_response(),
    }
    let checked: Vec<serde_json::Value> = entries(&query.to)
        .into_iter()
        .take(api.max_recipients.max(1))
        .map(|entry| {
            let to = to_of(&entry);
            let raw = to.number();
            let read = match raw.contains('@') {
                true => api
                    .addressing
                    .recipient_of(raw)
                    .map(|r| r.number.to_string())
                    .map_err(|r| r.to_string()),
                false => api
                    .addressing
                    .dialplan
                    .parse(raw)
                    .map(|n| n.to_string())
                    .map_err(|e| e.to_string()),
            };
            match read {
                Ok(number) => serde_json::json!({ "entry": entry, "number": number }),
                Err(error) => serde_json::json!({ "entry": entry, "error": error }),
            }
        })
        .collect();
    Json(checked).into_response()
}
