//! When a fax goes, as its sender asked: its priority (`X-Fax-Priority: high|normal|low`, or the
//! mail's own `Importance:` / `X-Priority:`), dispatched before the faxes of lower priority;
//! and the time it is held until (`X-Fax-Send-At: 2026-12-01T18:00:00+01:00`, RFC 3339 or a
//! mail date as RFC 5322 writes it), at most `MAX_AHEAD` from now. Pure.

use chrono::DateTime;

/// How far ahead a fax may be held.
pub const MAX_AHEAD_DAYS: i64 = 31;

/// A fax's place in the queue: `High` goes before `Normal`, which goes before `Low`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

impl Priority {
    /// As the store keeps it (ordered: higher first).
    pub fn rank(self) -> i64 {
        match self {
            Priority::Low => -1,
            Priority::Normal => 0,
            Priority::High => 1,
        }
    }

    pub fn from_rank(rank: i64) -> Priority {
        match rank {
            r if r > 0 => Priority::High,
            r if r < 0 => Priority::Low,
            _ => Priority::Normal,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
        }
    }

    /// The priority a mail's headers ask for: `X-Fax-Priority` (`high`, `urgent`, `normal`,
    /// `low`, `bulk`) first, else `Importance` (RFC 2156: `high`, `normal`, `low`), else
    /// `X-Priority` (`1`, `2` high; `4`, `5` low). `header` gives a header's text by name.
    pub fn of_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Priority {
        let word = |name: &str| header(name).map(|v| v.trim().to_ascii_lowercase());
        if let Some(v) = word("X-Fax-Priority") {
            match v.as_str() {
                "high" | "urgent" => return Priority::High,
                "low" | "bulk" => return Priority::Low,
                "normal" => return Priority::Normal,
                _ => {}
            }
        }
        match word("Importance").as_deref() {
            Some("high") => return Priority::High,
            Some("low") => return Priority::Low,
            _ => {}
        }
        match word("X-Priority").and_then(|v| v.chars().next()) {
            Some('1' | '2') => Priority::High,
            Some('4' | '5') => Priority::Low,
            _ => Priority::Normal,
        }
    }
}

/// Why a requested time is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendAtError {
    #[error("X-Fax-Send-At: {0:?} is not a date and time (write 2026-12-01T18:00:00+01:00)")]
    NotATime(String),
    #[error("X-Fax-Send-At: {0} is more than {MAX_AHEAD_DAYS} days ahead")]
    TooFar(String),
}

/// The time (ms) a fax asked to be sent at, given as `text`: `None` for a time already past
/// (it goes now).
pub fn send_at(text: &str, now_ms: i64) -> Result<Option<i64>, SendAtError> {
    let text = text.trim();
    let at = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc2822(text))
        .map_err(|_| SendAtError::NotATime(text.chars().take(80).collect()))?
        .timestamp_millis();
    if at > now_ms.saturating_add(MAX_AHEAD_DAYS * 86_400_000) {
        return Err(SendAtError::TooFar(text.to_string()));
    }
    Ok((at > now_ms).then_some(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_from_any_of_the_headers_people_use() {
        let of = |pairs: &[(&'static str, &'static str)]| {
            let pairs = pairs.to_vec();
            Priority::of_headers(move |name| {
                pairs
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| *v)
            })
        };
        assert_eq!(of(&[]), Priority::Normal);
        assert_eq!(of(&[("X-Fax-Priority", " HIGH ")]), Priority::High);
        assert_eq!(of(&[("X-Fax-Priority", "bulk")]), Priority::Low);
        assert_eq!(of(&[("Importance", "High")]), Priority::High);
        assert_eq!(of(&[("X-Priority", "1 (Highest)")]), Priority::High);
        assert_eq!(of(&[("X-Priority", "5 (Lowest)")]), Priority::Low);
        // the fax's own header wins; nonsense is normal
        assert_eq!(
            of(&[("X-Fax-Priority", "low"), ("Importance", "high")]),
            Priority::Low
        );
        assert_eq!(
            of(&[("X-Fax-Priority", "asap!!"), ("X-Priority", "9")]),
            Priority::Normal
        );
        assert!(Priority::High > Priority::Normal && Priority::Normal > Priority::Low);
        for p in [Priority::Low, Priority::Normal, Priority::High] {
            assert_eq!(Priority::from_rank(p.rank()), p);
        }
    }

    #[test]
    fn send_at_takes_rfc_3339_and_mail_dates_within_a_month() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .timestamp_millis();
        let hour = 3_600_000;
        assert_eq!(
            send_at("2026-12-01T18:00:00+01:00", now),
            Ok(Some(now + 7 * hour))
        );
        assert_eq!(
            send_at("Tue, 1 Dec 2026 12:00:00 +0000", now),
            Ok(Some(now + 2 * hour))
        );
        assert_eq!(send_at("2026-11-30T10:00:00Z", now), Ok(None), "past: now");
        assert!(matches!(
            send_at("tomorrow", now),
            Err(SendAtError::NotATime(_))
        ));
        assert!(matches!(
            send_at("2027-06-01T10:00:00Z", now),
            Err(SendAtError::TooFar(_))
        ));
        assert!(
            matches!(send_at(&"9".repeat(10_000), now), Err(SendAtError::NotATime(t)) if t.len() == 80)
        );
    }
}
