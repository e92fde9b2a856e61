//! SDP (RFC 4566) as fax calls use it: an audio stream (PCMU/PCMA and telephone-event) and a
//! T.38 stream (`m=image <port> udptl t38`, ITU-T T.38 Annex D, RFC 3362) with its `T38*`
//! attributes; the offer/answer rules for both (RFC 3264).
//!
//! Parsing is tolerant, as the equipment in the field requires: line ends CRLF or LF, attribute
//! names in any case (`T38MaxBitRate` / `T38MaxBitrate`), booleans true by presence or given as
//! `:1` / `:0` (Cisco), a missing T38FaxVersion meaning 0, unknown lines and attributes kept.
//! A description that cannot be read gives an error naming the line. Pure: no I/O.

use std::fmt::Write as _;
use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("SDP line {line}: {why}")]
    Line { line: usize, why: String },
    #[error("SDP: {0}")]
    Missing(&'static str),
}

/// A session description: its origin, connection address and media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// `o=` username, session id and version (the version goes up with each new offer).
    pub origin: Origin,
    pub session_name: String,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    pub media: Vec<Media>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: u64,
    pub version: u64,
    pub address: IpAddr,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `image`, … as written.
    pub kind: String,
    /// 0 means the stream is refused (or being removed).
    pub port: u16,
    /// `RTP/AVP`, `udptl`, …
    pub proto: String,
    /// Payload types (audio) or `t38` (image).
    pub formats: Vec<String>,
    /// Media-level `c=` address, which wins over the session's.
    pub connection: Option<IpAddr>,
    /// `a=` lines in order, as (name, value).
    pub attributes: Vec<(String, Option<String>)>,
}

impl Media {
    /// The value of the first attribute named `name` (any case), `Some("")` for a flag.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    pub fn is_t38(&self) -> bool {
        self.kind.eq_ignore_ascii_case("image")
            && self.proto.eq_ignore_ascii_case("udptl")
            && self.formats.iter().any(|f| f.eq_ignore_ascii_case("t38"))
    }

    pub fn is_audio(&self) -> bool {
        self.kind.eq_ignore_ascii_case("audio")
    }

    /// Its direction attribute (`sendrecv` when none is given).
    pub fn direction(&self) -> &str {
        ["sendrecv", "sendonly", "recvonly", "inactive"]
            .into_iter()
            .find(|d| self.attribute(d).is_some())
            .unwrap_or("sendrecv")
    }
}

impl Sdp {
    /// Reads a description.
    pub fn parse(text: &str) -> Result<Sdp, SdpError> {
        let mut origin = None;
        let mut session_name = String::new();
        let mut connection = None;
        let mut media: Vec<Media> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let bad = |why: &str| SdpError::Line {
                line: i + 1,
                why: format!("{why}: {line:?}"),
            };
            let (kind, value) = line
                .split_once('=')
                .filter(|(k, _)| k.len() == 1)
                .ok_or_else(|| bad("not <type>=<value>"))?;
            match kind {
                "o" => origin = Some(parse_origin(value).ok_or_else(|| bad("bad origin"))?),
                "s" => session_name = value.to_string(),
                "c" => {
                    let address = parse_connection(value).ok_or_else(|| bad("bad connection"))?;
                    match media.last_mut() {
                        Some(m) => m.connection = Some(address),
                        None => connection = Some(address),
                    }
                }
                "m" => media.push(parse_media(value).ok_or_else(|| bad("bad media line"))?),
                "a" => {
                    let (name, value) = match value.split_once(':') {
                        Some((n, v)) => (n.trim().to_string(), Some(v.trim().to_string())),
                        None => (value.trim().to_string(), None),
                    };
                    if let Some(m) = media.last_mut() {
                        m.attributes.push((name, value));
                    }
                }
                _ => {} // v, t, b, k, session attributes…: not needed for fax
            }
        }
        Ok(Sdp {
            origin: origin.ok_or(SdpError::Missing("no o= line"))?,
            session_name,
            connection,
            media,
        })
    }

    /// The address a medium is sent to (its own `c=`, else the session's).
    pub fn address_of(&self, media: &Media) -> Option<IpAddr> {
        media.connection.or(self.connection)
    }

    /// The first accepted (port ≠ 0) T.38 stream.
    pub fn t38(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.is_t38() && m.port != 0)
    }

    /// The first accepted audio stream.
    pub fn audio(&self) -> Option<&Media> {
        self.media.iter().find(|m| m.is_audio() && m.port != 0)
    }

    /// Writes the description (CRLF line ends, as SIP bodies use).
    pub fn render(&self) -> String {
        let ip = |a: &IpAddr| match a {
            IpAddr::V4(v4) => format!("IN IP4 {v4}"),
            IpAddr::V6(v6) => format!("IN IP6 {v6}"),
        };
        let mut out = String::new();
        let o = &self.origin;
        let _ = write!(
            out,
            "v=0\r\no={} {} {} {}\r\ns={}\r\n",
            o.username,
            o.session_id,
            o.version,
            ip(&o.address),
            if self.session_name.is_empty() {
                "-"
            } else {
                &self.session_name
            }
        );
        if let Some(c) = &self.connection {
            let _ = write!(out, "c={}\r\n", ip(c));
        }
        out.push_str("t=0 0\r\n");
        for m in &self.media {
            let _ = write!(
                out,
                "m={} {} {} {}\r\n",
                m.kind,
                m.port,
                m.proto,
                m.formats.join(" ")
            );
            if let Some(c) = &m.connection {
                let _ = write!(out, "c={}\r\n", ip(c));
            }
            for (name, value) in &m.attributes {
                match value {
                    Some(v) => {
                        let _ = write!(out, "a={name}:{v}\r\n");
                    }
                    None => {
                        let _ = write!(out, "a={name}\r\n");
                    }
                }
            }
        }
        out
    }
}

