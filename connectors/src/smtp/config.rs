//! The `[smtp]` section of the configuration, typed, with its defaults.

use faxhub_queue::units::{serde_duration, serde_size};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:2525";
pub const DEFAULT_FAX_DOMAIN: &str = "fax.localhost";
pub const DEFAULT_MAX_MESSAGE_SIZE: u64 = 25_000_000;
pub const DEFAULT_MAX_RECIPIENTS: u32 = 100;
pub const DEFAULT_MAX_BROADCAST: u32 = 5_000;
pub const DEFAULT_MAX_CONNECTIONS: u32 = 100;
/// Connections at once from one address outside `trusted_networks`.
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: u32 = 10;
/// From one address of `trusted_networks` (a mail server sending in parallel).
pub const DEFAULT_MAX_CONNECTIONS_PER_TRUSTED_CLIENT: u32 = 50;
/// How long a new connection may stay silent before its first command.
pub const DEFAULT_FIRST_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the whole message after DATA may take (a slow sender cannot hold a slot longer).
pub const DEFAULT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
pub const DEFAULT_MAX_ERRORS: u32 = 10;
/// RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for the next command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// RFC 5321 §4.5.3.2.5: 3 minutes for each data block.
pub const DEFAULT_DATA_TIMEOUT: Duration = Duration::from_secs(3 * 60);

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Addresses to listen on, `host:port`.
    pub listen: Vec<String>,
    /// The name in the greeting and in Received: headers; the machine's host name by default.
    pub hostname: Option<String>,
    /// Domains whose addresses are fax numbers: `0169293999@fax.example.com`.
    pub fax_domains: Vec<String>,
    /// Domains where Exchange's `IMCEAFAX-…` addresses are accepted too.
    pub imcea_domains: Vec<String>,
    /// Shared addresses (`fax@fax.example.com`) whose mails name their numbers in the Subject,
    /// after `Fax:`; none by default.
    pub subject_addresses: Vec<String>,
    /// Broadcast addresses (`broadcast@fax.example.com`): a mail to one carries a spreadsheet
    /// (.xlsx, .xls, .ods) listing the numbers, one per row, and the document to fax them;
    /// none by default.
    pub broadcast_addresses: Vec<String>,
    /// The most rows one broadcast list may have.
    pub max_broadcast: u32,
    #[serde(with = "serde_size")]
    pub max_message_size: u64,
    pub max_recipients: u32,
    /// Clients in these networks may submit without AUTH.
    pub trusted_networks: Vec<String>,
    pub max_connections: u32,
    /// Connections at once from one address (421 4.7.0 beyond), and from one address of
    /// `trusted_networks`.
    pub max_connections_per_client: u32,
    pub max_connections_per_trusted_client: u32,
    /// Error replies in one session before it is closed with 421 (`452` for recipients past
    /// `max_recipients` is not an error: the client sends them in another transaction).
    pub max_errors: u32,
    /// For each command line, whole.
    #[serde(with = "serde_duration")]
    pub command_timeout: Duration,
    /// Before the first command of a connection.
    #[serde(with = "serde_duration")]
    pub first_command_timeout: Duration,
    /// For each line of the message.
    #[serde(with = "serde_duration")]
    pub data_timeout: Duration,
    /// For the whole message, from the 354 to its final dot.
    #[serde(with = "serde_duration")]
    pub message_timeout: Duration,
    pub tls: TlsConfig,
    pub auth: AuthConfig,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            listen: vec![DEFAULT_LISTEN.to_string()],
            hostname: None,
            fax_domains: vec![DEFAULT_FAX_DOMAIN.to_string()],
            imcea_domains: Vec::new(),
            subject_addresses: Vec::new(),
            broadcast_addresses: Vec::new(),
            max_broadcast: DEFAULT_MAX_BROADCAST,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            trusted_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: DEFAULT_MAX_CONNECTIONS_PER_CLIENT,
            max_connections_per_trusted_client: DEFAULT_MAX_CONNECTIONS_PER_TRUSTED_CLIENT,
            max_errors: DEFAULT_MAX_ERRORS,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            first_command_timeout: DEFAULT_FIRST_COMMAND_TIMEOUT,
            data_timeout: DEFAULT_DATA_TIMEOUT,
            message_timeout: DEFAULT_MESSAGE_TIMEOUT,
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
        }
    }
}

/// `[smtp.tls]`: PEM files; with neither, a self-signed certificate is made under data_dir.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// `[smtp.auth]`: users who may submit from outside trusted_networks (PLAIN/LOGIN, after
/// STARTTLS only).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub users: BTreeMap<String, String>,
    /// The envelope senders each login may use (like Postfix's sender login maps):
    /// `user@domain`, or `@domain` for any address there. A login not listed may use the
    /// addresses of `local_domains`.
    pub senders: BTreeMap<String, Vec<String>>,
}
