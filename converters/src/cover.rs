//! Cover pages: an HTML template, filled per recipient.
//!
//! The template (faxhub's `share/cover.html` built in, or the file `[convert.cover] template`
//! names) has `{{placeholders}}` for the sender, the recipient, the subject, the date, the page
//! count and the message text. Each value is HTML-escaped, so nothing a mail user writes can
//! change the layout or reach a file. The filled page is laid out by the LibreOffice farm like
//! any HTML; `Converter::with_cover` (lib.rs) puts it before the job's pages, which are rendered
//! once per job. Filling is pure.

use crate::html::escape;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The built-in template.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../share/cover.html");

/// The placeholders a template may use.
pub const PLACEHOLDERS: &[&str] = &[
    "from_name",
    "from_address",
    "from_company",
    "from_phone",
    "from_fax",
    "to_name",
    "to_number",
    "to_company",
    "subject",
    "date",
    "pages",
    "body",
];

/// The `[convert.cover]` section.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CoverConfig {
    /// Whether faxes get a cover page; a message may ask otherwise with `X-Fax-Cover: yes|no`.
    pub enabled: bool,
    /// An HTML template of your own (see `share/cover.html`); the built-in one if unset.
    pub template: Option<PathBuf>,
    /// Put the message text on the cover page instead of a page of its own.
    pub body: bool,
    /// The sending company's name and fax number, as the cover shows them.
    pub company: String,
    pub fax_number: String,
}

impl CoverConfig {
    /// The template's text and the images it shows by relative name (`src="logo.png"`), read
    /// from the template's directory: LibreOffice is given copies of those files beside the
    /// page, never the directory (which may hold the configuration).
    pub fn load_template(&self) -> Result<Template, String> {
        match &self.template {
            None => Ok((DEFAULT_TEMPLATE.to_string(), Vec::new())),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cover template {}: {e}", path.display()))?;
                let unknown = unknown_placeholders(&text);
                if !unknown.is_empty() {
                    return Err(format!(
                        "cover template {}: unknown placeholder(s) {}; known: {}",
                        path.display(),
                        unknown.join(", "),
                        PLACEHOLDERS.join(", ")
                    ));
                }
                let dir = path.parent().unwrap_or(Path::new("."));
                let mut images = Vec::new();
                for name in relative_images(&text) {
                    let file = dir.join(&name);
                    // a regular file, never a link to elsewhere
                    let meta = std::fs::symlink_metadata(&file)
                        .map_err(|e| format!("cover template image {}: {e}", file.display()))?;
                    if !meta.is_file() || meta.len() > MAX_IMAGE_BYTES {
                        return Err(format!(
                            "cover template image {}: not a regular file of at most {} MB",
                            file.display(),
                            MAX_IMAGE_BYTES >> 20
                        ));
                    }
                    let bytes = std::fs::read(&file)
                        .map_err(|e| format!("cover template image {}: {e}", file.display()))?;
                    images.push((name, bytes));
                }
                Ok((text, images))
            }
        }
    }
}

/// A template's text and its images (file name, bytes).
pub type Template = (String, Vec<(String, Vec<u8>)>);

/// A cover template's image may be this large.
const MAX_IMAGE_BYTES: u64 = 10 << 20;

/// The plain file names a template's `src="…"` attributes give (no directory, no scheme).
fn relative_images(html: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (k, _) in html.match_indices("src=") {
        let rest = &html[k + 4..];
        let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        let Some(end) = rest[1..].find(quote) else {
            continue;
        };
        let name = &rest[1..1 + end];
        let plain = !name.is_empty()
            && name != "."
            && name != ".."
            && !name.contains(['/', '\\', ':', '?', '#'])
            && !name.starts_with('.');
        if plain && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

/// What the cover says about the message (its sender, subject, date and text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CoverFields {
    pub from_name: String,
    pub from_address: String,
    pub subject: String,
    pub date: String,
    /// The message text, when the cover carries it.
    pub body: Option<String>,
    /// The sender's company, phone and fax number, when the directory knows them (else the
    /// cover shows `[convert.cover]`'s company and fax number, and no phone).
    pub company: Option<String>,
    pub phone: Option<String>,
    pub fax: Option<String>,
}

/// Who one cover is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Addressee {
    pub name: Option<String>,
    /// As it should read (E.164).
    pub number: String,
    /// Their company, when a broadcast list gives it.
    pub company: Option<String>,
}

/// `{{name}}` placeholders in `template` that faxhub does not fill.
pub fn unknown_placeholders(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        let name = rest[start + 2..start + 2 + len].trim();
        if !PLACEHOLDERS.contains(&name) && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
        rest = &rest[start + 2 + len + 2..];
    }
    out
}

