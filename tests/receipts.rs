//! Receipts and received faxes, end to end with the real binary. A private Postfix plays the
//! site's mail system: it relays the fax domain to faxhub and takes faxhub's mail back (over
//! STARTTLS, its certificate checked against a test CA) into Maildirs. Every mail is read back
//! by Python's email package; the human texts are compared with golden files (dates, ids and
//! durations normalised; `UPDATE_GOLDEN=1` rewrites them).

mod common;

use common::dovecot::Dovecot;
use common::mail::{self, golden, normalise};
use common::postfix::Postfix;
use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);

/// Quick retries and polls, one LibreOffice instance: these tests run side by side.
const QUICK: &str = "[retry]\nschedule = [\"1s\"]\nmax_dials = 6\nmax_tries = 1\ngive_up_after = \"1h\"\n\
     [scheduler]\npoll_interval = \"200ms\"\n[convert]\noffice_instances = 1\n";

/// One mail, with the MAIL and RCPT arguments as given (DSN parameters).
fn submit(port: u16, mail_from: &str, rcpts: &[&str], message: &[u8]) -> (u16, String) {
    Smtp::connect(port).transaction(mail_from, rcpts, message)
}

fn status_block(report: &Value) -> &Value {
    &report["status"][1]
}

/// Pages and black pixels of a PDF as Ghostscript renders it.
fn render(pdf: &[u8], dir: &std::path::Path) -> Vec<usize> {
    let input = dir.join("render.pdf");
    std::fs::write(&input, pdf).unwrap();
    let out = std::process::Command::new("gs")
        .args([
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=pbmraw",
            "-r50",
        ])
        .arg(format!("-sOutputFile={}/render-%02d.pbm", dir.display()))
        .arg(&input)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (1..)
        .map_while(|i| std::fs::read(dir.join(format!("render-{i:02}.pbm"))).ok())
        .map(|pbm| {
            // the pixel data follows the header's last line
            let body = pbm.splitn(4, |b| *b == b'\n').last().unwrap_or(&[]);
            body.iter().map(|b| b.count_ones() as usize).sum()
        })
        .collect()
}

