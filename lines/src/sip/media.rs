//! Media sessions on a real UDP socket, in real time. T.38: a `T38Terminal`'s clock moved on
//! every 20 ms by the time that really passed, its IFP packets sent as UDPTL with redundancy,
//! the far end's handed back in order. G.711: an `AudioTerminal`'s 160 samples every 20 ms
//! encoded and sent as RTP, the far end's frames reordered (losses as silence), decoded and fed
//! to it. The far end's address is the one SDP gave, replaced by the source of the first
//! datagram received (latching, for peers behind NAT).

use super::g711;
use super::rtp;
use super::sdp::AudioCodec;
use super::spandsp::{AudioTerminal, T38Terminal};
use super::udptl;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::time::{Instant, MissedTickBehavior};

/// How one side sends UDPTL.
#[derive(Debug, Clone, Copy)]
pub struct UdptlConfig {
    /// Earlier IFPs repeated in each packet.
    pub redundancy: usize,
    /// The largest datagram the far end takes.
    pub max_datagram: usize,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The T.30 session ran to its end (see the terminal's progress for how it went).
    Finished,
    /// `limit` passed first.
    TimedOut,
}

/// Runs `terminal` until its fax ends or `limit` passes.
pub async fn run_t38(
    terminal: &mut T38Terminal,
    socket: &UdpSocket,
    mut peer: SocketAddr,
    config: UdptlConfig,
    limit: Duration,
) -> std::io::Result<SessionEnd> {
    let mut sender = udptl::Sender::new(config.redundancy, config.max_datagram);
    let mut receiver = udptl::Receiver::new();
    let mut latched = false;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let started = Instant::now();
    let mut last = started;
    let mut buf = vec![0u8; 2048];
    loop {
        tokio::select! {
            now = tick.tick() => {
                // the samples that really passed (8 kHz), so a late tick does not slow T.30 down
                let samples = ((now - last).as_micros() * 8 / 1000) as u32;
                last = now;
                let done = terminal.tick(samples.max(1));
                for ifp in terminal.take_outgoing() {
                    match sender.packet(&ifp) {
                        Ok(datagram) => {
                            socket.send_to(&datagram, peer).await?;
                        }
                        Err(e) => tracing::warn!(error = %e, "an IFP packet too long for UDPTL was dropped"),
                    }
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
                match receiver.receive(&buf[..n]) {
                    Ok(ifps) => {
                        for (seq, ifp) in ifps {
                            terminal.receive_ifp(&ifp, seq);
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, %from, "an unreadable UDPTL datagram was ignored"),
                }
            }
        }
    }
}

/// How one side sends and receives G.711 RTP.
#[derive(Debug, Clone, Copy)]
pub struct RtpConfig {
    pub codec: AudioCodec,
    pub ssrc: u32,
    /// Frames held back to put packets in order.
    pub jitter_frames: usize,
}

/// Runs `terminal` over G.711 RTP until its fax ends or `limit` passes.
pub async fn run_audio(
    terminal: &mut AudioTerminal,
    socket: &UdpSocket,
    mut peer: SocketAddr,
    config: RtpConfig,
    limit: Duration,
) -> std::io::Result<SessionEnd> {
    let law = match config.codec {
        AudioCodec::Pcmu => g711::ULAW,
        AudioCodec::Pcma => g711::ALAW,
    };
    let pt = config.codec.payload_type();
    let mut sender = rtp::Sender::new(pt, config.ssrc, 0, 0);
    let mut receiver = rtp::Receiver::new(pt, config.jitter_frames, law.silence);
    let mut latched = false;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut samples = [0i16; rtp::FRAME];
    let mut buf = vec![0u8; 2048];
    loop {
        tokio::select! {
            now = tick.tick() => {
                for frame in receiver.pop() {
                    let linear: Vec<i16> = frame.iter().map(|&b| (law.decode)(b)).collect();
                    terminal.receive_audio(&linear);
                }
                terminal.transmit_audio(&mut samples);
                let payload: Vec<u8> = samples.iter().map(|&s| (law.encode)(s)).collect();
                socket.send_to(&sender.packet(&payload), peer).await?;
                if terminal.done() {
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
                if let Err(e) = receiver.push(&buf[..n]) {
                    tracing::debug!(error = %e, %from, "an unreadable RTP datagram was ignored");
                }
            }
        }
    }
}
