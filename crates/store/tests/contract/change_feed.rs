//! The change feed (PostgreSQL only): a committed write announces itself to a listener on a
//! connection of its own, a rolled-back one never does, and a listener whose connection is
//! killed reconnects and says `Everything`.

use crate::sql_store::postgres_admin_url;
use crate::support::{client, signing_key};
use diesel::{Connection, PgConnection, RunQueryDsl};
use palisade_core::Change;
use palisade_core::model::ClientId;
use palisade_core::ports::{ClientRepository, SigningKeyRepository};
use palisade_store::change_feed::APPLICATION_NAME;
use palisade_store::testing::TestDatabase;
use palisade_store::{ChangeFeed, FeedOptions};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Generous: the listener polls every 50 ms, and a reconnection waits 100 ms first.
const DEADLINE: Duration = Duration::from_secs(5);

fn options() -> FeedOptions {
    FeedOptions {
        ping_interval: Duration::from_millis(500),
        ..FeedOptions::default()
    }
}

/// The next change heard, or a failed test after [`DEADLINE`].
async fn next_change(changes: &mut broadcast::Receiver<Change>) -> Change {
    tokio::time::timeout(DEADLINE, changes.recv())
        .await
        .expect("no change announced within the deadline")
        .expect("the feed is open")
}

/// Skips changes until `expected`; how long it took.
async fn heard(changes: &mut broadcast::Receiver<Change>, expected: &Change) -> Duration {
    let started = Instant::now();
    while &next_change(changes).await != expected {}
    started.elapsed()
}

/// Runs one statement on the database as its administrator would, on a connection of its own.
async fn admin_sql(url: &str, statement: String) -> usize {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        diesel::sql_query(statement).execute(&mut conn).unwrap()
    })
    .await
    .unwrap()
}

async fn listener_connections(admin_url: &str, database: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let (url, statement) = (
        admin_url.to_owned(),
        format!(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE application_name = '{APPLICATION_NAME}' AND datname = '{database}'"
        ),
    );
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        diesel::sql_query(statement)
            .get_result::<Count>(&mut conn)
            .unwrap()
            .n
    })
    .await
    .unwrap()
}

fn database_name(db: &TestDatabase) -> String {
    db.url().rsplit('/').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_committed_write_through_one_store_reaches_a_listener_on_another_connection() {
    postgres_admin_url();
    let db = TestDatabase::create().await;
    let store = db.open().await;
    let feed = ChangeFeed::start(db.database_url(), options())
        .unwrap()
        .expect("PostgreSQL has a feed");
    let mut changes = feed.subscribe();
    assert_eq!(
        next_change(&mut changes).await,
        Change::Everything,
        "a (re)connection first says anything may have changed"
    );
    assert!(feed.is_connected());

    let started = Instant::now();
    store.insert_client(client("rp")).await.unwrap();
    let written = started.elapsed();
    let delay = heard(&mut changes, &Change::Client(ClientId("rp".into()))).await;
    eprintln!("client write: {written:?}, then heard after {delay:?}");
    store
        .insert_signing_key(signing_key("k1", 0))
        .await
        .unwrap();
    assert_eq!(next_change(&mut changes).await, Change::SigningKeys);

    // A transaction rolled back announces nothing: the next change heard is the next commit.
    let url = db.url().to_owned();
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url).unwrap();
        let rolled_back = conn.transaction::<(), diesel::result::Error, _>(|c| {
            diesel::sql_query("DELETE FROM signing_keys").execute(c)?;
            Err(diesel::result::Error::RollbackTransaction)
        });
        assert!(rolled_back.is_err());
    })
    .await
    .unwrap();
    // Manual SQL announces too; deleting a client takes its redirect URIs in one announcement.
    admin_sql(db.url(), "DELETE FROM clients WHERE id = 'rp'".into()).await;
    assert_eq!(
        next_change(&mut changes).await,
        Change::Client(ClientId("rp".into()))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        changes.try_recv().is_err(),
        "nothing else: {:?}",
        changes.try_recv()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_listener_whose_connection_is_killed_reconnects_and_says_everything() {
    let admin_url = postgres_admin_url();
    let db = TestDatabase::create().await;
    let store = db.open().await;
    let name = database_name(&db);
    let feed = ChangeFeed::start(db.database_url(), options())
        .unwrap()
        .unwrap();
    let mut changes = feed.subscribe();
    let mut connection = feed.connection_state();
    assert_eq!(next_change(&mut changes).await, Change::Everything);
    assert!(*connection.borrow_and_update(), "seen connected");
    assert_eq!(listener_connections(&admin_url, &name).await, 1);

    let killed = Instant::now();
    admin_sql(
        &admin_url,
        format!(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE application_name = '{APPLICATION_NAME}' AND datname = '{name}'"
        ),
    )
    .await;
    // It notices (its state moves: disconnected, maybe connected again already), reconnects,
    // and says what it may have missed.
    tokio::time::timeout(DEADLINE, connection.changed())
        .await
        .expect("the lost connection was noticed")
        .unwrap();
    assert_eq!(next_change(&mut changes).await, Change::Everything);
    eprintln!("reconnected {:?} after the kill", killed.elapsed());
    assert!(feed.is_connected());

    // And it hears again.
    store
        .insert_signing_key(signing_key("k1", 0))
        .await
        .unwrap();
    heard(&mut changes, &Change::SigningKeys).await;

    // Dropped, it lets go of its connection.
    drop(feed);
    let deadline = Instant::now() + DEADLINE;
    while listener_connections(&admin_url, &name).await != 0 {
        assert!(Instant::now() < deadline, "the listener outlived its feed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
