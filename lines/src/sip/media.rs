//! Media sessions on a real UDP socket, in real time. T.38: a `T38Terminal`'s clock moved on
//! every 20 ms by the time that really passed, its IFP packets sent as UDPTL with redundancy,
//! the far end's handed back in order. G.711: an `AudioTerminal`'s 160 samples every 20 ms
//! encoded and sent as RTP, the far end's frames reordered (losses as silence), decoded and fed
//! to it. Both run in one loop (`run`). Only the address and port SDP gave is listened to
//! (RTP-Bleed: a third party spraying the media ports gets nothing and changes nothing); NAT
//! latching, when configured, may move it once, within the first datagrams and only to one from
//! the signalled IP or the signalling's. Datagrams past `MAX_DATAGRAMS_PER_SECOND` or longer
//! than `MAX_DATAGRAM` are dropped unread, so the work a peer causes is bounded.

use super::g711;
use super::rtp;
use super::sdp::AudioCodec;
use super::spandsp::{AudioTerminal, Progress, T38Terminal};
use super::udptl;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

/// How one side sends UDPTL.
#[derive(Debug, Clone, Copy)]
pub struct UdptlConfig {
    /// Redundancy (earlier IFPs repeated in each packet) or FEC.
    pub protection: udptl::Protection,
    /// The largest datagram the far end takes.
    pub max_datagram: usize,
}

/// How one side sends and receives G.711 RTP.
#[derive(Debug, Clone, Copy)]
pub struct RtpConfig {
    pub codec: AudioCodec,
    pub ssrc: u32,
    /// Frames held back to put packets in order.
    pub jitter_frames: usize,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The T.30 session ran to its end (see the terminal's progress for how it went).
    Finished,
    /// `limit` passed first.
    TimedOut,
}

/// What a media session does every 20 ms and with each datagram.
trait Engine {
    /// `elapsed` passed since the last tick: the datagrams to send, and whether the fax is over.
    fn tick(&mut self, elapsed: Duration) -> (Vec<Vec<u8>>, bool);
    fn datagram(&mut self, bytes: &[u8], from: SocketAddr);
    fn progress(&self) -> &Progress;
}

struct T38Engine<'a> {
    terminal: &'a mut T38Terminal,
    sender: udptl::Sender,
    receiver: udptl::Receiver,
}

impl Engine for T38Engine<'_> {
    fn tick(&mut self, elapsed: Duration) -> (Vec<Vec<u8>>, bool) {
        // the samples that really passed (8 kHz), so a late tick does not slow T.30 down
        let samples = (elapsed.as_micros() * 8 / 1000) as u32;
        let done = self.terminal.tick(samples.max(1));
        let mut out = Vec::new();
        for ifp in self.terminal.take_outgoing() {
            match self.sender.packet(&ifp) {
                Ok(datagram) => out.push(datagram),
                Err(e) => {
                    tracing::warn!(error = %e, "an IFP packet too long for UDPTL was dropped")
                }
            }
        }
        (out, done)
    }

    fn datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        match self.receiver.receive(bytes) {
            Ok(ifps) => {
                for (seq, ifp) in ifps {
                    self.terminal.receive_ifp(&ifp, seq);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, %from, "an unreadable UDPTL datagram was ignored")
            }
        }
    }

    fn progress(&self) -> &Progress {
        self.terminal.progress()
    }
}

/// Ticks with no audio from the far end after which its stream counts as stopped (200 ms).
const STALLED_TICKS: u32 = 10;

struct AudioEngine<'a> {
    terminal: &'a mut AudioTerminal,
    /// Ticks in a row with no frame to play.
    quiet_ticks: u32,
    law: g711::Law,
    sender: rtp::Sender,
    receiver: rtp::Receiver,
}

impl Engine for AudioEngine<'_> {
    fn tick(&mut self, _elapsed: Duration) -> (Vec<Vec<u8>>, bool) {
        let frames = self.receiver.pop();
        if frames.is_empty() {
            self.quiet_ticks += 1;
            // nothing from the far end (not yet, or not for a while): silence, so that T.30's
            // timers, which count received samples, still run; a frame merely late is waited for
            // (silence in the middle of a modem signal would break it)
            if !self.receiver.started() || self.quiet_ticks > STALLED_TICKS {
                self.terminal.receive_audio(&[0; rtp::FRAME]);
            }
        } else {
            self.quiet_ticks = 0;
        }
        for frame in frames {
            let linear: Vec<i16> = frame.iter().map(|&b| (self.law.decode)(b)).collect();
            self.terminal.receive_audio(&linear);
        }
        let mut samples = [0i16; rtp::FRAME];
        self.terminal.transmit_audio(&mut samples);
        let payload: Vec<u8> = samples.iter().map(|&s| (self.law.encode)(s)).collect();
        (vec![self.sender.packet(&payload)], self.terminal.done())
    }

    fn datagram(&mut self, bytes: &[u8], from: SocketAddr) {
        if let Err(e) = self.receiver.push(bytes) {
            tracing::debug!(error = %e, %from, "an unreadable RTP datagram was ignored");
        }
    }

    fn progress(&self) -> &Progress {
        self.terminal.progress()
    }
}

