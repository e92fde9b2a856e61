//! faxhub's conversion: a spooled message becomes one TIFF-F page set.
//!
//! In: the path of a received message (RFC 5322). Out: a multi-page TIFF-F file (CCITT G4,
//! 1728 pixels wide, 204×196 dpi, A4 or Letter) and its page count, or a `ConvertError` that
//! names the part that failed and says why in words a user understands, with its RFC 3463 code
//! (`error.rs` is the table). The MIME walk (`mime`) lists the documents; Office files and
//! HTML go through the LibreOffice farm (`office`) to PDF, PDF and PostScript through
//! Ghostscript, images are rasterised here (`raster`); the pages are assembled into one TIFF-F
//! with PageNumber on each page (`tiff_f`) and checked for Class F, with a PDF of the same pages
//! and a thumbnail (`preview`). External programs run only through `exec::run` (timeouts,
//! process groups, capped output). Nothing here touches the job store: the caller records the
//! outcome.

mod counting;
pub mod cover;
mod error;
pub mod exec;
mod ghostscript;
mod html;
mod limits;
mod mime;
mod office;
mod options;
mod pictures;
pub mod preview;
mod raster;
pub mod received;
pub mod sandbox;
mod text;
pub mod tiff_f;
mod tnef;

pub use cover::{Addressee, CoverConfig, CoverFields};
pub use error::ConvertError;
pub use office::defuse;
pub use options::{Options, Paper, Resolution};
pub use sandbox::{Sandbox, SandboxConfig, SandboxMode};

use mime::{Document, Kind};
use tiff_f::FaxPage;

/// What errors call the cover page.
const COVER: &str = "cover page";

/// qpdf, to open PDFs encrypted with an empty user password.
const QPDF: &str = "qpdf";
/// libtiff's TIFF copier, to re-code pages as G3 2-D.
const TIFFCP: &str = "tiffcp";
/// libtiff's TIFF to PDF converter (Debian's libtiff-tools).
const TIFF2PDF: &str = "tiff2pdf";

use faxhub_queue::tiff;
use serde::{Deserialize, Serialize};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Ghostscript gets at most this long for one job's pages.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(120);
/// LibreOffice gets at most this long for one document.
pub const DEFAULT_OFFICE_TIMEOUT: Duration = Duration::from_secs(60);
/// A job may have at most this many pages (RFC 3463 5.3.4 beyond).
pub const DEFAULT_MAX_PAGES: u32 = 200;

/// The `[convert]` section of the configuration, typed.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConvertConfig {
    /// `a4`, `letter` or `legal` (a message may ask for another with `X-Fax-Paper`).
    pub paper: Paper,
    /// `normal` (98 lpi), `fine` (196 lpi) or `superfine` (391 lpi); `X-Fax-Resolution` overrides.
    pub resolution: Resolution,
    /// Longest time one external program may take for one job.
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub tool_timeout: Duration,
    pub max_pages: u32,
    /// The message text: `always`, `if-not-empty` (empty or only a signature: no page), `never`.
    pub body: BodyPolicy,
    /// Attachments of a type faxhub can't convert: `fail` the job (naming them) or `skip` them
    /// with a note.
    pub unknown_parts: UnknownParts,
    /// Conversions running at once; 0 means two per CPU core (one laid out by LibreOffice while
    /// another is rendered by Ghostscript).
    pub workers: usize,
    /// Coding of the pages sent: `g4` (T.6, the default) or `g3-2d` (T.4 2-D, for lines or
    /// archives that want it).
    pub compression: Compression,
    /// Warm LibreOffice instances for Office documents; 0 means one per CPU core.
    pub office_instances: usize,
    /// Longest time LibreOffice may take for one document (then its instance is replaced).
    #[serde(with = "faxhub_queue::units::serde_duration")]
    pub office_timeout: Duration,
    /// Text and line art in solid black (coloured and grey ones too, the lightest excepted),
    /// photos still dithered: a fax is black and white, and a dark-blue heading or a grey
    /// footer halftoned comes out hollow and dotted. `false`: every colour halftoned.
    pub black_text: bool,
    /// Cover pages (`[convert.cover]`).
    pub cover: CoverConfig,
    /// The converters' sandbox (`[convert.sandbox]`).
    pub sandbox: SandboxConfig,
}

