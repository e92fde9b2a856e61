//! Two nodes on one store (two `Store`s on one SQLite file, as two processes would be; two on
//! one PostgreSQL database, as two machines would be): each piece of work is claimed once, the
//! cluster's call rules hold across them, and the work of a node that stops renewing its leases
//! is taken back by the other.

use super::*;
use crate::progress::CallProgress;
use std::time::Duration;

/// Leases short enough to watch expire.
const LEASE: Duration = Duration::from_millis(800);

/// Each test with nodes "a" and "b" on a SQLite file, then on a PostgreSQL database.
macro_rules! two_nodes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let dir = tempfile::tempdir().unwrap();
                let target = Target::File(dir.path().join("db"));
                super::$name(node(&target, "a").await, node(&target, "b").await).await
            }

            #[tokio::test]
            async fn postgres() {
                let target = Target::Postgres {
                    url: crate::pg_test::database(),
                    connections: 4,
                };
                super::$name(node(&target, "a").await, node(&target, "b").await).await
            }
        }
    )*};
}

two_nodes!(
    each_conversion_is_claimed_by_one_node,
    one_call_per_number_and_the_lines_channels_hold_across_nodes,
    racing_nodes_start_one_call_to_a_number,
    a_stopped_nodes_call_is_taken_back_with_its_confirmed_pages,
    heartbeats_keep_a_nodes_leases,
    a_mail_claimed_by_one_node_is_sent_by_the_other_only_once_the_claim_expired,
    nodes_are_listed_and_asked_to_drain,
    spool_files_travel_through_the_store_with_their_rows,
    a_role_is_played_by_one_node_and_taken_over_when_it_goes,
);

async fn node(target: &Target, name: &str) -> Store {
    Store::connect(target).await.unwrap().with_node(name, LEASE)
}

fn due_to(store_jobs: &[NewJob]) -> Vec<String> {
    store_jobs.iter().map(|j| j.id.to_string()).collect()
}

/// Jobs converted (one page) so that their recipients are due.
async fn converted(store: &Store, jobs: &[NewJob]) {
    store.insert_jobs(jobs).await.unwrap();
    let claimed = store.claim_conversions(1_000, 10_000).await.unwrap();
    assert_eq!(claimed.len(), jobs.len());
    for c in claimed {
        store
            .conversion_done(&c.job, 1, "pages/x.tif", &[], 2_000)
            .await
            .unwrap();
    }
}

async fn each_conversion_is_claimed_by_one_node(a: Store, b: Store) {
    let jobs: Vec<NewJob> = (0..60)
        .map(|i| NewJob::example(1_000 + i, &["+33169293999"]))
        .collect();
    a.insert_jobs(&jobs).await.unwrap();
    let claim = |s: Store| {
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = s.claim_conversions(4, 10_000).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|c| c.job.to_string()));
            }
        })
    };
    let (ta, tb) = (claim(a.clone()), claim(b.clone()));
    let (mut from_a, from_b) = (ta.await.unwrap(), tb.await.unwrap());
    assert!(!from_a.is_empty() || !from_b.is_empty());
    from_a.extend(from_b);
    from_a.sort();
    let mut all = due_to(&jobs);
    all.sort();
    assert_eq!(from_a, all, "every job claimed exactly once");
}

async fn one_call_per_number_and_the_lines_channels_hold_across_nodes(a: Store, b: Store) {
    let jobs = [
        NewJob::example(1_000, &["+33169293999"]),
        NewJob::example(1_001, &["+33169293999"]),
        NewJob::example(1_002, &["+33169293998"]),
    ];
    converted(&a, &jobs).await;
    let due = a.due_recipients(20_000, 10).await.unwrap();
    assert_eq!(due.len(), 3);
    let trunk = |channels| CallClaim {
        line: "trunk",
        channels,
        one_call_per_number: true,
    };
    assert_eq!(
        a.start_attempt(&due[0], &trunk(2), 20_000).await.unwrap(),
        Start::Started
    );
    // the same number from the other node: busy, whatever line
    let other_line = CallClaim {
        line: "other",
        ..trunk(2)
    };
    assert_eq!(
        b.start_attempt(&due[1], &other_line, 20_000).await.unwrap(),
        Start::NumberBusy
    );
    // with the rule off, it may
    let anyway = CallClaim {
        one_call_per_number: false,
        ..other_line
    };
    assert_eq!(
        b.start_attempt(&due[1], &anyway, 20_000).await.unwrap(),
        Start::Started
    );
    // a one-channel trunk carries a's call already: b's call to another number waits
    assert_eq!(
        b.start_attempt(&due[2], &trunk(1), 20_000).await.unwrap(),
        Start::LineFull
    );
    assert_eq!(
        b.start_attempt(&due[2], &trunk(2), 20_000).await.unwrap(),
        Start::Started
    );
}

