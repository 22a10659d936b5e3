//! Backend selection and per-test isolation for contract and integration tests (feature
//! `testing`).
//!
//! The environment picks the backends, so one test suite runs in two CI passes:
//!
//! | variable | set | unset |
//! | --- | --- | --- |
//! | `PALISADE_TEST_DATABASE_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`) | a fresh PostgreSQL database per test, created through that URL | a fresh SQLite file in a temporary directory per test |
//! | `PALISADE_TEST_REDIS_URL` (e.g. `redis://127.0.0.1:6379`) | Redis, with a fresh random key prefix per test | an [`InProcessStore`] per test |
//!
//! Nothing is shared between tests, so they run in parallel. Dropping a [`TestDatabase`]
//! removes its database (best effort) or its temporary directory; dropping a
//! [`TestEphemeral`] deletes its Redis keys. The helpers panic when the selected backend cannot
//! be reached (a test cannot run without it); the `try_` variants return the error instead.

pub mod redis_servers;

use crate::database_url::{Backend, DatabaseUrl};
use crate::ephemeral::in_process::InProcessStore;
use crate::ephemeral::redis::RedisStore;
use crate::pool::{PoolOptions, SqlStore};
use diesel::{Connection, RunQueryDsl};
use palisade_core::StoreError;
use palisade_core::ports::{EphemeralStore, StoreResult};
use std::sync::Arc;
use std::time::Duration;