/// Runs `terminal` over UDPTL until its fax ends or `limit` passes; its progress is published
/// on `progress` as it changes.
pub async fn run_t38(
    terminal: &mut T38Terminal,
    socket: &UdpSocket,
    source: Source,
    config: UdptlConfig,
    limit: Duration,
    progress: Option<&watch::Sender<Progress>>,
) -> std::io::Result<SessionEnd> {
    let engine = T38Engine {
        terminal,
        sender: udptl::Sender::with(config.protection, config.max_datagram),
        receiver: udptl::Receiver::new(matches!(config.protection, udptl::Protection::Fec { .. })),
    };
    // a late tick is made up by the samples it counts
    run(
        engine,
        socket,
        source,
        limit,
        MissedTickBehavior::Delay,
        progress,
    )
    .await
}

/// Runs `terminal` over G.711 RTP until its fax ends or `limit` passes; its progress is
/// published on `progress` as it changes.
pub async fn run_audio(
    terminal: &mut AudioTerminal,
    socket: &UdpSocket,
    source: Source,
    config: RtpConfig,
    limit: Duration,
    progress: Option<&watch::Sender<Progress>>,
) -> std::io::Result<SessionEnd> {
    let law = match config.codec {
        AudioCodec::Pcmu => g711::ULAW,
        AudioCodec::Pcma => g711::ALAW,
    };
    let pt = config.codec.payload_type();
    let engine = AudioEngine {
        terminal,
        quiet_ticks: 0,
        law,
        sender: rtp::Sender::new(pt, config.ssrc, 0, 0),
        receiver: rtp::Receiver::new(pt, config.jitter_frames, law.silence),
    };
    // every frame must go out: a late tick is made up by ticking again at once
    run(
        engine,
        socket,
        source,
        limit,
        MissedTickBehavior::Burst,
        progress,
    )
    .await
}

/// Whose datagrams a media session takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// The address and port the far end's SDP named.
    pub signalled: SocketAddr,
    /// NAT latching (`[sip] media_latching`): the first datagrams from the signalled IP or the
    /// signalling's own IP may move the peer to their port and address, once.
    pub latch: Option<IpAddr>,
}

impl Source {
    /// Media from `signalled` only.
    pub fn exactly(signalled: SocketAddr) -> Source {
        Source {
            signalled,
            latch: None,
        }
    }
}

/// Datagrams within which a latch may happen.
const LATCH_WINDOW: u32 = 10;
/// Datagrams taken from the peer in one second, at most (T.38 and RTP send 50); the rest, and
/// every datagram from anyone else, are dropped unread.
pub const MAX_DATAGRAMS_PER_SECOND: u32 = 200;
/// The largest datagram read (a T.38 or G.711 packet is far smaller).
pub const MAX_DATAGRAM: usize = 1500;

/// What is done with each datagram received: the source check and the rate budget.
#[derive(Debug)]
struct Gate {
    source: Source,
    peer: SocketAddr,
    latched: bool,
    seen: u32,
    window_start: Instant,
    in_window: u32,
    /// Datagrams dropped: from elsewhere, over the budget, too long.
    dropped: u64,
}

impl Gate {
    fn new(source: Source, now: Instant) -> Gate {
        Gate {
            source,
            peer: source.signalled,
            latched: false,
            seen: 0,
            window_start: now,
            in_window: 0,
            dropped: 0,
        }
    }