async fn racing_nodes_start_one_call_to_a_number(a: Store, b: Store) {
    let jobs: Vec<NewJob> = (0..12)
        .map(|i| NewJob::example(1_000 + i, &["+33169293999"]))
        .collect();
    converted(&a, &jobs).await;
    let due = a.due_recipients(20_000, 100).await.unwrap();
    assert_eq!(due.len(), 12);
    let start = |s: Store, due: Vec<DueRecipient>| {
        tokio::spawn(async move {
            let claim = CallClaim {
                line: "trunk",
                channels: 100,
                one_call_per_number: true,
            };
            let mut started = 0;
            for d in &due {
                if s.start_attempt(d, &claim, 20_000).await.unwrap() == Start::Started {
                    started += 1;
                }
            }
            started
        })
    };
    let mut reversed = due.clone();
    reversed.reverse();
    let (ta, tb) = (start(a.clone(), due), start(b.clone(), reversed));
    assert_eq!(
        ta.await.unwrap() + tb.await.unwrap(),
        1,
        "one call to the number"
    );
}

async fn a_stopped_nodes_call_is_taken_back_with_its_confirmed_pages(a: Store, b: Store) {
    let jobs = [NewJob::example(1_000, &["+33169293999"])];
    converted(&a, &jobs).await;
    let due = a.due_recipients(20_000, 10).await.unwrap();
    let claim = CallClaim::unlimited("trunk");
    assert_eq!(
        a.start_attempt(&due[0], &claim, 20_000).await.unwrap(),
        Start::Started
    );
    let progress = CallProgress {
        pages_confirmed: 2,
        pages: 3,
        ..Default::default()
    };
    a.set_progress(&due[0].job_id, due[0].idx, &progress, None)
        .await
        .unwrap();
    // a goes silent; while its lease runs, b takes nothing back
    assert_eq!(
        b.reclaim_expired(21_000).await.unwrap(),
        Reclaimed::default()
    );
    tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
    let reclaimed = b.reclaim_expired(22_000).await.unwrap();
    assert_eq!(
        reclaimed.calls,
        [(
            due[0].job_id.clone(),
            "+33169293999".to_string(),
            "a".to_string()
        )]
    );
    let view = b.job(&due[0].job_id).await.unwrap().unwrap();
    let r = &view.recipients[0];
    assert_eq!(r.status, RecipientStatus::Deferred);
    let attempt = &r.attempt_log[0];
    assert_eq!(attempt.pages_sent, 2, "{attempt:?}");
    assert!(
        attempt.reason.as_deref().unwrap_or("").contains("node a"),
        "{attempt:?}"
    );
    // due again at once, and b calls it
    let again = b.due_recipients(22_000, 10).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(
        b.start_attempt(&again[0], &claim, 22_000).await.unwrap(),
        Start::Started
    );
    // a wakes up and its call ends: not its own any more, nothing recorded over b's call
    a.set_progress(&due[0].job_id, due[0].idx, &progress, None)
        .await
        .unwrap();
    let late = AttemptEnd {
        job_id: due[0].job_id.clone(),
        idx: due[0].idx,
        line: "trunk".into(),
        started_at_ms: 20_000,
        ended_at_ms: 23_000,
        status: crate::status::EnhancedStatus::OK,
        reason: "sent".into(),
        pages_sent: 3,
        first_page: 1,
        confirmed: 3,
        resume_from: 0,
        new_status: RecipientStatus::Done,
        tries: 0,
        dials: 0,
        next_attempt_at_ms: None,
        call: None,
    };
    assert_eq!(a.end_attempt(&late).await.unwrap(), None);
    let view = b.job(&due[0].job_id).await.unwrap().unwrap();
    let r = &view.recipients[0];
    assert_eq!(r.status, RecipientStatus::Sending);
    assert_eq!(r.attempt_log.len(), 2);
    assert!(
        r.attempt_log[1].ended_at.is_none(),
        "b's call still open: {r:?}"
    );
    // b's own end is recorded
    assert_eq!(
        b.end_attempt(&late).await.unwrap(),
        Some(RecipientStatus::Done)
    );
}

