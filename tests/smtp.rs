//! End to end: the real faxhub binary, spoken to over SMTP on a real socket.

mod common;

use common::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn ehlo_advertises_the_extensions() {
    let hub = Faxhub::start("", "");
    let mut s = hub.smtp();
    assert_eq!(s.greeting.0, 220);
    assert!(
        s.greeting.1.starts_with("2.0.0 faxhub.test ESMTP"),
        "{:?}",
        s.greeting
    );
    let (code, text) = s.cmd("EHLO client.test");
    assert_eq!(code, 250);
    for ext in [
        "PIPELINING",
        "SIZE 25000000",
        "8BITMIME",
        "SMTPUTF8",
        "ENHANCEDSTATUSCODES",
        "DSN",
        "STARTTLS",
    ] {
        assert!(text.lines().any(|l| l == ext), "{ext} missing in {text}");
    }
    // AUTH only inside TLS
    assert!(!text.contains("AUTH"), "{text}");
    assert_eq!(s.cmd("QUIT").0, 221);
}

#[test]
fn a_mail_with_a_pdf_becomes_tiff_f_pages_in_the_outbox() {
    let hub = Faxhub::start("", "");
    let pdf = make_pdf(hub.dir.path(), 2);
    let message = message_with_attachment(
        "Price list",
        "Please find our prices attached.",
        "prices.pdf",
        "application/pdf",
        &pdf,
    );
    let reply = hub
        .smtp()
        .send_mail("alice@example.com", &["0169293999@fax.localhost"], &message);
    let id = queued_id(&reply);
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["origin"], "smtp");
    assert_eq!(job["sender"], "alice@example.com");
    assert_eq!(job["subject"], "Price list");
    assert_eq!(job["pages"], 3, "one page of text, two of PDF: {job:#}");
    let rcpt = &job["recipients"][0];
    assert_eq!(rcpt["number"], "+33169293999");
    assert_eq!(rcpt["address"], "0169293999@fax.localhost");
    assert_eq!(rcpt["display_name"], "Bob");
    assert_eq!(rcpt["status"], "done");
    assert_eq!(rcpt["status_code"], "2.0.0");
    assert_eq!(rcpt["attempts"], 1);
    assert_eq!(rcpt["pages_sent"], 3);
    assert!(job["received_at"].as_str().unwrap().ends_with('Z'));
    let outbox = hub.outbox();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert!(
        outbox[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&format!("{id}-33169293999-1"))
    );
    assert_eq!(assert_tiff_f(&outbox[0]), 3);
    // the same pages as a PDF (for receipts) and a thumbnail of page 1
    let pdf = std::fs::read(hub.data_dir().join(format!("spool/pages/{id}.pdf"))).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    assert_eq!(
        String::from_utf8_lossy(&pdf)
            .matches("/CCITTFaxDecode")
            .count(),
        3
    );
    let png = std::fs::read(hub.data_dir().join(format!("spool/pages/{id}.png"))).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    // a finished job leaves the queue listing but stays in --all
    assert!(hub.queue(false).iter().all(|j| j["id"] != id.as_str()));
    assert!(hub.queue(true).iter().any(|j| j["id"] == id.as_str()));
}

