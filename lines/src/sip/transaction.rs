//! SIP transactions (RFC 3261 §17) as state machines: what to (re)send and when to give up, for
//! each side of INVITE and non-INVITE exchanges over an unreliable transport (UDP) or a reliable
//! one (TCP, where nothing is retransmitted). Each machine is fed events (a response or a
//! request that arrived, the time) and answers with actions (bytes to send, what the UA core
//! must know); the caller owns the socket and the clock. Times are milliseconds; pure.
//!
//! Timers: T1 500 ms (round trip estimate), T2 4 s (longest interval), T4 5 s (how long a
//! message may linger in the network). A: INVITE retransmit, from T1, doubling; B, F, H, J:
//! give up after 64·T1; E: non-INVITE retransmit, doubling up to T2; D, K, I: absorb
//! retransmissions after the end. The UA core's own 2xx retransmission for INVITE (§13.3.1.4,
//! T1 doubling up to T2 until the ACK) is `InviteServer` too: a 2xx is retransmitted like an
//! error response until the ACK arrives.

pub const T1: u64 = 500;
pub const T2: u64 = 4_000;
pub const T4: u64 = 5_000;
/// 64·T1: how long a transaction may wait for its answer.
pub const TIMEOUT: u64 = 64 * T1;

/// What the caller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the peer.
    Send(Vec<u8>),
    /// A response for the UA core (a provisional or the final one).
    Response(u16),
    /// No answer in time (RFC 3261: 408 for the core).
    Timeout,
    /// The transaction is over: forget it.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    Calling,
    Proceeding,
    Completed,
    Terminated,
}

/// The client side: our request, until its final response.
#[derive(Debug)]
pub struct Client {
    invite: bool,
    reliable: bool,
    request: Vec<u8>,
    /// The ACK sent for a non-2xx final response to an INVITE (sent again if it comes again).
    ack: Option<Vec<u8>>,
    state: ClientState,
    interval: u64,
    next_send: Option<u64>,
    deadline: u64,
}

impl Client {
    /// Starts a transaction for `request`: sends it. `invite` for INVITE (whose non-2xx final
    /// response this transaction acknowledges with `ack_for`).
    pub fn start(
        request: Vec<u8>,
        invite: bool,
        reliable: bool,
        now: u64,
    ) -> (Client, Vec<Action>) {
        let client = Client {
            invite,
            reliable,
            request: request.clone(),
            ack: None,
            state: ClientState::Calling,
            interval: T1,
            next_send: (!reliable).then_some(now + T1),
            deadline: now + TIMEOUT,
        };
        (client, vec![Action::Send(request)])
    }

    /// A response arrived. For a non-2xx final response to an INVITE, `ack` is the ACK to send
    /// (built by the caller from the request and this response).
    pub fn on_response(&mut self, code: u16, ack: Option<Vec<u8>>, now: u64) -> Vec<Action> {
        match (self.state, code) {
            (ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                self.state = ClientState::Proceeding;
                if self.invite {
                    // Timer A and Timer B stop: a ringing call waits for its answer as long as
                    // the UA core lets it (§17.1.1.2; the core CANCELs when it gives up)
                    self.next_send = None;
                    self.deadline = u64::MAX;
                } else if !self.reliable {
                    self.next_send = Some(now + T2);
                    self.interval = T2;
                }
                vec![Action::Response(code)]
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=299) if self.invite => {
                // the UA core acknowledges a 2xx itself, end to end
                self.state = ClientState::Terminated;
                vec![Action::Response(code), Action::Terminated]
            }
            (ClientState::Calling | ClientState::Proceeding, 200..=699) => {
                let mut out = vec![Action::Response(code)];
                if self.invite
                    && let Some(ack) = ack
                {
                    out.push(Action::Send(ack.clone()));
                    self.ack = Some(ack);
                }
                self.enter_completed(now, &mut out);
                out
            }
            (ClientState::Completed, 300..=699) if self.invite => {
                // our ACK was lost: the final response came again
                self.ack.clone().map(Action::Send).into_iter().collect()
            }
            _ => Vec::new(), // retransmissions after the end, stray responses
        }
    }

    fn enter_completed(&mut self, now: u64, out: &mut Vec<Action>) {
        if self.reliable {
            self.state = ClientState::Terminated;
            out.push(Action::Terminated);
        } else {
            self.state = ClientState::Completed;
            self.next_send = None;
            // Timer D (32 s) for INVITE, K (T4) otherwise
            self.deadline = now + if self.invite { TIMEOUT } else { T4 };
        }
    }