async fn heartbeats_keep_a_nodes_leases(a: Store, b: Store) {
    a.insert_jobs(&[NewJob::example(1_000, &["+33169293999"])])
        .await
        .unwrap();
    let claimed = a.claim_conversions(10, 10_000).await.unwrap();
    assert_eq!(claimed.len(), 1, "a converts the job");
    for _ in 0..6 {
        a.heartbeat("test", 1).await.unwrap();
        tokio::time::sleep(LEASE / 3).await;
    }
    assert_eq!(
        b.reclaim_expired(30_000).await.unwrap(),
        Reclaimed::default()
    );
    // the control: without heartbeats the conversion goes back to pending
    tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
    assert_eq!(b.reclaim_expired(31_000).await.unwrap().conversions, 1);
    assert_eq!(b.claim_conversions(10, 31_000).await.unwrap().len(), 1);
}

async fn a_mail_claimed_by_one_node_is_sent_by_the_other_only_once_the_claim_expired(
    a: Store,
    b: Store,
) {
    let mail = NewMail {
        id: "M1".into(),
        kind: MailKind::Fax,
        job_id: None,
        mail_from: String::new(),
        rcpt_to: "a@example.com".into(),
        path: "mail/M1.eml".into(),
        created_at_ms: 1_000,
        route: crate::job::Route::Relay,
    };
    assert!(a.queue_mail(&mail).await.unwrap());
    assert!(!b.queue_mail(&mail).await.unwrap(), "queued once");
    assert_eq!(a.mail_due(2_000, 10).await.unwrap().len(), 1);
    assert!(
        b.mail_due(2_000, 10).await.unwrap().is_empty(),
        "a holds it"
    );
    tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
    let taken = b.mail_due(3_000, 10).await.unwrap();
    assert_eq!(taken.len(), 1, "a's claim expired");
    b.mails_sent(&["M1".into()], 3_000).await.unwrap();
    tokio::time::sleep(LEASE + Duration::from_millis(300)).await;
    assert!(a.mail_due(4_000, 10).await.unwrap().is_empty(), "sent once");
}

async fn nodes_are_listed_and_asked_to_drain(a: Store, b: Store) {
    assert!(!a.heartbeat("1.0", 100).await.unwrap());
    assert!(!b.heartbeat("1.1", 200).await.unwrap());
    assert!(b.drain("a").await.unwrap());
    assert!(!b.drain("nobody").await.unwrap());
    assert!(
        a.heartbeat("1.0", 100).await.unwrap(),
        "a is asked to drain"
    );
    // a restarted node (another start) no longer drains
    assert!(!a.heartbeat("1.0", 300).await.unwrap());
    let nodes = b.nodes().await.unwrap();
    let names: Vec<(&str, &str)> = nodes
        .iter()
        .map(|n| (n.name.as_str(), n.version.as_str()))
        .collect();
    assert_eq!(names, [("a", "1.0"), ("b", "1.1")]);
    assert!(
        nodes
            .iter()
            .all(|n| (0..60_000).contains(&n.heartbeat_age_ms)),
        "{nodes:?}"
    );
    a.node_stopped().await.unwrap();
    assert!(b.nodes().await.unwrap()[0].stopped_at_ms.is_some());
}

