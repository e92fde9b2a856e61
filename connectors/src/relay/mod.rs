//! How faxhub's own mail (receipts, received faxes) leaves: through an SMTP relay (`[relay]`:
//! the Exchange Hub Transport, Domino or Postfix) with STARTTLS (rustls, the relay's
//! certificate verified against the system's or a configured CA) and AUTH, via mail-send; or,
//! with no relay configured, into a Maildir under `data_dir` (so `make run` shows them).
//!
//! A delivery either succeeds (the relay's 250 after DATA, or the Maildir rename), fails for now
//! (connection, TLS, 4xx: the caller retries) or fails for good (5xx). Mail goes in batches over
//! one connection.

mod maildir;
pub mod publish;
mod smtp;

pub use maildir::Maildir;
pub use smtp::{RelayConfig, RelayTls, SmtpRelay, client_config, tls_connector};

use faxhub_queue::Route;
use std::path::PathBuf;

/// One mail to deliver.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// `""` for the null return path.
    pub mail_from: String,
    pub rcpt_to: String,
    pub message: Vec<u8>,
}

/// Why a delivery failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{why}")]
pub struct DeliveryError {
    /// True when trying again cannot help (a 5xx reply).
    pub permanent: bool,
    pub why: String,
}

impl DeliveryError {
    pub fn transient(why: impl Into<String>) -> DeliveryError {
        DeliveryError {
            permanent: false,
            why: why.into(),
        }
    }
}

/// Where mail goes.
pub enum Relay {
    Smtp(Box<SmtpRelay>),
    Maildir(Maildir),
}

impl Relay {
    /// The configured relay, or the Maildir at `maildir` when there is none.
    pub fn new(config: Option<&RelayConfig>, maildir: PathBuf) -> Result<Relay, String> {
        match config {
            Some(c) => Ok(Relay::Smtp(Box::new(SmtpRelay::new(c)?))),
            None => Ok(Relay::Maildir(Maildir::new(maildir))),
        }
    }

    /// Delivers `mails` in order; one result per mail.
    pub async fn deliver(&self, mails: &[Envelope]) -> Vec<Result<(), DeliveryError>> {
        match self {
            Relay::Smtp(s) => s.deliver(mails).await,
            Relay::Maildir(m) => {
                let mut results = Vec::with_capacity(mails.len());
                for mail in mails {
                    results.push(m.deliver(mail).await);
                }
                results
            }
        }
    }

    /// What the log calls it.
    pub fn describe(&self) -> String {
        match self {
            Relay::Smtp(s) => s.describe(),
            Relay::Maildir(m) => format!("maildir {}", m.dir().display()),
        }
    }
}

/// Every way out, by route: the relay, and the agents that take mail back into the mail
/// system they brought it from.
pub struct Outlets {
    pub relay: Relay,
    pub exchange: Option<crate::agents::exchange::Replay>,
    pub groupwise: Option<crate::agents::groupwise::ApiIn>,
}

impl Outlets {
    /// Delivers `mails` by `route`; one result per mail. A route whose outlet is not configured
    /// (an Exchange job, and no Replay directory) goes by the relay.
    pub async fn deliver(
        &self,
        route: Route,
        mails: &[Envelope],
    ) -> Vec<Result<(), DeliveryError>> {
        let mut results = Vec::with_capacity(mails.len());
        match (route, &self.exchange, &self.groupwise) {
            (Route::Exchange, Some(replay), _) => {
                for mail in mails {
                    results.push(replay.deliver(mail).await);
                }
            }
            (Route::GroupWise, _, Some(api_in)) => {
                for mail in mails {
                    results.push(api_in.deliver(mail).await);
                }
            }
            _ => return self.relay.deliver(mails).await,
        }
        results
    }

    /// What the log calls the outlet of `route`.
    pub fn describe(&self, route: Route) -> String {
        match (route, &self.exchange, &self.groupwise) {
            (Route::Exchange, Some(r), _) => format!("exchange replay {}", r.dir().display()),
            (Route::GroupWise, _, Some(g)) => format!("groupwise {}", g.dir().display()),
            _ => self.relay.describe(),
        }
    }
}
