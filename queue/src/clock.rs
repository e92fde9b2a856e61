//! Where the services read the time: the system's clock, or a clock a test moves by hand (so
//! that a retry due in an hour is due at once, without waiting an hour). Pure logic never reads
//! a clock: it takes `now` from its caller, who reads it here.
//!
//! (tokio's paused clock would do the same for the services' sleeps, but it jumps ahead
//! whenever the runtime waits, also while SQLite answers on its own thread, and the store's
//! pool then times out; a clock of our own moves only when the test says.)

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Clock {
    /// The system's wall clock (milliseconds since the Unix epoch).
    System,
    /// A time a test sets and moves on (`advance`, `advance_to`).
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// A clock at the system's time now, moved on only by hand.
    pub fn manual() -> Clock {
        Clock::Manual(Arc::new(AtomicI64::new(crate::job::now_ms())))
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => crate::job::now_ms(),
            Clock::Manual(at) => at.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock on by `by` (the system's clock cannot be moved).
    pub fn advance(&self, by: Duration) {
        if let Clock::Manual(at) = self {
            at.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
        }
    }

    /// Moves a manual clock on to `ms`, if that is later.
    pub fn advance_to(&self, ms: i64) {
        if let Clock::Manual(at) = self {
            at.fetch_max(ms, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_when_told_and_only_forward() {
        let clock = Clock::manual();
        let before = clock.now_ms();
        clock.advance(Duration::from_secs(3600));
        assert_eq!(clock.now_ms() - before, 3_600_000);
        clock.advance_to(before);
        assert_eq!(clock.now_ms() - before, 3_600_000, "never back");
        Clock::System.advance(Duration::from_secs(1)); // nothing to move
    }
}
