//! The `file` line: each transmission becomes a TIFF-F file in `<data_dir>/outbox/`, named
//! `<job id>-<number digits>-<attempt>.tif`, written durably (temporary name, fsync, rename,
//! fsync of the directory). The page count reported is the one read back from the page set.

use crate::{LineOutcome, SendRequest};
use faxhub_queue::durable;
use faxhub_queue::retry::FailureClass;
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::tiff;
use std::fs;
use std::path::{Path, PathBuf};

pub struct FileLine {
    name: String,
    outbox: PathBuf,
}

impl FileLine {
    pub fn new(name: String, outbox: PathBuf) -> FileLine {
        FileLine { name, outbox }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Writes the first `pages` pages' worth (the whole set here) to the outbox.
    pub async fn send(&self, request: &SendRequest) -> LineOutcome {
        let outbox = self.outbox.clone();
        let request = request.clone();
        let result =
            tokio::task::spawn_blocking(move || write_transmission(&outbox, &request)).await;
        match result {
            Ok(Ok((path, pages))) => {
                LineOutcome::sent(pages, format!("written to {}", path.display()))
            }
            Ok(Err(why)) => LineOutcome {
                status: EnhancedStatus::SYSTEM_TRANSIENT,
                class: FailureClass::Try,
                reason: why,
                pages_sent: 0,
                trouble: None,
            },
            Err(join) => LineOutcome {
                status: EnhancedStatus::SYSTEM_TRANSIENT,
                class: FailureClass::Try,
                reason: format!("file line failed: {join}"),
                pages_sent: 0,
                trouble: None,
            },
        }
    }
}

fn write_transmission(outbox: &Path, request: &SendRequest) -> Result<(PathBuf, u32), String> {
    let bytes = fs::read(&request.tiff).map_err(|e| {
        format!(
            "could not read the page set {}: {e}",
            request.tiff.display()
        )
    })?;
    let pages = tiff::read_pages(&bytes)
        .map_err(|e| format!("the page set is not a valid TIFF: {e}"))?
        .len() as u32;
    fs::create_dir_all(outbox).map_err(|e| format!("could not create the outbox: {e}"))?;
    let name = format!(
        "{}-{}-{}.tif",
        request.job_id,
        request.number.digits(),
        request.attempt
    );
    let tmp = outbox.join(format!(".{name}.tmp"));
    let dest = outbox.join(&name);
    durable::write(&tmp, &dest, &[&bytes], durable::Dir::Sync)
        .map_err(|e| format!("could not write {}: {e}", dest.display()))?;
    Ok((dest, pages))
}