/// The attachment of a mail, decoded (Python gives its size and first bytes; this reads it).
fn attachment_bytes(path: &std::path::Path) -> Vec<u8> {
    let out = std::process::Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(
            "import email,email.policy,sys\n\
             m=email.message_from_binary_file(open(sys.argv[1],'rb'),policy=email.policy.default)\n\
             p=[p for p in m.walk() if p.get_content_disposition()=='attachment'][0]\n\
             sys.stdout.buffer.write(p.get_payload(decode=True))",
        )
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn a_mail_through_postfix_is_faxed_and_the_fax_and_the_report_come_back_through_postfix() {
    let dir = tempfile::tempdir().unwrap();
    let ((ca, _, _), tls) = Postfix::tls(dir.path());
    let dovecot = Dovecot::start("receipts-e2e", "faxhub", "s3cret pass");
    let postfix_port = free_port();
    let hub = Faxhub::start(
        "fax_domains = [\"fax.example\"]",
        &format!(
            "{QUICK}[receipts]\nlanguage = \"en\"\n\
             [relay]\nhost = \"localhost\"\nport = {postfix_port}\ntls = \"starttls\"\nca_file = \"{}\"\n\
             username = \"faxhub\"\npassword = \"s3cret pass\"\n\
             [inbound]\ncatch_all = \"nobody@example.com\"\n\
             [[inbound.routes]]\nnumbers = [\"+33142000100-+33142000199\"]\nto = \"sales@example.com\"\n\
             [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
             [sip.inbound.fax]\nident = \"+33 1 42 00 01 55\"\n\
             [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\n\
             [lines.fax]\nident = \"FAXHUB E2E\"\n",
            ca.display()
        ),
    );
    let postfix = Postfix::start_on(
        "receipts-e2e",
        postfix_port,
        &format!(
            "relay_domains = fax.example\ntransport_maps = inline:{{fax.example=smtp:[127.0.0.1]:{}}}\n{}{tls}{}",
            hub.port,
            Postfix::maildirs("receipts-e2e", &["alice", "sales"]),
            dovecot.postfix_sasl()
        ),
    );
    let pdf = make_pdf(dir.path(), 1);
    let message = message_with_attachment(
        "Via Postfix",
        "Hello through the relay",
        "doc.pdf",
        "application/pdf",
        &pdf,
    );
    let reply = submit(
        postfix.port,
        "<alice@example.com> RET=HDRS ENVID=E2E-1",
        &["<0142000155@fax.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;0142000155@fax.example"],
        &message,
    );
    assert_eq!(reply.0, 250, "{reply:?}");
    let why = || format!("{}\n{}", postfix.log(), hub.log());

    // the received fax, in the DID owner's mailbox
    let sales = Postfix::maildir("receipts-e2e", "sales");
    let fax = mail::wait_for(&sales, 1, WAIT, why).remove(0);
    assert_eq!(fax["defects"], serde_json::json!([]));
    assert_eq!(fax["headers"]["Subject"], "Fax from FAXHUB E2E (2 pages)");
    assert_eq!(fax["headers"]["To"], "sales@example.com");
    let text = fax["text"].as_str().unwrap();
    assert!(text.contains("Number dialled: 0142000155"), "{text}");
    assert!(text.contains("Sending fax ID: FAXHUB E2E"), "{text}");
    assert_eq!(fax["attachments"][0]["type"], "application/pdf");
    let pdf = attachment_bytes(&mail::messages(&sales)[0]);
    let pages = render(&pdf, dir.path());
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(pages.iter().all(|blacks| *blacks > 20), "{pages:?}");

    // the same fax over the API: its owner's token sees it and its pages, another sender's
    // does not (the control: an admin token does)
    let owner = hub.api_token(&["--scope", "read", "--sender", "sales@example.com"]);
    let other = hub.api_token(&["--scope", "read", "--sender", "alice@example.com"]);
    let admin = hub.api_token(&["--scope", "admin"]);
    let (status, list) = hub.http_json("/v1/inbox", Some(&owner));
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["faxes"].as_array().unwrap().len(), 1, "{list}");
    let received = &list["faxes"][0];
    assert_eq!(received["did"], "0142000155");
    assert_eq!(received["pages"], 2);
    assert_eq!(received["remote_ident"], "FAXHUB E2E");
    let id = received["id"].as_str().unwrap();
    let (status, one) = hub.http_json(&format!("/v1/inbox/{id}"), Some(&owner));
    assert_eq!((status, &one), (200, received));
    let (status, pdf) = hub.http_get(&format!("/v1/inbox/{id}.pdf"), Some(&owner));
    assert_eq!(status, 200);
    assert_eq!(
        render(&pdf, dir.path()).len(),
        2,
        "the API's PDF has the pages"
    );
    assert_eq!(
        hub.http_json("/v1/inbox", Some(&other)).1["faxes"],
        serde_json::json!([])
    );
    assert_eq!(
        hub.http_get(&format!("/v1/inbox/{id}"), Some(&other)).0,
        404
    );
    assert_eq!(
        hub.http_get(&format!("/v1/inbox/{id}.pdf"), Some(&other)).0,
        404
    );
    assert_eq!(
        hub.http_get(&format!("/v1/inbox/{id}"), Some(&admin)).0,
        200
    );
    // a path that climbs out of the inbox names nothing (the record is there: the control)
    assert!(hub.data_dir().join(format!("inbox/{id}.json")).exists());
    for climb in ["..%2F..%2Ffaxhub.toml", "..%2Finbox%2F{id}", "%2E%2E"] {
        let path = format!("/v1/inbox/{}", climb.replace("{id}", id));
        assert_eq!(hub.http_get(&path, Some(&admin)).0, 404, "{path}");
    }

    // the success report, in the sender's
    let alice = Postfix::maildir("receipts-e2e", "alice");
    let report = mail::wait_for(&alice, 1, WAIT, why).remove(0);
    let job = hub.queue(true)[0]["id"].as_str().unwrap().to_string();
    assert_eq!(report["defects"], serde_json::json!([]));
    assert_eq!(report["content_type"], "multipart/report");
    assert_eq!(report["params"]["report-type"], "delivery-status");
    assert_eq!(
        report["headers"]["Subject"],
        "Fax delivered: Via Postfix (to +33142000155)"
    );
    assert_eq!(report["headers"]["Auto-Submitted"], "auto-replied");
    assert_eq!(report["headers"]["Return-Path"], "<>");
    assert_eq!(report["headers"]["X-Faxhub-Job"], job.as_str());
    let per_message = &report["status"][0];
    assert_eq!(per_message["Reporting-MTA"], "dns; faxhub.test");
    assert_eq!(per_message["Original-Envelope-Id"], "E2E-1");
    assert!(per_message["Arrival-Date"].is_string());
    let rcpt = status_block(&report);
    assert_eq!(rcpt["Original-Recipient"], "rfc822;0142000155@fax.example");
    assert_eq!(rcpt["Final-Recipient"], "rfc822; 0142000155@fax.example");
    assert_eq!(rcpt["Action"], "delivered");
    assert_eq!(rcpt["Status"], "2.0.0");
    assert!(
        rcpt["Diagnostic-Code"]
            .as_str()
            .unwrap()
            .starts_with("X-Fax; delivered; 2 page(s) sent"),
        "{rcpt:#}"
    );
    assert!(rcpt["Last-Attempt-Date"].is_string());
    assert!(rcpt.get("Will-Retry-Until").is_none());
    assert_eq!(rcpt["X-Fax-Pages-Sent"], "2");
    assert_eq!(rcpt["X-Fax-CSID"], "+33 1 42 00 01 55");
    assert_eq!(rcpt["X-Fax-ECM"], "yes");
    assert_eq!(rcpt["X-Fax-Speed"], "14400");
    assert_eq!(report["returned"]["type"], "text/rfc822-headers");
    assert_eq!(report["returned"]["headers"]["Subject"], "Via Postfix");
    assert_eq!(
        report["attachments"][0]["filename"],
        format!("fax-{job}.pdf")
    );
    assert_eq!(report["attachments"][0]["magic"], "255044462d312e35");
    assert_eq!(report["images"][0]["cid"], "<page1@faxhub>");
    golden(
        "receipt-e2e-delivered.txt",
        &normalise(report["text"].as_str().unwrap(), &job),
    );
    // both mails went to Postfix over TLS, logged in, and Postfix put them in the mailboxes
    let log = postfix.log();
    assert!(
        log.contains("TLS connection established from localhost"),
        "{log}"
    );
    assert!(
        log.contains("sasl_method=PLAIN, sasl_username=faxhub"),
        "{log}\n{}",
        dovecot.log()
    );
    assert_eq!(
        log.matches("status=sent (delivered to maildir)").count(),
        2,
        "{log}"
    );
}

