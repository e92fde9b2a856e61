//! End to end: LibreOffice down while a Word document waits. Everything LibreOffice that the
//! daemon starts is killed as soon as it appears (what the OOM killer or a broken package
//! does), so the farm cannot warm up and the conversion cannot start: the job waits, deferred
//! with 4.3.x (the server's trouble, no failure report). Once LibreOffice is left alone, the
//! next try converts it and the fax is sent. (Before: a farm that could not start failed the
//! job for good with 5.3.0.)

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(180);

/// LibreOffice's processes (the worker, the `soffice` script, `oosplash`, `soffice.bin`) whose
/// command line names `dir`, from /proc; never the sandbox's own `bwrap` or `setpriv`, whose
/// death could orphan the tree below it, still connected to the daemon.
fn office_processes(dir: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let program = args.first().map(String::as_str).unwrap_or("");
        let named = args.iter().any(|a| a.contains(dir));
        let office = args
            .iter()
            .take(2)
            .any(|a| a.contains("soffice") || a.contains("oosplash") || a.ends_with("worker.py"));
        if named && office && !program.ends_with("bwrap") && !program.ends_with("setpriv") {
            out.push(pid);
        }
    }
    out
}

#[test]
fn a_word_document_waits_while_libreoffice_is_down_and_is_faxed_once_it_is_back() {
    let hub = Faxhub::start(
        "",
        "[retry]\nschedule = [\"2s\"]\ngive_up_after = \"1h\"\n\
         [scheduler]\npoll_interval = \"200ms\"\n[convert]\noffice_instances = 1\n",
    );
    // LibreOffice killed wherever it shows up for this daemon (its profiles live in its data
    // directory). Killing the sandbox's bwrap instead once left the tree below it orphaned and
    // working: the conversion went through.
    let down = Arc::new(AtomicBool::new(true));
    let killed = Arc::new(AtomicUsize::new(0));
    let (killing, count) = (down.clone(), killed.clone());
    let dir = hub.data_dir().display().to_string();
    let killer = std::thread::spawn(move || {
        while killing.load(Ordering::SeqCst) {
            for pid in office_processes(&dir) {
                // SAFETY: kill(2) on a process id read from /proc just now.
                if unsafe { libc::kill(pid as i32, libc::SIGKILL) } == 0 {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    // the farm warms up at start: the mail goes only once that instance is gone
    let deadline = std::time::Instant::now() + WAIT;
    while killed.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the farm's warm-up never started LibreOffice\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
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
    killer.join().unwrap();
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#}\n{}", hub.log());
    assert!(job["pages"].as_u64().unwrap() >= 1);
}
