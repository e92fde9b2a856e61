//! The scheduler in-process: a real store and spool in a temporary directory, a clock the test
//! moves by hand (an hour of retries passes at once: `drive` moves it to the next due work), a
//! converter that follows a script and the `test` line's scripted calls. What is asserted is
//! what the store says, as `faxhub queue` shows it. Waits are bounded and name what hung.

use super::*;
use crate::testing::Base;
use faxhub_converters::tiff_f::{self, Bitmap, FaxPage};
use faxhub_lines::{LineConfig, LineKind, ScriptEntry};
use faxhub_queue::dialplan::DialPlanConfig;
use faxhub_queue::retry::RetryPolicy;
use faxhub_queue::store::{CallClaim, JobView, NewJob, Start};
use faxhub_queue::window::{Hours, Windows};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use tokio::task::JoinHandle;

/// A converter that follows a script: each conversion takes the next result (`Ok` once the
/// script is out), and an `Ok` installs a one-page page set as the real one would.
struct Scripted(Mutex<VecDeque<Result<(), ConvertError>>>);

impl Convert for Scripted {
    fn convert<'a>(
        &'a self,
        spool: &'a Spool,
        claim: &'a faxhub_queue::store::Conversion,
        _addressees: &'a [faxhub_queue::store::Addressee],
    ) -> Pin<Box<dyn Future<Output = Result<Converted, ConvertError>> + Send + 'a>> {
        let next = self.0.lock().unwrap().pop_front().unwrap_or(Ok(()));
        Box::pin(async move {
            next?;
            one_page_set(spool, &claim.job)
        })
    }
}

/// Installs a one-page page set for `job`, as the real converter would.
fn one_page_set(spool: &Spool, job: &JobId) -> Result<Converted, ConvertError> {
    spool.write_durable(&Spool::pages_rel(job.as_str()), &one_page())?;
    Ok(Converted {
        pages: 1,
        own: Vec::new(),
    })
}

/// A one-page TIFF-F.
fn one_page() -> Vec<u8> {
    let page = FaxPage::from_bitmap(
        &Bitmap {
            width: 1728,
            length: 100,
            pixels: vec![false; 1728 * 100],
        },
        196,
    )
    .expect("a blank page encodes");
    tiff_f::write(&[page])
}

