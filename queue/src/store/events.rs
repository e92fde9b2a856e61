//! The webhooks' outbox (`webhook_events`): an event is written in the transaction of the
//! change it tells (a job queued, converted, a call dialled, a page confirmed, a recipient
//! delivered, deferred or failed), one row per endpoint subscribed to its type, so that it
//! exists if and only if the change does. A reception (not in the store) is written with an id
//! of its own making, once whatever the retries. Delivered by `faxhub::webhooks` in `seq`
//! order per endpoint, at least once: a crash between the receiver's 2xx and `webhook_done`
//! sends it again, with the same id.
//!
//! Nothing is written when no endpoint subscribes (`subscribe` is never called, or with none).

use super::{Store, StoreError};
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use std::sync::{Arc, OnceLock};

/// The types of events, by their names on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Queued,
    Converted,
    Dialing,
    PageConfirmed,
    Delivered,
    Deferred,
    Failed,
    Received,
}

impl EventType {
    pub const ALL: [EventType; 8] = [
        EventType::Queued,
        EventType::Converted,
        EventType::Dialing,
        EventType::PageConfirmed,
        EventType::Delivered,
        EventType::Deferred,
        EventType::Failed,
        EventType::Received,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Queued => "fax.queued",
            EventType::Converted => "fax.converted",
            EventType::Dialing => "fax.dialing",
            EventType::PageConfirmed => "fax.page_confirmed",
            EventType::Delivered => "fax.delivered",
            EventType::Deferred => "fax.deferred",
            EventType::Failed => "fax.failed",
            EventType::Received => "fax.received",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// An endpoint and the types it wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    pub endpoint: String,
    pub events: Vec<EventType>,
}

/// An event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub kind: EventType,
    /// `msg_` and 32 hex digits, or an id the caller made (a reception's).
    pub id: String,
    pub data: serde_json::Value,
}

impl Event {
    pub fn new(kind: EventType, data: serde_json::Value) -> Event {
        use rand::Rng;
        let id = format!("msg_{:032x}", rand::thread_rng().r#gen::<u128>());
        Event { kind, id, data }
    }
}

/// The body sent: the Standard Webhooks shape.
#[derive(Serialize)]
struct Payload<'a> {
    r#type: &'static str,
    timestamp: String,
    data: &'a serde_json::Value,
}

/// An event waiting for its endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedEvent {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub created_at_ms: i64,
    pub tries: u32,
    pub next_attempt_at_ms: i64,
}

/// How a try to deliver an event ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// To try again at this time.
    Retry {
        at_ms: i64,
        error: String,
    },
    /// Never to be tried again (past the endpoint's deadline).
    GaveUp {
        error: String,
    },
}

/// The subscriptions, set once.
pub(super) type Subscriptions = Arc<OnceLock<Vec<Subscription>>>;

impl Store {
    /// Records events for `subscriptions` from now on (once per store; later calls are ignored).
    pub fn subscribe(&self, subscriptions: Vec<Subscription>) {
        let _ = self.subscriptions.set(subscriptions);
    }

    /// Whether an endpoint subscribes to anything.
    pub(super) fn has_subscribers(&self) -> bool {
        self.subscriptions.get().is_some_and(|s| !s.is_empty())
    }

    /// Told after events are committed (the deliverer waits on it, and polls for other nodes').
    pub fn events_added(&self) -> Arc<tokio::sync::Notify> {
        self.events_added.clone()
    }

