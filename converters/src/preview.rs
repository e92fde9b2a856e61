//! What users see of a page set outside the fax line: a PDF of exactly the pages that are sent,
//! made without re-rendering (each page's CCITT G4 data is embedded as it is, with
//! `/CCITTFaxDecode`), and a PNG thumbnail of page 1. Receipts attach the PDF; previews use both.

use crate::ConvertError;
use crate::tiff_f::{FaxPage, X_DPI};
use lopdf::{Dictionary, Document, Object, Stream, dictionary};

/// Width of the page-1 thumbnail, in pixels.
pub const THUMBNAIL_WIDTH: u32 = 216;

/// A page of CCITT-coded image data as a PDF can hold it (`/CCITTFaxDecode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CcittImage {
    pub width: u32,
    pub length: u32,
    pub x_dpi: u32,
    pub y_dpi: u32,
    /// PDF's K: -1 G4 (T.6), 0 G3 one-dimensional, 1 G3 two-dimensional (T.4).
    pub k: i64,
    /// Each coded line ends on a byte boundary (TIFF's T4Options fill bits).
    pub byte_aligned: bool,
    /// The image is shown inverted: the TIFF's photometric is BlackIsZero, so what CCITT
    /// codes as white runs is black on paper.
    pub inverted: bool,
    /// The coded data, most significant bit first.
    pub data: Vec<u8>,
}

impl CcittImage {
    pub fn g4(page: &FaxPage) -> CcittImage {
        CcittImage {
            width: page.width,
            length: page.length,
            x_dpi: X_DPI,
            y_dpi: page.y_dpi,
            k: -1,
            byte_aligned: false,
            inverted: false,
            data: page.g4.clone(),
        }
    }
}

/// A PDF with one page per fax page, each the size of the paper it was made for.
pub fn pdf(pages: &[FaxPage]) -> Result<Vec<u8>, ConvertError> {
    pdf_of(&pages.iter().map(CcittImage::g4).collect::<Vec<_>>())
}

/// A PDF with one page per image, each the size its resolution gives it.
pub fn pdf_of(pages: &[CcittImage]) -> Result<Vec<u8>, ConvertError> {
    let mut doc = Document::with_version("1.4");
    let pages_id = doc.new_object_id();
    let mut kids = Vec::with_capacity(pages.len());
    for page in pages {
        let mut parms = dictionary! { "K" => page.k, "Columns" => page.width as i64, "Rows" => page.length as i64 };
        if page.byte_aligned {
            parms.set("EncodedByteAlign", true);
        }
        let mut dict = dictionary! {
            "Type" => "XObject",
            "Subtype" => "Image",
            "Width" => page.width as i64,
            "Height" => page.length as i64,
            "ColorSpace" => "DeviceGray",
            "BitsPerComponent" => 1,
            "Filter" => "CCITTFaxDecode",
            "DecodeParms" => parms,
        };
        if page.inverted {
            dict.set("Decode", vec![1.into(), 0.into()]);
        }
        let image = Stream::new(dict, page.data.clone()).with_compression(false);
        let image_id = doc.add_object(image);
        let width_pt = f64::from(page.width) * 72.0 / f64::from(page.x_dpi);
        let height_pt = f64::from(page.length) * 72.0 / f64::from(page.y_dpi);
        let content = format!("q {width_pt:.3} 0 0 {height_pt:.3} 0 0 cm /P Do Q");
        let content_id = doc.add_object(Stream::new(Dictionary::new(), content.into_bytes()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(width_pt as f32), Object::Real(height_pt as f32)],
            "Contents" => content_id,
            "Resources" => dictionary! { "XObject" => dictionary! { "P" => image_id } },
        });
        kids.push(Object::Reference(page_id));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out)
        .map_err(|e| ConvertError::Io(format!("writing the PDF: {e}")))?;
    Ok(out)
}

/// A PNG of page 1, `THUMBNAIL_WIDTH` pixels wide.
pub fn thumbnail(page: &FaxPage) -> Result<Vec<u8>, ConvertError> {
    png(page, THUMBNAIL_WIDTH)
}

