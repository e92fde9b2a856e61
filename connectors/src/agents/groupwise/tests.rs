//! The GroupWise gateway against a real intake: keyword files in API_OUT become jobs with their
//! attachments; what faxhub writes into API_IN reads back.

use super::keyword::{KeywordFile, field};
use super::*;
use crate::relay::Envelope;

const FILE: &str = "WPC-API= 1.2;\r\nHeader-Char= T50;\r\nMsg-Type= Mail;\r\n\
Msg-Id= 3C5A1B2E.CORP.PO1.100.1;\r\n\
From=\r\n    WPD= CORP;\r\n    WPPO= PO1;\r\n    WPU= jdoe;\r\n    CDBA= CORP.PO1.jdoe;\r\n;\r\n\
From-Text= John Doe <jdoe@corp.example.com>;\r\n\
To-Text= 0169293999@FAX, FAX:0169293998;\r\n\
To-CC-Text= 0899123456@fax.example.com;\r\n\
Subject= Devis;\r\nMsg-File= 0001.txt;\r\n\
Attach-File=\r\n    Current-File= 0002.bin;\r\n    Original-File= devis.pdf;\r\n    Size= 9;\r\n;\r\n-END-\r\n";

fn gateway(dir: &Path, intake: Intake) -> ApiOut {
    let mut addressing = super::super::tests::addressing();
    addressing.fax_domains.push("FAX".into());
    ApiOut {
        config: GroupWiseConfig {
            dir: dir.join("API"),
            settle: Duration::ZERO,
            ..GroupWiseConfig::default()
        },
        quarantine: Quarantine::new(dir.join("q")),
        intake,
        policy: None,
        addressing,
        host: "faxhub.test".into(),
    }
}

#[tokio::test]
async fn a_keyword_file_and_its_attachments_become_one_job() {
    let dir = tempfile::tempdir().unwrap();
    let (intake, store) = super::super::tests::intake(dir.path()).await;
    let gw = gateway(dir.path(), intake);
    let api = dir.path().join("API");
    for sub in [API_OUT, ATT_OUT] {
        std::fs::create_dir_all(api.join(sub)).unwrap();
    }
    std::fs::write(
        api.join(ATT_OUT).join("0001.txt"),
        "Bonjour,\r\nci-joint le devis.",
    )
    .unwrap();
    std::fs::write(api.join(ATT_OUT).join("0002.bin"), "%PDF-1.4 x").unwrap();
    std::fs::write(api.join(API_OUT).join("msg1.api"), FILE).unwrap();
    // a file whose attachment is missing, and one that is not a keyword file
    std::fs::write(
        api.join(API_OUT).join("msg2.api"),
        FILE.replace("0002.bin", "0009.bin"),
    )
    .unwrap();
    std::fs::write(api.join(API_OUT).join("junk.api"), "hello").unwrap();
    gw.pass().await.unwrap();

    let jobs = store.jobs(true).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job.origin, "groupwise");
    assert_eq!(job.sender, "CORP.PO1.jdoe");
    assert_eq!(job.env_id.as_deref(), Some("3C5A1B2E.CORP.PO1.100.1"));
    let numbers: Vec<&str> = job.recipients.iter().map(|r| r.number.as_str()).collect();
    assert_eq!(numbers, ["+33169293999", "+33169293998", "+33899123456"]);
    assert_eq!(job.recipients[2].status.as_str(), "failed");
    // the message composed from it carries the body and the attachment
    let source = store
        .report_source(&faxhub_queue::JobId::from_stored(job.id.clone()))
        .await
        .unwrap()
        .unwrap();
    let spool = faxhub_queue::spool::Spool::open(&dir.path().join("spool")).unwrap();
    let message = std::fs::read(spool.path(&source.message_path)).unwrap();
    let parsed = mail_parser::MessageParser::default()
        .parse(&message)
        .unwrap();
    assert!(parsed.body_text(0).unwrap().contains("ci-joint le devis"));
    let att = parsed.attachments().next().unwrap();
    assert_eq!(att.contents(), b"%PDF-1.4 x");
    // taken files are gone; the bad ones are quarantined with what they named
    assert_eq!(std::fs::read_dir(api.join(API_OUT)).unwrap().count(), 0);
    let reasons = super::super::tests::quarantined(&dir.path().join("q"));
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert_eq!(reasons[0].0, "junk.api");
    assert!(
        reasons[0].1.contains("not a GroupWise API file"),
        "{reasons:?}"
    );
    // msg2 names 0001.txt (which msg1 took with it) and 0009.bin (never there)
    assert_eq!(reasons[1].0, "msg2.api");
    assert!(reasons[1].1.contains("in ATT_OUT"), "{reasons:?}");
}

