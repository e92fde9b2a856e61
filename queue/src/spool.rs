//! The spool: immutable content files under `<data_dir>/spool`.
//!
//! - `tmp/`: files being written; anything here at start-up is a partial write and is removed.
//! - `msg/<job id>.eml`: a received message, exactly as received.
//! - `pages/<job id>.tif`: the job's converted TIFF-F page set, with `<job id>.pdf` (the same
//!   pages for receipts and previews) and `<job id>.png` (a thumbnail of page 1).
//! - `quarantine/`: message files found with no job at start-up (a crash between rename and
//!   commit: the client never got its 250 and will send again). Never deleted silently.
//!
//! With several nodes (`in_store`) every file is also in the job store, written with the row
//! that refers to it; this directory is then a cache (written without fsync: the store's copy
//! is the durable one), and `local` fetches what is missing.
//!
//! Every file is made durable the same way (`crate::durable`): write to `tmp/`, fsync, rename
//! into place, fsync the directory. After `write_durable` returns, the file survives a crash or
//! power loss.

use crate::durable;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Below this much room, a write or a tool that failed is taken for the disk being full.
pub const LOW_SPACE: u64 = 1 << 20;

/// Bytes an unprivileged writer may still use on the file system of `path`; `None` if it
/// cannot be told.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// Whether the file system of `path` is (about) full.
pub fn low_on_space(path: &Path) -> bool {
    free_bytes(path).is_some_and(|free| free < LOW_SPACE)
}

/// Whether `e` says the disk (or the quota) is full.
pub fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

#[derive(Clone)]
pub struct Spool {
    root: PathBuf,
    /// Several nodes: the store holds every spool file, and this directory is a cache of it.
    remote: Option<crate::store::Store>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("root", &self.root)
            .field("in_store", &self.remote.is_some())
            .finish()
    }
}

pub const MSG_DIR: &str = "msg";
pub const PAGES_DIR: &str = "pages";
/// Mail faxhub sends (receipts, received faxes), as the outbox refers to it.
pub const MAIL_DIR: &str = "mail";
const TMP_DIR: &str = "tmp";
const QUARANTINE_DIR: &str = "quarantine";
/// Tries at removing a scratch directory left by a crash.
const CLEAN_ATTEMPTS: usize = 10;

impl Spool {
    /// Opens (creating if needed) the spool under `root`.
    pub fn open(root: &Path) -> io::Result<Spool> {
        for dir in [TMP_DIR, MSG_DIR, PAGES_DIR, MAIL_DIR, QUARANTINE_DIR] {
            fs::create_dir_all(root.join(dir))?;
        }
        Ok(Spool {
            root: root.to_path_buf(),
            remote: None,
        })
    }

    /// The same spool, a cache of the files `store` holds (several nodes): `local` fetches
    /// what this node does not have yet.
    pub fn in_store(mut self, store: crate::store::Store) -> Spool {
        self.remote = Some(store);
        self
    }

    /// Whether this spool is a cache of the store's files (several nodes).
    pub fn is_cache(&self) -> bool {
        self.remote.is_some()
    }

