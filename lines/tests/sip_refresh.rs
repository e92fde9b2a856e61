//! Session refreshes in the middle of a T.38 fax (RFC 4028: a re-INVITE with the same
//! description, an UPDATE without one) are answered without disturbing the fax. The far end is
//! written here from faxhub's SIP and media building blocks, not its user agent: it answers
//! faxhub's T.38 INVITE, receives the fax with its own T.30 terminal, refreshes the session twice
//! while the page is on its way, and answers faxhub's BYE.

mod common;

use common::far::{Far, address, sdp_of};
use faxhub_converters::tiff_f::{self, Bitmap, FaxPage};
use faxhub_lines::sip::dialog::Dialog;
use faxhub_lines::sip::media::{SessionEnd, Source, UdptlConfig, run_t38};
use faxhub_lines::sip::outcome::CallEnd;
use faxhub_lines::sip::sdp::T38Params;
use faxhub_lines::sip::spandsp::{T38Terminal, TerminalConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_mid_fax_leave_the_t38_session_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join("sent.tif");
    let pixels = (0..1728 * 400)
        .map(|i| (i / 1728 / 8 + i % 1728 / 8) % 3 == 0)
        .collect();
    let page = FaxPage::from_bitmap(
        &Bitmap {
            width: 1728,
            length: 400,
            pixels,
        },
        196,
    )
    .unwrap();
    std::fs::write(&sent, tiff_f::write(&[page])).unwrap();

    let agent = common::far::agent(dir.path()).await;
    let mut far = Far::new().await;
    let dial = far.t38_only_dial(sent.clone());
    let calling = tokio::spawn(async move { agent.call(&dial).await });

    // answer the T.38 offer
    let (invite, faxhub) = far.receive("INVITE").await;
    let offer = sdp_of(&invite);
    let theirs = T38Params::from_media(offer.t38().unwrap()).unwrap();
    let their_media = address(&offer, offer.t38().unwrap());
    let mut dialog = Dialog::accept(&far.local(), &invite, "far-tag").unwrap();
    let ours = T38Params::answer(&theirs, &T38Params::default());
    let answer = far.sdp(vec![ours.media(far.media_port())]);
    far.answer(&dialog, &invite, &answer, faxhub).await;

    // receive the fax with a T.30 terminal of our own
    let received = dir.path().join("received.tif");
    let terminal = TerminalConfig {
        calling: false,
        ident: "FAR END".into(),
        ..TerminalConfig::default()
    };
    let mut rx = T38Terminal::receiver(&terminal, &received).unwrap();
    let media = far.media.clone();
    let receiving = tokio::spawn(async move {
        let udptl = UdptlConfig {
            protection: faxhub_lines::sip::udptl::Protection::Redundancy(3),
            max_datagram: 400,
        };
        let end = run_t38(
            &mut rx,
            &media,
            Source::exactly(their_media),
            udptl,
            Duration::from_secs(90),
            None,
        )
        .await
        .unwrap();
        (end, rx.progress().clone())
    });

    // while the page goes: a re-INVITE with the same description (a session refresh) ...
    tokio::time::sleep(Duration::from_secs(4)).await;
    let reinvite = {
        let mut m = dialog.request("INVITE", answer.as_bytes(), "refresh-1");
        m.add("Session-Expires", "90;refresher=uas");
        m
    };
    far.sip.send_to(&reinvite.render(), faxhub).await.unwrap();
    let (refreshed, _) = far.receive("200").await;
    assert_eq!(refreshed.cseq().unwrap().1, "INVITE");
    let again = sdp_of(&refreshed);
    assert_eq!(
        again.t38().unwrap().port,
        offer.t38().unwrap().port,
        "the same T.38 stream"
    );
    assert_eq!(
        again.origin.version, offer.origin.version,
        "an unchanged description"
    );
    far.sip
        .send_to(
            &dialog.request("ACK", b"", "refresh-1-ack").render(),
            faxhub,
        )
        .await
        .unwrap();
    // ... and an UPDATE without one
    tokio::time::sleep(Duration::from_secs(2)).await;
    far.sip
        .send_to(&dialog.request("UPDATE", b"", "refresh-2").render(), faxhub)
        .await
        .unwrap();
    let (updated, _) = far.receive("200").await;
    assert_eq!(updated.cseq().unwrap().1, "UPDATE");
    assert!(
        !receiving.is_finished(),
        "both refreshes came while the fax was going"
    );

    let (end, progress) = receiving.await.unwrap();
    assert_eq!(end, SessionEnd::Finished, "{progress:?}");
    assert_eq!(progress.pages, 1);
    let (bye, from) = far.receive("BYE").await;
    far.sip
        .send_to(&dialog.response(&bye, 200, "OK").render(), from)
        .await
        .unwrap();
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
    assert!(report.t38);
    assert_eq!(report.progress.remote_ident.as_deref(), Some("FAR END"));
}
