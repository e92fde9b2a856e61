//! Plain text to PostScript, for Ghostscript: Courier 10 pt on the configured paper, 3/4 inch
//! margins, long lines wrapped, tabs expanded, form feeds honoured, Latin-1 characters kept (the
//! font is re-encoded with ISOLatin1Encoding) and others shown as `?`. Pure.

use crate::Paper;

const MARGIN_PT: u32 = 54;
const FONT_PT: u32 = 10;
const LEADING_PT: u32 = 12;
/// Courier's advance width is 0.6 em.
const CHAR_WIDTH_PT_X10: u32 = 6 * FONT_PT;
const TAB: usize = 8;

/// Renders `text` as a PostScript program (one or more pages).
pub fn to_postscript(text: &str, paper: Paper) -> String {
    let (width, height) = paper.points();
    let columns = ((width - 2 * MARGIN_PT) * 10 / CHAR_WIDTH_PT_X10) as usize;
    let rows = ((height - 2 * MARGIN_PT) / LEADING_PT) as usize;
    let pages = paginate(&wrap(text, columns), rows);
    let mut ps = String::with_capacity(text.len() * 2 + 1024);
    ps.push_str("%!PS-Adobe-3.0\n");
    ps.push_str(&format!("%%Pages: {}\n%%EndComments\n", pages.len()));
    ps.push_str(
        "/Courier findfont dup length dict begin { 1 index /FID ne { def } { pop pop } ifelse } forall \
         /Encoding ISOLatin1Encoding def currentdict end /Courier-Latin1 exch definefont pop\n",
    );
    for (n, page) in pages.iter().enumerate() {
        ps.push_str(&format!(
            "%%Page: {} {}\n/Courier-Latin1 findfont {FONT_PT} scalefont setfont\n",
            n + 1,
            n + 1
        ));
        for (i, line) in page.iter().enumerate() {
            let y = height - MARGIN_PT - FONT_PT - (i as u32) * LEADING_PT;
            ps.push_str(&format!("{MARGIN_PT} {y} moveto ({}) show\n", escape(line)));
        }
        ps.push_str("showpage\n");
    }
    ps.push_str("%%EOF\n");
    ps
}

/// Splits into display lines no longer than `columns`, expanding tabs; a form feed starts a new
/// page (kept as a `\x0c` line).
fn wrap(text: &str, columns: usize) -> Vec<String> {
    let mut out = Vec::new();
    for raw in normalize_newlines(text).split('\n') {
        for (k, segment) in raw.split('\x0c').enumerate() {
            if k > 0 {
                out.push("\x0c".to_string());
            }
            let mut line = String::new();
            let mut col = 0;
            for c in segment.chars() {
                if c == '\t' {
                    let spaces = TAB - col % TAB;
                    line.extend(std::iter::repeat_n(' ', spaces));
                    col += spaces;
                } else if !c.is_control() {
                    line.push(c);
                    col += 1;
                }
                if col >= columns {
                    out.push(std::mem::take(&mut line));
                    col = 0;
                }
            }
            if !line.is_empty() || col == 0 {
                out.push(line);
            }
        }
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out
}

/// Line ends as `\n`: CRLF, a lone CR, and CR CR LF (a quoted-printable `=0D` before a hard
/// line break, which Outlook and GitHub write) each end one line.
fn normalize_newlines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\r' {
            out.push(c);
            continue;
        }
        let mut crs = 1;
        while chars.peek() == Some(&'\r') {
            chars.next();
            crs += 1;
        }
        if chars.peek() == Some(&'\n') {
            chars.next();
            out.push('\n');
        } else {
            out.extend(std::iter::repeat_n('\n', crs));
        }
    }
    out
}

fn paginate(lines: &[String], rows: usize) -> Vec<Vec<String>> {
    let mut pages = vec![Vec::new()];
    for line in lines {
        let page = pages.last_mut().expect("invariant: pages is never empty");
        if line == "\x0c" || page.len() == rows {
            pages.push(Vec::new());
            if line == "\x0c" {
                continue;
            }
        }
        pages
            .last_mut()
            .expect("invariant: pages is never empty")
            .push(line.clone());
    }
    pages
}

/// A PostScript string literal body: Latin-1 bytes, with `\`, `(` and `)` escaped and bytes
/// outside printable ASCII as octal escapes.
fn escape(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    for c in line.chars() {
        let code = c as u32;
        match c {
            '\\' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ if (0xA0..=0xFF).contains(&code) => out.push_str(&format!("\\{code:03o}")),
            _ => out.push('?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_postscript_specials_and_latin1() {
        assert_eq!(escape("a(b)c\\d"), "a\\(b\\)c\\\\d");
        assert_eq!(escape("café"), "caf\\351");
        assert_eq!(escape("日本"), "??");
    }

    #[test]
    fn wraps_and_expands_tabs() {
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a\tb", 20), vec!["a       b"]);
        assert_eq!(wrap("one\r\ntwo\n\n", 20), vec!["one", "two"]);
        assert_eq!(wrap("a\r\r\nb\rc\r\rd", 20), vec!["a", "b", "c", "", "d"]);
    }

    #[test]
    fn paginates_by_rows_and_form_feeds() {
        let lines: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        assert_eq!(paginate(&lines, 2).len(), 3);
        let with_ff = wrap("page one\x0cpage two", 40);
        assert_eq!(
            paginate(&with_ff, 60),
            vec![vec!["page one".to_string()], vec!["page two".to_string()]]
        );
    }

    #[test]
    fn a4_has_the_expected_geometry() {
        let ps = to_postscript(&"x\n".repeat(120), Paper::A4);
        // 842 - 108 = 734 pt of text at 12 pt leading: 61 lines a page
        assert!(ps.contains("%%Pages: 2"), "{}", &ps[..200]);
        assert!(ps.starts_with("%!PS-Adobe-3.0"));
    }
}
