//! The deliverer: while this node holds the role `webhooks`, one task per endpoint takes the
//! oldest event queued for it, waits until it is due, POSTs it signed, and records the end:
//! sent on a 2xx; otherwise tried again after 5 s, 10 s, 20 s… (at most `max_backoff`), and
//! given up once older than `give_up_after`. The head of the queue blocks those behind it, so
//! an endpoint gets its events in the order they were written. Told of new events by the
//! store; polls for those of other nodes.

use super::WebhookConfig;
use super::sign::Key;
use faxhub_queue::clock::Clock;
use faxhub_queue::store::Store;
use faxhub_queue::store::events::{Delivery, QueuedEvent};
use std::time::Duration;
use tokio::sync::watch;

/// How often an endpoint's queue is looked at without being told (other nodes' events).
const POLL: Duration = Duration::from_secs(1);
/// The first wait after a failed try; it doubles at each try after.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);

/// Delivers every endpoint's events until `stop`, on the node that holds the role.
pub async fn run(
    store: Store,
    webhooks: Vec<WebhookConfig>,
    clock: Clock,
    stop: watch::Receiver<bool>,
) {
    if webhooks.is_empty() {
        return;
    }
    crate::cluster::exclusive(store.clone(), "webhooks".into(), stop, move |halted| {
        let (store, webhooks, clock) = (store.clone(), webhooks.clone(), clock.clone());
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for hook in webhooks {
                match Endpoint::new(hook) {
                    Ok(endpoint) => {
                        tasks.spawn(endpoint.run(store.clone(), clock.clone(), halted.clone()));
                    }
                    Err(e) => tracing::error!(error = %e, "webhooks: an endpoint cannot be used"),
                }
            }
            while tasks.join_next().await.is_some() {}
        }
    })
    .await;
}

struct Endpoint {
    config: WebhookConfig,
    key: Key,
    client: reqwest::Client,
}

impl Endpoint {
    fn new(config: WebhookConfig) -> Result<Endpoint, String> {
        let key = Key::from_secret(&config.secret).map_err(|e| format!("{}: {e}", config.name))?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("faxhub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("{}: {e}", config.name))?;
        Ok(Endpoint {
            config,
            key,
            client,
        })
    }

    async fn run(self, store: Store, clock: Clock, mut halted: watch::Receiver<bool>) {
        let added = store.events_added();
        let name = self.config.name.clone();
        loop {
            if *halted.borrow() {
                return;
            }
            let head = match store.webhook_head(&name).await {
                Ok(head) => head,
                Err(e) => {
                    faxhub_queue::logging::limited(
                        "webhooks-store",
                        || tracing::warn!(webhook = %name, error = %e, "webhooks: the store does not answer (logged once a minute)"),
                    );
                    None
                }
            };
            let now = clock.now_ms();
            let wait = match &head {
                Some(event) if event.next_attempt_at_ms <= now => {
                    let delivery = self.attempt(event, now).await;
                    if let Err(e) = store
                        .webhook_done(event.seq, &delivery, clock.now_ms())
                        .await
                    {
                        tracing::warn!(webhook = %name, event = %event.id, error = %e, "webhooks: could not record a delivery; it will be sent again");
                        POLL
                    } else {
                        continue;
                    }
                }
                Some(event) => {
                    Duration::from_millis((event.next_attempt_at_ms - now) as u64).min(POLL)
                }
                None => POLL,
            };
            tokio::select! {
                _ = added.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = halted.changed() => {}
            }
        }
    }

    /// One try to deliver `event`, and what to record of it.
    async fn attempt(&self, event: &QueuedEvent, now_ms: i64) -> Delivery {
        let timestamp = now_ms.div_euclid(1000);
        let signature = self
            .key
            .sign(&event.id, timestamp, event.payload.as_bytes());
        let sent = self
            .client
            .post(&self.config.url)
            .header("content-type", "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.payload.clone())
            .send()
            .await;
        let error = match sent {
            Ok(answer) if answer.status().is_success() => {
                tracing::info!(webhook = %self.config.name, event = %event.id, kind = %event.kind, "webhook delivered");
                return Delivery::Sent;
            }
            Ok(answer) => format!("HTTP {}", answer.status().as_u16()),
            Err(e) if e.is_timeout() => format!("no answer within {:?}", self.config.timeout),
            Err(e) => format!("cannot reach it: {}", error_chain(&e)),
        };
        decide(event, now_ms, &self.config, error)
    }
}

/// After a failed try: again later, or given up past the deadline (pure: `now_ms` given).
fn decide(event: &QueuedEvent, now_ms: i64, config: &WebhookConfig, error: String) -> Delivery {
    let age = Duration::from_millis((now_ms - event.created_at_ms).max(0) as u64);
    if age >= config.give_up_after {
        tracing::error!(webhook = %config.name, event = %event.id, kind = %event.kind, tries = event.tries + 1, %error, "webhook given up");
        return Delivery::GaveUp { error };
    }
    let backoff = FIRST_BACKOFF
        .saturating_mul(1u32 << event.tries.min(16))
        .min(config.max_backoff);
    faxhub_queue::logging::limited(
        "webhooks-failed",
        || tracing::warn!(webhook = %config.name, event = %event.id, %error, retry_in = ?backoff, "webhook not delivered; trying again (logged once a minute)"),
    );
    Delivery::Retry {
        at_ms: now_ms + backoff.as_millis() as i64,
        error,
    }
}

/// An error and its causes, in one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tries_back_off_doubling_to_the_ceiling_and_give_up_at_the_deadline() {
        let config = WebhookConfig {
            name: "erp".into(),
            url: "https://x/".into(),
            events: Vec::new(),
            secret: String::new(),
            timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            give_up_after: Duration::from_secs(3600),
        };
        let event = |tries, created_at_ms| QueuedEvent {
            seq: 1,
            id: "msg_1".into(),
            kind: "fax.delivered".into(),
            payload: "{}".into(),
            created_at_ms,
            tries,
            next_attempt_at_ms: 0,
        };
        let waits: Vec<i64> = (0..6)
            .map(
                |tries| match decide(&event(tries, 0), 1_000, &config, "HTTP 503".into()) {
                    Delivery::Retry { at_ms, .. } => (at_ms - 1_000) / 1_000,
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 60, 60]);
        assert_eq!(
            decide(&event(100, 0), 3_600_000, &config, "HTTP 503".into()),
            Delivery::GaveUp {
                error: "HTTP 503".into()
            }
        );
        // a try count past any shift stays at the ceiling
        assert!(matches!(
            decide(&event(u32::MAX, 0), 1_000, &config, "x".into()),
            Delivery::Retry { at_ms: 61_000, .. }
        ));
    }
}
