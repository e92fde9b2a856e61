//! Received faxes: each one is `<id>.tif` (the pages, as received) and `<id>.json` (who called,
//! which number, what arrived) in `<data_dir>/inbox/`; the daemon is told of each one and mails
//! it to the owner of the number dialled.
//! The TIFF is written by the T.30 engine under a temporary name and renamed in place; the
//! record is written to a temporary file, synced and renamed, then the directory synced: a
//! record that exists is complete, and a reception that failed is recorded too (no TIFF).

use faxhub_queue::durable;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Notify;

/// One received fax (or failed reception).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Received {
    pub id: String,
    /// RFC 3339.
    pub received_at: String,
    /// The caller's number (From), if it gave one.
    pub caller: Option<String>,
    /// The number dialled (the DID).
    pub did: String,
    /// The sending machine's TSI.
    pub remote_ident: Option<String>,
    pub pages: u32,
    /// Rows the receiver could not decode, in the last page.
    pub bad_rows: u32,
    pub bit_rate: u32,
    pub ecm: bool,
    /// "t38" or "g711".
    pub transport: String,
    pub duration_seconds: f64,
    /// Whether every page arrived and the sender ended the fax properly.
    pub complete: bool,
    /// In words: "received", or what went wrong.
    pub result: String,
    /// The pages, relative to the inbox (none when nothing arrived).
    pub tiff: Option<String>,
    /// Why a junk-fax rule (`[[sip.inbound.block]]`) stopped it: a call refused, or a fax
    /// quarantined (kept here, never mailed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Inbox {
    dir: PathBuf,
    /// Told each time a reception is recorded (the daemon mails it).
    arrived: Arc<Notify>,
}

impl Inbox {
    pub fn new(dir: PathBuf) -> Inbox {
        Inbox {
            dir,
            arrived: Arc::new(Notify::new()),
        }
    }

    /// Notified each time a reception is recorded.
    pub fn arrivals(&self) -> Arc<Notify> {
        self.arrived.clone()
    }

    /// The ids of the recorded receptions (names only, nothing read).
    pub fn ids(&self) -> io::Result<Vec<String>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let name = entry?.file_name().to_string_lossy().to_string();
            if let Some(id) = name
                .strip_suffix(".json")
                .filter(|_| !name.starts_with('.'))
            {
                ids.push(id.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Whether `id` can name a reception: what the agent makes (`YYYYMMDDhhmmss-` and 8 hex
    /// digits) is letters, digits and `-`; anything else (a `/`, a `..`) names no file here.
    pub fn is_id(id: &str) -> bool {
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }

    /// One recorded reception.
    pub fn read(&self, id: &str) -> io::Result<Received> {
        if !Inbox::is_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{id:?} is not a reception's id"),
            ));
        }
        let path = self.dir.join(format!("{id}.json"));
        serde_json::from_slice(&fs::read(&path)?).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Marks reception `id` read by its owner (`<id>.read`, empty).
    pub fn mark_read(&self, id: &str) -> io::Result<()> {
        if !Inbox::is_id(id) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{id:?} is not a reception's id"),
            ));
        }
        fs::write(self.dir.join(format!("{id}.read")), b"")
    }

    /// Whether reception `id` was marked read.
    pub fn is_read(&self, id: &str) -> bool {
        Inbox::is_id(id) && self.dir.join(format!("{id}.read")).exists()
    }

    /// Where the engine writes the pages of reception `id` while it lasts.
    pub fn partial_path(&self, id: &str) -> io::Result<PathBuf> {
        fs::create_dir_all(&self.dir)?;
        Ok(self.dir.join(format!(".{id}.tif.part")))
    }

    /// Records a reception: its pages (if any arrived) under their final name, then the record.
    pub fn store(&self, mut received: Received) -> io::Result<PathBuf> {
        let partial = self.partial_path(&received.id)?;
        if received.pages > 0 && partial.exists() {
            let name = format!("{}.tif", received.id);
            durable::install(&partial, &self.dir.join(&name), durable::Dir::Sync)?;
            received.tiff = Some(name);
        } else {
            let _ = fs::remove_file(&partial);
            received.tiff = None;
        }
        let record = self.dir.join(format!("{}.json", received.id));
        let tmp = self.dir.join(format!(".{}.json.tmp", received.id));
        let json = serde_json::to_vec_pretty(&received).map_err(io::Error::other)?;
        durable::write(&tmp, &record, &[&json], durable::Dir::Sync)?;
        self.arrived.notify_one();
        Ok(record)
    }

    /// Every recorded reception, oldest first.
    pub fn list(&self) -> io::Result<Vec<Received>> {
        let mut out = self
            .ids()?
            .iter()
            .map(|id| self.read(id))
            .collect::<io::Result<Vec<_>>>()?;
        out.sort_by(|a, b| (&a.received_at, &a.id).cmp(&(&b.received_at, &b.id)));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(id: &str, pages: u32) -> Received {
        Received {
            id: id.into(),
            received_at: format!("2026-11-27T10:00:0{}Z", pages),
            caller: Some("0169293999".into()),
            did: "0142000000".into(),
            remote_ident: Some("+33 1 69 29 39 99".into()),
            pages,
            bad_rows: 0,
            bit_rate: 14_400,
            ecm: true,
            transport: "t38".into(),
            duration_seconds: 21.5,
            complete: pages > 0,
            result: "received".into(),
            tiff: None,
            blocked: None,
        }
    }

    #[test]
    fn a_reception_is_recorded_with_its_pages_and_a_failed_one_without() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::new(dir.path().join("inbox"));
        fs::write(inbox.partial_path("r1").unwrap(), b"II*\0pages").unwrap();
        inbox.store(received("r1", 2)).unwrap();
        fs::write(inbox.partial_path("r2").unwrap(), b"II*\0").unwrap();
        inbox.store(received("r2", 0)).unwrap();
        let list = inbox.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, "r2", "oldest first");
        assert_eq!(list[1].tiff.as_deref(), Some("r1.tif"));
        assert_eq!(
            fs::read(dir.path().join("inbox/r1.tif")).unwrap(),
            b"II*\0pages"
        );
        assert_eq!(list[0].tiff, None);
        assert!(
            !inbox.partial_path("r2").unwrap().exists(),
            "nothing left behind"
        );
    }

    #[test]
    fn only_ids_name_files_in_the_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::new(dir.path().join("inbox"));
        fs::create_dir_all(inbox.dir()).unwrap();
        // a record outside the inbox, reachable by a path that climbs out of it (the control)
        fs::write(
            dir.path().join("secret.json"),
            serde_json::to_vec(&received("s", 1)).unwrap(),
        )
        .unwrap();
        assert!(inbox.dir().join("../secret.json").exists());
        for bad in ["../secret", "a/b", "", ".hidden", "x".repeat(65).as_str()] {
            let e = inbox.read(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::NotFound, "{bad:?}");
        }
        assert!(Inbox::is_id("20261127100000-0a1b2c3d"));
    }

    #[test]
    fn an_inbox_never_made_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            Inbox::new(dir.path().join("none"))
                .list()
                .unwrap()
                .is_empty()
        );
    }
}