fn parse_origin(value: &str) -> Option<Origin> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() != 6 || f[3] != "IN" {
        return None;
    }
    Some(Origin {
        username: f[0].to_string(),
        session_id: f[1].parse().ok()?,
        version: f[2].parse().ok()?,
        address: f[5].parse().ok()?,
    })
}

fn parse_connection(value: &str) -> Option<IpAddr> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() != 3 || f[0] != "IN" {
        return None;
    }
    // a multicast address may carry /ttl; fax never uses one, but it must not fail the parse
    f[2].split('/').next()?.parse().ok()
}

fn parse_media(value: &str) -> Option<Media> {
    let mut f = value.split_whitespace();
    let kind = f.next()?.to_string();
    // `port/count` is allowed; the count is not used for fax
    let port = f.next()?.split('/').next()?.parse().ok()?;
    let proto = f.next()?.to_string();
    Some(Media {
        kind,
        port,
        proto,
        formats: f.map(str::to_string).collect(),
        connection: None,
        attributes: Vec::new(),
    })
}

/// T38FaxRateManagement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateManagement {
    /// Training is checked at each end (for TCP).
    LocalTcf,
    /// The training check is carried over (for UDPTL; the usual value).
    TransferredTcf,
}

/// T38FaxUdpEC: how UDPTL recovers lost packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCorrection {
    Redundancy,
    Fec,
    None,
}

/// The T.38 parameters of one side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct T38Params {
    pub version: u8,
    pub max_bit_rate: u32,
    pub rate_management: RateManagement,
    /// What this side can buffer, and the largest datagram it takes (bytes).
    pub max_buffer: Option<u32>,
    pub max_datagram: Option<u32>,
    pub error_correction: ErrorCorrection,
    pub fill_bit_removal: bool,
    pub transcoding_mmr: bool,
    pub transcoding_jbig: bool,
}

impl Default for T38Params {
    /// What faxhub offers (3GPP TS 29.163 Annex K's recommendation, at version 0 for the widest
    /// interoperability: faxhub does not do V.34).
    fn default() -> Self {
        T38Params {
            version: 0,
            max_bit_rate: 14_400,
            rate_management: RateManagement::TransferredTcf,
            max_buffer: Some(1800),
            max_datagram: Some(400),
            error_correction: ErrorCorrection::Redundancy,
            fill_bit_removal: false,
            transcoding_mmr: false,
            transcoding_jbig: false,
        }
    }
}

/// A boolean T.38 attribute: true by presence, unless its value says 0 (Cisco writes `:0`).
fn flag(media: &Media, name: &str) -> bool {
    media
        .attribute(name)
        .is_some_and(|v| !matches!(v.trim(), "0" | "false"))
}

