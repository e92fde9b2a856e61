//! The MIME walk: which parts of a message become pages, in order.
//!
//! The body first (by `body` policy: a body that is empty or only a signature makes no page):
//! in `multipart/alternative` the HTML, made printable with the `cid:` images it shows
//! (`html`), else the plain text. Then each attachment in order, typed by its content first and
//! its declared type and name second: PDF, Office files, HTML, text, images; a forwarded
//! `message/rfc822` becomes a page with its headers, then its own parts; a `winmail.dat`
//! (TNEF) gives its rich body and its files under their long names. S/MIME and PGP
//! signatures, vCards and images the HTML body shows are not pages; anything else fails the
//! job with `Unsupported` naming the attachment, or is left out with a note when
//! `unknown_parts = "skip"`. Never a silently dropped part.

use crate::cover::CoverFields;
use crate::{BodyPolicy, UnknownParts};
use crate::{ConvertError, Options, Paper, html, raster, text, tnef};
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders};
use std::collections::{HashMap, HashSet};

#[derive(Clone)]
pub(crate) struct Document {
    name: String,
    kind: Kind,
    bytes: Vec<u8>,
    /// Files the document refers to by name (an HTML body's `cid:` images).
    resources: Vec<(String, Vec<u8>)>,
}

/// How a document becomes pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Rendered by Ghostscript.
    PostScript,
    Pdf,
    /// Rasterised by `raster`.
    Image,
    /// Word, Excel, PowerPoint, OpenDocument, RTF: made a PDF by the LibreOffice farm first.
    Office,
    /// HTML made printable (`html::printable`), laid out by the LibreOffice farm.
    Html,
}

impl Document {
    pub fn new(name: String, kind: Kind, bytes: Vec<u8>) -> Document {
        Document {
            name,
            kind,
            bytes,
            resources: Vec::new(),
        }
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
            Kind::Office => "office",
            Kind::Html => "html",
        }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
    pub fn resources(&self) -> &[(String, Vec<u8>)] {
        &self.resources
    }
    /// The same document with the files it refers to by name.
    pub fn with_resources(mut self, files: Vec<(String, Vec<u8>)>) -> Document {
        self.resources = files;
        self
    }
}

/// PostScript (rendered by Ghostscript under -dSAFER, like PDF), with or without the DOS EPS
/// binary header.
fn is_postscript(bytes: &[u8]) -> bool {
    bytes.starts_with(b"%!PS") || bytes.starts_with(b"\xc5\xd0\xd3\xc6")
}

/// Whether the bytes start like an image format `raster` reads.
fn is_image(bytes: &[u8]) -> bool {
    raster::is_picture(bytes) || raster::is_heif(bytes)
}

/// Whether a part said to be a picture (by its type or a JPEG name) is a JPEG with junk before
/// its header: a JPEG is looked for in it only then, never in other files (a PDF or an Office
/// file may carry JPEGs of its own).
fn is_jpeg_after_junk(name: &str, mime: &str, bytes: &[u8]) -> bool {
    let named = name.rsplit_once('.').is_some_and(|(_, e)| {
        ["jpg", "jpeg", "jfif", "jpe"].contains(&e.to_ascii_lowercase().as_str())
    });
    (mime.starts_with("image/") || named) && raster::jpeg_start(bytes).is_some()
}

const IGNORED_TYPES: &[&str] = &[
    "application/pkcs7-signature",
    "application/x-pkcs7-signature",
    "application/pgp-signature",
    "text/vcard",
    "text/x-vcard",
    "text/directory",
];

/// How the walk treats the body and parts it can't convert (from `[convert]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub body: BodyPolicy,
    pub unknown_parts: UnknownParts,
    /// The message text goes on the cover page (when there is one) instead of a page of its own.
    pub body_on_cover: bool,
}

