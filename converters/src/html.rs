//! HTML made safe to print: a mail's HTML body (or an HTML attachment, or the cover template)
//! becomes a standalone page that LibreOffice lays out.
//!
//! In: HTML as received, and the `cid:` references it may show (Content-ID → local file name).
//! Out: a complete UTF-8 document whose only references are those local file names. Scripts,
//! styles sheets, forms, frames and every other URL (remote `http:` images, `file:` paths,
//! relative paths that could reach files on this machine) are removed, and inline styles keep
//! only layout and typography properties, so that printing a mail never fetches anything and
//! never shows a file of the server. Pure.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

/// Inline style properties kept (colours, type, boxes; no `background-image`, no `url()`).
const STYLE_PROPERTIES: &[&str] = &[
    "color",
    "background-color",
    "font",
    "font-family",
    "font-size",
    "font-style",
    "font-weight",
    "text-align",
    "text-decoration",
    "text-indent",
    "text-transform",
    "vertical-align",
    "line-height",
    "letter-spacing",
    "white-space",
    "width",
    "height",
    "max-width",
    "margin",
    "margin-top",
    "margin-bottom",
    "margin-left",
    "margin-right",
    "padding",
    "padding-top",
    "padding-bottom",
    "padding-left",
    "padding-right",
    "border",
    "border-top",
    "border-bottom",
    "border-left",
    "border-right",
    "border-collapse",
    "border-color",
    "border-style",
    "border-width",
    "border-spacing",
];

/// Presentational tags and attributes of mail HTML (Outlook still writes `<font>`).
const EXTRA_TAGS: &[&str] = &["font", "center"];
const EXTRA_GENERIC_ATTRIBUTES: &[&str] = &["style", "align", "valign", "bgcolor", "width"];

/// The `cid:` URL's Content-ID, as RFC 2392 writes it (percent-encoded, no angle brackets).
fn content_id(url: &str) -> Option<String> {
    let rest = url
        .trim()
        .get(..4)?
        .eq_ignore_ascii_case("cid:")
        .then(|| &url.trim()[4..])?;
    Some(percent_decode(rest))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The Content-IDs the HTML refers to with `cid:` URLs (without angle brackets).
pub(crate) fn referenced_cids(html: &str) -> HashSet<String> {
    let lower = html.to_ascii_lowercase();
    let mut out = HashSet::new();
    let mut from = 0;
    while let Some(k) = lower[from..].find("cid:") {
        let start = from + k;
        let end = html[start..]
            .find(|c: char| c == '"' || c == '\'' || c == ')' || c == '>' || c.is_whitespace())
            .map_or(html.len(), |e| start + e);
        if let Some(id) = content_id(&html[start..end]) {
            out.insert(id);
        }
        from = end.max(start + 4);
    }
    out
}

/// The printable document: `html` cleaned, each `cid:` image pointing at its file in `images`
/// (Content-ID → file name next to the document); an image that is not there is left out.
pub(crate) fn printable(html: &str, images: &HashMap<String, String>) -> String {
    let images = images.clone();
    let mut builder = ammonia::Builder::default();
    builder
        .add_tags(EXTRA_TAGS)
        .add_tag_attributes("font", ["color", "face", "size"])
        .add_tag_attributes("table", ["border", "cellpadding", "cellspacing", "width"])
        .add_generic_attributes(EXTRA_GENERIC_ATTRIBUTES)
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect())
        .url_schemes(HashSet::from(["cid"]))
        // the only relative URLs left are the local image files named by the filter below
        .url_relative(ammonia::UrlRelative::Custom(Box::new(keep_local_image)))
        .link_rel(None)
        .strip_comments(true)
        .attribute_filter(
            move |element, attribute, value| match (element, attribute) {
                ("img", "src") => content_id(value)
                    .and_then(|id| images.get(&id))
                    .map(|file| Cow::Owned(file.clone())),
                // links print as their text; nothing else may point anywhere
                (_, "href" | "src" | "srcset" | "cite" | "longdesc" | "background") => None,
                _ => Some(Cow::Borrowed(value)),
            },
        );
    let body = builder.clean(html).to_string();
    // The body text is in the font the mail's own body style or style sheet names (removed
    // with the sheet, so carried here), else in the sans-serif mail programs show, not
    // LibreOffice's default serif. Names are found by fontconfig and LibreOffice's
    // replacement table: Arial and Helvetica as Liberation Sans, Times New Roman as Liberation
    // Serif, Courier New as Liberation Mono, Calibri as Carlito, Cambria as Caladea (each
    // metric-compatible: the lines break where they did for the sender), others (Verdana,
    // Segoe UI, Tahoma) as DejaVu Sans.
    let font = match body_font(html) {
        Some(named) => format!("{named}, {DEFAULT_FONT}"),
        None => DEFAULT_FONT.to_string(),
    };
    format!(
        "<!DOCTYPE html>\n<html><head><meta http-equiv=\"Content-Type\" \
         content=\"text/html; charset=utf-8\"></head>\n\
         <body style=\"font-family: {font}\">{body}</body></html>\n"
    )
}

