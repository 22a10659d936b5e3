//! The password hasher: argon2id ([`super::argon2id`]) behind the admission of
//! [`super::admission`], and the policy of [`super::policy`] for new passwords.

use super::PasswordError;
use super::admission::Admission;
use super::argon2id::{Argon2Settings, Verification, check_stored_cost, hash_with, verify_with};
use super::policy::{check_new_password, is_too_long};
use super::slots::HashingSlots;
use argon2::Params;
use argon2::password_hash::phc;
use palisade_core::model::PasswordHash;
use palisade_core::secret::Secret;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::OwnedSemaphorePermit;

/// Hashes and verifies passwords on dedicated low-priority threads with a bound on concurrent
/// work.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// [`HashPermit`]s and the queue of callers waiting for one.
    pub(super) admission: Admission,
    /// argon2 computations started (hashes and verifications, dummy ones included), so tests
    /// and metrics can count the work an attack made us do.
    verifications: Arc<AtomicU64>,
    /// A real hash of a random password, verified against when the account is unknown, so that
    /// "no such user" costs the same as "wrong password".
    dummy_hash: Arc<str>,
    /// The hashing threads; they stop when the last clone of the hasher is dropped.
    slots: Arc<HashingSlots>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("queue_limit", &self.admission.queue_limit)
            .finish_non_exhaustive()
    }
}

