//! A received fax as mail to the owner of the number dialled: subject "Fax from <CSID or
//! caller> (<n> pages)", a text and HTML body with the caller's number, the sending machine's
//! ident (TSI), the number dialled, pages, duration, time and quality (speed, ECM, lines the
//! receiver could not read, whether the fax ended properly), and the pages attached (PDF, or the
//! TIFF as received). Built with mail-builder; pure apart from the boundaries.

use crate::receipt::Language;
use chrono::{DateTime, FixedOffset};
use mail_builder::MessageBuilder;
use mail_builder::headers::address::Address;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::{BodyPart, MimePart};

/// What arrived, as the mail tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct FaxMail {
    pub language: Language,
    pub hostname: String,
    /// (name, address) of the From:.
    pub from: (String, String),
    pub to: String,
    pub id: String,
    pub received_at: DateTime<FixedOffset>,
    pub caller: Option<String>,
    pub did: String,
    pub remote_ident: Option<String>,
    pub pages: u32,
    pub duration_seconds: f64,
    pub bit_rate: u32,
    pub ecm: bool,
    /// "t38" or "g711".
    pub transport: String,
    pub bad_rows: u32,
    pub complete: bool,
    /// "received", or what went wrong.
    pub result: String,
    /// (file name, content type, bytes).
    pub attachment: Option<(String, String, Vec<u8>)>,
}

struct Words {
    from: &'static str,
    /// "Fax from …" when nothing says who.
    unknown: &'static str,
    page: &'static str,
    pages: &'static str,
    pages_label: &'static str,
    intro: &'static str,
    caller: &'static str,
    ident: &'static str,
    dialled: &'static str,
    received: &'static str,
    duration: &'static str,
    quality: &'static str,
    ecm: &'static str,
    no_ecm: &'static str,
    bad_rows: &'static str,
    incomplete: &'static str,
}

fn words(language: Language) -> &'static Words {
    match language {
        Language::En => &Words {
            from: "Fax from",
            unknown: "Fax from an unknown sender",
            page: "page",
            pages: "pages",
            pages_label: "Pages",
            intro: "A fax arrived for you; its pages are attached.",
            caller: "Caller",
            ident: "Sending fax ID",
            dialled: "Number dialled",
            received: "Received",
            duration: "Duration",
            quality: "Quality",
            ecm: "error correction (ECM)",
            no_ecm: "no error correction",
            bad_rows: "lines unreadable",
            incomplete: "Incomplete: ",
        },
        Language::Fr => &Words {
            from: "Fax de",
            unknown: "Fax d'un expéditeur inconnu",
            page: "page",
            pages: "pages",
            pages_label: "Pages",
            intro: "Un fax est arrivé pour vous ; ses pages sont jointes.",
            caller: "Appelant",
            ident: "Identifiant du fax émetteur",
            dialled: "Numéro appelé",
            received: "Reçu le",
            duration: "Durée",
            quality: "Qualité",
            ecm: "correction d'erreurs (ECM)",
            no_ecm: "sans correction d'erreurs",
            bad_rows: "lignes illisibles",
            incomplete: "Incomplet : ",
        },
        Language::De => &Words {
            from: "Fax von",
            unknown: "Fax von unbekanntem Absender",
            page: "Seite",
            pages: "Seiten",
            pages_label: "Seiten",
            intro: "Für Sie ist ein Fax eingegangen; die Seiten sind angehängt.",
            caller: "Anrufer",
            ident: "Kennung des Senders",
            dialled: "Gewählte Nummer",
            received: "Empfangen",
            duration: "Dauer",
            quality: "Qualität",
            ecm: "Fehlerkorrektur (ECM)",
            no_ecm: "ohne Fehlerkorrektur",
            bad_rows: "Zeilen unlesbar",
            incomplete: "Unvollständig: ",
        },
    }
}

impl FaxMail {
    /// Who sent it: the machine's ident, else the caller's number.
    fn sender(&self) -> Option<&str> {
        self.remote_ident
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .or(self.caller.as_deref().filter(|s| !s.is_empty()))
    }

    pub fn subject(&self) -> String {
        let w = words(self.language);
        let pages = if self.pages == 1 { w.page } else { w.pages };
        match self.sender() {
            Some(who) => format!("{} {who} ({} {pages})", w.from, self.pages),
            None => format!("{} ({} {pages})", w.unknown, self.pages),
        }
    }

    fn rows(&self) -> Vec<(&'static str, String)> {
        let w = words(self.language);
        let dash = || "-".to_string();
        let mut quality = format!(
            "{} bit/s, {}, {}",
            self.bit_rate,
            if self.ecm { w.ecm } else { w.no_ecm },
            self.transport
                .to_uppercase()
                .replace("G711", "G.711")
                .replace("T38", "T.38")
        );
        if self.bad_rows > 0 {
            quality.push_str(&format!(", {} {}", self.bad_rows, w.bad_rows));
        }
        vec![
            (w.caller, self.caller.clone().unwrap_or_else(dash)),
            (w.ident, self.remote_ident.clone().unwrap_or_else(dash)),
            (w.dialled, self.did.clone()),
            (w.pages_label, self.pages.to_string()),
            (
                w.received,
                self.received_at.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
            ),
            (w.duration, format!("{:.0} s", self.duration_seconds)),
            (w.quality, quality),
        ]
    }

