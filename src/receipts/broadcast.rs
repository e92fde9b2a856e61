//! The reporter's side of broadcasts: once every number of a broadcast is delivered or has
//! failed (the store offers its recipients only then), one report on all of them
//! (`faxhub_connectors::receipt::broadcast`) with the rows as a spreadsheet, queued in the same
//! transaction that marks every recipient of the job reported. A broadcast from the null
//! sender gets none (never a report on a report).

use super::{Batch, Queued, Reporter};
use faxhub_connectors::receipt::Attachment;
use faxhub_connectors::receipt::broadcast::{BroadcastReport, Row};
use faxhub_queue::EnhancedStatus;
use faxhub_queue::job::{JobId, Origin, Route};
use faxhub_queue::report::Reported;
use faxhub_queue::spool::Spool;
use faxhub_queue::state::RecipientStatus;
use faxhub_queue::store::{JobView, MailKind, Mark, NewMail};

/// The spreadsheet's columns.
const COLUMNS: [&str; 9] = [
    "Row", "Name", "Company", "Number", "Result", "Code", "Reason", "Pages", "Attempts",
];

impl Reporter {
    /// The report on the broadcast `job_id` into `batch`, every recipient marked.
    pub(super) async fn report_broadcast(
        &self,
        job_id: &JobId,
        now: i64,
        batch: &mut Batch,
    ) -> Result<(), String> {
        let Some(job) = self.store.job(job_id).await.map_err(|e| e.to_string())? else {
            return Ok(()); // purged meanwhile
        };
        batch
            .marks
            .extend((0..job.recipients.len()).map(|idx| Mark {
                job_id: job_id.clone(),
                idx: idx as i64,
                reported: Reported::Final,
            }));
        if job.sender.is_empty() {
            tracing::info!(job = %job_id, "broadcast from the null sender: no report");
            return Ok(());
        }
        let rows = rows(&job);
        let spreadsheet = Attachment {
            filename: "broadcast-report.xlsx".into(),
            content_type: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                .into(),
            data: spreadsheet(&rows)?,
        };
        let local = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .unwrap_or_default()
                .with_timezone(&chrono::Local)
                .fixed_offset()
        };
        let arrived = chrono::DateTime::parse_from_rfc3339(&job.received_at)
            .map(|t| t.with_timezone(&chrono::Local).fixed_offset())
            .unwrap_or_else(|_| local(now));
        let report = BroadcastReport {
            reporting_mta: self.hostname.clone(),
            from: (self.config.from_name.clone(), self.from.clone()),
            to: job.sender.clone(),
            job_id: job_id.to_string(),
            subject: job.subject.clone(),
            list: job.list.clone().unwrap_or_default(),
            arrived,
            now: local(now),
            rows,
            spreadsheet,
        };
        let id = format!("{job_id}-broadcast-{now}");
        let rel = Spool::mail_rel(&id);
        batch.queued.push(Queued {
            job: job_id.to_string(),
            mail: id.clone(),
            action: "broadcast",
            to: job.sender.clone(),
            numbers: Vec::new(),
            subject: report.subject(),
        });
        batch.files.push((rel.clone(), report.build()));
        batch.mails.push(NewMail {
            id,
            kind: MailKind::Broadcast,
            job_id: Some(job_id.clone()),
            mail_from: String::new(),
            rcpt_to: job.sender.clone(),
            path: rel,
            created_at_ms: now,
            route: Origin::parse(&job.origin).map_or(Route::Relay, Origin::route),
        });
        Ok(())
    }
}

/// Each recipient as a row of the report, in the list's order.
fn rows(job: &JobView) -> Vec<Row> {
    let mut rows: Vec<Row> = job
        .recipients
        .iter()
        .map(|r| {
            let delivered = r.status == RecipientStatus::Done;
            Row {
                row: r.list_row.unwrap_or(0).clamp(0, u32::MAX.into()) as u32,
                name: r.display_name.clone(),
                company: r.company.clone(),
                number: match r.number.is_empty() {
                    true => r.address.split(": ").nth(1).unwrap_or("").to_string(),
                    false => r.number.clone(),
                },
                delivered,
                status: r
                    .status_code
                    .as_deref()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(match delivered {
                        true => EnhancedStatus::OK,
                        false => EnhancedStatus::CANCELLED,
                    }),
                reason: match r.status {
                    RecipientStatus::Cancelled => "cancelled by an operator".into(),
                    _ => r.reason.clone().unwrap_or_default(),
                },
                pages_sent: r.pages_sent.max(0) as u32,
                attempts: r.attempts.max(0) as u32,
            }
        })
        .collect();
    rows.sort_by_key(|r| r.row);
    rows
}

/// The rows as an Excel workbook; text that a spreadsheet would take for a formula is
/// written as text.
fn spreadsheet(rows: &[Row]) -> Result<Vec<u8>, String> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let err = |e: rust_xlsxwriter::XlsxError| e.to_string();
    sheet.set_name("Broadcast").map_err(err)?;
    for (c, title) in COLUMNS.iter().enumerate() {
        sheet.write_string(0, c as u16, *title).map_err(err)?;
    }
    for (i, r) in rows.iter().enumerate() {
        let at = i as u32 + 1;
        let result = if r.delivered { "delivered" } else { "failed" };
        sheet.write_number(at, 0, f64::from(r.row)).map_err(err)?;
        let texts = [
            r.name.as_deref().unwrap_or(""),
            r.company.as_deref().unwrap_or(""),
            &r.number,
            result,
            &r.status.to_string(),
            &r.reason,
        ];
        for (c, text) in texts.iter().enumerate() {
            sheet.write_string(at, c as u16 + 1, *text).map_err(err)?;
        }
        sheet
            .write_number(at, 7, f64::from(r.pages_sent))
            .map_err(err)?;
        sheet
            .write_number(at, 8, f64::from(r.attempts))
            .map_err(err)?;
    }
    book.save_to_buffer().map_err(err)
}