/// What the walk found: the documents in order, the page options (defaults overridden by the
/// message's `X-Fax-*` headers), notes about what was ignored, and what a cover page says
/// (when the message gets one).
pub(crate) struct Walked {
    pub docs: Vec<Document>,
    pub options: Options,
    pub notes: Vec<String>,
    pub cover: Option<CoverFields>,
}

fn utf16_to_utf8(raw: &[u8]) -> Option<String> {
    let (little, body) = match raw {
        [0xff, 0xfe, rest @ ..] => (true, rest),
        [0xfe, 0xff, rest @ ..] => (false, rest),
        _ => return None,
    };
    let units = body.chunks_exact(2).map(|c| {
        if little {
            u16::from_le_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], c[1]])
        }
    });
    Some(
        char::decode_utf16(units)
            .map(|c| c.unwrap_or('\u{fffd}'))
            .collect(),
    )
}

/// Extensions LibreOffice is asked to open (the content must also look like an office file).
pub(crate) const OFFICE_EXTENSIONS: &[&str] = &[
    "doc", "docx", "docm", "dot", "dotx", "xls", "xlsx", "xlsm", "xlsb", "xlt", "ppt", "pptx",
    "pptm", "pps", "ppsx", "odt", "ods", "odp", "odg", "ott", "ots", "rtf",
];

/// Whether a part is an office document: an OLE2 compound file (doc, xls, ppt), an RTF file, a
/// flat OpenDocument file (by its root element), or a ZIP package with an office extension or an
/// office media type.
fn is_office(name: &str, mime: &str, bytes: &[u8]) -> bool {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let office_name = OFFICE_EXTENSIONS.contains(&ext.as_str());
    let office_type = [
        "msword",
        "ms-excel",
        "ms-powerpoint",
        "officedocument",
        "opendocument",
        "rtf",
    ]
    .iter()
    .any(|t| mime.contains(t));
    if bytes.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") || bytes.starts_with(b"{\\rtf") {
        return true;
    }
    if crate::office::defuse::flat_odf(bytes).is_some() {
        return true;
    }
    bytes.starts_with(b"PK\x03\x04") && (office_name || office_type)
}

fn is_html_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".html") || lower.ends_with(".htm")
}

/// Machine-written reports that read as text (bounces and receipts forwarded to a fax).
const TEXT_REPORTS: &[&str] = &[
    "message/delivery-status",
    "message/disposition-notification",
    "text/rfc822-headers",
];

/// A `.txt` file sent as `application/octet-stream` (as many mailers do), or a file with no
/// type and no extension (README). A file named as text is text if it is UTF-16 with its byte
/// order mark or UTF-8 without NUL (stray C1 controls of a badly converted file are dropped
/// when printed); an untyped one only if it is UTF-8 without control characters other than
/// white space.
fn looks_like_text_file(name: &str, mime: &str, contents: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    let text_name = lower.ends_with(".txt") || lower.ends_with(".csv") || lower.ends_with(".log");
    // an untyped file (README, AUTHORS…) is text when its content is
    let untyped = mime == "application/octet-stream" && !lower.contains('.');
    if contents.is_empty() {
        return false;
    }
    if text_name {
        return utf16_to_utf8(contents).is_some()
            || std::str::from_utf8(contents).is_ok_and(|t| !t.contains('\0'));
    }
    untyped
        && std::str::from_utf8(contents)
            .is_ok_and(|t| t.chars().all(|c| !c.is_control() || c.is_whitespace()))
}

/// Forwarded messages nested deeper than this are refused (a nesting bomb).
const MAX_DEPTH: usize = 8;

