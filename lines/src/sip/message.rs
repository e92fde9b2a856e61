//! SIP messages (RFC 3261 §7): requests and responses read from and written to bytes.
//!
//! Reading is tolerant as §7.3 asks: header names in any case and in their compact forms (`i`
//! for Call-ID, `v` for Via…), folded header lines, several values of a header on one line or
//! on several, and either CRLF or LF line ends. A message on a stream (TCP) ends where its
//! Content-Length says (`parse` returns the bytes used); a datagram may leave it out. Values
//! are kept as text; helpers read the parameters the fax line needs (tags, CSeq, the Q.850
//! cause of a Reason header, the user part of a URI). Writing always sets Content-Length. Pure.

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    #[error("SIP message incomplete")]
    Incomplete,
    #[error("SIP message unreadable: {0}")]
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub start: StartLine,
    /// Header lines in order, one value each (comma-separated values are split by `values`).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Compact header names (RFC 3261 §7.3.3 and extensions) and their full forms.
const COMPACT: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("r", "Refer-To"),
    ("x", "Session-Expires"),
];

/// A header name in its full form.
fn full_name(name: &str) -> &str {
    COMPACT
        .iter()
        .find(|(short, _)| short.eq_ignore_ascii_case(name))
        .map_or(name, |(_, long)| long)
}

/// Headers whose values may not be split at commas (they hold dates or quoted text with commas).
const UNSPLIT: &[&str] = &[
    "WWW-Authenticate",
    "Proxy-Authenticate",
    "Authorization",
    "Proxy-Authorization",
    "Date",
    "Subject",
    "Reason",
    "User-Agent",
    "Server",
];

impl Message {
    /// Reads one message from the start of `bytes`; returns it and the bytes it took.
    pub fn parse(bytes: &[u8]) -> Result<(Message, usize), SipError> {
        let head_end = find_head_end(bytes).ok_or(SipError::Incomplete)?;
        let head = std::str::from_utf8(&bytes[..head_end.0])
            .map_err(|_| SipError::Malformed("the header is not UTF-8".into()))?;
        let mut lines = unfold(head);
        let first = lines
            .next()
            .ok_or_else(|| SipError::Malformed("empty".into()))?;
        let start = parse_start(&first)?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| SipError::Malformed(format!("header line {line:?}")))?;
            headers.push((full_name(name.trim()).to_string(), value.trim().to_string()));
        }
        let mut message = Message {
            start,
            headers,
            body: Vec::new(),
        };
        let body_start = head_end.1;
        let length = match message.header("Content-Length") {
            Some(v) => v
                .trim()
                .parse::<usize>()
                .map_err(|_| SipError::Malformed(format!("Content-Length {v:?}")))?,
            None => bytes.len() - body_start, // a datagram: the rest
        };
        let body = bytes
            .get(body_start..body_start + length)
            .ok_or(SipError::Incomplete)?;
        message.body = body.to_vec();
        Ok((message, body_start + length))
    }

    pub fn request(method: &str, uri: &str) -> Message {
        Message {
            start: StartLine::Request {
                method: method.to_string(),
                uri: uri.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response to `request` (RFC 3261 §8.2.6: its Via, From, To, Call-ID and CSeq).
    pub fn response_to(request: &Message, code: u16, reason: &str) -> Message {
        let mut out = Message {
            start: StartLine::Response {
                code,
                reason: reason.to_string(),
            },
            headers: Vec::new(),
            body: Vec::new(),
        };
        for (name, value) in &request.headers {
            if ["Via", "From", "To", "Call-ID", "CSeq"]
                .iter()
                .any(|h| h.eq_ignore_ascii_case(name))
            {
                out.headers.push((name.clone(), value.clone()));
            }
        }
        out
    }

    /// The first value of header `name` (any case, full or compact form).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.values(name).next()
    }

    /// Every value of header `name`, over its lines and the comma-separated values of each.
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + 'a {
        let name = full_name(name).to_string();
        let split = !UNSPLIT.iter().any(|h| h.eq_ignore_ascii_case(&name));
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(&name))
            .flat_map(move |(_, v)| {
                if split {
                    split_commas(v)
                } else {
                    vec![v.as_str()]
                }
            })
    }

    pub fn add(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// Replaces every line of header `name` with one value.
    /// Replaces header `name` where it first stands (so that Via stays on top), or adds it.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Self {
        let value = value.into();
        match self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.headers[i].1 = value;
                let mut seen = false;
                self.headers.retain(|(n, _)| {
                    let same = n.eq_ignore_ascii_case(name);
                    let keep = !same || !seen;
                    seen |= same;
                    keep
                });
                self
            }
            None => self.add(name, value),
        }
    }

    pub fn method(&self) -> Option<&str> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn code(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// CSeq's number and method.
    pub fn cseq(&self) -> Option<(u32, &str)> {
        let (n, method) = self
            .header("CSeq")?
            .trim()
            .split_once(char::is_whitespace)?;
        Some((n.parse().ok()?, method.trim()))
    }

    /// The Q.850 cause of a `Reason: Q.850;cause=17;text="User busy"` header (RFC 3326).
    pub fn q850_cause(&self) -> Option<u8> {
        self.values("Reason").find_map(|reason| {
            let mut parts = reason.split(';');
            if !parts.next()?.trim().eq_ignore_ascii_case("Q.850") {
                return None;
            }
            parts.find_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("cause")
                    .then(|| v.trim().parse().ok())?
            })
        })
    }

    /// Writes the message, with a Content-Length that matches its body.
    pub fn render(&self) -> Vec<u8> {
        let mut head = String::new();
        match &self.start {
            StartLine::Request { method, uri } => {
                let _ = write!(head, "{method} {uri} SIP/2.0\r\n");
            }
            StartLine::Response { code, reason } => {
                let _ = write!(head, "SIP/2.0 {code} {reason}\r\n");
            }
        }
        for (name, value) in &self.headers {
            if !name.eq_ignore_ascii_case("Content-Length") {
                let _ = write!(head, "{name}: {value}\r\n");
            }
        }
        let _ = write!(head, "Content-Length: {}\r\n\r\n", self.body.len());
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// A header parameter (`;tag=…`, `;branch=…`) of a From/To/Via value.
pub fn param<'a>(value: &'a str, name: &str) -> Option<&'a str> {
    // parameters come after the URI's closing '>' when there is one
    let params = value.rsplit_once('>').map_or(value, |(_, p)| p);
    params.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

