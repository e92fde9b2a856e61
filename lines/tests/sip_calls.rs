//! Calls through the SIP user agent on 127.0.0.1, in real time: the agent calls its own
//! listener (as the `loopback` line does), its inbound side answers and files the fax in the
//! inbox. Each way of setting up the media is tried: T.38 by our re-INVITE, by the far end's,
//! in the first INVITE, and G.711 when T.38 is off; the page must arrive pixel for pixel and be
//! counted as confirmed, with SIP over UDP and over TCP. Numbers the inbound side does not
//! answer get 404, calls beyond its channels 486. tshark, capturing on
//! the loopback interface, is the independent judge of the wire format: it must decode the SIP,
//! SDP, T.38 (UDPTL) and RTP of a T.38 call and a G.711 call with no malformed packet and no
//! warning, and find them marked with the configured DSCP (CS3 for SIP, EF for media).

mod common;

use faxhub_lines::inbox::Inbox;
use faxhub_lines::sip::agent::{Agent, CallReport, Dial, Transport};
use faxhub_lines::sip::config::{FaxOptions, InboundConfig, SipConfig, T38Mode};
use faxhub_lines::sip::outcome::CallEnd;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

struct Setup {
    dir: tempfile::TempDir,
    agent: Arc<Agent>,
    inbox: Inbox,
}

async fn agent(inbound: FaxOptions, numbers: &[&str]) -> Setup {
    agent_with(inbound, numbers, SipConfig::default().media_ports).await
}

async fn agent_with(inbound: FaxOptions, numbers: &[&str], media_ports: String) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::new(dir.path().join("inbox"));
    let mut config = SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        media_ports,
        ..SipConfig::default()
    };
    config.inbound.fax = inbound;
    config.inbound.numbers = numbers.iter().map(|n| n.to_string()).collect();
    let agent = Agent::start(config, inbox.clone()).await.unwrap();
    // the page every call sends, written once (calls may run side by side)
    common::one_page(&dir.path().join("sent.tif"), 200);
    Setup { dir, agent, inbox }
}

async fn call(setup: &Setup, number: &str, fax: FaxOptions) -> CallReport {
    call_over(setup, number, fax, Transport::Udp).await
}

async fn call_over(
    setup: &Setup,
    number: &str,
    fax: FaxOptions,
    transport: Transport,
) -> CallReport {
    let tiff = setup.dir.path().join("sent.tif");
    let dial = Dial {
        number: number.into(),
        proxy: setup.agent.local_addr(),
        transport,
        domain: "127.0.0.1".into(),
        from_user: "0169293999".into(),
        credentials: None,
        fax,
        tiff,
        pages: 1,
        ring_timeout: Duration::from_secs(10),
        max_duration: Duration::from_secs(120),
        progress: None,
    };
    setup.agent.call(&dial).await
}