/// Walks a message (or a bare winmail.dat).
pub(crate) fn documents(
    raw: &[u8],
    defaults: Options,
    policy: Policy,
    skip: Option<&str>,
) -> Result<Walked, ConvertError> {
    // An Outlook .msg (OLE compound file) is not an RFC 5322 message.
    const NOT_MAIL: &[&[u8]] = &[b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"];
    if NOT_MAIL.iter().any(|m| raw.starts_with(m)) {
        return Err(ConvertError::Unreadable);
    }
    // A bare winmail.dat (a drop directory or a hot folder may hand one over): its files.
    if tnef::is_tnef(raw) {
        let mut walk = Walk {
            paper: defaults.paper,
            policy,
            skip: None,
            docs: Vec::new(),
            notes: Vec::new(),
        };
        walk.winmail("winmail.dat", raw, 0)?;
        if walk.docs.is_empty() {
            return Err(ConvertError::Empty);
        }
        let cover = defaults.cover.then(CoverFields::default);
        return Ok(Walked {
            docs: walk.docs,
            options: defaults,
            notes: walk.notes,
            cover,
        });
    }
    // A message saved as UTF-16 (with its byte order mark) by some Windows tools.
    let utf8;
    let raw = match utf16_to_utf8(raw) {
        Some(text) => {
            utf8 = text;
            utf8.as_bytes()
        }
        None => raw,
    };
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(ConvertError::Unreadable)?;
    let (options, mut notes) = defaults.with_headers(message.headers_raw());
    let mut walk = Walk {
        paper: options.paper,
        policy,
        skip: skip.map(str::to_string),
        docs: Vec::new(),
        notes: Vec::new(),
    };
    walk.message(&message, 0, None)?;
    notes.append(&mut walk.notes);
    let mut cover = options.cover.then(|| cover_fields(&message));
    if let Some(fields) = cover.as_mut()
        && policy.body_on_cover
        && walk.docs.len() > 1
        && walk.docs[0].name == BODY
    {
        // the text moves onto the cover (kept as a page when it is all there is to send)
        walk.docs.remove(0);
        fields.body = message
            .body_text(0)
            .map(|b| without_signature(&b).to_string());
    }
    if walk.docs.is_empty() {
        return Err(ConvertError::Empty);
    }
    Ok(Walked {
        docs: walk.docs,
        options,
        notes,
        cover,
    })
}

/// The sender, subject and date a cover page shows.
fn cover_fields(message: &Message<'_>) -> CoverFields {
    let from = message.from().and_then(|a| a.first());
    let date = message
        .date()
        .cloned()
        .unwrap_or_else(|| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            mail_parser::DateTime::from_timestamp(now)
        })
        .to_rfc822();
    CoverFields {
        from_name: from.and_then(|a| a.name()).unwrap_or("").to_string(),
        from_address: from.and_then(|a| a.address()).unwrap_or("").to_string(),
        subject: message.subject().unwrap_or("").to_string(),
        date,
        ..CoverFields::default()
    }
}

struct Walk {
    paper: Paper,
    policy: Policy,
    /// The message's own attachment left out (a broadcast's list), until it is met.
    skip: Option<String>,
    docs: Vec<Document>,
    notes: Vec<String>,
}

impl Walk {
    fn text(&mut self, name: String, text: &str) {
        self.docs.push(Document::new(
            name,
            Kind::PostScript,
            text::to_postscript(text, self.paper).into_bytes(),
        ));
    }

