//! The `faxhub` binary: parses the command line and runs one command of the library
//! (`faxhub::cli`), with the process's umask and exit code.

use clap::Parser;
use faxhub::Failure;
use std::process::ExitCode;

fn main() -> ExitCode {
    // SAFETY: umask(2) only sets the process's file mode creation mask; mallopt(3) sets a
    // tunable of the allocator before any thread exists.
    unsafe {
        libc::umask(faxhub::UMASK);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    let cli = faxhub::cli::Cli::parse();
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
    match runtime.block_on(faxhub::cli::run(cli)) {
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