/// A place among the logins being decided or hashed. Holding it lets a caller decide (check a
/// lock, reserve an attempt) knowing the verification will not be refused for lack of capacity
/// afterwards: it may wait briefly for a hashing slot, never be turned away.
pub struct HashPermit {
    hasher: PasswordHasher,
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for HashPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashPermit")
    }
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` argon2 computations at once, on as many hashing
    /// threads started here, with twice as many permits and a queue of twice that many waiters.
    pub fn new(settings: Argon2Settings, concurrency: usize) -> Result<Self, PasswordError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| PasswordError::InvalidSettings(e.to_string()))?;
        let dummy = hash_with(
            &params,
            palisade_core::OsSecrets::token_bytes().as_slice(),
            &mut Vec::new(),
        )?;
        let concurrency = concurrency.max(1);
        Ok(Self {
            params,
            admission: Admission::new(concurrency),
            verifications: Arc::new(AtomicU64::new(0)),
            dummy_hash: dummy.0.into(),
            slots: Arc::new(HashingSlots::start(concurrency)?),
        })
    }

    /// Sets how many callers may wait for a permit (0: refuse as soon as every permit is held).
    pub fn with_queue(mut self, queue_limit: usize) -> Self {
        self.admission.queue_limit = queue_limit;
        self
    }

    /// How many argon2 verifications have run (or started) since start-up, dummy ones included.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Acquire)
    }

    /// Takes a permit: at once if one is free, else after waiting in the bounded queue for at
    /// most [`QUEUE_WAIT`](super::QUEUE_WAIT); `Saturated` when the queue is full or the wait
    /// runs out.
    pub async fn permit(&self) -> Result<HashPermit, PasswordError> {
        Ok(HashPermit {
            hasher: self.clone(),
            _permit: self.admission.enter().await?,
        })
    }

    /// Hashes a new password: the policy first ([`check_new_password`]), then argon2id.
    pub async fn hash(&self, password: &Secret) -> Result<PasswordHash, PasswordError> {
        check_new_password(password)?;
        self.permit().await?.hash_unchecked(password).await
    }

    /// Hashes an already-accepted password with the current parameters (no policy check: it
    /// is the user's existing password being upgraded, not a new one).
    pub async fn hash_for_rehash(&self, password: &Secret) -> Result<PasswordHash, PasswordError> {
        self.permit().await?.hash_unchecked(password).await
    }

    /// Verifies a password. Over-long input is a mismatch without hashing (and without
    /// waiting for a slot).
    pub async fn verify(
        &self,
        password: &Secret,
        stored: &PasswordHash,
    ) -> Result<Verification, PasswordError> {
        if is_too_long(password) {
            return Ok(Verification::Mismatch);
        }
        self.permit().await?.verify(password, stored).await
    }

    /// Spends the same effort as a real verification and always fails; for unknown accounts.
    pub async fn verify_dummy(&self, password: &Secret) -> Result<Verification, PasswordError> {
        if is_too_long(password) {
            return Ok(Verification::Mismatch);
        }
        self.permit().await?.verify_dummy(password).await
    }
}

impl HashPermit {
    /// Verifies `password` against `stored` on a hashing thread. Over-long input is a mismatch
    /// without hashing.
    pub async fn verify(
        &self,
        password: &Secret,
        stored: &PasswordHash,
    ) -> Result<Verification, PasswordError> {
        if is_too_long(password) {
            return Ok(Verification::Mismatch);
        }
        let parsed = phc::PasswordHash::new(&stored.0)
            .map_err(|e| PasswordError::Internal(format!("stored hash is not PHC: {e}")))?;
        let stored_params = Params::try_from(&parsed)
            .map_err(|e| PasswordError::OutOfPolicy(format!("unreadable parameters: {e}")))?;
        check_stored_cost(&self.hasher.params, &stored_params)?;
        let params = self.hasher.params.clone();
        let password = password.clone();
        let stored = stored.0.clone();
        self.hasher.verifications.fetch_add(1, Ordering::AcqRel);
        self.hasher
            .slots
            .run(move |blocks| verify_with(&params, password.expose().as_bytes(), &stored, blocks))
            .await
    }

    /// The dummy verification for unknown or disabled accounts: same cost, never a match.
    pub async fn verify_dummy(&self, password: &Secret) -> Result<Verification, PasswordError> {
        let dummy = PasswordHash(self.hasher.dummy_hash.to_string());
        self.verify(password, &dummy)
            .await
            .map(|_| Verification::Mismatch)
    }

    /// Hashes with the current parameters, without the new-password policy (for rehashing a
    /// password that just verified).
    pub async fn hash_unchecked(&self, password: &Secret) -> Result<PasswordHash, PasswordError> {
        if is_too_long(password) {
            return Err(PasswordError::TooLong);
        }
        let params = self.hasher.params.clone();
        let password = password.clone();
        self.hasher
            .slots
            .run(move |blocks| hash_with(&params, password.expose().as_bytes(), blocks))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::MAX_PASSWORD_CHARS;
    use crate::password::tests::cheap;
    use argon2::{Algorithm, Argon2, Version};

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

    /// Hashes made by the argon2 crate's own hasher (as earlier versions stored them) verify
    /// here, and ours verify there.
    #[tokio::test]
    async fn hashes_interoperate_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        let params = hasher.params.clone();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"interop password")
            .unwrap()
            .to_string();
        assert_eq!(
            hasher
                .verify(
                    &Secret::new("interop password"),
                    &PasswordHash(theirs.clone())
                )
                .await
                .unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        let ours = hasher.hash(&Secret::new("interop password")).await.unwrap();
        let parsed = phc::PasswordHash::new(&ours.0).unwrap();
        assert!(
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .verify_password(b"interop password", &parsed)
                .is_ok()
        );
        // An argon2i hash verifies too, and asks to be rehashed as argon2id.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, hasher.params.clone())
            .hash_password(b"interop password")
            .unwrap()
            .to_string();
        assert_eq!(
            hasher
                .verify(&Secret::new("interop password"), &PasswordHash(argon2i))
                .await
                .unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    /// One thread's buffer serves computations of different sizes, larger then smaller then
    /// larger, and every result is still right. (That memory stays bounded is now structural:
    /// one buffer per hashing thread, owned by it; slots.rs tests the thread count.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reused_working_memory_gives_the_same_answers() {
        let mut bigger = cheap();
        bigger.memory_kib *= 4;
        let big = PasswordHasher::new(bigger, 2).unwrap();
        let small = PasswordHasher::new(cheap(), 2).unwrap();
        let small_hash = small.hash(&Secret::new("small password")).await.unwrap();
        let big_hash = big.hash(&Secret::new("big password")).await.unwrap();
        let (big_password, small_password, wrong) = (
            Secret::new("big password"),
            Secret::new("small password"),
            Secret::new("big passworD"),
        );
        for _ in 0..3 {
            let (a, b, c, d) = tokio::join!(
                big.verify(&big_password, &big_hash),
                big.verify(&small_password, &small_hash),
                big.verify(&wrong, &big_hash),
                big.verify(&small_password, &small_hash),
            );
            for matched in [a, b, d] {
                assert!(matches!(matched.unwrap(), Verification::Match { .. }));
            }
            assert_eq!(c.unwrap(), Verification::Mismatch);
        }
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

    #[tokio::test]
    async fn verifications_are_counted_but_over_long_input_costs_none() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        let hash = hasher.hash(&Secret::new("long enough")).await.unwrap();
        let before = hasher.verifications();
        hasher
            .verify(&Secret::new("long enougH"), &hash)
            .await
            .unwrap();
        hasher.verify_dummy(&Secret::new("whatever")).await.unwrap();
        assert_eq!(hasher.verifications(), before + 2);
        let huge = Secret::new("x".repeat(2000));
        hasher.verify(&huge, &hash).await.unwrap();
        hasher.verify_dummy(&huge).await.unwrap();
        assert_eq!(hasher.verifications(), before + 2);
    }

    #[tokio::test]
    async fn a_stored_hash_asking_for_absurd_cost_is_refused_unverified() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        // A PHC string claiming 4 GiB and 100 passes (docs/threat-model.md LF-06); never computed.
        let planted = PasswordHash(
            "$argon2id$v=19$m=4194304,t=100,p=64$c29tZXNhbHRzb21lc2FsdA$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTY".into(),
        );
        let before = hasher.verifications();
        assert!(matches!(
            hasher.verify(&Secret::new("long enough"), &planted).await,
            Err(PasswordError::OutOfPolicy(_))
        ));
        assert_eq!(hasher.verifications(), before);
    }
}