    /// A message's body, then its attachments; `forwarded` names a nested message, whose page
    /// starts with its headers.
    fn message(
        &mut self,
        message: &Message<'_>,
        depth: usize,
        forwarded: Option<&str>,
    ) -> Result<(), ConvertError> {
        if depth > MAX_DEPTH {
            return Err(ConvertError::Damaged {
                part: forwarded.unwrap_or("message").to_string(),
                detail: format!("forwarded messages are nested more than {MAX_DEPTH} deep"),
            });
        }
        // images the HTML body shows (a logo in a signature) are part of the body, not pages
        let shown = match message.html_part(0) {
            Some(p) if p.is_content_type("text", "html") => {
                html::referenced_cids(p.text_contents().unwrap_or(""))
            }
            _ => HashSet::new(),
        };
        let body = message
            .body_text(0)
            .map(|b| b.into_owned())
            .unwrap_or_default();
        match forwarded {
            Some(name) => {
                let header = forwarded_header(message);
                self.text(name.to_string(), &format!("{header}\n{body}"));
            }
            None => {
                let html = html_body(message, &shown);
                // an HTML body showing only a picture (a scan pasted into the mail) is not empty
                let visible = !without_signature(&body).trim().is_empty()
                    || html.as_ref().is_some_and(|h| !h.resources().is_empty());
                let print = match self.policy.body {
                    BodyPolicy::Always => true,
                    BodyPolicy::IfNotEmpty => visible,
                    BodyPolicy::Never => false,
                };
                match html {
                    Some(html) if print => self.docs.push(html),
                    _ if print => self.text(BODY.into(), &body),
                    _ => {}
                }
            }
        }
        for (i, part) in message.attachments().enumerate() {
            let name = part
                .attachment_name()
                .map(str::to_string)
                .unwrap_or_else(|| format!("attachment {}", i + 1));
            if depth == 0 && self.skip.as_deref() == Some(name.as_str()) {
                self.skip = None;
                continue;
            }
            self.part(part, name, &shown, depth)?;
        }
        Ok(())
    }

    fn part(
        &mut self,
        part: &MessagePart<'_>,
        name: String,
        shown: &HashSet<String>,
        depth: usize,
    ) -> Result<(), ConvertError> {
        let mime = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_else(|| "application/octet-stream".into());
        let contents = part.contents();
        if IGNORED_TYPES.contains(&mime.as_str()) {
            return Ok(());
        }
        if let Some(nested) = part.message() {
            let title = nested
                .subject()
                .map(|s| format!("forwarded message \"{s}\""))
                .unwrap_or_else(|| "forwarded message".into());
            return self.message(nested, depth + 1, Some(&title));
        }
        if part.is_multipart() || mime.starts_with("multipart/") {
            return Ok(()); // a container; its parts are walked on their own
        }
        if mime.contains("signature") {
            return Ok(()); // a signature of some kind: nothing to print
        }
        if mime == "message/rfc822" || mime == "message/global" {
            return Err(ConvertError::Damaged {
                part: name,
                detail: "the forwarded message could not be read".into(),
            });
        }
        if part
            .content_id()
            .is_some_and(|id| shown.contains(id.trim_matches(['<', '>'])))
        {
            return Ok(()); // an image shown inside the HTML body (a logo in a signature)
        }
        let text = part.text_contents().map(str::to_string);
        self.file(name, &mime, contents, text, depth)
    }

    /// A file (an attachment, or a file inside a winmail.dat), typed by its content first, then
    /// its declared type and name. `text` is its text already decoded from its charset, if any.
    fn file(
        &mut self,
        name: String,
        mime: &str,
        contents: &[u8],
        text: Option<String>,
        depth: usize,
    ) -> Result<(), ConvertError> {
        let text = || {
            text.clone()
                .unwrap_or_else(|| String::from_utf8_lossy(contents).into_owned())
        };
        if tnef::is_tnef(contents) || mime.ends_with("ms-tnef") {
            return self.winmail(&name, contents, depth);
        }
        if contents.starts_with(b"%PDF-") {
            self.docs
                .push(Document::new(name, Kind::Pdf, contents.to_vec()));
        } else if is_postscript(contents) {
            self.docs
                .push(Document::new(name, Kind::PostScript, contents.to_vec()));
        } else if mime == "application/pdf" {
            return Err(ConvertError::Damaged {
                part: name,
                detail: "it does not start like a PDF file".into(),
            });
        } else if is_office(&name, mime, contents) {
            self.docs
                .push(Document::new(name, Kind::Office, contents.to_vec()));
        } else if mime == "text/html" || (mime == "application/octet-stream" && is_html_name(&name))
        {
            self.docs
                .push(html_document(name, &text(), &HashMap::new(), Vec::new()));
        } else if mime.starts_with("text/")
            || TEXT_REPORTS.contains(&mime)
            || looks_like_text_file(&name, mime, contents)
        {
            let text = utf16_to_utf8(contents).unwrap_or_else(text);
            self.text(name, &text);
        } else if is_image(contents) || is_jpeg_after_junk(&name, mime, contents) {
            self.docs
                .push(Document::new(name, Kind::Image, contents.to_vec()));
        } else if mime.starts_with("image/") && !contents.is_empty() {
            return Err(ConvertError::Damaged {
                part: name,
                detail: "it is not a readable image".into(),
            });
        } else if self.policy.unknown_parts == UnknownParts::Skip {
            self.notes.push(format!(
                "{name}: files of this type ({mime}) can't be faxed yet; left out"
            ));
        } else {
            return Err(ConvertError::Unsupported {
                part: name,
                mime: mime.to_string(),
            });
        }
        Ok(())
    }

