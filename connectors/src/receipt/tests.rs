//! Reports built from fixed facts, read back by Python's email package (an independent parser),
//! and their human text against golden files (`UPDATE_GOLDEN=1` rewrites them).

use super::*;
use chrono::TimeZone;
use serde_json::Value;
use std::path::PathBuf;

fn at(h: u32, m: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(3600)
        .unwrap()
        .with_ymd_and_hms(2026, 11, 27, h, m, 0)
        .unwrap()
}

const ORIGINAL: &[u8] = b"Message-ID: <abc.123@mail.example.com>\r\nFrom: Alice <alice@example.com>\r\nTo: 0169293999@fax.example.com\r\nSubject: Quarterly report\r\nDate: Fri, 27 Nov 2026 16:40:00 +0100\r\n\r\nPlease find attached.\r\n";

fn outcome(action: Action) -> Outcome {
    let (status, reason, sent) = match action {
        Action::Delivered => (EnhancedStatus::OK, "sent", 3),
        Action::Failed | Action::Delayed => (EnhancedStatus::BUSY, "busy (SIP 486 Busy Here)", 0),
    };
    Outcome {
        name: Some("Jane Doe".into()),
        number: "+33169293999".into(),
        address: "0169293999@fax.example.com".into(),
        orcpt: Some("rfc822;0169293999@fax.example.com".into()),
        action,
        status,
        reason: reason.into(),
        pages_sent: sent,
        pages: 3,
        attempts: if action == Action::Delivered { 1 } else { 4 },
        last_attempt: Some(at(17, 2)),
        duration: Some(Duration::from_secs(72)),
        remote_ident: (action == Action::Delivered).then(|| "+33 1 69 29 39 99".into()),
        bit_rate: (action == Action::Delivered).then_some(14400),
        ecm: (action == Action::Delivered).then_some(true),
        next_attempt: Some(at(17, 32)),
        retry_until: Some(at(23, 40)),
        calls: Vec::new(),
    }
}

fn receipt(language: Language, action: Action) -> Receipt {
    Receipt {
        language,
        reporting_mta: "faxgw1.example.com".into(),
        from: ("Fax".into(), "MAILER-DAEMON@faxgw1.example.com".into()),
        to: "alice@example.com".into(),
        job_id: "0MXYZ-1".into(),
        subject: Some("Quarterly report".into()),
        billing: Some("PRJ-42".into()),
        env_id: Some("ENV-42".into()),
        arrived: at(16, 40),
        now: at(17, 3),
        outcomes: vec![outcome(action)],
        original: ORIGINAL.to_vec(),
        return_full: false,
        thumbnail: Some(b"\x89PNG\r\n\x1a\nthumbnail".to_vec()),
        attachment: Some(Attachment {
            filename: "fax-0MXYZ-1.pdf".into(),
            content_type: "application/pdf".into(),
            data: b"%PDF-1.4 pages".to_vec(),
        }),
    }
}

/// The report as Python's email package reads it.
pub(crate) fn read_back(message: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.eml");
    std::fs::write(&file, message).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/read_report.py");
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&file)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_success_report_read_back_by_an_independent_parser() {
    let message = receipt(Language::En, Action::Delivered).build();
    let r = read_back(&message);
    assert_eq!(r["defects"], serde_json::json!([]), "{r:#}");
    let h = &r["headers"];
    assert_eq!(
        h["Subject"],
        "Fax delivered: Quarterly report (to +33169293999)"
    );
    assert_eq!(h["To"], "alice@example.com");
    assert_eq!(h["From"], "Fax <MAILER-DAEMON@faxgw1.example.com>");
    assert_eq!(h["Auto-Submitted"], "auto-replied");
    assert_eq!(h["In-Reply-To"], "<abc.123@mail.example.com>");
    assert_eq!(h["Date"], "Fri, 27 Nov 2026 17:03:00 +0100");
    assert_eq!(r["content_type"], "multipart/report");
    assert_eq!(r["params"]["report-type"], "delivery-status");
    // three parts: human (text, HTML with the thumbnail, the PDF), status, returned headers
    let parts = r["tree"]["parts"].as_array().unwrap();
    let types: Vec<&str> = parts.iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "multipart/mixed",
            "message/delivery-status",
            "text/rfc822-headers"
        ]
    );
    assert_eq!(r["images"][0]["cid"], "<page1@faxhub>");
    assert_eq!(r["images"][0]["magic"], "89504e470d0a1a0a");
    assert!(r["html"].as_str().unwrap().contains("cid:page1@faxhub"));
    assert_eq!(r["attachments"][0]["filename"], "fax-0MXYZ-1.pdf");
    assert_eq!(r["attachments"][0]["type"], "application/pdf");
    assert_eq!(r["attachments"][0]["magic"], "255044462d312e34");
    // the machine part
    let status = r["status"].as_array().unwrap();
    assert_eq!(status.len(), 2, "{status:#?}");
    assert_eq!(status[0]["Reporting-MTA"], "dns; faxgw1.example.com");
    assert_eq!(status[0]["Original-Envelope-Id"], "ENV-42");
    assert_eq!(status[0]["Arrival-Date"], "Fri, 27 Nov 2026 16:40:00 +0100");
    let rcpt = &status[1];
    assert_eq!(
        rcpt["Original-Recipient"],
        "rfc822;0169293999@fax.example.com"
    );
    assert_eq!(
        rcpt["Final-Recipient"],
        "rfc822; 0169293999@fax.example.com"
    );
    assert_eq!(rcpt["Action"], "delivered");
    assert_eq!(rcpt["Status"], "2.0.0");
    assert_eq!(rcpt["Diagnostic-Code"], "X-Fax; delivered; sent; 3/3 pages");
    assert_eq!(rcpt["Last-Attempt-Date"], "Fri, 27 Nov 2026 17:02:00 +0100");
    assert!(rcpt.get("Will-Retry-Until").is_none());
    assert_eq!(rcpt["X-Fax-Pages-Sent"], "3");
    assert_eq!(rcpt["X-Fax-CSID"], "+33 1 69 29 39 99");
    assert_eq!(rcpt["X-Fax-Duration"], "72");
    assert_eq!(rcpt["X-Fax-Speed"], "14400");
    assert_eq!(rcpt["X-Fax-ECM"], "yes");
    // the original's headers come back
    assert_eq!(r["returned"]["type"], "text/rfc822-headers");
    assert_eq!(r["returned"]["headers"]["Subject"], "Quarterly report");
    assert_eq!(
        r["returned"]["headers"]["Message-ID"],
        "<abc.123@mail.example.com>"
    );
}

