//! RTP (RFC 3550) for faxes carried as G.711 audio: 20 ms packets of 160 samples, read and
//! written, and a receiver that puts packets back in order and stands in silence for lost ones
//! (a fax modem needs an unbroken 8 kHz stream; a gap would shift every later sample). Pure.

/// Samples in 20 ms at 8 kHz.
pub const FRAME: usize = 160;
/// How far ahead of the next frame a packet may be and still be waited for (a second of
/// frames); a packet further ahead restarts the stream there. So a peer's sequence numbers
/// bound neither the frames held nor the silence played.
pub const MAX_AHEAD: u16 = 50;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    #[error("not an RTP packet: {0}")]
    Malformed(&'static str),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub payload_type: u8,
    pub marker: bool,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl Packet {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(12 + self.payload.len());
        out.push(0x80); // version 2, no padding, no extension, no CSRC
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7f));
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(&self.payload);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Packet, RtpError> {
        if bytes.len() < 12 {
            return Err(RtpError::Malformed("shorter than its header"));
        }
        if bytes[0] >> 6 != 2 {
            return Err(RtpError::Malformed("not version 2"));
        }
        let csrc = usize::from(bytes[0] & 0x0f);
        let mut at = 12 + 4 * csrc;
        if bytes[0] & 0x10 != 0 {
            // a header extension: 16-bit profile, 16-bit length in words
            let words = bytes
                .get(at + 2..at + 4)
                .ok_or(RtpError::Malformed("extension cut short"))?;
            at += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        let mut end = bytes.len();
        if bytes[0] & 0x20 != 0 {
            let pad = usize::from(*bytes.last().unwrap_or(&0));
            end = end
                .checked_sub(pad)
                .ok_or(RtpError::Malformed("bad padding"))?;
        }
        let payload = bytes
            .get(at..end)
            .ok_or(RtpError::Malformed("header longer than the packet"))?;
        Ok(Packet {
            payload_type: bytes[1] & 0x7f,
            marker: bytes[1] & 0x80 != 0,
            seq: u16::from_be_bytes([bytes[2], bytes[3]]),
            timestamp: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            ssrc: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            payload: payload.to_vec(),
        })
    }
}

/// Numbers and stamps outgoing frames.
#[derive(Debug)]
pub struct Sender {
    payload_type: u8,
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    first: bool,
}

impl Sender {
    pub fn new(payload_type: u8, ssrc: u32, first_seq: u16, first_timestamp: u32) -> Sender {
        Sender {
            payload_type,
            ssrc,
            seq: first_seq,
            timestamp: first_timestamp,
            first: true,
        }
    }

    /// The packet carrying one frame of encoded audio (`payload`, one byte a sample for G.711).
    pub fn packet(&mut self, payload: &[u8]) -> Vec<u8> {
        let p = Packet {
            payload_type: self.payload_type,
            marker: std::mem::take(&mut self.first),
            seq: self.seq,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            payload: payload.to_vec(),
        };
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
        p.encode()
    }
}

/// Puts received packets of one payload type back in order, a few frames deep, and gives them
/// out as a continuous stream of frames: silence where a packet was lost, nothing for a packet
/// that came too late or twice.
#[derive(Debug)]
pub struct Receiver {
    payload_type: u8,
    /// The sequence number of the next frame to give out.
    next: Option<u16>,
    /// Frames waiting, by sequence number.
    waiting: std::collections::BTreeMap<u16, Vec<u8>>,
    depth: usize,
    silence: u8,
}

impl Receiver {
    /// `depth` frames are held back to reorder (at most `MAX_AHEAD`); `silence` is the payload byte of silence (0xff
    /// in μ-law, 0xd5 in A-law).
    pub fn new(payload_type: u8, depth: usize, silence: u8) -> Receiver {
        Receiver {
            payload_type,
            next: None,
            waiting: std::collections::BTreeMap::new(),
            depth: depth.clamp(1, usize::from(MAX_AHEAD)),
            silence,
        }
    }

