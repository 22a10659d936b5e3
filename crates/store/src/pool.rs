//! The SQL connection pool and [`SqlStore`], the handle every durable port is implemented on.
//!
//! One Diesel `MultiConnection` serves PostgreSQL and SQLite, so each query is written once.
//! Connections are made by our own deadpool manager rather than `AnyConnection::establish`,
//! which tries every backend in turn and loses the real error (docs/dependencies.md, diesel).
//! Diesel is blocking: every query runs through `SyncWrapper::interact` on tokio's blocking pool.
//!
//! A PostgreSQL connection last handed out more than [`TRUSTED_AFTER_USE`] ago proves it is
//! alive with a `SELECT 1` before its work, in the same trip to the blocking pool; a dead one
//! is dropped and the work moves to another connection, unrun. A connection used more recently
//! is trusted (as HikariCP does): checking it before every statement doubled the statements of
//! a sign-in and added a thread hop to each. If it has died all the same (the server restarted
//! a moment ago), its call fails `Unavailable` and the connection is dropped, so the next call
//! gets a new one. SQLite connections are never checked: a local file does not hang up.

use crate::database_url::{Backend, DatabaseUrl, Location};
use crate::error::{DbError, DbResult};
use async_trait::async_trait;
use deadpool::Runtime;
use deadpool::managed::{
    self, Metrics, Pool, PoolError, RecycleError, RecycleResult, TimeoutType, Timeouts,
};
use deadpool_sync::{InteractError, SyncWrapper};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::result::DatabaseErrorKind;
use diesel::sql_types::Integer;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, IntoSql, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use palisade_core::StoreError;
use palisade_core::ports::{HealthCheck, StoreResult};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, TryLockError};
use std::time::Duration;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// How long after it was last handed out a pooled PostgreSQL connection is handed out again
/// without proving it is alive first (the module comment says why).
const TRUSTED_AFTER_USE: Duration = Duration::from_millis(500);

/// Held while migrating so nodes starting together do not apply the same migration twice.
const MIGRATION_LOCK_ID: i64 = 0x7061_6c69_7361_6465; // "palisade"

/// busy_timeout first, so the journal-mode switch waits for other connections' locks instead of
/// failing; WAL lets readers proceed during a write; NORMAL is durable enough under WAL.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; \
                              PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;";

#[derive(diesel::MultiConnection)]
pub(crate) enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Runs `$body` with `$c` bound to the concrete connection of either backend: for the few
/// statements the `MultiConnection` cannot express (upserts), written once, compiled twice.
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::pool::AnyConnection::Postgresql($c) => $body,
            $crate::pool::AnyConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// A transaction for statements that write. On SQLite it is `BEGIN IMMEDIATE`: a deferred
/// transaction that reads first and then writes can fail with SQLITE_BUSY when another writer
/// got in between, whatever the busy timeout.
pub(crate) fn write_transaction<T>(
    conn: &mut AnyConnection,
    body: impl FnOnce(&mut AnyConnection) -> DbResult<T>,
) -> DbResult<T> {
    type Manager = <AnyConnection as Connection>::TransactionManager;
    match conn {
        AnyConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        AnyConnection::Postgresql(_) => Manager::begin_transaction(conn)?,
    }
    match body(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(DbError::Diesel(rollback)),
        },
    }
}

/// Pool sizing, how long to wait for a connection, and how long one statement may run, before
/// answering `Unavailable`.
#[derive(Debug, Clone, Copy)]
pub struct PoolOptions {
    pub max_size: usize,
    /// Bounds waiting for a free connection and opening one. Also passed to libpq as
    /// `connect_timeout` (whole seconds, at least 2, libpq's minimum); statements are bounded
    /// by `statement_timeout` and libpq's socket limits (`with_socket_limits`).
    pub timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every pooled connection (lock waits included), so
    /// a statement stuck behind a lock or a stalled server frees its connection and its caller
    /// gets a 503 instead of hanging. `None`: no limit. Migrations are exempt. SQLite has
    /// its `busy_timeout` (5 s) instead.
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 8,
            timeout: Duration::from_secs(2),
            statement_timeout: Some(Duration::from_secs(5)),
        }
    }
}

/// Pool gauges for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open (idle or in use).
    pub size: usize,
    /// Idle connections ready to hand out.
    pub available: usize,
    pub max_size: usize,
}

/// Where connections go, decided once from the URL.
#[derive(Clone)]
enum Target {
    Postgres {
        url: String,
        statement_timeout: Option<Duration>,
    },
    Sqlite(PathBuf),
}

impl Target {
    fn new(url: &DatabaseUrl, options: &PoolOptions) -> Self {
        match url.location() {
            Location::Postgres(url) => Self::Postgres {
                url: with_socket_limits(url, options.timeout),
                statement_timeout: options.statement_timeout,
            },
            Location::Sqlite(path) => Self::Sqlite(path.clone()),
        }
    }