impl Default for ConvertConfig {
    fn default() -> Self {
        ConvertConfig {
            paper: Paper::A4,
            resolution: Resolution::Fine,
            body: BodyPolicy::IfNotEmpty,
            unknown_parts: UnknownParts::Fail,
            tool_timeout: DEFAULT_TOOL_TIMEOUT,
            max_pages: DEFAULT_MAX_PAGES,
            workers: 0,
            compression: Compression::G4,
            office_instances: 0,
            office_timeout: DEFAULT_OFFICE_TIMEOUT,
            black_text: true,
            cover: CoverConfig::default(),
            sandbox: SandboxConfig::default(),
        }
    }
}

impl ConvertConfig {
    /// Conversions at once: `workers`, or two per CPU core.
    pub fn worker_count(&self) -> usize {
        match self.workers {
            0 => 2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BodyPolicy {
    Always,
    #[default]
    IfNotEmpty,
    Never,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    #[default]
    G4,
    #[serde(rename = "g3-2d")]
    G32d,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownParts {
    #[default]
    Fail,
    Skip,
}

/// A converted job: the TIFF-F file (inside the work directory) and its page count.
#[derive(Clone, Debug, PartialEq)]
pub struct PageSet {
    pub tiff: PathBuf,
    pub pages: u32,
    /// The same pages as a PDF (the G4 data embedded, not re-rendered).
    pub pdf: PathBuf,
    /// Page 1 as a small PNG.
    pub thumbnail: PathBuf,
    /// The same pages coded G4 (`tiff` itself unless `compression` is `g3-2d`).
    pub g4: PathBuf,
    /// The options they were made with.
    pub options: Options,
    /// What each recipient's cover page says, when the job has cover pages (`with_cover`).
    pub cover: Option<CoverFields>,
}

pub struct Converter {
    config: ConvertConfig,
    /// Where the LibreOffice farm keeps its profiles (a daemon gives its spool's tmp/, which
    /// start-up recovery empties after a crash).
    scratch: PathBuf,
    /// Made on the first external program (its support files live under `scratch`).
    sandbox: tokio::sync::OnceCell<std::sync::Arc<Sandbox>>,
    /// Started on the first Office document (or by `warm_up`).
    farm: tokio::sync::OnceCell<office::Farm>,
}

impl std::fmt::Debug for Converter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Converter")
            .field("config", &self.config)
            .finish()
    }
}

impl Converter {
    pub fn new(config: ConvertConfig) -> Converter {
        Converter {
            config,
            scratch: std::env::temp_dir(),
            sandbox: tokio::sync::OnceCell::new(),
            farm: tokio::sync::OnceCell::new(),
        }
    }

    /// Keeps the farm's files under `scratch` instead of the system's temporary directory.
    pub fn with_scratch(mut self, scratch: PathBuf) -> Converter {
        self.scratch = scratch;
        self
    }

    /// Converts the message at `message` into `workdir/pages.tif`. A failure while `workdir`'s
    /// disk is full is the disk's (`StorageFull`, tried again), whatever the tool said.
    pub async fn convert(&self, message: &Path, workdir: &Path) -> Result<PageSet, ConvertError> {
        self.convert_except(message, workdir, None).await
    }

    /// [`Converter::convert`] leaving out the message's attachment named `skip` (a broadcast's
    /// list: its numbers, not pages).
    pub async fn convert_except(
        &self,
        message: &Path,
        workdir: &Path,
        skip: Option<&str>,
    ) -> Result<PageSet, ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let raw = tokio::fs::read(message).await.map_err(io)?;
        self.convert_message(&message.display().to_string(), &raw, workdir, skip)
            .await
            .map_err(|e| e.unless_full(workdir))
    }

    async fn convert_message(
        &self,
        name: &str,
        raw: &[u8],
        workdir: &Path,
        skip: Option<&str>,
    ) -> Result<PageSet, ConvertError> {
        let policy = mime::Policy {
            body: self.config.body,
            unknown_parts: self.config.unknown_parts,
            body_on_cover: self.config.cover.body,
        };
        let started = std::time::Instant::now();
        let walked = match mime::documents(raw, self.defaults(), policy, skip) {
            Ok(walked) => walked,
            Err(e) => return Err(counting::counted("message", started, e)),
        };
        for note in &walked.notes {
            tracing::info!(message = %name, note = %note, "conversion note");
        }
        let kind = counting::kind_of(&walked.docs);
        let mut set = match self.page_set(&walked.docs, &walked.options, workdir).await {
            Ok(set) => set,
            Err(e) => return Err(counting::counted(kind, started, e)),
        };
        counting::converted(kind, started);
        set.cover = walked.cover;
        Ok(set)
    }

    /// Each recipient's page set: its cover page, then the job's pages (not rendered again), in
    /// `workdir/rcpt<i>` for the i-th of `to`. The template and the job's pages are read once.
    /// `set` must have cover fields (the job asked for cover pages). `template`: the sender's
    /// own (`[[senders]] cover_template`), else `[convert.cover]`'s.
    pub async fn with_covers(
        &self,
        set: &PageSet,
        to: &[Addressee],
        workdir: &Path,
        template: Option<&Path>,
    ) -> Result<Vec<PageSet>, ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let fields = set.cover.clone().unwrap_or_default();
        let cover = CoverConfig {
            template: template.map(Path::to_path_buf),
            ..self.config.cover.clone()
        };
        let cover = match template {
            Some(_) => &cover,
            None => &self.config.cover,
        };
        let template = cover
            .load_template()
            .map_err(|detail| ConvertError::Damaged {
                part: COVER.into(),
                detail,
            })?;
        let pages = FaxPage::from_tiff(&tokio::fs::read(&set.g4).await.map_err(io)?)?;
        let mut out = Vec::with_capacity(to.len());
        for (i, addressee) in to.iter().enumerate() {
            let dir = workdir.join(format!("rcpt{i}"));
            tokio::fs::create_dir_all(&dir).await.map_err(io)?;
            out.push(
                self.with_cover(set, &fields, &template, &pages, addressee, &dir)
                    .await?,
            );
        }
        Ok(out)
    }

