//! Images (PNG, JPEG, GIF, BMP, TIFF including multi-page and existing fax TIFFs) to fax pages.
//!
//! Each image page is turned to grey, rotated when it is landscape, scaled to the fax page
//! (never wider than 1728 pixels at 204 dpi, never longer than the paper; images that carry a
//! resolution keep their physical size when it fits, so a 200 dpi A4 scan lands 1:1), then made
//! black and white: line art (almost only black and white already) by a threshold, photos by
//! Floyd–Steinberg error diffusion, which keeps grey levels legible on a fax. Pure CPU work; the
//! decoders are bounded by `MAX_PIXELS` against decompression bombs.

use crate::tiff_f::{Bitmap, WIDTH, X_DPI};
use crate::{ConvertError, Paper};
use image::{DynamicImage, GrayImage, ImageDecoder, ImageReader, imageops};
use std::io::Cursor;

/// Largest image accepted, in pixels (a 600 dpi A3 scan is about 70 million).
pub(crate) const MAX_PIXELS: u64 = 100_000_000;
/// Top and side margin on an image page, in fax pixels.
const MARGIN: u32 = 24;
/// Share of pixels already near black or white above which an image is line art.
const LINE_ART_SHARE: f64 = 0.9;
/// Resolution assumed for images that carry none (a typical scan).
const DEFAULT_DPI: f64 = 200.0;

/// Decodes every page of an image file into fax bitmaps for `paper` at `y_dpi`.
pub fn pages(
    name: &str,
    bytes: &[u8],
    paper: Paper,
    y_dpi: u32,
    max_pages: u32,
) -> Result<Vec<Bitmap>, ConvertError> {
    if is_tiff(bytes) {
        // a multi-page TIFF is refused by its page count before any page is decoded
        let count = faxhub_queue::tiff::read_pages(bytes).map_or(0, |p| p.len()) as u32;
        if count > max_pages {
            return Err(ConvertError::TooManyPages {
                part: name.to_string(),
                pages: count,
                max: max_pages,
            });
        }
    }
    let frames = decode(name, bytes)?;
    Ok(frames
        .into_iter()
        .map(|(img, dpi)| to_fax(img, dpi, paper, y_dpi))
        .collect())
}

/// One decoded page, in grey, with its resolution (dots per inch) when the file gives one.
type Frame = (GrayImage, Option<(f64, f64)>);

/// Whether the bytes are a TIFF file.
pub fn is_tiff(bytes: &[u8]) -> bool {
    bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*")
}

fn damaged(name: &str, detail: impl ToString) -> ConvertError {
    ConvertError::Damaged {
        part: name.to_string(),
        detail: detail.to_string(),
    }
}

/// Whether `bytes` open like a picture the decoders read (PNG, JPEG, GIF, BMP, TIFF).
pub fn is_picture(bytes: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"\x89PNG\r\n\x1a\n",
        b"\xff\xd8\xff",
        b"GIF87a",
        b"GIF89a",
        b"BM",
        b"II*\0",
        b"MM\0*",
    ];
    MAGIC.iter().any(|m| bytes.starts_with(m))
}

/// Bytes of junk a JPEG may have before its header (a mailer's or a scanner's leftovers).
const MAX_JUNK: usize = 64 * 1024;

/// Where the JPEG in `bytes` starts: 0 for a JPEG file, the offset of its header when junk
/// comes first (at most `MAX_JUNK` bytes of it), else `None`.
pub fn jpeg_start(bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(MAX_JUNK + 4)];
    head.windows(4).position(|w| {
        // SOI, then the marker a JPEG opens with: APPn, DQT, SOFn, DHT or a comment
        w[..3] == [0xff, 0xd8, 0xff] && matches!(w[3], 0xe0..=0xef | 0xdb | 0xc0..=0xcf | 0xfe)
    })
}

