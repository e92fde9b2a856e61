//! faxhub's conversion: a spooled message becomes one TIFF-F page set.
//!
//! In: the path of a received message (RFC 5322). Out: a multi-page TIFF-F file (CCITT G4,
//! 1728 pixels wide, 204×196 dpi, A4 or Letter) and its page count, or a `ConvertError` that
//! names the part that failed and says why in words a user understands, with its RFC 3463 code
//! (`error.rs` is the table). For now the text body (plain, or HTML reduced to text) and PDF
//! attachments are converted, through Ghostscript; other attachment types fail the job with
//! 5.6.3. External programs run only through `exec::run` (timeouts, process groups, capped
//! output). Nothing here touches the job store: the caller records the outcome.

mod error;
pub mod exec;
mod ghostscript;
mod mime;
mod text;

pub use error::ConvertError;
pub use ghostscript::Paper;

use faxhub_queue::tiff;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Ghostscript gets at most this long for one job's pages.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// A job may have at most this many pages (RFC 3463 5.3.4 beyond).
pub const DEFAULT_MAX_PAGES: u32 = 200;

/// The `[convert]` section of the configuration, typed.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvertConfig {
    /// `a4` or `letter`.
    pub paper: Paper,
    /// Longest time one external program may take for one job.
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub tool_timeout: Duration,
    pub max_pages: u32,
    /// Conversions running at once; 0 means one per CPU core.
    pub workers: usize,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        ConvertConfig {
            paper: Paper::A4,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            max_pages: DEFAULT_MAX_PAGES,
            workers: 0,
        }
    }
}

/// A converted job: the TIFF-F file (inside the work directory) and its page count.
#[derive(Clone, Debug, PartialEq)]
pub struct PageSet {
    pub tiff: PathBuf,
    pub pages: u32,
}

#[derive(Clone, Debug)]
pub struct Converter {
    config: ConvertConfig,
}

impl Converter {
    pub fn new(config: ConvertConfig) -> Converter {
        Converter { config }
    }

    /// Converts the message at `message` into `workdir/pages.tif`.
    pub async fn convert(&self, message: &Path, workdir: &Path) -> Result<PageSet, ConvertError> {
        let raw = tokio::fs::read(message)
            .await
            .map_err(|e| ConvertError::Io(e.to_string()))?;
        let documents = mime::documents(&raw, &self.config.paper)?;
        let mut inputs = Vec::with_capacity(documents.len());
        for (i, doc) in documents.iter().enumerate() {
            let path = workdir.join(format!("part{i}.{}", doc.extension()));
            tokio::fs::write(&path, doc.bytes())
                .await
                .map_err(|e| ConvertError::Io(e.to_string()))?;
            inputs.push((doc.name().to_string(), path));
        }
        let out = workdir.join("pages.tif");
        let paths: Vec<&Path> = inputs.iter().map(|(_, p)| p.as_path()).collect();
        if let Err(whole) = ghostscript::render(&paths, &out, &self.config, workdir).await {
            // Find the part to blame, so that the user is told which attachment failed.
            for (name, path) in &inputs {
                let probe = workdir.join("probe.tif");
                if let Err(e) =
                    ghostscript::render(&[path.as_path()], &probe, &self.config, workdir).await
                {
                    return Err(e.for_part(name));
                }
            }
            return Err(whole);
        }
        let bytes = tokio::fs::read(&out)
            .await
            .map_err(|e| ConvertError::Io(e.to_string()))?;
        let pages = check_class_f(&bytes)?;
        if pages > self.config.max_pages {
            return Err(ConvertError::TooManyPages {
                pages,
                max: self.config.max_pages,
            });
        }
        Ok(PageSet { tiff: out, pages })
    }
}

/// Checks the facts a fax line relies on (RFC 2306): every page 1728 wide, CCITT-coded, with a
/// fax resolution. Returns the page count.
pub fn check_class_f(bytes: &[u8]) -> Result<u32, ConvertError> {
    let pages = tiff::read_pages(bytes).map_err(|e| ConvertError::NotClassF(e.to_string()))?;
    for (i, page) in pages.iter().enumerate() {
        let bad = |what: String| ConvertError::NotClassF(format!("page {}: {what}", i + 1));
        if page.width != 1728 {
            return Err(bad(format!("width {} instead of 1728", page.width)));
        }
        if !matches!(page.compression, 3 | 4) {
            return Err(bad(format!(
                "compression {} is not CCITT T.4/T.6",
                page.compression
            )));
        }
        match page.dpi() {
            Some((x, y))
                if (x - 204.0).abs() < 2.0
                    && [98.0, 196.0, 391.0].iter().any(|r| (y - r).abs() < 2.0) => {}
            other => return Err(bad(format!("resolution {other:?} is not a fax resolution"))),
        }
    }
    Ok(pages.len() as u32)
}
