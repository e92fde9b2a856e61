//! Per-sender identity (`[[senders]]`): the fax ident (TSI), the header line, the cover
//! template, company and dial-back number that faxes of some senders go out with, instead of
//! the line's and `[convert.cover]`'s. Pure: the configured list and an envelope sender in, the
//! identity that applies out.
//!
//! An entry names its senders as an exact address (`alice@example.com`), a domain
//! (`example.com` or `@example.com`), or every domain under one (`.example.com`). The most
//! specific match wins whatever the order: an exact address, then an exact domain, then the
//! longest parent domain; between equals the first entry. The sender must be a plain mailbox
//! (`senders::mailbox`): anything else gets no identity, whatever it ends with.
//!
//! What goes on the wire is checked here, once, at start-up: an ident is at most 20 printable
//! ASCII characters (T.30's TSI), a header line at most 50 (spandsp's page header), a dial-back
//! number at most 32 printable characters.

use crate::senders::mailbox;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// T.30 §5.3.6.2.4: the TSI is 20 characters.
pub const MAX_IDENT: usize = 20;
/// spandsp's `T30_MAX_PAGE_HEADER_INFO`.
pub const MAX_HEADER: usize = 50;
/// A phone number as a cover page shows it.
pub const MAX_DIAL_BACK: usize = 32;
/// A company name as a cover page shows it.
pub const MAX_COMPANY: usize = 100;

/// One `[[senders]]` entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SenderIdentity {
    /// Whose faxes: `alice@example.com`, `example.com` (or `@example.com`), `.example.com`.
    pub senders: Vec<String>,
    /// The fax ident the far machine shows (TSI), e.g. "+33 1 69 29 39 99".
    pub ident: Option<String>,
    /// The header line at the top of each page (spandsp adds the date and page x/y).
    pub header: Option<String>,
    /// An HTML cover template of their own (placeholders as in `[convert.cover] template`).
    pub cover_template: Option<PathBuf>,
    /// The company the cover names.
    pub company: Option<String>,
    /// The number the cover asks the recipient to fax back to.
    pub dial_back: Option<String>,
}

/// How specifically an entry matched: higher wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Specificity {
    /// `.parent` with the parent's length.
    Parent(usize),
    Domain,
    Address,
}

impl SenderIdentity {
    /// Problems with this entry (`at` names it), none if it is fit to use.
    pub fn problems(&self, at: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.senders.is_empty() {
            out.push(format!("{at}.senders: name at least one address or domain"));
        }
        for s in &self.senders {
            if parse_entry(s).is_none() {
                out.push(format!(
                    "{at}.senders: {s:?} is not an address, a domain or .domain"
                ));
            }
        }
        let printable = |s: &str| s.chars().all(|c| c.is_ascii() && !c.is_ascii_control());
        let mut text = |name: &str, value: &Option<String>, max: usize, ascii: bool| {
            if let Some(v) = value {
                let fits = v.chars().count() <= max && !v.contains(char::is_control);
                if !fits || (ascii && !printable(v)) {
                    let kind = if ascii { "printable ASCII " } else { "" };
                    out.push(format!(
                        "{at}.{name}: {v:?} must be at most {max} {kind}characters"
                    ));
                }
            }
        };
        text("ident", &self.ident, MAX_IDENT, true);
        text("header", &self.header, MAX_HEADER, true);
        text("dial_back", &self.dial_back, MAX_DIAL_BACK, false);
        text("company", &self.company, MAX_COMPANY, false);
        out
    }

    fn specificity(&self, local: &str, domain: &str) -> Option<Specificity> {
        self.senders
            .iter()
            .filter_map(|entry| match parse_entry(entry)? {
                Entry::Address(l, d) => {
                    (l.eq_ignore_ascii_case(local) && d == domain).then_some(Specificity::Address)
                }
                Entry::Domain(d) => (d == domain).then_some(Specificity::Domain),
                Entry::Parent(p) => domain
                    .strip_suffix(p.as_str())
                    .is_some_and(|head| head.ends_with('.'))
                    .then_some(Specificity::Parent(p.len())),
            })
            .max()
    }
}

