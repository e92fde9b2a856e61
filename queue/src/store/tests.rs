//! The store against a real SQLite file and a real PostgreSQL database (a server of the test
//! process's own): the transitions the scheduler and the CLI rely on, the same on both.

use super::*;
use crate::limits::Usage;
use crate::state::JobPhase;

/// Each test once on a SQLite file and once on a PostgreSQL database of its own:
/// `<test>::sqlite` and `<test>::postgres`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let store = super::Store::open(&dir.path().join("db")).await.unwrap();
                super::$name(store).await
            }

            #[tokio::test]
            async fn postgres() {
                let target = super::Target::Postgres {
                    url: crate::pg_test::database(),
                    connections: 4,
                };
                let store = super::Store::connect(&target).await.unwrap();
                super::$name(store).await
            }
        }
    )*};
}

on_both_backends!(
    the_view_of_a_new_job_is_what_the_store_reads_back,
    webhook_events_are_written_with_their_changes_and_delivered_in_order,
    the_gauges_count_recipients_by_status_the_oldest_waiting_and_the_outbox,
    jobs_are_paged_by_sender_status_and_time,
    api_tokens_are_kept_listed_and_revoked,
    web_sessions_are_kept_until_they_end_or_expire,
    text_with_nul_is_kept_with_a_replacement_character,
    a_job_moves_through_its_states,
    recovery_and_conversion_failure,
    a_recipient_with_a_cover_has_its_own_page_set,
    reports_are_marked_with_their_mail_and_mail_is_sent_once,
    an_agents_item_makes_one_job_and_is_found_again,
    a_recipient_refused_at_intake_is_failed_with_its_reason_and_never_due,
    a_senders_usage_counts_its_numbers_calls_and_pages_in_the_window,
    a_conversion_deferred_for_the_servers_trouble_waits_then_converts,
    numbers_with_a_call_in_progress_are_left_out_of_what_can_start,
    a_batch_is_inserted_whole_or_not_at_all,
    line_usage_counts_calls_deliveries_failures_pages_and_time_per_sender_code_and_line,
    high_priority_jobs_go_first_and_held_ones_wait_until_their_time,
    destinations_are_remembered_listed_and_forgotten,
);

/// What is known of a number is written, read back (every field), overwritten, listed in order
/// and forgotten.
async fn destinations_are_remembered_listed_and_forgotten(store: Store) {
    use crate::memory::{Destination, Profile};
    assert_eq!(store.destination("+33142000000").await.unwrap(), None);
    let paris = Destination {
        number: "+33142000000".into(),
        profile: Profile {
            t38: Some(false),
            max_speed: Some(9_600),
            ecm: Some(false),
        },
        pinned: true,
        last_ok: Some("G.711 at 9600 bit/s".into()),
        last_ok_at: Some(1_000),
        last_failure: Some("the modems could not train".into()),
        last_failure_at: Some(900),
    };
    store.remember(&paris, 1_000).await.unwrap();
    assert_eq!(
        store.destination("+33142000000").await.unwrap(),
        Some(paris.clone())
    );
    let london = Destination {
        number: "+442079460000".into(),
        ..Default::default()
    };
    store.remember(&london, 1_100).await.unwrap();
    let paris_open = Destination {
        profile: Profile::default(),
        pinned: false,
        ..paris.clone()
    };
    store.remember(&paris_open, 1_200).await.unwrap();
    let all = store.destinations().await.unwrap();
    assert_eq!(all, [paris_open, london.clone()]);
    assert!(store.forget_destination("+33142000000").await.unwrap());
    assert!(!store.forget_destination("+33142000000").await.unwrap());
    assert_eq!(store.destinations().await.unwrap(), [london]);
}

