//! UDPTL (ITU-T T.38 §9.1): how T.38 IFP packets travel over UDP, with redundancy so that a lost
//! datagram costs nothing.
//!
//! Wire format (ASN.1 PER, aligned): a 16-bit sequence number; the primary IFP packet as an open
//! type (a length determinant, then its bytes); then the error-recovery CHOICE, whose one bit
//! takes a whole octet here: `0x00` and the secondary IFP packets (a count, then each as an open
//! type, newest first: seq−1, seq−2, …), or `0x80` and FEC information (the span as a one-octet
//! integer, a count, then each parity packet as an open type).
//!
//! `Sender` numbers packets and protects them one of two ways, fitting the far end's datagram
//! limit by leaving out the last protection first: redundancy repeats the last `depth` IFPs in
//! each packet; FEC (`t38UDPFEC`) adds `entries` parity blocks, block m of packet n being the
//! XOR of the IFPs of packets n+m−k·entries for k = 1…span (shorter ones padded with zeros), so
//! that any one of them lost can be rebuilt from the others (the scheme spandsp and Asterisk
//! use, winding up over the first span·entries packets). `Receiver` hands IFPs on in order with
//! their sequence numbers, taking the ones a lost datagram carried from the redundancy of the
//! next or rebuilding them from FEC, and drops duplicates and stale packets. Pure: no sockets.
//!
//! Every datagram comes from someone who may be hostile, so the receiver's work per datagram is
//! bounded by constants, never by what the datagram claims: FEC is read only when it was
//! negotiated (`Receiver::new(fec)`), and only with a span and a block count T.38 senders use
//! (`MAX_FEC_SPAN`, `MAX_FEC_ENTRIES`); at most `MAX_RECOVERED` lost packets are recovered per
//! datagram; a larger jump in sequence numbers resynchronises on the new packet (the packets
//! between are lost, as they would be to any gap that wide).

use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UdptlError {
    #[error("UDPTL packet cut short")]
    Truncated,
    #[error("UDPTL packet with a length of {0}, beyond what T.38 uses")]
    TooLong(usize),
}

/// How a packet helps recover the ones before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Copies of the previous IFPs, newest first.
    Redundancy(Vec<Vec<u8>>),
    /// Parity packets over `span` earlier packets each.
    Fec { span: u8, parity: Vec<Vec<u8>> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub seq: u16,
    pub primary: Vec<u8>,
    pub recovery: Recovery,
}

/// Longest length a two-octet PER length determinant carries.
const MAX_LENGTH: usize = 16_383;

fn put_length(out: &mut Vec<u8>, len: usize) -> Result<(), UdptlError> {
    match len {
        0..=127 => out.push(len as u8),
        128..=MAX_LENGTH => out.extend_from_slice(&[0x80 | (len >> 8) as u8, len as u8]),
        _ => return Err(UdptlError::TooLong(len)),
    }
    Ok(())
}

fn put_open(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), UdptlError> {
    put_length(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, UdptlError> {
        let b = *self.bytes.get(self.at).ok_or(UdptlError::Truncated)?;
        self.at += 1;
        Ok(b)
    }
    fn length(&mut self) -> Result<usize, UdptlError> {
        let first = self.byte()?;
        match first {
            0..=0x7f => Ok(usize::from(first)),
            0x80..=0xbf => Ok(usize::from(first & 0x3f) << 8 | usize::from(self.byte()?)),
            // fragmented lengths (≥ 16K): no T.38 packet is that long
            _ => Err(UdptlError::TooLong(MAX_LENGTH + 1)),
        }
    }
    fn open(&mut self) -> Result<&'a [u8], UdptlError> {
        let len = self.length()?;
        let out = self
            .bytes
            .get(self.at..self.at + len)
            .ok_or(UdptlError::Truncated)?;
        self.at += len;
        Ok(out)
    }
}

