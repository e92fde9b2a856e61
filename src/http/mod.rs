//! The HTTP API (`[http]`): the daemon's second door, beside SMTP. JSON under `/v1` with the
//! field names of `faxhub queue --json`, bearer tokens with scopes (`token`, `auth`), errors as
//! RFC 9457 problem documents (`problem`), `/healthz`, `/readyz` and `/metrics` for supervisors.
//!
//! On by default on 127.0.0.1:8329 ("FAX" on a keypad), in plain HTTP. An address that is not
//! a loopback one is served over TLS only (tokens are bearer secrets and must not cross a
//! network in clear), with the certificate of `[http.tls]`, or else SMTP's (`[smtp.tls]`, or
//! the self-signed one made under data_dir). Requests are bounded by axum's body limit, the
//! TLS handshake and the headers by `header_timeout`; every answer is JSON.

pub mod auth;
pub(crate) mod faxes;
pub(crate) mod inbox;
pub mod problem;
pub(crate) mod request;
pub(crate) mod send;
mod status;
pub mod token;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use faxhub_connectors::smtp::tls::TlsAcceptor;
use faxhub_queue::store::Store;
use problem::Problem;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// `[http]`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// host:port to listen on; empty: no HTTP server.
    pub listen: Vec<String>,
    /// Connections open at once, at most; one more is closed at once.
    pub max_connections: usize,
    /// How long a client has to send a request's headers (an idle keep-alive connection is
    /// closed after it too).
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub header_timeout: Duration,
    /// How long a request may take, its body included (a slow upload ends with 408).
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub request_timeout: Duration,
    /// The certificate of the addresses that are not loopback ones (PEM files); SMTP's when
    /// left out.
    pub tls: Option<faxhub_connectors::smtp::TlsConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: vec!["127.0.0.1:8329".into()],
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(300),
            tls: None,
        }
    }
}

impl HttpConfig {
    /// The addresses to bind, or what is wrong with one (not ip:port).
    pub fn addresses(&self) -> Result<Vec<SocketAddr>, String> {
        self.listen
            .iter()
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map_err(|_| format!("http.listen: {a:?} is not ip:port"))
            })
            .collect()
    }

    /// Whether `addr` is served over TLS: every address but loopback ones.
    pub fn tls_on(addr: &SocketAddr) -> bool {
        !addr.ip().is_loopback()
    }
}

/// The converters' state, for `/readyz`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warmth {
    Warming,
    Warm,
    /// Could not start (why).
    Failed(String),
}

/// Where a request came from: the TCP peer (for the sign-in limits) and whether over TLS (the
/// web client's cookies are `Secure` then; plain HTTP is served on loopback addresses only).
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// What the handlers share.
#[derive(Clone)]
pub struct Api {
    pub store: Store,
    /// Where page sets are (a cache of the store's blobs with several nodes).
    pub spool: faxhub_queue::spool::Spool,
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
    /// The most rows of a broadcast list (`smtp.max_broadcast`).
    pub max_broadcast: usize,
    /// To wake the scheduler and the reporter after an operator action.
    pub wakeups: crate::wakeups::Wakeups,
    /// What each line is doing (this node's calls).
    pub lines: Vec<Arc<faxhub_lines::state::LineState>>,
    /// The faxes this node received.
    pub inbox: faxhub_lines::inbox::Inbox,
    /// Tokens read lately.
    pub tokens: Arc<auth::Tokens>,
    /// Whether the converters (the LibreOffice farm) are warm.
    pub converters: watch::Receiver<Warmth>,
    /// Who owns each number (routes, directory, catch-all): a bound token sees its sender's
    /// faxes.
    pub owners: crate::owners::Owners,
    /// The web client's own state.
    pub web: Arc<crate::web::Web>,
    /// Who may fax (`[ldap] fax_group`), if only a group may.
    pub fax_policy: Option<Arc<faxhub_connectors::directory::FaxPolicy>>,
}

