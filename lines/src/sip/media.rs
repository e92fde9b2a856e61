//! Media sessions on a real UDP socket, in real time. T.38: a `T38Terminal`'s clock moved on
//! every 20 ms by the time that really passed, its IFP packets sent as UDPTL with redundancy,
//! the far end's handed back in order. G.711: an `AudioTerminal`'s 160 samples every 20 ms
//! encoded and sent as RTP, the far end's frames reordered (losses as silence), decoded and fed
//! to it. Both run in one loop (`run`); the far end's address is the one SDP gave, replaced by
//! the source of the first datagram received (latching, for peers behind NAT).

use super::g711;
use super::rtp;
use super::sdp::AudioCodec;
use super::spandsp::{AudioTerminal, Progress, T38Terminal};
use super::udptl;
use std::net::SocketAddr;
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
    peer: SocketAddr,
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
        peer,
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
    peer: SocketAddr,
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
        peer,
        limit,
        MissedTickBehavior::Burst,
        progress,
    )
    .await
}

async fn run(
    mut engine: impl Engine,
    socket: &UdpSocket,
    mut peer: SocketAddr,
    limit: Duration,
    missed: MissedTickBehavior,
    progress: Option<&watch::Sender<Progress>>,
) -> std::io::Result<SessionEnd> {
    let mut latched = false;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(missed);
    let started = Instant::now();
    let mut last = started;
    let mut buf = vec![0u8; 2048];
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
                    socket.send_to(&d, peer).await?;
                }
                if done {
                    return Ok(SessionEnd::Finished);
                }
                if now - started >= limit {
                    return Ok(SessionEnd::TimedOut);
                }
            }
            received = socket.recv_from(&mut buf) => {
                let (n, from) = received?;
                if !latched {
                    peer = from;
                    latched = true;
                }
                engine.datagram(&buf[..n], from);
            }
        }
    }
}
