//! A call's share of the user agent (`Leg`): the messages of its Call-ID, its dialog, its
//! client transactions (`transact`: retransmitted per RFC 3261 §17.1 until the final response,
//! the ACK of an error sent by the transaction), our 2xx to an INVITE retransmitted until its
//! ACK (§13.3.1.4), an INVITE that comes again answered again, and requests that arrive while
//! we wait for something else (`stray`): BYE ends the call, OPTIONS and INFO get 200, a second
//! offer while ours is pending gets 491 (glare), CANCEL of an answered call changes nothing.

use super::{ALLOW, Agent, Incoming, Transport, USER_AGENT};
use crate::sip::dialog::{Dialog, ack_for_error};
use crate::sip::digest::Challenge;
use crate::sip::message::{Message, StartLine};
use crate::sip::transaction::{Action, Client, T1, T2};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

pub(super) struct Leg {
    pub agent: Arc<Agent>,
    rx: mpsc::UnboundedReceiver<Incoming>,
    /// Our tags it is registered under with the agent.
    tags: Vec<String>,
    pub call_id: String,
    /// Where our requests go, and how.
    pub peer: SocketAddr,
    pub transport: Transport,
    pub dialog: Dialog,
    /// The far end sent BYE.
    pub hung_up: bool,
    /// Our last response to an INVITE (its CSeq number, the message, where it went), sent
    /// again if that INVITE comes again; with its resend schedule while a 2xx awaits its ACK.
    last_invite_answer: Option<(u32, Message, SocketAddr, Transport)>,
    resend: Option<Resend>,
    /// Our ACK for the far end's last 2xx, sent again if that 2xx comes again.
    last_ack: Option<Message>,
    /// The far end's ACK for our 2xx (it carries the answer to an offer we made in the 2xx).
    acked: Option<Message>,
    /// Our 2xx is known to have arrived: its ACK came, or a later request of the far end in
    /// this dialog (which it sends only after its ACK, even when that ACK was lost).
    confirmed: bool,
    /// A request that came right after the ACK `wait_for_ack` waited for: the next `next`
    /// returns it (a re-INVITE sent at once after the ACK is the session's to answer).
    held: Option<Incoming>,
}

struct Resend {
    next: Instant,
    interval: Duration,
    until: Instant,
}

/// Why a client transaction ended without a final response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoAnswer {
    /// Timer B or F: nothing came back (408 for the core).
    Timeout,
    /// The caller's own deadline passed first.
    GaveUp,
}

impl Leg {
    /// A call whose messages come through `rx`, registered under our `tags`.
    pub fn new(
        agent: Arc<Agent>,
        (rx, tags): (mpsc::UnboundedReceiver<Incoming>, Vec<String>),
        (peer, transport): (SocketAddr, Transport),
        dialog: Dialog,
    ) -> Leg {
        Leg {
            tags,
            transport,
            agent,
            rx,
            call_id: dialog.call_id.clone(),
            peer,
            dialog,
            hung_up: false,
            last_invite_answer: None,
            resend: None,
            last_ack: None,
            acked: None,
            confirmed: false,
            held: None,
        }
    }

    pub async fn send(&self, message: &Message) {
        self.agent.send(message, self.peer, self.transport).await;
    }