    fn backend(&self) -> Backend {
        match self {
            Self::Postgres { .. } => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }

    fn establish(&self) -> Result<AnyConnection, ConnectError> {
        match self {
            Self::Postgres {
                url,
                statement_timeout,
            } => {
                let mut conn = PgConnection::establish(url)?;
                if let Some(limit) = statement_timeout {
                    conn.batch_execute(&format!(
                        "SET statement_timeout = {}",
                        limit.as_millis().max(1)
                    ))?;
                }
                Ok(AnyConnection::Postgresql(conn))
            }
            Self::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)?;
                }
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                conn.batch_execute(SQLITE_PRAGMAS)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }
}

/// libpq's socket limits, each unless the URL sets it. Without them a host that vanishes
/// silently (a failover whose old address goes dark) leaves a connect, and any statement in
/// flight, waiting for the kernel's TCP timeouts: minutes to connect, about 15 minutes for a
/// statement. With them a dead peer is found within seconds: keepalive probes from 5 s of
/// silence, and no data left unacknowledged for more than 15 s.
pub(crate) fn with_socket_limits(url: &str, connect_timeout: Duration) -> String {
    let connect_secs = connect_timeout.as_secs().max(2).to_string();
    let limits = [
        ("connect_timeout", connect_secs.as_str()),
        ("keepalives_idle", "5"),
        ("keepalives_interval", "2"),
        ("keepalives_count", "3"),
        ("tcp_user_timeout", "15000"),
    ];
    let mut url = url.to_owned();
    for (name, value) in limits {
        if url.contains(&format!("{name}=")) {
            continue;
        }
        let separator = if url.contains('?') { '&' } else { '?' };
        url = format!("{url}{separator}{name}={value}");
    }
    url
}

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("cannot connect: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("connection setup failed: {0}")]
    Setup(#[from] diesel::result::Error),
    #[error("cannot create the database directory: {0}")]
    Directory(#[from] std::io::Error),
}

struct ConnectionManager {
    target: Target,
}

/// A pooled connection, and whether it has been idle long enough to be checked before use.
struct PooledConnection {
    connection: SyncWrapper<AnyConnection>,
    check_before_use: bool,
}

impl managed::Manager for ConnectionManager {
    type Type = PooledConnection;
    type Error = ConnectError;

    async fn create(&self) -> Result<Self::Type, Self::Error> {
        let target = self.target.clone();
        let connection = SyncWrapper::new(Runtime::Tokio1, move || target.establish()).await?;
        Ok(PooledConnection {
            connection,
            check_before_use: false,
        })
    }

    /// No round trip here: the check, when one is due, runs with the caller's work
    /// ([`SqlStore::run`]), in the same hop to the blocking pool.
    async fn recycle(
        &self,
        conn: &mut Self::Type,
        metrics: &Metrics,
    ) -> RecycleResult<Self::Error> {
        let mut guard = match conn.connection.try_lock() {
            Ok(guard) => guard,
            // A caller gave up waiting (a timeout, a client gone) while its statement still
            // runs: the next caller must not queue behind it without a limit.
            Err(TryLockError::WouldBlock) => {
                return Err(RecycleError::message(
                    "an abandoned call is still running on this connection",
                ));
            }
            Err(TryLockError::Poisoned(_)) => {
                return Err(RecycleError::message("a query panicked on this connection"));
            }
        };
        // Checked here, at every hand-out, rather than after each call: an abandoned call
        // never gets back to its caller.
        if <AnyConnection as Connection>::TransactionManager::is_broken_transaction_manager(
            &mut guard,
        ) {
            return Err(RecycleError::message("connection left in a transaction"));
        }
        drop(guard);
        conn.check_before_use =
            self.target.backend() == Backend::Postgres && metrics.last_used() > TRUSTED_AFTER_USE;
        Ok(())
    }
}

/// What one trip to the blocking pool came back with.
enum Attempt<T, F> {
    /// The work ran; `discard` when the connection must not be handed out again.
    Ran { result: DbResult<T>, discard: bool },
    /// The connection failed its liveness check; the work, not run.
    Dead(F),
}

/// Whether `conn` answers a trivial query. Not `SELECT 1` through `sql_query`: on SQLite its
/// row count is the previous statement's (docs/dependencies.md, diesel).
fn is_alive(conn: &mut AnyConnection) -> bool {
    diesel::select(1.into_sql::<Integer>())
        .get_result::<i32>(conn)
        .is_ok()
}

/// Whether the connection that produced `result` lost its server, so must be dropped (one
/// left inside a transaction is set aside by `recycle`).
fn lost_its_server<T>(result: &DbResult<T>) -> bool {
    matches!(
        result,
        Err(DbError::Diesel(diesel::result::Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )))
    )
}

/// The durable store: a pool of PostgreSQL or SQLite connections. Clones share the pool.
#[derive(Clone)]
pub struct SqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool<ConnectionManager>,
    backend: Backend,
}

