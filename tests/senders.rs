//! End to end, who may send and who gets pages back (issue 13): a trusted client's sender must
//! be of the site (`local_domains`), an authenticated login's one of its addresses; receipts
//! carry the pages and a `RET=FULL` original only to the site's addresses. Each refusal is
//! shown next to its control: the same attack against a site that counts the attacker as its
//! own gets the pages.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// A one-page PDF mail to one fax number.
fn pdf_mail(dir: &std::path::Path) -> Vec<u8> {
    message_with_attachment(
        "Pages",
        "Pages follow.",
        "offer.pdf",
        "application/pdf",
        &make_pdf(dir, 1),
    )
}

/// The receipt mailed to `to`, once there.
fn receipt_to(hub: &Faxhub, to: &str, n: usize) -> Value {
    let maildir = hub.data_dir().join("Maildir");
    let mails = mail::wait_for(&maildir, n, WAIT, || hub.log());
    mails
        .into_iter()
        .find(|m| m["headers"]["To"].as_str().is_some_and(|t| t.contains(to)))
        .unwrap_or_else(|| panic!("no receipt to {to}: {}", hub.log()))
}

/// The fax's pages attached to a receipt (a returned original has its own attachments).
fn pages(receipt: &Value) -> Vec<String> {
    receipt["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .filter(|name| name.starts_with("fax-"))
        .map(str::to_string)
        .collect()
}

#[test]
fn a_trusted_client_may_only_send_as_the_site_and_the_null_sender_gets_through() {
    let hub = Faxhub::start("", "");
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    for outside in [
        "eve@evil.test",
        "eve@example.com.evil.test",
        "eve%evil.test@example.com",
        "\"eve@evil.test\"@example.com",
    ] {
        let (code, text) = s.cmd(&format!("MAIL FROM:<{outside}>"));
        assert_eq!((code, &text[..5]), (553, "5.7.1"), "{outside}: {text}");
        assert!(text.contains("local_domains"), "{text}");
    }
    // a new session (the errors above count against the session)
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<alice@example.com>").0, 250);
    assert_eq!(s.cmd("RSET").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<>").0, 250);
    // a source route is ignored (RFC 5321 §C): the return path is the mailbox after it
    assert_eq!(s.cmd("RSET").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<@evil.test:alice@example.com>").0, 250);
}

/// Submits over STARTTLS with AUTH PLAIN as `login` (Python's smtplib, an independent client),
/// with `RET=FULL`; returns the refusal of MAIL FROM, or `250 queued`.
fn submit_authenticated(
    hub: &Faxhub,
    login: &str,
    password: &str,
    from: &str,
    message: &[u8],
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let eml = dir.path().join("m.eml");
    std::fs::write(&eml, message).unwrap();
    let script = r#"
import smtplib, ssl, sys
port, login, password, sender, path = sys.argv[1:]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(port), timeout=60)
s.ehlo("client.test"); s.starttls(context=ctx); s.ehlo("client.test"); s.login(login, password)
try:
    s.sendmail(sender, ["0169293999@fax.localhost"], open(path, "rb").read(), mail_options=["RET=FULL"])
except smtplib.SMTPSenderRefused as e:
    print(e.smtp_code, e.smtp_error.decode()); sys.exit(0)
print("250 queued")
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script, &hub.port.to_string(), login, password, from])
        .arg(&eml)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn pages_and_originals_go_back_only_to_the_site() {
    let work = tempfile::tempdir().unwrap();
    // the control: a site that counts evil.test as its own mails it the pages and the original
    let open = Faxhub::start_with("local_domains = [\"example.com\", \"evil.test\"]", "", "");
    let reply = open.smtp().transaction(
        "<eve@evil.test> RET=FULL",
        &["<0169293999@fax.localhost>"],
        &pdf_mail(work.path()),
    );
    queued_id(&reply);
    let eve = receipt_to(&open, "eve@evil.test", 1);
    assert_eq!(
        pages(&eve),
        [format!("fax-{}.pdf", queued_id(&reply))],
        "{eve:#}"
    );
    assert_eq!(eve["returned"]["type"], "message/rfc822", "{eve:#}");

    // the defence: a login allowed an outside address may send as it, but its receipt has no
    // pages, no thumbnail and only the original's headers; the site's own sender gets them all
    let hub = Faxhub::start(
        "[smtp.auth.users]\nscanner = \"s3cret pass\"\n[smtp.auth.senders]\nscanner = [\"@partner.test\"]",
        "",
    );
    let refused = submit_authenticated(
        &hub,
        "scanner",
        "s3cret pass",
        "alice@example.com",
        &pdf_mail(work.path()),
    );
    assert!(refused.starts_with("553 5.7.1"), "{refused}");
    assert!(refused.contains("login scanner"), "{refused}");
    let sent = submit_authenticated(
        &hub,
        "scanner",
        "s3cret pass",
        "bob@partner.test",
        &pdf_mail(work.path()),
    );
    assert_eq!(sent, "250 queued");
    let reply = hub.smtp().transaction(
        "<alice@example.com> RET=FULL",
        &["<0169293999@fax.localhost>"],
        &pdf_mail(work.path()),
    );
    let alice_job = queued_id(&reply);

    let bob = receipt_to(&hub, "bob@partner.test", 2);
    assert_eq!(bob["status"][1]["Action"], "delivered", "{bob:#}");
    assert!(pages(&bob).is_empty(), "{bob:#}");
    assert!(bob["images"].as_array().unwrap().is_empty(), "{bob:#}");
    assert_eq!(bob["returned"]["type"], "text/rfc822-headers", "{bob:#}");
    assert!(hub.log().contains("receipt without pages or original"));

    let alice = receipt_to(&hub, "alice@example.com", 2);
    assert_eq!(pages(&alice), [format!("fax-{alice_job}.pdf")], "{alice:#}");
    assert!(!alice["images"].as_array().unwrap().is_empty(), "{alice:#}");
    assert_eq!(alice["returned"]["type"], "message/rfc822", "{alice:#}");
}

#[test]
fn a_senders_daily_limits_refuse_what_passes_them_and_a_spike_is_counted() {
    let work = tempfile::tempdir().unwrap();
    let hub = Faxhub::start(
        "",
        "[limits]\nnumbers_per_day = 2\npages_per_day = 4\ncalls_per_day = 3\nnew_numbers_per_hour = 1\n",
    );
    let send = |from: &str, to: &[&str], message: &[u8]| {
        let id = queued_id(&hub.smtp().send_mail(from, to, message));
        hub.wait_finished(&id, WAIT)
    };
    let text = text_message("Limits", "One page.");
    // two numbers, two calls, two pages: within every limit; two new numbers in an hour is a
    // spike past 1
    let first = send(
        "alice@example.com",
        &["0169293991@fax.localhost", "0169293992@fax.localhost"],
        &text,
    );
    assert_eq!(first["recipients"][1]["status"], "done", "{first:#}");
    assert!(
        hub.log().contains("more new numbers in the last hour"),
        "{}",
        hub.log()
    );

    // a third number: refused at RCPT, naming the limit; the numbers of the day still pass, and
    // another sender is not held to Alice's limits
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<alice@example.com>").0, 250);
    let (code, said) = s.cmd("RCPT TO:<0169293993@fax.localhost>");
    assert_eq!((code, &said[..5]), (550, "5.7.1"), "{said}");
    assert!(
        said.contains("the daily limit of 2 fax numbers for <alice@example.com> is reached"),
        "{said}"
    );
    assert_eq!(s.cmd("RCPT TO:<0169293991@fax.localhost>").0, 250);
    let bob = send("bob@example.com", &["0169293993@fax.localhost"], &text);
    assert_eq!(bob["recipients"][0]["status"], "done", "{bob:#}");

    // three more pages would pass 4 pages: the call is refused before it is placed
    let three_pages = message_with_attachment(
        "Three pages",
        "A body page.",
        "two.pdf",
        "application/pdf",
        &make_pdf(work.path(), 2),
    );
    let refused = send(
        "alice@example.com",
        &["0169293991@fax.localhost"],
        &three_pages,
    );
    let r = &refused["recipients"][0];
    assert_eq!(
        (&r["status"], &r["status_code"]),
        (&"failed".into(), &"5.7.1".into()),
        "{refused:#}"
    );
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("the daily limit of 4 pages"),
        "{refused:#}"
    );
    assert_eq!(r["attempts"], 0, "no call: {refused:#}");

    // one page more is within 4; then the third call of the day closes the door at RCPT
    let third = send("alice@example.com", &["0169293992@fax.localhost"], &text);
    assert_eq!(third["recipients"][0]["status"], "done", "{third:#}");
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<alice@example.com>").0, 250);
    let (code, said) = s.cmd("RCPT TO:<0169293991@fax.localhost>");
    assert_eq!(code, 550, "{said}");
    assert!(said.contains("the daily limit of 3 calls"), "{said}");

    let counters = hub.cli(&["queue", "counters", "--json"]);
    assert!(counters.status.success(), "{counters:?}");
    let counters: Value = serde_json::from_slice(&counters.stdout).unwrap();
    assert_eq!(counters["sender_destination_spikes"], 1, "{counters}");
}
