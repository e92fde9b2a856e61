//! The SMTP listener (RFC 5321) for the fax domains.
//!
//! In: TCP connections from the site's mail system (Exchange, Domino, Postfix…). Out: jobs,
//! through `Intake::accept`, each acknowledged with `250 2.0.0 Ok: queued as <job id>` only once
//! it is durable. One task per connection; a semaphore caps connections (`421 4.3.2` beyond).
//! Every reply carries an RFC 2034 enhanced status code. The session is split one file per verb;
//! `session.rs` owns the loop and its state. Never relays: an address outside the fax domains is
//! refused at RCPT, and a sender outside the site at MAIL (`553 5.7.1`). Nothing is kept in memory across a crash except what has not been answered.

pub(crate) mod address;
mod auth;
mod config;
pub(crate) mod data;
mod ehlo;
mod io;
mod mail;
mod rcpt;
mod reply;
mod session;
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
}

/// Serves SMTP on the given listeners until `shutdown` becomes true.
pub async fn serve(
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
    shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(shared.config.max_connections as usize));
    let mut tasks = Vec::new();
    for listener in listeners {
        tasks.push(tokio::spawn(accept_loop(
            shared.clone(),
            listener,
            slots.clone(),
            shutdown.clone(),
        )));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    slots: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "smtp accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    session::run(shared, stream, peer, shutdown).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tokio::spawn(refuse_busy(stream, peer));
            }
        }
    }
}

async fn refuse_busy(mut stream: tokio::net::TcpStream, peer: SocketAddr) {
    use tokio::io::AsyncWriteExt;
    tracing::warn!(client = %peer, "smtp connection refused: too many connections");
    let _ = stream
        .write_all(b"421 4.3.2 Too many connections, try again later\r\n")
        .await;
    let _ = stream.shutdown().await;
}
