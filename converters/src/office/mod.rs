//! The LibreOffice farm: warm headless instances that turn Office documents into PDF.
//!
//! Each instance is `worker.py` (Debian's python3-uno) driving one `soffice` with a private
//! profile, both in their own process group, inside the converters' sandbox (`sandbox`): the
//! instance sees the system's files, `worker.py` and its own directory (`i<n>/`: its profile and
//! `io/`), nothing else. A document's directory (the document and the files it refers to) is
//! copied into `io/doc/`, the PDF comes back as `io/out.pdf`, and `io/` is emptied before the
//! next document, so an instance never sees another job's files. A document goes to an idle instance (or a new one,
//! up to `size`); the reply must come within `timeout`, or the whole group is killed and the
//! document fails with a timeout. An instance that dies (or fails to write the PDF) is replaced
//! and the document tried once more on a fresh one; a document that kills two instances gets one
//! cold `soffice --convert-to` (some documents crash only a warm instance) and otherwise fails
//! with that reason, so that no document stalls the farm. Instances are started lazily and kept warm; `warm_up` starts them
//! ahead of the first document.

pub mod defuse;

use crate::ConvertError;
use crate::sandbox::Sandbox;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{Mutex, Semaphore};

const WORKER: &str = include_str!("worker.py");
/// The profile settings every instance starts with (macros, links, linked graphics, recalc).
const HARDENING: &str = include_str!("hardening.xcu");
/// Debian's Python, which has the uno module (not whatever python3 comes first on PATH).
const PYTHON: &str = "/usr/bin/python3";
const SOFFICE: &str = "soffice";
/// How long a new instance may take to answer (a first start creates its profile).
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// A document is tried on this many instances before it is blamed for the crashes.
const ATTEMPTS: usize = 2;

/// Tiny documents of each kind LibreOffice lays out (flat OpenDocument XML, and HTML).
const PRIMERS: [(&str, &str); 4] = [
    (
        "primer-text.fodt",
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document "#,
            r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
            r#"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2" "#,
            r#"office:mimetype="application/vnd.oasis.opendocument.text"><office:body><office:text>"#,
            r#"<text:p>faxhub</text:p></office:text></office:body></office:document>"#
        ),
    ),
    (
        "primer-sheet.fods",
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document "#,
            r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
            r#"xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" "#,
            r#"xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2" "#,
            r#"office:mimetype="application/vnd.oasis.opendocument.spreadsheet"><office:body>"#,
            r#"<office:spreadsheet><table:table table:name="faxhub"><table:table-row>"#,
            r#"<table:table-cell><text:p>1</text:p></table:table-cell></table:table-row>"#,
            r#"</table:table></office:spreadsheet></office:body></office:document>"#
        ),
    ),
    (
        "primer-slides.fodp",
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><office:document "#,
            r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" "#,
            r#"xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" office:version="1.2" "#,
            r#"office:mimetype="application/vnd.oasis.opendocument.presentation"><office:body>"#,
            r#"<office:presentation><draw:page draw:name="faxhub"/></office:presentation>"#,
            r#"</office:body></office:document>"#
        ),
    ),
    (
        "primer-page.html",
        "<!DOCTYPE html><html><body><p>faxhub</p><table><tr><td>1</td></tr></table></body></html>",
    ),
];

pub struct Farm {
    size: usize,
    timeout: Duration,
    dir: tempfile::TempDir,
    sandbox: Arc<Sandbox>,
    idle: Mutex<Vec<Instance>>,
    slots: Arc<Semaphore>,
    started: AtomicUsize,
    /// Homes (`i<k>/`) no live instance uses: a replaced instance takes over a free one's
    /// profile (made once: the slow part of a start), never a live instance's.
    free_homes: Arc<std::sync::Mutex<Vec<usize>>>,
}

struct Instance {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Its home's number, given back to `free_homes` when it is dropped.
    home_number: usize,
    free_homes: Arc<std::sync::Mutex<Vec<usize>>>,
    /// Its directory: `profile/` and `io/`.
    home: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            crate::exec::kill_group(pid);
        }
        if let Ok(mut free) = self.free_homes.lock() {
            free.push(self.home_number);
        }
    }
}

enum Outcome {
    Converted,
    Refused(String),
    Crashed,
    TimedOut,
}

