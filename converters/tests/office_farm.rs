//! The LibreOffice farm under a document that hangs it: the instance is killed at the timeout,
//! the job fails with that reason, and the farm goes on converting the next documents.

use faxhub_converters::{ConvertConfig, ConvertError, Converter};
use std::time::Duration;

/// An RTF table of 20,000 rows: LibreOffice spends minutes laying it out.
fn hanging_rtf() -> Vec<u8> {
    let mut rtf = String::from("{\\rtf1\\ansi ");
    for i in 0..20_000 {
        rtf.push_str(&format!(
            "\\trowd\\cellx2000\\cellx4000\\cellx6000 a{i}\\cell b\\cell c\\cell\\row\n"
        ));
    }
    rtf.push('}');
    rtf.into_bytes()
}

/// soffice.bin processes whose profile lives under `dir`.
fn instances_under(dir: &std::path::Path) -> usize {
    let out = std::process::Command::new("ps")
        .args(["-eo", "args"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("soffice.bin") && l.contains(&*dir.to_string_lossy()))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_document_is_killed_at_the_timeout_and_the_farm_goes_on() {
    let scratch = tempfile::tempdir().unwrap();
    let config = ConvertConfig {
        office_instances: 1,
        office_timeout: Duration::from_secs(4),
        ..ConvertConfig::default()
    };
    let converter = Converter::new(config).with_scratch(scratch.path().to_path_buf());
    converter
        .warm_up()
        .await
        .expect("LibreOffice and python3-uno must be installed: run `make test`");
    let work = tempfile::tempdir().unwrap();
    let err = converter
        .convert_file("huge-table.rtf", &hanging_rtf(), work.path())
        .await
        .unwrap_err();
    // killed at the timeout configured, which the error reports (not judged by the clock)
    assert!(
        matches!(err, ConvertError::Timeout { after, .. } if after == Duration::from_secs(4)),
        "{err}"
    );
    assert!(
        err.to_string().contains("LibreOffice took longer than"),
        "{err}"
    );
    // the hung instance is gone
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        instances_under(scratch.path()),
        0,
        "the hung soffice was killed"
    );
    // and the next documents convert on a fresh instance
    for i in 0..2 {
        let small = format!("{{\\rtf1\\ansi Hello fax {i}\\par}}");
        let work = tempfile::tempdir().unwrap();
        let set = converter
            .convert_file("small.rtf", small.as_bytes(), work.path())
            .await
            .unwrap();
        assert_eq!(set.pages, 1);
    }
}
