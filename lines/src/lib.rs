//! faxhub's line side: where a page set goes to be sent.
//!
//! A `Line` takes a `SendRequest` (a number, the dial string, the TIFF-F page set) and returns a
//! `LineOutcome` with one RFC 3463 code, the failure class for the retry policy, the reason in
//! words, and the pages the far end confirmed. A line never decides retries and never touches the
//! job store: the scheduler does both. Backends now: `file` (writes each transmission to the
//! outbox) and `test` (`file` plus scripted outcomes per number, for retry tests). SIP/T.38 comes
//! with its own issue.

mod file;
pub mod sip;
mod test_line;

pub use file::FileLine;
pub use test_line::{ScriptEntry, ScriptOutcome, TestLine};

use faxhub_queue::FaxNumber;
use faxhub_queue::retry::FailureClass;
use faxhub_queue::status::EnhancedStatus;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The `[[lines]]` entries of the configuration.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: String,
    pub kind: LineKind,
    #[serde(default = "default_channels")]
    pub channels: u32,
    /// `test` lines only: scripted outcomes by number pattern.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script: Vec<ScriptEntry>,
    /// `test` lines only: how long a call lasts (e.g. "2s"), to make calls overlap in tests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_duration: Option<String>,
}

fn default_channels() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    File,
    Test,
}

/// One transmission to make.
#[derive(Clone, Debug)]
pub struct SendRequest {
    pub job_id: String,
    pub number: FaxNumber,
    pub dial_string: String,
    pub tiff: PathBuf,
    pub pages: u32,
    /// 1 for the first attempt to this recipient.
    pub attempt: u32,
}

/// What happened on the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineOutcome {
    pub status: EnhancedStatus,
    pub class: FailureClass,
    pub reason: String,
    /// Pages the receiver confirmed; never more than were really sent.
    pub pages_sent: u32,
}

impl LineOutcome {
    pub fn sent(pages: u32, reason: String) -> LineOutcome {
        LineOutcome {
            status: EnhancedStatus::OK,
            class: FailureClass::Try,
            reason,
            pages_sent: pages,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line {line}: {why}")]
    Config { line: String, why: String },
}

/// A configured line.
pub enum Line {
    File(FileLine),
    Test(TestLine),
}

impl Line {
    pub fn new(config: &LineConfig, outbox: PathBuf) -> Result<Line, LineError> {
        let file = FileLine::new(config.name.clone(), outbox);
        match config.kind {
            LineKind::File if !config.script.is_empty() || config.call_duration.is_some() => {
                Err(LineError::Config {
                    line: config.name.clone(),
                    why: "script and call_duration are for test lines".into(),
                })
            }
            LineKind::File => Ok(Line::File(file)),
            LineKind::Test => Ok(Line::Test(TestLine::new(file, config)?)),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Line::File(l) => l.name(),
            Line::Test(l) => l.name(),
        }
    }

    pub async fn send(&self, request: &SendRequest) -> LineOutcome {
        match self {
            Line::File(l) => l.send(request).await,
            Line::Test(l) => l.send(request).await,
        }
    }
}