/// The size (width, height) a JPEG's header gives in its frame header (SOFn), found by walking
/// the marker segments from its start; `None` if there is none before the scan.
pub fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let byte = |at: usize| bytes.get(at).copied();
    let word = |at: usize| Some(u32::from(byte(at)?) << 8 | u32::from(byte(at + 1)?));
    let mut at = 2;
    loop {
        while byte(at)? == 0xff && byte(at + 1)? == 0xff {
            at += 1; // fill bytes
        }
        if byte(at)? != 0xff {
            return None;
        }
        let marker = byte(at + 1)?;
        // SOF0..SOF15, but DHT, JPG and DAC share the range
        if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            return Some((word(at + 7)?, word(at + 5)?));
        }
        let length = word(at + 2)? as usize;
        if marker == 0xda || length < 2 {
            return None;
        }
        at += 2 + length;
    }
}

/// Whether a JPEG's header gives a size, and one within `MAX_PIXELS`.
pub fn jpeg_size_fits(bytes: &[u8]) -> Option<()> {
    let (w, h) = jpeg_size(bytes)?;
    (w > 0 && h > 0 && u64::from(w) * u64::from(h) <= MAX_PIXELS).then_some(())
}

/// Whether `bytes` are a HEIF or AVIF picture (an ISO BMFF `ftyp` box naming an image brand),
/// which the Rust decoders do not read: the iPhone's photos.
pub fn is_heif(bytes: &[u8]) -> bool {
    const BRANDS: &[&[u8]] = &[
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
    ];
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return false;
    }
    let size = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let ftyp = &bytes[8..size.clamp(16, 256).min(bytes.len())];
    // the major brand, then (past the minor version) the compatible ones
    std::iter::once(&ftyp[..4])
        .chain(ftyp.get(8..).unwrap_or_default().chunks_exact(4))
        .any(|brand| BRANDS.contains(&brand))
}

/// The JPEG or PNG a BMP carries instead of pixels (`BI_JPEG`, `BI_PNG`: printers and some
/// scanners write them), which the BMP decoder refuses.
pub fn embedded_in_bmp(bytes: &[u8]) -> Option<&[u8]> {
    let u32_at = |at: usize| {
        let b = bytes.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if !bytes.starts_with(b"BM") || u32_at(14)? < 40 || !matches!(u32_at(30)?, 4 | 5) {
        return None;
    }
    let inner = bytes.get(u32_at(10)?..)?;
    let inner = match u32_at(34)? {
        0 => inner,
        size => inner.get(..size)?,
    };
    (inner.starts_with(b"\xff\xd8\xff") || inner.starts_with(b"\x89PNG\r\n\x1a\n")).then_some(inner)
}

/// All pages of the image, each with its resolution when the file gives one.
fn decode(name: &str, bytes: &[u8]) -> Result<Vec<Frame>, ConvertError> {
    if is_tiff(bytes) {
        return decode_tiff(name, bytes);
    }
    let bytes = match embedded_in_bmp(bytes) {
        Some(inner) => inner,
        None if !is_picture(bytes) => jpeg_start(bytes).map_or(bytes, |at| &bytes[at..]),
        None => bytes,
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| damaged(name, e))?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4);
    let mut decoder = reader.into_decoder().map_err(|e| damaged(name, e))?;
    decoder.set_limits(limits).map_err(|e| damaged(name, e))?;
    let (w, h) = decoder.dimensions();
    check_size(name, w, h)?;
    let img = DynamicImage::from_decoder(decoder).map_err(|e| damaged(name, e))?;
    Ok(vec![(img.to_luma8(), None)])
}

fn check_size(name: &str, w: u32, h: u32) -> Result<(), ConvertError> {
    if w == 0 || h == 0 {
        return Err(damaged(name, "the image has no pixels"));
    }
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ConvertError::Damaged {
            part: name.to_string(),
            detail: format!("{w}×{h} pixels is too large an image"),
        });
    }
    Ok(())
}

