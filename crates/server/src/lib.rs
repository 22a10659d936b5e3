//! The Palisade server: configuration, HTTP routes, middleware, background tasks and the
//! operator CLI. This is the one crate that wires concrete types together; each route parses,
//! calls the engine, maps the outcome, responds.

pub mod app;
pub mod browser;
pub mod change_feed;
pub mod cli;
pub mod client_cache;
pub mod client_documents;
pub mod client_ip;
pub mod config;
pub mod cookies;
pub mod cors;
pub mod cors_origins;
pub mod drain;
pub mod forms;
pub mod json_body;
pub mod log_writer;
pub mod metrics;
pub mod readiness;
pub mod request_log;
pub mod respond;
pub mod routes;
pub mod security_headers;
pub mod shutdown;
pub mod storage;
pub mod telemetry;
#[cfg(test)]
mod test_clients;
pub mod tls;

pub use app::{AppState, Application};
pub use config::Settings;
