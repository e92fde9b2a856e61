//! End to end: webhooks from the real binary to a receiver that checks every signature with
//! the `standardwebhooks` package from PyPI (tests/tools/webhook_receiver.py). Faxes over the
//! loopback line (real T.38 calls, faxhub receiving what it sends) make every type of event;
//! the receiver is down for a while and faxhub is killed with -9 meanwhile: every event arrives,
//! in order per fax, none lost.

mod common;

use common::*;
use serde_json::Value;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The receiver, on `port`, appending to `out`; killed when dropped.
struct Receiver {
    child: Child,
}

impl Receiver {
    fn start(port: u16, out: &Path) -> Receiver {
        let pydeps = concat!(env!("CARGO_MANIFEST_DIR"), "/target/pydeps");
        let mut child = Command::new("/usr/bin/python3")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/tools/webhook_receiver.py"
            ))
            .arg(port.to_string())
            .arg(SECRET)
            .arg(out)
            .env("PYTHONPATH", pydeps)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "listening",
            "the receiver did not start (standardwebhooks in {pydeps}? scripts/install-deps.sh)"
        );
        Receiver { child }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the receiver got, in order.
fn received(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The event types of fax `id` at `path`, each event once (a repeat has the same id), in the
/// order they first came.
fn kinds_of(events: &[Value], path: &str, fax: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    events
        .iter()
        .filter(|e| e["path"] == path && e["data"]["fax"] == fax)
        .filter(|e| seen.insert(e["id"].as_str().unwrap().to_string()))
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

/// Page confirmations folded into one, to compare the order of the rest.
fn folded(kinds: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in kinds {
        if out.last() != Some(k) {
            out.push(k.clone());
        }
    }
    out
}

fn wait_until(what: &str, out: &Path, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let events = received(out);
        if done(&events) {
            return events;
        }
        assert!(
            start.elapsed() < WAIT,
            "{what}: the receiver got only {events:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn hub_config(port: u16) -> String {
    format!(
        "[retry]\nschedule = [\"1s\"]\nmax_dials = 2\nmax_tries = 1\ngive_up_after = \"1h\"\n\
         [scheduler]\npoll_interval = \"200ms\"\n[convert]\noffice_instances = 1\n\
         [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n[sip.inbound.fax]\nident = \"+33 1 42 00 00 00\"\n\
         [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\nchannels = 2\n\
         [lines.fax]\nident = \"FAXHUB HOOKS\"\n\
         [[webhooks]]\nname = \"erp\"\nurl = \"http://127.0.0.1:{port}/erp\"\nsecret = \"{SECRET}\"\n\
         max_backoff = \"1s\"\n\
         [[webhooks]]\nname = \"crm\"\nurl = \"http://127.0.0.1:{port}/crm\"\nsecret = \"{SECRET}\"\n\
         events = [\"fax.delivered\"]\nmax_backoff = \"1s\"\n"
    )
}

#[test]
fn every_event_arrives_signed_and_in_order_through_a_receiver_outage_and_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let out: PathBuf = dir.path().join("received.jsonl");
    let port = free_port();
    let receiver = Receiver::start(port, &out);
    // the control: a request signed with another secret is refused by the receiver
    let forged = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .args(["-H", "webhook-id: msg_forged", "-H"])
        .arg(format!(
            "webhook-timestamp: {}",
            chrono::Utc::now().timestamp()
        ))
        .args([
            "-H",
            "webhook-signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "-d",
            r#"{"type":"fax.delivered","timestamp":"x","data":{}}"#,
        ])
        .arg(format!("http://127.0.0.1:{port}/erp"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&forged.stdout), "400");
    assert!(received(&out)[0]["rejected"].is_string());
    std::fs::remove_file(&out).unwrap();

    let mut hub = Faxhub::start("", &hub_config(port));
    let send = |hub: &Faxhub, message: &[u8]| {
        queued_id(&hub.smtp().send_mail(
            "alice@example.com",
            &["0142000000@fax.localhost"],
            message,
        ))
    };
    let a = send(&hub, &text_message("A", "first"));
    hub.wait_finished(&a, WAIT);
    wait_until("fax A's events", &out, |e| {
        kinds_of(e, "/erp", &a).last().map(String::as_str) == Some("fax.delivered")
    });

    // the receiver goes away; faxes go on; faxhub is killed with -9 and started again
    drop(receiver);
    let b = send(&hub, &text_message("B", "second"));
    let c = send(
        &hub,
        &message_with_attachment(
            "C",
            "x",
            "broken.pdf",
            "application/pdf",
            b"%PDF-1.4\nnonsense",
        ),
    );
    hub.wait_finished(&b, WAIT);
    hub.wait_finished(&c, WAIT);
    hub.kill9();
    hub.launch();
    let _receiver = Receiver::start(port, &out);
    let events = wait_until("every event after the outage", &out, |e| {
        kinds_of(e, "/erp", &b).last().map(String::as_str) == Some("fax.delivered")
            && kinds_of(e, "/erp", &c).last().map(String::as_str) == Some("fax.failed")
            && e.iter().filter(|x| x["type"] == "fax.received").count() >= 2
            && kinds_of(e, "/crm", &b) == ["fax.delivered"]
    });

    assert!(
        events.iter().all(|e| e.get("rejected").is_none()),
        "every signature verified: {events:#?}"
    );
    for fax in [&a, &b] {
        let kinds = kinds_of(&events, "/erp", fax);
        assert_eq!(
            folded(&kinds),
            [
                "fax.queued",
                "fax.converted",
                "fax.dialing",
                "fax.page_confirmed",
                "fax.delivered"
            ],
            "fax {fax}: {kinds:?}"
        );
        assert_eq!(kinds_of(&events, "/crm", fax), ["fax.delivered"]);
    }
    assert_eq!(kinds_of(&events, "/erp", &c), ["fax.queued", "fax.failed"]);
    let failed = events
        .iter()
        .find(|e| e["type"] == "fax.failed" && e["data"]["fax"] == c.as_str())
        .unwrap();
    assert_eq!(failed["data"]["status_code"], "5.6.5", "{failed}");
    assert!(
        failed["data"]["reason"]
            .as_str()
            .unwrap()
            .contains("broken.pdf"),
        "{failed}"
    );
    let delivered = events
        .iter()
        .find(|e| e["type"] == "fax.delivered" && e["data"]["fax"] == a.as_str())
        .unwrap();
    assert_eq!(
        delivered["data"]["remote_ident"], "+33 1 42 00 00 00",
        "{delivered}"
    );
    // two receptions (faxhub received what it sent), each told once however often it was sent
    let mut receptions: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "fax.received")
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    receptions.sort();
    receptions.dedup();
    assert_eq!(receptions.len(), 2, "{events:#?}");
    let reception = events.iter().find(|e| e["type"] == "fax.received").unwrap();
    assert_eq!(reception["data"]["did"], "0142000000");
    assert_eq!(reception["data"]["complete"], true);
    assert_eq!(reception["data"]["remote_ident"], "FAXHUB HOOKS");
    assert!(
        hub.log().contains("webhook not delivered"),
        "the outage was seen"
    );
}
