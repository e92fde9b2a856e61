//! SDP as the equipment in the field writes it.

use super::*;

/// A Cisco IOS/CUBE style T.38 re-INVITE body: `:0`/`:1` booleans, `T38MaxBitrate` spelling,
/// LF line ends.
const CISCO_REINVITE: &str = "v=0\n\
o=CiscoSystemsSIP-GW-UserAgent 4526 9235 IN IP4 192.0.2.10\n\
s=SIP Call\n\
c=IN IP4 192.0.2.10\n\
t=0 0\n\
m=image 16408 udptl t38\n\
c=IN IP4 192.0.2.11\n\
a=T38FaxVersion:0\n\
a=T38MaxBitrate:9600\n\
a=T38FaxFillBitRemoval:0\n\
a=T38FaxTranscodingMMR:0\n\
a=T38FaxTranscodingJBIG:0\n\
a=T38FaxRateManagement:transferredTCF\n\
a=T38FaxMaxBuffer:200\n\
a=T38FaxMaxDatagram:320\n\
a=T38FaxUdpEC:t38UDPRedundancy\n";

/// An Asterisk/FreeSWITCH style offer: audio refused (port 0) and image offered, CRLF,
/// booleans by presence.
const PBX_REINVITE: &str = "v=0\r\n\
o=- 1700000000 1700000001 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 0 RTP/AVP 0 8\r\n\
m=image 4002 udptl t38\r\n\
a=T38FaxVersion:1\r\n\
a=T38MaxBitRate:14400\r\n\
a=T38FaxFillBitRemoval\r\n\
a=T38FaxRateManagement:transferredTCF\r\n\
a=T38FaxMaxBuffer:1800\r\n\
a=T38FaxMaxDatagram:400\r\n\
a=T38FaxUdpEC:t38UDPFEC\r\n";

/// An audio INVITE with a dynamic telephone-event and an unknown codec first.
const AUDIO_OFFER: &str = "v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 203.0.113.5\r\n\
s=call\r\n\
c=IN IP4 203.0.113.5\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 18 8 0 96\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:96 telephone-event/8000\r\n\
a=fmtp:96 0-16\r\n\
a=ptime:20\r\n";

#[test]
fn cisco_booleans_spellings_and_media_addresses() {
    let sdp = Sdp::parse(CISCO_REINVITE).unwrap();
    let image = sdp.t38().expect("a T.38 stream");
    assert_eq!(image.port, 16408);
    assert_eq!(
        sdp.address_of(image),
        Some("192.0.2.11".parse().unwrap()),
        "the media's c= wins"
    );
    let p = T38Params::from_media(image).unwrap();
    assert_eq!(
        p,
        T38Params {
            version: 0,
            max_bit_rate: 9600,
            rate_management: RateManagement::TransferredTcf,
            max_buffer: Some(200),
            max_datagram: Some(320),
            error_correction: ErrorCorrection::Redundancy,
            fill_bit_removal: false,
            transcoding_mmr: false,
            transcoding_jbig: false,
        }
    );
}

#[test]
fn presence_booleans_refused_audio_and_fec() {
    let sdp = Sdp::parse(PBX_REINVITE).unwrap();
    assert!(sdp.audio().is_none(), "port 0 is a refused stream");
    let p = T38Params::from_media(sdp.t38().unwrap()).unwrap();
    assert_eq!(p.version, 1);
    assert!(p.fill_bit_removal);
    assert_eq!(p.error_correction, ErrorCorrection::Fec);
    assert_eq!(sdp.origin.version, 1700000001);
}

#[test]
fn missing_attributes_take_their_defaults() {
    let sdp = Sdp::parse(
        "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\nm=image 5000 udptl t38\n",
    )
    .unwrap();
    let p = T38Params::from_media(sdp.t38().unwrap()).unwrap();
    assert_eq!(p.version, 0, "absent T38FaxVersion means 0");
    assert_eq!(p.rate_management, RateManagement::TransferredTcf);
    assert_eq!(p.error_correction, ErrorCorrection::None);
    assert_eq!(p.max_datagram, None);
}

