//! The HTTP API (`[http]`): the daemon's second door, beside SMTP. JSON under `/v1` with the
//! field names of `faxhub queue --json`, bearer tokens with scopes (`token`, `auth`), errors as
//! RFC 9457 problem documents (`problem`), `/healthz` and `/readyz` for supervisors.
//!
//! On by default on 127.0.0.1:8329 ("FAX" on a keypad). Until it has TLS it listens on loopback
//! addresses only (`validate` refuses others): tokens are bearer secrets and must not cross a
//! network in clear. Requests are bounded by axum's body limit; every answer is JSON.

mod auth;
mod faxes;
pub mod problem;
mod send;
pub mod token;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use faxhub_queue::store::Store;
use problem::Problem;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// `[http]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// host:port to listen on; empty: no HTTP server.
    pub listen: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: vec!["127.0.0.1:8329".into()],
        }
    }
}

impl HttpConfig {
    /// The addresses to bind, or what is wrong with one (not host:port, or not loopback).
    pub fn addresses(&self) -> Result<Vec<SocketAddr>, String> {
        self.listen
            .iter()
            .map(|a| {
                let addr: SocketAddr = a
                    .parse()
                    .map_err(|_| format!("http.listen: {a:?} is not ip:port"))?;
                if !addr.ip().is_loopback() {
                    return Err(format!(
                        "http.listen: {a:?} is not a loopback address; the HTTP API has no TLS \
                         yet, so it listens on 127.0.0.1 or ::1 only (put a TLS proxy in front)"
                    ));
                }
                Ok(addr)
            })
            .collect()
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    pub store: Store,
    /// The durable path of every job.
    pub intake: faxhub_queue::intake::Intake,
    /// The fax domains and the dial plan, as SMTP's RCPT applies them.
    pub addressing: faxhub_connectors::addressing::Addressing,
    /// The site's domains: an unbound token's senders must be there.
    pub local: faxhub_queue::senders::LocalDomains,
    pub hostname: String,
    /// The largest request (`smtp.max_message_size`).
    pub max_size: usize,
    /// Numbers per fax at most (`smtp.max_recipients`).
    pub max_recipients: usize,
    /// To wake the scheduler and the reporter after an operator action.
    pub wakeups: crate::wakeups::Wakeups,
}

pub fn router(api: Api) -> Router {
    let max_size = api.max_size;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/v1/faxes",
            get(faxes::list)
                .post(send::create)
                .layer(axum::extract::DefaultBodyLimit::max(max_size)),
        )
        .route("/v1/faxes/{id}", get(faxes::one))
        .route("/v1/faxes/{id}/{action}", axum::routing::post(faxes::act))
        .fallback(|| async { Problem::not_found("no such resource") })
        .with_state(api)
}

/// Serves `router` on `listeners` until `stop`: requests in progress finish.
pub async fn serve(api: Api, listeners: Vec<TcpListener>, mut stop: watch::Receiver<bool>) {
    let app = router(api);
    let mut servers = Vec::new();
    for listener in listeners {
        let app = app.clone();
        let mut stop = stop.clone();
        servers.push(tokio::spawn(async move {
            let shutdown = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "http: the server stopped");
            }
        }));
    }
    let _ = stop.wait_for(|s| *s).await;
    for server in servers {
        let _ = server.await;
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// Alive: the process answers.
async fn healthz() -> Json<Health> {
    Json(Health { status: "alive" })
}

/// Ready: the store answers.
async fn readyz(axum::extract::State(api): axum::extract::State<Api>) -> axum::response::Response {
    match api.store.ping().await {
        Ok(()) => Json(Health { status: "ready" }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readyz: the store does not answer");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the job store does not answer",
            )
            .with_code(faxhub_queue::status::EnhancedStatus::SYSTEM_TRANSIENT)
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_addresses_are_listened_on() {
        let cases: &[(&str, Result<(), &str>)] = &[
            ("127.0.0.1:8329", Ok(())),
            ("[::1]:0", Ok(())),
            ("0.0.0.0:8329", Err("not a loopback address")),
            ("192.0.2.1:80", Err("not a loopback address")),
            ("localhost:80", Err("is not ip:port")),
        ];
        for (listen, want) in cases {
            let got = HttpConfig {
                listen: vec![listen.to_string()],
            }
            .addresses();
            match want {
                Ok(()) => assert!(got.is_ok(), "{listen}: {got:?}"),
                Err(why) => assert!(got.unwrap_err().contains(why), "{listen}"),
            }
        }
        assert_eq!(HttpConfig { listen: vec![] }.addresses(), Ok(vec![]));
    }
}
