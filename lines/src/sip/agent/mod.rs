//! The SIP user agent: one UDP socket for every call faxhub makes and answers. A receiving task
//! reads each datagram, and hands it to the task of its call (`Leg`) by Call-ID and our tag (the
//! To tag of a request, the From tag of a response: a loopback call has both its ends here,
//! under one Call-ID); a request without a To tag (an INVITE again, CANCEL) goes to the call
//! answering it. An INVITE for no known call starts an inbound call (`inbound`), if its dialled number is answered and a channel
//! is free (404 and 486 otherwise); OPTIONS is answered (200, keep-alives and monitoring);
//! anything else for no known call gets 481. Outbound calls (`outbound::call`) register their
//! Call-ID before their INVITE leaves. Responses go to where the request came from (RFC 3581
//! rport), requests to the trunk's proxy or the peer's Contact. The media phase, the same for
//! both directions, is `fax`.

mod call;
mod fax;
mod inbound;
pub mod net;
mod outbound;
mod register;
pub mod stream;
mod switch;

pub use outbound::{CallReport, Dial};
pub use stream::Transport;

use super::config::SipConfig;
use super::dialog::Local;
use super::message::{Message, StartLine, param};
use crate::inbox::Inbox;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A call's messages are those with its Call-ID and our tag ("" for requests without a To tag).
type Key = (String, String);

/// Which call a message is for.
fn key_of(message: &Message) -> Option<Key> {
    let (header, _) = match message.start {
        StartLine::Request { .. } => ("To", ()),
        StartLine::Response { .. } => ("From", ()),
    };
    let tag = message
        .header(header)
        .and_then(|v| param(v, "tag"))
        .unwrap_or("");
    Some((message.header("Call-ID")?.to_string(), tag.to_string()))
}

/// A SIP message that arrived, and where from.
#[derive(Debug)]
pub struct Incoming {
    pub message: Message,
    pub from: SocketAddr,
    /// Over what it came (and its answer goes).
    pub transport: Transport,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("SIP: cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("SIP: {0}")]
    Config(String),
}

pub struct Agent {
    socket: UdpSocket,
    local: SocketAddr,
    config: SipConfig,
    ports: net::PortPool,
    calls: Mutex<HashMap<Key, mpsc::UnboundedSender<Incoming>>>,
    inbox: Inbox,
    inbound_calls: AtomicU32,
    streams: stream::Connections,
    /// 403s sent this second: when the second began, how many.
    forbidden: Mutex<(std::time::Instant, u32)>,
    /// Refused calls recorded this hour: when the hour began, how many.
    refusals: Mutex<(std::time::Instant, u32)>,
}

/// What `Allow` lists in faxhub's requests and responses.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE";
pub const USER_AGENT: &str = concat!("faxhub/", env!("CARGO_PKG_VERSION"));

/// A fresh random identifier (Call-ID, tag, branch), 64 bits in hex.
pub fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// Tries for a port free for both UDP and TCP when the system picks it (`listen` port 0).
const BIND_TRIES: usize = 16;

/// The SIP socket and, with `tcp`, the TCP listener on the same address and port. With port 0,
/// the port the system gives the UDP socket may be taken for TCP (by another program's
/// connection): another one is tried then.
async fn bind(
    config: &SipConfig,
) -> Result<
    (
        tokio::net::UdpSocket,
        SocketAddr,
        Option<tokio::net::TcpListener>,
    ),
    AgentError,
> {
    let listen = config.listen;
    let failed = |addr, source| AgentError::Listen { addr, source };
    let mut tries = 0;
    loop {
        tries += 1;
        let socket = net::bind_udp(listen, config.dscp_sip).map_err(|e| failed(listen, e))?;
        let local = socket.local_addr().map_err(|e| failed(listen, e))?;
        if !config.tcp {
            return Ok((socket, local, None));
        }
        match tokio::net::TcpListener::bind(local).await {
            Ok(listener) => return Ok((socket, local, Some(listener))),
            Err(e)
                if listen.port() == 0
                    && e.kind() == std::io::ErrorKind::AddrInUse
                    && tries < BIND_TRIES => {}
            Err(e) => return Err(failed(local, e)),
        }
    }
}

impl Agent {
    /// Binds the SIP socket and starts answering on it.
    pub async fn start(config: SipConfig, inbox: Inbox) -> Result<Arc<Agent>, AgentError> {
        config.validate().map_err(AgentError::Config)?;
        let range = config.media_port_range().map_err(AgentError::Config)?;
        let (socket, local, tcp) = bind(&config).await?;
        let agent = Arc::new(Agent {
            socket,
            local,
            config,
            ports: net::PortPool::new(range),
            calls: Mutex::new(HashMap::new()),
            inbox,
            inbound_calls: AtomicU32::new(0),
            streams: stream::Connections::default(),
            forbidden: Mutex::new((std::time::Instant::now(), 0)),
            refusals: Mutex::new((std::time::Instant::now(), 0)),
        });
        tokio::spawn(receive(Arc::downgrade(&agent)));
        if let Some(listener) = tcp {
            tokio::spawn(stream::accept(Arc::downgrade(&agent), listener));
        }
        tracing::info!(listen = %local, tcp = agent.config.tcp, "SIP user agent listening (UDP)");
        Ok(agent)
    }