/// The call sent the page, and the inbox holds it, pixel for pixel.
async fn assert_delivered(setup: &Setup, report: &CallReport, t38: bool) {
    assert_eq!(
        report.end,
        CallEnd::Fax {
            t30: 0,
            confirmed: 1,
            total: 1
        },
        "{report:?}"
    );
    assert_eq!(report.t38, t38, "{report:?}");
    assert_eq!(report.progress.remote_ident.as_deref(), Some("INBOUND"));
    // the callee files the fax when its side of the call is over
    let mut received = Vec::new();
    for _ in 0..100 {
        received = setup.inbox.list().unwrap();
        if !received.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(received.len(), 1, "one fax in the inbox");
    let r = &received[0];
    assert!(r.complete, "{r:?}");
    assert_eq!((r.pages, r.did.as_str()), (1, "0142000000"));
    assert_eq!(r.caller.as_deref(), Some("0169293999"));
    assert_eq!(r.remote_ident.as_deref(), Some("OUTBOUND"));
    assert_eq!(r.transport, if t38 { "t38" } else { "g711" });
    let got = setup.inbox.dir().join(r.tiff.as_ref().unwrap());
    assert_eq!(
        common::pixels(&got),
        common::pixels(&setup.dir.path().join("sent.tif"))
    );
}

fn options(t38: T38Mode, ident: &str) -> FaxOptions {
    FaxOptions {
        t38,
        ident: ident.into(),
        ..FaxOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t38_by_our_reinvite() {
    let setup = agent(options(T38Mode::Theirs, "INBOUND"), &["*"]).await;
    let report = call(&setup, "0142000000", options(T38Mode::Ours, "OUTBOUND")).await;
    assert_delivered(&setup, &report, true).await;
}

/// A caller that only plays CNG and waits for the answering side to switch (a PBX fax
/// application behind a T.38 gateway): faxhub's inbound side asks by default. The control, where
/// the answering side waits too, stays on G.711.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_waits_gets_t38_because_the_answering_side_asks() {
    let inbound = FaxOptions {
        ident: "INBOUND".into(),
        ..InboundConfig::default().fax
    };
    let setup = agent(inbound, &["0142*"]).await;
    let report = call(&setup, "0142000000", options(T38Mode::Theirs, "OUTBOUND")).await;
    assert_delivered(&setup, &report, true).await;

    let control = agent(options(T38Mode::Theirs, "INBOUND"), &["0142*"]).await;
    let report = call(&control, "0142000000", options(T38Mode::Theirs, "OUTBOUND")).await;
    assert_delivered(&control, &report, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t38_in_the_first_invite() {
    let setup = agent(options(T38Mode::Theirs, "INBOUND"), &["0142000000"]).await;
    let fax = FaxOptions {
        t38_only: true,
        ..options(T38Mode::Ours, "OUTBOUND")
    };
    let report = call(&setup, "0142000000", fax).await;
    assert_delivered(&setup, &report, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_when_t38_is_off() {
    let setup = agent(options(T38Mode::Off, "INBOUND"), &["*"]).await;
    let report = call(&setup, "0142000000", options(T38Mode::Ours, "OUTBOUND")).await;
    // our re-INVITE was refused with 488: the fax went as audio
    assert_delivered(&setup, &report, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t38_with_sip_over_tcp() {
    let setup = agent(options(T38Mode::Theirs, "INBOUND"), &["*"]).await;
    let fax = options(T38Mode::Ours, "OUTBOUND");
    let report = call_over(&setup, "0142000000", fax, Transport::Tcp).await;
    assert_delivered(&setup, &report, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_number_not_answered_gets_404() {
    let setup = agent(options(T38Mode::Theirs, "INBOUND"), &["0142*"]).await;
    let report = call(&setup, "0999", options(T38Mode::Ours, "OUTBOUND")).await;
    assert_eq!(
        report.end,
        CallEnd::NotConnected {
            sip: 404,
            q850: None
        }
    );
    assert!(setup.inbox.list().unwrap().is_empty());
}

/// A capture that ends with the test, whatever happens.
struct Capture(std::process::Child);

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// tshark's count of the packets of `capture` matching `filter`, SIP decoded on `sip_port`.
fn tshark_count(capture: &Path, sip_port: u16, filter: &str) -> usize {
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(capture)
        .args(["-d", &format!("udp.port=={sip_port},sip"), "-Y", filter])
        .output()
        .expect("tshark must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_decodes_every_packet_of_a_t38_and_a_g711_call() {
    // a media range of its own, so that the capture holds this test's calls only
    let setup = agent_with(
        options(T38Mode::Theirs, "INBOUND"),
        &["*"],
        "47000-47200".into(),
    )
    .await;
    let sip_port = setup.agent.local_addr().port();
    let capture = setup.dir.path().join("calls.pcapng");
    let mut tshark = Capture(
        std::process::Command::new("tshark")
            .args(["-i", "lo", "-q", "-f"])
            .arg(format!("udp port {sip_port} or udp portrange 47000-47200"))
            .arg("-w")
            .arg(&capture)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tshark must be installed"),
    );
    // capturing once it says so
    let mut stderr = std::io::BufReader::new(tshark.0.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("Capturing on") {
        let mut line = String::new();
        let n = std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
        assert!(n > 0, "tshark cannot capture on lo: {said}");
        said.push_str(&line);
    }
    // dumpcap says so a moment before its filter is in place
    tokio::time::sleep(Duration::from_secs(1)).await;
    let t38 = options(T38Mode::Ours, "OUTBOUND");
    let g711 = options(T38Mode::Off, "OUTBOUND");
    let (a, b) = tokio::join!(
        call(&setup, "0142000001", t38),
        call(&setup, "0142000002", g711)
    );
    assert_eq!(
        a.end,
        CallEnd::Fax {
            t30: 0,
            confirmed: 1,
            total: 1
        },
        "{a:?}"
    );
    assert_eq!(
        b.end,
        CallEnd::Fax {
            t30: 0,
            confirmed: 1,
            total: 1
        },
        "{b:?}"
    );
    assert!(a.t38 && !b.t38);
    tokio::time::sleep(Duration::from_secs(5)).await; // the callee's BYE, if it sends it
    let _ = std::process::Command::new("kill")
        .arg("-INT")
        .arg(tshark.0.id().to_string())
        .status();
    tshark.0.wait().unwrap();
    let count = |filter| tshark_count(&capture, sip_port, filter);
    let (sip, sdp, t38, rtp) = (count("sip"), count("sdp"), count("t38"), count("rtp"));
    // two INVITE/200/ACK/BYE/200, and the re-INVITE, its 200 and ACK
    assert!(sip >= 13, "{sip} SIP messages");
    assert_eq!(
        count("sip.Method == \"INVITE\""),
        3,
        "two calls, one re-INVITE"
    );
    assert_eq!(count("sip.Method == \"BYE\""), 2);
    assert!(sdp >= 6, "{sdp} SDP bodies");
    assert!(t38 > 50, "{t38} T.38 packets");
    assert!(rtp > 500, "{rtp} RTP packets");
    assert_eq!(count("_ws.malformed"), 0, "malformed packets");
    // DSCP as configured (the defaults): CS3 for SIP, EF for media
    assert_eq!(count("sip && ip.dsfield.dscp != 24"), 0, "SIP marked CS3");
    assert_eq!(
        count("(t38 || rtp) && ip.dsfield.dscp != 46"),
        0,
        "media marked EF"
    );
    assert!(count("t38 && ip.dsfield.dscp == 46") > 50);
    assert_eq!(
        count("_ws.expert.severity >= 6291456"),
        0,
        "tshark warnings or errors"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_beyond_the_inbound_channels_gets_486() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = Inbox::new(dir.path().join("inbox"));
    let mut config = SipConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..SipConfig::default()
    };
    config.inbound.channels = 1;
    config.inbound.fax = options(T38Mode::Theirs, "INBOUND");
    let agent = Agent::start(config, inbox.clone()).await.unwrap();
    common::one_page(&dir.path().join("sent.tif"), 200);
    let setup = Setup { dir, agent, inbox };
    let (a, b) = tokio::join!(
        call(&setup, "0142000000", options(T38Mode::Ours, "OUTBOUND")),
        call(&setup, "0142000000", options(T38Mode::Ours, "OUTBOUND"))
    );
    let ends = [a.end.clone(), b.end.clone()];
    assert!(
        ends.contains(&CallEnd::NotConnected {
            sip: 486,
            q850: None
        }),
        "{ends:?}"
    );
    assert!(
        ends.contains(&CallEnd::Fax {
            t30: 0,
            confirmed: 1,
            total: 1
        }),
        "{ends:?}"
    );
}