/// A high-priority job received after a normal one is due before it; a low one after both; a
/// job held until 50 s waits (deferred, with the reason, the scheduler woken then) and counts
/// its retries from then.
async fn high_priority_jobs_go_first_and_held_ones_wait_until_their_time(store: Store) {
    use crate::schedule::Priority;
    let normal = job(1_000, &["+33169293991"]);
    let mut low = job(1_001, &["+33169293992"]);
    low.priority = Priority::Low;
    let mut high = job(2_000, &["+33169293993"]);
    high.priority = Priority::High;
    let mut held = job(1_500, &["+33169293994"]);
    held.send_at_ms = Some(50_000);
    let jobs = [normal.clone(), low.clone(), high.clone(), held.clone()];
    store.insert_jobs(&jobs).await.unwrap();
    store.claim_conversions(10, 3_000).await.unwrap();
    for j in &jobs {
        store
            .conversion_done(&j.id, 1, "pages/x.tif", &[], 3_000)
            .await
            .unwrap();
    }
    let order = |due: Vec<DueRecipient>| due.into_iter().map(|d| d.job_id).collect::<Vec<_>>();
    assert_eq!(
        order(store.due_recipients(10_000, 10).await.unwrap()),
        [high.id.clone(), normal.id.clone(), low.id.clone()]
    );
    assert_eq!(store.next_due_at().await.unwrap(), Some(50_000));
    let view = store.job(&held.id).await.unwrap().unwrap();
    assert_eq!(view.recipients[0].status, RecipientStatus::Deferred);
    assert!(view.send_at.is_some());
    assert!(
        view.recipients[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("held until"),
        "{view:?}"
    );
    assert_eq!(store.job(&high.id).await.unwrap().unwrap().priority, "high");
    let due = store.due_recipients(50_000, 10).await.unwrap();
    let d = due
        .iter()
        .find(|d| d.job_id == held.id)
        .expect("due at its time");
    assert_eq!(d.received_at_ms, 50_000, "retries count from the send time");
}

/// `faxhub usage`'s numbers: a's fax under PRJ-1 busy once then delivered (2 calls, 1
/// delivered, 4 s on the line), b's fax failed for good; a call before the period is left out.
async fn line_usage_counts_calls_deliveries_failures_pages_and_time_per_sender_code_and_line(
    store: Store,
) {
    let mut a = job(1_000, &["+33169293999"]);
    a.billing = Some("PRJ-1".into());
    let mut b = job(1_001, &["+33169293998"]);
    b.return_path = "b@example.com".into();
    store.insert_jobs(&[a.clone(), b.clone()]).await.unwrap();
    store.claim_conversions(10, 1_500).await.unwrap();
    for id in [&a.id, &b.id] {
        store
            .conversion_done(id, 2, "pages/x.tif", &[], 1_500)
            .await
            .unwrap();
    }
    let call = |due: &DueRecipient, status, new_status, at: i64, seconds: i64| AttemptEnd {
        ended_at_ms: at + seconds * 1_000,
        pages_sent: if status == EnhancedStatus::OK { 2 } else { 0 },
        first_page: 1,
        confirmed: if status == EnhancedStatus::OK { 2 } else { 0 },
        resume_from: 0,
        ..end(due, status, new_status, at)
    };
    // a call before the period
    let due = store.due_recipients(2_000, 10).await.unwrap();
    let (da, db) = (
        due.iter().find(|d| d.job_id == a.id).unwrap().clone(),
        due.iter().find(|d| d.job_id == b.id).unwrap().clone(),
    );
    for (d, status, new_status, at, secs) in [
        (
            &da,
            EnhancedStatus::BUSY,
            RecipientStatus::Deferred,
            2_000,
            1,
        ),
        (
            &db,
            EnhancedStatus::NOT_AUTHORIZED,
            RecipientStatus::Failed,
            10_000,
            7,
        ),
    ] {
        let claim = CallClaim::unlimited("file");
        assert!(store.start_attempt(d, &claim, at).await.unwrap() == Start::Started);
        store
            .end_attempt(&call(d, status, new_status, at, secs))
            .await
            .unwrap();
    }
    let again = store.due_recipients(20_000, 10).await.unwrap();
    let da = again.iter().find(|d| d.job_id == a.id).unwrap();
    let claim = CallClaim::unlimited("file");
    assert!(store.start_attempt(da, &claim, 20_000).await.unwrap() == Start::Started);
    store
        .end_attempt(&call(
            da,
            EnhancedStatus::OK,
            RecipientStatus::Done,
            20_000,
            4,
        ))
        .await
        .unwrap();
    let rows = store.line_usage(0, 100_000).await.unwrap();
    let row =
        |sender: &str, billing: Option<&str>, calls, delivered, failed, pages, line_ms| UsageRow {
            sender: sender.into(),
            billing: billing.map(str::to_string),
            line: "file".into(),
            calls,
            delivered,
            failed,
            pages,
            line_ms,
        };
    assert_eq!(
        rows,
        [
            row("a@example.com", Some("PRJ-1"), 2, 1, 0, 2, 5_000),
            row("b@example.com", None, 1, 0, 1, 0, 7_000),
        ]
    );
    // the period starts after a's busy call and b's failure
    assert_eq!(
        store.line_usage(15_000, 100_000).await.unwrap(),
        [row("a@example.com", Some("PRJ-1"), 1, 1, 0, 2, 4_000)]
    );
    assert_eq!(store.line_usage(100_000, 200_000).await.unwrap(), []);
}

/// A batch with one job the database refuses (its id taken) leaves nothing behind: on
/// PostgreSQL such a batch is one statement, on SQLite one transaction.
async fn a_batch_is_inserted_whole_or_not_at_all(store: Store) {
    let first = job(1_000, &["+33169293999"]);
    store
        .insert_jobs(std::slice::from_ref(&first))
        .await
        .unwrap();
    let other = job(1_001, &["+33169293998"]);
    let again = NewJob {
        recipients: vec![NewRecipient::example("+33169293997")],
        ..first.clone()
    };
    assert!(store.insert_jobs(&[other.clone(), again]).await.is_err());
    assert!(
        store.job(&other.id).await.unwrap().is_none(),
        "not half a batch"
    );
    assert_eq!(
        store
            .sender_usage("a@example.com", 0)
            .await
            .unwrap()
            .numbers
            .len(),
        1,
        "nor its numbers"
    );
    // the batch without the bad job goes in, with its new destination counted
    assert_eq!(
        store
            .insert_jobs(std::slice::from_ref(&other))
            .await
            .unwrap(),
        NewNumbers::from([("a@example.com".into(), 1)])
    );
}

/// With one call per number, a queue headed by faxes to a number being called (here or on
/// another node) must not hide the faxes behind them, nor cost a claim each.
async fn numbers_with_a_call_in_progress_are_left_out_of_what_can_start(store: Store) {
    let jobs = [
        job(1_000, &["+33169293999"]),
        job(1_001, &["+33169293999"]),
        job(1_002, &["+33169290000"]),
    ];
    store.insert_jobs(&jobs).await.unwrap();
    for claim in store.claim_conversions(10, 2_000).await.unwrap() {
        store
            .conversion_done(&claim.job, 1, "pages/x.tif", &[], 2_000)
            .await
            .unwrap();
    }
    let due = store.due_to_free_numbers(2_000, 10).await.unwrap();
    assert_eq!(due.len(), 3, "no call yet: every recipient");
    assert_eq!(
        store
            .start_attempt(&due[0], &CallClaim::unlimited("file"), 2_000)
            .await
            .unwrap(),
        Start::Started
    );
    // control: every due recipient, the busy number's second fax first
    let all = store.due_recipients(2_000, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|d| d.job_id.clone()).collect::<Vec<_>>(),
        [jobs[1].id.clone(), jobs[2].id.clone()]
    );
    let free = store.due_to_free_numbers(2_000, 10).await.unwrap();
    assert_eq!(
        free.iter().map(|d| d.job_id.clone()).collect::<Vec<_>>(),
        [jobs[2].id.clone()],
        "the number being called is left out"
    );
}

