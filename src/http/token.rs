//! API tokens: `fxh_<id>_<secret>`, the id public (listed, logged), the secret 32 random bytes
//! shown once when the token is made; the store keeps only the secret's SHA-256. A random
//! 256-bit secret needs no slow hash (argon2 is for passwords people choose): SHA-256 makes a
//! stolen database useless and costs a request nothing. Pure but for the random bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use faxhub_queue::store::TokenRow;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Queue faxes.
    Send,
    /// Read faxes and the inbox.
    Read,
    /// Everything, on every sender's jobs.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Send => "send",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

/// Parses `send,read,admin` (any order, at least one); the error names the word refused.
pub fn parse_scopes(list: &str) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let scope = [Scope::Send, Scope::Read, Scope::Admin]
            .into_iter()
            .find(|s| s.as_str() == word)
            .ok_or_else(|| format!("unknown scope {word:?} (send, read or admin)"))?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("no scope given (send, read or admin)".into());
    }
    scopes.sort();
    Ok(scopes)
}

/// Whether `row`'s scopes grant `wanted` (admin grants everything).
pub fn grants(row: &TokenRow, wanted: Scope) -> bool {
    parse_scopes(&row.scopes)
        .map(|s| s.contains(&wanted) || s.contains(&Scope::Admin))
        .unwrap_or(false)
}

/// A token just made: the text to give its user (once), and the row to keep.
pub struct Issued {
    pub token: String,
    pub row: TokenRow,
}

/// Makes a token with `scopes`, acting for `sender` if given.
pub fn issue(
    scopes: &[Scope],
    sender: Option<String>,
    name: Option<String>,
    now_ms: i64,
) -> Issued {
    let mut id = [0u8; 6];
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let id = hex(&id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    Issued {
        token: format!("fxh_{id}_{secret}"),
        row: TokenRow {
            id,
            hash: hash(&secret),
            scopes: scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
            sender,
            name,
            created_at_ms: now_ms,
            revoked_at_ms: None,
        },
    }
}

/// The id and secret of a presented token, if it has the shape of one.
pub fn split(presented: &str) -> Option<(&str, &str)> {
    let rest = presented.strip_prefix("fxh_")?;
    let (id, secret) = rest.split_once('_')?;
    let shaped = id.len() == 12
        && id.bytes().all(|b| b.is_ascii_hexdigit())
        && secret.len() == 43
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    shaped.then_some((id, secret))
}

/// Whether `secret` is `row`'s and the token is not revoked; the comparison takes the same time
/// whatever differs.
pub fn matches(row: &TokenRow, secret: &str) -> bool {
    same(&hash(secret), &row.hash) && row.revoked_at_ms.is_none()
}

/// Whether `a` and `b` are equal, in a time that does not depend on where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// `n` random bytes (the system's generator) in hex.
pub fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Hex SHA-256 of `secret`.
pub fn hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_parsed_and_bad_ones_named() {
        let cases: &[(&str, Result<Vec<Scope>, &str>)] = &[
            ("send", Ok(vec![Scope::Send])),
            ("read, send,read", Ok(vec![Scope::Send, Scope::Read])),
            ("admin", Ok(vec![Scope::Admin])),
            ("", Err("no scope given (send, read or admin)")),
            (" , ", Err("no scope given (send, read or admin)")),
            (
                "send,write",
                Err("unknown scope \"write\" (send, read or admin)"),
            ),
        ];
        for (list, want) in cases {
            assert_eq!(
                &parse_scopes(list),
                &want.clone().map_err(String::from),
                "{list:?}"
            );
        }
    }

    #[test]
    fn an_issued_token_matches_its_row_and_nothing_else() {
        let issued = issue(
            &[Scope::Send, Scope::Read],
            Some("a@example.com".into()),
            None,
            5,
        );
        assert_eq!(issued.row.scopes, "send,read");
        let (id, secret) = split(&issued.token).expect("shaped");
        assert_eq!(id, issued.row.id);
        assert!(matches(&issued.row, secret));
        assert!(
            !issued.token.contains(&issued.row.hash),
            "the hash is not the secret"
        );
        // one character changed, another token's secret, a revoked token
        let mut other = secret.to_string().into_bytes();
        other[0] = if other[0] == b'A' { b'B' } else { b'A' };
        assert!(!matches(&issued.row, std::str::from_utf8(&other).unwrap()));
        let second = issue(&[Scope::Send], None, None, 5);
        assert_ne!(second.row.id, issued.row.id);
        assert!(!matches(&issued.row, split(&second.token).unwrap().1));
        let revoked = TokenRow {
            revoked_at_ms: Some(6),
            ..issued.row.clone()
        };
        assert!(!matches(&revoked, secret));
        assert!(grants(&issued.row, Scope::Read) && !grants(&issued.row, Scope::Admin));
        assert!(grants(
            &issue(&[Scope::Admin], None, None, 0).row,
            Scope::Send
        ));
    }

    #[test]
    fn only_token_shaped_text_is_split() {
        let good = format!("fxh_{}_{}", "a1".repeat(6), "x".repeat(43));
        assert!(split(&good).is_some());
        for bad in [
            "",
            "Bearer x",
            "fxh_",
            "fxh_a1a1a1a1a1a1",
            &format!("fxh_{}_{}", "g1".repeat(6), "x".repeat(43)),
            &format!("fxh_{}_{}", "a1".repeat(6), "x".repeat(42)),
            &format!("fxh_{}_{}", "a1".repeat(6), "x/".repeat(21) + "x"),
            &format!("fxh_{}_{}", "a1".repeat(300), "x".repeat(43)),
        ] {
            assert!(split(bad).is_none(), "{bad:?}");
        }
    }
}
