//! SqlStore itself: migrations, health, pool gauges, and failing fast when the database is
//! out of reach.

use palisade_core::StoreError;
use palisade_core::ports::HealthCheck;
use palisade_store::testing::TestDatabase;
use palisade_store::{DatabaseUrl, PoolOptions, SqlStore};
use std::time::{Duration, Instant};

#[tokio::test]
async fn migrating_applies_the_schema_once() {
    let db = TestDatabase::create().await;
    let store = SqlStore::connect(db.database_url(), PoolOptions::default())
        .await
        .unwrap();
    assert_eq!(store.backend(), db.backend());
    let applied = store.migrate().await.unwrap();
    assert!(!applied.is_empty());
    assert!(
        store.migrate().await.unwrap().is_empty(),
        "nothing left to apply"
    );
    // A second store on the same database sees the schema as current.
    let again = SqlStore::connect(db.database_url(), PoolOptions::default())
        .await
        .unwrap();
    assert!(again.migrate().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_reachable_database_answers_ping_and_reports_its_pool() {
    let db = TestDatabase::create().await;
    let options = PoolOptions {
        max_size: 3,
        ..PoolOptions::default()
    };
    let store = SqlStore::connect(db.database_url(), options).await.unwrap();
    store.ping().await.unwrap();
    let status = store.pool_status();
    assert_eq!(status.max_size, 3);
    assert!(status.size >= 1 && status.size <= 3, "{status:?}");
    assert!(status.available <= status.size, "{status:?}");
    assert!(
        !format!("{store:?}").contains(db.url()),
        "the URL may hold a password"
    );
}

#[tokio::test]
async fn an_unreachable_postgres_is_unavailable_quickly() {
    let started = Instant::now();
    let url = DatabaseUrl::parse("postgres://127.0.0.1:1/nope").unwrap();
    let err = SqlStore::connect(&url, PoolOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_url_naming_no_supported_backend_is_refused() {
    for url in ["mysql://127.0.0.1/db", ""] {
        assert!(DatabaseUrl::parse(url).is_err(), "{url}");
    }
}

#[tokio::test]
async fn a_sqlite_file_in_a_missing_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/data/palisade.db");
    let url = DatabaseUrl::parse(&format!("sqlite://{}", path.display())).unwrap();
    let store = SqlStore::connect(&url, PoolOptions::default())
        .await
        .unwrap();
    assert!(!store.migrate().await.unwrap().is_empty());
    store.ping().await.unwrap();
    assert!(path.exists());
    // A plain path works too.
    let plain = DatabaseUrl::parse(&path.display().to_string()).unwrap();
    let plain = SqlStore::connect(&plain, PoolOptions::default())
        .await
        .unwrap();
    assert!(plain.migrate().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_environment_selects_the_backend() {
    let expected = if std::env::var(palisade_store::testing::DATABASE_URL_VAR)
        .is_ok_and(|v| !v.trim().is_empty())
    {
        palisade_store::Backend::Postgres
    } else {
        palisade_store::Backend::Sqlite
    };
    assert_eq!(palisade_store::testing::database_backend(), expected);
    let (store, db) = palisade_store::testing::sql_store().await;
    assert_eq!(store.backend(), expected);
    assert_eq!(db.backend(), expected);
}

#[tokio::test]
async fn a_postgres_that_never_answers_is_unavailable_within_the_timeout() {
    // Accepts TCP connections (the kernel's backlog) but never speaks the protocol.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("postgres://u@{}/db", silent.local_addr().unwrap());
    let options = PoolOptions {
        timeout: Duration::from_secs(1),
        ..PoolOptions::default()
    };
    let started = Instant::now();
    let url = DatabaseUrl::parse(&url).unwrap();
    let err = SqlStore::connect(&url, options).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

/// PostgreSQL only: a dropped connection that sat idle is replaced before the caller sees it; one
/// dropped while in use fails its one call `Unavailable` and is replaced for the next; while the
/// server refuses connections every call is `Unavailable`; once it accepts them again calls
/// succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_postgres_outage_after_startup_is_unavailable_and_recovers_by_itself() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    use palisade_core::ports::UserRepository;

    let admin_url = postgres_admin_url();
    let db = TestDatabase::create().await;
    let store = db.open().await;
    store.ping().await.unwrap();
    let name = db.url().rsplit('/').next().unwrap().to_owned();
    let admin = move |sql: String| {
        let admin_url = admin_url.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = PgConnection::establish(&admin_url).unwrap();
            diesel::sql_query(sql).execute(&mut conn).unwrap();
        })
    };
    // With a timeout, pg_terminate_backend returns once the backend has exited.
    let kill_connections = format!(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '{name}'"
    );

    // A restart-like event while the pool sits idle: the dead connection fails its liveness
    // check and the call runs on a new one.
    admin(kill_connections.clone()).await.unwrap();
    // Real time on purpose: the pool proves alive only connections last handed out more than
    // half a second ago (`TRUSTED_AFTER_USE`, by the system's clock), and this is that case.
    tokio::time::sleep(Duration::from_millis(700)).await;
    store.ping().await.unwrap();
    assert!(store.list_users(None, 10, 0).await.unwrap().is_empty());

    // The same while the pool is busy: a connection used within the last half second is not
    // checked, so the call that meets the dead one fails, quickly, as `Unavailable`; the next
    // call gets a new connection.
    let ping_started = Instant::now();
    store.ping().await.unwrap();
    let ping_took = ping_started.elapsed();
    admin(kill_connections.clone()).await.unwrap();
    // Bounds on how long ago the connection was handed out, as the next call takes it.
    let at_most = ping_started.elapsed() + Duration::from_millis(20);
    let at_least = at_most.saturating_sub(ping_took + Duration::from_millis(40));
    let first = store.list_users(None, 10, 0).await;
    if at_most < Duration::from_millis(500) {
        assert!(
            matches!(first, Err(StoreError::Unavailable(_))),
            "{first:?}"
        );
    } else if at_least > Duration::from_millis(500) {
        // A slow machine took past the trusted half second: the check ran and replaced it.
        assert!(first.is_ok(), "{first:?}");
    } else {
        // Too close to the window's edge to tell which; either way nothing else.
        assert!(
            matches!(first, Ok(_) | Err(StoreError::Unavailable(_))),
            "{first:?}"
        );
    }
    assert!(store.list_users(None, 10, 0).await.unwrap().is_empty());

    // The database stops accepting connections.
    admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin(kill_connections).await.unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        let err = store.list_users(None, 10, 0).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Unavailable(_))
        ));
    }

    admin(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    store.ping().await.unwrap();
    assert!(store.list_users(None, 10, 0).await.unwrap().is_empty());
}

