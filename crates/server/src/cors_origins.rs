//! The set of web origins CORS allows (the rule is `palisade_flow::web_origin`), kept in memory
//! because the token endpoint is hot.
//!
//! Only a request that carries an `Origin` header on a CORS endpoint asks (server-side clients
//! never send one), and then it is a hash-set read. The set is rebuilt from every client:
//!
//! - at once after a change made through this node: the [`CachedClients`] every registration,
//!   admin and engine write goes through bumps its generation, and a set built at another
//!   generation is stale;
//! - after a change made elsewhere (another node, the CLI writing to the database), as soon as
//!   the change feed invalidates the client (`change_feed.rs`, within a second on PostgreSQL),
//!   which bumps the same generation; else within [`DEFAULT_TTL`] (5 s, the client cache's),
//!   the safety net — the same bounds as for the client itself.
//!
//! A set from the future (the clock was set back) is stale. One rebuild runs at a time; callers
//! that waited for it use its result, so a slow or failing database costs one query per
//! staleness, not one per request. A failed rebuild allows nothing (fail closed: the browser
//! sees a refused CORS call, the request itself gets its 503 from the route).

use crate::client_cache::CachedClients;
use chrono::{DateTime, Utc};
use palisade_core::Clock;
use palisade_core::ports::ClientRepository;
use palisade_flow::web_origin::AllowedOrigins;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How long a change made on another node may go unseen here.
pub const DEFAULT_TTL: Duration = crate::client_cache::DEFAULT_TTL;

struct Snapshot {
    origins: Arc<AllowedOrigins>,
    built_at: DateTime<Utc>,
    generation: u64,
}

/// The allowed origins, rebuilt from the clients when stale.
pub struct CorsOrigins {
    clients: Arc<CachedClients>,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    snapshot: RwLock<Option<Snapshot>>,
    /// Serialises rebuilds.
    rebuilding: tokio::sync::Mutex<()>,
    /// Bumped by every finished rebuild attempt, failed or not.
    attempts: AtomicU64,
}

impl CorsOrigins {
    pub fn new(clients: Arc<CachedClients>, clock: Arc<dyn Clock>) -> Self {
        Self::with_ttl(clients, clock, DEFAULT_TTL)
    }

