//! One XML part defused (see the parent's contract). Read once with quick-xml; what is taken out
//! is recorded as byte ranges of the part and cut at the end, so everything else stays byte for
//! byte as it was. Names are matched by their local part, whatever prefix the document binds:
//! a renamed prefix changes nothing, and a look-alike in another namespace is taken out too
//! (erring on the safe side).

use super::{MAX_INSTRUCTION, external, linking_field, reaching_formula};
use quick_xml::Reader;
use quick_xml::XmlVersion;
use quick_xml::events::{BytesStart, Event};

/// Elements taken out whole: ODF's links to other documents and data sources, DDE, database
/// queries, applets and plug-ins.
const REMOVED_ELEMENTS: &[&str] = &[
    "section-source",
    "table-source",
    "cell-range-source",
    "dde-source",
    "dde-link",
    "dde-links",
    "dde-connection-decl",
    "dde-connection-decls",
    "database-source-sql",
    "database-source-table",
    "database-source-query",
    "plugin",
    "applet",
];
/// Attributes holding a link (kept on hyperlinks, elements named `a`).
const LINK_ATTRIBUTES: &[&str] = &["href", "src", "image-data"];
/// ODF attributes holding a formula.
const FORMULA_ATTRIBUTES: &[&str] = &["formula", "condition", "expression"];
/// OOXML elements holding a formula (a cell's, a defined name's).
const FORMULA_ELEMENTS: &[&str] = &["f", "definedName"];

/// A Word complex field (`fldChar` begin … separate … end) while its instruction is read.
struct Field {
    /// Where the text of its `instrText` elements lies.
    spans: Vec<(usize, usize)>,
    text: String,
    /// Another field began inside its instruction: what it computes can't be read here.
    nested: bool,
    decided: bool,
}

/// Text gathered inside an element: where it started, what it says (bounded).
struct Capture {
    at: usize,
    text: String,
}

impl Capture {
    fn push(&mut self, s: &str) {
        if self.text.len() <= MAX_INSTRUCTION {
            self.text.push_str(s);
        }
    }
}

struct Cutter<'a> {
    part: &'a str,
    parts: &'a [String],
    edits: Vec<(usize, usize, String)>,
    removed: &'a mut Vec<String>,
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

/// What a note shows of a value: short, control characters escaped.
fn shown(value: &str) -> String {
    let short: String = value.chars().take(80).collect();
    format!("{short:?}")
}