/// The template filled for one recipient of a fax of `pages` pages in all.
pub fn fill(
    template: &str,
    config: &CoverConfig,
    fields: &CoverFields,
    to: &Addressee,
    pages: u32,
) -> String {
    let body = fields
        .body
        .as_deref()
        .map(|b| escape(b.trim_end()).replace('\n', "<br>\n"))
        .unwrap_or_default();
    let value = |name: &str| -> String {
        match name {
            "from_name" => escape(&fields.from_name),
            "from_address" => escape(&fields.from_address),
            "from_company" => escape(fields.company.as_deref().unwrap_or(&config.company)),
            "from_phone" => escape(fields.phone.as_deref().unwrap_or("")),
            "from_fax" => escape(fields.fax.as_deref().unwrap_or(&config.fax_number)),
            "to_name" => escape(to.name.as_deref().unwrap_or("")),
            "to_number" => escape(&to.number),
            "to_company" => escape(to.company.as_deref().unwrap_or("")),
            "subject" => escape(&fields.subject),
            "date" => escape(&fields.date),
            "pages" => pages.to_string(),
            "body" => body.clone(),
            _ => String::new(),
        }
    };
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(&value(rest[start + 2..start + 2 + len].trim()));
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> CoverFields {
        CoverFields {
            from_name: "Zoé <Admin>".into(),
            from_address: "zoe@example.com".into(),
            subject: "Devis & \"urgent\"".into(),
            date: "Fri, 27 Nov 2026 10:00:00 +0100".into(),
            body: Some("line 1\n<script>x</script>\n".into()),
            ..CoverFields::default()
        }
    }

    #[test]
    fn every_placeholder_is_filled_and_escaped() {
        let config = CoverConfig {
            company: "ACME SA".into(),
            fax_number: "+33 1 69 29 39 99".into(),
            ..CoverConfig::default()
        };
        let to = Addressee {
            name: Some("Jean".into()),
            number: "+33169293998".into(),
            company: None,
        };
        let out = fill(DEFAULT_TEMPLATE, &config, &fields(), &to, 4);
        assert!(!out.contains("{{"), "{out}");
        for want in [
            "Zoé &lt;Admin&gt;",
            "zoe@example.com",
            "ACME SA",
            "+33 1 69 29 39 99",
            "Jean",
            "+33169293998",
            "Devis &amp; &quot;urgent&quot;",
            "27 Nov 2026",
            ">4, this page",
            "line 1<br>\n&lt;script&gt;",
        ] {
            assert!(out.contains(want), "{want} missing");
        }
    }

    #[test]
    fn the_senders_own_company_phone_and_fax_come_before_the_sites() {
        let config = CoverConfig {
            company: "ACME SA".into(),
            fax_number: "+33 1 69 29 39 99".into(),
            ..CoverConfig::default()
        };
        let to = Addressee {
            name: None,
            number: "+33169293998".into(),
            company: None,
        };
        let mine = CoverFields {
            company: Some("Durand & Fils".into()),
            phone: Some("+33 1 69 29 39 00".into()),
            fax: Some("+33 1 42 00 01 55".into()),
            ..fields()
        };
        let out = fill(DEFAULT_TEMPLATE, &config, &mine, &to, 1);
        for want in [
            "Durand &amp; Fils",
            "+33 1 69 29 39 00",
            "+33 1 42 00 01 55",
        ] {
            assert!(out.contains(want), "{want} missing");
        }
        assert!(!out.contains("ACME SA") && !out.contains("+33 1 69 29 39 99"));
    }

    #[test]
    fn the_built_in_template_uses_only_known_placeholders() {
        assert!(unknown_placeholders(DEFAULT_TEMPLATE).is_empty());
        assert_eq!(
            unknown_placeholders("{{ to_name }} {{sender}} {{sender}} {{x"),
            ["sender"]
        );
    }

    #[test]
    fn a_template_shows_only_plain_file_names_beside_it() {
        let html = r#"<img src="logo.png"><img src='sig.jpg'><img src="/etc/passwd">
            <img src="../secret.png"><img src="file:///etc/shadow"><img src="http://x/y.png">
            <img src=".hidden.png"><img src="logo.png">"#;
        assert_eq!(relative_images(html), ["logo.png", "sig.jpg"]);
    }

    #[test]
    fn a_templates_images_are_read_and_a_link_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("logo.png"), b"png").unwrap();
        let template = dir.path().join("cover.html");
        std::fs::write(&template, r#"<img src="logo.png">"#).unwrap();
        let config = CoverConfig {
            template: Some(template.clone()),
            ..CoverConfig::default()
        };
        let (_, images) = config.load_template().unwrap();
        assert_eq!(images, [("logo.png".to_string(), b"png".to_vec())]);
        std::fs::remove_file(dir.path().join("logo.png")).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("logo.png")).unwrap();
        let err = config.load_template().unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
