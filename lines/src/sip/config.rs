//! The SIP side's configuration: the user agent (`[sip]`: where it listens, what it writes as
//! its address, the media ports, DSCP, and which dialled numbers it answers, `[sip.inbound]`),
//! a trunk line (`[lines.sip]`: where calls go, credentials, REGISTER) and the fax options used
//! for a call (`[lines.fax]`, `[sip.inbound.fax]`). Defaults are what `make run` needs: a
//! listener on 127.0.0.1, every number answered, T.38 with G.711 fallback.

use super::agent::Transport;
use super::message::DidFrom;
use super::sdp::AudioCodec;
use super::spandsp::{Coding, Modem, TerminalConfig};
use faxhub_queue::dialplan::{pattern_matches, valid_pattern};
use faxhub_queue::units::serde_duration;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// `[sip]`: the user agent, one per faxhub.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// The SIP address: UDP, and TCP on the same port unless `tcp = false`.
    pub listen: SocketAddr,
    pub tcp: bool,
    /// The address written in Via, Contact and SDP when faxhub is behind NAT (default: the
    /// listen address, or the address used to reach the peer when listening on 0.0.0.0).
    pub external_address: Option<IpAddr>,
    /// RTP and UDPTL ports, "first-last" (each call's drawn at random from them); by default
    /// below Linux's ephemeral ports (32768-60999), which outgoing connections take from.
    pub media_ports: String,
    /// NAT latching: take the far end's media from the first datagrams' source when it is the
    /// SDP's IP or the signalling's (for peers behind NAT that SDP names wrongly). Off: media is
    /// taken only from the address and port the SDP named.
    pub media_latching: bool,
    /// Who may start something with faxhub (an INVITE, an OPTIONS, any request outside a call):
    /// these networks (your PBX, your carrier's signalling addresses). Others get 403 Forbidden
    /// (no challenge), at most `FORBIDDEN_PER_SECOND` a second. Requests inside a call faxhub
    /// placed or answered, and responses, are not filtered.
    pub trusted: Vec<ipnet::IpNet>,
    /// DSCP of SIP packets (default CS3, 24) and of media packets (default EF, 46).
    pub dscp_sip: u8,
    pub dscp_media: u8,
    pub inbound: InboundConfig,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            tcp: true,
            external_address: None,
            media_ports: "16384-17384".into(),
            media_latching: false,
            trusted: vec![
                "127.0.0.0/8".parse().expect("literal"),
                "::1/128".parse().expect("literal"),
            ],
            dscp_sip: 24,
            dscp_media: 46,
            inbound: InboundConfig::default(),
        }
    }
}

/// 403 answers to untrusted addresses, at most, a second (beyond, their requests are dropped
/// unanswered: no reflection).
pub const FORBIDDEN_PER_SECOND: u32 = 10;

/// Refused calls (`[[sip.inbound.block]]`, 603) recorded in the inbox per hour, at most: a
/// blocked caller ringing in a loop cannot fill the disk (past it they are logged and counted).
pub const REFUSALS_RECORDED_PER_HOUR: u32 = 60;

impl SipConfig {
    /// Whether `ip` may start something with faxhub.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

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

