//! The media phase of a call, the same whichever side called: the fax runs on the medium agreed
//! (G.711 audio or T.38) while the call's other requests are answered without disturbing it: a
//! session refresh (re-INVITE or UPDATE, with or without an offer, RFC 4028) gets our current
//! description back; the far end's T.38 offer on an audio call switches the fax to T.38 (a new
//! port, a new T.30 terminal); an offer to go back to audio during T.38 ends it (the T.30
//! session gets `LEAVE_GRACE` to see its own end, then the offer gets its answer); BYE ends the
//! call. With `t38 = "ours"` faxhub sends the T.38 re-INVITE itself: the caller at once, the
//! answering side `ASK_AFTER` into the call unless the caller switched first (a caller's gateway
//! that hears our CED does so within it; one that only plays CNG waits for us). The audio fax
//! runs on meanwhile, and goes on undisturbed when T.38 is refused (any final response but a
//! 2xx with a T.38 stream); after glare (491) faxhub waits the RFC 3261 §14.1 time (2.1–4 s for
//! the caller, up to 2 s for the callee) before asking once more. Once the fax is over
//! (`linger`), an offer is answered (back to audio, as PBXs ask after T.38) until the call ends.
//! The T.30 engine's progress is what the call reports: pages count when the receiver confirmed
//! them, and a far end that hangs up after confirming the last page has received the fax.

use super::Incoming;
use super::call::Leg;
use super::switch::{ASK_AFTER, Ask, choose};
use crate::sip::config::UdptlEc;
use crate::sip::config::{FaxOptions, T38Mode};
use crate::sip::media::{RtpConfig, SessionEnd, Source, UdptlConfig, run_audio, run_t38};
use crate::sip::sdp::{self, AudioCodec, ErrorCorrection, Media, Origin, Sdp, T38Params};
use crate::sip::spandsp::{AudioTerminal, Progress, SpandspError, T38Terminal};
use crate::sip::udptl::Protection;
use crate::{FaxTransport, ProgressSender, Stage};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

/// spandsp's T30_ERR_CALLDROPPED: the call ended before the fax did.
pub(super) const CALL_DROPPED: i32 = 49;
/// How long the T.30 session may go on once the far end offered to take the call back to audio.
const LEAVE_GRACE: Duration = Duration::from_secs(2);
/// spandsp's T30_ERR_FILEERROR: the TIFF could not be opened (read or written).
const ENGINE_FAILED: i32 = 41;

/// Where the fax flows.
pub(super) enum Medium {
    Audio {
        socket: UdpSocket,
        peer: SocketAddr,
        codec: AudioCodec,
    },
    T38 {
        socket: UdpSocket,
        peer: SocketAddr,
        theirs: T38Params,
        ours: T38Params,
    },
}

impl Medium {
    pub fn is_t38(&self) -> bool {
        matches!(self, Medium::T38 { .. })
    }

    /// Our `m=` section for it.
    pub fn media(&self) -> Media {
        match self {
            Medium::Audio { socket, codec, .. } => {
                sdp::audio_media(port(socket), &[*codec], Some(sdp::TELEPHONE_EVENT_PT))
            }
            Medium::T38 { socket, ours, .. } => ours.media(port(socket)),
        }
    }
}

pub(super) fn port(socket: &UdpSocket) -> u16 {
    socket.local_addr().map_or(0, |a| a.port())
}

/// Which way the pages go.
#[derive(Clone, Debug)]
pub(super) enum Direction {
    Send { tiff: PathBuf, pages: u32 },
    Receive { tiff: PathBuf },
}

/// How the fax went.
#[derive(Debug, Clone)]
pub(super) struct FaxResult {
    pub progress: Progress,
    /// The T.30 completion code: spandsp's, or CALL_DROPPED when the call ended first.
    pub t30: i32,
    pub t38: bool,
}

/// Our side of the offer/answer exchange: the origin, whose version goes up with each change.
pub(super) struct Describer {
    origin: Origin,
}

impl Describer {
    pub fn new(address: IpAddr) -> Describer {
        Describer {
            origin: Origin {
                username: "faxhub".into(),
                session_id: rand::random::<u32>().into(),
                version: rand::random::<u16>().into(),
                address,
            },
        }
    }

    /// Our description with `media`; `changed` moves the version on (a new offer or answer).
    pub fn describe(&mut self, media: Vec<Media>, changed: bool) -> String {
        if changed {
            self.origin.version += 1;
        }
        Sdp {
            origin: self.origin.clone(),
            session_name: "faxhub".into(),
            connection: Some(self.origin.address),
            media,
        }
        .render()
    }
}

