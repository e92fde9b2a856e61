//! Fax addressing forms in the local part of an e-mail address.
//!
//! At a fax domain a local part names one fax number, in any of the forms mail users and mail
//! systems produce:
//! - a bare number: `0169293999`, `+33 1 69 29 39 99`, `01.69.29.39.99`, `(01) 69-29-39-99`;
//! - RFC 3192: `FAX=+33169293999`, optionally with `/T33S=<sub-address>`;
//! - Exchange's IMCEA encapsulation of an Outlook fax address: `IMCEAFAX-+2B33169293999`, where
//!   `+HH` is a hex-escaped byte and the decoded text may be `Name@number`.
//!
//! Pure: the result is a number string still to be normalised by the dial plan.

/// What a local part says: the number as written, a T.33 sub-address, a display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaxAddress {
    pub number: String,
    pub subaddress: Option<String>,
    pub display_name: Option<String>,
    pub form: AddressForm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressForm {
    Plain,
    Rfc3192,
    Imcea,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("bad IMCEA encoding in {0:?}")]
    BadImcea(String),
    #[error("no fax number in {0:?}")]
    Empty(String),
}

const IMCEA_FAX: &str = "IMCEAFAX-";

/// Whether a local part is an Exchange IMCEA fax encapsulation (these are also accepted at the
/// Exchange organisation's own domains, `imcea_domains`).
pub fn is_imcea(local: &str) -> bool {
    local.len() >= IMCEA_FAX.len() && local[..IMCEA_FAX.len()].eq_ignore_ascii_case(IMCEA_FAX)
}

/// Splits a local part into the fax number and its extras.
pub fn parse_fax_local_part(local: &str) -> Result<FaxAddress, AddressError> {
    let (text, form) = if is_imcea(local) {
        (
            decode_imcea(&local[IMCEA_FAX.len()..])
                .ok_or_else(|| AddressError::BadImcea(local.to_string()))?,
            AddressForm::Imcea,
        )
    } else {
        (local.to_string(), AddressForm::Plain)
    };
    // Outlook's fax address is `Name@number`; the number is after the last '@'.
    let (display_name, rest) = match text.rsplit_once('@') {
        Some((name, number)) if form == AddressForm::Imcea => (
            Some(name.trim().to_string()).filter(|n| !n.is_empty()),
            number.to_string(),
        ),
        _ => (None, text.clone()),
    };
    let (rest, form) = match strip_prefix_ignore_case(&rest, "FAX=") {
        Some(r) => (
            r.to_string(),
            if form == AddressForm::Plain {
                AddressForm::Rfc3192
            } else {
                form
            },
        ),
        None => (rest, form),
    };
    let mut subaddress = None;
    let mut number = rest.as_str();
    if let Some((n, params)) = rest.split_once('/') {
        // RFC 3192 qualifiers follow the number: /T33S=1234
        if params.contains('=') {
            number = n;
            for param in params.split('/') {
                if let Some(v) = strip_prefix_ignore_case(param, "T33S=") {
                    subaddress = Some(v.to_string());
                }
            }
        }
    }
    let number = number.trim();
    if number.is_empty() {
        return Err(AddressError::Empty(local.to_string()));
    }
    Ok(FaxAddress {
        number: number.to_string(),
        subaddress,
        display_name,
        form,
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.is_char_boundary(prefix.len())
        && s[..prefix.len()].eq_ignore_ascii_case(prefix))
    .then(|| &s[prefix.len()..])
}

/// Decodes IMCEA's `+HH` escapes (and `_` for a space, as Exchange writes it in some versions).
fn decode_imcea(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'_' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for (local, number, sub, name, form) in [
            ("0169293999", "0169293999", None, None, AddressForm::Plain),
            (
                "+33 1 69 29 39 99",
                "+33 1 69 29 39 99",
                None,
                None,
                AddressForm::Plain,
            ),
            (
                "(01) 69-29-39-99",
                "(01) 69-29-39-99",
                None,
                None,
                AddressForm::Plain,
            ),
            (
                "FAX=+33169293999",
                "+33169293999",
                None,
                None,
                AddressForm::Rfc3192,
            ),
            (
                "fax=+1-202-555-1212/T33S=6174",
                "+1-202-555-1212",
                Some("6174"),
                None,
                AddressForm::Rfc3192,
            ),
            (
                "IMCEAFAX-+2B33169293999",
                "+33169293999",
                None,
                None,
                AddressForm::Imcea,
            ),
            (
                "imceafax-John+20Doe+40+2B33+201+2069293999",
                "+33 1 69293999",
                None,
                Some("John Doe"),
                AddressForm::Imcea,
            ),
            (
                "IMCEAFAX-FAX=+2B33169293999",
                "+33169293999",
                None,
                None,
                AddressForm::Imcea,
            ),
        ] {
            let got = parse_fax_local_part(local).unwrap();
            assert_eq!(got.number, number, "{local}");
            assert_eq!(got.subaddress.as_deref(), sub, "{local}");
            assert_eq!(got.display_name.as_deref(), name, "{local}");
            assert_eq!(got.form, form, "{local}");
        }
    }

    #[test]
    fn bad_forms() {
        assert!(matches!(
            parse_fax_local_part("IMCEAFAX-+ZZ33"),
            Err(AddressError::BadImcea(_))
        ));
        assert!(matches!(
            parse_fax_local_part("IMCEAFAX-+2"),
            Err(AddressError::BadImcea(_))
        ));
        assert!(matches!(
            parse_fax_local_part("FAX="),
            Err(AddressError::Empty(_))
        ));
        assert!(matches!(
            parse_fax_local_part("IMCEAFAX-"),
            Err(AddressError::Empty(_))
        ));
    }
}
