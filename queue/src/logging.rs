//! Log lines a peer can cause, at most once a minute each: a flood of connections, datagrams or
//! failed logins must not become a flood of log lines (nor fill the disk they go to).

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
}
