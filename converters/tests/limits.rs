//! Bad input gets a clear answer in bounded time: page bombs stop one page past the limit,
//! a document that never ends is stopped at the timeout, decompression bombs are refused
//! before they unpack; each error names the part and carries its status code.

use faxhub_converters::{ConvertConfig, ConvertError, Converter};
use std::time::Duration;

fn converter(timeout: Duration) -> Converter {
    Converter::new(ConvertConfig {
        tool_timeout: timeout,
        max_pages: 20,
        ..ConvertConfig::default()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_bomb_stops_one_page_past_the_limit() {
    let work = tempfile::tempdir().unwrap();
    let bomb = b"%!PS\n1 1 1000000 { pop showpage } for\n";
    // stopped by the page limit, not by the 60 s time-out (which would be another error)
    let err = converter(Duration::from_secs(60))
        .convert_file("bomb.ps", bomb, work.path())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConvertError::TooManyPages {
            part: "bomb.ps".into(),
            pages: 21,
            max: 20
        },
        "{err}"
    );
    assert_eq!(err.status().to_string(), "5.3.4");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_document_that_never_ends_is_stopped_and_named() {
    let work = tempfile::tempdir().unwrap();
    let err = converter(Duration::from_secs(3))
        .convert_file("forever.ps", b"%!PS\n{ 1 pop } loop\n", work.path())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConvertError::Timeout { part, .. } if part == "forever.ps"),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("forever.ps: "), "{err}");
    assert_eq!(err.status().to_string(), "5.6.5");
    // the whole run, then the part on its own: each ended by its 3 s time-out (the Timeout
    // error above), not a hang
}

#[tokio::test(flavor = "multi_thread")]
async fn an_office_package_that_unpacks_to_gigabytes_is_refused_unopened() {
    // a DOCX whose one entry declares 4 GB: stored, 10 bytes actually there
    let name = b"word/document.xml";
    let mut z = Vec::new();
    z.extend_from_slice(b"PK\x03\x04");
    z.extend_from_slice(&[0; 22]);
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    z.extend_from_slice(name);
    z.extend_from_slice(b"0123456789");
    let central = z.len() as u32;
    z.extend_from_slice(b"PK\x01\x02");
    z.extend_from_slice(&[0; 16]);
    z.extend_from_slice(&10u32.to_le_bytes());
    z.extend_from_slice(&u32::MAX.to_le_bytes());
    z.extend_from_slice(&(name.len() as u16).to_le_bytes());
    z.extend_from_slice(&[0; 14]);
    z.extend_from_slice(name);
    let size = z.len() as u32 - central;
    z.extend_from_slice(b"PK\x05\x06\0\0\0\0\x01\0\x01\0");
    z.extend_from_slice(&size.to_le_bytes());
    z.extend_from_slice(&central.to_le_bytes());
    z.extend_from_slice(&[0, 0]);
    let work = tempfile::tempdir().unwrap();
    let err = converter(Duration::from_secs(60))
        .convert_file("report.docx", &z, work.path())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with("report.docx: ") && err.to_string().contains("unpack"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_broken_attachment_beside_a_good_body_fails_the_job_by_its_name() {
    // Ghostscript renders the body's page and skips the broken PDF with exit status 0: the job
    // must fail naming the attachment, not go out without it
    let work = tempfile::tempdir().unwrap();
    let mail = b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
See the attachment\r\n--b\r\nContent-Type: application/pdf; name=\"broken.pdf\"\r\n\
Content-Disposition: attachment; filename=\"broken.pdf\"\r\n\r\n%PDF-1.4 this is not a PDF at all\r\n--b--\r\n";
    let path = work.path().join("mail.eml");
    std::fs::write(&path, mail).unwrap();
    let err = converter(Duration::from_secs(60))
        .convert(&path, work.path())
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("broken.pdf: "), "{err}");
    assert!(err.status().to_string().starts_with("5.6."), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn too_many_pages_names_the_attachment_that_went_past_the_limit() {
    // two PostScript attachments of 12 pages each, rendered in one Ghostscript run: the fax
    // goes past 20 pages with the second, which the refusal names
    let pages = "%!PS\n1 1 12 { pop showpage } for\n";
    let part = |name: &str| {
        format!(
            "--b\r\nContent-Type: application/postscript; name=\"{name}\"\r\n\
             Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{pages}\r\n"
        )
    };
    let mail = format!(
        "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n{}{}--b--\r\n",
        part("first.ps"),
        part("second.ps")
    );
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("mail.eml");
    std::fs::write(&path, mail).unwrap();
    let err = converter(Duration::from_secs(60))
        .convert(&path, work.path())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConvertError::TooManyPages { part, max: 20, .. } if part == "second.ps"),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("second.ps: "), "{err}");
    assert_eq!(err.status().to_string(), "5.3.4");
}