    /// The next message for this call, retransmitting our pending 2xx meanwhile (and taking in
    /// its ACK); `None` when `deadline` passes or the agent is gone.
    pub async fn next(&mut self, deadline: Option<Instant>) -> Option<Incoming> {
        if let Some(held) = self.held.take() {
            return Some(held);
        }
        loop {
            let wake = [deadline, self.resend.as_ref().map(|r| r.next)]
                .into_iter()
                .flatten()
                .min();
            let incoming = tokio::select! {
                m = self.rx.recv() => m,
                _ = sleep_until(wake) => {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return None;
                    }
                    self.resend_due(now).await;
                    continue;
                }
            };
            let incoming = incoming?;
            if incoming.message.method() == Some("ACK") {
                if self.acknowledges(&incoming.message) {
                    self.resend = None;
                    self.confirmed = true;
                    self.acked = Some(incoming.message);
                }
                continue;
            }
            if self.is_invite_again(&incoming.message) {
                if let Some((_, answer, to, transport)) = &self.last_invite_answer {
                    self.agent.send(answer, *to, *transport).await;
                }
                continue;
            }
            return Some(incoming);
        }
    }

    async fn resend_due(&mut self, now: Instant) {
        let Some(resend) = &mut self.resend else {
            return;
        };
        if now >= resend.until {
            tracing::warn!(call_id = %self.call_id, "our 2xx was never acknowledged");
            self.resend = None;
            return;
        }
        if now >= resend.next {
            resend.interval = (resend.interval * 2).min(Duration::from_millis(T2));
            resend.next = now + resend.interval;
            if let Some((_, answer, to, transport)) = &self.last_invite_answer {
                self.agent.send(answer, *to, *transport).await;
            }
        }
    }

    fn acknowledges(&self, ack: &Message) -> bool {
        match (&self.last_invite_answer, ack.cseq()) {
            (Some((cseq, ..)), Some((n, _))) => *cseq == n,
            _ => false,
        }
    }

    fn is_invite_again(&self, m: &Message) -> bool {
        m.method() == Some("INVITE")
            && matches!((&self.last_invite_answer, m.cseq()), (Some((cseq, ..)), Some((n, _))) if *cseq == n)
    }

    /// Answers `request` in this dialog with `code`, and `sdp` as its body if given.
    pub async fn reply(&mut self, request: &Incoming, code: u16, reason: &str, sdp: Option<&str>) {
        let mut response = self.dialog.response(&request.message, code, reason);
        response.add("User-Agent", USER_AGENT);
        if request.message.method() == Some("INVITE") || code == 405 {
            response.add("Allow", ALLOW);
        }
        if let Some(sdp) = sdp {
            response.add("Content-Type", "application/sdp");
            response.body = sdp.as_bytes().to_vec();
        }
        self.agent
            .send(&response, request.from, request.transport)
            .await;
        if request.message.method() == Some("INVITE") && code >= 200 {
            let cseq = request.message.cseq().map_or(0, |(n, _)| n);
            self.last_invite_answer = Some((cseq, response, request.from, request.transport));
            let t1 = Duration::from_millis(T1);
            let now = Instant::now();
            // a 2xx is resent until its ACK (§13.3.1.4); an error's ACK ends nothing we wait on
            self.confirmed = false;
            self.resend = (code < 300).then(|| Resend {
                next: now + t1,
                interval: t1,
                until: now + 64 * t1,
            });
        }
    }

    /// Sends `request` as a client transaction and returns its final response. Requests that
    /// arrive meanwhile are answered by `stray`; provisional responses are logged.
    pub async fn transact(
        &mut self,
        request: Message,
        give_up: Option<Instant>,
    ) -> Result<Message, NoAnswer> {
        let invite = request.method() == Some("INVITE");
        let Some((cseq, method)) = request.cseq().map(|(n, m)| (n, m.to_string())) else {
            return Err(NoAnswer::Timeout);
        };
        let started = Instant::now();
        let elapsed = |now: Instant| (now - started).as_millis() as u64;
        let reliable = self.transport == Transport::Tcp;
        let (mut client, actions) = Client::start(request.render(), invite, reliable, 0);
        self.perform(actions).await;
        loop {
            let timer = client
                .next_timer()
                .filter(|&t| t < 86_400_000)
                .map(|t| started + Duration::from_millis(t));
            let wake = [timer, give_up].into_iter().flatten().min();
            let Some(incoming) = self.next(wake).await else {
                let now = Instant::now();
                if give_up.is_some_and(|g| now >= g) {
                    return Err(NoAnswer::GaveUp);
                }
                for action in client.on_timer(elapsed(now)) {
                    match action {
                        Action::Send(bytes) => self.send_bytes(&bytes).await,
                        Action::Timeout => return Err(NoAnswer::Timeout),
                        _ => {}
                    }
                }
                continue;
            };
            let message = &incoming.message;
            // a response counts only from where the request went: a third party cannot answer
            // for the far end (nor draw our digest credentials with a forged challenge)
            let ours = matches!(message.cseq(), Some((n, m)) if n == cseq && m == method)
                && incoming.from == self.peer;
            match (&message.start, ours) {
                (StartLine::Response { code, .. }, true) => {
                    let code = *code;
                    let ack = (invite && code >= 300)
                        .then(|| ack_for_error(&request, message).map(|a| a.render()))
                        .flatten();
                    let mut final_response = false;
                    for action in client.on_response(code, ack, elapsed(Instant::now())) {
                        match action {
                            Action::Send(bytes) => self.send_bytes(&bytes).await,
                            Action::Response(c) if c >= 200 => final_response = true,
                            Action::Response(c) => {
                                tracing::debug!(call_id = %self.call_id, code = c, "provisional")
                            }
                            _ => {}
                        }
                    }
                    if final_response {
                        return Ok(incoming.message);
                    }
                }
                // an old transaction's; a 2xx to our INVITE again means our ACK was lost: again
                (StartLine::Response { .. }, false) => self.acknowledge_again(&incoming).await,
                (StartLine::Request { .. }, _) => self.stray(incoming).await,
            }
        }
    }

    async fn perform(&self, actions: Vec<Action>) {
        for action in actions {
            if let Action::Send(bytes) = action {
                self.send_bytes(&bytes).await;
            }
        }
    }

    async fn send_bytes(&self, bytes: &[u8]) {
        self.agent
            .send_bytes(bytes, self.peer, self.transport)
            .await;
    }

    /// A request that came while we wait for something else.
    pub async fn stray(&mut self, incoming: Incoming) {
        match incoming.message.method().unwrap_or("") {
            "BYE" => {
                self.reply(&incoming, 200, "OK", None).await;
                self.hung_up = true;
            }
            "OPTIONS" | "INFO" | "CANCEL" => self.reply(&incoming, 200, "OK", None).await,
            "UPDATE" if incoming.message.body.is_empty() => {
                self.reply(&incoming, 200, "OK", None).await
            }
            "INVITE" | "UPDATE" => self.reply(&incoming, 491, "Request Pending", None).await,
            _ => self.reply(&incoming, 501, "Not Implemented", None).await,
        }
    }

    /// Acknowledges the 2xx to our INVITE (end to end, §13.2.2.4).
    pub async fn acknowledge(&mut self, ok: &Message) {
        self.dialog.confirm(ok);
        let ack = self.dialog.request("ACK", b"", &super::random_id());
        self.send(&ack).await;
        self.last_ack = Some(ack);
    }

    /// A response that came outside any transaction: a 2xx to our INVITE again means our ACK
    /// was lost.
    pub async fn acknowledge_again(&mut self, response: &Incoming) {
        let again = matches!(response.message.code(), Some(200..=299))
            && matches!(response.message.cseq(), Some((n, "INVITE")) if n == self.dialog.invite_cseq);
        if again && let Some(ack) = &self.last_ack {
            self.send(ack).await;
        }
    }

    /// Waits (answering what comes) until the far end has acknowledged our 2xx, so that a new
    /// INVITE of ours does not overlap its INVITE transaction (§14.1).
    pub async fn wait_for_ack(&mut self, deadline: Instant) {
        while self.resend.is_some() && !self.hung_up {
            let step = (Instant::now() + Duration::from_millis(100)).min(deadline);
            if let Some(incoming) = self.next(Some(step)).await {
                let later = matches!(
                    (incoming.message.cseq(), &self.last_invite_answer),
                    (Some((n, _)), Some((ours, ..))) if n > *ours
                );
                if later && self.resend.is_some() {
                    // sent after its ACK, so our 2xx arrived (the ACK was lost on the way)
                    self.resend = None;
                    self.confirmed = true;
                }
                if self.resend.is_none() {
                    // the request is for whoever waits next (the fax session)
                    self.held = Some(incoming);
                    return;
                }
                self.stray(incoming).await;
            } else if Instant::now() >= deadline {
                return;
            }
        }
    }

    /// The far end's ACK for our 2xx, once it came.
    pub fn take_ack(&mut self) -> Option<Message> {
        self.acked.take()
    }

    /// Whether our last 2xx to an INVITE still waits for its ACK (no INVITE of ours may start
    /// meanwhile, §14.1).
    pub fn awaiting_ack(&self) -> bool {
        self.resend.is_some()
    }

    /// Whether our last 2xx is known to have arrived (`confirmed`).
    pub fn confirmed(&self) -> bool {
        self.confirmed
    }

    /// Ends the call from our side: BYE, and its answer awaited (briefly).
    pub async fn hang_up(&mut self) {
        if self.hung_up {
            return;
        }
        let bye = self.dialog.request("BYE", b"", &super::random_id());
        let _ = self
            .transact(bye, Some(Instant::now() + Duration::from_secs(8)))
            .await;
        self.hung_up = true;
    }
}

