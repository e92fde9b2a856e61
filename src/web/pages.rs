//! The pieces every page shares: the layout (navigation, sign-out form), the error page, the
//! status badges, and the style sheet and script (`share/web/`, built into the binary).

use super::session::WebUser;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use faxhub_queue::state::RecipientStatus;
use maud::{DOCTYPE, Markup, html};

const CSS: &str = include_str!("../../share/web/faxhub.css");
const JS: &str = include_str!("../../share/web/faxhub.js");

/// `GET /static/{file}`: the style sheet and the script; nothing else.
pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "faxhub.css" => (CSS, "text/css; charset=utf-8"),
        "faxhub.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return super::Failed::new(StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    let mut response = body.into_response();
    super::secure(response.headers_mut(), kind);
    response
}

/// A whole page: `title`, the navigation for `user` (none before sign-in), `body`.
pub fn layout(title: &str, user: Option<&WebUser>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · faxhub" }
                link rel="stylesheet" href="/static/faxhub.css";
                script src="/static/faxhub.js" defer {}
            }
            body {
                header {
                    a.brand href="/" { "faxhub" }
                    @if let Some(user) = user {
                        nav {
                            a href="/send" { "Send" }
                            a href="/faxes" { "My faxes" }
                            a href="/inbox" { "Inbox" }
                            @if user.row.admin { a href="/admin" { "Admin" } }
                        }
                        form.signout method="post" action="/signout" {
                            (csrf(user))
                            button type="submit" title=(user.row.mail) { "Sign out " (user.shown_name()) }
                        }
                    }
                }
                main { h1 { (title) } (body) }
            }
        }
    }
}

/// The hidden CSRF field of `user`'s forms.
pub fn csrf(user: &WebUser) -> Markup {
    html! { input type="hidden" name="csrf" value=(user.csrf()); }
}

/// The page of a request that failed.
pub fn failed(user: Option<&WebUser>, status: StatusCode, message: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    layout(
        title,
        user,
        html! {
            p.error role="alert" { (message) }
            p { a href="/" { "Back" } }
        },
    )
}

/// A recipient's status as a badge (its word, styled by class).
pub fn badge(status: RecipientStatus) -> Markup {
    let word = status.as_str();
    html! { span class={ "badge " (word) } data-status=(word) { (word) } }
}

/// A time of the store (RFC 3339) as people read it, in the server's zone.
pub fn when(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// Pages drawn on a page at most (the count says how many there are).
pub const MAX_DRAWN: usize = 20;
/// Width of a page drawn, in pixels.
const DRAWN_WIDTH: u32 = 816;

/// The first `MAX_DRAWN` fax pages as PNG `data:` addresses for `<img src>` (off the async
/// workers).
pub async fn drawn(pages: Vec<faxhub_converters::tiff_f::FaxPage>) -> Result<Vec<String>, String> {
    use base64::Engine;
    tokio::task::spawn_blocking(move || {
        pages
            .iter()
            .take(MAX_DRAWN)
            .map(|p| {
                faxhub_converters::preview::png(p, DRAWN_WIDTH).map(|png| {
                    format!(
                        "data:image/png;base64,{}",
                        base64::engine::general_purpose::STANDARD.encode(png)
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}
