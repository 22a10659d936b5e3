//! Memory of tokens this ring has already verified, so a resource server that introspects the
//! same access token on every API call (or a client calling userinfo) pays for the signature
//! check once, not each time: an ES256 verification costs about 70 µs, a lookup about 1 µs.
//!
//! Why it cannot change an answer:
//!
//! - it lives inside one [`KeyRing`](crate::KeyRing), and a ring is immutable: a key removed
//!   or revoked means a new ring with an empty memory, so a token signed by that key is
//!   verified afresh and refused;
//! - only tokens that verified are remembered, keyed by the SHA-256 of the whole compact
//!   token, so a remembered answer is exactly what verifying again would return;
//! - it answers "is this signature ours", nothing more: expiry, revocation, the client and the
//!   user are still checked by the caller on every request.
//!
//! Bounded: at most [`MAX_ENTRIES`] tokens, each forgotten when its `exp` passes (wall clock)
//! or, with no numeric `exp`, never stored. When full it sheds expired entries, then
//! everything; a flood of distinct tokens therefore costs verifications, never memory.

use palisade_core::ports::VerifiedToken;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Tokens remembered per ring: about 2 KiB each with their parsed claims, so at most ~2 MiB
/// (4,096 made a benchmark flooding distinct tokens peak 3 MiB higher than the 48 MiB budget).
pub const MAX_ENTRIES: usize = 1024;

struct Remembered {
    token: VerifiedToken,
    /// The token's `exp`, in seconds since the epoch.
    expires_at: i64,
}

/// The SHA-256 of a compact token.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn digest(compact: &str) -> TokenDigest {
    Sha256::digest(compact.as_bytes()).into()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[derive(Default)]
pub(crate) struct VerifiedTokens {
    entries: RwLock<HashMap<TokenDigest, Remembered>>,
}

impl VerifiedTokens {
    /// The verification of the token with this digest, if remembered and not yet expired.
    pub(crate) fn recall(&self, digest: &TokenDigest) -> Option<VerifiedToken> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let remembered = entries.get(digest)?;
        (remembered.expires_at > now_secs()).then(|| remembered.token.clone())
    }

    /// Remembers a successful verification until the token's `exp`.
    pub(crate) fn remember(&self, digest: TokenDigest, token: &VerifiedToken) {
        let Some(expires_at) = token.claims.get("exp").and_then(serde_json::Value::as_i64) else {
            return;
        };
        let now = now_secs();
        if expires_at <= now {
            return;
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, r| r.expires_at > now);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            digest,
            Remembered {
                token: token.clone(),
                expires_at,
            },
        );
    }

    pub(crate) fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
