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
    format!(
        "<!DOCTYPE html>\n<html><head><meta http-equiv=\"Content-Type\" \
         content=\"text/html; charset=utf-8\"></head>\n<body>{body}</body></html>\n"
    )
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
    fn escaping() {
        assert_eq!(
            escape(r#"<Tom & "Jerry">"#),
            "&lt;Tom &amp; &quot;Jerry&quot;&gt;"
        );
    }
}
