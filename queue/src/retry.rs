//! The retry policy: what becomes of a recipient after an attempt.
//!
//! Input: the attempt's outcome (an RFC 3463 code and whether it was a dial failure: busy or
//! no answer), the recipient's counters, when the job arrived, and `now`. Output: done, deferred
//! until a time, or failed with the last real code. Busy and no-answer count against
//! `max_dials`; every other transient failure counts against `max_tries` (HylaFAX's split).
//! Nothing is retried past `give_up_after` from arrival. Pure: no I/O, no clock.

use crate::status::EnhancedStatus;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The `[retry]` section of the configuration, typed.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// Delay before retry k (1-based); the last entry repeats.
    #[serde(with = "crate::units::serde_durations")]
    pub schedule: Vec<Duration>,
    /// Attempts that reached the far end and failed (or were interrupted), at most.
    pub max_tries: u32,
    /// Calls that got busy or no answer, at most.
    pub max_dials: u32,
    /// No retry is scheduled later than this after the job arrived.
    #[serde(with = "crate::units::serde_duration")]
    pub give_up_after: Duration,
}

pub const DEFAULT_SCHEDULE: [Duration; 5] = [
    Duration::from_secs(60),
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(60 * 60),
];
pub const DEFAULT_MAX_TRIES: u32 = 3;
pub const DEFAULT_MAX_DIALS: u32 = 12;
pub const DEFAULT_GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            schedule: DEFAULT_SCHEDULE.to_vec(),
            max_tries: DEFAULT_MAX_TRIES,
            max_dials: DEFAULT_MAX_DIALS,
            give_up_after: DEFAULT_GIVE_UP_AFTER,
        }
    }
}

/// How an attempt failed, for counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum FailureClass {
    /// Busy or no answer: the call never connected (counts as a dial).
    Dial,
    /// Anything else (counts as a try).
    Try,
}

/// The counters kept on the recipient, before this attempt is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub tries: u32,
    pub dials: u32,
}

/// What an attempt produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptResult {
    pub status: EnhancedStatus,
    pub class: FailureClass,
    pub reason: String,
}

/// What the policy decides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Done,
    Deferred { next_attempt_at_ms: i64 },
    Failed { why: String },
}

impl RetryPolicy {
    /// Decides after an attempt. `received_at_ms` is when the job arrived, `now_ms` the end of
    /// the attempt. Returns the updated counters with the decision.
    pub fn decide(
        &self,
        result: &AttemptResult,
        before: Counters,
        received_at_ms: i64,
        now_ms: i64,
    ) -> (Counters, Decision) {
        if result.status.is_success() {
            return (before, Decision::Done);
        }
        let mut after = before;
        match result.class {
            FailureClass::Dial => after.dials += 1,
            FailureClass::Try => after.tries += 1,
        }
        if result.status.is_permanent() {
            return (
                after,
                Decision::Failed {
                    why: result.reason.clone(),
                },
            );
        }
        if after.dials >= self.max_dials {
            return (
                after,
                Decision::Failed {
                    why: format!("{} (gave up after {} calls)", result.reason, after.dials),
                },
            );
        }
        if after.tries >= self.max_tries {
            return (
                after,
                Decision::Failed {
                    why: format!("{} (gave up after {} tries)", result.reason, after.tries),
                },
            );
        }
        let retry_number = (after.dials + after.tries) as usize; // 1 for the first retry
        let delay = self.delay_before(retry_number);
        let next = now_ms.saturating_add(delay.as_millis() as i64);
        let deadline = received_at_ms.saturating_add(self.give_up_after.as_millis() as i64);
        if next > deadline {
            return (
                after,
                Decision::Failed {
                    why: format!("{} (gave up: no time left to retry)", result.reason),
                },
            );
        }
        (
            after,
            Decision::Deferred {
                next_attempt_at_ms: next,
            },
        )
    }

    /// After the server's own trouble (a conversion that failed for a tool missing or crashed,
    /// the disk full), the `k`-th time (1-based): when to try again, on the schedule, or `None`
    /// when that would be past `give_up_after` from arrival. Neither a try nor a dial is
    /// counted: the number was never called.
    pub fn retry_local(&self, k: u32, received_at_ms: i64, now_ms: i64) -> Option<i64> {
        let next = now_ms.saturating_add(self.delay_before(k as usize).as_millis() as i64);
        let deadline = received_at_ms.saturating_add(self.give_up_after.as_millis() as i64);
        (next <= deadline).then_some(next)
    }

