//! A far end for tests and tools, written from faxhub's SIP and media building blocks, not its
//! user agent: a SIP socket and a media socket that a test scripts message by message, to play
//! a PBX or a carrier that does not do what faxhub's own agent does (answers a T.38 offer with
//! the stream at port 0, takes the call back to audio after a fax, …). Used by the line tests
//! and by end-to-end tests against the real binary (feature `test-support`: never in the daemon;
//! it panics where a test should fail).

use crate::sip::dialog::Local;
use crate::sip::message::Message;
use crate::sip::sdp::{Media, Origin, Sdp};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

pub struct Far {
    pub sip: UdpSocket,
    /// Shared, so that a task of the test can run the media while it signals.
    pub media: std::sync::Arc<UdpSocket>,
    version: u64,
}

impl Far {
    pub async fn new() -> Far {
        Far {
            sip: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            media: std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap()),
            version: 1,
        }
    }

    pub fn here(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    pub fn media_port(&self) -> u16 {
        self.media.local_addr().unwrap().port()
    }

    pub fn local(&self) -> Local {
        let here = self.here();
        Local {
            via: format!("SIP/2.0/UDP {here}"),
            address: format!("<sip:far@{here}>"),
            contact: format!("sip:far@{here}"),
        }
    }

    /// Our description with `media`, its version moved on.
    pub fn sdp(&mut self, media: Vec<Media>) -> String {
        self.version += 1;
        let ip = self.here().ip();
        Sdp {
            origin: Origin {
                username: "far".into(),
                session_id: 7,
                version: self.version,
                address: ip,
            },
            session_name: "far".into(),
            connection: Some(ip),
            media,
        }
        .render()
    }

    /// Answers `request` of `dialog` with 200 and `sdp`, and takes the ACK.
    pub async fn answer(
        &self,
        dialog: &crate::sip::dialog::Dialog,
        request: &Message,
        sdp: &str,
        to: SocketAddr,
    ) {
        let mut ok = dialog.response(request, 200, "OK");
        ok.add("Content-Type", "application/sdp");
        ok.body = sdp.as_bytes().to_vec();
        self.send(&ok, to).await;
        self.receive("ACK").await;
    }

    pub async fn send(&self, message: &Message, to: SocketAddr) {
        self.sip.send_to(&message.render(), to).await.unwrap();
    }

    /// The next message that is `what` (a method, or a status code), skipping others (a
    /// retransmission, a provisional answer).
    pub async fn receive(&self, what: &str) -> (Message, SocketAddr) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, from) =
                tokio::time::timeout(Duration::from_secs(60), self.sip.recv_from(&mut buf))
                    .await
                    .unwrap_or_else(|_| panic!("no {what} came"))
                    .unwrap();
            let (m, _) = Message::parse(&buf[..n]).unwrap();
            let wanted = match m.method() {
                Some(method) => what.starts_with(method),
                None => what.starts_with(&m.code().unwrap().to_string()),
            };
            if wanted {
                return (m, from);
            }
        }
    }
}

impl Far {
    /// The final response to our request of `method`, whatever its code.
    pub async fn final_response(&self, method: &str) -> Message {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (n, _) =
                tokio::time::timeout(Duration::from_secs(60), self.sip.recv_from(&mut buf))
                    .await
                    .unwrap_or_else(|_| panic!("no final response to our {method} came"))
                    .unwrap();
            let (m, _) = Message::parse(&buf[..n]).unwrap();
            if m.code().is_some_and(|c| c >= 200) && m.cseq().is_some_and(|(_, x)| x == method) {
                return m;
            }
        }
    }
}

/// faxhub's user agent on a free port of 127.0.0.1, its inbox under `dir`.
pub async fn agent(dir: &std::path::Path) -> std::sync::Arc<crate::sip::agent::Agent> {
    let config = crate::sip::config::SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    let inbox = crate::inbox::Inbox::new(dir.join("inbox"));
    crate::sip::agent::Agent::start(config, inbox)
        .await
        .unwrap()
}

