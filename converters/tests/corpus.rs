//! Every image and TIFF of the test corpus (real files from public test suites, see
//! `tests/corpus/SOURCES.md`) converts to fax pages that libtiff decodes, or fails with a reason
//! that names the file. Never a panic, never a hang.

use faxhub_converters::{ConvertConfig, Converter};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus")
        .join(kind);
    let mut files = Vec::new();
    for sub in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    assert!(!files.is_empty());
    files
}

/// libtiff must decode every page without a warning.
fn libtiff_decodes(path: &Path, scratch: &Path) -> Result<(), String> {
    let out = std::process::Command::new("tiffcp")
        .args(["-c", "none"])
        .arg(path)
        .arg(scratch.join("decoded.tif"))
        .output()
        .map_err(|e| format!("tiffcp (libtiff-tools) must be installed: {e}"))?;
    if out.status.success() && out.stderr.is_empty() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_image_converts_or_fails_with_its_name() {
    let converter = Converter::new(ConvertConfig::default());
    let mut converted = 0;
    let mut refused = Vec::new();
    let mut report = String::new();
    for path in corpus("image").into_iter().chain(corpus("tiff")) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let work = tempfile::tempdir().unwrap();
        let result = tokio::time::timeout(
            Duration::from_secs(60),
            converter.convert_file(&name, &bytes, work.path()),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: conversion hung"));
        match result {
            Ok(set) => {
                assert!(set.pages >= 1, "{name}");
                libtiff_decodes(&set.tiff, work.path())
                    .unwrap_or_else(|e| panic!("{name}: libtiff: {e}"));
                converted += 1;
                report.push_str(&format!("ok      {name}: {} page(s)\n", set.pages));
            }
            Err(e) => {
                let text = e.to_string();
                assert!(
                    text.starts_with(&name),
                    "{name}: the reason must name the file: {text}"
                );
                report.push_str(&format!("refused {text}\n"));
                refused.push(text);
            }
        }
    }
    println!("{report}");
    println!(
        "{converted} converted, {} refused with a reason",
        refused.len()
    );
    // Only files that really are unusable may be refused; today that is a small minority.
    assert!(
        refused.len() * 10 <= converted,
        "too many refusals:\n{}",
        refused.join("\n")
    );
}

/// Converts every file of a corpus kind; returns (converted, refusals).
async fn run_kind(
    kind: &str,
    convert: impl AsyncFn(
        &Converter,
        &str,
        &[u8],
        &Path,
    ) -> Result<faxhub_converters::PageSet, faxhub_converters::ConvertError>,
) -> (usize, Vec<String>) {
    let converter = Converter::new(ConvertConfig {
        tool_timeout: Duration::from_secs(60),
        ..ConvertConfig::default()
    });
    let mut converted = 0;
    let mut refused = Vec::new();
    for path in corpus(kind) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&path).unwrap();
        let work = tempfile::tempdir().unwrap();
        let result = tokio::time::timeout(
            Duration::from_secs(180),
            convert(&converter, &name, &bytes, work.path()),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: conversion hung"));
        match result {
            Ok(set) => {
                libtiff_decodes(&set.tiff, work.path())
                    .unwrap_or_else(|e| panic!("{name}: libtiff: {e}"));
                println!("ok      {name}: {} page(s)", set.pages);
                converted += 1;
            }
            Err(e) => {
                println!("refused {name}: {e} [{}]", e.status());
                refused.push(format!("{name}: {e}"));
            }
        }
    }
    println!(
        "{kind}: {converted} converted, {} refused with a reason",
        refused.len()
    );
    (converted, refused)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_pdf_converts_or_fails_with_its_name() {
    let (converted, refused) = run_kind("pdf", async |c, name, bytes, dir| {
        c.convert_file(name, bytes, dir).await
    })
    .await;
    for r in &refused {
        let (name, reason) = r.split_once(": ").unwrap();
        assert!(reason.starts_with(name), "{r}: the reason names the file");
    }
    assert!(
        refused.len() * 5 <= converted,
        "too many refusals:\n{}",
        refused.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_mail_converts_or_fails_with_a_reason() {
    let (converted, refused) = run_kind("eml", async |c, name, bytes, dir| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        c.convert(&path, dir).await
    })
    .await;
    // Office attachments wait for the LibreOffice farm; everything else converts.
    assert!(
        converted >= refused.len(),
        "{converted} converted:\n{}",
        refused.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_office_file_converts_through_the_farm_or_fails_with_its_name() {
    let (converted, refused) = run_kind("office", async |c, name, bytes, dir| {
        c.convert_file(name, bytes, dir).await
    })
    .await;
    for r in &refused {
        let (name, reason) = r.split_once(": ").unwrap();
        assert!(reason.starts_with(name), "{r}: the reason names the file");
    }
    assert!(
        refused.len() * 10 <= converted,
        "too many refusals:\n{}",
        refused.join("\n")
    );
}