impl Farm {
    /// A farm of `size` instances whose profiles live in a new directory under `scratch`.
    pub fn new(
        size: usize,
        timeout: Duration,
        scratch: &Path,
        sandbox: Arc<Sandbox>,
    ) -> Result<Farm, ConvertError> {
        use std::os::unix::fs::PermissionsExt;
        let io = |e: std::io::Error| ConvertError::from(e);
        let dir = tempfile::Builder::new()
            .prefix("office-")
            .tempdir_in(scratch)
            .map_err(io)?;
        // the sandbox user reads worker.py and the primers, and writes only its own i<n>/
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).map_err(io)?;
        let worker = dir.path().join("worker.py");
        std::fs::write(&worker, WORKER).map_err(io)?;
        std::fs::set_permissions(&worker, std::fs::Permissions::from_mode(0o644)).map_err(io)?;
        Ok(Farm {
            size: size.max(1),
            timeout,
            dir,
            sandbox,
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(size.max(1))),
            started: AtomicUsize::new(0),
            free_homes: Arc::new(std::sync::Mutex::new(Vec::new())),
        })
    }

    /// Starts every instance now, side by side, and has each lay out a small text, spreadsheet,
    /// presentation and HTML document, so that the first documents wait neither for LibreOffice
    /// nor for the modules it loads on first use.
    pub async fn warm_up(&self) -> Result<(), ConvertError> {
        let missing = self.size.saturating_sub(self.idle.lock().await.len());
        let primers = self.write_primers().await?;
        let started = futures_util::future::join_all((0..missing).map(|_| async {
            let mut instance = self.start().await?;
            for (input, output) in &primers {
                match self.run(&mut instance, input, output).await {
                    Outcome::Converted => {}
                    Outcome::Refused(why) => {
                        tracing::debug!(primer = %input.display(), why, "a LibreOffice primer did not convert");
                    }
                    // never keep an instance a primer broke: a fresh one, unprimed
                    Outcome::Crashed | Outcome::TimedOut => {
                        tracing::warn!(primer = %input.display(), "a LibreOffice primer broke its instance; replaced");
                        drop(instance);
                        return self.start().await;
                    }
                }
            }
            Ok::<Instance, ConvertError>(instance)
        }))
        .await;
        let mut idle = self.idle.lock().await;
        for instance in started {
            idle.push(instance?);
        }
        Ok(())
    }

    /// The primer documents, each in a directory of its own under the farm's: (input, output)
    /// pairs.
    async fn write_primers(&self) -> Result<Vec<(PathBuf, PathBuf)>, ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let mut out = Vec::new();
        for (k, (name, body)) in PRIMERS.iter().enumerate() {
            let dir = self.dir.path().join(format!("primer{k}"));
            tokio::fs::create_dir_all(&dir).await.map_err(io)?;
            let input = dir.join(name);
            tokio::fs::write(&input, body).await.map_err(io)?;
            out.push((input.clone(), input.with_extension("pdf")));
        }
        Ok(out)
    }

    /// Converts `input` (a Word, Excel, PowerPoint, OpenDocument, RTF or `.html` file, alone in
    /// its directory but for the files it refers to) to the PDF `output`.
    pub async fn to_pdf(
        &self,
        name: &str,
        input: &Path,
        output: &Path,
    ) -> Result<(), ConvertError> {
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|_| ConvertError::Io("the office farm is closed".into()))?;
        for _ in 0..ATTEMPTS {
            let idle = self.idle.lock().await.pop();
            let mut instance = match idle {
                Some(i) => i,
                None => self.start().await?,
            };
            match self.run(&mut instance, input, output).await {
                Outcome::Converted => {
                    self.idle.lock().await.push(instance);
                    return Ok(());
                }
                // writing the PDF failed, or an internal UNO error naming LibreOffice's own
                // source ("illegal object given! at …/crefl.cxx:363"): a fault of the instance
                // more than of the document (seen under load, rarely); a fresh one tries again,
                // then the cold process
                Outcome::Refused(why) if instance_fault(&why) => {
                    drop(instance);
                    tracing::warn!(part = %name, why, "LibreOffice could not write the PDF; instance replaced");
                }
                Outcome::Refused(why) => {
                    self.idle.lock().await.push(instance);
                    let detail = if why.contains("could not be opened")
                        || why.contains("loadComponentFromURL")
                    {
                        "LibreOffice could not open it".to_string()
                    } else {
                        why
                    };
                    return Err(ConvertError::Damaged {
                        part: name.to_string(),
                        detail,
                    });
                }
                Outcome::TimedOut => {
                    drop(instance); // kills the group
                    tracing::warn!(part = %name, after = ?self.timeout, "LibreOffice timed out; instance replaced");
                    return Err(ConvertError::Timeout {
                        part: name.to_string(),
                        tool: "LibreOffice".into(),
                        after: self.timeout,
                    });
                }
                Outcome::Crashed => {
                    drop(instance);
                    tracing::warn!(part = %name, "LibreOffice crashed; instance replaced");
                }
            }
        }
        // Some documents crash a warm instance but not a fresh process: try one, last. If that
        // one is killed by a signal too (the OOM killer, an operator, a crash), the trouble is
        // taken for the server's and the document tried again later (`ConvertError::exited`);
        // if it refuses the document, the document's.
        match self.cold(input, output).await {
            Ok(()) => {
                tracing::info!(part = %name, "converted by a cold LibreOffice after warm instances crashed");
                Ok(())
            }
            Err(e) if e.is_temporary() => Err(e),
            Err(_) => Err(ConvertError::Damaged {
                part: name.to_string(),
                detail: format!("it made LibreOffice crash {ATTEMPTS} times"),
            }),
        }
    }

    /// One-shot `soffice --convert-to pdf` with a fresh profile, in the sandbox like the rest.
    async fn cold(&self, input: &Path, output: &Path) -> Result<(), ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let home = self.dir.path().join(format!("cold{n}"));
        let doc = stage(input, &home).await?;
        harden(&home.join("profile"))
            .await
            .map_err(ConvertError::from)?;
        let outdir = home.join("io");
        let mut args: Vec<std::ffi::OsString> = vec![
            "--headless".into(),
            "--norestore".into(),
            format!(
                "-env:UserInstallation=file://{}",
                home.join("profile").display()
            )
            .into(),
        ];
        if input.extension().is_some_and(|e| e == "html") {
            args.push("--infilter=HTML (StarWriter)".into());
        }
        args.extend::<[std::ffi::OsString; 5]>([
            "--convert-to".into(),
            "pdf".into(),
            "--outdir".into(),
            outdir.as_os_str().into(),
            doc.as_os_str().into(),
        ]);
        let result = crate::exec::run(&self.sandbox, SOFFICE, args, &home, self.timeout).await;
        let produced = outdir.join(doc.with_extension("pdf").file_name().unwrap_or_default());
        let moved = match result {
            Ok(out) if out.status.success() && produced.exists() => {
                move_file(&produced, output).await.map_err(io)
            }
            Ok(out) => Err(ConvertError::exited(
                SOFFICE,
                out.status,
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )),
            Err(e) => Err(e.into()),
        };
        let _ = tokio::fs::remove_dir_all(&home).await;
        moved
    }

    /// Has `instance` convert `input` (copied into its `io/doc/`) into `output`.
    async fn run(&self, instance: &mut Instance, input: &Path, output: &Path) -> Outcome {
        let doc = match stage(input, &instance.home).await {
            Ok(doc) => doc,
            Err(e) => return Outcome::Refused(e.to_string()),
        };
        if let Err(e) = self.sandbox.hand_over(&instance.home.join("io")) {
            return Outcome::Refused(format!("impl_store: {e}"));
        }
        let pdf = instance.home.join("io").join("out.pdf");
        let outcome = self.ask(instance, &doc, &pdf).await;
        let outcome = match outcome {
            Outcome::Converted => match move_file(&pdf, output).await {
                Ok(()) => Outcome::Converted,
                Err(e) => Outcome::Refused(format!("impl_store: {e}")),
            },
            other => other,
        };
        let _ = tokio::fs::remove_dir_all(instance.home.join("io")).await;
        outcome
    }

    async fn ask(&self, instance: &mut Instance, input: &Path, output: &Path) -> Outcome {
        let request = serde_json_line(input, output);
        if instance.stdin.write_all(request.as_bytes()).await.is_err()
            || instance.stdin.flush().await.is_err()
        {
            return Outcome::Crashed;
        }
        match tokio::time::timeout(self.timeout, instance.stdout.next_line()).await {
            Err(_) => Outcome::TimedOut,
            Ok(Ok(Some(line))) if line.contains("\"ok\": true") => Outcome::Converted,
            Ok(Ok(Some(line))) => Outcome::Refused(error_text(&line)),
            Ok(_) => Outcome::Crashed,
        }
    }

    async fn start(&self) -> Result<Instance, ConvertError> {
        let io = |e: std::io::Error| ConvertError::from(e);
        let n = self.started.fetch_add(1, Ordering::Relaxed);
        let free = self.free_homes.lock().ok().and_then(|mut f| f.pop());
        let home_number = free.unwrap_or(n);
        let home = self.dir.path().join(format!("i{home_number}"));
        let _ = tokio::fs::remove_dir_all(home.join("io")).await;
        harden(&home.join("profile")).await.map_err(io)?;
        self.sandbox.hand_over(&home).map_err(io)?;
        let pipe = format!("faxhub-{}-{n}", std::process::id());
        let worker = self.dir.path().join("worker.py");
        let mut command = self.sandbox.command(
            PYTHON,
            [
                worker.as_os_str(),
                home.join("profile").as_os_str(),
                pipe.as_ref(),
            ],
            &home,
            &[&worker],
        );
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ConvertError::ToolMissing {
                tool: "python3 (for LibreOffice)".into(),
            },
            _ => ConvertError::from(e),
        })?;
        let stdin = child.stdin.take().expect("invariant: stdin is piped");
        let stdout =
            BufReader::new(child.stdout.take().expect("invariant: stdout is piped")).lines();
        let mut instance = Instance {
            child,
            stdin,
            stdout,
            home,
            home_number,
            free_homes: self.free_homes.clone(),
        };
        match tokio::time::timeout(START_TIMEOUT, instance.stdout.next_line()).await {
            Ok(Ok(Some(line))) if line.contains("\"ready\": true") => Ok(instance),
            _ => Err(ConvertError::ToolMissing {
                tool: "LibreOffice (soffice with python3-uno)".into(),
            }),
        }
    }
}

