//! The agents against a real intake (spool and SQLite store in a temporary directory): items
//! become jobs, the crash window between commit and removal queues nothing twice, bad items go
//! to quarantine.

use super::hotfolder::{HotFolder, HotFolderConfig};
use super::*;
use faxhub_queue::dialplan::{DialPlan, DialPlanConfig};
use faxhub_queue::spool::Spool;
use faxhub_queue::store::Store;
use std::path::Path;
use std::sync::Arc;

pub(super) async fn intake(dir: &Path) -> (Intake, Store) {
    let spool = Spool::open(&dir.join("spool")).unwrap();
    let store = Store::open(&dir.join("db")).await.unwrap();
    let intake = Intake::start(spool, store.clone(), Arc::default(), Default::default());
    (intake, store)
}

pub(super) fn addressing() -> Addressing {
    Addressing {
        fax_domains: vec!["fax.example.com".into()],
        imcea_domains: vec![],
        dialplan: DialPlan::new(DialPlanConfig::default()).unwrap(),
    }
}

/// The quarantined items under `dir`: (their files, the first line of the reason), sorted.
pub(super) fn quarantined(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let folder = e.unwrap().path();
            let mut files: Vec<String> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|f| f.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n != "reason.txt")
                .collect();
            files.sort();
            let reason = std::fs::read_to_string(folder.join("reason.txt")).unwrap();
            (files.join(","), reason.lines().next().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

fn hot_folder(dir: &Path, intake: Intake) -> HotFolder {
    HotFolder {
        config: HotFolderConfig {
            path: dir.join("scans"),
            owner: Some("owner@example.com".into()),
            settle: Duration::ZERO,
            orphan_after: Duration::ZERO,
            ..HotFolderConfig::default()
        },
        quarantine: Quarantine::new(dir.join("q")),
        intake,
        policy: None,
        addressing: addressing(),
        host: "faxhub.test".into(),
    }
}

#[tokio::test]
async fn a_scan_committed_but_not_removed_is_removed_and_not_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let (intake, store) = intake(dir.path()).await;
    let hot = hot_folder(dir.path(), intake.clone());
    let scans = dir.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    let file = scans.join("0169293999_devis.pdf");
    std::fs::write(&file, b"%PDF-1.4 scan").unwrap();

    // faxhub dies right after the commit: the job exists, the file is still there
    let entry = ready_files(
        "hotfolder",
        &scans,
        Duration::ZERO,
        std::time::SystemTime::now(),
        |_| true,
    )
    .unwrap()
    .remove(0);
    let made = Ok((
        Submission {
            origin: faxhub_queue::Origin::HotFolder,
            return_path: "owner@example.com".into(),
            from_header: None,
            subject: None,
            env_id: None,
            ret: None,
            recipients: recipients(&addressing(), ["0169293999@fax.example.com"]).0,
            source: None,
            refused: vec![],
            request_hash: None,
            billing: None,
            priority: Default::default(),
            send_at_ms: None,
            list_part: None,
        },
        b"message".to_vec(),
    ));
    let Taken::Queued(first) = take(&intake, None, &entry.key, made).await.unwrap() else {
        panic!("not queued");
    };
    assert!(file.exists());

    // the next pass recognises it: removed, not queued again
    hot.pass().await.unwrap();
    assert!(!file.exists());
    let jobs = store.jobs(true).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0].id, first.to_string());
    assert_eq!(jobs[0].origin, "hotfolder");

    // the same name dropped again later is a new scan, a new job
    std::fs::write(&file, b"%PDF-1.4 scan").unwrap();
    hot.pass().await.unwrap();
    assert!(!file.exists());
    assert_eq!(store.jobs(true).await.unwrap().len(), 2);
}

