//! Fax pages and the TIFF-F file that carries them (RFC 2306 Class F, as spandsp reads it).
//!
//! A `FaxPage` is one page of CCITT T.6 (G4) data with its geometry. Pages come from Ghostscript's
//! output (`from_tiff`, one strip per page, the data copied without re-encoding) or from our own
//! bitmaps (`from_bitmap`); `write` assembles them, in order, into one multi-page TIFF-F with the
//! tags a fax line needs: 1728 pixels wide, 204 dpi across, 98/196/391 lines per inch, G4,
//! min-is-white, MSB-first fill order, one strip per page and PageNumber (index, total).

use crate::ConvertError;
use faxhub_queue::tiff;

/// Horizontal fax resolution, dots per inch (R8).
pub const X_DPI: u32 = 204;
/// Width of an A4/Letter fax line in pixels.
pub const WIDTH: u32 = 1728;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaxPage {
    pub width: u32,
    pub length: u32,
    pub y_dpi: u32,
    pub g4: Vec<u8>,
}

/// A black-and-white page: `true` is black. Rows of `width` pixels.
pub struct Bitmap {
    pub width: u32,
    pub length: u32,
    pub pixels: Vec<bool>,
}

impl FaxPage {
    /// Encodes a bitmap as G4. The encoder is a third-party crate: a panic in it becomes an error.
    pub fn from_bitmap(bitmap: &Bitmap, y_dpi: u32) -> Result<FaxPage, ConvertError> {
        let width = bitmap.width as usize;
        let encoded = std::panic::catch_unwind(|| {
            let mut encoder = fax::encoder::Encoder::new(fax::VecWriter::new());
            for row in bitmap.pixels.chunks(width) {
                let colors = row.iter().map(|&black| {
                    if black {
                        fax::Color::Black
                    } else {
                        fax::Color::White
                    }
                });
                let Ok(()) = encoder.encode_line(colors, width as u16);
            }
            let Ok(writer) = encoder.finish();
            writer.finish()
        })
        .map_err(|_| ConvertError::NotClassF("the G4 encoder failed on a page".into()))?;
        Ok(FaxPage {
            width: bitmap.width,
            length: bitmap.length,
            y_dpi,
            g4: encoded,
        })
    }

    /// Takes the pages of a single-strip G4 TIFF (Ghostscript's tiffg4 output) as they are.
    pub fn from_tiff(bytes: &[u8]) -> Result<Vec<FaxPage>, ConvertError> {
        let bad = |e: tiff::TiffError| ConvertError::NotClassF(e.to_string());
        let pages = tiff::read_pages(bytes).map_err(bad)?;
        let strips = tiff::first_strips(bytes, &pages).map_err(bad)?;
        pages
            .iter()
            .zip(strips)
            .map(|(p, data)| {
                if p.compression != 4 || p.strips != 1 || p.fill_order.unwrap_or(1) != 1 {
                    return Err(ConvertError::NotClassF(format!(
                        "expected one G4 strip per page, got compression {} in {} strips",
                        p.compression, p.strips
                    )));
                }
                let y_dpi = p.dpi().map(|(_, y)| y.round() as u32).unwrap_or(196);
                Ok(FaxPage {
                    width: p.width,
                    length: p.length,
                    y_dpi,
                    g4: data.to_vec(),
                })
            })
            .collect()
    }
}

/// TIFF field types.
const SHORT: u16 = 3;
const LONG: u16 = 4;
const RATIONAL: u16 = 5;
const ASCII: u16 = 2;
const SOFTWARE: &[u8] = b"faxhub\0";