/// Defuses one XML part; `None` when nothing was taken out.
pub(super) fn defuse(
    part: &str,
    src: &[u8],
    parts: &[String],
    removed: &mut Vec<String>,
) -> Result<Option<Vec<u8>>, String> {
    // UTF-16 (with its byte-order mark, as XML requires) is read as UTF-8 text; if something is
    // taken out, the part is written in UTF-8 and its declaration says so
    let utf16 = utf16(src)
        .transpose()
        .map_err(|()| format!("{part} is not valid UTF-16 XML"))?;
    let text = match &utf16 {
        Some(text) => text.as_str(),
        None => std::str::from_utf8(src).map_err(|_| format!("{part} is not UTF-8 XML"))?,
    };
    let mut declaration: Option<(usize, usize)> = None;
    let mut reader = Reader::from_str(text);
    let mut cut = Cutter {
        part,
        parts,
        edits: Vec::new(),
        removed,
    };
    let mut depth: u32 = 0;
    // an element being taken out whole: where it began, at which depth
    let mut skip: Option<(usize, u32)> = None;
    let mut fields: Vec<Field> = Vec::new();
    let mut instruction: Option<Capture> = None;
    let mut formula: Option<Capture> = None;
    loop {
        let start = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| format!("{part} is not well-formed XML ({e})"))?;
        let end = reader.buffer_position() as usize;
        match event {
            Event::Eof => break,
            Event::DocType(_) => {
                return Err(format!("{part} declares a DTD, which no Office file does"));
            }
            Event::Decl(decl) => {
                declaration = Some((start, end));
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(|e| format!("{part}: {e}"))?;
                    let said = encoding.to_ascii_lowercase();
                    let fits = match utf16 {
                        Some(_) => matches!(said.as_str(), "utf-16" | "utf16"),
                        None => matches!(said.as_str(), "utf-8" | "utf8"),
                    };
                    if !fits {
                        return Err(format!(
                            "{part} declares the encoding {encoding}, which is not how it is written"
                        ));
                    }
                }
            }
            Event::Start(e) => {
                depth += 1;
                if skip.is_some() {
                    continue;
                }
                if cut.whole(&e)? {
                    skip = Some((start, depth));
                    continue;
                }
                let name = local(e.name().0);
                if name == "instrText" {
                    instruction = Some(Capture {
                        at: end,
                        text: String::new(),
                    });
                } else if FORMULA_ELEMENTS.contains(&name) {
                    formula = Some(Capture {
                        at: start,
                        text: String::new(),
                    });
                } else if name == "fldChar" {
                    cut.field_char(&e, &mut fields)?;
                }
                cut.attributes(&e, start, end, false)?;
            }
            Event::Empty(e) => {
                if skip.is_some() {
                    continue;
                }
                if cut.whole(&e)? {
                    cut.edits.push((start, end, String::new()));
                    continue;
                }
                if local(e.name().0) == "fldChar" {
                    cut.field_char(&e, &mut fields)?;
                }
                cut.attributes(&e, start, end, true)?;
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                if let Some((at, open)) = skip {
                    if open == depth + 1 {
                        cut.edits.push((at, end, String::new()));
                        skip = None;
                    }
                    continue;
                }
                let name = local(e.name().0);
                if name == "instrText"
                    && let Some(c) = instruction.take()
                {
                    match fields.last_mut() {
                        Some(f) if !f.decided => {
                            f.spans.push((c.at, start));
                            if f.text.len() <= MAX_INSTRUCTION {
                                f.text.push_str(&c.text);
                            }
                        }
                        _ => cut.field(Field {
                            spans: vec![(c.at, start)],
                            text: c.text,
                            nested: false,
                            decided: false,
                        }),
                    }
                } else if FORMULA_ELEMENTS.contains(&name)
                    && let Some(c) = formula.take()
                    && reaching_formula(&c.text)
                {
                    cut.note(format!("formula {}", shown(&c.text)));
                    cut.edits.push((c.at, end, String::new()));
                }
            }
            Event::Text(t) => gather(&mut instruction, &mut formula, &t.xml10_content()),
            Event::CData(t) => gather(&mut instruction, &mut formula, &t.xml10_content()),
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                        .ok_or_else(|| format!("{part} uses an undeclared entity &{};", &*r))?
                        .to_string(),
                    Err(e) => return Err(format!("{part}: {e}")),
                };
                gather(&mut instruction, &mut formula, &resolved);
            }
            _ => {}
        }
    }
    for field in fields.into_iter().rev() {
        cut.field(field);
    }
    if cut.edits.is_empty() {
        return Ok(None);
    }
    let mut edits = cut.edits;
    if utf16.is_some()
        && let Some((from, to)) = declaration
    {
        let decl = &text[from..to];
        let at = decl.to_ascii_lowercase().find("utf-16").unwrap_or(0);
        let utf8 = format!(
            "{}UTF-8{}",
            &decl[..at],
            &decl[at + "utf-16".len().min(decl.len() - at)..]
        );
        edits.push((from, to, utf8));
    }
    edits.sort_by_key(|&(from, to, _)| (from, std::cmp::Reverse(to)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (from, to, with) in edits {
        if from < at {
            continue; // inside a range already cut
        }
        out.push_str(&text[at..from]);
        out.push_str(&with);
        at = to;
    }
    out.push_str(&text[at..]);
    Ok(Some(out.into_bytes()))
}

/// A part in UTF-16 (by its byte-order mark) decoded; `Some(Err(()))` if it is not valid.
fn utf16(src: &[u8]) -> Option<Result<String, ()>> {
    let little = match src.get(..2)? {
        [0xFF, 0xFE] => true,
        [0xFE, 0xFF] => false,
        _ => return None,
    };
    let body = &src[2..];
    if !body.len().is_multiple_of(2) {
        return Some(Err(()));
    }
    let units = body.chunks_exact(2).map(|b| match little {
        true => u16::from_le_bytes([b[0], b[1]]),
        false => u16::from_be_bytes([b[0], b[1]]),
    });
    Some(
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| ()),
    )
}

fn gather(instruction: &mut Option<Capture>, formula: &mut Option<Capture>, s: &str) {
    for capture in [instruction, formula].into_iter().flatten() {
        capture.push(s);
    }
}

