//! faxhub's line side: where a page set goes to be sent.
//!
//! A `Line` takes a `SendRequest` (a number, the dial string, the TIFF-F page set) and returns a
//! `LineOutcome` with one RFC 3463 code, the failure class for the retry policy, the reason in
//! words, and the pages the far end confirmed. A line never decides retries and never touches the
//! job store: the scheduler does both. Backends: `sip` (a call over a SIP trunk, T.38 or G.711,
//! through the user agent), `loopback` (a call to faxhub's own SIP listener: real faxes with no
//! carrier), `file` (writes each transmission to the outbox) and `test` (`file` plus scripted
//! outcomes per number, for retry tests).

mod file;
pub mod inbox;
pub mod sip;
pub mod state;
mod test_line;

pub use faxhub_queue::progress::{CallProgress, FaxTransport, Stage};
pub use file::FileLine;
pub use test_line::{ScriptEntry, ScriptOutcome, TestLine};

use faxhub_queue::FaxNumber;
use faxhub_queue::retry::FailureClass;
use faxhub_queue::status::EnhancedStatus;
use serde::{Deserialize, Serialize};
use sip::agent::Agent;
use sip::line::SipLine;
use std::path::PathBuf;
use std::sync::Arc;

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
    /// `sip` lines: the trunk (`[lines.sip]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sip: Option<sip::config::TrunkConfig>,
    /// `sip` and `loopback` lines: how faxes are sent (`[lines.fax]`).
    #[serde(default)]
    pub fax: sip::config::FaxOptions,
    /// The hours the line may call, local time ("08:00-20:00"; over midnight "20:00-06:00");
    /// any hour when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hours: Option<String>,
}

impl LineConfig {
    /// A line of `kind` with every option at its default.
    pub fn new(name: &str, kind: LineKind) -> LineConfig {
        LineConfig {
            name: name.into(),
            kind,
            channels: default_channels(),
            script: Vec::new(),
            call_duration: None,
            sip: None,
            fax: sip::config::FaxOptions::default(),
            hours: None,
        }
    }

    /// Whether this line calls through the SIP user agent.
    pub fn uses_sip(&self) -> bool {
        matches!(self.kind, LineKind::Sip | LineKind::Loopback)
    }

    /// What can be checked before start-up.
    pub fn validate(&self) -> Result<(), LineError> {
        let bad = |why: String| LineError::Config {
            line: self.name.clone(),
            why,
        };
        if self.kind != LineKind::Test && (!self.script.is_empty() || self.call_duration.is_some())
        {
            return Err(bad("script and call_duration are for test lines".into()));
        }
        match (self.kind, &self.sip) {
            (LineKind::Sip, None) => return Err(bad("a sip line needs [lines.sip] proxy".into())),
            (LineKind::Sip, Some(trunk)) => trunk.validate("lines.sip").map_err(bad)?,
            (_, Some(_)) => return Err(bad("[lines.sip] is for sip lines".into())),
            (LineKind::Test, None) => {
                // its script is checked by making the line
                TestLine::new(FileLine::new(self.name.clone(), PathBuf::new()), self)?;
            }
            _ => {}
        }
        self.fax.validate("lines.fax").map_err(bad)
    }
}

fn default_channels() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    File,
    Test,
    Sip,
    Loopback,
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
    /// Where the call's progress goes, if anyone follows it.
    pub progress: Option<ProgressSender>,
    /// The sender's own fax ident (TSI) and page header line (`[[senders]]`), instead of the
    /// line's.
    pub ident: Option<String>,
    pub header: Option<String>,
    /// Where calls to this number start, from what worked and failed before (destination
    /// memory): it only restricts the line's own options.
    pub profile: Option<faxhub_queue::memory::Profile>,
}

/// Where a line publishes a call's progress.
pub type ProgressSender = Arc<tokio::sync::watch::Sender<CallProgress>>;

/// What happened on the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineOutcome {
    pub status: EnhancedStatus,
    pub class: FailureClass,
    pub reason: String,
    /// Pages the receiver confirmed; never more than were really sent.
    pub pages_sent: u32,
    /// A failure a step down may cure (training, page errors), for destination memory.
    pub trouble: Option<faxhub_queue::memory::Trouble>,
}

impl LineOutcome {
    pub fn sent(pages: u32, reason: String) -> LineOutcome {
        LineOutcome {
            status: EnhancedStatus::OK,
            class: FailureClass::Try,
            reason,
            pages_sent: pages,
            trouble: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line {line}: {why}")]
    Config { line: String, why: String },
}

/// A configured line: its backend, and what it is doing now (`state`).
pub struct Line {
    backend: Backend,
    state: Arc<state::LineState>,
}

enum Backend {
    File(FileLine),
    Test(TestLine),
    Sip(SipLine),
}

impl Line {
    /// The line `config` describes; `sip` and `loopback` lines call through `agent`.
    pub fn new(
        config: &LineConfig,
        outbox: PathBuf,
        agent: Option<&Arc<Agent>>,
    ) -> Result<Line, LineError> {
        config.validate()?;
        let state = Arc::new(state::LineState::new(
            &config.name,
            config.kind,
            config.channels,
        ));
        let file = FileLine::new(config.name.clone(), outbox);
        let backend = match config.kind {
            LineKind::File => Backend::File(file),
            LineKind::Test => Backend::Test(TestLine::new(file, config)?),
            LineKind::Sip | LineKind::Loopback => {
                let agent = agent.ok_or_else(|| LineError::Config {
                    line: config.name.clone(),
                    why: "the SIP user agent is not running".into(),
                })?;
                if let Some(trunk) = &config.sip {
                    agent.keep_trunk(state.clone(), trunk.clone());
                }
                Backend::Sip(SipLine::new(
                    config.name.clone(),
                    agent.clone(),
                    config.sip.clone(),
                    config.fax.clone(),
                ))
            }
        };
        Ok(Line { backend, state })
    }

    /// What the line is doing now.
    pub fn state(&self) -> &Arc<state::LineState> {
        &self.state
    }

    pub fn name(&self) -> &str {
        match &self.backend {
            Backend::File(l) => l.name(),
            Backend::Test(l) => l.name(),
            Backend::Sip(l) => l.name(),
        }
    }

    pub async fn send(&self, request: &SendRequest) -> LineOutcome {
        let _occupied = self.state.occupy();
        match &self.backend {
            Backend::File(l) => l.send(request).await,
            Backend::Test(l) => l.send(request).await,
            Backend::Sip(l) => l.send(request).await,
        }
    }
}