impl T38Params {
    /// The parameters of an `m=image … udptl t38` section.
    pub fn from_media(media: &Media) -> Result<T38Params, SdpError> {
        let number = |name: &'static str| -> Result<Option<u32>, SdpError> {
            media
                .attribute(name)
                .map(|v| {
                    v.trim().parse::<u32>().map_err(|_| SdpError::Line {
                        line: 0,
                        why: format!("a={name}:{v} is not a number"),
                    })
                })
                .transpose()
        };
        let rate_management = match media.attribute("T38FaxRateManagement") {
            Some(v) if v.eq_ignore_ascii_case("localTCF") => RateManagement::LocalTcf,
            // transferredTCF, or absent (UDPTL implies it)
            _ => RateManagement::TransferredTcf,
        };
        let error_correction = match media.attribute("T38FaxUdpEC") {
            Some(v) if v.eq_ignore_ascii_case("t38UDPFEC") => ErrorCorrection::Fec,
            Some(v) if v.eq_ignore_ascii_case("t38UDPNoEC") => ErrorCorrection::None,
            Some(_) => ErrorCorrection::Redundancy,
            None => ErrorCorrection::None,
        };
        Ok(T38Params {
            version: number("T38FaxVersion")?.unwrap_or(0).min(3) as u8,
            max_bit_rate: number("T38MaxBitRate")?.unwrap_or(14_400),
            rate_management,
            max_buffer: number("T38FaxMaxBuffer")?,
            max_datagram: number("T38FaxMaxDatagram")?,
            error_correction,
            fill_bit_removal: flag(media, "T38FaxFillBitRemoval"),
            transcoding_mmr: flag(media, "T38FaxTranscodingMMR"),
            transcoding_jbig: flag(media, "T38FaxTranscodingJBIG"),
        })
    }

    /// The `a=` lines for these parameters, in the usual order and spelling.
    pub fn attributes(&self) -> Vec<(String, Option<String>)> {
        let mut out = vec![
            ("T38FaxVersion".to_string(), Some(self.version.to_string())),
            (
                "T38MaxBitRate".to_string(),
                Some(self.max_bit_rate.to_string()),
            ),
        ];
        for (on, name) in [
            (self.fill_bit_removal, "T38FaxFillBitRemoval"),
            (self.transcoding_mmr, "T38FaxTranscodingMMR"),
            (self.transcoding_jbig, "T38FaxTranscodingJBIG"),
        ] {
            if on {
                out.push((name.to_string(), None));
            }
        }
        out.push((
            "T38FaxRateManagement".to_string(),
            Some(
                match self.rate_management {
                    RateManagement::LocalTcf => "localTCF",
                    RateManagement::TransferredTcf => "transferredTCF",
                }
                .to_string(),
            ),
        ));
        if let Some(b) = self.max_buffer {
            out.push(("T38FaxMaxBuffer".to_string(), Some(b.to_string())));
        }
        if let Some(d) = self.max_datagram {
            out.push(("T38FaxMaxDatagram".to_string(), Some(d.to_string())));
        }
        out.push((
            "T38FaxUdpEC".to_string(),
            Some(
                match self.error_correction {
                    ErrorCorrection::Redundancy => "t38UDPRedundancy",
                    ErrorCorrection::Fec => "t38UDPFEC",
                    ErrorCorrection::None => "t38UDPNoEC",
                }
                .to_string(),
            ),
        ));
        out
    }

    /// Our answer to `offer` (T.38 Annex D offer/answer): never a higher version or bit rate
    /// than offered, the offer's rate management, the offered error correction if we do it
    /// (redundancy otherwise, unless none was offered), options only where both sides have them,
    /// and our own buffer and datagram sizes.
    pub fn answer(offer: &T38Params, ours: &T38Params) -> T38Params {
        T38Params {
            version: offer.version.min(ours.version),
            max_bit_rate: offer.max_bit_rate.min(ours.max_bit_rate),
            rate_management: offer.rate_management,
            max_buffer: ours.max_buffer,
            max_datagram: ours.max_datagram,
            error_correction: match (offer.error_correction, ours.error_correction) {
                (ErrorCorrection::None, _) | (_, ErrorCorrection::None) => ErrorCorrection::None,
                (ErrorCorrection::Fec, ErrorCorrection::Fec) => ErrorCorrection::Fec,
                _ => ErrorCorrection::Redundancy,
            },
            fill_bit_removal: offer.fill_bit_removal && ours.fill_bit_removal,
            transcoding_mmr: offer.transcoding_mmr && ours.transcoding_mmr,
            transcoding_jbig: offer.transcoding_jbig && ours.transcoding_jbig,
        }
    }

    /// The largest UDPTL packet to send: within what the far side said it takes (T38FaxMaxDatagram
    /// is read as the UDPTL payload size, the stricter reading), and within our own.
    pub fn datagram_limit(theirs: &T38Params, ours: &T38Params) -> u32 {
        [theirs.max_datagram, ours.max_datagram]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(72) // the smallest a T.38 endpoint must accept
    }

    /// An `m=image <port> udptl t38` section with these parameters.
    pub fn media(&self, port: u16) -> Media {
        Media {
            kind: "image".into(),
            port,
            proto: "udptl".into(),
            formats: vec!["t38".into()],
            connection: None,
            attributes: self.attributes(),
        }
    }
}

