//! Opening the durable and ephemeral stores the configuration names.

use crate::config::Settings;
use palisade_core::Clock;
use palisade_core::OsSecrets;
use palisade_core::ports::{ClientRepository, EphemeralStore};
use palisade_flow::admin::{Admin, AdminPorts, Auditor, KeyAdmin};
use palisade_flow::guard::CredentialGuard;
use palisade_flow::password::PasswordHasher;
use palisade_keys::KeyManager;
use palisade_store::SqlStore;
use std::sync::Arc;

/// The two stores every command works against.
#[derive(Clone)]
pub struct Storage {
    pub sql: SqlStore,
    pub ephemeral: Arc<dyn EphemeralStore>,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    // The cause is in the message and deliberately not a `source`: `palisade: {e:#}` would
    // print it a second time.
    #[error("cannot open the database ({setting}): {cause}")]
    Database {
        setting: &'static str,
        cause: palisade_core::StoreError,
    },
    #[error("cannot use Redis at {address} (PALISADE_REDIS_URL): {cause}")]
    Redis {
        /// The URL with its password hidden.
        address: String,
        cause: palisade_core::StoreError,
    },
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
}

impl Storage {
    /// Connects to both stores. Migrations are run by the caller when it wants them.
    pub async fn open(settings: &Settings) -> Result<Self, StorageError> {
        let sql = open_database(settings, settings.database_pool_size).await?;
        let redis = settings.redis_address()?;
        let ephemeral = palisade_store::open_ephemeral(
            redis.as_ref(),
            &settings.redis_key_prefix,
            settings.ephemeral,
        )
        .await
        .map_err(|cause| StorageError::Redis {
            address: redis.as_ref().map_or_else(String::new, ToString::to_string),
            cause,
        })?;
        Ok(Self { sql, ephemeral })
    }

    /// The administration service over these stores. `clients` is the repository client
    /// writes go through (a server passes its cache, so this node forgets a changed client at
    /// once); `None` writes to the database directly.
    pub fn admin(
        &self,
        settings: &Settings,
        passwords: PasswordHasher,
        clock: Arc<dyn Clock>,
        clients: Option<Arc<dyn ClientRepository>>,
    ) -> Admin {
        let sql = Arc::new(self.sql.clone());
        Admin::new(AdminPorts {
            users: sql.clone(),
            roles: sql.clone(),
            clients: clients.unwrap_or_else(|| sql.clone()),
            client_records: sql.clone(),
            lockouts: sql.clone(),
            refresh_tokens: sql.clone(),
            initial_access_tokens: sql.clone(),
            factors: sql.clone(),
            audit: sql.clone(),
            guard: CredentialGuard::new(
                settings.attempt_limits,
                self.ephemeral.clone(),
                sql.clone(),
                sql,
                clock.clone(),
            ),
            passwords,
            clock,
            secrets: Arc::new(OsSecrets),
            signing_algorithms: settings.key_policy.enabled_algorithms.clone(),
        })
    }
}

/// Signing-key administration over `sql` and a key manager on it.
pub fn key_admin(
    sql: &SqlStore,
    manager: Arc<KeyManager>,
    sealer: Arc<dyn palisade_core::ports::SecretSealer>,
    clock: Arc<dyn Clock>,
) -> KeyAdmin {
    let sql = Arc::new(sql.clone());
    KeyAdmin::new(
        manager,
        sql.clone(),
        Auditor::new(sql.clone(), clock),
        sql,
        sealer,
    )
}

/// The database alone, migrated: key commands must work while Redis is down.
pub async fn open_migrated_database(settings: &Settings) -> Result<SqlStore, StorageError> {
    let sql = open_database(settings, 2).await?;
    sql.migrate()
        .await
        .map_err(|cause| StorageError::Database {
            setting: "PALISADE_DATABASE_URL",
            cause,
        })?;
    Ok(sql)
}

/// The database alone, with a pool of `max_size`; an SQLite database's directory is created
/// owner-only first (it holds password hashes).
pub async fn open_database(settings: &Settings, max_size: usize) -> Result<SqlStore, StorageError> {
    if settings.database_url.backend() == palisade_store::Backend::Sqlite {
        crate::config::create_data_dir(&settings.data_dir).map_err(|source| {
            StorageError::DataDir {
                path: settings.data_dir.display().to_string(),
                source,
            }
        })?;
    }
    SqlStore::connect(&settings.database_url, settings.pool_options(max_size))
        .await
        .map_err(|cause| StorageError::Database {
            setting: "PALISADE_DATABASE_URL",
            cause,
        })
}
