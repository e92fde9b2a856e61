//! Decompression bombs in Office packages: a DOCX, XLSX, PPTX or OpenDocument file is a ZIP
//! archive, and one that declares more than `MAX_UNPACKED` bytes of content is refused before
//! LibreOffice is asked to unpack it. (Images are bounded in pixels by `raster`, page counts by
//! Ghostscript's `-dLastPage`, nesting by the MIME walk, time by the timeouts.) Pure.

use crate::ConvertError;

/// At most this much content in one Office package (1 GiB).
pub const MAX_UNPACKED: u64 = 1 << 30;

pub use faxhub_queue::files::zip_unpacked_size;

/// Refuses an Office package that would unpack to more than `MAX_UNPACKED`.
pub fn check_package(name: &str, bytes: &[u8]) -> Result<(), ConvertError> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return Ok(());
    }
    match zip_unpacked_size(bytes) {
        Some(n) if n > MAX_UNPACKED => Err(ConvertError::Damaged {
            part: name.to_string(),
            detail: format!(
                "it would unpack to {} MB, more than the {} MB allowed (a decompression bomb?)",
                n >> 20,
                MAX_UNPACKED >> 20
            ),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxhub_queue::files::{CENTRAL, EOCD};

    /// A stored (uncompressed) ZIP entry's local header, and its central directory record
    /// declaring `declared` bytes.
    fn zip(declared: u32) -> Vec<u8> {
        let name = b"word/document.xml";
        let mut z = Vec::new();
        z.extend_from_slice(b"PK\x03\x04");
        z.extend_from_slice(&[0; 22]);
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z.extend_from_slice(name);
        let central = z.len() as u32;
        z.extend_from_slice(&CENTRAL);
        z.extend_from_slice(&[0; 16]);
        z.extend_from_slice(&100u32.to_le_bytes()); // compressed
        z.extend_from_slice(&declared.to_le_bytes()); // uncompressed
        z.extend_from_slice(&(name.len() as u16).to_le_bytes());
        z.extend_from_slice(&[0; 14]);
        z.extend_from_slice(name);
        let size = z.len() as u32 - central;
        z.extend_from_slice(&EOCD);
        z.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
        z.extend_from_slice(&size.to_le_bytes());
        z.extend_from_slice(&central.to_le_bytes());
        z.extend_from_slice(&[0, 0]);
        z
    }

    #[test]
    fn declared_sizes_are_summed_and_bombs_refused() {
        assert_eq!(zip_unpacked_size(&zip(12_345)), Some(12_345));
        assert!(check_package("a.docx", &zip(12_345)).is_ok());
        let err = check_package("bomb.docx", &zip(u32::MAX)).unwrap_err();
        assert!(err.to_string().starts_with("bomb.docx: "), "{err}");
        assert_eq!(err.status().to_string(), "5.6.5");
        assert_eq!(zip_unpacked_size(b"PK\x03\x04 not really"), None);
    }

    #[test]
    fn real_office_files_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/office");
        let mut seen = 0;
        for sub in std::fs::read_dir(dir).unwrap() {
            for f in std::fs::read_dir(sub.unwrap().path()).unwrap() {
                let bytes = std::fs::read(f.unwrap().path()).unwrap();
                if bytes.starts_with(b"PK\x03\x04") {
                    assert!(zip_unpacked_size(&bytes).is_some_and(|n| n > 0));
                    seen += 1;
                }
            }
        }
        assert!(seen > 10, "{seen}");
    }
}
