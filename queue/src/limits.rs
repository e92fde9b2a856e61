//! Per-sender limits (`[limits]`): how many fax numbers, pages and calls one envelope sender may
//! use in a day, and when its new destinations count as a spike.
//!
//! A stolen mailbox or scanner login faxing premium numbers abroad, or the whole phone book, is
//! toll fraud the dial plan alone cannot see: each number may be allowed, but not thousands a
//! day. Intake refuses a number past `numbers_per_day`, and any new mail once the sender's pages
//! or calls of the last 24 hours reached their limit (`550 5.7.1` at SMTP, a failure report
//! naming the limit elsewhere); the scheduler fails a call that would pass `calls_per_day` or
//! `pages_per_day`. A sender faxing more than `new_numbers_per_hour` numbers it never faxed
//! before is logged as a warning and counted. 0 turns a limit off. Pure: the store measures the
//! usage, this module judges it.

use crate::status::EnhancedStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::time::Duration;

/// The window of the daily limits.
pub const DAY: Duration = Duration::from_secs(24 * 3600);
/// The window of the spike warning.
pub const HOUR: Duration = Duration::from_secs(3600);

pub const DEFAULT_NUMBERS_PER_DAY: u32 = 500;
pub const DEFAULT_PAGES_PER_DAY: u32 = 5000;
pub const DEFAULT_CALLS_PER_DAY: u32 = 1000;
pub const DEFAULT_NEW_NUMBERS_PER_HOUR: u32 = 50;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct SenderLimits {
    /// Different fax numbers one sender may fax in 24 hours.
    pub numbers_per_day: u32,
    /// Pages one sender's calls may send in 24 hours (a page sent again counts again).
    pub pages_per_day: u32,
    /// Calls placed for one sender in 24 hours (retries count).
    pub calls_per_day: u32,
    /// Numbers a sender never faxed before, in one hour, above which a warning is logged.
    pub new_numbers_per_hour: u32,
}

impl Default for SenderLimits {
    fn default() -> Self {
        SenderLimits {
            numbers_per_day: DEFAULT_NUMBERS_PER_DAY,
            pages_per_day: DEFAULT_PAGES_PER_DAY,
            calls_per_day: DEFAULT_CALLS_PER_DAY,
            new_numbers_per_hour: DEFAULT_NEW_NUMBERS_PER_HOUR,
        }
    }
}

/// What one sender used in the last 24 hours.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The numbers of its jobs (E.164), refused ones left out.
    pub numbers: BTreeSet<String>,
    /// Pages of the calls placed.
    pub pages: i64,
    /// Calls placed.
    pub calls: i64,
}

/// The limit a sender reached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitReached {
    #[error("the daily limit of {limit} fax numbers for <{sender}> is reached")]
    Numbers { limit: u32, sender: String },
    #[error("the daily limit of {limit} pages for <{sender}> is reached")]
    Pages { limit: u32, sender: String },
    #[error("the daily limit of {limit} calls for <{sender}> is reached")]
    Calls { limit: u32, sender: String },
}

impl LimitReached {
    /// Every limit is a policy refusal: 5.7.1 (delivery not authorized).
    pub fn status(&self) -> EnhancedStatus {
        EnhancedStatus::new(5, 7, 1)
    }
}

fn over(limit: u32, used: i64) -> bool {
    limit != 0 && used >= i64::from(limit)
}

impl SenderLimits {
    /// Whether `sender` may submit anything new: its pages and calls are under their limits.
    pub fn admit(&self, sender: &str, usage: &Usage) -> Result<(), LimitReached> {
        if over(self.calls_per_day, usage.calls) {
            return Err(LimitReached::Calls {
                limit: self.calls_per_day,
                sender: sender.into(),
            });
        }
        if over(self.pages_per_day, usage.pages) {
            return Err(LimitReached::Pages {
                limit: self.pages_per_day,
                sender: sender.into(),
            });
        }
        Ok(())
    }