    /// One recipient's cover, laid out until its page count (which includes itself) settles,
    /// then the job's `pages`.
    async fn with_cover(
        &self,
        set: &PageSet,
        fields: &CoverFields,
        (template, images): &cover::Template,
        pages: &[FaxPage],
        to: &Addressee,
        workdir: &Path,
    ) -> Result<PageSet, ConvertError> {
        // one page, unless the text overflows
        let mut cover_pages = 1;
        for _ in 0..2 {
            let total = set.pages + cover_pages;
            let html = cover::fill(template, &self.config.cover, fields, to, total);
            let doc = Document::new(COVER.into(), Kind::Html, html.into_bytes())
                .with_resources(images.clone());
            let pdf = self.office_to_pdf(&[doc], workdir).await?;
            let cover = self.render(&pdf, 0, &set.options, workdir).await?;
            if cover.len() as u32 == cover_pages {
                let all: Vec<FaxPage> = cover.into_iter().chain(pages.iter().cloned()).collect();
                return self.finish(&all, set.options, workdir, COVER).await;
            }
            cover_pages = cover.len() as u32;
        }
        Err(ConvertError::Damaged {
            part: COVER.into(),
            detail: "its page count does not settle".into(),
        })
    }

    /// Converts one file (a PDF, an image, an Office or text file) into `workdir/pages.tif`, as if
    /// it were the only attachment of a message; a `.eml` file is converted as a message. For the
    /// hot folder, `faxhub convert` and testing formats.
    pub async fn convert_file(
        &self,
        name: &str,
        bytes: &[u8],
        workdir: &Path,
    ) -> Result<PageSet, ConvertError> {
        if name.to_ascii_lowercase().ends_with(".eml") {
            return self.convert_message(name, bytes, workdir, None).await;
        }
        let options = self.defaults();
        let document = mime::document_for_file(name, bytes, &options.paper)?;
        self.page_set(std::slice::from_ref(&document), &options, workdir)
            .await
    }