#[test]
fn a_delay_report_says_until_when_and_ret_full_returns_the_whole_message() {
    let mut receipt = receipt(Language::En, Action::Delayed);
    receipt.return_full = true;
    receipt.thumbnail = None;
    receipt.attachment = None;
    let r = read_back(&receipt.build());
    assert_eq!(r["defects"], serde_json::json!([]), "{r:#}");
    assert_eq!(
        r["headers"]["Subject"],
        "Fax delayed: Quarterly report (to +33169293999)"
    );
    let rcpt = &r["status"][1];
    assert_eq!(rcpt["Action"], "delayed");
    assert_eq!(rcpt["Status"], "4.4.1");
    assert_eq!(rcpt["Will-Retry-Until"], "Fri, 27 Nov 2026 23:40:00 +0100");
    assert!(
        rcpt["X-Supplementary-Info"]
            .as_str()
            .unwrap()
            .contains("busy"),
        "{rcpt:#}"
    );
    assert_eq!(r["returned"]["type"], "message/rfc822");
    assert_eq!(
        r["returned"]["headers"]["From"],
        "Alice <alice@example.com>"
    );
    assert!(r["images"].as_array().unwrap().is_empty());
    assert!(r["attachments"].as_array().unwrap().is_empty());
}

#[test]
fn the_human_text_matches_the_golden_files() {
    let golden = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for language in [Language::En, Language::Fr, Language::De] {
        for action in [Action::Delivered, Action::Failed, Action::Delayed] {
            let receipt = receipt(language, action);
            let got = format!(
                "Subject: {}\r\n\r\n{}",
                receipt.subject(),
                human::text(&receipt)
            );
            let file = golden.join(format!(
                "receipt-{}-{}.txt",
                language.tag(),
                action.as_str()
            ));
            if update {
                std::fs::create_dir_all(&golden).unwrap();
                std::fs::write(&file, &got).unwrap();
            }
            let want = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(got, want, "{}", file.display());
        }
    }
}

#[test]
fn subjects_and_helpers() {
    let mut r = receipt(Language::Fr, Action::Failed);
    r.subject = None;
    r.outcomes = (0..5)
        .map(|i| Outcome {
            number: format!("+3316929399{i}"),
            ..outcome(Action::Failed)
        })
        .collect();
    assert_eq!(
        r.subject(),
        "Échec du fax : (sans objet) (au +33169293990, +33169293991, +33169293992, +2)"
    );
    assert_eq!(
        original_message_id(b"Subject: x\r\nMessage-Id:\r\n <a@b>\r\n\r\nbody"),
        Some("<a@b>".into())
    );
    assert_eq!(
        original_message_id(b"Subject: x\r\n\r\nMessage-ID: <a@b>"),
        None
    );
    assert_eq!(header_section(b"A: 1\nB: 2\n\nbody"), b"A: 1\nB: 2\n");
    assert_eq!(human::text(&r).matches("Destinataire").count(), 5);
}

#[test]
fn a_resumed_fax_says_which_pages_each_call_carried() {
    let mut r = receipt(Language::En, Action::Delivered);
    r.outcomes[0].calls = vec![(1, 2, at(16, 58)), (3, 3, at(17, 0)), (4, 5, at(17, 2))];
    let text = human::text(&r);
    let row = text
        .lines()
        .find(|l| l.contains("Pages per call"))
        .unwrap_or("");
    assert!(
        row.contains("pages 1 to 2 (")
            && row.contains("), page 3 (")
            && row.contains("), pages 4 to 5 ("),
        "{row:?}\n{text}"
    );
    let mut r = receipt(Language::De, Action::Delivered);
    r.outcomes[0].calls = vec![(1, 2, at(16, 58)), (3, 5, at(17, 2))];
    assert!(human::text(&r).contains("Seiten 3 bis 5"));
    // one call carried them all: no such row
    assert!(!human::text(&receipt(Language::En, Action::Delivered)).contains("Pages per call"));
}
