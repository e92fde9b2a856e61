//! Delivery into a Maildir (the embedded default, with no relay): each mail is written to
//! `tmp/`, synced, and renamed into `new/` (then the directory synced), as a local delivery
//! agent does, with `Return-Path:` and `Delivered-To:` on top.

use super::publish::{publish, unique_name};
use super::{DeliveryError, Envelope};
use std::fs;
use std::path::{Path, PathBuf};

pub struct Maildir {
    dir: PathBuf,
}

impl Maildir {
    pub fn new(dir: PathBuf) -> Maildir {
        Maildir { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub async fn deliver(&self, mail: &Envelope) -> Result<(), DeliveryError> {
        let dir = self.dir.clone();
        let mail = mail.clone();
        let shown = self.dir.display().to_string();
        tokio::task::spawn_blocking(move || write(&dir, &mail))
            .await
            .map_err(|e| DeliveryError::transient(e.to_string()))?
            .map_err(|e| DeliveryError::transient(format!("maildir {shown}: {e}")))
    }
}

fn write(dir: &Path, mail: &Envelope) -> std::io::Result<()> {
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(dir.join(sub))?;
    }
    let name = format!("{}.faxhub", unique_name());
    let envelope = format!(
        "Return-Path: <{}>\r\nDelivered-To: {}\r\n",
        mail.mail_from, mail.rcpt_to
    );
    publish(
        &dir.join("tmp").join(&name),
        &dir.join("new").join(&name),
        &[envelope.as_bytes(), &mail.message],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn mail_lands_in_new_with_its_envelope() {
        let dir = tempfile::tempdir().unwrap();
        let maildir = Maildir::new(dir.path().join("Maildir"));
        for to in ["a@example.com", "b@example.com"] {
            maildir
                .deliver(&Envelope {
                    mail_from: String::new(),
                    rcpt_to: to.into(),
                    message: b"Subject: x\r\n\r\nbody\r\n".to_vec(),
                })
                .await
                .unwrap();
        }
        let mut new: Vec<String> = fs::read_dir(dir.path().join("Maildir/new"))
            .unwrap()
            .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
        new.sort();
        assert_eq!(
            new,
            [
                "Return-Path: <>\r\nDelivered-To: a@example.com\r\nSubject: x\r\n\r\nbody\r\n",
                "Return-Path: <>\r\nDelivered-To: b@example.com\r\nSubject: x\r\n\r\nbody\r\n"
            ]
        );
        assert_eq!(
            fs::read_dir(dir.path().join("Maildir/tmp"))
                .unwrap()
                .count(),
            0
        );
    }
}
