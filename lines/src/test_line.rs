//! The `test` line: a `file` line with scripted outcomes, for retry and scheduler tests.
//!
//! Each `[[lines.script]]` entry has a number pattern (dial-plan syntax: `+3315500*`) and a list
//! of outcomes taken in order, one per call to a matching number, the last one repeating:
//! `ok`, `busy`, `no-answer`, `dropped`, `rejected`, `unallocated`, or `fail-after-page:N`.
//! Numbers that match no entry are sent like the `file` line does. Call counts are kept in memory
//! (a restart starts the scripts again). `call_duration` makes every call take that long.

use crate::{FileLine, LineConfig, LineError, LineOutcome, SendRequest};
use faxhub_queue::dialplan::pattern_matches;
use faxhub_queue::retry::FailureClass;
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::units::parse_duration;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScriptEntry {
    pub numbers: String,
    pub outcomes: Vec<String>,
}

/// A scripted call result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptOutcome {
    Ok,
    Busy,
    NoAnswer,
    Dropped,
    Rejected,
    Unallocated,
    FailAfterPage(u32),
    /// A far end that refuses T.38 and cannot train above 9600 bit/s: a call allowed more
    /// goes over G.711 and fails in training; one limited to 9600 goes through (what
    /// destination memory should learn).
    G711At9600,
}

/// The one table from scripted outcome to code, class and words.
const OUTCOMES: &[(&str, ScriptOutcome, EnhancedStatus, FailureClass, &str)] = &[
    (
        "busy",
        ScriptOutcome::Busy,
        EnhancedStatus::BUSY,
        FailureClass::Dial,
        "the line was busy",
    ),
    (
        "no-answer",
        ScriptOutcome::NoAnswer,
        EnhancedStatus::BUSY,
        FailureClass::Dial,
        "no answer",
    ),
    (
        "dropped",
        ScriptOutcome::Dropped,
        EnhancedStatus::BAD_CONNECTION,
        FailureClass::Try,
        "the call was dropped",
    ),
    (
        "rejected",
        ScriptOutcome::Rejected,
        EnhancedStatus::NOT_AUTHORIZED,
        FailureClass::Try,
        "the call was rejected",
    ),
    (
        "unallocated",
        ScriptOutcome::Unallocated,
        EnhancedStatus::new(5, 1, 1),
        FailureClass::Try,
        "the number does not exist",
    ),
];

impl ScriptOutcome {
    pub fn parse(s: &str) -> Option<ScriptOutcome> {
        if s == "ok" {
            return Some(ScriptOutcome::Ok);
        }
        if s == "g711-at-9600" {
            return Some(ScriptOutcome::G711At9600);
        }
        if let Some(n) = s.strip_prefix("fail-after-page:") {
            return n.parse().ok().map(ScriptOutcome::FailAfterPage);
        }
        OUTCOMES
            .iter()
            .find(|(name, ..)| *name == s)
            .map(|(_, o, ..)| *o)
    }
}

pub struct TestLine {
    file: FileLine,
    script: Vec<(String, Vec<ScriptOutcome>)>,
    call_duration: Duration,
    calls: Mutex<HashMap<String, usize>>,
}