/// The far end's media address for `media` of `sdp`.
pub(super) fn peer_of(sdp: &Sdp, media: &Media) -> Option<SocketAddr> {
    Some(SocketAddr::new(sdp.address_of(media)?, media.port))
}

/// The parameters faxhub offers and answers T.38 with.
pub(super) fn our_t38(options: &FaxOptions) -> T38Params {
    T38Params {
        max_bit_rate: options.max_speed,
        error_correction: match options.error_correction {
            UdptlEc::Redundancy => ErrorCorrection::Redundancy,
            UdptlEc::Fec => ErrorCorrection::Fec,
        },
        ..T38Params::default()
    }
}

/// FEC's span and blocks per packet when FEC is agreed (what spandsp and Asterisk use).
const FEC_SPAN: u8 = 3;
const FEC_ENTRIES: usize = 3;

/// How our UDPTL packets are protected: FEC when both sides said so (the answer follows the
/// offer's rules, so both ends agree), no protection when either side wants none, else
/// redundancy `options.redundancy` deep.
fn protection(theirs: &T38Params, ours: &T38Params, options: &FaxOptions) -> Protection {
    match (theirs.error_correction, ours.error_correction) {
        (ErrorCorrection::None, _) | (_, ErrorCorrection::None) => Protection::Redundancy(0),
        (ErrorCorrection::Fec, ErrorCorrection::Fec) => Protection::Fec {
            span: FEC_SPAN,
            entries: FEC_ENTRIES,
        },
        _ => Protection::Redundancy(options.redundancy),
    }
}

pub(super) struct Session<'a> {
    pub leg: &'a mut Leg,
    /// The media of answers given after the fax (back to audio): ours until the call ends,
    /// though nothing is sent to them.
    pub parked: Vec<Medium>,
    pub options: &'a FaxOptions,
    pub direction: Direction,
    pub describer: Describer,
    pub calling: bool,
    /// Where the call's progress is published, if anyone follows it.
    pub report: Option<ProgressSender>,
}

enum Step {
    Continue,
    HungUp,
    Switch(Medium),
    /// The far end offers to go back to audio during T.38: the T.38 session is ending.
    Leave(Incoming),
}

pub(super) enum Round {
    Ended(std::io::Result<SessionEnd>),
    HungUp,
    /// The far end took the call back to audio before the T.30 session ended.
    Left,
    Switch(Medium),
    AgentGone,
}

