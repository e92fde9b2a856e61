//! Copies of senders' usage for SMTP's RCPT (`Store::sender_usage_cached`): a copy is used for
//! at most `FRESH`, and what this process changes of the sender's usage (a job committed, a
//! call started) is counted into it at once, so a sender's next message on this node sees its
//! last one.
//!
//! RCPT only refuses early: the committer and the scheduler read the store itself and decide.
//! A copy at most `FRESH` old can only move a refusal from RCPT to the receipt (what another
//! node did meanwhile), never let a number or a call past a limit. Without the copies every RCPT
//! cost the store one query, the most frequent statement of the intake.
//!
//! Senders are whatever MAIL FROM says: the map holds at most `MAX_SENDERS`, stale ones dropped
//! first, and a sender that finds it full is read from the store each time.

use crate::limits::Usage;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// How long a copy is used before the store is read again.
pub const FRESH: Duration = Duration::from_secs(1);
/// Senders kept at most.
const MAX_SENDERS: usize = 4096;

#[derive(Default)]
pub struct UsageCache {
    entries: Mutex<HashMap<String, (Usage, Instant)>>,
    /// Changes so far: a read that began before one is not kept (it may predate it).
    changes: AtomicU64,
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

    /// What to give `put` with a read about to begin.
    pub fn generation(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Keeps `usage`, read from the store from `read_at`, for `sender`, unless a change was
    /// noted since `generation` (read before the read began).
    pub fn put(&self, sender: &str, usage: Usage, read_at: Instant, generation: u64) {
        let mut entries = self.entries.lock().expect("usage cache lock");
        if self.changes.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= MAX_SENDERS && !entries.contains_key(sender) {
            entries.retain(|_, (_, at)| at.elapsed() < FRESH);
            if entries.len() >= MAX_SENDERS {
                return;
            }
        }
        entries.insert(sender.to_string(), (usage, read_at));
    }

    /// Counts a change this process made to `sender`'s usage into its copy, if one is held (so
    /// that the copy stays what the store would say); a read begun before is not kept.
    pub fn update(&self, sender: &str, change: impl FnOnce(&mut Usage)) {
        let mut entries = self.entries.lock().expect("usage cache lock");
        self.changes.fetch_add(1, Ordering::SeqCst);
        if let Some((usage, _)) = entries.get_mut(sender) {
            change(usage);
        }
    }

    /// Forgets `sender`, and any read begun before.
    #[cfg(test)]
    pub fn forget(&self, sender: &str) {
        let mut entries = self.entries.lock().expect("usage cache lock");
        self.changes.fetch_add(1, Ordering::SeqCst);
        entries.remove(sender);
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
        cache.put("a@example.com", used(&["+331"]), Instant::now(), 0);
        assert_eq!(cache.get("a@example.com"), Some(used(&["+331"])));
        tokio::time::advance(FRESH).await;
        assert_eq!(cache.get("a@example.com"), None, "stale after FRESH");
        cache.put("a@example.com", used(&["+332"]), Instant::now(), 0);
        cache.forget("a@example.com");
        assert_eq!(cache.get("a@example.com"), None, "forgotten");
        // a read that began before a change is not kept
        let before = cache.generation();
        cache.forget("b@example.com");
        cache.put("a@example.com", used(&["+333"]), Instant::now(), before);
        assert_eq!(cache.get("a@example.com"), None, "read before a change");
        cache.put(
            "a@example.com",
            used(&["+333"]),
            Instant::now(),
            cache.generation(),
        );
        assert!(cache.get("a@example.com").is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn what_this_process_changes_is_counted_into_a_copy_held() {
        let cache = UsageCache::default();
        cache.update("a@example.com", |u| u.calls += 1);
        assert_eq!(cache.get("a@example.com"), None, "no copy: nothing made up");
        cache.put(
            "a@example.com",
            used(&["+331"]),
            Instant::now(),
            cache.generation(),
        );
        cache.update("a@example.com", |u| {
            u.numbers.insert("+332".into());
        });
        assert_eq!(cache.get("a@example.com"), Some(used(&["+331", "+332"])));
        // a read begun before a change is not kept
        let before = cache.generation();
        cache.update("b@example.com", |u| u.calls += 1);
        cache.put("b@example.com", used(&[]), Instant::now(), before);
        assert_eq!(cache.get("b@example.com"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn senders_from_a_flood_of_mail_from_addresses_are_bounded() {
        let cache = UsageCache::default();
        for i in 0..MAX_SENDERS + 10 {
            cache.put(&format!("s{i}@example.com"), used(&[]), Instant::now(), 0);
        }
        assert_eq!(cache.entries.lock().unwrap().len(), MAX_SENDERS);
        assert_eq!(
            cache.get(&format!("s{}@example.com", MAX_SENDERS + 5)),
            None
        );
        // once the copies are stale, new senders take their places
        tokio::time::advance(FRESH).await;
        cache.put("late@example.com", used(&[]), Instant::now(), 0);
        assert_eq!(cache.entries.lock().unwrap().len(), 1);
        assert!(cache.get("late@example.com").is_some());
    }
}
