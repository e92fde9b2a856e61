//! The scheduler: the one owner of "what happens next" (Postfix's qmgr, HylaFAX's faxq).
//!
//! It reads due work from the store, claims it there, and hands it to workers: converters (at
//! most `convert.workers` at once) and line calls (at most `channels` per line, one call per
//! number at a time by default). Workers do the I/O and send their results back over a channel;
//! the scheduler alone records outcomes, applying the retry policy (pure, in faxhub-queue). It
//! wakes on new jobs (intake), on results, at the next due retry, and every `poll_interval` for
//! work the CLI queued. While mail is arriving fast, intake goes first (`pace`): one conversion
//! at a time, spaced, and the intake's wake-ups coalesced. On shutdown it stops dispatching and waits for calls in progress; a call
//! cut short by a crash is recovered at the next start.

pub mod convert;
mod pace;
mod record;
#[cfg(test)]
mod tests;

pub use convert::{Convert, Converted};

use crate::cluster::Renewal;
use crate::config::SchedulerConfig;
use crate::wakeups::Wakeups;
use faxhub_converters::ConvertError;
use faxhub_lines::{CallProgress, Line, LineOutcome, SendRequest};
use faxhub_queue::clock::Clock;
use faxhub_queue::dialplan::{DialPlan, FaxNumber};
use faxhub_queue::identity::{self, SenderIdentity};
use faxhub_queue::job::JobId;
use faxhub_queue::limits::{DAY, SenderLimits, Usage};
use faxhub_queue::retry::{AttemptResult, Counters, Decision, RetryPolicy};
use faxhub_queue::spool::Spool;
use faxhub_queue::state::RecipientStatus;
use faxhub_queue::store::{AttemptEnd, CallClaim, Conversion, DueRecipient, Start, Store};
use faxhub_queue::window::{Hours, Windows};
use pace::Pace;
use record::{Record, Unrecorded};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

/// Recipients fetched from the store per look.
const DUE_BATCH: i64 = 64;
/// How often finished jobs past their retention are purged.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

pub struct Scheduler {
    pub store: Store,
    pub spool: Spool,
    /// Makes a job's page sets (`Converter` in the daemon; a script in tests).
    pub converter: Arc<dyn Convert>,
    pub convert_workers: usize,
    pub lines: Vec<Arc<Line>>,
    pub channels: Vec<usize>,
    pub dialplan: DialPlan,
    /// Per-sender limits: a call past the sender's calls or pages of the day fails (5.7.1).
    pub limits: SenderLimits,
    pub policy: RetryPolicy,
    pub config: SchedulerConfig,
    /// Waited on (`scheduler`); told when an outcome is recorded (`reporter`).
    pub wakeups: Wakeups,
    /// Where `now` comes from (the system's; tokio's paused clock in tests).
    pub clock: Clock,
    /// Whether this node's claims hold: while it cannot renew them, it starts no new work.
    pub renewal: Arc<Renewal>,
    /// How long stopping (a drain) waits for calls in progress.
    pub drain_grace: Duration,
    /// `[[senders]]`: the fax ident and header line some senders' faxes go out with.
    pub identities: Arc<[SenderIdentity]>,
    /// Sending windows by number (`[[scheduler.windows]]`) and by line (`[[lines]] hours`,
    /// in `lines`' order).
    pub windows: Windows,
    pub line_hours: Vec<Option<Hours>>,
}

enum Event {
    Converted {
        claim: Conversion,
        result: Result<Converted, ConvertError>,
    },
    Sent {
        due: DueRecipient,
        line: String,
        started_at_ms: i64,
        outcome: LineOutcome,
        /// What the call did, as the line last published it.
        call: CallProgress,
        /// The page of the recipient's set it began with (1, or k+1 behind a continuation).
        first_page: u32,
    },
    /// A call in progress moved on (connected, a page confirmed).
    Progress {
        job: JobId,
        idx: i64,
        progress: CallProgress,
        /// Whether the receiver confirmed a page since the last.
        page_confirmed: bool,
    },
}

