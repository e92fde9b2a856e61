//! The GroupWise API gateway's keyword files: `Keyword= value;` lines; a keyword with no value
//! opens a block of indented sub-keywords closed by a line holding `;` alone; `#` starts a
//! comment; `-END-` ends the file. Keywords compare without case. Pure: read and write.

/// One keyword and its value or block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Block(Vec<(String, String)>),
}

/// A parsed file: its keywords in order (a keyword may repeat).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeywordFile {
    pub entries: Vec<(String, Value)>,
}

impl KeywordFile {
    /// Reads a file. A value may run over several lines until the one ending in `;`.
    pub fn parse(text: &str) -> Result<KeywordFile, String> {
        let mut entries = Vec::new();
        let mut block: Option<(String, Vec<(String, String)>)> = None;
        let mut pending: Option<(String, String)> = None;
        let mut ended = false;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if let Some((key, mut value)) = pending.take() {
                value.push('\n');
                value.push_str(raw.trim_end());
                if let Some(done) = value.strip_suffix(';') {
                    push(&mut entries, &mut block, key, done.trim().to_string());
                } else {
                    pending = Some((key, value));
                }
                continue;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.eq_ignore_ascii_case("-END-") {
                ended = true;
                break;
            }
            if line == ";" {
                match block.take() {
                    Some((key, items)) => entries.push((key, Value::Block(items))),
                    None => return Err(format!("line {}: `;` closes no block", n + 1)),
                }
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(format!("line {}: {line:?} is not `Keyword= value;`", n + 1));
            };
            let key = key.trim().to_string();
            let value = value.trim();
            if value.is_empty() {
                if block.is_some() {
                    return Err(format!("line {}: a block inside a block ({key})", n + 1));
                }
                block = Some((key, Vec::new()));
            } else if let Some(done) = value.strip_suffix(';') {
                push(&mut entries, &mut block, key, done.trim().to_string());
            } else {
                pending = Some((key, value.to_string()));
            }
        }
        if let Some((key, _)) = pending {
            return Err(format!("the value of {key} never ends with `;`"));
        }
        if let Some((key, _)) = block {
            return Err(format!("the block {key} is never closed with `;`"));
        }
        if !ended {
            return Err("no -END- line: the file is incomplete".into());
        }
        Ok(KeywordFile { entries })
    }

    /// The first text value of `key`.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.entries.iter().find_map(|(k, v)| match v {
            Value::Text(t) if k.eq_ignore_ascii_case(key) => Some(t.as_str()),
            _ => None,
        })
    }

    /// Every text value of `key`.
    pub fn texts<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.entries.iter().filter_map(move |(k, v)| match v {
            Value::Text(t) if k.eq_ignore_ascii_case(key) => Some(t.as_str()),
            _ => None,
        })
    }

    /// Every block of `key`.
    pub fn blocks<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a [(String, String)]> + 'a {
        self.entries.iter().filter_map(move |(k, v)| match v {
            Value::Block(items) if k.eq_ignore_ascii_case(key) => Some(items.as_slice()),
            _ => None,
        })
    }

    pub fn push_text(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.entries.push((key.into(), Value::Text(value.into())));
        self
    }

    pub fn push_block(&mut self, key: &str, items: &[(&str, String)]) -> &mut Self {
        self.entries.push((
            key.into(),
            Value::Block(
                items
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            ),
        ));
        self
    }

    /// The file as GroupWise reads it (CRLF lines, `-END-` last). `;` and line breaks inside
    /// a value are replaced, since the format has no escape for them.
    pub fn write(&self) -> String {
        let clean = |v: &str| v.replace([';', '\r', '\n'], " ");
        let mut out = String::new();
        for (key, value) in &self.entries {
            match value {
                Value::Text(t) => out.push_str(&format!("{key}= {};\r\n", clean(t))),
                Value::Block(items) => {
                    out.push_str(&format!("{key}=\r\n"));
                    for (k, v) in items {
                        out.push_str(&format!("    {k}= {};\r\n", clean(v)));
                    }
                    out.push_str(";\r\n");
                }
            }
        }
        out.push_str("-END-\r\n");
        out
    }
}

fn push(
    entries: &mut Vec<(String, Value)>,
    block: &mut Option<(String, Vec<(String, String)>)>,
    key: String,
    value: String,
) {
    match block {
        Some((_, items)) => items.push((key, value)),
        None => entries.push((key, Value::Text(value))),
    }
}

/// The value of `key` in a block.
pub fn field<'a>(block: &'a [(String, String)], key: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "WPC-API= 1.2;\r\n\
Header-Char= T50;\r\n\
# a comment\r\n\
Msg-Type= Mail;\r\n\
Msg-Id= 3C5A1B2E.CORP.PO1.100.1;\r\n\
From=\r\n\
    WPD= CORP;\r\n\
    WPPO= PO1;\r\n\
    WPU= jdoe;\r\n\
    CDBA= CORP.PO1.jdoe;\r\n\
;\r\n\
From-Text= John Doe;\r\n\
To-Text= 0169293999@fax.example.com, FAX:0169293998;\r\n\
Subject= Devis = 2 pages;\r\n\
Msg-File= 0001.txt;\r\n\
Attach-File=\r\n\
    Current-File= 0002.bin;\r\n\
    Original-File= devis.docx;\r\n\
    Size= 5;\r\n\
;\r\n\
-END-\r\n";

    #[test]
    fn a_gateway_file_reads_into_keywords_and_blocks() {
        let f = KeywordFile::parse(SAMPLE).unwrap();
        assert_eq!(f.text("msg-type"), Some("Mail"));
        assert_eq!(f.text("Subject"), Some("Devis = 2 pages"));
        let from = f.blocks("From").next().unwrap();
        assert_eq!(field(from, "CDBA"), Some("CORP.PO1.jdoe"));
        let att: Vec<_> = f.blocks("Attach-File").collect();
        assert_eq!(att.len(), 1);
        assert_eq!(field(att[0], "Original-File"), Some("devis.docx"));
        assert_eq!(f.texts("To-Text").count(), 1);
    }

    #[test]
    fn what_is_written_reads_back() {
        let mut f = KeywordFile::default();
        f.push_text("WPC-API", "1.2")
            .push_text("Subject", "Fax delivered; 2 pages")
            .push_block("Status-Report", &[("Action", "Delivered".into())]);
        let text = f.write();
        assert!(text.ends_with("-END-\r\n"));
        let back = KeywordFile::parse(&text).unwrap();
        assert_eq!(back.text("Subject"), Some("Fax delivered  2 pages"));
        assert_eq!(
            field(back.blocks("Status-Report").next().unwrap(), "Action"),
            Some("Delivered")
        );
    }

    #[test]
    fn broken_files_say_what_is_wrong() {
        let cut = KeywordFile::parse("WPC-API= 1.2;\r\nMsg-Type= Mail;\r\n").unwrap_err();
        assert!(cut.contains("-END-"), "{cut}");
        let open = KeywordFile::parse("From=\r\n  WPU= x;\r\n-END-\r\n").unwrap_err();
        assert!(open.contains("never closed"), "{open}");
        let junk = KeywordFile::parse("hello\r\n-END-\r\n").unwrap_err();
        assert!(junk.contains("line 1"), "{junk}");
        let multi = KeywordFile::parse("Subject= one\r\ntwo;\r\n-END-\r\n").unwrap();
        assert_eq!(multi.text("Subject"), Some("one\ntwo"));
    }
}
