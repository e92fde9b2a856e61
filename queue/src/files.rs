//! Reading a file someone else may have put there: never a blocking open of a FIFO or a device,
//! never more than a limit, never through a symbolic link unless told to.
//!
//! The file is opened with `O_NONBLOCK` (a FIFO with no writer cannot hang the open) and, for
//! agents' folders, `O_NOFOLLOW`; it must be a regular file on the open descriptor (no race with
//! a rename); it is read up to `limit` bytes, a larger one refused by its size before a byte is
//! read (a sparse file of a terabyte costs nothing). The one way for the agents (shares other
//! machines write to) and the CLI (`send`, `convert`, configuration files) to read such files.
//! And what a ZIP archive (an Office package, a broadcast list) declares it unpacks to, read
//! from its central directory before anything is unpacked (`zip_unpacked_size`).

use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file itself is the problem (a link, a device, a FIFO, too large).
    #[error("{0}")]
    Refused(String),
    /// Reading failed (permissions, a disk error).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Whether a symbolic link may be followed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// The path names a file the caller chose (a command-line argument).
    Follow,
    /// The path is in a folder others write to: a link is refused.
    Refuse,
}

/// The bytes of the regular file at `path`, at most `limit` of them.
pub fn read_regular(path: &Path, limit: u64, links: Links) -> Result<Vec<u8>, ReadError> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let flags = match links {
        Links::Follow => libc::O_NONBLOCK,
        Links::Refuse => libc::O_NOFOLLOW | libc::O_NONBLOCK,
    };
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if links == Links::Refuse && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(ReadError::Refused(
                "a symbolic link, which faxhub never follows nor reads".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::Refused(kind(&meta)));
    }
    let too_large = || ReadError::Refused(format!("larger than the {} allowed", size(limit)));
    if meta.len() > limit {
        return Err(too_large());
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

/// `limit` in words: "256 MB", "512 KB", "100 bytes".
fn size(limit: u64) -> String {
    match limit {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KB", n >> 10),
        n if n >= 1_000_000 => format!("{} MB", n / 1_000_000),
        n => format!("{n} bytes"),
    }
}

/// What a file that is not regular is, in words.
pub fn kind(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    };
    format!("{what}, which faxhub never follows nor reads")
}

/// The signatures of a ZIP archive's end record and of a central directory record.
pub const EOCD: [u8; 4] = [0x50, 0x4b, 0x05, 0x06];
pub const CENTRAL: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

/// The total uncompressed size a ZIP archive's central directory declares; `None` if the
/// bytes have no readable central directory (not a ZIP file, or a damaged one).
pub fn zip_unpacked_size(bytes: &[u8]) -> Option<u64> {
    // the end record is in the last 64 KiB + 22 bytes (its comment is at most 65,535 bytes)
    let from = bytes.len().saturating_sub(65_535 + 22);
    let eocd = from + bytes[from..].windows(4).rposition(|w| w == EOCD)?;
    let entries = u16_at(bytes, eocd + 10)?;
    let mut at = usize::try_from(u32_at(bytes, eocd + 16)?).ok()?;
    let mut total: u64 = 0;
    for _ in 0..entries {
        if bytes.get(at..at + 4)? != CENTRAL {
            return None;
        }
        // ZIP64 entries say 0xFFFFFFFF here: counted as such, which is already too much
        total = total.saturating_add(u32_at(bytes, at + 24)?);
        let name = u16_at(bytes, at + 28)? as usize;
        let extra = u16_at(bytes, at + 30)? as usize;
        let comment = u16_at(bytes, at + 32)? as usize;
        at += 46 + name + extra + comment;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_fifos_links_and_large_files_are_refused_without_reading_them() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |path: &Path, links| match read_regular(path, 1 << 20, links) {
            Err(ReadError::Refused(why)) => why,
            other => panic!("{}: {other:?}", path.display()),
        };
        assert!(refused(Path::new("/dev/zero"), Links::Follow).starts_with("a device"));
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // a FIFO with no writer: the open returns at once (non-blocking), then it is refused
        assert!(refused(&fifo, Links::Follow).starts_with("a FIFO"));
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(1 << 40)
            .unwrap();
        assert_eq!(
            refused(&sparse, Links::Follow),
            "larger than the 1 MB allowed"
        );
        let file = dir.path().join("ok.txt");
        std::fs::write(&file, b"fax").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(refused(&link, Links::Refuse).starts_with("a symbolic link"));
        assert_eq!(read_regular(&link, 10, Links::Follow).unwrap(), b"fax");
        assert!(refused(dir.path(), Links::Follow).starts_with("a directory"));
    }
}
