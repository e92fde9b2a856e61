//! Job identity and the envelope a job keeps for its receipts.
//!
//! A `JobId` is 16 characters of Crockford base32: 10 for the arrival time in milliseconds (so
//! ids sort by arrival, like Postfix's long queue ids) and 6 random. RFC 3461 parameters (`RET`,
//! `ENVID`, `NOTIFY`, `ORCPT`) are kept as received; receipts (a later issue) need them.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS: usize = 10;
const RANDOM_CHARS: usize = 6;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    pub fn generate(now_ms: i64) -> JobId {
        let mut out = String::with_capacity(TIME_CHARS + RANDOM_CHARS);
        let t = now_ms.max(0) as u64;
        for i in (0..TIME_CHARS).rev() {
            out.push(CROCKFORD[((t >> (5 * i)) & 31) as usize] as char);
        }
        let mut rng = rand::thread_rng();
        for _ in 0..RANDOM_CHARS {
            out.push(CROCKFORD[rng.gen_range(0..32)] as char);
        }
        JobId(out)
    }

    /// Accepts what a user typed (case-insensitive) if it has the shape of a job id.
    pub fn parse(s: &str) -> Option<JobId> {
        let up = s.trim().to_ascii_uppercase();
        (up.len() == TIME_CHARS + RANDOM_CHARS && up.bytes().all(|b| CROCKFORD.contains(&b)))
            .then_some(JobId(up))
    }

    /// Wraps an id read back from the store.
    pub fn from_stored(s: String) -> JobId {
        JobId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Smtp,
    Cli,
    /// An Exchange Foreign connector's Drop directory.
    Exchange,
    /// The GroupWise API gateway's `API_OUT`.
    GroupWise,
    /// A mail file read over IMAP (Domino's gateway mail file).
    Imap,
    /// A scan-to-folder hot folder.
    HotFolder,
    /// The HTTP API (`POST /v1/faxes`).
    Api,
}

impl Origin {
    const ALL: [Origin; 7] = [
        Origin::Smtp,
        Origin::Cli,
        Origin::Exchange,
        Origin::GroupWise,
        Origin::Imap,
        Origin::HotFolder,
        Origin::Api,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Smtp => "smtp",
            Origin::Cli => "cli",
            Origin::Exchange => "exchange",
            Origin::GroupWise => "groupwise",
            Origin::Imap => "imap",
            Origin::HotFolder => "hotfolder",
            Origin::Api => "api",
        }
    }
    pub fn parse(s: &str) -> Option<Origin> {
        Origin::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// How receipts on a job from here go back: through the agent the mail came from.
    pub fn route(self) -> Route {
        match self {
            Origin::Exchange => Route::Exchange,
            Origin::GroupWise => Route::GroupWise,
            // IMAP cannot submit mail: Domino takes its receipts over SMTP; a hot folder's
            // receipts are mailed to the scan's owner, the API's to the token's sender.
            Origin::Smtp | Origin::Cli | Origin::Imap | Origin::HotFolder | Origin::Api => {
                Route::Relay
            }
        }
    }
}

/// How a mail faxhub sends leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// The SMTP relay (or the Maildir when none is configured).
    #[default]
    Relay,
    /// Exchange's Replay directory.
    Exchange,
    /// GroupWise's `API_IN`.
    GroupWise,
}

impl Route {
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Relay => "relay",
            Route::Exchange => "exchange",
            Route::GroupWise => "groupwise",
        }
    }
    pub fn parse(s: &str) -> Option<Route> {
        [Route::Relay, Route::Exchange, Route::GroupWise]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// RFC 3461 `RET`: how much of the original a receipt returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Ret {
    Full,
    Hdrs,
}

impl Ret {
    pub fn parse(s: &str) -> Option<Ret> {
        match s.to_ascii_uppercase().as_str() {
            "FULL" => Some(Ret::Full),
            "HDRS" => Some(Ret::Hdrs),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }
}

/// RFC 3461 `NOTIFY`: `NEVER`, or any of `SUCCESS`, `FAILURE`, `DELAY`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notify {
    pub never: bool,
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    /// Parses the parameter value; `None` if it is not valid RFC 3461.
    pub fn parse(s: &str) -> Option<Notify> {
        let mut n = Notify::default();
        for word in s.split(',') {
            match word.trim().to_ascii_uppercase().as_str() {
                "NEVER" => n.never = true,
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => return None,
            }
        }
        let valid = !(n.never && (n.success || n.failure || n.delay));
        valid.then_some(n)
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.never {
            return f.write_str("NEVER");
        }
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .into_iter()
        .filter_map(|(on, w)| on.then_some(w))
        .collect();
        f.write_str(&words.join(","))
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-27T09:05:21.042Z`.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_sort_by_time_and_parse_back() {
        let a = JobId::generate(1_700_000_000_000);
        let b = JobId::generate(1_700_000_000_001);
        assert!(a < b);
        assert_eq!(a.as_str().len(), 16);
        assert_eq!(JobId::parse(&a.as_str().to_lowercase()), Some(a.clone()));
        assert_eq!(JobId::parse("short"), None);
        assert_eq!(JobId::parse("IIIIIIIIIIIIIIII"), None); // I is not Crockford
    }

    #[test]
    fn notify_values() {
        assert_eq!(
            Notify::parse("SUCCESS,FAILURE").map(|n| n.to_string()),
            Some("SUCCESS,FAILURE".into())
        );
        assert_eq!(
            Notify::parse("never").map(|n| n.to_string()),
            Some("NEVER".into())
        );
        assert_eq!(Notify::parse("NEVER,SUCCESS"), None);
        assert_eq!(Notify::parse("SOMETIMES"), None);
        assert_eq!(Ret::parse("hdrs"), Some(Ret::Hdrs));
    }
}