impl fmt::Debug for SqlStore {
    // Not the URL: it may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore")
            .field("backend", &self.inner.backend)
            .field("pool", &self.pool_status())
            .finish()
    }
}

impl SqlStore {
    /// Opens a pool for `url` (a missing SQLite directory is created) and checks out one
    /// connection so an unreachable server is reported now, as `Unavailable`.
    pub async fn connect(url: &DatabaseUrl, options: PoolOptions) -> StoreResult<Self> {
        let target = Target::new(url, &options);
        let backend = target.backend();
        let pool = Pool::builder(ConnectionManager { target })
            .max_size(options.max_size.max(1))
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        let store = Self {
            inner: Arc::new(Inner { pool, backend }),
        };
        drop(store.connection().await?);
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    pub fn pool_status(&self) -> PoolStatus {
        let status = self.inner.pool.status();
        PoolStatus {
            size: status.size,
            available: status.available,
            max_size: status.max_size,
        }
    }

    /// Applies the pending migrations of this store's dialect; returns their versions in the
    /// order applied (empty when the schema is current). Then fills in what SQL cannot
    /// compute: the skeleton of every username without one
    /// ([`crate::users::backfill_username_skeletons`]). On PostgreSQL an advisory lock makes
    /// concurrent callers take turns.
    ///
    /// Migrations run without the statement timeout (rewriting a large table may take longer),
    /// on a connection that is then closed rather than returned to the pool without its limit.
    pub async fn migrate(&self) -> StoreResult<Vec<String>> {
        // Out of the pool before anything else: dropped mid-way, it must not go back.
        let conn = managed::Object::take(self.connection().await?);
        let applied = conn
            .connection
            .interact(|conn| -> DbResult<Vec<String>> {
                if let AnyConnection::Postgresql(c) = conn {
                    c.batch_execute("SET statement_timeout = 0")?;
                    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))
                        .execute(c)?;
                }
                let result = match conn {
                    AnyConnection::Postgresql(c) => run_migrations(c, POSTGRES_MIGRATIONS),
                    AnyConnection::Sqlite(c) => run_migrations(c, SQLITE_MIGRATIONS),
                }
                // Data no SQL statement can compute (migrations/*/…_username_skeletons).
                .and_then(|applied| {
                    crate::users::backfill_username_skeletons(conn)?;
                    Ok(applied)
                });
                if let AnyConnection::Postgresql(c) = conn {
                    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))
                        .execute(c)?;
                }
                result
            })
            .await;
        drop(conn);
        match applied {
            Ok(result) => result.map_err(StoreError::from),
            Err(e) => Err(StoreError::Unavailable(
                format!("the migration call failed: {e}").into(),
            )),
        }
    }

    async fn connection(&self) -> StoreResult<managed::Object<ConnectionManager>> {
        self.inner.pool.get().await.map_err(pool_error)
    }

    /// Runs `work` on a pooled connection on the blocking pool.
    pub(crate) async fn run<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&mut AnyConnection) -> DbResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut work = work;
        // Each dead connection found is dropped, so the pool soon opens a new one, which is not
        // checked; more dead ones than the pool holds means the server is gone.
        for _ in 0..=self.inner.pool.status().max_size {
            let conn = self.connection().await?;
            let check = conn.check_before_use;
            let attempt = conn
                .connection
                .interact(move |c| {
                    if check && !is_alive(c) {
                        return Attempt::Dead(work);
                    }
                    let result = work(c);
                    let discard = lost_its_server(&result);
                    Attempt::Ran { result, discard }
                })
                .await;
            match attempt {
                Ok(Attempt::Ran { result, discard }) => {
                    if discard {
                        drop(managed::Object::take(conn));
                    }
                    return result.map_err(StoreError::from);
                }
                Ok(Attempt::Dead(unrun)) => {
                    drop(managed::Object::take(conn));
                    work = unrun;
                }
                Err(InteractError::Panic(_)) => {
                    return Err(StoreError::Unavailable(
                        "a database call panicked; the connection was discarded".into(),
                    ));
                }
                Err(InteractError::Cancelled) => {
                    return Err(StoreError::Unavailable(
                        "a database call was cancelled".into(),
                    ));
                }
            }
        }
        Err(StoreError::Unavailable(
            "every pooled database connection failed its liveness check".into(),
        ))
    }
}

