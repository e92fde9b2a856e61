//! Files in a polled folder: which are ready to take (regular, not hidden, not being written:
//! unchanged for `settle`), their source key, and their removal. A symbolic link, device, FIFO
//! or socket is never followed nor read: it comes back with `refused` set, for the agent to
//! quarantine; every read of a file an agent takes goes through `read_regular` (opened with
//! `O_NOFOLLOW`, checked to be a regular file on the open descriptor, bounded in size).
//!
//! A file's key is its name, size, modification time (ns) and inode: the same file seen again
//! after a crash has the same key; a new file dropped later under the same name has another.

use faxhub_queue::files::{self, Links};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A file ready to take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub name: String,
    /// `<agent>:<name>:<size>:<mtime ns>:<inode>`.
    pub key: String,
    /// Why the entry must not be read (a link, device, FIFO or socket), to be quarantined.
    pub refused: Option<String>,
}

/// Files an agent reads are at most this large (a Drop file, an API file, a scan).
pub const MAX_FILE_BYTES: u64 = 256 << 20;

pub use faxhub_queue::files::ReadError;

/// The bytes of the regular file at `path`, never through a link, nor from a device or FIFO
/// (opened non-blocking, checked on the open descriptor), at most `MAX_FILE_BYTES`.
pub fn read_regular(path: &Path) -> Result<Vec<u8>, ReadError> {
    files::read_regular(path, MAX_FILE_BYTES, Links::Refuse)
}

/// `read_regular` off the async threads.
pub async fn read_regular_async(path: &Path) -> Result<Vec<u8>, ReadError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || read_regular(&path))
        .await
        .map_err(|e| ReadError::Io(std::io::Error::other(e)))?
}

/// An entry's bytes as an item: `Ok(Ok(bytes))`, `Ok(Err(why))` to quarantine it (refused by
/// `ready_files` or on reading), `Err` to try again later.
pub async fn take_bytes(entry: &Entry) -> std::io::Result<Result<Vec<u8>, String>> {
    if let Some(why) = &entry.refused {
        return Ok(Err(format!("{}: {why}", entry.name)));
    }
    match read_regular_async(&entry.path).await {
        Ok(bytes) => Ok(Ok(bytes)),
        Err(ReadError::Refused(why)) => Ok(Err(format!("{}: {why}", entry.name))),
        Err(ReadError::Io(e)) => Err(e),
    }
}

/// The files of `dir` that `wanted(name)` accepts, unchanged for `settle` (a scanner or Exchange
/// still writing one is left for the next pass), oldest first. Names starting with `.` or
/// ending `.tmp` are never taken (files being written under a temporary name).
pub fn ready_files(
    agent: &str,
    dir: &Path,
    settle: Duration,
    now: SystemTime,
    wanted: impl Fn(&str) -> bool,
) -> std::io::Result<Vec<Entry>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.to_ascii_lowercase().ends_with(".tmp") || !wanted(&name) {
            continue;
        }
        // DirEntry::metadata does not follow links
        let Ok(meta) = entry.metadata() else {
            continue; // removed meanwhile
        };
        if meta.is_dir() {
            continue;
        }
        let refused = (!meta.is_file()).then(|| files::kind(&meta));
        let modified = meta.modified()?;
        if now.duration_since(modified).unwrap_or_default() < settle {
            continue;
        }
        let mtime_ns = meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128;
        found.push((
            modified,
            Entry {
                path: entry.path(),
                key: format!("{agent}:{name}:{}:{mtime_ns}:{}", meta.len(), meta.ino()),
                name,
                refused,
            },
        ));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    Ok(found.into_iter().map(|(_, e)| e).collect())
}

/// Removes the files; ones already gone are fine. The item's own file goes last, so that one
/// removed halfway is still found (and its key recognised) on the next pass.
pub fn remove_all(paths: &[&Path]) -> std::io::Result<()> {
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_settled_visible_files_are_ready_and_their_key_changes_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.pdf", "a.pdf", ".hidden.pdf", "c.pdf.tmp", "note.txt"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        // oldest first: a.pdf was modified before b.pdf
        let set = |name: &str, secs_ago: u64| {
            let f = std::fs::File::options()
                .write(true)
                .open(dir.path().join(name))
                .unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(secs_ago))
                .unwrap();
        };
        set("a.pdf", 2);
        set("b.pdf", 1);
        std::fs::create_dir(dir.path().join("sub.pdf")).unwrap();
        let wanted = |n: &str| n.ends_with(".pdf");
        let now = SystemTime::now();
        let later = now + Duration::from_secs(10);
        // just written: not settled yet
        assert!(
            ready_files("hot", dir.path(), Duration::from_secs(5), now, wanted)
                .unwrap()
                .is_empty()
        );
        let ready = ready_files("hot", dir.path(), Duration::from_secs(2), later, wanted).unwrap();
        let names: Vec<_> = ready.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.pdf", "b.pdf"]);
        assert!(ready[0].key.starts_with("hot:a.pdf:5:"), "{}", ready[0].key);
        // the same file keeps its key; rewritten, it gets another
        let again = ready_files("hot", dir.path(), Duration::ZERO, later, wanted).unwrap();
        assert_eq!(again[0].key, ready[0].key);
        std::thread::sleep(Duration::from_millis(20));
        std::fs::remove_file(&ready[0].path).unwrap();
        std::fs::write(dir.path().join("a.pdf"), "a.pdf").unwrap();
        let rewritten = ready_files("hot", dir.path(), Duration::ZERO, later, wanted).unwrap();
        let a = rewritten.iter().find(|e| e.name == "a.pdf").unwrap();
        assert_ne!(a.key, ready[0].key);
        remove_all(&[&a.path, &a.path]).unwrap();
        assert!(!a.path.exists());
    }
}