/// A PNG of `page`, `width` pixels wide (at most the page's), in grey: each pixel is the share
/// of white in the fax pixels it covers.
pub fn png(page: &FaxPage, width: u32) -> Result<Vec<u8>, ConvertError> {
    let (w, h) = (page.width as usize, page.length as usize);
    // pixels are square on paper: correct for the fax's 204 × y_dpi aspect
    let tw = (width.min(page.width).max(1)) as usize;
    let th = ((h as f64 / f64::from(page.y_dpi)) / (w as f64 / f64::from(X_DPI)) * tw as f64)
        .round()
        .max(1.0) as usize;
    // Black pixels per thumbnail cell, counted from the runs of each decoded line (no per-pixel
    // work on white, which is most of a page).
    let mut blacks = vec![0u32; tw * th];
    let mut row = 0usize;
    fax::decoder::decode_g4(
        page.g4.iter().copied(),
        page.width as u16,
        Some(page.length as u16),
        |transitions| {
            if row < h {
                let cells = &mut blacks[(row * th / h) * tw..(row * th / h + 1) * tw];
                // transitions alternate white→black, black→white, starting with white at 0
                for run in transitions.chunks(2) {
                    let start = usize::from(run[0]).min(w);
                    let end = run.get(1).map_or(w, |e| usize::from(*e).min(w));
                    for x in start..end {
                        cells[x * tw / w] += 1;
                    }
                }
            }
            row += 1;
        },
    )
    .ok_or_else(|| ConvertError::NotClassF("a page does not decode as G4".into()))?;
    let img = image::GrayImage::from_fn(tw as u32, th as u32, |tx, ty| {
        let (tx, ty) = (tx as usize, ty as usize);
        let cell_w = (tx + 1) * w / tw - tx * w / tw;
        let cell_h = (ty + 1) * h / th - ty * h / th;
        let area = (cell_w * cell_h).max(1) as u32;
        image::Luma([(255 - blacks[ty * tw + tx].min(area) * 255 / area) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| ConvertError::Io(format!("writing a page image: {e}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiff_f::{Bitmap, WIDTH};

    fn page() -> FaxPage {
        // the left half of the page black, the right half white
        let length = 2292;
        let pixels = (0..WIDTH * length).map(|i| i % WIDTH < WIDTH / 2).collect();
        FaxPage::from_bitmap(
            &Bitmap {
                width: WIDTH,
                length,
                pixels,
            },
            196,
        )
        .unwrap()
    }

    #[test]
    fn the_pdf_holds_the_g4_data_unchanged_on_a4_pages() {
        let p = page();
        let bytes = pdf(&[p.clone(), p.clone()]).unwrap();
        let doc = Document::load_mem(&bytes).unwrap();
        assert_eq!(doc.get_pages().len(), 2);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("/CCITTFaxDecode"));
        assert!(
            bytes.windows(p.g4.len()).any(|w| w == p.g4.as_slice()),
            "G4 data embedded as is"
        );
        // 1728 px at 204 dpi = 609.9 pt; 2292 rows at 196 dpi = 841.96 pt (A4 is 841.89)
        let media: Vec<&str> = text
            .split("/MediaBox")
            .skip(1)
            .map(|m| m.split(']').next().unwrap_or(""))
            .collect();
        assert!(
            media
                .iter()
                .all(|m| m.contains("609.88") && m.contains("841.9")),
            "{media:?}"
        );
    }

    /// Ghostscript, an independent PDF reader, sees black on the left and white on the right.
    #[test]
    fn ghostscript_renders_the_pdf_as_the_fax_page() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.pdf");
        std::fs::write(&path, pdf(&[page()]).unwrap()).unwrap();
        let out = std::process::Command::new("gs")
            .args([
                "-q",
                "-dSAFER",
                "-dBATCH",
                "-dNOPAUSE",
                "-sDEVICE=pgmraw",
                "-r20",
                "-sOutputFile=-",
            ])
            .arg(&path)
            .output()
            .expect("Ghostscript must be installed: run `make test`");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // P5 header: "P5", a comment line, "<w> <h>", "255", then one byte a pixel
        let header_lines: Vec<&[u8]> = out.stdout.splitn(5, |b| *b == b'\n').collect();
        let dims = String::from_utf8_lossy(header_lines[2]).into_owned();
        let w: usize = dims
            .split_ascii_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let header = header_lines[..4].iter().map(|l| l.len() + 1).sum::<usize>();
        let pixels = &out.stdout[header..];
        let row = 100 * w;
        assert!(pixels[row + 10] < 50, "left is black");
        assert!(pixels[row + w - 10] > 200, "right is white");
    }

    #[test]
    fn the_thumbnail_shows_the_page() {
        let png = thumbnail(&page()).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_luma8();
        assert_eq!(img.width(), THUMBNAIL_WIDTH);
        // 2292 rows at 196 dpi are 11.69 in; 1728 px at 204 dpi 8.47 in: 216 × 11.69 / 8.47 = 298
        assert!(
            (296..=300).contains(&img.height()),
            "A4 proportions: {}",
            img.height()
        );
        assert!(img.get_pixel(10, 100).0[0] < 20, "left half black");
        assert!(img.get_pixel(200, 100).0[0] > 235, "right half white");
    }
}