/// How many numbers `sender` faxed for the first time since `since_ms`.
async fn new_since(store: &Store, sender: &str, since_ms: i64) -> u64 {
    store
        .sender_usage_and_new(sender, since_ms, since_ms)
        .await
        .unwrap()
        .1
}

fn job(id_ms: i64, numbers: &[&str]) -> NewJob {
    let mut job = NewJob {
        env_id: Some("E1".into()),
        ret: Some(Ret::Hdrs),
        ..NewJob::example(id_ms, numbers)
    };
    for r in &mut job.recipients {
        r.notify = Notify::parse("SUCCESS");
    }
    job
}

fn end(
    due: &DueRecipient,
    status: EnhancedStatus,
    new_status: RecipientStatus,
    at: i64,
) -> AttemptEnd {
    AttemptEnd {
        job_id: due.job_id.clone(),
        idx: due.idx,
        line: "file".into(),
        started_at_ms: at,
        ended_at_ms: at + 1,
        status,
        reason: "r".into(),
        pages_sent: 1,
        first_page: 1,
        confirmed: 1,
        resume_from: 0,
        new_status,
        tries: 0,
        dials: 1,
        next_attempt_at_ms: (new_status == RecipientStatus::Deferred).then_some(at + 1000),
        call: Some(crate::progress::CallProgress {
            remote_ident: Some("+33 1 69 29 39 99".into()),
            ..Default::default()
        }),
    }
}

async fn a_job_moves_through_its_states(store: Store) {
    let j = job(1_000, &["+33169293999", "+33169293998"]);
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    assert!(
        store.due_recipients(2_000, 10).await.unwrap().is_empty(),
        "not converted yet"
    );
    let claimed = store.claim_conversions(10, 2_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert!(
        store.claim_conversions(10, 2_000).await.unwrap().is_empty(),
        "claimed once"
    );
    assert_eq!(
        store.job(&j.id).await.unwrap().unwrap().phase,
        JobPhase::Converting
    );
    store
        .conversion_done(&j.id, 2, "pages/x.tif", &[], 2_000)
        .await
        .unwrap();
    let due = store.due_recipients(2_000, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert!(
        store
            .start_attempt(&due[0], &CallClaim::unlimited("file"), 2_000)
            .await
            .unwrap()
            == Start::Started
    );
    assert!(
        store
            .start_attempt(&due[0], &CallClaim::unlimited("file"), 2_000)
            .await
            .unwrap()
            == Start::Changed,
        "already sending"
    );
    assert_eq!(
        store
            .end_attempt(&end(
                &due[0],
                EnhancedStatus::BUSY,
                RecipientStatus::Deferred,
                2_000
            ))
            .await
            .unwrap(),
        Some(RecipientStatus::Deferred)
    );
    assert_eq!(store.next_due_at().await.unwrap(), Some(3_000));
    assert_eq!(
        store.due_recipients(2_500, 10).await.unwrap().len(),
        1,
        "the deferred one is not due yet"
    );
    // an operator holds the second number while the first is due again
    let reports = store
        .operator_action(&j.id, Some(&due[1].number), OperatorAction::Hold, 2_600)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reports[0].effect,
        ActionEffect::Becomes(RecipientStatus::Held)
    );
    let due_again = store.due_recipients(4_000, 10).await.unwrap();
    assert_eq!(due_again.len(), 1);
    assert!(
        store
            .start_attempt(&due_again[0], &CallClaim::unlimited("file"), 4_000)
            .await
            .unwrap()
            == Start::Started
    );
    store
        .end_attempt(&end(
            &due_again[0],
            EnhancedStatus::OK,
            RecipientStatus::Done,
            4_000,
        ))
        .await
        .unwrap();
    let view = store.job(&j.id).await.unwrap().unwrap();
    assert_eq!(
        view.phase,
        JobPhase::Converted,
        "one recipient is still held"
    );
    assert_eq!(view.recipients[0].attempts, 2);
    assert_eq!(
        view.recipients[0].attempt_log[0].status_code.as_deref(),
        Some("4.4.1")
    );
    assert_eq!(view.recipients[1].status, RecipientStatus::Held);
    assert_eq!(view.env_id.as_deref(), Some("E1"));
    assert_eq!(view.recipients[0].notify.as_deref(), Some("SUCCESS"));
    store
        .operator_action(&j.id, None, OperatorAction::Cancel, 5_000)
        .await
        .unwrap();
    let view = store.job(&j.id).await.unwrap().unwrap();
    assert_eq!(view.phase, JobPhase::Finished);
    assert!(store.jobs(false).await.unwrap().is_empty());
    assert_eq!(store.jobs(true).await.unwrap().len(), 1);
    assert_eq!(
        store.purge_finished(5_001).await.unwrap(),
        vec!["msg/x.eml".to_string(), "pages/x.tif".to_string()]
    );
    assert!(store.job(&j.id).await.unwrap().is_none());
}

async fn recovery_and_conversion_failure(store: Store) {
    let a = job(1_000, &["+33169293999"]);
    let b = job(1_001, &["+33169293998", "+33169293997"]);
    store.insert_jobs(&[a.clone(), b.clone()]).await.unwrap();
    store.claim_conversions(1, 2_000).await.unwrap();
    store
        .conversion_done(&a.id, 1, "pages/a.tif", &[], 2_000)
        .await
        .unwrap();
    store.claim_conversions(1, 2_000).await.unwrap(); // b left converting by a "crash"
    let due = store.due_recipients(2_000, 10).await.unwrap();
    assert!(
        store
            .start_attempt(&due[0], &CallClaim::unlimited("file"), 2_000)
            .await
            .unwrap()
            == Start::Started
    ); // a left sending
    let recovery = store.recover(9_000).await.unwrap();
    assert_eq!(recovery.interrupted.len(), 1);
    assert_eq!(recovery.reconvert, 1);
    let view = store.job(&a.id).await.unwrap().unwrap();
    assert_eq!(view.recipients[0].status, RecipientStatus::Deferred);
    assert_eq!(
        view.recipients[0].attempt_log[0].status_code.as_deref(),
        Some("4.4.7")
    );
    assert_eq!(
        store.claim_conversions(10, 2_000).await.unwrap().len(),
        1,
        "b converts again"
    );
    store
        .conversion_failed(
            &b.id,
            EnhancedStatus::CONVERSION_UNSUPPORTED,
            "x.doc: no",
            9_500,
        )
        .await
        .unwrap();
    let view = store.job(&b.id).await.unwrap().unwrap();
    assert_eq!(view.phase, JobPhase::ConvertFailed);
    assert!(
        view.recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Failed
                && r.status_code.as_deref() == Some("5.6.3"))
    );
    // retry converts again
    store
        .operator_action(&b.id, None, OperatorAction::Retry, 9_600)
        .await
        .unwrap();
    assert_eq!(
        store.job(&b.id).await.unwrap().unwrap().phase,
        JobPhase::Received
    );
}

