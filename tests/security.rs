//! End to end, what issue 13 asks of the daemon itself: data at rest readable by faxhub's user
//! and group only, a configuration holding a password flagged when others can read it, and no
//! conversion without the sandbox unless the administrator turned it off; hostile documents
//! mailed to it show nothing of the server on the fax or the receipt.

mod common;
/// The hostile documents of the converters' tests.
#[path = "../converters/tests/hostile/documents.rs"]
#[allow(dead_code)]
mod documents;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(120);

/// Every file and directory under `root` that others may reach and read, write or enter (what
/// lies in a directory others cannot enter is not theirs to reach, e.g. the sandbox's support
/// files, world-readable for the sandbox user, in the spool's 0750 tmp/).
fn open_to_others(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let meta = std::fs::symlink_metadata(entry.path()).unwrap();
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o007 != 0 {
                out.push(format!("{} {:o}", entry.path().display(), mode));
            }
            if meta.is_dir() && mode & 0o001 != 0 {
                stack.push(entry.path());
            }
        }
    }
    out
}

#[test]
fn a_run_leaves_nothing_readable_by_others() {
    let hub = Faxhub::start("", "");
    let mut smtp = hub.smtp();
    let reply = smtp.send_mail(
        "alice@example.com",
        &["0169293999@fax.localhost"],
        &text_message("Modes", "Nothing here is for other users."),
    );
    assert_eq!(reply.0, 250, "{reply:?}");
    let job = hub.wait_finished(&queued_id(&reply), WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job}");
    // the receipt is in the Maildir by now or soon: wait for it, then look at everything
    let maildir = hub.data_dir().join("Maildir/new");
    let deadline = std::time::Instant::now() + WAIT;
    while std::fs::read_dir(&maildir).map_or(0, |d| d.count()) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no receipt in {maildir:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let open = open_to_others(&hub.data_dir());
    assert!(open.is_empty(), "readable by others: {open:#?}");
    let db = std::fs::metadata(hub.data_dir().join("faxhub.db")).unwrap();
    assert_eq!(db.permissions().mode() & 0o777, 0o640);
}

#[test]
fn check_config_flags_a_password_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faxhub.toml");
    std::fs::write(
        &path,
        "local_domains = [\"corp.test\"]\n[relay]\nhost = \"mail.example.com\"\nusername = \"fax\"\npassword = \"s3cret\"\n",
    )
    .unwrap();
    let check = || {
        let out = Command::new(BIN)
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let said = check();
    assert!(
        said.contains("warning:")
            && said.contains("holds a password or secret")
            && said.contains("644"),
        "{said}"
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(!check().contains("warning:"));
}

#[test]
fn without_bubblewrap_nothing_is_converted_unless_the_sandbox_is_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    // a PATH where every tool but bwrap is found
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    for entry in std::fs::read_dir("/usr/bin").unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "bwrap" {
            let _ = std::os::unix::fs::symlink(entry.path(), bin.join(entry.file_name()));
        }
    }
    let config = dir.path().join("faxhub.toml");
    let run = |text: &str, args: &[&str]| {
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\n{text}",
                dir.path().join("var").display()
            ),
        )
        .unwrap();
        Command::new(BIN)
            .arg("-c")
            .arg(&config)
            .args(args)
            .env("PATH", &bin)
            .output()
            .unwrap()
    };
    let check = run("", &["check-config"]);
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        err.contains("bubblewrap") && err.trim().lines().count() == 1,
        "{err}"
    );
    // serve refuses to start, before it listens
    let port = free_port();
    let serve = run(
        &format!(
            "[smtp]\nlisten = [\"127.0.0.1:{port}\"]\n[http]\nlisten = []\n[[lines]]\nname = \"file\"\nkind = \"file\"\n"
        ),
        &["serve"],
    );
    assert_eq!(serve.status.code(), Some(1), "{serve:?}");
    assert!(String::from_utf8_lossy(&serve.stderr).contains("sandbox"));
    // the administrator's explicit choice
    let off = run("[convert.sandbox]\nmode = \"off\"\n", &["check-config"]);
    assert!(off.status.success(), "{off:?}");
    assert!(String::from_utf8_lossy(&off.stdout).contains("unsandboxed"));
}

#[test]
fn toll_fraud_destinations_are_refused_on_smtp_and_the_cli() {
    let hub = Faxhub::start("", "");
    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("doc.pdf");
    std::fs::write(&pdf, make_pdf(dir.path(), 1)).unwrap();
    for (number, label) in [
        ("+19005550100", "premium rate (NANP)"),
        ("+449098790000", "premium rate (United Kingdom)"),
        ("+881612345678", "satellite"),
    ] {
        let mut smtp = hub.smtp();
        smtp.cmd("EHLO client.example.com");
        smtp.cmd("MAIL FROM:<alice@example.com>");
        let (code, text) = smtp.cmd(&format!("RCPT TO:<{number}@fax.localhost>"));
        assert_eq!(code, 550, "{number}: {text}");
        assert!(
            text.contains("5.7.1") && text.contains(label),
            "{number}: {text}"
        );
        let cli = hub.cli(&["send", "--to", number, pdf.to_str().unwrap()]);
        assert_eq!(cli.status.code(), Some(2), "{number}");
        let err = String::from_utf8_lossy(&cli.stderr);
        assert!(err.contains(label), "{number}: {err}");
    }
    assert!(hub.queue(true).is_empty(), "nothing queued");
    // the control: an ordinary number abroad is taken
    let cli = hub.cli(&["send", "--to", "+442079460018", pdf.to_str().unwrap()]);
    assert!(cli.status.success(), "{cli:?}");
}

