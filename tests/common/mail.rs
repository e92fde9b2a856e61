//! Reading what faxhub mailed: the messages of a Maildir, each read by Python's email package
//! (`tests/tools/read_report.py`, an independent parser) into JSON; and the normalising of
//! human texts for golden files (dates, ids and durations vary from run to run).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const READER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/read_report.py");

/// The messages delivered into the Maildir `dir` (its `new/`), oldest name first.
pub fn messages(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("new"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// One message as Python's email package reads it.
pub fn read(path: &Path) -> Value {
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(READER)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits until the Maildir holds `n` messages (or `timeout`), and reads them.
pub fn wait_for(dir: &Path, n: usize, timeout: Duration, why: impl Fn() -> String) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let files = messages(dir);
        if files.len() >= n {
            return files.iter().map(|f| read(f)).collect();
        }
        assert!(
            start.elapsed() < timeout,
            "{} of {n} messages in {}: {}",
            files.len(),
            dir.display(),
            why()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The human text with what varies replaced: dates, the job id, durations and attempt counts
/// (`<n>`).
pub fn normalise(text: &str, job: &str) -> String {
    let mut out = String::new();
    for line in text.replace("\r\n", "\n").lines() {
        let mut l = line.replace(job, "<job>");
        // "2026-11-27 17:57:24 +00:00"
        if let Some(at) = find_date(&l) {
            l = format!("{}<date>{}", &l[..at], &l[at + DATE_LEN..]);
        }
        // how long calls took, and how many were made by the time of a delay report
        for label in ["Duration:", "Durée:", "Dauer:", "Attempts:"] {
            if l.starts_with(label) {
                let rest = &l[label.len()..];
                let spaces = rest.len() - rest.trim_start().len();
                l = format!("{}<n>", &l[..label.len() + spaces]);
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

const DATE_LEN: usize = "2026-11-27 17:57:24 +00:00".len();

fn find_date(l: &str) -> Option<usize> {
    let b = l.as_bytes();
    (0..(b.len() + 1).saturating_sub(DATE_LEN)).find(|&i| {
        let s = &b[i..i + DATE_LEN];
        s[4] == b'-'
            && s[7] == b'-'
            && s[10] == b' '
            && s[13] == b':'
            && s[19] == b' '
            && (s[20] == b'+' || s[20] == b'-')
            && s[..4].iter().all(u8::is_ascii_digit)
    })
}

/// Compares `got` with the golden file `name` under tests/golden (`UPDATE_GOLDEN=1` writes it).
pub fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got, want, "{}", path.display());
}
