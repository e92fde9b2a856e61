//! End to end: the command line (`check-config`, `send`, `queue` and its actions), with and
//! without the daemon running.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn check_config_accepts_the_example_and_names_what_is_wrong() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/faxhub.example.toml");
    let ok = Command::new(BIN)
        .args(["check-config", example])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    let dir = tempfile::tempdir().unwrap();
    for (text, code, needle) in [
        ("[smtp]\nfax_domain = \"x\"\n", 2, "fax_domain"),
        (
            "[retry]\ngive_up_after = \"forever\"\n",
            2,
            "not a duration",
        ),
        (
            "[dialplan]\ncountry_code = \"+33\"\n",
            2,
            "dialplan.country_code",
        ),
        (
            "[[lines]]\nname = \"t\"\nkind = \"test\"\n[[lines.script]]\nnumbers = \"+33*\"\noutcomes = [\"explode\"]\n",
            2,
            "explode",
        ),
        (
            "[http]\nlisten = [\"localhost:8329\"]\n",
            2,
            "http.listen: \"localhost:8329\" is not ip:port",
        ),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["check-config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{text}");
        let err = stderr(&out);
        assert!(err.contains(needle), "{text}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    let missing = Command::new(BIN)
        .args(["check-config", "/nonexistent/faxhub.toml"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn send_queues_files_through_the_durable_path_and_refuses_bad_input() {
    let hub = Faxhub::start("", "");
    let pdf = hub.dir.path().join("letter.pdf");
    std::fs::write(&pdf, make_pdf(hub.dir.path(), 1)).unwrap();
    let out = hub.cli(&[
        "send",
        "--to",
        "01 69 29 39 99",
        "--to",
        "+4930123456",
        "--from",
        "bob@example.com",
        pdf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["origin"], "cli");
    assert_eq!(job["sender"], "bob@example.com");
    assert_eq!(job["subject"], "letter.pdf");
    assert_eq!(job["recipients"][0]["status"], "done");
    assert_eq!(job["recipients"][1]["number"], "+4930123456");
    assert_eq!(hub.outbox().len(), 2);

    let bad_number = hub.cli(&["send", "--to", "0899123456", pdf.to_str().unwrap()]);
    assert_eq!(bad_number.status.code(), Some(2));
    assert!(
        stderr(&bad_number).contains("premium rate"),
        "{}",
        stderr(&bad_number)
    );
    let missing = hub.cli(&["send", "--to", "0169293999", "/nonexistent/x.pdf"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("/nonexistent/x.pdf"));
    let no_args = hub.cli(&["send", "--to", "0169293999"]);
    assert_eq!(no_args.status.code(), Some(2));
}

#[test]
fn queue_actions_hold_release_cancel_retry() {
    // A number that is always busy, retried only after an hour: it stays deferred.
    let rest = "[retry]\nschedule = [\"1h\"]\n[scheduler]\npoll_interval = \"200ms\"\n\
                [[lines]]\nname = \"test\"\nkind = \"test\"\n[[lines.script]]\nnumbers = \"+33155*\"\noutcomes = [\"busy\"]\n";
    let hub = Faxhub::start("", rest);
    let id = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0155000001@fax.localhost", "0155000002@fax.localhost"],
        &text_message("q", "x"),
    ));
    hub.wait_job(&id, WAIT, |j| {
        j["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "deferred")
    });

    let listing = hub.queue(false);
    let job = listing
        .iter()
        .find(|j| j["id"] == id.as_str())
        .expect("a deferred job is listed");
    for key in [
        "id",
        "origin",
        "sender",
        "subject",
        "received_at",
        "phase",
        "pages",
        "recipients",
    ] {
        assert!(job.get(key).is_some(), "job field {key} missing: {job:#}");
    }
    let r = &job["recipients"][0];
    for key in [
        "number",
        "address",
        "status",
        "attempts",
        "pages_sent",
        "status_code",
        "reason",
        "next_attempt_at",
    ] {
        assert!(r.get(key).is_some(), "recipient field {key} missing: {r:#}");
    }
    assert_eq!(r["status_code"], "4.4.1");
    assert!(r["next_attempt_at"].as_str().unwrap().ends_with('Z'));

    let hold = hub.cli(&["queue", "hold", &id, "0155000001"]);
    assert!(hold.status.success(), "{}", stderr(&hold));
    assert_eq!(hub.show(&id)["recipients"][0]["status"], "held");
    assert_eq!(hub.show(&id)["recipients"][1]["status"], "deferred");
    let again = hub.cli(&["queue", "hold", &id, "0155000001"]);
    assert_eq!(again.status.code(), Some(1), "nothing to do is an error");
    assert!(
        hub.cli(&["queue", "release", &id, "0155000001"])
            .status
            .success()
    );
    // released: sent again at once (busy again, deferred again)
    hub.wait_job(&id, WAIT, |j| {
        j["recipients"][0]["attempts"] == 2 && j["recipients"][0]["status"] == "deferred"
    });
    assert!(hub.cli(&["queue", "cancel", &id]).status.success());
    let job = hub.show(&id);
    assert!(
        job["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] == "cancelled"),
        "{job:#}"
    );
    assert_eq!(job["phase"], "finished");
    assert!(
        hub.queue(false).iter().all(|j| j["id"] != id.as_str()),
        "finished jobs leave the listing"
    );
    assert!(
        hub.cli(&["queue", "retry", &id, "0155000002"])
            .status
            .success()
    );
    hub.wait_job(&id, WAIT, |j| j["recipients"][1]["attempts"] == 2);
    assert_eq!(
        hub.show(&id)["recipients"][1]["dials"],
        1,
        "retry starts the counters again"
    );

    let text = hub.cli(&["queue", "show", &id]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("attempt 1:"));
    let unknown = hub.cli(&["queue", "show", "0000000000000000"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert_eq!(stderr(&unknown).trim(), "faxhub: no job 0000000000000000");
    let malformed = hub.cli(&["queue", "cancel", "not-an-id"]);
    assert_eq!(malformed.status.code(), Some(2));
}

#[test]
fn sigterm_stops_cleanly() {
    let mut hub = Faxhub::start("", "");
    assert_eq!(hub.stop(), Some(0), "{}", hub.log());
    assert!(hub.log().contains("faxhub stopped"));
}

#[test]
fn finished_jobs_are_purged_after_the_retention() {
    let mut hub = Faxhub::start("", "[scheduler]\nretention = \"1s\"\n");
    let id = queued_id(&hub.smtp().send_mail(
        "a@example.com",
        &["0169293999@fax.localhost"],
        &text_message("old", "x"),
    ));
    hub.wait_finished(&id, WAIT);
    let message = hub.data_dir().join(format!("spool/msg/{id}.eml"));
    assert!(message.exists());
    std::thread::sleep(Duration::from_millis(1200));
    // the purge runs at start-up and then hourly
    hub.stop();
    hub.launch();
    let start = std::time::Instant::now();
    while hub.queue(true).iter().any(|j| j["id"] == id.as_str()) {
        assert!(start.elapsed() < WAIT, "job was not purged: {}", hub.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!message.exists(), "its spool files go too");
    for ext in ["tif", "pdf", "png"] {
        assert!(
            !hub.data_dir()
                .join(format!("spool/pages/{id}.{ext}"))
                .exists(),
            "{ext}"
        );
    }
    assert!(!hub.log().contains("quarantined"), "{}", hub.log());
}

#[test]
fn convert_turns_files_into_fax_pages_and_names_what_fails() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("two.pdf");
    std::fs::write(&pdf, make_pdf(dir.path(), 2)).unwrap();
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"\x00\x01 nothing faxable").unwrap();
    let out_dir = dir.path().join("out");
    let out = Command::new(BIN)
        .args(["convert", "--out"])
        .arg(&out_dir)
        .arg(&pdf)
        .arg(&junk)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one file failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("two.pdf: 2 page(s)"), "{stdout}");
    assert!(stdout.contains("junk.bin: files of this type"), "{stdout}");
    assert_eq!(assert_tiff_f(&out_dir.join("two.pdf.tif")), 2);
    assert!(
        std::fs::read(out_dir.join("two.pdf.pdf"))
            .unwrap()
            .starts_with(b"%PDF-")
    );
}

#[test]
fn g3_2d_coding_by_config_keeps_page_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("two.pdf");
    std::fs::write(&pdf, make_pdf(dir.path(), 2)).unwrap();
    let config = dir.path().join("g3.toml");
    std::fs::write(&config, "[convert]\ncompression = \"g3-2d\"\n").unwrap();
    let out_dir = dir.path().join("out");
    let out = Command::new(BIN)
        .arg("-c")
        .arg(&config)
        .args(["convert", "--out"])
        .arg(&out_dir)
        .arg(&pdf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = tiffinfo(&out_dir.join("two.pdf.tif"));
    assert_eq!(
        info.matches("Compression Scheme: CCITT Group 3").count(),
        2,
        "{info}"
    );
    assert_eq!(info.matches("2-d encoding").count(), 2, "{info}");
    assert!(
        info.contains("Page Number: 0-2") && info.contains("Page Number: 1-2"),
        "{info}"
    );
    assert_eq!(
        info.matches("Resolution: 204, 196 pixels/inch").count(),
        2,
        "{info}"
    );
}

/// Runs the binary with `args`; fails if it has not exited within a minute (it hung).
fn run_bounded(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let child = Command::new(BIN)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    match done_rx.recv_timeout(WAIT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("faxhub {args:?} hung");
        }
    }
}

#[test]
fn cli_inputs_must_be_regular_files_within_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("faxhub.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[[lines]]\nname = \"file\"\nkind = \"file\"\n",
            dir.path().join("var").display()
        ),
    )
    .unwrap();
    let fifo = dir.path().join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let sparse = dir.path().join("huge.pdf");
    std::fs::File::create(&sparse)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let huge_config = dir.path().join("huge.toml");
    std::fs::File::create(&huge_config)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let os = |s: &str| std::ffi::OsString::from(s);
    let c = config.clone().into_os_string();
    let send = |file: &std::path::Path| {
        vec![
            os("-c"),
            c.clone(),
            os("send"),
            os("--to"),
            os("0169293999"),
            file.as_os_str().to_owned(),
        ]
    };
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (send(std::path::Path::new("/dev/zero")), "a device"),
        (send(&fifo), "a FIFO"),
        (send(&sparse), "larger than"),
        (
            vec![
                os("-c"),
                c.clone(),
                os("convert"),
                os("--out"),
                dir.path().as_os_str().to_owned(),
                os("/dev/zero"),
            ],
            "a device",
        ),
        (
            vec![os("check-config"), huge_config.clone().into_os_string()],
            "larger than",
        ),
        (vec![os("check-config"), os("/dev/zero")], "a device"),
        (
            vec![os("check-config"), fifo.clone().into_os_string()],
            "a FIFO",
        ),
    ];
    for (args, why) in cases {
        let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let out = run_bounded(&refs);
        let said = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert_eq!(
            said.trim_end().lines().count(),
            1,
            "{args:?}: one line: {said}"
        );
        assert!(said.contains(why), "{args:?}: {said}");
    }
}

/// A billing code from `X-Fax-Billing`, or tagged in the Subject (`[billing] subject_tag`),
/// goes with the fax to `faxhub usage`: per billing code, as CSV and as a workbook that
/// calamine reads back, a fax without a code in a row of its own.
#[test]
fn billing_codes_reach_the_usage_report() {
    use calamine::{Reader, Xlsx};
    let hub = Faxhub::start("", "[billing]\nsubject_tag = \"BILL:\"\n");
    let mut ids = Vec::new();
    for (to, subject, billing) in [
        ("0169293999", "billed", Some(" PRJ-42 ")),
        ("0169293998", "billed", None),
        ("0169293997", "Quote [bill: PRJ-42] for Smith", None),
    ] {
        let header = billing.map_or(String::new(), |b| format!("X-Fax-Billing: {b}\r\n"));
        let message = format!("Subject: {subject}\r\n{header}\r\nOne page.\r\n");
        let reply = hub.smtp().send_mail(
            "alice@example.com",
            &[&format!("{to}@fax.localhost")],
            message.as_bytes(),
        );
        assert_eq!(reply.0, 250, "{reply:?}");
        ids.push(queued_id(&reply));
    }
    for id in &ids {
        let job = hub.wait_finished(id, WAIT);
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    }
    assert_eq!(hub.show(&ids[0])["billing"], "PRJ-42");
    assert!(hub.show(&ids[1]).get("billing").is_none());
    let tagged = hub.show(&ids[2]);
    assert_eq!(tagged["billing"], "PRJ-42", "{tagged:#}");
    assert_eq!(
        tagged["subject"], "Quote for Smith",
        "the tag leaves the subject"
    );
    let month = chrono::Local::now().format("%Y-%m").to_string();
    let out = hub.cli(&["usage", "--month", &month, "--by", "billing", "--csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0], "billing,calls,faxes,failed,pages,minutes",
        "{csv}"
    );
    assert!(
        lines[1].starts_with(",1,1,0,1,"),
        "the fax without a code: {csv}"
    );
    assert!(lines[2].starts_with("PRJ-42,2,2,0,2,"), "{csv}");
    assert!(lines[3].starts_with("TOTAL,3,3,0,3,"), "{csv}");
    // the same as a workbook
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("usage.xlsx");
    let out = hub.cli(&[
        "usage",
        "--month",
        &month,
        "--by",
        "billing",
        "--xlsx",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut book: Xlsx<_> = calamine::open_workbook(&file).unwrap();
    let sheet = book.worksheet_range(&format!("Usage {month}")).unwrap();
    let cells: Vec<Vec<String>> = sheet
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(cells[2][..5], ["PRJ-42", "2", "2", "0", "2"], "{cells:?}");
    assert_eq!(cells[3][0], "TOTAL");
    // another month: nothing
    let out = hub.cli(&["usage", "--month", "1999-01"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No call in 1999-01.\n"
    );
    let bad = hub.cli(&["usage", "--month", "soon"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("give a month as 2026-11"),
        "{}",
        stderr(&bad)
    );
}

/// `faxhub send --at … --priority high --billing …`: the job is held until then, with its
/// priority and code; a time that is not one is a one-line usage error.
#[test]
fn send_holds_prioritises_and_bills() {
    let hub = Faxhub::start("", "");
    let pdf = hub.dir.path().join("letter.pdf");
    std::fs::write(&pdf, make_pdf(hub.dir.path(), 1)).unwrap();
    let at = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let out = hub.cli(&[
        "send",
        "--to",
        "0169293999",
        "--at",
        &at,
        "--priority",
        "high",
        "--billing",
        "PRJ-7",
        pdf.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let job = hub.wait_job(&id, WAIT, |j| j["phase"] != "converting");
    assert_eq!(job["priority"], "high", "{job:#}");
    assert_eq!(job["billing"], "PRJ-7", "{job:#}");
    assert!(job["send_at"].is_string(), "{job:#}");
    assert_eq!(job["recipients"][0]["status"], "deferred", "{job:#}");
    assert!(
        job["recipients"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("held until")
    );
    let bad = hub.cli(&[
        "send",
        "--to",
        "0169293999",
        "--at",
        "soon",
        pdf.to_str().unwrap(),
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("--at: \"soon\" is not a date"),
        "{}",
        stderr(&bad)
    );
    assert_eq!(stderr(&bad).trim().lines().count(), 1);
}