pub fn router(api: Api) -> Router {
    let max_size = api.max_size;
    Router::new()
        .route("/healthz", get(status::healthz))
        .route("/readyz", get(status::readyz))
        .route("/metrics", get(status::metrics))
        .route("/v1/openapi.json", get(status::openapi))
        .route("/v1/lines", get(status::lines))
        .route("/v1/inbox", get(inbox::list))
        .route("/v1/inbox/{id}", get(inbox::one))
        .route(
            "/v1/faxes",
            get(faxes::list)
                .post(send::create)
                .layer(axum::extract::DefaultBodyLimit::max(max_size)),
        )
        .route("/v1/faxes/{id}", get(faxes::one))
        .route("/v1/faxes/{id}/{action}", get(faxes::file).post(faxes::act))
        .merge(crate::web::routes(api.web.config.enabled, max_size))
        .fallback(|| async { Problem::not_found("no such resource") })
        .with_state(api)
}

/// The items of a page a list asks for: 1 to 1,000, 100 if it does not say.
fn page_limit(asked: Option<usize>) -> Result<usize, Problem> {
    const DEFAULT: usize = 100;
    const MAX: usize = 1000;
    let limit = asked.unwrap_or(DEFAULT);
    match (1..=MAX).contains(&limit) {
        true => Ok(limit),
        false => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("limit {limit}: 1 to {MAX}"),
        )),
    }
}

/// Serves the API on `listeners` until `stop`; requests in progress finish. Each connection
/// is served by hyper with a time limit on its headers (`header_timeout`, which also ends idle
/// keep-alive connections), each request with one on the whole of it (`request_timeout`), and
/// at most `max_connections` at once: a client cannot hold the server with idle or slow
/// connections.
pub async fn serve(
    api: Api,
    config: HttpConfig,
    listeners: Vec<(TcpListener, Option<TlsAcceptor>)>,
    stop: watch::Receiver<bool>,
) {
    let app = router(api).layer(
        tower::ServiceBuilder::new()
            .layer(axum::error_handling::HandleErrorLayer::new(|_| async {
                Problem::new(StatusCode::REQUEST_TIMEOUT, "the request took too long")
            }))
            .timeout(config.request_timeout),
    );
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut servers = Vec::new();
    for (listener, tls) in listeners {
        servers.push(tokio::spawn(accept_loop(
            listener,
            tls,
            app.clone(),
            slots.clone(),
            config.header_timeout,
            stop.clone(),
        )));
    }
    for server in servers {
        let _ = server.await;
    }
}

/// Completes once `stop` says so.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped(&mut stop) => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            faxhub_queue::logging::limited(
                "http-connections",
                || tracing::warn!(%peer, "http: max_connections reached; closing new connections (logged once a minute)"),
            );
            drop(stream);
            continue;
        };
        let from = Peer {
            addr: peer,
            tls: tls.is_some(),
        };
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(from);
                    request
                },
            ));
        let (stop, tls) = (stop.clone(), tls.clone());
        connections.spawn(async move {
            let _slot = slot;
            match tls {
                None => serve_connection(stream, service, header_timeout, stop).await,
                Some(tls) => {
                    // the handshake within the time the headers have
                    match tokio::time::timeout(header_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            serve_connection(stream, service, header_timeout, stop).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "http: TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "http: TLS handshake too slow"),
                    }
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// Serves one connection (plain or TLS) until it ends, or `stop` (then gracefully).
async fn serve_connection<IO, S>(
    io: IO,
    service: hyper_util::service::TowerToHyperService<S>,
    header_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<
            axum::extract::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    let connection = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_ip_and_port_and_tls_off_loopback_only() {
        let cases: &[(&str, Result<bool, &str>)] = &[
            ("127.0.0.1:8329", Ok(false)),
            ("[::1]:0", Ok(false)),
            ("0.0.0.0:8329", Ok(true)),
            ("192.0.2.1:443", Ok(true)),
            ("localhost:80", Err("is not ip:port")),
        ];
        for (listen, want) in cases {
            let got = HttpConfig {
                listen: vec![listen.to_string()],
                ..HttpConfig::default()
            }
            .addresses();
            match want {
                Ok(tls) => assert_eq!(HttpConfig::tls_on(&got.unwrap()[0]), *tls, "{listen}"),
                Err(why) => assert!(got.unwrap_err().contains(why), "{listen}"),
            }
        }
        let off = HttpConfig {
            listen: vec![],
            ..HttpConfig::default()
        };
        assert_eq!(off.addresses(), Ok(vec![]));
    }
}