    pub fn with_ttl(clients: Arc<CachedClients>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            clients,
            clock,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            snapshot: RwLock::new(None),
            rebuilding: tokio::sync::Mutex::new(()),
            attempts: AtomicU64::new(0),
        }
    }

    /// Whether `origin` (an `Origin` header's value) may make cross-origin calls.
    pub async fn allows(&self, origin: &str) -> bool {
        self.current().await.allows(origin)
    }

    /// The set as of now: the snapshot when fresh, else a rebuilt one.
    pub async fn current(&self) -> Arc<AllowedOrigins> {
        if let Some(fresh) = self.fresh() {
            return fresh;
        }
        let attempts_before = self.attempts.load(Ordering::SeqCst);
        let _rebuilding = self.rebuilding.lock().await;
        if self.attempts.load(Ordering::SeqCst) != attempts_before {
            // Someone rebuilt while we waited: theirs is the answer, even a failed one (no
            // snapshot), unless a change has made it stale since.
            if let Some(fresh) = self.fresh() {
                return fresh;
            }
            if self.has_no_snapshot() {
                return Arc::default();
            }
        }
        let rebuilt = self.rebuild().await;
        self.attempts.fetch_add(1, Ordering::SeqCst);
        rebuilt
    }

    fn has_no_snapshot(&self) -> bool {
        self.snapshot
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    fn fresh(&self) -> Option<Arc<AllowedOrigins>> {
        let snapshot = self.snapshot.read().unwrap_or_else(PoisonError::into_inner);
        let snapshot = snapshot.as_ref()?;
        let age = self.clock.now() - snapshot.built_at;
        let is_fresh = age >= chrono::Duration::zero()
            && age < self.ttl
            && snapshot.generation == self.clients.generation();
        is_fresh.then(|| snapshot.origins.clone())
    }

    async fn rebuild(&self) -> Arc<AllowedOrigins> {
        // Read before listing: a change during the listing leaves the snapshot stale.
        let generation = self.clients.generation();
        let built_at = self.clock.now();
        match self.clients.list_clients().await {
            Ok(clients) => {
                let origins = Arc::new(AllowedOrigins::of_clients(&clients));
                *self
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(Snapshot {
                    origins: origins.clone(),
                    built_at,
                    generation,
                });
                origins
            }
            Err(error) => {
                tracing::warn!(%error, "cannot list clients for CORS; allowing no origin");
                *self
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                Arc::default()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_clients::CountingClients as Counting;
    use palisade_core::ManualClock;
    use palisade_core::model::{Client, ClientId};

    fn client(id: &str, redirect_uri: &str) -> Client {
        crate::test_clients::client(id, id, redirect_uri)
    }

    struct Setup {
        store: Arc<Counting>,
        clients: Arc<CachedClients>,
        origins: CorsOrigins,
        clock: ManualClock,
    }

    fn setup() -> Setup {
        let store = Arc::new(Counting::with_slow_listing(Duration::from_millis(20)));
        let clock = ManualClock::starting_now();
        let clients = Arc::new(CachedClients::new(store.clone(), Arc::new(clock.clone())));
        let origins = CorsOrigins::with_ttl(
            clients.clone(),
            Arc::new(clock.clone()),
            Duration::from_secs(5),
        );
        Setup {
            store,
            clients,
            origins,
            clock,
        }
    }

    const SPA: &str = "https://spa.example";

    #[tokio::test]
    async fn repeated_checks_are_answered_from_memory() {
        let s = setup();
        s.store
            .insert_client(client("a", "https://spa.example/cb"))
            .await
            .unwrap();
        for _ in 0..5 {
            assert!(s.origins.allows(SPA).await);
            assert!(!s.origins.allows("https://evil.example").await);
        }
        assert_eq!(s.store.lists.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_change_through_this_node_is_seen_at_once() {
        let s = setup();
        assert!(!s.origins.allows(SPA).await);
        s.clients
            .insert_client(client("a", "https://spa.example/cb"))
            .await
            .unwrap();
        assert!(s.origins.allows(SPA).await, "a registered client's origin");
        s.clients
            .update_client(client("a", "https://moved.example/cb"))
            .await
            .unwrap();
        assert!(
            !s.origins.allows(SPA).await,
            "its old redirect URI's origin"
        );
        assert!(s.origins.allows("https://moved.example").await);
        s.clients
            .delete_client(&ClientId("a".into()))
            .await
            .unwrap();
        assert!(
            !s.origins.allows("https://moved.example").await,
            "a removed client's origin"
        );
    }

    #[tokio::test]
    async fn a_change_made_elsewhere_is_seen_after_the_ttl_and_a_clock_set_back_does_not_stretch_it()
     {
        let s = setup();
        assert!(!s.origins.allows(SPA).await);
        s.store
            .insert_client(client("a", "https://spa.example/cb"))
            .await
            .unwrap();
        s.clock.advance(chrono::Duration::milliseconds(4999));
        assert!(!s.origins.allows(SPA).await, "still the cached set");
        s.clock.advance(chrono::Duration::milliseconds(1));
        assert!(s.origins.allows(SPA).await);

        s.store.delete_client(&ClientId("a".into())).await.unwrap();
        s.clock.advance(chrono::Duration::hours(-1));
        assert!(!s.origins.allows(SPA).await);
    }

    #[tokio::test]
    async fn a_failed_rebuild_allows_nothing_and_is_not_kept() {
        let s = setup();
        s.store
            .insert_client(client("a", "https://spa.example/cb"))
            .await
            .unwrap();
        assert!(s.origins.allows(SPA).await);
        s.store.is_down.store(true, Ordering::SeqCst);
        s.clock.advance(chrono::Duration::seconds(5));
        assert!(!s.origins.allows(SPA).await, "fail closed");
        s.store.is_down.store(false, Ordering::SeqCst);
        assert!(s.origins.allows(SPA).await, "the failure was not cached");
    }

    #[tokio::test]
    async fn concurrent_checks_of_a_stale_set_rebuild_once() {
        let s = Arc::new(setup());
        s.store
            .insert_client(client("a", "https://spa.example/cb"))
            .await
            .unwrap();
        let checks: Vec<_> = (0..16)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.origins.allows(SPA).await })
            })
            .collect();
        for check in checks {
            assert!(check.await.unwrap());
        }
        assert_eq!(s.store.lists.load(Ordering::SeqCst), 1);

        s.store.is_down.store(true, Ordering::SeqCst);
        s.clock.advance(chrono::Duration::seconds(5));
        let checks: Vec<_> = (0..16)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.origins.allows(SPA).await })
            })
            .collect();
        for check in checks {
            assert!(!check.await.unwrap(), "fail closed");
        }
        assert_eq!(
            s.store.lists.load(Ordering::SeqCst),
            2,
            "callers that waited for a failed listing do not repeat it"
        );
    }
}
