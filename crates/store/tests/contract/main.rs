//! Port contract tests: the words in `palisade_core::ports`, checked against whichever
//! backends the environment selects (see `palisade_store::testing`). With no variables set
//! this is SQLite + in-process; with `PALISADE_TEST_DATABASE_URL` / `PALISADE_TEST_REDIS_URL`
//! it is PostgreSQL + Redis. Same tests, two CI passes.

// Fixture helpers are not `#[test]` functions, but a panic in them is still a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
mod change_feed;
mod clients;
mod consents;
mod ephemeral;
mod factors;
mod initial_access_tokens;
mod lockouts;
mod redis_access;
mod redis_sentinel;
mod refresh_tokens;
mod roles;
mod sessions;
mod signing_keys;
mod sql_store;
mod support;
mod users;
