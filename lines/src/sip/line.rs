//! The `sip` and `loopback` lines: each transmission is a call through the user agent, to the
//! trunk's proxy (`sip`) or to faxhub's own SIP listener on 127.0.0.1 (`loopback`, where the
//! inbound side answers and files the fax in the inbox: a real T.38 fax end to end with no
//! carrier). The call's end goes through the outcome table; a fax that went through says to
//! whom, how fast and over what.

use super::agent::{Agent, CallReport, Dial, Transport};
use super::config::{FaxOptions, MAX_CALL, RING_TIMEOUT, TrunkConfig};
use super::outcome::outcome;
use crate::{LineOutcome, SendRequest};
use faxhub_queue::retry::FailureClass;
use faxhub_queue::status::EnhancedStatus;
use std::sync::Arc;

pub struct SipLine {
    name: String,
    agent: Arc<Agent>,
    /// None: loopback, to the agent itself.
    trunk: Option<TrunkConfig>,
    fax: FaxOptions,
}

impl SipLine {
    pub fn new(
        name: String,
        agent: Arc<Agent>,
        trunk: Option<TrunkConfig>,
        fax: FaxOptions,
    ) -> SipLine {
        SipLine {
            name,
            agent,
            trunk,
            fax,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    async fn dial(&self, request: &SendRequest) -> Result<Dial, String> {
        let loopback = self.agent.local_addr();
        let mut dial = Dial {
            number: request.dial_string.clone(),
            proxy: loopback,
            transport: Transport::Udp,
            domain: loopback.ip().to_string(),
            from_user: "faxhub".into(),
            credentials: None,
            fax: self.fax.for_call(request),
            tiff: request.tiff.clone(),
            pages: request.pages,
            ring_timeout: RING_TIMEOUT,
            max_duration: MAX_CALL,
            progress: request.progress.clone(),
        };
        if let Some(t) = &self.trunk {
            dial.proxy = super::agent::net::resolve(&t.proxy)
                .await
                .map_err(|e| format!("the trunk {} cannot be reached: {e}", t.proxy))?;
            dial.transport = t.transport;
            dial.domain = t
                .domain
                .clone()
                .unwrap_or_else(|| proxy_host(&t.proxy).to_string());
            if let Some(user) = t.from_user.clone().or_else(|| t.username.clone()) {
                dial.from_user = user;
            }
            dial.credentials = t.username.clone().zip(t.password.clone());
            dial.ring_timeout = t.ring_timeout;
            dial.max_duration = t.max_duration;
        }
        Ok(dial)
    }

    pub async fn send(&self, request: &SendRequest) -> LineOutcome {
        let dial = match self.dial(request).await {
            Ok(d) => d,
            Err(reason) => {
                return LineOutcome {
                    status: EnhancedStatus::NETWORK,
                    class: FailureClass::Dial,
                    reason,
                    pages_sent: 0,
                    trouble: None,
                };
            }
        };
        let report = self.agent.call(&dial).await;
        describe(&report, outcome(&report.end))
    }
}

/// The host of a trunk's `proxy` ("host" or "host:port").
pub fn proxy_host(proxy: &str) -> &str {
    proxy
        .rsplit_once(':')
        .filter(|(h, p)| !h.contains(':') && p.parse::<u16>().is_ok())
        .map_or(proxy, |(h, _)| h)
}

/// The outcome's reason with what the call showed: the far end's ident, speed, ECM, medium.
fn describe(report: &CallReport, mut line: LineOutcome) -> LineOutcome {
    let Some(connected) = report.connected else {
        return line;
    };
    let p = &report.progress;
    let mut details = Vec::new();
    if let Some(ident) = p.remote_ident.as_deref().filter(|i| !i.trim().is_empty()) {
        details.push(format!("to \"{}\"", ident.trim()));
    }
    if p.bit_rate > 0 {
        details.push(format!(
            "at {} bit/s{}",
            p.bit_rate,
            if p.ecm { " with ECM" } else { "" }
        ));
    }
    details.push(format!(
        "over {} in {} s",
        if report.t38 { "T.38" } else { "G.711" },
        connected.as_secs()
    ));
    line.reason = format!("{} {}", line.reason, details.join(" "));
    line
}
