//! A call faxhub makes: INVITE to the trunk's proxy with an audio offer (PCMA/PCMU and
//! telephone-event) or, with `t38_only`, a T.38 one (audio offered instead if that is refused
//! with 488/415/606, or answered with the T.38 stream at port 0: then in a re-INVITE); a 401/407 challenge answered once with the trunk's credentials (again if
//! the nonce was stale); CANCEL when it rings longer than `ring_timeout`; on 2xx, ACK and the
//! fax (`fax::Session`), then BYE. The report carries how the call ended (`CallEnd`, which the
//! outcome table turns into one RFC 3463 code) and the T.30 engine's progress.

use super::call::{Leg, NoAnswer, authorize};
use super::fax::{Describer, Direction, FaxResult, Medium, Session, our_t38, peer_of};
use super::{Agent, Transport, USER_AGENT, random_id};
use crate::sip::config::{FaxOptions, T38Mode};
use crate::sip::dialog::{Dialog, ack_for_error, branch};
use crate::sip::message::{Message, StartLine};
use crate::sip::outcome::CallEnd;
use crate::sip::sdp::{self, Sdp};
use crate::sip::spandsp::Progress;
use crate::{ProgressSender, Stage};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A call to make.
#[derive(Clone, Debug)]
pub struct Dial {
    /// The number, as the Request-URI's user part.
    pub number: String,
    /// Where the INVITE goes (the trunk's proxy), and over what.
    pub proxy: SocketAddr,
    pub transport: Transport,
    /// The Request-URI's host.
    pub domain: String,
    pub from_user: String,
    /// Username and password for digest challenges.
    pub credentials: Option<(String, String)>,
    pub fax: FaxOptions,
    pub tiff: PathBuf,
    pub pages: u32,
    pub ring_timeout: Duration,
    pub max_duration: Duration,
    /// Where the call's progress is published, if anyone follows it.
    pub progress: Option<ProgressSender>,
}

/// How a call went.
#[derive(Clone, Debug)]
pub struct CallReport {
    pub end: CallEnd,
    pub progress: Progress,
    /// Whether the fax went as T.38 (else G.711 audio).
    pub t38: bool,
    /// From the answer to the end, if it was answered.
    pub connected: Option<Duration>,
}

impl CallReport {
    fn not_connected(sip: u16, q850: Option<u8>) -> CallReport {
        CallReport {
            end: CallEnd::NotConnected { sip, q850 },
            progress: Progress::default(),
            t38: false,
            connected: None,
        }
    }
}

