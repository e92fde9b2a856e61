//! Intake first: while mail is arriving, conversions make room for it.
//!
//! An MTA's first duty is to take mail in; converting it can wait seconds. The scheduler tells
//! this module, at each pass, how many jobs the intake has committed so far (`Arrivals::total`).
//! When `BUSY_JOBS` or more arrive within `WINDOW`, intake is busy, and stays so for `HOLD` after
//! the last window that was: meanwhile one conversion runs at a time, each starting at least
//! `BUSY_SPACING` after the one before (the others stay pending, claimed once it is quiet: a
//! sustained flood still gets its mail converted, slowly), and the passes that intake's wake-ups cause come at
//! most every `SETTLE`, so that a commit per few milliseconds costs the store one look per
//! `SETTLE`, not one per commit. A single message or a trickle is converted at once, with every
//! worker.
//!
//! With several nodes, every node receiving mail (other nodes' commits come by NOTIFY) shares
//! that one budget: with `k` others receiving within `PEERS_WITHIN`, a node's spacing is
//! `(k + 1) × BUSY_SPACING`, so that the cluster converts about as much during a flood as one
//! node does, whatever its size. Plenty still: one conversion per `BUSY_SPACING` is 120 faxes a
//! minute, more than the lines of a site dial, and every worker resumes once the flood ends.
//! Pure: the caller gives the counts and `now`.

use std::time::Duration;

/// While intake is busy, a pass woken by it waits this long first (the wake-ups meanwhile
/// coalesce into that one pass).
pub const SETTLE: Duration = Duration::from_millis(100);
/// The window over which arrivals are counted, in milliseconds.
const WINDOW_MS: i64 = 1000;
/// Jobs within one window that make intake busy (20 a second: a burst, not a user's mail).
const BUSY_JOBS: u64 = 20;
/// How long intake stays busy after the last busy window, in milliseconds.
const HOLD_MS: i64 = 2000;
/// While intake is busy, a conversion starts at most this often, in milliseconds, one at a time:
/// still progress, never a stall, at a small part of the machine (a text mail's conversion takes
/// some 80 ms of CPU).
const BUSY_SPACING_MS: i64 = 500;
/// Other nodes that committed jobs within this long share the budget while busy.
pub const PEERS_WITHIN: Duration = Duration::from_millis((WINDOW_MS + HOLD_MS) as u64);

#[derive(Debug, Default)]
pub struct Pace {
    /// When the current window began, and the count then.
    window: Option<(i64, u64)>,
    /// Intake is busy until then (milliseconds since the epoch).
    busy_until: i64,
    /// When the last conversion started.
    last_start: Option<i64>,
    /// Other nodes receiving mail, at the last observation.
    peers: usize,
}

impl Pace {
    /// Records that the intake had committed `total` jobs at `now_ms` (other nodes' included),
    /// `peers` other nodes among those committing them lately.
    pub fn observe(&mut self, total: u64, peers: usize, now_ms: i64) {
        self.peers = peers;
        let Some((start, count)) = self.window else {
            self.window = Some((now_ms, total));
            return;
        };
        if total.saturating_sub(count) >= BUSY_JOBS {
            self.busy_until = now_ms + HOLD_MS;
            self.window = Some((now_ms, total));
        } else if now_ms - start >= WINDOW_MS {
            self.window = Some((now_ms, total));
        }
    }

    /// Whether mail is arriving fast enough that intake goes first.
    pub fn busy(&self, now_ms: i64) -> bool {
        now_ms < self.busy_until
    }

    /// How many more conversions may start now, with `running` of `workers` running.
    pub fn conversions(&self, now_ms: i64, workers: usize, running: usize) -> usize {
        if !self.busy(now_ms) {
            return workers.saturating_sub(running);
        }
        let spacing = BUSY_SPACING_MS.saturating_mul(self.peers as i64 + 1);
        let spaced = self.last_start.is_none_or(|at| now_ms - at >= spacing);
        usize::from(running == 0 && spaced)
    }

