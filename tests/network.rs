//! End to end, what issue 14 asks of the media layer against the running binary: a third party
//! spraying the media ports during a call gets nothing and the fax completes (with NAT latching
//! turned on, the control, it does get the call's packets); an INVITE never acknowledged makes
//! faxhub stream nothing (with the ACK, the control, media flows).

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(180);

/// An even port range of 40 ports, somewhere no other test uses by default.
fn media_range() -> (u16, u16) {
    let first = 42_000 + 2 * (rand_u16() % 2_000);
    (first, first + 40)
}

fn rand_u16() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (t ^ std::process::id()) as u16
}

/// A hub on the loopback line (it calls its own SIP listener) with `t38` and `latching`.
fn hub(t38: &str, latching: bool, (first, last): (u16, u16)) -> Faxhub {
    Faxhub::start(
        "",
        &format!(
            "[retry]\nschedule = [\"1s\"]\nmax_dials = 1\nmax_tries = 1\ngive_up_after = \"1h\"\n\
             [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\nmedia_ports = \"{first}-{last}\"\n\
             media_latching = {latching}\n\
             [[lines]]\nname = \"loopback\"\nkind = \"loopback\"\nchannels = 2\n\
             [lines.fax]\nt38 = \"{t38}\"\n"
        ),
    )
}