    /// The time passed `now`.
    pub fn on_timer(&mut self, now: u64) -> Vec<Action> {
        match self.state {
            ClientState::Terminated => Vec::new(),
            ClientState::Completed if now >= self.deadline => {
                self.state = ClientState::Terminated;
                vec![Action::Terminated]
            }
            ClientState::Completed => Vec::new(),
            _ if now >= self.deadline => {
                self.state = ClientState::Terminated;
                vec![Action::Timeout, Action::Terminated]
            }
            _ => match self.next_send {
                Some(at) if now >= at => {
                    self.interval = if self.invite {
                        self.interval * 2
                    } else {
                        (self.interval * 2).min(T2)
                    };
                    if self.state == ClientState::Proceeding {
                        self.interval = T2;
                    }
                    self.next_send = Some(now + self.interval);
                    vec![Action::Send(self.request.clone())]
                }
                _ => Vec::new(),
            },
        }
    }

    /// When `on_timer` should next be called.
    pub fn next_timer(&self) -> Option<u64> {
        match self.state {
            ClientState::Terminated => None,
            ClientState::Completed => Some(self.deadline),
            _ => Some(
                self.next_send
                    .map_or(self.deadline, |s| s.min(self.deadline)),
            ),
        }
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    Proceeding,
    Completed,
    Confirmed,
    Terminated,
}

/// The server side: a request we answer. For INVITE, a final response is retransmitted until
/// the ACK comes (a 2xx by the UA core's rule, an error by the transaction's; the same timers).
#[derive(Debug)]
pub struct Server {
    invite: bool,
    reliable: bool,
    last: Option<Vec<u8>>,
    state: ServerState,
    interval: u64,
    next_send: Option<u64>,
    deadline: Option<u64>,
}

impl Server {
    pub fn new(invite: bool, reliable: bool) -> Server {
        Server {
            invite,
            reliable,
            last: None,
            state: ServerState::Proceeding,
            interval: T1,
            next_send: None,
            deadline: None,
        }
    }

    /// Sends our response (`code` is its status).
    pub fn respond(&mut self, code: u16, bytes: Vec<u8>, now: u64) -> Vec<Action> {
        if self.state != ServerState::Proceeding {
            return Vec::new();
        }
        self.last = Some(bytes.clone());
        let mut out = vec![Action::Send(bytes)];
        if code >= 200 {
            self.state = ServerState::Completed;
            if self.invite {
                // retransmit until the ACK (Timer G), give up after 64·T1 (Timer H)
                if !self.reliable {
                    self.next_send = Some(now + T1);
                }
                self.deadline = Some(now + TIMEOUT);
            } else if self.reliable {
                self.state = ServerState::Terminated;
                out.push(Action::Terminated);
            } else {
                self.deadline = Some(now + TIMEOUT); // Timer J
            }
        }
        out
    }

    /// The request came again (our response was lost): send the last response again.
    pub fn on_retransmission(&mut self) -> Vec<Action> {
        match (&self.last, self.state) {
            (Some(last), ServerState::Proceeding | ServerState::Completed) => {
                vec![Action::Send(last.clone())]
            }
            _ => Vec::new(),
        }
    }

    /// The ACK for our final response to an INVITE arrived.
    pub fn on_ack(&mut self, now: u64) -> Vec<Action> {
        if !self.invite || self.state != ServerState::Completed {
            return Vec::new();
        }
        self.next_send = None;
        if self.reliable {
            self.state = ServerState::Terminated;
            return vec![Action::Terminated];
        }
        self.state = ServerState::Confirmed;
        self.deadline = Some(now + T4); // Timer I: absorb ACK retransmissions
        Vec::new()
    }

    pub fn on_timer(&mut self, now: u64) -> Vec<Action> {
        match self.state {
            ServerState::Terminated | ServerState::Proceeding => Vec::new(),
            _ if self.deadline.is_some_and(|d| now >= d) => {
                let unacknowledged = self.invite && self.state == ServerState::Completed;
                self.state = ServerState::Terminated;
                if unacknowledged {
                    vec![Action::Timeout, Action::Terminated]
                } else {
                    vec![Action::Terminated]
                }
            }
            _ => match (self.next_send, &self.last) {
                (Some(at), Some(last)) if now >= at => {
                    self.interval = (self.interval * 2).min(T2);
                    self.next_send = Some(now + self.interval);
                    vec![Action::Send(last.clone())]
                }
                _ => Vec::new(),
            },
        }
    }

