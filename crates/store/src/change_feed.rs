//! The change feed: PostgreSQL's announcements of changes to signing keys and clients, as
//! [`Change`] values every node applies (docs/deployment.md, "Changes reach every node").
//!
//! Triggers (`migrations/postgres/2026-12-08-000000_change_notifications`) `NOTIFY
//! palisade_changes` on every write to `signing_keys`, `clients` and `client_redirect_uris`,
//! so every writer publishes — a node, the CLI, manual SQL — and a listener hears of a change
//! only once it is committed.
//!
//! The listener is one dedicated connection, not a pooled one: `LISTEN` belongs to a session,
//! and a pooled connection is shared and recycled. Diesel is blocking, so it lives on an OS
//! thread of its own that polls libpq (`PQconsumeInput` + `PQnotifies`, which never block)
//! every [`FeedOptions::poll_interval`] and forwards what it hears into a tokio broadcast
//! channel. Between polls a `SELECT 1` every [`FeedOptions::ping_interval`] proves the
//! connection is alive, so a server gone silent is noticed (by the socket limits every
//! PostgreSQL URL gets, `pool::with_socket_limits`) rather than trusted for ever.
//!
//! Announcements made while the listener is not connected are lost, so every (re)connection
//! begins with [`Change::Everything`]: reload it all. After an error it reconnects with
//! backoff; [`ChangeFeed::is_connected`] tells whether it is listening now. The periodic
//! reload of keys (and the client cache's TTL) stays as the safety net.
//!
//! SQLite has no feed: the embedded default is one node, and that node applies its own
//! changes in process.

use crate::database_url::{DatabaseUrl, Location};
use crate::pool::with_socket_limits;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::{Connection, IntoSql, RunQueryDsl};
use palisade_core::Change;
use palisade_core::model::ClientId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, watch};

/// The channel the triggers announce on.
pub const CHANNEL: &str = "palisade_changes";

/// The listener's `application_name`, so an operator (or a test) can find it in
/// `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "palisade-change-feed";

/// How many changes may wait for a slow subscriber before it is told it lagged (and must then
/// treat it as [`Change::Everything`]).
const CAPACITY: usize = 1024;

/// Timings of the listener. The defaults suit production; tests shorten them.
#[derive(Debug, Clone, Copy)]
pub struct FeedOptions {
    /// How often libpq is asked for announcements: the bulk of the delay between a commit and
    /// a node hearing of it.
    pub poll_interval: Duration,
    /// How often an idle listener proves its connection alive.
    pub ping_interval: Duration,
    /// The first wait before reconnecting; it doubles after each failed attempt...
    pub min_backoff: Duration,
    /// ...up to this.
    pub max_backoff: Duration,
    /// libpq's `connect_timeout` (whole seconds, at least 2) unless the URL sets one.
    pub connect_timeout: Duration,
}

impl Default for FeedOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(50),
            ping_interval: Duration::from_secs(5),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// A running listener. Dropping it stops its thread (within one poll interval, or once a
/// connection attempt or ping in progress ends).
pub struct ChangeFeed {
    changes: broadcast::Sender<Change>,
    /// Made with the channel, so the first subscriber hears everything from the first
    /// connection on, however soon the thread connects.
    first_subscription: std::sync::Mutex<Option<broadcast::Receiver<Change>>>,
    connected: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
    // Held, not joined: a drop on an async worker must not wait for a connect in progress.
    _thread: JoinHandle<()>,
}

impl std::fmt::Debug for ChangeFeed {
    // Not the URL: it may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("is_connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl ChangeFeed {
    /// Starts listening on PostgreSQL; returns at once (the thread connects, and keeps
    /// reconnecting). `None` for SQLite, which has no feed. Fails only if the OS refuses a
    /// thread.
    pub fn start(url: &DatabaseUrl, options: FeedOptions) -> std::io::Result<Option<Self>> {
        let Location::Postgres(raw) = url.location() else {
            return Ok(None);
        };
        let url = with_socket_limits(raw, options.connect_timeout);
        let (changes, first_subscription) = broadcast::channel(CAPACITY);
        let (connected_tx, connected) = watch::channel(false);
        let stop = Arc::new(AtomicBool::new(false));
        let listener = Listener {
            url,
            options,
            changes: changes.clone(),
            connected: connected_tx,
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("change-feed".into())
            .spawn(move || listener.run())?;
        Ok(Some(Self {
            changes,
            first_subscription: std::sync::Mutex::new(Some(first_subscription)),
            connected,
            stop,
            _thread: thread,
        }))
    }

    /// Changes heard from now on — for the first subscriber, from the start. A receiver that
    /// falls more than 1,024 changes behind gets `Lagged`: treat it as [`Change::Everything`].
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.first_subscription
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| self.changes.subscribe())
    }

    /// Whether the listener is connected and listening now.
    pub fn is_connected(&self) -> bool {
        *self.connected.borrow()
    }

    /// Follows [`is_connected`](Self::is_connected) as it changes.
    pub fn connection_state(&self) -> watch::Receiver<bool> {
        self.connected.clone()
    }
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// What a trigger's payload means; an unknown payload (a newer version's) means anything may
/// have changed.
pub fn parse_payload(payload: &str) -> Change {
    match payload {
        "signing_keys" => Change::SigningKeys,
        _ => match payload.strip_prefix("client:") {
            Some(id) if !id.is_empty() => Change::Client(ClientId(id.to_owned())),
            _ => Change::Everything,
        },
    }
}

