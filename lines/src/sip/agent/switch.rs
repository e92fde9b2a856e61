//! Changing a call's medium: our answer to an offer (`choose`: T.38 if offered and not
//! `t38 = "off"`, else the first G.711 codec we share, every other stream refused with port 0 as
//! RFC 3264 wants), our own T.38 request while the fax runs on audio (`Session::ask_t38`), and
//! the answers given once the fax is over (`Session::linger`). Our request never overlaps an
//! INVITE transaction of the far end's (§14.1): it waits for the ACK of our 2xx first.

use super::fax::{Medium, Round, Session, our_t38, peer_of, port};
use super::{Agent, Incoming, random_id};
use crate::sip::config::{FaxOptions, T38Mode};
use crate::sip::media::SessionEnd;
use crate::sip::sdp::{self, Media, Sdp, T38Params};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::time::Instant;

/// How long the answering side lets the caller switch to T.38 before asking itself: about as
/// long as our CED (from 0.2 s after the answer, 2.6 to 4 s long), which a caller's gateway
/// that switches on hearing it has recognised by then. A caller waiting for us loses no more:
/// its T.30 timer T1 gives the answering side 35 s.
pub(super) const ASK_AFTER: Duration = Duration::from_secs(3);

/// Our own T.38 request, while the fax runs on audio.
pub(super) struct Ask {
    /// When to send it; `None` once it was answered (or when it is not ours to ask).
    pub at: Option<Instant>,
    /// Glares (491) met so far: after the first, one more request.
    pub glare: u8,
}

/// Our answer to `offer`: the medium and our `m=` lines (one per offered line, in order), or
/// the response code and reason phrase that refuse it.
pub(super) fn choose(
    agent: &Agent,
    offer: &Sdp,
    options: &FaxOptions,
) -> Result<(Medium, Vec<Media>), (u16, &'static str)> {
    const REFUSED: (u16, &str) = (488, "Not Acceptable Here");
    let socket = || {
        agent.media_socket().map_err(|e| {
            tracing::warn!(error = %e, "no media port for a call");
            (503, "Service Unavailable")
        })
    };
    let t38 = offer
        .media
        .iter()
        .position(|m| m.is_t38() && m.port != 0)
        .filter(|_| options.t38 != T38Mode::Off);
    let (index, medium) = match t38 {
        Some(i) => {
            let m = &offer.media[i];
            let theirs = T38Params::from_media(m).map_err(|_| REFUSED)?;
            let medium = Medium::T38 {
                peer: peer_of(offer, m).ok_or(REFUSED)?,
                ours: T38Params::answer(&theirs, &our_t38(options)),
                theirs,
                socket: socket()?,
            };
            (i, medium)
        }
        None => {
            let i = offer
                .media
                .iter()
                .position(|m| m.is_audio() && m.port != 0)
                .ok_or(REFUSED)?;
            let m = &offer.media[i];
            let choice = sdp::choose_audio(m, &options.codecs).ok_or(REFUSED)?;
            let medium = Medium::Audio {
                peer: peer_of(offer, m).ok_or(REFUSED)?,
                codec: choice.codec,
                socket: socket()?,
            };
            (i, medium)
        }
    };
    let lines = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == index {
                medium.media()
            } else {
                Media {
                    port: 0,
                    attributes: Vec::new(),
                    connection: None,
                    ..m.clone()
                }
            }
        })
        .collect();
    Ok((medium, lines))
}

