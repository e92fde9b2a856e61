//! Which e-mail addresses are fax recipients, and which number each names: the rule SMTP's
//! `RCPT TO` applies, shared by every agent so that a number refused over SMTP is refused the
//! same way from a drop directory, a GroupWise message or a mail file.
//!
//! - at a fax domain, any local part the addressing forms allow (`0169293999`,
//!   `FAX=+33169293999/T33S=12`, `IMCEAFAX-…`); at an `imcea_domains` domain, IMCEAFAX only;
//! - elsewhere: not a fax address (`5.7.1`);
//! - not a number: `5.1.3`; refused by the dial plan: `5.7.1` naming the rule.
//!
//! Pure: no I/O.

use faxhub_queue::address::{is_imcea, parse_fax_local_part};
use faxhub_queue::dialplan::{DialPlan, DialPlanError, FaxNumber};
use faxhub_queue::status::EnhancedStatus;
use faxhub_queue::store::NewRecipient;

/// The fax domains and the dial plan.
#[derive(Clone, Debug)]
pub struct Addressing {
    pub fax_domains: Vec<String>,
    /// The Exchange organisation's own domains, where IMCEAFAX addresses also arrive.
    pub imcea_domains: Vec<String>,
    pub dialplan: DialPlan,
}

/// Why an address is not a fax recipient.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("<{0}>: not a fax address")]
    NotFax(String),
    #[error("<{address}>: {why}")]
    Malformed { address: String, why: String },
    #[error("<{address}>: {why}")]
    Denied {
        address: String,
        number: FaxNumber,
        why: String,
    },
}

impl Refusal {
    /// The RFC 3463 code of the refusal (SMTP replies 550 or 553 with it).
    pub fn status(&self) -> EnhancedStatus {
        match self {
            Refusal::NotFax(_) | Refusal::Denied { .. } => EnhancedStatus::NOT_AUTHORIZED,
            Refusal::Malformed { .. } => EnhancedStatus::BAD_NUMBER,
        }
    }

    /// `status()` as SMTP replies write it.
    pub fn code(&self) -> &'static str {
        match self.status() {
            EnhancedStatus::BAD_NUMBER => "5.1.3",
            _ => "5.7.1",
        }
    }
}

impl Addressing {
    /// Whether `local@domain` is addressed to faxhub at all.
    pub fn is_fax_address(&self, local: &str, domain: &str) -> bool {
        let listed = |domains: &[String]| domains.iter().any(|d| d.eq_ignore_ascii_case(domain));
        !local.is_empty()
            && (listed(&self.fax_domains) || (listed(&self.imcea_domains) && is_imcea(local)))
    }

    /// The recipient `raw` (`local@domain`) names, with no DSN parameters yet.
    pub fn recipient(&self, raw: &str, local: &str, domain: &str) -> Result<NewRecipient, Refusal> {
        if !self.is_fax_address(local, domain) {
            return Err(Refusal::NotFax(raw.to_string()));
        }
        let malformed = |why: String| Refusal::Malformed {
            address: raw.to_string(),
            why,
        };
        let parsed = parse_fax_local_part(local).map_err(|e| malformed(e.to_string()))?;
        let number = match self.dialplan.parse(&parsed.number) {
            Ok(n) => n,
            Err(e @ DialPlanError::Malformed { .. }) => return Err(malformed(e.to_string())),
            Err(
                ref e @ (DialPlanError::Denied { ref number, .. }
                | DialPlanError::NotAllowed { ref number }
                | DialPlanError::NotNational { ref number }
                | DialPlanError::CountryNotAllowed { ref number }),
            ) => {
                return Err(Refusal::Denied {
                    address: raw.to_string(),
                    number: number.clone(),
                    why: e.to_string(),
                });
            }
        };
        Ok(NewRecipient {
            number,
            address: raw.to_string(),
            display_name: parsed.display_name,
            subaddress: parsed.subaddress,
            notify: None,
            orcpt: None,
            list_row: None,
            company: None,
        })
    }

    /// As `recipient`, for an address written `local@domain` or `<local@domain>` (a quoted
    /// local part is unquoted).
    pub fn recipient_of(&self, address: &str) -> Result<NewRecipient, Refusal> {
        let raw = strip_angles(address);
        let Some((local, domain)) = split_address(raw) else {
            return Err(Refusal::NotFax(raw.to_string()));
        };
        self.recipient(raw, &local, domain)
    }
}

/// `<a@b>` → `a@b`, trimmed.
pub fn strip_angles(address: &str) -> &str {
    let a = address.trim();
    a.strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(a)
        .trim()
}

/// Splits at the last `@`; a quoted local part is unquoted (`"a b"@c` → `a b`, `c`).
pub fn split_address(address: &str) -> Option<(String, &str)> {
    let (local, domain) = address.rsplit_once('@')?;
    if domain.is_empty() {
        return None;
    }
    let local = match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => local.to_string(),
    };
    Some((local, domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faxhub_queue::dialplan::DialPlanConfig;

    fn addressing() -> Addressing {
        Addressing {
            fax_domains: vec!["fax.example.com".into()],
            imcea_domains: vec!["contoso.com".into()],
            dialplan: DialPlan::new(DialPlanConfig {
                deny: Some(vec!["+3389*".into()]),
                ..DialPlanConfig::default()
            })
            .unwrap(),
        }
    }

    #[test]
    fn every_addressing_form_names_its_number() {
        let a = addressing();
        for (address, number) in [
            ("0169293999@fax.example.com", "+33169293999"),
            ("<FAX=+33169293999@FAX.example.com>", "+33169293999"),
            ("IMCEAFAX-+2B33169293999@contoso.com", "+33169293999"),
            ("\"01 69 29 39 99\"@fax.example.com", "+33169293999"),
        ] {
            let r = a.recipient_of(address).unwrap();
            assert_eq!(r.number.as_str(), number, "{address}");
        }
    }

    #[test]
    fn refusals_carry_the_smtp_codes() {
        let a = addressing();
        let not_fax = a.recipient_of("alice@contoso.com").unwrap_err();
        assert_eq!(not_fax.status().to_string(), "5.7.1");
        let bad = a.recipient_of("hello@fax.example.com").unwrap_err();
        assert_eq!(bad.status().to_string(), "5.1.3");
        assert!(
            bad.to_string().starts_with("<hello@fax.example.com>: "),
            "{bad}"
        );
        let denied = a.recipient_of("0899123456@fax.example.com").unwrap_err();
        assert_eq!(denied.status().to_string(), "5.7.1");
        assert!(denied.to_string().contains("+3389*"), "{denied}");
        assert!(matches!(a.recipient_of("nobody"), Err(Refusal::NotFax(_))));
    }
}
