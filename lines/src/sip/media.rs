//! A T.38 media session on a real UDP socket: a `T38Terminal` driven in real time (its clock
//! moved on every 20 ms by the time that really passed), its IFP packets sent as UDPTL with
//! redundancy to the far end, and the far end's datagrams handed back in order. The far end's
//! address is the one SDP gave, replaced by the source of the first datagram received (latching,
//! for peers behind NAT).

use super::spandsp::T38Terminal;
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