impl Agent {
    /// Makes the call and sends the fax.
    pub async fn call(self: &Arc<Self>, dial: &Dial) -> CallReport {
        if let Some(report) = &dial.progress {
            report.send_modify(|c| {
                c.stage = Some(Stage::Dialling);
                c.pages = dial.pages;
            });
        }
        let call_id = format!("{}@faxhub", random_id());
        let tag = random_id();
        let rx = self.register(&call_id, &[&tag]);
        let local = self.local_for(dial.proxy, &dial.from_user, dial.transport);
        let uri = format!("sip:{}@{}", dial.number, dial.domain);
        let mut describer = Describer::new(self.advertised_ip(dial.proxy));
        let mut t38_offer = dial.fax.t38_only;
        let mut t38_refused = false;
        let (mut offer, mut socket) = match self.offer(&mut describer, &dial.fax, t38_offer) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, "no media port for a call");
                return CallReport::not_connected(503, None);
            }
        };
        let (dialog, mut invite) = Dialog::invite(
            &local,
            &uri,
            offer.as_bytes(),
            (&call_id, &tag, &random_id()),
        );
        invite.add("User-Agent", USER_AGENT);
        let mut leg = Leg::new(
            self.clone(),
            (rx, vec![tag]),
            (dial.proxy, dial.transport),
            dialog,
        );
        let mut challenged = 0;
        let answered = loop {
            let give_up = Instant::now() + dial.ring_timeout;
            let response = match leg.transact(invite.clone(), Some(give_up)).await {
                Ok(r) => r,
                Err(NoAnswer::Timeout) => return CallReport::not_connected(408, None),
                Err(NoAnswer::GaveUp) => {
                    cancel(&mut leg, &invite).await;
                    return CallReport::not_connected(487, None);
                }
            };
            let code = response.code().unwrap_or(500);
            let retry = match code {
                200..=299 => break response,
                401 | 407 if challenged < 2 => {
                    challenged += 1;
                    dial.credentials
                        .as_ref()
                        .and_then(|c| authorize(&mut invite, &response, c, challenged))
                        .is_some()
                }
                488 | 415 | 606 if t38_offer => {
                    tracing::info!(%call_id, code, "a T.38-only INVITE was refused: offering audio");
                    t38_offer = false;
                    t38_refused = true;
                    match self.offer(&mut describer, &dial.fax, false) {
                        Ok((o, s)) => {
                            (offer, socket) = (o, s);
                            invite.body = offer.as_bytes().to_vec();
                            true
                        }
                        Err(_) => false,
                    }
                }
                _ => false,
            };
            if !retry {
                return CallReport::not_connected(code, response.q850_cause());
            }
            next_attempt(&mut invite, &mut leg.dialog);
        };
        let connected_at = Instant::now();
        leg.acknowledge(&answered).await;
        let answer = Sdp::parse(&String::from_utf8_lossy(&answered.body)).ok();
        let medium = match answer
            .as_ref()
            .and_then(|a| medium_of(a, socket, &dial.fax, t38_offer))
        {
            Some(medium) => Ok(medium),
            None if t38_offer => {
                let refusal = refusal(answer.as_ref());
                tracing::info!(%call_id, "a T.38-only INVITE was answered with {refusal}: offering audio");
                t38_refused = true;
                self.audio_after(&mut leg, &mut describer, &dial.fax, &refusal)
                    .await
            }
            None => Err(format!(
                "our audio offer was answered with {}",
                refusal(answer.as_ref())
            )),
        };
        let medium = match medium {
            Ok(medium) => medium,
            Err(what) => {
                tracing::warn!(%call_id, "no medium agreed: {what}");
                leg.hang_up().await;
                return CallReport {
                    end: CallEnd::NoMedium { what },
                    progress: Progress::default(),
                    t38: false,
                    connected: Some(connected_at.elapsed()),
                };
            }
        };
        // the far end refused T.38 once: it is not asked again (it may still ask us)
        let options = match t38_refused {
            true => FaxOptions {
                t38: T38Mode::Theirs,
                ..dial.fax.clone()
            },
            false => dial.fax.clone(),
        };
        let mut session = Session {
            leg: &mut leg,
            parked: Vec::new(),
            options: &options,
            direction: Direction::Send {
                tiff: dial.tiff.clone(),
                pages: dial.pages,
            },
            describer,
            calling: true,
            report: dial.progress.clone(),
        };
        let FaxResult { progress, t30, t38 } =
            session.run(medium, connected_at + dial.max_duration).await;
        leg.hang_up().await;
        CallReport {
            end: CallEnd::Fax {
                t30,
                confirmed: progress.pages,
                total: dial.pages,
            },
            progress,
            t38,
            connected: Some(connected_at.elapsed()),
        }
    }

    /// Our audio offer in a re-INVITE, after the T.38-only INVITE was answered with `refusal`;
    /// the medium agreed, or what happened in words.
    async fn audio_after(
        &self,
        leg: &mut Leg,
        describer: &mut Describer,
        options: &FaxOptions,
        answered: &str,
    ) -> Result<Medium, String> {
        let then = format!(
            "the T.38-only offer was answered with {answered}, and the audio offer that followed"
        );
        let (offer, socket) = self
            .offer(describer, options, false)
            .map_err(|e| format!("{then} could not be made ({e})"))?;
        let reinvite = leg.dialog.request("INVITE", offer.as_bytes(), &random_id());
        let response = leg
            .transact(reinvite, None)
            .await
            .map_err(|_| format!("{then} had no answer"))?;
        let code = response.code().unwrap_or(500);
        if !(200..300).contains(&code) {
            return Err(format!("{then} was refused with SIP {code}"));
        }
        leg.acknowledge(&response).await;
        let answer = Sdp::parse(&String::from_utf8_lossy(&response.body)).ok();
        answer
            .as_ref()
            .and_then(|a| medium_of(a, socket, options, false))
            .ok_or_else(|| format!("{then} was answered with {}", refusal(answer.as_ref())))
    }

    /// Our first offer (T.38 or audio) and the media socket it names.
    fn offer(
        &self,
        describer: &mut Describer,
        options: &FaxOptions,
        t38: bool,
    ) -> std::io::Result<(String, tokio::net::UdpSocket)> {
        let socket = self.media_socket()?;
        let port = socket.local_addr()?.port();
        let media = if t38 {
            our_t38(options).media(port)
        } else {
            sdp::audio_media(port, &options.codecs, Some(sdp::TELEPHONE_EVENT_PT))
        };
        Ok((describer.describe(vec![media], true), socket))
    }
}

