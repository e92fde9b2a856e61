//! The scheduler's conversion worker: a job's message made into its page set in the spool and,
//! when the job has cover pages, one page set per recipient (its cover, then the same pages).
//! I/O only, no state: the scheduler records what it returns. `Convert` is the seam: the daemon
//! converts with faxhub's `Converter` (`JobConverter`: the directory, `[ldap]`, and
//! `[[senders]]` describe the senders for their cover pages), the scheduler's tests with a
//! script.

use faxhub_connectors::directory::Senders;
use faxhub_converters::{ConvertError, Converter, CoverFields};
use faxhub_queue::identity::{self, SenderIdentity};
use faxhub_queue::spool::Spool;
use faxhub_queue::store::{Addressee, Conversion, RecipientPages};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

/// A converted job: its page count, and the recipients' own page sets (with their covers).
pub struct Converted {
    pub pages: u32,
    pub own: Vec<RecipientPages>,
}

/// What the scheduler asks of a converter.
pub trait Convert: Send + Sync + 'static {
    /// Makes the page sets of the job `claim` names from its message, installed in `spool`
    /// under the job's (and each addressee's) page-set names.
    fn convert<'a>(
        &'a self,
        spool: &'a Spool,
        claim: &'a Conversion,
        addressees: &'a [Addressee],
    ) -> Pin<Box<dyn Future<Output = Result<Converted, ConvertError>> + Send + 'a>>;

    /// The pages of a call that resumes a fax after `done` of them were confirmed: a
    /// continuation page saying `text`, then the rest of `pages`, in a scratch directory of
    /// `spool` (kept while the directory lives); their count. A converter that cannot says so,
    /// and the whole fax is sent again.
    fn continuation<'a>(
        &'a self,
        _spool: &'a Spool,
        _pages: &'a Path,
        _done: u32,
        _text: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Continued, ConvertError>> + Send + 'a>> {
        Box::pin(async {
            Err(ConvertError::ToolMissing {
                tool: "a continuation page".into(),
            })
        })
    }
}

/// A resumed call's pages: its scratch directory (removed when dropped), the file, the count.
pub struct Continued {
    pub dir: tempfile::TempDir,
    pub tiff: std::path::PathBuf,
    pub pages: u32,
}

/// `Converter::continuation` in a scratch directory of the spool.
async fn continued(
    converter: &Converter,
    spool: &Spool,
    pages: &Path,
    done: u32,
    text: &str,
) -> Result<Continued, ConvertError> {
    let dir = spool.scratch_dir().map_err(ConvertError::from)?;
    let (tiff, pages) = converter
        .continuation(pages, done, text, dir.path())
        .await?;
    Ok(Continued { dir, tiff, pages })
}

impl Convert for Converter {
    fn convert<'a>(
        &'a self,
        spool: &'a Spool,
        claim: &'a Conversion,
        addressees: &'a [Addressee],
    ) -> Pin<Box<dyn Future<Output = Result<Converted, ConvertError>> + Send + 'a>> {
        Box::pin(convert_job(self, None, None, spool, claim, addressees))
    }

    fn continuation<'a>(
        &'a self,
        spool: &'a Spool,
        pages: &'a Path,
        done: u32,
        text: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Continued, ConvertError>> + Send + 'a>> {
        Box::pin(continued(self, spool, pages, done, text))
    }
}

/// faxhub's `Converter` as the daemon runs it: cover pages show the sender's name, company,
/// phone and fax number as the directory (`[ldap]`) has them, and the sender's own cover
/// template, company and dial-back number where `[[senders]]` gives them (those win).
pub struct JobConverter {
    pub converter: std::sync::Arc<Converter>,
    pub directory: Option<Senders>,
    pub identities: std::sync::Arc<[SenderIdentity]>,
}

