//! Webhooks (`[[webhooks]]`): the events of faxes (`fax.queued` … `fax.received`), POSTed as
//! JSON to each endpoint that subscribes to them, signed the Standard Webhooks way (`sign`).
//! The events come from the store's outbox (`faxhub_queue::store::events`), written with the
//! changes they tell; `deliver` sends each endpoint's in order, at least once, with a backoff
//! while the receiver fails, until `give_up_after`. One node delivers at a time (the role
//! `webhooks`), so that an endpoint gets its events in order and once per try.
//!
//! The URL is the administrator's: faxhub follows no redirect, uses no proxy from the
//! environment, reads no response body, and waits `timeout` at most for an answer.

mod deliver;
pub mod sign;

use faxhub_queue::store::events::{EventType, Subscription};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use deliver::run;

/// One `[[webhooks]]` entry.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Names the endpoint in the store and the log.
    pub name: String,
    /// `https://…` (or `http://` on a network you trust).
    pub url: String,
    /// The events it wants (`fax.delivered`, …); every one if empty.
    #[serde(default)]
    pub events: Vec<String>,
    /// `whsec_` and 24 to 64 bytes in base64.
    pub secret: String,
    /// How long an answer may take.
    #[serde(
        default = "default_timeout",
        with = "faxhub_queue::units::serde_duration"
    )]
    pub timeout: Duration,
    /// The longest wait between two tries (they double from 5 s).
    #[serde(
        default = "default_max_backoff",
        with = "faxhub_queue::units::serde_duration"
    )]
    pub max_backoff: Duration,
    /// How long an event is tried before it is given up.
    #[serde(
        default = "default_give_up_after",
        with = "faxhub_queue::units::serde_duration"
    )]
    pub give_up_after: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(600)
}
fn default_give_up_after() -> Duration {
    Duration::from_secs(24 * 3600)
}

impl WebhookConfig {
    /// The types it subscribes to, or what is wrong.
    pub fn event_types(&self) -> Result<Vec<EventType>, String> {
        if self.events.is_empty() {
            return Ok(EventType::ALL.to_vec());
        }
        self.events
            .iter()
            .map(|e| {
                EventType::parse(e).ok_or_else(|| {
                    let known: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
                    format!(
                        "webhooks.{}: unknown event {e:?} (one of {})",
                        self.name,
                        known.join(", ")
                    )
                })
            })
            .collect()
    }

    fn validate(&self) -> Result<(), String> {
        let bad = |why: String| format!("webhooks.{}: {why}", self.name);
        let url = reqwest::Url::parse(&self.url).map_err(|e| bad(format!("url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(bad(format!(
                "url {:?}: http:// or https:// and a host",
                self.url
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "url: no user or password in it (the signature authenticates)".into(),
            ));
        }
        sign::Key::from_secret(&self.secret).map_err(bad)?;
        self.event_types()?;
        if self.timeout.is_zero() || self.max_backoff.is_zero() || self.give_up_after.is_zero() {
            return Err(bad(
                "timeout, max_backoff and give_up_after must not be 0".into()
            ));
        }
        Ok(())
    }
}

/// Checks every entry, and that names are unique.
pub fn validate(webhooks: &[WebhookConfig]) -> Result<(), String> {
    for (i, w) in webhooks.iter().enumerate() {
        if w.name.is_empty()
            || !w
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "webhooks: name {:?}: letters, digits, - and _",
                w.name
            ));
        }
        if webhooks[..i].iter().any(|o| o.name == w.name) {
            return Err(format!("webhooks: the name {:?} is used twice", w.name));
        }
        w.validate()?;
    }
    Ok(())
}

/// What the store records, for `webhooks`.
pub fn subscriptions(webhooks: &[WebhookConfig]) -> Vec<Subscription> {
    webhooks
        .iter()
        .map(|w| Subscription {
            endpoint: w.name.clone(),
            events: w.event_types().unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, url: &str, events: &[&str]) -> WebhookConfig {
        WebhookConfig {
            name: name.into(),
            url: url.into(),
            events: events.iter().map(|e| e.to_string()).collect(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
            timeout: default_timeout(),
            max_backoff: default_max_backoff(),
            give_up_after: default_give_up_after(),
        }
    }

    #[test]
    fn entries_are_checked() {
        let ok = hook("erp", "https://erp.example.com/fax", &["fax.delivered"]);
        assert_eq!(validate(std::slice::from_ref(&ok)), Ok(()));
        let cases: &[(WebhookConfig, &str)] = &[
            (hook("erp", "ftp://x/", &[]), "http:// or https://"),
            (hook("erp", "not a url", &[]), "url"),
            (hook("erp", "https://u:p@x/", &[]), "no user or password"),
            (
                hook("erp", "https://x/", &["fax.sent"]),
                "unknown event \"fax.sent\"",
            ),
            (hook("e r p", "https://x/", &[]), "letters, digits"),
            (
                WebhookConfig {
                    secret: "hunter2".into(),
                    ..ok.clone()
                },
                "whsec_",
            ),
        ];
        for (w, why) in cases {
            let e = validate(std::slice::from_ref(w)).unwrap_err();
            assert!(e.contains(why), "{e} should say {why}");
        }
        assert!(
            validate(&[ok.clone(), ok.clone()])
                .unwrap_err()
                .contains("used twice")
        );
        assert_eq!(
            subscriptions(&[hook("all", "https://x/", &[])])[0]
                .events
                .len(),
            8
        );
    }
}