/// G.711 and RFC 4733 events, as offered and answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AudioCodec {
    /// μ-law, static payload type 0.
    Pcmu,
    /// A-law, static payload type 8.
    Pcma,
}

impl AudioCodec {
    pub fn payload_type(self) -> u8 {
        match self {
            AudioCodec::Pcmu => 0,
            AudioCodec::Pcma => 8,
        }
    }
    fn rtpmap(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU/8000",
            AudioCodec::Pcma => "PCMA/8000",
        }
    }
}

/// The audio stream agreed on: the codec, and telephone-event's payload type if both have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioChoice {
    pub codec: AudioCodec,
    pub telephone_event: Option<u8>,
}

/// faxhub's telephone-event payload type in its offers.
pub const TELEPHONE_EVENT_PT: u8 = 101;

/// An audio section offering `codecs` (in preference order) and telephone-event, with 20 ms
/// packets.
pub fn audio_media(port: u16, codecs: &[AudioCodec], telephone_event: Option<u8>) -> Media {
    let mut formats: Vec<String> = codecs
        .iter()
        .map(|c| c.payload_type().to_string())
        .collect();
    let mut attributes: Vec<(String, Option<String>)> = codecs
        .iter()
        .map(|c| {
            (
                "rtpmap".to_string(),
                Some(format!("{} {}", c.payload_type(), c.rtpmap())),
            )
        })
        .collect();
    if let Some(pt) = telephone_event {
        formats.push(pt.to_string());
        attributes.push(("rtpmap".into(), Some(format!("{pt} telephone-event/8000"))));
        attributes.push(("fmtp".into(), Some(format!("{pt} 0-15"))));
    }
    attributes.push(("ptime".into(), Some("20".into())));
    attributes.push(("sendrecv".into(), None));
    Media {
        kind: "audio".into(),
        port,
        proto: "RTP/AVP".into(),
        formats,
        connection: None,
        attributes,
    }
}

/// The codec to answer an audio offer with: the offer's first G.711 codec that we support
/// (`ours`), and its telephone-event payload type if it has one.
pub fn choose_audio(offer: &Media, ours: &[AudioCodec]) -> Option<AudioChoice> {
    // a dynamic payload type's name is in its rtpmap; static 0 and 8 need none
    let name_of = |pt: &str| -> Option<String> {
        offer.attributes.iter().find_map(|(n, v)| {
            let v = v.as_deref()?;
            let (p, name) = v.split_once(' ')?;
            (n.eq_ignore_ascii_case("rtpmap") && p == pt).then(|| name.to_ascii_uppercase())
        })
    };
    let codec = offer.formats.iter().find_map(|pt| {
        let c = match (pt.as_str(), name_of(pt).as_deref()) {
            ("0", _) => AudioCodec::Pcmu,
            ("8", _) => AudioCodec::Pcma,
            (_, Some(n)) if n.starts_with("PCMU/") => AudioCodec::Pcmu,
            (_, Some(n)) if n.starts_with("PCMA/") => AudioCodec::Pcma,
            _ => return None,
        };
        ours.contains(&c).then_some(c)
    })?;
    let telephone_event = offer.formats.iter().find_map(|pt| {
        name_of(pt)
            .filter(|n| n.starts_with("TELEPHONE-EVENT/"))
            .and_then(|_| pt.parse().ok())
    });
    Some(AudioChoice {
        codec,
        telephone_event,
    })
}

#[cfg(test)]
mod tests;
