//! The reporter: turns recipients' outcomes into delivery reports in the outbox.
//!
//! Woken by the scheduler when it records an outcome (and every few seconds, for delays and the
//! CLI's changes), it asks the store for recipients that may be due a report, lets the policy
//! (`faxhub_queue::report`, pure) decide, and for each mail and action builds one report,
//! writes it to the spool (synced) and queues it in the transaction that marks its recipients
//! reported (one transaction for all a pass decided): a report is queued once, and a crash
//! before the commit makes it again. A recipient
//! that gets no report (NOTIFY, null return path) is marked all the same, and logged. With
//! several nodes, one at a time runs the reporter (the role `receipts`, taken over when that
//! node goes): each would otherwise build every report, and all but one throw theirs away.
//! A broadcast gets one report on all its numbers once they are all final (`broadcast`).

mod broadcast;
mod build;
pub mod config;
#[cfg(test)]
mod tests;

use crate::receipts::build::Settings;
use crate::wakeups::Wakeups;
use faxhub_queue::clock::Clock;
use faxhub_queue::dsn::Action;
use faxhub_queue::job::{JobId, Origin, Route};
use faxhub_queue::report::{Due, ReportPolicy};
use faxhub_queue::senders::LocalDomains;
use faxhub_queue::spool::{MAIL_DIR, Spool};
use faxhub_queue::store::{MailKind, Mark, NewMail, ReportCandidate, Store};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::watch;

pub use config::ReceiptsConfig;

/// Recipients looked at per pass.
const BATCH: i64 = 256;
/// How often the reporter looks without being woken (delay reports, the CLI's changes).
const POLL: Duration = Duration::from_secs(5);

#[derive(Clone)]
pub struct Reporter {
    pub store: Store,
    pub spool: Spool,
    pub config: ReceiptsConfig,
    pub policy: ReportPolicy,
    pub hostname: String,
    pub from: String,
    pub retry_window: Duration,
    /// Only these addresses get the pages (and `RET=FULL` originals).
    pub local: LocalDomains,
    /// Waited on (`reporter`); told when a report is queued (`postman`).
    pub wakeups: Wakeups,
    /// Where `now` comes from.
    pub clock: Clock,
}

impl Reporter {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            loop {
                match self.pass().await {
                    Ok(n) if n as i64 >= BATCH => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "receipts: could not make reports; trying again later");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = self.wakeups.reporter.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// One look at the store; returns how many recipients it saw. Everything decided in a pass
    /// is committed together (group commit): the messages written and synced with one sync of
    /// their directory, then the reports queued and the recipients marked in one transaction.
    async fn pass(&self) -> Result<usize, String> {
        let now = self.clock.now_ms();
        let delayed_before = now - self.policy.delay_after.as_millis() as i64;
        let candidates = self
            .store
            .report_candidates(delayed_before, BATCH)
            .await
            .map_err(|e| e.to_string())?;
        let seen = candidates.len();
        let mut by_job: BTreeMap<String, Vec<ReportCandidate>> = BTreeMap::new();
        for c in candidates {
            by_job.entry(c.job_id.to_string()).or_default().push(c);
        }
        let mut batch = Batch::default();
        for (_, recipients) in by_job {
            match recipients[0].broadcast {
                true => {
                    let job = recipients[0].job_id.clone();
                    self.report_broadcast(&job, now, &mut batch).await?
                }
                false => self.report_job(&recipients, now, &mut batch).await?,
            }
        }
        if batch.marks.is_empty() {
            return Ok(seen);
        }
        let files = std::mem::take(&mut batch.files);
        if !files.is_empty() {
            let spool = self.spool.clone();
            tokio::task::spawn_blocking(move || {
                for (rel, message) in &files {
                    spool
                        .write_synced(rel, message)
                        .map_err(|e| format!("writing {rel}: {e}"))?;
                }
                spool
                    .sync_dir(MAIL_DIR)
                    .map_err(|e| format!("syncing {MAIL_DIR}: {e}"))
            })
            .await
            .map_err(|e| e.to_string())??;
        }
        if !self
            .store
            .mark_reported(&batch.marks, &batch.mails)
            .await
            .map_err(|e| e.to_string())?
        {
            tracing::debug!("reports already queued by another node");
            return Ok(seen);
        }
        for line in &batch.queued {
            tracing::info!(job = %line.job, mail = %line.mail, action = line.action, to = %line.to, rcpts = ?line.numbers, subject = %line.subject, "report queued");
        }
        if !batch.mails.is_empty() {
            self.wakeups.postman.notify_one();
        }
        Ok(seen)
    }