/// Names the PostgreSQL server to create per-test databases on; unset means SQLite.
pub const DATABASE_URL_VAR: &str = "PALISADE_TEST_DATABASE_URL";
/// Names the Redis server for ephemeral-store tests; unset means in-process.
pub const REDIS_URL_VAR: &str = "PALISADE_TEST_REDIS_URL";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Which SQL backend the environment selects.
pub fn database_backend() -> Backend {
    if env(DATABASE_URL_VAR).is_some() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// A database of its own for one test: its URL, and cleanup when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    url: String,
    database_url: DatabaseUrl,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    // Never read: held so the directory (and the database file in it) lives as long as this.
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    /// Creates an empty database (no migrations applied) on the selected backend. Panics with
    /// the reason if it cannot: a test without its database cannot run.
    pub async fn create() -> Self {
        Self::try_create()
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"))
    }

    pub async fn try_create() -> StoreResult<Self> {
        match env(DATABASE_URL_VAR) {
            Some(admin_url) => Self::create_postgres(admin_url).await,
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("palisade-test-")
                    .tempdir()
                    .map_err(|e| StoreError::Internal(Box::new(e)))?;
                let database_url = DatabaseUrl::sqlite_file(dir.path().join("palisade.db"));
                Ok(Self {
                    url: database_url.to_string(),
                    database_url,
                    cleanup: Cleanup::Sqlite(dir),
                })
            }
        }
    }

    async fn create_postgres(admin_url: String) -> StoreResult<Self> {
        let name = format!("palisade_t_{}", uuid::Uuid::new_v4().simple());
        let url = replace_database(&admin_url, &name);
        let statement = format!("CREATE DATABASE {name}");
        let admin = admin_url.clone();
        tokio::task::spawn_blocking(move || -> StoreResult<()> {
            let mut conn = diesel::PgConnection::establish(&admin)
                .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
            diesel::sql_query(statement)
                .execute(&mut conn)
                .map_err(|e| StoreError::Internal(Box::new(e)))?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Internal(Box::new(e)))??;
        let database_url =
            DatabaseUrl::parse(&url).map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(Self {
            url,
            database_url,
            cleanup: Cleanup::Postgres { admin_url, name },
        })
    }

    /// The URL as text, for the server's configuration (`PALISADE_DATABASE_URL`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL to hand to [`SqlStore::connect`].
    pub fn database_url(&self) -> &DatabaseUrl {
        &self.database_url
    }

    pub fn backend(&self) -> Backend {
        self.database_url.backend()
    }

    /// A store on this database with the schema migrated (a no-op if it already is). Panics
    /// with the reason if it cannot.
    pub async fn open(&self) -> SqlStore {
        self.try_open()
            .await
            .unwrap_or_else(|e| panic!("cannot open the test database: {e}"))
    }

    /// Every row of every table, as text (PostgreSQL: each row as JSON; SQLite: the database
    /// file and its write-ahead log, bytes read as text, which holds every row and more).
    pub async fn dump_text(&self) -> String {
        match &self.cleanup {
            Cleanup::Sqlite(dir) => {
                let mut text = String::new();
                for name in ["palisade.db", "palisade.db-wal"] {
                    if let Ok(bytes) = std::fs::read(dir.path().join(name)) {
                        text.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                text
            }
            Cleanup::Postgres { .. } => {
                let url = self.url.clone();
                tokio::task::spawn_blocking(move || postgres_rows_as_text(&url))
                    .await
                    .unwrap_or_else(|e| panic!("the dump ran: {e}"))
            }
        }
    }

    /// Holds a write lock on `table` from a connection of its own until the returned guard is
    /// dropped, so every statement of a server that writes there waits (SQLite's busy timeout,
    /// PostgreSQL's statement timeout) holding its pooled connection. SQLite locks the whole
    /// database (`BEGIN IMMEDIATE`). Panics if the lock cannot be taken.
    pub fn hold_write_lock(&self, table: &str) -> TableWriteLock {
        let url = self.url.clone();
        let statement = match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE".to_owned(),
            Backend::Postgres => format!("BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"),
        };
        let is_sqlite = self.backend() == Backend::Sqlite;
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (locked, is_locked) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let hold = |conn: &mut dyn diesel::connection::SimpleConnection| {
                conn.batch_execute(&statement)
                    .unwrap_or_else(|e| panic!("{statement}: {e}"));
                let _ = locked.send(());
                let _ = released.recv();
            };
            if is_sqlite {
                let path = url.trim_start_matches("sqlite://");
                let mut conn = diesel::SqliteConnection::establish(path)
                    .unwrap_or_else(|e| panic!("the SQLite database: {e}"));
                hold(&mut conn);
            } else {
                let mut conn = diesel::PgConnection::establish(&url)
                    .unwrap_or_else(|e| panic!("the PostgreSQL database: {e}"));
                hold(&mut conn);
            }
        });
        is_locked
            .recv()
            .unwrap_or_else(|_| panic!("the lock on {table} was not taken"));
        TableWriteLock {
            release: Some(release),
            holder: Some(holder),
        }
    }

    /// Runs one SQL statement on this database as an operator at a SQL prompt would, on a
    /// connection of its own (manual changes behind the server's back). Panics if it fails.
    pub async fn execute_sql(&self, statement: &str) -> usize {
        let (url, statement) = (self.url.clone(), statement.to_owned());
        let is_sqlite = self.backend() == Backend::Sqlite;
        tokio::task::spawn_blocking(move || {
            let result = if is_sqlite {
                let path = url.trim_start_matches("sqlite://");
                diesel::SqliteConnection::establish(path)
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        diesel::sql_query(&statement)
                            .execute(&mut c)
                            .map_err(|e| e.to_string())
                    })
            } else {
                diesel::PgConnection::establish(&url)
                    .map_err(|e| e.to_string())
                    .and_then(|mut c| {
                        diesel::sql_query(&statement)
                            .execute(&mut c)
                            .map_err(|e| e.to_string())
                    })
            };
            result.unwrap_or_else(|e| panic!("{statement}: {e}"))
        })
        .await
        .unwrap_or_else(|e| panic!("the statement ran: {e}"))
    }

    /// PostgreSQL only: whether each session connected to this database (other than the
    /// asking one) speaks TLS, from `pg_stat_ssl`. Panics on SQLite.
    pub async fn sessions_using_tls(&self) -> Vec<bool> {
        let Cleanup::Postgres { admin_url, name } = &self.cleanup else {
            panic!("only a PostgreSQL database has sessions to ask about");
        };
        let (admin_url, name) = (admin_url.clone(), name.clone());
        tokio::task::spawn_blocking(move || {
            #[derive(diesel::QueryableByName)]
            struct Session {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                ssl: bool,
            }
            let mut conn = diesel::PgConnection::establish(&admin_url)
                .unwrap_or_else(|e| panic!("the PostgreSQL server: {e}"));
            diesel::sql_query(
                "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE a.datname = $1 AND a.pid <> pg_backend_pid()",
            )
            .bind::<diesel::sql_types::Text, _>(name)
            .load::<Session>(&mut conn)
            .unwrap_or_else(|e| panic!("pg_stat_ssl: {e}"))
            .into_iter()
            .map(|s| s.ssl)
            .collect()
        })
        .await
        .unwrap_or_else(|e| panic!("the query ran: {e}"))
    }

    pub async fn try_open(&self) -> StoreResult<SqlStore> {
        // Tests run many pools at once on a loaded machine: give opening a connection longer
        // than the production default before calling the database unavailable.
        let options = PoolOptions {
            timeout: Duration::from_secs(10),
            ..PoolOptions::default()
        };
        let store = SqlStore::connect(&self.database_url, options).await?;
        store.migrate().await?;
        Ok(store)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, name } = &self.cleanup {
            // Drop may run on an async worker: do the blocking work on a thread of its own.
            // FORCE ends connections the test's pool still holds.
            let (admin_url, statement) = (
                admin_url.clone(),
                format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
            let dropper = std::thread::spawn(move || {
                if let Ok(mut conn) = diesel::PgConnection::establish(&admin_url) {
                    let _ = diesel::sql_query(statement).execute(&mut conn);
                }
            });
            let _ = dropper.join();
        }
    }
}

