//! Palisade's storage adapters: the durable and ephemeral ports declared in `palisade-core`.
//!
//! - [`SqlStore`]: Diesel over PostgreSQL or SQLite (one `MultiConnection`, chosen by URL),
//!   implementing [`HealthCheck`], [`UserRepository`], [`RoleRepository`],
//!   [`ClientRepository`], [`ConsentRepository`], [`RefreshTokenRepository`],
//!   [`SigningKeyRepository`], [`LockoutRepository`], [`AuditLog`],
//!   [`InitialAccessTokenRepository`] and [`FactorRepository`]. Schema lives in the
//!   workspace's `migrations/{postgres,sqlite}` and is embedded; [`SqlStore::migrate`] applies it.
//! - [`RedisStore`] and [`InProcessStore`]: the [`EphemeralStore`] (codes, sessions, counters).
//!   [`open_ephemeral`] picks one from configuration.
//!
//! - [`ChangeFeed`]: PostgreSQL's announcements of changes to signing keys and clients, so
//!   every node applies a change made anywhere within a second.
//!
//! Every failure to reach a backing service is [`StoreError::Unavailable`], quickly (pool and
//! command timeouts), so callers fail closed with `temporarily_unavailable`.
//!
//! The contract suite in `tests/contract/` holds both SQL dialects and both ephemeral stores to
//! the same words; `palisade_store::testing` (cargo feature `testing`) picks the backends
//! from the environment and gives each test its own database and key prefix.
//!
//! [`HealthCheck`]: palisade_core::ports::HealthCheck
//! [`UserRepository`]: palisade_core::ports::UserRepository
//! [`RoleRepository`]: palisade_core::ports::RoleRepository
//! [`ClientRepository`]: palisade_core::ports::ClientRepository
//! [`ConsentRepository`]: palisade_core::ports::ConsentRepository
//! [`RefreshTokenRepository`]: palisade_core::ports::RefreshTokenRepository
//! [`SigningKeyRepository`]: palisade_core::ports::SigningKeyRepository
//! [`LockoutRepository`]: palisade_core::ports::LockoutRepository
//! [`AuditLog`]: palisade_core::ports::AuditLog
//! [`InitialAccessTokenRepository`]: palisade_core::ports::InitialAccessTokenRepository
//! [`FactorRepository`]: palisade_core::ports::FactorRepository
//! [`EphemeralStore`]: palisade_core::ports::EphemeralStore
//! [`StoreError::Unavailable`]: palisade_core::StoreError::Unavailable

mod audit;
pub mod change_feed;
mod clients;
mod consents;
mod convert;
mod database_url;
pub mod ephemeral;
mod error;
mod factors;
mod initial_access_tokens;
mod lockouts;
mod pool;
mod refresh_tokens;
mod roles;
mod schema;
mod sessions;
mod signing_keys;
#[cfg(feature = "testing")]
pub mod testing;
mod users;

pub use change_feed::{ChangeFeed, FeedOptions};
pub use database_url::{Backend, DatabaseUrl, InvalidDatabaseUrl};
pub use ephemeral::in_process::{InProcessOptions, InProcessStore};
pub use ephemeral::open_ephemeral;
pub use ephemeral::redis::{RedisOptions, RedisStore};
pub use ephemeral::redis_address::{InvalidRedisUrl, RedisAddress};
pub use pool::{DatabaseProbe, PoolOptions, PoolStatus, SqlStore};