/// The grey a CMYK pixel prints as (its RGB equivalent's luma).
fn cmyk_to_gray(p: &[u8]) -> u8 {
    let (c, m, y, k) = (
        u32::from(p[0]),
        u32::from(p[1]),
        u32::from(p[2]),
        u32::from(p[3]),
    );
    let rgb = [c, m, y].map(|v| 255 - (v + k).min(255));
    ((299 * rgb[0] + 587 * rgb[1] + 114 * rgb[2]) / 1000) as u8
}

fn decode_tiff(name: &str, bytes: &[u8]) -> Result<Vec<Frame>, ConvertError> {
    use tiff::decoder::{Decoder, DecodingResult, Limits};
    let facts = faxhub_queue::tiff::read_pages(bytes).map_err(|e| damaged(name, e))?;
    let mut decoder = Decoder::new(Cursor::new(bytes))
        .map_err(|e| damaged(name, e))?
        .with_limits(Limits::default());
    let mut out = Vec::new();
    for (index, fact) in facts.iter().enumerate() {
        if index > 0 {
            decoder.next_image().map_err(|e| damaged(name, e))?;
        }
        let (w, h) = decoder.dimensions().map_err(|e| damaged(name, e))?;
        check_size(name, w, h)?;
        let color = decoder.colortype().map_err(|e| damaged(name, e))?;
        let data = decoder.read_image().map_err(|e| damaged(name, e))?;
        // The decoder turns WhiteIsZero data round itself: what it gives is BlackIsZero.
        let gray = match (color, data) {
            (tiff::ColorType::Gray(1), DecodingResult::U8(buf)) => unpack_bits(&buf, w, h),
            (tiff::ColorType::Gray(8), DecodingResult::U8(buf)) => GrayImage::from_raw(w, h, buf),
            (tiff::ColorType::Gray(16), DecodingResult::U16(buf)) => {
                GrayImage::from_raw(w, h, buf.iter().map(|v| (v >> 8) as u8).collect())
            }
            (tiff::ColorType::RGB(8), DecodingResult::U8(buf)) => {
                image::RgbImage::from_raw(w, h, buf).map(|i| DynamicImage::ImageRgb8(i).to_luma8())
            }
            // print colours (a scanner's or a layout program's CMYK): ink coverage as grey
            (tiff::ColorType::CMYK(8) | tiff::ColorType::CMYKA(8), DecodingResult::U8(buf)) => {
                let channels = if matches!(color, tiff::ColorType::CMYK(8)) {
                    4
                } else {
                    5
                };
                GrayImage::from_raw(w, h, buf.chunks_exact(channels).map(cmyk_to_gray).collect())
            }
            (tiff::ColorType::RGBA(8), DecodingResult::U8(buf)) => {
                image::RgbaImage::from_raw(w, h, buf)
                    .map(|i| DynamicImage::ImageRgba8(i).to_luma8())
            }
            (other, _) => {
                return Err(ConvertError::Unsupported {
                    part: name.to_string(),
                    mime: format!("image/tiff ({other:?})"),
                });
            }
        }
        .ok_or_else(|| damaged(name, "the image data is shorter than its size says"))?;
        out.push((gray, fact.dpi()));
    }
    Ok(out)
}

/// 1-bit BlackIsZero rows (each padded to a byte) to 8-bit grey.
fn unpack_bits(buf: &[u8], w: u32, h: u32) -> Option<GrayImage> {
    let stride = w.div_ceil(8) as usize;
    if buf.len() < stride * h as usize {
        return None;
    }
    Some(GrayImage::from_fn(w, h, |x, y| {
        let bit = buf[y as usize * stride + (x / 8) as usize] >> (7 - (x % 8)) & 1;
        let black = bit == 0;
        image::Luma([if black { 0 } else { 255 }])
    }))
}

