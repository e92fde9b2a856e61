//! Helpers the line tests share: a one-page TIFF-F made by faxhub's writer, and the pixels of a
//! TIFF as libtiff (not faxhub) decodes them, to compare what was sent with what arrived.
#![allow(dead_code)]

use faxhub_converters::tiff_f::{self, Bitmap, FaxPage};
use std::path::Path;

/// A one-page TIFF-F of `rows` rows of bars, at fine resolution.
pub fn one_page(path: &Path, rows: u32) {
    let width = 1728u32;
    let pixels = (0..width * rows)
        .map(|i| (i / width / 30).is_multiple_of(2) && (i % width) > 200 && (i % width) < 1500)
        .collect();
    let page = FaxPage::from_bitmap(
        &Bitmap {
            width,
            length: rows,
            pixels,
        },
        196,
    )
    .unwrap();
    std::fs::write(path, tiff_f::write(&[page])).unwrap();
}

/// The page data of a TIFF as libtiff decodes it (uncompressed, MSB first, one strip a page).
pub fn pixels(tiff: &Path) -> Vec<u8> {
    let raw = tiff.with_extension("raw.tif");
    let ok = std::process::Command::new("tiffcp")
        .args(["-c", "none", "-f", "msb2lsb", "-r", "100000"])
        .arg(tiff)
        .arg(&raw)
        .status()
        .expect("tiffcp (libtiff-tools) must be installed")
        .success();
    assert!(ok);
    let bytes = std::fs::read(&raw).unwrap();
    let pages = faxhub_queue::tiff::read_pages(&bytes).unwrap();
    faxhub_queue::tiff::first_strips(&bytes, &pages)
        .unwrap()
        .concat()
}

/// The far end of a call (`faxhub_lines::sip::far`).
#[allow(unused_imports)]
pub use faxhub_lines::sip::far;
