//! A report from what the store and spool hold of a job: the job's view (recipients, their
//! attempts and what each call did), the original message, the page set's PDF or TIFF and its
//! thumbnail. The pages and a `RET=FULL` original go only to an address of the site
//! (`local_domains`): to any other the report tells the outcome and returns the headers.

use super::config::{Attach, ReceiptsConfig};
use chrono::{DateTime, FixedOffset, Local, TimeZone};
use faxhub_connectors::receipt::{Attachment, Outcome, Receipt};
use faxhub_queue::dsn::Action;
use faxhub_queue::job::{Origin, Route};
use faxhub_queue::senders::LocalDomains;
use faxhub_queue::spool::Spool;
use faxhub_queue::store::{JobView, RecipientView, ReportSource};
use faxhub_queue::{EnhancedStatus, RecipientStatus};
use std::time::Duration;

/// What a report is made of, besides the job.
pub struct Settings<'a> {
    pub config: &'a ReceiptsConfig,
    pub hostname: &'a str,
    pub from: &'a str,
    /// How long recipients are retried after arrival (`retry.give_up_after`).
    pub retry_window: Duration,
    /// The addresses that may get pages and originals back.
    pub local: &'a LocalDomains,
}

pub fn local(ms: i64) -> DateTime<FixedOffset> {
    Local
        .timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .fixed_offset()
}

fn parse(t: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Local).fixed_offset())
}

/// The outcome of `r` as a report tells it.
pub fn outcome(
    r: &RecipientView,
    action: Action,
    job_pages: Option<i64>,
    retry_until: DateTime<FixedOffset>,
) -> Outcome {
    let last = r.attempt_log.last();
    let call = last.and_then(|a| a.call.as_ref());
    let duration = last.and_then(|a| {
        let start = parse(&a.started_at)?;
        let end = parse(a.ended_at.as_deref()?)?;
        (end - start).to_std().ok()
    });
    let recorded = r
        .status_code
        .as_deref()
        .and_then(|s| s.parse::<EnhancedStatus>().ok());
    // an operator's cancel ends the fax for good, whatever the last attempt said
    let (status, reason) = match (r.status, recorded) {
        (RecipientStatus::Cancelled, _) => (
            EnhancedStatus::CANCELLED,
            match r.reason.as_deref().filter(|s| !s.is_empty()) {
                Some(last) => format!("cancelled by an operator (last attempt: {last})"),
                None => "cancelled by an operator".to_string(),
            },
        ),
        (_, Some(code)) => (code, r.reason.clone().unwrap_or_default()),
        (_, None) => (
            match action {
                Action::Delivered => EnhancedStatus::OK,
                _ => EnhancedStatus::SYSTEM_TRANSIENT,
            },
            r.reason.clone().unwrap_or_default(),
        ),
    };
    Outcome {
        name: r.display_name.clone(),
        number: r.number.clone(),
        address: r.address.clone(),
        orcpt: r.orcpt.clone(),
        action,
        status,
        reason,
        pages_sent: r.pages_sent.max(0) as u32,
        pages: r.own_pages.or(job_pages).unwrap_or(0).max(0) as u32,
        attempts: r.attempt_log.len() as u32,
        last_attempt: last.and_then(|a| parse(a.ended_at.as_deref().unwrap_or(&a.started_at))),
        duration,
        remote_ident: call.and_then(|c| c.remote_ident.clone()),
        bit_rate: call.map(|c| c.bit_rate).filter(|b| *b > 0),
        ecm: call.filter(|c| c.transport.is_some()).map(|c| c.ecm),
        next_attempt: r.next_attempt_at.as_deref().and_then(parse),
        retry_until: Some(retry_until),
        calls: calls(r),
    }
}

/// For a fax resumed after a dropped call, the pages of the fax each call carried (its
/// continuation page not counted): first, last, when it began. Empty when none resumed.
fn calls(r: &RecipientView) -> Vec<(u32, u32, DateTime<FixedOffset>)> {
    if !r.attempt_log.iter().any(|a| a.first_page > 1) {
        return Vec::new();
    }
    r.attempt_log
        .iter()
        .filter_map(|a| {
            let first = a.first_page.max(1);
            let of_the_fax = a.pages_sent - i64::from(first > 1);
            let last = first - 1 + of_the_fax;
            (of_the_fax > 0).then(|| Some((first as u32, last as u32, parse(&a.started_at)?)))?
        })
        .collect()
}

/// Whether the report to `job`'s sender may carry pages: an address of `local_domains`, or a
/// GroupWise user's own address (`DOMAIN.PO.user`, no `@`) when the report goes back into
/// GroupWise (`API_IN`), which delivers it only inside.
fn to_site(local: &LocalDomains, job: &JobView) -> bool {
    let groupwise_user = Origin::parse(&job.origin).map(Origin::route) == Some(Route::GroupWise)
        && !job.sender.is_empty()
        && job
            .sender
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    local.contains(&job.sender) || groupwise_user
}