struct Harness {
    base: Base,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::ops::Deref for Harness {
    type Target = Base;
    fn deref(&self) -> &Base {
        &self.base
    }
}

/// A `test` line of `channels`, calls lasting `call` (e.g. "10s"), scripted by `script`
/// (number pattern, outcomes).
fn line(channels: u32, call: Option<&str>, script: &[(&str, &[&str])]) -> LineConfig {
    LineConfig {
        channels,
        call_duration: call.map(str::to_string),
        script: script
            .iter()
            .map(|(numbers, outcomes)| ScriptEntry {
                numbers: numbers.to_string(),
                outcomes: outcomes.iter().map(|o| o.to_string()).collect(),
            })
            .collect(),
        ..LineConfig::new("test", LineKind::Test)
    }
}

fn policy(schedule_s: u64, max_dials: u32, give_up_after_s: u64) -> RetryPolicy {
    RetryPolicy {
        schedule: vec![Duration::from_secs(schedule_s)],
        max_tries: 2,
        max_dials,
        give_up_after: Duration::from_secs(give_up_after_s),
    }
}

async fn start(
    line: LineConfig,
    policy: RetryPolicy,
    converts: Vec<Result<(), ConvertError>>,
) -> Harness {
    start_in(tempfile::tempdir().unwrap(), line, policy, converts).await
}

/// `start` on the store and spool already in `dir` (a crash's leftovers, say).
async fn start_in(
    dir: tempfile::TempDir,
    line: LineConfig,
    policy: RetryPolicy,
    converts: Vec<Result<(), ConvertError>>,
) -> Harness {
    let converter = Arc::new(Scripted(Mutex::new(converts.into())));
    start_with(dir, line, policy, converter).await
}

/// `start_in` with any converter.
async fn start_with(
    dir: tempfile::TempDir,
    line: LineConfig,
    policy: RetryPolicy,
    converter: Arc<dyn Convert>,
) -> Harness {
    start_windowed(dir, line, policy, converter, |_| Default::default()).await
}

/// Sending windows by number and by line, made from the harness clock's first `now`.
type MakeWindows = fn(i64) -> (Windows, Vec<Option<Hours>>);

/// `start_with` with the sending windows `windows` makes.
async fn start_windowed(
    dir: tempfile::TempDir,
    line: LineConfig,
    policy: RetryPolicy,
    converter: Arc<dyn Convert>,
    windows: MakeWindows,
) -> Harness {
    let base = Base::open(dir).await;
    let (windows, line_hours) = windows(base.clock.now_ms());
    let lines = vec![Arc::new(
        Line::new(&line, base.dir.path().join("outbox"), None).unwrap(),
    )];
    let scheduler = Scheduler {
        store: base.store.clone(),
        spool: base.spool.clone(),
        converter,
        convert_workers: 2,
        lines,
        channels: vec![line.channels as usize],
        dialplan: DialPlan::new(DialPlanConfig::default()).unwrap(),
        limits: SenderLimits::default(),
        policy,
        config: SchedulerConfig {
            poll_interval: Duration::from_millis(50),
            ..SchedulerConfig::default()
        },
        wakeups: base.wakeups.clone(),
        clock: base.clock.clone(),
        renewal: Arc::new(crate::cluster::Renewal::unbounded()),
        drain_grace: Duration::from_secs(30),
        identities: Arc::new([]),
        windows,
        line_hours,
    };
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(scheduler.run(stopped));
    Harness { base, stop, task }
}

impl Harness {
    /// A job to `numbers`, committed and the scheduler told, as the intake does.
    async fn job(&self, numbers: &[&str]) -> JobId {
        let id = insert_job(&self.store, self.clock.now_ms(), numbers).await;
        self.wakeups.scheduler.notify_one();
        id
    }

