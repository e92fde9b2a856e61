//! The intake in-process: a real spool and store in a temporary directory.

use super::*;
use crate::state::RecipientStatus;

async fn intake(dir: &std::path::Path, limits: SenderLimits) -> (Intake, Store) {
    let spool = Spool::open(&dir.join("spool")).unwrap();
    let store = Store::open(&dir.join("db")).await.unwrap();
    let intake = Intake::start(spool, store.clone(), Arc::default(), limits);
    (intake, store)
}

fn to(number: &str) -> Submission {
    Submission {
        origin: Origin::Smtp,
        return_path: "alice@example.com".into(),
        from_header: None,
        subject: None,
        env_id: None,
        ret: None,
        recipients: vec![NewRecipient::example(number)],
        source: None,
        refused: Vec::new(),
        request_hash: None,
        billing: None,
        priority: Default::default(),
        send_at_ms: None,
        list_part: None,
    }
}

/// Twenty sessions of one sender, each to a number of its own, all at once, with a limit of five
/// numbers a day: five are admitted, whatever batches the committer makes of them (a sender
/// cannot pass a limit by sending in parallel).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sessions_of_one_sender_cannot_pass_its_numbers_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limits = SenderLimits {
        numbers_per_day: 5,
        ..SenderLimits::default()
    };
    let (intake, store) = intake(dir.path(), limits).await;
    let sessions: Vec<_> = (0..20)
        .map(|i| {
            let intake = intake.clone();
            tokio::spawn(async move {
                intake
                    .accept(
                        to(&format!("+3316929{i:04}")),
                        b"Subject: x\r\n\r\nx\r\n".to_vec(),
                    )
                    .await
            })
        })
        .collect();
    let mut admitted = Vec::new();
    let mut refused = Vec::new();
    for session in sessions {
        let id = session.await.unwrap().expect("every message is accepted");
        let job = store.job(&id).await.unwrap().expect("committed");
        let r = &job.recipients[0];
        match r.status {
            RecipientStatus::Failed => {
                assert_eq!(r.status_code.as_deref(), Some("5.7.1"), "{r:?}");
                refused.push(r.number.clone());
            }
            _ => admitted.push(r.number.clone()),
        }
    }
    assert_eq!((admitted.len(), refused.len()), (5, 15));
    // a number faxed today still passes; one refused still does not
    for (number, status) in [
        (&admitted[0], RecipientStatus::Queued),
        (&refused[0], RecipientStatus::Failed),
    ] {
        let id = intake
            .accept(to(number), b"Subject: x\r\n\r\nx\r\n".to_vec())
            .await
            .unwrap();
        let job = store.job(&id).await.unwrap().unwrap();
        assert_eq!(job.recipients[0].status, status, "{number}");
    }
}

/// Other nodes' commits count as arrivals, and the nodes committing them are counted while
/// recent; a flood of node names (the NOTIFY channel is the cluster's, but still) keeps at most
/// `MAX_PEERS`.
#[tokio::test(start_paused = true)]
async fn other_nodes_commits_count_and_their_nodes_while_recent() {
    let arrivals = Arrivals::default();
    arrivals.committed(2);
    arrivals.committed_by(3, "b");
    arrivals.committed_by(1, "c");
    arrivals.committed_by(1, "b");
    assert_eq!(arrivals.total(), 7, "this node's and the others'");
    let within = std::time::Duration::from_secs(3);
    assert_eq!(arrivals.peers_receiving(within), 2, "b and c, once each");
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    arrivals.committed_by(1, "c");
    tokio::time::advance(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        arrivals.peers_receiving(within),
        1,
        "b went quiet, c did not"
    );
    for i in 0..10 * MAX_PEERS {
        arrivals.committed_by(1, &format!("node-{i}"));
    }
    assert_eq!(arrivals.peers_receiving(within), MAX_PEERS, "bounded");
}

#[test]
fn billing_codes_are_trimmed_cleaned_and_bounded() {
    use super::{MAX_BILLING, billing_code};
    assert_eq!(billing_code("  PRJ-42 ").as_deref(), Some("PRJ-42"));
    assert_eq!(billing_code("A\tB\r\nC\u{7}").as_deref(), Some("ABC"));
    assert_eq!(billing_code(" \t\r\n"), None);
    assert_eq!(billing_code(""), None);
    let long = "é".repeat(500);
    assert_eq!(billing_code(&long).unwrap().chars().count(), MAX_BILLING);
}

#[test]
fn a_billing_code_is_taken_from_the_subject_tag_and_leaves_it() {
    use super::subject_tag;
    type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a str)>);
    let cases: &[Case] = &[
        (
            "Quote for Smith [BILL: PRJ-42]",
            "BILL:",
            Some(("PRJ-42", "Quote for Smith")),
        ),
        ("[bill:7] Contract", "BILL:", Some(("7", "Contract"))),
        (
            "Contract [EXT] draft [BILL:A 1] v2",
            "BILL:",
            Some(("A 1", "Contract [EXT] draft v2")),
        ),
        ("[EXT] Contract", "BILL:", None),
        ("Contract [BILL:   ]", "BILL:", None),
        ("[PRJ-42] Contract", "", Some(("PRJ-42", "Contract"))),
        ("Contract [BILL:no end", "BILL:", None),
        (
            "Contract ] [ [BILL:x]",
            "BILL:",
            Some(("x", "Contract ] [")),
        ),
        (
            "Contract [ÉTÉ] [BILL:y]",
            "BILL:",
            Some(("y", "Contract [ÉTÉ]")),
        ),
        ("é[é", "BILL:", None),
        ("", "", None),
    ];
    for (subject, prefix, want) in cases {
        let got = subject_tag(subject, prefix);
        let want = want.map(|(c, r)| (c.to_string(), r.to_string()));
        assert_eq!(got, want, "{subject:?} with {prefix:?}");
    }
    // bounded by what the subject carries: 100,000 brackets scanned once
    let hostile = "[".repeat(100_000) + "]";
    assert_eq!(subject_tag(&hostile, "BILL:"), None);
}