/// PostgreSQL only: a statement stuck behind another transaction's lock is cancelled by the
/// statement timeout and reported `Unavailable`; its connection then serves the next call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_postgres_statement_stuck_behind_a_lock_is_unavailable_after_the_statement_timeout() {
    use palisade_core::ports::UserRepository;

    let limit = Duration::from_millis(300);
    let (db, store) = postgres_pool_of_one(Some(limit)).await;
    assert!(store.list_users(None, 10, 0).await.unwrap().is_empty());

    let users_lock = UsersLock::take(db.url()).await;

    let started = Instant::now();
    // Without the limit the call would wait for the lock for ever; release it either way.
    let answer = tokio::time::timeout(Duration::from_secs(5), store.list_users(None, 10, 0)).await;
    let waited = started.elapsed();
    users_lock.release();
    let err = answer
        .expect("the statement was not cancelled")
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        waited >= limit && waited < Duration::from_secs(3),
        "{waited:?}"
    );

    assert!(store.list_users(None, 10, 0).await.unwrap().is_empty());
}

/// PostgreSQL only: a call whose caller gave up (a timeout, a client gone) while its statement
/// still runs does not hold up the next caller: the pool sets that connection aside and opens
/// another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_postgres_call_abandoned_mid_statement_does_not_hold_up_the_next_one() {
    use palisade_core::ports::UserRepository;

    let (db, store) = postgres_pool_of_one(None).await;
    let users_lock = UsersLock::take(db.url()).await;

    let abandoned =
        tokio::time::timeout(Duration::from_millis(200), store.list_users(None, 10, 0)).await;
    assert!(abandoned.is_err(), "the call was not stuck: {abandoned:?}");
    // The pool's only connection is still busy with the abandoned statement.
    let next = tokio::time::timeout(Duration::from_secs(2), store.ping()).await;
    users_lock.release();
    assert!(matches!(next, Ok(Ok(()))), "{next:?}");
}

/// The PostgreSQL server of the ignored tests, which CI's PostgreSQL pass runs with
/// `--include-ignored`; run without one, such a test fails rather than passing unexercised.
pub(crate) fn postgres_admin_url() -> String {
    std::env::var(palisade_store::testing::DATABASE_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| {
            panic!(
                "this test needs PostgreSQL: set {}",
                palisade_store::testing::DATABASE_URL_VAR
            )
        })
}

/// A migrated PostgreSQL test database and a one-connection pool on it with this statement
/// timeout.
async fn postgres_pool_of_one(statement_timeout: Option<Duration>) -> (TestDatabase, SqlStore) {
    postgres_admin_url();
    let db = TestDatabase::create().await;
    drop(db.open().await); // migrated
    let options = PoolOptions {
        max_size: 1,
        statement_timeout,
        ..PoolOptions::default()
    };
    let store = SqlStore::connect(db.database_url(), options).await.unwrap();
    (db, store)
}

/// Another session holding `LOCK TABLE users` until released: statements on `users` wait.
struct UsersLock {
    release: std::sync::mpsc::Sender<()>,
    holder: std::thread::JoinHandle<()>,
}

impl UsersLock {
    async fn take(url: &str) -> Self {
        use diesel::{Connection, PgConnection, RunQueryDsl};

        let (locked_tx, locked_rx) = std::sync::mpsc::channel();
        let (release, release_rx) = std::sync::mpsc::channel::<()>();
        let url = url.to_owned();
        let holder = std::thread::spawn(move || {
            let mut conn = PgConnection::establish(&url).unwrap();
            conn.transaction(|c| {
                diesel::sql_query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE").execute(c)?;
                locked_tx.send(()).unwrap();
                // A dropped sender (a failed test) lets go too.
                let _ = release_rx.recv();
                Ok::<_, diesel::result::Error>(())
            })
            .unwrap();
        });
        tokio::task::spawn_blocking(move || locked_rx.recv().unwrap())
            .await
            .unwrap();
        Self { release, holder }
    }

    fn release(self) {
        let _ = self.release.send(());
        self.holder.join().unwrap();
    }
}