    /// Writes `events` in `tx`, a row per endpoint subscribed to each.
    pub(super) async fn add_events(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: &[Event],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let Some(subscriptions) = self.subscriptions.get() else {
            return Ok(());
        };
        for event in events {
            let payload = serde_json::to_string(&Payload {
                r#type: event.kind.as_str(),
                timestamp: rfc3339(now_ms),
                data: &event.data,
            })
            .map_err(|e| StoreError::Corrupt {
                column: "webhook_events.payload",
                value: e.to_string(),
            })?;
            for s in subscriptions
                .iter()
                .filter(|s| s.events.contains(&event.kind))
            {
                sqlx::query(
                    "INSERT INTO webhook_events (id, endpoint, type, payload, created_at, state, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, 'queued', $6) ON CONFLICT (endpoint, id) DO NOTHING",
                )
                .bind(&event.id)
                .bind(&s.endpoint)
                .bind(event.kind.as_str())
                .bind(&payload)
                .bind(now_ms)
                .bind(now_ms)
                .execute(&mut **tx)
                .await?;
            }
        }
        Ok(())
    }

    /// Tells the deliverer that events may have been committed.
    pub(super) fn events_committed(&self) {
        if self.has_subscribers() {
            self.events_added.notify_one();
        }
    }

    /// Records `event` on its own (a reception); nothing if it was recorded already.
    pub async fn add_event(&self, event: &Event, now_ms: i64) -> Result<(), StoreError> {
        if !self.has_subscribers() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        self.add_events(&mut tx, std::slice::from_ref(event), now_ms)
            .await?;
        tx.commit().await?;
        self.events_committed();
        Ok(())
    }

    /// The oldest event still queued for `endpoint`.
    pub async fn webhook_head(&self, endpoint: &str) -> Result<Option<QueuedEvent>, StoreError> {
        let row = sqlx::query(
            "SELECT seq, id, type, payload, created_at, tries, next_attempt_at FROM webhook_events \
             WHERE endpoint = $1 AND state = 'queued' ORDER BY seq LIMIT 1",
        )
        .bind(endpoint)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(QueuedEvent {
            seq: row.try_get("seq")?,
            id: row.try_get("id")?,
            kind: row.try_get("type")?,
            payload: row.try_get("payload")?,
            created_at_ms: row.try_get("created_at")?,
            tries: u32::try_from(row.try_get::<i64, _>("tries")?).unwrap_or(u32::MAX),
            next_attempt_at_ms: row.try_get("next_attempt_at")?,
        }))
    }

    /// Records how a try to deliver event `seq` ended.
    pub async fn webhook_done(
        &self,
        seq: i64,
        delivery: &Delivery,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let (state, next, error) = match delivery {
            Delivery::Sent => ("sent", None, None),
            Delivery::Retry { at_ms, error } => ("queued", Some(*at_ms), Some(error.as_str())),
            Delivery::GaveUp { error } => ("failed", None, Some(error.as_str())),
        };
        sqlx::query(
            "UPDATE webhook_events SET state = $1, tries = tries + 1, \
             next_attempt_at = COALESCE($2, next_attempt_at), last_error = $3, \
             sent_at = CASE WHEN $1 = 'sent' THEN $4 ELSE sent_at END WHERE seq = $5",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(now_ms)
        .bind(seq)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Events queued for each endpoint, by name: every endpoint subscribed (0 for those with
    /// none), and any other that still has some (one removed from the configuration).
    pub async fn webhook_backlog(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT endpoint, COUNT(*) AS n FROM webhook_events WHERE state = 'queued' GROUP BY endpoint",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut backlog: std::collections::BTreeMap<String, i64> = self
            .subscriptions
            .get()
            .into_iter()
            .flatten()
            .map(|s| (s.endpoint.clone(), 0))
            .collect();
        for row in rows {
            backlog.insert(row.try_get("endpoint")?, row.try_get("n")?);
        }
        Ok(backlog.into_iter().collect())
    }

    /// Forgets events sent or given up before `before_ms`; how many.
    pub async fn purge_webhook_events(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done =
            sqlx::query("DELETE FROM webhook_events WHERE state <> 'queued' AND created_at < $1")
                .bind(before_ms)
                .execute(&self.writer)
                .await?;
        Ok(done.rows_affected())
    }
}

pub(super) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
