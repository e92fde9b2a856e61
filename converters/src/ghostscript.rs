//! Ghostscript: PDF and PostScript to TIFF-F (CCITT G4, 204 dpi across, one strip per page), always
//! with `-dSAFER`. The media size is fixed and every page is fitted to it, so widths never drift;
//! rendering stops one page past `max_pages`, so a page bomb costs no more than a long document.
//! Text and line art are drawn solid black unless `black_text = false` (photos stay dithered).

use crate::exec;
use crate::options::Options;
use crate::tiff_f::X_DPI;
use crate::{ConvertConfig, ConvertError};
use std::path::Path;

const GS: &str = "gs";

/// Renders `inputs` in order into one multi-page TIFF at `out`.
pub(crate) async fn render(
    sandbox: &crate::Sandbox,
    inputs: &[&Path],
    out: &Path,
    config: &ConvertConfig,
    options: &Options,
    workdir: &Path,
) -> Result<(), ConvertError> {
    let mut args: Vec<String> = [
        "-q",
        "-dSAFER",
        "-dBATCH",
        "-dNOPAUSE",
        "-dNOINTERPOLATE",
        "-sDEVICE=tiffg4",
        "-dFIXEDMEDIA",
        "-dPDFFitPage",
        "-dMaxStripSize=0",
        // a whole fax page fits in one band (a few MB even at superfine): no banding passes
        "-dMaxBitmap=50000000",
        "-dTIFFDateTime=false",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if config.black_text {
        // Text and vector art darker than L* 75 (dark blue, a #888 grey) drawn solid black,
        // lighter ones (a #ccc table header's background) white; images keep their halftone.
        args.extend(
            ["-dBlackText", "-dBlackVector", "-dBlackThresholdL=75"]
                .iter()
                .map(|s| s.to_string()),
        );
    }
    // Stop one page past the limit: a 100,000-page file costs no more than a too-long one.
    args.push(format!("-dLastPage={}", config.max_pages.saturating_add(1)));
    args.push(format!("-r{X_DPI}x{}", options.resolution.y_dpi()));
    args.push(format!("-sPAPERSIZE={}", options.paper.gs_name()));
    args.push(format!("-sOutputFile={}", out.display()));
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    let output = exec::run(sandbox, GS, &args, workdir, config.tool_timeout)
        .await
        .map_err(ConvertError::from)?;
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    // Ghostscript can exit 0 after printing an error for a broken PDF and rendering nothing, and
    // with other inputs it renders their pages and skips the broken one: either is a failure
    // (the caller finds the part to blame), never a fax with a document silently left out.
    let produced = tokio::fs::metadata(out)
        .await
        .map(|m| m.len() > 0)
        .unwrap_or(false);
    if !output.status.success() {
        return Err(ConvertError::exited(
            GS,
            output.status,
            first_error_line(&text),
        ));
    }
    if !produced
        || text.contains("Error:") && text.contains("Unrecoverable")
        || text.contains("No pages will be processed")
    {
        return Err(ConvertError::ToolFailed {
            tool: GS.into(),
            detail: first_error_line(&text),
        });
    }
    Ok(())
}

fn first_error_line(text: &str) -> String {
    if text.contains("No pages will be processed") {
        return "it has no pages".into();
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.contains("rror") || l.contains("assword"))
        .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("no output");
    line.chars().take(200).collect()
}
