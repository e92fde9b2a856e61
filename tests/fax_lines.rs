//! End to end through the daemon and real SIP: mail in, a call out, the fax in.
//! - Corpus documents on the `loopback` line (faxhub calls its own SIP listener, which answers
//!   and files the fax in the inbox), over T.38 and over G.711: the pages received decode to the
//!   pixels of the pages sent, and the recipient is done with every page confirmed.
//! - A `sip` line to SIPp (an independent SIP implementation) playing the far end: always busy
//!   (486: deferred with 4.4.1 and dialled again), a number that does not exist (404 with Q.850
//!   cause 1: failed with 5.1.1), a telephone that answers and never sends fax tones (4.4.2 once
//!   T.30's timer for identifying the far end has run out: T0, 60 s in spandsp for a caller;
//!   T1, 35 s, for an answerer); a registrar and a proxy that challenge faxhub and check its
//!   digest answers themselves; a PBX that answers a T.38-only INVITE with the stream at port 0
//!   (SIPp: faxhub offers audio next).
//! - PBX behaviour faxhub must meet as the answering side, played by a far end the test scripts
//!   (`faxhub_lines::sip::far`): a caller that waits for faxhub to switch to T.38 (the loopback
//!   line with `t38 = "theirs"`), a PBX that goes back to audio after its T.38 fax.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
const WAIT: Duration = Duration::from_secs(180);

/// Quick retries, and one LibreOffice instance a hub: these tests run side by side.
fn retry_and_poll() -> &'static str {
    "[retry]\nschedule = [\"1s\"]\nmax_dials = 2\nmax_tries = 1\ngive_up_after = \"1h\"\n\
     [scheduler]\npoll_interval = \"200ms\"\n[convert]\noffice_instances = 1\n"
}

/// A hub whose only line is `loopback`, with `t38` as its mode.
fn loopback_hub(t38: &str) -> Faxhub {
    loopback_hub_with(&format!("t38 = \"{t38}\""))
}

/// A hub whose only line is `loopback`, with `fax` in its `[lines.fax]`.
fn loopback_hub_with(fax: &str) -> Faxhub {
    // any free port (the loopback line calls the agent where it is bound), UDP only: no race
    // with other tests for a port picked beforehand
    Faxhub::start(
        "",
        &format!(
            "{}[sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
             [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\nchannels = 2\n\
             [lines.fax]\nident = \"FAXHUB E2E\"\n{fax}\n",
            retry_and_poll()
        ),
    )
}

/// The page data of a TIFF as libtiff decodes it (uncompressed, MSB first, one strip a page).
fn pixels(tiff: &Path) -> Vec<u8> {
    let raw = tiff.with_extension("raw.tif");
    let ok = Command::new("tiffcp")
        .args(["-c", "none", "-f", "msb2lsb", "-r", "100000"])
        .arg(tiff)
        .arg(&raw)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tiffcp could not decode {}", tiff.display());
    let bytes = std::fs::read(&raw).unwrap();
    let pages = faxhub_queue::tiff::read_pages(&bytes).unwrap();
    faxhub_queue::tiff::first_strips(&bytes, &pages)
        .unwrap()
        .concat()
}

/// What Tesseract reads on the pages of a received fax, as they arrived (uncompressed first).
fn received_text(hub: &Faxhub, fax: &Value) -> String {
    let got = hub
        .data_dir()
        .join("inbox")
        .join(fax["tiff"].as_str().unwrap());
    let plain = got.with_extension("plain.tif");
    let ok = Command::new("tiffcp")
        .args(["-c", "none"])
        .arg(&got)
        .arg(&plain)
        .status()
        .unwrap();
    assert!(ok.success());
    ocr(&plain)
}

fn corpus_mail(files: &[&str]) -> Vec<u8> {
    let mut parts = String::new();
    use base64::Engine;
    for file in files {
        let bytes = std::fs::read(format!("{CORPUS}/{file}")).unwrap();
        let name = file.rsplit('/').next().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        parts.push_str(&format!(
            "--XYZ\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            lines.join("\r\n")
        ));
    }
    format!(
        "From: Alice <alice@example.com>\r\nTo: 0142000000@fax.localhost\r\nSubject: corpus\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n{parts}--XYZ--\r\n"
    )
    .into_bytes()
}

/// Faxes `files` over the loopback line and checks what arrived.
fn loopback_fax(t38: &str, files: &[&str], transport: &str) {
    let hub = loopback_hub(t38);
    let reply = hub.smtp().send_mail(
        "alice@example.com",
        &["0142000000@fax.localhost"],
        &corpus_mail(files),
    );
    let id = queued_id(&reply);
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "done", "{job:#}\n{}", hub.log());
    let pages = job["pages"].as_u64().unwrap();
    assert!(pages >= files.len() as u64);
    assert_eq!(r["pages_sent"], pages, "every page confirmed");
    let via = if transport == "t38" { "T.38" } else { "G.711" };
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("over {via}")),
        "{r:#}"
    );
    let inbox = hub.cli(&["inbox", "--json"]);
    assert!(inbox.status.success());
    let received: Value = serde_json::from_slice(&inbox.stdout).unwrap();
    let received = received.as_array().unwrap();
    assert_eq!(received.len(), 1, "{received:#?}");
    let fax = &received[0];
    assert_eq!(fax["complete"], true, "{fax:#}");
    assert_eq!(fax["pages"], pages);
    assert_eq!(fax["transport"], transport);
    assert_eq!(fax["did"], "0142000000");
    assert_eq!(fax["remote_ident"], "FAXHUB E2E");
    let got: PathBuf = hub
        .data_dir()
        .join("inbox")
        .join(fax["tiff"].as_str().unwrap());
    let sent = hub.data_dir().join(format!("spool/pages/{id}.tif"));
    assert_eq!(
        pixels(&got),
        pixels(&sent),
        "the received pages are the pages sent"
    );
}