#[tokio::test]
async fn scans_with_numbers_queue_and_the_rest_go_to_quarantine_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (intake, store) = intake(dir.path()).await;
    let hot = hot_folder(dir.path(), intake);
    let scans = dir.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    let write = |name: &str, bytes: &[u8]| std::fs::write(scans.join(name), bytes).unwrap();
    write("scan.pdf", b"%PDF-1.4 a");
    write(
        "scan.json",
        br#"{"number": ["0169293998", "0899123456", "+881612345678"], "notify": "alice@example.com", "sender": "Alice <alice@example.com>", "subject": "Devis"}"#,
    );
    write("report.pdf", b"%PDF-1.4 b");
    write("photo.gif", b"GIF89a");
    write("broken.pdf", b"%PDF-1.4 c");
    write("broken.json", b"{\"number\": ");
    write("lonely.json", br#"{"number": "0169293999"}"#);
    // a receipt address that would add a recipient to the relay's dialogue
    write("relayed.pdf", b"%PDF-1.4 d");
    write(
        "relayed.json",
        br#"{"number": "0169293999", "notify": "alice@example.com>\r\nRCPT TO:<eve@evil.test"}"#,
    );
    hot.pass().await.unwrap();

    let jobs = store.jobs(true).await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job.sender, "alice@example.com");
    assert_eq!(job.subject.as_deref(), Some("Devis"));
    assert_eq!(job.recipients.len(), 3);
    assert_eq!(job.recipients[0].number, "+33169293998");
    // toll fraud abroad, refused through the agents as at SMTP
    assert_eq!(job.recipients[2].status.as_str(), "failed");
    assert!(
        job.recipients[2]
            .reason
            .as_deref()
            .unwrap()
            .contains("satellite")
    );
    assert_eq!(job.recipients[1].status.as_str(), "failed");
    assert!(
        job.recipients[1]
            .reason
            .as_deref()
            .unwrap()
            .contains("premium rate")
    );

    let reasons = quarantined(&dir.path().join("q"));
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert_eq!(reasons[0].0, "broken.json,broken.pdf");
    assert!(
        reasons[0].1.contains("sidecar broken.json is not valid"),
        "{:?}",
        reasons[0]
    );
    assert_eq!(reasons[1].0, "lonely.json");
    assert!(reasons[1].1.contains("without its document"));
    assert_eq!(reasons[2].0, "photo.gif");
    assert!(reasons[2].1.contains("not a scan"));
    assert_eq!(reasons[3].0, "relayed.json,relayed.pdf");
    assert!(
        reasons[3].1.contains("notify") && reasons[3].1.contains("not one mail address"),
        "{:?}",
        reasons[3]
    );
    assert_eq!(reasons[4].0, "report.pdf");
    assert!(reasons[4].1.contains("no fax number"), "{:?}", reasons[4]);
    let left: Vec<_> = std::fs::read_dir(&scans).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn links_fifos_and_devices_in_the_hot_folder_are_never_read_and_go_to_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let (intake, store) = intake(dir.path()).await;
    let hot = hot_folder(dir.path(), intake);
    let scans = dir.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    let secret = dir.path().join("secret.pdf");
    std::fs::write(&secret, b"%PDF-1.4 SERVER-SECRET").unwrap();
    // the control: the same bytes as a regular file become a job
    std::fs::copy(&secret, scans.join("0169293996_copy.pdf")).unwrap();
    std::os::unix::fs::symlink(&secret, scans.join("0169293999_link.pdf")).unwrap();
    let fifo = std::ffi::CString::new(scans.join("0169293997_fifo.pdf").to_str().unwrap()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path we own.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/dev/zero", scans.join("0169293995_zero.pdf")).unwrap();
    // a regular scan whose sidecar is a link to a file elsewhere
    std::fs::write(scans.join("scan.pdf"), b"%PDF-1.4 scan").unwrap();
    std::fs::write(dir.path().join("side.json"), br#"{"number": "0169293994"}"#).unwrap();
    std::os::unix::fs::symlink(dir.path().join("side.json"), scans.join("scan.json")).unwrap();
    hot.pass().await.unwrap();

    let jobs = store.jobs(true).await.unwrap();
    assert_eq!(jobs.len(), 1, "only the control: {jobs:?}");
    assert_eq!(jobs[0].recipients[0].number, "+33169293996");
    assert_eq!(std::fs::read(&secret).unwrap(), b"%PDF-1.4 SERVER-SECRET");
    let reasons = quarantined(&dir.path().join("q"));
    let why = |name: &str| {
        reasons
            .iter()
            .find(|(files, _)| files.split(',').any(|f| f == name))
            .map(|(_, why)| why.clone())
            .unwrap_or_else(|| panic!("{name} not quarantined: {reasons:?}"))
    };
    assert!(why("0169293999_link.pdf").contains("symbolic link"));
    assert!(why("0169293995_zero.pdf").contains("symbolic link"));
    assert!(why("0169293997_fifo.pdf").contains("FIFO"));
    assert!(why("scan.json").contains("symbolic link"), "{reasons:?}");
}

#[tokio::test]
async fn a_senders_daily_number_limit_holds_for_the_agents_too() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(&dir.path().join("spool")).unwrap();
    let store = Store::open(&dir.path().join("db")).await.unwrap();
    let limits = faxhub_queue::limits::SenderLimits {
        numbers_per_day: 2,
        ..Default::default()
    };
    let intake = Intake::start(spool, store.clone(), Arc::default(), limits);
    let hot = hot_folder(dir.path(), intake);
    let scans = dir.path().join("scans");
    std::fs::create_dir_all(&scans).unwrap();
    std::fs::write(scans.join("scan.pdf"), b"%PDF-1.4 a").unwrap();
    std::fs::write(
        scans.join("scan.json"),
        br#"{"number": ["0169293991", "0169293992", "0169293993"], "notify": "alice@example.com"}"#,
    )
    .unwrap();
    hot.pass().await.unwrap();
    let jobs = store.jobs(true).await.unwrap();
    let r = &jobs[0].recipients;
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[2].number, "+33169293993");
    assert_eq!(r[2].status.as_str(), "failed");
    assert_eq!(r[2].status_code.as_deref(), Some("5.7.1"));
    assert_eq!(
        r[2].reason.as_deref(),
        Some("the daily limit of 2 fax numbers for <alice@example.com> is reached")
    );
    assert_eq!(
        (r[0].status.as_str(), r[1].status.as_str()),
        ("queued", "queued")
    );
}