    /// The job once `done` says so; with `drive`, the clock is moved on to the next work due
    /// (a retry, a deferred conversion) whenever some waits. At most a minute of real time.
    async fn until(
        &self,
        id: &JobId,
        what: &str,
        drive: bool,
        done: impl Fn(&JobView) -> bool,
    ) -> JobView {
        let started = std::time::Instant::now();
        loop {
            let job = self.store.job(id).await.unwrap().unwrap();
            if done(&job) {
                return job;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: not in a minute: {job:#?}"
            );
            if drive {
                let calls = self.store.next_due_at().await.unwrap();
                let conversions = self.store.next_conversion_at().await.unwrap();
                if let Some(due) = calls.into_iter().chain(conversions).min() {
                    self.clock.advance_to(due);
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The job once every recipient is done or failed, the clock driven.
    async fn finished(&self, id: &JobId) -> JobView {
        self.until(id, "finished", true, |j| {
            j.recipients
                .iter()
                .all(|r| matches!(r.status, RecipientStatus::Done | RecipientStatus::Failed))
        })
        .await
    }
}

/// A job to `numbers` received at `now`, committed.
async fn insert_job(store: &Store, now: i64, numbers: &[&str]) -> JobId {
    let job = NewJob::example(now, numbers);
    let id = job.id.clone();
    store.insert_jobs(&[job]).await.unwrap();
    id
}

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[tokio::test]
async fn a_busy_number_is_called_again_after_the_schedules_delay() {
    let h = start(
        line(1, None, &[("+33155000001", &["busy", "ok"])]),
        policy(600, 5, 86_400),
        Vec::new(),
    )
    .await;
    let id = h.job(&["+33155000001"]).await;
    let job = h.finished(&id).await;
    let r = &job.recipients[0];
    assert_eq!(
        (r.status, r.attempts, r.dials),
        (RecipientStatus::Done, 2, 1)
    );
    let log = &r.attempt_log;
    assert_eq!(log[0].status_code.as_deref(), Some("4.4.1"));
    let waited = ms(&log[1].started_at) - ms(log[0].ended_at.as_deref().unwrap());
    assert!(waited >= 600_000, "called again after {waited} ms");
}

#[tokio::test]
async fn a_number_always_busy_fails_after_max_dials() {
    let h = start(
        line(1, None, &[("+33155000002", &["busy"])]),
        policy(60, 3, 86_400),
        Vec::new(),
    )
    .await;
    let id = h.job(&["+33155000002"]).await;
    let r = &h.finished(&id).await.recipients[0];
    assert_eq!((r.status, r.attempts), (RecipientStatus::Failed, 3));
    assert_eq!(r.status_code.as_deref(), Some("4.4.1"));
    assert!(r.reason.as_deref().unwrap().contains("3 calls"), "{r:?}");
}

#[tokio::test]
async fn calls_never_exceed_the_channels_nor_one_per_number() {
    let h = start(
        line(2, Some("300ms"), &[]),
        policy(60, 5, 86_400),
        Vec::new(),
    )
    .await;
    let mut ids = Vec::new();
    for n in [
        "+33155000011",
        "+33155000012",
        "+33155000013",
        "+33155000014",
    ] {
        ids.push(h.job(&[n]).await);
    }
    // two more to the first number: a fax machine has one line
    ids.push(h.job(&["+33155000011"]).await);
    ids.push(h.job(&["+33155000011"]).await);
    let (mut most, mut most_to_one) = (0, 0);
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let sending: Vec<String> = h
            .store
            .jobs(false)
            .await
            .unwrap()
            .iter()
            .flat_map(|j| j.recipients.iter())
            .filter(|r| r.status == RecipientStatus::Sending)
            .map(|r| r.number.clone())
            .collect();
        most = most.max(sending.len());
        most_to_one = most_to_one.max(sending.iter().filter(|n| *n == "+33155000011").count());
        if h.store.jobs(false).await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(most, 2, "both channels used, never more");
    assert_eq!(most_to_one, 1, "one call at a time to a number");
    for id in &ids {
        assert_eq!(
            h.finished(id).await.recipients[0].status,
            RecipientStatus::Done
        );
    }
}

#[tokio::test]
async fn a_conversion_the_server_failed_waits_and_one_the_document_failed_fails() {
    let crashed = || ConvertError::Crashed {
        tool: "gs".into(),
        how: "killed by signal 9".into(),
    };
    let damaged = ConvertError::Damaged {
        part: "scan.pdf".into(),
        detail: "no pages".into(),
    };
    let h = start(
        line(1, None, &[]),
        policy(300, 5, 86_400),
        vec![Err(crashed()), Ok(()), Err(damaged)],
    )
    .await;
    let first = h.job(&["+33155000021"]).await;
    let deferred = h
        .until(&first, "deferred by the crash", false, |j| {
            j.recipients[0].status == RecipientStatus::Deferred
        })
        .await;
    let r = &deferred.recipients[0];
    assert_eq!(r.status_code.as_deref(), Some("4.3.0"));
    assert!(
        r.reason.as_deref().unwrap().contains("killed by signal 9"),
        "{r:?}"
    );
    let done = h.finished(&first).await;
    let r = &done.recipients[0];
    assert_eq!(
        (r.status, r.attempts, r.tries),
        (RecipientStatus::Done, 1, 0)
    );

    let second = h.job(&["+33155000022"]).await;
    let r = &h.finished(&second).await.recipients[0];
    assert_eq!(r.status, RecipientStatus::Failed);
    assert_eq!(r.status_code.as_deref(), Some("5.6.5"));
    assert_eq!(r.attempts, 0, "no call for a document that cannot be faxed");
}

#[tokio::test]
async fn a_converter_that_keeps_crashing_fails_the_job_once_the_time_is_up() {
    let crashes = (0..100)
        .map(|_| {
            Err(ConvertError::ToolMissing {
                tool: "LibreOffice".into(),
            })
        })
        .collect();
    let h = start(line(1, None, &[]), policy(600, 5, 3_600), crashes).await;
    let id = h.job(&["+33155000031"]).await;
    let r = &h.finished(&id).await.recipients[0];
    assert_eq!(r.status, RecipientStatus::Failed);
    assert_eq!(r.status_code.as_deref(), Some("4.3.0"));
    assert!(r.reason.as_deref().unwrap().contains("gave up"), "{r:?}");
}

#[tokio::test]
async fn shutdown_waits_for_the_call_in_progress_and_records_it() {
    let h = start(line(1, Some("2s"), &[]), policy(60, 5, 86_400), Vec::new()).await;
    let id = h.job(&["+33155000041"]).await;
    h.until(&id, "calling", false, |j| {
        j.recipients[0].status == RecipientStatus::Sending
    })
    .await;
    h.stop.send(true).unwrap();
    h.task.await.unwrap();
    let r = &h.base.store.job(&id).await.unwrap().unwrap().recipients[0];
    assert_eq!(
        r.status,
        RecipientStatus::Done,
        "the call ended and was recorded: {r:?}"
    );
}

#[tokio::test]
async fn after_a_crash_mid_call_and_mid_conversion_every_job_completes() {
    // what a crash leaves: a call that never ended, a conversion that never ended, a partial
    // write, and a message whose job was never committed (its client got no 250)
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("faxhub.db")).await.unwrap();
    let spool = Spool::open(&dir.path().join("spool")).unwrap();
    let now = faxhub_queue::job::now_ms();
    let calling = insert_job(&store, now, &["+33155000051"]).await;
    store.claim_conversions(10, now).await.unwrap();
    let pages = Spool::pages_rel(calling.as_str());
    spool.write_durable(&pages, &one_page()).unwrap();
    store
        .conversion_done(&calling, 1, &pages, &[], 2_000)
        .await
        .unwrap();
    let due = store.due_recipients(now, 10).await.unwrap();
    assert!(
        store
            .start_attempt(&due[0], &CallClaim::unlimited("test"), now)
            .await
            .unwrap()
            == Start::Started
    );
    let converting = insert_job(&store, now + 1, &["+33155000052"]).await;
    assert_eq!(store.claim_conversions(10, now).await.unwrap().len(), 1);
    std::fs::write(spool.tmp_dir().join("half-written"), b"par").unwrap();
    spool
        .write_durable("msg/never-committed.eml", b"Subject: x\r\n\r\nx")
        .unwrap();
    drop(store);

    let store = Store::open(&dir.path().join("faxhub.db")).await.unwrap();
    crate::recovery::recover(&store, &spool).await.unwrap();
    let r = &store.job(&calling).await.unwrap().unwrap().recipients[0];
    assert_eq!((r.status, r.tries), (RecipientStatus::Deferred, 1));
    assert_eq!(r.attempt_log[0].status_code.as_deref(), Some("4.4.7"));
    assert!(
        std::fs::read_dir(spool.tmp_dir()).unwrap().next().is_none(),
        "partial write gone"
    );
    assert!(!spool.path("msg/never-committed.eml").exists());
    assert!(
        std::fs::read_dir(spool.root().join("quarantine"))
            .unwrap()
            .count()
            == 1,
        "the orphan message kept in quarantine"
    );
    drop(store);

    let h = start_in(dir, line(1, None, &[]), policy(60, 5, 86_400), Vec::new()).await;
    for id in [&calling, &converting] {
        let r = &h.finished(id).await.recipients[0];
        assert_eq!(r.status, RecipientStatus::Done, "{id}: {r:?}");
    }
}

/// A converter that counts the conversions running at once; each holds until `open` lets it go.
struct Held {
    running: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    open: tokio::sync::Semaphore,
}

impl Convert for Held {
    fn convert<'a>(
        &'a self,
        spool: &'a Spool,
        claim: &'a faxhub_queue::store::Conversion,
        _addressees: &'a [faxhub_queue::store::Addressee],
    ) -> Pin<Box<dyn Future<Output = Result<Converted, ConvertError>> + Send + 'a>> {
        use std::sync::atomic::Ordering::SeqCst;
        Box::pin(async move {
            let now = self.running.fetch_add(1, SeqCst) + 1;
            self.most.fetch_max(now, SeqCst);
            self.open.acquire().await.expect("never closed").forget();
            self.running.fetch_sub(1, SeqCst);
            one_page_set(spool, &claim.job)
        })
    }
}

impl Held {
    fn new() -> Arc<Held> {
        Arc::new(Held {
            running: Default::default(),
            most: Default::default(),
            open: tokio::sync::Semaphore::new(0),
        })
    }

    /// Until `n` conversions run at once (at most ten seconds of real time).
    async fn until_running(&self, n: usize, what: &str) {
        let started = std::time::Instant::now();
        while self.running.load(std::sync::atomic::Ordering::SeqCst) < n {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{what}: {n} conversions never ran at once"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A scheduler whose conversions are `Held`, with one channel.
async fn with_held() -> (Arc<Held>, Harness) {
    let held = Held::new();
    let h = start_with(
        tempfile::tempdir().unwrap(),
        line(1, None, &[]),
        policy(60, 3, 3600),
        held.clone(),
    )
    .await;
    (held, h)
}

#[tokio::test]
async fn while_mail_arrives_one_conversion_runs_and_every_worker_once_it_stops() {
    use std::sync::atomic::Ordering::SeqCst;
    // control: two jobs, no burst: both workers convert at once
    let (held, h) = with_held().await;
    for _ in 0..2 {
        insert_job(&h.store, h.clock.now_ms(), &["+33169293999"]).await;
    }
    h.wakeups.scheduler.committed(2);
    held.until_running(2, "two jobs, no burst").await;
    held.open.add_permits(2);

    // a burst: 40 jobs committed in a moment; while it lasts, one conversion at a time
    let (held, h) = with_held().await;
    h.wakeups.scheduler.committed(0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ids = Vec::new();
    for _ in 0..40 {
        // counted as each commits, as the intake does
        ids.push(insert_job(&h.store, h.clock.now_ms(), &["+33169293999"]).await);
        h.wakeups.scheduler.committed(1);
    }
    // the first jobs of a burst are converted before it is seen as one (two workers); they go
    tokio::time::sleep(Duration::from_millis(200)).await;
    let early = held.running.load(SeqCst);
    assert!(early >= 1, "the burst's first jobs are being converted");
    held.most.store(0, SeqCst);
    held.open.add_permits(early);
    // then one conversion at a time, each at least 500 ms (on the clock) after the one before:
    // the scheduler passes every 50 ms meanwhile and starts none early
    for _ in 0..2 {
        h.clock.advance(Duration::from_millis(500));
        held.until_running(1, "the next conversion in the burst")
            .await;
        held.open.add_permits(1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(held.running.load(SeqCst), 0, "none before its time");
    }
    assert_eq!(
        held.most.load(SeqCst),
        1,
        "one conversion at a time while mail arrives"
    );
    // quiet for longer than the hold (2 s after the burst): every worker again
    h.clock.advance(Duration::from_secs(2));
    h.wakeups.scheduler.notify_one();
    held.until_running(2, "every worker once mail stopped")
        .await;
    held.open.add_permits(1000);
    for id in &ids {
        h.until(id, "converted", false, |j| j.pages == Some(1))
            .await;
    }
}

/// Runs `sql` on the store at `db` from another process (sqlite3), as a fault injector.
fn sqlite(db: &std::path::Path, sql: &str) {
    let out = std::process::Command::new("sqlite3")
        .arg(db)
        .arg(sql)
        .output()
        .expect("sqlite3 runs (Debian's package sqlite3)");
    assert!(out.status.success(), "{sql}: {out:?}");
}

#[tokio::test]
async fn an_outcome_the_store_refuses_is_recorded_once_it_takes_it_again() {
    use faxhub_queue::state::JobPhase;
    let (held, h) = with_held().await;
    let id = h.job(&["+33169293999"]).await;
    held.until_running(1, "the conversion").await;
    // the store refuses every change to a job (as a full disk or an I/O error would)
    let db = h.dir.path().join("faxhub.db");
    sqlite(
        &db,
        "CREATE TRIGGER refuse BEFORE UPDATE ON jobs BEGIN SELECT RAISE(ABORT, 'injected'); END;",
    );
    held.open.add_permits(1);
    // the conversion ended but could not be recorded: the job stays claimed, tried again
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let job = h.store.job(&id).await.unwrap().unwrap();
    assert_eq!(job.phase, JobPhase::Converting, "{job:#?}");
    sqlite(&db, "DROP TRIGGER refuse;");
    // recorded at the next try, then faxed: no restart needed
    let job = h.finished(&id).await;
    assert_eq!(job.recipients[0].status, RecipientStatus::Done, "{job:#?}");
    assert_eq!(job.pages, Some(1));
}

/// Hours that open `wait` minutes after `now_ms` (local time) and last an hour.
fn opening_in(now_ms: i64, wait: u32) -> Hours {
    let (minute, _) = super::local_minute(now_ms);
    let day = faxhub_queue::window::DAY_MINUTES;
    Hours::parse(&format!(
        "{}-{}",
        hh_mm((minute + wait) % day),
        hh_mm((minute + wait + 60) % day)
    ))
    .unwrap()
}

fn hh_mm(minute: u32) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[tokio::test]
async fn a_number_outside_its_sending_window_waits_for_it_and_others_do_not() {
    let windows: MakeWindows = |now| {
        let config = faxhub_queue::window::WindowConfig {
            numbers: vec!["international".into()],
            hours: opening_in(now, 10).to_string(),
        };
        (Windows::new(&[config], "33").unwrap(), Vec::new())
    };
    let dir = tempfile::tempdir().unwrap();
    let converter = Arc::new(Scripted(Mutex::new(Default::default())));
    let h = start_windowed(
        dir,
        line(2, None, &[]),
        policy(60, 5, 86_400),
        converter,
        windows,
    )
    .await;
    let start = h.clock.now_ms();
    let id = h.job(&["+442079460000", "+33155000001"]).await;
    let job = h
        .until(
            &id,
            "the French number sent, the British one put off",
            false,
            |j| {
                j.recipients[1].status == RecipientStatus::Done
                    && j.recipients[0].status == RecipientStatus::Deferred
            },
        )
        .await;
    let abroad = &job.recipients[0];
    assert_eq!(abroad.attempts, 0, "no try counted: {abroad:?}");
    let reason = abroad.reason.as_deref().unwrap();
    assert!(
        reason.starts_with("waiting for its sending window"),
        "{reason}"
    );
    assert!(reason.ends_with("for international"), "{reason}");
    // it is called once the window opens, not before
    let job = h.finished(&id).await;
    let abroad = &job.recipients[0];
    assert_eq!(abroad.status, RecipientStatus::Done, "{abroad:?}");
    let called = ms(&abroad.attempt_log[0].started_at);
    assert!(
        called >= start + 9 * 60_000,
        "called {} s after",
        (called - start) / 1000
    );
    assert!(
        called <= start + 11 * 60_000,
        "called {} s after",
        (called - start) / 1000
    );
}

#[tokio::test]
async fn a_line_outside_its_hours_takes_no_call_until_they_begin() {
    let windows: MakeWindows = |now| (Windows::default(), vec![Some(opening_in(now, 30))]);
    let dir = tempfile::tempdir().unwrap();
    let converter = Arc::new(Scripted(Mutex::new(Default::default())));
    let h = start_windowed(
        dir,
        line(1, None, &[]),
        policy(60, 5, 86_400),
        converter,
        windows,
    )
    .await;
    let start = h.clock.now_ms();
    let id = h.job(&["+33155000001"]).await;
    // converted and due, but the line is closed: it waits, queued, however long we look
    h.until(&id, "converted", false, |j| j.pages.is_some())
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = h.store.job(&id).await.unwrap().unwrap();
    assert_eq!(job.recipients[0].status, RecipientStatus::Queued, "{job:?}");
    h.clock.advance_to(start + 30 * 60_000);
    let job = h
        .until(&id, "sent once the line opens", false, |j| {
            j.recipients[0].status == RecipientStatus::Done
        })
        .await;
    assert!(ms(&job.recipients[0].attempt_log[0].started_at) >= start + 29 * 60_000);
}
