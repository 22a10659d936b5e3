//! Palisade's integration tests: the real server on a random loopback port, driven over HTTP.
//!
//! One test binary (faster to link than one per file). Each test gets its own database and
//! ephemeral-store namespace, chosen by the environment: SQLite + in-process by default,
//! PostgreSQL / Redis when `PALISADE_TEST_DATABASE_URL` / `PALISADE_TEST_REDIS_URL` are set.

mod authorize_rules;
mod cli;
mod foundation;
mod harness;
mod oidc_flow;
mod support;
mod token_rules;
mod readiness;
