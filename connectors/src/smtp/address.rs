//! Envelope syntax (RFC 5321 §4.1.2): `<path> params`, mailboxes with quoted local parts, ESMTP
//! parameters, and RFC 3461 xtext. Pure.

#[derive(Debug, PartialEq, Eq)]
pub struct Path {
    /// The address as received, without angle brackets ('' for the null path).
    pub raw: String,
    pub local: String,
    pub domain: String,
}

/// ESMTP parameters: the upper-cased keyword and its value, if any.
pub type Params = Vec<(String, Option<String>)>;

/// Splits `<addr> K=V K2` after the `FROM:`/`TO:` keyword into the path and its parameters.
pub fn parse_path_and_params(arg: &str) -> Result<(Path, Params), &'static str> {
    let arg = arg.trim_start();
    let rest = arg
        .strip_prefix('<')
        .ok_or("the address must be in angle brackets")?;
    let end = closing_bracket(rest).ok_or("missing closing angle bracket")?;
    let inner = &rest[..end];
    let params = rest[end + 1..]
        .split_ascii_whitespace()
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v.to_string())),
            None => (p.to_ascii_uppercase(), None),
        })
        .collect();
    // A source route (@a,@b:user@domain) is accepted and ignored (RFC 5321 §C).
    let mailbox = match inner.starts_with('@') {
        true => inner
            .split_once(':')
            .map(|(_, m)| m)
            .ok_or("bad source route")?,
        false => inner,
    };
    if mailbox.is_empty() {
        return Ok((
            Path {
                raw: String::new(),
                local: String::new(),
                domain: String::new(),
            },
            params,
        ));
    }
    let (local, domain) = split_mailbox(mailbox).ok_or("the address must be local-part@domain")?;
    Ok((
        Path {
            raw: mailbox.to_string(),
            local,
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
        },
        params,
    ))
}

/// Finds the `>` that closes the path, skipping quoted strings.
fn closing_bracket(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Splits at the last `@` outside quotes and unquotes the local part.
fn split_mailbox(mailbox: &str) -> Option<(String, String)> {
    let (local, domain) = if let Some(rest) = mailbox.strip_prefix('"') {
        let mut local = String::new();
        let mut chars = rest.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => local.push(chars.next()?.1),
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => local.push(c),
            }
        }
        let after = &rest[end? + 1..];
        (local, after.strip_prefix('@')?.to_string())
    } else {
        let (l, d) = mailbox.rsplit_once('@')?;
        (l.to_string(), d.to_string())
    };
    (!local.is_empty() && !domain.is_empty()).then_some((local, domain))
}

/// Decodes RFC 3461 xtext (`+HH` escapes).
pub fn decode_xtext(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'+' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex
                .bytes()
                .all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h))
            {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else if (b'!'..=b'~').contains(&b) && b != b'=' {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let (p, params) = parse_path_and_params(
            "<0169293999@Fax.Example.> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bb@x",
        )
        .unwrap();
        assert_eq!(
            (p.local.as_str(), p.domain.as_str(), p.raw.as_str()),
            ("0169293999", "fax.example", "0169293999@Fax.Example.")
        );
        assert_eq!(params[0], ("NOTIFY".into(), Some("SUCCESS,FAILURE".into())));
        let (p, _) = parse_path_and_params("<\"+33 1 69 29 39 99\"@fax.localhost>").unwrap();
        assert_eq!(p.local, "+33 1 69 29 39 99");
        let (p, _) = parse_path_and_params("<\"a>b\"@x>").unwrap();
        assert_eq!(p.local, "a>b");
        let (p, _) = parse_path_and_params("<@relay.example:user@fax.localhost>").unwrap();
        assert_eq!(p.local, "user");
        let (p, params) = parse_path_and_params("<> SIZE=100 SMTPUTF8").unwrap();
        assert_eq!(p.raw, "");
        assert_eq!(
            params,
            vec![
                ("SIZE".into(), Some("100".into())),
                ("SMTPUTF8".into(), None)
            ]
        );
        for bad in [
            "user@x",
            "<user@x",
            "<nodomain>",
            "<@x>",
            "<\"unterminated@x>",
        ] {
            assert!(parse_path_and_params(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn xtext() {
        assert_eq!(
            decode_xtext("rfc822;a+2Bb@x").as_deref(),
            Some("rfc822;a+b@x")
        );
        assert_eq!(decode_xtext("QQ+20"), Some("QQ ".into()));
        assert_eq!(decode_xtext("+2"), None);
        assert_eq!(decode_xtext("a b"), None);
        assert_eq!(decode_xtext("+zz"), None);
    }
}
