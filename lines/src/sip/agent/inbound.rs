//! A call faxhub answers: the dialled number read as `did_from` says (404 if it is not one of
//! `[sip.inbound] numbers`), a free inbound channel (486 otherwise), then 200 with our answer to
//! the offer: T.38 if offered (and not `t38 = "off"`), else the first G.711 codec we share (488 if
//! none); every other offered stream refused with port 0, as RFC 3264 wants. No media flows
//! before the caller's ACK (a 200 never acknowledged ends the call without any). An INVITE
//! without an offer gets our audio offer in the 200, and the ACK brings the answer. The fax is
//! received into the inbox (`fax::Session`), on audio switching to T.38 when the caller asks or,
//! with `t38 = "ours"` (the default), when we ask a moment into the call; the call ends with the
//! caller's BYE (an offer before it, back to audio say, answered), or ours a few seconds after
//! the fax did. Every reception is recorded, with
//! its caller, number, remote ident, pages and quality, also when nothing arrived.

use super::call::Leg;
use super::fax::{Describer, Direction, FaxResult, Medium, Session, peer_of};
use super::switch::choose;
use super::{Agent, Incoming, USER_AGENT, random_id};
use crate::inbox::Received;
use crate::sip::dialog::Dialog;
use crate::sip::message::{Message, dialled_number, uri_of, uri_user};
use crate::sip::sdp::{self, Sdp};
use crate::sip::transaction::TIMEOUT;
use faxhub_queue::junk;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long faxhub waits for the caller's BYE once the fax is over, before sending its own.
const LINGER: Duration = Duration::from_secs(4);

pub(super) fn start(agent: Arc<Agent>, incoming: Incoming, call_id: String) {
    // registered now, with no tag too, so that the INVITE's retransmissions (and a CANCEL)
    // reach this call, not a new one
    let tag = random_id();
    let rx = agent.register(&call_id, &[&tag, ""]);
    let tags = vec![tag, String::new()];
    tokio::spawn(async move {
        answer(agent.clone(), incoming, (rx, tags.clone())).await;
        agent.forget(&call_id, &tags);
    });
}

/// A refusal before any dialog exists.
async fn refuse(agent: &Arc<Agent>, incoming: &Incoming, code: u16, reason: &str) {
    let mut r = Message::response_to(&incoming.message, code, reason);
    if let Some(to) = incoming.message.header("To") {
        r.set("To", format!("{to};tag={}", random_id()));
    }
    r.add("User-Agent", USER_AGENT);
    agent.send(&r, incoming.from, incoming.transport).await;
}

async fn answer(
    agent: Arc<Agent>,
    invite: Incoming,
    registration: (mpsc::UnboundedReceiver<Incoming>, Vec<String>),
) {
    let config = agent.config.inbound.clone();
    let did = dialled_number(&invite.message, config.did_from).unwrap_or_default();
    let caller = invite
        .message
        .header("From")
        .and_then(|f| uri_user(uri_of(f)))
        .map(str::to_string);
    if did.is_empty() || !config.answers(&did) {
        tracing::info!(%did, ?caller, "inbound call to a number faxhub does not answer: 404");
        return refuse(&agent, &invite, 404, "Not Found").await;
    }
    if let Some(blocked) = junk::refused(&config.block, caller.as_deref()) {
        tracing::info!(%did, ?caller, why = %blocked.why, "inbound call refused by a junk-fax rule: 603");
        metrics::counter!("faxhub_inbound_blocked_total", "action" => "refuse").increment(1);
        refuse(&agent, &invite, 603, "Decline").await;
        if agent.refusal_budget() {
            record_refusal(&agent, caller, did, blocked.why);
        }
        return;
    }
    let Some(_slot) = agent.inbound_slot() else {
        tracing::info!(%did, ?caller, "inbound call while every inbound channel is taken: 486");
        return refuse(&agent, &invite, 486, "Busy Here").await;
    };
    let local = agent.local_for(invite.from, "faxhub", invite.transport);
    let Some(dialog) = Dialog::accept(&local, &invite.message, &registration.1[0]) else {
        return refuse(&agent, &invite, 400, "Bad Request").await;
    };
    let mut leg = Leg::new(
        agent.clone(),
        registration,
        (invite.from, invite.transport),
        dialog,
    );
    let mut describer = Describer::new(agent.advertised_ip(invite.from));
    let id = reception_id();
    let tiff = match agent.inbox.partial_path(&id) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "the inbox cannot be written: 503");
            leg.reply(&invite, 503, "Service Unavailable", None).await;
            return;
        }
    };
    let medium = if invite.message.body.is_empty() {
        match delayed_offer(&mut leg, &invite, &mut describer, &config.fax).await {
            Some(m) => m,
            None => {
                tracing::info!(%did, ?caller, "the ACK to our offer brought no audio faxhub takes: hanging up");
                leg.hang_up().await;
                return;
            }
        }
    } else {
        let Ok(offer) = Sdp::parse(&String::from_utf8_lossy(&invite.message.body)) else {
            leg.reply(&invite, 400, "Bad SDP", None).await;
            return;
        };
        let (medium, answer_media) = match choose(&agent, &offer, &config.fax) {
            Ok(chosen) => chosen,
            Err((code, reason)) => {
                tracing::info!(%did, ?caller, code, "inbound call refused: {reason}");
                leg.reply(&invite, code, reason, None).await;
                return;
            }
        };
        let sdp = describer.describe(answer_media, true);
        leg.reply(&invite, 200, "OK", Some(&sdp)).await;
        // no media before the call is established: an INVITE never acknowledged (a forged
        // source address, say) must not make faxhub stream to whatever its SDP named
        leg.wait_for_ack(Instant::now() + Duration::from_millis(TIMEOUT))
            .await;
        if !leg.confirmed() {
            tracing::info!(%did, ?caller, "our 200 was never acknowledged: no media sent, hanging up");
            leg.hang_up().await;
            return;
        }
        medium
    };
    let started = Instant::now();
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    tracing::info!(%did, ?caller, t38 = medium.is_t38(), "inbound fax call answered");
    let mut session = Session {
        leg: &mut leg,
        parked: Vec::new(),
        options: &config.fax,
        direction: Direction::Receive { tiff },
        describer,
        calling: false,
        report: None,
    };
    let FaxResult { progress, t30, t38 } = session.run(medium, started + config.max_duration).await;
    // the caller hangs up first, usually (perhaps after going back to audio); if not, we do
    session.linger(Instant::now() + LINGER).await;
    leg.hang_up().await;
    let complete = t30 == 0 && progress.pages > 0;
    let result = if complete {
        "received".to_string()
    } else {
        let outcome = crate::sip::outcome::outcome(&crate::sip::outcome::CallEnd::Fax {
            t30,
            confirmed: progress.pages,
            total: progress.pages + 1,
        });
        outcome.reason
    };
    let received = Received {
        id,
        received_at,
        caller,
        did,
        remote_ident: progress.remote_ident.clone(),
        pages: progress.pages,
        bad_rows: progress.bad_rows,
        bit_rate: progress.bit_rate,
        ecm: progress.ecm,
        transport: if t38 { "t38" } else { "g711" }.into(),
        duration_seconds: started.elapsed().as_secs_f64(),
        complete,
        result,
        tiff: None,
        blocked: None,
    };
    let blocked = junk::quarantined(
        &config.block,
        received.caller.as_deref(),
        received.remote_ident.as_deref(),
    );
    let received = match blocked {
        Some(b) => {
            tracing::info!(%received.did, caller = ?received.caller, why = %b.why, "received fax quarantined by a junk-fax rule");
            metrics::counter!("faxhub_inbound_blocked_total", "action" => "quarantine")
                .increment(1);
            Received {
                blocked: Some(b.why),
                ..received
            }
        }
        None => received,
    };
    let (pages, who) = (received.pages, received.remote_ident.clone());
    counted(&received);
    match agent.inbox.store(received) {
        Ok(path) => {
            tracing::info!(pages, remote_ident = ?who, complete, record = %path.display(), "fax received")
        }
        Err(e) => tracing::error!(error = %e, "a received fax could not be recorded"),
    }
}

