//! End to end: the scheduler and the retry policy, on the `test` line's scripted outcomes.

mod common;

use common::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn test_line(extra: &str) -> String {
    format!(
        "[retry]\nschedule = [\"1s\"]\nmax_dials = 3\nmax_tries = 2\ngive_up_after = \"1h\"\n\
         [scheduler]\npoll_interval = \"200ms\"\n\
         [[lines]]\nname = \"test\"\nkind = \"test\"\nchannels = 2\n{extra}\n\
         [[lines.script]]\nnumbers = \"+33155000001\"\noutcomes = [\"busy\", \"ok\"]\n\
         [[lines.script]]\nnumbers = \"+33155000002\"\noutcomes = [\"busy\"]\n\
         [[lines.script]]\nnumbers = \"+33155000003\"\noutcomes = [\"fail-after-page:1\"]\n"
    )
}

fn send(hub: &Faxhub, to: &[&str], message: &[u8]) -> String {
    queued_id(&hub.smtp().send_mail("alice@example.com", to, message))
}

#[test]
fn busy_then_success_takes_two_attempts() {
    let hub = Faxhub::start("", &test_line(""));
    let id = send(
        &hub,
        &["0155000001@fax.localhost"],
        &text_message("retry", "busy first"),
    );
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#}");
    assert_eq!(r["attempts"], 2);
    assert_eq!(r["dials"], 1);
    assert_eq!(r["attempt_log"][0]["status_code"], "4.4.1");
    assert_eq!(r["attempt_log"][0]["line"], "test");
    assert_eq!(r["attempt_log"][1]["status_code"], "2.0.0");
    assert_eq!(r["attempt_log"][1]["pages_sent"], 1);
    assert_eq!(hub.outbox().len(), 1);
}

#[test]
fn always_busy_fails_with_4_4_1_after_max_dials() {
    let hub = Faxhub::start("", &test_line(""));
    let id = send(
        &hub,
        &["0155000002@fax.localhost"],
        &text_message("retry", "always busy"),
    );
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "failed", "{job:#}");
    assert_eq!(r["status_code"], "4.4.1");
    assert_eq!(r["attempts"], 3);
    assert!(r["reason"].as_str().unwrap().contains("busy"), "{r}");
    assert!(r["reason"].as_str().unwrap().contains("3 calls"), "{r}");
    assert!(hub.outbox().is_empty());
}

#[test]
fn dropped_calls_count_as_tries_and_record_pages_sent() {
    let hub = Faxhub::start("", &test_line(""));
    let pdf = make_pdf(hub.dir.path(), 2);
    let message =
        message_with_attachment("two pages", "cover text", "a.pdf", "application/pdf", &pdf);
    let id = send(&hub, &["0155000003@fax.localhost"], &message);
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "failed", "{job:#}");
    assert_eq!(r["status_code"], "4.4.2");
    assert_eq!(r["tries"], 2);
    assert_eq!(
        r["pages_sent"], 1,
        "the receiver confirmed one page of three"
    );
    assert!(
        r["reason"].as_str().unwrap().contains("after page 1 of 3"),
        "{r}"
    );
}

#[test]
fn one_job_many_numbers_each_with_its_own_outcome() {
    let hub = Faxhub::start("", &test_line(""));
    let id = send(
        &hub,
        &[
            "0155000001@fax.localhost",
            "0155000002@fax.localhost",
            "0169293999@fax.localhost",
        ],
        &text_message("multi", "x"),
    );
    let job = hub.wait_finished(&id, WAIT);
    let statuses: Vec<&str> = job["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["done", "failed", "done"]);
    assert_eq!(job["pages"], 1, "converted once for all recipients");
}

#[test]
fn calls_to_the_same_number_never_overlap() {
    let hub = Faxhub::start("", &test_line("call_duration = \"700ms\""));
    let a = send(&hub, &["0169293999@fax.localhost"], &text_message("a", "a"));
    let b = send(&hub, &["0169293999@fax.localhost"], &text_message("b", "b"));
    let ja = hub.wait_finished(&a, WAIT);
    let jb = hub.wait_finished(&b, WAIT);
    let span = |j: &serde_json::Value| {
        let a = &j["recipients"][0]["attempt_log"][0];
        (
            a["started_at"].as_str().unwrap().to_string(),
            a["ended_at"].as_str().unwrap().to_string(),
        )
    };
    let (sa, ea) = span(&ja);
    let (sb, eb) = span(&jb);
    assert!(
        ea <= sb || eb <= sa,
        "calls overlapped: {sa}..{ea} and {sb}..{eb}"
    );
}

#[test]
fn a_call_cut_by_kill_9_is_recovered_and_retried() {
    let mut hub = Faxhub::start("", &test_line("call_duration = \"30s\""));
    let id = send(
        &hub,
        &["0169293999@fax.localhost"],
        &text_message("crash", "x"),
    );
    hub.wait_job(&id, WAIT, |j| j["recipients"][0]["status"] == "sending");
    hub.kill9();
    // restart with short calls: the interrupted attempt is recorded and the fax sent again
    let config = std::fs::read_to_string(&hub.config)
        .unwrap()
        .replace("call_duration = \"30s\"", "");
    std::fs::write(&hub.config, config).unwrap();
    hub.launch();
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#}");
    assert_eq!(r["attempts"], 2);
    assert_eq!(r["attempt_log"][0]["status_code"], "4.4.7");
    assert!(
        r["attempt_log"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("interrupted")
    );
    assert!(hub.log().contains("recovered"), "{}", hub.log());
}