    async fn report_job(
        &self,
        recipients: &[ReportCandidate],
        now: i64,
        batch: &mut Batch,
    ) -> Result<(), String> {
        let job_id = recipients[0].job_id.clone();
        let mut reports: BTreeMap<Action, Vec<&ReportCandidate>> = BTreeMap::new();
        for c in recipients {
            let due = self.policy.due(&c.input, now);
            match due {
                Due::Wait => {}
                Due::Report(action) => reports.entry(action).or_default().push(c),
                Due::Close(why) => {
                    tracing::info!(job = %job_id, rcpt_idx = c.idx, status = c.input.status.as_str(), why = why.as_str(), "no report");
                    batch.marks.push(mark(c, due));
                }
            }
        }
        for (action, rcpts) in reports {
            self.make_report(&job_id, action, &rcpts, now, batch)
                .await?;
        }
        Ok(())
    }

    /// Builds the report on `rcpts` of `job` into `batch`, with their marks.
    async fn make_report(
        &self,
        job_id: &JobId,
        action: Action,
        rcpts: &[&ReportCandidate],
        now: i64,
        batch: &mut Batch,
    ) -> Result<(), String> {
        let err = |e: faxhub_queue::store::StoreError| e.to_string();
        let (Some(job), Some(source)) = (
            self.store.job(job_id).await.map_err(err)?,
            self.store.report_source(job_id).await.map_err(err)?,
        ) else {
            return Ok(()); // purged meanwhile
        };
        let id = format!("{job_id}-{}-{now}", action.as_str());
        let rel = Spool::mail_rel(&id);
        let settings = Settings {
            config: &self.config,
            hostname: &self.hostname,
            from: &self.from,
            retry_window: self.retry_window,
            local: &self.local,
        };
        let chosen: Vec<_> = rcpts
            .iter()
            .filter_map(|c| job.recipients.get(c.idx as usize).map(|r| (r, action)))
            .collect();
        // several nodes: the files the report reads, fetched from the store first
        let pages = source.pages_path.iter().flat_map(|p| Spool::companions(p));
        for rel in std::iter::once(source.message_path.clone()).chain(pages) {
            self.spool
                .local(&rel)
                .await
                .map_err(|e| format!("reading {rel}: {e}"))?;
        }
        let receipt = build::receipt(&settings, &self.spool, &job, &source, &chosen, now)?;
        batch.queued.push(Queued {
            job: job_id.to_string(),
            mail: id.clone(),
            action: action.as_str(),
            to: job.sender.clone(),
            numbers: chosen.iter().map(|(r, _)| r.number.clone()).collect(),
            subject: receipt.subject(),
        });
        batch.files.push((rel.clone(), receipt.build()));
        batch
            .marks
            .extend(rcpts.iter().map(|c| mark(c, Due::Report(action))));
        batch.mails.push(NewMail {
            id,
            kind: match action {
                Action::Delivered => MailKind::Delivered,
                Action::Failed => MailKind::Failed,
                Action::Delayed => MailKind::Delayed,
            },
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

/// What one pass decided, committed together.
#[derive(Default)]
struct Batch {
    marks: Vec<Mark>,
    mails: Vec<NewMail>,
    /// (spool path, message) of each report.
    files: Vec<(String, Vec<u8>)>,
    queued: Vec<Queued>,
}

/// A report queued, for the log.
struct Queued {
    job: String,
    mail: String,
    action: &'static str,
    to: String,
    numbers: Vec<String>,
    subject: String,
}

fn mark(c: &ReportCandidate, due: Due) -> Mark {
    Mark {
        job_id: c.job_id.clone(),
        idx: c.idx,
        reported: due
            .marks(c.input.status)
            .expect("invariant: only reports and closes are marked"),
    }
}
