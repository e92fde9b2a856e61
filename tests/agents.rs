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
    let pdf = make_pdf(work.path(), 1);
    drop_file(&scans, "0169293999_devis.pdf", &pdf);
    drop_file(
        &scans,
        "scan.json",
        br#"{"number": ["01 69 29 39 98", "0899123456"], "notify": "alice@example.com", "sender": "Alice Martin <alice@example.com>", "subject": "Devis 2026"}"#,
    );
    drop_file(&scans, "scan.pdf", &pdf);
    drop_file(&scans, "report.pdf", &pdf);
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
    assert_eq!(devis["recipients"][0]["status"], "done");
    let alice = jobs.iter().find(|j| j["subject"] == "Devis 2026").unwrap();
    assert_eq!(alice["sender"], "alice@example.com");
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
    let numbers: Vec<String> = (10..22).map(|n| format!("+331692939{n}")).collect();
    for n in &numbers {
        drop_file(&scans, &format!("{n}_scan.pdf"), &pdf);
    }
    let mut hub = Faxhub::start("", &hot_folder_config(&scans));
    kill_after(&mut hub, "queued", 2);
    hub.launch();
    wait_emptied(&scans, &[], &hub);
    let jobs = jobs_from(&hub, "hotfolder");
    let mut got: Vec<String> = jobs
        .iter()
        .map(|j| j["recipients"][0]["number"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, numbers, "{}", hub.log());
}
