//! Applying changes announced by the database on this node (docs/deployment.md, "Changes
//! reach every node").
//!
//! On PostgreSQL, `palisade_store::ChangeFeed` hears every committed write to signing keys and
//! clients, whoever made it; one task here applies what it hears:
//!
//! | change | applied as |
//! | --- | --- |
//! | `SigningKeys` | the key ring is reloaded (swapped only if it changed); if an enabled algorithm is left without a signer (a key revoked by hand in SQL), a rotation step runs, which promotes a replacement on the lease holder |
//! | `Client(id)` | that client is forgotten by the client cache, which moves its generation, so the CORS origins are rebuilt at the next request that needs them |
//! | `Everything` | both, for every client (after each (re)connection of the feed) |
//!
//! A burst is applied once: whatever is waiting when the task wakes is gathered first. A
//! failed reload is logged; the next announcement or the periodic refresh repairs it.
//!
//! SQLite has no feed: the embedded default is one node, and its own writes invalidate at once
//! (the client cache's writes, the key manager's rotate and revoke). The CLI writing to the
//! same SQLite file is seen at the next refresh or after the client cache's TTL.
//!
//! Metrics: `palisade_change_feed_connected` (1 while listening, 0 while reconnecting; absent
//! on SQLite) and `palisade_changes_applied_total{kind}`.

use crate::client_cache::CachedClients;
use crate::config::Settings;
use palisade_core::Change;
use palisade_keys::KeyManager;
use palisade_store::{ChangeFeed, FeedOptions};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

/// Gauge: 1 while this node's change feed listens, 0 while it reconnects.
pub const CONNECTED: &str = "palisade_change_feed_connected";
/// Counter: changes applied, by `kind` (`signing_keys`, `client`, `everything`).
pub const APPLIED: &str = "palisade_changes_applied_total";

/// Whether this node hears of changes made elsewhere; for readiness and metrics. Clones share
/// the feed, and the last one dropped stops it.
#[derive(Clone, Debug)]
pub struct ChangeFeedStatus {
    feed: Option<Arc<ChangeFeed>>,
}

impl ChangeFeedStatus {
    /// `None` when the backend has no feed (SQLite: nothing to hear); else whether it listens
    /// now (`false` while it reconnects: other nodes' changes then wait for the periodic
    /// refresh).
    pub fn is_connected(&self) -> Option<bool> {
        self.feed.as_ref().map(|feed| feed.is_connected())
    }
}

/// What an announced change is applied to on this node.
pub struct ChangeTargets {
    pub keys: Arc<KeyManager>,
    pub clients: Arc<CachedClients>,
}

/// Starts the feed for this node's database (none on SQLite) and the task that applies it.
pub fn start(settings: &Settings, targets: ChangeTargets) -> anyhow::Result<ChangeFeedStatus> {
    let options = FeedOptions {
        connect_timeout: settings.storage_timeout,
        ..FeedOptions::default()
    };
    let Some(feed) = ChangeFeed::start(&settings.database_url, options)
        .map_err(|e| anyhow::anyhow!("cannot start the change feed's thread: {e}"))?
    else {
        return Ok(ChangeFeedStatus { feed: None });
    };
    spawn_dispatcher(&feed, targets);
    Ok(ChangeFeedStatus {
        feed: Some(Arc::new(feed)),
    })
}

/// The task ends when the feed is dropped (its channel closes).
fn spawn_dispatcher(feed: &ChangeFeed, targets: ChangeTargets) {
    let mut changes = feed.subscribe();
    let mut connection = feed.connection_state();
    metrics::gauge!(CONNECTED).set(0.0);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                received = changes.recv() => {
                    let mut batch = HashSet::new();
                    match received {
                        Ok(change) => batch.insert(change),
                        Err(RecvError::Lagged(_)) => batch.insert(Change::Everything),
                        Err(RecvError::Closed) => break,
                    };
                    loop {
                        match changes.try_recv() {
                            Ok(change) => batch.insert(change),
                            Err(TryRecvError::Lagged(_)) => batch.insert(Change::Everything),
                            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                        };
                    }
                    targets.apply(batch).await;
                }
                changed = connection.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let is_connected = *connection.borrow_and_update();
                    metrics::gauge!(CONNECTED).set(if is_connected { 1.0 } else { 0.0 });
                }
            }
        }
        metrics::gauge!(CONNECTED).set(0.0);
        tracing::debug!("change dispatcher stopped");
    });
}

impl ChangeTargets {
    /// Applies a batch of changes (see the module's table).
    pub async fn apply(&self, batch: HashSet<Change>) {
        let is_everything = batch.contains(&Change::Everything);
        if is_everything || batch.contains(&Change::SigningKeys) {
            self.reload_keys().await;
        }
        if is_everything {
            self.clients.invalidate_all();
        }
        for change in &batch {
            if let Change::Client(id) = change
                && !is_everything
            {
                self.clients.invalidate(id);
            }
            metrics::counter!(APPLIED, "kind" => change.kind()).increment(1);
        }
        tracing::debug!(changes = batch.len(), "applied announced changes");
    }

    async fn reload_keys(&self) {
        if let Err(error) = self.keys.reload().await {
            tracing::error!(%error, "reloading signing keys after a change failed; keeping the current key ring until the next refresh");
            return;
        }
        let ring = self.keys.keys().snapshot();
        let cannot_sign = self
            .keys
            .policy()
            .enabled_algorithms
            .iter()
            .any(|alg| !ring.can_sign(*alg));
        if cannot_sign {
            // Only by a write outside Palisade (a revocation always brings its replacement):
            // the lease holder's plan promotes or generates one now, not at its next tick.
            if let Err(error) = self.keys.tick().await {
                tracing::error!(%error, "a rotation step after a change failed");
            }
        }
    }
}
