//! GroupWise API gateway: `API_OUT` in, `API_IN` out, under the gateway's directory
//! (`<domain>/WPGATE/API`).
//!
//! In: each keyword file in `API_OUT` (see `keyword`) with `Msg-Type= Mail` is one message:
//! recipients from `To-Text`, `To-CC-Text` and `To-BC-Text` (comma-separated; an address at a
//! fax domain, or a bare number, `FAX:number`), the sender from the `From` block's `CDBA`
//! (where receipts go back) or `From-Text`, `Subject`, the body from `Msg-File` and the
//! attachments from `Attach-File` blocks, their files in `ATT_OUT` (`Current-File`, named
//! `Original-File`). The message is composed as MIME and takes the path every mail takes;
//! `Msg-Id` becomes the job's envelope id, so that a report refers to it. After the commit the
//! attachments, then the keyword file, are removed. A file that does not parse, is not a
//! mail, names no recipient, or misses an attachment goes to quarantine with its files.
//!
//! Out: `api_in::ApiIn`.

mod api_in;
pub mod keyword;

pub use api_in::ApiIn;

use super::{Pass, Quarantine, finish, folder, recipients, take};
use crate::addressing::Addressing;
use crate::compose::Draft;
use faxhub_queue::Origin;
use faxhub_queue::intake::{Intake, Submission};
use faxhub_queue::units::serde_duration;
use keyword::{KeywordFile, field};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

pub const API_OUT: &str = "API_OUT";
pub const ATT_OUT: &str = "ATT_OUT";
pub const API_IN: &str = "API_IN";
pub const ATT_IN: &str = "ATT_IN";

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GroupWiseConfig {
    /// The gateway's directory, holding API_OUT, ATT_OUT, API_IN and ATT_IN.
    pub dir: PathBuf,
    /// Domains of fax addresses in GroupWise besides `[smtp] fax_domains` (the foreign domain
    /// of the gateway, e.g. `FAX` in `0169293999@FAX`).
    pub fax_domains: Vec<String>,
    #[serde(with = "serde_duration")]
    pub poll: Duration,
    #[serde(with = "serde_duration")]
    pub settle: Duration,
    /// Default: `<data_dir>/quarantine/groupwise`.
    pub quarantine: Option<PathBuf>,
}

impl Default for GroupWiseConfig {
    fn default() -> Self {
        GroupWiseConfig {
            dir: PathBuf::new(),
            fax_domains: Vec::new(),
            poll: Duration::from_secs(5),
            settle: Duration::from_secs(1),
            quarantine: None,
        }
    }
}

#[derive(Clone)]
pub struct ApiOut {
    pub config: GroupWiseConfig,
    pub quarantine: Quarantine,
    pub intake: Intake,
    /// Who may fax (`[ldap] fax_group`), if only a group may.
    pub policy: Option<std::sync::Arc<crate::directory::FaxPolicy>>,
    /// With the gateway's own fax domains added.
    pub addressing: Addressing,
    pub host: String,
}

/// A keyword file read, with the files it names.
struct Item {
    made: Result<(Submission, Vec<u8>), String>,
    /// The files of ATT_OUT it names that exist (removed or quarantined with it).
    companions: Vec<PathBuf>,
}

impl Pass for ApiOut {
    fn pass(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        ApiOut::pass(self)
    }
}