/// Copies the regular files of `input`'s directory (the document and what it refers to; links
/// and subdirectories left out) into `home/io/doc/`, a fresh directory. Returns the document's
/// path there.
async fn stage(input: &Path, home: &Path) -> Result<PathBuf, ConvertError> {
    let io = |e: std::io::Error| ConvertError::from(e);
    let from = input.parent().unwrap_or(Path::new("."));
    let to = home.join("io").join("doc");
    let _ = tokio::fs::remove_dir_all(home.join("io")).await;
    tokio::fs::create_dir_all(&to).await.map_err(io)?;
    let mut entries = tokio::fs::read_dir(from).await.map_err(io)?;
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        if entry.file_type().await.map_err(io)?.is_file() {
            tokio::fs::copy(entry.path(), to.join(entry.file_name()))
                .await
                .map_err(io)?;
        }
    }
    Ok(to.join(input.file_name().unwrap_or_default()))
}

/// Makes `profile` with the hardened settings, unless LibreOffice already made it.
async fn harden(profile: &Path) -> std::io::Result<()> {
    let user = profile.join("user");
    let settings = user.join("registrymodifications.xcu");
    if tokio::fs::try_exists(&settings).await? {
        return Ok(());
    }
    tokio::fs::create_dir_all(&user).await?;
    tokio::fs::write(&settings, HARDENING).await
}

