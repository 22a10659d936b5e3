//! `EphemeralStore` in process memory: the embedded default for a single node.
//!
//! One `Mutex` around one map makes every operation atomic (put-if-absent, take and increment
//! included), which is all the contract asks. Entries expire lazily when touched, and a sweep
//! of the whole map runs every `SWEEP_EVERY` stores of a value, so memory held by keys nobody
//! reads again is bounded in time as well as in count.
//!
//! Capacity: at most `max_entries` live keys. When a write needs a new key and the map is full,
//! expired entries are swept first; if it is still full the write is refused with
//! `Unavailable` rather than growing or evicting a live key (evicting could silently drop an
//! authorization code, a session or a rate-limit counter — failing closed is the safer error).
//! Writes to keys that already exist always succeed.
//!
//! Replay caches (keys under [`REPLAY_KEY_PREFIX`]) live on a shelf of their own with the same
//! capacity: anyone holding a public client id can add one per request by signing DPoP proofs,
//! and when that fills a shelf it must be theirs, not the one sessions and codes are on.
//!
//! Expiry reads tokio's clock (the system's monotonic clock, unless a test paused it), so tests
//! of expiry move time instead of waiting for it.

use async_trait::async_trait;
use palisade_core::StoreError;
use palisade_core::ports::{EphemeralStore, HealthCheck, REPLAY_KEY_PREFIX, StoreResult};
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Writes between two full sweeps of expired entries.
const SWEEP_EVERY: u32 = 1024;

/// TTLs are capped so `Instant + ttl` cannot overflow (ten years is forever for these keys).
const MAX_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

#[derive(Debug, Clone, Copy)]
pub struct InProcessOptions {
    /// Most live keys held at once.
    pub max_entries: usize,
}

impl Default for InProcessOptions {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
        }
    }
}

struct Entry {
    value: Vec<u8>,
    expires_at: Instant,
}

impl Entry {
    fn is_live(&self, now: Instant) -> bool {
        self.expires_at > now
    }
}

/// One map of entries with its own capacity.
#[derive(Default)]
struct Shelf {
    entries: HashMap<String, Entry>,
    writes_since_sweep: u32,
}

struct State {
    /// Sessions, codes, counters: everything but replay caches.
    general: Shelf,
    /// Keys under [`REPLAY_KEY_PREFIX`].
    replays: Shelf,
}

impl State {
    fn shelf(&mut self, key: &str) -> &mut Shelf {
        if key.starts_with(REPLAY_KEY_PREFIX) {
            &mut self.replays
        } else {
            &mut self.general
        }
    }

    fn len(&self) -> usize {
        self.general.entries.len() + self.replays.entries.len()
    }
}

impl Shelf {
    fn sweep(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.is_live(now));
        self.writes_since_sweep = 0;
    }

    /// The live entry under `key`, dropping it first if it has expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| !e.is_live(now)) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    /// Makes room for one more key if `key` is new; `Unavailable` when full of live keys.
    fn reserve(&mut self, key: &str, now: Instant, max_entries: usize) -> StoreResult<()> {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY {
            self.sweep(now);
        }
        if self.entries.contains_key(key) || self.entries.len() < max_entries {
            return Ok(());
        }
        self.sweep(now);
        if self.entries.len() < max_entries {
            Ok(())
        } else {
            let which = if key.starts_with(REPLAY_KEY_PREFIX) {
                "replay caches are"
            } else {
                "store is"
            };
            Err(StoreError::Unavailable(
                format!("in-process ephemeral {which} full ({max_entries} live keys)").into(),
            ))
        }
    }
}

/// In-memory ephemeral store. Not shared between processes: use Redis for more than one node.
pub struct InProcessStore {
    state: Mutex<State>,
    max_entries: usize,
}

impl std::fmt::Debug for InProcessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessStore")
            .field("max_entries", &self.max_entries)
            .finish_non_exhaustive()
    }
}

impl Default for InProcessStore {
    fn default() -> Self {
        Self::new(InProcessOptions::default())
    }
}

impl InProcessStore {
    /// Every live entry, for tests that must prove what the store holds (no token in clear).
    #[cfg(feature = "testing")]
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let now = Instant::now();
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .general
            .entries
            .iter()
            .chain(state.replays.entries.iter())
            .filter(|(_, e)| e.is_live(now))
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect()
    }

    pub fn new(options: InProcessOptions) -> Self {
        Self {
            state: Mutex::new(State {
                general: Shelf::default(),
                replays: Shelf::default(),
            }),
            max_entries: options.max_entries.max(1),
        }
    }

    /// Keys held, including expired ones not yet swept (a gauge for `/metrics`).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No operation panics half-way through a change, so a poisoned map is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Same rule as Redis, which refuses `PX 0`: a zero TTL lives for one millisecond.
fn expiry(now: Instant, ttl: Duration) -> Instant {
    now + ttl.clamp(Duration::from_millis(1), MAX_TTL)
}

#[async_trait]
impl HealthCheck for InProcessStore {
    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}