    /// Takes in a datagram; other payload types (telephone-event, comfort noise) are ignored.
    pub fn push(&mut self, datagram: &[u8]) -> Result<(), RtpError> {
        let p = Packet::decode(datagram)?;
        if p.payload_type != self.payload_type {
            return Ok(());
        }
        let next = *self.next.get_or_insert(p.seq);
        let ahead = p.seq.wrapping_sub(next);
        // too late (already given out, or given up as lost): dropped
        if ahead >= 0x8000 {
            return Ok(());
        }
        // further ahead than a real gap: the stream starts again there (else the frames
        // between would be played as silence, as many as the sequence number says)
        if ahead > MAX_AHEAD {
            self.waiting.clear();
            self.next = Some(p.seq);
            self.waiting.insert(0, p.payload);
            return Ok(());
        }
        self.waiting.insert(ahead, p.payload);
        Ok(())
    }

    /// Whether any packet of the stream has arrived.
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// The frames ready to play: in order, once `depth` frames are waiting or the next one is
    /// there; a frame still missing when the buffer is full is replaced by silence.
    pub fn pop(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let Some(mut next) = self.next else {
            return out;
        };
        loop {
            // `waiting` is keyed by distance from `next`
            if let Some(frame) = self.waiting.remove(&0) {
                out.push(frame);
            } else if self.waiting.len() >= self.depth {
                out.push(vec![self.silence; FRAME]);
            } else {
                break;
            }
            next = next.wrapping_add(1);
            self.waiting = std::mem::take(&mut self.waiting)
                .into_iter()
                .map(|(k, v)| (k.wrapping_sub(1), v))
                .collect();
        }
        self.next = Some(next);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_read_back_and_headers_are_checked() {
        let mut s = Sender::new(0, 0xdead_beef, 65_535, 1000);
        let first = Packet::decode(&s.packet(&[0xff; FRAME])).unwrap();
        assert!(first.marker);
        assert_eq!(
            (first.seq, first.timestamp, first.ssrc),
            (65_535, 1000, 0xdead_beef)
        );
        let second = Packet::decode(&s.packet(&[0x7f; FRAME])).unwrap();
        assert!(!second.marker);
        assert_eq!((second.seq, second.timestamp), (0, 1160));
        assert_eq!(second.payload.len(), FRAME);
        assert!(Packet::decode(&[0x80; 11]).is_err());
        assert!(Packet::decode(&[0x40; 20]).is_err(), "version 1");
        // a CSRC and padding
        let mut p = vec![
            0xa1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9, 9, 7, 7, 0, 2,
        ];
        assert_eq!(Packet::decode(&p).unwrap().payload, [7, 7]);
        p.pop();
        p.push(30);
        assert!(
            Packet::decode(&p).is_err(),
            "padding longer than the packet"
        );
    }

    #[test]
    fn the_stream_is_reordered_and_losses_become_silence() {
        let mut s = Sender::new(8, 1, 10, 0);
        let frames: Vec<Vec<u8>> = (0..8u8).map(|i| s.packet(&[i; FRAME])).collect();
        let mut r = Receiver::new(8, 3, 0xd5);
        // 0, 2, 1 (reordered), 3 lost, 4, 5, 6, 7; one packet of another type; 1 again (late)
        for i in [0, 2, 1, 4, 5, 6, 7] {
            r.push(&frames[i]).unwrap();
        }
        r.push(&Sender::new(101, 1, 0, 0).packet(&[1, 2, 3, 4]))
            .unwrap();
        let out = r.pop();
        let firsts: Vec<u8> = out.iter().map(|f| f[0]).collect();
        assert_eq!(firsts, [0, 1, 2, 0xd5, 4, 5, 6, 7]);
        r.push(&frames[1]).unwrap();
        assert!(r.pop().is_empty(), "late and duplicate frames are dropped");
        assert_eq!(out.iter().map(Vec::len).sum::<usize>(), 8 * FRAME);
    }

    #[test]
    fn a_sequence_jump_restarts_the_stream_instead_of_playing_the_gap_as_silence() {
        let mut tx = Sender::new(0, 1, 100, 0);
        let mut r = Receiver::new(0, 3, 0xff);
        r.push(&tx.packet(&[1; FRAME])).unwrap();
        assert_eq!(r.pop().len(), 1);
        // three packets far ahead, as a hostile peer would send them
        for jump in [30_000u16, 30_010, 30_020] {
            let mut p = Packet::decode(&tx.packet(&[2; FRAME])).unwrap();
            p.seq = 101u16.wrapping_add(jump);
            r.push(&p.encode()).unwrap();
        }
        let played = r.pop();
        assert!(
            played.len() <= usize::from(MAX_AHEAD),
            "{} frames played",
            played.len()
        );
        assert!(r.waiting.len() <= usize::from(MAX_AHEAD) + 1);
    }
}