async fn a_recipient_with_a_cover_has_its_own_page_set(store: Store) {
    let mut j = job(1_000, &["+33169293999", "+33169293998"]);
    j.recipients[1].display_name = Some("Jean Dupont".into());
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    let who = store.addressees(&j.id).await.unwrap();
    assert_eq!(who.len(), 2);
    assert_eq!(
        (
            who[1].idx,
            who[1].number.as_str(),
            who[1].display_name.as_deref()
        ),
        (1, "+33169293998", Some("Jean Dupont"))
    );
    store.claim_conversions(10, 2_000).await.unwrap();
    let own = RecipientPages {
        idx: 1,
        pages: 3,
        pages_path: "pages/x-1.tif".into(),
    };
    store
        .conversion_done(&j.id, 2, "pages/x.tif", std::slice::from_ref(&own), 2_000)
        .await
        .unwrap();
    let due = store.due_recipients(2_000, 10).await.unwrap();
    let got: Vec<_> = due
        .iter()
        .map(|d| (d.pages_path.as_str(), d.pages))
        .collect();
    assert_eq!(got, [("pages/x.tif", 2), ("pages/x-1.tif", 3)]);
    assert!(
        store
            .spool_paths()
            .await
            .unwrap()
            .contains(&"pages/x-1.tif".to_string()),
        "recovery must not take it for an orphan"
    );
    store
        .operator_action(&j.id, None, OperatorAction::Cancel, 3_000)
        .await
        .unwrap();
    let purged = store.purge_finished(10_000).await.unwrap();
    assert!(purged.contains(&"pages/x-1.tif".to_string()), "{purged:?}");
}