    /// A call that resumes a fax after `done` of its pages were confirmed: a continuation page
    /// saying `text`, then the pages of `pages` (the recipient's page set, as sent) after
    /// `done`, at its resolution and in the configured compression, as `workdir/continued.tif`;
    /// its page count. The page is rendered like a text body (Ghostscript, in the sandbox).
    pub async fn continuation(
        &self,
        pages: &Path,
        done: u32,
        text: &str,
        workdir: &Path,
    ) -> Result<(PathBuf, u32), ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let bytes = tokio::fs::read(pages).await.map_err(io)?;
        let fax = match FaxPage::from_tiff(&bytes) {
            Ok(fax) => fax,
            // sent as T.4 2-D: read back as G4 first
            Err(_) => {
                let g4 = workdir.join("sent-g4.tif");
                let args = [
                    OsStr::new("-c"),
                    OsStr::new("g4"),
                    OsStr::new("-r"),
                    OsStr::new("100000"),
                    pages.as_os_str(),
                    g4.as_os_str(),
                ];
                let out = self.run_tool(TIFFCP, args, workdir).await?;
                if !out.status.success() {
                    let detail = String::from_utf8_lossy(&out.stderr).into_owned();
                    return Err(ConvertError::exited(TIFFCP, out.status, detail));
                }
                FaxPage::from_tiff(&tokio::fs::read(&g4).await.map_err(io)?)?
            }
        };
        let rest = fax
            .get(done as usize..)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| ConvertError::Damaged {
                part: "continuation".into(),
                detail: format!("the fax has {} pages, none after page {done}", fax.len()),
            })?;
        let resolution = match rest[0].y_dpi {
            0..=140 => Resolution::Normal,
            141..=290 => Resolution::Fine,
            _ => Resolution::Superfine,
        };
        let options = Options {
            resolution,
            cover: false,
            ..self.defaults()
        };
        let doc = Document::new(
            "continuation".into(),
            Kind::PostScript,
            text::to_postscript(text, options.paper).into_bytes(),
        );
        let cover = self
            .render(std::slice::from_ref(&doc), 0, &options, workdir)
            .await?;
        let first = cover.into_iter().next().ok_or(ConvertError::Empty)?;
        let mut all = Vec::with_capacity(rest.len() + 1);
        all.push(first);
        all.extend_from_slice(rest);
        let out = workdir.join("continued.tif");
        tokio::fs::write(&out, tiff_f::write(&all))
            .await
            .map_err(io)?;
        if self.config.compression == Compression::G32d {
            self.recode_g3_2d(&out, workdir).await?;
        }
        Ok((out, all.len() as u32))
    }

    /// Starts the LibreOffice instances now (a daemon calls this at start-up).
    pub async fn warm_up(&self) -> Result<(), ConvertError> {
        self.farm().await?.warm_up().await
    }

    /// The sandbox every external program runs in, made and probed once: when it does not work
    /// (and `[convert.sandbox] mode` is not `off`), nothing is converted.
    pub async fn sandbox(&self) -> Result<&std::sync::Arc<Sandbox>, ConvertError> {
        self.sandbox
            .get_or_try_init(|| async {
                let sandbox = Sandbox::new(&self.config.sandbox, &self.scratch)
                    .map_err(|e| ConvertError::Sandbox(e.to_string()))?;
                sandbox
                    .probe(&self.scratch, &[])
                    .await
                    .map_err(ConvertError::Sandbox)?;
                Ok(std::sync::Arc::new(sandbox))
            })
            .await
    }

    /// Whether the sandbox works here, `outside` (the configuration, `data_dir`) hidden from
    /// it: how it runs the converters, or why it can't.
    pub async fn check_sandbox(&self, outside: &[&Path]) -> Result<String, ConvertError> {
        let sandbox = self.sandbox().await?;
        sandbox
            .probe(&self.scratch, outside)
            .await
            .map_err(ConvertError::Sandbox)?;
        Ok(sandbox.describe())
    }

    async fn farm(&self) -> Result<&office::Farm, ConvertError> {
        let size = match self.config.office_instances {
            0 => std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            n => n,
        };
        let sandbox = self.sandbox().await?;
        self.farm
            .get_or_try_init(|| async {
                office::Farm::new(
                    size,
                    self.config.office_timeout,
                    &self.scratch,
                    sandbox.clone(),
                )
            })
            .await
    }

    /// Office documents become PDF documents (through the farm); the others stay as they are.
    async fn office_to_pdf(
        &self,
        documents: &[Document],
        workdir: &Path,
    ) -> Result<Vec<Document>, ConvertError> {
        let mut out = Vec::with_capacity(documents.len());
        let io = |e: std::io::Error| ConvertError::from(e);
        for (i, doc) in documents.iter().enumerate() {
            let mut bytes = std::borrow::Cow::Borrowed(doc.bytes());
            let input = match doc.kind() {
                // in a directory of its own: LibreOffice is shown that directory alone
                Kind::Office => {
                    limits::check_package(doc.name(), doc.bytes())?;
                    if let Some(defused) = defuse_office(doc).await? {
                        bytes = std::borrow::Cow::Owned(defused);
                    }
                    let dir = workdir.join(format!("office{i}"));
                    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
                    dir.join(format!(
                        "document.{}",
                        office_extension(doc.name(), doc.bytes())
                    ))
                }
                // in a directory of its own, with the images it shows
                Kind::Html => {
                    let dir = workdir.join(format!("html{i}"));
                    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
                    for (file, bytes) in doc.resources() {
                        tokio::fs::write(dir.join(file), bytes).await.map_err(io)?;
                    }
                    dir.join("body.html")
                }
                _ => {
                    out.push(doc.clone());
                    continue;
                }
            };
            let output = workdir.join(format!("office{i}.pdf"));
            tokio::fs::write(&input, &bytes).await.map_err(io)?;
            self.farm()
                .await?
                .to_pdf(doc.name(), &input, &output)
                .await?;
            let pdf = tokio::fs::read(&output).await.map_err(ConvertError::from)?;
            out.push(Document::new(doc.name().to_string(), Kind::Pdf, pdf));
        }
        Ok(out)
    }

    fn defaults(&self) -> Options {
        Options {
            paper: self.config.paper,
            resolution: self.config.resolution,
            cover: self.config.cover.enabled,
        }
    }

    async fn page_set(
        &self,
        documents: &[Document],
        options: &Options,
        workdir: &Path,
    ) -> Result<PageSet, ConvertError> {
        let started = std::time::Instant::now();
        let documents = &self.office_to_pdf(documents, workdir).await?;
        let office = started.elapsed();
        let mut pages: Vec<FaxPage> = Vec::new();
        let max = self.config.max_pages as usize;
        // Consecutive Ghostscript documents are rendered in one run (its start-up is the cost).
        let mut i = 0;
        while i < documents.len() {
            let run_end = match documents[i].kind() {
                Kind::Image => i + 1,
                _ => documents[i..]
                    .iter()
                    .position(|d| d.kind() == Kind::Image)
                    .map_or(documents.len(), |k| i + k),
            };
            let before = pages.len();
            match documents[i].kind() {
                Kind::Image => {
                    pages.extend(self.image_pages(&documents[i], i, options, workdir).await?)
                }
                _ => pages.extend(
                    self.render(&documents[i..run_end], i, options, workdir)
                        .await?,
                ),
            }
            if pages.len() > max {
                let run = &documents[i..run_end];
                let part = self.past_the_limit(run, i, before, options, workdir).await;
                return Err(ConvertError::TooManyPages {
                    part,
                    pages: pages.len() as u32,
                    max: max as u32,
                });
            }
            i = run_end;
        }
        let rendered = started.elapsed();
        let blame = documents.last().map_or("the document", |d| d.name());
        let set = self.finish(&pages, *options, workdir, blame).await;
        tracing::debug!(office = ?office, render = ?(rendered - office), finish = ?(started.elapsed() - rendered), "page set timings");
        set
    }

    /// The pages of one picture: decoded here, or by libtiff, libheif or libjpeg when the Rust
    /// decoders refuse it (`pictures`); the first refusal stands if the second reader fails too.
    async fn image_pages(
        &self,
        doc: &Document,
        index: usize,
        options: &Options,
        workdir: &Path,
    ) -> Result<Vec<FaxPage>, ConvertError> {
        let first = match self
            .raster(doc.name(), doc.bytes().to_vec(), options)
            .await?
        {
            Ok(pages) => return Ok(pages),
            Err(first) => first,
        };
        if matches!(first, ConvertError::TooManyPages { .. }) {
            return Err(first);
        }
        // libtiff reads TIFF variants the pure-Rust decoder does not (G3, palettes, old
        // JPEG…): it makes a PDF of the pages, which is rendered.
        if raster::is_tiff(doc.bytes()) {
            return self
                .tiff_via_libtiff(doc, index, options, workdir)
                .await
                .map_err(|_| first);
        }
        let Some(plan) = pictures::Fallback::for_picture(doc.bytes(), index, workdir) else {
            return Err(first);
        };
        tokio::fs::write(&plan.input, &doc.bytes()[plan.start..])
            .await
            .map_err(ConvertError::from)?;
        if let Some((tool, args)) = &plan.survey {
            let out = self
                .run_tool(tool, args, workdir)
                .await
                .map_err(|e| e.for_part(doc.name()))?;
            let listing = String::from_utf8_lossy(&out.stdout);
            pictures::check_survey(&listing, doc.name(), self.config.max_pages)?;
        }
        let out = self
            .run_tool(plan.tool, &plan.args, workdir)
            .await
            .map_err(|e| e.for_part(doc.name()))?;
        let written = plan.written(self.config.max_pages as usize + 1);
        if !plan.succeeded(out.status.code()) || written.is_empty() {
            tracing::info!(part = %doc.name(), tool = plan.tool, stderr = %String::from_utf8_lossy(&out.stderr), "the second reader failed too");
            return Err(first);
        }
        let mut pages = Vec::new();
        for file in written {
            let bytes = tokio::fs::read(&file).await.map_err(ConvertError::from)?;
            pages.extend(self.raster(doc.name(), bytes, options).await??);
        }
        Ok(pages)
    }

    /// A picture decoded by `raster`, off the async threads and within `tool_timeout`; the
    /// outer error is the decoder's time-out, the inner one the picture's refusal.
    async fn raster(
        &self,
        name: &str,
        bytes: Vec<u8>,
        options: &Options,
    ) -> Result<Result<Vec<FaxPage>, ConvertError>, ConvertError> {
        let (owned, paper, max) = (name.to_string(), options.paper, self.config.max_pages);
        let y_dpi = options.resolution.y_dpi();
        let decode =
            tokio::task::spawn_blocking(move || raster::pages(&owned, &bytes, paper, y_dpi, max));
        // the decoders are bounded in pixels; this bounds them in time too
        let decoded = tokio::time::timeout(self.config.tool_timeout, decode)
            .await
            .map_err(|_| ConvertError::Timeout {
                part: name.to_string(),
                tool: "the image decoder".into(),
                after: self.config.tool_timeout,
            })?
            .map_err(ConvertError::from)?;
        Ok(decoded.and_then(|bitmaps| {
            bitmaps
                .iter()
                .map(|bitmap| FaxPage::from_bitmap(bitmap, y_dpi))
                .collect()
        }))
    }

    /// The document of `run` (numbered from `first`) with which the fax went past `max_pages`,
    /// `before` pages coming before the run: the run's only one, else found by rendering them
    /// one by one (each stops one page past the limit, so this costs no more than the run).
    async fn past_the_limit(
        &self,
        run: &[Document],
        first: usize,
        mut before: usize,
        options: &Options,
        workdir: &Path,
    ) -> String {
        if let [only] = run {
            return only.name().to_string();
        }
        for (k, doc) in run.iter().enumerate() {
            let one = std::slice::from_ref(doc);
            before += match self.render(one, first + k, options, workdir).await {
                Ok(pages) => pages.len(),
                Err(_) => 0,
            };
            if before > self.config.max_pages as usize {
                return doc.name().to_string();
            }
        }
        run.last()
            .map_or_else(String::new, |d| d.name().to_string())
    }

    /// Writes `pages` as the page set's files in `workdir`: the TIFF-F (checked), its PDF and
    /// thumbnail; too many pages are blamed on `blame`, the file that came last.
    async fn finish(
        &self,
        pages: &[FaxPage],
        options: Options,
        workdir: &Path,
        blame: &str,
    ) -> Result<PageSet, ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let count = pages.len() as u32;
        if count > self.config.max_pages {
            return Err(ConvertError::TooManyPages {
                part: blame.to_string(),
                pages: count,
                max: self.config.max_pages,
            });
        }
        let bytes = tiff_f::write(pages);
        check_class_f(&bytes)?;
        let out = workdir.join("pages.tif");
        tokio::fs::write(&out, bytes).await.map_err(io)?;
        let g4 = if self.config.compression == Compression::G32d {
            let g4 = workdir.join("pages-g4.tif");
            tokio::fs::copy(&out, &g4).await.map_err(io)?;
            self.recode_g3_2d(&out, workdir).await?;
            g4
        } else {
            out.clone()
        };
        let pdf = workdir.join("pages.pdf");
        tokio::fs::write(&pdf, preview::pdf(pages)?)
            .await
            .map_err(io)?;
        let thumbnail = workdir.join("page1.png");
        tokio::fs::write(&thumbnail, preview::thumbnail(&pages[0])?)
            .await
            .map_err(io)?;
        Ok(PageSet {
            tiff: out,
            pdf,
            thumbnail,
            g4,
            options,
            cover: None,
            pages: count,
        })
    }

    /// An encrypted PDF opened with the empty user password (qpdf handles every revision, Ghostscript
    /// not all); one that needs a real password fails with that reason.
    async fn decrypt_pdf(
        &self,
        name: &str,
        path: &Path,
        workdir: &Path,
    ) -> Result<PathBuf, ConvertError> {
        let out = path.with_extension("decrypted.pdf");
        let args = [OsStr::new("--decrypt"), path.as_os_str(), out.as_os_str()];
        match exec::run(
            self.sandbox().await?,
            QPDF,
            args,
            workdir,
            self.config.tool_timeout,
        )
        .await
        {
            // 0: done; 3: done with warnings
            Ok(o) if matches!(o.status.code(), Some(0 | 3)) => Ok(out),
            Ok(o) if String::from_utf8_lossy(&o.stderr).contains("password") => {
                Err(ConvertError::Encrypted {
                    part: name.to_string(),
                })
            }
            Ok(o) => Err(ConvertError::Damaged {
                part: name.to_string(),
                detail: String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string(),
            }),
            Err(exec::ExecError::NotFound { .. }) => Ok(path.to_path_buf()), // let Ghostscript try
            Err(e) => Err(e.into()),
        }
    }

    /// Re-codes the page set as T.4 2-D (G3) with libtiff's tiffcp, one strip per page; the tags
    /// (PageNumber, resolution) are kept.
    async fn recode_g3_2d(&self, tiff: &Path, workdir: &Path) -> Result<(), ConvertError> {
        let g3 = workdir.join("pages-g3.tif");
        let args = [
            OsStr::new("-c"),
            OsStr::new("g3:2d:fill"),
            OsStr::new("-r"),
            OsStr::new("100000"),
            tiff.as_os_str(),
            g3.as_os_str(),
        ];
        let out = self.run_tool(TIFFCP, args, workdir).await?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr).into_owned();
            return Err(ConvertError::exited(TIFFCP, out.status, detail));
        }
        check_class_f(&tokio::fs::read(&g3).await.map_err(ConvertError::from)?)?;
        tokio::fs::rename(&g3, tiff)
            .await
            .map_err(ConvertError::from)
    }

    /// `tool args…` in the sandbox within `tool_timeout`.
    async fn run_tool<I, S>(
        &self,
        tool: &str,
        args: I,
        workdir: &Path,
    ) -> Result<exec::Output, ConvertError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        exec::run(
            self.sandbox().await?,
            tool,
            args,
            workdir,
            self.config.tool_timeout,
        )
        .await
        .map_err(ConvertError::from)
    }

    /// A TIFF through libtiff's tiff2pdf (which keeps CCITT data as it is), then Ghostscript.
    async fn tiff_via_libtiff(
        &self,
        doc: &Document,
        index: usize,
        options: &Options,
        workdir: &Path,
    ) -> Result<Vec<FaxPage>, ConvertError> {
        let tif = workdir.join(format!("part{index}.tif"));
        let pdf = workdir.join(format!("part{index}.pdf"));
        tokio::fs::write(&tif, doc.bytes())
            .await
            .map_err(ConvertError::from)?;
        let args = [OsStr::new("-o"), pdf.as_os_str(), tif.as_os_str()];
        let out = self.run_tool(TIFF2PDF, args, workdir).await?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr)
                .lines()
                .next()
                .unwrap_or("failed")
                .to_string();
            return Err(ConvertError::Damaged {
                part: doc.name().to_string(),
                detail,
            });
        }
        let bytes = tokio::fs::read(&pdf).await.map_err(ConvertError::from)?;
        let as_pdf = Document::new(doc.name().to_string(), Kind::Pdf, bytes);
        self.render(std::slice::from_ref(&as_pdf), index, options, workdir)
            .await
    }

    /// Renders Ghostscript documents (numbered from `first` for their work files) into pages.
    async fn render(
        &self,
        documents: &[Document],
        first: usize,
        options: &Options,
        workdir: &Path,
    ) -> Result<Vec<FaxPage>, ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let mut inputs = Vec::with_capacity(documents.len());
        for (k, doc) in documents.iter().enumerate() {
            let mut path = workdir.join(format!("part{}.{}", first + k, doc.extension()));
            tokio::fs::write(&path, doc.bytes()).await.map_err(io)?;
            if doc.kind() == Kind::Pdf && is_encrypted_pdf(doc.bytes()) {
                path = self.decrypt_pdf(doc.name(), &path, workdir).await?;
            }
            inputs.push((doc.name().to_string(), path));
        }
        let out = workdir.join(format!("gs{first}.tif"));
        let paths: Vec<&Path> = inputs.iter().map(|(_, p)| p.as_path()).collect();
        let sandbox = self.sandbox().await?;
        if let Err(whole) =
            ghostscript::render(sandbox, &paths, &out, &self.config, options, workdir).await
        {
            // Find the part to blame, so that the user is told which attachment failed.
            for (name, path) in &inputs {
                let probe = workdir.join("probe.tif");
                if let Err(e) = ghostscript::render(
                    sandbox,
                    &[path.as_path()],
                    &probe,
                    &self.config,
                    options,
                    workdir,
                )
                .await
                {
                    return Err(e.for_part(name));
                }
            }
            return Err(whole);
        }
        let bytes = tokio::fs::read(&out).await.map_err(io)?;
        FaxPage::from_tiff(&bytes)
    }
}

