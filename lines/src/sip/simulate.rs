//! Two T.38 terminals back to back on a simulated clock: every 20 ms of line time each one's
//! T.30 timers move on by 160 samples and its IFP packets are carried to the other as UDPTL
//! datagrams (redundancy 3), `loss` of them dropped at random (a fixed seed: reproducible). The
//! line time is the fax's real duration at its modem speed, got in a fraction of it: what the
//! loopback tests and the line-time benchmark measure. Pure (no I/O but the terminals' TIFFs).

use super::spandsp::T38Terminal;
use super::udptl;
use std::time::Duration;

/// The longest session simulated: ten minutes of line time.
const LIMIT_TICKS: u32 = 30_000;

/// Runs `tx` and `rx` until both are done (or ten minutes of line time), dropping `loss` of
/// the datagrams each way; returns the line time used.
pub fn back_to_back(tx: &mut T38Terminal, rx: &mut T38Terminal, loss: f64) -> Duration {
    let (mut a_out, mut b_out) = (udptl::Sender::new(3, 400), udptl::Sender::new(3, 400));
    let (mut a_in, mut b_in) = (udptl::Receiver::new(false), udptl::Receiver::new(false));
    let mut drop = random(0xfa11_0ff5);
    let mut ticks = 0;
    while ticks < LIMIT_TICKS {
        ticks += 1;
        let tx_done = tx.tick(160);
        let rx_done = rx.tick(160);
        carry(tx, rx, &mut a_out, &mut b_in, &mut || drop() < loss);
        carry(rx, tx, &mut b_out, &mut a_in, &mut || drop() < loss);
        if tx_done && rx_done {
            break;
        }
    }
    Duration::from_millis(u64::from(ticks) * 20)
}

/// `from`'s packets, as datagrams, to `to` (those `lost` says are lost go nowhere).
fn carry(
    from: &mut T38Terminal,
    to: &mut T38Terminal,
    out: &mut udptl::Sender,
    into: &mut udptl::Receiver,
    lost: &mut dyn FnMut() -> bool,
) {
    for ifp in from.take_outgoing() {
        let Ok(datagram) = out.packet(&ifp) else {
            continue;
        };
        if lost() {
            continue;
        }
        if let Ok(ifps) = into.receive(&datagram) {
            for (seq, ifp) in ifps {
                to.receive_ifp(&ifp, seq);
            }
        }
    }
}

/// xorshift64: a reproducible draw in [0, 1) (also the UDPTL tests' loss).
pub(crate) fn random(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 10_000) as f64 / 10_000.0
    }
}
