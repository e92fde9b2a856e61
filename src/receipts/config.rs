//! `[receipts]`: what delivery reports say and when they go, and how faxhub's outgoing mail
//! (reports and received faxes) is retried while the relay (`[relay]`) refuses or is down.

use faxhub_connectors::receipt::Language;
use faxhub_queue::job::Notify;
use faxhub_queue::report::ReportPolicy;
use faxhub_queue::units::serde_duration;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReceiptsConfig {
    pub language: Language,
    /// The reports a recipient gets when the mail came without NOTIFY: any of "success",
    /// "failure", "delay"; or ["never"].
    pub notify: Vec<String>,
    /// How long after arrival a fax not yet sent gets its one delay report (when asked for).
    #[serde(with = "serde_duration")]
    pub delay_after: Duration,
    /// What of the pages a report carries: "pdf", "tiff" or "none".
    pub attach: Attach,
    /// Page 1 as a picture in the HTML part.
    pub thumbnail: bool,
    /// The From: of reports (default `MAILER-DAEMON@<smtp.hostname>`).
    pub from: Option<String>,
    pub from_name: String,
    /// First wait before delivering a mail again after the relay failed; it doubles, up to
    /// `retry_max`.
    #[serde(with = "serde_duration")]
    pub retry_after: Duration,
    #[serde(with = "serde_duration")]
    pub retry_max: Duration,
    /// A mail the relay has not taken after this long fails (logged as an error).
    #[serde(with = "serde_duration")]
    pub give_up_after: Duration,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Attach {
    #[default]
    Pdf,
    Tiff,
    None,
}

impl Default for ReceiptsConfig {
    fn default() -> Self {
        ReceiptsConfig {
            language: Language::En,
            notify: vec!["success".into(), "failure".into()],
            delay_after: Duration::from_secs(3600),
            attach: Attach::Pdf,
            thumbnail: true,
            from: None,
            from_name: "Fax".into(),
            retry_after: Duration::from_secs(60),
            retry_max: Duration::from_secs(30 * 60),
            give_up_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

impl ReceiptsConfig {
    /// The policy the `notify` list and `delay_after` make.
    pub fn policy(&self) -> Result<ReportPolicy, String> {
        let notify = Notify::parse(&self.notify.join(",")).ok_or_else(|| {
            format!(
                "receipts.notify: {:?} is not a list of success, failure, delay (or never alone)",
                self.notify
            )
        })?;
        Ok(ReportPolicy {
            notify,
            delay_after: self.delay_after,
        })
    }

    /// When to try a mail again after `tries` failed deliveries, or `None` once it is too old.
    pub fn next_try(&self, created_at_ms: i64, tries: u32, now_ms: i64) -> Option<i64> {
        if now_ms - created_at_ms >= self.give_up_after.as_millis() as i64 {
            return None;
        }
        let wait = self
            .retry_after
            .saturating_mul(1u32 << tries.min(20))
            .min(self.retry_max);
        Some(now_ms + wait.as_millis() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_list_and_retry_schedule() {
        let c = ReceiptsConfig::default();
        let p = c.policy().unwrap();
        assert!(p.notify.success && p.notify.failure && !p.notify.delay);
        let bad = ReceiptsConfig {
            notify: vec!["never".into(), "success".into()],
            ..c.clone()
        };
        assert!(bad.policy().unwrap_err().contains("receipts.notify"));
        assert_eq!(c.next_try(0, 0, 1_000), Some(61_000));
        assert_eq!(c.next_try(0, 1, 1_000), Some(121_000));
        assert_eq!(c.next_try(0, 30, 1_000), Some(1_000 + 1_800_000));
        assert_eq!(c.next_try(0, 3, 5 * 24 * 3_600_000), None);
    }
}
