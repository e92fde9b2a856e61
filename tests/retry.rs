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

/// A call cut after page 2 of 5 is resumed: the next call sends pages 3 to 5 behind a
/// continuation page (read back by Tesseract), the job records both calls and where each began,
/// and the receipt tells the story. The control: a number in `resume_never` gets the whole fax
/// again.
#[test]
fn a_call_cut_after_page_2_of_5_resumes_with_pages_3_to_5_behind_a_continuation_page() {
    let extra = "[[lines.script]]\nnumbers = \"+3315500000X\"\noutcomes = [\"fail-after-page:2\", \"ok\"]\n";
    let config = test_line("").replace(
        "[scheduler]\n",
        "[scheduler]\nresume_never = [\"+33155000005\"]\n",
    );
    let hub = Faxhub::start("", &format!("{config}{extra}"));
    let scratch = tempfile::tempdir().unwrap();
    let pdf = make_pdf(scratch.path(), 4);
    let message = message_with_attachment(
        "Quote 2026-117",
        "Please find the quote.",
        "quote.pdf",
        "application/pdf",
        &pdf,
    );
    let resumed = send(&hub, &["0155000004@fax.localhost"], &message);
    let whole = send(&hub, &["0155000005@fax.localhost"], &message);
    let sent = |id: &str| {
        hub.outbox()
            .into_iter()
            .find(|p| p.to_string_lossy().contains(id))
            .unwrap()
    };

    let job = hub.wait_finished(&resumed, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#}");
    assert_eq!(job["pages"], 5, "the body and 4 PDF pages");
    assert_eq!(
        r["pages_sent"], 5,
        "every page confirmed, over two calls: {r:#}"
    );
    let calls = r["attempt_log"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{r:#}");
    assert_eq!(
        (
            calls[0]["first_page"].as_i64(),
            calls[0]["pages_sent"].as_i64()
        ),
        (Some(1), Some(2))
    );
    assert_eq!(
        (
            calls[1]["first_page"].as_i64(),
            calls[1]["pages_sent"].as_i64()
        ),
        (Some(3), Some(4))
    );
    let file = sent(&resumed);
    assert_eq!(
        assert_tiff_f(&file),
        4,
        "a continuation page and pages 3 to 5"
    );
    let all = strips(&hub.data_dir().join(format!("spool/pages/{resumed}.tif")));
    assert_eq!(strips(&file)[1..], all[2..], "pages 3 to 5, as converted");
    let page = scratch.path().join("continued.tif");
    tiff_page(&file, 0, &page);
    let text = ocr(&page);
    for want in [
        "CONTINUED",
        "Pages 3 to 5 of 5",
        "Quote 2026-117",
        "alice@example.com",
    ] {
        assert!(
            text.contains(want),
            "{want} not on the continuation page:\n{text}"
        );
    }

    // the control: resume_never sends the whole fax again
    let job = hub.wait_finished(&whole, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#}");
    assert_eq!(r["attempt_log"][1]["first_page"], 1, "{r:#}");
    assert_eq!(assert_tiff_f(&sent(&whole)), 5);
    assert_eq!(
        strips(&sent(&whole)),
        strips(&hub.data_dir().join(format!("spool/pages/{whole}.tif")))
    );
}

/// Destination memory on a far end that refuses T.38 and cannot train above 9600 bit/s (the
/// test line plays it): the first call fails in training, the next try goes G.711 at 9600 and
/// gets through, and the next fax starts there (one call). `faxhub destinations` shows what it
/// learnt; forgotten, the number fails its first call again (the control: the memory is what
/// made the difference); an operator can pin a number.
#[test]
fn a_far_end_that_fails_at_14400_gets_g711_at_9600_and_the_next_fax_starts_there() {
    let extra = "[[lines.script]]\nnumbers = \"+33155000006\"\noutcomes = [\"g711-at-9600\"]\n";
    let hub = Faxhub::start("", &format!("{}{extra}", test_line("")));
    let fax = || {
        let id = send(
            &hub,
            &["0155000006@fax.localhost"],
            &text_message("memory", "one page"),
        );
        let job = hub.wait_finished(&id, WAIT);
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
        job["recipients"][0].clone()
    };
    let first = fax();
    assert_eq!(first["attempts"], 2, "{first:#}");
    let failed = &first["attempt_log"][0];
    assert_eq!(failed["status_code"], "4.4.2");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("could not train"),
        "{failed:#}"
    );
    let known = |hub: &Faxhub| -> serde_json::Value {
        let out = hub.cli(&["destinations", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let all = known(&hub);
    let d = &all[0];
    assert_eq!(d["number"], "+33155000006", "{all:#}");
    assert_eq!(
        d["profile"],
        serde_json::json!({"t38": false, "max_speed": 9600}),
        "{d:#}"
    );
    assert_eq!(d["last_ok"], "G.711 at 9600 bit/s", "{d:#}");
    assert_eq!(d["last_failure"], "the modems could not train", "{d:#}");
    // the next fax starts where the last one got through
    assert_eq!(fax()["attempts"], 1);
    let text = String::from_utf8_lossy(&hub.cli(&["destinations"]).stdout).to_string();
    assert!(
        text.contains("+33155000006") && text.contains("G.711, at most 9600 bit/s"),
        "{text}"
    );

    // forgotten: the first call fails again
    let out = hub.cli(&["destinations", "forget", "01 55 00 00 06"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "+33155000006: forgotten\n"
    );
    assert_eq!(fax()["attempts"], 2);

    // pinned by an operator: calls no longer change it
    let out = hub.cli(&[
        "destinations",
        "pin",
        "0155000006",
        "--g711",
        "--speed",
        "4800",
        "--ecm",
        "off",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "+33155000006: pinned, G.711, at most 4800 bit/s, ECM off\n"
    );
    assert_eq!(fax()["attempts"], 1);
    let d = &known(&hub)[0];
    assert_eq!(
        (d["pinned"].as_bool(), d["profile"]["max_speed"].as_u64()),
        (Some(true), Some(4800))
    );
    let bad = hub.cli(&["destinations", "pin", "0155000006", "--speed", "12000"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
