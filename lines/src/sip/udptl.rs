//! UDPTL (ITU-T T.38 §9.1): how T.38 IFP packets travel over UDP, with redundancy so that a lost
//! datagram costs nothing.
//!
//! Wire format (ASN.1 PER, aligned): a 16-bit sequence number; the primary IFP packet as an open
//! type (a length determinant, then its bytes); then the error-recovery CHOICE, whose one bit
//! takes a whole octet here: `0x00` and the secondary IFP packets (a count, then each as an open
//! type, newest first: seq−1, seq−2, …), or `0x80` and FEC information (the span as a one-octet
//! integer, a count, then each parity packet as an open type).
//!
//! `Sender` numbers packets and repeats the last `depth` IFPs in each, fitting the far end's
//! datagram limit by dropping the oldest copies first. `Receiver` hands IFPs on in order with
//! their sequence numbers, taking the ones a lost datagram carried from the redundancy of the
//! next, and drops duplicates and stale packets. FEC packets are read (their primary is used)
//! but not used for recovery; faxhub offers and answers redundancy. Pure: no sockets here.

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

/// Numbers outgoing IFPs and wraps each with copies of the previous ones.
#[derive(Debug)]
pub struct Sender {
    next_seq: u16,
    depth: usize,
    max_datagram: usize,
    history: VecDeque<Vec<u8>>,
}

impl Sender {
    /// `depth` previous IFPs in each packet; no packet longer than `max_datagram` bytes when the
    /// primary alone allows it.
    pub fn new(depth: usize, max_datagram: usize) -> Sender {
        Sender {
            next_seq: 0,
            depth,
            max_datagram,
            history: VecDeque::with_capacity(depth + 1),
        }
    }

    /// The datagram carrying `ifp`.
    pub fn packet(&mut self, ifp: &[u8]) -> Result<Vec<u8>, UdptlError> {
        let mut copies: Vec<Vec<u8>> = self.history.iter().cloned().collect();
        let bytes = loop {
            let p = Packet {
                seq: self.next_seq,
                primary: ifp.to_vec(),
                recovery: Recovery::Redundancy(copies.clone()),
            };
            let bytes = p.encode()?;
            if bytes.len() <= self.max_datagram || copies.is_empty() {
                break bytes;
            }
            copies.pop(); // the oldest copy goes first
        };
        self.next_seq = self.next_seq.wrapping_add(1);
        self.history.push_front(ifp.to_vec());
        self.history.truncate(self.depth);
        Ok(bytes)
    }
}

/// Puts received IFPs back in order, recovering lost ones from the redundancy that follows.
#[derive(Debug, Default)]
pub struct Receiver {
    /// The sequence number expected next (none before the first packet).
    expected: Option<u16>,
}

/// How far back a packet may be and still be new rather than stale (half the sequence space).
const WINDOW: u16 = 0x8000;

impl Receiver {
    pub fn new() -> Receiver {
        Receiver::default()
    }

    /// The IFPs (with their sequence numbers) that `datagram` delivers, in order: those lost
    /// before it that its redundancy carries, then its own. Empty for a duplicate or a packet
    /// older than one already delivered.
    pub fn receive(&mut self, datagram: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, UdptlError> {
        let p = Packet::decode(datagram)?;
        let expected = self.expected.unwrap_or(p.seq);
        let ahead = p.seq.wrapping_sub(expected);
        if ahead >= WINDOW {
            return Ok(Vec::new()); // a duplicate or a late packet
        }
        let mut out = Vec::new();
        if let Recovery::Redundancy(copies) = &p.recovery {
            // lost packets expected..seq: the copy of seq−k is copies[k−1]
            for k in (1..=ahead).rev() {
                if let Some(copy) = copies.get(usize::from(k) - 1) {
                    out.push((p.seq.wrapping_sub(k), copy.clone()));
                }
            }
        }
        out.push((p.seq, p.primary));
        self.expected = Some(p.seq.wrapping_add(1));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A deterministic pseudo-random sequence (xorshift), for reproducible loss.
    fn lossy(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 10_000) as f64 / 10_000.0
        }
    }

    #[test]
    fn with_redundancy_3_five_percent_loss_loses_nothing() {
        let mut sender = Sender::new(3, 400);
        let mut receiver = Receiver::new();
        let mut random = lossy(0x5eed_fa11);
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
        let mut r = Receiver::new();
        assert_eq!(r.receive(&a).unwrap(), vec![(0xffff, vec![1])]);
        assert_eq!(r.receive(&b).unwrap(), vec![(0, vec![2])]);
        assert!(r.receive(&b).unwrap().is_empty(), "duplicate");
        assert!(r.receive(&a).unwrap().is_empty(), "late");
    }
}