#[test]
fn recipient_forms_normalise_to_e164_and_bad_ones_are_refused() {
    let hub = Faxhub::start("imcea_domains = [\"example.com\"]\nmax_recipients = 6", "");
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<alice@example.com>").0, 250);
    for (rcpt, code, status) in [
        ("<0169293999@fax.localhost>", 250, "2.1.5"),
        ("<\"+33 1 69 29 39 98\"@fax.localhost>", 250, "2.1.5"),
        ("<01.69.29.39.97@FAX.localhost>", 250, "2.1.5"),
        ("<\"(01) 69-29-39-96\"@fax.localhost>", 250, "2.1.5"),
        ("<FAX=+33169293995/T33S=42@fax.localhost>", 250, "2.1.5"),
        ("<IMCEAFAX-+2B33169293994@example.com>", 250, "2.1.5"),
        ("<0169293999@fax.localhost>", 250, "2.1.5"), // the same number again: one recipient
        ("<0169293999@example.com>", 550, "5.7.1"),   // a plain address at the Exchange domain
        ("<someone@elsewhere.example>", 550, "5.7.1"), // never relay
        ("<call-me@fax.localhost>", 553, "5.1.3"),
        ("<01692939999999999999@fax.localhost>", 553, "5.1.3"),
        ("<0899123456@fax.localhost>", 550, "5.7.1"), // premium rate
        ("<112@fax.localhost>", 550, "5.7.1"),        // emergency
        ("<0169293993@fax.localhost>", 452, "4.5.3"), // the seventh number
    ] {
        let (c, text) = s.cmd(&format!("RCPT TO:{rcpt}"));
        assert_eq!((c, &text[..5]), (code, status), "{rcpt}: {text}");
        if rcpt.contains("0899") {
            assert!(
                text.contains("\"+3389*\" (premium rate)"),
                "the rule is named: {text}"
            );
        }
    }
    assert_eq!(s.cmd("DATA").0, 354);
    s.send(b"Subject: forms\r\nTo: \"Fax Dept\" <0169293999@fax.localhost>\r\n\r\nhello\r\n.\r\n");
    let id = queued_id(&s.read_reply());
    let job = hub.show(&id);
    let numbers = numbers(&job);
    assert_eq!(
        numbers,
        [
            "+33169293999",
            "+33169293998",
            "+33169293997",
            "+33169293996",
            "+33169293995",
            "+33169293994"
        ]
    );
    assert_eq!(
        job["recipients"][1]["address"],
        "\"+33 1 69 29 39 98\"@fax.localhost"
    );
    assert_eq!(job["recipients"][0]["display_name"], "Fax Dept");
}

#[test]
fn clients_outside_trusted_networks_must_authenticate_over_tls() {
    let hub = Faxhub::start(
        "trusted_networks = [\"10.0.0.0/8\"]\n[smtp.auth.users]\nscanner = \"s3cret pass\"",
        "",
    );
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    let (code, text) = s.cmd("MAIL FROM:<alice@example.com>");
    assert_eq!((code, &text[..5]), (530, "5.7.0"), "{text}");
    let (code, text) = s.cmd("AUTH PLAIN AHNjYW5uZXIAczNjcmV0IHBhc3M=");
    assert_eq!(
        (code, &text[..6]),
        (538, "5.7.11"),
        "AUTH before STARTTLS: {text}"
    );
    // With STARTTLS and AUTH (swaks speaks TLS) the same client may send.
    let transcript = swaks_tls_auth(&hub, "PLAIN", "s3cret pass");
    assert!(transcript.contains("235 2.7.0"), "{transcript}");
    assert!(
        transcript.contains("250 2.0.0 Ok: queued as"),
        "{transcript}"
    );
    assert!(swaks_tls_auth(&hub, "LOGIN", "wrong").contains("535 5.7.8"));
}

/// Sends one message with swaks over STARTTLS, authenticating as `scanner`; returns the transcript.
fn swaks_tls_auth(hub: &Faxhub, mechanism: &str, password: &str) -> String {
    let server = format!("127.0.0.1:{}", hub.port);
    let out = std::process::Command::new("swaks")
        .args([
            "--server",
            &server,
            "--to",
            "0169293999@fax.localhost",
            "--from",
            "scan@example.com",
        ])
        .args([
            "--tls",
            "--auth",
            mechanism,
            "--auth-user",
            "scanner",
            "--auth-password",
            password,
        ])
        .output()
        .expect("swaks must be installed: run `make test`");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn smuggling_size_and_sequence_errors_are_refused() {
    let hub = Faxhub::start("max_message_size = \"4KB\"\nmax_errors = 50", "");
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd("RCPT TO:<0169293999@fax.localhost>").0, 503);
    assert_eq!(s.cmd("DATA").0, 503);
    let (code, text) = s.cmd("MAIL FROM:<a@example.com> SIZE=5000");
    assert_eq!((code, &text[..5]), (552, "5.3.4"));
    // <LF>.<CRLF> hides a second message: the whole thing is refused
    assert_eq!(s.cmd("MAIL FROM:<a@example.com>").0, 250);
    assert_eq!(s.cmd("RCPT TO:<0169293999@fax.localhost>").0, 250);
    assert_eq!(s.cmd("DATA").0, 354);
    s.send(b"Subject: one\r\n\r\nfirst\n.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<0169293998@fax.localhost>\r\nDATA\r\nsmuggled\r\n.\r\n");
    let (code, text) = s.read_reply();
    assert_eq!((code, &text[..5]), (550, "5.5.2"), "{text}");
    // too big while streaming
    assert_eq!(s.cmd("MAIL FROM:<a@example.com>").0, 250);
    assert_eq!(s.cmd("RCPT TO:<0169293999@fax.localhost>").0, 250);
    assert_eq!(s.cmd("DATA").0, 354);
    s.send(
        &b"0123456789012345678901234567890123456789012345678901234567890123456789\r\n".repeat(100),
    );
    s.send(b".\r\n");
    let (code, text) = s.read_reply();
    assert_eq!((code, &text[..5]), (552, "5.3.4"), "{text}");
    // dot-stuffing is undone, the session still works
    assert_eq!(s.cmd("MAIL FROM:<a@example.com>").0, 250);
    assert_eq!(s.cmd("RCPT TO:<0169293999@fax.localhost>").0, 250);
    assert_eq!(s.cmd("DATA").0, 354);
    s.send(b"Subject: dots\r\n\r\n..leading dot\r\n.\r\n");
    let id = queued_id(&s.read_reply());
    assert_eq!(hub.queue(true).len(), 1, "only the good message is queued");
    let raw = std::fs::read_to_string(hub.data_dir().join(format!("spool/msg/{id}.eml"))).unwrap();
    assert!(raw.contains("\r\n.leading dot\r\n"), "{raw}");
    assert!(raw.starts_with("Received: from client.test"), "{raw}");
}