impl Packet {
    pub fn encode(&self) -> Result<Vec<u8>, UdptlError> {
        let mut out = Vec::with_capacity(8 + self.primary.len() * 2);
        out.extend_from_slice(&self.seq.to_be_bytes());
        put_open(&mut out, &self.primary)?;
        match &self.recovery {
            Recovery::Redundancy(copies) => {
                out.push(0x00);
                put_length(&mut out, copies.len())?;
                for c in copies {
                    put_open(&mut out, c)?;
                }
            }
            Recovery::Fec { span, parity } => {
                out.extend_from_slice(&[0x80, 1, *span]);
                put_length(&mut out, parity.len())?;
                for p in parity {
                    put_open(&mut out, p)?;
                }
            }
        }
        Ok(out)
    }

    pub fn decode(bytes: &[u8]) -> Result<Packet, UdptlError> {
        let mut r = Reader { bytes, at: 0 };
        let seq = u16::from_be_bytes([r.byte()?, r.byte()?]);
        let primary = r.open()?.to_vec();
        let recovery = if r.byte()? & 0x80 == 0 {
            let n = r.length()?;
            let mut copies = Vec::with_capacity(n.min(16));
            for _ in 0..n {
                copies.push(r.open()?.to_vec());
            }
            Recovery::Redundancy(copies)
        } else {
            let int_len = r.length()?;
            let mut span = 0u8;
            for _ in 0..int_len {
                span = r.byte()?; // a one-octet integer in practice
            }
            let n = r.length()?;
            let mut parity = Vec::with_capacity(n.min(16));
            for _ in 0..n {
                parity.push(r.open()?.to_vec());
            }
            Recovery::Fec { span, parity }
        };
        Ok(Packet {
            seq,
            primary,
            recovery,
        })
    }
}

/// How a sender protects its packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// The previous `depth` IFPs repeated in each packet.
    Redundancy(usize),
    /// `entries` parity blocks, each over `span` earlier packets.
    Fec { span: u8, entries: usize },
}

/// Numbers outgoing IFPs and protects them.
#[derive(Debug)]
pub struct Sender {
    next_seq: u16,
    /// Packets sent so far (for FEC's wind-up), saturating.
    sent: usize,
    protection: Protection,
    max_datagram: usize,
    /// Earlier IFPs, newest first.
    history: VecDeque<Vec<u8>>,
}

impl Sender {
    /// `depth` previous IFPs in each packet; no packet longer than `max_datagram` bytes when the
    /// primary alone allows it.
    pub fn new(depth: usize, max_datagram: usize) -> Sender {
        Sender::with(Protection::Redundancy(depth), max_datagram)
    }

    pub fn with(protection: Protection, max_datagram: usize) -> Sender {
        let keep = match protection {
            Protection::Redundancy(depth) => depth,
            Protection::Fec { span, entries } => usize::from(span) * entries,
        };
        Sender {
            next_seq: 0,
            sent: 0,
            protection,
            max_datagram,
            history: VecDeque::with_capacity(keep + 1),
        }
    }

