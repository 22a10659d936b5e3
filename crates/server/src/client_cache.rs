//! An in-memory cache in front of the client repository (docs/design.md §6: hot paths do not wait
//! on SQL when a cache will do).
//!
//! Every token, introspection and revocation request authenticates a client; with this cache
//! that costs a hash-map read instead of two SQL queries. Entries live [`DEFAULT_TTL`] (5 s) by
//! the server's [`Clock`], so tests move it instead of waiting:
//!
//! - a change made through this node (registration management, the admin API, anything that
//!   calls the engine's `clients`) invalidates the entry at once;
//! - a change made elsewhere — another node, or the `palisade client` CLI writing straight to
//!   the database — is announced by PostgreSQL and forgotten here when the change feed hears of
//!   it (`change_feed.rs`, within a second); the TTL is the safety net for an announcement
//!   missed, and the bound on SQLite, which has no feed (one node; its own changes invalidate
//!   at once).
//!
//! Unknown ids are cached too (as absent), so random client ids cannot make every request a
//! database query; the map is bounded ([`DEFAULT_MAX_ENTRIES`]) and sheds stale entries, then
//! everything, when full. Storage errors are never cached. A lookup that raced with an
//! invalidation does not store its possibly stale answer (a generation counter tells).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use palisade_core::Clock;
use palisade_core::model::{Client, ClientId};
use palisade_core::ports::{ClientRepository, StoreResult};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// How long another node's change may go unseen here.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);
/// At most this many client ids (known or not) are remembered.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

struct Entry {
    client: Option<Arc<Client>>,
    fetched_at: DateTime<Utc>,
}

/// A [`ClientRepository`] that answers `find_client` from memory when it can.
pub struct CachedClients {
    inner: Arc<dyn ClientRepository>,
    clock: Arc<dyn Clock>,
    ttl: chrono::Duration,
    max_entries: usize,
    entries: RwLock<HashMap<String, Entry>>,
    /// Bumped by every invalidation, so a lookup that started before one does not cache.
    generation: AtomicU64,
}

impl CachedClients {
    pub fn new(inner: Arc<dyn ClientRepository>, clock: Arc<dyn Clock>) -> Self {
        Self::with_limits(inner, clock, DEFAULT_TTL, DEFAULT_MAX_ENTRIES)
    }

    pub fn with_limits(
        inner: Arc<dyn ClientRepository>,
        clock: Arc<dyn Clock>,
        ttl: Duration,
        max_entries: usize,
    ) -> Self {
        Self {
            inner,
            clock,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
            max_entries: max_entries.max(1),
            entries: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Forgets one client (after a change made through this node, or announced by the change
    /// feed).
    pub fn invalidate(&self, id: &ClientId) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id.0);
    }

    /// Forgets every client (the change feed reconnected: announcements may have been missed).
    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// Changes with every change made through this cache, so views derived from all clients
    /// (the CORS origins, `cors_origins.rs`) know when to rebuild.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn cached(&self, id: &ClientId) -> Option<Option<Client>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(&id.0)?;
        self.is_fresh(entry, self.clock.now())
            .then(|| entry.client.as_deref().cloned())
    }

    /// Fetched less than the TTL ago. An entry from the future (the wall clock was set back)
    /// is stale, so a clock step never stretches an entry's life.
    fn is_fresh(&self, entry: &Entry, now: DateTime<Utc>) -> bool {
        let age = now - entry.fetched_at;
        age >= chrono::Duration::zero() && age < self.ttl
    }

    fn remember(&self, id: &ClientId, client: Option<&Client>, generation: u64) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let now = self.clock.now();
        if entries.len() >= self.max_entries {
            entries.retain(|_, e| self.is_fresh(e, now));
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(
            id.0.clone(),
            Entry {
                client: client.cloned().map(Arc::new),
                fetched_at: now,
            },
        );
    }
}

#[async_trait]
impl ClientRepository for CachedClients {
    async fn insert_client(&self, client: Client) -> StoreResult<()> {
        let id = client.id.clone();
        let result = self.inner.insert_client(client).await;
        self.invalidate(&id);
        result
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        if let Some(hit) = self.cached(id) {
            return Ok(hit);
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let found = self.inner.find_client(id).await?;
        self.remember(id, found.as_ref(), generation);
        Ok(found)
    }

    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.inner.list_clients().await
    }