    /// The delay before retry `k` (1-based).
    pub fn delay_before(&self, k: usize) -> Duration {
        match self.schedule.len() {
            0 => Duration::ZERO,
            n => self.schedule[k.saturating_sub(1).min(n - 1)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn the_servers_own_trouble_is_retried_on_the_schedule_until_the_deadline() {
        let p = RetryPolicy::default(); // 1, 5, 15, 30, 60 min; 24 h
        for (k, received, now, next) in [
            (1, 0, 0, Some(MIN)),
            (2, 0, 10 * MIN, Some(15 * MIN)),
            (9, 0, 600 * MIN, Some(660 * MIN)),
            // never past give_up_after, however many times
            (40, 0, 24 * 60 * MIN - 30 * MIN, None),
            (1, 0, 24 * 60 * MIN - MIN, Some(24 * 60 * MIN)),
        ] {
            assert_eq!(p.retry_local(k, received, now), next, "{k} at {now}");
        }
    }

    fn busy() -> AttemptResult {
        AttemptResult {
            status: EnhancedStatus::BUSY,
            class: FailureClass::Dial,
            reason: "busy".into(),
        }
    }
    fn dropped() -> AttemptResult {
        AttemptResult {
            status: EnhancedStatus::BAD_CONNECTION,
            class: FailureClass::Try,
            reason: "call dropped".into(),
        }
    }
    fn policy() -> RetryPolicy {
        RetryPolicy {
            schedule: vec![Duration::from_secs(60), Duration::from_secs(300)],
            max_tries: 2,
            max_dials: 3,
            give_up_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn schedule_table() {
        let p = policy();
        for (k, secs) in [(0, 60), (1, 60), (2, 300), (3, 300), (10, 300)] {
            assert_eq!(p.delay_before(k), Duration::from_secs(secs), "retry {k}");
        }
        let empty = RetryPolicy {
            schedule: vec![],
            ..policy()
        };
        assert_eq!(empty.delay_before(1), Duration::ZERO);
    }

    #[test]
    fn decisions() {
        let p = policy();
        let c = |tries, dials| Counters { tries, dials };
        let ok = AttemptResult {
            status: EnhancedStatus::OK,
            class: FailureClass::Try,
            reason: "sent".into(),
        };
        let bad_number = AttemptResult {
            status: EnhancedStatus::new(5, 1, 1),
            class: FailureClass::Try,
            reason: "unallocated number".into(),
        };
        for (result, before, now, expected_counters, expected) in [
            (ok.clone(), c(0, 0), 0, c(0, 0), Decision::Done),
            (
                busy(),
                c(0, 0),
                0,
                c(0, 1),
                Decision::Deferred {
                    next_attempt_at_ms: MIN,
                },
            ),
            (
                busy(),
                c(0, 1),
                10 * MIN,
                c(0, 2),
                Decision::Deferred {
                    next_attempt_at_ms: 15 * MIN,
                },
            ),
            (
                busy(),
                c(0, 2),
                20 * MIN,
                c(0, 3),
                Decision::Failed {
                    why: "busy (gave up after 3 calls)".into(),
                },
            ),
            // busy does not use up tries, a dropped call does not use up dials
            (
                dropped(),
                c(0, 2),
                0,
                c(1, 2),
                Decision::Deferred {
                    next_attempt_at_ms: 5 * MIN,
                },
            ),
            (
                dropped(),
                c(1, 0),
                0,
                c(2, 0),
                Decision::Failed {
                    why: "call dropped (gave up after 2 tries)".into(),
                },
            ),
            (
                bad_number,
                c(0, 0),
                0,
                c(1, 0),
                Decision::Failed {
                    why: "unallocated number".into(),
                },
            ),
            // the next retry would fall after give_up_after
            (
                busy(),
                c(0, 0),
                59 * MIN + 1,
                c(0, 1),
                Decision::Failed {
                    why: "busy (gave up: no time left to retry)".into(),
                },
            ),
            (
                busy(),
                c(0, 0),
                59 * MIN,
                c(0, 1),
                Decision::Deferred {
                    next_attempt_at_ms: 60 * MIN,
                },
            ),
        ] {
            let (counters, decision) = p.decide(&result, before, 0, now);
            assert_eq!(
                (counters, &decision),
                (expected_counters, &expected),
                "{result:?} {before:?} at {now}"
            );
        }
    }
}