/// Sprays every port of `range` from one socket until told to stop; counts what comes back.
struct Sprayer {
    stop: Arc<AtomicBool>,
    received: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sprayer {
    fn start((first, last): (u16, u16)) -> Sprayer {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicUsize::new(0));
        let (s, r) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            // an RTP-looking datagram, and a UDPTL-looking one
            let probes: [&[u8]; 2] = [
                &[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff],
                &[0, 0, 1, 0, 0, 0],
            ];
            while !s.load(Ordering::SeqCst) {
                for port in (first..=last).step_by(2) {
                    for probe in probes {
                        let _ = socket.send_to(probe, ("127.0.0.1", port));
                    }
                }
                while let Ok((n, _)) = socket.recv_from(&mut buf) {
                    if n > 0 {
                        r.fetch_add(1, Ordering::SeqCst);
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Sprayer {
            stop,
            received,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.received.load(Ordering::SeqCst)
    }
}

/// Faxes one page over the loopback line of `hub` while the media range is sprayed; returns
/// the job and what the sprayer received.
fn fax_while_sprayed(hub: &Faxhub, range: (u16, u16)) -> (serde_json::Value, usize) {
    let sprayer = Sprayer::start(range);
    let reply = hub.smtp().send_mail(
        "alice@example.com",
        &["0142000000@fax.localhost"],
        &text_message("Sprayed", "One page, while someone sprays the media ports."),
    );
    let job = hub.wait_finished(&queued_id(&reply), WAIT);
    (job, sprayer.finish())
}

#[test]
fn a_third_party_spraying_the_media_ports_gets_nothing_and_the_fax_completes() {
    for t38 in ["ours", "off"] {
        let range = media_range();
        let hub = hub(t38, false, range);
        let (job, received) = fax_while_sprayed(&hub, range);
        assert_eq!(job["recipients"][0]["status"], "done", "t38={t38}: {job:#}");
        assert_eq!(received, 0, "t38={t38}: the sprayer got the call's packets");
    }
}

#[test]
fn with_nat_latching_on_a_sprayer_from_the_same_address_gets_the_calls_packets() {
    // the control of the test above: latching to the first datagram's source is the hijack
    let range = media_range();
    let hub = hub("off", true, range);
    let (_, received) = fax_while_sprayed(&hub, range);
    assert!(received > 0, "the sprayer latched nothing: {}", hub.log());
}

/// An INVITE to `to` offering PCMU at `media`, from `socket`.
fn invite(socket: &UdpSocket, sip: u16, call_id: &str, media: u16) {
    let local = socket.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let message = format!(
        "INVITE sip:0142000000@127.0.0.1:{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=t{call_id}\r\n\
         To: <sip:0142000000@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    socket
        .send_to(message.as_bytes(), ("127.0.0.1", sip))
        .unwrap();
}

/// The 200 to our INVITE (its To header, with faxhub's tag), if it came before `deadline`.
fn await_ok(socket: &UdpSocket, deadline: Instant) -> Option<String> {
    let mut buf = [0u8; 4096];
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while Instant::now() < deadline {
        let Ok((n, _)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        if text.starts_with("SIP/2.0 200") {
            let to = text
                .lines()
                .find(|l| l.to_ascii_lowercase().starts_with("to:"))
                .unwrap()
                .to_string();
            return Some(to);
        }
    }
    None
}

/// The ACK for the 200 (whose To header is `to`) to the INVITE of `call_id` sent from `signal`
/// (its From tag `t<call_id>`, as `invite` writes it).
fn ack(signal: &UdpSocket, sip: u16, call_id: &str, to: &str) {
    let local = signal.local_addr().unwrap();
    let ack = format!(
        "ACK sip:0142000000@127.0.0.1:{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKack{call_id}\r\nMax-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.1>;tag=t{call_id}\r\n{to}\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    );
    signal.send_to(ack.as_bytes(), ("127.0.0.1", sip)).unwrap();
}

/// A caller's signalling and media sockets, its INVITE of `call_id` sent (audio to the media
/// socket) and faxhub's 200 read: the To header to acknowledge it with.
fn invited(hub: &Faxhub, call_id: &str) -> (UdpSocket, UdpSocket, String) {
    let (signal, media) = (
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    invite(
        &signal,
        hub.sip_port(),
        call_id,
        media.local_addr().unwrap().port(),
    );
    let to = await_ok(&signal, Instant::now() + Duration::from_secs(20))
        .unwrap_or_else(|| panic!("no 200: {}", hub.log()));
    (signal, media, to)
}

/// Datagrams `media` receives within `window`.
fn media_received(media: &UdpSocket, window: Duration) -> usize {
    media
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 2048];
    let until = Instant::now() + window;
    let mut n = 0;
    while Instant::now() < until {
        if media.recv_from(&mut buf).is_ok() {
            n += 1;
        }
    }
    n
}

#[test]
fn an_invite_never_acknowledged_gets_no_media() {
    let hub = hub("off", false, media_range());
    // no ACK: nothing streamed to the address the INVITE named
    let (_signal, media, _) = invited(&hub, "noack1");
    assert_eq!(media_received(&media, Duration::from_secs(4)), 0);

    // the control: the same INVITE acknowledged, and media flows
    let (signal, media, to) = invited(&hub, "acked1");
    ack(&signal, hub.sip_port(), "acked1", &to);
    assert!(
        media_received(&media, Duration::from_secs(4)) > 10,
        "{}",
        hub.log()
    );
}

/// The daemon's end of TCP connections on `port` (ESTABLISHED or CLOSE_WAIT: those that still
/// hold a descriptor), from /proc/net/tcp.
fn connections_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.len() > 3 && fields[1].ends_with(&local) && matches!(fields[3], "01" | "08")
        })
        .count()
}

/// The sockets the daemon holds open (its pipes and files come and go with the LibreOffice
/// farm's start).
fn descriptors(hub: &Faxhub) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", hub.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

#[test]
fn sip_tcp_connections_leave_no_descriptor_behind_and_are_capped_per_address() {
    let hub = Faxhub::start("", "[sip]\nlisten = \"127.0.0.1:0\"\n");
    let sip = hub.sip_port();
    let before = descriptors(&hub);
    let options = format!(
        "OPTIONS sip:faxhub@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKo\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:faxhub@127.0.0.1>\r\n\
         Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    for i in 0..2000 {
        let mut c = std::net::TcpStream::connect(("127.0.0.1", sip)).unwrap();
        // some say something first, some something unreadable, the rest nothing
        match i % 3 {
            0 => {
                let _ = std::io::Write::write_all(&mut c, options.as_bytes());
            }
            1 => {
                let _ = std::io::Write::write_all(&mut c, b"GARBAGE\r\n\r\n");
            }
            _ => {}
        }
    }
    // every connection closed (the daemon's sockets alone could miss some: sockets of its
    // start-up that closed meanwhile made up for them)
    let start = Instant::now();
    while descriptors(&hub) > before || connections_on(sip) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} descriptors, {before} before; {} SIP connections",
            descriptors(&hub),
            connections_on(sip)
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // one address holding connections open gets 32; the rest are closed at once
    let held: Vec<std::net::TcpStream> = (0..100)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", sip)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let closed = held
        .iter()
        .filter(|c| {
            c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let mut buf = [0u8; 1];
            // closed by faxhub: end of stream (an open one times out)
            matches!(std::io::Read::read(&mut &**c, &mut buf), Ok(0))
        })
        .count();
    // (a connection of the loop above may still be on its way out)
    assert!(
        (68..=70).contains(&closed),
        "{closed} closed: MAX_PER_ADDRESS is 32"
    );
    // SMTP answers meanwhile
    let mut s = hub.smtp();
    assert_eq!(s.greeting.0, 220);
    assert_eq!(s.cmd("QUIT").0, 221);
    // and the log has said so a bounded number of times
    let lines = hub
        .log()
        .lines()
        .filter(|l| l.contains("SIP over TCP"))
        .count();
    assert!(lines <= 5, "{lines} log lines");
}

/// The daemon's descriptors of any kind.
fn all_descriptors(hub: &Faxhub) -> u64 {
    std::fs::read_dir(format!("/proc/{}/fd", hub.pid()))
        .unwrap()
        .count() as u64
}

/// Out of descriptors (its limit lowered to what it holds plus a few, then SIP/TCP connections
/// from several addresses held open): SMTP cannot accept (the control: no greeting while they are
/// held), answers again once they close, and the failing accept loops wrote a bounded number of
/// log lines (before, one every 50 and 100 ms).
#[test]
fn out_of_descriptors_smtp_answers_again_once_connections_close_and_the_log_stays_short() {
    let hub = Faxhub::start("", "[sip]\nlisten = \"127.0.0.1:0\"\n");
    let sip = hub.sip_port();
    // the LibreOffice farm's start opens and closes pipes: counted after it
    let start = Instant::now();
    while !hub.log().contains("LibreOffice farm") {
        assert!(
            start.elapsed() < WAIT,
            "the LibreOffice farm never started:\n{}",
            hub.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let limit = all_descriptors(&hub) + 40;
    let lowered = libc::rlimit {
        rlim_cur: limit,
        rlim_max: limit,
    };
    let pid = hub.pid() as libc::pid_t;
    // SAFETY: prlimit reads `lowered` and writes nothing (old limits not asked for)
    assert_eq!(
        unsafe { libc::prlimit(pid, libc::RLIMIT_NOFILE, &lowered, std::ptr::null_mut()) },
        0,
        "prlimit: {}",
        std::io::Error::last_os_error()
    );
    let lines_before = hub.log().lines().count();
    let held: Vec<std::net::TcpStream> = (2..6)
        .flat_map(|host| {
            (0..30).map(move |_| {
                let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                    .unwrap();
                let from: SocketAddr = format!("127.0.0.{host}:0").parse().unwrap();
                s.bind(&from.into()).unwrap();
                let to: SocketAddr = format!("127.0.0.1:{sip}").parse().unwrap();
                s.connect(&to.into()).unwrap();
                std::net::TcpStream::from(s)
            })
        })
        .collect();
    let start = Instant::now();
    while all_descriptors(&hub) < limit {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the daemon never reached its descriptor limit ({limit})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // the control: at the limit, an SMTP client gets no greeting
    let mut smtp = std::net::TcpStream::connect(("127.0.0.1", hub.port)).unwrap();
    smtp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut greeting = [0u8; 64];
    let early = std::io::Read::read(&mut smtp, &mut greeting);
    assert!(
        early.is_err(),
        "greeted although out of descriptors: {:?} {:?}; {} descriptors, limit {limit}",
        early,
        String::from_utf8_lossy(&greeting),
        all_descriptors(&hub)
    );
    std::thread::sleep(Duration::from_secs(2));
    drop(held);
    // once the SIP connections close, the waiting client is greeted
    smtp.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let n = std::io::Read::read(&mut smtp, &mut greeting)
        .expect("no greeting once descriptors were free again");
    assert!(
        greeting[..n].starts_with(b"220 "),
        "{:?}",
        String::from_utf8_lossy(&greeting[..n])
    );
    let log = hub.log();
    let accept_lines: Vec<&str> = log
        .lines()
        .skip(lines_before)
        .filter(|l| l.contains("accepting a connection failed"))
        .collect();
    assert!(
        (1..=2).contains(&accept_lines.len()),
        "{} lines about failing accepts: {accept_lines:?}",
        accept_lines.len()
    );
    let lines = log.lines().count() - lines_before;
    assert!(
        lines <= 20,
        "{lines} log lines while out of descriptors:\n{log}"
    );
}

/// A SIP request to `sip` from a socket bound to `from` (any 127/8 address is this machine).
fn sip_socket(from: &str) -> UdpSocket {
    let s = UdpSocket::bind(format!("{from}:0")).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

fn options(socket: &UdpSocket, sip: u16, n: usize) {
    let local = socket.local_addr().unwrap();
    let m = format!(
        "OPTIONS sip:faxhub@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKopt{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{local}>;tag=p{n}\r\nTo: <sip:faxhub@127.0.0.1>\r\n\
         Call-ID: opt{n}-{}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        local.port()
    );
    socket.send_to(m.as_bytes(), ("127.0.0.1", sip)).unwrap();
}

/// The status lines and challenge headers `socket` receives until it has been quiet a while.
fn answers(socket: &UdpSocket) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let first = text.lines().next().unwrap_or("").to_string();
        let challenged = text
            .lines()
            .any(|l| l.to_ascii_lowercase().contains("authenticate:"));
        out.push(if challenged {
            format!("{first} +challenge")
        } else {
            first
        });
    }
    out
}

#[test]
fn sip_from_an_address_not_trusted_gets_403_without_a_challenge_and_within_a_budget() {
    let hub = Faxhub::start(
        "",
        "[sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\ntrusted = [\"127.0.0.2/32\"]\n",
    );
    let sip = hub.sip_port();
    // the control: the trusted address is answered
    let pbx = sip_socket("127.0.0.2");
    options(&pbx, sip, 0);
    assert_eq!(answers(&pbx), ["SIP/2.0 200 OK"]);
    // anyone else: 403, never a challenge; an INVITE too, and nothing is answered
    let stranger = sip_socket("127.0.0.3");
    options(&stranger, sip, 1);
    assert_eq!(answers(&stranger), ["SIP/2.0 403 Forbidden"]);
    let media = UdpSocket::bind("127.0.0.3:0").unwrap();
    invite(
        &stranger,
        sip,
        "stranger1",
        media.local_addr().unwrap().port(),
    );
    assert_eq!(answers(&stranger), ["SIP/2.0 403 Forbidden"]);
    assert!(hub.log().contains("not in [sip] trusted"), "{}", hub.log());
    // a burst gets at most the budget's answers (no reflection)
    for n in 0..200 {
        options(&stranger, sip, 100 + n);
    }
    let burst = answers(&stranger);
    assert!(
        burst.len() <= 20 && burst.iter().all(|a| a == "SIP/2.0 403 Forbidden"),
        "{} answers: {burst:?}",
        burst.len()
    );
}

/// The next SIP request `socket` receives within `wait` (its text).
fn next_request(socket: &UdpSocket, wait: Duration) -> Option<(String, SocketAddr)> {
    let mut buf = [0u8; 8192];
    let until = Instant::now() + wait;
    while Instant::now() < until {
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if !text.starts_with("SIP/2.0") {
                return Some((text, from));
            }
        }
    }
    None
}

/// A response to `request` with `status`, its headers copied as a UAS would (and a To tag).
fn response_to(request: &str, status: &str, extra: &str) -> String {
    let header = |name: &str| {
        request
            .lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .unwrap_or_default()
            .to_string()
    };
    format!(
        "SIP/2.0 {status}\r\n{}\r\n{}\r\n{};tag=proxy\r\n{}\r\n{}\r\n{extra}Content-Length: 0\r\n\r\n",
        header("Via"),
        header("From"),
        header("To"),
        header("Call-ID"),
        header("CSeq")
    )
}

#[test]
fn digest_credentials_go_only_to_the_configured_proxy() {
    let proxy = sip_socket("127.0.0.1");
    let hub = Faxhub::start(
        "",
        &format!(
            "[retry]\nschedule = [\"1h\"]\nmax_dials = 1\nmax_tries = 1\ngive_up_after = \"2h\"\n\
             [sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n\
             [[lines]]\nname = \"trunk\"\nkind = \"sip\"\n\
             [lines.sip]\nproxy = \"{}\"\nusername = \"fax\"\npassword = \"secret\"\nkeepalive = \"0s\"\n",
            proxy.local_addr().unwrap()
        ),
    );
    let challenge = "Proxy-Authenticate: Digest realm=\"x\", nonce=\"n1\", algorithm=MD5\r\n";
    let authorized = |text: &str| text.to_ascii_lowercase().contains("proxy-authorization:");
    let mut smtp = hub.smtp();
    queued_id(&smtp.send_mail(
        "alice@example.com",
        &["0169293999@fax.localhost"],
        &text_message("Trunk", "One page."),
    ));
    let (invite, faxhub) = next_request(&proxy, Duration::from_secs(60)).expect("an INVITE");
    assert!(invite.starts_with("INVITE") && !authorized(&invite));
    // a third party, not the proxy, challenges: faxhub's retransmissions carry no credentials
    let attacker = sip_socket("127.0.0.1");
    attacker
        .send_to(
            response_to(&invite, "407 Proxy Authentication Required", challenge).as_bytes(),
            faxhub,
        )
        .unwrap();
    let until = Instant::now() + Duration::from_secs(3);
    while let Some((again, _)) =
        next_request(&proxy, until.saturating_duration_since(Instant::now()))
    {
        assert!(
            !authorized(&again),
            "credentials sent after a forged challenge: {again}"
        );
    }
    // the control: the proxy's own challenge is answered with them
    proxy
        .send_to(
            response_to(&invite, "407 Proxy Authentication Required", challenge).as_bytes(),
            faxhub,
        )
        .unwrap();
    let mut answered = None;
    while let Some((again, _)) = next_request(&proxy, Duration::from_secs(5)) {
        if authorized(&again) {
            answered = Some(again);
            break;
        }
    }
    let answered = answered.expect("the proxy's challenge answered");
    proxy
        .send_to(
            response_to(&answered, "486 Busy Here", "").as_bytes(),
            faxhub,
        )
        .unwrap();
}

/// The CPU time (user and system) the process `pid` has used, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // the fields after the command name (which may hold spaces) in parentheses
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

/// The datagram that once cost 26 s of CPU: a sequence jump of about 0x7ffe, the FEC bit, span
/// 255 and as many one-octet parity blocks as fit in 1,400 bytes.
fn fec_attack(seq: u16) -> Vec<u8> {
    let mut d = seq.to_be_bytes().to_vec();
    d.extend_from_slice(&[0x02, 0x06, 0x00]); // the primary IFP, 2 octets
    d.extend_from_slice(&[0x80, 0x01, 0xff]); // FEC, span 255
    let blocks = (1400 - d.len() - 2) / 2;
    d.extend_from_slice(&[0x80 | (blocks >> 8) as u8, blocks as u8]);
    for _ in 0..blocks {
        d.extend_from_slice(&[0x01, 0xff]);
    }
    d
}

#[test]
fn fec_datagrams_with_sequence_jumps_during_a_call_leave_the_daemon_answering() {
    let hub = Faxhub::start(
        "",
        "[sip]\nlisten = \"127.0.0.1:0\"\ntcp = false\n[sip.inbound.fax]\nerror_correction = \"fec\"\n",
    );
    let sip = hub.sip_port();
    let (signal, media) = (
        sip_socket("127.0.0.1"),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    );
    let local = signal.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=image {} udptl t38\r\na=T38FaxVersion:0\r\na=T38MaxBitRate:14400\r\n\
         a=T38FaxRateManagement:transferredTCF\r\na=T38FaxMaxDatagram:1400\r\n\
         a=T38FaxUdpEC:t38UDPFEC\r\n",
        media.local_addr().unwrap().port()
    );
    let invite = format!(
        "INVITE sip:0142000000@127.0.0.1:{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKfec\r\n\
         Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=tfec1\r\nTo: <sip:0142000000@127.0.0.1>\r\n\
         Call-ID: fec1\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    signal
        .send_to(invite.as_bytes(), ("127.0.0.1", sip))
        .unwrap();
    // the 200, faxhub's UDPTL port in its SDP, and our ACK
    let mut buf = [0u8; 8192];
    let until = Instant::now() + Duration::from_secs(20);
    let ok = loop {
        assert!(Instant::now() < until, "no 200: {}", hub.log());
        if let Ok((n, _)) = signal.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.starts_with("SIP/2.0 200") {
                break text;
            }
        }
    };
    assert!(ok.contains("t38UDPFEC"), "FEC agreed: {ok}");
    let port: u16 = ok
        .lines()
        .find_map(|l| l.strip_prefix("m=image "))
        .and_then(|l| l.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    let to = ok.lines().find(|l| l.starts_with("To:")).unwrap();
    ack(&signal, sip, "fec1", to);

    // the call's media session is there to take them: it sends to us from that port
    media
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let (_, from) = media
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no UDPTL from faxhub ({e}): {}", hub.log()));
    assert_eq!(from.port(), port);

    // the attack, from the address the SDP named, while a mail client is served
    let cpu_before = cpu_seconds(hub.pid());
    let mut seq: u16 = 0;
    for _ in 0..300 {
        seq = seq.wrapping_add(0x7ffe);
        media
            .send_to(&fec_attack(seq), ("127.0.0.1", port))
            .unwrap();
    }
    // (the client gives up after 30 s of silence: answered meanwhile, not timed here)
    let mut s = hub.smtp();
    assert_eq!(s.greeting.0, 220);
    assert_eq!(s.cmd("EHLO client.test").0, 250);
    assert_eq!(s.cmd("QUIT").0, 221);
    std::thread::sleep(Duration::from_secs(1));
    let cpu = cpu_seconds(hub.pid()) - cpu_before;
    // CPU time, not wall time, and generous: one such datagram once took 26 s of CPU
    assert!(cpu < 5.0, "{cpu:.2} s of CPU for 300 datagrams");
}

#[test]
fn a_request_after_a_lost_ack_confirms_the_call() {
    // the caller's ACK lost on the way, its next request (a session refresh) arrives: faxhub
    // takes the call as established (the caller sends nothing in the dialog before its ACK)
    let hub = hub("off", false, media_range());
    let sip = hub.sip_port();
    let (signal, media, to) = invited(&hub, "lostack1");
    let media_port = media.local_addr().unwrap().port();
    let local = signal.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {media_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    );
    let refresh = format!(
        "INVITE sip:0142000000@127.0.0.1:{sip} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bKrefresh\r\nMax-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.1>;tag=tlostack1\r\n{to}\r\nCall-ID: lostack1\r\n\
         CSeq: 2 INVITE\r\nContact: <sip:caller@{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    signal
        .send_to(refresh.as_bytes(), ("127.0.0.1", sip))
        .unwrap();
    // answered 200 (not 491 Request Pending), and media flows
    let mut buf = [0u8; 4096];
    let until = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        assert!(
            Instant::now() < until,
            "no answer to the refresh: {}",
            hub.log()
        );
        if let Ok((n, _)) = signal.recv_from(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            if text.contains("CSeq: 2 INVITE") {
                break text;
            }
        }
    };
    assert!(answer.starts_with("SIP/2.0 200"), "{answer}");
    assert!(
        media_received(&media, Duration::from_secs(4)) > 10,
        "{}",
        hub.log()
    );
}
