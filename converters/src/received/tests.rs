//! Received faxes as PDF: Ghostscript renders the PDF at the file's own resolution, libtiff
//! (`tiffcp -c none`) decodes the TIFF, and both must show the same black pixels.

use super::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn corpus(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/corpus/tiff")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Black pixels per page as libtiff decodes the file (uncompressed by tiffcp, then read).
fn libtiff_blacks(bytes: &[u8], dir: &Path) -> Vec<usize> {
    let input = dir.join("in.tif");
    let output = dir.join("plain.tif");
    std::fs::write(&input, bytes).unwrap();
    let status = Command::new("tiffcp")
        .args(["-c", "none"])
        .arg(&input)
        .arg(&output)
        .status()
        .unwrap();
    assert!(status.success());
    let plain = std::fs::read(&output).unwrap();
    recode(&plain).unwrap().iter().map(blacks_of_g4).collect()
}

fn blacks_of_g4(page: &FaxPage) -> usize {
    let mut n = 0usize;
    fax::decoder::decode_g4(
        page.g4.iter().copied(),
        page.width as u16,
        Some(page.length as u16),
        |row| {
            // transitions alternate white→black, black→white
            for pair in row.chunks(2) {
                let end = pair.get(1).copied().unwrap_or(page.width as u16);
                n += usize::from(end - pair[0]);
            }
        },
    );
    n
}

/// Black pixels per page of the PDF as Ghostscript renders it at `dpi`.
fn ghostscript_blacks(pdf: &[u8], (x, y): (u32, u32), dir: &Path) -> Vec<usize> {
    let input = dir.join("fax.pdf");
    std::fs::write(&input, pdf).unwrap();
    let pattern = dir.join("page-%03d.pbm");
    let status = Command::new("gs")
        .args(["-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pbmraw"])
        .arg(format!("-r{x}x{y}"))
        .arg(format!("-sOutputFile={}", pattern.display()))
        .arg(&input)
        .status()
        .unwrap();
    assert!(status.success());
    let mut counts = Vec::new();
    for i in 1.. {
        let Ok(pbm) = std::fs::read(dir.join(format!("page-{i:03}.pbm"))) else {
            break;
        };
        // "P4", comments, width, height, one whitespace, then packed rows
        let mut tokens = Vec::new();
        let mut at = 0;
        while tokens.len() < 3 {
            match pbm[at] {
                b'#' => {
                    while pbm[at] != b'\n' {
                        at += 1;
                    }
                }
                c if c.is_ascii_whitespace() => at += 1,
                _ => {
                    let start = at;
                    while !pbm[at].is_ascii_whitespace() {
                        at += 1;
                    }
                    tokens.push(String::from_utf8_lossy(&pbm[start..at]).to_string());
                }
            }
        }
        let w: usize = tokens[1].parse().unwrap();
        let stride = w.div_ceil(8);
        let rows = &pbm[at + 1..];
        let n: usize = rows
            .chunks(stride)
            .map(|r| {
                let full: u32 = r[..w / 8].iter().map(|b| b.count_ones()).sum();
                let tail = if w.is_multiple_of(8) {
                    0
                } else {
                    (r[w / 8] >> (8 - w % 8)).count_ones()
                };
                (full + tail) as usize
            })
            .sum();
        counts.push(n);
    }
    counts
}

#[test]
fn g3_and_g4_faxes_are_embedded_as_they_are_and_render_like_libtiff_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, k) in [
        // G3 1-D with EOL padding, at 96 dpi
        ("twelvemonkeys/17-tiff-binary-ccitt-group3.tif", 0),
        // what spandsp wrote for a fax received over T.38 (G3 2-D, EOL fill, reversed bit order)
        ("spandsp/received-t38-mr.tif", 1),
        // libtiff's sample (1-D despite its name), in reversed bit order
        ("image-tiff/fax2d.tif", 0),
        // G4, and G4 in reversed bit order
        ("twelvemonkeys/58-plexustiff-binary-ccitt-group4.tif", -1),
        ("pdf-rs-fax/105.tif", -1),
        ("pdf-rs-fax/1001.tif", -1),
    ] {
        let bytes = corpus(name);
        let images = images(&bytes).unwrap();
        let facts = tiff::read_pages(&bytes).unwrap();
        let strips = tiff::first_strips(&bytes, &facts).unwrap();
        assert_eq!(images[0].k, k, "{name}");
        // the data is the file's, byte for byte (bit order turned round if need be)
        let want: Vec<u8> = if facts[0].fill_order == Some(2) {
            strips[0].iter().map(|b| b.reverse_bits()).collect()
        } else {
            strips[0].to_vec()
        };
        assert_eq!(images[0].data, want, "{name}");
        let expected = libtiff_blacks(&bytes, dir.path());
        assert!(expected[0] > 1000, "{name}: {expected:?}");
        let rendered = ghostscript_blacks(
            &pdf(&bytes).unwrap(),
            (images[0].x_dpi, images[0].y_dpi),
            dir.path(),
        );
        assert_eq!(rendered, expected, "{name}");
    }
}

#[test]
fn a_fax_in_several_strips_is_recoded_the_same() {
    let dir = tempfile::tempdir().unwrap();
    // G4 in many strips, made by libtiff from a single-strip page
    let single = dir.path().join("single.tif");
    let multi = dir.path().join("multi.tif");
    std::fs::write(
        &single,
        corpus("twelvemonkeys/58-plexustiff-binary-ccitt-group4.tif"),
    )
    .unwrap();
    let status = Command::new("tiffcp")
        .args(["-c", "g4", "-r", "64"])
        .arg(&single)
        .arg(&multi)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&multi).unwrap();
    assert!(tiff::read_pages(&bytes).unwrap()[0].strips > 1);
    let images = images(&bytes).unwrap();
    assert_eq!(images[0].k, -1);
    let expected = libtiff_blacks(&bytes, dir.path());
    let rendered = ghostscript_blacks(&pdf(&bytes).unwrap(), (96, 96), dir.path());
    assert_eq!(rendered, expected);
}

#[test]
fn what_is_not_a_fax_is_refused_with_a_reason() {
    // G3 whose lines end with EOL instead of opening with one: not embedded (PDF readers
    // would misread it), and not decodable here: refused, so the caller sends the TIFF
    let err = pdf(&corpus("twelvemonkeys/g3aoe.tif")).unwrap_err();
    assert!(err.to_string().contains("Fax3"), "{err}");
    let err = pdf(&corpus("image-tiff/cmyk-4c-8b.tiff")).unwrap_err();
    assert!(err.to_string().contains("black-and-white"), "{err}");
    assert!(pdf(b"not a tiff").is_err());
}