#[test]
fn one_mail_to_three_numbers_gets_a_report_per_outcome_and_a_busy_line_a_delay_first() {
    let hub = Faxhub::start(
        "",
        &format!(
            "{QUICK}[receipts]\ndelay_after = \"2s\"\n\
             [[lines]]\nname = \"test\"\nkind = \"test\"\n\
             [[lines.script]]\nnumbers = \"+33155000001\"\noutcomes = [\"busy\"]\n\
             [[lines.script]]\nnumbers = \"+33155000002\"\noutcomes = [\"unallocated\"]\n"
        ),
    );
    let notify = "NOTIFY=SUCCESS,FAILURE,DELAY";
    let reply = submit(
        hub.port,
        "<alice@example.com>",
        &[
            &format!("<0169293999@fax.localhost> {notify}"),
            &format!("<0155000001@fax.localhost> {notify}"),
            &format!("<0155000002@fax.localhost> {notify}"),
        ],
        &text_message(
            "Three numbers",
            "One will do, one is busy, one does not exist.",
        ),
    );
    let job = queued_id(&reply);
    let maildir = hub.data_dir().join("Maildir");
    let reports = mail::wait_for(&maildir, 4, WAIT, || hub.log());
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(mail::messages(&maildir).len(), 4, "no fifth report");
    let by_subject = |prefix: &str| -> Vec<&Value> {
        reports
            .iter()
            .filter(|r| {
                r["headers"]["Subject"]
                    .as_str()
                    .unwrap()
                    .starts_with(prefix)
            })
            .collect()
    };
    // one delivered report, for the number that took the fax
    let delivered = by_subject("Fax delivered");
    assert_eq!(delivered.len(), 1);
    assert_eq!(
        delivered[0]["headers"]["Subject"],
        "Fax delivered: Three numbers (to +33169293999)"
    );
    assert_eq!(delivered[0]["status"].as_array().unwrap().len(), 2);
    // the number that does not exist fails at once, in a report of its own
    let failed = by_subject("Fax failed");
    assert_eq!(failed.len(), 2, "{failed:#?}");
    let unallocated = failed
        .iter()
        .find(|r| status_block(r)["Status"] == "5.1.1")
        .expect("a 5.1.1 report");
    assert_eq!(
        status_block(unallocated)["Final-Recipient"],
        "rfc822; 0155000002@fax.localhost"
    );
    assert!(
        unallocated["text"]
            .as_str()
            .unwrap()
            .contains("the number does not exist"),
        "{}",
        unallocated["text"]
    );
    // the busy number: one delay report, then the failure with 4.4.1 and "busy"
    let delayed = by_subject("Fax delayed");
    assert_eq!(delayed.len(), 1);
    let d = status_block(delayed[0]);
    assert_eq!(d["Action"], "delayed");
    assert_eq!(d["Status"], "4.4.1");
    assert!(d["Will-Retry-Until"].is_string(), "{d:#}");
    let busy = failed
        .iter()
        .find(|r| status_block(r)["Status"] == "4.4.1")
        .expect("a 4.4.1 failure");
    let b = status_block(busy);
    assert_eq!(b["Action"], "failed");
    assert_eq!(b["Final-Recipient"], "rfc822; 0155000001@fax.localhost");
    assert!(
        b["X-Supplementary-Info"].as_str().unwrap().contains("busy"),
        "{b:#}"
    );
    assert!(b.get("Will-Retry-Until").is_none());
    assert_eq!(b["X-Fax-Attempts"], "6");
    let busy_text = busy["text"].as_str().unwrap();
    assert!(busy_text.contains("the line was busy"), "{busy_text}");
    // the delay report came before the failure
    let order: Vec<String> = mail::messages(&maildir)
        .iter()
        .map(|p| {
            mail::read(p)["headers"]["Subject"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let delayed_at = order
        .iter()
        .position(|s| s.starts_with("Fax delayed"))
        .unwrap();
    let busy_at = order
        .iter()
        .position(|s| s.starts_with("Fax failed") && s.contains("+33155000001"))
        .unwrap();
    assert!(delayed_at < busy_at, "{order:?}");
    golden(
        "receipt-e2e-delayed.txt",
        &normalise(delayed[0]["text"].as_str().unwrap(), &job),
    );
    golden("receipt-e2e-busy.txt", &normalise(busy_text, &job));
}

#[test]
fn a_document_that_cannot_be_converted_is_named_and_a_null_sender_gets_no_report() {
    let hub = Faxhub::start("", QUICK);
    let broken = message_with_attachment(
        "Broken",
        "See the attachment",
        "broken.pdf",
        "application/pdf",
        b"%PDF-1.4 this is not a PDF at all",
    );
    let job = queued_id(&submit(
        hub.port,
        "<alice@example.com>",
        &["<0169293999@fax.localhost>"],
        &broken,
    ));
    let null = queued_id(&submit(
        hub.port,
        "<>",
        &["<0169293998@fax.localhost> NOTIFY=SUCCESS,FAILURE"],
        &text_message("From a robot", "No report for me"),
    ));
    let maildir = hub.data_dir().join("Maildir");
    let report = mail::wait_for(&maildir, 1, WAIT, || hub.log()).remove(0);
    assert_eq!(
        report["headers"]["Subject"],
        "Fax failed: Broken (to +33169293999)"
    );
    let rcpt = status_block(&report);
    assert!(
        rcpt["Status"].as_str().unwrap().starts_with("5.6."),
        "{rcpt:#}"
    );
    assert!(
        rcpt["X-Supplementary-Info"]
            .as_str()
            .unwrap()
            .contains("broken.pdf"),
        "{rcpt:#}"
    );
    assert!(report["text"].as_str().unwrap().contains("broken.pdf"));
    // nothing was sent, so nothing is attached
    assert!(report["attachments"].as_array().unwrap().is_empty());
    assert_eq!(report["headers"]["X-Faxhub-Job"], job.as_str());
    // the mail from <> was faxed, and no report was made (it is logged)
    hub.wait_finished(&null, WAIT);
    let start = Instant::now();
    while !hub.log().contains("null return path") {
        assert!(start.elapsed() < WAIT, "{}", hub.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(mail::messages(&maildir).len(), 1);
}

#[test]
fn receipts_wait_out_a_relay_that_is_down_and_none_is_lost_or_sent_twice() {
    let postfix_port = free_port();
    let mut hub = Faxhub::start(
        "",
        &format!(
            "{QUICK}[receipts]\nretry_after = \"1s\"\nretry_max = \"2s\"\n\
             [relay]\nhost = \"127.0.0.1\"\nport = {postfix_port}\ntls = \"none\"\n"
        ),
    );
    let postfix = Postfix::start_on(
        "receipts-down",
        postfix_port,
        &Postfix::maildirs("receipts-down", &["alice"]),
    );
    postfix.stop();
    let mut jobs = Vec::new();
    for i in 0..5 {
        jobs.push(queued_id(&submit(
            hub.port,
            "<alice@example.com>",
            &["<0169293999@fax.localhost>"],
            &text_message(&format!("Relay down {i}"), "Hello"),
        )));
    }
    for job in &jobs {
        hub.wait_finished(job, WAIT);
    }
    // every report is queued and waits for the relay
    let start = Instant::now();
    while hub.log().matches("mail deferred").count() < 5 {
        assert!(start.elapsed() < WAIT, "{}", hub.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    // faxhub dies while they wait (kill -9), and comes back
    hub.kill9();
    hub.launch();
    postfix.start_again();
    let alice = Postfix::maildir("receipts-down", "alice");
    let reports = mail::wait_for(&alice, 5, WAIT, || {
        format!("{}\n{}", postfix.log(), hub.log())
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        mail::messages(&alice).len(),
        5,
        "none sent twice: {}",
        postfix.log()
    );
    let mut reported: Vec<String> = reports
        .iter()
        .map(|r| r["headers"]["X-Faxhub-Job"].as_str().unwrap().to_string())
        .collect();
    reported.sort();
    jobs.sort();
    assert_eq!(reported, jobs);
}
