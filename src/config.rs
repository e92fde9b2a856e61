//! The configuration: one TOML file, one typed tree, unknown keys rejected with their name.
//! With no file, the embedded defaults: data under `./var`, SMTP on 127.0.0.1:2525 for
//! `fax.localhost`, one `loopback` line (faxes sent to faxhub's own SIP listener on
//! 127.0.0.1:5060 and received into the inbox). `Config::load` parses and `validate` checks
//! everything that can be checked before start-up, so `faxhub check-config` and `faxhub serve`
//! agree.

use crate::inbound::InboundConfig;
use crate::receipts::ReceiptsConfig;
use faxhub_connectors::agents::exchange::ExchangeConfig;
use faxhub_connectors::agents::groupwise::GroupWiseConfig;
use faxhub_connectors::agents::hotfolder::HotFolderConfig;
use faxhub_connectors::agents::imap::ImapConfig;
use faxhub_connectors::relay::RelayConfig;
use faxhub_connectors::smtp::SmtpConfig;
use faxhub_converters::ConvertConfig;
use faxhub_lines::sip::config::SipConfig;
use faxhub_lines::{LineConfig, LineKind};
use faxhub_queue::dialplan::{DialPlan, DialPlanConfig};
use faxhub_queue::files::{Links, read_regular};
use faxhub_queue::limits::SenderLimits;
use faxhub_queue::retry::RetryPolicy;
use faxhub_queue::senders::{self, LocalDomains};
use faxhub_queue::store::{StoreConfig, Target};
use faxhub_queue::units::serde_duration;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_DATA_DIR: &str = "./var";
/// How often the scheduler looks at the store for work it was not told about (the CLI's).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The reserved example domains (RFC 2606), so that `make run` mails its example receipt with
/// its pages; a site lists its own.
pub const DEFAULT_LOCAL_DOMAINS: [&str; 2] = ["example.com", "localhost"];
/// The largest configuration file read (a real one is a few KB).
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// How long finished jobs stay in the store.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Where jobs are kept: SQLite under data_dir, or PostgreSQL shared by several nodes.
    pub store: StoreConfig,
    /// This node among several on one store.
    pub cluster: ClusterConfig,
    /// The site's mail domains (`.example.com`: every domain under it). Senders from trusted
    /// networks must belong to them, and only their addresses get pages back in receipts.
    pub local_domains: Vec<String>,
    pub smtp: SmtpConfig,
    pub dialplan: DialPlanConfig,
    /// Per-sender limits on numbers, pages and calls a day.
    pub limits: SenderLimits,
    /// Billing codes in Subject tags.
    pub billing: faxhub_queue::intake::BillingConfig,
    /// Per-sender identity (`[[senders]]`): TSI, header line, cover template, dial-back number.
    pub senders: Vec<faxhub_queue::identity::SenderIdentity>,
    pub retry: RetryPolicy,
    pub convert: ConvertConfig,
    pub scheduler: SchedulerConfig,
    /// The SIP user agent; started when this table is present or a line calls through it.
    pub sip: Option<SipConfig>,
    pub lines: Vec<LineConfig>,
    /// Delivery reports, and how faxhub's outgoing mail is retried.
    pub receipts: ReceiptsConfig,
    /// The SMTP relay faxhub's mail goes out through; without it, a Maildir under data_dir.
    pub relay: Option<RelayConfig>,
    /// Received faxes: which mailbox gets the faxes dialled to which number.
    pub inbound: InboundConfig,
    /// The Exchange Foreign connector's Drop directory (and Replay directory for receipts).
    pub exchange: Option<ExchangeConfig>,
    /// The GroupWise API gateway's directories.
    pub groupwise: Option<GroupWiseConfig>,
    /// A mail file read over IMAP (Domino's gateway mail file).
    pub imap: Option<ImapConfig>,
    /// Scan-to-folder hot folders (`[[hotfolder]]`).
    pub hotfolder: Vec<HotFolderConfig>,
    /// The HTTP API (on 127.0.0.1:8329 by default).
    pub http: crate::http::HttpConfig,
    /// Endpoints told of the faxes' events (`[[webhooks]]`).
    pub webhooks: Vec<crate::webhooks::WebhookConfig>,
    /// The site's directory: who owns which fax number.
    pub ldap: Option<faxhub_connectors::directory::LdapConfig>,
    /// The web client (on the HTTP API's server) and its local users.
    pub web: crate::web::config::WebConfig,
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            store: StoreConfig::default(),
            cluster: ClusterConfig::default(),
            local_domains: DEFAULT_LOCAL_DOMAINS
                .iter()
                .map(|d| d.to_string())
                .collect(),
            smtp: SmtpConfig::default(),
            dialplan: DialPlanConfig::default(),
            billing: Default::default(),
            senders: Vec::new(),
            limits: SenderLimits::default(),
            retry: RetryPolicy::default(),
            convert: ConvertConfig::default(),
            scheduler: SchedulerConfig::default(),
            sip: None,
            lines: vec![LineConfig {
                channels: 4,
                ..LineConfig::new("loopback", LineKind::Loopback)
            }],
            receipts: ReceiptsConfig::default(),
            relay: None,
            inbound: InboundConfig::default(),
            exchange: None,
            groupwise: None,
            imap: None,
            hotfolder: Vec::new(),
            http: crate::http::HttpConfig::default(),
            webhooks: Vec::new(),
            ldap: None,
            web: crate::web::config::WebConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// `[cluster]`: this node among several sharing one PostgreSQL store (`[store] url`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// This node's name, unique in the cluster (default: the machine's host name).
    pub node: Option<String>,
    /// How long work this node claimed (a call, a conversion, a mail) stays its own without a
    /// renewal; after it, another node takes the work back. Renewed every third of it.
    #[serde(with = "serde_duration")]
    pub lease: Duration,
    /// How long a drain (SIGTERM, `faxhub drain`) waits for calls in progress to end.
    #[serde(with = "serde_duration")]
    pub drain_grace: Duration,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            node: None,
            lease: Duration::from_secs(30),
            drain_grace: Duration::from_secs(120),
        }
    }
}

