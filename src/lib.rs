//! faxhub, the library behind the `faxhub` binary: an e-mail to fax gateway.
//!
//! The daemon (`daemon::Daemon`: built once from the configuration, then run until told to
//! stop) and its services: the `scheduler` (the one owner of what happens next), the reporter
//! (`receipts`), the `postman` (mail out), the `inbound` mailer (received faxes), the transport
//! `agents`, crash `recovery`. The commands of the CLI (`cli`) are here too, so that tests can
//! drive everything in-process; the binary only parses its command line and runs one.
//! Exit codes of the commands: 0 success, 1 runtime failure, 2 usage or configuration error,
//! always with a one-line message naming the problem.

pub mod agents;
pub mod cli;
pub mod cluster;
pub mod config;
mod convert_cmd;
pub mod daemon;
pub mod destinations_cmd;
pub mod http;
pub mod inbound;
mod inbox_cmd;
mod logging;
pub mod metrics;
pub mod owners;
pub mod postman;
mod queue_cmd;
pub mod receipts;
pub mod recovery;
pub mod scheduler;
mod send;
#[cfg(test)]
mod testing;
mod token_cmd;
mod usage_cmd;
pub mod wakeups;
mod watch;
pub mod web;
pub mod webhooks;

/// A failure of a command, sorted by exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Runtime(String),
}

/// A file named on the command line: regular, at most `limit` bytes, never a blocking open of
/// a FIFO or device; otherwise a one-line usage error naming it.
pub fn read_input(path: &std::path::Path, limit: u64) -> Result<Vec<u8>, Failure> {
    use faxhub_queue::files::{Links, read_regular};
    read_regular(path, limit, Links::Follow)
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))
}

impl From<config::ConfigError> for Failure {
    fn from(e: config::ConfigError) -> Self {
        Failure::Usage(e.to_string())
    }
}

/// Files faxhub makes are its user's and group's alone: the store, the spool, Maildir,
/// quarantine and inbox come out 0640 (directories 0750); keys are written 0600 by their maker.
pub const UMASK: libc::mode_t = 0o027;