impl Far {
    /// faxhub's call to this far end: a T.38-only offer of the one page in `tiff`.
    pub fn t38_only_dial(&self, tiff: std::path::PathBuf) -> crate::sip::agent::Dial {
        crate::sip::agent::Dial {
            number: "0142000000".into(),
            proxy: self.here(),
            transport: crate::sip::agent::Transport::Udp,
            domain: "127.0.0.1".into(),
            from_user: "0169293999".into(),
            credentials: None,
            fax: crate::sip::config::FaxOptions {
                t38_only: true,
                ident: "FAXHUB".into(),
                ..Default::default()
            },
            tiff,
            pages: 1,
            ring_timeout: Duration::from_secs(10),
            max_duration: Duration::from_secs(120),
            progress: None,
        }
    }
}

/// The SDP of `message`.
pub fn sdp_of(message: &Message) -> Sdp {
    Sdp::parse(std::str::from_utf8(&message.body).unwrap()).unwrap()
}

/// Where `media` of `sdp` is.
pub fn address(sdp: &Sdp, media: &Media) -> SocketAddr {
    SocketAddr::new(sdp.address_of(media).unwrap(), media.port)
}

/// How a PBX's fax to faxhub went (`Far::fax_then_back_to_audio`).
pub struct SentFax {
    pub end: crate::sip::media::SessionEnd,
    pub progress: crate::sip::spandsp::Progress,
    /// faxhub's final response to the re-INVITE back to audio.
    pub back: Message,
}

impl Far {
    /// Plays a PBX that faxes `tiff` to `number` at `faxhub` over T.38 as `ident`, then takes
    /// the call back to audio (as Asterisk does once its fax is done) and hangs up.
    pub async fn fax_then_back_to_audio(
        &mut self,
        faxhub: SocketAddr,
        number: &str,
        tiff: &std::path::Path,
        ident: &str,
    ) -> SentFax {
        use crate::sip::dialog::Dialog;
        use crate::sip::media::{Source, UdptlConfig, run_t38};
        use crate::sip::sdp::{self, AudioCodec, T38Params};
        use crate::sip::spandsp::{T38Terminal, TerminalConfig};
        use crate::sip::udptl::Protection;

        let ours = T38Params::default();
        let offer = self.sdp(vec![ours.media(self.media_port())]);
        let uri = format!("sip:{number}@{faxhub}");
        let (mut dialog, invite) = Dialog::invite(
            &self.local(),
            &uri,
            offer.as_bytes(),
            ("pbx@far", "pbx", "b1"),
        );
        self.send(&invite, faxhub).await;
        let ok = self.final_response("INVITE").await;
        assert_eq!(
            ok.code(),
            Some(200),
            "{}",
            String::from_utf8_lossy(&ok.render())
        );
        dialog.confirm(&ok);
        self.send(&dialog.request("ACK", b"", "b1-ack"), faxhub)
            .await;
        let answer = sdp_of(&ok);
        let t38 = answer.t38().expect("T.38 answered");
        let theirs = T38Params::from_media(t38).expect("T.38 parameters");

        let terminal = TerminalConfig {
            calling: true,
            ident: ident.into(),
            ..TerminalConfig::default()
        };
        let mut tx = T38Terminal::sender(&terminal, tiff).expect("the page to send");
        let udptl = UdptlConfig {
            protection: Protection::Redundancy(3),
            max_datagram: T38Params::datagram_limit(&theirs, &ours) as usize,
        };
        let source = Source::exactly(address(&answer, t38));
        let limit = Duration::from_secs(120);
        let end = run_t38(&mut tx, &self.media, source, udptl, limit, None)
            .await
            .expect("the media socket");

        let audio = sdp::audio_media(
            self.media_port(),
            &[AudioCodec::Pcma, AudioCodec::Pcmu],
            None,
        );
        let audio = self.sdp(vec![audio]);
        self.send(&dialog.request("INVITE", audio.as_bytes(), "b2"), faxhub)
            .await;
        let back = self.final_response("INVITE").await;
        if back.code().is_some_and(|c| (200..300).contains(&c)) {
            dialog.confirm(&back);
            self.send(&dialog.request("ACK", b"", "b2-ack"), faxhub)
                .await;
        }
        self.send(&dialog.request("BYE", b"", "b3"), faxhub).await;
        assert_eq!(self.final_response("BYE").await.code(), Some(200));
        SentFax {
            end,
            progress: tx.progress().clone(),
            back,
        }
    }
}