/// An Office document with what it links taken out (`office::defuse`), off the async threads;
/// `None` when there was nothing to take out. What was removed is logged, part by part.
async fn defuse_office(doc: &Document) -> Result<Option<Vec<u8>>, ConvertError> {
    let bytes = doc.bytes().to_vec();
    let defused = tokio::task::spawn_blocking(move || office::defuse::defuse(&bytes))
        .await
        .map_err(|e| ConvertError::Io(format!("defusing: {e}")))?
        .map_err(|why| ConvertError::Damaged {
            part: doc.name().to_string(),
            detail: why,
        })?;
    Ok(defused.map(|d| {
        for what in &d.removed {
            tracing::info!(part = %doc.name(), removed = %what, "office document: a link to outside taken out");
        }
        d.bytes
    }))
}

/// The extension an Office document is given for LibreOffice, which picks its import filter by
/// it: `rtf` for RTF content, `fodt`… for a flat OpenDocument file (the worker then names the
/// flat filter), the name's own if it is an Office extension, else `bin` (LibreOffice
/// then goes by the content). Never the name's `.html`, `.svg` or `.xml`: an OLE2 file named
/// `.html` would be read by the HTML filter, past the sanitiser.
fn office_extension(name: &str, bytes: &[u8]) -> String {
    if bytes.starts_with(b"{\\rtf") {
        return "rtf".into();
    }
    if let Some(flat) = office::defuse::flat_odf(bytes) {
        return flat.into();
    }
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .filter(|e| mime::OFFICE_EXTENSIONS.contains(&e.as_str()))
        .unwrap_or_else(|| "bin".into())
}