    fn text(&self) -> String {
        let w = words(self.language);
        let rows = self.rows();
        let width = rows
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        let mut out = format!("{}\r\n\r\n", w.intro);
        if !self.complete {
            out.push_str(&format!("{}{}\r\n\r\n", w.incomplete, self.result));
        }
        for (label, value) in rows {
            let pad = width - label.chars().count() - 1;
            out.push_str(&format!("{label}:{:pad$}{value}\r\n", ""));
        }
        out
    }

    fn html(&self) -> String {
        let w = words(self.language);
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let mut out = format!(
            "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family: sans-serif\">\r\n<p>{}</p>\r\n",
            esc(w.intro)
        );
        if !self.complete {
            out.push_str(&format!(
                "<p><b>{}{}</b></p>\r\n",
                esc(w.incomplete),
                esc(&self.result)
            ));
        }
        out.push_str("<table>\r\n");
        for (label, value) in self.rows() {
            out.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>\r\n",
                esc(label),
                esc(&value)
            ));
        }
        out.push_str("</table>\r\n</body></html>\r\n");
        out
    }

    /// The mail (CRLF line ends).
    pub fn build(&self) -> Vec<u8> {
        let body = MimePart::new(
            "multipart/alternative",
            BodyPart::Multipart(vec![
                MimePart::new("text/plain", BodyPart::Text(self.text().into())),
                MimePart::new("text/html", BodyPart::Text(self.html().into())),
            ]),
        );
        let body = match &self.attachment {
            Some((name, content_type, data)) => MimePart::new(
                "multipart/mixed",
                BodyPart::Multipart(vec![
                    body,
                    MimePart::new(
                        ContentType::new(content_type.clone()),
                        BodyPart::Binary(data.clone().into()),
                    )
                    .attachment(name.clone()),
                ]),
            ),
            None => body,
        };
        MessageBuilder::new()
            .from(Address::new_address(
                Some(self.from.0.clone()),
                self.from.1.clone(),
            ))
            .to(Address::new_address(None::<String>, self.to.clone()))
            .subject(self.subject())
            .header("Date", Raw::new(self.received_at.to_rfc2822()))
            .message_id(format!("fax.{}@{}", self.id, self.hostname))
            .header("Auto-Submitted", Raw::new("auto-generated"))
            .header("X-Faxhub-Fax", Raw::new(self.id.clone()))
            .header("Content-Language", Raw::new(self.language.tag()))
            .body(body)
            .write_to_vec()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fax(language: Language) -> FaxMail {
        FaxMail {
            language,
            hostname: "faxgw1.example.com".into(),
            from: ("Fax".into(), "fax@faxgw1.example.com".into()),
            to: "sales@example.com".into(),
            id: "20261127174432-2d7858df".into(),
            received_at: FixedOffset::east_opt(3600)
                .unwrap()
                .with_ymd_and_hms(2026, 11, 27, 18, 44, 32)
                .unwrap(),
            caller: Some("+33169293999".into()),
            did: "+33142000155".into(),
            remote_ident: Some("ACME Corp +33 1 69".into()),
            pages: 2,
            duration_seconds: 41.6,
            bit_rate: 14400,
            ecm: true,
            transport: "t38".into(),
            bad_rows: 0,
            complete: true,
            result: "received".into(),
            attachment: Some((
                "fax.pdf".into(),
                "application/pdf".into(),
                b"%PDF-1.4".to_vec(),
            )),
        }
    }

    #[test]
    fn subject_and_body_say_who_what_and_how_well() {
        let mail = fax(Language::En);
        assert_eq!(mail.subject(), "Fax from ACME Corp +33 1 69 (2 pages)");
        let text = mail.text();
        for want in [
            "Caller:         +33169293999",
            "Sending fax ID: ACME Corp +33 1 69",
            "Number dialled: +33142000155",
            "Pages:          2",
            "Received:       2026-11-27 18:44:32 +01:00",
            "Duration:       42 s",
            "Quality:        14400 bit/s, error correction (ECM), T.38",
        ] {
            assert!(text.contains(want), "{want:?} in\n{text}");
        }
        let mut anonymous = fax(Language::Fr);
        anonymous.remote_ident = Some("  ".into());
        anonymous.pages = 1;
        assert_eq!(anonymous.subject(), "Fax de +33169293999 (1 page)");
        anonymous.caller = None;
        anonymous.complete = false;
        anonymous.result = "the caller hung up during page 2".into();
        assert_eq!(anonymous.subject(), "Fax d'un expéditeur inconnu (1 page)");
        assert!(
            anonymous
                .text()
                .contains("Incomplet : the caller hung up during page 2")
        );
        let de = fax(Language::De);
        assert_eq!(de.subject(), "Fax von ACME Corp +33 1 69 (2 Seiten)");
    }

    #[test]
    fn the_mail_is_read_back_by_an_independent_parser() {
        let r = crate::receipt::tests::read_back(&fax(Language::En).build());
        assert_eq!(r["defects"], serde_json::json!([]), "{r:#}");
        assert_eq!(
            r["headers"]["Subject"],
            "Fax from ACME Corp +33 1 69 (2 pages)"
        );
        assert_eq!(r["headers"]["To"], "sales@example.com");
        assert_eq!(r["headers"]["Auto-Submitted"], "auto-generated");
        assert_eq!(r["content_type"], "multipart/mixed");
        assert_eq!(r["attachments"][0]["filename"], "fax.pdf");
        assert!(r["text"].as_str().unwrap().contains("+33142000155"));
        assert!(
            r["html"]
                .as_str()
                .unwrap()
                .contains("<td>+33169293999</td>")
        );
    }
}