    /// Exchange's winmail.dat: its body (if the message has none of its own) and its files.
    fn winmail(&mut self, name: &str, contents: &[u8], depth: usize) -> Result<(), ConvertError> {
        if depth > MAX_DEPTH {
            return Err(ConvertError::Damaged {
                part: name.to_string(),
                detail: format!("winmail.dat files are nested more than {MAX_DEPTH} deep"),
            });
        }
        let tnef = tnef::parse(contents).ok_or_else(|| ConvertError::Damaged {
            part: name.to_string(),
            detail: "the winmail.dat (TNEF) data is cut short".into(),
        })?;
        let plain = tnef.body.as_deref().unwrap_or("");
        let rich = match (&tnef.html, &tnef.rtf) {
            (Some(html), _) => Some(html_document(
                BODY.into(),
                &decode_8bit(html),
                &HashMap::new(),
                Vec::new(),
            )),
            (None, Some(rtf)) => Some(Document::new(BODY.into(), Kind::Office, rtf.clone())),
            (None, None) => None,
        };
        // the plain text tells whether there is anything to read; without it, trust the rich body
        let visible =
            !without_signature(plain).trim().is_empty() || (tnef.body.is_none() && rich.is_some());
        let print = match self.policy.body {
            BodyPolicy::Always => tnef.body.is_some() || rich.is_some(),
            BodyPolicy::IfNotEmpty => visible,
            BodyPolicy::Never => false,
        };
        let existing = self.docs.iter().position(|d| d.name == BODY);
        match (print, rich, existing) {
            (false, _, _) => {}
            // the formatted body replaces the outer message's plain rendering of it
            (true, Some(rich), Some(k)) if self.docs[k].kind == Kind::PostScript => {
                self.docs[k] = rich
            }
            (true, Some(rich), None) => self.docs.push(rich),
            (true, None, None) => self.text(BODY.into(), plain),
            (true, _, Some(_)) => {}
        }
        for (i, attachment) in tnef.attachments.into_iter().enumerate() {
            let inner = attachment
                .title
                .unwrap_or_else(|| format!("{name} file {}", i + 1));
            let mime = attachment
                .mime
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_ascii_lowercase();
            self.file(inner, &mime, &attachment.data, None, depth + 1)?;
        }
        Ok(())
    }
}