/// Each node with a spool of its own: what one commits, the other reads (fetched from the
/// store, whole, over several chunks); purged with the job; blobs no row refers to collected.
async fn spool_files_travel_through_the_store_with_their_rows(a: Store, b: Store) {
    use crate::spool::Spool;
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let spool_a = Spool::open(dirs.0.path()).unwrap();
    let spool_b = Spool::open(dirs.1.path()).unwrap();
    let a = a.with_blobs(spool_a.root());
    let b = b.with_blobs(spool_b.root());
    let spool_a = spool_a.in_store(a.clone());
    let spool_b = spool_b.in_store(b.clone());

    let mut job = NewJob::example(1_000, &["+33169293999"]);
    job.message_path = Spool::message_rel(job.id.as_str());
    // 3.5 MiB of bytes that are not text: four chunks, every byte value
    let message: Vec<u8> = (0..3_670_016u32).map(|i| (i * 7 + i / 251) as u8).collect();
    spool_a.write_durable(&job.message_path, &message).unwrap();
    a.insert_jobs(std::slice::from_ref(&job)).await.unwrap();
    let on_b = spool_b.local(&job.message_path).await.unwrap();
    assert_eq!(
        std::fs::read(&on_b).unwrap(),
        message,
        "b reads a's message"
    );
    // a message held in memory goes to the store only, and both nodes read it from there
    let mut held = NewJob::example(1_001, &["+33169293998"]);
    held.message_path = Spool::message_rel(held.id.as_str());
    held.message = Some(std::sync::Arc::from(&b"Subject: held\r\n\r\nin memory"[..]));
    a.insert_jobs(std::slice::from_ref(&held)).await.unwrap();
    assert!(
        !spool_a.path(&held.message_path).exists(),
        "not written to a's spool"
    );
    for spool in [&spool_a, &spool_b] {
        let path = spool.local(&held.message_path).await.unwrap();
        assert_eq!(
            std::fs::read(path).unwrap(),
            b"Subject: held\r\n\r\nin memory"
        );
    }
    // a store that keeps no files refuses it rather than lose it
    let mut lost = held.clone();
    lost.id = crate::job::JobId::generate(1_002);
    let plain = Store::open(&dirs.0.path().join("plain.db")).await.unwrap();
    assert!(
        plain
            .insert_jobs(std::slice::from_ref(&lost))
            .await
            .is_err()
    );
    let plain = Store::connect(&Target::Postgres {
        url: crate::pg_test::database(),
        connections: 2,
    })
    .await
    .unwrap();
    assert!(plain.insert_jobs(&[lost]).await.is_err(), "PostgreSQL too");
    // b converts: its page set (the TIFF, its PDF; no thumbnail) reaches a
    let claimed = b.claim_conversions(1, 2_000).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let [tif, pdf, png] = Spool::page_set_rels(job.id.as_str());
    spool_b.write_durable(&tif, b"TIFF pages").unwrap();
    spool_b.write_durable(&pdf, b"PDF pages").unwrap();
    b.conversion_done(&job.id, 1, &tif, &[], 2_000)
        .await
        .unwrap();
    for (rel, bytes) in [(&tif, &b"TIFF pages"[..]), (&pdf, &b"PDF pages"[..])] {
        let path = spool_a.local(rel).await.unwrap();
        assert_eq!(std::fs::read(path).unwrap(), bytes, "{rel}");
    }
    assert!(!spool_a.local(&png).await.unwrap().exists(), "never made");
    // a path that leaves the spool is refused
    assert!(spool_a.local("../../etc/passwd").await.is_err());
    assert!(spool_a.local("/etc/passwd").await.is_err());

    // the job finishes and is purged: its blobs go with it
    let due = a.due_recipients(3_000, 10).await.unwrap();
    assert_eq!(
        a.start_attempt(&due[0], &CallClaim::unlimited("l"), 3_000)
            .await
            .unwrap(),
        Start::Started
    );
    let end = AttemptEnd {
        job_id: job.id.clone(),
        idx: 0,
        line: "l".into(),
        started_at_ms: 3_000,
        ended_at_ms: 3_001,
        status: crate::status::EnhancedStatus::OK,
        reason: "sent".into(),
        pages_sent: 1,
        first_page: 1,
        confirmed: 1,
        resume_from: 0,
        new_status: RecipientStatus::Done,
        tries: 0,
        dials: 0,
        next_attempt_at_ms: None,
        call: None,
    };
    a.end_attempt(&end).await.unwrap();
    a.purge_finished(10_000).await.unwrap();
    std::fs::remove_file(&on_b).unwrap();
    assert!(
        !spool_b.local(&job.message_path).await.unwrap().exists(),
        "purged from the store"
    );
    // a blob no row refers to (written without one, as no code path does) is collected
    spool_a.write_durable("msg/orphan.eml", b"x").unwrap();
    let mut tx = a.write_transaction().await.unwrap();
    a.put_blobs(&mut tx, &["msg/orphan.eml"], false)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(a.collect_blobs().await.unwrap(), 1);
    assert_eq!(a.collect_blobs().await.unwrap(), 0);
}