#[async_trait]
impl HealthCheck for SqlStore {
    /// A `SELECT 1` round trip on a pooled connection; any failure is `Unavailable`.
    async fn ping(&self) -> StoreResult<()> {
        self.run(|conn| {
            diesel::select(1.into_sql::<Integer>()).get_result::<i32>(conn)?;
            Ok(())
        })
        .await
        .map_err(|e| match e {
            StoreError::Unavailable(_) => e,
            other => StoreError::Unavailable(Box::new(other)),
        })
    }
}

/// What one readiness probe learned about the database from this node
/// ([`SqlStore::probe`]).
#[derive(Debug)]
pub enum DatabaseProbe {
    /// A pooled connection answered `SELECT 1`.
    Answers,
    /// Every pooled connection stayed busy for the whole wait, yet a fresh connection opened
    /// beside the pool answered: the database is fine and this node's pool is the bottleneck.
    PoolExhausted,
    /// The database did not answer, through the pool or beside it.
    Unreachable(StoreError),
}

impl SqlStore {
    /// One bounded look at the database for a readiness probe: borrow a pooled connection for
    /// at most `wait` and run `SELECT 1` on it.
    ///
    /// When no pooled connection comes free within `wait`, the pool alone cannot say why:
    /// this node may be overloaded (local), or every connection may be stuck on a database
    /// that stopped answering (shared by every node). A fresh connection opened beside the
    /// pool tells them apart; it is opened only then, so a healthy node pays nothing for it.
    /// The caller bounds the whole probe with its own deadline.
    pub async fn probe(&self, wait: Duration) -> DatabaseProbe {
        let timeouts = Timeouts {
            wait: Some(wait),
            create: Some(wait),
            recycle: Some(wait),
        };
        match self.inner.pool.timeout_get(&timeouts).await {
            Ok(conn) => {
                let answered = conn.connection.interact(is_alive).await.unwrap_or(false);
                if answered {
                    DatabaseProbe::Answers
                } else {
                    drop(managed::Object::take(conn));
                    DatabaseProbe::Unreachable(StoreError::Unavailable(
                        "a pooled connection did not answer SELECT 1".into(),
                    ))
                }
            }
            Err(PoolError::Timeout(TimeoutType::Wait)) => match self.answers_beside_pool().await {
                Ok(()) => DatabaseProbe::PoolExhausted,
                Err(e) => DatabaseProbe::Unreachable(e),
            },
            Err(e) => DatabaseProbe::Unreachable(pool_error(e)),
        }
    }

    /// Opens a connection outside the pool, runs `SELECT 1` and closes it.
    async fn answers_beside_pool(&self) -> StoreResult<()> {
        let target = self.inner.pool.manager().target.clone();
        let answered = tokio::task::spawn_blocking(move || {
            target
                .establish()
                .map(|mut conn| is_alive(&mut conn))
                .map_err(|e| StoreError::Unavailable(Box::new(e)))
        })
        .await
        .map_err(|e| StoreError::Internal(Box::new(e)))??;
        if answered {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "a fresh connection did not answer SELECT 1".into(),
            ))
        }
    }
}

fn run_migrations<C>(conn: &mut C, source: EmbeddedMigrations) -> DbResult<Vec<String>>
where
    C: MigrationHarness<C::Backend> + Connection,
{
    conn.run_pending_migrations(source)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| DbError::Store(StoreError::Internal(e)))
}

fn pool_error(e: PoolError<ConnectError>) -> StoreError {
    match e {
        PoolError::Backend(ConnectError::Directory(io)) => StoreError::Internal(Box::new(io)),
        other => StoreError::Unavailable(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_get_socket_limits_once() {
        let t = Duration::from_secs(1);
        const LIMITS: &str = "keepalives_idle=5&keepalives_interval=2&keepalives_count=3\
                              &tcp_user_timeout=15000";
        assert_eq!(
            with_socket_limits("postgres://u@h/db", t),
            format!("postgres://u@h/db?connect_timeout=2&{LIMITS}")
        );
        assert_eq!(
            with_socket_limits("postgres://u@h/db?sslmode=disable", Duration::from_secs(5)),
            format!("postgres://u@h/db?sslmode=disable&connect_timeout=5&{LIMITS}")
        );
        // TLS and libpq's multi-host failover come through untouched, the limits after them.
        assert_eq!(
            with_socket_limits(
                "postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write\
                 &sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem",
                t
            ),
            format!(
                "postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write\
                 &sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem&connect_timeout=2&{LIMITS}"
            )
        );
        // What the operator set stays as set.
        assert_eq!(
            with_socket_limits("postgres://h/db?connect_timeout=9&tcp_user_timeout=1", t),
            "postgres://h/db?connect_timeout=9&tcp_user_timeout=1&keepalives_idle=5\
             &keepalives_interval=2&keepalives_count=3"
        );
    }
}
