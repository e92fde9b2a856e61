//! The SIP side's configuration: the user agent (`[sip]`: where it listens, what it writes as
//! its address, the media ports, DSCP, and which dialled numbers it answers, `[sip.inbound]`),
//! a trunk line (`[lines.sip]`: where calls go, credentials, REGISTER) and the fax options used
//! for a call (`[lines.fax]`, `[sip.inbound.fax]`). Defaults are what `make run` needs: a
//! listener on 127.0.0.1, every number answered, T.38 with G.711 fallback.

use super::message::DidFrom;
use super::sdp::AudioCodec;
use super::spandsp::{Coding, Modem, TerminalConfig};
use faxhub_queue::units::serde_duration;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// `[sip]`: the user agent, one per faxhub.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// The SIP socket (UDP).
    pub listen: SocketAddr,
    /// The address written in Via, Contact and SDP when faxhub is behind NAT (default: the
    /// listen address, or the address used to reach the peer when listening on 0.0.0.0).
    pub external_address: Option<IpAddr>,
    /// RTP and UDPTL ports, "first-last".
    pub media_ports: String,
    /// DSCP of SIP packets (default CS3, 24) and of media packets (default EF, 46).
    pub dscp_sip: u8,
    pub dscp_media: u8,
    pub inbound: InboundConfig,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            external_address: None,
            media_ports: "56000-57000".into(),
            dscp_sip: 24,
            dscp_media: 46,
            inbound: InboundConfig::default(),
        }
    }
}

impl SipConfig {
    /// The media port range, checked.
    pub fn media_port_range(&self) -> Result<(u16, u16), String> {
        let bad = || {
            format!(
                "sip.media_ports \"{}\" is not \"first-last\" with 1024 <= first < last",
                self.media_ports
            )
        };
        let (a, b) = self.media_ports.split_once('-').ok_or_else(bad)?;
        let (a, b): (u16, u16) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a < 1024 || a >= b {
            return Err(bad());
        }
        Ok((a, b))
    }

    pub fn validate(&self) -> Result<(), String> {
        self.media_port_range()?;
        for (name, v) in [("dscp_sip", self.dscp_sip), ("dscp_media", self.dscp_media)] {
            if v > 63 {
                return Err(format!("sip.{name} = {v}: a DSCP is 0 to 63"));
            }
        }
        self.inbound.fax.validate("sip.inbound.fax")
    }
}

/// `[sip.inbound]`: the calls faxhub answers.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InboundConfig {
    /// Dialled numbers (DIDs) answered: exact digits, or a prefix ending in `*`; `"*"` answers
    /// all. Others get 404 Not Found.
    pub numbers: Vec<String>,
    /// Where the dialled number is read: "request-uri", "to" or "diversion" (the number the
    /// call was first meant for, when a PBX forwarded it).
    pub did_from: DidFrom,
    /// Faxes received at once; a call beyond gets 486 Busy Here.
    pub channels: u32,
    /// The longest a received fax may last.
    #[serde(with = "serde_duration")]
    pub max_duration: Duration,
    pub fax: FaxOptions,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            numbers: vec!["*".into()],
            did_from: DidFrom::RequestUri,
            channels: 8,
            max_duration: Duration::from_secs(30 * 60),
            fax: FaxOptions {
                // the caller usually switches to T.38 (its gateway hears our CED)
                t38: T38Mode::Theirs,
                ..FaxOptions::default()
            },
        }
    }
}

impl InboundConfig {
    /// Whether faxhub answers calls to `did`.
    pub fn answers(&self, did: &str) -> bool {
        self.numbers.iter().any(|n| match n.strip_suffix('*') {
            Some(prefix) => did.starts_with(prefix),
            None => n == did,
        })
    }
}

/// Who switches a call from audio to T.38.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum T38Mode {
    /// faxhub sends the re-INVITE as soon as the call is answered (and takes the far end's).
    Ours,
    /// faxhub waits for the far end's re-INVITE; the fax goes as audio until then.
    Theirs,
    /// G.711 only: a T.38 re-INVITE is refused with 488.
    Off,
}

/// How a fax call is made: T.38, audio codecs, T.30 options.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaxOptions {
    /// Our fax ident (TSI when sending, CSI when receiving), at most 20 characters.
    pub ident: String,
    /// The header line at the top of each page sent (spandsp adds date and page x/y).
    pub header: Option<String>,
    /// Error correction mode (T.30 Annex A).
    pub ecm: bool,
    /// The fastest modem: 14400 (V.17), 9600 (V.29) or 4800 (V.27ter).
    pub max_speed: u32,
    /// The best page coding: "mmr" (T.6, with ECM), "mr" or "mh".
    pub coding: Coding,
    pub t38: T38Mode,
    /// Offer T.38 alone in the first INVITE (many carriers refuse it: then audio is offered).
    pub t38_only: bool,
    /// Earlier T.38 packets repeated in each UDPTL datagram.
    pub redundancy: usize,
    /// Audio codecs, in preference order, for G.711 calls.
    pub codecs: Vec<AudioCodec>,
}