/// During a rolling upgrade a node of this version starts on a schema the next version has
/// migrated already (it added a column, and a migration this build does not know): it runs
/// and writes jobs all the same.
async fn a_node_starts_on_a_schema_a_newer_version_migrated(target: Target) {
    let newer = Store::connect(&target).await.unwrap();
    sqlx::query("ALTER TABLE jobs ADD COLUMN from_the_future TEXT")
        .execute(&newer.writer)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'the next version', TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(&newer.writer)
    .await
    .unwrap();
    let this = Store::connect(&target)
        .await
        .expect("starts on the newer schema");
    this.insert_jobs(&[NewJob::example(1_000, &["+33169293999"])])
        .await
        .unwrap();
    assert_eq!(this.claim_conversions(10, 2_000).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_node_starts_on_a_newer_schema_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    a_node_starts_on_a_schema_a_newer_version_migrated(Target::File(dir.path().join("db"))).await;
}

#[tokio::test]
async fn a_node_starts_on_a_newer_schema_postgres() {
    a_node_starts_on_a_schema_a_newer_version_migrated(Target::Postgres {
        url: crate::pg_test::database(),
        connections: 2,
    })
    .await;
}

/// Blobs are compressed with lz4 on a server that has it (Debian's does): pglz was a sixth of
/// the server's CPU at intake. The value read back is the value written.
#[tokio::test]
async fn blobs_are_compressed_with_lz4_on_postgres() {
    let store = Store::connect(&Target::Postgres {
        url: crate::pg_test::database(),
        connections: 2,
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = store.with_blobs(dir.path());
    let method: Option<String> = sqlx::query_scalar(
        "SELECT CAST(attcompression AS TEXT) FROM pg_attribute \
         WHERE attrelid = CAST('blobs' AS regclass) AND attname = 'data'",
    )
    .fetch_one(&store.writer)
    .await
    .unwrap();
    assert_eq!(
        method.as_deref(),
        Some("l"),
        "lz4 (p is pglz, empty the default)"
    );
    let mut job = NewJob::example(1_000, &["+33169293999"]);
    job.message_path = crate::spool::Spool::message_rel(job.id.as_str());
    let text: Vec<u8> = b"compressible text, ".repeat(2_000);
    job.message = Some(text.clone().into());
    store.insert_jobs(&[job.clone()]).await.unwrap();
    let (stored, compression): (Vec<u8>, Option<String>) =
        sqlx::query_as("SELECT data, pg_column_compression(data) FROM blobs WHERE name = $1")
            .bind(job.message_path.as_str())
            .fetch_one(&store.writer)
            .await
            .unwrap();
    assert_eq!(stored, text);
    assert_eq!(compression.as_deref(), Some("lz4"));
}

async fn a_role_is_played_by_one_node_and_taken_over_when_it_goes(a: Store, b: Store) {
    let mut role = a.try_role("agent exchange").await.unwrap().expect("free");
    assert!(role.held().await);
    if a.clustered() {
        assert!(
            b.try_role("agent exchange").await.unwrap().is_none(),
            "a holds it"
        );
        assert!(
            b.try_role("purge").await.unwrap().is_some(),
            "another role is free"
        );
    }
    // a goes (its connection with it): b takes the role
    drop(role);
    let mut taken = None;
    for _ in 0..50 {
        taken = b.try_role("agent exchange").await.unwrap();
        if taken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(taken.expect("b takes the role").held().await);
}

/// What one node commits is told to the others (LISTEN/NOTIFY): work, outcomes, mail.
#[tokio::test]
async fn what_a_node_commits_is_told_to_the_others() {
    let url = crate::pg_test::database();
    let target = Target::Postgres {
        url: url.clone(),
        connections: 2,
    };
    let a = node(&target, "a").await;
    let mut heard = Notifications::listen(&url).await.unwrap();
    async fn next(heard: &mut Notifications) -> Option<String> {
        tokio::time::timeout(Duration::from_secs(30), heard.next())
            .await
            .expect("told within 30 s")
            .unwrap()
    }
    let job = NewJob::example(1_000, &["+33169293999"]);
    a.insert_jobs(std::slice::from_ref(&job)).await.unwrap();
    assert_eq!(next(&mut heard).await.as_deref(), Some("work 1 a"));
    // commits in quick succession are told together (how many depends on the machine's speed),
    // and none is lost
    for k in 0..4 {
        a.insert_jobs(&[NewJob::example(1_001 + k, &["+33169293999"])])
            .await
            .unwrap();
    }
    let mut told = 0;
    while told < 4 {
        let heard = next(&mut heard).await.unwrap();
        let n = heard
            .strip_prefix("work ")
            .and_then(|w| w.strip_suffix(" a"));
        told += n.and_then(|n| n.parse::<u64>().ok()).expect(&heard);
    }
    assert_eq!(told, 4);
    a.claim_conversions(1, 2_000).await.unwrap();
    a.conversion_failed(
        &job.id,
        crate::status::EnhancedStatus::CONVERSION_FAILED,
        "x",
        3_000,
    )
    .await
    .unwrap();
    assert_eq!(next(&mut heard).await.as_deref(), Some("outcome"));
    let mail = NewMail {
        id: "N1".into(),
        kind: MailKind::Fax,
        job_id: None,
        mail_from: String::new(),
        rcpt_to: "a@example.com".into(),
        path: "mail/N1.eml".into(),
        created_at_ms: 1_000,
        route: crate::job::Route::Relay,
    };
    a.queue_mail(&mail).await.unwrap();
    assert_eq!(next(&mut heard).await.as_deref(), Some("mail"));
}

/// TLS to the database: with the server's CA, `sslmode=verify-full` connects; with another CA
/// it does not (the certificate is checked), nor does a connection without TLS (the server
/// refuses it over TCP).
#[tokio::test]
async fn tls_to_the_database_is_verified() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (server, ca) = crate::pg_test::PgServer::start_tls("tls", port);
    server.psql("postgres", "CREATE DATABASE tls");
    let url = |mode: &str, ca: &std::path::Path| {
        format!(
            "postgres://faxhub@localhost:{port}/tls?sslmode={mode}&sslrootcert={}",
            ca.display()
        )
    };
    let connect = |url: String| async move {
        Store::connect(&Target::Postgres {
            url,
            connections: 1,
        })
        .await
    };
    let store = connect(url("verify-full", &ca))
        .await
        .expect("TLS with the server's CA");
    store
        .insert_jobs(&[NewJob::example(1_000, &["+33169293999"])])
        .await
        .unwrap();
    let other = tempfile::tempdir().unwrap();
    let other_ca = {
        let out = std::process::Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            ])
            .args(["/CN=another CA", "-keyout", "k.pem", "-out", "ca.pem"])
            .current_dir(other.path())
            .output()
            .unwrap();
        assert!(out.status.success());
        other.path().join("ca.pem")
    };
    assert!(
        connect(url("verify-full", &other_ca)).await.is_err(),
        "another CA"
    );
    assert!(connect(url("disable", &ca)).await.is_err(), "without TLS");
}