    /// Whether the datagram of `len` bytes from `from` is taken (and the peer to answer).
    fn admit(&mut self, from: SocketAddr, len: usize, now: Instant) -> bool {
        self.seen = self.seen.saturating_add(1);
        let from_peer = from == self.peer;
        let latch = !from_peer
            && !self.latched
            && self.seen <= LATCH_WINDOW
            && self.source.latch.is_some_and(|signalling| {
                from.ip() == self.source.signalled.ip() || from.ip() == signalling
            });
        if latch {
            tracing::info!(signalled = %self.source.signalled, to = %from, "media latched (NAT)");
            self.peer = from;
            self.latched = true;
        }
        if !(from_peer || latch) || len > MAX_DATAGRAM {
            self.dropped += 1;
            return false;
        }
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += 1;
        if self.in_window > MAX_DATAGRAMS_PER_SECOND {
            self.dropped += 1;
            return false;
        }
        true
    }
}

async fn run(
    mut engine: impl Engine,
    socket: &UdpSocket,
    source: Source,
    limit: Duration,
    missed: MissedTickBehavior,
    progress: Option<&watch::Sender<Progress>>,
) -> std::io::Result<SessionEnd> {
    let mut gate = Gate::new(source, Instant::now());
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(missed);
    let started = Instant::now();
    let mut last = started;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    loop {
        tokio::select! {
            now = tick.tick() => {
                let (datagrams, done) = engine.tick(now - last);
                last = now;
                if let Some(tx) = progress {
                    tx.send_if_modified(|p| {
                        let changed = p != engine.progress();
                        if changed {
                            *p = engine.progress().clone();
                        }
                        changed
                    });
                }
                for d in datagrams {
                    socket.send_to(&d, gate.peer).await?;
                }
                let end = if done {
                    Some(SessionEnd::Finished)
                } else if now - started >= limit {
                    Some(SessionEnd::TimedOut)
                } else {
                    None
                };
                if let Some(end) = end {
                    if gate.dropped > 0 {
                        tracing::info!(dropped = gate.dropped, peer = %gate.peer, "media datagrams dropped: from another address, too long, or past the rate budget");
                    }
                    return Ok(end);
                }
            }
            received = socket.recv_from(&mut buf) => {
                let (n, from) = received?;
                if gate.admit(from, n, Instant::now()) {
                    engine.datagram(&buf[..n], from);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_the_signalled_address_is_listened_to() {
        let now = Instant::now();
        let mut gate = Gate::new(
            Source {
                signalled: addr("192.0.2.10:40000"),
                latch: None,
            },
            now,
        );
        // a third party spraying first, then from the signalled IP on another port
        assert!(!gate.admit(addr("198.51.100.7:40000"), 20, now));
        assert!(!gate.admit(addr("192.0.2.10:40002"), 20, now));
        assert!(gate.admit(addr("192.0.2.10:40000"), 20, now));
        assert_eq!(gate.peer, addr("192.0.2.10:40000"), "never moved");
        assert!(
            !gate.admit(addr("192.0.2.10:40000"), MAX_DATAGRAM + 1, now),
            "too long"
        );
        assert_eq!(gate.dropped, 3);
    }

    #[test]
    fn nat_latching_moves_once_early_and_only_to_the_signalled_ips() {
        let now = Instant::now();
        let source = Source {
            signalled: addr("10.0.0.5:40000"),
            latch: Some("203.0.113.9".parse().unwrap()),
        };
        // a stranger's datagram first moves nothing
        let mut gate = Gate::new(source, now);
        assert!(!gate.admit(addr("198.51.100.7:5000"), 20, now));
        // the SIP peer's public address, another port: latched, once
        assert!(gate.admit(addr("203.0.113.9:61000"), 20, now));
        assert_eq!(gate.peer, addr("203.0.113.9:61000"));
        assert!(
            !gate.admit(addr("203.0.113.9:61002"), 20, now),
            "latched once only"
        );
        // past the first datagrams, no latch at all
        let mut late = Gate::new(source, now);
        for _ in 0..LATCH_WINDOW {
            late.admit(addr("10.0.0.5:40000"), 20, now);
        }
        assert!(!late.admit(addr("203.0.113.9:61000"), 20, now));
        assert_eq!(late.peer, addr("10.0.0.5:40000"));
    }

    #[test]
    fn a_flood_from_the_peer_is_cut_at_the_rate_budget() {
        let start = Instant::now();
        let peer = addr("192.0.2.10:40000");
        let mut gate = Gate::new(
            Source {
                signalled: peer,
                latch: None,
            },
            start,
        );
        let taken = (0..1000).filter(|_| gate.admit(peer, 20, start)).count();
        assert_eq!(taken, MAX_DATAGRAMS_PER_SECOND as usize);
        // the next second has its own budget
        assert!(gate.admit(peer, 20, start + Duration::from_millis(1001)));
    }
}