impl Default for FaxOptions {
    fn default() -> Self {
        FaxOptions {
            ident: String::new(),
            header: None,
            ecm: true,
            max_speed: 14_400,
            coding: Coding::Mmr,
            t38: T38Mode::Ours,
            t38_only: false,
            redundancy: 3,
            codecs: vec![AudioCodec::Pcma, AudioCodec::Pcmu],
        }
    }
}

impl FaxOptions {
    pub fn validate(&self, at: &str) -> Result<(), String> {
        self.modem()
            .map_err(|why| format!("{at}.max_speed: {why}"))?;
        if self.ident.chars().count() > 20 {
            return Err(format!(
                "{at}.ident \"{}\" is longer than a fax ident's 20 characters",
                self.ident
            ));
        }
        if !self.ident.is_ascii() {
            return Err(format!("{at}.ident \"{}\" must be ASCII", self.ident));
        }
        if self.codecs.is_empty() {
            return Err(format!("{at}.codecs: name PCMA, PCMU or both"));
        }
        if self.redundancy > 8 {
            return Err(format!("{at}.redundancy = {}: at most 8", self.redundancy));
        }
        Ok(())
    }

    fn modem(&self) -> Result<Modem, String> {
        match self.max_speed {
            14_400 => Ok(Modem::V17),
            9_600 => Ok(Modem::V29),
            4_800 => Ok(Modem::V27ter),
            other => Err(format!("{other} is not 14400, 9600 or 4800")),
        }
    }

    /// The T.30 terminal's settings for one side of a call.
    pub fn terminal(&self, calling: bool) -> TerminalConfig {
        TerminalConfig {
            calling,
            ident: self.ident.clone(),
            header: self.header.clone(),
            ecm: self.ecm,
            fastest: self.modem().unwrap_or(Modem::V17),
            coding: self.coding,
            t38_version: 0,
        }
    }
}

/// `[lines.sip]`: where a `sip` line's calls go.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrunkConfig {
    /// The IP-PBX or carrier: "host" or "host:port" (5060 by default); every request is sent
    /// there (it is the outbound proxy).
    pub proxy: String,
    /// The domain of the Request-URI and To (default: the proxy's host).
    pub domain: Option<String>,
    /// The user part of From: the calling number the trunk expects.
    pub from_user: Option<String>,
    /// Digest credentials for 401/407 challenges and REGISTER.
    pub username: Option<String>,
    pub password: Option<String>,
    /// REGISTER with the trunk (needs username and password), renewed before it expires.
    pub register: bool,
    #[serde(with = "serde_duration")]
    pub register_expires: Duration,
    /// OPTIONS sent to the proxy this often to keep NAT bindings and see it is up; 0 = never.
    #[serde(with = "serde_duration")]
    pub keepalive: Duration,
    /// How long a call may ring before faxhub CANCELs it (no answer, 4.4.1).
    #[serde(with = "serde_duration")]
    pub ring_timeout: Duration,
    /// The longest a sent fax may last.
    #[serde(with = "serde_duration")]
    pub max_duration: Duration,
}

impl Default for TrunkConfig {
    fn default() -> Self {
        TrunkConfig {
            proxy: String::new(),
            domain: None,
            from_user: None,
            username: None,
            password: None,
            register: false,
            register_expires: REGISTER_EXPIRES,
            keepalive: Duration::from_secs(60),
            ring_timeout: RING_TIMEOUT,
            max_duration: MAX_CALL,
        }
    }
}

impl TrunkConfig {
    pub fn validate(&self, at: &str) -> Result<(), String> {
        if self.proxy.trim().is_empty() {
            return Err(format!("{at}.proxy: where the calls go is missing"));
        }
        if self.register && (self.username.is_none() || self.password.is_none()) {
            return Err(format!("{at}.register needs username and password"));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(format!("{at}: username and password go together"));
        }
        Ok(())
    }
}

/// The timings a trunk has when its table leaves them out.
pub const RING_TIMEOUT: Duration = Duration::from_secs(60);
pub const MAX_CALL: Duration = Duration::from_secs(30 * 60);
pub const REGISTER_EXPIRES: Duration = Duration::from_secs(3600);