    /// The datagram carrying `ifp`.
    pub fn packet(&mut self, ifp: &[u8]) -> Result<Vec<u8>, UdptlError> {
        let (mut recovery, keep) = match self.protection {
            Protection::Redundancy(depth) => (
                Recovery::Redundancy(self.history.iter().take(depth).cloned().collect()),
                depth,
            ),
            Protection::Fec { span, entries } => {
                (self.parity(span, entries), usize::from(span) * entries)
            }
        };
        let bytes = loop {
            let p = Packet {
                seq: self.next_seq,
                primary: ifp.to_vec(),
                recovery: recovery.clone(),
            };
            let bytes = p.encode()?;
            let blocks = match &mut recovery {
                Recovery::Redundancy(b) => b,
                Recovery::Fec { parity, .. } => parity,
            };
            if bytes.len() <= self.max_datagram || blocks.is_empty() {
                break bytes;
            }
            blocks.pop(); // the oldest copy, or the last parity block, goes first
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        self.sent = self.sent.saturating_add(1);
        self.history.push_front(ifp.to_vec());
        self.history.truncate(keep);
        Ok(bytes)
    }

    /// The FEC blocks of the next packet: block m covers the packets m−k·entries back from it
    /// (k = 1…span), fewer while the first span·entries packets go out.
    fn parity(&self, span: u8, entries: usize) -> Recovery {
        let span_n = usize::from(span);
        let (span, entries) = if self.sent < span_n * entries {
            (
                if self.sent < span_n { 0 } else { span },
                self.sent / span_n.max(1),
            )
        } else {
            (span, entries)
        };
        let parity = (0..entries)
            .map(|m| {
                let mut block: Vec<u8> = Vec::new();
                for k in 1..=usize::from(span) {
                    // packet n+m−k·entries is history[k·entries − m − 1]
                    if let Some(ifp) = self.history.get(k * entries - m - 1) {
                        xor_into(&mut block, ifp);
                    }
                }
                block
            })
            .collect();
        Recovery::Fec { span, parity }
    }
}

/// `block` ^= `ifp`, the shorter padded with zeros.
fn xor_into(block: &mut Vec<u8>, ifp: &[u8]) {
    if block.len() < ifp.len() {
        block.resize(ifp.len(), 0);
    }
    for (b, i) in block.iter_mut().zip(ifp) {
        *b ^= i;
    }
}

/// Puts received IFPs back in order, recovering lost ones from the redundancy or FEC that
/// follows.
#[derive(Debug, Default)]
pub struct Receiver {
    /// Whether FEC was negotiated: without it, FEC information in a packet is ignored.
    fec: bool,
    /// The sequence number expected next (none before the first packet).
    expected: Option<u16>,
    /// Recent IFPs by sequence number (FEC rebuilds from them), and recent FEC blocks: the
    /// sequence number of the packet that carried them, span, entries, blocks.
    recent: std::collections::BTreeMap<u16, Vec<u8>>,
    parity: VecDeque<(u16, u8, Vec<Vec<u8>>)>,
    /// Parity blocks looked at for the last datagram (the work it cost, for the tests).
    looked_at: usize,
}

/// How many recent packets FEC may look back over.
const FEC_WINDOW: u16 = 32;
/// Lost packets recovered from one datagram, at most; a larger gap resynchronises.
pub const MAX_RECOVERED: u16 = 16;
/// The widest FEC span and the most FEC blocks per packet read (spandsp and Asterisk send 3
/// and 3); a packet claiming more has its FEC ignored.
pub const MAX_FEC_SPAN: u8 = 8;
pub const MAX_FEC_ENTRIES: usize = 8;

/// How far back a packet may be and still be new rather than stale (half the sequence space).
const WINDOW: u16 = 0x8000;

impl Receiver {
    /// A receiver for a session that negotiated FEC (`fec`) or not (redundancy or nothing).
    pub fn new(fec: bool) -> Receiver {
        Receiver {
            fec,
            ..Receiver::default()
        }
    }

