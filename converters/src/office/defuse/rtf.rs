//! An RTF file defused (see the parent's contract): read once as RTF tokens (groups, control
//! words, `\'hh` and `\u` escapes, `\binN` data skipped as LibreOffice skips it), field
//! instructions gathered as the text they spell and judged when their group closes; a linking
//! one becomes `{\*\fldinst }` (the field shows its stored result). The attached template
//! (`{\*\template …}`) and linked OLE objects (`\objlink`, `\objautlink`) are taken out whole.

use super::{Defused, MAX_INSTRUCTION, linking_field};

/// Field instructions open inside one another, at most (each character is added to every open
/// one: the work stays linear).
pub const MAX_OPEN_FIELDS: usize = 8;

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Plain,
    /// A field instruction, with the index of its text.
    Instruction(usize),
    Template,
    Object {
        linked: bool,
    },
}

struct Group {
    start: usize,
    kind: Kind,
}

struct Instruction {
    text: String,
    nested: bool,
}

pub(super) fn defuse(src: &[u8]) -> Result<Option<Defused>, String> {
    let mut groups: Vec<Group> = Vec::new();
    let mut instructions: Vec<Instruction> = Vec::new();
    // the instructions now open (indexes into `instructions`)
    let mut open: Vec<usize> = Vec::new();
    let mut edits: Vec<(usize, usize, &'static [u8])> = Vec::new();
    let mut removed = Vec::new();
    let mut i = 0;
    let add = |instructions: &mut Vec<Instruction>, open: &[usize], c: char| {
        for &k in open {
            let text = &mut instructions[k].text;
            if text.len() <= MAX_INSTRUCTION {
                text.push(c);
            }
        }
    };
    while i < src.len() {
        match src[i] {
            b'{' => {
                groups.push(Group {
                    start: i,
                    kind: Kind::Plain,
                });
                i += 1;
            }
            b'}' => {
                i += 1;
                let Some(group) = groups.pop() else { continue };
                match group.kind {
                    Kind::Instruction(k) => {
                        open.retain(|&o| o != k);
                        let instruction = &instructions[k];
                        if instruction.nested || linking_field(&instruction.text) {
                            let text: String = instruction.text.trim().chars().take(80).collect();
                            removed.push(format!("document: field {text:?}"));
                            edits.push((group.start, i, b"{\\*\\fldinst }"));
                        }
                    }
                    Kind::Template => {
                        removed.push("document: attached template".to_string());
                        edits.push((group.start, i, b""));
                    }
                    Kind::Object { linked: true } => {
                        removed.push("document: linked OLE object".to_string());
                        edits.push((group.start, i, b""));
                    }
                    _ => {}
                }
            }
            b'\\' => {
                let (token, next) = control(src, i + 1);
                i = next;
                match token {
                    Token::Word("fldinst", _) => {
                        if let Some(&outer) = open.last() {
                            instructions[outer].nested = true;
                        }
                        if open.len() >= MAX_OPEN_FIELDS {
                            return Err(format!(
                                "the document nests fields more than {MAX_OPEN_FIELDS} deep"
                            ));
                        }
                        if let Some(g) = groups.last_mut() {
                            instructions.push(Instruction {
                                text: String::new(),
                                nested: false,
                            });
                            g.kind = Kind::Instruction(instructions.len() - 1);
                            open.push(instructions.len() - 1);
                        }
                    }
                    Token::Word("template", _) => {
                        if let Some(g) = groups.last_mut() {
                            g.kind = Kind::Template;
                        }
                    }
                    Token::Word("object", _) => {
                        if let Some(g) = groups.last_mut() {
                            g.kind = Kind::Object { linked: false };
                        }
                    }
                    Token::Word("objlink" | "objautlink", _) => {
                        if let Some(g) = groups
                            .iter_mut()
                            .rev()
                            .find(|g| matches!(g.kind, Kind::Object { .. }))
                        {
                            g.kind = Kind::Object { linked: true };
                        }
                    }
                    Token::Word("bin", Some(n)) => {
                        // binary data: skipped, never read as RTF
                        i = i.saturating_add(usize::try_from(n.max(0)).unwrap_or(usize::MAX));
                    }
                    Token::Word("u", Some(n)) => {
                        let c = char::from_u32(u32::from(n as i16 as u16)).unwrap_or('?');
                        add(&mut instructions, &open, c);
                        // the one fallback character (\uc1, Word's default)
                        if let Some(&b) = src.get(i)
                            && !matches!(b, b'\\' | b'{' | b'}')
                        {
                            i += 1;
                        } else if src.get(i..i + 2) == Some(b"\\'") {
                            i += 4;
                        }
                    }
                    Token::Word("par" | "line" | "tab" | "cell", _) => {
                        add(&mut instructions, &open, ' ')
                    }
                    Token::Char(c) => add(&mut instructions, &open, c),
                    _ => {}
                }
            }
            b'\r' | b'\n' => i += 1,
            b => {
                add(&mut instructions, &open, char::from(b));
                i += 1;
            }
        }
    }
    if edits.is_empty() {
        return Ok(None);
    }
    edits.sort_by_key(|&(from, to, _)| (from, std::cmp::Reverse(to)));
    let mut out = Vec::with_capacity(src.len());
    let mut at = 0;
    for (from, to, with) in edits {
        if from < at {
            continue;
        }
        out.extend_from_slice(&src[at..from]);
        out.extend_from_slice(with);
        at = to;
    }
    out.extend_from_slice(&src[at.min(src.len())..]);
    Ok(Some(Defused {
        bytes: out,
        removed,
    }))
}

enum Token<'a> {
    /// A control word and its numeric parameter.
    Word(&'a str, Option<i64>),
    /// A character the control spells (`\'hh`, `\\`, `\{`, `\}`).
    Char(char),
    /// Any other control symbol.
    Symbol,
}

/// The control after a backslash at `at`; returns it and where the text goes on.
fn control(src: &[u8], at: usize) -> (Token<'_>, usize) {
    let Some(&first) = src.get(at) else {
        return (Token::Symbol, at);
    };
    if first.is_ascii_alphabetic() {
        let mut end = at;
        while end < src.len() && end - at < 32 && src[end].is_ascii_alphabetic() {
            end += 1;
        }
        let word = std::str::from_utf8(&src[at..end]).unwrap_or("");
        let mut p = end;
        if src.get(p) == Some(&b'-') {
            p += 1;
        }
        while p < src.len() && p - end < 11 && src[p].is_ascii_digit() {
            p += 1;
        }
        let param = std::str::from_utf8(&src[end..p])
            .ok()
            .and_then(|s| s.parse::<i64>().ok());
        let p = if param.is_none() { end } else { p };
        // one space ends a control word and belongs to it
        let next = if src.get(p) == Some(&b' ') { p + 1 } else { p };
        return (Token::Word(word, param), next);
    }
    match first {
        b'\'' => {
            let byte = src
                .get(at + 1..at + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match byte {
                Some(b) => (Token::Char(char::from(b)), at + 3),
                None => (Token::Symbol, at + 1),
            }
        }
        b'\\' | b'{' | b'}' => (Token::Char(char::from(first)), at + 1),
        _ => (Token::Symbol, at + 1),
    }
}
