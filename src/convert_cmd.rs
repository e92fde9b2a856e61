//! `faxhub convert [--out DIR] FILE…`: converts files exactly as a job's attachments would be
//! (same converters, same configuration, same LibreOffice farm), writing `<name>.tif` (TIFF-F)
//! and `<name>.pdf` into DIR and a line per file: its page count, or the reason it failed.
//! Files are converted concurrently, up to `convert.workers`. Exit 1 if any file failed.

use crate::Failure;
use crate::config::Config;
use faxhub_converters::Converter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Semaphore;

pub async fn run(config: &Config, out: &Path, files: &[PathBuf]) -> Result<(), Failure> {
    std::fs::create_dir_all(out).map_err(|e| Failure::Usage(format!("{}: {e}", out.display())))?;
    let scratch = tempfile::Builder::new()
        .prefix("faxhub-convert-")
        .tempdir()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let converter =
        Arc::new(Converter::new(config.convert.clone()).with_scratch(scratch.path().to_path_buf()));
    let workers = config.convert.worker_count();
    let slots = Arc::new(Semaphore::new(workers));
    let mut tasks = Vec::new();
    for file in files {
        let bytes = crate::read_input(file, config.smtp.max_message_size)?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "document".into());
        let (converter, slots, out, scratch) = (
            converter.clone(),
            slots.clone(),
            out.to_path_buf(),
            scratch.path().to_path_buf(),
        );
        tasks.push(tokio::spawn(async move {
            let _slot = slots
                .acquire_owned()
                .await
                .expect("invariant: the semaphore is never closed");
            let work = tempfile::tempdir_in(&scratch).map_err(|e| e.to_string())?;
            let set = converter
                .convert_file(&name, &bytes, work.path())
                .await
                .map_err(|e| e.to_string())?;
            std::fs::copy(&set.tiff, out.join(format!("{name}.tif"))).map_err(|e| e.to_string())?;
            std::fs::copy(&set.pdf, out.join(format!("{name}.pdf"))).map_err(|e| e.to_string())?;
            Ok::<(String, u32), String>((name, set.pages))
        }));
    }
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok((name, pages))) => println!("{name}: {pages} page(s)"),
            Ok(Err(reason)) => {
                failed += 1;
                println!("{reason}");
            }
            Err(e) => {
                failed += 1;
                println!("conversion task failed: {e}");
            }
        }
    }
    if failed > 0 {
        return Err(Failure::Runtime(format!(
            "{failed} of {} file(s) could not be converted",
            files.len()
        )));
    }
    Ok(())
}

/// `check-config`'s word on the converters' sandbox: how it runs them, or why it can't (exit 1).
pub async fn check_sandbox(config: &Config, file: Option<&Path>) -> Result<(), Failure> {
    let scratch = tempfile::Builder::new()
        .prefix("faxhub-check-")
        .tempdir()
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let converter =
        Converter::new(config.convert.clone()).with_scratch(scratch.path().to_path_buf());
    let db = config.db_path();
    let mut outside = vec![db.as_path()];
    outside.extend(file);
    match converter.check_sandbox(&outside).await {
        Ok(how) => {
            println!("converters' sandbox: {how}: works");
            Ok(())
        }
        Err(e) => Err(Failure::Runtime(format!(
            "converters' sandbox: {e} (install bubblewrap, or write [convert.sandbox] mode = \"off\")"
        ))),
    }
}
