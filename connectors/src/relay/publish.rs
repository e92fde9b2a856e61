//! How a file is handed to a program that polls a directory (a Maildir reader, Exchange's
//! Replay directory, GroupWise's API_IN): written in full under a name the reader ignores,
//! synced, renamed to the name it takes, and the directory synced. The reader never sees half
//! a file; a crash leaves the file published or only the ignored one.

use faxhub_queue::durable;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// A name no other writer in this or another faxhub process picks: `<secs>.M<µs>P<pid>Q<n>`.
pub fn unique_name() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!(
        "{}.M{}P{}Q{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        SEQUENCE.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `parts` to `staging`, syncs, renames it to `target` and syncs `target`'s directory
/// (`faxhub_queue::durable`).
pub fn publish(staging: &Path, target: &Path, parts: &[&[u8]]) -> std::io::Result<PathBuf> {
    durable::write(staging, target, parts, durable::Dir::Sync)?;
    Ok(target.to_path_buf())
}
