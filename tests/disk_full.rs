//! End to end: the spool's disk fills up, for real. faxhub's data directory is a small tmpfs
//! the test mounts (root, as the Postfix tests need); files the test writes take its room.
//! A message accepted while a little room is left cannot be converted: its conversion is
//! deferred with 4.3.x (the server's trouble, no failure report); a message arriving with no
//! room at all gets `452 4.3.1`, never a `250`; once room is freed, every job completes and
//! nothing acknowledged was lost.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// A tmpfs of `megabytes` mounted on a directory of its own, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(megabytes: u32) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={megabytes}m,mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "mounting a tmpfs needs root (as `make test` runs)");
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes free on it, as `stat -f` tells.
    fn free(&self) -> u64 {
        let out = Command::new("stat")
            .args(["-f", "--format=%a %S"])
            .arg(self.path())
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut words = text.split_whitespace().map(|w| w.parse::<u64>().unwrap());
        words.next().unwrap() * words.next().unwrap()
    }

    /// A file taking all its room but `leave` bytes.
    fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let filler = self.path().join(name);
        let size = self.free().saturating_sub(leave);
        let ok = Command::new("fallocate")
            .args(["-l", &size.to_string()])
            .arg(&filler)
            .status()
            .unwrap()
            .success();
        assert!(ok, "fallocate {size} bytes");
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}

/// A PDF of `pages` pages full of text (a megabyte of fax pages, from a small file).
fn dense_pdf(dir: &Path, pages: usize) -> Vec<u8> {
    let ps = dir.join("dense.ps");
    let pdf = dir.join("dense.pdf");
    let mut program = String::from("%!PS\n/Helvetica findfont 11 scalefont setfont\n");
    for p in 1..=pages {
        for line in 0..60 {
            let y = 760 - line * 12;
            program.push_str(&format!(
                "40 {y} moveto (Page {p} line {line}: the quick brown fox jumps over the lazy dog 0123456789) show\n"
            ));
        }
        program.push_str("showpage\n");
    }
    std::fs::write(&ps, program).unwrap();
    let ok = Command::new("gs")
        .args(["-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite"])
        .arg(format!("-sOutputFile={}", pdf.display()))
        .arg(&ps)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    std::fs::read(pdf).unwrap()
}

#[test]
fn a_full_disk_defers_conversions_and_refuses_mail_with_452_then_every_job_completes() {
    let disk = Tmpfs::mount(160);
    let data = disk.path().join("data");
    let hub = Faxhub::start_in(
        Some(&data),
        "",
        "",
        "[retry]\nschedule = [\"1s\"]\ngive_up_after = \"1h\"\n\
         [scheduler]\npoll_interval = \"200ms\"\n[convert]\noffice_instances = 1\n",
    );
    // the LibreOffice farm lays out its primers on this disk too: let it finish first
    let start = std::time::Instant::now();
    while !hub.log().contains("LibreOffice farm") {
        assert!(
            start.elapsed() < WAIT,
            "the farm never warmed: {}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let pdf = dense_pdf(hub.dir.path(), 30);
    let mail = message_with_attachment(
        "disk",
        "thirty pages",
        "thirty.pdf",
        "application/pdf",
        &pdf,
    );

    // room for the message, not for its thirty pages of text
    let first_filler = disk.fill("filler1", 2 * mail.len() as u64 + (128 << 10));
    let (code, text) =
        hub.smtp()
            .send_mail("alice@example.com", &["0169293999@fax.localhost"], &mail);
    assert_eq!(code, 250, "{text}\n{}", hub.log());
    let a = queued_id(&(code, text));
    let deferred = hub.wait_job(&a, WAIT, |j| {
        j["recipients"][0]["status"] == "deferred"
            || j["phase"] == "finished"
            || j["phase"] == "convert_failed"
    });
    let r = &deferred["recipients"][0];
    assert_eq!(r["status"], "deferred", "{deferred:#}\n{}", hub.log());
    assert_eq!(r["status_code"], "4.3.1", "the server's trouble: {r:#}");
    assert!(
        r["reason"].as_str().unwrap().contains("disk is full"),
        "{r:#}"
    );

    // no room at all: the next message is refused for now, not taken and lost
    let second_filler = disk.fill("filler2", 0);
    let (code, text) =
        hub.smtp()
            .send_mail("alice@example.com", &["0169293998@fax.localhost"], &mail);
    assert_eq!((code, &text[..5]), (452, "4.3.1"), "{text}\n{}", hub.log());
    let job = hub.show(&a);
    assert_ne!(job["recipients"][0]["status"], "failed", "{job:#}");

    // room again: the client sends its message again, and both jobs complete
    std::fs::remove_file(first_filler).unwrap();
    std::fs::remove_file(second_filler).unwrap();
    let b = queued_id(&hub.smtp().send_mail(
        "alice@example.com",
        &["0169293998@fax.localhost"],
        &mail,
    ));
    for id in [&a, &b] {
        let job = hub.wait_finished(id, WAIT);
        let r = &job["recipients"][0];
        assert_eq!(r["status"], "done", "{job:#}\n{}", hub.log());
        assert_eq!(job["pages"], 31, "{job:#}");
    }
    assert_eq!(hub.outbox().len(), 2, "two faxes sent, no more");
}