#[test]
fn pipelined_commands_get_all_their_replies_and_errors_are_capped() {
    let hub = Faxhub::start("max_errors = 3", "");
    let mut s = hub.smtp();
    s.send(b"EHLO client.test\r\nMAIL FROM:<a@example.com> RET=HDRS ENVID=QQ314159\r\nRCPT TO:<0169293999@fax.localhost> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;0169293999+40fax.localhost\r\nDATA\r\n");
    assert_eq!(s.read_reply().0, 250);
    assert_eq!(s.read_reply().0, 250);
    assert_eq!(s.read_reply().0, 250);
    assert_eq!(s.read_reply().0, 354);
    s.send(b"Subject: pipelined\r\n\r\nhi\r\n.\r\n");
    let id = queued_id(&s.read_reply());
    let job = hub.show(&id);
    assert_eq!(job["env_id"], "QQ314159");
    assert_eq!(job["ret"], "HDRS");
    assert_eq!(job["recipients"][0]["notify"], "SUCCESS,FAILURE");
    assert_eq!(
        job["recipients"][0]["orcpt"],
        "rfc822;0169293999@fax.localhost"
    );
    for _ in 0..2 {
        assert_eq!(s.cmd("BOGUS").0, 500);
    }
    let (code, _) = s.cmd("BOGUS");
    assert_eq!(code, 500);
    let (code, text) = s.read_reply();
    assert_eq!((code, &text[..5]), (421, "4.7.0"), "{text}");
    assert!(s.closed());
}

#[test]
fn an_attachment_that_cannot_be_faxed_fails_the_job_naming_it() {
    let hub = Faxhub::start("", "");
    for (name, ctype, content, code, words) in [
        (
            "song.mp3",
            "audio/mpeg",
            &b"ID3\x03\x00 not a document"[..],
            "5.6.3",
            "can't be faxed",
        ),
        (
            "report.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &b"PK\x03\x04 not really"[..],
            "5.6.5",
            "damaged",
        ),
    ] {
        let message = message_with_attachment("Report", "see attached", name, ctype, content);
        let id = queued_id(&hub.smtp().send_mail(
            "alice@example.com",
            &["0169293999@fax.localhost"],
            &message,
        ));
        let job = hub.wait_finished(&id, WAIT);
        assert_eq!(job["phase"], "convert_failed");
        let rcpt = &job["recipients"][0];
        assert_eq!(rcpt["status"], "failed");
        assert_eq!(rcpt["status_code"], code, "{rcpt}");
        let reason = rcpt["reason"].as_str().unwrap();
        assert!(
            reason.starts_with(&format!("{name}:")) && reason.contains(words),
            "{rcpt}"
        );
    }
    assert!(hub.outbox().is_empty());
}

