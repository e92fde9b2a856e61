//! The transport agents beside SMTP, end to end with the real binary: items dropped where each
//! agent looks (a hot folder, Exchange's Drop directory, GroupWise's API_OUT, a Dovecot mailbox)
//! become the right jobs, reach the `file` line, and their receipts come back where the agent
//! puts them; kill -9 at any moment loses nothing and queues nothing twice; bad items land in
//! quarantine with a reason.

mod common;

use common::mail;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);

/// Quick retries and polls, one LibreOffice instance: these tests run side by side.
const QUICK: &str = "[retry]\nschedule = [\"1s\"]\nmax_dials = 6\nmax_tries = 1\ngive_up_after = \"1h\"\n\
     [scheduler]\npoll_interval = \"200ms\"\n[convert]\noffice_instances = 1\n";

/// Writes `bytes` as `dir/name` the way a device should: under a temporary name, then renamed.
fn drop_file(dir: &Path, name: &str, bytes: &[u8]) {
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// The jobs an agent made (from `queue --all`).
fn jobs_from(hub: &Faxhub, origin: &str) -> Vec<Value> {
    hub.queue(true)
        .into_iter()
        .filter(|j| j["origin"] == origin)
        .collect()
}

/// Waits until `n` jobs came from `origin` and all are finished.
fn wait_jobs_finished(hub: &Faxhub, origin: &str, n: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let jobs = jobs_from(hub, origin);
        if jobs.len() >= n && jobs.iter().all(|j| j["phase"] == "finished") {
            return jobs;
        }
        assert!(
            start.elapsed() < WAIT,
            "{} of {n} {origin} jobs finished: {jobs:#?}\n{}",
            jobs.len(),
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The quarantined items under `dir`: (their files, the first line of the reason), sorted.
fn quarantined(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| {
                let folder = e.unwrap().path();
                let mut files: Vec<String> = std::fs::read_dir(&folder)
                    .unwrap()
                    .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                    .filter(|n| n != "reason.txt")
                    .collect();
                files.sort();
                let reason = std::fs::read_to_string(folder.join("reason.txt")).unwrap();
                (
                    files.join(","),
                    reason.lines().next().unwrap_or("").to_string(),
                )
            })
            .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Waits until `dir` holds nothing but `keep`.
fn wait_emptied(dir: &Path, keep: &[&str], hub: &Faxhub) {
    let start = Instant::now();
    loop {
        let left: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !keep.contains(&n.as_str()))
            .collect();
        if left.is_empty() {
            return;
        }
        assert!(
            start.elapsed() < WAIT,
            "{} still holds {left:?}\n{}",
            dir.display(),
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills faxhub the moment its log shows `marker` `n` times.
fn kill_after(hub: &mut Faxhub, marker: &str, n: usize) {
    let start = Instant::now();
    while hub.log().matches(marker).count() < n {
        assert!(
            start.elapsed() < WAIT,
            "never saw {marker:?}: {}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    hub.kill9();
}

fn hot_folder_config(scans: &Path) -> String {
    format!(
        "{QUICK}[[hotfolder]]\npath = \"{}\"\nowner = \"scans@example.com\"\npoll = \"100ms\"\nsettle = \"300ms\"\n",
        scans.display()
    )
}

#[test]
fn scans_in_the_hot_folder_are_faxed_and_their_receipts_mailed_to_the_owner() {
    let work = tempfile::tempdir().unwrap();
    let scans = work.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    // real scans: a scanned paper page (PDF) and a 300 dpi 1-bit TIFF
    let scanned_pdf =
        std::fs::read(format!("{CORPUS}/pdf/unstructured/a1977-backus-p21.pdf")).unwrap();
    let scanned_tif = std::fs::read(format!("{CORPUS}/tiff/tesseract/eurotext.tif")).unwrap();
    drop_file(&scans, "0169293999_devis.pdf", &scanned_pdf);
    drop_file(
        &scans,
        "scan.json",
        br#"{"number": ["01 69 29 39 98", "0899123456"], "notify": "alice@example.com", "sender": "Alice Martin <alice@example.com>", "subject": "Devis 2026"}"#,
    );
    drop_file(&scans, "scan.tif", &scanned_tif);
    drop_file(&scans, "report.pdf", &scanned_pdf);
    drop_file(&scans, "photo.gif", b"GIF89a");
    let hub = Faxhub::start("", &hot_folder_config(&scans));

    let jobs = wait_jobs_finished(&hub, "hotfolder", 2);
    assert_eq!(jobs.len(), 2, "{jobs:#?}");
    for job in &jobs {
        assert!(
            job["source"].as_str().unwrap().starts_with("hotfolder:"),
            "{job:#}"
        );
    }
    let devis = jobs
        .iter()
        .find(|j| j["subject"] == "0169293999_devis.pdf")
        .unwrap();
    assert_eq!(devis["sender"], "scans@example.com");
    assert_eq!(devis["pages"], 1, "{devis:#}");
    assert_eq!(devis["recipients"][0]["status"], "done");
    let alice = jobs.iter().find(|j| j["subject"] == "Devis 2026").unwrap();
    assert_eq!(alice["sender"], "alice@example.com");
    assert_eq!(alice["pages"], 1, "{alice:#}");
    assert_eq!(alice["recipients"][0]["number"], "+33169293998");
    assert_eq!(alice["recipients"][0]["status"], "done");
    assert_eq!(alice["recipients"][1]["status"], "failed");
    assert_eq!(alice["recipients"][1]["status_code"], "5.7.1");
    // two numbers faxed, the premium-rate one refused by the dial plan
    assert_eq!(hub.outbox().len(), 2);

    // receipts: the owner's scan delivered; Alice's delivered for one number, failed for the other
    let maildir = hub.data_dir().join("Maildir");
    let mails = mail::wait_for(&maildir, 3, WAIT, || hub.log());
    let to = |m: &Value| m["headers"]["To"].as_str().unwrap().to_string();
    let action = |m: &Value| m["status"][1]["Action"].as_str().unwrap_or("").to_string();
    let mut seen: Vec<(String, String)> = mails.iter().map(|m| (to(m), action(m))).collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("alice@example.com".to_string(), "delivered".to_string()),
            ("alice@example.com".to_string(), "failed".to_string()),
            ("scans@example.com".to_string(), "delivered".to_string()),
        ]
    );
    let failed = mails.iter().find(|m| action(m) == "failed").unwrap();
    assert!(
        failed["text"].as_str().unwrap().contains("+33899123456"),
        "{failed:#}"
    );

    // the rest in quarantine, with why; nothing left in the folder
    wait_emptied(&scans, &["quarantine"], &hub);
    let q = quarantined(&scans.join("quarantine"));
    assert_eq!(q.len(), 2, "{q:?}");
    assert_eq!(q[0].0, "photo.gif");
    assert!(q[0].1.contains("not a scan"), "{q:?}");
    assert_eq!(q[1].0, "report.pdf");
    assert!(q[1].1.contains("no fax number"), "{q:?}");
}

#[test]
fn kill_9_while_the_hot_folder_is_taken_loses_no_scan_and_faxes_none_twice() {
    let work = tempfile::tempdir().unwrap();
    let scans = work.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    let pdf = make_pdf(work.path(), 1);
    let config = hot_folder_config(&scans);
    kill_9_midway("hotfolder", &config, 12, |number| {
        drop_file(&scans, &format!("{number}_scan.pdf"), &pdf);
    });
    assert_eq!(std::fs::read_dir(&scans).unwrap().count(), 0);
}

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// An Exchange Drop directory file: the X- envelope, then a message with a DOCX attached.
fn drop_file_eml(receivers: &[&str], subject: &str) -> Vec<u8> {
    let docx = std::fs::read(format!("{CORPUS}/office/unstructured/simple.docx")).unwrap();
    let mut out = String::from("X-Sender: <alice@contoso.com> RET=HDRS ENVID=ENV42\r\n");
    for r in receivers {
        // ORCPT is xtext (RFC 3461 §4): '+' and '=' are written +2B and +3D
        let xtext = r.replace('+', "+2B").replace('=', "+3D");
        out.push_str(&format!(
            "X-Receiver: <{r}> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;{xtext}\r\n"
        ));
    }
    out.push_str("X-CreatedBy: MSExchange15\r\nX-EndOfInjectedXHeaders: 0\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend(message_with_attachment(
        subject,
        "Please find the quote attached.",
        "simple.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        &docx,
    ));
    bytes
}

/// The files Exchange would pick up from the Replay directory.
fn replay_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn exchange_config(work: &Path) -> String {
    format!(
        "{QUICK}[exchange]\ndrop = \"{}\"\nreplay = \"{}\"\npoll = \"100ms\"\nsettle = \"200ms\"\nquarantine = \"{}\"\n",
        work.join("Drop").display(),
        work.join("Replay").display(),
        work.join("quarantine").display()
    )
}

#[test]
fn an_exchange_drop_file_is_faxed_to_each_receiver_and_reported_into_replay() {
    let work = tempfile::tempdir().unwrap();
    let drop = work.path().join("Drop");
    std::fs::create_dir_all(&drop).unwrap();
    std::fs::create_dir_all(work.path().join("Replay")).unwrap();
    drop_file(
        &drop,
        "msg1.eml",
        &drop_file_eml(
            &[
                "0169293999@fax.localhost",
                "FAX=+33169293998@fax.localhost",
                "0169293997@fax.localhost",
            ],
            "Quote for three",
        ),
    );
    drop_file(&drop, "junk.eml", b"Subject: no envelope\r\n\r\nhello\r\n");
    let hub = Faxhub::start("", &exchange_config(work.path()));

    let jobs = wait_jobs_finished(&hub, "exchange", 1);
    let job = &jobs[0];
    assert_eq!(job["sender"], "alice@contoso.com");
    assert_eq!(job["env_id"], "ENV42");
    assert_eq!(job["subject"], "Quote for three");
    let numbers = numbers(job);
    assert_eq!(numbers, ["+33169293999", "+33169293998", "+33169293997"]);
    assert!(
        job["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "done"),
        "{job:#}"
    );
    assert_eq!(hub.outbox().len(), 3);

    // the receipts come back through Exchange's Replay directory, X-envelope first
    let start = Instant::now();
    let mut reported: Vec<String> = Vec::new();
    while reported.len() < 3 {
        assert!(
            start.elapsed() < WAIT,
            "replay: {reported:?}\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(200));
        reported.clear();
        for file in replay_files(&work.path().join("Replay")) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(
                text.starts_with("X-Sender: <>\r\nX-Receiver: <alice@contoso.com>\r\n"),
                "{text}"
            );
            let report = mail::read(&file);
            assert_eq!(report["content_type"], "multipart/report", "{report:#}");
            assert_eq!(report["status"][0]["Original-Envelope-Id"], "ENV42");
            for block in report["status"].as_array().unwrap().iter().skip(1) {
                assert_eq!(block["Action"], "delivered", "{report:#}");
                let original = block["Original-Recipient"].as_str();
                reported.push(original.unwrap_or_else(|| panic!("{report:#}")).to_string());
            }
        }
    }
    reported.sort();
    assert_eq!(
        reported,
        [
            "rfc822;0169293997@fax.localhost",
            "rfc822;0169293999@fax.localhost",
            "rfc822;FAX=+33169293998@fax.localhost"
        ]
    );
    // no Replay file is ever seen half written: none but .eml
    let others: Vec<_> = std::fs::read_dir(work.path().join("Replay"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "eml"))
        .collect();
    assert!(others.is_empty(), "{others:?}");

    wait_emptied(&drop, &[], &hub);
    let q = quarantined(&work.path().join("quarantine"));
    assert_eq!(q.len(), 1, "{q:?}");
    assert_eq!(q[0].0, "junk.eml");
    assert!(q[0].1.starts_with("no X-Sender line"), "{q:?}");
}

/// Drops `n` items with `make(number)`, kills faxhub mid-way, restarts it, and checks that each
/// number became exactly one job.
fn kill_9_midway(origin: &str, config: &str, n: usize, drop_item: impl Fn(&str)) {
    let numbers: Vec<String> = (10..10 + n).map(|i| format!("+331692939{i}")).collect();
    for number in &numbers {
        drop_item(number);
    }
    let mut hub = Faxhub::start("", config);
    kill_after(&mut hub, "queued", 2);
    hub.launch();
    let start = Instant::now();
    loop {
        let jobs = jobs_from(&hub, origin);
        let mut got: Vec<String> = jobs
            .iter()
            .map(|j| j["recipients"][0]["number"].as_str().unwrap().to_string())
            .collect();
        got.sort();
        if got.len() >= numbers.len() {
            assert_eq!(got, numbers, "{}", hub.log());
            break;
        }
        assert!(start.elapsed() < WAIT, "{got:?}\n{}", hub.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn kill_9_while_the_drop_directory_is_taken_loses_no_message_and_faxes_none_twice() {
    let work = tempfile::tempdir().unwrap();
    let drop = work.path().join("Drop");
    std::fs::create_dir_all(&drop).unwrap();
    let config = exchange_config(work.path());
    kill_9_midway("exchange", &config, 12, |number| {
        let eml = format!(
            "X-Sender: <alice@contoso.com>\r\nX-Receiver: <{number}@fax.localhost>\r\n\r\nFrom: alice@contoso.com\r\nSubject: {number}\r\n\r\nhello\r\n"
        );
        drop_file(&drop, &format!("{number}.eml"), eml.as_bytes());
    });
    assert_eq!(std::fs::read_dir(&drop).unwrap().count(), 0);
}

/// A GroupWise keyword file with its body and one attachment in ATT_OUT.
fn groupwise_item(api: &Path, name: &str, to: &str, attachment: &[u8]) {
    std::fs::write(
        api.join("ATT_OUT").join(format!("{name}.txt")),
        "Voici le devis.",
    )
    .unwrap();
    std::fs::write(api.join("ATT_OUT").join(format!("{name}.pdf")), attachment).unwrap();
    let file = format!(
        "WPC-API= 1.2;\r\nHeader-Char= T50;\r\nMsg-Type= Mail;\r\nMsg-Id= {name}.CORP.PO1;\r\n\
         From=\r\n    WPD= CORP;\r\n    WPPO= PO1;\r\n    WPU= jdoe;\r\n    CDBA= CORP.PO1.jdoe;\r\n;\r\n\
         From-Text= John Doe;\r\nTo-Text= {to};\r\nSubject= Devis {name};\r\nMsg-File= {name}.txt;\r\n\
         Attach-File=\r\n    Current-File= {name}.pdf;\r\n    Original-File= devis.pdf;\r\n;\r\n-END-\r\n"
    );
    drop_file(
        &api.join("API_OUT"),
        &format!("{name}.api"),
        file.as_bytes(),
    );
}

fn groupwise_config(api: &Path) -> String {
    format!(
        "{QUICK}[groupwise]\ndir = \"{}\"\nfax_domains = [\"FAX\"]\npoll = \"100ms\"\nsettle = \"200ms\"\n",
        api.display()
    )
}

fn groupwise_dirs(work: &Path) -> std::path::PathBuf {
    let api = work.join("WPGATE/API");
    for sub in ["API_OUT", "ATT_OUT"] {
        std::fs::create_dir_all(api.join(sub)).unwrap();
    }
    api
}

#[test]
fn a_groupwise_message_is_faxed_and_its_status_returns_to_api_in() {
    let work = tempfile::tempdir().unwrap();
    let api = groupwise_dirs(work.path());
    let pdf = make_pdf(work.path(), 2);
    groupwise_item(&api, "m1", "0169293999@FAX", &pdf);
    let hub = Faxhub::start("", &groupwise_config(&api));

    let jobs = wait_jobs_finished(&hub, "groupwise", 1);
    let job = &jobs[0];
    assert_eq!(job["sender"], "CORP.PO1.jdoe");
    assert_eq!(job["env_id"], "m1.CORP.PO1");
    assert_eq!(job["recipients"][0]["number"], "+33169293999");
    assert_eq!(job["recipients"][0]["status"], "done");
    // the body page and the two pages of the attachment
    assert_eq!(job["pages"], 3, "{job:#}");
    assert_eq!(hub.outbox().len(), 1);
    wait_emptied(&api.join("API_OUT"), &[], &hub);
    wait_emptied(&api.join("ATT_OUT"), &[], &hub);

    // a status tied to the Msg-Id, and a mail with the pages, in API_IN
    let start = Instant::now();
    let (status, mail) = loop {
        let files: Vec<String> = std::fs::read_dir(api.join("API_IN"))
            .map(|rd| {
                rd.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        let status = files
            .iter()
            .find(|f| f.contains("Msg-Type= Status;"))
            .cloned();
        let mail = files
            .iter()
            .find(|f| f.contains("Msg-Type= Mail;"))
            .cloned();
        if let (Some(s), Some(m)) = (status, mail) {
            break (s, m);
        }
        assert!(start.elapsed() < WAIT, "API_IN: {files:?}\n{}", hub.log());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.contains("Orig-Msg-ID= m1.CORP.PO1;"), "{status}");
    assert!(status.contains("Action= Delivered;"), "{status}");
    assert!(status.contains("CDBA= CORP.PO1.jdoe;"), "{status}");
    assert!(mail.contains("Subject= Fax delivered: Devis m1"), "{mail}");
    let current = mail
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Current-File= "))
        .map(|v| v.trim_end_matches(';').to_string())
        .collect::<Vec<_>>();
    assert!(!current.is_empty(), "{mail}");
    let pdf_back = std::fs::read(api.join("ATT_IN").join(&current[0])).unwrap();
    assert!(pdf_back.starts_with(b"%PDF"), "the receipt's pages as PDF");
}

#[test]
fn kill_9_while_api_out_is_taken_loses_no_message_and_faxes_none_twice() {
    let work = tempfile::tempdir().unwrap();
    let api = groupwise_dirs(work.path());
    let config = groupwise_config(&api);
    kill_9_midway("groupwise", &config, 12, |number| {
        let name = format!("n{}", &number[1..]);
        groupwise_item(&api, &name, &format!("{number}@FAX"), b"%PDF-1.4 tiny");
    });
    assert_eq!(std::fs::read_dir(api.join("API_OUT")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(api.join("ATT_OUT")).unwrap().count(), 0);
}

/// `tls` is `tls = "none"`, or `tls = "implicit"` with the `ca_file` line.
fn imap_config(port: u16, poll: &str, tls: &str) -> String {
    format!(
        "{QUICK}[imap]\nhost = \"localhost\"\nport = {port}\n{tls}\nusername = \"faxgw\"\npassword = \"s3cret\"\n\
         fax_domains = [\"FAX\"]\npoll = \"{poll}\"\ntimeout = \"10s\"\n"
    )
}

/// A mail as Domino's router leaves it in the gateway mail file: a PDF attached.
fn domino_mail(to: &str, subject: &str, pdf: &[u8]) -> Vec<u8> {
    let mut m = b"Return-Path: <jdoe@acme.example>\r\n".to_vec();
    let message = message_with_attachment(
        subject,
        "Voir le document joint.",
        "devis.pdf",
        "application/pdf",
        pdf,
    );
    m.extend(
        String::from_utf8(message)
            .unwrap()
            .replace("To: Bob <0169293999@fax.localhost>", &format!("To: {to}"))
            .into_bytes(),
    );
    m
}

#[test]
fn a_message_in_the_mail_file_is_faxed_taken_out_and_reported_to_its_sender() {
    // over TLS, the server's certificate checked against a test CA
    let work = tempfile::tempdir().unwrap();
    let ((ca, cert, key), _) = common::postfix::Postfix::tls(work.path());
    let port = free_port();
    let dovecot = common::dovecot::Dovecot::start_imap(
        "agents-imap",
        "faxgw",
        "s3cret",
        port,
        Some((&cert, &key)),
    );
    let pdf = make_pdf(work.path(), 1);
    let with_pdf = |to: &str, subject: &str| domino_mail(to, subject, &pdf);
    dovecot.save(
        "faxgw",
        &with_pdf("Sales <0169293999@FAX>, Bob <bob@acme.example>", "Devis"),
    );
    dovecot.save("faxgw", &with_pdf("Bob <bob@acme.example>", "Not a fax"));
    // a long poll: the next message must come through IDLE
    let tls = format!("tls = \"implicit\"\nca_file = \"{}\"", ca.display());
    let hub = Faxhub::start("", &imap_config(port, "60s", &tls));

    let jobs = wait_jobs_finished(&hub, "imap", 1);
    let job = &jobs[0];
    assert_eq!(job["sender"], "jdoe@acme.example");
    assert_eq!(job["subject"], "Devis");
    assert_eq!(job["recipients"].as_array().unwrap().len(), 1, "{job:#}");
    assert_eq!(job["recipients"][0]["number"], "+33169293999");
    assert_eq!(job["recipients"][0]["status"], "done");
    assert!(
        job["source"]
            .as_str()
            .unwrap()
            .starts_with("imap:faxgw@localhost/INBOX;UIDVALIDITY=")
    );
    assert_eq!(hub.outbox().len(), 1);

    // the receipt goes to the sender by the relay (here faxhub's Maildir)
    let maildir = hub.data_dir().join("Maildir");
    let mails = mail::wait_for(&maildir, 1, WAIT, || hub.log());
    assert_eq!(mails[0]["headers"]["To"], "jdoe@acme.example");
    assert_eq!(mails[0]["status"][1]["Action"], "delivered");

    // both messages left the mailbox: one as a job, one into quarantine with why
    let start = Instant::now();
    while dovecot.count("faxgw") > 0 {
        assert!(start.elapsed() < WAIT, "mailbox not emptied: {}", hub.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let q = quarantined(&hub.data_dir().join("quarantine/imap"));
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(
        q[0].0.starts_with("uid-") && q[0].0.ends_with(".eml"),
        "{q:?}"
    );
    assert!(q[0].1.contains("no fax address"), "{q:?}");

    // new mail while faxhub waits in IDLE is taken at once, long before the 60 s poll
    let saved = Instant::now();
    dovecot.save("faxgw", &with_pdf("0169293998@FAX", "Second"));
    let start = Instant::now();
    while jobs_from(&hub, "imap").len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "IDLE did not wake: {}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saved.elapsed() < Duration::from_secs(20));
}

#[test]
fn kill_9_while_the_mail_file_is_taken_loses_no_message_and_faxes_none_twice() {
    let port = free_port();
    let dovecot =
        common::dovecot::Dovecot::start_imap("agents-imap-kill", "faxgw", "s3cret", port, None);
    let config = imap_config(port, "1s", "tls = \"none\"");
    kill_9_midway("imap", &config, 12, |number| {
        dovecot.save(
            "faxgw",
            &domino_mail(&format!("{number}@FAX"), number, b"%PDF-1.4 x"),
        );
    });
    let start = Instant::now();
    while dovecot.count("faxgw") > 0 {
        assert!(start.elapsed() < WAIT, "mailbox not emptied");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_fax_received_for_an_exchange_mailbox_goes_into_replay_with_the_receipt() {
    let work = tempfile::tempdir().unwrap();
    let drop = work.path().join("Drop");
    std::fs::create_dir_all(&drop).unwrap();
    let config = format!(
        "{}[inbound]\nvia = \"exchange\"\ncatch_all = \"fax@contoso.com\"\n\
         [[inbound.routes]]\nnumbers = [\"+33142000100-+33142000199\"]\nto = \"sales@contoso.com\"\n\
         [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
         [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\n",
        exchange_config(work.path())
    );
    let hub = Faxhub::start("", &config);
    // faxed to one of the site's own numbers over the loopback line: sent, then received
    std::fs::create_dir_all(work.path().join("Replay")).unwrap();
    let eml = "X-Sender: <alice@contoso.com>\r\nX-Receiver: <0142000155@fax.localhost>\r\n\
               From: Alice <alice@contoso.com>\r\nSubject: Loop\r\n\r\nOne page to ourselves.\r\n";
    drop_file(&drop, "loop.eml", eml.as_bytes());
    let jobs = wait_jobs_finished(&hub, "exchange", 1);
    assert_eq!(jobs[0]["recipients"][0]["status"], "done", "{:#}", jobs[0]);
    let text = String::from_utf8(hub.cli(&["queue", "--all"]).stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(jobs[0]["id"].as_str().unwrap()))
        .unwrap();
    assert!(
        line.contains(" exchange "),
        "the origin in the listing: {line}"
    );

    let start = Instant::now();
    let (fax, receipt) = loop {
        let files: Vec<String> = replay_files(&work.path().join("Replay"))
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let fax = files
            .iter()
            .find(|f| f.contains("X-Receiver: <sales@contoso.com>"))
            .cloned();
        let receipt = files
            .iter()
            .find(|f| f.contains("X-Receiver: <alice@contoso.com>"))
            .cloned();
        if let (Some(f), Some(r)) = (fax, receipt) {
            break (f, r);
        }
        assert!(
            start.elapsed() < WAIT,
            "Replay: {}\n{}",
            files.len(),
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        fax.starts_with("X-Sender: <>\r\nX-Receiver: <sales@contoso.com>\r\n"),
        "{fax}"
    );
    assert!(fax.contains("application/pdf"), "the received fax as PDF");
    assert!(receipt.starts_with("X-Sender: <>\r\n"), "{receipt}");
    assert!(receipt.contains("multipart/report"), "{receipt}");
    assert!(
        receipt.contains("Subject: Fax delivered: Loop"),
        "{receipt}"
    );
}

#[test]
fn with_after_seen_and_no_idle_a_message_is_marked_seen_polled_and_faxed_once() {
    let port = free_port();
    let dovecot =
        common::dovecot::Dovecot::start_imap("agents-imap-seen", "faxgw", "s3cret", port, None);
    dovecot.save(
        "faxgw",
        &domino_mail("0169293999@FAX", "Seen", b"%PDF-1.4 x"),
    );
    let config = format!(
        "{}after = \"seen\"\nidle = false\n",
        imap_config(port, "300ms", "tls = \"none\"")
    );
    let hub = Faxhub::start("", &config);
    let start = Instant::now();
    while dovecot.flags("faxgw") != ["\\Seen"] {
        assert!(
            start.elapsed() < WAIT,
            "{:?}\n{}",
            dovecot.flags("faxgw"),
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // many polls later: still there, still one job
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(dovecot.count("faxgw"), 1);
    assert_eq!(jobs_from(&hub, "imap").len(), 1, "{}", hub.log());
    // a new message is found by polling
    dovecot.save(
        "faxgw",
        &domino_mail("0169293998@FAX", "Second", b"%PDF-1.4 x"),
    );
    let start = Instant::now();
    while jobs_from(&hub, "imap").len() < 2 {
        assert!(start.elapsed() < WAIT, "{}", hub.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}
