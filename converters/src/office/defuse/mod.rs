//! Defusing Office documents before LibreOffice sees them: what a document would make its
//! renderer read or fetch beyond its own bytes is taken out of it.
//!
//! In: the bytes of one Office part (any OOXML or OpenDocument package, a flat OpenDocument file,
//! an RTF file). Out: the same document without
//! - relationships to anything outside the package (`TargetMode="External"`: linked pictures,
//!   attached templates, external workbooks, OLE links, frames), hyperlinks excepted, and
//!   `altChunk` parts (HTML and MHT imported whole);
//! - `href`/`src` attributes that point outside the package (ODF's linked images, objects,
//!   fonts and fills, SVG's linked images), on every element but a hyperlink (`text:a`, `a`);
//! - field instructions that include a file or a link (`INCLUDEPICTURE`, `INCLUDETEXT`, `LINK`,
//!   `DDE`, `DATABASE`… in Word XML and RTF; a field built of nested fields is blanked too): the
//!   field shows its stored result;
//! - formulas that reach outside (`INDIRECT`, `WEBSERVICE`, `DDE`, `RTD`, `INFO`, file names,
//!   URLs), in OOXML cells and defined names and ODF formula attributes: the cell shows its
//!   stored value; ODF's linked sections, tables, DDE sources, database queries, applets and
//!   plug-ins;
//! - RTF's attached template and linked OLE objects.
//!
//! Each removal is named in `Defused::removed` (for the log). Which rules apply is decided by
//! the content, never by the file's name: every XML part of any package gets every rule.
//!
//! Refused, with a reason: XML that declares a DTD (no Office file does; entities could hide a
//! field from this reading), XML not in UTF-8, XML this reading cannot parse, RTF nesting fields
//! deeper than `MAX_OPEN_FIELDS`. Binary Office files (doc, xls, ppt) are left to the sandbox and
//! the hardened profile. Pure: bytes in, bytes out; work bounded by the input's size (an XML
//! part is read up to its declared size and at most `MAX_PART`, all of them together at most
//! `limits::MAX_UNPACKED`, whatever the central directory declares; other parts only as far as
//! their first 64 bytes).

mod rtf;
mod xml;

use std::io::{Cursor, Read, Write};

/// Largest part of a package read (the package as a whole is bounded by `limits`).
pub const MAX_PART: u64 = 256 << 20;
/// Text gathered from one field instruction or formula before it counts as dangerous whatever
/// it says.
const MAX_INSTRUCTION: usize = 64 << 10;

/// A document with what it linked taken out.
#[derive(Debug)]
pub struct Defused {
    pub bytes: Vec<u8>,
    /// What was removed, one line each (`word/document.xml: field INCLUDEPICTURE "…"`).
    pub removed: Vec<String>,
}

/// Defuses `bytes`; `None` when there was nothing to take out (the bytes are used as they are).
/// `Err` says why the document is refused.
pub fn defuse(bytes: &[u8]) -> Result<Option<Defused>, String> {
    if bytes.starts_with(b"PK\x03\x04") {
        package(bytes)
    } else if bytes.starts_with(b"{\\rtf") {
        rtf::defuse(bytes)
    } else if looks_like_xml(bytes) {
        if flat_odf(bytes).is_none() {
            return Err("it is XML but not a flat OpenDocument file".into());
        }
        let mut removed = Vec::new();
        Ok(xml::defuse("document", bytes, &[], &mut removed)?
            .map(|bytes| Defused { bytes, removed }))
    } else {
        Ok(None)
    }
}

/// The OpenDocument namespace of `office:document`, the root of a flat file.
const OFFICE_NS: &str = "urn:oasis:names:tc:opendocument:xmlns:office:1.0";

/// The extension of a flat OpenDocument file (`fodt`, `fods`, `fodp`, `fodg`) if `bytes` are
/// one: XML in UTF-8 whose root is `office:document` (in the OpenDocument namespace, whatever
/// its prefix) with an `office:mimetype` of text, spreadsheet, presentation or graphics.
/// Anything else (HTML or SVG carrying the namespace somewhere) is not.
pub fn flat_odf(bytes: &[u8]) -> Option<&'static str> {
    use quick_xml::events::Event;
    use quick_xml::name::ResolveResult;
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).ok()?;
    let mut reader = quick_xml::NsReader::from_str(text);
    loop {
        match reader.read_resolved_event().ok()? {
            (_, Event::Decl(_) | Event::Comment(_) | Event::PI(_)) => {}
            (_, Event::Text(t)) if t.trim().is_empty() => {}
            (ResolveResult::Bound(ns), Event::Start(e) | Event::Empty(e))
                if ns.0 == OFFICE_NS && e.local_name().as_ref() == "document" =>
            {
                let mimetype = e.attributes().flatten().find_map(|a| {
                    let (ns, name) = reader.resolver().resolve_attribute(a.key);
                    (matches!(ns, ResolveResult::Bound(n) if n.0 == OFFICE_NS)
                        && name.as_ref() == "mimetype")
                        .then(|| a.value.to_string())
                })?;
                return match mimetype.trim() {
                    "application/vnd.oasis.opendocument.text" => Some("fodt"),
                    "application/vnd.oasis.opendocument.spreadsheet" => Some("fods"),
                    "application/vnd.oasis.opendocument.presentation" => Some("fodp"),
                    "application/vnd.oasis.opendocument.graphics" => Some("fodg"),
                    _ => None,
                };
            }
            _ => return None,
        }
    }
}

/// Whether a part's bytes are XML (a `<` first, after an optional byte-order mark and blanks;
/// a UTF-16 mark counts, to be refused).
fn looks_like_xml(bytes: &[u8]) -> bool {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return true;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'<')
}