    /// Whether `sender` may fax `number` too (one it faxed already today always passes).
    pub fn admit_number(
        &self,
        sender: &str,
        usage: &Usage,
        number: &str,
    ) -> Result<(), LimitReached> {
        if usage.numbers.contains(number) || !over(self.numbers_per_day, usage.numbers.len() as i64)
        {
            return Ok(());
        }
        Err(LimitReached::Numbers {
            limit: self.numbers_per_day,
            sender: sender.into(),
        })
    }

    /// Whether a call sending `pages` pages may be placed for `sender` now.
    pub fn admit_call(&self, sender: &str, usage: &Usage, pages: i64) -> Result<(), LimitReached> {
        if over(self.calls_per_day, usage.calls) {
            return Err(LimitReached::Calls {
                limit: self.calls_per_day,
                sender: sender.into(),
            });
        }
        if self.pages_per_day != 0 && usage.pages + pages > i64::from(self.pages_per_day) {
            return Err(LimitReached::Pages {
                limit: self.pages_per_day,
                sender: sender.into(),
            });
        }
        Ok(())
    }

    /// Whether going from `before` to `after` new numbers in the last hour crosses the spike
    /// threshold (so that one spike is warned about once, not at every later mail).
    pub fn spike(&self, before: u64, after: u64) -> bool {
        let threshold = u64::from(self.new_numbers_per_hour);
        threshold != 0 && before <= threshold && after > threshold
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(numbers: &[&str], pages: i64, calls: i64) -> Usage {
        Usage {
            numbers: numbers.iter().map(|n| n.to_string()).collect(),
            pages,
            calls,
        }
    }

    #[test]
    fn each_limit_at_its_edge() {
        let l = SenderLimits {
            numbers_per_day: 2,
            pages_per_day: 10,
            calls_per_day: 3,
            new_numbers_per_hour: 5,
        };
        let s = "alice@example.com";
        let two = usage(&["+331", "+332"], 9, 2);
        assert_eq!(l.admit(s, &two), Ok(()));
        assert_eq!(l.admit_number(s, &two, "+331"), Ok(()), "one faxed today");
        let third = l.admit_number(s, &two, "+333").unwrap_err();
        assert_eq!(
            third.to_string(),
            "the daily limit of 2 fax numbers for <alice@example.com> is reached"
        );
        assert_eq!(third.status().to_string(), "5.7.1");
        assert_eq!(l.admit_number(s, &usage(&["+331"], 0, 0), "+333"), Ok(()));
        assert_eq!(l.admit_call(s, &two, 1), Ok(()));
        assert!(matches!(
            l.admit_call(s, &two, 2),
            Err(LimitReached::Pages { limit: 10, .. })
        ));
        assert!(matches!(
            l.admit_call(s, &usage(&[], 0, 3), 1),
            Err(LimitReached::Calls { .. })
        ));
        assert!(matches!(
            l.admit(s, &usage(&[], 10, 0)),
            Err(LimitReached::Pages { .. })
        ));
        assert!(matches!(
            l.admit(s, &usage(&[], 0, 3)),
            Err(LimitReached::Calls { .. })
        ));
        // a spike is crossed once
        assert!(!l.spike(0, 5));
        assert!(l.spike(5, 6));
        assert!(l.spike(0, 40));
        assert!(!l.spike(6, 7));
    }

    #[test]
    fn zero_turns_a_limit_off() {
        let off = SenderLimits {
            numbers_per_day: 0,
            pages_per_day: 0,
            calls_per_day: 0,
            new_numbers_per_hour: 0,
        };
        let heavy = usage(&["+331", "+332", "+333"], 1_000_000, 1_000_000);
        assert_eq!(off.admit("a@b", &heavy), Ok(()));
        assert_eq!(off.admit_number("a@b", &heavy, "+339"), Ok(()));
        assert_eq!(off.admit_call("a@b", &heavy, 500), Ok(()));
        assert!(!off.spike(0, 1_000));
    }
}