    async fn update_client(&self, client: Client) -> StoreResult<()> {
        let id = client.id.clone();
        let result = self.inner.update_client(client).await;
        self.invalidate(&id);
        result
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<()> {
        let result = self.inner.delete_client(id).await;
        self.invalidate(id);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::ManualClock;

    use crate::test_clients::CountingClients as Counting;

    fn client(id: &str, name: &str) -> Client {
        crate::test_clients::client(id, name, "https://rp.example/cb")
    }

    /// The name of the client the cache answers for `id`, if any.
    async fn name_of(cache: &CachedClients, id: &str) -> Option<String> {
        cache
            .find_client(&ClientId(id.into()))
            .await
            .unwrap()
            .map(|c| c.name)
    }

    fn setup(ttl: Duration) -> (Arc<Counting>, CachedClients, ManualClock) {
        let inner = Arc::new(Counting::default());
        let clock = ManualClock::starting_now();
        let cache = CachedClients::with_limits(inner.clone(), Arc::new(clock.clone()), ttl, 3);
        (inner, cache, clock)
    }

    #[tokio::test]
    async fn repeated_lookups_are_answered_from_memory_known_or_not() {
        let (inner, cache, _clock) = setup(Duration::from_secs(60));
        inner.insert_client(client("a", "A")).await.unwrap();
        for _ in 0..5 {
            assert_eq!(name_of(&cache, "a").await.as_deref(), Some("A"));
            assert_eq!(name_of(&cache, "nope").await, None);
        }
        assert_eq!(inner.finds.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn changes_through_the_cache_are_seen_at_once() {
        let (inner, cache, _clock) = setup(Duration::from_secs(60));
        assert_eq!(name_of(&cache, "a").await, None);
        cache.insert_client(client("a", "A")).await.unwrap();
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("A"));
        cache.update_client(client("a", "B")).await.unwrap();
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("B"));
        cache.delete_client(&ClientId("a".into())).await.unwrap();
        assert_eq!(name_of(&cache, "a").await, None);
        assert_eq!(inner.finds.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn changes_made_elsewhere_are_seen_after_the_ttl() {
        let (inner, cache, clock) = setup(Duration::from_secs(5));
        inner.insert_client(client("a", "A")).await.unwrap();
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("A"));
        inner.update_client(client("a", "B")).await.unwrap();
        assert_eq!(
            name_of(&cache, "a").await.as_deref(),
            Some("A"),
            "still cached"
        );
        clock.advance(chrono::Duration::milliseconds(4999));
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("A"));
        clock.advance(chrono::Duration::milliseconds(1));
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("B"));
    }

    #[tokio::test]
    async fn a_clock_set_back_does_not_stretch_an_entry_s_life() {
        let (inner, cache, clock) = setup(Duration::from_secs(5));
        inner.insert_client(client("a", "A")).await.unwrap();
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("A"));
        inner.update_client(client("a", "B")).await.unwrap();
        clock.advance(chrono::Duration::hours(-1));
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("B"));
    }

    #[tokio::test]
    async fn storage_errors_are_not_cached_and_the_map_stays_bounded() {
        let (inner, cache, _clock) = setup(Duration::from_secs(60));
        inner.is_down.store(true, Ordering::SeqCst);
        assert!(cache.find_client(&ClientId("a".into())).await.is_err());
        inner.is_down.store(false, Ordering::SeqCst);
        inner.insert_client(client("a", "A")).await.unwrap();
        assert!(name_of(&cache, "a").await.is_some());
        for i in 0..10 {
            cache.find_client(&ClientId(format!("x{i}"))).await.unwrap();
        }
        assert!(cache.entries.read().unwrap().len() <= 3);
    }

    #[tokio::test]
    async fn forgetting_everything_refetches_every_client_and_moves_the_generation() {
        let (inner, cache, _clock) = setup(Duration::from_secs(60));
        inner.insert_client(client("a", "A")).await.unwrap();
        inner.insert_client(client("b", "B")).await.unwrap();
        for id in ["a", "b"] {
            cache.find_client(&ClientId(id.into())).await.unwrap();
        }
        inner.update_client(client("a", "A2")).await.unwrap();
        inner.delete_client(&ClientId("b".into())).await.unwrap();
        let generation = cache.generation();
        cache.invalidate_all();
        assert_ne!(cache.generation(), generation);
        assert_eq!(name_of(&cache, "a").await.as_deref(), Some("A2"));
        assert_eq!(name_of(&cache, "b").await, None);
        assert_eq!(inner.finds.load(Ordering::SeqCst), 4);
    }
}
