//! The one way faxhub makes a file durable (STYLE: durable before acknowledged): written in
//! full under a staging name no reader takes, synced, renamed to its name, and its directory
//! synced. After `write` or `install` returns, the file survives a crash or a power loss; a
//! crash before leaves at most the staging file, which its owner removes (the spool's `tmp/`,
//! a dot-name in the outbox or the inbox). `Dir::Later` leaves the directory to one later
//! `sync_dir` covering many files (the intake's group commit). Blocking: call it off the async
//! threads.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// When the directory entry of a renamed file is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Now: the file is durable when the call returns.
    Sync,
    /// By the caller's own `sync_dir`, after more files (group commit).
    Later,
}

/// Writes `parts` to `staging`, syncs it and renames it to `target` (same file system).
pub fn write(staging: &Path, target: &Path, parts: &[&[u8]], dir: Dir) -> io::Result<()> {
    let mut f = File::create(staging)?;
    for part in parts {
        f.write_all(part)?;
    }
    f.sync_all()?;
    drop(f);
    fs::rename(staging, target)?;
    match dir {
        Dir::Sync => sync_dir_of(target),
        Dir::Later => Ok(()),
    }
}

/// Moves a file already written and closed (`from`, e.g. a converter's output) to `target`
/// durably: synced, renamed, its directory synced now or later (`dir`).
pub fn install(from: &Path, target: &Path, dir: Dir) -> io::Result<()> {
    File::open(from)?.sync_all()?;
    fs::rename(from, target)?;
    match dir {
        Dir::Sync => sync_dir_of(target),
        Dir::Later => Ok(()),
    }
}

/// Makes the renames into `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn sync_dir_of(target: &Path) -> io::Result<()> {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_whole_under_its_name_and_the_staging_name_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let (staging, target) = (dir.path().join(".x.tmp"), dir.path().join("x"));
        write(&staging, &target, &[b"ab", b"cd"], Dir::Sync).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"abcd");
        assert!(!staging.exists());
        let made = dir.path().join("made");
        fs::write(&made, b"pages").unwrap();
        let installed = dir.path().join("sub");
        fs::create_dir(&installed).unwrap();
        install(&made, &installed.join("pages"), Dir::Sync).unwrap();
        assert_eq!(fs::read(installed.join("pages")).unwrap(), b"pages");
        assert!(!made.exists());
        // nothing replaces a name with half a file: a failed write leaves the old one
        let blocked = dir.path().join("no-such-dir").join(".y.tmp");
        assert!(write(&blocked, &target, &[b"new"], Dir::Sync).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"abcd");
    }
}
