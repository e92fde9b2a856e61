//! Logs: `tracing` events, text or JSON lines on stderr, filtered by `[log] level` or RUST_LOG.

use crate::config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

const DEFAULT_FILTER: &str = "info,sqlx=warn";

pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .ok()
        .or_else(|| {
            config
                .level
                .as_deref()
                .and_then(|l| EnvFilter::try_new(l).ok())
        })
        .unwrap_or_else(|| EnvFilter::new(DEFAULT_FILTER));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