/// The report on `recipients` of `job` (all of one action), made at `now_ms`. Reads the spool
/// (blocking).
pub fn receipt(
    s: &Settings<'_>,
    spool: &Spool,
    job: &JobView,
    source: &ReportSource,
    recipients: &[(&RecipientView, Action)],
    now_ms: i64,
) -> Result<Receipt, String> {
    let original = std::fs::read(spool.path(&source.message_path))
        .map_err(|e| format!("reading {}: {e}", source.message_path))?;
    let retry_until = local(source.received_at_ms + s.retry_window.as_millis() as i64);
    let outcomes = recipients
        .iter()
        .map(|(r, action)| outcome(r, *action, job.pages, retry_until))
        .collect();
    // the pages: only once converted (a report on a failed conversion has none), and only to
    // the site's own addresses
    let to_site = to_site(s.local, job);
    if !to_site {
        tracing::info!(job = %job.id, to = %job.sender, "receipt without pages or original: not an address of local_domains");
    }
    let companions = source
        .pages_path
        .as_deref()
        .filter(|_| to_site)
        .map(Spool::companions);
    let file = |i: usize| {
        companions
            .as_ref()
            .and_then(|c| c.get(i))
            .and_then(|rel| std::fs::read(spool.path(rel)).ok())
    };
    let attachment = match s.config.attach {
        Attach::Pdf => file(1).map(|data| Attachment {
            filename: format!("fax-{}.pdf", job.id),
            content_type: "application/pdf".into(),
            data,
        }),
        Attach::Tiff => file(0).map(|data| Attachment {
            filename: format!("fax-{}.tif", job.id),
            content_type: "image/tiff".into(),
            data,
        }),
        Attach::None => None,
    };
    Ok(Receipt {
        language: s.config.language,
        reporting_mta: s.hostname.to_string(),
        from: (s.config.from_name.clone(), s.from.to_string()),
        to: job.sender.clone(),
        job_id: job.id.clone(),
        subject: job.subject.clone(),
        billing: job.billing.clone(),
        env_id: job.env_id.clone(),
        arrived: local(source.received_at_ms),
        now: local(now_ms),
        outcomes,
        original,
        return_full: to_site && job.ret.as_deref() == Some("FULL"),
        thumbnail: if s.config.thumbnail { file(2) } else { None },
        attachment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxhub_queue::progress::{CallProgress, FaxTransport, Stage};
    use faxhub_queue::store::AttemptView;

    fn recipient(
        status: RecipientStatus,
        code: Option<&str>,
        reason: Option<&str>,
    ) -> RecipientView {
        RecipientView {
            number: "+33169293999".into(),
            address: "0169293999@fax.example.com".into(),
            display_name: Some("Jane".into()),
            status,
            attempts: 1,
            tries: 0,
            dials: 1,
            own_pages: None,
            pages_sent: 2,
            status_code: code.map(str::to_string),
            reason: reason.map(str::to_string),
            next_attempt_at: None,
            notify: None,
            orcpt: None,
            progress: None,
            node: None,
            line: None,
            attempt_log: vec![AttemptView {
                n: 1,
                line: "loopback".into(),
                started_at: "2026-11-27T10:00:00.000Z".into(),
                ended_at: Some("2026-11-27T10:01:12.000Z".into()),
                status_code: code.map(str::to_string),
                reason: reason.map(str::to_string),
                pages_sent: 2,
                first_page: 1,
                call: Some(CallProgress {
                    stage: Some(Stage::Sending),
                    transport: Some(FaxTransport::T38),
                    remote_ident: Some("+33 1 69".into()),
                    bit_rate: 14_400,
                    ecm: true,
                    pages_confirmed: 2,
                    pages: 2,
                }),
            }],
            list_row: None,
            company: None,
        }
    }

    #[test]
    fn the_outcome_takes_the_last_call_and_its_times() {
        let o = outcome(
            &recipient(RecipientStatus::Done, Some("2.0.0"), Some("sent")),
            Action::Delivered,
            Some(2),
            local(0),
        );
        assert_eq!(o.status, EnhancedStatus::OK);
        assert_eq!(o.remote_ident.as_deref(), Some("+33 1 69"));
        assert_eq!((o.bit_rate, o.ecm), (Some(14400), Some(true)));
        assert_eq!(o.duration, Some(Duration::from_secs(72)));
        assert_eq!((o.pages_sent, o.pages, o.attempts), (2, 2, 1));
        assert_eq!(o.name.as_deref(), Some("Jane"));
    }

    #[test]
    fn a_cancelled_fax_is_reported_failed_for_good_with_the_last_reason() {
        let o = outcome(
            &recipient(
                RecipientStatus::Cancelled,
                Some("4.4.1"),
                Some("the line was busy"),
            ),
            Action::Failed,
            Some(2),
            local(0),
        );
        assert_eq!(o.status, EnhancedStatus::CANCELLED);
        assert_eq!(
            o.reason,
            "cancelled by an operator (last attempt: the line was busy)"
        );
        let never_tried = outcome(
            &recipient(RecipientStatus::Cancelled, None, None),
            Action::Failed,
            Some(2),
            local(0),
        );
        assert_eq!(never_tried.reason, "cancelled by an operator");
    }
}