#[test]
fn office_documents_go_through_the_libreoffice_farm() {
    let hub = Faxhub::start("", "[convert]\noffice_instances = 1\n");
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/office");
    let docx = std::fs::read(corpus.join("pandoc/tables.docx")).unwrap();
    let xlsx = std::fs::read(corpus.join("calamine/any_sheets.xlsx")).unwrap();
    for (name, ctype, content) in [
        (
            "tables.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            docx,
        ),
        ("sheets.xlsx", "application/octet-stream", xlsx),
    ] {
        let message = message_with_attachment("Office", "attached", name, ctype, &content);
        let id = queued_id(&hub.smtp().send_mail(
            "a@example.com",
            &["0169293999@fax.localhost"],
            &message,
        ));
        let job = hub.wait_finished(&id, Duration::from_secs(180));
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
        assert!(
            job["pages"].as_i64().unwrap() >= 2,
            "text page and the document: {job:#}"
        );
    }
    for file in hub.outbox() {
        assert_tiff_f(&file);
    }
}

#[test]
fn connections_are_capped_and_idle_clients_time_out() {
    let hub = Faxhub::start(
        "max_connections = 1\ncommand_timeout = \"1s\"\nfirst_command_timeout = \"1s\"",
        "",
    );
    // (the start-up probe's connection may still hold the one slot for a moment)
    let start = std::time::Instant::now();
    let mut first = loop {
        let s = hub.smtp();
        if s.greeting.0 == 220 || start.elapsed() > Duration::from_secs(5) {
            break s;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(first.greeting.0, 220);
    let second = Smtp::connect(hub.port);
    assert_eq!(second.greeting.0, 421, "{:?}", second.greeting);
    assert!(second.greeting.1.starts_with("4.3.2"));
    // the idle client is dropped after command_timeout (RFC 5321 §4.5.3.2), freeing the slot
    let (code, text) = first.read_reply();
    assert_eq!((code, &text[..5]), (421, "4.4.2"), "{text}");
    assert!(first.closed());
    std::thread::sleep(Duration::from_millis(100));
    let mut third = Smtp::connect(hub.port);
    assert_eq!(third.greeting.0, 220);
    assert_eq!(third.cmd("QUIT").0, 221);
}

#[test]
fn letter_paper_is_also_1728_pixels_wide() {
    let hub = Faxhub::start("", "[convert]\npaper = \"letter\"\n");
    let id = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0169293999@fax.localhost"],
        &text_message("letter", "US paper"),
    ));
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    let outbox = hub.outbox();
    assert_eq!(assert_tiff_f(&outbox[0]), 1);
    // Letter is 11 inches long: 11 × 196 = 2156 rows (A4 would be 2292)
    assert!(
        tiffinfo(&outbox[0]).contains("Image Length: 2156"),
        "{}",
        tiffinfo(&outbox[0])
    );
}

#[test]
fn x_fax_headers_choose_paper_and_resolution() {
    let hub = Faxhub::start("", "");
    let message = b"Subject: legal, normal\r\nX-Fax-Paper: legal\r\nX-Fax-Resolution: normal\r\n\r\nA legal page.\r\n";
    let id = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0169293999@fax.localhost"],
        message,
    ));
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    let info = tiffinfo(&hub.outbox()[0]);
    // Legal is 14 inches: 14 × 98 = 1372 rows
    assert!(
        info.contains("Image Width: 1728 Image Length: 1372"),
        "{info}"
    );
    assert!(info.contains("Resolution: 204, 98 pixels/inch"), "{info}");
    // an unknown value is ignored: the defaults apply
    let message = b"Subject: odd\r\nX-Fax-Resolution: ultra\r\n\r\nA default page.\r\n";
    let id = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0169293998@fax.localhost"],
        message,
    ));
    assert_eq!(
        hub.wait_finished(&id, WAIT)["recipients"][0]["status"],
        "done"
    );
    let newest = hub
        .outbox()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&id))
        .unwrap();
    assert!(tiffinfo(&newest).contains("Resolution: 204, 196 pixels/inch"));
}

#[test]
fn images_and_fax_tiffs_attached_become_pages_with_page_numbers() {
    let hub = Faxhub::start("", "");
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let photo = std::fs::read(corpus.join("image/twelvemonkeys/Portrait_5.jpg")).unwrap();
    let message =
        message_with_attachment("Photo", "a photo", "Portrait_5.jpg", "image/jpeg", &photo);
    let id = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0169293999@fax.localhost"],
        &message,
    ));
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    assert_eq!(job["pages"], 2);
    // a G3 fax TIFF (which the Rust decoder cannot read: libtiff takes over)
    let g3 = std::fs::read(corpus.join("tiff/image-tiff/fax2d.tif")).unwrap();
    let message = message_with_attachment("Old fax", "forwarded", "fax2d.tif", "image/tiff", &g3);
    let id = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0169293998@fax.localhost"],
        &message,
    ));
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    for file in hub.outbox() {
        let info = tiffinfo(&file);
        let pages = assert_tiff_f(&file);
        for n in 0..pages {
            assert!(
                info.contains(&format!("Page Number: {n}-{pages}")),
                "{info}"
            );
        }
    }
}

