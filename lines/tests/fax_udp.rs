//! Faxes over real UDP sockets on 127.0.0.1, in real time: a libspandsp terminal sends a
//! one-page TIFF-F to another through faxhub's media sessions: T.38 (UDPTL, redundancy 3),
//! directly and through a relay that drops 5% of the datagrams each way, and G.711 over RTP
//! (μ-law and A-law); the lossy relay also with FEC instead of redundancy. The page must arrive
//! pixel for pixel, and the sender must count it as confirmed.

mod common;

use faxhub_lines::sip::media::{RtpConfig, SessionEnd, Source, UdptlConfig, run_audio, run_t38};
use faxhub_lines::sip::sdp::AudioCodec;
use faxhub_lines::sip::spandsp::{AudioTerminal, Progress, T38Terminal, TerminalConfig};
use faxhub_lines::sip::udptl::Protection;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Forwards datagrams between `a` (behind `ra`) and `b` (behind `rb`), dropping `loss` of them.
async fn relay(ra: UdpSocket, rb: UdpSocket, a: SocketAddr, b: SocketAddr, loss: f64) {
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut drop = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % 10_000) as f64 / 10_000.0 < loss
    };
    let (mut ba, mut bb) = ([0u8; 2048], [0u8; 2048]);
    loop {
        tokio::select! {
            Ok((n, _)) = ra.recv_from(&mut ba) => if !drop() { let _ = rb.send_to(&ba[..n], b).await; },
            Ok((n, _)) = rb.recv_from(&mut bb) => if !drop() { let _ = ra.send_to(&bb[..n], a).await; },
        }
    }
}

async fn fax_over_udp(loss: f64, protection: Protection) {
    let dir = tempfile::tempdir().unwrap();
    let (sent, received) = (dir.path().join("sent.tif"), dir.path().join("received.tif"));
    common::one_page(&sent, 300);
    let bind = || UdpSocket::bind("127.0.0.1:0");
    let (a, b) = (bind().await.unwrap(), bind().await.unwrap());
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    // each side is told (as SDP would) where the other is: directly, or the relay's near side
    let (a_peer, b_peer) = if loss > 0.0 {
        let (ra, rb) = (bind().await.unwrap(), bind().await.unwrap());
        let (ra_addr, rb_addr) = (ra.local_addr().unwrap(), rb.local_addr().unwrap());
        tokio::spawn(relay(ra, rb, a_addr, b_addr, loss));
        (ra_addr, rb_addr)
    } else {
        (b_addr, a_addr)
    };
    let config = UdptlConfig {
        protection,
        max_datagram: 400,
    };
    let terminal = |calling, ident: &str| TerminalConfig {
        calling,
        ident: ident.into(),
        ..TerminalConfig::default()
    };
    let mut tx = T38Terminal::sender(&terminal(true, "faxhub tx"), &sent).unwrap();
    let mut rx = T38Terminal::receiver(&terminal(false, "faxhub rx"), &received).unwrap();
    let limit = Duration::from_secs(120);
    let receiving = tokio::spawn(async move {
        let end = run_t38(&mut rx, &b, Source::exactly(b_peer), config, limit, None)
            .await
            .unwrap();
        (end, rx.progress().clone())
    });
    let (published, watched) = tokio::sync::watch::channel(Progress::default());
    let end = run_t38(
        &mut tx,
        &a,
        Source::exactly(a_peer),
        config,
        limit,
        Some(&published),
    )
    .await
    .unwrap();
    let (rx_end, rx_progress) = receiving.await.unwrap();
    let t = tx.progress();
    assert_eq!(
        *watched.borrow(),
        *t,
        "the progress was published as it went"
    );
    assert_eq!(end, SessionEnd::Finished, "{t:?}");
    assert_eq!(rx_end, SessionEnd::Finished, "{rx_progress:?}");
    assert_eq!(t.completion.as_ref().map(|c| c.0), Some(0), "{t:?}");
    assert_eq!(t.pages, 1);
    assert_eq!(t.remote_ident.as_deref(), Some("faxhub rx"));
    assert_eq!(rx_progress.pages, 1);
    assert_eq!(
        common::pixels(&sent),
        common::pixels(&received),
        "the page arrived pixel for pixel"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fax_over_udp_in_real_time() {
    fax_over_udp(0.0, Protection::Redundancy(3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn five_percent_loss_each_way_with_redundancy_3() {
    fax_over_udp(0.05, Protection::Redundancy(3)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn five_percent_loss_each_way_with_fec() {
    fax_over_udp(
        0.05,
        Protection::Fec {
            span: 3,
            entries: 3,
        },
    )
    .await;
}

async fn fax_over_rtp(codec: AudioCodec) {
    let dir = tempfile::tempdir().unwrap();
    let (sent, received) = (dir.path().join("sent.tif"), dir.path().join("received.tif"));
    common::one_page(&sent, 300);
    let bind = || UdpSocket::bind("127.0.0.1:0");
    let (a, b) = (bind().await.unwrap(), bind().await.unwrap());
    let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let terminal = |calling, ident: &str| TerminalConfig {
        calling,
        ident: ident.into(),
        ..TerminalConfig::default()
    };
    let rtp = move |ssrc| RtpConfig {
        codec,
        ssrc,
        jitter_frames: 3,
    };
    let mut tx = AudioTerminal::sender(&terminal(true, "faxhub tx"), &sent).unwrap();
    let mut rx = AudioTerminal::receiver(&terminal(false, "faxhub rx"), &received).unwrap();
    let limit = Duration::from_secs(120);
    let receiving = tokio::spawn(async move {
        let end = run_audio(&mut rx, &b, Source::exactly(a_addr), rtp(2), limit, None)
            .await
            .unwrap();
        (end, rx.progress().clone())
    });
    let end = run_audio(&mut tx, &a, Source::exactly(b_addr), rtp(1), limit, None)
        .await
        .unwrap();
    let (rx_end, rx_progress) = receiving.await.unwrap();
    let t = tx.progress();
    assert_eq!(end, SessionEnd::Finished, "{t:?}");
    assert_eq!(rx_end, SessionEnd::Finished, "{rx_progress:?}");
    assert_eq!(t.completion.as_ref().map(|c| c.0), Some(0), "{t:?}");
    assert_eq!((t.pages, rx_progress.pages), (1, 1));
    assert_eq!(t.remote_ident.as_deref(), Some("faxhub rx"));
    assert_eq!(
        common::pixels(&sent),
        common::pixels(&received),
        "the page arrived pixel for pixel"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fax_over_g711_ulaw_rtp_in_real_time() {
    fax_over_rtp(AudioCodec::Pcmu).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fax_over_g711_alaw_rtp_in_real_time() {
    fax_over_rtp(AudioCodec::Pcma).await;
}
