//! Hostile documents: Office, OpenDocument and RTF files that link a file of the server (a canary
//! image, solid black, in a directory the converters must never see) or a URL of a listener this
//! test starts. Each is first converted by a plain `soffice --convert-to pdf` (the control: the
//! canary must show on its page, or the listener must be reached, else the case is no real
//! attack), then by faxhub's converter: no canary on the fax page, no connection at the listener.
//! And each that the defuser is to stop is given to a plain soffice once defused: the defuser
//! alone, without the sandbox and the hardened profile, must keep the canary off the page.

mod documents;

use documents::Link;
use faxhub_converters::{ConvertConfig, Converter};
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The canary covers most of a page: a page showing it is more than this share black.
const SHOWN: f64 = 0.25;

/// A solid black PNG, 600×600, in a directory of the test's own (not under any work directory).
fn canary(dir: &Path) -> PathBuf {
    let path = dir.join("canary.png");
    let black = image::GrayImage::from_pixel(600, 600, image::Luma([0u8]));
    black.save(&path).expect("canary image");
    path
}

/// A PDF whose one page is solid black, beside the canary image.
fn canary_pdf(dir: &Path) -> PathBuf {
    let path = dir.join("canary.pdf");
    let status = std::process::Command::new("gs")
        .args(["-q", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pdfwrite", "-o"])
        .arg(&path)
        .args([
            "-c",
            "<</PageSize [400 400]>> setpagedevice 0 setgray 0 0 400 400 rectfill showpage",
        ])
        .status()
        .expect("gs");
    assert!(status.success(), "gs made the canary PDF");
    path
}

/// A listener that counts connections (and answers each with the canary).
fn listener(png: Vec<u8>) -> (u16, Arc<AtomicUsize>) {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        for stream in socket.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                png.len()
            );
            use std::io::Write;
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&png);
        }
    });
    (port, count)
}

/// Page 1 of a PDF rendered by Ghostscript's `device` at `dpi`, beside it with extension `ext`.
fn page1(pdf: &Path, device: &str, dpi: u32, ext: &str) -> PathBuf {
    let out = pdf.with_extension(ext);
    let status = std::process::Command::new("gs")
        .args(["-q", "-dSAFER", "-dBATCH", "-dNOPAUSE"])
        .arg(format!("-sDEVICE={device}"))
        .arg(format!("-r{dpi}"))
        .args(["-dFirstPage=1", "-dLastPage=1"])
        .arg(format!("-sOutputFile={}", out.display()))
        .arg(pdf)
        .status()
        .expect("gs");
    assert!(status.success(), "gs rendered {}", pdf.display());
    out
}

/// The share of black pixels on page 1 of a PDF (Ghostscript at 30 dpi, grey).
fn black_share(pdf: &Path) -> f64 {
    let pgm = page1(pdf, "pgmraw", 30, "pgm");
    let bytes = std::fs::read(&pgm).unwrap();
    // P5\n<w> <h>\n255\n<pixels>
    let mut fields = 0;
    let mut at = 0;
    while fields < 4 {
        while bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        while !bytes[at].is_ascii_whitespace() {
            at += 1;
        }
        fields += 1;
    }
    let pixels = &bytes[at + 1..];
    pixels.iter().filter(|&&p| p < 128).count() as f64 / pixels.len() as f64
}

/// The control: LibreOffice as anyone would run it, no sandbox, a profile of its own.
fn plain_soffice(input: &Path, out: &Path, infilter: Option<&str>) -> PathBuf {
    soffice_to(input, out, infilter, "pdf")
}

