//! End to end: LibreOffice down while a Word document waits. Everything LibreOffice that the
//! daemon starts is killed as soon as it appears (what the OOM killer or a broken package
//! does), so the farm cannot warm up and the conversion cannot start: the job waits, deferred
//! with 4.3.x (the server's trouble, no failure report). Once LibreOffice is left alone, the
//! next try converts it and the fax is sent. (Before: a farm that could not start failed the
//! job for good with 5.3.0.)

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

/// The processes below `root` (its children, theirs, …), from /proc.
fn descendants(root: u32) -> Vec<(u32, String)> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": the comm may hold spaces and parentheses
        let Some(after) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let ppid = after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        parents.push((pid, ppid.unwrap_or(0), cmdline));
    }
    let mut found = vec![root];
    let mut out = Vec::new();
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid, cmdline) in &parents {
            if found.contains(ppid) && !found.contains(pid) {
                found.push(*pid);
                out.push((*pid, cmdline.clone()));
                grew = true;
            }
        }
    }
    out
}

#[test]
#[ignore = "flaky: once in CI the conversion ran on a warm LibreOffice the killer never found \
            among the daemon's descendants; run with --ignored (see issue 15's note)"]
fn a_word_document_waits_while_libreoffice_is_down_and_is_faxed_once_it_is_back() {
    let hub = Faxhub::start(
        "",
        "[retry]\nschedule = [\"2s\"]\ngive_up_after = \"1h\"\n\
         [scheduler]\npoll_interval = \"200ms\"\n[convert]\noffice_instances = 1\n",
    );
    // LibreOffice killed wherever it shows up below the daemon
    let down = Arc::new(AtomicBool::new(true));
    let killing = down.clone();
    let daemon = hub.pid();
    let killer = std::thread::spawn(move || {
        let mut killed = 0;
        while killing.load(Ordering::SeqCst) {
            for (pid, cmdline) in descendants(daemon) {
                if cmdline.contains("soffice") || cmdline.contains("worker.py") {
                    // SAFETY: kill(2) on a process id read from /proc just now.
                    if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                        killed += 1;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        killed
    });
    let corpus = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/corpus/office/pandoc/lists.docx"
    );
    let docx = std::fs::read(corpus).unwrap();
    let id = queued_id(&hub.smtp().send_mail(
        "alice@example.com",
        &["0169293999@fax.localhost"],
        &message_with_attachment(
            "lists",
            "the Word file",
            "lists.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            &docx,
        ),
    ));
    let waiting = hub.wait_job(&id, WAIT, |j| {
        j["recipients"][0]["status"] == "deferred" || j["phase"] == "convert_failed"
    });
    let r = &waiting["recipients"][0];
    assert_eq!(r["status"], "deferred", "{waiting:#}\n{}", hub.log());
    assert!(
        r["status_code"].as_str().unwrap().starts_with("4.3."),
        "the server's trouble: {r:#}"
    );
    down.store(false, Ordering::SeqCst);
    let killed = killer.join().unwrap();
    assert!(killed > 0, "LibreOffice was really down");
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#}\n{}", hub.log());
    assert!(job["pages"].as_u64().unwrap() >= 1);
}