    /// A warning when the media ports share the kernel's `ephemeral` range (an outgoing
    /// connection or an unbound UDP socket may take a call's port) without being among the
    /// `reserved` ones (`net.ipv4.ip_local_reserved_ports`, e.g. "8080,56000-57000").
    pub fn media_ports_warning(&self, ephemeral: &str, reserved: &str) -> Option<String> {
        let (first, last) = self.media_port_range().ok()?;
        let mut bounds = ephemeral.split_whitespace().map(|p| p.parse::<u16>());
        let (Some(Ok(low)), Some(Ok(high))) = (bounds.next(), bounds.next()) else {
            return None;
        };
        let reserved: Vec<(u16, u16)> = reserved
            .trim()
            .split(',')
            .filter_map(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
            })
            .collect();
        let (from, to) = (first.max(low), last.min(high));
        let exposed = (from..=to)
            .filter(|p| !reserved.iter().any(|(a, b)| (a..=b).contains(&p)))
            .count();
        (exposed > 0).then(|| {
            format!(
                "sip.media_ports {first}-{last} shares {exposed} ports with the kernel's ephemeral range {low}-{high}: \
                 a port taken by another program is skipped, but move the range below {low} \
                 or reserve it (sysctl net.ipv4.ip_local_reserved_ports={first}-{last})"
            )
        })
    }

    pub fn validate(&self) -> Result<(), String> {
        self.media_port_range()?;
        for (name, v) in [("dscp_sip", self.dscp_sip), ("dscp_media", self.dscp_media)] {
            if v > 63 {
                return Err(format!("sip.{name} = {v}: a DSCP is 0 to 63"));
            }
        }
        let problems: Vec<String> = (self.inbound.block.iter().enumerate())
            .flat_map(|(i, rule)| rule.problems(&format!("sip.inbound.block[{i}]")))
            .collect();
        if !problems.is_empty() {
            return Err(problems.join("; "));
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
    /// Junk-fax rules (`[[sip.inbound.block]]`): calls refused with 603, faxes quarantined.
    pub block: Vec<faxhub_queue::junk::BlockRule>,
}

impl Default for InboundConfig {
    fn default() -> Self {
        InboundConfig {
            numbers: vec!["*".into()],
            did_from: DidFrom::RequestUri,
            channels: 8,
            max_duration: Duration::from_secs(30 * 60),
            // T.38 asked for by us a moment into the call unless the caller did first (a
            // gateway that hears our CED does; a PBX fax application that only plays CNG waits)
            fax: FaxOptions::default(),
            block: Vec::new(),
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
    /// faxhub sends the re-INVITE itself (and takes the far end's): when calling, as soon as
    /// the call is answered; when answering, 3 s in unless the caller switched first.
    Ours,
    /// faxhub waits for the far end's re-INVITE; the fax goes as audio until then.
    Theirs,
    /// G.711 only: a T.38 re-INVITE is refused with 488.
    Off,
}

/// T38FaxUdpEC as configured.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum UdptlEc {
    Redundancy,
    Fec,
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
    /// How UDPTL protects T.38 packets: "redundancy" (the usual) or "fec" (offered; used when
    /// the far end agrees, else redundancy).
    pub error_correction: UdptlEc,
    /// Earlier T.38 packets repeated in each UDPTL datagram.
    pub redundancy: usize,
    /// Audio codecs, in preference order, for G.711 calls.
    pub codecs: Vec<AudioCodec>,
    /// Other options for some numbers (`[[lines.fax.destinations]]`), the first match wins.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Destination>,
}

/// Options for some numbers: a far machine that needs ECM off, a slower modem, MH, or no T.38.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// E.164 patterns: `X` any digit, a trailing `*` any continuation ("+3314*").
    pub numbers: Vec<String>,
    pub ecm: Option<bool>,
    pub max_speed: Option<u32>,
    pub coding: Option<Coding>,
    pub t38: Option<T38Mode>,
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
            error_correction: UdptlEc::Redundancy,
            redundancy: 3,
            codecs: vec![AudioCodec::Pcma, AudioCodec::Pcmu],
            destinations: Vec::new(),
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
        for d in &self.destinations {
            if let Some(bad) = d.numbers.iter().find(|p| !valid_pattern(p)) {
                return Err(format!(
                    "{at}.destinations: {bad:?} is not a number pattern like \"+3314*\""
                ));
            }
            self.for_number_in(d).validate(at)?;
        }
        Ok(())
    }

    /// The options for calls to `number` (E.164): the first destination that matches it
    /// changes what it names.
    pub fn for_number(&self, number: &str) -> FaxOptions {
        match self
            .destinations
            .iter()
            .find(|d| d.numbers.iter().any(|p| pattern_matches(p, number)))
        {
            Some(d) => self.for_number_in(d),
            None => self.clone(),
        }
    }

    /// The options for one call: those for its number, with the sender's own ident and
    /// header line if it has them.
    pub fn for_call(&self, request: &crate::SendRequest) -> FaxOptions {
        let mut options = self.for_number(request.number.as_str());
        if let Some(ident) = &request.ident {
            options.ident = ident.clone();
        }
        if let Some(header) = &request.header {
            options.header = Some(header.clone());
        }
        if let Some(p) = &request.profile {
            if p.t38 == Some(false) {
                options.t38 = T38Mode::Off;
            }
            if let Some(speed) = p.max_speed {
                options.max_speed = options.max_speed.min(speed);
            }
            if p.ecm == Some(false) {
                options.ecm = false;
            }
        }
        options
    }

    fn for_number_in(&self, d: &Destination) -> FaxOptions {
        FaxOptions {
            ecm: d.ecm.unwrap_or(self.ecm),
            max_speed: d.max_speed.unwrap_or(self.max_speed),
            coding: d.coding.unwrap_or(self.coding),
            t38: d.t38.unwrap_or(self.t38),
            destinations: Vec::new(),
            ..self.clone()
        }
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
    /// "udp" or "tcp".
    pub transport: Transport,
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
            transport: Transport::Udp,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ports_inside_the_ephemeral_range_are_warned_of_unless_reserved() {
        let with = |ports: &str| SipConfig {
            media_ports: ports.into(),
            ..SipConfig::default()
        };
        for (ports, ephemeral, reserved, shared) in [
            ("56000-57000", "32768\t60999\n", "\n", Some(1001)),
            ("56000-57000", "32768 60999", "56000-57000", None),
            ("56000-57000", "32768 60999", "8080,56000-56499", Some(501)),
            ("10000-10999", "32768 60999", "", None),
            ("60000-61999", "32768 60999", "", Some(1000)),
            ("56000-57000", "garbage", "", None),
        ] {
            let warning = with(ports).media_ports_warning(ephemeral, reserved);
            let got = warning.as_ref().map(|w| {
                w.split(" shares ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            });
            assert_eq!(
                got, shared,
                "{ports} {ephemeral:?} {reserved:?}: {warning:?}"
            );
        }
    }

    #[test]
    fn a_destination_changes_only_what_it_names() {
        let options: FaxOptions = toml::from_str(
            "ident = \"ACME\"\n[[destinations]]\nnumbers = [\"+3314*\"]\necm = false\nmax_speed = 9600\n\
             [[destinations]]\nnumbers = [\"+33142000000\", \"+4930*\"]\nt38 = \"off\"\n",
        )
        .unwrap();
        options.validate("lines.fax").unwrap();
        let paris = options.for_number("+33142000000");
        assert_eq!(
            (paris.ecm, paris.max_speed, paris.t38),
            (false, 9600, T38Mode::Ours),
            "the first match"
        );
        assert_eq!(paris.ident, "ACME");
        let berlin = options.for_number("+4930123456");
        assert_eq!(
            (berlin.ecm, berlin.max_speed, berlin.t38),
            (true, 14_400, T38Mode::Off)
        );
        assert_eq!(
            options.for_number("+33169293999"),
            options,
            "no match: unchanged"
        );
        let bad: FaxOptions = toml::from_str("[[destinations]]\nnumbers = [\"0142*\"]\n").unwrap();
        assert!(bad.validate("lines.fax").unwrap_err().contains("\"0142*\""));
        let slow: FaxOptions =
            toml::from_str("[[destinations]]\nnumbers = [\"+33*\"]\nmax_speed = 2400\n").unwrap();
        assert!(slow.validate("lines.fax").unwrap_err().contains("2400"));
    }
}
