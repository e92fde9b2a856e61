//! Log lines a peer can cause, at most once a minute each: a flood of connections, datagrams or
//! failed logins must not become a flood of log lines (nor fill the disk they go to). And the
//! back-off of an accept loop whose `accept` fails (out of descriptors, `EMFILE`: the listening
//! socket stays ready, so a loop that only logs and tries again spins and fills the log).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often one kind of peer-caused line is written, at most.
pub const EVERY: Duration = Duration::from_secs(60);

/// Runs `log` (which writes the line) unless a line of kind `key` was written in the last
/// `EVERY`.
pub fn limited(key: &'static str, log: impl FnOnce()) {
    static LAST: Mutex<Option<HashMap<&'static str, Instant>>> = Mutex::new(None);
    let now = Instant::now();
    let due = {
        let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
        let map = last.get_or_insert_with(HashMap::new);
        let due = map.get(key).is_none_or(|t| now.duration_since(*t) >= EVERY);
        if due {
            map.insert(key, now);
        }
        due
    };
    if due {
        log();
    }
}

/// How long an accept loop waits after failures in a row: 50 ms doubling up to a second, back to
/// nothing after a success.
#[derive(Default)]
pub struct AcceptBackoff(Duration);

impl AcceptBackoff {
    /// Logs the failure (at most once a minute for `key`) and says how long to wait.
    pub fn failed(&mut self, key: &'static str, what: &str, error: &std::io::Error) -> Duration {
        limited(
            key,
            || tracing::warn!(%error, "{what}: accepting a connection failed (logged once a minute); backing off"),
        );
        self.0 = (self.0 * 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
        self.0
    }

    pub fn succeeded(&mut self) {
        self.0 = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_minute_per_kind() {
        let mut written = 0;
        for _ in 0..1000 {
            limited("test-a", || written += 1);
        }
        limited("test-b", || written += 1);
        assert_eq!(written, 2);
    }

    #[test]
    fn accept_backoff_doubles_to_a_second_and_resets() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::from_raw_os_error(24);
        let waits: Vec<u128> = (0..7)
            .map(|_| b.failed("test-accept", "x", &e).as_millis())
            .collect();
        assert_eq!(waits, [50, 100, 200, 400, 800, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed("test-accept", "x", &e).as_millis(), 50);
    }
}
