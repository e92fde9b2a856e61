//! A MIME message made from files and a few fields, for sources that are not mail already:
//! `faxhub send`, a hot-folder scan, a GroupWise keyword file. The message then takes the path
//! every mail takes (spool, conversion), so a fax looks the same whatever brought it.

use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

/// What the message says.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    /// `addr` or `Name <addr>`.
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The right-hand side of the Message-ID.
    pub host: String,
    /// The Message-ID's left-hand side (default: a fresh one).
    pub id: Option<String>,
    /// A text body (faxed as a page of its own, as a mail body is).
    pub text: Option<String>,
    /// Files, attached with their names.
    pub files: Vec<(String, Vec<u8>)>,
    /// Extra header fields, written as given.
    pub headers: Vec<(String, String)>,
}

impl Draft {
    /// A subject for files sent without one: their names, comma-separated.
    pub fn subject_of(files: &[(String, Vec<u8>)]) -> String {
        files
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn build(&self) -> Vec<u8> {
        let mut parts = Vec::new();
        if let Some(text) = &self.text {
            parts.push(MimePart::new(
                "text/plain",
                BodyPart::Text(text.clone().into()),
            ));
        }
        for (name, bytes) in &self.files {
            parts.push(
                MimePart::new(
                    ContentType::new(content_type(name, bytes)),
                    BodyPart::Binary(bytes.clone().into()),
                )
                .attachment(name.clone()),
            );
        }
        let id = self.id.clone().unwrap_or_else(|| {
            faxhub_queue::JobId::generate(faxhub_queue::job::now_ms()).to_string()
        });
        let mut message = MessageBuilder::new()
            .from(address(&self.from))
            .to(self
                .to
                .iter()
                .map(|t| address(t))
                .collect::<Vec<Address<'_>>>())
            .subject(self.subject.clone())
            .header("Date", Raw::new(chrono::Utc::now().to_rfc2822()))
            .message_id(format!("{id}@{}", self.host));
        for (name, value) in &self.headers {
            message = message.header(name.clone(), Raw::new(value.clone()));
        }
        message
            .body(MimePart::new("multipart/mixed", BodyPart::Multipart(parts)))
            .write_to_vec()
            .unwrap_or_default()
    }
}

/// `Name <addr>` or `addr` as a header address.
fn address(text: &str) -> Address<'static> {
    match text.rsplit_once('<') {
        Some((name, rest)) if rest.ends_with('>') => {
            let name = name.trim().trim_matches('"').trim();
            Address::new_address(
                Some(name.to_string()).filter(|n| !n.is_empty()),
                rest.trim_end_matches('>').trim().to_string(),
            )
        }
        _ => Address::new_address(None::<String>, text.trim().to_string()),
    }
}

/// The content type of an attached file, by its first bytes, else its name.
pub fn content_type(name: &str, bytes: &[u8]) -> &'static str {
    let lower = name.to_ascii_lowercase();
    let ext = lower.rsplit_once('.').map_or("", |(_, e)| e);
    if bytes.starts_with(b"%PDF-") {
        "application/pdf"
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        "image/tiff"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else {
        match ext {
            "pdf" => "application/pdf",
            "tif" | "tiff" => "image/tiff",
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            "txt" | "text" => "text/plain; charset=utf-8",
            "html" | "htm" => "text/html; charset=utf-8",
            _ => "application/octet-stream",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MimeHeaders;

    #[test]
    fn a_draft_parses_back_with_its_text_and_files() {
        let m = Draft {
            from: "Alice Martin <alice@example.com>".into(),
            to: vec!["0169293999@fax.localhost".into()],
            subject: "Tarif été".into(),
            host: "host".into(),
            id: Some("abc".into()),
            text: Some("Bonjour".into()),
            files: vec![
                ("a.pdf".into(), b"%PDF-1.4 x".to_vec()),
                ("scan.tif".into(), b"II*\0rest".to_vec()),
            ],
            headers: vec![("X-Faxhub-Source".into(), "hotfolder".into())],
        }
        .build();
        let parsed = mail_parser::MessageParser::default().parse(&m).unwrap();
        assert_eq!(parsed.subject(), Some("Tarif été"));
        assert_eq!(parsed.message_id(), Some("abc@host"));
        let from = parsed.from().unwrap().first().unwrap();
        assert_eq!(from.name(), Some("Alice Martin"));
        assert_eq!(from.address(), Some("alice@example.com"));
        assert_eq!(parsed.body_text(0).unwrap().trim(), "Bonjour");
        let atts: Vec<_> = parsed.attachments().collect();
        assert_eq!(atts.len(), 2);
        assert_eq!(atts[0].contents(), b"%PDF-1.4 x");
        assert_eq!(atts[1].attachment_name(), Some("scan.tif"));
        assert_eq!(
            parsed.header_raw("X-Faxhub-Source").map(str::trim),
            Some("hotfolder")
        );
    }
}
