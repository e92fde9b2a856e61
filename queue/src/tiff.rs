//! A reader for the facts of a TIFF-F page set that faxhub checks before a page set reaches a
//! line: page count, and per page width, length, compression, resolution, photometric, fill
//! order, strips and PageNumber (RFC 2306 / TIFF Class F). Reads the IFD chain only, never the
//! image data. Pure over a byte slice; bad files give an error, never a panic or a loop.

/// TIFF tags faxhub reads.
mod tag {
    pub const IMAGE_WIDTH: u16 = 256;
    pub const IMAGE_LENGTH: u16 = 257;
    pub const COMPRESSION: u16 = 259;
    pub const PHOTOMETRIC: u16 = 262;
    pub const FILL_ORDER: u16 = 266;
    pub const STRIP_OFFSETS: u16 = 273;
    pub const STRIP_BYTE_COUNTS: u16 = 279;
    pub const X_RESOLUTION: u16 = 282;
    pub const Y_RESOLUTION: u16 = 283;
    pub const T4_OPTIONS: u16 = 292;
    pub const RESOLUTION_UNIT: u16 = 296;
    pub const PAGE_NUMBER: u16 = 297;
}

/// A page set can't hold more pages than this (a loop guard, well above any page limit).
const MAX_IFDS: usize = 10_000;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageInfo {
    pub width: u32,
    pub length: u32,
    pub compression: u32,
    pub photometric: Option<u32>,
    pub fill_order: Option<u32>,
    /// T4Options (G3): bit 0 two-dimensional coding, bit 2 fill bits before EOL.
    pub t4_options: Option<u32>,
    pub x_resolution: Option<f64>,
    pub y_resolution: Option<f64>,
    pub resolution_unit: Option<u32>,
    pub page_number: Option<(u32, u32)>,
    pub strips: u32,
    /// Where the first strip's data is, and how long: (offset, byte count).
    pub first_strip: Option<(u32, u32)>,
}

impl PageInfo {
    /// Resolution in dots per inch (converting from centimetres when the unit says so).
    pub fn dpi(&self) -> Option<(f64, f64)> {
        let factor = if self.resolution_unit == Some(3) {
            2.54
        } else {
            1.0
        };
        Some((self.x_resolution? * factor, self.y_resolution? * factor))
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TiffError {
    #[error("not a TIFF file")]
    NotTiff,
    #[error("TIFF file is truncated or has a bad offset")]
    Truncated,
    #[error("TIFF file has a loop in its page chain")]
    Loop,
    #[error("TIFF file has no pages")]
    NoPages,
}

struct Reader<'a> {
    data: &'a [u8],
    little: bool,
}

impl Reader<'_> {
    fn bytes<const N: usize>(&self, at: usize) -> Result<[u8; N], TiffError> {
        self.data
            .get(at..at.checked_add(N).ok_or(TiffError::Truncated)?)
            .and_then(|s| s.try_into().ok())
            .ok_or(TiffError::Truncated)
    }
    fn u16(&self, at: usize) -> Result<u16, TiffError> {
        let b = self.bytes::<2>(at)?;
        Ok(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }
    fn u32(&self, at: usize) -> Result<u32, TiffError> {
        let b = self.bytes::<4>(at)?;
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
}

/// The first element of an array-valued entry of `n` SHORTs or LONGs: inline when the values fit
/// in the entry's 4 bytes, else at the offset it holds.
fn first_of_array(r: &Reader<'_>, kind: u16, n: u32, value_at: usize) -> Result<u32, TiffError> {
    match (kind, n) {
        (3, 0..=2) => Ok(u32::from(r.u16(value_at)?)),
        (3, _) => Ok(u32::from(r.u16(r.u32(value_at)? as usize)?)),
        (_, 0..=1) => r.u32(value_at),
        _ => r.u32(r.u32(value_at)? as usize),
    }
}

/// The bytes of each page's first strip (for single-strip page sets such as Ghostscript's).
pub fn first_strips<'a>(data: &'a [u8], pages: &[PageInfo]) -> Result<Vec<&'a [u8]>, TiffError> {
    pages
        .iter()
        .map(|p| {
            let (off, len) = p.first_strip.ok_or(TiffError::Truncated)?;
            let (off, len) = (off as usize, len as usize);
            data.get(off..off.checked_add(len).ok_or(TiffError::Truncated)?)
                .ok_or(TiffError::Truncated)
        })
        .collect()
}