/// Writes `pages` as one little-endian multi-page TIFF-F.
pub fn write(pages: &[FaxPage]) -> Vec<u8> {
    const ENTRIES: usize = 17;
    let total = pages.len() as u32;
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&0u32.to_le_bytes()); // first IFD offset, patched below
    let mut next_ifd_field = 4usize;
    for (index, page) in pages.iter().enumerate() {
        // page data, then its out-of-line values, then its IFD (word-aligned)
        let data_at = out.len() as u32;
        out.extend_from_slice(&page.g4);
        pad(&mut out);
        let xres_at = out.len() as u32;
        out.extend_from_slice(&X_DPI.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        let yres_at = out.len() as u32;
        out.extend_from_slice(&page.y_dpi.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        let software_at = out.len() as u32;
        out.extend_from_slice(SOFTWARE);
        pad(&mut out);
        let ifd_at = out.len() as u32;
        out[next_ifd_field..next_ifd_field + 4].copy_from_slice(&ifd_at.to_le_bytes());
        let page_number = (index as u32) | (total << 16);
        let entries: [(u16, u16, u32, u32); ENTRIES] = [
            (254, LONG, 1, 2),           // NewSubfileType: page of a multi-page document
            (256, LONG, 1, page.width),  // ImageWidth
            (257, LONG, 1, page.length), // ImageLength
            (258, SHORT, 1, 1),          // BitsPerSample
            (259, SHORT, 1, 4),          // Compression: T.6
            (262, SHORT, 1, 0),          // Photometric: WhiteIsZero
            (266, SHORT, 1, 1),          // FillOrder: MSB first
            (273, LONG, 1, data_at),     // StripOffsets
            (277, SHORT, 1, 1),          // SamplesPerPixel
            (278, LONG, 1, page.length), // RowsPerStrip
            (279, LONG, 1, page.g4.len() as u32), // StripByteCounts
            (282, RATIONAL, 1, xres_at), // XResolution
            (283, RATIONAL, 1, yres_at), // YResolution
            (293, LONG, 1, 0),           // T6Options
            (296, SHORT, 1, 2),          // ResolutionUnit: inch
            (297, SHORT, 2, page_number), // PageNumber: index, total
            (305, ASCII, SOFTWARE.len() as u32, software_at), // Software
        ];
        out.extend_from_slice(&(ENTRIES as u16).to_le_bytes());
        for (tag, kind, count, value) in entries {
            out.extend_from_slice(&tag.to_le_bytes());
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        next_ifd_field = out.len();
        out.extend_from_slice(&0u32.to_le_bytes());
    }
    out
}

fn pad(out: &mut Vec<u8>) {
    if out.len() % 2 == 1 {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripes(length: u32) -> Bitmap {
        let pixels = (0..WIDTH * length)
            .map(|i| (i / WIDTH) % 8 < 2 && (i % WIDTH) < 400)
            .collect();
        Bitmap {
            width: WIDTH,
            length,
            pixels,
        }
    }

    #[test]
    fn written_pages_read_back_with_their_tags() {
        let a = FaxPage::from_bitmap(&stripes(100), 196).unwrap();
        let b = FaxPage::from_bitmap(&stripes(50), 98).unwrap();
        let bytes = write(&[a.clone(), b.clone()]);
        let pages = tiff::read_pages(&bytes).unwrap();
        assert_eq!(pages.len(), 2);
        assert_eq!(
            (pages[0].width, pages[0].length, pages[0].compression),
            (1728, 100, 4)
        );
        assert_eq!(pages[0].page_number, Some((0, 2)));
        assert_eq!(pages[1].page_number, Some((1, 2)));
        assert_eq!(pages[1].dpi(), Some((204.0, 98.0)));
        assert_eq!(pages[0].photometric, Some(0));
        assert_eq!(pages[0].fill_order, Some(1));
        // and the data survives a round trip
        let back = FaxPage::from_tiff(&bytes).unwrap();
        assert_eq!(back, vec![a, b]);
        assert_eq!(crate::check_class_f(&bytes), Ok(2));
        // a page set whose PageNumber does not count its pages is refused
        let err = crate::check_class_f(&patch_page_number(&bytes, 1, (1, 3))).unwrap_err();
        assert!(err.to_string().contains("PageNumber"), "{err}");
    }

    /// `bytes` with page `index`'s PageNumber values replaced (in place: same length).
    fn patch_page_number(bytes: &[u8], index: usize, (n, total): (u16, u16)) -> Vec<u8> {
        let mut out = bytes.to_vec();
        let mut ifd = u32::from_le_bytes(out[4..8].try_into().unwrap()) as usize;
        for _ in 0..index {
            let count = u16::from_le_bytes(out[ifd..ifd + 2].try_into().unwrap()) as usize;
            ifd = u32::from_le_bytes(
                out[ifd + 2 + count * 12..ifd + 6 + count * 12]
                    .try_into()
                    .unwrap(),
            ) as usize;
        }
        let count = u16::from_le_bytes(out[ifd..ifd + 2].try_into().unwrap()) as usize;
        for e in 0..count {
            let at = ifd + 2 + e * 12;
            if u16::from_le_bytes(out[at..at + 2].try_into().unwrap()) == 297 {
                out[at + 8..at + 10].copy_from_slice(&n.to_le_bytes());
                out[at + 10..at + 12].copy_from_slice(&total.to_le_bytes());
            }
        }
        out
    }
}

#[cfg(test)]
mod libtiff {
    use super::*;

    /// libtiff decodes every page we write without a complaint.
    #[test]
    fn libtiff_decodes_what_we_write() {
        let pixels = (0..WIDTH * 300)
            .map(|i| ((i % WIDTH) / 7 + (i / WIDTH) / 5).is_multiple_of(3))
            .collect();
        let page = FaxPage::from_bitmap(
            &Bitmap {
                width: WIDTH,
                length: 300,
                pixels,
            },
            196,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.tif");
        std::fs::write(&path, write(&[page.clone(), page])).unwrap();
        let out = std::process::Command::new("tiffcp")
            .args(["-c", "none"])
            .arg(&path)
            .arg(dir.path().join("raw.tif"))
            .output();
        let Ok(out) = out else {
            panic!("tiffcp (libtiff-tools) must be installed: run `make test`")
        };
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
