//! What the converters' tests share: fax pages read back as a fax machine prints them, and
//! Tesseract reading them.

#![allow(dead_code)] // each test binary uses its own share of these

use std::path::{Path, PathBuf};
use std::process::Command;

/// Each page of a bilevel TIFF as an 8-bit PGM with square pixels (rows repeated).
pub fn pages_as_pgm(tiff_path: &Path, out: &Path) -> Vec<PathBuf> {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::tags::Tag;
    let file = std::io::BufReader::new(std::fs::File::open(tiff_path).unwrap());
    let mut decoder = Decoder::new(file).unwrap();
    let mut files = Vec::new();
    loop {
        let (width, length) = decoder.dimensions().unwrap();
        let x_dpi = decoder.get_tag_f64(Tag::XResolution).unwrap_or(204.0);
        let y_dpi = decoder.get_tag_f64(Tag::YResolution).unwrap_or(196.0);
        let repeat = (x_dpi / y_dpi).round().max(1.0) as usize;
        let white_is_zero = decoder
            .get_tag_u32(Tag::PhotometricInterpretation)
            .unwrap_or(0)
            == 0;
        let DecodingResult::U8(bits) = decoder.read_image().unwrap() else {
            panic!("{}: not a bilevel image", tiff_path.display());
        };
        let row_bytes = (width as usize).div_ceil(8);
        let mut pgm = format!("P5\n{width} {}\n255\n", length as usize * repeat).into_bytes();
        for y in 0..length as usize {
            let row: Vec<u8> = (0..width as usize)
                .map(|x| {
                    let bit = bits[y * row_bytes + x / 8] >> (7 - x % 8) & 1;
                    if (bit == 1) == white_is_zero { 0 } else { 255 }
                })
                .collect();
            for _ in 0..repeat {
                pgm.extend_from_slice(&row);
            }
        }
        let path = out.join(format!(
            "{}-{}.pgm",
            tiff_path.file_stem().unwrap().to_string_lossy(),
            files.len()
        ));
        std::fs::write(&path, pgm).unwrap();
        files.push(path);
        if !decoder.more_images() {
            return files;
        }
        decoder.next_image().unwrap();
    }
}

pub fn ocr(pages: &[PathBuf]) -> String {
    let mut text = String::new();
    for page in pages {
        let out = Command::new("tesseract")
            .arg(page)
            .arg("stdout")
            .args(["-l", "fra+eng", "--dpi", "204"])
            .output()
            .expect("tesseract (tesseract-ocr) must be installed: run `make test`");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.push_str(&String::from_utf8_lossy(&out.stdout));
        text.push(' ');
    }
    text
}

/// Runs `program args…` in `dir`; it must succeed.
pub fn run(program: &str, args: &[&str], dir: &Path) {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (run `make test`): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