    pub fn next_timer(&self) -> Option<u64> {
        match (self.next_send, self.deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
        .filter(|_| self.state != ServerState::Terminated)
    }

    pub fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the clock from `from` to `to` in 100 ms steps; returns (time, action) pairs.
    fn run(mut on_timer: impl FnMut(u64) -> Vec<Action>, from: u64, to: u64) -> Vec<(u64, Action)> {
        (from..=to)
            .step_by(100)
            .flat_map(|t| on_timer(t).into_iter().map(move |a| (t, a)))
            .collect()
    }

    fn sends(log: &[(u64, Action)]) -> Vec<u64> {
        log.iter()
            .filter(|(_, a)| matches!(a, Action::Send(_)))
            .map(|(t, _)| *t)
            .collect()
    }

    #[test]
    fn an_unanswered_invite_is_retransmitted_doubling_then_times_out_at_32s() {
        let (mut c, first) = Client::start(b"INVITE".to_vec(), true, false, 0);
        assert_eq!(first, vec![Action::Send(b"INVITE".to_vec())]);
        let log = run(|t| c.on_timer(t), 100, 40_000);
        // Timer A: 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s
        assert_eq!(sends(&log), [500, 1_500, 3_500, 7_500, 15_500, 31_500]);
        assert!(log.contains(&(32_000, Action::Timeout)), "{log:?}");
        assert!(c.is_terminated());
    }

    #[test]
    fn a_ringing_invite_stops_retransmitting_and_a_busy_is_acknowledged_again_if_repeated() {
        let (mut c, _) = Client::start(b"INVITE".to_vec(), true, false, 0);
        assert_eq!(c.on_response(180, None, 200), vec![Action::Response(180)]);
        assert!(sends(&run(|t| c.on_timer(t), 300, 20_000)).is_empty());
        let out = c.on_response(486, Some(b"ACK".to_vec()), 20_100);
        assert_eq!(
            out,
            vec![Action::Response(486), Action::Send(b"ACK".to_vec())]
        );
        // the 486 again: the ACK again, and the core is not told twice
        assert_eq!(
            c.on_response(486, None, 20_200),
            vec![Action::Send(b"ACK".to_vec())]
        );
        // Timer D: over 32 s after the final response
        let log = run(|t| c.on_timer(t), 20_300, 60_000);
        assert_eq!(log, vec![(52_100, Action::Terminated)]);
    }

    #[test]
    fn a_2xx_to_invite_goes_to_the_core_and_ends_the_transaction() {
        let (mut c, _) = Client::start(b"INVITE".to_vec(), true, false, 0);
        assert_eq!(
            c.on_response(200, None, 700),
            vec![Action::Response(200), Action::Terminated]
        );
        assert_eq!(c.next_timer(), None);
    }

    #[test]
    fn non_invite_retransmits_up_to_t2_and_nothing_over_tcp() {
        let (mut c, _) = Client::start(b"OPTIONS".to_vec(), false, false, 0);
        let log = run(|t| c.on_timer(t), 100, 33_000);
        assert_eq!(
            sends(&log),
            [
                500, 1_500, 3_500, 7_500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500
            ]
        );
        assert!(log.contains(&(32_000, Action::Timeout)));
        let (mut tcp, _) = Client::start(b"OPTIONS".to_vec(), false, true, 0);
        assert!(sends(&run(|t| tcp.on_timer(t), 100, 20_000)).is_empty());
        assert_eq!(
            tcp.on_response(200, None, 20_100),
            vec![Action::Response(200), Action::Terminated]
        );
    }

    #[test]
    fn our_2xx_to_an_invite_is_repeated_until_the_ack() {
        let mut s = Server::new(true, false);
        assert_eq!(
            s.respond(180, b"180".to_vec(), 0),
            vec![Action::Send(b"180".to_vec())]
        );
        assert_eq!(s.on_retransmission(), vec![Action::Send(b"180".to_vec())]);
        s.respond(200, b"200".to_vec(), 1_000);
        let log = run(|t| s.on_timer(t), 1_100, 9_000);
        // Timer G: 0.5, 1, 2, 4, 4 s apart
        assert_eq!(sends(&log), [1_500, 2_500, 4_500, 8_500]);
        assert!(s.on_ack(9_100).is_empty());
        assert!(sends(&run(|t| s.on_timer(t), 9_200, 13_000)).is_empty());
        assert_eq!(
            run(|t| s.on_timer(t), 13_100, 20_000),
            vec![(14_100, Action::Terminated)]
        );
    }

    #[test]
    fn an_ack_that_never_comes_times_out_and_non_invite_servers_absorb_retransmissions() {
        let mut s = Server::new(true, false);
        s.respond(200, b"200".to_vec(), 0);
        let log = run(|t| s.on_timer(t), 100, 40_000);
        assert!(log.contains(&(32_000, Action::Timeout)), "{log:?}");
        let mut bye = Server::new(false, false);
        bye.respond(200, b"200".to_vec(), 0);
        assert_eq!(bye.on_retransmission(), vec![Action::Send(b"200".to_vec())]);
        assert!(sends(&run(|t| bye.on_timer(t), 100, 31_900)).is_empty());
        assert_eq!(bye.on_timer(32_000), vec![Action::Terminated]);
        let mut tcp = Server::new(false, true);
        assert_eq!(
            tcp.respond(200, b"200".to_vec(), 0),
            vec![Action::Send(b"200".to_vec()), Action::Terminated]
        );
    }
}