impl ApiOut {
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let dir = self.config.dir.join(API_OUT);
        super::every("groupwise", &dir, self.config.poll, shutdown, &self).await
    }

    /// Takes every settled file of API_OUT once.
    pub async fn pass(&self) -> std::io::Result<()> {
        let api_out = self.config.dir.join(API_OUT);
        let files = folder::ready_files(
            "groupwise",
            &api_out,
            self.config.settle,
            SystemTime::now(),
            |_| true,
        )?;
        for entry in &files {
            let item = match folder::take_bytes(entry).await {
                Ok(Ok(bytes)) => self.read(&bytes),
                Ok(Err(why)) => Item {
                    made: Err(why),
                    companions: Vec::new(),
                },
                Err(e) => {
                    tracing::warn!(agent = "groupwise", file = %entry.name, error = %e, "cannot read; trying again later");
                    continue;
                }
            };
            let mut files: Vec<&Path> = vec![&entry.path];
            files.extend(item.companions.iter().map(PathBuf::as_path));
            let outcome = take(&self.intake, self.policy.as_deref(), &entry.key, item.made).await;
            finish("groupwise", &entry.name, outcome, &files, &self.quarantine);
        }
        Ok(())
    }

    fn read(&self, bytes: &[u8]) -> Item {
        let text = String::from_utf8_lossy(bytes);
        let file = match KeywordFile::parse(&text) {
            Ok(f) => f,
            Err(why) => {
                return Item {
                    made: Err(format!("not a GroupWise API file: {why}")),
                    companions: Vec::new(),
                };
            }
        };
        let att_out = self.config.dir.join(ATT_OUT);
        // every ATT_OUT file it names, present or not
        let named: Vec<(String, Option<String>)> = file
            .texts("Msg-File")
            .map(|f| (f.to_string(), None))
            .chain(file.blocks("Attach-File").filter_map(|b| {
                Some((
                    field(b, "Current-File")?.to_string(),
                    field(b, "Original-File").map(str::to_string),
                ))
            }))
            .collect();
        let companions = named
            .iter()
            .map(|(f, _)| att_out.join(safe_name(f)))
            .filter(|p| p.is_file())
            .collect();
        Item {
            made: self.make(&file, &att_out, &named),
            companions,
        }
    }

    fn make(
        &self,
        file: &KeywordFile,
        att_out: &Path,
        named: &[(String, Option<String>)],
    ) -> Result<(Submission, Vec<u8>), String> {
        let kind = file.text("Msg-Type").unwrap_or("Mail");
        if !kind.eq_ignore_ascii_case("Mail") {
            return Err(format!("Msg-Type {kind}: only mail is faxed"));
        }
        let addresses: Vec<String> = ["To-Text", "To-CC-Text", "To-BC-Text"]
            .iter()
            .flat_map(|k| file.texts(k))
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(|a| self.fax_address(a))
            .collect();
        if addresses.is_empty() {
            return Err("no To-Text: the message names no recipient".into());
        }
        let (ok, refused) = recipients(&self.addressing, addresses.iter().map(String::as_str));
        let cdba = file.blocks("From").find_map(|b| field(b, "CDBA"));
        let from_text = file.text("From-Text");
        let sender = cdba.or(from_text).unwrap_or_default().to_string();
        let subject = file.text("Subject").unwrap_or_default().to_string();
        let mut text = None;
        let mut files = Vec::new();
        for (current, original) in named {
            let path = att_out.join(safe_name(current));
            let bytes = folder::read_regular(&path)
                .map_err(|e| format!("the file {current} it names in ATT_OUT: {e}"))?;
            match original {
                None => text = Some(String::from_utf8_lossy(&bytes).into_owned()),
                Some(name) => files.push((name.clone(), bytes)),
            }
        }
        let msg_id = file.text("Msg-Id").map(str::to_string);
        let message = Draft {
            from: from_text.map_or_else(|| sender.clone(), str::to_string),
            to: addresses,
            subject: subject.clone(),
            host: self.host.clone(),
            text,
            files,
            headers: msg_id
                .iter()
                .map(|id| ("X-GroupWise-Msg-Id".to_string(), id.clone()))
                .collect(),
            ..Draft::default()
        }
        .build();
        let submission = Submission {
            origin: Origin::GroupWise,
            return_path: sender,
            from_header: from_text.map(str::to_string),
            subject: Some(subject),
            env_id: msg_id,
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

    /// `number@domain` as is; a bare number or `FAX:number` at the first fax domain.
    fn fax_address(&self, text: &str) -> String {
        if text.contains('@') {
            return text.to_string();
        }
        let number = text
            .strip_prefix("FAX:")
            .or_else(|| text.strip_prefix("fax:"))
            .unwrap_or(text);
        let domain = self
            .addressing
            .fax_domains
            .first()
            .cloned()
            .unwrap_or_default();
        format!("{}@{domain}", number.trim())
    }
}

/// A file name from a keyword file, kept inside its directory.
fn safe_name(name: &str) -> String {
    name.rsplit(['/', '\\']).next().unwrap_or(name).to_string()
}

#[cfg(test)]
mod tests;