#[test]
fn the_answer_never_exceeds_the_offer() {
    let cisco = T38Params::from_media(Sdp::parse(CISCO_REINVITE).unwrap().t38().unwrap()).unwrap();
    let ours = T38Params::default();
    let a = T38Params::answer(&cisco, &ours);
    assert_eq!(a.max_bit_rate, 9600);
    assert_eq!(a.version, 0);
    assert_eq!(a.error_correction, ErrorCorrection::Redundancy);
    assert_eq!(a.max_datagram, ours.max_datagram, "our own receive sizes");
    assert_eq!(T38Params::datagram_limit(&cisco, &ours), 320);
    // FEC offered to a side that does redundancy only: redundancy
    let pbx = T38Params::from_media(Sdp::parse(PBX_REINVITE).unwrap().t38().unwrap()).unwrap();
    let a = T38Params::answer(&pbx, &ours);
    assert_eq!(a.error_correction, ErrorCorrection::Redundancy);
    assert!(!a.fill_bit_removal, "only when both have it");
    assert_eq!(a.version, 0);
}

#[test]
fn rendered_descriptions_read_back_the_same() {
    let ours = T38Params {
        fill_bit_removal: true,
        ..T38Params::default()
    };
    let sdp = Sdp {
        origin: Origin {
            username: "faxhub".into(),
            session_id: 42,
            version: 2,
            address: "127.0.0.1".parse().unwrap(),
        },
        session_name: "faxhub".into(),
        connection: Some("127.0.0.1".parse().unwrap()),
        media: vec![audio_media(0, &[AudioCodec::Pcmu], None), ours.media(56002)],
    };
    let text = sdp.render();
    assert!(text.contains("m=image 56002 udptl t38\r\n"), "{text}");
    assert!(text.contains("a=T38FaxFillBitRemoval\r\n"), "{text}");
    assert!(
        text.contains("a=T38FaxUdpEC:t38UDPRedundancy\r\n"),
        "{text}"
    );
    let back = Sdp::parse(&text).unwrap();
    assert_eq!(back, sdp);
    assert_eq!(T38Params::from_media(back.t38().unwrap()).unwrap(), ours);
}

#[test]
fn audio_offers_are_answered_with_g711_and_their_event_type() {
    let sdp = Sdp::parse(AUDIO_OFFER).unwrap();
    let audio = sdp.audio().unwrap();
    assert_eq!(audio.direction(), "sendrecv");
    let both = [AudioCodec::Pcmu, AudioCodec::Pcma];
    assert_eq!(
        choose_audio(audio, &both),
        Some(AudioChoice {
            codec: AudioCodec::Pcma,
            telephone_event: Some(96)
        }),
        "the offer's order decides; G.729 is skipped"
    );
    assert_eq!(
        choose_audio(audio, &[AudioCodec::Pcmu]).unwrap().codec,
        AudioCodec::Pcmu
    );
    let g729_only = Sdp::parse(&AUDIO_OFFER.replace(" 18 8 0 96", " 18")).unwrap();
    assert_eq!(choose_audio(g729_only.audio().unwrap(), &both), None);
    let offer = audio_media(56000, &both, Some(TELEPHONE_EVENT_PT));
    assert_eq!(offer.formats, ["0", "8", "101"]);
    assert_eq!(offer.attribute("FMTP"), Some("101 0-15"));
}

#[test]
fn unreadable_descriptions_name_the_line() {
    let err = Sdp::parse("v=0\no=- x 1 IN IP4 10.0.0.1\n").unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    let err = Sdp::parse("v=0\nm=image five udptl t38\n").unwrap_err();
    assert!(err.to_string().contains("line 2"), "{err}");
    assert_eq!(
        Sdp::parse("v=0\ns=-\n").unwrap_err(),
        SdpError::Missing("no o= line")
    );
    let bad_number =
        Sdp::parse(&CISCO_REINVITE.replace("MaxBuffer:200", "MaxBuffer:lots")).unwrap();
    assert!(T38Params::from_media(bad_number.t38().unwrap()).is_err());
}
