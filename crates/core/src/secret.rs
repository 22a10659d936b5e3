//! Bearer secrets: generated from the OS CSPRNG, shown once, stored as SHA-256 hashes.
//!
//! High-entropy secrets (>= 256 bits) need no slow hash: a SHA-256 lookup key is enough and
//! keeps client authentication and refresh cheap (docs/design.md §3).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Makes unguessable bearer secrets (codes, refresh tokens, client secrets, session ids).
pub trait SecretGenerator: Send + Sync + 'static {
    /// A fresh secret of at least 256 bits, base64url without padding (43 characters).
    fn token(&self) -> String;
}

/// Secrets from the operating system's CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsSecrets;

impl OsSecrets {
    /// 32 random bytes from the OS CSPRNG.
    pub fn token_bytes() -> [u8; 32] {
        let mut bytes = [0u8; 32];
        // The OS CSPRNG failing is not recoverable: no secret may be made without it.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut bytes).expect("the operating system's random number generator failed");
        bytes
    }
}

impl SecretGenerator for OsSecrets {
    fn token(&self) -> String {
        URL_SAFE_NO_PAD.encode(Self::token_bytes())
    }
}

/// The SHA-256 of a bearer secret, base64url-encoded: what the stores keep and look up by.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

/// SHA-256 of `secret` under `label`: a value derived from a secret for one purpose (a key, an
/// id), which is neither the secret's stored hash ([`TokenHash`]) nor any other purpose's.
pub fn labelled_digest(label: &[u8], secret: &str) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(label);
    hasher.update(secret.as_bytes());
    hasher.finalize().into()
}

impl TokenHash {
    pub fn of(raw_secret: &str) -> Self {
        Self(URL_SAFE_NO_PAD.encode(Sha256::digest(raw_secret.as_bytes())))
    }

    /// Rebuilds a hash read back from storage.
    pub fn from_stored(encoded: String) -> Self {
        Self(encoded)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `raw_secret` hashes to this value, compared in constant time.
    pub fn matches(&self, raw_secret: &str) -> bool {
        self.is_same_as(&Self::of(raw_secret))
    }

    /// Whether two hashes are equal, compared in constant time.
    pub fn is_same_as(&self, other: &TokenHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.chars().take(6).collect();
        write!(f, "TokenHash({prefix}…)")
    }
}

/// A secret value that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bits_and_distinct() {
        let a = OsSecrets.token();
        let b = OsSecrets.token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn hashes_match_only_their_secret() {
        // SHA-256("abc") from FIPS 180-2, base64url.
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
        );
        let h = TokenHash::of("s3cret");
        assert!(h.matches("s3cret"));
        assert!(!h.matches("s3cret "));
    }

    #[test]
    fn secrets_and_hashes_do_not_print() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret(<redacted>)"
        );
        let hash = TokenHash::of("x");
        let debug = format!("{hash:?}");
        assert!(!debug.contains(hash.as_str()), "{debug}");
    }
}
