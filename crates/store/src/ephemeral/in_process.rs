//! `EphemeralStore` in process memory: the embedded default for a single node.
//!
//! One `Mutex` around one map makes every operation atomic (put-if-absent, take and increment
//! included), which is all the contract asks. Entries expire lazily when touched, and a sweep
//! of the whole map runs every `SWEEP_EVERY` stores of a value, so memory held by keys nobody
//! reads again is bounded in time as well as in count.
//!
//! Capacity: at most `max_entries` live keys and `max_bytes` of keys and values (with a fixed
//! allowance per entry for the map's own bookkeeping). The byte bound is what bounds the
//! process's memory: values range from a counter's few bytes to a pending sign-in's 16 KiB, so a
//! count alone would let 100,000 entries take anything from 10 MiB to 1.6 GiB. When a write
//! needs a new key or more bytes and the map is full, expired entries are swept first; if it is
//! still full the write is refused with `Unavailable` rather than growing or evicting a live key
//! (evicting could silently drop an authorization code, a session or a rate-limit counter —
//! failing closed is the safer error). Writes to keys that already exist always succeed, so an
//! operation under way is never cut off half-way (a counter's step, a session's refresh).
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

/// What one entry costs beyond its key and value: the map's slot (the key's `String`, the
/// value's `Vec`, the expiry) and the allocator's headers of the two heap blocks.
pub const ENTRY_OVERHEAD_BYTES: usize = 96;

#[derive(Debug, Clone, Copy)]
pub struct InProcessOptions {
    /// Most live keys held at once, per shelf.
    pub max_entries: usize,
    /// Most bytes held at once, per shelf: keys, values and [`ENTRY_OVERHEAD_BYTES`] each.
    pub max_bytes: usize,
}

impl Default for InProcessOptions {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// What the store holds now (expired entries not yet swept included): the `/metrics` gauges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InProcessUsage {
    pub entries: usize,
    pub bytes: usize,
}

fn entry_bytes(key: &str, value: &[u8]) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD_BYTES
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

/// One map of entries with its own capacity. Every change to `entries` goes through
/// [`Shelf::insert`], [`Shelf::remove`] or [`Shelf::sweep`], which keep `bytes` exact.
#[derive(Default)]
struct Shelf {
    entries: HashMap<String, Entry>,
    /// Sum of [`entry_bytes`] over `entries`.
    bytes: usize,
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

    fn usage(&self) -> InProcessUsage {
        InProcessUsage {
            entries: self.general.entries.len() + self.replays.entries.len(),
            bytes: self.general.bytes + self.replays.bytes,
        }
    }
}

impl Shelf {
    fn sweep(&mut self, now: Instant) {
        let mut freed = 0;
        self.entries.retain(|key, e| {
            let live = e.is_live(now);
            if !live {
                freed += entry_bytes(key, &e.value);
            }
            live
        });
        self.bytes -= freed;
        self.writes_since_sweep = 0;
    }

    fn insert(&mut self, key: &str, entry: Entry) {
        self.bytes += entry_bytes(key, &entry.value);
        if let Some(old) = self.entries.insert(key.to_owned(), entry) {
            self.bytes -= entry_bytes(key, &old.value);
        }
    }

    fn remove(&mut self, key: &str) -> Option<Entry> {
        let removed = self.entries.remove(key)?;
        self.bytes -= entry_bytes(key, &removed.value);
        Some(removed)
    }

    /// Replaces a live entry's value in place (a counter's step).
    fn set_value(&mut self, key: &str, value: Vec<u8>) {
        if let Some(entry) = self.entries.get_mut(key) {
            self.bytes = self.bytes - entry.value.len() + value.len();
            entry.value = value;
        }
    }

    /// The live entry under `key`, dropping it first if it has expired.
    fn live(&mut self, key: &str, now: Instant) -> Option<&Entry> {
        if self.entries.get(key).is_some_and(|e| !e.is_live(now)) {
            self.remove(key);
        }
        self.entries.get(key)
    }

    /// Makes room for `key` holding `value_len` bytes if `key` is new; `Unavailable` when the
    /// live keys fill the count or the bytes.
    fn reserve(
        &mut self,
        key: &str,
        value_len: usize,
        now: Instant,
        limits: &InProcessOptions,
    ) -> StoreResult<()> {
        self.writes_since_sweep += 1;
        if self.writes_since_sweep >= SWEEP_EVERY {
            self.sweep(now);
        }
        let needed = key.len() + value_len + ENTRY_OVERHEAD_BYTES;
        let fits = |shelf: &Self| {
            shelf.entries.len() < limits.max_entries && shelf.bytes + needed <= limits.max_bytes
        };
        if self.entries.contains_key(key) || fits(self) {
            return Ok(());
        }
        self.sweep(now);
        if fits(self) {
            return Ok(());
        }
        let which = if key.starts_with(REPLAY_KEY_PREFIX) {
            "replay caches are"
        } else {
            "store is"
        };
        Err(StoreError::Unavailable(
            format!(
                "in-process ephemeral {which} full ({} live keys, {} bytes; bounds {} keys, {} bytes)",
                self.entries.len(),
                self.bytes,
                limits.max_entries,
                limits.max_bytes
            )
            .into(),
        ))
    }
}