/// Reads every page's facts.
pub fn read_pages(data: &[u8]) -> Result<Vec<PageInfo>, TiffError> {
    let little = match data.get(0..4) {
        Some(b"II*\0") => true,
        Some(b"MM\0*") => false,
        _ => return Err(TiffError::NotTiff),
    };
    let r = Reader { data, little };
    let mut offset = r.u32(4)? as usize;
    let mut seen = std::collections::HashSet::new();
    let mut pages = Vec::new();
    while offset != 0 {
        if !seen.insert(offset) || pages.len() >= MAX_IFDS {
            return Err(TiffError::Loop);
        }
        let count = r.u16(offset)? as usize;
        let mut page = PageInfo::default();
        for i in 0..count {
            let entry = offset + 2 + i * 12;
            let tag = r.u16(entry)?;
            let kind = r.u16(entry + 2)?;
            let n = r.u32(entry + 4)?;
            let value_at = entry + 8;
            let scalar = || -> Result<u32, TiffError> {
                match kind {
                    3 => Ok(u32::from(r.u16(value_at)?)),
                    _ => r.u32(value_at),
                }
            };
            let rational = || -> Result<f64, TiffError> {
                let at = r.u32(value_at)? as usize;
                let (num, den) = (r.u32(at)?, r.u32(at + 4)?);
                Ok(if den == 0 {
                    0.0
                } else {
                    f64::from(num) / f64::from(den)
                })
            };
            match tag {
                tag::IMAGE_WIDTH => page.width = scalar()?,
                tag::IMAGE_LENGTH => page.length = scalar()?,
                tag::COMPRESSION => page.compression = scalar()?,
                tag::PHOTOMETRIC => page.photometric = Some(scalar()?),
                tag::FILL_ORDER => page.fill_order = Some(scalar()?),
                tag::T4_OPTIONS => page.t4_options = Some(scalar()?),
                tag::STRIP_OFFSETS => {
                    page.strips = n;
                    let offset = first_of_array(&r, kind, n, value_at)?;
                    page.first_strip = Some((offset, page.first_strip.map_or(0, |(_, len)| len)));
                }
                tag::STRIP_BYTE_COUNTS => {
                    let len = first_of_array(&r, kind, n, value_at)?;
                    page.first_strip = Some((page.first_strip.map_or(0, |(off, _)| off), len));
                }
                tag::X_RESOLUTION => page.x_resolution = Some(rational()?),
                tag::Y_RESOLUTION => page.y_resolution = Some(rational()?),
                tag::RESOLUTION_UNIT => page.resolution_unit = Some(scalar()?),
                tag::PAGE_NUMBER if kind == 3 && n >= 2 => {
                    page.page_number =
                        Some((u32::from(r.u16(value_at)?), u32::from(r.u16(value_at + 2)?)))
                }
                _ => {}
            }
        }
        pages.push(page);
        offset = r.u32(offset + 2 + count * 12)? as usize;
    }
    if pages.is_empty() {
        return Err(TiffError::NoPages);
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A little-endian TIFF with `n` one-entry-each IFDs (width only), chained.
    fn chain(widths: &[u32], loop_back: bool) -> Vec<u8> {
        let mut v = b"II*\0".to_vec();
        v.extend_from_slice(&8u32.to_le_bytes());
        for (i, w) in widths.iter().enumerate() {
            let here = v.len() as u32;
            v.extend_from_slice(&1u16.to_le_bytes());
            v.extend_from_slice(&256u16.to_le_bytes());
            v.extend_from_slice(&4u16.to_le_bytes());
            v.extend_from_slice(&1u32.to_le_bytes());
            v.extend_from_slice(&w.to_le_bytes());
            let next = if i + 1 < widths.len() {
                here + 18
            } else if loop_back {
                8
            } else {
                0
            };
            v.extend_from_slice(&next.to_le_bytes());
        }
        v
    }

    #[test]
    fn reads_a_chain() {
        let pages = read_pages(&chain(&[1728, 1728, 2048], false)).unwrap();
        assert_eq!(
            pages.iter().map(|p| p.width).collect::<Vec<_>>(),
            vec![1728, 1728, 2048]
        );
    }

    #[test]
    fn bad_files() {
        assert_eq!(read_pages(b"%PDF-1.4"), Err(TiffError::NotTiff));
        assert_eq!(read_pages(b"II*\0\xff\0\0\0"), Err(TiffError::Truncated));
        assert_eq!(
            read_pages(&chain(&[1728, 1728], true)),
            Err(TiffError::Loop)
        );
        let mut empty = b"II*\0".to_vec();
        empty.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(read_pages(&empty), Err(TiffError::NoPages));
        let truncated = chain(&[1728], false);
        assert_eq!(read_pages(&truncated[..12]), Err(TiffError::Truncated));
    }
}