    /// Records that a conversion started at `now_ms`.
    pub fn started(&mut self, now_ms: i64) {
        self.last_start = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the case is, its (ms, total committed) samples, then whether busy at the last one
    /// and the conversions allowed with 4 workers, none running.
    type Case = (&'static str, &'static [(i64, u64)], bool, usize);

    #[test]
    fn a_burst_makes_intake_busy_and_a_trickle_does_not() {
        let cases: &[Case] = &[
            ("nothing yet", &[(0, 0)], false, 4),
            ("one mail", &[(0, 0), (10, 1)], false, 4),
            ("19 in a window", &[(0, 0), (900, 19)], false, 4),
            ("20 in a window", &[(0, 0), (900, 20)], true, 1),
            ("20 in a window, read late", &[(0, 0), (1500, 20)], true, 1),
            (
                "a trickle: 10 a second for 5 s",
                &[
                    (0, 0),
                    (1000, 10),
                    (2000, 20),
                    (3000, 30),
                    (4000, 40),
                    (5000, 50),
                ],
                false,
                4,
            ),
            (
                "a burst, then quiet past HOLD",
                &[(0, 0), (100, 500), (2200, 500)],
                false,
                4,
            ),
            (
                "a burst, quiet within HOLD",
                &[(0, 0), (100, 500), (2000, 500)],
                true,
                1,
            ),
            (
                "a stream keeps it busy",
                &[(0, 0), (500, 300), (1500, 900), (2500, 1500), (3500, 2100)],
                true,
                1,
            ),
        ];
        for (what, samples, busy, allowed) in cases {
            let mut pace = Pace::default();
            for (at, total) in samples.iter() {
                pace.observe(*total, 0, *at);
            }
            let now = samples.last().unwrap().0;
            assert_eq!(pace.busy(now), *busy, "{what}");
            assert_eq!(pace.conversions(now, 4, 0), *allowed, "{what}");
        }
    }

    #[test]
    fn running_conversions_count_against_what_may_start() {
        let mut pace = Pace::default();
        pace.observe(0, 0, 0);
        assert_eq!(pace.conversions(0, 4, 3), 1);
        assert_eq!(pace.conversions(0, 4, 4), 0);
        pace.observe(100, 0, 50);
        assert_eq!(pace.conversions(50, 4, 0), 1);
        assert_eq!(pace.conversions(50, 4, 1), 0, "the one allowed is running");
        assert_eq!(
            pace.conversions(50, 4, 3),
            0,
            "more running than allowed: none starts"
        );
        assert_eq!(pace.conversions(50, 1, 0), 1);
    }

    #[test]
    fn while_busy_conversions_start_spaced_and_at_full_speed_after() {
        let mut pace = Pace::default();
        pace.observe(0, 0, 0);
        pace.observe(100, 0, 100);
        pace.started(100);
        assert_eq!(pace.conversions(200, 4, 0), 0, "too soon after the last");
        assert_eq!(pace.conversions(599, 4, 0), 0);
        assert_eq!(pace.conversions(600, 4, 0), 1);
        assert_eq!(pace.conversions(600, 4, 1), 0, "one at a time");
        pace.started(600);
        assert_eq!(pace.conversions(1000, 4, 0), 0);
        // quiet for HOLD after the burst: every worker, at once
        assert_eq!(pace.conversions(2100, 4, 0), 4);
        assert_eq!(pace.conversions(2100, 4, 1), 3);
    }

    #[test]
    fn nodes_receiving_mail_share_one_budget() {
        // (other nodes receiving, ms after a conversion started when the next may, one node)
        let cases: &[(usize, i64)] = &[(0, 500), (1, 1000), (2, 1500)];
        for (peers, next) in cases {
            let mut pace = Pace::default();
            pace.observe(0, *peers, 0);
            pace.observe(100, *peers, 100);
            pace.started(100);
            assert_eq!(
                pace.conversions(99 + next, 4, 0),
                0,
                "{peers} peers: too soon"
            );
            assert_eq!(
                pace.conversions(100 + next, 4, 0),
                1,
                "{peers} peers: spaced"
            );
        }
        // the flood over, every worker whatever the peers
        let mut pace = Pace::default();
        pace.observe(0, 2, 0);
        pace.observe(100, 2, 100);
        pace.observe(100, 2, 2200);
        assert_eq!(pace.conversions(2200, 4, 0), 4);
    }
}
