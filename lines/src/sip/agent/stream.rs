//! SIP over TCP (RFC 3261 §18.3): faxhub listens on the SIP address for TCP too, and a trunk
//! may be reached over TCP (`transport = "tcp"`). One connection per peer address, made when a
//! request first goes there or accepted from the peer, kept for every later message both ways;
//! a writer task owns its sending half, a reader task frames messages by Content-Length
//! (keep-alive CRLFs skipped) and hands them to the agent as datagrams are. A connection that
//! breaks is forgotten and made again on the next message. Transactions over TCP retransmit
//! nothing (the transport is reliable).

use super::{Agent, Incoming};
use crate::sip::message::{Message, SipError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// Open TCP connections, by peer address: where to hand bytes to send.
#[derive(Default)]
pub(super) struct Connections(Mutex<HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>>);

impl Connections {
    fn get(&self, peer: SocketAddr) -> Option<mpsc::UnboundedSender<Vec<u8>>> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&peer).filter(|tx| !tx.is_closed()).cloned()
    }

    fn insert(&self, peer: SocketAddr, tx: mpsc::UnboundedSender<Vec<u8>>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(peer, tx);
    }
}

impl Agent {
    /// Sends `bytes` to `peer` over TCP, connecting first if no connection is open.
    pub(super) async fn send_stream(self: &Arc<Self>, bytes: &[u8], peer: SocketAddr) {
        let tx = match self.streams.get(peer) {
            Some(tx) => tx,
            None => match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(peer)).await {
                Ok(Ok(stream)) => adopt(self, stream, peer),
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
}

/// Accepts connections on the SIP address until the agent is gone.
pub(super) async fn accept(agent: Weak<Agent>, listener: TcpListener) {
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
                adopt(&strong, stream, peer);
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP over TCP: accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Starts the writer and reader of a new connection with `peer`; returns where to send.
fn adopt(
    agent: &Arc<Agent>,
    stream: TcpStream,
    peer: SocketAddr,
) -> mpsc::UnboundedSender<Vec<u8>> {
    let _ = stream.set_nodelay(true);
    let (mut reading, mut writing) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    agent.streams.insert(peer, tx.clone());
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if let Err(e) = writing.write_all(&bytes).await {
                tracing::warn!(%peer, error = %e, "SIP over TCP: the connection broke");
                return;
            }
        }
    });
    let weak = Arc::downgrade(agent);
    tokio::spawn(async move {
        let mut buf: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 8192];
        loop {
            let n = match reading.read(&mut chunk).await {
                Ok(0) | Err(_) => return, // closed: the writer ends with its channel
                Ok(n) => n,
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
                        let Some(agent) = weak.upgrade() else { return };
                        let incoming = Incoming {
                            message,
                            from: peer,
                            transport: Transport::Tcp,
                        };
                        agent.dispatch(incoming).await;
                    }
                    Err(SipError::Incomplete) if buf.len() < MAX_MESSAGE => break,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "SIP over TCP: an unreadable message; closing");
                        return;
                    }
                }
            }
        }
    });
    tx
}