impl TestLine {
    pub fn new(file: FileLine, config: &LineConfig) -> Result<TestLine, LineError> {
        let bad = |why: String| LineError::Config {
            line: config.name.clone(),
            why,
        };
        let mut script = Vec::new();
        for entry in &config.script {
            let outcomes = entry
                .outcomes
                .iter()
                .map(|o| {
                    ScriptOutcome::parse(o)
                        .ok_or_else(|| bad(format!("unknown scripted outcome {o:?}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if outcomes.is_empty() {
                return Err(bad(format!("script for {} has no outcomes", entry.numbers)));
            }
            script.push((entry.numbers.clone(), outcomes));
        }
        let call_duration = match &config.call_duration {
            Some(d) => parse_duration(d).map_err(|e| bad(e.to_string()))?,
            None => Duration::ZERO,
        };
        Ok(TestLine {
            file,
            script,
            call_duration,
            calls: Mutex::new(HashMap::new()),
        })
    }

    pub fn name(&self) -> &str {
        self.file.name()
    }

    pub async fn send(&self, request: &SendRequest) -> LineOutcome {
        tokio::time::sleep(self.call_duration).await;
        let number = request.number.as_str();
        let Some((_, outcomes)) = self.script.iter().find(|(p, _)| pattern_matches(p, number))
        else {
            return self.file.send(request).await;
        };
        let call = {
            let mut calls = self
                .calls
                .lock()
                .expect("invariant: no panic while holding the lock");
            let n = calls.entry(number.to_string()).or_insert(0);
            *n += 1;
            *n
        };
        let outcome = outcomes[(call - 1).min(outcomes.len() - 1)];
        match outcome {
            ScriptOutcome::Ok => self.file.send(request).await,
            ScriptOutcome::FailAfterPage(n) if n >= request.pages => self.file.send(request).await,
            ScriptOutcome::G711At9600 => {
                let speed = request.profile.and_then(|p| p.max_speed).unwrap_or(14_400);
                if let Some(progress) = &request.progress {
                    progress.send_modify(|p| {
                        p.transport = Some(faxhub_queue::progress::FaxTransport::G711);
                        p.bit_rate = speed.min(9_600);
                    });
                }
                match speed <= 9_600 {
                    true => self.file.send(request).await,
                    false => LineOutcome {
                        status: EnhancedStatus::BAD_CONNECTION,
                        class: FailureClass::Try,
                        reason: "the fax machines could not train (line quality)".into(),
                        pages_sent: 0,
                        trouble: Some(faxhub_queue::memory::Trouble::Training),
                    },
                }
            }
            ScriptOutcome::FailAfterPage(n) => LineOutcome {
                status: EnhancedStatus::BAD_CONNECTION,
                class: FailureClass::Try,
                reason: format!("the call was dropped after page {n} of {}", request.pages),
                pages_sent: n,
                trouble: None,
            },
            other => {
                let (_, _, status, class, reason) = OUTCOMES
                    .iter()
                    .find(|(_, o, ..)| *o == other)
                    .expect("invariant: every other outcome is in the table");
                LineOutcome {
                    status: *status,
                    class: *class,
                    reason: reason.to_string(),
                    pages_sent: 0,
                    trouble: None,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LineKind;
    use faxhub_queue::FaxNumber;

    fn line(script: Vec<ScriptEntry>, outbox: &std::path::Path) -> TestLine {
        let config = LineConfig {
            script,
            ..LineConfig::new("t", LineKind::Test)
        };
        TestLine::new(FileLine::new("t".into(), outbox.to_path_buf()), &config).unwrap()
    }

    #[test]
    fn parses_outcomes() {
        for (s, o) in [
            ("ok", Some(ScriptOutcome::Ok)),
            ("busy", Some(ScriptOutcome::Busy)),
            ("no-answer", Some(ScriptOutcome::NoAnswer)),
            ("fail-after-page:2", Some(ScriptOutcome::FailAfterPage(2))),
            ("fail-after-page:x", None),
            ("explode", None),
        ] {
            assert_eq!(ScriptOutcome::parse(s), o, "{s}");
        }
    }

    #[tokio::test]
    async fn follows_the_script_then_repeats_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let l = line(
            vec![ScriptEntry {
                numbers: "+33155*".into(),
                outcomes: vec!["busy".into(), "fail-after-page:1".into()],
            }],
            dir.path(),
        );
        let request = SendRequest {
            job_id: "J".into(),
            number: FaxNumber::from_e164("+33155000001").unwrap(),
            dial_string: "0155000001".into(),
            tiff: dir.path().join("missing.tif"),
            pages: 3,
            attempt: 1,
            progress: None,
            ident: None,
            header: None,
            profile: None,
        };
        let first = l.send(&request).await;
        assert_eq!(
            (first.status, first.class, first.pages_sent),
            (EnhancedStatus::BUSY, FailureClass::Dial, 0)
        );
        let second = l.send(&request).await;
        assert_eq!(
            (second.status, second.pages_sent),
            (EnhancedStatus::BAD_CONNECTION, 1)
        );
        let third = l.send(&request).await;
        assert_eq!(third.reason, "the call was dropped after page 1 of 3");
        // a number outside the script goes to the file line (which fails here: no page set)
        let other = SendRequest {
            number: FaxNumber::from_e164("+33169293999").unwrap(),
            ..request
        };
        assert_eq!(
            l.send(&other).await.status,
            EnhancedStatus::SYSTEM_TRANSIENT
        );
    }

    #[test]
    fn rejects_bad_scripts() {
        let config = LineConfig {
            script: vec![ScriptEntry {
                numbers: "+33*".into(),
                outcomes: vec!["explode".into()],
            }],
            ..LineConfig::new("t", LineKind::Test)
        };
        let err = TestLine::new(FileLine::new("t".into(), "/nonexistent".into()), &config)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "line t: unknown scripted outcome \"explode\""
        );
    }
}
