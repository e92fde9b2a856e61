//! Real T.30 sessions in one process, on a simulated clock: two libspandsp terminals (one sends
//! a two-page TIFF-F made by faxhub's writer, one receives), over T.38 (their IFP packets
//! carried by faxhub's UDPTL with redundancy 3) and over G.711 audio (their modems' samples
//! through faxhub's μ-law and A-law codecs). The received pages must decode to the same pixels
//! as those sent (libtiff decodes both), the remote idents must cross, and the sender must count
//! the pages the receiver confirmed. With 5% of the T.38 datagrams dropped at random, the fax
//! still completes; with all of them dropped, it fails and counts no page.

use faxhub_converters::tiff_f::{self, Bitmap, FaxPage};
use faxhub_lines::sip::g711;
use faxhub_lines::sip::outcome::{CallEnd, outcome};
use faxhub_lines::sip::simulate;
use faxhub_lines::sip::spandsp::{AudioTerminal, Coding, Progress, T38Terminal, TerminalConfig};
use std::path::Path;
use std::process::Command;

/// A page of horizontal bars and a diagonal, so that every coding mode has work.
fn page(seed: u32, rows: u32) -> Bitmap {
    let width = 1728;
    let pixels = (0..width * rows)
        .map(|i| {
            let (x, y) = (i % width, i / width);
            ((y / 40 + seed).is_multiple_of(3) && x > 100 && x < 1600)
                || (x + seed * 7) % 1728 == y % 1728
        })
        .collect();
    Bitmap {
        width,
        length: rows,
        pixels,
    }
}

/// Each page's pixels as libtiff decodes them (uncompressed, MSB first, one strip).
fn pixels(tiff: &Path, scratch: &Path) -> Vec<Vec<u8>> {
    let out = scratch.join(format!(
        "{}-raw.tif",
        tiff.file_stem().unwrap().to_string_lossy()
    ));
    let status = Command::new("tiffcp")
        .args(["-c", "none", "-f", "msb2lsb", "-r", "100000"])
        .arg(tiff)
        .arg(&out)
        .status()
        .expect("tiffcp (libtiff-tools) must be installed");
    assert!(status.success());
    let bytes = std::fs::read(&out).unwrap();
    let pages = faxhub_queue::tiff::read_pages(&bytes).unwrap();
    faxhub_queue::tiff::first_strips(&bytes, &pages)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect()
}

/// Runs one fax from `sent` into `received`, dropping `loss` of the datagrams each way.
fn fax(sent: &Path, received: &Path, loss: f64, ecm: bool) -> (T38Terminal, T38Terminal) {
    let coding = if ecm { Coding::Mmr } else { Coding::Mh };
    let mut tx = T38Terminal::sender(
        &TerminalConfig {
            calling: true,
            ident: "faxhub test".into(),
            ecm,
            coding,
            ..TerminalConfig::default()
        },
        sent,
    )
    .unwrap();
    let mut rx = T38Terminal::receiver(
        &TerminalConfig {
            calling: false,
            ident: "+33 1 69 29 39 99".into(),
            ecm,
            ..TerminalConfig::default()
        },
        received,
    )
    .unwrap();
    simulate::back_to_back(&mut tx, &mut rx, loss);
    (tx, rx)
}

fn two_pages(dir: &Path) -> std::path::PathBuf {
    let sent = dir.join("sent.tif");
    let pages: Vec<FaxPage> = [page(0, 400), page(1, 300)]
        .iter()
        .map(|b| FaxPage::from_bitmap(b, 196).unwrap())
        .collect();
    std::fs::write(&sent, tiff_f::write(&pages)).unwrap();
    sent
}

fn check(loss: f64, ecm: bool) {
    let dir = tempfile::tempdir().unwrap();
    let sent = two_pages(dir.path());
    let received = dir.path().join("received.tif");
    let (tx, rx) = fax(&sent, &received, loss, ecm);
    check_result(tx.progress(), rx.progress(), ecm, &sent, &received);
}

