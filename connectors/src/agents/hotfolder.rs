//! Hot folder for scan-to-folder devices: a PDF, TIFF, JPEG or PNG dropped in the folder is
//! faxed.
//!
//! - The number comes from the file name, `<number>_anything.pdf` (or `<number>.pdf`), or from
//!   a sidecar `<stem>.json` (or `<file>.json`): `{"number": "0169293999"}` or
//!   `{"number": ["…", "…"]}`, with optional `"sender"` (the fax's From:), `"notify"` (who gets
//!   the receipts) and `"subject"`. Unknown keys are refused, naming the key.
//! - Receipts go to the sidecar's `notify`, else the folder's `owner` (by the relay); with
//!   neither, no receipt. A `notify` that is not one plain mail address is quarantined; one
//!   outside `local_domains` gets its receipts without the pages (the sidecar is anyone's to
//!   write who can write the folder).
//! - A file is taken once unchanged for `settle` (a device still writing is left alone); its
//!   sidecar, if any, must be settled too. The job is committed, then the sidecar and the file
//!   are removed (see `agents` for the crash rule).
//! - Quarantined with a reason: a file with no number (name or sidecar), a sidecar that does not
//!   parse or whose notify is not a mail address, a file that is not a scan, a sidecar left without its document for `orphan_after`.
//!   A number the dial plan refuses is not a bad item: the owner gets a failure report naming it.

use super::{Pass, Quarantine, Taken, finish, folder, recipients, take};
use crate::addressing::Addressing;
use crate::compose::Draft;
use faxhub_queue::Origin;
use faxhub_queue::intake::{Intake, Submission};
use faxhub_queue::senders;
use faxhub_queue::units::serde_duration;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

const SCANS: [&str; 6] = ["pdf", "tif", "tiff", "jpg", "jpeg", "png"];

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HotFolderConfig {
    pub path: PathBuf,
    /// Who gets the receipts of scans with no sidecar naming someone (and their From:).
    pub owner: Option<String>,
    #[serde(with = "serde_duration")]
    pub poll: Duration,
    /// A file is taken once unchanged this long.
    #[serde(with = "serde_duration")]
    pub settle: Duration,
    /// A sidecar with no document this long is quarantined.
    #[serde(with = "serde_duration")]
    pub orphan_after: Duration,
    /// Default: `<path>/quarantine`.
    pub quarantine: Option<PathBuf>,
}

impl Default for HotFolderConfig {
    fn default() -> Self {
        HotFolderConfig {
            path: PathBuf::new(),
            owner: None,
            poll: Duration::from_secs(2),
            settle: Duration::from_secs(2),
            orphan_after: Duration::from_secs(300),
            quarantine: None,
        }
    }
}

impl HotFolderConfig {
    pub fn quarantine_dir(&self) -> PathBuf {
        self.quarantine
            .clone()
            .unwrap_or_else(|| self.path.join("quarantine"))
    }
}

/// The sidecar `.json` of a scan.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub number: Numbers,
    pub sender: Option<String>,
    pub notify: Option<String>,
    pub subject: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Numbers {
    One(String),
    Many(Vec<String>),
}

impl Default for Numbers {
    fn default() -> Self {
        Numbers::Many(Vec::new())
    }
}

impl Numbers {
    fn list(&self) -> Vec<String> {
        match self {
            Numbers::One(n) => vec![n.clone()],
            Numbers::Many(v) => v.clone(),
        }
    }
}

#[derive(Clone)]
pub struct HotFolder {
    pub config: HotFolderConfig,
    pub quarantine: Quarantine,
    pub intake: Intake,
    /// Who may fax (`[ldap] fax_group`), if only a group may.
    pub policy: Option<std::sync::Arc<crate::directory::FaxPolicy>>,
    pub addressing: Addressing,
    pub host: String,
}

impl Pass for HotFolder {
    fn pass(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        HotFolder::pass(self)
    }
}