#[async_trait]
impl EphemeralStore for InProcessStore {
    async fn key_count(&self) -> StoreResult<Option<u64>> {
        Ok(Some(self.len() as u64))
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut state = self.lock();
        let shelf = state.shelf(key);
        shelf.reserve(key, now, self.max_entries)?;
        shelf.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at: expiry(now, ttl),
            },
        );
        Ok(())
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<bool> {
        let now = Instant::now();
        let mut state = self.lock();
        let shelf = state.shelf(key);
        if shelf.live(key, now).is_some() {
            return Ok(false);
        }
        shelf.reserve(key, now, self.max_entries)?;
        shelf.entries.insert(
            key.to_owned(),
            Entry {
                value: value.to_vec(),
                expires_at: expiry(now, ttl),
            },
        );
        Ok(true)
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let now = Instant::now();
        Ok(self
            .lock()
            .shelf(key)
            .live(key, now)
            .map(|e| e.value.clone()))
    }

    async fn get_many(&self, keys: &[&str]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        let now = Instant::now();
        let mut state = self.lock();
        Ok(keys
            .iter()
            .map(|key| state.shelf(key).live(key, now).map(|e| e.value.clone()))
            .collect())
    }

    async fn take(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let now = Instant::now();
        let mut state = self.lock();
        Ok(state
            .shelf(key)
            .entries
            .remove(key)
            .filter(|e| e.is_live(now))
            .map(|e| e.value))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.lock().shelf(key).entries.remove(key);
        Ok(())
    }

    /// Counters are stored as decimal text, as Redis does, so `get` reads them the same way.
    async fn increment(&self, key: &str, ttl: Duration) -> StoreResult<u64> {
        let now = Instant::now();
        let mut state = self.lock();
        let shelf = state.shelf(key);
        if let Some(entry) = shelf.live(key, now) {
            let count = std::str::from_utf8(&entry.value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .and_then(|n| n.checked_add(1))
                .ok_or_else(|| {
                    StoreError::Internal(format!("value at {key:?} is not a counter").into())
                })?;
            entry.value = count.to_string().into_bytes();
            return Ok(count);
        }
        shelf.reserve(key, now, self.max_entries)?;
        shelf.entries.insert(
            key.to_owned(),
            Entry {
                value: b"1".to_vec(),
                expires_at: expiry(now, ttl),
            },
        );
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn a_full_store_refuses_new_keys_but_updates_existing_ones() {
        let store = InProcessStore::new(InProcessOptions { max_entries: 2 });
        store.put("a", b"1", MINUTE).await.unwrap();
        store.put("b", b"2", MINUTE).await.unwrap();
        assert!(matches!(
            store.put("c", b"3", MINUTE).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store.increment("d", MINUTE).await,
            Err(StoreError::Unavailable(_))
        ));
        store.put("a", b"changed", MINUTE).await.unwrap();
        assert_eq!(store.get("a").await.unwrap(), Some(b"changed".to_vec()));
        store.delete("b").await.unwrap();
        store.put("c", b"3", MINUTE).await.unwrap();
    }

    #[tokio::test]
    async fn a_flood_of_replay_keys_fills_only_its_own_shelf() {
        let store = InProcessStore::new(InProcessOptions { max_entries: 2 });
        let replay = |n: u32| format!("{REPLAY_KEY_PREFIX}dpop-jti:{n}");
        assert!(store.put_if_absent(&replay(1), b"1", MINUTE).await.unwrap());
        assert!(store.put_if_absent(&replay(2), b"1", MINUTE).await.unwrap());
        assert!(matches!(
            store.put_if_absent(&replay(3), b"1", MINUTE).await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(!store.put_if_absent(&replay(1), b"1", MINUTE).await.unwrap());
        // Sessions and codes still have all their room.
        store.put("session:a", b"s", MINUTE).await.unwrap();
        store.put("code:b", b"c", MINUTE).await.unwrap();
        assert_eq!(store.take("code:b").await.unwrap(), Some(b"c".to_vec()));
        assert_eq!(store.len(), 3);
        store.delete(&replay(1)).await.unwrap();
        assert!(store.put_if_absent(&replay(3), b"1", MINUTE).await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn expired_keys_make_room_when_the_store_is_full() {
        let store = InProcessStore::new(InProcessOptions { max_entries: 1 });
        store
            .put("old", b"x", Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_millis(5)).await;
        store.put("new", b"y", MINUTE).await.unwrap();
        assert_eq!(store.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn periodic_sweeps_drop_keys_nobody_reads_again() {
        let store = InProcessStore::default();
        for i in 0..10 {
            store
                .put(&format!("short{i}"), b"x", Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::advance(Duration::from_millis(5)).await;
        for i in 0..SWEEP_EVERY {
            store.put("busy", &i.to_be_bytes(), MINUTE).await.unwrap();
        }
        assert_eq!(store.len(), 1);
    }

    #[tokio::test]
    async fn incrementing_a_non_counter_is_an_error_not_a_reset() {
        let store = InProcessStore::default();
        store.put("k", b"hello", MINUTE).await.unwrap();
        assert!(matches!(
            store.increment("k", MINUTE).await,
            Err(StoreError::Internal(_))
        ));
        assert_eq!(store.get("k").await.unwrap(), Some(b"hello".to_vec()));
    }
}