/// Records a call refused by a junk-fax rule in the inbox (no pages), for `faxhub inbox
/// --blocked`.
fn record_refusal(agent: &Agent, caller: Option<String>, did: String, why: String) {
    let received = Received {
        id: reception_id(),
        received_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        caller,
        did,
        remote_ident: None,
        pages: 0,
        bad_rows: 0,
        bit_rate: 0,
        ecm: false,
        // no medium: the call was never answered
        transport: "none".into(),
        duration_seconds: 0.0,
        complete: false,
        result: "refused (SIP 603 Decline)".into(),
        tiff: None,
        blocked: Some(why),
    };
    if let Err(e) = agent.inbox.store(received) {
        tracing::error!(error = %e, "a refused call could not be recorded");
    }
}

/// A fresh reception id: its time, then 8 random hex digits (`Inbox::is_id`).
fn reception_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%d%H%M%S"),
        &random_id()[..8]
    )
}

/// Counts a reception in the metrics (`faxhub::metrics` names and describes them): the SIP
/// agent answers for every line, so its calls are counted under the line `sip`.
fn counted(received: &Received) {
    let status = if received.complete { "2.0.0" } else { "4.4.2" };
    let transport = received.transport.clone();
    metrics::counter!("faxhub_calls_total", "line" => "sip", "direction" => "inbound",
        "transport" => transport, "status" => status)
    .increment(1);
    metrics::histogram!("faxhub_call_duration_seconds", "line" => "sip", "direction" => "inbound")
        .record(received.duration_seconds);
    metrics::counter!("faxhub_pages_received_total", "line" => "sip")
        .increment(u64::from(received.pages));
}

/// An INVITE without an offer (delayed offer, Cisco CUCM's default): our audio offer goes in
/// the 200, the caller's answer comes in its ACK. `None` if the ACK brings no audio we offered.
async fn delayed_offer(
    leg: &mut Leg,
    invite: &Incoming,
    describer: &mut Describer,
    options: &crate::sip::config::FaxOptions,
) -> Option<Medium> {
    let socket = leg.agent.media_socket().ok()?;
    let port = socket.local_addr().ok()?.port();
    let media = sdp::audio_media(port, &options.codecs, Some(sdp::TELEPHONE_EVENT_PT));
    let offer = describer.describe(vec![media], true);
    leg.reply(invite, 200, "OK", Some(&offer)).await;
    leg.wait_for_ack(Instant::now() + Duration::from_millis(TIMEOUT))
        .await;
    let ack = leg.take_ack()?;
    let answer = Sdp::parse(&String::from_utf8_lossy(&ack.body)).ok()?;
    let m = answer.audio().filter(|m| m.port != 0)?;
    let codec = sdp::choose_audio(m, &options.codecs)?.codec;
    Some(Medium::Audio {
        socket,
        peer: peer_of(&answer, m)?,
        codec,
    })
}