    /// Several nodes: removes copies of spool files not used for `age` (fetched again if
    /// needed); how many. Nothing when the spool is not a cache.
    pub fn trim_cache(&self, age: std::time::Duration) -> io::Result<usize> {
        if self.remote.is_none() {
            return Ok(0);
        }
        let mut n = 0;
        for dir in [MSG_DIR, PAGES_DIR, MAIL_DIR] {
            for rel in self.list(dir)? {
                let path = self.root.join(&rel);
                let old = fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age));
                if old && fs::remove_file(&path).is_ok() {
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// The local path of spool file `relative`, fetched from the store first if this node does
    /// not have it (several nodes). A file neither here nor in the store: its path all the same
    /// (reading it says so). Spool files never change, so a copy here is always right.
    pub async fn local(&self, relative: &str) -> io::Result<PathBuf> {
        if Path::new(relative).is_absolute()
            || Path::new(relative)
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{relative:?} is not a spool path"),
            ));
        }
        let path = self.root.join(relative);
        let Some(store) = &self.remote else {
            return Ok(path);
        };
        if tokio::fs::try_exists(&path).await? {
            return Ok(path);
        }
        let staged = self.staging_path();
        match store.get_blob(relative, &staged).await {
            Ok(true) => {
                tokio::fs::rename(&staged, &path).await?;
                Ok(path)
            }
            Ok(false) => Ok(path),
            Err(e) => {
                let _ = tokio::fs::remove_file(&staged).await;
                Err(io::Error::other(e.to_string()))
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The absolute path of a spool-relative path stored in the job store.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn message_rel(id: &str) -> String {
        format!("{MSG_DIR}/{id}.eml")
    }

    pub fn mail_rel(id: &str) -> String {
        format!("{MAIL_DIR}/{id}.eml")
    }

    pub fn pages_rel(id: &str) -> String {
        format!("{PAGES_DIR}/{id}.tif")
    }

    /// A job's page set files: the TIFF-F that is sent, its PDF and its page-1 thumbnail.
    pub fn page_set_rels(id: &str) -> [String; 3] {
        [
            Self::pages_rel(id),
            format!("{PAGES_DIR}/{id}.pdf"),
            format!("{PAGES_DIR}/{id}.png"),
        ]
    }

    /// A stored path with the files that go with it (a page set's PDF and thumbnail).
    pub fn companions(relative: &str) -> Vec<String> {
        match relative
            .strip_prefix(&format!("{PAGES_DIR}/"))
            .and_then(|name| name.strip_suffix(".tif"))
        {
            Some(id) => Self::page_set_rels(id).to_vec(),
            None => vec![relative.to_string()],
        }
    }

    /// The spool's `tmp/`: emptied at every start-up (`clean_tmp`).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// A private scratch directory inside the spool's `tmp/` (removed when dropped).
    pub fn scratch_dir(&self) -> io::Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("work-")
            .tempdir_in(self.root.join(TMP_DIR))
    }

    /// Writes `bytes` to the spool-relative path `relative`, durably (blocking).
    pub fn write_durable(&self, relative: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let dest = self.write_synced(relative, bytes)?;
        self.sync_dir(relative)?;
        Ok(dest)
    }

    /// `write_durable` off the async threads.
    pub async fn write_durable_async(&self, relative: &str, bytes: Vec<u8>) -> io::Result<PathBuf> {
        let spool = self.clone();
        let relative = relative.to_string();
        tokio::task::spawn_blocking(move || spool.write_durable(&relative, &bytes))
            .await
            .map_err(io::Error::other)?
    }

    /// Writes and fsyncs the file and renames it into place, but leaves the directory entry to a
    /// later `sync_dir` (one directory fsync can then cover many files: group commit).
    pub fn write_synced(&self, relative: &str, bytes: &[u8]) -> io::Result<PathBuf> {
        let tmp = self.root.join(TMP_DIR).join(relative.replace('/', "_"));
        let dest = self.root.join(relative);
        if self.is_cache() {
            // the store keeps the durable copy, committed with its row
            fs::write(&tmp, bytes)?;
            fs::rename(&tmp, &dest)?;
        } else {
            durable::write(&tmp, &dest, &[bytes], durable::Dir::Later)?;
        }
        Ok(dest)
    }

    /// Makes the renames into the directory of `relative` durable.
    pub fn sync_dir(&self, relative: &str) -> io::Result<()> {
        if self.is_cache() {
            return Ok(());
        }
        let dir = self.root.join(relative);
        let dir = if dir.is_dir() {
            dir
        } else {
            dir.parent()
                .expect("invariant: spool paths have a parent")
                .to_path_buf()
        };
        durable::sync_dir(&dir)
    }

    /// Moves a finished file (already written and closed) into place durably (blocking).
    pub fn install(&self, from: &Path, relative: &str) -> io::Result<PathBuf> {
        let dest = self.root.join(relative);
        if self.is_cache() {
            fs::rename(from, &dest)?;
        } else {
            durable::install(from, &dest, durable::Dir::Sync)?;
        }
        Ok(dest)
    }

    /// `install` leaving the directory to a later `sync_dir` (group commit, as `write_synced`).
    pub fn install_synced(&self, from: &Path, relative: &str) -> io::Result<PathBuf> {
        let dest = self.root.join(relative);
        if self.is_cache() {
            fs::rename(from, &dest)?;
        } else {
            durable::install(from, &dest, durable::Dir::Later)?;
        }
        Ok(dest)
    }

    /// A fresh path in `tmp/` for a file written as it arrives (a message streamed from SMTP),
    /// then installed; a crash leaves it to `clean_tmp`.
    pub fn staging_path(&self) -> PathBuf {
        self.root
            .join(TMP_DIR)
            .join(format!("data-{:016x}", rand::random::<u64>()))
    }

    /// Removes partial writes left by a crash; returns how many.
    pub fn clean_tmp(&self) -> io::Result<usize> {
        let mut n = 0;
        for entry in fs::read_dir(self.root.join(TMP_DIR))? {
            let path = entry?.path();
            if path.is_dir() {
                // A scratch directory may still be written to for a moment by a helper of the
                // process that died (LibreOffice finishing its profile): try again, and if it
                // will not go, leave it; it holds no message.
                let removed = (0..CLEAN_ATTEMPTS).any(|attempt| {
                    if attempt > 0 {
                        std::thread::sleep(std::time::Duration::from_millis(200));
                    }
                    fs::remove_dir_all(&path).is_ok() || !path.exists()
                });
                if !removed {
                    tracing::warn!(dir = %path.display(), "could not remove a scratch directory; left in place");
                    continue;
                }
            } else {
                fs::remove_file(&path)?
            }
            n += 1;
        }
        Ok(n)
    }

    /// The spool-relative paths of all files in `dir` (`msg` or `pages`).
    pub fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(self.root.join(dir))? {
            let entry = entry?;
            if let Some(name) = entry.file_name().to_str() {
                out.push(format!("{dir}/{name}"));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Moves an orphan file to `quarantine/` (durably) and returns its new path.
    pub fn quarantine(&self, relative: &str) -> io::Result<PathBuf> {
        let name = relative.replace('/', "_");
        let dest = self.root.join(QUARANTINE_DIR).join(name);
        fs::rename(self.root.join(relative), &dest)?;
        durable::sync_dir(&self.root.join(QUARANTINE_DIR))?;
        Ok(dest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durable_write_and_recovery_helpers() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let path = spool
            .write_durable(&Spool::message_rel("ABC"), b"hello")
            .unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert_eq!(
            spool.list(MSG_DIR).unwrap(),
            vec!["msg/ABC.eml".to_string()]
        );
        fs::write(dir.path().join("tmp/partial"), b"x").unwrap();
        assert_eq!(spool.clean_tmp().unwrap(), 1);
        let q = spool.quarantine("msg/ABC.eml").unwrap();
        assert!(q.exists());
        assert!(spool.list(MSG_DIR).unwrap().is_empty());
    }
}