/// Every XML part of a ZIP package, defused; the package written again (the other parts copied
/// as they were, compressed as they were) only if one changed.
fn package(bytes: &[u8]) -> Result<Option<Defused>, String> {
    package_within(bytes, MAX_PART, crate::limits::MAX_UNPACKED)
}

/// `package`, with at most `part` bytes read of one XML part and `total` of all of them (other
/// parts are read no further than their first bytes, which tell they are not XML).
fn package_within(bytes: &[u8], part: u64, total: u64) -> Result<Option<Defused>, String> {
    let damaged = |e: zip::result::ZipError| format!("the package could not be read: {e}");
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(damaged)?;
    let mut parts: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(damaged)?;
    parts.sort();
    let mut removed = Vec::new();
    let mut changed: Vec<Option<Vec<u8>>> = Vec::with_capacity(archive.len());
    let mut left = total;
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).map_err(damaged)?;
        if file.is_dir() {
            changed.push(None);
            continue;
        }
        let name = file.name().map_err(damaged)?.into_owned();
        let read_failed = |e: std::io::Error| format!("{name}: {e}");
        let mut content = Vec::new();
        (&mut file)
            .take(64)
            .read_to_end(&mut content)
            .map_err(read_failed)?;
        if !looks_like_xml(&content) {
            changed.push(None);
            continue;
        }
        let budget = part.min(left);
        (&mut file)
            .take((budget + 1).saturating_sub(content.len() as u64))
            .read_to_end(&mut content)
            .map_err(read_failed)?;
        if content.len() as u64 > budget {
            return Err(match budget == part {
                true => format!("{name} unpacks to more than {} MB", part >> 20),
                false => format!(
                    "its XML parts unpack to more than {} MB together",
                    total >> 20
                ),
            });
        }
        left -= content.len() as u64;
        changed.push(xml::defuse(&name, &content, &parts, &mut removed)?);
    }
    if changed.iter().all(Option::is_none) {
        return Ok(None);
    }
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(bytes.len())));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let write_failed =
        |e: zip::result::ZipError| format!("the package could not be rewritten: {e}");
    for (i, new) in changed.into_iter().enumerate() {
        let file = archive.by_index_raw(i).map_err(damaged)?;
        match new {
            None => out.raw_copy_file(file).map_err(write_failed)?,
            Some(content) => {
                let name = file.name().map_err(damaged)?.into_owned();
                drop(file);
                out.start_file(name, deflated).map_err(write_failed)?;
                out.write_all(&content)
                    .map_err(|e| format!("the package could not be rewritten: {e}"))?;
            }
        }
    }
    let bytes = out.finish().map_err(write_failed)?.into_inner();
    Ok(Some(Defused { bytes, removed }))
}

/// The words of a field instruction that make it include a file or a link.
const LINKING_FIELDS: &[&str] = &[
    "INCLUDEPICTURE",
    "INCLUDETEXT",
    "INCLUDE",
    "IMPORT",
    "LINK",
    "DDE",
    "DDEAUTO",
    "DATABASE",
];

/// Whether a field instruction (Word XML or RTF) includes a file or a link: its first word (the
/// field's type; letters and digits, whatever comes before it) is in `LINKING_FIELDS`, or it is
/// too long to judge.
fn linking_field(instruction: &str) -> bool {
    instruction.len() > MAX_INSTRUCTION
        || instruction
            .split(|c: char| !c.is_alphanumeric())
            .find(|w| !w.is_empty())
            .is_some_and(|w| LINKING_FIELDS.iter().any(|f| w.eq_ignore_ascii_case(f)))
}

/// What in a formula reaches outside the document (matched upper-cased, blanks removed).
const REACHING_FORMULAS: &[&str] = &[
    "INDIRECT(",
    "WEBSERVICE(",
    "FILTERXML(",
    "DDE(",
    "RTD(",
    "INFO(",
    "CELL(\"FILENAME\"",
    "HYPERLINK(\"FILE:",
    "FILE:",
    "://",
    "\\\\",
];

/// Whether a formula reaches outside the document, or is too long to judge.
fn reaching_formula(formula: &str) -> bool {
    if formula.len() > MAX_INSTRUCTION {
        return true;
    }
    let squeezed: String = formula
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    REACHING_FORMULAS.iter().any(|r| squeezed.contains(r))
}

/// Whether a link (`href`, `src`) points outside the package `parts` (sorted names): anything
/// but a bookmark (`#…`) or the name of one of its parts or folders (`Pictures/x.png`,
/// `./Object 1`). LibreOffice resolves any other relative link against the document's own
/// place on disk, so a flat file (no parts) has no internal link but bookmarks.
fn external(link: &str, parts: &[String]) -> bool {
    let link = link.trim();
    if link.is_empty() || link.starts_with('#') {
        return false;
    }
    // judged as LibreOffice reads it: with %XX escapes decoded
    let Some(link) = percent_decoded(link) else {
        return true;
    };
    let link = link.as_str();
    let path_start = link.find(['/', '\\', '?', '#']).unwrap_or(link.len());
    if link[..path_start].contains(':')
        || link.starts_with(['/', '\\', '~'])
        || link.contains('\\')
        || link.split('/').any(|segment| segment == "..")
    {
        return true;
    }
    let name = link.trim_start_matches("./");
    let folder = format!("{}/", name.trim_end_matches('/'));
    let at = parts.partition_point(|p| p.as_str() < name);
    let exact = parts.get(at).is_some_and(|p| p == name);
    let under = parts[parts.partition_point(|p| *p < folder)..]
        .first()
        .is_some_and(|p| p.starts_with(&folder));
    !(exact || under)
}

/// `text` with its `%XX` escapes decoded; `None` if that is not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests;
