//! SIP over TCP (RFC 3261 §18.3): faxhub listens on the SIP address for TCP too, and a trunk
//! may be reached over TCP (`transport = "tcp"`). One connection per peer address, made when a
//! request first goes there or accepted from the peer, kept for every later message both ways;
//! a writer task owns its sending half, a reader task frames messages by Content-Length
//! (keep-alive CRLFs skipped) and hands them to the agent as datagrams are. A connection that
//! breaks is forgotten and made again on the next message. Transactions over TCP retransmit
//! nothing (the transport is reliable).
//!
//! A connection's two tasks end together, and with them its socket: when the peer closes it,
//! sends something unreadable or longer than `MAX_MESSAGE`, stays silent for `IDLE`, or a write
//! fails. At most `MAX_CONNECTIONS` are open, `MAX_PER_ADDRESS` from one IP address; beyond
//! them a new connection is closed at once. The accept loop backs off when accepting fails
//! (out of descriptors: `EMFILE`), and what a peer can cause is logged at most once a minute.

use super::{Agent, Incoming};
use crate::sip::message::{Message, SipError};
use faxhub_queue::logging::{AcceptBackoff, limited as log_limited};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How SIP messages travel to a peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Udp,
    Tcp,
}

impl Transport {
    /// As Via writes it.
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }
}

/// The longest message faxhub reads from a stream (a SIP message with an SDP body is ~1 KB).
const MAX_MESSAGE: usize = 64 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection with nothing read for this long is closed (peers keep theirs alive with CRLFs
/// every few minutes, RFC 5626; a fax call lasts far less).
pub const IDLE: Duration = Duration::from_secs(60 * 60);
/// TCP connections open at once, in all and from one IP address.
pub const MAX_CONNECTIONS: u32 = 1024;
pub const MAX_PER_ADDRESS: u32 = 32;

/// Open TCP connections: by peer address, where to hand bytes to send; and how many there are.
#[derive(Default)]
pub(super) struct Connections(Mutex<Open>);

#[derive(Default)]
struct Open {
    by_peer: HashMap<SocketAddr, (u64, mpsc::UnboundedSender<Vec<u8>>)>,
    per_ip: HashMap<IpAddr, u32>,
    total: u32,
    next_id: u64,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, peer: SocketAddr) -> Option<mpsc::UnboundedSender<Vec<u8>>> {
        self.lock()
            .by_peer
            .get(&peer)
            .filter(|(_, tx)| !tx.is_closed())
            .map(|(_, tx)| tx.clone())
    }

    /// Counts one more connection with `peer` if the limits allow; its id.
    fn open(&self, peer: SocketAddr) -> Option<u64> {
        let mut open = self.lock();
        let from_ip = open.per_ip.get(&peer.ip()).copied().unwrap_or(0);
        if open.total >= MAX_CONNECTIONS || from_ip >= MAX_PER_ADDRESS {
            return None;
        }
        open.total += 1;
        *open.per_ip.entry(peer.ip()).or_insert(0) += 1;
        open.next_id += 1;
        Some(open.next_id)
    }

    fn insert(&self, peer: SocketAddr, id: u64, tx: mpsc::UnboundedSender<Vec<u8>>) {
        self.lock().by_peer.insert(peer, (id, tx));
    }

    /// Forgets connection `id` with `peer` (its entry, if no newer one took its place).
    fn close(&self, peer: SocketAddr, id: u64) {
        let mut open = self.lock();
        if open.by_peer.get(&peer).is_some_and(|(i, _)| *i == id) {
            open.by_peer.remove(&peer);
        }
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_ip.get_mut(&peer.ip()) {
            *n -= 1;
            if *n == 0 {
                open.per_ip.remove(&peer.ip());
            }
        }
    }

    /// How many connections are open (for the tests).
    pub fn count(&self) -> u32 {
        self.lock().total
    }
}