#[tokio::test]
async fn a_report_goes_into_api_in_as_a_mail_and_a_status_tied_to_the_msg_id() {
    let dir = tempfile::tempdir().unwrap();
    let api_in = ApiIn::new(dir.path().to_path_buf());
    let report = "From: Fax <MAILER-DAEMON@faxhub.test>\r\nTo: CORP.PO1.jdoe\r\nSubject: Fax delivered: Devis\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n\
--B\r\nContent-Type: text/plain\r\n\r\nYour fax to +33169293999 was delivered.\r\n\
--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; faxhub.test\r\n\
Original-Envelope-Id: 3C5A1B2E.CORP.PO1.100.1\r\n\r\nFinal-Recipient: rfc822; 0169293999@FAX\r\n\
Action: delivered\r\nStatus: 2.0.0\r\n\r\n\
--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"fax.pdf\"\r\n\r\n%PDF-1.4 pages\r\n\
--B--\r\n";
    api_in
        .deliver(&Envelope {
            mail_from: String::new(),
            rcpt_to: "CORP.PO1.jdoe".into(),
            message: report.as_bytes().to_vec(),
        })
        .await
        .unwrap();
    let mut apis: Vec<PathBuf> = std::fs::read_dir(dir.path().join(API_IN))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    apis.sort();
    assert_eq!(apis.len(), 2, "{apis:?}");
    let mail = KeywordFile::parse(&std::fs::read_to_string(&apis[0]).unwrap()).unwrap();
    let status = KeywordFile::parse(&std::fs::read_to_string(&apis[1]).unwrap()).unwrap();
    assert_eq!(mail.text("Msg-Type"), Some("Mail"));
    assert_eq!(
        field(mail.blocks("To").next().unwrap(), "WPU"),
        Some("jdoe")
    );
    assert_eq!(mail.text("Subject"), Some("Fax delivered: Devis"));
    let body =
        std::fs::read_to_string(dir.path().join(ATT_IN).join(mail.text("Msg-File").unwrap()))
            .unwrap();
    assert!(body.contains("was delivered"), "{body}");
    let att = mail.blocks("Attach-File").next().unwrap();
    assert_eq!(field(att, "Original-File"), Some("fax.pdf"));
    let pdf = std::fs::read(
        dir.path()
            .join(ATT_IN)
            .join(field(att, "Current-File").unwrap()),
    )
    .unwrap();
    assert!(pdf.starts_with(b"%PDF-1.4 pages"));
    assert_eq!(status.text("Msg-Type"), Some("Status"));
    assert_eq!(status.text("Orig-Msg-ID"), Some("3C5A1B2E.CORP.PO1.100.1"));
    let report = status.blocks("Status-Report").next().unwrap();
    assert_eq!(field(report, "Action"), Some("Delivered"));
    // nothing left half-written
    assert_eq!(
        std::fs::read_dir(dir.path().join(".faxhub-staging"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn a_received_fax_goes_into_api_in_as_a_mail_with_its_pdf_and_no_status() {
    let dir = tempfile::tempdir().unwrap();
    let api_in = ApiIn::new(dir.path().to_path_buf());
    let fax = crate::compose::Draft {
        from: "Fax <fax@faxhub.test>".into(),
        to: vec!["CORP.PO1.sales".into()],
        subject: "Fax from +33 1 69 29 39 99 (2 pages)".into(),
        host: "faxhub.test".into(),
        text: Some("A fax came in for +33142000155.".into()),
        files: vec![("fax.pdf".into(), b"%PDF-1.4 received".to_vec())],
        ..crate::compose::Draft::default()
    }
    .build();
    api_in
        .deliver(&Envelope {
            mail_from: String::new(),
            rcpt_to: "CORP.PO1.sales".into(),
            message: fax,
        })
        .await
        .unwrap();
    let apis: Vec<PathBuf> = std::fs::read_dir(dir.path().join(API_IN))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(apis.len(), 1, "a mail, no status: {apis:?}");
    let mail = KeywordFile::parse(&std::fs::read_to_string(&apis[0]).unwrap()).unwrap();
    assert_eq!(mail.text("From-Text"), Some("Fax <fax@faxhub.test>"));
    assert_eq!(
        field(mail.blocks("To").next().unwrap(), "CDBA"),
        Some("CORP.PO1.sales")
    );
    let att = mail.blocks("Attach-File").next().unwrap();
    let pdf = std::fs::read(
        dir.path()
            .join(ATT_IN)
            .join(field(att, "Current-File").unwrap()),
    )
    .unwrap();
    assert_eq!(pdf, b"%PDF-1.4 received");
}

#[test]
fn every_report_action_has_its_groupwise_status() {
    let status = |action: &str| {
        super::api_in::delivery_status(&format!(
            "Reporting-MTA: dns; h\r\nOriginal-Envelope-Id: M1\r\n\r\nFinal-Recipient: rfc822; 1@FAX\r\nAction: {action}\r\n"
        ))
    };
    assert_eq!(status("delivered"), Some(("M1".into(), "Delivered".into())));
    assert_eq!(
        status("failed"),
        Some(("M1".into(), "Undeliverable".into()))
    );
    assert_eq!(status("delayed"), Some(("M1".into(), "Delayed".into())));
    // no envelope id (a mail not from GroupWise): no status to tie
    assert_eq!(
        super::api_in::delivery_status("Final-Recipient: rfc822; 1@FAX\r\nAction: failed\r\n"),
        None
    );
}

#[tokio::test]
async fn a_symlink_in_att_out_or_api_out_is_never_followed_and_goes_to_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let (intake, store) = super::super::tests::intake(dir.path()).await;
    let gw = gateway(dir.path(), intake);
    let api = dir.path().join("API");
    for sub in [API_OUT, ATT_OUT] {
        std::fs::create_dir_all(api.join(sub)).unwrap();
    }
    let secret = dir.path().join("secret.pdf");
    std::fs::write(&secret, "%PDF-1.4 SERVER-SECRET").unwrap();
    let att = api.join(ATT_OUT);
    std::fs::write(att.join("0001.txt"), "Bonjour").unwrap();
    // the control: the same bytes as a regular file are faxed
    std::fs::copy(&secret, att.join("0002.bin")).unwrap();
    std::fs::write(api.join(API_OUT).join("control.api"), FILE).unwrap();
    gw.pass().await.unwrap();
    assert_eq!(store.jobs(true).await.unwrap().len(), 1, "control queued");

    // the attack: the attachment, then the keyword file itself, as links
    std::fs::write(att.join("0001.txt"), "Bonjour").unwrap();
    std::os::unix::fs::symlink(&secret, att.join("0002.bin")).unwrap();
    std::fs::write(api.join(API_OUT).join("link-att.api"), FILE).unwrap();
    gw.pass().await.unwrap();
    std::os::unix::fs::symlink(
        api.join("elsewhere.api"),
        api.join(API_OUT).join("link.api"),
    )
    .unwrap();
    std::fs::write(api.join("elsewhere.api"), FILE).unwrap();
    gw.pass().await.unwrap();

    assert_eq!(
        store.jobs(true).await.unwrap().len(),
        1,
        "nothing more queued"
    );
    assert_eq!(
        std::fs::read_to_string(&secret).unwrap(),
        "%PDF-1.4 SERVER-SECRET",
        "the target is untouched"
    );
    let reasons = super::super::tests::quarantined(&dir.path().join("q"));
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|(files, why)| files.contains("link-att.api")
                && why.contains("0002.bin")
                && why.contains("symbolic link")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|(files, why)| files == "link.api" && why.contains("symbolic link")),
        "{reasons:?}"
    );
}