/// Scales, places and binarises one image onto a fax page.
fn to_fax(img: GrayImage, dpi: Option<(f64, f64)>, paper: Paper, y_dpi: u32) -> Bitmap {
    let page_rows = paper_rows(paper, y_dpi);
    let (mut img, mut dpi) = (img, dpi);
    if img.width() > img.height() * 6 / 5 {
        img = imageops::rotate270(&img);
        dpi = dpi.map(|(x, y)| (y, x));
    }
    let (dx, dy) = dpi
        .filter(|(x, y)| *x >= 50.0 && *y >= 50.0)
        .unwrap_or((DEFAULT_DPI, DEFAULT_DPI));
    // physical size in fax pixels, then shrunk to fit the printable area if needed
    let mut w = f64::from(img.width()) * f64::from(X_DPI) / dx;
    let mut h = f64::from(img.height()) * f64::from(y_dpi) / dy;
    let max_w = f64::from(WIDTH - 2 * MARGIN);
    let max_h = f64::from(page_rows - 2 * MARGIN);
    let shrink = (max_w / w).min(max_h / h).min(1.0);
    w = (w * shrink).round().max(1.0);
    h = (h * shrink).round().max(1.0);
    let scaled = imageops::resize(&img, w as u32, h as u32, imageops::FilterType::Triangle);
    let black = if is_line_art(&scaled) {
        threshold(&scaled)
    } else {
        dither(&scaled)
    };
    let left = (WIDTH - scaled.width()) / 2;
    let mut pixels = vec![false; (WIDTH * page_rows) as usize];
    for y in 0..scaled.height() {
        let row = ((y + MARGIN) * WIDTH + left) as usize;
        let src = (y * scaled.width()) as usize;
        pixels[row..row + scaled.width() as usize]
            .copy_from_slice(&black[src..src + scaled.width() as usize]);
    }
    Bitmap {
        width: WIDTH,
        length: page_rows,
        pixels,
    }
}

/// Rows of a page of `paper` at `y_dpi`.
pub fn paper_rows(paper: Paper, y_dpi: u32) -> u32 {
    let (_, height_pt) = paper.points();
    (f64::from(height_pt) / 72.0 * f64::from(y_dpi)).round() as u32
}

fn is_line_art(img: &GrayImage) -> bool {
    let extremes = img.pixels().filter(|p| p.0[0] < 64 || p.0[0] > 192).count();
    extremes as f64 >= LINE_ART_SHARE * (img.width() * img.height()) as f64
}

fn threshold(img: &GrayImage) -> Vec<bool> {
    img.pixels().map(|p| p.0[0] < 128).collect()
}

