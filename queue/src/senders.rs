//! Who belongs to the site: the envelope senders faxhub takes mail from and mails pages back to.
//!
//! A gateway that renders documents and mails the rendered pages back must only mail them to
//! its own users, or it relays whatever its renderers can be made to show to anyone. Who is
//! local is configuration (`local_domains`, and for an authenticated SMTP client the addresses
//! its login may use), never the sender's say-so. Pure: strings in, yes or no out.
//!
//! An address counts only as one plain mailbox `local@domain`: no quoted local part, no second
//! `@`, no `%` or `!` (the percent hack and bang paths a relay may still route onwards), no
//! source route, no address literal, no white space or control character. Anything else is not
//! local, whatever its last domain says.

/// The site's mail domains: `example.com` is that domain exactly, `.example.com` any domain
/// under it (not the domain itself).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocalDomains {
    domains: Vec<String>,
}

impl LocalDomains {
    /// The configured list, checked: each entry a domain name (a leading dot for its
    /// subdomains).
    pub fn new(list: &[String]) -> Result<LocalDomains, String> {
        let domains = list
            .iter()
            .map(|d| {
                let name = d.strip_prefix('.').unwrap_or(d);
                if domain(name).is_none() {
                    return Err(format!(
                        "local_domains: {d:?} is not a domain name (example.com, or .example.com for its subdomains)"
                    ));
                }
                Ok(normalise(d))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LocalDomains { domains })
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }

    /// Whether `address` is a plain mailbox at one of the site's domains.
    pub fn contains(&self, address: &str) -> bool {
        let Some((_, domain)) = mailbox(address) else {
            return false;
        };
        self.domains.iter().any(|d| match d.strip_prefix('.') {
            Some(parent) => domain
                .strip_suffix(parent)
                .is_some_and(|head| head.ends_with('.')),
            None => *d == domain,
        })
    }
}

/// Whether an authenticated login whose addresses are `owned` may use `address` as its
/// envelope sender: an entry `user@domain` is that address (case-insensitively), `@domain`
/// every plain mailbox at that domain.
pub fn owns(owned: &[String], address: &str) -> bool {
    let Some((local, domain)) = mailbox(address) else {
        return false;
    };
    owned.iter().any(|entry| match entry.strip_prefix('@') {
        Some(d) => normalise(d) == domain,
        None => mailbox(entry).is_some_and(|(l, d)| l.eq_ignore_ascii_case(local) && d == domain),
    })
}

/// Splits a plain mailbox into its local part and its domain (lower-cased, without a trailing
/// dot); `None` when `address` is anything else (see the module's contract).
pub fn mailbox(address: &str) -> Option<(&str, String)> {
    let (local, dom) = address.split_once('@')?;
    // RFC 5322 atext and dots, without `%` and `!`; non-ASCII for SMTPUTF8
    let atext = |c: char| {
        c.is_ascii_alphanumeric()
            || "#$&'*+-/=?^_`{|}~.".contains(c)
            || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && local.chars().all(atext)
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    local_ok.then_some(())?;
    Some((local, domain(dom)?))
}

/// A domain name, lower-cased and without its trailing dot; `None` for anything else
/// (an address literal, an empty label, a character no host name has).
fn domain(text: &str) -> Option<String> {
    let name = normalise(text);
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || c == '-'
                        || (!c.is_ascii() && !c.is_control() && !c.is_whitespace())
                })
        });
    ok.then_some(name)
}

fn normalise(domain: &str) -> String {
    domain.trim_end_matches('.').to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(list: &[&str]) -> LocalDomains {
        LocalDomains::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn local_addresses_and_the_forms_that_only_look_local() {
        let s = site(&["example.com", ".corp.example", "Bücher.example"]);
        let table: &[(&str, bool)] = &[
            ("alice@example.com", true),
            ("Alice.Martin+fax@EXAMPLE.COM", true),
            ("alice@example.com.", true),
            ("alice@bücher.example", true),
            ("alice@paris.corp.example", true),
            ("alice@a.b.corp.example", true),
            // the parent of a subdomain entry is not listed
            ("alice@corp.example", false),
            ("alice@evil.com", false),
            ("alice@example.com.evil.com", false),
            ("alice@evilexample.com", false),
            ("alice@xcorp.example", false),
            // forms a relay may route elsewhere, or that hide another address
            ("\"bob@evil.com\"@example.com", false),
            ("bob%evil.com@example.com", false),
            ("evil.com!bob@example.com", false),
            ("bob@evil.com@example.com", false),
            ("@evil.com:bob@example.com", false),
            ("bob@[127.0.0.1]", false),
            ("bob@[IPv6:::1]", false),
            // header and command injection
            ("bob@example.com\r\nRCPT TO:<x@evil.com>", false),
            ("bob@example.com>", false),
            ("bob@example.com, eve@evil.com", false),
            ("bob eve@example.com", false),
            ("bob\t@example.com", false),
            ("<bob@example.com>", false),
            // not mailboxes at all
            ("", false),
            ("example.com", false),
            ("@example.com", false),
            ("bob@", false),
            (".bob@example.com", false),
            ("bob..x@example.com", false),
            ("bob@example..com", false),
            ("bob@-example.com", false),
        ];
        for (address, local) in table {
            assert_eq!(s.contains(address), *local, "{address:?}");
        }
        assert!(!LocalDomains::default().contains("alice@example.com"));
    }

    #[test]
    fn the_list_is_checked() {
        for bad in [
            "",
            ".",
            "a@b.com",
            "[127.0.0.1]",
            "exa mple.com",
            "-x.com",
            "a..b",
        ] {
            let err = LocalDomains::new(&[bad.to_string()]).unwrap_err();
            assert!(err.contains("local_domains"), "{bad:?}: {err}");
        }
        assert!(LocalDomains::new(&["example.com.".into(), ".corp.example".into()]).is_ok());
    }

    #[test]
    fn what_a_login_owns() {
        let owned = vec![
            "scanner@example.com".to_string(),
            "@branch.example".to_string(),
        ];
        for (address, ok) in [
            ("scanner@example.com", true),
            ("SCANNER@Example.COM", true),
            ("anyone@branch.example", true),
            ("alice@example.com", false),
            ("x@sub.branch.example", false),
            ("scanner%evil.com@example.com", false),
            ("\"x\"@branch.example", false),
        ] {
            assert_eq!(owns(&owned, address), ok, "{address}");
        }
        assert!(!owns(&[], "scanner@example.com"));
    }
}