/// Moves a file, across file systems too.
async fn move_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if tokio::fs::rename(from, to).await.is_err() {
        tokio::fs::copy(from, to).await?;
        tokio::fs::remove_file(from).await?;
    }
    Ok(())
}

/// The request line, with the paths JSON-escaped.
fn serde_json_line(input: &Path, output: &Path) -> String {
    let esc = |p: &Path| {
        p.display()
            .to_string()
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
    };
    format!(
        "{{\"in\": \"{}\", \"out\": \"{}\"}}\n",
        esc(input),
        esc(output)
    )
}

fn error_text(line: &str) -> String {
    line.split("\"error\": \"")
        .nth(1)
        .and_then(|rest| rest.rsplit_once('"'))
        .map(|(t, _)| t.to_string())
        .unwrap_or_else(|| line.to_string())
}

/// Whether a refusal is the instance's fault rather than the document's: the PDF could not be
/// written, or an internal error names a LibreOffice source file (`… at ./stoc/…/crefl.cxx:363`).
fn instance_fault(why: &str) -> bool {
    why.contains("impl_store") || why.contains(".cxx:")
}

#[cfg(test)]
mod tests {
    use super::instance_fault;

    #[test]
    fn internal_uno_errors_blame_the_instance_and_format_errors_the_document() {
        assert!(instance_fault(
            "illegal object given! at ./stoc/source/corereflection/crefl.cxx:363"
        ));
        assert!(instance_fault(
            "SfxBaseModel::impl_store <file:///x.pdf> failed: 0xc10"
        ));
        assert!(!instance_fault("the file could not be opened"));
        assert!(!instance_fault("loadComponentFromURL returned no document"));
    }
}
