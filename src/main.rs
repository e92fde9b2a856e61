//! faxhub: an e-mail to fax gateway. This binary parses the command line, loads the
//! configuration and runs one command. Exit codes: 0 success, 1 runtime failure, 2 usage or
//! configuration error, always with a one-line message naming the problem.

mod agents;
mod cli;
mod config;
mod convert_cmd;
mod inbound;
mod inbox_cmd;
mod logging;
mod postman;
mod queue_cmd;
mod receipts;
mod recovery;
mod scheduler;
mod send;
mod serve;
mod watch;

use clap::Parser;
use std::process::ExitCode;

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
const UMASK: libc::mode_t = 0o027;

fn main() -> ExitCode {
    // SAFETY: umask(2) only sets the process's file mode creation mask.
    unsafe {
        libc::umask(UMASK);
    }
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("faxhub: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("faxhub: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(msg)) => {
            eprintln!("faxhub: {msg}");
            ExitCode::from(1)
        }
    }
}