/// The header block printed at the top of a forwarded message's page.
fn forwarded_header(message: &Message<'_>) -> String {
    let addresses = |a: Option<&mail_parser::Address<'_>>| {
        a.map(|a| {
            a.iter()
                .map(|x| match (x.name(), x.address()) {
                    (Some(n), Some(e)) => format!("{n} <{e}>"),
                    (None, Some(e)) => e.to_string(),
                    (Some(n), None) => n.to_string(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
    };
    let mut out = String::from("---------- Forwarded message ----------\n");
    out.push_str(&format!("From: {}\n", addresses(message.from())));
    if let Some(date) = message.date() {
        out.push_str(&format!("Date: {}\n", date.to_rfc822()));
    }
    out.push_str(&format!("Subject: {}\n", message.subject().unwrap_or("")));
    out.push_str(&format!("To: {}\n", addresses(message.to())));
    out
}

/// What the message's own text is called in notes and errors.
const BODY: &str = "message text";

/// The message's HTML body, if it has one, as a printable document with the images it shows
/// (`wanted`: the Content-IDs it refers to).
fn html_body(message: &Message<'_>, wanted: &HashSet<String>) -> Option<Document> {
    let part = message.html_part(0)?;
    if !part.is_content_type("text", "html") {
        return None; // mail-parser's HTML rendering of a plain text body
    }
    let html = part.text_contents()?;
    let mut names = HashMap::new();
    let mut files = Vec::new();
    for p in &message.parts {
        let Some(id) = p
            .content_id()
            .map(|id| id.trim_matches(['<', '>']).to_string())
        else {
            continue;
        };
        let contents = p.contents();
        if wanted.contains(&id) && is_image(contents) && !names.contains_key(&id) {
            let file = format!("cid{}.{}", files.len(), image_extension(contents));
            names.insert(id, file.clone());
            files.push((file, contents.to_vec()));
        }
    }
    Some(html_document(BODY.into(), html, &names, files))
}

/// An HTML document made printable, with the image files it refers to (Content-ID → file).
fn html_document(
    name: String,
    html: &str,
    names: &HashMap<String, String>,
    files: Vec<(String, Vec<u8>)>,
) -> Document {
    let mut doc = Document::new(name, Kind::Html, html::printable(html, names).into_bytes());
    doc.resources = files;
    doc
}

/// Text in UTF-8 if it is, else in Windows-1252's Latin-1 subset (Outlook's HTML bodies).
fn decode_8bit(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// The usual extension of a sniffed image (LibreOffice's image import goes by content anyway).
fn image_extension(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x89, b'P', ..] => "png",
        [0xff, 0xd8, ..] => "jpg",
        [b'G', b'I', b'F', ..] => "gif",
        [b'B', b'M', ..] => "bmp",
        _ => "tif",
    }
}

/// The body without its signature block (from a "-- " line on, RFC 3676 §4.3).
fn without_signature(body: &str) -> &str {
    let mut offset = 0;
    for line in body.split_inclusive('\n') {
        if line.trim_end_matches(['\r', '\n']) == "-- " {
            return &body[..offset];
        }
        offset += line.len();
    }
    body
}

/// A standalone file as a document, typed by its content (then its name for text).
pub(crate) fn document_for_file(
    name: &str,
    bytes: &[u8],
    paper: &Paper,
) -> Result<Document, ConvertError> {
    let name = name.to_string();
    if bytes.starts_with(b"%PDF-") {
        Ok(Document::new(name, Kind::Pdf, bytes.to_vec()))
    } else if is_postscript(bytes) {
        Ok(Document::new(name, Kind::PostScript, bytes.to_vec()))
    } else if is_image(bytes) || is_jpeg_after_junk(&name, "", bytes) {
        Ok(Document::new(name, Kind::Image, bytes.to_vec()))
    } else if is_office(&name, "", bytes) {
        Ok(Document::new(name, Kind::Office, bytes.to_vec()))
    } else if is_html_name(&name) {
        Ok(html_document(
            name,
            &String::from_utf8_lossy(bytes),
            &HashMap::new(),
            Vec::new(),
        ))
    } else if name.to_ascii_lowercase().ends_with(".txt") {
        let text = String::from_utf8_lossy(bytes);
        Ok(Document::new(
            name,
            Kind::PostScript,
            text::to_postscript(&text, *paper).into_bytes(),
        ))
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
            cover: false,
        };
        let policy = Policy {
            body: BodyPolicy::IfNotEmpty,
            unknown_parts: UnknownParts::Fail,
            body_on_cover: false,
        };
        documents(raw, defaults, policy, None).map(|w| w.docs)
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

    fn walk(
        raw: &[u8],
        body: BodyPolicy,
        unknown_parts: UnknownParts,
    ) -> Result<(Vec<Document>, Vec<String>), ConvertError> {
        let defaults = Options {
            paper: Paper::A4,
            resolution: Resolution::Fine,
            cover: false,
        };
        documents(
            raw,
            defaults,
            Policy {
                body,
                unknown_parts,
                body_on_cover: false,
            },
            None,
        )
        .map(|w| (w.docs, w.notes))
    }

    #[test]
    fn a_forwarded_message_is_a_page_with_its_headers_then_its_parts() {
        let raw = b"From: a@example.com\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n\
--o\r\nContent-Type: text/plain\r\n\r\nsee below\r\n--o\r\nContent-Type: message/rfc822\r\n\r\n\
From: Carol <carol@example.org>\r\nTo: a@example.com\r\nSubject: Original\r\nDate: Tue, 1 Jul 2025 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n\
--i\r\nContent-Type: application/pdf; name=\"in.pdf\"\r\nContent-Disposition: attachment; filename=\"in.pdf\"\r\n\r\n%PDF-1.4 x\r\n--i--\r\n--o--\r\n";
        let (docs, _) = walk(raw, BodyPolicy::IfNotEmpty, UnknownParts::Fail).unwrap();
        let names: Vec<&str> = docs.iter().map(|d| d.name()).collect();
        assert_eq!(
            names,
            ["message text", "forwarded message \"Original\"", "in.pdf"]
        );
        let page = String::from_utf8_lossy(docs[1].bytes()).into_owned();
        for needle in [
            "Forwarded message",
            "From: Carol <carol@example.org>",
            "Subject: Original",
            "inner text",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
    }

    #[test]
    fn body_policy_and_signature_only_bodies() {
        let sig_only = b"From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\n-- \r\nAlice, ACME\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\n\r\n%PDF-1.4\r\n--b--\r\n";
        let count = |body| walk(sig_only, body, UnknownParts::Fail).unwrap().0.len();
        assert_eq!(
            count(BodyPolicy::IfNotEmpty),
            1,
            "a signature alone makes no page"
        );
        assert_eq!(count(BodyPolicy::Always), 2);
        assert_eq!(count(BodyPolicy::Never), 1);
        assert_eq!(without_signature("text\n-- \nsig\n"), "text\n");
        assert_eq!(without_signature("no sig\n--\n"), "no sig\n--\n");
    }

    #[test]
    fn unknown_parts_can_be_skipped_with_a_note() {
        let raw = multipart(
            "Content-Type: application/msword; name=\"r.doc\"\r\nContent-Disposition: attachment; filename=\"r.doc\"",
            "xx",
        );
        let (docs, notes) = walk(&raw, BodyPolicy::IfNotEmpty, UnknownParts::Skip).unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(
            notes,
            ["r.doc: files of this type (application/msword) can't be faxed yet; left out"]
        );
    }

    #[test]
    fn a_winmail_dat_gives_up_its_files() {
        use base64::Engine;
        let tnef = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../tests/corpus/eml/tnef/two-files.tnef"),
        )
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&tnef);
        let raw = multipart(
            "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"winmail.dat\"",
            &b64,
        );
        let (docs, _) = walk(&raw, BodyPolicy::IfNotEmpty, UnknownParts::Fail).unwrap();
        let names: Vec<&str> = docs.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(names[0], "message text");
        assert!(names.contains(&"AUTHORS"), "{names:?}");
        // a damaged one is named
        let cut = base64::engine::general_purpose::STANDARD.encode(&tnef[..tnef.len() / 2]);
        let raw = multipart(
            "Content-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64",
            &cut,
        );
        let err = walk(&raw, BodyPolicy::IfNotEmpty, UnknownParts::Fail)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with("winmail.dat: the file is damaged"),
            "{err}"
        );
    }
}
