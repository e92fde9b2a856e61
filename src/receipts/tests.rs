//! The reporter in-process: a real store and spool, a clock the test moves by hand. One mail to
//! three numbers whose calls end three ways: the delivered and the failed recipients get their
//! report at once (one report each, by action), the deferred one nothing until `delay_after`
//! has passed, then one delay report, and never a second; a null sender gets none at all.

use super::*;
use crate::testing::Base;
use faxhub_queue::job::Ret;
use faxhub_queue::state::RecipientStatus;
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::{AttemptEnd, CallClaim, NewJob, Start};
use std::collections::BTreeSet;

struct Harness {
    base: Base,
    stop: watch::Sender<bool>,
}

impl std::ops::Deref for Harness {
    type Target = Base;
    fn deref(&self) -> &Base {
        &self.base
    }
}

async fn start() -> Harness {
    let base = Base::new().await;
    let config = ReceiptsConfig {
        notify: vec!["success".into(), "failure".into(), "delay".into()],
        attach: config::Attach::None,
        thumbnail: false,
        ..ReceiptsConfig::default()
    };
    let reporter = Reporter {
        store: base.store.clone(),
        spool: base.spool.clone(),
        policy: config.policy().unwrap(),
        config,
        hostname: "faxhub.test".into(),
        from: "MAILER-DAEMON@faxhub.test".into(),
        retry_window: Duration::from_secs(86_400),
        local: LocalDomains::new(&["example.com".to_string()]).unwrap(),
        wakeups: base.wakeups.clone(),
        clock: base.clock.clone(),
    };
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(reporter.run(stopped));
    Harness { base, stop }
}

impl Harness {
    /// A converted job from `sender` to `numbers`, each called once and ended as `ends` says
    /// (code, new status); the reporter told, as the scheduler does.
    async fn called(
        &self,
        sender: &str,
        ends: &[(&str, EnhancedStatus, RecipientStatus)],
    ) -> JobId {
        let now = self.clock.now_ms();
        let id = JobId::generate(now);
        let message = Spool::message_rel(id.as_str());
        let text = format!(
            "From: {sender}\r\nTo: fax\r\nSubject: quarterly\r\nMessage-ID: <{id}@example.com>\r\n\r\nhello\r\n"
        );
        self.spool.write_durable(&message, text.as_bytes()).unwrap();
        let numbers: Vec<&str> = ends.iter().map(|(n, ..)| *n).collect();
        let job = NewJob {
            id: id.clone(),
            return_path: sender.into(),
            from_header: Some(sender.into()),
            subject: Some("quarterly".into()),
            ret: Some(Ret::Hdrs),
            message_path: message,
            size: text.len() as u64,
            ..NewJob::example(now, &numbers)
        };
        self.store.insert_jobs(&[job]).await.unwrap();
        self.store.claim_conversions(10, now).await.unwrap();
        let pages = Spool::pages_rel(id.as_str());
        self.store
            .conversion_done(&id, 1, &pages, &[], 2_000)
            .await
            .unwrap();
        for due in self.store.due_recipients(now, 10).await.unwrap() {
            let (_, status, new_status) = ends[due.idx as usize];
            assert!(
                self.store
                    .start_attempt(&due, &CallClaim::unlimited("test"), now)
                    .await
                    .unwrap()
                    == Start::Started
            );
            let end = AttemptEnd {
                job_id: id.clone(),
                idx: due.idx,
                line: "test".into(),
                started_at_ms: now,
                ended_at_ms: now + 1_000,
                status,
                reason: "scripted".into(),
                pages_sent: i64::from(status.is_success()),
                first_page: 1,
                confirmed: i64::from(status.is_success()),
                resume_from: 0,
                new_status,
                tries: 0,
                dials: 1,
                next_attempt_at_ms: (new_status == RecipientStatus::Deferred)
                    .then_some(now + 86_400_000),
                call: None,
            };
            self.store.end_attempt(&end).await.unwrap();
        }
        self.wakeups.reporter.notify_one();
        id
    }

    /// The reports queued so far, by kind.
    async fn reports(&self) -> (usize, usize, usize) {
        let n = |kind| async move { self.store.mail_ids(kind).await.unwrap().len() };
        (
            n(MailKind::Delivered).await,
            n(MailKind::Failed).await,
            n(MailKind::Delayed).await,
        )
    }

    /// Waits (a minute at most) until the reports queued are `want`, then a moment more to
    /// see that nothing else comes.
    async fn expect(&self, want: (usize, usize, usize), what: &str) {
        let started = std::time::Instant::now();
        while self.reports().await != want {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: {:?} reports, not {want:?}",
                self.reports().await
            );
            // the reporter looks every few seconds on its own; time moved by hand: told now
            self.wakeups.reporter.notify_one();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.wakeups.reporter.notify_one();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(self.reports().await, want, "{what}: and no more");
    }
}

#[tokio::test]
async fn each_outcome_gets_its_report_when_it_is_due_and_once() {
    let h = start().await;
    h.called(
        "alice@example.com",
        &[
            ("+33155000001", EnhancedStatus::OK, RecipientStatus::Done),
            (
                "+33155000002",
                EnhancedStatus::NO_SUCH_NUMBER,
                RecipientStatus::Failed,
            ),
            (
                "+33155000003",
                EnhancedStatus::BUSY,
                RecipientStatus::Deferred,
            ),
        ],
    )
    .await;
    h.expect(
        (1, 1, 0),
        "delivered and failed at once, the busy one waits",
    )
    .await;
    h.clock.advance(Duration::from_secs(3_599));
    h.expect((1, 1, 0), "not before delay_after").await;
    h.clock.advance(Duration::from_secs(1));
    h.expect((1, 1, 1), "the delay report once an hour has passed")
        .await;
    h.clock.advance(Duration::from_secs(3 * 3_600));
    h.expect((1, 1, 1), "one delay report, not one an hour")
        .await;
    // each report went to the sender, from the daemon, in a file of its own
    let due = h.store.mail_due(i64::MAX, 10).await.unwrap();
    let to: BTreeSet<&str> = due.iter().map(|m| m.rcpt_to.as_str()).collect();
    assert_eq!(to, BTreeSet::from(["alice@example.com"]));
    assert!(
        due.iter().all(|m| m.mail_from.is_empty()),
        "reports have the null sender"
    );
    assert!(due.iter().all(|m| h.spool.path(&m.path).is_file()));

    // the null sender: no report whatever happens
    h.called(
        "",
        &[(
            "+33155000004",
            EnhancedStatus::NO_SUCH_NUMBER,
            RecipientStatus::Failed,
        )],
    )
    .await;
    h.expect((1, 1, 1), "nothing to the null sender").await;
    h.stop.send(true).unwrap();
}