struct LineSlot {
    line: Arc<Line>,
    /// This node's free channels on the line (the store counts those of every node).
    channels: Arc<Semaphore>,
    capacity: usize,
}

impl Scheduler {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let (events_tx, mut events) = mpsc::unbounded_channel::<Event>();
        let slots: Vec<LineSlot> = self
            .lines
            .iter()
            .zip(&self.channels)
            .map(|(line, n)| LineSlot {
                line: line.clone(),
                channels: Arc::new(Semaphore::new(*n)),
                capacity: *n,
            })
            .collect();
        let converters = Arc::new(Semaphore::new(self.convert_workers.max(1)));
        let mut busy_numbers: HashSet<FaxNumber> = HashSet::new();
        let mut in_flight = 0usize;
        let mut next_line = 0usize;
        let mut next_purge = tokio::time::Instant::now();
        let mut pace = Pace::default();
        let mut unrecorded = Unrecorded::default();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let arrivals = &self.wakeups.scheduler;
            pace.observe(
                arrivals.total(),
                arrivals.peers_receiving(pace::PEERS_WITHIN),
                self.clock.now_ms(),
            );
            unrecorded.retry(&self.store).await;
            // a node that cannot renew its claims starts nothing: another may be taking them
            let holds = self.renewal.holds();
            if tokio::time::Instant::now() >= next_purge {
                next_purge += PURGE_EVERY;
                self.purge().await;
            }
            if holds {
                if let Err(e) = self
                    .start_conversions(&mut pace, &converters, &events_tx)
                    .await
                {
                    faxhub_queue::logging::limited(
                        "scheduler-conversions",
                        || tracing::error!(error = %e, "scheduler: could not read conversions from the store (logged once a minute)"),
                    );
                }
                match self
                    .dispatch(&slots, &mut next_line, &mut busy_numbers, &events_tx)
                    .await
                {
                    Ok(n) => in_flight += n,
                    Err(e) => faxhub_queue::logging::limited(
                        "scheduler-due",
                        || tracing::error!(error = %e, "scheduler: could not read due recipients from the store (logged once a minute)"),
                    ),
                }
            }
            let mut sleep = self.sleep_duration().await;
            if let Some(at) = unrecorded.next_try() {
                sleep = sleep.min(at.saturating_duration_since(tokio::time::Instant::now()));
            }
            tokio::select! {
                Some(event) = events.recv() => {
                    self.record(event, &mut busy_numbers, &mut in_flight, &mut unrecorded)
                        .await;
                    // Take every result already waiting before looking for new work.
                    while let Ok(event) = events.try_recv() {
                        self.record(event, &mut busy_numbers, &mut in_flight, &mut unrecorded)
                        .await;
                    }
                }
                _ = self.wakeups.scheduler.notified() => {
                    if pace.busy(self.clock.now_ms()) {
                        tokio::time::sleep(pace::SETTLE).await;
                    }
                }
                _ = tokio::time::sleep(sleep) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Let calls in progress finish and be recorded; a fax is not cut off mid-page.
        let deadline = tokio::time::Instant::now() + self.drain_grace;
        while in_flight > 0 {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => {
                    self.record(event, &mut busy_numbers, &mut in_flight, &mut unrecorded)
                        .await;
                }
                _ => break,
            }
        }
    }

    /// Deletes finished jobs older than the retention, then their spool files (and, with
    /// several nodes, old cached copies and blobs no row refers to).
    async fn purge(&self) {
        // one node at a time purges the shared store (the role held until this returns)
        let _role = match self.store.try_role("purge").await {
            Ok(Some(role)) => role,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "could not ask for the purge role");
                return;
            }
        };
        let before = self.clock.now_ms() - self.config.retention.as_millis() as i64;
        if let Err(e) = self.store.purge_webhook_events(before).await {
            tracing::warn!(error = %e, "could not purge old webhook events");
        }
        match self.store.purge_finished(before).await {
            Ok(files) if files.is_empty() => {}
            Ok(files) => {
                let spool = self.spool.clone();
                let files: Vec<String> = files.iter().flat_map(|f| Spool::companions(f)).collect();
                let n = files.len();
                let _ = tokio::task::spawn_blocking(move || {
                    for f in files {
                        if let Err(e) = std::fs::remove_file(spool.path(&f)) {
                            tracing::warn!(file = %f, error = %e, "could not remove a purged spool file");
                        }
                    }
                })
                .await;
                tracing::info!(files = n, "purged finished jobs past their retention");
            }
            Err(e) => tracing::error!(error = %e, "could not purge finished jobs"),
        }
        // several nodes: copies of the store's files this node has not needed for as long
        let spool = self.spool.clone();
        let retention = self.config.retention;
        if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || spool.trim_cache(retention)).await
            && n > 0
        {
            tracing::info!(
                files = n,
                "removed old copies of spool files (the store has them)"
            );
        }
        match self.store.collect_blobs().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                files = n,
                "removed spool files from the store no job refers to"
            ),
            Err(e) => tracing::warn!(error = %e, "could not look for spool files no job refers to"),
        }
    }

    /// Until the next deferred recipient or conversion is due, at most `poll_interval`.
    async fn sleep_duration(&self) -> Duration {
        let poll = self.config.poll_interval;
        let calls = self.store.next_due_at().await.ok().flatten();
        let conversions = self.store.next_conversion_at().await.ok().flatten();
        match calls.into_iter().chain(conversions).min() {
            Some(at) => Duration::from_millis(
                (at - self.clock.now_ms()).clamp(0, poll.as_millis() as i64) as u64,
            ),
            None => poll,
        }
    }

    /// Claims pending conversions for the workers free, fewer while intake is busy (`pace`).
    async fn start_conversions(
        &self,
        pace: &mut Pace,
        converters: &Arc<Semaphore>,
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<(), String> {
        let workers = self.convert_workers.max(1);
        let running = workers - converters.available_permits();
        let free = pace.conversions(self.clock.now_ms(), workers, running);
        if free == 0 {
            return Ok(());
        }
        let claimed = self
            .store
            .claim_conversions(free as i64, self.clock.now_ms())
            .await
            .map_err(|e| e.to_string())?;
        for claim in claimed {
            let Ok(permit) = converters.clone().try_acquire_owned() else {
                break;
            };
            pace.started(self.clock.now_ms());
            // who the cover pages are for (if the job gets them)
            let addressees = self
                .store
                .addressees(&claim.job)
                .await
                .map_err(|e| e.to_string())?;
            tracing::info!(job = %claim.job, from = "received", to = "converting", tries = claim.tries, "conversion started");
            let converter = self.converter.clone();
            let spool = self.spool.clone();
            let events = events.clone();
            tokio::spawn(async move {
                let result = converter.convert(&spool, &claim, &addressees).await;
                drop(permit);
                let _ = events.send(Event::Converted { claim, result });
            });
        }
        Ok(())
    }

    /// Starts calls for due recipients while lines have free channels. Returns calls started.
    async fn dispatch(
        &self,
        slots: &[LineSlot],
        next_line: &mut usize,
        busy_numbers: &mut HashSet<FaxNumber>,
        events: &mpsc::UnboundedSender<Event>,
    ) -> Result<usize, String> {
        if slots.iter().all(|s| s.channels.available_permits() == 0) {
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let due = if self.config.one_call_per_number {
            self.store.due_to_free_numbers(now, DUE_BATCH).await
        } else {
            self.store.due_recipients(now, DUE_BATCH).await
        }
        .map_err(|e| e.to_string())?;
        let mut started = 0;
        // what each sender used today, read once per look and counted on as calls start
        let mut usage: HashMap<String, Usage> = HashMap::new();
        // numbers another node started calling, lines full with other nodes' calls: not tried
        // again in this look (one claim each, not one per recipient behind them)
        let mut taken: HashSet<FaxNumber> = HashSet::new();
        // a line outside its hours takes no call now, as if full
        let minute = local_minute(now);
        let mut full: Vec<bool> = (0..slots.len())
            .map(|i| {
                self.line_hours
                    .get(i)
                    .copied()
                    .flatten()
                    .is_some_and(|h| h.minutes_until_open(minute.0) > 0)
            })
            .collect();
        for rcpt in due {
            if self.outside_window(&rcpt, now, minute).await? {
                continue;
            }
            if self.config.one_call_per_number
                && (busy_numbers.contains(&rcpt.number) || taken.contains(&rcpt.number))
            {
                continue;
            }
            let Some((i, slot, permit)) = free_channel(slots, next_line, &full) else {
                break;
            };
            if !self.within_limits(&rcpt, &mut usage, now).await? {
                continue;
            }
            let line_name = slot.line.name().to_string();
            let claim = CallClaim {
                line: &line_name,
                channels: slot.capacity as u32,
                one_call_per_number: self.config.one_call_per_number,
            };
            match self
                .store
                .start_attempt(&rcpt, &claim, now)
                .await
                .map_err(|e| e.to_string())?
            {
                Start::Started => {}
                // changed by an operator or another node meanwhile
                Start::Changed => continue,
                // the number or the line busy with other nodes' calls
                Start::NumberBusy => {
                    taken.insert(rcpt.number.clone());
                    continue;
                }
                Start::LineFull => {
                    full[i] = true;
                    continue;
                }
            }
            busy_numbers.insert(rcpt.number.clone());
            started += 1;
            let attempt = rcpt.tries + rcpt.dials + 1;
            tracing::info!(job = %rcpt.job_id, rcpt = %rcpt.number, from = "queued", to = "sending", line = %line_name, attempt, "dialling");
            let identity = identity::for_sender(&self.identities, &rcpt.sender);
            // where calls to this number start (what worked, or a step down from what failed)
            let profile = match self.store.destination(rcpt.number.as_str()).await {
                Ok(known) => known.map(|d| d.profile).filter(|p| !p.is_open()),
                Err(e) => {
                    tracing::warn!(rcpt = %rcpt.number, error = %e, "destination memory unreadable: the line's options apply");
                    None
                }
            };
            let request = SendRequest {
                profile,
                job_id: rcpt.job_id.to_string(),
                ident: identity.and_then(|i| i.ident.clone()),
                header: identity.and_then(|i| i.header.clone()),
                number: rcpt.number.clone(),
                dial_string: self.dialplan.dial_string(&rcpt.number),
                // fetched by the call itself (several nodes: from the store)
                tiff: std::path::PathBuf::new(),
                pages: rcpt.pages as u32,
                attempt,
                progress: None,
            };
            let continuation = match self.resumes(&rcpt.number) {
                true if rcpt.resume_from > 0 => Some(self.continuation(&rcpt).await),
                _ => None,
            };
            let line = slot.line.clone();
            let events = events.clone();
            let worker = Worker {
                spool: self.spool.clone(),
                converter: self.converter.clone(),
                events,
            };
            tokio::spawn(call(line, worker, request, rcpt, continuation, permit, now));
        }
        Ok(started)
    }

    /// Destination memory after a call (`memory::after_call`): what worked, or a step down
    /// from what failed. Advisory: a store that cannot say or write is logged, never in the way.
    async fn remember(
        &self,
        due: &DueRecipient,
        outcome: &LineOutcome,
        call: &CallProgress,
        new_status: RecipientStatus,
        now: i64,
    ) {
        use faxhub_queue::memory::{self, Destination};
        use faxhub_queue::progress::FaxTransport;
        let number = due.number.as_str();
        let before = match self.store.destination(number).await {
            Ok(known) => known.unwrap_or_else(|| Destination {
                number: number.to_string(),
                ..Default::default()
            }),
            Err(e) => {
                tracing::warn!(rcpt = %number, error = %e, "destination memory unreadable: not updated");
                return;
            }
        };
        let this = memory::Call {
            delivered: new_status == RecipientStatus::Done,
            t38: call.transport.map(|t| t == FaxTransport::T38),
            bit_rate: call.bit_rate,
            ecm: call.ecm,
            trouble: outcome.trouble,
            t38_allowed: before.profile.t38 != Some(false),
        };
        let Some(after) = memory::after_call(&before, &this, now) else {
            return;
        };
        if after.profile != before.profile {
            tracing::info!(rcpt = %number, from = %before.profile.describe(), to = %after.profile.describe(), "destination memory: the next call starts elsewhere");
        }
        if let Err(e) = self.store.remember(&after, now).await {
            tracing::warn!(rcpt = %number, error = %e, "destination memory not written");
        }
    }

    /// Whether a call to `number` may resume a fax where a dropped call left it (`[scheduler]
    /// resume`, less `resume_never`).
    fn resumes(&self, number: &FaxNumber) -> bool {
        self.config.resume
            && !self
                .config
                .resume_never
                .iter()
                .any(|p| faxhub_queue::dialplan::pattern_matches(p, number.as_str()))
    }

    /// What the continuation page of `rcpt`'s next call says: the pages that follow, the
    /// sender, the subject and when the fax was first sent.
    async fn continuation(&self, rcpt: &DueRecipient) -> (u32, String) {
        let job = self.store.job(&rcpt.job_id).await.ok().flatten();
        let sent = job
            .as_ref()
            .and_then(|j| chrono::DateTime::parse_from_rfc3339(&j.received_at).ok())
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M %:z")
                    .to_string()
            })
            .unwrap_or_default();
        let text = faxhub_queue::resume::Continuation {
            done: rcpt.resume_from,
            total: rcpt.pages.max(0) as u32,
            from: job.as_ref().map_or(&rcpt.sender, |j| &j.sender),
            subject: job
                .as_ref()
                .and_then(|j| j.subject.as_deref())
                .unwrap_or(""),
            sent: &sent,
        }
        .text();
        (rcpt.resume_from, text)
    }

    /// Whether `rcpt`'s number may not be called at this hour (`[[scheduler.windows]]`): then it
    /// waits, deferred until its window opens, the reason saying so (no try counted).
    async fn outside_window(
        &self,
        rcpt: &DueRecipient,
        now: i64,
        (minute, into_minute_ms): (u32, i64),
    ) -> Result<bool, String> {
        let Some((pattern, hours)) = self.windows.for_number(&rcpt.number) else {
            return Ok(false);
        };
        let wait = hours.minutes_until_open(minute);
        if wait == 0 {
            return Ok(false);
        }
        let until = now - into_minute_ms + i64::from(wait) * 60_000;
        let reason = format!("waiting for its sending window, {hours} for {pattern}");
        let postponed = self
            .store
            .postpone_recipient(rcpt.job_id.as_str(), rcpt.idx, until, &reason, now)
            .await
            .map_err(|e| e.to_string())?;
        if postponed {
            tracing::info!(job = %rcpt.job_id, rcpt = %rcpt.number, from = "queued", to = "deferred", window = %hours, until_ms = until, "outside its sending window");
        }
        Ok(true)
    }

    /// Whether the call to `rcpt` keeps its sender within its calls and pages of the day; if
    /// not, the recipient fails for good with the limit named (and the reporter is woken).
    async fn within_limits(
        &self,
        rcpt: &DueRecipient,
        usage: &mut HashMap<String, Usage>,
        now: i64,
    ) -> Result<bool, String> {
        if self.limits.calls_per_day == 0 && self.limits.pages_per_day == 0 {
            return Ok(true);
        }
        if !usage.contains_key(&rcpt.sender) {
            let used = self
                .store
                .sender_usage(&rcpt.sender, now - DAY.as_millis() as i64)
                .await
                .map_err(|e| e.to_string())?;
            usage.insert(rcpt.sender.clone(), used);
        }
        let used = usage
            .get_mut(&rcpt.sender)
            .expect("invariant: inserted above");
        match self.limits.admit_call(&rcpt.sender, used, rcpt.pages) {
            Ok(()) => {
                used.calls += 1;
                used.pages += rcpt.pages;
                Ok(true)
            }
            Err(limit) => {
                let refused = self
                    .store
                    .refuse_recipient(
                        rcpt.job_id.as_str(),
                        rcpt.idx,
                        limit.status(),
                        &limit.to_string(),
                        now,
                    )
                    .await
                    .map_err(|e| e.to_string())?;
                if refused {
                    tracing::warn!(job = %rcpt.job_id, rcpt = %rcpt.number, from = "queued", to = "failed", status = %limit.status(), reason = %limit, "call refused by a sender limit");
                    self.wakeups.reporter.notify_one();
                }
                Ok(false)
            }
        }
    }

    /// Records a worker's result; a finished call frees its number and its place in `in_flight`.
    async fn record(
        &self,
        event: Event,
        busy_numbers: &mut HashSet<FaxNumber>,
        in_flight: &mut usize,
        unrecorded: &mut Unrecorded,
    ) {
        match event {
            Event::Converted { claim, result } => {
                self.record_conversion(claim, result, unrecorded).await;
                self.wakeups.reporter.notify_one();
            }
            Event::Progress {
                job,
                idx,
                progress,
                page_confirmed,
            } => {
                let confirmed = page_confirmed.then(|| self.clock.now_ms());
                if let Err(e) = self
                    .store
                    .set_progress(&job, idx, &progress, confirmed)
                    .await
                {
                    tracing::warn!(job = %job, error = %e, "could not record a call's progress");
                }
            }
            Event::Sent {
                due,
                line,
                started_at_ms,
                outcome,
                call,
                first_page,
            } => {
                *in_flight -= 1;
                busy_numbers.remove(&due.number);
                let sent = Sent {
                    line,
                    started_at_ms,
                    outcome,
                    call,
                    first_page,
                };
                self.record_attempt(due, sent, unrecorded).await;
                self.wakeups.reporter.notify_one();
            }
        }
    }

    /// Records a conversion's end: converted; failed for the document's fault; or, for the
    /// server's trouble, deferred on the retry schedule (failed once `give_up_after` is past).
    async fn record_conversion(
        &self,
        claim: Conversion,
        result: Result<Converted, ConvertError>,
        unrecorded: &mut Unrecorded,
    ) {
        let job = &claim.job;
        let now = self.clock.now_ms();
        let retry_at = match &result {
            Err(e) if e.is_temporary() => {
                self.policy
                    .retry_local(claim.tries + 1, claim.received_at_ms, now)
            }
            _ => None,
        };
        let record = match (&result, retry_at) {
            (Ok(done), _) => Record::Converted {
                job: job.clone(),
                pages: i64::from(done.pages),
                own: done.own.clone(),
                now_ms: now,
            },
            (Err(e), Some(next_ms)) => Record::ConversionDeferred {
                job: job.clone(),
                status: e.status(),
                reason: e.to_string(),
                next_ms,
                now_ms: now,
            },
            (Err(e), None) => Record::ConversionFailed {
                job: job.clone(),
                status: e.status(),
                reason: match e.is_temporary() {
                    true => format!("{e} (gave up: no time left to retry)"),
                    false => e.to_string(),
                },
                now_ms: now,
            },
        };
        let stored = record.write(&self.store).await;
        match (&result, stored) {
            (Ok(done), Ok(())) => {
                tracing::info!(job = %job, from = "converting", to = "converted", pages = done.pages, covers = done.own.len(), "converted")
            }
            (Err(e), Ok(())) if retry_at.is_some() => {
                let in_s = (retry_at.unwrap_or(now) - now) / 1000;
                tracing::warn!(job = %job, from = "converting", to = "deferred", status = %e.status(), reason = %e, retry_in_s = in_s, tries = claim.tries + 1, "conversion deferred: the server's trouble, not the document's")
            }
            (Err(e), Ok(())) => {
                tracing::info!(job = %job, from = "converting", to = "convert_failed", status = %e.status(), reason = %e, "conversion failed")
            }
            (_, Err(e)) => {
                tracing::error!(job = %job, error = %e, "could not record a conversion; trying again");
                unrecorded.push(record);
            }
        }
    }

    async fn record_attempt(&self, due: DueRecipient, sent: Sent, unrecorded: &mut Unrecorded) {
        let Sent {
            line,
            started_at_ms,
            outcome,
            call,
            first_page,
        } = sent;
        let now = self.clock.now_ms();
        let result = AttemptResult {
            status: outcome.status,
            class: outcome.class,
            reason: outcome.reason.clone(),
        };
        let (counters, decision) = self.policy.decide(
            &result,
            Counters {
                tries: due.tries,
                dials: due.dials,
            },
            due.received_at_ms,
            now,
        );
        let (new_status, next, reason) = match decision {
            Decision::Done => (RecipientStatus::Done, None, outcome.reason.clone()),
            Decision::Deferred { next_attempt_at_ms } => (
                RecipientStatus::Deferred,
                Some(next_attempt_at_ms),
                outcome.reason.clone(),
            ),
            Decision::Failed { why } => (RecipientStatus::Failed, None, why),
        };
        self.remember(&due, &outcome, &call, new_status, now).await;
        let standing = faxhub_queue::resume::after_call(
            due.resume_from,
            first_page,
            due.pages.max(0) as u32,
            outcome.pages_sent,
            new_status == RecipientStatus::Done,
            self.resumes(&due.number),
        );
        let end = AttemptEnd {
            job_id: due.job_id.clone(),
            idx: due.idx,
            line,
            started_at_ms,
            ended_at_ms: now,
            status: outcome.status,
            reason: reason.clone(),
            pages_sent: i64::from(outcome.pages_sent),
            first_page: i64::from(first_page),
            confirmed: i64::from(standing.confirmed),
            resume_from: i64::from(standing.resume_from),
            new_status,
            tries: counters.tries,
            dials: counters.dials,
            next_attempt_at_ms: next,
            call: call.stage.is_some().then_some(call),
        };
        match self.store.end_attempt(&end).await {
            Ok(None) => tracing::warn!(
                job = %due.job_id,
                rcpt = %due.number,
                status = %outcome.status,
                reason = %reason,
                "attempt ended after this node's claim expired: another node took the recipient back; not recorded"
            ),
            Ok(Some(status)) => tracing::info!(
                job = %due.job_id,
                rcpt = %due.number,
                from = "sending",
                to = status.as_str(),
                status = %outcome.status,
                reason = %reason,
                tries = counters.tries,
                dials = counters.dials,
                pages_sent = outcome.pages_sent,
                "attempt ended"
            ),
            Err(e) => {
                tracing::error!(job = %due.job_id, rcpt = %due.number, error = %e, "could not record an attempt; trying again");
                unrecorded.push(Record::Attempt(end));
            }
        }
    }
}

