//! Every file of the test corpus (real files from public test suites, see
//! `tests/corpus/SOURCES.md`) converts to fax pages that libtiff decodes without a warning, or
//! fails with a reason that names the file. Never a panic, never a hang.

use faxhub_converters::{ConvertConfig, ConvertError, Converter, PageSet};
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

/// Converts every file of the corpus kinds; returns (converted, refusals as "name: reason").
async fn run_kinds(
    kinds: &[&str],
    convert: impl AsyncFn(&Converter, &str, &[u8], &Path) -> Result<PageSet, ConvertError>,
) -> (usize, Vec<String>) {
    let converter = Converter::new(ConvertConfig {
        tool_timeout: Duration::from_secs(60),
        ..ConvertConfig::default()
    });
    let mut converted = 0;
    let mut refused = Vec::new();
    for path in kinds.iter().flat_map(|k| corpus(k)) {
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
                assert!(set.pages >= 1, "{name}");
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
        "{kinds:?}: {converted} converted, {} refused with a reason",
        refused.len()
    );
    (converted, refused)
}

/// Standalone files: each refusal names the file, and refusals stay under 1 in `share`.
async fn files_convert_or_fail_named(kinds: &[&str], share: usize) {
    let (converted, refused) = run_kinds(kinds, async |c, name, bytes, dir| {
        c.convert_file(name, bytes, dir).await
    })
    .await;
    for r in &refused {
        let (name, reason) = r.split_once(": ").unwrap();
        assert!(reason.starts_with(name), "{r}: the reason names the file");
    }
    assert!(
        refused.len() * share <= converted + refused.len(),
        "too many refusals:\n{}",
        refused.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_image_and_tiff_converts_or_fails_with_its_name() {
    files_convert_or_fail_named(&["image", "tiff"], 10).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_pdf_converts_or_fails_with_its_name() {
    files_convert_or_fail_named(&["pdf"], 10).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_office_file_converts_through_the_farm_or_fails_with_its_name() {
    files_convert_or_fail_named(&["office"], 10).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_mail_converts_or_fails_with_a_reason() {
    let (converted, refused) = run_kinds(&["eml"], async |c, name, bytes, dir| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        c.convert(&path, dir).await
    })
    .await;
    // Refused today: raw winmail.dat and Outlook .msg files (not RFC 5322 mail), audio, and
    // parts the test suites broke on purpose.
    assert!(
        converted * 10 >= (converted + refused.len()) * 6,
        "{converted} converted:\n{}",
        refused.join("\n")
    );
}
