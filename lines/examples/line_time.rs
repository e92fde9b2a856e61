//! Line time per page (bench/lines): each TIFF-F given is faxed between two T.38 terminals on
//! a simulated clock at 14.4k, once with MMR and ECM, once with MH and no ECM; prints one JSON
//! line per file with the pages and the line seconds per page of each.
//!
//!     cargo run --release -p faxhub-lines --example line_time -- a.tif b.tif …

use faxhub_lines::sip::simulate::back_to_back;
use faxhub_lines::sip::spandsp::{Coding, T38Terminal, TerminalConfig};
use std::path::Path;

fn line_time(tiff: &Path, ecm: bool, coding: Coding) -> Option<(u32, f64)> {
    let received = tempfile::NamedTempFile::new().ok()?;
    let config = |calling| TerminalConfig {
        calling,
        ecm,
        coding,
        ..TerminalConfig::default()
    };
    let mut tx = T38Terminal::sender(&config(true), tiff).ok()?;
    let mut rx = T38Terminal::receiver(&config(false), received.path()).ok()?;
    let time = back_to_back(&mut tx, &mut rx, 0.0);
    let p = tx.progress();
    (p.completion.as_ref()?.0 == 0 && p.pages > 0)
        .then(|| (p.pages, time.as_secs_f64() / f64::from(p.pages)))
}

fn main() {
    for file in std::env::args().skip(1) {
        let path = Path::new(&file);
        let mmr = line_time(path, true, Coding::Mmr);
        let mh = line_time(path, false, Coding::Mh);
        match (mmr, mh) {
            (Some((pages, mmr)), Some((_, mh))) => println!(
                "{{\"file\": {file:?}, \"pages\": {pages}, \"mmr_ecm_s_per_page\": {mmr:.2}, \"mh_s_per_page\": {mh:.2}}}"
            ),
            _ => println!("{{\"file\": {file:?}, \"error\": \"the fax did not complete\"}}"),
        }
    }
}