impl Convert for JobConverter {
    fn convert<'a>(
        &'a self,
        spool: &'a Spool,
        claim: &'a Conversion,
        addressees: &'a [Addressee],
    ) -> Pin<Box<dyn Future<Output = Result<Converted, ConvertError>> + Send + 'a>> {
        let identity = identity::for_sender(&self.identities, &claim.sender);
        Box::pin(convert_job(
            &self.converter,
            self.directory.as_ref(),
            identity,
            spool,
            claim,
            addressees,
        ))
    }

    fn continuation<'a>(
        &'a self,
        spool: &'a Spool,
        pages: &'a Path,
        done: u32,
        text: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Continued, ConvertError>> + Send + 'a>> {
        Convert::continuation(&*self.converter, spool, pages, done, text)
    }
}

/// The directory's word on the sender of `cover`: their name, company, phone and fax number.
/// A directory that cannot say leaves the cover as the message has it (logged): a fax never
/// waits for its cover's details.
async fn describe(senders: &Senders, cover: &mut CoverFields) {
    if cover.from_address.is_empty() {
        return;
    }
    match senders.by_mail(&cover.from_address).await {
        Ok(Some(user)) => {
            if let Some(name) = user.name {
                cover.from_name = name;
            }
            cover.company = user.company;
            cover.phone = user.phone;
            cover.fax = user.fax;
        }
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(sender = %cover.from_address, error = %e, "the directory cannot describe the sender: the cover page shows the message's details")
        }
    }
}

/// Converts a job's message into its page set in the spool, and, when the job has cover
/// pages, one page set per recipient: its cover, then the same pages (a worker: I/O only, no
/// state).
async fn convert_job(
    converter: &Converter,
    senders: Option<&Senders>,
    identity: Option<&SenderIdentity>,
    spool: &Spool,
    claim: &Conversion,
    addressees: &[Addressee],
) -> Result<Converted, ConvertError> {
    let io = |e: std::io::Error| ConvertError::from(e);
    let job = &claim.job;
    let scratch = spool.scratch_dir().map_err(io)?;
    let message = spool.local(&claim.message_path).await.map_err(io)?;
    let mut set = converter
        .convert_except(&message, scratch.path(), claim.list_part.as_deref())
        .await?;
    if let (Some(senders), Some(cover)) = (senders, set.cover.as_mut()) {
        describe(senders, cover).await;
    }
    if let (Some(identity), Some(cover)) = (identity, set.cover.as_mut()) {
        cover.company = identity.company.clone().or(cover.company.take());
        cover.fax = identity.dial_back.clone().or(cover.fax.take());
    }
    let mut own = Vec::new();
    let mut installs = Vec::new();
    if set.cover.is_some() {
        let to: Vec<faxhub_converters::Addressee> = addressees
            .iter()
            .map(|a| faxhub_converters::Addressee {
                name: a.display_name.clone(),
                number: a.number.clone(),
                company: a.company.clone(),
            })
            .collect();
        let sets = converter
            .with_covers(
                &set,
                &to,
                scratch.path(),
                identity.and_then(|i| i.cover_template.as_deref()),
            )
            .await
            .map_err(|e| e.unless_full(scratch.path()))?;
        for (a, mine) in addressees.iter().zip(sets) {
            let rels = Spool::page_set_rels(&format!("{job}-{}", a.idx));
            own.push(RecipientPages {
                idx: a.idx,
                pages: i64::from(mine.pages),
                pages_path: rels[0].clone(),
            });
            installs.push((mine, rels));
        }
    }
    installs.push((set.clone(), Spool::page_set_rels(job.as_str())));
    let spool = spool.clone();
    tokio::task::spawn_blocking(move || {
        // the previews first, the job's own TIFF last: once it is in place the job may be sent
        for (pages, [tif, pdf, png]) in &installs {
            spool.install(&pages.pdf, pdf)?;
            spool.install(&pages.thumbnail, png)?;
            spool.install(&pages.tiff, tif)?;
        }
        Ok::<(), std::io::Error>(())
    })
    .await
    .map_err(ConvertError::from)?
    .map_err(io)?;
    Ok(Converted {
        pages: set.pages,
        own,
    })
}