/// A finished call, as its worker tells it.
struct Sent {
    line: String,
    started_at_ms: i64,
    outcome: LineOutcome,
    call: CallProgress,
    first_page: u32,
}

/// What a call's worker needs besides the line: the spool, the converter (a resumed call's
/// continuation page), and where to tell what happened.
struct Worker {
    spool: Spool,
    converter: Arc<dyn Convert>,
    events: mpsc::UnboundedSender<Event>,
}

/// The local minute of the day at `now_ms` (sending windows are in the server's local time),
/// and the milliseconds already into that minute.
fn local_minute(now_ms: i64) -> (u32, i64) {
    use chrono::Timelike;
    let local = chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&chrono::Local);
    let into = i64::from(local.second()) * 1000 + i64::from(local.timestamp_subsec_millis());
    (local.hour() * 60 + local.minute(), into)
}

fn free_channel<'a>(
    slots: &'a [LineSlot],
    next_line: &mut usize,
    full: &[bool],
) -> Option<(usize, &'a LineSlot, OwnedSemaphorePermit)> {
    for k in 0..slots.len() {
        let i = (*next_line + k) % slots.len();
        if full[i] {
            continue;
        }
        if let Ok(permit) = slots[i].channels.clone().try_acquire_owned() {
            *next_line = (i + 1) % slots.len();
            return Some((i, &slots[i], permit));
        }
    }
    None
}

