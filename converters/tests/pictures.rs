//! The pictures people attach are faxed even when the Rust decoders refuse them: an iPhone's
//! HEIC photo (made here with Debian's `heif-enc`), a JPEG with 4 KB of junk before its header,
//! an arithmetic-coded JPEG (libjpeg reads it), a BMP carrying a PNG or a JPEG. Each test first
//! shows that the Rust decoder alone refuses the file (the control), then reads the fax page
//! back with Tesseract. A picture nobody can read is still refused, named, as damaged.

mod common;

use base64::Engine;
use common::{ocr, pages_as_pgm, run};
use faxhub_converters::{ConvertConfig, ConvertError, Converter};
use std::path::Path;
use std::time::Duration;

fn converter(scratch: &Path) -> Converter {
    Converter::new(ConvertConfig {
        tool_timeout: Duration::from_secs(60),
        max_pages: 3,
        ..ConvertConfig::default()
    })
    .with_scratch(scratch.to_path_buf())
}

/// A picture of three lines of large text, as `device` (pnggray, jpeggray) writes it (with a
/// grey ICC profile).
fn picture(dir: &Path, device: &str, file: &str) -> Vec<u8> {
    // portrait: a landscape picture is turned on the page
    let ps = "%!PS\n<< /PageSize [300 320] >> setpagedevice\n\
              /Helvetica-Bold findfont 32 scalefont setfont\n\
              20 250 moveto (PHOTO 4711) show\n20 150 moveto (INVOICE 2024) show\n\
              20 50 moveto (LAST LINE 88) show\nshowpage\n";
    std::fs::write(dir.join("picture.ps"), ps).unwrap();
    let out = format!("-sOutputFile={file}");
    let dev = format!("-sDEVICE={device}");
    run(
        "gs",
        &[
            "-q",
            "-dSAFER",
            "-dBATCH",
            "-dNOPAUSE",
            &dev,
            "-r200",
            &out,
            "picture.ps",
        ],
        dir,
    );
    std::fs::read(dir.join(file)).unwrap()
}

/// `bytes` faxed as the file `name` and as a mail's attachment of type `mime`; each read back.
async fn fax_both_ways(dir: &Path, name: &str, mime: &str, bytes: &[u8]) -> Vec<String> {
    let converter = converter(dir);
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mail = format!(
        "From: a@example.com\r\nTo: 0169293999@fax.localhost\r\nSubject: photo\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: {mime}; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{b64}\r\n--b--\r\n"
    );
    let mut read = Vec::new();
    for (k, (file, content)) in [(name, bytes), ("mail.eml", mail.as_bytes())]
        .into_iter()
        .enumerate()
    {
        let work = dir.join(format!("work-{name}-{k}"));
        std::fs::create_dir_all(&work).unwrap();
        let set = converter
            .convert_file(file, content, &work)
            .await
            .unwrap_or_else(|e| panic!("{file} ({name}): {e}"));
        assert_eq!(set.pages, 1, "{file} ({name})");
        read.push(ocr(&pages_as_pgm(&set.tiff, &work)));
    }
    read
}

