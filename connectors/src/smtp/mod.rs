//! The SMTP listener (RFC 5321) for the fax domains.
//!
//! In: TCP connections from the site's mail system (Exchange, Domino, Postfix…). Out: jobs,
//! through `Intake::accept`, each acknowledged with `250 2.0.0 Ok: queued as <job id>` only once
//! it is durable. One task per connection; a semaphore caps connections (`421 4.3.2` beyond).
//! A client address may hold `max_connections_per_client` of them (`421 4.7.0` beyond; more
//! from `trusted_networks`), so that idle connections from one place lock no one else out.
//! Every reply carries an RFC 2034 enhanced status code. The session is split one file per verb;
//! `session.rs` owns the loop and its state. Never relays: an address outside the fax domains is
//! refused at RCPT, and a sender outside the site at MAIL (`553 5.7.1`). Nothing is kept in memory across a crash except what has not been answered.

pub(crate) mod address;
mod auth;
mod broadcast;
mod config;
pub(crate) mod data;
mod ehlo;
mod io;
mod mail;
mod rcpt;
mod reply;
mod session;
mod subject;
pub mod tls;

pub use config::{AuthConfig, SmtpConfig, TlsConfig};

use crate::addressing::Addressing;
use faxhub_queue::intake::Intake;
use faxhub_queue::senders::LocalDomains;
use ipnet::IpNet;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

/// Connections open per client address (a guard takes one back when dropped).
#[derive(Default)]
pub struct Clients {
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, u32>>,
}

/// One connection of a client, counted while it lives.
pub struct ClientSlot {
    clients: Arc<Shared>,
    ip: std::net::IpAddr,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .clients
            .clients
            .open
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl Shared {
    /// A slot for one more connection from `ip`, if it has fewer than its limit open.
    fn client_slot(self: &Arc<Self>, ip: std::net::IpAddr) -> Option<ClientSlot> {
        let limit = if self.trusted.iter().any(|net| net.contains(&ip)) {
            self.config.max_connections_per_trusted_client
        } else {
            self.config.max_connections_per_client
        };
        let mut open = self.clients.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            clients: self.clone(),
            ip,
        })
    }
}

/// What every session shares.
pub struct Shared {
    pub config: SmtpConfig,
    pub hostname: String,
    pub trusted: Vec<IpNet>,
    /// The site's domains: a trusted client's senders must be there.
    pub local: LocalDomains,
    pub addressing: Addressing,
    pub intake: Intake,
    pub tls: TlsAcceptor,
    /// Connections open per client address.
    pub clients: Clients,
    /// Who may fax, when the directory says (`[ldap] fax_group`).
    pub fax_policy: Option<std::sync::Arc<crate::directory::FaxPolicy>>,
}

/// Serves SMTP on the given listeners until `shutdown` (a drain) becomes true: sessions then
/// end with 421, and new connections get `421 4.3.2` (the client tries another server) until
/// `closed` becomes true and the listeners close. Returns when the sessions have ended too.
pub async fn serve(
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    shutdown: watch::Receiver<bool>,
    closed: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections as usize));
    let mut tasks = Vec::new();
    for listener in listeners {
        tasks.push(tokio::spawn(accept_loop(
            shared.clone(),
            listener,
            slots.clone(),
            shutdown.clone(),
            closed.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
    // The sessions still open end at their next command (421); one receiving or committing a
    // message finishes first, so that its client gets the 250 and does not hand the message
    // to another server as well. The process must not end under them: wait until every
    // session has given its slot back, within SESSION_GRACE.
    let all = shared.config.max_connections;
    let open = all as usize - slots.available_permits();
    if open > 0 {
        tracing::info!(open, "waiting for the smtp sessions to end");
    }
    if tokio::time::timeout(SESSION_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!(
            open = all as usize - slots.available_permits(),
            grace = ?SESSION_GRACE,
            "smtp sessions still open at shutdown: cut"
        );
    }
}

/// How long a shutdown waits for SMTP sessions that are receiving a message.
pub const SESSION_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    slots: Arc<Semaphore>,
    shutdown: watch::Receiver<bool>,
    mut closed: watch::Receiver<bool>,
) {
    let mut backoff = faxhub_queue::logging::AcceptBackoff::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff.succeeded();
                    pair
                }
                Err(e) => {
                    let wait = backoff.failed("smtp-accept", "SMTP", &e);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => continue,
                        _ = closed.changed() => return,
                    }
                }
            },
            _ = closed.changed() => return,
        };
        if *shutdown.borrow() {
            tokio::spawn(refuse(
                stream,
                peer,
                "421 4.3.2 This server is shutting down, try another one\r\n",
            ));
            continue;
        }
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let Some(client) = shared.client_slot(peer.ip()) else {
            tokio::spawn(refuse(
                stream,
                peer,
                "421 4.7.0 Too many connections from your address, try again later\r\n",
            ));
            continue;
        };
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    session::run(shared, stream, peer, shutdown).await;
                    drop(permit);
                    drop(client);
                });
            }
            Err(_) => {
                tokio::spawn(refuse(
                    stream,
                    peer,
                    "421 4.3.2 Too many connections, try again later\r\n",
                ));
            }
        }
    }
}

/// Turns a connection away with `reply` (logged at most once a minute: a flood must not become
/// a flood of log lines).
async fn refuse(mut stream: tokio::net::TcpStream, peer: SocketAddr, reply: &'static str) {
    use tokio::io::AsyncWriteExt;
    faxhub_queue::logging::limited(
        "smtp-refused",
        || tracing::warn!(client = %peer, reply = reply.trim_end(), "smtp connection refused (logged once a minute)"),
    );
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}