impl ClusterConfig {
    /// This node's name: the configured one, or the host name.
    pub fn node_name(&self) -> String {
        self.node
            .clone()
            .unwrap_or_else(crate::daemon::system_hostname)
    }

    fn validate(&self) -> Result<(), String> {
        let name = self.node_name();
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            return Err(format!(
                "cluster.node: {name:?} must be 1 to 64 letters, digits, '.', '_' or '-'"
            ));
        }
        if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&self.lease) {
            return Err("cluster.lease must be from 1s to 10m".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// At most one call at a time to the same number (a fax machine has one line).
    pub one_call_per_number: bool,
    #[serde(with = "serde_duration")]
    pub poll_interval: Duration,
    /// Finished jobs (done, failed, cancelled) are kept this long for `queue --all`, then
    /// deleted with their spool files.
    #[serde(with = "serde_duration")]
    pub retention: Duration,
    /// After a dropped call, the next one sends only the pages not yet confirmed, behind a
    /// continuation page; except to numbers matching `resume_never` (E.164 patterns).
    pub resume: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resume_never: Vec<String>,
    /// Sending windows (`[[scheduler.windows]]`): the hours faxes to some numbers may go.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<faxhub_queue::window::WindowConfig>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            windows: Vec::new(),
            resume: true,
            resume_never: Vec::new(),
            one_call_per_number: true,
            poll_interval: DEFAULT_POLL_INTERVAL,
            retention: DEFAULT_RETENTION,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (default) or `json`.
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `faxhub=debug`; RUST_LOG overrides it.
    pub level: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {why}")]
    Read { path: PathBuf, why: String },
    #[error("{path}: {why}")]
    Parse { path: PathBuf, why: String },
    #[error("{0}")]
    Invalid(String),
}

/// What `validate` found wrong, all of it.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    fn check(&mut self, holds: bool, problem: impl FnOnce() -> String) {
        if !holds {
            self.push(problem());
        }
    }

    /// The value, or `None` with its problem kept.
    fn take<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|e| self.push(e)).ok()
    }
}