impl Session<'_> {
    /// Our re-INVITE to T.38 while `media` carries the fax on `audio` (it runs on meanwhile).
    /// `Some` when the round is over: switched, the far end hung up, or the fax ended.
    pub(super) async fn ask_t38<F>(
        &mut self,
        mut media: Pin<&mut F>,
        audio: &Medium,
        ask: &mut Ask,
    ) -> Option<Round>
    where
        F: Future<Output = std::io::Result<SessionEnd>>,
    {
        if self.leg.awaiting_ack() {
            ask.at = Some(Instant::now() + Duration::from_millis(100));
            return None;
        }
        ask.at = None;
        let call_id = self.leg.call_id.clone();
        let socket = match self.leg.agent.media_socket() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%call_id, error = %e, "no media port for T.38: the fax stays on G.711");
                return None;
            }
        };
        let ours = our_t38(self.options);
        let sdp = self
            .describer
            .describe(vec![ours.media(port(&socket))], true);
        let reinvite = self
            .leg
            .dialog
            .request("INVITE", sdp.as_bytes(), &random_id());
        let mut ended = None;
        let response = {
            let transaction = self.leg.transact(reinvite, None);
            tokio::pin!(transaction);
            loop {
                tokio::select! {
                    r = &mut transaction => break r,
                    end = media.as_mut(), if ended.is_none() => ended = Some(end),
                }
            }
        };
        let code = response.as_ref().map(|r| r.code().unwrap_or(500));
        match (code, &response) {
            (Ok(200..=299), Ok(response)) => {
                self.leg.acknowledge(response).await;
                let answer = Sdp::parse(&String::from_utf8_lossy(&response.body)).ok();
                let t38 = answer.as_ref().and_then(|a| {
                    let m = a.t38().filter(|m| m.port != 0)?;
                    Some((T38Params::from_media(m).ok()?, peer_of(a, m)?))
                });
                match t38 {
                    Some((theirs, peer)) if ended.is_none() && !self.leg.hung_up => {
                        return Some(Round::Switch(Medium::T38 {
                            socket,
                            peer,
                            theirs,
                            ours,
                        }));
                    }
                    Some(_) => {}
                    None => {
                        tracing::info!(%call_id, "the far end kept audio: the fax goes on as G.711");
                        // our description is audio again (the version moves on once more)
                        let _ = self.describer.describe(vec![audio.media()], true);
                    }
                }
            }
            (Ok(491), _) if ask.glare == 0 => {
                ask.glare += 1;
                let wait = if self.calling {
                    Duration::from_millis(2_100 + rand::random::<u64>() % 1_900)
                } else {
                    Duration::from_millis(rand::random::<u64>() % 2_000)
                };
                ask.at = Some(Instant::now() + wait);
            }
            (Ok(code), _) => {
                tracing::info!(%call_id, code, "T.38 refused: the fax goes on as G.711")
            }
            (Err(_), _) => {
                tracing::info!(%call_id, "our T.38 request had no answer: the fax goes on as G.711")
            }
        }
        if self.leg.hung_up {
            return Some(Round::HungUp);
        }
        ended.map(Round::Ended)
    }

    /// Once the fax is over, until `until` or the far end's BYE: an offer gets its answer (a
    /// PBX takes the call back to audio after T.38 before it hangs up), other requests are
    /// answered as at any time.
    pub async fn linger(&mut self, until: Instant) {
        while !self.leg.hung_up {
            let Some(incoming) = self.leg.next(Some(until)).await else {
                break;
            };
            let method = incoming.message.method().unwrap_or("");
            let offer = matches!(method, "INVITE" | "UPDATE") && !incoming.message.body.is_empty();
            if method.is_empty() {
                self.leg.acknowledge_again(&incoming).await;
            } else if !offer {
                self.leg.stray(incoming).await;
            } else {
                self.answer(&incoming).await;
            }
        }
    }

    /// Answers the offer in `incoming` with `choose`, the medium agreed kept (`parked`) until the
    /// call ends.
    pub(super) async fn answer(&mut self, incoming: &Incoming) {
        let Ok(offer) = Sdp::parse(&String::from_utf8_lossy(&incoming.message.body)) else {
            self.leg.reply(incoming, 400, "Bad SDP", None).await;
            return;
        };
        match choose(&self.leg.agent, &offer, self.options) {
            Ok((medium, media)) => {
                let sdp = self.describer.describe(media, true);
                self.leg.reply(incoming, 200, "OK", Some(&sdp)).await;
                self.parked.push(medium);
            }
            Err((code, reason)) => self.leg.reply(incoming, code, reason, None).await,
        }
    }
}
