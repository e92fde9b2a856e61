//! End to end: when a fax goes, as its sender asked. `X-Fax-Send-At` holds a fax until then
//! (its number waits, saying why; a date that is not one, or too far ahead, is refused); a
//! high-priority fax overtakes a 200-number job on a one-channel line.

mod common;

use common::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

#[test]
fn a_fax_held_until_its_time_waits_then_goes() {
    let hub = Faxhub::start("", "[scheduler]\npoll_interval = \"200ms\"\n");
    let at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let send_at = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let message = format!("Subject: later\r\nX-Fax-Send-At: {send_at}\r\n\r\nOne page.\r\n");
    let reply = hub.smtp().send_mail(
        "alice@example.com",
        &["0169293999@fax.localhost"],
        message.as_bytes(),
    );
    assert_eq!(reply.0, 250, "{reply:?}");
    let id = queued_id(&reply);
    let job = hub.show(&id);
    let held_until = at.timestamp_millis() / 1000 * 1000;
    assert_eq!(ms(job["send_at"].as_str().unwrap()), held_until, "{job:#}");
    let waiting = &job["recipients"][0];
    assert_eq!(waiting["status"], "deferred", "{job:#}");
    assert!(
        waiting["reason"].as_str().unwrap().contains("held until"),
        "{job:#}"
    );
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    let started = job["recipients"][0]["attempt_log"][0]["started_at"]
        .as_str()
        .unwrap_or_else(|| panic!("no attempt: {job:#}"));
    assert!(
        ms(started) >= held_until,
        "called at {started}, held until {send_at}"
    );
    // refused: not a time, too far ahead; nothing queued
    for (header, says) in [
        ("next tuesday", "is not a date"),
        ("2099-01-01T00:00:00Z", "days ahead"),
    ] {
        let message = format!("Subject: x\r\nX-Fax-Send-At: {header}\r\n\r\nx\r\n");
        let reply = hub.smtp().send_mail(
            "alice@example.com",
            &["0169293999@fax.localhost"],
            message.as_bytes(),
        );
        assert_eq!(reply.0, 550, "{header}: {reply:?}");
        assert!(
            reply.1.starts_with("5.6.0") && reply.1.contains(says),
            "{reply:?}"
        );
    }
    assert_eq!(hub.queue(true).len(), 1);
}

#[test]
fn a_high_priority_fax_overtakes_a_200_number_job_on_a_one_channel_line() {
    let hub = Faxhub::start(
        "max_recipients = 300\n",
        "[scheduler]\npoll_interval = \"100ms\"\n\
         [[lines]]\nname = \"test\"\nkind = \"test\"\nchannels = 1\ncall_duration = \"100ms\"\n",
    );
    let numbers: Vec<String> = (0..200)
        .map(|i| format!("0155{i:06}@fax.localhost"))
        .collect();
    let numbers: Vec<&str> = numbers.iter().map(String::as_str).collect();
    let bulk = hub.smtp().send_mail(
        "alice@example.com",
        &numbers,
        b"Subject: mailing\r\n\r\nNews.\r\n",
    );
    assert_eq!(bulk.0, 250, "{bulk:?}");
    let bulk = queued_id(&bulk);
    // the line is busy with the bulk job
    hub.wait_job(&bulk, WAIT, |j| {
        j["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "done")
    });
    let urgent = hub.smtp().send_mail(
        "bob@example.com",
        &["0169293999@fax.localhost"],
        b"Subject: urgent\r\nX-Fax-Priority: high\r\n\r\nNow.\r\n",
    );
    assert_eq!(urgent.0, 250, "{urgent:?}");
    let urgent = queued_id(&urgent);
    assert_eq!(hub.show(&urgent)["priority"], "high");
    let done = hub.wait_finished(&urgent, WAIT);
    assert_eq!(done["recipients"][0]["status"], "done", "{done:#}");
    let bulk_job = hub.show(&bulk);
    let waiting = bulk_job["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] != "done")
        .count();
    assert!(
        waiting > 100,
        "the urgent fax waited for the bulk job: {waiting} of 200 left"
    );
    hub.wait_finished(&bulk, WAIT);
}

/// RFC 4865 FUTURERELEASE: advertised with its limits; `HOLDFOR` holds the message, a hold past
/// the limit or not a time is `501 5.5.4` at MAIL.
#[test]
fn future_release_at_smtp_holds_the_fax() {
    let hub = Faxhub::start("", "");
    let mut s = hub.smtp();
    let (code, ehlo) = s.cmd("EHLO client.test");
    assert_eq!(code, 250);
    let keyword = ehlo
        .lines()
        .find(|l| l.starts_with("FUTURERELEASE "))
        .unwrap_or_else(|| panic!("{ehlo}"));
    let parts: Vec<&str> = keyword.split(' ').collect();
    assert_eq!(parts[1], "2678400", "{keyword}");
    assert!(
        ms(parts[2]) > chrono::Utc::now().timestamp_millis(),
        "{keyword}"
    );
    for (param, says) in [
        ("HOLDFOR=99999999", "at most"),
        ("HOLDFOR=soon", "not a number"),
        ("HOLDUNTIL=tomorrow", "not a date"),
        ("HOLDFOR=60 HOLDUNTIL=2026-12-01T00:00:00Z", "twice"),
    ] {
        let reply = s.cmd(&format!("MAIL FROM:<alice@example.com> {param}"));
        assert_eq!(reply.0, 501, "{param}: {reply:?}");
        assert!(
            reply.1.starts_with("5.5.4") && reply.1.contains(says),
            "{param}: {reply:?}"
        );
    }
    let before = chrono::Utc::now().timestamp_millis();
    let reply = s.transaction(
        "<alice@example.com> HOLDFOR=3600",
        &["<0169293999@fax.localhost>"],
        b"Subject: in an hour\r\n\r\nLater.\r\n",
    );
    assert_eq!(reply.0, 250, "{reply:?}");
    let job = hub.show(&queued_id(&reply));
    let held = ms(job["send_at"].as_str().unwrap());
    assert!(
        (before + 3_599_000..=before + 3_700_000).contains(&held),
        "{job:#}"
    );
    assert_eq!(job["recipients"][0]["status"], "deferred", "{job:#}");
}