/// A node asked to stop while a client is in the middle of sending a message lets the message
/// finish: the client gets its 250 (then 421), the fax is queued, and only then does the
/// process exit. (Ending under the session, after the commit and before the 250, made the
/// client hand the message to another node as well: a fax sent twice in a rolling restart.)
#[test]
fn a_message_being_received_at_shutdown_is_finished_and_answered() {
    let mut hub = Faxhub::start("", "");
    let mut s = hub.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd("MAIL FROM:<alice@example.com>").0, 250);
    assert_eq!(s.cmd("RCPT TO:<0169293999@fax.localhost>").0, 250);
    assert_eq!(s.cmd("DATA").0, 354);
    let message = text_message("sent across a shutdown", "one page");
    let (first, rest) = message.split_at(message.len() / 2);
    s.send(first);
    unsafe { libc::kill(hub.pid() as i32, libc::SIGTERM) };
    // the node has drained everything else and waits for this session
    let start = std::time::Instant::now();
    while !hub.log().contains("waiting for the smtp sessions to end") {
        assert!(
            start.elapsed() < WAIT,
            "the node does not wait for the session:\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s.send(rest);
    s.send(b"\r\n.\r\n");
    let reply = s.read_reply();
    assert_eq!(reply.0, 250, "{reply:?}");
    let id = queued_id(&reply);
    assert_eq!(s.read_reply().0, 421);
    assert_eq!(hub.wait_exit(WAIT), Some(0));
    hub.launch();
    assert_eq!(hub.show(&id)["id"], id.as_str());
}

/// A mail to the shared address of `subject_addresses` takes its numbers from its Subject
/// (`Fax: …`), checked like addresses; the rest of the Subject is the fax's. A Subject with no
/// number, or with a number the dial plan refuses, is refused at the end of DATA naming it, and
/// nothing is queued. The control: without `subject_addresses`, the address is not a number.
#[test]
fn a_mail_to_the_shared_address_takes_its_numbers_from_the_subject() {
    let subject_mail = |subject: &str| {
        format!(
            "From: alice@example.com\r\nTo: fax@fax.localhost\r\nSubject: {subject}\r\n\r\nHello\r\n"
        )
        .into_bytes()
    };
    let from = "alice@example.com";
    let plain = Faxhub::start("", "");
    let mut s = plain.smtp();
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd(&format!("MAIL FROM:<{from}>")).0, 250);
    let refused = s.cmd("RCPT TO:<fax@fax.localhost>");
    assert_eq!(refused.0, 553, "the control: {refused:?}");
    drop(plain);

    let hub = Faxhub::start(
        "subject_addresses = [\"fax@fax.localhost\"]\n",
        "[dialplan]\ndeny = [\"+3389*\"]\n",
    );
    let mut s = hub.smtp();
    let reply = s.send_mail(
        from,
        &["Fax@FAX.localhost"],
        &subject_mail("Order 42 [Fax: 01 69 29 39 99, +33 1 69 29 39 98; 01.69.29.39.99]"),
    );
    assert_eq!(reply.0, 250, "{reply:?}");
    let job = hub.show(&queued_id(&reply));
    assert_eq!(numbers(&job), ["+33169293999", "+33169293998"], "{job:#}");
    assert_eq!(job["subject"], "Order 42");
    for (subject, code, says) in [
        ("Order 43", "5.1.3", "names no fax number"),
        (
            "Fax: 0169293999, 0899123456",
            "5.7.1",
            "0899123456 in the Subject",
        ),
    ] {
        let mut s = hub.smtp();
        let reply = s.send_mail(from, &["fax@fax.localhost"], &subject_mail(subject));
        assert_eq!(reply.0, 550, "{subject}: {reply:?}");
        assert!(
            reply.1.starts_with(code) && reply.1.contains(says),
            "{subject}: {reply:?}"
        );
    }
    assert_eq!(hub.queue(true).len(), 1, "a refused mail was queued");
}