impl Agent {
    /// Sends `bytes` to `peer` over TCP, connecting first if no connection is open.
    pub(super) async fn send_stream(self: &Arc<Self>, bytes: &[u8], peer: SocketAddr) {
        let tx = match self.streams.get(peer) {
            Some(tx) => tx,
            None => match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer)).await {
                Ok(Ok(stream)) => match adopt(self, stream, peer) {
                    Some(tx) => tx,
                    None => return,
                },
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "SIP over TCP: cannot connect");
                    return;
                }
                Err(_) => {
                    tracing::warn!(%peer, "SIP over TCP: connecting took too long");
                    return;
                }
            },
        };
        let _ = tx.send(bytes.to_vec());
    }

    /// TCP connections open now.
    pub fn tcp_connections(&self) -> u32 {
        self.streams.count()
    }
}

/// Accepts connections on the SIP address until the agent is gone; backs off while accepting
/// fails (out of descriptors), up to a second between tries.
pub(super) async fn accept(agent: Weak<Agent>, listener: TcpListener) {
    let mut backoff = AcceptBackoff::default();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            // let go of the agent now and then, so that dropping it ends this task
            _ = tokio::time::sleep(Duration::from_secs(1)) => {
                if agent.strong_count() == 0 { return; }
                continue;
            }
        };
        let Some(strong) = agent.upgrade() else {
            return;
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.succeeded();
                adopt(&strong, stream, peer);
            }
            Err(e) => {
                let wait = backoff.failed("sip-tcp-accept", "SIP over TCP", &e);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Starts the writer and reader of a new connection with `peer`; returns where to send, or
/// `None` (the connection closed) past the limits.
fn adopt(
    agent: &Arc<Agent>,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<mpsc::UnboundedSender<Vec<u8>>> {
    let Some(id) = agent.streams.open(peer) else {
        log_limited(
            "sip-tcp-limit",
            || tracing::warn!(%peer, "SIP over TCP: too many connections (logged once a minute); closed"),
        );
        return None;
    };
    let _ = stream.set_nodelay(true);
    let (mut reading, mut writing) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    agent.streams.insert(peer, id, tx.clone());
    // set when the reader ends: the writer ends with it, and the socket is closed
    let (ended_tx, mut ended) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                bytes = rx.recv() => {
                    let Some(bytes) = bytes else { return };
                    if let Err(e) = writing.write_all(&bytes).await {
                        tracing::debug!(%peer, error = %e, "SIP over TCP: the connection broke");
                        return;
                    }
                }
                _ = ended.changed() => return,
            }
        }
    });
    let weak = Arc::downgrade(agent);
    tokio::spawn(async move {
        read_messages(&mut reading, peer, &weak).await;
        let _ = ended_tx.send(true);
        if let Some(agent) = weak.upgrade() {
            agent.streams.close(peer, id);
        }
    });
    Some(tx)
}

/// Reads messages from `peer` and hands them to the agent, until the connection closes, breaks,
/// stays idle for `IDLE`, or sends what is not a SIP message.
async fn read_messages(reading: &mut OwnedReadHalf, peer: SocketAddr, agent: &Weak<Agent>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    loop {
        let n = match tokio::time::timeout(IDLE, reading.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Err(_) => {
                tracing::debug!(%peer, "SIP over TCP: idle for {IDLE:?}; closing");
                return;
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        loop {
            // keep-alive CRLFs between messages (RFC 5626 §4.4.1)
            let blank = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            buf.drain(..blank);
            match Message::parse(&buf) {
                Ok((message, used)) => {
                    buf.drain(..used);
                    let Some(agent) = agent.upgrade() else { return };
                    let incoming = Incoming {
                        message,
                        from: peer,
                        transport: Transport::Tcp,
                    };
                    agent.dispatch(incoming).await;
                }
                Err(SipError::Incomplete) if buf.len() < MAX_MESSAGE => break,
                Err(e) => {
                    log_limited(
                        "sip-tcp-unreadable",
                        || tracing::warn!(%peer, error = %e, "SIP over TCP: an unreadable message (logged once a minute); closing"),
                    );
                    return;
                }
            }
        }
    }
}