#[derive(diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

fn postgres_rows_as_text(url: &str) -> String {
    let mut conn =
        diesel::PgConnection::establish(url).unwrap_or_else(|e| panic!("the test database: {e}"));
    let tables: Vec<TextRow> = diesel::sql_query(
        "SELECT table_name::text AS text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .load(&mut conn)
    .unwrap_or_else(|e| panic!("the table list: {e}"));
    let mut text = String::new();
    for table in tables {
        let rows: Vec<TextRow> = diesel::sql_query(format!(
            "SELECT row_to_json(t)::text AS text FROM \"{}\" t",
            table.text
        ))
        .load(&mut conn)
        .unwrap_or_else(|e| panic!("the rows: {e}"));
        for row in rows {
            text.push_str(&row.text);
            text.push('\n');
        }
    }
    text
}

/// `postgres://user@host:port/db?params` with `db` replaced by `name`.
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let root = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

/// A fresh database with the schema migrated, and the guard that removes it.
pub async fn sql_store() -> (SqlStore, TestDatabase) {
    let database = TestDatabase::create().await;
    let store = database.open().await;
    (store, database)
}

/// A key prefix no other test uses.
pub fn unique_key_prefix() -> String {
    format!("palisade-test:{}:", uuid::Uuid::new_v4().simple())
}

/// The ephemeral backend for one test: Redis with a key prefix of its own when
/// `PALISADE_TEST_REDIS_URL` is set, otherwise in-process. Dropping it deletes the keys left
/// under its prefix (best effort; they would expire anyway).
#[derive(Debug)]
pub struct TestEphemeral {
    redis_url: Option<String>,
    key_prefix: String,
}

impl TestEphemeral {
    pub fn create() -> Self {
        Self {
            redis_url: env(REDIS_URL_VAR),
            key_prefix: unique_key_prefix(),
        }
    }

    /// `None` selects the in-process store.
    pub fn redis_url(&self) -> Option<&str> {
        self.redis_url.as_deref()
    }

    pub fn key_prefix(&self) -> &str {
        &self.key_prefix
    }

    /// A store on this backend; each call on an in-process backend is a new, empty store.
    /// Panics with the reason if Redis cannot be reached.
    pub async fn open(&self) -> Arc<dyn EphemeralStore> {
        self.try_open()
            .await
            .unwrap_or_else(|e| panic!("cannot open the test ephemeral store: {e}"))
    }

    pub async fn try_open(&self) -> StoreResult<Arc<dyn EphemeralStore>> {
        match &self.redis_url {
            Some(url) => Ok(Arc::new(RedisStore::connect(url, &self.key_prefix).await?)),
            None => Ok(Arc::new(InProcessStore::default())),
        }
    }

    /// A store on this backend and a way to read back everything it holds.
    pub async fn open_inspectable(&self) -> (Arc<dyn EphemeralStore>, EphemeralInspector) {
        match &self.redis_url {
            Some(url) => (
                self.open().await,
                EphemeralInspector::Redis {
                    url: url.clone(),
                    pattern: format!("{}*", self.key_prefix),
                },
            ),
            None => {
                let store = Arc::new(InProcessStore::default());
                (store.clone(), EphemeralInspector::InProcess(store))
            }
        }
    }
}

/// Reads every key and value an ephemeral store holds, for tests of what rests in it.
pub enum EphemeralInspector {
    InProcess(Arc<InProcessStore>),
    Redis { url: String, pattern: String },
}

impl EphemeralInspector {
    /// Every key with its value (Redis: every string value under the test's prefix).
    pub async fn dump(&self) -> Vec<(String, Vec<u8>)> {
        match self {
            Self::InProcess(store) => store.snapshot(),
            Self::Redis { url, pattern } => {
                let client =
                    redis::Client::open(url.as_str()).unwrap_or_else(|e| panic!("redis url: {e}"));
                let mut conn = client
                    .get_multiplexed_async_connection()
                    .await
                    .unwrap_or_else(|e| panic!("a redis connection: {e}"));
                let mut entries = Vec::new();
                let mut cursor: u64 = 0;
                loop {
                    let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                        .unwrap_or_else(|e| panic!("SCAN: {e}"));
                    for key in keys {
                        let value: Option<Vec<u8>> = redis::cmd("GET")
                            .arg(&key)
                            .query_async(&mut conn)
                            .await
                            .unwrap_or_else(|e| panic!("every key we write holds a string: {e}"));
                        entries.push((key, value.unwrap_or_default()));
                    }
                    if next == 0 {
                        return entries;
                    }
                    cursor = next;
                }
            }
        }
    }
}

impl Drop for TestEphemeral {
    fn drop(&mut self) {
        let Some(url) = self.redis_url.clone() else {
            return;
        };
        let pattern = format!("{}*", self.key_prefix);
        // Blocking client on a thread of its own: drop may run on an async worker.
        let cleaner = std::thread::spawn(move || -> redis::RedisResult<()> {
            let client = redis::Client::open(url.as_str())?;
            let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
            conn.set_read_timeout(Some(Duration::from_secs(1)))?;
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut conn)?;
                if !keys.is_empty() {
                    redis::cmd("DEL").arg(&keys).query::<()>(&mut conn)?;
                }
                if next == 0 {
                    return Ok(());
                }
                cursor = next;
            }
        });
        let _ = cleaner.join();
    }
}

/// A fresh, isolated ephemeral store on the selected backend, and the guard that cleans up
/// its keys.
pub async fn ephemeral_store() -> (Arc<dyn EphemeralStore>, TestEphemeral) {
    let backend = TestEphemeral::create();
    let store = backend.open().await;
    (store, backend)
}

/// A write lock held by [`TestDatabase::hold_write_lock`]; dropping it rolls back and waits
/// for the connection to close.
pub struct TableWriteLock {
    release: Option<std::sync::mpsc::Sender<()>>,
    holder: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TableWriteLock {
    fn drop(&mut self) {
        drop(self.release.take());
        if let Some(holder) = self.holder.take() {
            let _ = holder.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::replace_database;

    #[test]
    fn the_database_name_is_replaced_and_parameters_kept() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://h:5432/test?sslmode=disable",
                "postgres://h:5432/x?sslmode=disable",
            ),
            ("postgresql://h", "postgresql://h/x"),
            ("postgres://u:p@h/", "postgres://u:p@h/x"),
        ];
        for (url, expected) in cases {
            assert_eq!(replace_database(url, "x"), expected, "{url}");
        }
    }
}
