//! The MIME walk (minimal): which parts of a message become pages, in order.
//!
//! The first text body (plain, or HTML reduced to text by mail-parser) becomes a text document
//! if it has any visible text; then each attachment in order: PDF (sniffed by its `%PDF-` magic,
//! whatever its declared type), images (PNG, JPEG, GIF, BMP, TIFF, sniffed) and text/plain
//! attachments become documents; signatures (S/MIME),
//! vCards and inline images belonging to an HTML body are ignored; anything else fails the job
//! with `Unsupported`, naming the attachment. Never a silently dropped part.

use crate::{ConvertError, Options, Paper, text};
use mail_parser::{MessageParser, MimeHeaders};

pub(crate) struct Document {
    name: String,
    kind: Kind,
    bytes: Vec<u8>,
}

/// How a document becomes pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Rendered by Ghostscript.
    PostScript,
    Pdf,
    /// Rasterised by `raster`.
    Image,
}

impl Document {
    pub fn new(name: String, kind: Kind, bytes: Vec<u8>) -> Document {
        Document { name, kind, bytes }
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn kind(&self) -> Kind {
        self.kind
    }
    pub fn extension(&self) -> &'static str {
        match self.kind {
            Kind::PostScript => "ps",
            Kind::Pdf => "pdf",
            Kind::Image => "img",
        }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Whether the bytes start like an image format `raster` reads.
fn is_image(bytes: &[u8]) -> bool {
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

const IGNORED_TYPES: &[&str] = &[
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "text/vcard",
    "text/x-vcard",
    "text/directory",
];

/// The message's documents in order, with its page options (defaults overridden by its
/// `X-Fax-*` headers) and notes about what was ignored.
pub(crate) fn documents(
    raw: &[u8],
    defaults: Options,
) -> Result<(Vec<Document>, Options, Vec<String>), ConvertError> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ConvertError::Unreadable)?;
    let (options, notes) = defaults.with_headers(message.headers_raw());
    let paper = &options.paper;
    let mut docs = Vec::new();
    let has_html = message.html_body_count() > 0;
    if let Some(body) = message.body_text(0).filter(|b| !b.trim().is_empty()) {
        docs.push(Document {
            name: "message text".into(),
            kind: Kind::PostScript,
            bytes: text::to_postscript(&body, *paper).into_bytes(),
        });
    }
    for (i, part) in message.attachments().enumerate() {
        let name = part
            .attachment_name()
            .map(str::to_string)
            .unwrap_or_else(|| format!("attachment {}", i + 1));
        let mime = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_else(|| "application/octet-stream".into());
        let contents = part.contents();
        if IGNORED_TYPES.contains(&mime.as_str()) {
            continue;
        }
        if contents.starts_with(b"%PDF-") {
            docs.push(Document {
                name,
                kind: Kind::Pdf,
                bytes: contents.to_vec(),
            });
        } else if mime == "application/pdf" {
            return Err(ConvertError::Damaged {
                part: name,
                detail: "it does not start like a PDF file".into(),
            });
        } else if part.is_message() {
            return Err(ConvertError::Unsupported {
                part: name,
                mime: "message/rfc822".into(),
            });
        } else if mime == "text/plain" {
            let body = part
                .text_contents()
                .map(str::to_string)
                .unwrap_or_else(|| String::from_utf8_lossy(contents).into_owned());
            docs.push(Document {
                name,
                kind: Kind::PostScript,
                bytes: text::to_postscript(&body, *paper).into_bytes(),
            });
        } else if has_html
            && mime.starts_with("image/")
            && part.content_id().is_some()
            && !part.is_content_type("image", "tiff")
        {
            // an image shown inside the HTML body (a logo in a signature)
        } else if is_image(contents) {
            docs.push(Document {
                name,
                kind: Kind::Image,
                bytes: contents.to_vec(),
            });
        } else {
            return Err(ConvertError::Unsupported { part: name, mime });
        }
    }
    if docs.is_empty() {
        return Err(ConvertError::Empty);
    }
    Ok((docs, options, notes))
}

/// A standalone file as a document, typed by its content (then its name for text).
pub(crate) fn document_for_file(
    name: &str,
    bytes: &[u8],
    paper: &Paper,
) -> Result<Document, ConvertError> {
    let name = name.to_string();
    if bytes.starts_with(b"%PDF-") {
        Ok(Document {
            name,
            kind: Kind::Pdf,
            bytes: bytes.to_vec(),
        })
    } else if is_image(bytes) {
        Ok(Document {
            name,
            kind: Kind::Image,
            bytes: bytes.to_vec(),
        })
    } else if name.to_ascii_lowercase().ends_with(".txt") {
        let text = String::from_utf8_lossy(bytes);
        Ok(Document {
            name,
            kind: Kind::PostScript,
            bytes: text::to_postscript(&text, *paper).into_bytes(),
        })
    } else {
        Err(ConvertError::Unsupported {
            part: name,
            mime: "application/octet-stream".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Resolution;

    fn docs(raw: &[u8]) -> Result<Vec<Document>, ConvertError> {
        let defaults = Options {
            paper: Paper::A4,
            resolution: Resolution::Fine,
        };
        documents(raw, defaults).map(|(d, _, _)| d)
    }

    const PLAIN: &[u8] =
        b"From: a@example.com\r\nTo: 0169293999@fax.localhost\r\nSubject: hi\r\n\r\nHello fax\r\n";

    fn multipart(attachment_headers: &str, body: &str) -> Vec<u8> {
        format!(
            "From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\n{attachment_headers}\r\n\r\n{body}\r\n--b--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn plain_body_is_one_text_document() {
        let docs = docs(PLAIN).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].extension(), "ps");
        assert!(String::from_utf8_lossy(docs[0].bytes()).contains("(Hello fax) show"));
    }

    #[test]
    fn pdf_attachment_is_sniffed() {
        let raw = multipart(
            "Content-Type: application/octet-stream; name=\"scan.bin\"\r\nContent-Disposition: attachment; filename=\"scan.bin\"",
            "%PDF-1.4 ...",
        );
        let docs = docs(&raw).unwrap();
        assert_eq!(
            docs.iter().map(|d| d.extension()).collect::<Vec<_>>(),
            vec!["ps", "pdf"]
        );
        assert_eq!(docs[1].name(), "scan.bin");
    }

    #[test]
    fn unsupported_and_damaged_parts_are_named() {
        let docx = multipart(
            "Content-Type: application/msword; name=\"report.doc\"\r\nContent-Disposition: attachment; filename=\"report.doc\"",
            "xxxx",
        );
        assert_eq!(
            docs(&docx).err().map(|e| e.to_string()),
            Some("report.doc: files of this type (application/msword) can't be faxed yet".into())
        );
        let fake = multipart(
            "Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment",
            "not a pdf",
        );
        assert!(matches!(docs(&fake), Err(ConvertError::Damaged { .. })));
    }

    #[test]
    fn empty_message_and_signatures() {
        let empty = b"From: a@example.com\r\nSubject: x\r\n\r\n  \r\n";
        assert_eq!(docs(empty).err(), Some(ConvertError::Empty));
        let signed = multipart(
            "Content-Type: application/pkcs7-signature; name=\"smime.p7s\"",
            "MIAGCSqGSIb3",
        );
        assert_eq!(docs(&signed).unwrap().len(), 1);
    }
}