/// `soffice --convert-to <to>` as anyone would run it.
fn soffice_to(input: &Path, out: &Path, infilter: Option<&str>, to: &str) -> PathBuf {
    let profile = out.join("profile");
    let status = std::process::Command::new("soffice")
        .arg("--headless")
        .arg(format!(
            "-env:UserInstallation=file://{}",
            profile.display()
        ))
        .args(infilter.map(|f| format!("--infilter={f}")))
        .args(["--convert-to", to, "--outdir"])
        .arg(out)
        .arg(input)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("soffice");
    assert!(status.success(), "soffice converted {}", input.display());
    out.join(input.with_extension(to).file_name().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn linked_files_and_urls_never_reach_a_fax_page_nor_the_network() {
    let secrets = tempfile::tempdir().unwrap();
    let canary = canary(secrets.path());
    let (port, connections) = listener(std::fs::read(&canary).unwrap());
    let url = format!("http://127.0.0.1:{port}/canary.png");
    let scratch = tempfile::tempdir().unwrap();
    let converter = Converter::new(ConvertConfig {
        office_instances: 1,
        ..ConvertConfig::default()
    })
    .with_scratch(scratch.path().to_path_buf());
    let mut failures = Vec::new();
    for case in documents::cases(&canary, &canary_pdf(secrets.path()), &url) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join(&case.name);
        std::fs::write(&input, &case.bytes).unwrap();
        // the control
        let before = connections.load(Ordering::SeqCst);
        let pdf = plain_soffice(&input, dir.path(), case.infilter);
        let reached = connections.load(Ordering::SeqCst) > before;
        let shown = black_share(&pdf);
        match case.link {
            Link::File => assert!(
                shown > SHOWN,
                "control: plain soffice shows the canary of {} ({shown:.2} black)",
                case.name
            ),
            Link::Url => assert!(
                reached,
                "control: plain soffice fetched {url} for {}",
                case.name
            ),
        }
        // faxhub
        let before = connections.load(Ordering::SeqCst);
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        match converter.convert_file(&case.name, &case.bytes, &work).await {
            Ok(set) => {
                let share = black_share(&set.pdf);
                if share > SHOWN {
                    failures.push(format!(
                        "{}: the canary is on the fax page ({share:.2} black)",
                        case.name
                    ));
                }
            }
            // refusing the document is safe too, as long as it says why
            Err(e) => assert!(e.to_string().contains(&case.name), "{}: {e}", case.name),
        }
        if connections.load(Ordering::SeqCst) > before {
            failures.push(format!("{}: faxhub's converter reached {url}", case.name));
        }
        eprintln!("{}: control {shown:.2} black, reached {reached}", case.name);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Defence in depth: each document with its links taken out (`defuse`), given to a plain
/// soffice (no sandbox, no hardened profile), shows no canary and fetches nothing.
#[test]
fn taking_the_links_out_alone_stops_each_document() {
    let secrets = tempfile::tempdir().unwrap();
    let canary = canary(secrets.path());
    let (port, connections) = listener(std::fs::read(&canary).unwrap());
    let url = format!("http://127.0.0.1:{port}/canary.png");
    let mut failures = Vec::new();
    for case in documents::cases(&canary, &canary_pdf(secrets.path()), &url) {
        if !case.defused {
            continue;
        }
        let defused = match faxhub_converters::defuse::defuse(&case.bytes) {
            Ok(Some(d)) => d,
            other => {
                failures.push(format!("{}: nothing taken out ({other:?})", case.name));
                continue;
            }
        };
        assert!(!defused.removed.is_empty(), "{}", case.name);
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join(&case.name);
        std::fs::write(&input, &defused.bytes).unwrap();
        let before = connections.load(Ordering::SeqCst);
        let shown = black_share(&plain_soffice(&input, dir.path(), None));
        if shown > SHOWN {
            failures.push(format!(
                "{}: the canary is shown ({shown:.2} black)",
                case.name
            ));
        }
        if connections.load(Ordering::SeqCst) > before {
            failures.push(format!("{}: {url} was fetched", case.name));
        }
        eprintln!(
            "{}: {shown:.2} black after {:?}",
            case.name, defused.removed
        );
    }
    // the formula that reads a spreadsheet of the server
    const SECRET: &str = "CANARY SECRET 4711";
    let fods = secrets.path().join("canary.fods");
    std::fs::write(&fods, documents::flat_sheet(SECRET)).unwrap();
    let ods = soffice_to(&fods, secrets.path(), None, "ods");
    let bytes = documents::xlsx_indirect(&format!("file://{}", ods.display()));
    let defused = faxhub_converters::defuse::defuse(&bytes).unwrap().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("indirect.xlsx");
    std::fs::write(&input, &defused.bytes).unwrap();
    let text = pdf_text(&plain_soffice(&input, dir.path(), None));
    if text.contains(SECRET) {
        failures.push(format!("indirect.xlsx: {text}"));
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The text of a PDF's pages (Ghostscript's txtwrite: the control's PDF has real text).
fn pdf_text(pdf: &Path) -> String {
    let out = std::process::Command::new("gs")
        .args([
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            "-sDEVICE=txtwrite",
            "-sOutputFile=-",
        ])
        .arg(pdf)
        .output()
        .expect("gs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What Tesseract reads on page 1 of a fax page set's PDF (its pages are pictures).
fn ocr_page1(pdf: &Path) -> String {
    let png = page1(pdf, "pnggray", 200, "png");
    let out = std::process::Command::new("tesseract")
        .arg(&png)
        .arg("-")
        .output()
        .expect("tesseract (make test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_formula_never_prints_a_spreadsheet_of_the_server() {
    const SECRET: &str = "CANARY SECRET 4711";
    let secrets = tempfile::tempdir().unwrap();
    let fods = secrets.path().join("canary.fods");
    std::fs::write(&fods, documents::flat_sheet(SECRET)).unwrap();
    let ods = soffice_to(&fods, secrets.path(), None, "ods");
    let bytes = documents::xlsx_indirect(&format!("file://{}", ods.display()));
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("indirect.xlsx");
    std::fs::write(&input, &bytes).unwrap();
    // the control: a plain soffice prints the other spreadsheet's cell
    let control = pdf_text(&plain_soffice(&input, dir.path(), None));
    assert!(control.contains(SECRET), "control: {control}");
    // faxhub
    let scratch = tempfile::tempdir().unwrap();
    let converter = Converter::new(ConvertConfig {
        office_instances: 1,
        ..ConvertConfig::default()
    })
    .with_scratch(scratch.path().to_path_buf());
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    match converter.convert_file("indirect.xlsx", &bytes, &work).await {
        Ok(set) => {
            let read = ocr_page1(&set.pdf);
            assert!(
                !read.contains("4711") && !read.contains("CANARY"),
                "on the fax page: {read}"
            );
        }
        Err(e) => assert!(e.to_string().contains("indirect.xlsx"), "{e}"),
    }
}