/// The font of text whose font the mail does not name.
const DEFAULT_FONT: &str = "'Liberation Sans', Arial, sans-serif";

/// Style sheet selectors whose font is the body text's (Outlook puts it on `MsoNormal`).
const BODY_SELECTORS: &[&str] = &["body", "p", "div", "p.msonormal", ".msonormal"];

/// The longest font list taken from a mail; a longer one is ignored.
const MAX_FONT_LIST: usize = 200;

/// The font list the mail gives its body text: the `<body style>`'s `font-family`, else the
/// last style sheet rule for one of [`BODY_SELECTORS`] that names one. Only a plain list of
/// family names is taken (letters, digits, spaces, quotes, commas, hyphens), with double
/// quotes made single so that it can stand in a `style` attribute.
pub(crate) fn body_font(html: &str) -> Option<String> {
    // searched in lower case; ASCII lower case keeps every offset, so names keep their case
    let lower = html.to_ascii_lowercase();
    let from_body = lower.find("<body").and_then(|start| {
        let tag = &lower[start..start + lower[start..].find('>')?];
        font_family(style_attribute(tag)?)
    });
    let from_sheet = || {
        let mut found = None;
        let mut rest = lower.as_str();
        while let Some(start) = rest.find("<style") {
            let sheet = &rest[start..];
            let end = sheet.find("</style").unwrap_or(sheet.len());
            for rule in sheet[..end].split('}') {
                let Some((selectors, declarations)) = rule.rsplit_once('{') else {
                    continue;
                };
                // an at-rule's block (`@media print { p {`) leaves the rule's selector last
                let selectors = selectors.rsplit(['{', '>']).next().unwrap_or("");
                if selectors
                    .split(',')
                    .any(|s| BODY_SELECTORS.contains(&s.trim()))
                {
                    found = font_family(declarations).or(found);
                }
            }
            rest = &sheet[end..];
        }
        found
    };
    let found = from_body.or_else(from_sheet)?;
    let start = found.as_ptr() as usize - lower.as_ptr() as usize;
    let list = html[start..start + found.len()].trim();
    let list = list.strip_suffix("!important").unwrap_or(list).trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || " ,'\"-_".contains(c);
    (!list.is_empty() && list.len() <= MAX_FONT_LIST && list.chars().all(plain))
        .then(|| list.replace('"', "'"))
}

/// The value of a tag's `style` attribute, in whichever quotes it has.
fn style_attribute(tag: &str) -> Option<&str> {
    let at = tag.find("style")? + "style".len();
    let value = tag[at..].trim_start().strip_prefix('=')?.trim_start();
    let quote = value.chars().next().filter(|c| matches!(c, '"' | '\''));
    match quote {
        Some(q) => value[1..].split(q).next(),
        None => value.split(char::is_whitespace).next(),
    }
}

/// The value of the first `font-family` declaration in `declarations`.
fn font_family(declarations: &str) -> Option<&str> {
    let start = declarations.find("font-family")? + "font-family".len();
    let value = declarations[start..].trim_start().strip_prefix(':')?;
    Some(value.split(';').next().unwrap_or(value))
}

fn keep_local_image(url: &str) -> Option<Cow<'_, str>> {
    is_local_image_name(url).then_some(Cow::Borrowed(url))
}

