//! A fax request (`POST /v1/faxes`: the `fax` part, or the whole JSON body): its numbers and
//! documents, and what the mail path reads from a message: the paper, the resolution and the
//! cover page (`X-Fax-*` header fields of the message the API makes), the sender's name (on the
//! cover page), the recipients' names, and the reports wanted (RFC 3461 NOTIFY, for every
//! number). Everything is checked (an unknown field or value is a 400 naming it, never
//! ignored) and nothing a caller writes reaches a header field unchecked: text with a control
//! character is refused.

use faxhub_converters::{Paper, Resolution};
use faxhub_queue::job::Notify;
use serde::Deserialize;

/// One entry of `to`: a number or fax address, or one with the name its cover page shows.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum To {
    Plain(String),
    Named(Named),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    pub number: String,
    pub name: String,
}

impl To {
    pub fn number(&self) -> &str {
        match self {
            To::Plain(n) => n,
            To::Named(n) => &n.number,
        }
    }

    pub fn name(&self) -> Option<&str> {
        match self {
            To::Plain(_) => None,
            To::Named(n) => Some(&n.name),
        }
    }
}

/// The reports a sender may ask for (RFC 3461 NOTIFY).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NotifyWord {
    Never,
    Success,
    Failure,
    Delay,
}

/// The fax asked for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaxRequest {
    /// Numbers, as the dial plan reads them, or fax addresses (`0169293999@fax.example.com`),
    /// each with the name its cover page shows if given as `{"number", "name"}`.
    pub to: Vec<To>,
    /// Where receipts go; a token bound to a sender sends as that sender.
    pub sender: Option<String>,
    pub subject: Option<String>,
    /// A text faxed as a page of its own, as a mail's body is.
    pub text: Option<String>,
    /// JSON requests only: the documents, in base64.
    #[serde(default)]
    pub documents: Vec<Document>,
    /// Shown on the cover page as the sender's name.
    pub from_name: Option<String>,
    /// A cover page or not (the configuration's choice if left out).
    pub cover: Option<bool>,
    pub paper: Option<Paper>,
    pub resolution: Option<Resolution>,
    /// The reports wanted for every number: `["success", "failure"]`, `["never"]`…
    pub notify: Option<Vec<NotifyWord>>,
    /// A billing code, for `faxhub usage --by billing`.
    pub billing: Option<String>,
    /// `high`, `normal` (the default) or `low`.
    pub priority: Option<PriorityWord>,
    /// Hold the fax until then (RFC 3339, at most 31 days ahead).
    pub send_at: Option<String>,
    /// A broadcast: a spreadsheet (.xlsx, .xls, .ods) whose rows are the numbers (a column
    /// headed Fax, Number or Numéro; Name and Company for the covers), in base64 (multipart: a
    /// file part named `list`). Bad rows fail naming their row; one report comes at the end.
    pub list: Option<Document>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PriorityWord {
    High,
    Normal,
    Low,
}

impl From<PriorityWord> for faxhub_queue::schedule::Priority {
    fn from(p: PriorityWord) -> Self {
        match p {
            PriorityWord::High => Self::High,
            PriorityWord::Normal => Self::Normal,
            PriorityWord::Low => Self::Low,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub name: String,
    /// Base64 (standard alphabet, padded).
    pub content: String,
}

impl FaxRequest {
    /// The `X-Fax-*` header fields of the message that carries them.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(paper) = self.paper {
            out.push(("X-Fax-Paper".into(), paper.gs_name().into()));
        }
        if let Some(resolution) = self.resolution {
            let word = match resolution {
                Resolution::Normal => "normal",
                Resolution::Fine => "fine",
                Resolution::Superfine => "superfine",
            };
            out.push(("X-Fax-Resolution".into(), word.into()));
        }
        if let Some(cover) = self.cover {
            out.push((
                "X-Fax-Cover".into(),
                if cover { "yes" } else { "no" }.into(),
            ));
        }
        out
    }

    /// The NOTIFY of every number, or what is wrong with it.
    pub fn notify(&self) -> Result<Option<Notify>, String> {
        let Some(words) = &self.notify else {
            return Ok(None);
        };
        let text: Vec<&str> = words
            .iter()
            .map(|w| match w {
                NotifyWord::Never => "NEVER",
                NotifyWord::Success => "SUCCESS",
                NotifyWord::Failure => "FAILURE",
                NotifyWord::Delay => "DELAY",
            })
            .collect();
        match Notify::parse(&text.join(",")) {
            Some(n) if !words.is_empty() => Ok(Some(n)),
            _ => {
                Err("notify: \"never\" alone, or any of \"success\", \"failure\", \"delay\"".into())
            }
        }
    }
}

/// `bytes` read as JSON into a `T`, or what is wrong, naming the field (`paper: unknown
/// variant "a3"…`) for `what` (the JSON body, the fax part).
pub fn parse_json<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, String> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." | "" => format!("{what}: {}", e.inner()),
            _ => format!("{what}: {path}: {}", e.inner()),
        }
    })
}

/// `value` (of field `field`) if it holds no control character and is at most `max` bytes.
pub fn plain_text<'a>(field: &str, value: &'a str, max: usize) -> Result<&'a str, String> {
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{field}: no control characters (line breaks, tabs…)"
        ));
    }
    if value.len() > max {
        return Err(format!("{field}: {} bytes, at most {max}", value.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_header_fields_and_notify_words() {
        let o: FaxRequest = serde_json::from_str(
            r#"{"to": ["1"], "cover": false, "paper": "letter", "resolution": "superfine", "notify": ["success", "failure"]}"#,
        )
        .unwrap();
        assert_eq!(
            o.headers(),
            [
                ("X-Fax-Paper".to_string(), "letter".to_string()),
                ("X-Fax-Resolution".into(), "superfine".into()),
                ("X-Fax-Cover".into(), "no".into())
            ]
        );
        assert_eq!(o.notify().unwrap().unwrap().to_string(), "SUCCESS,FAILURE");
        for bad in [
            r#"{"to": [], "notify": ["never", "success"]}"#,
            r#"{"to": [], "notify": []}"#,
        ] {
            let o: FaxRequest = serde_json::from_str(bad).unwrap();
            assert!(o.notify().is_err(), "{bad}");
        }
        let said = parse_json::<FaxRequest>("the JSON body", br#"{"to": [], "paper": "a3"}"#);
        assert!(
            said.unwrap_err()
                .starts_with("the JSON body: paper: unknown variant")
        );
        let said = parse_json::<FaxRequest>("x", br#"{"to": [], "resolution": "ultra", "cc": 1}"#);
        assert!(said.unwrap_err().contains("resolution"));
        let said = parse_json::<FaxRequest>("x", br#"{"to": [], "cc": 1}"#);
        assert!(said.unwrap_err().contains("unknown field `cc`"));
    }

    #[test]
    fn text_for_header_fields_has_no_control_characters() {
        assert_eq!(
            plain_text("subject", "Order 12 été", 100),
            Ok("Order 12 été")
        );
        for bad in ["a\r\nBcc: x@example.com", "tab\there", "nul\0"] {
            assert!(
                plain_text("subject", bad, 100)
                    .unwrap_err()
                    .contains("control"),
                "{bad:?}"
            );
        }
        assert!(plain_text("subject", &"x".repeat(101), 100).is_err());
    }
}
