//! Helpers the line tests share: a one-page TIFF-F made by faxhub's writer, and the pixels of a
//! TIFF as libtiff (not faxhub) decodes them, to compare what was sent with what arrived.
#![allow(dead_code)]

use faxhub_converters::tiff_f::{self, Bitmap, FaxPage};
use std::path::Path;

/// A one-page TIFF-F of `rows` rows of bars, at fine resolution.
pub fn one_page(path: &Path, rows: u32) {
    let width = 1728u32;
    let pixels = (0..width * rows)
        .map(|i| (i / width / 30).is_multiple_of(2) && (i % width) > 200 && (i % width) < 1500)
        .collect();
    let page = FaxPage::from_bitmap(
        &Bitmap {
            width,
            length: rows,
            pixels,
        },
        196,
    )
    .unwrap();
    std::fs::write(path, tiff_f::write(&[page])).unwrap();
}

/// The page data of a TIFF as libtiff decodes it (uncompressed, MSB first, one strip a page).
pub fn pixels(tiff: &Path) -> Vec<u8> {
    let raw = tiff.with_extension("raw.tif");
    let ok = std::process::Command::new("tiffcp")
        .args(["-c", "none", "-f", "msb2lsb", "-r", "100000"])
        .arg(tiff)
        .arg(&raw)
        .status()
        .expect("tiffcp (libtiff-tools) must be installed")
        .success();
    assert!(ok);
    let bytes = std::fs::read(&raw).unwrap();
    let pages = faxhub_queue::tiff::read_pages(&bytes).unwrap();
    faxhub_queue::tiff::first_strips(&bytes, &pages)
        .unwrap()
        .concat()
}

/// The far end of a call, written from faxhub's SIP and media building blocks (not its user
/// agent), so that a test can answer as a PBX does: a SIP socket and a media socket.
pub mod far {
    use faxhub_lines::sip::dialog::Local;
    use faxhub_lines::sip::message::Message;
    use faxhub_lines::sip::sdp::{Media, Origin, Sdp};
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
            dialog: &faxhub_lines::sip::dialog::Dialog,
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
                if m.code().is_some_and(|c| c >= 200) && m.cseq().is_some_and(|(_, x)| x == method)
                {
                    return m;
                }
            }
        }
    }

    /// faxhub's user agent on a free port of 127.0.0.1, its inbox under `dir`.
    pub async fn agent(dir: &std::path::Path) -> std::sync::Arc<faxhub_lines::sip::agent::Agent> {
        let config = faxhub_lines::sip::config::SipConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Default::default()
        };
        let inbox = faxhub_lines::inbox::Inbox::new(dir.join("inbox"));
        faxhub_lines::sip::agent::Agent::start(config, inbox)
            .await
            .unwrap()
    }

    impl Far {
        /// faxhub's call to this far end: a T.38-only offer of the one page in `tiff`.
        pub fn t38_only_dial(&self, tiff: std::path::PathBuf) -> faxhub_lines::sip::agent::Dial {
            faxhub_lines::sip::agent::Dial {
                number: "0142000000".into(),
                proxy: self.here(),
                transport: faxhub_lines::sip::agent::Transport::Udp,
                domain: "127.0.0.1".into(),
                from_user: "0169293999".into(),
                credentials: None,
                fax: faxhub_lines::sip::config::FaxOptions {
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
}