fn check_result(t: &Progress, r: &Progress, ecm: bool, sent: &Path, received: &Path) {
    let dir = sent.parent().unwrap();
    assert_eq!(t.completion.as_ref().map(|c| c.0), Some(0), "sender: {t:?}");
    assert_eq!(
        r.completion.as_ref().map(|c| c.0),
        Some(0),
        "receiver: {r:?}"
    );
    assert_eq!(t.pages, 2, "pages the receiver confirmed: {t:?}");
    assert_eq!(r.pages, 2, "{r:?}");
    assert_eq!(t.remote_ident.as_deref(), Some("+33 1 69 29 39 99"));
    assert_eq!(r.remote_ident.as_deref(), Some("faxhub test"));
    assert_eq!(t.ecm, ecm);
    // MMR needs ECM; without ECM the sender here offers MH only
    let coding = if ecm { Coding::Mmr } else { Coding::Mh };
    assert_eq!((t.coding, r.coding), (Some(coding), Some(coding)), "{t:?}");
    assert!(t.bit_rate >= 9600, "{t:?}");
    assert_eq!(
        pixels(sent, dir),
        pixels(received, dir),
        "the received pages decode to the pixels sent"
    );
}

#[test]
fn a_fax_over_t38_arrives_pixel_for_pixel() {
    check(0.0, true);
}

#[test]
fn without_ecm_too() {
    check(0.0, false);
}

#[test]
fn five_percent_datagram_loss_with_redundancy_3_still_completes() {
    check(0.05, true);
}

#[test]
fn when_nothing_gets_through_the_sender_fails_and_counts_no_page() {
    let dir = tempfile::tempdir().unwrap();
    let sent = dir.path().join("sent.tif");
    let pages = [FaxPage::from_bitmap(&page(0, 100), 196).unwrap()];
    std::fs::write(&sent, tiff_f::write(&pages)).unwrap();
    let (tx, _rx) = fax(&sent, &dir.path().join("received.tif"), 1.0, true);
    let t = tx.progress();
    let (code, words) = t
        .completion
        .clone()
        .expect("phase E ran: the T1 timer expired");
    assert_ne!(code, 0, "{words}");
    assert_eq!(t.pages, 0, "no false sent: {t:?}");
    assert_eq!(t.remote_ident, None);
    // and the outcome table makes it a retryable 4.4.2 with words for the sender
    let o = outcome(&CallEnd::Fax {
        t30: code,
        confirmed: t.pages,
        total: 1,
    });
    assert_eq!(o.status.to_string(), "4.4.2", "{}", o.reason);
    assert!(
        o.reason.contains("not by a fax machine"),
        "{} ({words})",
        o.reason
    );
}

/// Runs one fax as audio, each direction through `law`, 20 ms at a time.
fn fax_audio(
    sent: &Path,
    received: &Path,
    ecm: bool,
    law: g711::Law,
) -> (AudioTerminal, AudioTerminal) {
    let config = |calling, ident: &str| TerminalConfig {
        calling,
        ident: ident.into(),
        ecm,
        coding: if ecm { Coding::Mmr } else { Coding::Mh },
        ..TerminalConfig::default()
    };
    let mut tx = AudioTerminal::sender(&config(true, "faxhub test"), sent).unwrap();
    let mut rx = AudioTerminal::receiver(&config(false, "+33 1 69 29 39 99"), received).unwrap();
    let line = |samples: &[i16]| -> Vec<i16> {
        samples
            .iter()
            .map(|&s| (law.decode)((law.encode)(s)))
            .collect()
    };
    let (mut a, mut b) = ([0i16; 160], [0i16; 160]);
    for _ in 0..30_000 {
        tx.transmit_audio(&mut a);
        rx.transmit_audio(&mut b);
        rx.receive_audio(&line(&a));
        tx.receive_audio(&line(&b));
        if tx.done() && rx.done() {
            break;
        }
    }
    (tx, rx)
}

/// One fax as audio through `law`, checked like the T.38 ones.
fn check_audio(ecm: bool, law: g711::Law) {
    let dir = tempfile::tempdir().unwrap();
    let sent = two_pages(dir.path());
    let received = dir.path().join("received.tif");
    let (tx, rx) = fax_audio(&sent, &received, ecm, law);
    check_result(tx.progress(), rx.progress(), ecm, &sent, &received);
}

#[test]
fn a_fax_over_g711_ulaw_arrives_pixel_for_pixel() {
    check_audio(true, g711::ULAW);
}

#[test]
fn a_fax_over_g711_alaw_without_ecm_arrives_pixel_for_pixel() {
    check_audio(false, g711::ALAW);
}
