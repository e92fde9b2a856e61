//! How a fax call ended, in one table: the final SIP status and the Q.850 cause of its Reason
//! header (RFC 3326) before the call connected, or spandsp's T.30 completion code after, become
//! one RFC 3463 code, a reason in plain words and the retry class (a call that never connected
//! counts as a dial, any other failure as a try). The Q.850 cause is preferred to the SIP status
//! when both are given: it is what the carrier really saw (RFC 3398 maps one to the other). A
//! page counts as sent only when the receiver confirmed it; a partial send says how many went
//! through. Pure.

use crate::LineOutcome;
use faxhub_queue::memory::Trouble;
use faxhub_queue::retry::FailureClass;
use faxhub_queue::status::EnhancedStatus as S;

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEnd {
    /// Refused or failed before it connected.
    NotConnected { sip: u16, q850: Option<u8> },
    /// Answered, but no medium was agreed: `what` says what each side offered and answered.
    NoMedium { what: String },
    /// Connected; the T.30 session ended with `t30` (spandsp's `t30_err_e`), after the
    /// receiver confirmed `confirmed` of `total` pages.
    Fax {
        t30: i32,
        confirmed: u32,
        total: u32,
    },
}

use FailureClass::{Dial, Try};

/// Q.850 causes faxhub tells apart (others: by their class).
fn by_cause(cause: u8) -> (S, FailureClass, &'static str) {
    match cause {
        17 => (S::BUSY, Dial, "the line was busy"),
        18 | 19 => (S::BUSY, Dial, "no answer"),
        1 => (
            S::NO_SUCH_NUMBER,
            Try,
            "the number does not exist (unallocated)",
        ),
        3 => (
            S::NO_SUCH_NUMBER,
            Try,
            "the number cannot be reached (no route)",
        ),
        22 => (S::NO_SUCH_NUMBER, Try, "the number has changed"),
        28 => (S::BAD_NUMBER, Try, "the number is incomplete or invalid"),
        21 => (S::NOT_AUTHORIZED, Try, "the call was rejected"),
        27 => (S::NETWORK, Dial, "the destination is out of order"),
        34 | 38 | 41 | 42 | 44 | 47 => (S::CONGESTION, Dial, "the network is congested"),
        _ => (S::NETWORK, Dial, "the call could not be connected"),
    }
}

/// SIP final responses faxhub tells apart, when no Q.850 cause came with them.
fn by_sip(code: u16) -> (S, FailureClass, &'static str) {
    match code {
        486 | 600 => (S::BUSY, Dial, "the line was busy"),
        480 | 408 | 487 => (S::BUSY, Dial, "no answer"),
        404 | 604 | 410 => (S::NO_SUCH_NUMBER, Try, "the number does not exist"),
        484 | 485 => (S::BAD_NUMBER, Try, "the number is incomplete or invalid"),
        403 | 603 => (S::NOT_AUTHORIZED, Try, "the call was rejected"),
        502..=504 => (S::CONGESTION, Dial, "the network is congested"),
        401 | 407 => (
            S::NOT_AUTHORIZED,
            Try,
            "the trunk refused faxhub's credentials",
        ),
        488 | 415 | 606 => (
            S::NETWORK,
            Try,
            "the far end accepted neither T.38 nor G.711 audio",
        ),
        _ => (S::NETWORK, Dial, "the call could not be connected"),
    }
}

/// spandsp's T.30 completion codes (`t30_err_e`, spandsp 0.0.6 numbering).
fn by_t30(code: i32) -> (S, &'static str) {
    match code {
        0 => (S::OK, "sent"),
        // answered, but no fax machine spoke
        1..=3 | 19 | 28 => (S::BAD_CONNECTION, "answered, but not by a fax machine"),
        4 => (S::BAD_CONNECTION, "the fax machine stopped answering"),
        5 | 6 | 14 | 20 => (
            S::BAD_CONNECTION,
            "the fax machines could not train (line quality)",
        ),
        8 | 10 => (S::MEDIA_UNSUPPORTED, "the far machine is not compatible"),
        9 => (
            S::REMOTE_NOT_READY,
            "the far machine cannot receive now (paper or memory)",
        ),
        11 => (
            S::MEDIA_UNSUPPORTED,
            "the far machine does not take this resolution",
        ),
        12 => (
            S::MEDIA_UNSUPPORTED,
            "the far machine does not take this page size",
        ),
        16 | 22 | 23 => (S::BAD_CONNECTION, "error correction failed (line quality)"),
        41..=47 => (S::MEDIA, "faxhub could not read the pages to send"),
        49 => (S::BAD_CONNECTION, "the call dropped"),
        _ => (S::BAD_CONNECTION, "the fax was interrupted"),
    }
}

/// The T.30 failures a slower or simpler next call may cure (destination memory): the
/// training ones and the page errors of `by_t30`.
fn trouble(code: i32) -> Option<Trouble> {
    match code {
        5 | 6 | 14 | 20 => Some(Trouble::Training),
        16 | 22 | 23 => Some(Trouble::PageErrors),
        _ => None,
    }
}