impl HotFolder {
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let dir = self.config.path.clone();
        super::every("hotfolder", &dir, self.config.poll, shutdown, &self).await
    }

    /// Takes every ready file once.
    pub async fn pass(&self) -> std::io::Result<()> {
        let quarantine = &self.quarantine;
        let now = SystemTime::now();
        let files = folder::ready_files(
            "hotfolder",
            &self.config.path,
            self.config.settle,
            now,
            |_| true,
        )?;
        for entry in &files {
            // taken along with its document earlier in this pass (a sidecar)
            if std::fs::symlink_metadata(&entry.path).is_err() {
                continue;
            }
            if let Some(why) = &entry.refused {
                let bad = Ok(Taken::Bad(format!("{}: {why}", entry.name)));
                finish("hotfolder", &entry.name, bad, &[&entry.path], quarantine);
                continue;
            }
            let ext = extension(&entry.name);
            if ext == "json" {
                if document_of(&entry.path).is_none() {
                    let age = std::fs::metadata(&entry.path)
                        .and_then(|m| m.modified())
                        .map(|m| now.duration_since(m).unwrap_or_default())
                        .unwrap_or_default();
                    if age >= self.config.orphan_after {
                        let bad = Ok(Taken::Bad("a sidecar without its document".into()));
                        finish("hotfolder", &entry.name, bad, &[&entry.path], quarantine);
                    }
                }
                continue;
            }
            if !SCANS.contains(&ext.as_str()) {
                let why = "not a scan: faxhub takes PDF, TIFF, JPEG and PNG files here";
                finish(
                    "hotfolder",
                    &entry.name,
                    Ok(Taken::Bad(why.into())),
                    &[&entry.path],
                    quarantine,
                );
                continue;
            }
            let sidecar = sidecar_of(&entry.path);
            if let Some(s) = &sidecar
                && !files.iter().any(|f| &f.path == s)
            {
                continue; // its sidecar is still being written
            }
            self.take_one(entry, sidecar.as_deref()).await;
        }
        Ok(())
    }

    async fn take_one(&self, entry: &folder::Entry, sidecar: Option<&Path>) {
        let made = self.make(entry, sidecar).await;
        let mut files: Vec<&Path> = vec![&entry.path];
        files.extend(sidecar);
        let outcome = take(&self.intake, self.policy.as_deref(), &entry.key, made).await;
        finish("hotfolder", &entry.name, outcome, &files, &self.quarantine);
    }

    /// The scan as a message, or why it cannot be one.
    async fn make(
        &self,
        entry: &folder::Entry,
        sidecar: Option<&Path>,
    ) -> Result<(Submission, Vec<u8>), String> {
        let side: Sidecar = match sidecar {
            Some(path) => {
                let text = folder::read_regular_async(path)
                    .await
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                serde_json::from_slice(&text).map_err(|e| {
                    format!(
                        "the sidecar {} is not valid: {e}",
                        path.file_name().unwrap_or_default().to_string_lossy()
                    )
                })?
            }
            None => Sidecar::default(),
        };
        let mut numbers = side.number.list();
        if numbers.is_empty() {
            match number_in_name(&entry.name) {
                Some(n) => numbers.push(n),
                None => {
                    return Err(format!(
                        "no fax number for {}: name the file <number>_anything.{} or drop a sidecar {}.json with {{\"number\": \"…\"}}",
                        entry.name,
                        extension(&entry.name),
                        stem(&entry.name)
                    ));
                }
            }
        }
        let domain = self
            .addressing
            .fax_domains
            .first()
            .cloned()
            .unwrap_or_default();
        let addresses: Vec<String> = numbers
            .iter()
            .map(|n| format!("{}@{domain}", n.trim()))
            .collect();
        let (ok, refused) = recipients(&self.addressing, addresses.iter().map(String::as_str));
        if sidecar.is_none() && ok.is_empty() && refused.iter().all(|r| r.number.is_none()) {
            return Err(format!(
                "no fax number in the file name {}: name it <number>_anything.{} or drop a sidecar .json",
                entry.name,
                extension(&entry.name)
            ));
        }
        let bytes = folder::read_regular_async(&entry.path)
            .await
            .map_err(|e| format!("{}: {e}", entry.path.display()))?;
        let notify = side.notify.clone().or_else(|| self.config.owner.clone());
        // the receipt's address is written into the relay's RCPT command and its To:
        if let Some(bad) = notify.as_deref().filter(|n| senders::mailbox(n).is_none()) {
            return Err(format!(
                "the sidecar's notify {bad:?} is not one mail address"
            ));
        }
        let from = side
            .sender
            .clone()
            .or_else(|| self.config.owner.clone())
            .unwrap_or_else(|| format!("hotfolder@{}", self.host));
        let subject = side.subject.clone().unwrap_or_else(|| entry.name.clone());
        let message = Draft {
            from: from.clone(),
            to: addresses,
            subject: subject.clone(),
            host: self.host.clone(),
            files: vec![(entry.name.clone(), bytes)],
            headers: vec![(
                "X-Faxhub-Source".into(),
                format!("hotfolder {}", self.config.path.join(&entry.name).display()),
            )],
            ..Draft::default()
        }
        .build();
        let submission = Submission {
            origin: Origin::HotFolder,
            return_path: notify.unwrap_or_default(),
            from_header: Some(from),
            subject: Some(subject),
            env_id: None,
            ret: None,
            recipients: ok,
            source: None,
            refused,
            request_hash: None,
            billing: None,
            priority: Default::default(),
            send_at_ms: None,
            list_part: None,
        };
        Ok((submission, message))
    }
}

