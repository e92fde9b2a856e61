//! A received fax (the T.30 engine's TIFF, or any bilevel CCITT TIFF) as the PDF its owner
//! gets by mail. A page held in one strip of G3 (1-D or 2-D) or G4 data is embedded as it is,
//! with `/CCITTFaxDecode` (bytes in reversed bit order are turned round, nothing else): nothing
//! is decoded, rendered or scaled. Pages in several strips, or G3 that does not open with an
//! EOL (which PDF readers need to find the lines), are decoded and coded again as G4, bit for bit
//! the same image (the `tiff` crate decodes G4 and uncompressed data; other G3 is refused and
//! the caller sends the TIFF instead). Each PDF page is the size of the paper at the TIFF's resolution
//! (204 × 98 or 196 dpi for a fax).

use crate::ConvertError;
use crate::preview::{self, CcittImage};
use crate::tiff_f::{Bitmap, FaxPage, X_DPI};
use faxhub_queue::tiff;
use std::io::Cursor;

/// The largest page taken (an A3 page at 400 dpi is 4864 × 6614).
const MAX_WIDTH: u32 = 10_000;
const MAX_LENGTH: u32 = 30_000;

/// The received TIFF as a PDF.
pub fn pdf(bytes: &[u8]) -> Result<Vec<u8>, ConvertError> {
    preview::pdf_of(&images(bytes)?)
}

/// The pages of a received TIFF as the PDF embeds them.
pub fn images(bytes: &[u8]) -> Result<Vec<CcittImage>, ConvertError> {
    let bad = |e: &dyn std::fmt::Display| ConvertError::NotClassF(format!("received fax: {e}"));
    let facts = tiff::read_pages(bytes).map_err(|e| bad(&e))?;
    let strips = tiff::first_strips(bytes, &facts).map_err(|e| bad(&e))?;
    let as_is: Option<Vec<CcittImage>> = facts
        .iter()
        .zip(strips)
        .map(|(p, data)| {
            let k = match (p.compression, p.t4_options.unwrap_or(0)) {
                (4, _) => -1,
                (3, options) if options & 2 == 0 => i64::from(options & 1),
                _ => return None, // not CCITT, or G3 with uncompressed mode
            };
            if p.strips != 1 || p.width > MAX_WIDTH || p.length > MAX_LENGTH {
                return None;
            }
            let (x_dpi, y_dpi) = dpi(p);
            let data: Vec<u8> = if p.fill_order == Some(2) {
                data.iter().map(|b| b.reverse_bits()).collect()
            } else {
                data.to_vec()
            };
            // PDF readers find G3 lines by their EOLs: the data must open with one
            if k >= 0 && !opens_with_eol(&data) {
                return None;
            }
            Some(CcittImage {
                width: p.width,
                length: p.length,
                x_dpi,
                y_dpi,
                k,
                // TIFF's fill bits come before each EOL, which readers skip: the lines
                // themselves are not byte-aligned as PDF's EncodedByteAlign means it
                byte_aligned: false,
                inverted: p.photometric == Some(1),
                data,
            })
        })
        .collect();
    match as_is {
        Some(images) => Ok(images),
        None => Ok(recode(bytes)?
            .iter()
            .zip(&facts)
            .map(|(page, p)| CcittImage {
                x_dpi: dpi(p).0,
                ..CcittImage::g4(page)
            })
            .collect()),
    }
}

/// Whether G3 data opens with an EOL (eleven 0 bits and a 1), after any fill.
fn opens_with_eol(data: &[u8]) -> bool {
    let mut zeros = 0;
    for byte in data.iter().take(64) {
        for bit in (0..8).rev() {
            if byte >> bit & 1 == 0 {
                zeros += 1;
            } else {
                return zeros >= 11;
            }
        }
    }
    false
}

/// The page's resolution, in whole dots per inch (a fax's when the file does not say).
fn dpi(p: &tiff::PageInfo) -> (u32, u32) {
    p.dpi()
        .filter(|(x, y)| *x >= 50.0 && *y >= 50.0)
        .map(|(x, y)| (x.round() as u32, y.round() as u32))
        .unwrap_or((X_DPI, 196))
}

/// Decodes each page to its bitmap and codes it as G4.
fn recode(bytes: &[u8]) -> Result<Vec<FaxPage>, ConvertError> {
    use ::tiff::decoder::{Decoder, DecodingResult, Limits};
    let bad = |e: &dyn std::fmt::Display| ConvertError::NotClassF(format!("received fax: {e}"));
    let facts = tiff::read_pages(bytes).map_err(|e| bad(&e))?;
    let mut decoder = Decoder::new(Cursor::new(bytes))
        .map_err(|e| bad(&e))?
        .with_limits(Limits::unlimited());
    let mut pages = Vec::with_capacity(facts.len());
    for (index, fact) in facts.iter().enumerate() {
        if index > 0 {
            decoder.next_image().map_err(|e| bad(&e))?;
        }
        let (w, h) = decoder.dimensions().map_err(|e| bad(&e))?;
        if w > MAX_WIDTH || h > MAX_LENGTH {
            return Err(bad(&format!(
                "a page of {w} × {h} pixels is not a fax page"
            )));
        }
        let color = decoder.colortype().map_err(|e| bad(&e))?;
        let DecodingResult::U8(buf) = decoder.read_image().map_err(|e| bad(&e))? else {
            return Err(bad(&"not a black-and-white image"));
        };
        if color != ::tiff::ColorType::Gray(1) {
            return Err(bad(&format!("not a black-and-white image ({color:?})")));
        }
        let stride = w.div_ceil(8) as usize;
        if buf.len() < stride * h as usize {
            return Err(bad(&"the image data is shorter than its size says"));
        }
        // the decoder gives BlackIsZero whatever the file's photometric: a 0 bit is black
        let pixels = (0..h as usize)
            .flat_map(|y| {
                let row = &buf[y * stride..(y + 1) * stride];
                (0..w as usize).map(move |x| (row[x / 8] >> (7 - x % 8)) & 1 == 0)
            })
            .collect();
        let (_, y_dpi) = dpi(fact);
        let bitmap = Bitmap {
            width: w,
            length: h,
            pixels,
        };
        pages.push(FaxPage::from_bitmap(&bitmap, y_dpi)?);
    }
    Ok(pages)
}

#[cfg(test)]
mod tests;