async fn call(
    line: Arc<Line>,
    worker: Worker,
    request: SendRequest,
    due: DueRecipient,
    continuation: Option<(u32, String)>,
    permit: OwnedSemaphorePermit,
    started_at_ms: i64,
) {
    let Worker {
        spool,
        converter,
        events,
    } = worker;
    // a call that cannot be made leaves the fax where earlier calls left it
    let mut first_page = continuation.as_ref().map_or(1, |(done, _)| done + 1);
    let tiff = match spool.local(&due.pages_path).await {
        Ok(tiff) => tiff,
        Err(e) => {
            // the page set cannot be had here now (the store unreachable): tried again later
            drop(permit);
            let outcome = LineOutcome {
                status: faxhub_queue::status::EnhancedStatus::SYSTEM_TRANSIENT,
                class: faxhub_queue::retry::FailureClass::Try,
                reason: format!("the pages could not be read: {e}"),
                pages_sent: 0,
                trouble: None,
            };
            let line = line.name().to_string();
            let call = CallProgress::default();
            let _ = events.send(Event::Sent {
                due,
                line,
                started_at_ms,
                outcome,
                call,
                first_page,
            });
            return;
        }
    };
    // after a dropped call: a continuation page, then the pages not yet confirmed (the
    // scratch directory holding them lives as long as the call)
    let (tiff, pages, _continued) = match continuation {
        Some((done, text)) => match converter.continuation(&spool, &tiff, done, &text).await {
            Ok(c) => {
                tracing::info!(job = %due.job_id, rcpt = %due.number, from_page = done + 1, pages = c.pages, "resuming after a dropped call, behind a continuation page");
                (c.tiff.clone(), c.pages, Some(c))
            }
            Err(e) => {
                tracing::warn!(job = %due.job_id, rcpt = %due.number, error = %e, "no continuation page could be made: the whole fax is sent again");
                first_page = 1;
                (tiff, request.pages, None)
            }
        },
        None => (tiff, request.pages, None),
    };
    // the line publishes what the call does; the owner of the store records it
    let (published, mut watched) = tokio::sync::watch::channel(CallProgress::default());
    let request = SendRequest {
        tiff,
        pages,
        progress: Some(Arc::new(published)),
        ..request
    };
    let began = std::time::Instant::now();
    // pages the receiver confirmed so far (each new one is an event)
    let mut confirmed = 0;
    let sending = line.send(&request);
    tokio::pin!(sending);
    let outcome = loop {
        tokio::select! {
            outcome = &mut sending => break outcome,
            Ok(()) = watched.changed() => {
                let progress = watched.borrow_and_update().clone();
                let page_confirmed = progress.pages_confirmed > confirmed;
                confirmed = progress.pages_confirmed;
                let _ = events.send(Event::Progress { job: due.job_id.clone(), idx: due.idx, progress, page_confirmed });
            }
        }
    };
    drop(permit);
    let call = watched.borrow().clone();
    crate::metrics::call_ended(
        line.name(),
        crate::metrics::Direction::Outbound,
        &call,
        outcome.status,
        began.elapsed(),
        outcome.pages_sent,
    );
    let _ = events.send(Event::Sent {
        due,
        line: line.name().to_string(),
        started_at_ms,
        outcome,
        call,
        first_page,
    });
}