/// The outcome of a call, for the scheduler.
pub fn outcome(end: &CallEnd) -> LineOutcome {
    match end {
        CallEnd::NoMedium { what } => LineOutcome {
            status: S::NETWORK,
            class: Try,
            reason: format!(
                "answered, but the far end accepted neither T.38 nor G.711 audio: {what}"
            ),
            pages_sent: 0,
            trouble: None,
        },
        &CallEnd::NotConnected { sip, q850 } => {
            let (status, class, words) = match q850 {
                Some(cause) => by_cause(cause),
                None => by_sip(sip),
            };
            let detail = match q850 {
                Some(cause) => format!("SIP {sip}, Q.850 cause {cause}"),
                None => format!("SIP {sip}"),
            };
            LineOutcome {
                status,
                class,
                reason: format!("{words} ({detail})"),
                pages_sent: 0,
                trouble: None,
            }
        }
        &CallEnd::Fax {
            t30,
            confirmed,
            total,
        } => {
            let (status, words) = by_t30(t30);
            if status == S::OK && confirmed >= total {
                return LineOutcome::sent(confirmed, format!("{confirmed} page(s) sent"));
            }
            // a clean T.30 end with pages missing is still a failure: no false "sent"
            let (status, words) = if status == S::OK {
                (
                    S::BAD_CONNECTION,
                    "the fax ended before every page went through",
                )
            } else {
                (status, words)
            };
            let reason = if confirmed > 0 {
                format!("{confirmed} of {total} pages sent, then: {words} (T.30 code {t30})")
            } else {
                format!("{words} (T.30 code {t30})")
            };
            LineOutcome {
                status,
                class: Try,
                reason,
                pages_sent: confirmed.min(total),
                trouble: trouble(t30),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_connected(sip: u16, q850: Option<u8>) -> LineOutcome {
        outcome(&CallEnd::NotConnected { sip, q850 })
    }

    #[test]
    fn sip_and_q850_before_the_call_connects() {
        for (sip, q850, code, class, words) in [
            (486, None, "4.4.1", Dial, "busy"),
            (480, None, "4.4.1", Dial, "no answer"),
            (487, None, "4.4.1", Dial, "no answer"),
            (404, None, "5.1.1", Try, "does not exist"),
            (484, None, "5.1.3", Try, "incomplete"),
            (603, None, "5.7.1", Try, "rejected"),
            (503, None, "4.4.5", Dial, "congested"),
            (488, None, "4.4.0", Try, "neither T.38 nor G.711"),
            (500, None, "4.4.0", Dial, "could not be connected"),
            // the cause wins: a 480 that the carrier says was busy is busy
            (480, Some(17), "4.4.1", Dial, "busy"),
            (404, Some(1), "5.1.1", Try, "unallocated"),
            (503, Some(34), "4.4.5", Dial, "congested"),
            (603, Some(21), "5.7.1", Try, "rejected"),
            (500, Some(127), "4.4.0", Dial, "could not be connected"),
        ] {
            let o = not_connected(sip, q850);
            assert_eq!(
                (o.status.to_string().as_str(), o.class),
                (code, class),
                "{sip} {q850:?}"
            );
            assert!(o.reason.contains(words), "{sip} {q850:?}: {}", o.reason);
            assert!(o.reason.contains(&format!("SIP {sip}")), "{}", o.reason);
            assert_eq!(o.pages_sent, 0);
        }
        // answered, no medium agreed: the reason quotes what happened, and no SIP code it never saw
        let o = outcome(&CallEnd::NoMedium {
            what: "the audio offer that followed was refused with SIP 415".into(),
        });
        assert_eq!((o.status.to_string().as_str(), o.class), ("4.4.0", Try));
        assert!(o.reason.ends_with("refused with SIP 415"), "{}", o.reason);
        assert!(!o.reason.contains("488"), "{}", o.reason);
    }

    #[test]
    fn t30_completion_codes_after_it_connects() {
        let fax = |t30, confirmed, total| {
            outcome(&CallEnd::Fax {
                t30,
                confirmed,
                total,
            })
        };
        let ok = fax(0, 3, 3);
        assert_eq!((ok.status, ok.pages_sent), (S::OK, 3));
        // answered by a person: T1 expired
        let voice = fax(3, 0, 3);
        assert_eq!(voice.status.to_string(), "4.4.2");
        assert!(
            voice.reason.contains("not by a fax machine"),
            "{}",
            voice.reason
        );
        // a partial send names the pages and is never "sent"
        let dropped = fax(49, 1, 3);
        assert_eq!(
            (dropped.status.to_string().as_str(), dropped.pages_sent),
            ("4.4.2", 1)
        );
        assert!(
            dropped
                .reason
                .starts_with("1 of 3 pages sent, then: the call dropped")
        );
        let short = fax(0, 2, 3);
        assert_ne!(
            short.status,
            S::OK,
            "a clean end with a page missing is no success"
        );
        assert_eq!(fax(11, 0, 1).status.to_string(), "5.6.1");
        assert_eq!(fax(9, 0, 1).status.to_string(), "4.2.2");
        assert_eq!(fax(43, 0, 1).status.to_string(), "5.6.0");
        assert!(fax(1234, 0, 1).reason.contains("T.30 code 1234"));
        // never more pages than there were
        assert_eq!(fax(49, 9, 3).pages_sent, 3);
        // what destination memory may cure by a step down, and what not
        assert_eq!(fax(5, 0, 1).trouble, Some(Trouble::Training));
        assert_eq!(fax(16, 1, 3).trouble, Some(Trouble::PageErrors));
        assert_eq!(fax(49, 1, 3).trouble, None);
        assert_eq!(fax(0, 3, 3).trouble, None);
    }
}
