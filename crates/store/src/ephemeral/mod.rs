//! The `EphemeralStore` port: short-lived shared state (codes, sessions, counters, replay
//! caches). [`RedisStore`](redis::RedisStore) for production and several nodes,
//! [`InProcessStore`] for the embedded single-node default.

pub mod in_process;
pub mod redis;
pub mod redis_address;
mod redis_primary;

use in_process::{InProcessOptions, InProcessStore};
use palisade_core::ports::{EphemeralStore, StoreResult};
use redis_address::RedisAddress;
use std::sync::Arc;

/// Redis when an address is configured (`Unavailable` if it cannot be reached now, so a node
/// never starts on a store it cannot use), otherwise an in-process store within `in_process`'s
/// bounds (the prefix does not apply in process).
pub async fn open_ephemeral(
    redis: Option<&RedisAddress>,
    key_prefix: &str,
    in_process: InProcessOptions,
) -> StoreResult<Arc<dyn EphemeralStore>> {
    match redis {
        Some(address) => Ok(Arc::new(
            redis::RedisStore::connect_to(address, key_prefix, redis::RedisOptions::default())
                .await?,
        )),
        None => Ok(Arc::new(InProcessStore::new(in_process))),
    }
}