#[test]
fn corpus_documents_over_t38_on_the_loopback_line() {
    loopback_fax(
        "ours",
        &["pdf/pypdf/crazyones.pdf", "office/calamine/errors.xlsx"],
        "t38",
    );
}

/// The calling side refuses the answering side's T.38 request (`t38 = "off"`): the audio fax
/// goes on undisturbed.
#[test]
fn a_corpus_document_over_g711_on_the_loopback_line() {
    loopback_fax("off", &["pdf/pypdf/SF424_page2.pdf"], "g711");
}

/// A caller that only plays CNG and waits for the answering side to switch to T.38 (as a PBX
/// fax application behind a T.38 gateway does): faxhub's inbound side asks, by default.
#[test]
fn a_caller_that_waits_gets_t38_from_faxhubs_answering_side() {
    loopback_fax("theirs", &["pdf/pypdf/crazyones.pdf"], "t38");
}

/// SIPp playing the far end of a `sip` line.
struct Sipp {
    child: Child,
    port: u16,
}

impl Sipp {
    fn start(scenario: &str, calls: u32) -> Sipp {
        Sipp::start_over(scenario, calls, "u1")
    }

    /// SIPp on `transport`: "u1" (UDP) or "t1" (TCP, one connection).
    fn start_over(scenario: &str, calls: u32, transport: &str) -> Sipp {
        Sipp::spawn(scenario, calls, transport, None)
    }

    /// SIPp calling `target` with `scenario`.
    fn call(scenario: &str, target: &str) -> Sipp {
        Sipp::spawn(scenario, 1, "u1", Some(target))
    }

    /// A port picked free can be taken before SIPp binds it (by a UDP socket of a test running
    /// beside, which a TCP probe does not see): SIPp is started again on other ports then.
    fn spawn(scenario: &str, calls: u32, transport: &str, target: Option<&str>) -> Sipp {
        let mut why = String::new();
        for _ in 0..5 {
            match Sipp::try_spawn(scenario, calls, transport, target) {
                Ok(sipp) => return sipp,
                Err(e) if e.contains("Address already in use") => why = e,
                Err(e) => panic!("SIPp did not start: {e}"),
            }
        }
        panic!("SIPp did not start: {why}");
    }