impl Drop for Leg {
    fn drop(&mut self) {
        self.agent.forget(&self.call_id, &self.tags);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Adds `credentials` for the digest challenge in `response` (401 or 407) to `request`;
/// `None` if the challenge cannot be answered, or if the same credentials were refused already
/// (`count` > 1) and the nonce was not merely stale.
pub(super) fn authorize(
    request: &mut Message,
    response: &Message,
    (username, password): &(String, String),
    count: u32,
) -> Option<()> {
    let (challenge_header, answer_header) = if response.code() == Some(407) {
        ("Proxy-Authenticate", "Proxy-Authorization")
    } else {
        ("WWW-Authenticate", "Authorization")
    };
    let challenge = response
        .values(challenge_header)
        .find_map(Challenge::parse)?;
    if count > 1 && !challenge.stale {
        return None;
    }
    let StartLine::Request { method, uri } = &request.start else {
        return None;
    };
    let value = challenge.answer(username, password, method, uri, &super::random_id(), 1);
    request.set(answer_header, value);
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(code: u16, header: &str, stale: bool) -> Message {
        let mut r = Message::response_to(&Message::request("INVITE", "sip:1@pbx"), code, "Auth");
        let stale = if stale { ", stale=true" } else { "" };
        r.add(header, format!("Digest realm=\"pbx\", nonce=\"n1\"{stale}"));
        r
    }

    fn invite() -> Message {
        let mut m = Message::request("INVITE", "sip:0169293999@pbx");
        m.add("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
            .add("CSeq", "2 INVITE");
        m
    }

    #[test]
    fn a_proxy_challenge_is_answered_in_proxy_authorization() {
        let creds = ("fax".to_string(), "secret".to_string());
        let mut m = invite();
        authorize(
            &mut m,
            &challenge(407, "Proxy-Authenticate", false),
            &creds,
            1,
        )
        .unwrap();
        let answer = m.header("Proxy-Authorization").unwrap();
        assert!(answer.contains("uri=\"sip:0169293999@pbx\""), "{answer}");
        assert!(m.header("Authorization").is_none());
        assert_eq!(m.headers[0].0, "Via", "Via stays on top");
        let mut m = invite();
        authorize(
            &mut m,
            &challenge(401, "WWW-Authenticate", false),
            &creds,
            1,
        )
        .unwrap();
        assert!(m.header("Authorization").is_some());
    }

    #[test]
    fn refused_credentials_are_not_sent_again_unless_the_nonce_was_stale() {
        let creds = ("fax".to_string(), "wrong".to_string());
        let mut m = invite();
        let again = challenge(407, "Proxy-Authenticate", false);
        assert!(authorize(&mut m, &again, &creds, 2).is_none());
        let stale = challenge(407, "Proxy-Authenticate", true);
        assert!(authorize(&mut m, &stale, &creds, 2).is_some());
        let other = challenge(401, "WWW-Authenticate", false);
        let mut m = invite();
        let other_scheme = {
            let mut r = other.clone();
            r.set("WWW-Authenticate", "Basic realm=\"pbx\"");
            r
        };
        assert!(authorize(&mut m, &other_scheme, &creds, 1).is_none());
    }
}