#[test]
fn a_spreadsheet_of_the_server_never_reaches_the_fax_nor_the_receipt() {
    const SECRET: &str = "CANARY SECRET 4711";
    let secrets = tempfile::tempdir().unwrap();
    let fods = secrets.path().join("canary.fods");
    std::fs::write(&fods, documents::flat_sheet(SECRET)).unwrap();
    let soffice = |input: &Path, to: &str| {
        let profile = secrets.path().join("profile");
        let ok = Command::new("soffice")
            .arg("--headless")
            .arg(format!(
                "-env:UserInstallation=file://{}",
                profile.display()
            ))
            .args(["--convert-to", to, "--outdir"])
            .arg(secrets.path())
            .arg(input)
            .output()
            .expect("soffice")
            .status
            .success();
        assert!(ok, "soffice made {to} of {}", input.display());
        secrets
            .path()
            .join(input.with_extension(to).file_name().unwrap())
    };
    let ods = soffice(&fods, "ods");
    let xlsx = documents::xlsx_indirect(&format!("file://{}", ods.display()));
    // the control: a plain soffice prints the server's spreadsheet
    let input = secrets.path().join("indirect.xlsx");
    std::fs::write(&input, &xlsx).unwrap();
    let control = Command::new("gs")
        .args([
            "-q",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=txtwrite",
            "-sOutputFile=-",
        ])
        .arg(soffice(&input, "pdf"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&control.stdout).contains(SECRET),
        "control"
    );

    let hub = Faxhub::start("", "");
    let mail = message_with_attachment(
        "Figures",
        "The figures are attached.",
        "figures.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &xlsx,
    );
    let reply = hub
        .smtp()
        .send_mail("alice@example.com", &["0169293999@fax.localhost"], &mail);
    assert_eq!(reply.0, 250, "{reply:?}");
    let job = hub.wait_finished(&queued_id(&reply), WAIT);
    assert_eq!(job["recipients"][0]["status"], "done", "{job}");
    // the pages sent, read back
    let sent = hub.outbox();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let read = ocr(&sent[0]);
    assert!(
        read.contains("figures are attached"),
        "OCR works on the fax: {read}"
    );
    assert!(
        !read.contains("4711") && !read.contains("CANARY"),
        "faxed: {read}"
    );
    // the receipt's PDF, read back
    let maildir = hub.data_dir().join("Maildir/new");
    let deadline = std::time::Instant::now() + WAIT;
    let receipt = loop {
        if let Some(entry) = std::fs::read_dir(&maildir).ok().and_then(|mut d| d.next()) {
            break std::fs::read(entry.unwrap().path()).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "no receipt");
        std::thread::sleep(Duration::from_millis(200));
    };
    let pdf = pages_of(&receipt);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("receipt.pdf"), &pdf).unwrap();
    let png = dir.path().join("receipt.png");
    let rendered = Command::new("gs")
        .args(["-q", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray", "-r200"])
        .arg(format!("-sOutputFile={}", png.display()))
        .arg(dir.path().join("receipt.pdf"))
        .status()
        .unwrap();
    assert!(rendered.success());
    let read = ocr(&png);
    assert!(
        read.contains("figures are attached"),
        "OCR works on the receipt: {read}"
    );
    assert!(
        !read.contains("4711") && !read.contains("CANARY"),
        "receipt: {read}"
    );
}

/// The PDF of the pages a receipt carries.
fn pages_of(receipt: &[u8]) -> Vec<u8> {
    let parsed = mail_parser::MessageParser::default()
        .parse(receipt)
        .unwrap();
    parsed
        .attachments()
        .find(|a| a.contents().starts_with(b"%PDF"))
        .expect("the receipt carries the pages as PDF")
        .contents()
        .to_vec()
}

/// The largest share of black pixels on a page of a PDF (Ghostscript at 30 dpi, grey).
fn black_share(pdf: &Path) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let rendered = Command::new("gs")
        .args([
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=pgmraw",
            "-r30",
        ])
        .arg(format!("-sOutputFile={}/p%03d.pgm", dir.path().display()))
        .arg(pdf)
        .status()
        .expect("gs");
    assert!(rendered.success(), "gs rendered {}", pdf.display());
    let mut most: f64 = 0.0;
    let mut pages = 0;
    for page in std::fs::read_dir(dir.path()).unwrap() {
        // P5 <w> <h> 255 <pixels>: four fields, then one white-space byte
        let bytes = std::fs::read(page.unwrap().path()).unwrap();
        let mut at = 0;
        for _ in 0..4 {
            while bytes[at].is_ascii_whitespace() {
                at += 1;
            }
            while !bytes[at].is_ascii_whitespace() {
                at += 1;
            }
        }
        let pixels = &bytes[at + 1..];
        let share = pixels.iter().filter(|&&p| p < 128).count() as f64 / pixels.len() as f64;
        most = most.max(share);
        pages += 1;
    }
    assert!(pages > 0, "no page in {}", pdf.display());
    most
}