async fn reports_are_marked_with_their_mail_and_mail_is_sent_once(store: Store) {
    use crate::report::Reported;
    let j = job(1_000, &["+33169293999", "+33169293998"]);
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    // nothing is final, and nothing waited long enough for a delay report
    assert!(store.report_candidates(0, 10).await.unwrap().is_empty());
    // both have waited: both are candidates for a delay report
    let waited = store.report_candidates(1_000, 10).await.unwrap();
    assert_eq!(waited.len(), 2);
    assert_eq!(waited[0].input.reported, Reported::Nothing);
    assert!(!waited[0].input.null_sender);
    assert_eq!(waited[0].input.notify, Notify::parse("SUCCESS"));

    let mail = NewMail {
        id: "R1".into(),
        kind: MailKind::Delayed,
        job_id: Some(j.id.clone()),
        mail_from: String::new(),
        rcpt_to: "a@example.com".into(),
        path: "mail/R1.eml".into(),
        created_at_ms: 2_000,
        route: crate::job::Route::Exchange,
    };
    let mark = |idx, reported| Mark {
        job_id: j.id.clone(),
        idx,
        reported,
    };
    store
        .mark_reported(
            &[mark(0, Reported::Delay), mark(1, Reported::Delay)],
            std::slice::from_ref(&mail),
        )
        .await
        .unwrap();
    assert!(store.report_candidates(1_000, 10).await.unwrap().is_empty());
    // the same mail twice is not queued again: a report is queued once
    assert!(
        !store
            .mark_reported(&[], std::slice::from_ref(&mail))
            .await
            .unwrap()
    );
    // nor the same marks again (another node got there first)
    assert!(
        !store
            .mark_reported(&[mark(0, Reported::Delay)], &[])
            .await
            .unwrap()
    );
    assert!(!store.queue_mail(&mail).await.unwrap());
    assert_eq!(
        store.job_reports(&j.id).await.unwrap(),
        [("R1".into(), "delayed".into(), "mail/R1.eml".into(), 2_000)],
        "the job's reports"
    );
    assert!(
        store
            .job_reports(&job(9, &["+33169293999"]).id)
            .await
            .unwrap()
            .is_empty()
    );

    // the mail goes out: due, deferred, due again later, sent, never due again
    let due = store.mail_due(2_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].mail_from, "");
    assert_eq!(due[0].kind, MailKind::Delayed);
    store
        .mail_not_sent("R1", Some(5_000), "relay down")
        .await
        .unwrap();
    assert!(store.mail_due(4_999, 10).await.unwrap().is_empty());
    assert_eq!(store.next_mail_due().await.unwrap(), Some(5_000));
    assert_eq!(store.mail_due(5_000, 10).await.unwrap()[0].tries, 1);
    store.mails_sent(&["R1".into()], 5_001).await.unwrap();
    assert!(store.mail_due(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(store.next_mail_due().await.unwrap(), None);
    assert_eq!(store.mail_paths().await.unwrap(), vec!["mail/R1.eml"]);

    // once final, a recipient is a candidate until marked final, then never again
    let due = store.due_recipients(3_000, 10).await.unwrap();
    assert!(due.is_empty(), "not converted yet");
    store
        .conversion_failed(&j.id, EnhancedStatus::CONVERSION_FAILED, "bad", 3_000)
        .await
        .unwrap();
    let finals = store.report_candidates(0, 10).await.unwrap();
    assert_eq!(finals.len(), 2);
    assert_eq!(finals[0].input.status, RecipientStatus::Failed);
    assert_eq!(finals[0].input.reported, Reported::Delay);
    store
        .mark_reported(&[mark(0, Reported::Final), mark(1, Reported::Final)], &[])
        .await
        .unwrap();
    assert!(
        store
            .report_candidates(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // and a final mark is not undone by a late delay mark
    store
        .mark_reported(&[mark(0, Reported::Delay)], &[])
        .await
        .unwrap();
    assert!(
        store
            .report_candidates(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // purge: sent mail past the retention goes, with its path
    assert_eq!(store.purge_mail(2_001).await.unwrap(), vec!["mail/R1.eml"]);
    assert!(store.mail_paths().await.unwrap().is_empty());
}

async fn an_agents_item_makes_one_job_and_is_found_again(store: Store) {
    let mut j = job(1_000, &["+33169293999"]);
    j.origin = Origin::Exchange;
    j.source = Some("exchange:abc.eml:42:7".into());
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    assert_eq!(
        store.job_by_source("exchange:abc.eml:42:7").await.unwrap(),
        Some(j.id.clone())
    );
    assert_eq!(store.job_by_source("exchange:other").await.unwrap(), None);
    // the same item again (taken again after a crash) is refused by the store itself
    let mut again = job(1_001, &["+33169293999"]);
    again.source = j.source.clone();
    assert!(store.insert_jobs(&[again]).await.is_err());
    let view = store.job(&j.id).await.unwrap().unwrap();
    assert_eq!(view.origin, "exchange");
    assert_eq!(view.source.as_deref(), Some("exchange:abc.eml:42:7"));
    // jobs without an item (SMTP) do not collide
    store
        .insert_jobs(&[job(1_002, &["+33169293999"]), job(1_003, &["+33169293999"])])
        .await
        .unwrap();
}

async fn a_recipient_refused_at_intake_is_failed_with_its_reason_and_never_due(store: Store) {
    let mut j = job(1_000, &["+33169293999"]);
    j.refused = vec![
        RefusedRecipient {
            address: "0899123456@fax".into(),
            number: FaxNumber::from_e164("+33899123456"),
            display_name: None,
            notify: None,
            orcpt: None,
            status: EnhancedStatus::NOT_AUTHORIZED,
            reason: "+33899123456 is denied by dial plan rule +3389*".into(),
            list_row: None,
        },
        RefusedRecipient {
            address: "hello@fax".into(),
            number: None,
            display_name: None,
            notify: None,
            orcpt: None,
            status: EnhancedStatus::BAD_NUMBER,
            reason: "\"hello\" is not a fax number".into(),
            list_row: None,
        },
    ];
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    let view = store.job(&j.id).await.unwrap().unwrap();
    assert_eq!(view.recipients[0].status, RecipientStatus::Queued);
    assert_eq!(view.recipients[1].status, RecipientStatus::Failed);
    assert_eq!(view.recipients[1].status_code.as_deref(), Some("5.7.1"));
    assert!(
        view.recipients[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("+3389*")
    );
    assert_eq!(view.recipients[2].number, "");
    assert_eq!(view.recipients[2].status_code.as_deref(), Some("5.1.3"));
    // a final recipient is a report candidate at once; the queued one is never refused
    let candidates = store.report_candidates(0, 10).await.unwrap();
    assert_eq!(candidates.iter().map(|c| c.idx).collect::<Vec<_>>(), [1, 2]);
    let due = store.due_recipients(i64::MAX, 10).await.unwrap();
    assert!(due.iter().all(|d| d.idx == 0), "{due:?}");
}

async fn a_senders_usage_counts_its_numbers_calls_and_pages_in_the_window(store: Store) {
    // an old job (before the window) and a new one sharing a number; another sender's job
    let old = job(1_000, &["+33169293999"]);
    let mut new = job(10_000, &["+33169293999", "+33169293998"]);
    new.refused = vec![RefusedRecipient {
        address: "0899123456@fax".into(),
        number: FaxNumber::from_e164("+33899123456"),
        display_name: None,
        notify: None,
        orcpt: None,
        status: EnhancedStatus::NOT_AUTHORIZED,
        reason: "denied".into(),
        list_row: None,
    }];
    let mut other = job(10_001, &["+33169290000"]);
    other.return_path = "b@example.com".into();
    let added = store.insert_jobs(&[old, new.clone(), other]).await.unwrap();
    // the senders' first numbers: a's two (one named twice), b's one
    assert_eq!(
        added,
        NewNumbers::from([("a@example.com".into(), 2), ("b@example.com".into(), 1)])
    );
    store.claim_conversions(10, 2_000).await.unwrap();
    for id in [&new.id] {
        store
            .conversion_done(id, 3, "pages/x.tif", &[], 2_000)
            .await
            .unwrap();
    }
    let due = store.due_recipients(20_000, 10).await.unwrap();
    let first = due
        .iter()
        .find(|d| d.job_id == new.id && d.idx == 0)
        .unwrap();
    assert_eq!(first.sender, "a@example.com");
    assert!(
        store
            .start_attempt(first, &CallClaim::unlimited("file"), 11_000)
            .await
            .unwrap()
            == Start::Started
    );

    let usage = store.sender_usage("a@example.com", 5_000).await.unwrap();
    // the refused number does not count; the old job is outside the window
    assert_eq!(
        usage.numbers.iter().map(String::as_str).collect::<Vec<_>>(),
        ["+33169293998", "+33169293999"]
    );
    assert_eq!((usage.calls, usage.pages), (1, 3));
    assert_eq!(
        store.sender_usage("a@example.com", 12_000).await.unwrap(),
        Usage::default()
    );
    // new numbers since 5 000: +33169293998 only (+33169293999 was faxed before)
    assert_eq!(new_since(&store, "a@example.com", 5_000).await, 1);
    assert_eq!(new_since(&store, "b@example.com", 5_000).await, 1);
    // both in one statement, as the committer asks
    assert_eq!(
        store
            .sender_usage_and_new("a@example.com", 5_000, 5_000)
            .await
            .unwrap(),
        (usage.clone(), 1)
    );
    assert_eq!(
        store
            .sender_usage_and_new("a@example.com", 12_000, 0)
            .await
            .unwrap(),
        (Usage::default(), 2),
        "nothing in the window; both numbers new since 0"
    );
    let again = store
        .insert_jobs(&[job(30_000, &["+33169293999", "+33169290001"])])
        .await
        .unwrap();
    assert_eq!(
        again,
        NewNumbers::from([("a@example.com".into(), 1)]),
        "only the number a never faxed is new"
    );
    assert_eq!(new_since(&store, "a@example.com", 5_000).await, 2);

    // a waiting recipient refused by a limit; one no longer waiting is left alone
    let second = due
        .iter()
        .find(|d| d.job_id == new.id && d.idx == 1)
        .unwrap();
    let limit = EnhancedStatus::new(5, 7, 1);
    assert!(
        store
            .refuse_recipient(
                new.id.as_str(),
                second.idx,
                limit,
                "the daily limit",
                12_000
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .refuse_recipient(new.id.as_str(), first.idx, limit, "x", 12_000)
            .await
            .unwrap()
    );
    let view = store.job(&new.id).await.unwrap().unwrap();
    assert_eq!(view.recipients[1].status, RecipientStatus::Failed);
    assert_eq!(
        view.recipients[1].reason.as_deref(),
        Some("the daily limit")
    );
    assert_eq!(view.recipients[0].status, RecipientStatus::Sending);

    store.count("spikes").await.unwrap();
    store.count("spikes").await.unwrap();
    assert_eq!(store.counters().await.unwrap(), [("spikes".to_string(), 2)]);
}

async fn a_conversion_deferred_for_the_servers_trouble_waits_then_converts(store: Store) {
    let j = job(1_000, &["+33169293999", "+33169293998"]);
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    let claimed = store.claim_conversions(10, 2_000).await.unwrap();
    assert_eq!(
        (claimed.len(), claimed[0].tries, claimed[0].received_at_ms),
        (1, 0, 1_000)
    );
    store
        .conversion_deferred(
            &j.id,
            EnhancedStatus::SYSTEM_FULL,
            "the fax server's disk is full",
            5_000,
            2_000,
        )
        .await
        .unwrap();
    let view = store.job(&j.id).await.unwrap().unwrap();
    for r in &view.recipients {
        assert_eq!(r.status, RecipientStatus::Deferred);
        assert_eq!(r.status_code.as_deref(), Some("4.3.1"));
    }
    assert!(
        store.claim_conversions(10, 4_999).await.unwrap().is_empty(),
        "not yet due"
    );
    assert!(
        store.due_recipients(9_000, 10).await.unwrap().is_empty(),
        "nothing to send yet"
    );
    assert_eq!(store.next_conversion_at().await.unwrap(), Some(5_000));
    let again = store.claim_conversions(10, 5_000).await.unwrap();
    assert_eq!(
        (again.len(), again[0].tries),
        (1, 1),
        "due, its try counted"
    );
    store
        .conversion_done(&j.id, 1, "pages/x.tif", &[], 2_000)
        .await
        .unwrap();
    let due = store.due_recipients(5_001, 10).await.unwrap();
    assert_eq!(due.len(), 2, "the recipients are due at once");
    let view = store.job(&j.id).await.unwrap().unwrap();
    assert!(
        view.recipients
            .iter()
            .all(|r| r.status == RecipientStatus::Queued && r.reason.is_none())
    );
}

/// Hostile mail can carry NUL (an encoded word's `=00`), which PostgreSQL's TEXT refuses: the
/// job is queued all the same, its text with U+FFFD, and a reason with NUL is recorded.
async fn text_with_nul_is_kept_with_a_replacement_character(store: Store) {
    let mut j = job(1_000, &["+33169293999"]);
    j.subject = Some("a\0b".into());
    j.from_header = Some("\0".into());
    j.recipients[0].display_name = Some("Bob\0".into());
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    store
        .conversion_failed(
            &j.id,
            EnhancedStatus::new(5, 6, 0),
            "file\0.doc: broken",
            2_000,
        )
        .await
        .unwrap();
    let view = store.job(&j.id).await.unwrap().unwrap();
    assert_eq!(view.subject.as_deref(), Some("a\u{FFFD}b"));
    assert_eq!(
        view.recipients[0].reason.as_deref(),
        Some("file\u{FFFD}.doc: broken")
    );
}

async fn web_sessions_are_kept_until_they_end_or_expire(store: Store) {
    let session = |id: &str, expires: i64| SessionRow {
        id: id.into(),
        hash: "cd".repeat(32),
        login: "alice".into(),
        mail: "alice@example.com".into(),
        name: Some("Alice\0".into()),
        admin: id == "s2",
        created_at_ms: 1,
        expires_at_ms: expires,
    };
    store.create_session(&session("s1", 100), 1).await.unwrap();
    store.create_session(&session("s2", 200), 1).await.unwrap();
    assert!(
        store.create_session(&session("s1", 100), 1).await.is_err(),
        "ids are unique"
    );
    let got = store.session("s2", 50).await.unwrap().unwrap();
    assert_eq!(
        (got.admin, got.name.as_deref(), got.expires_at_ms),
        (true, Some("Alice\u{FFFD}"), 200)
    );
    assert!(!store.session("s1", 50).await.unwrap().unwrap().admin);
    assert_eq!(store.session("s1", 100).await.unwrap(), None, "expired");
    assert!(store.end_session("s2").await.unwrap());
    assert!(!store.end_session("s2").await.unwrap(), "once");
    assert_eq!(store.session("s2", 50).await.unwrap(), None, "ended");
    // a new session ends the expired ones
    store
        .create_session(&session("s3", 300), 150)
        .await
        .unwrap();
    assert_eq!(store.session("s1", 0).await.unwrap(), None, "removed");
    assert!(store.session("s3", 0).await.unwrap().is_some());
}

async fn api_tokens_are_kept_listed_and_revoked(store: Store) {
    let token = |id: &str, at: i64| TokenRow {
        id: id.into(),
        hash: "ab".repeat(32),
        scopes: "send,read".into(),
        sender: Some("alice@example.com".into()),
        name: Some("ERP\0".into()),
        created_at_ms: at,
        revoked_at_ms: None,
    };
    store.create_token(&token("t2", 2)).await.unwrap();
    store.create_token(&token("t1", 1)).await.unwrap();
    assert!(
        store.create_token(&token("t1", 3)).await.is_err(),
        "ids are unique"
    );
    let got = store.token("t1").await.unwrap().unwrap();
    assert_eq!(got.name.as_deref(), Some("ERP\u{FFFD}"));
    assert_eq!(
        (got.hash.len(), got.sender.as_deref()),
        (64, Some("alice@example.com"))
    );
    assert_eq!(store.token("nope").await.unwrap(), None);
    let ids: Vec<_> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["t1", "t2"], "oldest first");
    assert!(store.revoke_token("t1", 10).await.unwrap());
    assert!(!store.revoke_token("t1", 11).await.unwrap(), "once");
    assert!(!store.revoke_token("nope", 11).await.unwrap());
    assert_eq!(
        store.token("t1").await.unwrap().unwrap().revoked_at_ms,
        Some(10)
    );
}

async fn jobs_are_paged_by_sender_status_and_time(store: Store) {
    // five jobs of a, b, a, a, a, received at 1000..5000; the third held
    let mut ids = Vec::new();
    for (i, sender) in [
        "a@example.com",
        "B@example.com",
        "A@Example.com",
        "a@example.com",
        "a@example.com",
    ]
    .iter()
    .enumerate()
    {
        let mut j = NewJob::example(1_000 * (i as i64 + 1), &["+33169293999"]);
        j.return_path = sender.to_string();
        store.insert_jobs(&[j.clone()]).await.unwrap();
        ids.push(j.id.to_string());
    }
    store
        .operator_action(
            &JobId::parse(&ids[2]).unwrap(),
            None,
            OperatorAction::Hold,
            6_000,
        )
        .await
        .unwrap();
    let page = |q: PageQuery| {
        let store = store.clone();
        async move {
            store
                .jobs_page(&q)
                .await
                .unwrap()
                .into_iter()
                .map(|j| j.id)
                .collect::<Vec<_>>()
        }
    };
    let of_a = |after: Option<String>| PageQuery {
        sender: Some("a@EXAMPLE.com".into()),
        after,
        limit: 2,
        ..PageQuery::default()
    };
    let first = page(of_a(None)).await;
    assert_eq!(
        first,
        [ids[0].clone(), ids[2].clone()],
        "a's, any case, two at most"
    );
    let second = page(of_a(first.last().cloned())).await;
    assert_eq!(second, [ids[3].clone(), ids[4].clone()]);
    assert!(
        page(of_a(second.last().cloned())).await.is_empty(),
        "the end"
    );
    let held = page(PageQuery {
        status: Some(RecipientStatus::Held),
        limit: 10,
        ..PageQuery::default()
    })
    .await;
    assert_eq!(held, [ids[2].clone()]);
    let since = page(PageQuery {
        since_ms: Some(4_000),
        limit: 10,
        ..PageQuery::default()
    })
    .await;
    assert_eq!(since, [ids[3].clone(), ids[4].clone()]);
    let everything = store
        .jobs_page(&PageQuery {
            limit: 10,
            ..PageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(everything.len(), 5);
    assert_eq!(
        everything[2].recipients[0].status,
        RecipientStatus::Held,
        "with recipients"
    );
}

/// What `/metrics` reads: every status (0 for those none has), the oldest recipient waiting
/// (not a held or finished one), and the outbox's queued mail only.
async fn the_gauges_count_recipients_by_status_the_oldest_waiting_and_the_outbox(store: Store) {
    let empty = store.queue_gauges().await.unwrap();
    assert_eq!(empty.recipients.len(), RecipientStatus::ALL.len());
    assert!(empty.recipients.iter().all(|(_, n)| *n == 0));
    assert_eq!((empty.oldest_waiting_ms, empty.outbox_queued), (None, 0));

    // held since 1000, two queued since 2000, one queued since 3000
    let held = NewJob::example(1_000, &["+33169293999"]);
    let two = NewJob::example(2_000, &["+33169293998", "+33169293997"]);
    let one = NewJob::example(3_000, &["+33169293996"]);
    store
        .insert_jobs(&[held.clone(), two.clone(), one])
        .await
        .unwrap();
    store
        .operator_action(&held.id, None, OperatorAction::Hold, 4_000)
        .await
        .unwrap();
    let mail = |id: &str| NewMail {
        id: id.into(),
        kind: MailKind::Delivered,
        job_id: Some(two.id.clone()),
        mail_from: String::new(),
        rcpt_to: "a@example.com".into(),
        path: format!("mail/{id}.eml"),
        created_at_ms: 5_000,
        route: crate::job::Route::Exchange,
    };
    store.queue_mail(&mail("M1")).await.unwrap();
    store.queue_mail(&mail("M2")).await.unwrap();
    store.mails_sent(&["M2".into()], 6_000).await.unwrap();

    let gauges = store.queue_gauges().await.unwrap();
    let count = |status| {
        gauges
            .recipients
            .iter()
            .find(|(s, _)| *s == status)
            .unwrap()
            .1
    };
    assert_eq!(count(RecipientStatus::Queued), 3);
    assert_eq!(count(RecipientStatus::Held), 1);
    assert_eq!(count(RecipientStatus::Done), 0);
    assert_eq!(
        gauges.oldest_waiting_ms,
        Some(2_000),
        "the held one does not wait"
    );
    assert_eq!(gauges.outbox_queued, 1, "the sent mail is not counted");
}

/// Each change writes its events in its transaction, a row per endpoint subscribed; the head of
/// an endpoint's queue stays until it is sent (or given up), and an event with an id of the
/// caller's making is written once.
async fn webhook_events_are_written_with_their_changes_and_delivered_in_order(store: Store) {
    use super::events::{Delivery, Event, EventType, Subscription};
    // before anyone subscribes, nothing is written (the control for what follows)
    let before = job(500, &["+33169293990"]);
    store
        .insert_jobs(std::slice::from_ref(&before))
        .await
        .unwrap();
    assert_eq!(store.webhook_head("erp").await.unwrap(), None);

    store.subscribe(vec![
        Subscription {
            endpoint: "erp".into(),
            events: EventType::ALL.to_vec(),
        },
        Subscription {
            endpoint: "crm".into(),
            events: vec![EventType::Delivered],
        },
    ]);
    let j = job(1_000, &["+33169293999"]);
    store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
    store.claim_conversions(10, 2_000).await.unwrap();
    store
        .conversion_done(&j.id, 1, "pages/x.tif", &[], 2_000)
        .await
        .unwrap();
    let due: Vec<_> = store
        .due_recipients(2_000, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|d| d.job_id == j.id)
        .collect();
    store
        .start_attempt(&due[0], &CallClaim::unlimited("file"), 2_000)
        .await
        .unwrap();
    let progress = crate::progress::CallProgress {
        pages_confirmed: 1,
        pages: 1,
        ..Default::default()
    };
    store
        .set_progress(&j.id, due[0].idx, &progress, Some(2_500))
        .await
        .unwrap();
    store
        .end_attempt(&end(
            &due[0],
            EnhancedStatus::OK,
            RecipientStatus::Done,
            3_000,
        ))
        .await
        .unwrap();
    let received = Event {
        kind: EventType::Received,
        id: "msg_received_r1".into(),
        data: serde_json::json!({"id": "r1"}),
    };
    // told twice (a mailer that tries again): written once
    for at in [4_000, 5_000] {
        store.add_event(&received, at).await.unwrap();
    }
    assert_eq!(
        store.webhook_backlog().await.unwrap(),
        vec![("crm".to_string(), 1), ("erp".to_string(), 6)]
    );

    // erp's queue, in order: a retry keeps the head, a send moves on
    let mut kinds = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let first = store.webhook_head("erp").await.unwrap().unwrap();
    store
        .webhook_done(
            first.seq,
            &Delivery::Retry {
                at_ms: 9_000,
                error: "HTTP 503".into(),
            },
            6_000,
        )
        .await
        .unwrap();
    let again = store.webhook_head("erp").await.unwrap().unwrap();
    assert_eq!(
        (again.seq, again.tries, again.next_attempt_at_ms),
        (first.seq, 1, 9_000)
    );
    while let Some(head) = store.webhook_head("erp").await.unwrap() {
        let payload: serde_json::Value = serde_json::from_str(&head.payload).unwrap();
        assert_eq!(payload["type"], head.kind);
        if head.kind != "fax.received" {
            assert_eq!(payload["data"]["fax"], j.id.as_str(), "{payload}");
        }
        kinds.push(head.kind.clone());
        ids.insert(head.id.clone());
        store
            .webhook_done(head.seq, &Delivery::Sent, 7_000)
            .await
            .unwrap();
    }
    assert_eq!(
        kinds,
        [
            "fax.queued",
            "fax.converted",
            "fax.dialing",
            "fax.page_confirmed",
            "fax.delivered",
            "fax.received"
        ]
    );
    assert_eq!(ids.len(), 6, "an id each");
    let delivered = store.webhook_head("crm").await.unwrap().unwrap();
    assert_eq!(delivered.kind, "fax.delivered");
    store
        .webhook_done(
            delivered.seq,
            &Delivery::GaveUp {
                error: "past the deadline".into(),
            },
            8_000,
        )
        .await
        .unwrap();
    assert_eq!(store.webhook_head("crm").await.unwrap(), None);
    assert_eq!(
        store.purge_webhook_events(3_001).await.unwrap(),
        4,
        "those before"
    );
    assert_eq!(store.purge_webhook_events(1_000_000).await.unwrap(), 3);
}

/// `JobView::of_new` (what the API answers at once) is what `Store::job` reads back after the
/// insert: every field, refused recipients and text with NUL included.
async fn the_view_of_a_new_job_is_what_the_store_reads_back(store: Store) {
    let mut plain = NewJob::example(1_000, &["+33169293999"]);
    plain.subject = None;
    let mut full = job(2_000, &["+33169293998", "+33169293997"]);
    full.recipients[0].display_name = Some("Bob\0".into());
    full.recipients[1].orcpt = Some("rfc822;0169293997@fax".into());
    full.subject = Some("Order\0 1".into());
    full.source = Some("api:t:k".into());
    full.refused.push(RefusedRecipient {
        address: "0999@fax".into(),
        number: None,
        display_name: Some("Nobody".into()),
        notify: Notify::parse("FAILURE"),
        orcpt: None,
        status: EnhancedStatus::BAD_NUMBER,
        reason: "not a number".into(),
        list_row: None,
    });
    let mut all_refused = NewJob::example(3_000, &[]);
    all_refused.refused = full.refused.clone();
    for j in [plain, full, all_refused] {
        store.insert_jobs(std::slice::from_ref(&j)).await.unwrap();
        let stored = store.job(&j.id).await.unwrap().unwrap();
        let made = serde_json::to_value(JobView::of_new(&j)).unwrap();
        assert_eq!(made, serde_json::to_value(stored).unwrap(), "{}", j.id);
    }
}
