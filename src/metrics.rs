//! Prometheus metrics (`GET /metrics`, text format 0.0.4): counters where things happen, through
//! the `metrics` facade (SMTP in `faxhub_connectors::smtp`, conversions in `faxhub_converters`,
//! calls and mail here), gauges read at each scrape from the store and the lines. Base units
//! (seconds), counters end in `_total`, and no label ever carries a number or an address: labels
//! are line names from the configuration, RFC 3463 codes, and fixed words.
//!
//! The recorder is process-wide (one per daemon process); histograms are drained by an upkeep
//! task every few seconds so that memory stays bounded when nobody scrapes. With several nodes,
//! counters and line gauges are this node's, the queue's gauges the whole cluster's.

use faxhub_lines::state::LineState;
use faxhub_queue::progress::CallProgress;
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::{MailKind, Store, StoreError};
use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How long a conversion took, in buckets from a text page to a slow office document.
const CONVERSION_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// How long a call lasted: from a busy line to a long fax.
const CALL_BUCKETS: &[f64] = &[
    2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0,
];

/// Installs the recorder, once per process, and starts its upkeep; the handle that renders,
/// or `None` if another recorder was installed first (then `/metrics` answers 503).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let built = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("faxhub_conversion_duration_seconds".into()),
                    CONVERSION_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full("faxhub_call_duration_seconds".into()),
                        CALL_BUCKETS,
                    )
                })
                .and_then(|b| b.install_recorder());
            match built {
                Ok(handle) => {
                    describe();
                    // counters that may stay at 0 are shown at 0, so that rates are defined
                    counter!("faxhub_smtp_messages_received_total").absolute(0);
                    counter!("faxhub_smtp_auth_failures_total").absolute(0);
                    gauge!("faxhub_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    let upkeep = handle.clone();
                    tokio::spawn(async move {
                        let mut every = tokio::time::interval(Duration::from_secs(5));
                        loop {
                            every.tick().await;
                            upkeep.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: no recorder; /metrics will answer 503");
                    None
                }
            }
        })
        .as_ref()
}

/// Every metric's help text and unit, once.
fn describe() {
    describe_gauge!(
        "faxhub_build_info",
        "faxhub's version, as a label; always 1"
    );
    describe_gauge!(
        "faxhub_recipients",
        "Recipients in the store, by status (the whole cluster's)"
    );
    describe_gauge!(
        "faxhub_queue_oldest_age_seconds",
        Unit::Seconds,
        "Age of the oldest recipient waiting for its call (queued, deferred or sending); 0 when none"
    );
    describe_gauge!(
        "faxhub_outbox_queued",
        "Mails (reports, received faxes) queued in the outbox, not yet sent"
    );
    describe_gauge!(
        "faxhub_webhook_events_queued",
        "Webhook events not yet delivered, by endpoint"
    );
    describe_counter!(
        "faxhub_smtp_messages_received_total",
        "Messages accepted over SMTP (250 after DATA)"
    );
    describe_counter!(
        "faxhub_smtp_rejections_total",
        "SMTP replies 4xx and 5xx, by RFC 3463 code"
    );
    describe_counter!(
        "faxhub_smtp_auth_failures_total",
        "SMTP AUTH attempts refused (535 5.7.8)"
    );
    describe_counter!(
        "faxhub_conversions_total",
        "Messages converted to fax pages, by kind of document and result (ok or the reason)"
    );
    describe_histogram!(
        "faxhub_conversion_duration_seconds",
        Unit::Seconds,
        "How long converting a message took, by kind of document"
    );
    describe_counter!(
        "faxhub_calls_total",
        "Fax calls, by line, direction, transport (t38, g711, none) and RFC 3463 status"
    );
    describe_histogram!(
        "faxhub_call_duration_seconds",
        Unit::Seconds,
        "How long a fax call lasted, by line and direction"
    );
    describe_counter!(
        "faxhub_pages_sent_total",
        "Pages the receiving fax machine confirmed, by line"
    );
    describe_counter!(
        "faxhub_inbound_blocked_total",
        "Inbound calls refused and faxes quarantined by junk-fax rules, by action"
    );
    describe_counter!(
        "faxhub_pages_received_total",
        "Pages of faxes received, by line"
    );
    describe_gauge!(
        "faxhub_line_channels",
        "Calls this node may place at once on the line"
    );
    describe_gauge!(
        "faxhub_line_channels_in_use",
        "Calls this node is placing on the line now"
    );
    describe_gauge!(
        "faxhub_trunk_up",
        "1 while the SIP trunk is registered and answers keep-alives, else 0 (lines that register or ping only)"
    );
    describe_counter!(
        "faxhub_mails_sent_total",
        "Mails delivered from the outbox, by kind (the report's action, or fax for a received fax)"
    );
}

/// Whether a call was placed or answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Outbound,
    Inbound,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// A call that ended: its line, direction, transport, status, duration and pages (sent and
/// confirmed, or received).
pub fn call_ended(
    line: &str,
    direction: Direction,
    call: &CallProgress,
    status: EnhancedStatus,
    lasted: Duration,
    pages: u32,
) {
    let transport = match call.transport {
        Some(faxhub_queue::progress::FaxTransport::T38) => "t38",
        Some(faxhub_queue::progress::FaxTransport::G711) => "g711",
        None => "none",
    };
    let (line, direction) = (line.to_string(), direction.as_str());
    counter!("faxhub_calls_total", "line" => line.clone(), "direction" => direction,
        "transport" => transport, "status" => status.to_string())
    .increment(1);
    metrics::histogram!("faxhub_call_duration_seconds", "line" => line.clone(), "direction" => direction)
        .record(lasted.as_secs_f64());
    let pages_total = match direction {
        "outbound" => "faxhub_pages_sent_total",
        _ => "faxhub_pages_received_total",
    };
    counter!(pages_total, "line" => line).increment(u64::from(pages));
}

/// A mail from the outbox delivered.
pub fn mail_sent(kind: MailKind) {
    counter!("faxhub_mails_sent_total", "kind" => kind.as_str()).increment(1);
}

/// The text of a scrape: the gauges read now, then everything.
pub async fn render(
    handle: &PrometheusHandle,
    store: &Store,
    lines: &[Arc<LineState>],
    now_ms: i64,
) -> Result<String, StoreError> {
    let queue = store.queue_gauges().await?;
    for (status, n) in &queue.recipients {
        gauge!("faxhub_recipients", "status" => status.as_str()).set(*n as f64);
    }
    let age = queue
        .oldest_waiting_ms
        .map_or(0.0, |t| (now_ms - t).max(0) as f64 / 1000.0);
    gauge!("faxhub_queue_oldest_age_seconds").set(age);
    gauge!("faxhub_outbox_queued").set(queue.outbox_queued as f64);
    for (endpoint, n) in store.webhook_backlog().await? {
        gauge!("faxhub_webhook_events_queued", "endpoint" => endpoint).set(n as f64);
    }
    for line in lines {
        let view = line.view();
        gauge!("faxhub_line_channels", "line" => view.name.clone()).set(f64::from(view.channels));
        gauge!("faxhub_line_channels_in_use", "line" => view.name.clone())
            .set(f64::from(view.channels_in_use));
        if let Some(trunk) = &view.trunk {
            gauge!("faxhub_trunk_up", "line" => view.name.clone())
                .set(f64::from(u8::from(trunk.up())));
        }
    }
    Ok(handle.render())
}
