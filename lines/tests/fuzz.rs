//! Bounded fuzzing of what the network hands the line side (proptest, in `make test`): SIP
//! messages, SDP, UDPTL datagrams (redundancy, FEC agreed or not) and RTP, random and as
//! mutations of real ones. Nothing may panic; the receivers' state stays bounded whatever
//! arrives. The inputs that once broke something are kept below as plain tests.

use faxhub_lines::sip::message::Message;
use faxhub_lines::sip::rtp;
use faxhub_lines::sip::sdp::Sdp;
use faxhub_lines::sip::udptl::{self, Protection};
use proptest::prelude::*;

const INVITE: &[u8] = b"INVITE sip:0142000000@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\nMax-Forwards: 70\r\n\
From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:0142000000@127.0.0.1>\r\nCall-ID: c1\r\n\
CSeq: 1 INVITE\r\nContact: <sip:a@127.0.0.1:5062>\r\nContent-Type: application/sdp\r\n\
Content-Length: 150\r\n\r\n\
v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=image 40000 udptl t38\r\na=T38FaxVersion:0\r\na=T38FaxUdpEC:t38UDPFEC\r\n";

/// `base` with up to a few bytes changed, inserted or removed.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((0..base.len(), any::<u8>(), 0..3u8), 0..8).prop_map(move |edits| {
        let mut out = base.to_vec();
        for (at, byte, how) in edits {
            let at = at.min(out.len().saturating_sub(1));
            match how {
                0 if !out.is_empty() => out[at] = byte,
                1 => out.insert(at, byte),
                _ if !out.is_empty() => {
                    out.remove(at);
                }
                _ => {}
            }
        }
        out
    })
}

fn sip_and_sdp(bytes: &[u8]) {
    if let Ok((m, used)) = Message::parse(bytes) {
        assert!(used <= bytes.len());
        let _ = (m.method(), m.code(), m.cseq(), m.q850_cause(), m.render());
        let _ = Sdp::parse(&String::from_utf8_lossy(&m.body));
    }
    let _ = Sdp::parse(&String::from_utf8_lossy(bytes));
}

/// Real UDPTL datagrams of a session: with redundancy, and with FEC.
fn udptl_datagrams(fec: bool) -> Vec<Vec<u8>> {
    let protection = if fec {
        Protection::Fec {
            span: 3,
            entries: 3,
        }
    } else {
        Protection::Redundancy(3)
    };
    let mut tx = udptl::Sender::with(protection, 400);
    (0..12u8).map(|i| tx.packet(&[i; 5]).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sip_messages_and_sdp_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1500)) {
        sip_and_sdp(&bytes);
    }

    #[test]
    fn mutated_invites_never_panic(bytes in mutated(INVITE)) {
        sip_and_sdp(&bytes);
    }

    #[test]
    fn udptl_receivers_stay_bounded(
        fec in any::<bool>(),
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..1400), 1..40),
        seqs in prop::collection::vec(any::<u16>(), 40),
    ) {
        let mut rx = udptl::Receiver::new(fec);
        // real datagrams first, then random ones, some given real headers and far sequence
        // numbers: the IFPs delivered per datagram are bounded by what it may recover
        for d in udptl_datagrams(fec).iter().chain(&datagrams) {
            if let Ok(got) = rx.receive(d) {
                prop_assert!(got.len() <= usize::from(udptl::MAX_RECOVERED) + 1);
            }
        }
        for (d, seq) in datagrams.iter().zip(&seqs) {
            let mut d = d.clone();
            if d.len() >= 2 {
                d[..2].copy_from_slice(&seq.to_be_bytes());
            }
            if let Ok(got) = rx.receive(&d) {
                prop_assert!(got.len() <= usize::from(udptl::MAX_RECOVERED) + 1);
            }
        }
    }

    #[test]
    fn rtp_receivers_stay_bounded(
        datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 1..60),
        seqs in prop::collection::vec(any::<u16>(), 60),
    ) {
        let mut rx = rtp::Receiver::new(0, 3, 0xff);
        for (d, seq) in datagrams.iter().zip(&seqs) {
            let mut d = d.clone();
            if d.len() >= 12 {
                d[0] = 0x80;
                d[1] = 0;
                d[2..4].copy_from_slice(&seq.to_be_bytes());
            }
            let _ = rx.push(&d);
            prop_assert!(rx.pop().len() <= usize::from(rtp::MAX_AHEAD) + 1);
        }
    }
}

/// Inputs that once cost dearly, kept as they were.
#[test]
fn the_inputs_that_broke_something_once() {
    // a FEC datagram with a sequence jump of 0x7ffe, span 255 and 690 parity blocks (26 s of
    // CPU before the bound)
    let mut fec = vec![0x7f, 0xfe, 0x02, 0x06, 0x00, 0x80, 0x01, 0xff, 0x82, 0xb2];
    for _ in 0..690 {
        fec.extend_from_slice(&[0x01, 0xff]);
    }
    for negotiated in [true, false] {
        let mut rx = udptl::Receiver::new(negotiated);
        rx.receive(&udptl_datagrams(true)[0]).unwrap();
        let got = rx.receive(&fec).unwrap();
        assert_eq!(got.len(), 1, "its own IFP, nothing rebuilt");
    }
}
