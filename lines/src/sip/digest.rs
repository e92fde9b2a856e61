//! Digest authentication for SIP trunks (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760): reading
//! a `WWW-Authenticate` / `Proxy-Authenticate` challenge and answering it with an
//! `Authorization` / `Proxy-Authorization` value. MD5 (what nearly every PBX and carrier asks
//! for), SHA-256, and their `-sess` variants; `qop=auth` when offered, the RFC 2069 form when
//! not. Pure: the caller supplies the client nonce.

use md5::Md5;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Algorithm> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }
    fn hash(self, data: &str) -> String {
        let bytes: Vec<u8> = match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Md5::digest(data.as_bytes()).to_vec(),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Sha256::digest(data.as_bytes()).to_vec(),
        };
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
    fn session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }
}

/// A Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// Whether `qop=auth` was offered.
    pub qop_auth: bool,
    /// The server says the nonce is old, not the password wrong: answer again without counting
    /// it as a failure.
    pub stale: bool,
}

/// `key=value` pairs of an auth header, values unquoted.
fn pairs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            // a quoted string, with \" escapes
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.push((key.trim().to_ascii_lowercase(), value));
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

impl Challenge {
    /// Reads a `Digest …` challenge; `None` for another scheme or an unknown algorithm.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, params) = header.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("Digest") {
            return None;
        }
        let pairs = pairs(params);
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Some(Challenge {
            realm: get("realm")?,
            nonce: get("nonce")?,
            opaque: get("opaque"),
            algorithm: match get("algorithm") {
                Some(a) => Algorithm::parse(&a)?,
                None => Algorithm::Md5,
            },
            qop_auth: get("qop")
                .is_some_and(|q| q.split(',').any(|v| v.trim().eq_ignore_ascii_case("auth"))),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The credentials for `method` on `uri`, as an Authorization header value. `cnonce` and
    /// `nc` (the count of requests with this nonce, from 1) are used when qop is.
    pub fn answer(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let alg = self.algorithm;
        let mut ha1 = alg.hash(&format!("{username}:{}:{password}", self.realm));
        if alg.session() {
            ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", self.nonce));
        }
        let ha2 = alg.hash(&format!("{method}:{uri}"));
        let nc = format!("{nc:08x}");
        let response = if self.qop_auth {
            alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", self.nonce))
        } else {
            alg.hash(&format!("{ha1}:{}:{ha2}", self.nonce))
        };
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut out = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri),
            alg.name()
        );
        if self.qop_auth {
            out.push_str(&format!(
                ", qop=auth, nc={nc}, cnonce=\"{}\"",
                quote(cnonce)
            ));
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(&format!(", opaque=\"{}\"", quote(opaque)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response_of(header: &str) -> String {
        pairs(header.trim_start_matches("Digest "))
            .into_iter()
            .find(|(k, _)| k == "response")
            .unwrap()
            .1
    }

    #[test]
    fn rfc_2617_example() {
        let ch = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert!(ch.qop_auth && ch.algorithm == Algorithm::Md5);
        let header = ch.answer(
            "Mufasa",
            "Circle Of Life",
            "GET",
            "/dir/index.html",
            "0a4f113b",
            1,
        );
        assert_eq!(response_of(&header), "6629fae49393a05397450978507c4ef1");
        assert!(
            header.contains("nc=00000001")
                && header.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"")
        );
    }

    #[test]
    fn rfc_7616_examples_md5_and_sha256() {
        for (algorithm, want) in [
            ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
            (
                "SHA-256",
                "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
            ),
        ] {
            let ch = Challenge::parse(&format!(
                "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm={algorithm}, \
                 nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
                 opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
            ))
            .unwrap();
            let header = ch.answer(
                "Mufasa",
                "Circle of Life",
                "GET",
                "/dir/index.html",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                1,
            );
            assert_eq!(response_of(&header), want, "{algorithm}");
        }
    }

    #[test]
    fn pbx_challenges_without_qop_and_odd_spellings() {
        // Asterisk style: no qop, unquoted algorithm, lower-case scheme
        let ch =
            Challenge::parse("digest algorithm=md5, realm=\"asterisk\", nonce=\"1a2b\"").unwrap();
        assert!(!ch.qop_auth);
        let header = ch.answer("fax", "secret", "INVITE", "sip:0169293999@pbx", "x", 1);
        // RFC 2069 form: MD5(HA1:nonce:HA2)
        let ha1 = Algorithm::Md5.hash("fax:asterisk:secret");
        let ha2 = Algorithm::Md5.hash("INVITE:sip:0169293999@pbx");
        assert_eq!(
            response_of(&header),
            Algorithm::Md5.hash(&format!("{ha1}:1a2b:{ha2}"))
        );
        assert!(!header.contains("qop"));
        let stale = Challenge::parse("Digest realm=\"r\", nonce=\"n\", stale=TRUE").unwrap();
        assert!(stale.stale);
        assert_eq!(Challenge::parse("Basic realm=\"r\""), None);
        assert_eq!(
            Challenge::parse("Digest realm=\"r\", nonce=\"n\", algorithm=AKAv1-MD5"),
            None
        );
        assert_eq!(Challenge::parse("Digest nonce=\"n\""), None, "no realm");
    }
}