/// In-memory ephemeral store. Not shared between processes: use Redis for more than one node.
pub struct InProcessStore {
    state: Mutex<State>,
    limits: InProcessOptions,
}

impl std::fmt::Debug for InProcessStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessStore")
            .field("limits", &self.limits)
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
            limits: InProcessOptions {
                max_entries: options.max_entries.max(1),
                max_bytes: options.max_bytes.max(1),
            },
        }
    }

    /// Keys and bytes held, including expired entries not yet swept (gauges for `/metrics`).
    pub fn usage(&self) -> InProcessUsage {
        self.lock().usage()
    }

    /// Keys held, including expired ones not yet swept.
    pub fn len(&self) -> usize {
        self.usage().entries
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

    fn memory_held(&self) -> Option<u64> {
        Some(self.usage().bytes as u64)
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
        let now = Instant::now();
        let mut state = self.lock();
        let shelf = state.shelf(key);
        shelf.reserve(key, value.len(), now, &self.limits)?;
        shelf.insert(
            key,
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
        shelf.reserve(key, value.len(), now, &self.limits)?;
        shelf.insert(
            key,
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
            .remove(key)
            .filter(|e| e.is_live(now))
            .map(|e| e.value))
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        self.lock().shelf(key).remove(key);
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
            shelf.set_value(key, count.to_string().into_bytes());
            return Ok(count);
        }
        shelf.reserve(key, 1, now, &self.limits)?;
        shelf.insert(
            key,
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
        let store = InProcessStore::new(InProcessOptions {
            max_entries: 2,
            ..Default::default()
        });
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
        let store = InProcessStore::new(InProcessOptions {
            max_entries: 2,
            ..Default::default()
        });
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
        let store = InProcessStore::new(InProcessOptions {
            max_entries: 1,
            ..Default::default()
        });
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
    async fn the_byte_bound_refuses_a_new_key_that_would_pass_it() {
        // Room for two 1 KiB entries under keys of one byte, not three.
        let max_bytes = 2 * (1 + 1024 + ENTRY_OVERHEAD_BYTES);
        let store = InProcessStore::new(InProcessOptions {
            max_bytes,
            ..Default::default()
        });
        let kib = vec![7u8; 1024];
        store.put("a", &kib, MINUTE).await.unwrap();
        store.put("b", &kib, MINUTE).await.unwrap();
        assert_eq!(store.usage().bytes, max_bytes);
        assert!(matches!(
            store.put("c", &kib, MINUTE).await,
            Err(StoreError::Unavailable(_))
        ));
        // Small keys are refused too once the bytes are spent, though the count is far off.
        assert!(matches!(
            store.increment("d", MINUTE).await,
            Err(StoreError::Unavailable(_))
        ));
        assert_eq!(
            store.usage(),
            InProcessUsage {
                entries: 2,
                bytes: max_bytes
            }
        );
        // Taking one frees its bytes for the next.
        assert_eq!(store.take("a").await.unwrap(), Some(kib.clone()));
        store.put("c", &kib, MINUTE).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn every_change_keeps_the_byte_count_exact() {
        let store = InProcessStore::default();
        let held = |entries: &[(&str, usize)]| InProcessUsage {
            entries: entries.len(),
            bytes: entries
                .iter()
                .map(|(k, v)| k.len() + v + ENTRY_OVERHEAD_BYTES)
                .sum(),
        };
        store.put("session:1", &[0; 300], MINUTE).await.unwrap();
        assert_eq!(store.usage(), held(&[("session:1", 300)]));
        // Replaced by a smaller value.
        store.put("session:1", &[0; 10], MINUTE).await.unwrap();
        assert_eq!(store.usage(), held(&[("session:1", 10)]));
        // A counter grows from "9" to "10".
        for _ in 0..10 {
            store.increment("count", MINUTE).await.unwrap();
        }
        assert_eq!(store.usage(), held(&[("session:1", 10), ("count", 2)]));
        assert!(
            store
                .put_if_absent("jti", b"1", Duration::from_millis(1))
                .await
                .unwrap()
        );
        store.delete("session:1").await.unwrap();
        assert_eq!(store.usage(), held(&[("count", 2), ("jti", 1)]));
        // An expired entry is dropped when read, and then holds nothing.
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(store.get("jti").await.unwrap(), None);
        assert_eq!(store.usage(), held(&[("count", 2)]));
        assert_eq!(
            store.memory_held(),
            Some(held(&[("count", 2)]).bytes as u64)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_sweep_gives_back_the_bytes_of_expired_entries() {
        let store = InProcessStore::new(InProcessOptions {
            max_bytes: 3 * (2 + 100 + ENTRY_OVERHEAD_BYTES),
            ..Default::default()
        });
        for key in ["k1", "k2", "k3"] {
            store
                .put(key, &[1; 100], Duration::from_millis(1))
                .await
                .unwrap();
        }
        tokio::time::advance(Duration::from_millis(5)).await;
        // Full of bytes, all expired: the write sweeps them and fits.
        store.put("k4", &[1; 100], MINUTE).await.unwrap();
        assert_eq!(
            store.usage(),
            InProcessUsage {
                entries: 1,
                bytes: 2 + 100 + ENTRY_OVERHEAD_BYTES
            }
        );
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