/// Floyd–Steinberg error diffusion to black and white.
fn dither(img: &GrayImage) -> Vec<bool> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut level: Vec<f32> = img.pixels().map(|p| f32::from(p.0[0])).collect();
    let mut out = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            let old = level[i];
            let black = old < 128.0;
            out[i] = black;
            let err = old - if black { 0.0 } else { 255.0 };
            if x + 1 < w {
                level[i + 1] += err * 7.0 / 16.0;
            }
            if y + 1 < h {
                if x > 0 {
                    level[i + w - 1] += err * 3.0 / 16.0;
                }
                level[i + w] += err * 5.0 / 16.0;
                if x + 1 < w {
                    level[i + w + 1] += err * 1.0 / 16.0;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(img: &GrayImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn a4_and_letter_rows() {
        assert_eq!(paper_rows(Paper::A4, 196), 2292);
        assert_eq!(paper_rows(Paper::Letter, 196), 2156);
        assert_eq!(paper_rows(Paper::A4, 98), 1146);
    }

    #[test]
    fn line_art_is_thresholded_and_photos_dithered() {
        let line_art = GrayImage::from_fn(400, 400, |x, _| {
            image::Luma([if x < 200 { 0 } else { 255 }])
        });
        let page = &pages("a.png", &png(&line_art), Paper::A4, 196, 200).unwrap()[0];
        assert_eq!((page.width, page.length), (1728, 2292));
        // the left half of the drawing is solid black: a run of black pixels on its rows
        let row = (MARGIN + 100) as usize * 1728;
        let blacks = page.pixels[row..row + 1728].iter().filter(|b| **b).count();
        assert!((190..=215).contains(&blacks), "{blacks}");
        // a mid-grey photo becomes about half black dots, not all white or all black
        let grey = GrayImage::from_fn(400, 400, |x, y| image::Luma([((x + y) % 64 + 96) as u8]));
        let page = &pages("photo.png", &png(&grey), Paper::A4, 196, 200).unwrap()[0];
        let row = &page.pixels[row..row + 1728];
        let blacks = row.iter().filter(|b| **b).count();
        assert!(blacks > 60 && blacks < 350, "{blacks}");
    }

    #[test]
    fn big_landscape_images_are_rotated_and_fitted() {
        let wide = GrayImage::from_fn(3000, 1000, |x, _| {
            image::Luma([if x % 100 < 50 { 0 } else { 255 }])
        });
        let page = &pages("wide.png", &png(&wide), Paper::A4, 196, 200).unwrap()[0];
        assert_eq!(page.pixels.len(), 1728 * 2292);
        // rotated: the image now runs down the page, close to the printable height
        let last_row_with_ink = (0..2292)
            .rev()
            .find(|y| page.pixels[y * 1728..(y + 1) * 1728].iter().any(|b| *b))
            .unwrap();
        assert!(last_row_with_ink > 2000, "{last_row_with_ink}");
    }

    /// Share of black pixels on a page.
    fn black_share(page: &Bitmap) -> f64 {
        page.pixels.iter().filter(|b| **b).count() as f64 / page.pixels.len() as f64
    }

    #[test]
    fn bilevel_tiffs_keep_black_on_white_whatever_their_photometric() {
        // the same mostly white drawing, G4 min-is-white, and uncompressed min-is-black
        let corpus =
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/tiff");
        let white =
            std::fs::read(corpus.join("twelvemonkeys/58-plexustiff-binary-ccitt-group4.tif"))
                .unwrap();
        let page = &pages("scan.tif", &white, Paper::A4, 196, 200).unwrap()[0];
        let share = black_share(page);
        assert!((0.02..0.25).contains(&share), "min-is-white: {share}");
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("w.tif"), dir.path().join("b.tif"));
        std::fs::write(&src, &white).unwrap();
        // libtiff's tiffcp writes it uncompressed; then made min-is-black by hand (the
        // photometric tag says 1 and every data bit is turned round): the same picture
        let status = std::process::Command::new("tiffcp")
            .args(["-c", "none"])
            .arg(&src)
            .arg(&dst)
            .status()
            .unwrap();
        assert!(status.success());
        let mut plain = std::fs::read(&dst).unwrap();
        let again = black_share(&pages("scan.tif", &plain, Paper::A4, 196, 200).unwrap()[0]);
        assert!((again - share).abs() < 0.001, "{again} vs {share}");
        assert_eq!(&plain[..2], b"II");
        let u16_at = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]) as usize;
        let u32_at =
            |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        let ifd = u32_at(&plain, 4);
        let (mut offset, mut count) = (0, 0);
        for e in 0..u16_at(&plain, ifd) {
            let at = ifd + 2 + 12 * e;
            match u16_at(&plain, at) {
                262 => plain[at + 8] = 1,
                273 => offset = u32_at(&plain, at + 8),
                279 => count = u32_at(&plain, at + 8),
                _ => {}
            }
        }
        assert!(count > 0);
        for b in &mut plain[offset..offset + count] {
            *b = !*b;
        }
        let black = black_share(&pages("scan.tif", &plain, Paper::A4, 196, 200).unwrap()[0]);
        assert!(
            (black - share).abs() < 0.001,
            "min-is-black: {black} vs {share}"
        );
    }

    #[test]
    fn damaged_and_oversized_images_are_refused_with_the_name() {
        let err = pages("broken.png", b"\x89PNG\r\n\x1a\nxxxx", Paper::A4, 196, 200)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("broken.png: the file is damaged"),
            "{err}"
        );
        // a PNG header that claims 100000×100000 pixels
        let mut bomb = png(&GrayImage::new(1, 1));
        bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let err = pages("bomb.png", &bomb, Paper::A4, 196, 200).err().unwrap();
        assert!(err.to_string().contains("bomb.png"), "{err}");
    }
}