impl Cutter<'_> {
    fn note(&mut self, what: String) {
        self.removed.push(format!("{}: {what}", self.part));
    }

    fn attribute(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
        for a in e.attributes() {
            let a = a.map_err(|err| format!("bad attribute ({err})"))?;
            if local(a.key.0) == name {
                let value = a
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|err| format!("bad attribute ({err})"))?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    /// Whether `e` is taken out whole: an element of `REMOVED_ELEMENTS`, an OPC relationship to
    /// something outside the package (a hyperlink excepted) or to an altChunk.
    fn whole(&mut self, e: &BytesStart<'_>) -> Result<bool, String> {
        let name = local(e.name().0).to_string();
        let attr = |n: &str| Self::attribute(e, n).map_err(|why| format!("{}: {why}", self.part));
        if REMOVED_ELEMENTS.contains(&name.as_str()) {
            self.note(format!("element {}", e.name().0));
            return Ok(true);
        }
        if name != "Relationship" {
            return Ok(false);
        }
        let kind = attr("Type")?.unwrap_or_default();
        let kind = kind.rsplit('/').next().unwrap_or_default().to_string();
        let outside =
            attr("TargetMode")?.is_some_and(|m| m.trim().eq_ignore_ascii_case("External"));
        if (outside && !kind.eq_ignore_ascii_case("hyperlink"))
            || kind.eq_ignore_ascii_case("aFChunk")
        {
            let target = attr("Target")?.unwrap_or_default();
            self.note(format!("relationship {kind} to {}", shown(&target)));
            return Ok(true);
        }
        Ok(false)
    }

    /// A `fldChar`: a field begins (inside another's instruction, that one is nested), its
    /// instruction ends (`separate`) or it ends.
    fn field_char(&mut self, e: &BytesStart<'_>, fields: &mut Vec<Field>) -> Result<(), String> {
        let kind = Self::attribute(e, "fldCharType")
            .map_err(|why| format!("{}: {why}", self.part))?
            .unwrap_or_default();
        match kind.as_str() {
            "begin" => {
                if let Some(open) = fields.last_mut().filter(|f| !f.decided) {
                    open.nested = true;
                }
                fields.push(Field {
                    spans: Vec::new(),
                    text: String::new(),
                    nested: false,
                    decided: false,
                });
            }
            "separate" => {
                if let Some(f) = fields.last_mut().filter(|f| !f.decided) {
                    let f = std::mem::replace(
                        f,
                        Field {
                            spans: Vec::new(),
                            text: String::new(),
                            nested: false,
                            decided: true,
                        },
                    );
                    self.field(f);
                }
            }
            "end" => {
                if let Some(f) = fields.pop()
                    && !f.decided
                {
                    self.field(f);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Judges a field's instruction; a linking or nested one is blanked.
    fn field(&mut self, field: Field) {
        if field.decided || !(field.nested || linking_field(&field.text)) {
            return;
        }
        let why = if field.nested && !linking_field(&field.text) {
            "built of nested fields"
        } else {
            "field"
        };
        self.note(format!("{why} {}", shown(field.text.trim())));
        self.edits
            .extend(field.spans.into_iter().map(|(a, b)| (a, b, String::new())));
    }

    /// Drops the link attributes that point outside, the formula attributes that reach out,
    /// and blanks a simple field's linking instruction; rewrites the tag if one changed.
    fn attributes(
        &mut self,
        e: &BytesStart<'_>,
        start: usize,
        end: usize,
        empty: bool,
    ) -> Result<(), String> {
        let element = local(e.name().0).to_string();
        let mut kept = Vec::new();
        let mut changed = false;
        for a in e.attributes() {
            let a = a.map_err(|err| format!("{}: bad attribute ({err})", self.part))?;
            let key = local(a.key.0);
            let value = a
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|err| format!("{}: bad attribute ({err})", self.part))?;
            let qname = a.key.0;
            if LINK_ATTRIBUTES.contains(&key) && element != "a" && external(&value, self.parts) {
                self.note(format!("link {qname}={} on {}", shown(&value), e.name().0));
                changed = true;
            } else if FORMULA_ATTRIBUTES.contains(&key) && reaching_formula(&value) {
                self.note(format!("formula {qname}={}", shown(&value)));
                changed = true;
            } else if key == "instr" && linking_field(&value) {
                self.note(format!("field {}", shown(value.trim())));
                kept.push(format!(" {qname}=\"\""));
                changed = true;
            } else {
                let raw: &str = &a.value;
                let quote = if raw.contains('"') { '\'' } else { '"' };
                kept.push(format!(" {qname}={quote}{raw}{quote}"));
            }
        }
        if changed {
            let close = if empty { "/>" } else { ">" };
            let tag = format!("<{}{}{close}", e.name().0, kept.concat());
            self.edits.push((start, end, tag));
        }
        Ok(())
    }
}
