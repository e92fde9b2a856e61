//! Pictures the Rust decoders refuse get a second reader before the part is called damaged:
//! HEIF and AVIF (the iPhone's photos) go through libheif's `heif-convert`, a JPEG whose
//! stream is broken through libjpeg-turbo's `djpeg`, which draws what it can read. Both are
//! Debian's, run in the converters' sandbox like every tool (its memory, CPU and file-size
//! ceilings bound what a hostile file makes them do); a JPEG's size is checked from its header
//! before `djpeg` writes a pixel. What they write (JPEG, PGM) is then read by `raster` like any
//! picture, within its pixel bound.
//!
//! In: a picture's name and bytes. Out: the plan of the run (`Fallback`), and the files the
//! tool wrote, in page order. Pure apart from reading the work directory.

use crate::{ConvertError, raster};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// libheif's decoder (Debian's libheif-examples).
pub(crate) const HEIF_CONVERT: &str = "heif-convert";
/// libheif's lister of the pictures in a file and their sizes.
pub(crate) const HEIF_INFO: &str = "heif-info";
/// libjpeg-turbo's decoder (Debian's libjpeg-turbo-progs).
pub(crate) const DJPEG: &str = "djpeg";

/// A second reader for a picture, and where it reads and writes in the work directory.
pub(crate) struct Fallback {
    pub tool: &'static str,
    /// What the tool reads (the picture, past any junk before a JPEG's header).
    pub input: PathBuf,
    /// What it writes; `heif-convert` numbers its files (`stem-1.jpg`…) when there are several.
    pub output: PathBuf,
    pub args: Vec<OsString>,
    /// Where the picture starts in the part's bytes.
    pub start: usize,
    /// The tool and arguments that list the pictures in the file first (HEIF, whose sizes are
    /// deep in its boxes: `heif-info`), to be checked by `check_survey` before decoding.
    pub survey: Option<(&'static str, Vec<OsString>)>,
}

impl Fallback {
    /// The second reader for `bytes`, written as `part<index>` in `workdir`; `None` when there
    /// is none (not a HEIF, not a JPEG, or a JPEG whose header gives no size or too large a
    /// one: `djpeg` is not let loose on a picture whose size nobody checked).
    pub(crate) fn for_picture(bytes: &[u8], index: usize, workdir: &Path) -> Option<Fallback> {
        let stem = format!("part{index}");
        if raster::is_heif(bytes) {
            // JPEG, not PNG: libheif 1.15 writes an empty PNG (and exits 0) for a picture with a
            // grey ICC profile; the fax is black and white, so JPEG's loss is no loss
            let (input, output) = (
                workdir.join(format!("{stem}.heic")),
                workdir.join(format!("{stem}-decoded.jpg")),
            );
            let args = vec![
                "--quiet".into(),
                "-q".into(),
                "95".into(),
                input.clone().into(),
                output.clone().into(),
            ];
            let survey = Some((HEIF_INFO, vec![input.clone().into()]));
            return Some(Fallback {
                tool: HEIF_CONVERT,
                input,
                output,
                args,
                start: 0,
                survey,
            });
        }
        let start = raster::jpeg_start(bytes)?;
        raster::jpeg_size_fits(&bytes[start..])?;
        let (input, output) = (
            workdir.join(format!("{stem}.jpg")),
            workdir.join(format!("{stem}-decoded.pgm")),
        );
        let args = vec![
            "-grayscale".into(),
            "-outfile".into(),
            output.clone().into(),
            input.clone().into(),
        ];
        Some(Fallback {
            tool: DJPEG,
            input,
            output,
            args,
            start,
            survey: None,
        })
    }

    /// Whether the tool's exit status means it wrote a picture: `djpeg` exits 2 when it
    /// recovered from damage (and drew grey for what it could not read).
    pub(crate) fn succeeded(&self, code: Option<i32>) -> bool {
        code == Some(0) || (self.tool == DJPEG && code == Some(2))
    }

