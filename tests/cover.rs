//! Cover pages end to end through the real daemon: one cover per recipient naming them, in
//! front of the same document pages (rendered once), with PageNumber counting the cover; a
//! message can turn them off with `X-Fax-Cover: no`. The covers are read back with Tesseract.

mod common;
use common::*;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn each_recipient_gets_a_cover_naming_them_before_the_same_pages() {
    let hub = Faxhub::start(
        "",
        "[convert.cover]\nenabled = true\ncompany = \"Durand Freres SA\"\n",
    );
    let scratch = tempfile::tempdir().unwrap();
    let pdf = make_pdf(scratch.path(), 2);
    let message = message_with_attachment(
        "Quote 2026-117",
        "Please find the quote.",
        "quote.pdf",
        "application/pdf",
        &pdf,
    );
    let to = "To: Jean Dupont <0169293998@fax.localhost>, Marie Curie <0169293997@fax.localhost>";
    let message = String::from_utf8(message)
        .unwrap()
        .replace("To: Bob <0169293999@fax.localhost>", to)
        .into_bytes();
    let id = queued_id(&hub.smtp().send_mail(
        "alice@example.com",
        &["0169293998@fax.localhost", "0169293997@fax.localhost"],
        &message,
    ));
    let job = hub.wait_finished(&id, WAIT);
    for r in job["recipients"].as_array().unwrap() {
        assert_eq!(r["status"], "done", "{job:#}");
        assert_eq!(r["pages"], 4, "cover, text, two PDF pages: {job:#}");
    }
    assert_eq!(job["pages"], 3, "the job's own pages, without a cover");
    let outbox = hub.outbox();
    assert_eq!(outbox.len(), 2);
    let file = |digits: &str| {
        outbox
            .iter()
            .find(|p| p.to_string_lossy().contains(digits))
            .unwrap()
            .clone()
    };
    let (jean, marie) = (file("169293998"), file("169293997"));
    for f in [&jean, &marie] {
        assert_eq!(assert_tiff_f(f), 4);
        let info = tiffinfo(f);
        for n in 0..4 {
            assert!(info.contains(&format!("Page Number: {n}-4")), "{info}");
        }
    }
    let (a, b) = (strips(&jean), strips(&marie));
    assert_ne!(a[0], b[0], "each cover is made for its recipient");
    assert_eq!(a[1..], b[1..], "the document pages are the same pages");
    for (f, name, number) in [
        (&jean, "Dupont", "+33169293998"),
        (&marie, "Curie", "+33169293997"),
    ] {
        let page = scratch.path().join(format!("{name}.tif"));
        tiff_page(f, 0, &page);
        let text = ocr(&page);
        for want in [
            name,
            number,
            "Durand",
            "alice@example.com",
            "Quote 2026-117",
        ] {
            assert!(
                text.contains(want),
                "{want} not on the cover of {name}:\n{text}"
            );
        }
        assert!(text.contains("4, this page included"), "{text}");
    }

    // X-Fax-Cover: no
    let mut message = text_message("no cover", "Just this page.");
    message.splice(0..0, b"X-Fax-Cover: no\r\n".iter().copied());
    let id = queued_id(&hub.smtp().send_mail(
        "alice@example.com",
        &["0169293996@fax.localhost"],
        &message,
    ));
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    let file = hub
        .outbox()
        .into_iter()
        .find(|p| p.to_string_lossy().contains(&id))
        .unwrap();
    assert_eq!(assert_tiff_f(&file), 1);
}

/// `[[senders]]`: the sales domain's faxes carry its own cover template, company and dial-back
/// number (read back by Tesseract); another sender's cover is the site's (the control: the
/// same daemon, the same document).
#[test]
fn a_senders_own_cover_template_company_and_dial_back_number() {
    let scratch = tempfile::tempdir().unwrap();
    let template = scratch.path().join("export.html");
    std::fs::write(
        &template,
        "<html><body style=\"font-size:16pt\"><h1>EXPORT DESK</h1>\
         <p>From {{from_company}}</p><p>Fax back {{from_fax}}</p>\
         <p>To {{to_number}}</p><p>{{pages}} pages</p></body></html>",
    )
    .unwrap();
    let hub = Faxhub::start(
        "",
        &format!(
            "[convert.cover]\nenabled = true\ncompany = \"Durand Freres SA\"\n\
             fax_number = \"+33 1 45 00 00 00\"\n\
             [[senders]]\nsenders = [\"sales@example.com\"]\ncompany = \"Durand Export\"\n\
             dial_back = \"+33 1 69 29 39 11\"\ncover_template = \"{}\"\n",
            template.display()
        ),
    );
    let mut covers = Vec::new();
    for sender in ["sales@example.com", "alice@example.com"] {
        let id = queued_id(&hub.smtp().send_mail(
            sender,
            &["0169293998@fax.localhost"],
            &text_message("Order", "Please confirm."),
        ));
        let job = hub.wait_finished(&id, WAIT);
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
        let file = hub
            .outbox()
            .into_iter()
            .find(|p| p.to_string_lossy().contains(&id))
            .unwrap();
        let page = scratch.path().join(format!("{id}.tif"));
        tiff_page(&file, 0, &page);
        covers.push(ocr(&page));
    }
    let (sales, site) = (&covers[0], &covers[1]);
    for want in [
        "EXPORT DESK",
        "Durand Export",
        "+33 1 69 29 39 11",
        "+33169293998",
    ] {
        assert!(
            sales.contains(want),
            "{want} not on the sales cover:\n{sales}"
        );
    }
    for want in ["Durand Freres", "+33 1 45 00 00 00"] {
        assert!(
            site.contains(want),
            "{want} not on the site's cover:\n{site}"
        );
    }
    assert!(!site.contains("EXPORT"), "{site}");
}