    /// The address the SIP socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Our IP as `peer` sees it: the configured external address, the bound one, or the source
    /// address of the route to `peer` when bound to every address.
    fn advertised_ip(&self, peer: SocketAddr) -> IpAddr {
        match self.config.external_address {
            Some(ip) => ip,
            None if self.local.ip().is_unspecified() => net::source_for(peer),
            None => self.local.ip(),
        }
    }

    /// Our Via, address and Contact towards `peer` over `transport`; `user` is our From user.
    fn local_for(&self, peer: SocketAddr, user: &str, transport: Transport) -> Local {
        let host = match self.advertised_ip(peer) {
            IpAddr::V4(v4) => format!("{v4}:{}", self.local.port()),
            IpAddr::V6(v6) => format!("[{v6}]:{}", self.local.port()),
        };
        let contact_transport = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        Local {
            via: format!("SIP/2.0/{} {host};rport", transport.via_name()),
            address: format!("<sip:{user}@{host}>"),
            contact: format!("sip:faxhub@{host}{contact_transport}"),
        }
    }

    /// A media socket from the port range, on the SIP socket's address.
    fn media_socket(&self) -> std::io::Result<UdpSocket> {
        self.ports.bind(self.local.ip(), self.config.dscp_media)
    }

    async fn send(self: &Arc<Self>, message: &Message, to: SocketAddr, transport: Transport) {
        self.send_bytes(&message.render(), to, transport).await;
    }

    async fn send_bytes(self: &Arc<Self>, bytes: &[u8], to: SocketAddr, transport: Transport) {
        match transport {
            Transport::Udp => {
                if let Err(e) = self.socket.send_to(bytes, to).await {
                    tracing::warn!(error = %e, %to, "a SIP message could not be sent");
                }
            }
            Transport::Tcp => self.send_stream(bytes, to).await,
        }
    }

    /// Takes the messages of call `call_id` for our `tags` from now on.
    fn register(&self, call_id: &str, tags: &[&str]) -> mpsc::UnboundedReceiver<Incoming> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut calls = self.calls();
        for tag in tags {
            calls.insert((call_id.to_string(), tag.to_string()), tx.clone());
        }
        rx
    }

    fn forget(&self, call_id: &str, tags: &[String]) {
        let mut calls = self.calls();
        for tag in tags {
            calls.remove(&(call_id.to_string(), tag.clone()));
        }
    }

    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<Key, mpsc::UnboundedSender<Incoming>>> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A datagram that arrived: to its call, or answered here.
    async fn dispatch(self: &Arc<Self>, incoming: Incoming) {
        let Some(key) = key_of(&incoming.message) else {
            return;
        };
        let sender = self.calls().get(&key).cloned();
        if let Some(sender) = sender {
            if let Err(lost) = sender.send(incoming) {
                self.calls().remove(&key);
                drop(lost);
            }
            return;
        }
        let method = match &incoming.message.start {
            StartLine::Request { method, .. } => method.clone(),
            StartLine::Response { .. } => return, // for a call that is over
        };
        if !self.config.trusts(incoming.from.ip()) {
            self.forbid(&incoming, &method).await;
            return;
        }
        let answer = |code, reason| {
            let mut r = Message::response_to(&incoming.message, code, reason);
            r.add("Allow", ALLOW).add("User-Agent", USER_AGENT);
            r
        };
        match method.as_str() {
            "INVITE" if key.1.is_empty() => inbound::start(self.clone(), incoming, key.0),
            "OPTIONS" => {
                let mut ok = answer(200, "OK");
                ok.add("Accept", "application/sdp");
                self.send(&ok, incoming.from, incoming.transport).await;
            }
            "ACK" => {}
            _ => {
                let r = answer(481, "Call/Transaction Does Not Exist");
                self.send(&r, incoming.from, incoming.transport).await;
            }
        }
    }