    /// The files the tool wrote, in page order: `output` itself, else its numbered siblings
    /// (`stem-1.jpg`, `stem-2.jpg`…), at most `max` of them.
    pub(crate) fn written(&self, max: usize) -> Vec<PathBuf> {
        if self.output.is_file() {
            return vec![self.output.clone()];
        }
        let (Some(stem), Some(ext)) = (self.output.file_stem(), self.output.extension()) else {
            return Vec::new();
        };
        let dir = self.output.parent().unwrap_or(Path::new("."));
        (1..=max)
            .map(|n| {
                let mut name = stem.to_os_string();
                name.push(format!("-{n}."));
                name.push(ext);
                dir.join(name)
            })
            .take_while(|path| path.is_file())
            .collect()
    }
}

/// Whether the pictures `heif-info` lists (`image: 4032x3024 (id=1), primary`, one line per
/// picture at the start of a line) may be decoded: at least one, at most `max_pages`, each within
/// `raster::MAX_PIXELS`. A HEIF can make one coded tile into many large pictures: this keeps
/// `heif-convert` from writing them.
pub(crate) fn check_survey(listing: &str, name: &str, max_pages: u32) -> Result<(), ConvertError> {
    let damaged = |detail: String| ConvertError::Damaged {
        part: name.to_string(),
        detail,
    };
    let mut count = 0u32;
    for line in listing.lines() {
        let Some(rest) = line.strip_prefix("image: ") else {
            continue;
        };
        let size = rest.split_whitespace().next().unwrap_or("");
        let (w, h) = size
            .split_once('x')
            .and_then(|(w, h)| Some((w.parse::<u64>().ok()?, h.parse::<u64>().ok()?)))
            .ok_or_else(|| damaged(format!("libheif gives it no size ({size:?})")))?;
        if w == 0 || h == 0 || w * h > raster::MAX_PIXELS {
            return Err(damaged(format!("{w}×{h} pixels is too large an image")));
        }
        count += 1;
    }
    if count == 0 {
        return Err(damaged("libheif finds no picture in it".into()));
    }
    if count > max_pages {
        return Err(ConvertError::TooManyPages {
            part: name.to_string(),
            pages: count,
            max: max_pages,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heif_and_jpeg_get_their_decoder_and_nothing_else_does() {
        let dir = Path::new("/w");
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        let plan = Fallback::for_picture(heic, 3, dir).unwrap();
        assert_eq!((plan.tool, plan.start), (HEIF_CONVERT, 0));
        assert_eq!(plan.input, dir.join("part3.heic"));
        assert_eq!(plan.survey.unwrap().0, HEIF_INFO);
        // a JPEG header with a size, after junk
        let mut jpeg = vec![b'x'; 100];
        jpeg.extend_from_slice(&[
            0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0, 10, 0, 20, 1, 1, 0x11, 0,
        ]);
        let plan = Fallback::for_picture(&jpeg, 0, dir).unwrap();
        assert_eq!((plan.tool, plan.start), (DJPEG, 100));
        assert!(plan.succeeded(Some(2)) && !plan.succeeded(Some(1)) && !plan.succeeded(None));
        // a JPEG saying it is 65535 × 65535 pixels is not handed to djpeg
        let bomb = [
            0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0,
        ];
        assert!(Fallback::for_picture(&bomb, 0, dir).is_none());
        for other in [
            &b"\x89PNG\r\n\x1a\n...."[..],
            b"%PDF-1.4",
            b"",
            b"\xff\xd8\xff\xe0",
        ] {
            assert!(Fallback::for_picture(other, 0, dir).is_none(), "{other:?}");
        }
    }

    #[test]
    fn numbered_outputs_are_taken_in_order_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Fallback::for_picture(b"\0\0\0\x10ftypmif1\0\0\0\0", 0, dir.path()).unwrap();
        assert!(plan.written(10).is_empty());
        for n in [1, 2, 3, 5] {
            std::fs::write(dir.path().join(format!("part0-decoded-{n}.jpg")), b"x").unwrap();
        }
        let names: Vec<_> = plan
            .written(10)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "part0-decoded-1.jpg",
                "part0-decoded-2.jpg",
                "part0-decoded-3.jpg"
            ]
        );
        assert_eq!(plan.written(2).len(), 2);
        std::fs::write(&plan.output, b"x").unwrap();
        assert_eq!(plan.written(10), vec![plan.output.clone()]);
    }

    #[test]
    fn a_heif_survey_bounds_count_and_size() {
        let one = "MIME type: image/heic\nmain brand: heic\n\nimage: 4032x3024 (id=1), primary\n  \
                   thumbnail: 320x240\n  color profile: prof\n";
        assert_eq!(check_survey(one, "a.heic", 3), Ok(()));
        let many = "image: 10x10 (id=1), primary\nimage: 10x10 (id=2)\nimage: 10x10 (id=3)\n";
        assert_eq!(check_survey(many, "a.heic", 3), Ok(()));
        assert!(matches!(
            check_survey(many, "a.heic", 2),
            Err(ConvertError::TooManyPages {
                pages: 3,
                max: 2,
                ..
            })
        ));
        for bad in [
            "image: 32768x32768 (id=1), primary",
            "image: 0x5",
            "image: axb",
            "nothing",
        ] {
            assert!(
                matches!(check_survey(bad, "a.heic", 3), Err(ConvertError::Damaged { part, .. }) if part == "a.heic"),
                "{bad}"
            );
        }
    }
}
