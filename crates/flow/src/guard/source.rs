//! Limits per source: events counted per client IP and per IP prefix (/24 for IPv4, /64 for
//! IPv6) in a sliding window, in the ephemeral store so every node sees the same numbers. NIST
//! SP 800-63B §5.2.2; RFC 6585 §4 (`429 Too Many Requests`), RFC 9110 §10.2.3 (`Retry-After`).
//!
//! A [`SourceLimiter`] is one such limit under one key prefix: the credential guard keeps one
//! per [`super::CredentialKind`] (`guard:login`, `guard:client`, `guard:registration`) for
//! failed checks, and anything else worth limiting per source takes a prefix of its own.

use super::window::{WindowPosition, parse_count};
use palisade_core::Clock;
use palisade_core::ports::{EphemeralStore, StoreError, StoreResult};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Over a limit: answer `429 Too Many Requests` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds for `Retry-After` (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }

    /// Whole minutes for a message to a person (at least 1).
    pub fn retry_after_minutes(&self) -> u64 {
        self.retry_after_secs().div_ceil(60)
    }
}

/// How many events one source may cause per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimit {
    pub window_secs: u64,
    /// Events allowed from one IP address per window.
    pub per_ip: u64,
    /// Events allowed from one /24 (IPv4) or /64 (IPv6) per window.
    pub per_prefix: u64,
}

/// One per-source limit, its counters under `key_prefix` in the ephemeral store. Cheap to
/// clone (ports behind `Arc`). Every store failure is an error, never a pass.
#[derive(Clone)]
pub struct SourceLimiter {
    key_prefix: String,
    limit: SourceLimit,
    ephemeral: Arc<dyn EphemeralStore>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for SourceLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceLimiter")
            .field("key_prefix", &self.key_prefix)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl SourceLimiter {
    /// A limiter whose counters are the keys `{key_prefix}:ip:{ip}:{window}` and
    /// `{key_prefix}:net:{prefix}:{window}`; limiters with different prefixes count apart.
    pub fn new(
        key_prefix: impl Into<String>,
        limit: SourceLimit,
        ephemeral: Arc<dyn EphemeralStore>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            key_prefix: key_prefix.into(),
            limit,
            ephemeral,
            clock,
        }
    }

    /// Whether `ip` (or its prefix) has used up its limit: `Some` with how long until it has
    /// not. Counts nothing.
    pub async fn check(&self, ip: IpAddr) -> StoreResult<Option<Throttled>> {
        Ok(self.check_reading(Some(ip), &[]).await?.0)
    }

    /// [`Self::check`], also reading `also_read` in the same round trip to the store; their
    /// values come back in order. Without an address nothing is limited, but the keys are
    /// still read.
    pub async fn check_reading(
        &self,
        ip: Option<IpAddr>,
        also_read: &[&str],
    ) -> StoreResult<(Option<Throttled>, Vec<Option<Vec<u8>>>)> {
        let Some(ip) = ip else {
            let read = if also_read.is_empty() {
                Vec::new()
            } else {
                self.ephemeral.get_many(also_read).await?
            };
            return Ok((None, read));
        };
        let position = self.position();
        let counters = self.counters(ip);
        // Every counter in one read: this runs before each client authentication.
        let keys: Vec<String> = counters
            .iter()
            .flat_map(|(base, _)| position.current_and_previous_keys(base))
            .collect();
        let key_refs: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .chain(also_read.iter().copied())
            .collect();
        let mut values = self.ephemeral.get_many(&key_refs).await?;
        // The stores promise one value per key; a short answer must fail, not pass as "no
        // revocation marker" for the keys read ahead.
        if values.len() != key_refs.len() {
            return Err(StoreError::Internal(
                "the store answered a different number of keys than asked".into(),
            ));
        }
        let read = values.split_off(keys.len());
        let counts: Vec<u64> = values
            .iter()
            .map(|value| parse_count(value.as_deref()))
            .collect();
        let limits = counters.iter().map(|(_, limit)| *limit);
        Ok((
            throttled(position, limits.zip(counts.chunks_exact(2))),
            read,
        ))
    }

    /// Counts one event against `ip` and its prefix.
    pub async fn record(&self, ip: IpAddr) -> StoreResult<()> {
        let position = self.position();
        for (base, _) in self.counters(ip) {
            self.ephemeral
                .increment(&position.current_key(&base), position.key_ttl())
                .await?;
        }
        Ok(())
    }