    /// A request from an address not in `[sip] trusted`: 403, no challenge, within the rate
    /// budget (an ACK gets nothing, as always).
    async fn forbid(self: &Arc<Self>, incoming: &Incoming, method: &str) {
        let from = incoming.from;
        faxhub_queue::logging::limited(
            "sip-untrusted",
            || tracing::warn!(%from, %method, "SIP request from an address not in [sip] trusted: 403 (logged once a minute)"),
        );
        if method == "ACK" || !self.forbidden_budget() {
            return;
        }
        let mut r = Message::response_to(&incoming.message, 403, "Forbidden");
        r.add("User-Agent", USER_AGENT);
        self.send(&r, incoming.from, incoming.transport).await;
    }

    /// Whether one more 403 fits in this second's budget.
    fn forbidden_budget(&self) -> bool {
        let mut budget = self.forbidden.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if now.duration_since(budget.0) >= std::time::Duration::from_secs(1) {
            *budget = (now, 0);
        }
        budget.1 += 1;
        budget.1 <= crate::sip::config::FORBIDDEN_PER_SECOND
    }

    /// Whether one more refused call fits in this hour's records.
    fn refusal_budget(&self) -> bool {
        let mut budget = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        if now.duration_since(budget.0) >= std::time::Duration::from_secs(3600) {
            *budget = (now, 0);
        }
        budget.1 += 1;
        budget.1 <= crate::sip::config::REFUSALS_RECORDED_PER_HOUR
    }

    /// Inbound calls in progress, and whether another may start.
    fn inbound_slot(self: &Arc<Self>) -> Option<InboundSlot> {
        let limit = self.config.inbound.channels;
        let taken = self
            .inbound_calls
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            });
        taken.ok().map(|_| InboundSlot(self.clone()))
    }
}

/// One inbound channel, given back when dropped.
struct InboundSlot(Arc<Agent>);

impl Drop for InboundSlot {
    fn drop(&mut self) {
        self.0.inbound_calls.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads the SIP socket until the agent is gone.
async fn receive(agent: std::sync::Weak<Agent>) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Some(strong) = agent.upgrade() else {
            return;
        };
        let received = tokio::select! {
            r = strong.socket.recv_from(&mut buf) => r,
            // let go of the agent now and then, so that dropping it ends this task
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
        };
        match received {
            Ok((n, from)) => match Message::parse(&buf[..n]) {
                Ok((message, _)) => {
                    let transport = Transport::Udp;
                    strong
                        .dispatch(Incoming {
                            message,
                            from,
                            transport,
                        })
                        .await
                }
                Err(e) => {
                    tracing::debug!(error = %e, %from, "an unreadable SIP datagram was ignored")
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "SIP socket");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn behind_nat_the_external_address_is_what_the_peer_sees() {
        let dir = tempfile::tempdir().unwrap();
        let config = SipConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            external_address: Some("203.0.113.10".parse().unwrap()),
            ..SipConfig::default()
        };
        let agent = Agent::start(config, Inbox::new(dir.path().to_path_buf()))
            .await
            .unwrap();
        let port = agent.local_addr().port();
        let peer: SocketAddr = "198.51.100.7:5060".parse().unwrap();
        let udp = agent.local_for(peer, "0169293999", Transport::Udp);
        assert_eq!(udp.via, format!("SIP/2.0/UDP 203.0.113.10:{port};rport"));
        assert_eq!(udp.address, format!("<sip:0169293999@203.0.113.10:{port}>"));
        let tcp = agent.local_for(peer, "fax", Transport::Tcp);
        assert_eq!(
            tcp.contact,
            format!("sip:faxhub@203.0.113.10:{port};transport=tcp")
        );
        assert_eq!(
            agent.advertised_ip(peer).to_string(),
            "203.0.113.10",
            "and in SDP"
        );
    }
}