    /// The IFPs (with their sequence numbers) that `datagram` delivers, in order: those lost
    /// before it that its redundancy carries, then its own. Empty for a duplicate or a packet
    /// older than one already delivered.
    pub fn receive(&mut self, datagram: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, UdptlError> {
        let p = Packet::decode(datagram)?;
        self.looked_at = 0;
        let expected = self.expected.unwrap_or(p.seq);
        let ahead = p.seq.wrapping_sub(expected);
        if ahead >= WINDOW {
            return Ok(Vec::new()); // a duplicate or a late packet
        }
        let mut out = Vec::new();
        // a gap wider than what one datagram may recover: resynchronise on this packet
        let recover = if ahead > MAX_RECOVERED { 0 } else { ahead };
        match &p.recovery {
            Recovery::Redundancy(copies) => {
                // lost packets expected..seq: the copy of seq−k is copies[k−1]
                for k in (1..=recover).rev() {
                    if let Some(copy) = copies.get(usize::from(k) - 1) {
                        out.push((p.seq.wrapping_sub(k), copy.clone()));
                    }
                }
            }
            Recovery::Fec { span, parity }
                if self.fec && *span <= MAX_FEC_SPAN && parity.len() <= MAX_FEC_ENTRIES =>
            {
                self.remember(p.seq, &p.primary);
                self.parity.push_back((p.seq, *span, parity.clone()));
                while self.parity.len() > usize::from(FEC_WINDOW) {
                    self.parity.pop_front();
                }
                for k in (1..=recover).rev() {
                    let lost = p.seq.wrapping_sub(k);
                    if let Some(ifp) = self.rebuild(lost) {
                        self.remember(lost, &ifp);
                        out.push((lost, ifp));
                    }
                }
            }
            // FEC not negotiated, or wider than any sender uses: the primary alone
            Recovery::Fec { .. } => {}
        }
        out.push((p.seq, p.primary));
        self.expected = Some(p.seq.wrapping_add(1));
        let newest = p.seq;
        self.recent
            .retain(|&s, _| newest.wrapping_sub(s) <= FEC_WINDOW);
        Ok(out)
    }

    fn remember(&mut self, seq: u16, ifp: &[u8]) {
        self.recent.insert(seq, ifp.to_vec());
    }

    /// Packet `lost` rebuilt from a parity block that covers it and packets all received.
    fn rebuild(&mut self, lost: u16) -> Option<Vec<u8>> {
        for (carrier, span, blocks) in self.parity.iter().rev() {
            let entries = blocks.len();
            for (m, block) in blocks.iter().enumerate() {
                self.looked_at += 1;
                let covered: Vec<u16> = (1..=usize::from(*span))
                    .map(|k| {
                        carrier
                            .wrapping_add(m as u16)
                            .wrapping_sub((k * entries) as u16)
                    })
                    .collect();
                if !covered.contains(&lost) {
                    continue;
                }
                let mut rebuilt = block.clone();
                let all_others = covered.iter().filter(|&&s| s != lost).all(|s| {
                    self.recent.get(s).is_some_and(|ifp| {
                        xor_into(&mut rebuilt, ifp);
                        true
                    })
                });
                if all_others {
                    return Some(rebuilt);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fec_winds_up_then_rebuilds_any_one_lost_packet_of_a_span() {
        let mut tx = Sender::with(
            Protection::Fec {
                span: 3,
                entries: 3,
            },
            400,
        );
        let ifps: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 1 + usize::from(i % 5)]).collect();
        let packets: Vec<Vec<u8>> = ifps.iter().map(|i| tx.packet(i).unwrap()).collect();
        // wind-up: no parity at first, then one block of span 3, up to three
        let shape = |n: usize| match Packet::decode(&packets[n]).unwrap().recovery {
            Recovery::Fec { span, parity } => (span, parity.len()),
            other => panic!("{other:?}"),
        };
        assert_eq!(shape(0), (0, 0));
        assert_eq!(shape(3), (3, 1));
        assert_eq!(shape(9), (3, 3));
        // every fourth packet lost (one of each span at most): all rebuilt, in order
        let mut rx = Receiver::new(true);
        let mut got = Vec::new();
        for (n, p) in packets.iter().enumerate() {
            if n % 4 == 2 && n > 12 {
                continue;
            }
            got.extend(rx.receive(p).unwrap());
        }
        let expected: Vec<(u16, Vec<u8>)> = ifps
            .iter()
            .enumerate()
            .map(|(n, i)| (n as u16, i.clone()))
            .collect();
        // a rebuilt packet is as long as its longest neighbour: compare the IFP's own bytes
        assert_eq!(got.len(), expected.len());
        for ((gs, gi), (es, ei)) in got.iter().zip(&expected) {
            assert_eq!(gs, es);
            assert_eq!(&gi[..ei.len()], &ei[..], "packet {es}");
        }
    }

    #[test]
    fn wire_format_of_a_simple_packet() {
        // seq 1, a 2-octet IFP, one copy of a 1-octet IFP
        let p = Packet {
            seq: 1,
            primary: vec![0x06, 0x00],
            recovery: Recovery::Redundancy(vec![vec![0x00]]),
        };
        let bytes = p.encode().unwrap();
        assert_eq!(
            bytes,
            [0x00, 0x01, 0x02, 0x06, 0x00, 0x00, 0x01, 0x01, 0x00]
        );
        assert_eq!(Packet::decode(&bytes).unwrap(), p);
        // two-octet lengths
        let long = Packet {
            seq: 0xfffe,
            primary: vec![0xaa; 300],
            recovery: Recovery::Fec {
                span: 3,
                parity: vec![vec![1, 2, 3]],
            },
        };
        let bytes = long.encode().unwrap();
        assert_eq!(&bytes[..4], &[0xff, 0xfe, 0x81, 0x2c]);
        assert_eq!(Packet::decode(&bytes).unwrap(), long);
    }

    #[test]
    fn damaged_packets_are_errors_not_panics() {
        let good = Sender::new(3, 400).packet(&[1, 2, 3]).unwrap();
        for cut in 0..good.len() {
            assert!(Packet::decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert_eq!(
            Packet::decode(&[0, 0, 0xc0, 1]),
            Err(UdptlError::TooLong(MAX_LENGTH + 1))
        );
    }

    #[test]
    fn the_datagram_limit_drops_the_oldest_copies_first() {
        let mut s = Sender::new(3, 40);
        for i in 0..3u8 {
            s.packet(&[i; 10]).unwrap();
        }
        let bytes = s.packet(&[9; 10]).unwrap();
        assert!(bytes.len() <= 40, "{}", bytes.len());
        let Recovery::Redundancy(copies) = Packet::decode(&bytes).unwrap().recovery else {
            panic!()
        };
        assert_eq!(
            copies,
            vec![vec![2; 10], vec![1; 10]],
            "newest first, oldest dropped"
        );
    }

    #[test]
    fn with_redundancy_3_five_percent_loss_loses_nothing() {
        let mut sender = Sender::new(3, 400);
        let mut receiver = Receiver::new(false);
        let mut random = crate::sip::simulate::random(0x5eed_fa11);
        let sent: Vec<Vec<u8>> = (0..5000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        let mut got = Vec::new();
        let mut dropped = 0;
        for ifp in &sent {
            let datagram = sender.packet(ifp).unwrap();
            if random() < 0.05 {
                dropped += 1;
                continue;
            }
            got.extend(receiver.receive(&datagram).unwrap());
        }
        assert!(dropped > 200, "{dropped} dropped");
        // everything arrives once, in order, with its sequence number (except a tail lost after
        // the last packet received, which nothing can carry)
        let seqs: Vec<u16> = got.iter().map(|(s, _)| *s).collect();
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0].wrapping_add(1)),
            "in order"
        );
        assert!(
            got.len() >= sent.len() - 3,
            "{} of {}",
            got.len(),
            sent.len()
        );
        for (seq, ifp) in &got {
            assert_eq!(ifp, &sent[usize::from(*seq)]);
        }
    }

    #[test]
    fn duplicates_and_late_packets_are_dropped_and_numbers_wrap() {
        let mut sender = Sender::new(1, 400);
        sender.next_seq = 0xffff;
        let a = sender.packet(&[1]).unwrap();
        let b = sender.packet(&[2]).unwrap();
        let mut r = Receiver::new(false);
        assert_eq!(r.receive(&a).unwrap(), vec![(0xffff, vec![1])]);
        assert_eq!(r.receive(&b).unwrap(), vec![(0, vec![2])]);
        assert!(r.receive(&b).unwrap().is_empty(), "duplicate");
        assert!(r.receive(&a).unwrap().is_empty(), "late");
    }

    /// The datagram that once cost 26 s of CPU: the FEC bit, a sequence jump of 0x7ffe and as
    /// many parity blocks of span 255 as fit in a kilobyte.
    fn jump_with_fec(seq: u16) -> Vec<u8> {
        Packet {
            seq,
            primary: vec![0x06, 0x00],
            recovery: Recovery::Fec {
                span: 255,
                parity: vec![vec![0xff]; 480],
            },
        }
        .encode()
        .unwrap()
    }

    #[test]
    fn a_sequence_jump_with_fec_resynchronises_instead_of_rebuilding() {
        for fec in [false, true] {
            let mut r = Receiver::new(fec);
            // a session going on with FEC of the usual shape
            let mut tx = Sender::with(
                Protection::Fec {
                    span: 3,
                    entries: 3,
                },
                400,
            );
            for i in 0..20u8 {
                r.receive(&tx.packet(&[i]).unwrap()).unwrap();
            }
            let attack = jump_with_fec(20u16.wrapping_add(0x7ffe));
            // what it asks for: every packet of the gap rebuilt over every block it carries
            let Recovery::Fec { span, parity } = Packet::decode(&attack).unwrap().recovery else {
                panic!()
            };
            let claimed = 0x7ffe * parity.len() * usize::from(span);
            assert!(claimed > 1_000_000_000, "{claimed}");
            let got = r.receive(&attack).unwrap();
            let bound = usize::from(MAX_RECOVERED) * usize::from(FEC_WINDOW) * MAX_FEC_ENTRIES;
            assert!(r.looked_at <= bound, "{} blocks looked at", r.looked_at);
            // its own IFP only: nothing rebuilt over the gap, nothing from the parity claimed
            assert_eq!(
                got,
                vec![(20u16.wrapping_add(0x7ffe), vec![0x06, 0x00])],
                "fec={fec}"
            );
            assert!(r.parity.len() <= usize::from(FEC_WINDOW));
        }
    }

    #[test]
    fn fec_is_read_only_when_negotiated_and_only_as_wide_as_senders_make_it() {
        let mut tx = Sender::with(
            Protection::Fec {
                span: 3,
                entries: 3,
            },
            400,
        );
        let packets: Vec<Vec<u8>> = (0..20u8).map(|i| tx.packet(&[i, i]).unwrap()).collect();
        let run = |fec: bool| {
            let mut r = Receiver::new(fec);
            let mut got = Vec::new();
            for (n, p) in packets.iter().enumerate() {
                if n == 14 {
                    continue; // lost
                }
                got.extend(r.receive(p).unwrap());
            }
            got.iter().map(|(s, _)| *s).collect::<Vec<_>>()
        };
        assert!(run(true).contains(&14), "rebuilt from the negotiated FEC");
        assert!(!run(false).contains(&14), "FEC not negotiated: not read");
        // a gap within MAX_RECOVERED is still recovered from redundancy
        let mut red = Sender::new(16, 1400);
        let packets: Vec<Vec<u8>> = (0..40u8).map(|i| red.packet(&[i]).unwrap()).collect();
        let mut r = Receiver::new(false);
        r.receive(&packets[0]).unwrap();
        let got = r.receive(&packets[usize::from(MAX_RECOVERED) + 1]).unwrap();
        assert_eq!(got.len(), usize::from(MAX_RECOVERED) + 1);
        // one further is a resynchronisation
        let mut r = Receiver::new(false);
        r.receive(&packets[0]).unwrap();
        let got = r.receive(&packets[usize::from(MAX_RECOVERED) + 2]).unwrap();
        assert_eq!(got.len(), 1);
    }
}
