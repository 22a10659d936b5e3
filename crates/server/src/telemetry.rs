//! Structured logs via `tracing`: human-readable by default, one JSON object per line with
//! `--log-format json`, written to stderr through a buffer that no request waits on
//! (log_writer.rs). Each request is one access-log event (request_log.rs).

use crate::config::LogFormat;
use crate::log_writer::{self, FlushOnDrop};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; the returned guard writes out what is buffered when
/// dropped, so hold it until the process ends. Later calls install nothing (tests that
/// start several servers in one process do not fight over it) and return `None`. Fails only
/// when the writer thread cannot be started.
pub fn init(format: LogFormat, filter: &str) -> std::io::Result<Option<FlushOnDrop>> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let ansi = format == LogFormat::Human && std::io::stderr().is_terminal();
    let (writer, guard) = log_writer::spawn(std::io::stderr())?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    let installed = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(installed.ok().map(|()| guard))
}