    /// Admits one event from `ip` if it and its prefix are under their limits, counting it;
    /// refuses it, uncounted, otherwise: for limiting an action itself, where every admitted
    /// attempt counts (not only failures). A refused flood costs one read per request, and its
    /// source is let back in as the window slides. Read and count are two steps, so concurrent
    /// events may overshoot the limit by how many run at once.
    pub async fn admit(&self, ip: IpAddr) -> StoreResult<Option<Throttled>> {
        let (throttled, _) = self.check_reading(Some(ip), &[]).await?;
        if throttled.is_none() {
            self.record(ip).await?;
        }
        Ok(throttled)
    }

    fn position(&self) -> WindowPosition {
        WindowPosition::at(self.clock.now(), self.limit.window_secs)
    }

    /// The two counters of `ip` (its own, its prefix's), each with its limit.
    fn counters(&self, ip: IpAddr) -> [(String, u64); 2] {
        let ip = ip.to_canonical();
        [
            (format!("{}:ip:{ip}", self.key_prefix), self.limit.per_ip),
            (
                format!("{}:net:{}", self.key_prefix, prefix_of(ip)),
                self.limit.per_prefix,
            ),
        ]
    }
}

/// The longest wait among the counters at or over their limit, given each counter's limit and
/// its `[current, previous]` window counts.
fn throttled<'a>(
    position: WindowPosition,
    counters: impl Iterator<Item = (u64, &'a [u64])>,
) -> Option<Throttled> {
    let mut worst: Option<Throttled> = None;
    for (limit, pair) in counters {
        let (current, previous) = (pair[0], pair[1]);
        if position.estimate(current, previous) >= limit {
            let retry_after = position.time_until_below(limit, current, previous);
            if worst.is_none_or(|w| w.retry_after < retry_after) {
                worst = Some(Throttled { retry_after });
            }
        }
    }
    worst
}

/// The network an address belongs to for the prefix limit: /24 for IPv4, /64 for IPv6 (one
/// customer's allocation, so rotating through its addresses does not escape the limit).
pub fn prefix_of(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::ManualClock;

    #[test]
    fn prefixes_are_slash_24_and_slash_64() {
        let cases = [
            ("203.0.113.77", "203.0.113.0/24"),
            ("::ffff:203.0.113.77", "203.0.113.0/24"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("::1", "::/64"),
        ];
        for (ip, prefix) in cases {
            assert_eq!(prefix_of(ip.parse().unwrap()), prefix, "{ip}");
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn admit_counts_admitted_events_per_address_and_per_prefix_until_the_windows_pass() {
        let (store, _cleanup) = palisade_store::testing::ephemeral_store().await;
        let clock = Arc::new(ManualClock::starting_now());
        let limit = SourceLimit {
            window_secs: 60,
            per_ip: 2,
            per_prefix: 3,
        };
        let limiter = SourceLimiter::new("test:admit", limit, store.clone(), clock.clone());

        for _ in 0..2 {
            assert_eq!(limiter.admit(ip("192.0.2.1")).await.unwrap(), None);
        }
        let refused = limiter.admit(ip("192.0.2.1")).await.unwrap();
        assert!(refused.is_some(), "{refused:?}");
        assert!(limiter.check(ip("192.0.2.1")).await.unwrap().is_some());
        // The refused event was not counted: a neighbour still has the prefix's last place.
        assert_eq!(limiter.admit(ip("192.0.2.2")).await.unwrap(), None);
        assert!(limiter.admit(ip("192.0.2.3")).await.unwrap().is_some());
        // Another network, and another limiter's prefix on the same address, count apart.
        assert_eq!(limiter.admit(ip("198.51.100.1")).await.unwrap(), None);
        let other = SourceLimiter::new("test:other", limit, store, clock.clone());
        assert_eq!(other.admit(ip("192.0.2.1")).await.unwrap(), None);

        // Two windows later nothing is remembered.
        clock.advance(chrono::Duration::seconds(120));
        assert_eq!(limiter.check(ip("192.0.2.1")).await.unwrap(), None);
        assert_eq!(limiter.admit(ip("192.0.2.1")).await.unwrap(), None);
    }

    #[tokio::test]
    async fn record_counts_and_check_refuses_at_the_limit_with_the_time_left() {
        let (store, _cleanup) = palisade_store::testing::ephemeral_store().await;
        let clock = Arc::new(ManualClock::starting_now());
        let limit = SourceLimit {
            window_secs: 60,
            per_ip: 3,
            per_prefix: 10,
        };
        let limiter = SourceLimiter::new("test:record", limit, store, clock);
        let source = ip("2001:db8::7");
        for _ in 0..3 {
            assert_eq!(limiter.check(source).await.unwrap(), None);
            limiter.record(source).await.unwrap();
        }
        let throttled = limiter.check(source).await.unwrap().unwrap();
        assert!(
            (1..=120).contains(&throttled.retry_after_secs()),
            "{throttled:?}"
        );
    }
}