/// The listener thread's side.
struct Listener {
    url: String,
    options: FeedOptions,
    changes: broadcast::Sender<Change>,
    connected: watch::Sender<bool>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn run(self) {
        let mut backoff = self.options.min_backoff;
        while !self.is_stopped() {
            match self.connect() {
                Ok(mut conn) => {
                    backoff = self.options.min_backoff;
                    self.connected.send_replace(true);
                    tracing::info!("change feed listening");
                    // Whatever was announced while nobody listened is lost: reload it all.
                    self.publish(Change::Everything);
                    let lost = self.listen(&mut conn);
                    self.connected.send_replace(false);
                    match lost {
                        Ok(()) => break,
                        Err(error) => tracing::warn!(
                            %error,
                            "change feed lost its connection; reconnecting (nodes reload keys and clients on the periodic refresh meanwhile)"
                        ),
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?backoff, "change feed cannot connect");
                }
            }
            self.sleep(backoff);
            backoff = (backoff * 2).min(self.options.max_backoff);
        }
        tracing::debug!("change feed stopped");
    }

    fn connect(&self) -> Result<PgConnection, FeedError> {
        let mut conn = PgConnection::establish(&self.url)?;
        // A bound on the ping, so a stalled server cannot hold the thread past the socket
        // limits; LISTEN itself returns at once.
        conn.batch_execute(&format!(
            "SET application_name = '{APPLICATION_NAME}'; SET statement_timeout = 5000; \
             LISTEN {CHANNEL};"
        ))?;
        Ok(conn)
    }

    /// Forwards announcements until stopped (`Ok`) or the connection fails (`Err`).
    fn listen(&self, conn: &mut PgConnection) -> Result<(), FeedError> {
        let mut last_ping = Instant::now();
        loop {
            if self.is_stopped() {
                return Ok(());
            }
            for notification in conn.notifications_iter() {
                let notification = notification?;
                if notification.channel == CHANNEL {
                    self.publish(parse_payload(&notification.payload));
                }
            }
            if last_ping.elapsed() >= self.options.ping_interval {
                diesel::select(1.into_sql::<diesel::sql_types::Integer>())
                    .get_result::<i32>(conn)?;
                last_ping = Instant::now();
            }
            std::thread::sleep(self.options.poll_interval);
        }
    }

    fn publish(&self, change: Change) {
        tracing::debug!(kind = change.kind(), "change announced");
        // No subscriber yet (or any more) is not an error: nobody has a copy to refresh.
        let _ = self.changes.send(change);
    }

    fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps `total`, waking early when stopped.
    fn sleep(&self, total: Duration) {
        let deadline = Instant::now() + total;
        while !self.is_stopped() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(self.options.poll_interval));
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error("{0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("{0}")]
    Query(#[from] diesel::result::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_what_changed_and_anything_else_means_everything() {
        let cases = [
            ("signing_keys", Change::SigningKeys),
            ("client:abc", Change::Client(ClientId("abc".into()))),
            (
                "client:https://app.example/client.json",
                Change::Client(ClientId("https://app.example/client.json".into())),
            ),
            ("client:", Change::Everything),
            ("everything", Change::Everything),
            ("users", Change::Everything),
            ("", Change::Everything),
        ];
        for (payload, expected) in cases {
            assert_eq!(parse_payload(payload), expected, "{payload:?}");
        }
    }

    #[test]
    fn sqlite_has_no_feed() {
        let url = DatabaseUrl::sqlite_file("/tmp/never-opened.db");
        assert!(
            ChangeFeed::start(&url, FeedOptions::default())
                .unwrap()
                .is_none()
        );
    }
}