fn assert_read(read: &[String], lines: &[&str]) {
    for text in read {
        for line in lines {
            assert!(text.contains(line), "{line:?} not read in:\n{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_iphone_heic_photo_is_faxed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    picture(d, "pnggray", "photo.png");
    run(
        "heif-enc",
        &["-q", "90", "photo.png", "-o", "IMG_0042.HEIC"],
        d,
    );
    let heic = std::fs::read(d.join("IMG_0042.HEIC")).unwrap();
    assert!(
        image::load_from_memory(&heic).is_err(),
        "the control: the Rust decoder reads HEIC?"
    );
    let read = fax_both_ways(d, "IMG_0042.HEIC", "image/heic", &heic).await;
    assert_read(&read, &["PHOTO 4711", "INVOICE 2024", "LAST LINE 88"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_jpeg_with_junk_before_its_header_is_faxed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jpeg = picture(d, "jpeggray", "scan.jpg");
    // 4 KB a scanner's driver left in front (no JPEG marker in it)
    let mut junked: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8 & 0x7f).collect();
    junked.extend_from_slice(&jpeg);
    assert!(image::load_from_memory(&junked).is_err(), "the control");
    let read = fax_both_ways(d, "scan.jpg", "image/jpeg", &junked).await;
    assert_read(&read, &["PHOTO 4711", "LAST LINE 88"]);
}

/// An arithmetic-coded JPEG (which the Rust decoder does not read) is read by libjpeg; a JPEG
/// cut short is faxed as far as it came (the Rust decoder reads that itself).
#[tokio::test(flavor = "multi_thread")]
async fn jpegs_the_rust_decoder_refuses_or_that_were_cut_short_are_faxed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    picture(d, "ppmraw", "photo.ppm");
    run(
        "cjpeg",
        &["-arithmetic", "-outfile", "arith.jpg", "photo.ppm"],
        d,
    );
    let arith = std::fs::read(d.join("arith.jpg")).unwrap();
    assert!(image::load_from_memory(&arith).is_err(), "the control");
    let read = fax_both_ways(d, "arith.jpg", "image/jpeg", &arith).await;
    assert_read(&read, &["PHOTO 4711", "LAST LINE 88"]);
    let jpeg = picture(d, "jpeggray", "photo.jpg");
    let cut = &jpeg[..jpeg.len() * 6 / 10];
    let read = fax_both_ways(d, "photo.jpg", "image/jpeg", cut).await;
    assert_read(&read, &["PHOTO 4711"]);
}

/// A BMP whose pixels are the `inner` PNG or JPEG (`compression` 5 or 4).
fn bmp_around(inner: &[u8], compression: u32) -> Vec<u8> {
    let (file_header, info_header) = (14u32, 40u32);
    let offset = file_header + info_header;
    let mut bmp = b"BM".to_vec();
    bmp.extend_from_slice(&(offset + inner.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&offset.to_le_bytes());
    bmp.extend_from_slice(&info_header.to_le_bytes());
    bmp.extend_from_slice(&833i32.to_le_bytes()); // width and height: the inner picture's
    bmp.extend_from_slice(&889i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes());
    bmp.extend_from_slice(&0u16.to_le_bytes()); // bits per pixel: the inner picture's
    bmp.extend_from_slice(&compression.to_le_bytes());
    bmp.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    bmp.extend_from_slice(&[0; 16]);
    bmp.extend_from_slice(inner);
    bmp
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bmp_carrying_a_png_or_a_jpeg_is_faxed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let png = picture(d, "pnggray", "inner.png");
    let jpeg = picture(d, "jpeggray", "inner.jpg");
    for (name, bmp) in [
        ("png.bmp", bmp_around(&png, 5)),
        ("jpeg.bmp", bmp_around(&jpeg, 4)),
    ] {
        assert!(
            image::load_from_memory(&bmp).is_err(),
            "the control: {name}"
        );
        let read = fax_both_ways(d, name, "image/bmp", &bmp).await;
        assert_read(&read, &["PHOTO 4711", "LAST LINE 88"]);
    }
}

/// What nobody can read is refused as damaged, named, with a permanent code: a HEIC of junk, a
/// JPEG whose header claims 65535 × 65535 pixels (never handed to djpeg), a BMP whose inner
/// picture is junk.
#[tokio::test(flavor = "multi_thread")]
async fn pictures_nobody_can_read_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic.extend(std::iter::repeat_n(0x5a, 5000));
    let mut bomb = vec![
        0xff, 0xd8, 0xff, 0xc0, 0, 11, 8, 0xff, 0xff, 0xff, 0xff, 1, 1, 0x11, 0,
    ];
    bomb.extend(std::iter::repeat_n(0x33, 5000));
    let mut bmp = bmp_around(b"\x89PNG\r\n\x1a\n", 5);
    bmp.extend(std::iter::repeat_n(0, 100));
    let converter = converter(d);
    for (name, bytes) in [("IMG_1.HEIC", heic), ("huge.jpg", bomb), ("odd.bmp", bmp)] {
        let err = converter
            .convert_file(name, &bytes, d)
            .await
            .expect_err(name);
        assert!(
            matches!(&err, ConvertError::Damaged { part, .. } if part == name),
            "{name}: {err:?}"
        );
        assert_eq!(err.status().to_string(), "5.6.5", "{name}: {err}");
    }
}

/// A HEIF holding more pictures than a fax may have pages is refused, named, before any is
/// decoded (libheif's listing is read first). The control: `heif-convert` alone writes them all.
#[tokio::test(flavor = "multi_thread")]
async fn a_heic_with_more_pictures_than_pages_is_refused_before_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    picture(d, "pnggray", "photo.png");
    let mut args = vec!["-q", "50"];
    args.extend(["photo.png"; 5]);
    args.extend(["-o", "burst.heic"]);
    run("heif-enc", &args, d);
    let heic = std::fs::read(d.join("burst.heic")).unwrap();
    let control = d.join("control");
    std::fs::create_dir_all(&control).unwrap();
    run("heif-convert", &["burst.heic", "control/out.jpg"], d);
    assert_eq!(
        std::fs::read_dir(&control).unwrap().count(),
        5,
        "the control"
    );
    let work = d.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let err = converter(d)
        .convert_file("burst.heic", &heic, &work)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConvertError::TooManyPages { part, pages: 5, max: 3 } if part == "burst.heic"),
        "{err:?}"
    );
    let decoded = std::fs::read_dir(&work)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("decoded")
        })
        .count();
    assert_eq!(decoded, 0, "pictures were decoded before the refusal");
}