/// The medium the far end's answer agreed on.
fn medium_of(
    answer: &Sdp,
    socket: tokio::net::UdpSocket,
    options: &FaxOptions,
    t38_offered: bool,
) -> Option<Medium> {
    if t38_offered {
        let m = answer.t38().filter(|m| m.port != 0)?;
        return Some(Medium::T38 {
            socket,
            peer: peer_of(answer, m)?,
            theirs: crate::sip::sdp::T38Params::from_media(m).ok()?,
            ours: our_t38(options),
        });
    }
    let m = answer.audio().filter(|m| m.port != 0)?;
    let choice = sdp::choose_audio(m, &options.codecs)?;
    Some(Medium::Audio {
        socket,
        peer: peer_of(answer, m)?,
        codec: choice.codec,
    })
}

/// What an answer that agreed on no medium said, in words.
fn refusal(answer: Option<&Sdp>) -> String {
    let Some(answer) = answer else {
        return "no description faxhub could read".into();
    };
    let streams: Vec<String> = answer
        .media
        .iter()
        .map(|m| {
            // the far end's words go into receipts: only the kinds faxhub knows are named
            let (the, a) = match (m.is_t38(), m.is_audio()) {
                (true, _) => ("the T.38", "a T.38"),
                (_, true) => ("the audio", "an audio"),
                _ => ("another", "another"),
            };
            match m.port {
                0 => format!("{the} stream refused (port 0)"),
                _ => format!("{a} stream faxhub did not offer or cannot take"),
            }
        })
        .collect();
    match streams.is_empty() {
        true => "no media stream".into(),
        false => streams.join(" and "),
    }
}

/// The same INVITE sent again (after a challenge or a refused offer): next CSeq, new branch.
fn next_attempt(invite: &mut Message, dialog: &mut Dialog) {
    dialog.local_cseq += 1;
    dialog.invite_cseq = dialog.local_cseq;
    invite.set("CSeq", format!("{} INVITE", dialog.local_cseq));
    if let Some(via) = invite.header("Via").map(str::to_string) {
        let base = via.split(";branch=").next().unwrap_or(&via).to_string();
        invite.set("Via", format!("{base};branch={}", branch(&random_id())));
    }
}

/// CANCELs the ringing `invite` and waits for its end (487, or a 2xx that crossed the CANCEL:
/// then ACK and BYE).
async fn cancel(leg: &mut Leg, invite: &Message) {
    let StartLine::Request { uri, .. } = &invite.start else {
        return;
    };
    let mut cancel = Message::request("CANCEL", uri);
    for name in ["Via", "From", "To", "Call-ID"] {
        if let Some(v) = invite.header(name) {
            cancel.add(name, v);
        }
    }
    let cseq = invite.cseq().map_or(1, |(n, _)| n);
    cancel
        .add("CSeq", format!("{cseq} CANCEL"))
        .add("Max-Forwards", "70");
    let until = Instant::now() + Duration::from_secs(32);
    let mut resend_at = Instant::now();
    let mut answered = false;
    loop {
        if !answered && Instant::now() >= resend_at {
            leg.send(&cancel).await;
            resend_at = Instant::now() + Duration::from_millis(500);
        }
        let wake = if answered {
            until
        } else {
            resend_at.min(until)
        };
        let Some(incoming) = leg.next(Some(wake)).await else {
            if Instant::now() >= until {
                return;
            }
            continue;
        };
        match (incoming.message.code(), incoming.message.cseq()) {
            (Some(_), Some((_, "CANCEL"))) => answered = true,
            (Some(code), Some((_, "INVITE"))) if code >= 300 => {
                if let Some(ack) = ack_for_error(invite, &incoming.message) {
                    leg.send(&ack).await;
                }
                return;
            }
            (Some(200..=299), Some((_, "INVITE"))) => {
                leg.acknowledge(&incoming.message).await;
                leg.hang_up().await;
                return;
            }
            (Some(_), _) => {}
            (None, _) => leg.stray(incoming).await,
        }
    }
}