enum Entry {
    Address(String, String),
    Domain(String),
    Parent(String),
}

fn parse_entry(entry: &str) -> Option<Entry> {
    let entry = entry.trim();
    let domain = |d: &str| mailbox(&format!("x@{d}")).map(|(_, d)| d);
    if let Some(parent) = entry.strip_prefix('.') {
        return domain(parent).map(Entry::Parent);
    }
    match entry.split_once('@') {
        None => domain(entry).map(Entry::Domain),
        Some(("", d)) => domain(d).map(Entry::Domain),
        Some(_) => {
            let (l, d) = mailbox(entry)?;
            Some(Entry::Address(l.to_string(), d))
        }
    }
}

/// The identity for faxes from `sender` (an envelope sender), if an entry names it.
pub fn for_sender<'a>(list: &'a [SenderIdentity], sender: &str) -> Option<&'a SenderIdentity> {
    let (local, domain) = mailbox(sender)?;
    let mut best: Option<(Specificity, &SenderIdentity)> = None;
    for entry in list {
        if let Some(s) = entry.specificity(local, &domain)
            && best.is_none_or(|(b, _)| s > b)
        {
            best = Some((s, entry));
        }
    }
    best.map(|(_, e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(senders: &[&str], ident: &str) -> SenderIdentity {
        SenderIdentity {
            senders: senders.iter().map(|s| s.to_string()).collect(),
            ident: Some(ident.into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_most_specific_entry_wins_whatever_the_order() {
        let list = [
            entry(&[".example.com"], "any-sub"),
            entry(&["@example.com"], "domain"),
            entry(&[".sales.example.com"], "sales-sub"),
            entry(&["Alice@Example.COM"], "alice"),
            entry(&["example.com"], "domain-again"),
        ];
        let ident = |sender: &str| for_sender(&list, sender).and_then(|e| e.ident.as_deref());
        assert_eq!(ident("alice@example.com"), Some("alice"));
        assert_eq!(ident("ALICE@example.com."), Some("alice"));
        assert_eq!(
            ident("bob@example.com"),
            Some("domain"),
            "the first of equals"
        );
        assert_eq!(ident("bob@eu.example.com"), Some("any-sub"));
        assert_eq!(ident("bob@x.sales.example.com"), Some("sales-sub"));
        assert_eq!(ident("bob@sales.example.com"), Some("any-sub"));
        assert_eq!(ident("bob@notexample.com"), None);
        assert_eq!(ident("bob@example.com.evil.org"), None);
        // not a plain mailbox: nothing, whatever it ends with
        assert_eq!(ident("\"alice\"@example.com"), None);
        assert_eq!(ident("alice%evil.org@example.com"), None);
        assert_eq!(ident(""), None);
        assert_eq!(ident("<>"), None);
    }

    #[test]
    fn what_goes_on_the_wire_is_checked() {
        let ok = SenderIdentity {
            senders: vec!["example.com".into()],
            ident: Some("+33 1 69 29 39 99".into()),
            header: Some("ACME Sales, Paris".into()),
            dial_back: Some("+33 1 69 29 39 98".into()),
            company: Some("ACME Société".into()),
            cover_template: None,
        };
        assert!(
            ok.problems("senders[0]").is_empty(),
            "{:?}",
            ok.problems("s")
        );
        let bad = SenderIdentity {
            senders: vec!["not an address".into()],
            ident: Some("a fax ident longer than twenty".into()),
            header: Some("Société".into()),
            dial_back: Some("1\r\nBcc: x".into()),
            ..ok.clone()
        };
        let problems = bad.problems("senders[1]").join("\n");
        for field in ["senders[1].senders", ".ident", ".header", ".dial_back"] {
            assert!(problems.contains(field), "{field} in {problems}");
        }
        let none = SenderIdentity {
            senders: vec![],
            ..ok
        };
        assert_eq!(none.problems("s").len(), 1);
    }
}