impl Session<'_> {
    /// Runs the fax on `medium` (switching as the far end asks, or as we do) until it ends, the
    /// far end hangs up or `deadline` passes.
    pub async fn run(&mut self, mut medium: Medium, deadline: Instant) -> FaxResult {
        let ours = !medium.is_t38() && self.options.t38 == T38Mode::Ours;
        let mut ask = Ask {
            at: (ours && !self.calling).then(|| Instant::now() + ASK_AFTER),
            glare: 0,
        };
        if ours && self.calling {
            // the caller asks before any media flows: no audio terminal for a call that
            // switches at once (after glare, the audio round asks again)
            let no_media = std::pin::pin!(std::future::pending::<std::io::Result<SessionEnd>>());
            match self.ask_t38(no_media, &medium, &mut ask).await {
                Some(Round::Switch(t38)) => medium = t38,
                Some(_) => return self.result(Progress::default(), false),
                None => {}
            }
        }
        let mut switches = 0;
        loop {
            let limit = deadline.saturating_duration_since(Instant::now());
            let t38 = medium.is_t38();
            let started = match self.round(&medium, limit, &mut ask).await {
                Ok(done) => done,
                Err(e) => {
                    tracing::warn!(call_id = %self.leg.call_id, error = %e, "the T.30 engine could not start");
                    return FaxResult {
                        progress: Progress::default(),
                        t30: ENGINE_FAILED,
                        t38,
                    };
                }
            };
            let (round, progress) = started;
            match round {
                Round::Switch(next) if switches < 3 => {
                    switches += 1;
                    tracing::info!(call_id = %self.leg.call_id, "the fax switched to T.38");
                    ask.at = None;
                    medium = next;
                }
                Round::Ended(Err(e)) => {
                    tracing::warn!(call_id = %self.leg.call_id, error = %e, "media socket failed");
                    return self.result(progress, t38);
                }
                _ => return self.result(progress, t38),
            }
        }
    }

    fn result(&self, progress: Progress, t38: bool) -> FaxResult {
        let t30 = match (&progress.completion, &self.direction) {
            (Some((code, _)), _) => *code,
            // hung up after the receiver confirmed every page: the fax went through
            (None, Direction::Send { pages, .. }) if progress.pages >= *pages => 0,
            (None, _) => CALL_DROPPED,
        };
        FaxResult { progress, t30, t38 }
    }

    /// One T.30 terminal on `medium`, until the fax ends or something changes the call.
    async fn round(
        &mut self,
        medium: &Medium,
        limit: Duration,
        ask: &mut Ask,
    ) -> Result<(Round, Progress), SpandspError> {
        let mut config = self.options.terminal(self.calling);
        let (path, sending) = match &self.direction {
            Direction::Send { tiff, .. } => (tiff.clone(), true),
            Direction::Receive { tiff } => (tiff.clone(), false),
        };
        let (published, mut watched) = watch::channel(Progress::default());
        self.publish(&Progress::default(), medium.is_t38());
        match medium {
            Medium::T38 {
                socket,
                peer,
                theirs,
                ours,
            } => {
                config.t38_version = theirs.version.min(ours.version);
                let mut terminal = if sending {
                    T38Terminal::sender(&config, &path)?
                } else {
                    T38Terminal::receiver(&config, &path)?
                };
                let udptl = UdptlConfig {
                    protection: protection(theirs, ours, self.options),
                    max_datagram: T38Params::datagram_limit(theirs, ours) as usize,
                };
                let source = self.source(*peer);
                let media = run_t38(
                    &mut terminal,
                    socket,
                    source,
                    udptl,
                    limit,
                    Some(&published),
                );
                let round = self.service(media, medium, &mut watched, None).await;
                Ok((round, terminal.progress().clone()))
            }
            Medium::Audio {
                socket,
                peer,
                codec,
            } => {
                let mut terminal = if sending {
                    AudioTerminal::sender(&config, &path)?
                } else {
                    AudioTerminal::receiver(&config, &path)?
                };
                let rtp = RtpConfig {
                    codec: *codec,
                    ssrc: rand::random(),
                    jitter_frames: 3,
                };
                let source = self.source(*peer);
                let media = run_audio(&mut terminal, socket, source, rtp, limit, Some(&published));
                let round = self.service(media, medium, &mut watched, Some(ask)).await;
                Ok((round, terminal.progress().clone()))
            }
        }
    }

    /// Whose media this call takes: the SDP's address, latched only when configured.
    fn source(&self, signalled: SocketAddr) -> Source {
        Source {
            signalled,
            latch: self
                .leg
                .agent
                .config
                .media_latching
                .then(|| self.leg.peer.ip()),
        }
    }

    /// What the T.30 engine has done, for those who follow the call.
    fn publish(&self, p: &Progress, t38: bool) {
        if let Some(report) = &self.report {
            report.send_modify(|c| {
                c.stage = Some(match p.bit_rate > 0 {
                    true => Stage::Sending,
                    false => Stage::Connected,
                });
                c.transport = Some(match t38 {
                    true => FaxTransport::T38,
                    false => FaxTransport::G711,
                });
                c.remote_ident = p.remote_ident.clone();
                c.bit_rate = p.bit_rate;
                c.ecm = p.ecm;
                c.pages_confirmed = p.pages;
            });
        }
    }

    /// Runs `media` while answering the call's requests and publishing its progress; on audio,
    /// sends our T.38 request when `ask` says.
    async fn service(
        &mut self,
        media: impl Future<Output = std::io::Result<SessionEnd>>,
        medium: &Medium,
        watched: &mut watch::Receiver<Progress>,
        mut ask: Option<&mut Ask>,
    ) -> Round {
        tokio::pin!(media);
        loop {
            let ask_at = ask.as_ref().and_then(|a| a.at);
            tokio::select! {
                end = &mut media => return Round::Ended(end),
                Ok(()) = watched.changed() => {
                    let p = watched.borrow_and_update().clone();
                    self.publish(&p, medium.is_t38());
                }
                _ = tokio::time::sleep_until(ask_at.unwrap_or_else(Instant::now)), if ask_at.is_some() => {
                    if let Some(ask) = ask.as_deref_mut()
                        && let Some(round) = self.ask_t38(media.as_mut(), medium, ask).await
                    {
                        return round;
                    }
                }
                incoming = self.leg.next(None) => {
                    let Some(incoming) = incoming else { return Round::AgentGone };
                    match self.in_session(incoming, medium).await {
                        Step::Continue => {}
                        Step::HungUp => return Round::HungUp,
                        Step::Switch(next) => return Round::Switch(next),
                        Step::Leave(offer) => {
                            // a PBX asks once its own T.30 is done: ours gets a moment to see
                            // the end too (the DCN may still be on its way), then the answer
                            let end = tokio::time::timeout(LEAVE_GRACE, &mut media).await;
                            self.answer(&offer).await;
                            return end.map_or(Round::Left, Round::Ended);
                        }
                    }
                }
            }
        }
    }

    /// A request during the fax.
    async fn in_session(&mut self, incoming: Incoming, medium: &Medium) -> Step {
        let method = incoming.message.method().unwrap_or("").to_string();
        match method.as_str() {
            "INVITE" | "UPDATE" if incoming.message.body.is_empty() => {
                // a refresh asking for our offer: the same description again
                let sdp = self.describer.describe(vec![medium.media()], false);
                self.leg.reply(&incoming, 200, "OK", Some(&sdp)).await;
                Step::Continue
            }
            "INVITE" | "UPDATE" => self.offer(incoming, medium).await,
            "" => {
                self.leg.acknowledge_again(&incoming).await;
                Step::Continue
            }
            _ => {
                // BYE (the call ends), OPTIONS, INFO, CANCEL: as at any other time
                self.leg.stray(incoming).await;
                if self.leg.hung_up {
                    Step::HungUp
                } else {
                    Step::Continue
                }
            }
        }
    }

    /// The far end's new offer during the fax.
    async fn offer(&mut self, incoming: Incoming, medium: &Medium) -> Step {
        let text = String::from_utf8_lossy(&incoming.message.body).to_string();
        let Ok(offer) = Sdp::parse(&text) else {
            self.leg.reply(&incoming, 400, "Bad SDP", None).await;
            return Step::Continue;
        };
        let t38 = offer.t38().filter(|m| m.port != 0);
        match (t38, medium) {
            (Some(_), Medium::Audio { .. }) if self.options.t38 == T38Mode::Off => {
                self.leg
                    .reply(&incoming, 488, "Not Acceptable Here", None)
                    .await;
                Step::Continue
            }
            (Some(_), Medium::Audio { .. }) => {
                match choose(&self.leg.agent, &offer, self.options) {
                    Ok((next @ Medium::T38 { .. }, media)) => {
                        let sdp = self.describer.describe(media, true);
                        self.leg.reply(&incoming, 200, "OK", Some(&sdp)).await;
                        Step::Switch(next)
                    }
                    // T.38 parameters we cannot take: the call stays as it is
                    Ok(_) => {
                        self.leg
                            .reply(&incoming, 488, "Not Acceptable Here", None)
                            .await;
                        Step::Continue
                    }
                    Err((code, reason)) => {
                        self.leg.reply(&incoming, code, reason, None).await;
                        Step::Continue
                    }
                }
            }
            (Some(_), Medium::T38 { .. }) | (None, Medium::Audio { .. })
                if offer.audio().is_some() || t38.is_some() =>
            {
                // a refresh of what we have: unchanged
                let sdp = self.describer.describe(vec![medium.media()], false);
                self.leg.reply(&incoming, 200, "OK", Some(&sdp)).await;
                Step::Continue
            }
            (None, Medium::T38 { .. }) if offer.audio().is_some_and(|m| m.port != 0) => {
                Step::Leave(incoming)
            }
            _ => {
                // nothing we know
                self.leg
                    .reply(&incoming, 488, "Not Acceptable Here", None)
                    .await;
                Step::Continue
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udptl_protection_follows_what_both_sides_said() {
        let with = |ec| T38Params {
            error_correction: ec,
            ..T38Params::default()
        };
        let options = FaxOptions {
            redundancy: 4,
            ..FaxOptions::default()
        };
        let fec = with(ErrorCorrection::Fec);
        let red = with(ErrorCorrection::Redundancy);
        let none = with(ErrorCorrection::None);
        assert_eq!(
            protection(&fec, &fec, &options),
            Protection::Fec {
                span: 3,
                entries: 3
            }
        );
        assert_eq!(protection(&fec, &red, &options), Protection::Redundancy(4));
        assert_eq!(protection(&red, &none, &options), Protection::Redundancy(0));
        let fec_options = FaxOptions {
            error_correction: UdptlEc::Fec,
            ..FaxOptions::default()
        };
        assert_eq!(our_t38(&fec_options).error_correction, ErrorCorrection::Fec);
        // an answer to a FEC offer, from a side that does FEC: FEC on both ends
        let answer = T38Params::answer(&fec, &our_t38(&fec_options));
        assert_eq!(
            protection(&fec, &answer, &fec_options),
            Protection::Fec {
                span: 3,
                entries: 3
            }
        );
    }
}
