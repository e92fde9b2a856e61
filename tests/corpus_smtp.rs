//! The corpus mails end to end: every `.eml` of `tests/corpus/eml` is sent over SMTP (as an MTA
//! would: CRLF lines, dot-stuffed, BODY=8BITMIME) to the real daemon, and its job must end as
//! `tests/corpus/expected/eml.txt` says the converters alone make it: done with that many pages,
//! or failed with that status code and reason. (UTF-16 files are left out: they are a drop
//! directory's case, never SMTP's.)

mod common;
use common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A message as DATA carries it: CRLF line ends, lines starting with "." doubled.
fn data_of(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for line in raw.split_inclusive(|&b| b == b'\n') {
        let body = line
            .strip_suffix(b"\n")
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
            .unwrap_or(line);
        if body.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn every_corpus_mail_goes_through_the_daemon_as_the_converters_expect() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let expected_text = std::fs::read_to_string(corpus.join("expected/eml.txt")).unwrap();
    let expected: BTreeMap<&str, &str> = expected_text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .filter(|(rel, _)| rel.ends_with(".eml"))
        .collect();
    assert!(expected.len() > 60, "{} mails", expected.len());
    let hub = Faxhub::start("", "");
    let mut jobs = Vec::new();
    for (i, (rel, want)) in expected.iter().enumerate() {
        let raw = std::fs::read(corpus.join(rel)).unwrap();
        if raw.starts_with(b"\xff\xfe") || raw.starts_with(b"\xfe\xff") {
            // a UTF-16 file (a Windows tool's drop-directory case): no MTA sends one over SMTP
            continue;
        }
        let mut smtp = hub.smtp();
        assert_eq!(smtp.cmd("EHLO mta.example.com").0, 250);
        assert_eq!(
            smtp.cmd("MAIL FROM:<sender@example.com> BODY=8BITMIME").0,
            250
        );
        let rcpt = format!("RCPT TO:<01692{:05}@fax.localhost>", i);
        assert_eq!(smtp.cmd(&rcpt).0, 250, "{rel}");
        assert_eq!(smtp.cmd("DATA").0, 354);
        smtp.send(&data_of(&raw));
        smtp.send(b".\r\n");
        let reply = smtp.read_reply();
        assert_eq!(reply.0, 250, "{rel}: {reply:?}");
        jobs.push((rel.to_string(), want.to_string(), queued_id(&reply)));
    }
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut mismatches = Vec::new();
    for (rel, want, id) in &jobs {
        let job = hub.wait_job(
            id,
            deadline.saturating_duration_since(Instant::now()),
            |j| j["phase"] == "finished" || j["phase"] == "convert_failed",
        );
        let r = &job["recipients"][0];
        let got = if r["status"] == "done" {
            format!("{} page(s)", job["pages"])
        } else {
            format!(
                "refused {}: {}",
                r["status_code"].as_str().unwrap_or("?"),
                r["reason"].as_str().unwrap_or("?")
            )
        };
        if &got != want {
            mismatches.push(format!("{rel}: expected {want}, got {got}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} mails differ:\n{}",
        mismatches.len(),
        jobs.len(),
        mismatches.join("\n")
    );
}
