//! SIP messages as carriers and PBXs write them.

use super::*;

const INVITE: &str = "INVITE sip:+33169293999@fax.example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds, SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKa\r\n\
Max-Forwards: 70\r\n\
To: <sip:+33169293999@fax.example.com>\r\n\
f: \"Cisco\" <sip:0140000000@192.0.2.10>;tag=1928301774\r\n\
i: a84b4c76e66710@192.0.2.10\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:0140000000@192.0.2.10:5060>\r\n\
Diversion: <sip:0169293900@192.0.2.10>;reason=unconditional,\r\n \
<sip:0169293901@192.0.2.10>;reason=no-answer\r\n\
c: application/sdp\r\n\
l: 8\r\n\
\r\n\
v=0\r\no=x";

#[test]
fn a_carrier_invite_with_compact_and_folded_headers() {
    let (m, used) = Message::parse(INVITE.as_bytes()).unwrap();
    assert_eq!(used, INVITE.len());
    assert_eq!(m.method(), Some("INVITE"));
    assert_eq!(m.header("call-id"), Some("a84b4c76e66710@192.0.2.10"));
    assert_eq!(m.header("Content-Type"), Some("application/sdp"));
    assert_eq!(m.values("Via").count(), 2);
    assert_eq!(
        param(m.header("v").unwrap(), "branch"),
        Some("z9hG4bK776asdhds")
    );
    assert_eq!(param(m.header("From").unwrap(), "tag"), Some("1928301774"));
    assert_eq!(param(m.header("To").unwrap(), "tag"), None);
    assert_eq!(m.cseq(), Some((314159, "INVITE")));
    assert_eq!(m.body, b"v=0\r\no=x");
    let diversions: Vec<&str> = m.values("Diversion").collect();
    assert_eq!(diversions.len(), 2, "{diversions:?}");
    assert_eq!(uri_user(uri_of(diversions[0])), Some("0169293900"));
    let StartLine::Request { uri, .. } = &m.start else {
        panic!()
    };
    assert_eq!(uri_user(uri), Some("+33169293999"));
}

#[test]
fn responses_reasons_and_what_they_carry() {
    let text = "SIP/2.0 486 Busy Here\n\
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKx\n\
From: <sip:faxhub@127.0.0.1>;tag=a\n\
To: <sip:0169293999@127.0.0.1>;tag=b\n\
Call-ID: c1\n\
CSeq: 1 INVITE\n\
Reason: Q.850;cause=17;text=\"User busy, call later\"\n\
WWW-Authenticate: Digest realm=\"pbx\", nonce=\"abc\", algorithm=MD5\n\
\n";
    let (m, _) = Message::parse(text.as_bytes()).unwrap();
    assert_eq!(m.code(), Some(486));
    assert_eq!(m.q850_cause(), Some(17));
    assert_eq!(
        m.header("WWW-Authenticate"),
        Some("Digest realm=\"pbx\", nonce=\"abc\", algorithm=MD5"),
        "not split at its commas"
    );
    assert!(m.body.is_empty());
}

#[test]
fn a_stream_holds_messages_back_to_back() {
    let one = Message::request("OPTIONS", "sip:127.0.0.1").render();
    let mut stream = one.clone();
    stream.extend_from_slice(INVITE.as_bytes());
    let (first, used) = Message::parse(&stream).unwrap();
    assert_eq!(used, one.len());
    assert_eq!(first.method(), Some("OPTIONS"));
    let (second, _) = Message::parse(&stream[used..]).unwrap();
    assert_eq!(second.method(), Some("INVITE"));
    // half a body is not a message yet
    assert_eq!(
        Message::parse(&INVITE.as_bytes()[..INVITE.len() - 3]),
        Err(SipError::Incomplete)
    );
    assert_eq!(
        Message::parse(b"INVITE sip:x SIP/2.0\r\n"),
        Err(SipError::Incomplete)
    );
}

#[test]
fn responses_copy_the_dialog_headers_and_rendering_reads_back() {
    let (invite, _) = Message::parse(INVITE.as_bytes()).unwrap();
    let mut ok = Message::response_to(&invite, 200, "OK");
    ok.add("Content-Type", "application/sdp");
    ok.body = b"v=0\r\n".to_vec();
    let bytes = ok.render();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("SIP/2.0 200 OK\r\n"), "{text}");
    assert!(text.contains("Content-Length: 5\r\n"), "{text}");
    let (back, used) = Message::parse(&bytes).unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(back.header("Call-ID"), invite.header("Call-ID"));
    assert_eq!(back.values("Via").count(), 2);
    assert_eq!(back.cseq(), Some((314159, "INVITE")));
    assert_eq!(back.body, b"v=0\r\n");
}

#[test]
fn unreadable_messages_are_errors() {
    for bad in [
        "HELLO\r\n\r\n",
        "invite sip:x SIP/2.0\r\n\r\n",
        "INVITE sip:x SIP/3.0\r\n\r\n",
        "SIP/2.0 99 Odd\r\n\r\n",
        "OPTIONS sip:x SIP/2.0\r\nno colon here\r\n\r\n",
        "OPTIONS sip:x SIP/2.0\r\nContent-Length: many\r\n\r\n",
    ] {
        assert!(
            matches!(Message::parse(bad.as_bytes()), Err(SipError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn uri_users() {
    assert_eq!(uri_user("tel:+33169293999"), Some("+33169293999"));
    assert_eq!(uri_user("sip:host.example.com"), None);
    assert_eq!(
        uri_user("sips:0169293999@h:5061;transport=tls"),
        Some("0169293999")
    );
    assert_eq!(uri_of("\"Fax, Inc\" <sip:1@h>;tag=9"), "sip:1@h");
    assert_eq!(uri_of("sip:1@h;tag=9"), "sip:1@h");
}

#[test]
fn the_dialled_number_from_each_place() {
    let (m, _) = Message::parse(INVITE.as_bytes()).unwrap();
    assert_eq!(
        dialled_number(&m, DidFrom::RequestUri).as_deref(),
        Some("+33169293999")
    );
    assert_eq!(
        dialled_number(&m, DidFrom::To).as_deref(),
        Some("+33169293999")
    );
    assert_eq!(
        dialled_number(&m, DidFrom::Diversion).as_deref(),
        Some("0169293900"),
        "the first Diversion: the number first dialled"
    );
    let history = INVITE
        .replace("Diversion:", "History-Info:")
        .replace("0169293900", "0169293905");
    let (h, _) = Message::parse(history.as_bytes()).unwrap();
    assert_eq!(
        dialled_number(&h, DidFrom::Diversion).as_deref(),
        Some("0169293905")
    );
    let plain = INVITE.replace("Diversion:", "X-Note:");
    let (p, _) = Message::parse(plain.as_bytes()).unwrap();
    assert_eq!(
        dialled_number(&p, DidFrom::Diversion).as_deref(),
        Some("+33169293999"),
        "not forwarded: the Request-URI"
    );
}
