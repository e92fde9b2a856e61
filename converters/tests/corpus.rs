//! Every file of the test corpus (real files from public test suites, see
//! `tests/corpus/SOURCES.md`) converts to fax pages that libtiff decodes without a warning and
//! tiffinfo reads as Class F, or
//! fails with a reason that names the file. Never a panic, never a hang. What each file gives
//! (its page count, or its status code and reason) is recorded in `tests/corpus/expected/`,
//! which the tests check; `FAXHUB_BLESS=1` rewrites those files after a deliberate change.

use faxhub_converters::{ConvertConfig, ConvertError, Converter, PageSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn corpus(kind: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(kind);
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

/// libtiff's tiffinfo must read every page as Class F: 1728 wide, G4, min-is-white, fax
/// resolution, and a page number.
fn tiffinfo_says_class_f(path: &Path, pages: u32) -> Result<(), String> {
    let out = std::process::Command::new("tiffinfo")
        .arg(path)
        .output()
        .map_err(|e| format!("tiffinfo (libtiff-tools) must be installed: {e}"))?;
    let info = String::from_utf8_lossy(&out.stdout);
    let count = |what: &str| info.matches(what).count() as u32;
    let facts = [
        count("Image Width: 1728 "),
        count("Compression Scheme: CCITT Group 4"),
        count("Photometric Interpretation: min-is-white"),
        count("Resolution: 204, "),
        count("Page Number: "),
    ];
    if out.status.success() && facts.iter().all(|&n| n == pages) {
        Ok(())
    } else {
        Err(format!("{facts:?} for {pages} pages:\n{info}"))
    }
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

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus")
}

/// Compares the outcomes of `kind` with `tests/corpus/expected/<kind>.txt` (lines of
/// `path<TAB>outcome`), or rewrites that file when FAXHUB_BLESS is set.
fn check_expected(kind: &str, outcomes: &[(String, String)]) {
    let file = corpus_root().join("expected").join(format!("{kind}.txt"));
    let ours: Vec<&(String, String)> = outcomes
        .iter()
        .filter(|(rel, _)| rel.starts_with(&format!("{kind}/")))
        .collect();
    if std::env::var_os("FAXHUB_BLESS").is_some() {
        let mut text = format!(
            "# What each file of tests/corpus/{kind} gives (converters/tests/corpus.rs checks it).\n"
        );
        for (rel, outcome) in &ours {
            text.push_str(&format!("{rel}\t{outcome}\n"));
        }
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, text).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (FAXHUB_BLESS=1 writes it)", file.display()));
    let expected: std::collections::BTreeMap<&str, &str> = expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split_once('\t'))
        .collect();
    let mut differences = Vec::new();
    for (rel, outcome) in &ours {
        match expected.get(rel.as_str()) {
            Some(want) if want == outcome => {}
            Some(want) => differences.push(format!("{rel}: expected {want}, got {outcome}")),
            None => differences.push(format!("{rel}: not in {}, got {outcome}", file.display())),
        }
    }
    for rel in expected.keys() {
        if !ours.iter().any(|(r, _)| r == rel) {
            differences.push(format!("{rel}: expected but not in the corpus"));
        }
    }
    assert!(
        differences.is_empty(),
        "{} difference(s) with {}:\n{}",
        differences.len(),
        file.display(),
        differences.join("\n")
    );
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
    let mut outcomes = Vec::new();
    for path in kinds.iter().flat_map(|k| corpus(k)) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let rel = path
            .strip_prefix(corpus_root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
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
                tiffinfo_says_class_f(&set.tiff, set.pages)
                    .unwrap_or_else(|e| panic!("{name}: tiffinfo: {e}"));
                println!("ok      {name}: {} page(s)", set.pages);
                outcomes.push((rel, format!("{} page(s)", set.pages)));
                converted += 1;
            }
            Err(e) => {
                println!("refused {name}: {e} [{}]", e.status());
                outcomes.push((rel, format!("refused {}: {e}", e.status())));
                refused.push(format!("{name}: {e}"));
            }
        }
    }
    for kind in kinds {
        check_expected(kind, &outcomes);
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
