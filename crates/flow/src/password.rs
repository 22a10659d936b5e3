//! Password hashing with argon2id (RFC 9106; OWASP Password Storage Cheat Sheet parameters).
//!
//! Hashing costs ~30 ms of one core, so it never runs on an async worker: every hash and
//! verification goes to tokio's blocking pool, at most `concurrency` at a time.

use argon2::password_hash::phc;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use palisade_core::model::PasswordHash;
use palisade_core::secret::Secret;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The OWASP minimum for argon2id: 19 MiB, two passes, one lane.
pub const OWASP_MIN_MEMORY_KIB: u32 = 19_456;
pub const OWASP_MIN_ITERATIONS: u32 = 2;

/// Passwords shorter than this are refused when set (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer passwords are refused before hashing, so nobody can make the server hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: OWASP_MIN_MEMORY_KIB,
            iterations: OWASP_MIN_ITERATIONS,
            parallelism: 1,
        }
    }
}

impl Argon2Settings {
    /// Whether these settings meet the OWASP minimum (m >= 19 MiB with t >= 2).
    pub fn meets_owasp_minimum(&self) -> bool {
        self.memory_kib >= OWASP_MIN_MEMORY_KIB && self.iterations >= OWASP_MIN_ITERATIONS
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("invalid argon2 parameters: {0}")]
    InvalidSettings(String),
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Checks a new password against the length rules; the common-password list comes on top.
pub fn check_new_password(password: &Secret) -> Result<(), PasswordError> {
    let chars = password.expose().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right. `needs_rehash` when the stored hash used other parameters.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

/// Hashes and verifies passwords on the blocking pool with a bound on concurrent work.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A real hash of a random password, verified against when the account is unknown, so that
    /// "no such user" costs the same as "wrong password".
    dummy_hash: Arc<str>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    pub fn new(settings: Argon2Settings, concurrency: usize) -> Result<Self, PasswordError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| PasswordError::InvalidSettings(e.to_string()))?;
        let dummy = hash_with(&params, palisade_core::OsSecrets::token_bytes().as_slice())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy.0.into(),
        })
    }

    /// Hashes a password (checking its length first).
    pub async fn hash(&self, password: &Secret) -> Result<PasswordHash, PasswordError> {
        check_new_password(password)?;
        let params = self.params.clone();
        let password = password.clone();
        self.on_blocking_pool(move || hash_with(&params, password.expose().as_bytes()))
            .await
    }

    /// Hashes an already-accepted password with the current parameters (no policy check: it
    /// is the user's existing password being upgraded, not a new one).
    pub async fn hash_for_rehash(&self, password: &Secret) -> Result<PasswordHash, PasswordError> {
        let params = self.params.clone();
        let password = password.clone();
        self.on_blocking_pool(move || hash_with(&params, password.expose().as_bytes()))
            .await
    }

    /// Verifies a password. Over-long input is a mismatch without hashing.
    pub async fn verify(
        &self,
        password: &Secret,
        stored: &PasswordHash,
    ) -> Result<Verification, PasswordError> {
        if password.expose().chars().count() > MAX_PASSWORD_CHARS {
            return Ok(Verification::Mismatch);
        }
        let params = self.params.clone();
        let password = password.clone();
        let stored = stored.0.clone();
        self.on_blocking_pool(move || verify_with(&params, password.expose().as_bytes(), &stored))
            .await
    }

    /// Spends the same effort as a real verification and always fails; for unknown accounts.
    pub async fn verify_dummy(&self, password: &Secret) -> Result<Verification, PasswordError> {
        let dummy = PasswordHash(self.dummy_hash.to_string());
        self.verify(password, &dummy)
            .await
            .map(|_| Verification::Mismatch)
    }

    async fn on_blocking_pool<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?
    }
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_with(params: &Params, password: &[u8]) -> Result<PasswordHash, PasswordError> {
    argon2id(params)
        .hash_password(password)
        .map(|h| PasswordHash(h.to_string()))
        .map_err(|e| PasswordError::Internal(e.to_string()))
}

fn verify_with(
    params: &Params,
    password: &[u8],
    stored: &str,
) -> Result<Verification, PasswordError> {
    let parsed = phc::PasswordHash::new(stored)
        .map_err(|e| PasswordError::Internal(format!("stored hash is not PHC: {e}")))?;
    // Verify with the parameters the hash was made with, whatever the current settings.
    match argon2id(params).verify_password(password, &parsed) {
        Ok(()) => {
            let same_params = Params::try_from(&parsed).is_ok_and(|p| {
                p.m_cost() == params.m_cost()
                    && p.t_cost() == params.t_cost()
                    && p.p_cost() == params.p_cost()
            });
            let needs_rehash = parsed.algorithm.as_str() != "argon2id" || !same_params;
            Ok(Verification::Match { needs_rehash })
        }
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verification::Mismatch),
        Err(e) => Err(PasswordError::Internal(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Settings {
        // Small parameters keep the unit tests fast; the production defaults are tested once.
        Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hasher = PasswordHasher::new(Argon2Settings::default(), 2).unwrap();
        let hash = hasher.hash(&Secret::new("correct horse")).await.unwrap();
        assert!(
            hash.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.0
        );
        assert_eq!(
            hasher
                .verify(&Secret::new("correct horse"), &hash)
                .await
                .unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            hasher
                .verify(&Secret::new("correct horsE"), &hash)
                .await
                .unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn a_hash_made_with_other_parameters_still_verifies_but_asks_for_a_rehash() {
        let old = PasswordHasher::new(cheap(), 1).unwrap();
        let hash = old.hash(&Secret::new("password-1")).await.unwrap();
        let mut newer = cheap();
        newer.iterations = 2;
        let current = PasswordHasher::new(newer, 1).unwrap();
        assert_eq!(
            current
                .verify(&Secret::new("password-1"), &hash)
                .await
                .unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn length_rules_apply_before_hashing() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        assert!(matches!(
            hasher.hash(&Secret::new("short")).await,
            Err(PasswordError::TooShort)
        ));
        let huge = Secret::new("x".repeat(MAX_PASSWORD_CHARS + 1));
        assert!(matches!(
            hasher.hash(&huge).await,
            Err(PasswordError::TooLong)
        ));
        let hash = hasher.hash(&Secret::new("long enough")).await.unwrap();
        assert_eq!(
            hasher.verify(&huge, &hash).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn the_dummy_verification_never_matches() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        assert_eq!(
            hasher.verify_dummy(&Secret::new("anything")).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn owasp_minimum_is_enforced_by_the_predicate() {
        assert!(Argon2Settings::default().meets_owasp_minimum());
        assert!(!cheap().meets_owasp_minimum());
    }
}
