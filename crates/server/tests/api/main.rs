//! Palisade's integration tests: the real server on a random loopback port, driven over HTTP.
//!
//! One test binary (faster to link than one per file). Each test gets its own database and
//! ephemeral-store namespace, chosen by the environment: SQLite + in-process by default,
//! PostgreSQL / Redis when `PALISADE_TEST_DATABASE_URL` / `PALISADE_TEST_REDIS_URL` are set.

// Tests and their helpers may unwrap and expect: a panic there is a failed test (clippy.toml
// allows it inside #[test] functions only, not in the helpers they share).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access_reviews;
mod access_reviews_in_chromium;
mod accessibility;
mod account_console;
mod account_console_in_chromium;
mod account_lifecycle;
mod account_protection;
mod admin_api;
mod admin_console;
mod admin_console_in_chromium;
mod audit_console;
mod authorize_rules;
mod browser_interaction;
mod cli;
mod client_id_documents;
mod clients;
mod cluster;
mod cluster_harness;
mod cors;
mod cors_in_chromium;
mod dependency_directions;
mod device_flow;
mod device_in_chromium;
mod dpop;
mod drain;
mod harness;
mod headless_chromium;
mod keys;
mod keys_console;
mod logout_and_discovery;
mod mfa_admin;
mod names_and_token_validity;
mod oidc_flow;
mod par;
mod passkeys_in_chromium;
mod postgres_tls;
mod propagation;
mod readiness;
mod records_in_chromium;
mod redis_access;
mod redis_failover;
mod request_logs;
mod resources;
mod second_factor_forms;
mod second_factors;
mod serving;
mod sessions_console;
mod strict_input;
mod support;
mod token_rules;
mod transport_and_headers;
mod virtual_authenticator;
mod webauthn_script_in_chromium;
