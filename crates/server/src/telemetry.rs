//! Structured logs via `tracing`: human-readable by default, one JSON object per line with
//! `--log-format json`. Each request gets a span; closing it prints one line with the status
//! and latency (`TracingLogger` alone prints nothing: docs/dependencies.md, tracing-actix-web).

use crate::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global subscriber. Safe to call more than once (later calls are no-ops), so
/// tests that start several servers in one process do not fight over it.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
