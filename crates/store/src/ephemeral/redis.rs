//! `EphemeralStore` on Redis: shared by every node (docs/design.md §2).
//!
//! Every key gets the store's prefix and a TTL. Atomicity comes from single commands:
//! `SET … NX PX` for put-if-absent, `GETDEL` for take (Redis ≥ 6.2), and one Lua script for
//! increment so the counter and its expiry are set together.
//!
//! Failing fast: every command runs under a timeout (default 1 s) and the connection manager
//! retries a lost connection only briefly, so an outage is `Unavailable` within about a second
//! instead of a hung request. The `ConnectionManager` reconnects in the background, so calls
//! succeed again once Redis is back, without restarting anything. Behind Sentinel, the
//! primary is followed through failovers ([`redis_primary`](super::redis_primary)).

use super::redis_address::RedisAddress;
use super::redis_primary::Primary;
use async_trait::async_trait;
use palisade_core::StoreError;
use palisade_core::ports::{EphemeralStore, HealthCheck, StoreResult};
use redis::aio::ConnectionManagerConfig;
use redis::{Cmd, ErrorKind, FromRedisValue, RedisError, RedisResult, Script, ServerErrorKind};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// `INCR`, and on the first hit (or if the key somehow has no expiry) set the window's TTL.
const INCREMENT_SCRIPT: &str = r"
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
";

/// Timeouts for reaching Redis.
#[derive(Debug, Clone, Copy)]
pub struct RedisOptions {
    /// Upper bound for one command, reconnection waits included.
    pub command_timeout: Duration,
    /// Upper bound for the first connection made by [`RedisStore::connect`].
    pub connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            command_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// Ephemeral store on a single Redis server or the primary that Redis Sentinel names.
/// Clones share the connection.
#[derive(Clone)]
pub struct RedisStore {
    primary: Primary,
    prefix: Arc<str>,
    increment: Arc<Script>,
    command_timeout: Duration,
}

impl fmt::Debug for RedisStore {
    // Not the URL: it may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to `url` (any form [`RedisAddress`] reads); keys are `key_prefix` + key
    /// verbatim (e.g. `palisade:`). `Unavailable` if Redis cannot be reached now; `Internal` if
    /// the URL is malformed.
    pub async fn connect(url: &str, key_prefix: &str) -> StoreResult<Self> {
        Self::connect_with(url, key_prefix, RedisOptions::default()).await
    }

    pub async fn connect_with(
        url: &str,
        key_prefix: &str,
        options: RedisOptions,
    ) -> StoreResult<Self> {
        let address = RedisAddress::parse(url).map_err(|e| StoreError::Internal(Box::new(e)))?;
        Self::connect_to(&address, key_prefix, options).await
    }

    /// Connects to `address`, with its CA file and sentinel password if it has them.
    pub async fn connect_to(
        address: &RedisAddress,
        key_prefix: &str,
        options: RedisOptions,
    ) -> StoreResult<Self> {
        // Few, quick retries: callers have their own timeout and would rather hear
        // `Unavailable` now than wait through a long backoff; the next call retries anyway.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.connect_timeout))
            .set_response_timeout(Some(options.command_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let primary = Primary::connect(address, config, options.connect_timeout).await?;
        Ok(Self {
            primary,
            prefix: key_prefix.into(),
            increment: Arc::new(Script::new(INCREMENT_SCRIPT)),
            command_timeout: options.command_timeout,
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> StoreResult<T> {
        let mut conn = self.primary.connection();
        let answer = tokio::time::timeout(self.command_timeout, cmd.query_async(&mut conn)).await;
        self.settle(answer)
    }

    /// The caller's result; a failure is also reported to the primary, which follows a
    /// failover when one explains it.
    fn settle<T>(
        &self,
        answer: Result<RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> StoreResult<T> {
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.primary.observe_failure(Some(&e));
                Err(classify(e))
            }
            Err(_) => {
                self.primary.observe_failure(None);
                Err(StoreError::Unavailable(
                    "Redis did not answer in time".into(),
                ))
            }
        }
    }
}

/// Redis says "milliseconds ≥ 1"; the in-process store applies the same floor.
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// Anything about reaching Redis, or Redis not serving right now, is `Unavailable`; so is a
/// login it refuses (a password changed under a running node), which fails closed, not 500.
fn classify(e: RedisError) -> StoreError {
    let unavailable = e.is_io_error()
        || e.is_unrecoverable_error()
        || super::redis_primary::is_refused_login(&e)
        || matches!(
            e.kind(),
            ErrorKind::AuthenticationFailed
                | ErrorKind::ClusterConnectionNotFound
                | ErrorKind::Server(
                    ServerErrorKind::BusyLoading
                        | ServerErrorKind::TryAgain
                        | ServerErrorKind::ClusterDown
                        | ServerErrorKind::MasterDown
                        | ServerErrorKind::ReadOnly
                )
        );
    if unavailable {
        StoreError::Unavailable(Box::new(e))
    } else {
        StoreError::Internal(Box::new(e))
    }
}

#[async_trait]
impl HealthCheck for RedisStore {
    async fn ping(&self) -> StoreResult<()> {
        self.query::<String>(redis::cmd("PING"))
            .await
            .map(drop)
            .map_err(|e| match e {
                StoreError::Unavailable(_) => e,
                other => StoreError::Unavailable(Box::new(other)),
            })
    }
}

#[async_trait]
impl EphemeralStore for RedisStore {
    async fn key_count(&self) -> StoreResult<Option<u64>> {
        let pattern = format!("{}*", self.prefix);
        let (mut cursor, mut count) = (0u64, 0u64);
        loop {
            let mut cmd = redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let (next, keys): (u64, Vec<Vec<u8>>) = self.query(cmd).await?;
            count += keys.len() as u64;
            if next == 0 {
                return Ok(Some(count));
            }
            cursor = next;
        }
    }

    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ttl_millis(ttl));
        self.query::<()>(cmd).await
    }

    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl_millis(ttl));
        // "OK" when set, nil when the key exists.
        Ok(self.query::<Option<String>>(cmd).await?.is_some())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(key));
        self.query(cmd).await
    }

    async fn get_many(&self, keys: &[&str]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        // MGET with no key is a Redis error, not an empty answer.
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        let values: Vec<Option<Vec<u8>>> = self.query(cmd).await?;
        if values.len() != keys.len() {
            return Err(StoreError::Internal(
                format!("MGET of {} keys answered {}", keys.len(), values.len()).into(),
            ));
        }
        Ok(values)
    }

    async fn take(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.key(key));
        self.query(cmd).await
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.key(key));
        self.query::<()>(cmd).await
    }

    async fn increment(&self, key: &str, ttl: Duration) -> StoreResult<u64> {
        let mut invocation = self.increment.key(self.key(key));
        invocation.arg(ttl_millis(ttl));
        let mut conn = self.primary.connection();
        let answer =
            tokio::time::timeout(self.command_timeout, invocation.invoke_async(&mut conn)).await;
        let count: i64 = self.settle(answer)?;
        u64::try_from(count).map_err(|_| {
            StoreError::Internal(format!("counter at {key:?} went negative ({count})").into())
        })
    }
}