fn extension(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// `<number>_anything.pdf` or `<number>.pdf`: the number, if the name starts with one.
fn number_in_name(name: &str) -> Option<String> {
    let head = stem(name).split('_').next()?.trim();
    let digits = head.chars().filter(char::is_ascii_digit).count();
    let plausible = digits >= 3
        && head
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '.' | ' ' | '(' | ')'));
    plausible.then(|| head.to_string())
}

/// The sidecar of a document, if one exists: `<stem>.json` or `<name>.json`.
fn sidecar_of(document: &Path) -> Option<PathBuf> {
    let name = document.file_name()?.to_string_lossy().into_owned();
    [format!("{}.json", stem(&name)), format!("{name}.json")]
        .into_iter()
        .map(|n| document.with_file_name(n))
        .find(|p| p.is_file())
}

/// The document a sidecar belongs to, if it exists.
fn document_of(sidecar: &Path) -> Option<PathBuf> {
    let name = sidecar.file_name()?.to_string_lossy().into_owned();
    let base = stem(&name).to_string();
    let dir = sidecar.parent()?;
    if SCANS.contains(&extension(&base).as_str()) && dir.join(&base).is_file() {
        return Some(dir.join(base));
    }
    SCANS
        .iter()
        .flat_map(|e| {
            [
                format!("{base}.{e}"),
                format!("{base}.{}", e.to_ascii_uppercase()),
            ]
        })
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_comes_from_the_head_of_the_file_name() {
        assert_eq!(
            number_in_name("0169293999_devis.pdf").as_deref(),
            Some("0169293999")
        );
        assert_eq!(
            number_in_name("+33169293999.tif").as_deref(),
            Some("+33169293999")
        );
        assert_eq!(
            number_in_name("01 69 29 39 99_x.pdf").as_deref(),
            Some("01 69 29 39 99")
        );
        assert_eq!(number_in_name("scan_0001.pdf"), None);
        assert_eq!(number_in_name("Scan2026-11-27.pdf"), None);
        assert_eq!(number_in_name("12.pdf"), None);
    }

    #[test]
    fn sidecars_are_found_both_ways_and_parse_one_or_many_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let doc = dir.path().join("scan.PDF");
        std::fs::write(&doc, b"%PDF").unwrap();
        assert_eq!(sidecar_of(&doc), None);
        std::fs::write(dir.path().join("scan.json"), b"{}").unwrap();
        assert_eq!(sidecar_of(&doc), Some(dir.path().join("scan.json")));
        assert_eq!(
            document_of(&dir.path().join("scan.json")),
            Some(doc.clone())
        );
        let other = dir.path().join("b.tif");
        std::fs::write(&other, b"II*\0").unwrap();
        std::fs::write(dir.path().join("b.tif.json"), b"{}").unwrap();
        assert_eq!(sidecar_of(&other), Some(dir.path().join("b.tif.json")));
        assert_eq!(document_of(&dir.path().join("b.tif.json")), Some(other));
        assert_eq!(document_of(&dir.path().join("c.json")), None);

        let one: Sidecar =
            serde_json::from_str(r#"{"number": "0169293999", "notify": "a@b"}"#).unwrap();
        assert_eq!(one.number.list(), ["0169293999"]);
        let many: Sidecar = serde_json::from_str(r#"{"number": ["1", "2"]}"#).unwrap();
        assert_eq!(many.number.list(), ["1", "2"]);
        let bad = serde_json::from_str::<Sidecar>(r#"{"numbr": "1"}"#).unwrap_err();
        assert!(bad.to_string().contains("numbr"), "{bad}");
    }
}