/// The URI of a name-addr (`"Bob" <sip:bob@host>;tag=x` → `sip:bob@host`) or addr-spec.
pub fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value.split(';').next().unwrap_or(value).trim(),
    }
}

/// The user part of a SIP or tel URI (`sip:+33169293999@host;user=phone` → `+33169293999`).
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sips:")
        .or_else(|| uri.strip_prefix("sip:"))
        .or_else(|| uri.strip_prefix("tel:"))?;
    let user = match rest.split_once('@') {
        Some((user, _)) => user,
        None if uri.starts_with("tel:") => rest,
        None => return None,
    };
    let user = user.split([';', ':', '?']).next()?;
    (!user.is_empty()).then_some(user)
}

/// Splits at commas that are outside quotes and angle brackets.
fn split_commas(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut angle, mut start) = (false, false, 0);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ',' if !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|v| !v.is_empty());
    out
}

/// Where the header ends: (end of the header text, start of the body).
fn find_head_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) if b < a => Some((b, b + 2)),
        (Some(a), _) => Some((a, a + 4)),
        (None, Some(b)) => Some((b, b + 2)),
        (None, None) => None,
    }
}

/// Header lines with folded continuations joined (a line starting with white space continues
/// the one before).
fn unfold(head: &str) -> impl Iterator<Item = String> + '_ {
    let mut lines: Vec<String> = Vec::new();
    for raw in head.split('\n') {
        let line = raw.trim_end_matches('\r');
        if line.starts_with([' ', '\t'])
            && let Some(last) = lines.last_mut()
        {
            last.push(' ');
            last.push_str(line.trim());
            continue;
        }
        if !line.is_empty() {
            lines.push(line.to_string());
        }
    }
    lines.into_iter()
}

fn parse_start(line: &str) -> Result<StartLine, SipError> {
    let bad = || SipError::Malformed(format!("start line {line:?}"));
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
        let code: u16 = code.parse().map_err(|_| bad())?;
        if !(100..700).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            code,
            reason: reason.to_string(),
        });
    }
    let mut parts = line.split(' ');
    let (method, uri, version) = (
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
        parts.next().ok_or_else(bad)?,
    );
    if version != "SIP/2.0" || method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase())
    {
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

#[cfg(test)]
mod tests;

/// Where an inbound call's dialled number (DID) is read from (`did_from`): the Request-URI, the
/// To header, or the number the call was first meant for when a PBX forwarded it (the first
/// Diversion entry, RFC 5806, else the first History-Info entry, RFC 7044) — the old ISDN
/// "called party number" against "redirecting number".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DidFrom {
    RequestUri,
    To,
    Diversion,
}

/// The dialled number of an INVITE, as `from` says to read it; a forwarded-call source falls back
/// to the Request-URI when the call was not forwarded.
pub fn dialled_number(invite: &Message, from: DidFrom) -> Option<String> {
    let request_uri = || match &invite.start {
        StartLine::Request { uri, .. } => uri_user(uri).map(str::to_string),
        StartLine::Response { .. } => None,
    };
    match from {
        DidFrom::RequestUri => request_uri(),
        DidFrom::To => invite
            .header("To")
            .and_then(|to| uri_user(uri_of(to)))
            .map(str::to_string),
        DidFrom::Diversion => invite
            .values("Diversion")
            .next()
            .or_else(|| invite.values("History-Info").next())
            .and_then(|v| uri_user(uri_of(v)))
            .map(str::to_string)
            .or_else(request_uri),
    }
}
