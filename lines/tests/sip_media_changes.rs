//! How faxhub changes a call's medium when the far end is a PBX that does not do as faxhub's own
//! agent does, with the far end written here from faxhub's building blocks (`common::far`):
//! - a T.38-only INVITE answered 200 with the T.38 stream at port 0 (a refusal that is not a
//!   488) is followed by an audio offer in a re-INVITE, and the fax goes over G.711;
//! - that audio offer refused too: the call's reason quotes both answers, and no SIP code that
//!   never came;
//! - a caller that takes the call back to audio once its T.38 fax is done gets 200 (not 491).

mod common;

use common::far::{Far, address, sdp_of};
use faxhub_lines::inbox::Inbox;
use faxhub_lines::sip::agent::{Agent, CallReport};
use faxhub_lines::sip::dialog::Dialog;
use faxhub_lines::sip::media::{RtpConfig, SessionEnd, Source, run_audio};
use faxhub_lines::sip::message::Message;
use faxhub_lines::sip::outcome::{CallEnd, outcome};
use faxhub_lines::sip::sdp::{self, AudioCodec, Media};
use faxhub_lines::sip::spandsp::{AudioTerminal, TerminalConfig};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// faxhub calls `far` with a T.38-only offer of a one-page fax.
fn call_t38_only(agent: Arc<Agent>, far: &Far, dir: &std::path::Path) -> JoinHandle<CallReport> {
    let tiff = dir.join("sent.tif");
    common::one_page(&tiff, 200);
    let dial = far.t38_only_dial(tiff);
    tokio::spawn(async move { agent.call(&dial).await })
}

/// Answers faxhub's T.38-only INVITE with 200 and the T.38 stream refused (port 0), takes the
/// ACK, and returns faxhub's next INVITE (its audio offer) with the dialog.
async fn refuse_t38_with_port_0(far: &mut Far) -> (Dialog, Message, std::net::SocketAddr) {
    let (invite, faxhub) = far.receive("INVITE").await;
    let offer = sdp_of(&invite);
    let t38 = offer.t38().expect("a T.38-only offer").clone();
    assert!(offer.audio().is_none(), "T.38 only: {offer:?}");
    let dialog = Dialog::accept(&far.local(), &invite, "far-tag").unwrap();
    let refused = Media {
        port: 0,
        attributes: Vec::new(),
        connection: None,
        ..t38
    };
    let answer = far.sdp(vec![refused]);
    far.answer(&dialog, &invite, &answer, faxhub).await;
    let (reinvite, from) = far.receive("INVITE").await;
    assert_eq!(
        reinvite.header("Call-ID"),
        invite.header("Call-ID"),
        "the audio offer comes in the same call"
    );
    (dialog, reinvite, from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_t38_refusal_at_port_0_is_followed_by_audio_and_the_fax_goes_as_g711() {
    let dir = tempfile::tempdir().unwrap();
    let mut far = Far::new().await;
    let calling = call_t38_only(common::far::agent(dir.path()).await, &far, dir.path());
    let (dialog, reinvite, faxhub) = refuse_t38_with_port_0(&mut far).await;
    let offer = sdp_of(&reinvite);
    let audio = offer.audio().expect("an audio offer after the refusal");
    assert_ne!(audio.port, 0);
    let their_media = address(&offer, audio);
    let choice = sdp::choose_audio(audio, &[AudioCodec::Pcma]).expect("PCMA offered");
    let answer = sdp::audio_media(far.media_port(), &[choice.codec], None);
    let answer = far.sdp(vec![answer]);
    far.answer(&dialog, &reinvite, &answer, faxhub).await;

    // receive the fax as G.711 with a T.30 terminal of our own
    let received = dir.path().join("received.tif");
    let terminal = TerminalConfig {
        calling: false,
        ident: "FAR END".into(),
        ..TerminalConfig::default()
    };
    let mut rx = AudioTerminal::receiver(&terminal, &received).unwrap();
    let rtp = RtpConfig {
        codec: AudioCodec::Pcma,
        ssrc: 7,
        jitter_frames: 3,
    };
    // faxhub does not ask again for the T.38 the far end refused: nothing but its BYE comes
    let receiving = run_audio(
        &mut rx,
        &far.media,
        Source::exactly(their_media),
        rtp,
        Duration::from_secs(90),
        None,
    );
    let (end, (bye, from)) = tokio::join!(receiving, far.receive("BYE"));
    let progress = rx.progress().clone();
    assert_eq!(end.unwrap(), SessionEnd::Finished, "{progress:?}");
    assert_eq!(progress.pages, 1);
    far.send(&dialog.response(&bye, 200, "OK"), from).await;
    let report = calling.await.unwrap();
    assert_eq!(
        report.end,
        CallEnd::Fax {
            t30: 0,
            confirmed: 1,
            total: 1
        },
        "{report:?}"
    );
    assert!(!report.t38, "the fax went as G.711");
    assert_eq!(
        common::pixels(&received),
        common::pixels(&dir.path().join("sent.tif"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_audio_is_refused_too_the_reason_quotes_both_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut far = Far::new().await;
    let calling = call_t38_only(common::far::agent(dir.path()).await, &far, dir.path());
    let (dialog, reinvite, faxhub) = refuse_t38_with_port_0(&mut far).await;
    far.send(
        &dialog.response(&reinvite, 415, "Unsupported Media Type"),
        faxhub,
    )
    .await;
    let (bye, from) = far.receive("BYE").await;
    far.send(&dialog.response(&bye, 200, "OK"), from).await;
    let report = calling.await.unwrap();
    let CallEnd::NoMedium { what } = &report.end else {
        panic!("{report:?}");
    };
    assert!(
        what.contains("the T.38 stream refused (port 0)") && what.contains("refused with SIP 415"),
        "{what}"
    );
    let o = outcome(&report.end);
    assert_eq!(o.status.to_string(), "4.4.0");
    assert!(
        !o.reason.contains("488"),
        "no SIP 488 was sent: {}",
        o.reason
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_back_to_audio_after_its_t38_fax_gets_200() {
    let dir = tempfile::tempdir().unwrap();
    let agent = common::far::agent(dir.path()).await;
    let mut far = Far::new().await;
    let sent = dir.path().join("sent.tif");
    common::one_page(&sent, 200);
    let fax = far
        .fax_then_back_to_audio(agent.local_addr(), "0142000000", &sent, "CALLER")
        .await;
    assert_eq!(fax.end, SessionEnd::Finished, "{:?}", fax.progress);
    assert_eq!(fax.progress.pages, 1);
    // the fax is done: back to audio, as a PBX does before hanging up, gets 200
    let back = &fax.back;
    assert_eq!(
        back.code(),
        Some(200),
        "{}",
        String::from_utf8_lossy(&back.render())
    );
    let m = sdp_of(back);
    assert_ne!(
        m.audio().expect("an audio answer").port,
        0,
        "audio accepted"
    );

    // and the fax was received, whole
    let inbox = Inbox::new(dir.path().join("inbox"));
    let mut records = Vec::new();
    for _ in 0..100 {
        records = inbox.list().unwrap();
        if !records.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(records.len(), 1);
    assert!(records[0].complete, "{:?}", records[0]);
    assert_eq!(records[0].transport, "t38");
}