/// The black share above which a page shows the canary.
const SHOWN: f64 = 0.05;

/// Every hostile document of the converters' suite (whose controls show each to be a real
/// attack on a plain soffice), mailed to the running faxhub: no canary on the page faxed nor on
/// the receipt's PDF, no connection at the listener.
#[test]
fn hostile_documents_mailed_to_faxhub_show_nothing_of_the_server() {
    let secrets = tempfile::tempdir().unwrap();
    let canary = secrets.path().join("canary.png");
    let canary_pdf = secrets.path().join("canary.pdf");
    for (device, out, size) in [
        ("pnggray", &canary, "-g600x600"),
        ("pdfwrite", &canary_pdf, "-g400x400"),
    ] {
        let made = Command::new("gs")
            .args([
                "-q",
                "-dBATCH",
                "-dNOPAUSE",
                &format!("-sDEVICE={device}"),
                size,
                "-o",
            ])
            .arg(out)
            .args(["-c", "0 setgray 0 0 600 600 rectfill showpage"])
            .status()
            .unwrap();
        assert!(made.success(), "gs made {}", out.display());
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/canary.png", listener.local_addr().unwrap());
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });

    let hub = Faxhub::start("", "");
    let mut cases = documents::cases(&canary, &canary_pdf, &url);
    // the measure's control: the canary itself attached shows as black on both
    cases.push(documents::Case {
        name: "canary.png".into(),
        bytes: std::fs::read(&canary).unwrap(),
        link: documents::Link::File,
        infilter: None,
        defused: false,
    });
    let mut jobs = Vec::new();
    for case in &cases {
        let mail = message_with_attachment(
            &case.name,
            "Quarterly report attached.",
            &case.name,
            "application/octet-stream",
            &case.bytes,
        );
        let reply = hub
            .smtp()
            .send_mail("alice@example.com", &["0169293999@fax.localhost"], &mail);
        jobs.push((case.name.clone(), queued_id(&reply)));
    }
    let maildir = hub.data_dir().join("Maildir");
    let receipts = common::mail::wait_for(&maildir, jobs.len(), WAIT, || hub.log());
    assert_eq!(receipts.len(), jobs.len());
    let mut failures = Vec::new();
    let work = tempfile::tempdir().unwrap();
    for (name, id) in &jobs {
        let job = hub.wait_finished(id, WAIT);
        let status = job["recipients"][0]["status"]
            .as_str()
            .unwrap_or("")
            .to_string();
        if status != "done" {
            // refusing a document is safe too, as long as the reason names it
            let reason = job["recipients"][0]["reason"].as_str().unwrap_or("");
            assert!(reason.contains(name.as_str()), "{name}: {job:#}");
            continue;
        }
        // the pages faxed (the file line's TIFF, as a PDF by libtiff's tiff2pdf)
        let tiff = hub
            .outbox()
            .into_iter()
            .find(|f| {
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(id.as_str())
            })
            .unwrap_or_else(|| panic!("{name}: nothing faxed"));
        let faxed = work.path().join(format!("{id}.pdf"));
        let converted = Command::new("tiff2pdf")
            .arg("-o")
            .arg(&faxed)
            .arg(&tiff)
            .status()
            .expect("tiff2pdf (libtiff-tools)");
        assert!(converted.success(), "{name}: tiff2pdf {}", tiff.display());
        // the receipt's PDF of the same job
        let receipt = hub
            .data_dir()
            .join("Maildir/new")
            .read_dir()
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .find(|m| String::from_utf8_lossy(m).contains(&format!("fax-{id}.pdf")))
            .unwrap_or_else(|| panic!("{name}: no receipt with the pages"));
        let pdf = pages_of(&receipt);
        let receipt_pdf = work.path().join(format!("{id}-receipt.pdf"));
        std::fs::write(&receipt_pdf, pdf).unwrap();
        for (what, pdf) in [("fax", &faxed), ("receipt", &receipt_pdf)] {
            let share = black_share(pdf);
            // a page of text is under 1% black; the canary covers from 9% (attached as it is)
            // to 40% (linked by a document) of a page
            if name == "canary.png" {
                assert!(
                    share > SHOWN,
                    "control: the canary attached is on the {what} ({share:.2})"
                );
            } else if share > SHOWN {
                failures.push(format!(
                    "{name}: the canary is on the {what} ({share:.2} black)"
                ));
            }
        }
    }
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "faxhub reached {url}"
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
