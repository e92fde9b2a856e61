//! What each sender used, as SMTP's RCPT sees it: read from the store at most once per `FRESH`
//! per sender, and brought up to date by the committer after each commit (before its callers
//! are answered, so that a sender's next message on this node sees its last one).
//!
//! RCPT only refuses early: the committer reads the store itself for every batch and is the one
//! that decides. A copy at most `FRESH` old can only move a refusal from RCPT to the receipt
//! (what another node or a call did meanwhile), never let a number past a limit. Without the
//! cache every RCPT cost the store one query, the most frequent statement of the intake.
//!
//! Senders are whatever MAIL FROM says: the map holds at most `MAX_SENDERS`, stale ones dropped
//! first, and a sender that finds it full is read from the store each time.

use crate::limits::Usage;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How long a copy is used before the store is read again.
pub const FRESH: Duration = Duration::from_secs(1);
/// Senders kept at most.
const MAX_SENDERS: usize = 4096;

#[derive(Default)]
pub struct UsageCache {
    entries: Mutex<HashMap<String, (Usage, Instant)>>,
}

impl UsageCache {
    /// `sender`'s usage if a copy read within `FRESH` is held.
    pub fn get(&self, sender: &str) -> Option<Usage> {
        let entries = self.entries.lock().expect("usage cache lock");
        entries
            .get(sender)
            .filter(|(_, read_at)| read_at.elapsed() < FRESH)
            .map(|(usage, _)| usage.clone())
    }

    /// Keeps `usage`, read from the store at `read_at` (and counted on since), for `sender`.
    pub fn put(&self, sender: &str, usage: Usage, read_at: Instant) {
        let mut entries = self.entries.lock().expect("usage cache lock");
        if entries.len() >= MAX_SENDERS && !entries.contains_key(sender) {
            entries.retain(|_, (_, at)| at.elapsed() < FRESH);
            if entries.len() >= MAX_SENDERS {
                return;
            }
        }
        entries.insert(sender.to_string(), (usage, read_at));
    }

    /// Forgets `sender` (its batch failed: the copy counted jobs that were not committed).
    pub fn forget(&self, sender: &str) {
        self.entries
            .lock()
            .expect("usage cache lock")
            .remove(sender);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(numbers: &[&str]) -> Usage {
        Usage {
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            ..Usage::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_copy_is_used_while_fresh_then_read_again() {
        let cache = UsageCache::default();
        assert_eq!(cache.get("a@example.com"), None);
        cache.put("a@example.com", used(&["+331"]), Instant::now());
        assert_eq!(cache.get("a@example.com"), Some(used(&["+331"])));
        tokio::time::advance(FRESH).await;
        assert_eq!(cache.get("a@example.com"), None, "stale after FRESH");
        cache.put("a@example.com", used(&["+332"]), Instant::now());
        cache.forget("a@example.com");
        assert_eq!(cache.get("a@example.com"), None, "forgotten");
    }

    #[tokio::test(start_paused = true)]
    async fn senders_from_a_flood_of_mail_from_addresses_are_bounded() {
        let cache = UsageCache::default();
        for i in 0..MAX_SENDERS + 10 {
            cache.put(&format!("s{i}@example.com"), used(&[]), Instant::now());
        }
        assert_eq!(cache.entries.lock().unwrap().len(), MAX_SENDERS);
        assert_eq!(
            cache.get(&format!("s{}@example.com", MAX_SENDERS + 5)),
            None
        );
        // once the copies are stale, new senders take their places
        tokio::time::advance(FRESH).await;
        cache.put("late@example.com", used(&[]), Instant::now());
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
        assert!(cache.get("late@example.com").is_some());
    }
}