/// An IMAP agent logging in as faxgw/secret over STARTTLS to `port`, trusting the certificate
/// `crate::smtp::tls::acceptor` made in `dir`.
fn starttls_agent(dir: &Path, port: u16, intake: Intake) -> super::imap::MailFile {
    super::imap::MailFile {
        config: super::imap::ImapConfig {
            host: "localhost".into(),
            port,
            tls: crate::relay::RelayTls::Starttls,
            ca_file: Some(dir.join("tls/cert.pem")),
            username: "faxgw".into(),
            password: "secret".into(),
            idle: false,
            poll: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            ..Default::default()
        },
        quarantine: Quarantine::new(dir.join("q")),
        intake,
        policy: None,
        addressing: addressing(),
        host: "faxhub.test".into(),
    }
}

/// The injection in a segment of its own, after faxhub read the STARTTLS answer: it lands in the
/// TLS handshake, which fails; faxhub never falls back to logging in over plain text.
#[tokio::test]
async fn an_imap_server_injecting_after_its_starttls_answer_gets_no_plain_login() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    crate::smtp::tls::acceptor(&Default::default(), dir.path(), "localhost").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut plain, _) = listener.accept().await.unwrap();
        plain.write_all(b"* OK fake IMAP ready\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = plain.read(&mut buf).await.unwrap();
        let tag = String::from_utf8_lossy(&buf[..n])
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        plain
            .write_all(format!("{tag} OK Begin TLS\r\n").as_bytes())
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        plain.write_all(b"A2 OK LOGIN completed\r\n").await.unwrap();
        // everything faxhub sends on this connection from now on
        let mut after = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut after)).await;
        after
    });
    let (intake, _store) = intake(dir.path()).await;
    let agent = starttls_agent(dir.path(), port, intake);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(agent.run(shutdown));
    let after = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the fake server finished")
        .unwrap();
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
    // a TLS handshake record (the ClientHello), and no login in the clear
    assert_eq!(
        after.first(),
        Some(&0x16),
        "{:?}",
        String::from_utf8_lossy(&after)
    );
    let text = String::from_utf8_lossy(&after);
    assert!(
        !text.contains("LOGIN") && !text.contains("secret"),
        "{text:?}"
    );
}

#[tokio::test]
async fn nothing_an_imap_server_sends_before_the_tls_handshake_is_read_after_it() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let acceptor =
        crate::smtp::tls::acceptor(&Default::default(), dir.path(), "localhost").unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (searched_tx, mut searched) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(async move {
        let (mut plain, _) = listener.accept().await.unwrap();
        plain.write_all(b"* OK fake IMAP ready\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = plain.read(&mut buf).await.unwrap();
        let tag = String::from_utf8_lossy(&buf[..n])
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        // the answer, and a login and a select injected behind it in the same segment
        plain
            .write_all(
                format!(
                    "{tag} OK Begin TLS\r\nA2 OK LOGIN completed\r\nA3 OK [READ-WRITE] SELECT\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let tls = acceptor.accept(plain).await.unwrap();
        let (read, mut write) = tokio::io::split(tls);
        let mut lines = BufReader::new(read).lines();
        let mut seen = Vec::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let (tag, command) = line.split_once(' ').unwrap_or((&line, ""));
            seen.push(command.to_string());
            let verb = command.split(' ').next().unwrap_or("").to_ascii_uppercase();
            let reply = match verb.as_str() {
                "LOGIN" => format!("{tag} OK LOGIN completed\r\n"),
                "CAPABILITY" => format!("* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n"),
                "SELECT" => format!(
                    "* 0 EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n{tag} OK [READ-WRITE] SELECT done\r\n"
                ),
                "UID" => {
                    let _ = searched_tx.send(true);
                    format!("* SEARCH\r\n{tag} OK SEARCH done\r\n")
                }
                "LOGOUT" => format!("* BYE\r\n{tag} OK bye\r\n"),
                _ => format!("{tag} OK done\r\n"),
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                break;
            }
        }
        seen
    });
    let (intake, _store) = intake(dir.path()).await;
    let agent = starttls_agent(dir.path(), port, intake);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(agent.run(shutdown));
    tokio::time::timeout(Duration::from_secs(30), searched.wait_for(|s| *s))
        .await
        .expect("the agent went as far as searching the mailbox")
        .unwrap();
    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(30), running).await;
    let seen = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .map(|s| s.unwrap())
        .unwrap_or_default();
    // after the handshake, faxhub logged in itself: the injected "OK LOGIN" was not heard
    assert!(
        seen.first()
            .is_some_and(|c| c.to_ascii_uppercase().starts_with("LOGIN")),
        "{seen:?}"
    );
}