/// Whether a PDF has an encryption dictionary (Ghostscript opens those with an empty user
/// password itself; one that fails to open was protected by a real password).
fn is_encrypted_pdf(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// Checks the facts a fax line relies on (TIFF-F, RFC 2306): every page 1728 wide, CCITT-coded,
/// with a fax resolution, WhiteIsZero, MSB-first fill order, one strip, and PageNumber n of
/// total. Returns the page count.
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
        if page.photometric != Some(0) {
            return Err(bad(format!(
                "photometric {:?} is not WhiteIsZero",
                page.photometric
            )));
        }
        if !matches!(page.fill_order, None | Some(1)) {
            return Err(bad(format!(
                "fill order {:?} is not MSB first",
                page.fill_order
            )));
        }
        if page.strips != 1 {
            return Err(bad(format!("{} strips instead of one", page.strips)));
        }
        let want = (i as u32, pages.len() as u32);
        if page.page_number != Some(want) {
            return Err(bad(format!(
                "PageNumber {:?} instead of {want:?}",
                page.page_number
            )));
        }
    }
    Ok(pages.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::office_extension;

    #[test]
    fn libreoffice_is_never_told_an_office_file_is_html() {
        let ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1<html><img src=file:///etc/x>";
        for (name, bytes, want) in [
            ("report.html", &ole[..], "bin"),
            ("report.HTM", &ole[..], "bin"),
            ("drawing.svg", &ole[..], "bin"),
            ("report.doc", &ole[..], "doc"),
            ("Report.DOCX", b"PK\x03\x04", "docx"),
            ("letter.html", b"{\\rtf1 x}", "rtf"),
            ("no-extension", b"PK\x03\x04", "bin"),
        ] {
            assert_eq!(office_extension(name, bytes), want, "{name}");
        }
    }

    #[test]
    fn a_flat_opendocument_file_is_named_by_its_root_element_alone() {
        let flat = |root: &str, kind: &str| {
            format!(
                r#"<?xml version="1.0"?><{root} xmlns:o="urn:oasis:names:tc:opendocument:xmlns:office:1.0" o:mimetype="application/vnd.oasis.opendocument.{kind}"/>"#
            )
        };
        for (name, text, want) in [
            ("report.fodt", flat("o:document", "text"), "fodt"),
            ("sheet.xml", flat("o:document", "spreadsheet"), "fods"),
            ("slides.html", flat("o:document", "presentation"), "fodp"),
            // the namespace elsewhere than on the root, another root, no mimetype
            (
                "page.fodt",
                format!("<html>{}</html>", flat("o:document", "text")),
                "bin",
            ),
            ("page.fodt", flat("o:html", "text"), "bin"),
            ("page.fodt", flat("o:document", "html"), "bin"),
            ("page.fodt", "<!DOCTYPE html><html/>".to_string(), "bin"),
        ] {
            assert_eq!(office_extension(name, text.as_bytes()), want, "{text}");
        }
    }
}