/// Whether `name` is one of the image file names the MIME walk gives (`cid3.png`).
fn is_local_image_name(name: &str) -> bool {
    name.strip_prefix("cid").is_some_and(|rest| {
        rest.split_once('.').is_some_and(|(n, ext)| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        })
    })
}

/// `text` escaped for HTML (for values put into the cover template).
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mapped_cid_images_survive() {
        let images = HashMap::from([("logo@x".to_string(), "cid0.png".to_string())]);
        let html = r#"<p style="color:red;background-image:url(file:///etc/passwd)">Hi
            <img src="cid:logo%40x"><img src="cid:other@x"><img src="http://tracker/p.gif">
            <img src="../../etc/passwd"><img src="file:///etc/shadow">
            <a href="http://example.com/">site</a><script>alert(1)</script>
            <style>p{color:blue}</style><iframe src="http://x/"></iframe></p>"#;
        let out = printable(html, &images);
        assert!(out.contains(r#"<img src="cid0.png">"#), "{out}");
        for gone in [
            "tracker", "passwd", "shadow", "http:", "script", "alert", "iframe", "cid:", "url(",
        ] {
            assert!(!out.contains(gone), "{gone} survived: {out}");
        }
        assert!(out.contains("site") && out.contains("color:red"), "{out}");
        assert!(out.contains("charset=utf-8"));
    }

    #[test]
    fn cids_are_found_in_src_and_styles() {
        let html = r#"<img src="cid:a@b"><IMG SRC='CID:c%20d'><td style="x:url(cid:e)">"#;
        let got = referenced_cids(html);
        assert_eq!(got, HashSet::from(["a@b".into(), "c d".into(), "e".into()]));
    }

    #[test]
    fn the_body_font_is_the_one_the_mail_names() {
        let outlook = r##"<html><head><style><!--
            @font-face {font-family:"Cambria Math"; panose-1:2 4 5 3 5 4 6 3 2 4;}
            @font-face {font-family:Calibri; panose-1:2 15 5 2 2 2 4 3 2 4;}
            p.MsoNormal, li.MsoNormal, div.MsoNormal
                {margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}
            a:link {color:#0563C1; font-family:"Courier New";}
            @media print { p { font-family: Cambria !important } }
            --></style></head><body lang=EN-US link="#0563C1"><p class=MsoNormal>Hi</p>"##;
        assert_eq!(body_font(outlook).as_deref(), Some("Cambria"));
        let screen_only =
            outlook.replace("@media print { p { font-family: Cambria !important } }", "");
        assert_eq!(
            body_font(&screen_only).as_deref(),
            Some("'Calibri',sans-serif")
        );
        let on_body = r#"<BODY STYLE='font-family:"Segoe UI", Verdana; font-size:10pt'><p>x"#;
        assert_eq!(body_font(on_body).as_deref(), Some("'Segoe UI', Verdana"));
        assert_eq!(
            body_font("<body style=font-family:Arial><p>x").as_deref(),
            Some("Arial")
        );
        // nothing named, or something that is not a plain list of names
        for html in [
            "<p>no font</p>",
            "<body style=\"color:red\">",
            "<body style=\"font-family: x\\\" onload=y\">",
            "<style>p{font-family:url(http://x/f.woff)}</style>",
            "<style>p{font-family:</style>",
            "<style>}}}{{{font-family</style>",
        ] {
            assert_eq!(body_font(html), None, "{html}");
        }
        let long = format!("<body style=\"font-family:{}\">", "a,".repeat(200));
        assert_eq!(body_font(&long), None);
        let page = printable(on_body, &HashMap::new());
        assert!(
            page.contains("<body style=\"font-family: 'Segoe UI', Verdana, 'Liberation Sans'"),
            "{page}"
        );
        let page = printable("<p>x</p>", &HashMap::new());
        assert!(
            page.contains("font-family: 'Liberation Sans', Arial, sans-serif"),
            "{page}"
        );
    }

    #[test]
    fn escaping() {
        assert_eq!(
            escape(r#"<Tom & "Jerry">"#),
            "&lt;Tom &amp; &quot;Jerry&quot;&gt;"
        );
    }
}