/// What `validate` derives from the config.
pub struct Checked {
    pub dialplan: DialPlan,
    pub local: LocalDomains,
    pub trusted: Vec<IpNet>,
    pub listen: Vec<SocketAddr>,
    /// `[http] listen` (TLS on those that are not loopback addresses).
    pub http: Vec<SocketAddr>,
}

impl Config {
    /// Reads `path`, or returns the embedded defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let bytes =
            read_regular(path, MAX_CONFIG_BYTES, Links::Follow).map_err(|e| ConfigError::Read {
                path: path.into(),
                why: e.to_string(),
            })?;
        let text = String::from_utf8(bytes).map_err(|_| ConfigError::Read {
            path: path.into(),
            why: "not UTF-8 text".into(),
        })?;
        let config: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            why: e.to_string().replace('\n', " ").trim().to_string(),
        })?;
        Ok(config)
    }

    /// What `check-config` and start-up warn about in the file at `path` (none for the
    /// embedded defaults): a password others can read, `local_domains` left at the example.
    pub fn warnings(&self, path: Option<&Path>) -> Vec<String> {
        let Some(path) = path else {
            return Vec::new();
        };
        let mut out: Vec<String> = Config::exposed_secret(path).into_iter().collect();
        if self.local_domains == DEFAULT_LOCAL_DOMAINS {
            out.push(format!(
                "local_domains is left at its example value {DEFAULT_LOCAL_DOMAINS:?}: senders of your own domains are refused (553 5.7.1) and get no pages in receipts until you list your domains"
            ));
        }
        let sysctl = |name: &str| std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"));
        if let (Some(sip), Ok(ephemeral)) = (&self.sip, sysctl("ip_local_port_range")) {
            let reserved = sysctl("ip_local_reserved_ports").unwrap_or_default();
            out.extend(sip.media_ports_warning(&ephemeral, &reserved));
        }
        out
    }

    /// A warning when the file at `path` holds a password or a webhook's secret (a
    /// `password = …` or `secret = …` line, in any section) and every user of the machine may
    /// read it.
    pub fn exposed_secret(path: &Path) -> Option<String> {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        let text =
            String::from_utf8(read_regular(path, MAX_CONFIG_BYTES, Links::Follow).ok()?).ok()?;
        let holds_password = text.lines().any(|l| {
            let l = l.trim_start();
            ["password", "secret", "bind_password"]
                .iter()
                .any(|key| l.starts_with(key) && l[key.len()..].trim_start().starts_with('='))
        });
        (holds_password && mode & 0o004 != 0).then(|| {
            format!(
                "{} holds a password or secret and every user of this machine can read it (mode {:o}): chmod o-rwx it",
                path.display(),
                mode & 0o777
            )
        })
    }

    /// Checks everything that can be checked before start-up; every problem found is reported
    /// at once (`ConfigError::Invalid`, one `; `-separated line).
    pub fn validate(&self) -> Result<Checked, ConfigError> {
        let mut problems = Problems::default();
        let dialplan =
            problems.take(DialPlan::new(self.dialplan.clone()).map_err(|e| e.to_string()));
        let local = problems.take(LocalDomains::new(&self.local_domains));
        for (login, owned) in &self.smtp.auth.senders {
            problems.check(self.smtp.auth.users.contains_key(login), || {
                format!("smtp.auth.senders: {login:?} is not a user of smtp.auth.users")
            });
            // `@domain` is checked as the mailbox `x@domain`
            if let Some(bad) = owned.iter().find(|a| {
                senders::mailbox(&format!("x{a}")).is_none() && senders::mailbox(a).is_none()
            }) {
                problems.push(format!(
                    "smtp.auth.senders.{login}: {bad:?} is neither an address nor @domain"
                ));
            }
        }
        let trusted = problems.take(
            self.smtp
                .trusted_networks
                .iter()
                .map(|n| {
                    n.parse::<IpNet>()
                        .map_err(|_| format!("smtp.trusted_networks: {n:?} is not a CIDR network"))
                })
                .collect::<Result<Vec<_>, _>>(),
        );
        problems.take(self.store_target());
        problems.take(self.cluster.validate());
        let listen = problems.take(
            self.smtp
                .listen
                .iter()
                .map(|a| {
                    a.parse::<SocketAddr>()
                        .map_err(|_| format!("smtp.listen: {a:?} is not host:port"))
                })
                .collect::<Result<Vec<_>, _>>(),
        );
        if self.convert.cover.template.is_some() {
            problems.take(
                self.convert
                    .cover
                    .load_template()
                    .map_err(|e| format!("convert.cover.template: {e}")),
            );
        }
        problems.check(!self.smtp.fax_domains.is_empty(), || {
            "smtp.fax_domains: at least one fax domain is needed".into()
        });
        if let Some(tag) = &self.billing.subject_tag {
            problems.check(
                tag.chars().count() <= 32 && !tag.contains(['[', ']']) && !tag.contains(char::is_control),
                || format!("billing.subject_tag: {tag:?} must be at most 32 characters, without brackets"),
            );
        }
        problems.take(
            faxhub_queue::window::Windows::new(
                &self.scheduler.windows,
                &self.dialplan.country_code,
            )
            .map(drop),
        );
        for p in &self.scheduler.resume_never {
            problems.check(faxhub_queue::dialplan::valid_pattern(p), || {
                format!("scheduler.resume_never: {p:?} is not a number pattern like \"+4930*\"")
            });
        }
        for line in &self.lines {
            if let Some(hours) = &line.hours {
                problems.check(faxhub_queue::window::Hours::parse(hours).is_some(), || {
                    format!(
                        "lines {:?}: hours {hours:?} is not a window like \"08:00-20:00\"",
                        line.name
                    )
                });
            }
        }
        for (i, sender) in self.senders.iter().enumerate() {
            let at = format!("senders[{i}]");
            for problem in sender.problems(&at) {
                problems.check(false, || problem);
            }
            if let Some(template) = &sender.cover_template {
                let cover = faxhub_converters::CoverConfig {
                    template: Some(template.clone()),
                    ..Default::default()
                };
                problems.take(
                    cover
                        .load_template()
                        .map_err(|e| format!("{at}.cover_template: {e}")),
                );
            }
        }
        for (key, list) in [
            ("subject_addresses", &self.smtp.subject_addresses),
            ("broadcast_addresses", &self.smtp.broadcast_addresses),
        ] {
            for address in list {
                let parts = address.rsplit_once('@');
                problems.check(
                    parts.is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !l.contains('<')),
                    || format!("smtp.{key}: {address:?} is not an address (local@domain)"),
                );
            }
        }
        problems.check(self.smtp.max_broadcast > 0, || {
            "smtp.max_broadcast must be at least 1".into()
        });
        problems.check(
            self.smtp.max_recipients > 0
                && self.smtp.max_connections > 0
                && self.smtp.max_errors > 0,
            || "smtp: max_recipients, max_connections and max_errors must be at least 1".into(),
        );
        problems.check(!self.lines.is_empty(), || {
            "lines: at least one [[lines]] entry is needed".into()
        });
        for (i, line) in self.lines.iter().enumerate() {
            problems.check(line.channels > 0, || {
                format!("lines.{}: channels must be at least 1", line.name)
            });
            problems.check(!self.lines[..i].iter().any(|l| l.name == line.name), || {
                format!("lines: the name {:?} is used twice", line.name)
            });
            problems.take(line.validate().map_err(|e| e.to_string()));
        }
        if let Some(sip) = self.sip_agent() {
            problems.take(sip.validate());
        }
        problems.check(self.retry.max_tries > 0 && self.retry.max_dials > 0, || {
            "retry: max_tries and max_dials must be at least 1".into()
        });
        problems.check(self.convert.max_pages > 0, || {
            "convert.max_pages must be at least 1".into()
        });
        problems.take(self.receipts.policy());
        problems.take(self.inbound.routes());
        for problem in self.inbound.ident_route_problems() {
            problems.check(false, || problem);
        }
        if let Some(relay) = &self.relay {
            problems.take(faxhub_connectors::relay::SmtpRelay::new(relay));
        }
        problems.take(crate::agents::validate(self));
        let http = problems.take(self.http.addresses());
        problems.take(crate::webhooks::validate(&self.webhooks));
        if let Some(ldap) = &self.ldap {
            problems.take(ldap.validate());
        }
        problems.take(self.web.validate());
        problems.check(
            self.web.admin_group.is_none() || self.ldap.is_some(),
            || "web.admin_group names a directory group: it needs [ldap]".into(),
        );
        match (dialplan, local, trusted, listen, http) {
            (Some(dialplan), Some(local), Some(trusted), Some(listen), Some(http))
                if problems.0.is_empty() =>
            {
                Ok(Checked {
                    dialplan,
                    local,
                    trusted,
                    listen,
                    http,
                })
            }
            _ => Err(ConfigError::Invalid(problems.0.join("; "))),
        }
    }

    /// The SIP user agent's settings, if it runs: when `[sip]` is given or a line needs it.
    pub fn sip_agent(&self) -> Option<SipConfig> {
        match &self.sip {
            Some(sip) => Some(sip.clone()),
            None if self.lines.iter().any(LineConfig::uses_sip) => Some(SipConfig::default()),
            None => None,
        }
    }

    pub fn inbox_dir(&self) -> PathBuf {
        self.data_dir.join("inbox")
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("faxhub.db")
    }

    /// Where the job store is (`[store]`).
    pub fn store_target(&self) -> Result<Target, String> {
        self.store.target(&self.data_dir)
    }
    pub fn spool_dir(&self) -> PathBuf {
        self.data_dir.join("spool")
    }
    /// Where faxhub's mail goes when no relay is configured.
    pub fn maildir(&self) -> PathBuf {
        self.data_dir.join("Maildir")
    }
    /// Where an agent puts what it cannot take, unless configured otherwise.
    pub fn quarantine_dir(&self, agent: &str) -> PathBuf {
        self.data_dir.join("quarantine").join(agent)
    }
    pub fn outbox_dir(&self) -> PathBuf {
        self.data_dir.join("outbox")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        toml::from_str::<Config>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let config = parse(
            "[smtp]\nfax_domains = []\nlisten = [\"nowhere\"]\nsubject_addresses = [\"fax\"]\n\
             [retry]\nmax_tries = 0\n[convert]\nmax_pages = 0\n[billing]\nsubject_tag = \"[B\"\n\
             [[senders]]\nsenders = [\"not an address\"]\ncover_template = \"/nonexistent.html\"\n\
             [[scheduler.windows]]\nnumbers = [\"+44*\"]\nhours = \"late\"\n",
        )
        .unwrap();
        let Err(ConfigError::Invalid(all)) = config.validate() else {
            panic!("invalid");
        };
        for problem in [
            "smtp.fax_domains",
            "smtp.listen",
            "smtp.subject_addresses",
            "retry:",
            "convert.max_pages",
            "billing.subject_tag",
            "senders[0].senders",
            "senders[0].cover_template",
            "scheduler.windows[0].hours",
        ] {
            assert!(all.contains(problem), "{problem} in {all}");
        }
        assert_eq!(all.lines().count(), 1, "{all}");
    }

    #[test]
    fn defaults_validate() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.smtp.listen, vec!["127.0.0.1:2525"]);
        assert_eq!(c.smtp.fax_domains, vec!["fax.localhost"]);
        assert_eq!(c.lines[0].kind, LineKind::Loopback);
        assert_eq!(
            c.sip_agent().unwrap().listen.to_string(),
            "127.0.0.1:5060",
            "the loopback line needs the user agent"
        );
    }

    #[test]
    fn a_readable_file_with_a_password_or_a_webhook_secret_is_warned_of() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("[relay]\npassword = \"x\"\n", 0o644, true),
            ("[[webhooks]]\n  secret = \"whsec_x\"\n", 0o644, true),
            ("[[webhooks]]\nsecret = \"whsec_x\"\n", 0o640, false),
            (
                "# secret = \"whsec_x\"\nsecrets_dir = \"/x\"\n",
                0o644,
                false,
            ),
        ];
        for (i, (text, mode, warned)) in cases.into_iter().enumerate() {
            let path = dir.path().join(format!("{i}.toml"));
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(
                Config::exposed_secret(&path).is_some(),
                warned,
                "{text:?} {mode:o}"
            );
        }
    }

    #[test]
    fn the_example_file_is_complete_and_valid() {
        let text = include_str!("../faxhub.example.toml");
        let c = parse(text).unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn the_example_agent_sections_parse_once_uncommented_and_are_checked() {
        // the agent tables of the example, uncommented: they must be valid as written
        let example = include_str!("../faxhub.example.toml");
        let start = example.find("# [exchange]").unwrap();
        let end = example.find("[log]").unwrap();
        let agents: String = example[start..end]
            .lines()
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.starts_with('[') || l.contains(" = "))
            // the example's CA file does not exist here (validate reads it)
            .filter(|l| !l.starts_with("ca_file"))
            // the example's webhook secret is a placeholder, to be made
            .map(|l| match l.starts_with("secret = \"whsec_") {
                true => "secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n".to_string(),
                false => format!("{l}\n"),
            })
            .collect();
        let c = parse(&agents).unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.exchange.as_ref().unwrap().drop.to_str(),
            Some("/mnt/exchange/Drop")
        );
        assert_eq!(c.groupwise.as_ref().unwrap().fax_domains, ["FAX"]);
        assert_eq!(c.imap.as_ref().unwrap().host, "domino.example.com");
        assert_eq!(c.webhooks[0].events, ["fax.delivered", "fax.failed"]);
        assert_eq!(
            c.hotfolder[0].owner.as_deref(),
            Some("reception@example.com")
        );

        let unknown = parse("[exchange]\ndrop = \"/d\"\ndrop_dir = \"/x\"\n").unwrap_err();
        assert!(unknown.to_string().contains("drop_dir"), "{unknown}");
        let no_replay = parse("[inbound]\nvia = \"exchange\"\n[exchange]\ndrop = \"/d\"\n")
            .unwrap()
            .validate()
            .err()
            .unwrap()
            .to_string();
        assert!(no_replay.contains("[exchange] replay"), "{no_replay}");
        let no_host = parse("[imap]\nusername = \"u\"\n")
            .unwrap()
            .validate()
            .err()
            .unwrap();
        assert!(no_host.to_string().contains("imap: host"), "{no_host}");
        let no_path = parse("[[hotfolder]]\nowner = \"a@b\"\n")
            .unwrap()
            .validate()
            .err()
            .unwrap();
        assert!(
            no_path.to_string().contains("hotfolder.0: path"),
            "{no_path}"
        );
    }

    #[test]
    fn local_domains_and_sender_login_maps_are_checked() {
        let error = |text: &str| parse(text).unwrap().validate().err().unwrap().to_string();
        let bad = error("local_domains = [\"example.com\", \"a@b.com\"]\n");
        assert!(
            bad.contains("local_domains") && bad.contains("a@b.com"),
            "{bad}"
        );
        let stranger = error("[smtp.auth.senders]\nscanner = [\"@example.com\"]\n");
        assert!(stranger.contains("\"scanner\" is not a user"), "{stranger}");
        let users = "[smtp.auth.users]\nscanner = \"pw\"\n[smtp.auth.senders]\n";
        let not_an_address = error(&format!("{users}scanner = [\"example.com\"]\n"));
        assert!(
            not_an_address.contains("smtp.auth.senders.scanner"),
            "{not_an_address}"
        );
        parse(&format!(
            "{users}scanner = [\"@example.com\", \"fax@corp.test\"]\n"
        ))
        .unwrap()
        .validate()
        .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("faxhub.toml");
        std::fs::write(&path, "").unwrap();
        let left = Config::load(Some(&path)).unwrap();
        let warnings = left.warnings(Some(&path));
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("local_domains is left at its example value")),
            "{warnings:?}"
        );
        assert!(Config::default().warnings(None).is_empty());
        std::fs::write(&path, "local_domains = [\"corp.test\"]\n").unwrap();
        let listed = Config::load(Some(&path)).unwrap();
        assert!(listed.warnings(Some(&path)).is_empty());
    }

    #[test]
    fn a_cover_template_is_checked_with_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cover.html");
        let config = format!("[convert.cover]\nenabled = true\ntemplate = {path:?}\n");
        let missing = parse(&config)
            .unwrap()
            .validate()
            .err()
            .unwrap()
            .to_string();
        assert!(missing.contains("convert.cover.template"), "{missing}");
        std::fs::write(&path, "<p>{{to_name}} {{sender}}</p>").unwrap();
        let unknown = parse(&config)
            .unwrap()
            .validate()
            .err()
            .unwrap()
            .to_string();
        assert!(unknown.contains("sender"), "{unknown}");
        std::fs::write(&path, "<p>{{to_name}} {{pages}}</p>").unwrap();
        parse(&config).unwrap().validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[smtp]\nlisten = [\"127.0.0.1:25\"]\nfax_domain = \"x\"\n").unwrap_err();
        assert!(err.contains("fax_domain"), "{err}");
        let err = parse("datadir = \"/x\"").unwrap_err();
        assert!(err.contains("datadir"), "{err}");
    }

    #[test]
    fn units_and_bad_values() {
        let c = parse("[smtp]\nmax_message_size = \"10MB\"\ncommand_timeout = \"30s\"\n[retry]\nschedule = [\"10s\", \"1m\"]\ngive_up_after = \"2h\"\n").unwrap();
        assert_eq!(c.smtp.max_message_size, 10_000_000);
        assert_eq!(
            c.retry.schedule,
            vec![Duration::from_secs(10), Duration::from_secs(60)]
        );
        assert!(
            parse("[retry]\ngive_up_after = \"soon\"\n")
                .unwrap_err()
                .contains("not a duration")
        );
        let bad = parse("[smtp]\ntrusted_networks = [\"10.0.0.0/33\"]\n").unwrap();
        assert!(
            bad.validate()
                .err()
                .unwrap()
                .to_string()
                .contains("trusted_networks")
        );
        let bad = parse(
            "[[lines]]\nname = \"a\"\nkind = \"file\"\n[[lines]]\nname = \"a\"\nkind = \"test\"\n",
        )
        .unwrap();
        assert!(
            bad.validate()
                .err()
                .unwrap()
                .to_string()
                .contains("used twice")
        );
        assert!(parse("[[lines]]\nname = \"a\"\nkind = \"modem\"\n").is_err());
        for (text, words) in [
            (
                "[[lines]]\nname = \"t\"\nkind = \"sip\"\n",
                "needs [lines.sip] proxy",
            ),
            (
                "[[lines]]\nname = \"t\"\nkind = \"sip\"\n[lines.sip]\nproxy = \"pbx\"\nregister = true\n",
                "register needs username and password",
            ),
            (
                "[[lines]]\nname = \"t\"\nkind = \"loopback\"\n[lines.fax]\nmax_speed = 33600\n",
                "33600 is not 14400, 9600 or 4800",
            ),
            ("[sip]\nmedia_ports = \"57000-56000\"\n", "sip.media_ports"),
            ("[sip]\ndscp_media = 64\n", "0 to 63"),
            (
                "[sip.inbound.fax]\nident = \"a fax ident longer than twenty\"\n",
                "20 characters",
            ),
        ] {
            let err = parse(text).unwrap().validate().err().unwrap().to_string();
            assert!(err.contains(words), "{text}: {err}");
        }
        assert!(
            parse("[[lines]]\nname = \"t\"\nkind = \"sip\"\n[lines.sip]\nproxi = \"x\"\n")
                .unwrap_err()
                .contains("proxi")
        );
    }
}
