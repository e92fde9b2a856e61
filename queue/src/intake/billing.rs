//! Billing codes as senders write them: in a header or field (`X-Fax-Billing: PRJ-42`,
//! `billing_code`) or, where the site turns it on (`[billing] subject_tag`), as a tag in the
//! Subject (`Quote for Smith [BILL: PRJ-42]`, `subject_tag`). Pure: the text in, the code out.
//!
//! A code is made fit to show and to group by: trimmed, control characters removed, at most
//! `MAX_BILLING` characters. The Subject is scanned once, left to right; the first bracketed
//! tag (innermost, when brackets nest) that starts with the site's prefix (case-insensitive) is the code and leaves the Subject,
//! every other bracket stays as written.

use serde::{Deserialize, Serialize};

/// The longest billing code kept, in characters.
pub const MAX_BILLING: usize = 64;

/// The `[billing]` section.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// A billing code in the Subject, in brackets after this prefix: `"BILL:"` takes `[BILL:
    /// PRJ-42]`, `""` takes the first bracketed word (then `[EXT]` tags that mail gateways add
    /// would be taken too). Off when absent. `X-Fax-Billing` wins over it.
    pub subject_tag: Option<String>,
}

/// A billing code as a sender wrote it; `None` if nothing is left once cleaned.
pub fn billing_code(written: &str) -> Option<String> {
    let code: String = written
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_BILLING)
        .collect();
    Some(code.trim().to_string()).filter(|c| !c.is_empty())
}

/// The billing code tagged in `subject` after `prefix`, and the Subject without the tag
/// (spaces around it closed up); `None` if no tag holds a code.
pub fn subject_tag(subject: &str, prefix: &str) -> Option<(String, String)> {
    let mut open = None;
    for (at, c) in subject.char_indices() {
        match (c, open) {
            ('[', _) => open = Some(at),
            (']', Some(start)) => {
                open = None;
                let inside = subject[start + 1..at].trim_start();
                let code = inside
                    .get(..prefix.len())
                    .filter(|head| head.eq_ignore_ascii_case(prefix))
                    .and_then(|_| billing_code(&inside[prefix.len()..]));
                if let Some(code) = code {
                    let before = subject[..start].trim_end();
                    let after = subject[at + 1..].trim_start();
                    let rest = format!("{before} {after}").trim().to_string();
                    return Some((code, rest));
                }
            }
            _ => {}
        }
    }
    None
}
