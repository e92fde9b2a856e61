//! Quarantine: where an agent puts an item that cannot become a job, never deleting it. Each
//! item gets a folder `<dir>/<UTC time>-<name>/` holding its files and `reason.txt` (what was
//! wrong, which agent, where it came from). The reason is written and synced before the files
//! move in, so an item is never in quarantine without its reason. Files move by rename, or by
//! copy, sync and removal across file systems.

use faxhub_queue::durable;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Quarantine {
    dir: PathBuf,
}

impl Quarantine {
    pub fn new(dir: PathBuf) -> Quarantine {
        Quarantine { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Moves `files` (the item's own first) into a new folder with the reason; returns it.
    pub fn put(&self, agent: &str, files: &[&Path], why: &str) -> std::io::Result<PathBuf> {
        let name = files
            .first()
            .and_then(|f| f.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "item".into());
        let sources: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        let folder = self.folder(agent, &name, &sources.join(", "), why)?;
        for file in files {
            let Some(file_name) = file.file_name() else {
                continue;
            };
            move_file(file, &folder.join(file_name))?;
        }
        durable::sync_dir(&folder)?;
        Ok(folder)
    }

    /// Writes `bytes` as the item `name` (an item with no file of its own: an IMAP message taken
    /// from `from`), with the reason.
    pub fn put_bytes(
        &self,
        agent: &str,
        name: &str,
        bytes: &[u8],
        from: &str,
        why: &str,
    ) -> std::io::Result<PathBuf> {
        let folder = self.folder(agent, name, from, why)?;
        let staging = folder.join(format!(".{name}.tmp"));
        durable::write(&staging, &folder.join(name), &[bytes], durable::Dir::Sync)?;
        Ok(folder)
    }

    /// A new folder for the item `name`, holding its reason (synced) and nothing else yet.
    fn folder(&self, agent: &str, name: &str, from: &str, why: &str) -> std::io::Result<PathBuf> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let mut folder = self.dir.join(format!("{stamp}-{name}"));
        let mut n = 1;
        while folder.exists() {
            n += 1;
            folder = self.dir.join(format!("{stamp}-{name}-{n}"));
        }
        std::fs::create_dir_all(&folder)?;
        let reason = format!(
            "{why}\n\nagent: {agent}\nfrom: {from}\nat: {}\n",
            chrono::Utc::now().to_rfc3339()
        );
        let staging = folder.join(".reason.txt.tmp");
        durable::write(
            &staging,
            &folder.join("reason.txt"),
            &[reason.as_bytes()],
            durable::Dir::Sync,
        )?;
        durable::sync_dir(&self.dir)?;
        Ok(folder)
    }
}

fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.raw_os_error() == Some(18) => {
            // EXDEV: another file system. A link, FIFO or device is never copied (that would
            // read what it points to, or block): it is removed, its reason says what it was.
            if !std::fs::symlink_metadata(from)?.is_file() {
                return std::fs::remove_file(from);
            }
            std::fs::copy(from, to)?;
            std::fs::File::open(to)?.sync_all()?;
            std::fs::remove_file(from)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_moves_in_with_its_reason_and_keeps_its_bytes() {
        let src = tempfile::tempdir().unwrap();
        let q = tempfile::tempdir().unwrap();
        let quarantine = Quarantine::new(q.path().join("exchange"));
        let item = src.path().join("bad.eml");
        let att = src.path().join("0001.bin");
        std::fs::write(&item, b"garbage").unwrap();
        std::fs::write(&att, b"att").unwrap();
        let folder = quarantine
            .put("exchange", &[&item, &att], "no X-Sender line")
            .unwrap();
        assert!(!item.exists() && !att.exists());
        assert_eq!(std::fs::read(folder.join("bad.eml")).unwrap(), b"garbage");
        assert_eq!(std::fs::read(folder.join("0001.bin")).unwrap(), b"att");
        let reason = std::fs::read_to_string(folder.join("reason.txt")).unwrap();
        assert!(reason.starts_with("no X-Sender line\n"), "{reason}");
        assert!(reason.contains("agent: exchange"), "{reason}");
        // a second item of the same name gets its own folder
        std::fs::write(&item, b"again").unwrap();
        let second = quarantine.put("exchange", &[&item], "again").unwrap();
        assert_ne!(second, folder);
        let copy = quarantine
            .put_bytes(
                "imap",
                "uid-7.eml",
                b"msg",
                "imap://h/INBOX;UID=7",
                "no fax address",
            )
            .unwrap();
        assert_eq!(std::fs::read(copy.join("uid-7.eml")).unwrap(), b"msg");
        let reason = std::fs::read_to_string(copy.join("reason.txt")).unwrap();
        assert!(reason.contains("from: imap://h/INBOX;UID=7"), "{reason}");
    }
}