    fn try_spawn(
        scenario: &str,
        calls: u32,
        transport: &str,
        target: Option<&str>,
    ) -> Result<Sipp, String> {
        let port = free_port();
        let child = Command::new("sipp")
            .args(target)
            .args(["-t", transport])
            .arg("-sf")
            .arg(format!(
                "{}/tests/sipp/{scenario}.xml",
                env!("CARGO_MANIFEST_DIR")
            ))
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .args(["-m", &calls.to_string(), "-nostdin"])
            // ports of its own: SIPp instances run side by side (control 8888, media 6000)
            .args([
                "-cp",
                &free_port().to_string(),
                "-mp",
                &free_port().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sipp (Debian's sip-tester) must be installed");
        std::thread::sleep(Duration::from_millis(300));
        let mut sipp = Sipp { child, port };
        if sipp.child.try_wait().unwrap().is_some() {
            let mut why = String::new();
            std::io::Read::read_to_string(sipp.child.stderr.as_mut().unwrap(), &mut why).unwrap();
            return Err(why);
        }
        Ok(sipp)
    }
}

impl Sipp {
    /// Whether SIPp ended with every call of its scenario successful, within `timeout`.
    fn succeeded(&mut self, timeout: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A hub whose only line is a trunk to `sipp` (no OPTIONS keep-alive: SIPp's scenarios take
/// INVITEs only).
fn sip_line_hub(sipp: &Sipp, fax: &str) -> Faxhub {
    sip_trunk_hub(sipp, "ring_timeout = \"20s\"", fax)
}

fn sip_trunk_hub(sipp: &Sipp, trunk: &str, fax: &str) -> Faxhub {
    Faxhub::start(
        "",
        &format!(
            "{}[sip]\nlisten = \"127.0.0.1:0\"\n\
             [[lines]]\nname = \"trunk\"\nkind = \"sip\"\n\
             [lines.sip]\nproxy = \"127.0.0.1:{}\"\nkeepalive = \"0s\"\n{trunk}\n\
             [lines.fax]\n{fax}\n",
            retry_and_poll(),
            sipp.port
        ),
    )
}

fn send_text(hub: &Faxhub) -> String {
    queued_id(&hub.smtp().send_mail(
        "alice@example.com",
        &["0169293999@fax.localhost"],
        &text_message("to sipp", "one page"),
    ))
}

#[test]
fn busy_is_deferred_with_4_4_1_and_dialled_again() {
    let sipp = Sipp::start("busy", 2);
    let hub = sip_line_hub(&sipp, "");
    let id = send_text(&hub);
    let deferred = hub.wait_job(&id, WAIT, |j| j["recipients"][0]["status"] == "deferred");
    let r = &deferred["recipients"][0];
    assert_eq!(r["status_code"], "4.4.1", "{r:#}");
    assert!(r["reason"].as_str().unwrap().contains("busy"), "{r:#}");
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["attempts"], 2, "dialled again: {job:#}");
    assert_eq!(r["status"], "failed", "max_dials = 2");
    assert_eq!(r["attempt_log"][1]["status_code"], "4.4.1");
    assert_eq!(r["pages_sent"], 0);
    // following a job that did not go through: its end, and exit status 1
    let watch = hub.cli(&["queue", "watch", &id]);
    let said = String::from_utf8_lossy(&watch.stdout);
    assert_eq!(watch.status.code(), Some(1), "{said}");
    assert!(said.contains("+33169293999: failed: 4.4.1"), "{said}");
}

#[test]
fn a_call_that_rings_too_long_is_cancelled_and_retried_as_no_answer() {
    let mut sipp = Sipp::start("ringing", 1);
    let hub = sip_trunk_hub(&sipp, "ring_timeout = \"2s\"", "");
    let id = send_text(&hub);
    let job = hub.wait_job(&id, WAIT, |j| j["recipients"][0]["status"] == "deferred");
    let r = &job["recipients"][0];
    assert_eq!(r["status_code"], "4.4.1", "{r:#}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("no answer (SIP 487)"),
        "{r:#}"
    );
    assert!(
        sipp.succeeded(Duration::from_secs(10)),
        "SIPp saw no proper CANCEL\n{}",
        hub.log()
    );
}

#[test]
fn a_trunk_over_tcp() {
    // SIPp listens on TCP only: the 486 can only come back over TCP
    let sipp = Sipp::start_over("busy", 1, "t1");
    let hub = sip_trunk_hub(&sipp, "transport = \"tcp\"", "");
    let id = send_text(&hub);
    let job = hub.wait_job(&id, WAIT, |j| j["recipients"][0]["status"] == "deferred");
    assert_eq!(job["recipients"][0]["status_code"], "4.4.1", "{job:#}");
    assert!(
        job["recipients"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("SIP 486")
    );
}

/// A PBX that refuses a T.38-only INVITE with 200 and the T.38 stream at port 0: faxhub offers
/// audio in a re-INVITE (SIPp's scenario fails without it), and when that is refused too, the
/// reason says what each answer was, and no SIP 488 that never came.
#[test]
fn a_t38_refusal_at_port_0_is_followed_by_an_audio_offer() {
    let mut sipp = Sipp::start("t38-port-zero", 1);
    let hub = sip_line_hub(&sipp, "t38_only = true");
    let id = send_text(&hub);
    let job = hub.wait_finished(&id, WAIT);
    assert!(
        sipp.succeeded(Duration::from_secs(20)),
        "SIPp saw no audio offer after its refusal\n{}",
        hub.log()
    );
    let r = &job["recipients"][0];
    assert_eq!(r["status_code"], "4.4.0", "{r:#}");
    let reason = r["reason"].as_str().unwrap();
    for said in ["T.38 stream refused (port 0)", "refused with SIP 415"] {
        assert!(reason.contains(said), "{said:?} in {reason:?}");
    }
    assert!(!reason.contains("488"), "{reason}");
}

#[test]
fn a_number_that_does_not_exist_fails_with_5_1_1() {
    let sipp = Sipp::start("not-found", 1);
    let hub = sip_line_hub(&sipp, "");
    let id = send_text(&hub);
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "failed", "{job:#}");
    assert_eq!(r["attempts"], 1, "never retried");
    assert_eq!(r["status_code"], "5.1.1");
    let reason = r["reason"].as_str().unwrap();
    assert!(
        reason.contains("does not exist") && reason.contains("cause 1"),
        "{reason}"
    );
}

#[test]
fn a_telephone_that_never_sends_fax_tones_gives_4_4_2_after_the_t30_timer() {
    let sipp = Sipp::start("voice", 1);
    // SIPp's scenario does not take a re-INVITE: faxhub waits for the far end's
    let hub = sip_line_hub(&sipp, "t38 = \"theirs\"");
    let id = send_text(&hub);
    let job = hub.wait_finished(&id, WAIT);
    let r = &job["recipients"][0];
    assert_eq!(r["status"], "failed", "{job:#}");
    assert_eq!(r["status_code"], "4.4.2");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("answered, but not by a fax machine"),
        "{r:#}"
    );
    let log = &r["attempt_log"][0];
    let started =
        chrono::DateTime::parse_from_rfc3339(log["started_at"].as_str().unwrap()).unwrap();
    let ended = chrono::DateTime::parse_from_rfc3339(log["ended_at"].as_str().unwrap()).unwrap();
    let seconds = (ended - started).num_seconds();
    assert!(
        (55..=70).contains(&seconds),
        "spandsp's caller gives up after T0, 60 s: the call lasted {seconds} s"
    );
}

#[test]
fn a_trunk_registers_answering_the_digest_challenge() {
    let mut sipp = Sipp::start("register", 1);
    let hub = Faxhub::start(
        "",
        &format!(
            "[sip]\nlisten = \"127.0.0.1:0\"\n\
             [[lines]]\nname = \"trunk\"\nkind = \"sip\"\n\
             [lines.sip]\nproxy = \"127.0.0.1:{}\"\nusername = \"fax\"\npassword = \"secret\"\n\
             register = true\nkeepalive = \"0s\"\n",
            sipp.port
        ),
    );
    assert!(
        sipp.succeeded(Duration::from_secs(20)),
        "SIPp's registrar did not accept faxhub's REGISTER\n{}",
        hub.log()
    );
    let log = hub.log();
    assert!(
        log.contains("registered with the trunk") && log.contains("expires=60"),
        "{log}"
    );
    // the API and the metrics say so too
    let token = hub.api_token(&["--scope", "read"]);
    let (_, lines) = hub.http_json("/v1/lines", Some(&token));
    let trunk = &lines["lines"][0]["trunk"];
    assert_eq!(trunk["registered"], true, "{lines}");
    assert!(trunk["registered_until_ms"].as_i64().unwrap() > trunk["since_ms"].as_i64().unwrap());
    assert!(trunk.get("answering").is_none(), "no keep-alives: {lines}");
    let metrics = String::from_utf8(hub.http_get("/metrics", None).1).unwrap();
    assert!(
        metrics.contains("faxhub_trunk_up{line=\"trunk\"} 1"),
        "{metrics}"
    );
    hub.wait_ready();
}

#[test]
fn an_invite_challenge_is_answered_with_the_trunks_credentials() {
    let mut sipp = Sipp::start("invite-auth", 1);
    let hub = Faxhub::start(
        "",
        &format!(
            "{}[sip]\nlisten = \"127.0.0.1:0\"\n\
             [[lines]]\nname = \"trunk\"\nkind = \"sip\"\n\
             [lines.sip]\nproxy = \"127.0.0.1:{}\"\nusername = \"fax\"\npassword = \"secret\"\n\
             keepalive = \"0s\"\n",
            retry_and_poll(),
            sipp.port
        ),
    );
    let id = send_text(&hub);
    let job = hub.wait_job(&id, WAIT, |j| j["recipients"][0]["status"] == "deferred");
    assert_eq!(
        job["recipients"][0]["status_code"], "4.4.1",
        "busy once past the challenge: {job:#}"
    );
    assert!(
        sipp.succeeded(Duration::from_secs(20)),
        "SIPp's proxy refused faxhub's digest answer\n{}",
        hub.log()
    );
}

#[test]
fn send_wait_follows_a_fax_as_it_happens() {
    let hub = loopback_hub("ours");
    let out = std::process::Command::new(BIN)
        .args([
            "send",
            "--wait",
            "--to",
            "0142000000",
            "--from",
            "alice@example.com",
        ])
        .arg(format!("{CORPUS}/pdf/pypdf/crazyones.pdf"))
        .arg("-c")
        .arg(&hub.config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // piped: one line a step, in the order they happened
    // (converting may take less than one look at the store: not asked for)
    let steps = [
        "1 page(s)",
        "+33142000000: dialling (attempt 1, line loopback)",
        "+33142000000: connected over T.38",
        "+33142000000: sending at 14400 bit/s",
        "+33142000000: page 1 of 1 confirmed",
        "+33142000000: done: 2.0.0",
    ];
    let mut at = 0;
    for step in steps {
        let found = said[at..]
            .find(step)
            .unwrap_or_else(|| panic!("{step:?} missing after byte {at}:\n{said}"));
        at += found + step.len();
    }
    assert!(!said.contains('\r'), "no progress bar when piped");
}

#[test]
fn an_invite_without_an_offer_gets_ours_and_the_ack_brings_the_answer() {
    let hub = Faxhub::start("", "[sip]\nlisten = \"127.0.0.1:0\"\n");
    let sip = hub.sip_port();
    let mut sipp = Sipp::call("delayed-offer", &format!("127.0.0.1:{sip}"));
    assert!(
        sipp.succeeded(Duration::from_secs(20)),
        "SIPp's delayed-offer call did not go as expected\n{}",
        hub.log()
    );
    // the call was set up on SIPp's answer (G.711), then hung up before any fax: recorded so
    let mut received = Vec::new();
    for _ in 0..100 {
        let out = hub.cli(&["inbox", "--json"]);
        received = serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap();
        if !received.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(received.len(), 1, "{}", hub.log());
    let r = &received[0];
    assert_eq!(
        (r["did"].as_str(), r["caller"].as_str()),
        (Some("0142000000"), Some("0169293999"))
    );
    assert_eq!(r["transport"], "g711");
    assert_eq!(
        (r["pages"].as_u64(), r["complete"].as_bool()),
        (Some(0), Some(false)),
        "{r:#}"
    );
}

#[test]
fn the_page_header_line_is_printed_on_each_page_sent() {
    let hub = loopback_hub_with("header = \"ACME Corp +33 1 69 29 39 99\"");
    let id = queued_id(&hub.smtp().send_mail(
        "alice@example.com",
        &["0142000000@fax.localhost"],
        &corpus_mail(&["pdf/pypdf/crazyones.pdf"]),
    ));
    let job = hub.wait_finished(&id, WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
    let inbox: Vec<Value> = serde_json::from_slice(&hub.cli(&["inbox", "--json"]).stdout).unwrap();
    let text = received_text(&hub, &inbox[0]);
    let top = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        top.contains("ACME Corp") && top.contains("+33 1 69 29 39 99"),
        "the first line read is the header (date, name and number): {top:?}\n{text}"
    );
    assert!(text.contains("Crazy Ones"), "and the page below it: {text}");
}

/// `[[senders]]`: the sales domain's faxes go out with its own fax ident and header line, seen
/// by the receiving side (the loopback inbox, Tesseract on the page as it arrived); another
/// sender's go out with the line's (the control).
#[test]
fn a_senders_own_ident_and_header_line_reach_the_far_end() {
    let hub = loopback_hub_with(
        "header = \"ACME Corp\"\n\
         [[senders]]\nsenders = [\"Sales@Example.com\"]\nident = \"+33 1 69 29 39 11\"\n\
         header = \"ACME EXPORT SALES\"\n",
    );
    let mut received = Vec::new();
    for sender in ["sales@example.com", "alice@example.com"] {
        let id = queued_id(&hub.smtp().send_mail(
            sender,
            &["0142000000@fax.localhost"],
            &text_message("Order", "Please confirm."),
        ));
        let job = hub.wait_finished(&id, WAIT);
        assert_eq!(job["recipients"][0]["status"], "done", "{job:#}");
        let inbox: Vec<Value> =
            serde_json::from_slice(&hub.cli(&["inbox", "--json"]).stdout).unwrap();
        assert_eq!(inbox.len(), received.len() + 1, "{inbox:#?}");
        let fax = inbox
            .into_iter()
            .find(|f| {
                !received
                    .iter()
                    .any(|(r, _): &(Value, String)| r["id"] == f["id"])
            })
            .unwrap();
        let text = received_text(&hub, &fax);
        let top = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        received.push((fax, top));
    }
    let (sales, site) = (&received[0], &received[1]);
    assert_eq!(
        sales.0["remote_ident"], "+33 1 69 29 39 11",
        "{:#}",
        sales.0
    );
    assert!(
        sales.1.contains("ACME EXPORT SALES"),
        "the sales header: {:?}",
        sales.1
    );
    assert_eq!(site.0["remote_ident"], "FAXHUB E2E", "{:#}", site.0);
    assert!(
        site.1.contains("ACME Corp") && !site.1.contains("EXPORT"),
        "the line's header: {:?}",
        site.1
    );
}

/// Destination memory over real SIP: the answering side refuses T.38 and receives at 9600 bit/s
/// at most; the first fax asks for T.38 (refused), goes over G.711 at 9600 and is remembered
/// so; the second starts there (G.711 from the start: no second T.38 request).
#[test]
fn a_far_end_that_refuses_t38_is_called_over_g711_next_time() {
    let hub = loopback_hub_with("[sip.inbound.fax]\nt38 = \"off\"\nmax_speed = 9600\n");
    let refusals = |hub: &Faxhub| {
        hub.log()
            .matches("T.38 refused: the fax goes on as G.711")
            .count()
    };
    let mut calls = Vec::new();
    for _ in 0..2 {
        let id = queued_id(&hub.smtp().send_mail(
            "alice@example.com",
            &["0142000000@fax.localhost"],
            &text_message("memory", "one page"),
        ));
        let job = hub.wait_finished(&id, WAIT);
        let r = &job["recipients"][0];
        assert_eq!(r["status"], "done", "{job:#}\n{}", hub.log());
        calls.push(r["attempt_log"][0]["call"].clone());
        if calls.len() == 1 {
            assert_eq!(
                refusals(&hub),
                1,
                "the control: T.38 asked for and refused once"
            );
            let out = hub.cli(&["destinations", "--json"]);
            let known: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(known[0]["number"], "+33142000000", "{known:#}");
            assert_eq!(
                known[0]["profile"],
                serde_json::json!({"t38": false, "max_speed": 9600}),
                "{known:#}"
            );
        }
    }
    for call in &calls {
        assert_eq!(
            (call["transport"].as_str(), call["bit_rate"].as_u64()),
            (Some("g711"), Some(9600)),
            "{call:#}"
        );
    }
    assert_eq!(
        refusals(&hub),
        1,
        "the second fax never asked for T.38:\n{}",
        hub.log()
    );
}

/// A PBX that sends a fax over T.38 and takes the call back to audio before it hangs up (as
/// Asterisk does once its fax is done), played by a far end the test scripts: the re-INVITE
/// gets 200 with an audio answer (not 491), and the fax is in the inbox, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pbx_back_to_audio_after_its_t38_fax_gets_200() {
    use faxhub_converters::tiff_f::{self, Bitmap, FaxPage};
    use faxhub_lines::sip::far::{Far, sdp_of};
    use faxhub_lines::sip::media::SessionEnd;

    let hub = Faxhub::start("", "[sip]\nlisten = \"127.0.0.1:0\"\n");
    let faxhub = std::net::SocketAddr::from(([127, 0, 0, 1], hub.sip_port()));
    let sent = hub.dir.path().join("page.tif");
    let page = FaxPage::from_bitmap(
        &Bitmap {
            width: 1728,
            length: 300,
            pixels: (0..1728 * 300).map(|i| (i / 1728 / 10) % 2 == 0).collect(),
        },
        196,
    )
    .unwrap();
    std::fs::write(&sent, tiff_f::write(&[page])).unwrap();
    let fax = Far::new()
        .await
        .fax_then_back_to_audio(faxhub, "0142000000", &sent, "PBX")
        .await;
    assert_eq!(
        fax.end,
        SessionEnd::Finished,
        "{:?}\n{}",
        fax.progress,
        hub.log()
    );
    let back = &fax.back;
    assert_eq!(
        back.code(),
        Some(200),
        "{}",
        String::from_utf8_lossy(&back.render())
    );
    assert!(sdp_of(back).audio().is_some_and(|m| m.port != 0));

    let mut received = Vec::new();
    for _ in 0..100 {
        received =
            serde_json::from_slice::<Vec<Value>>(&hub.cli(&["inbox", "--json"]).stdout).unwrap();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), 1, "{}", hub.log());
    let fax = &received[0];
    assert_eq!(
        (
            fax["complete"].as_bool(),
            fax["transport"].as_str(),
            fax["pages"].as_u64()
        ),
        (Some(true), Some("t38"), Some(1)),
        "{fax:#}"
    );
    assert_eq!(fax["remote_ident"], "PBX");
}
