//! Password hashing with argon2id (RFC 9106; OWASP Password Storage Cheat Sheet parameters).
//!
//! Hashing costs ~25 ms of one core, so it never runs on an async worker: every hash and
//! verification goes to tokio's blocking pool, at most `concurrency` at a time (the hashing
//! slots). A login first takes a [`HashPermit`], a place among the logins being decided or
//! hashed: twice as many as there are slots, so that a slot that finishes one computation
//! finds the next one ready instead of idling through its caller's lock checks and database
//! round trips. Callers beyond that wait in a short, bounded queue (at most `queue` callers,
//! each at most [`QUEUE_WAIT`]); past it the caller gets [`PasswordError::Saturated`] at once
//! and answers 503 + `Retry-After`, so a login flood costs memory for a few queued requests,
//! not for every one (OWASP Password Storage Cheat Sheet, "denial of service"; docs/threat-model.md
//! LF-06).
//!
//! argon2's working memory (19 MiB per computation at the defaults) is allocated once per
//! hashing slot and reused ([`WorkingMemory`]). Allocated per computation, it came from
//! whichever blocking thread ran it, and the C allocator kept a freed 19 MiB block in each
//! thread's arena: a login benchmark reached 556 MiB of resident memory, and every
//! computation on a new thread paid to fault in 19 MiB of fresh pages. Kept, memory is bounded
//! by `concurrency` x the memory cost.
//!
//! New passwords follow NIST SP 800-63B §5.1.1.2: at least 8 characters, at most 1024, and not
//! one of the 10,000 most common passwords ([`is_common_password`]).

use argon2::password_hash::phc::{self, Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use palisade_core::model::PasswordHash;
use palisade_core::secret::Secret;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The OWASP minimum for argon2id: 19 MiB, two passes, one lane.
pub const OWASP_MIN_MEMORY_KIB: u32 = 19_456;
pub const OWASP_MIN_ITERATIONS: u32 = 2;

/// Passwords shorter than this are refused when set (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer passwords are refused before hashing, so nobody can make the server hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// How long a caller may wait in the queue for a permit before it is told to come back.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);
/// What `Retry-After` says when the pool is saturated: one verification's worth of patience.
pub const SATURATED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A stored hash may cost at most this many times the configured memory or passes (and never
/// less than these floors) before we refuse to verify it: a planted `m=4194304,t=100` row must
/// not let one login pin a core and 4 GiB (docs/threat-model.md LF-06).
const STORED_COST_FACTOR: u32 = 4;
const STORED_MEMORY_FLOOR_KIB: u32 = 256 * 1024;
const STORED_ITERATIONS_FLOOR: u32 = 16;
const STORED_PARALLELISM_FLOOR: u32 = 16;

/// The 10,000 most common passwords, lower-cased (see the header of the file for its source).
const COMMON_PASSWORDS_FILE: &str = include_str!("../data/common-passwords.txt");

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_FILE
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Whether `password` is on the common-password list. Case-insensitive: `Dragon` is as
/// guessable as `dragon` (the list itself is lower-cased).
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

/// How many entries the common-password list holds (for docs and tests).
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

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
    #[error("this password is one of the 10,000 most common; choose another")]
    Common,
    #[error("invalid argon2 parameters: {0}")]
    InvalidSettings(String),
    /// Every permit is held and the queue is full (or the wait ran out): try again later.
    #[error("password hashing is saturated; retry later")]
    Saturated,
    /// The stored hash asks for more work than policy allows; it is not verified.
    #[error("stored password hash is out of policy: {0}")]
    OutOfPolicy(String),
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// Checks the length rules only: what every stored password, old or new, satisfies.
pub fn check_password_length(password: &Secret) -> Result<(), PasswordError> {
    let chars = password.expose().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// The policy for a password being set (`user add`, `user passwd`, admin reset): the length
/// rules and the common-password list (NIST SP 800-63B §5.1.1.2).
pub fn check_new_password(password: &Secret) -> Result<(), PasswordError> {
    check_password_length(password)?;
    if is_common_password(password.expose()) {
        return Err(PasswordError::Common);
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

/// How many permits there are per hashing slot: one computing, one getting ready.
const PERMITS_PER_SLOT: usize = 2;

/// Hashes and verifies passwords on the blocking pool with a bound on concurrent work.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// [`HashPermit`]s: `PERMITS_PER_SLOT` x the hashing slots.
    permits: Arc<Semaphore>,
    /// How many callers may wait for a permit at once.
    queue_limit: usize,
    waiting: Arc<AtomicUsize>,
    /// argon2 computations started (hashes and verifications, dummy ones included), so tests
    /// and metrics can count the work an attack made us do.
    verifications: Arc<AtomicU64>,
    /// A real hash of a random password, verified against when the account is unknown, so that
    /// "no such user" costs the same as "wrong password".
    dummy_hash: Arc<str>,
    memory: Arc<WorkingMemory>,
}

/// The hashing slots and their argon2 working memory, kept between computations: at most one
/// buffer per slot, each as large as the largest computation it served.
struct WorkingMemory {
    slots: Arc<Semaphore>,
    spare: Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

impl WorkingMemory {
    fn new(slots: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            spare: Mutex::new(Vec::new()),
            keep: slots,
        }
    }

    fn take(&self) -> Vec<Block> {
        self.spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, blocks: Vec<Block>) {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.len() < self.keep {
            spare.push(blocks);
        }
    }

    /// Runs `work` on the blocking pool in a hashing slot, with a buffer of this memory. The
    /// wait for a slot is unbounded: only permit holders get here, at most
    /// `PERMITS_PER_SLOT` per slot.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| PasswordError::Internal(e.to_string()))?;
        let memory = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // Held until the computation ends, even if the caller stopped waiting for it.
            let _slot = slot;
            let mut blocks = memory.take();
            let outcome = work(&mut blocks);
            memory.give_back(blocks);
            outcome
        })
        .await
        .map_err(|e| PasswordError::Internal(e.to_string()))?
    }
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .field("queue_limit", &self.queue_limit)
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

/// Decrements the waiting count however the wait ends (including the request being dropped).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` argon2 computations at once, with twice as many
    /// permits and a queue of twice that many waiters.
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
            permits: Arc::new(Semaphore::new(concurrency.saturating_mul(PERMITS_PER_SLOT))),
            queue_limit: concurrency.saturating_mul(2),
            waiting: Arc::new(AtomicUsize::new(0)),
            verifications: Arc::new(AtomicU64::new(0)),
            dummy_hash: dummy.0.into(),
            memory: Arc::new(WorkingMemory::new(concurrency)),
        })
    }

    /// Sets how many callers may wait for a permit (0: refuse as soon as every permit is held).
    pub fn with_queue(mut self, queue_limit: usize) -> Self {
        self.queue_limit = queue_limit;
        self
    }

    /// How many argon2 verifications have run (or started) since start-up, dummy ones included.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Acquire)
    }

    /// Takes a permit: at once if one is free, else after waiting in the bounded queue for at
    /// most [`QUEUE_WAIT`]; `Saturated` when the queue is full or the wait runs out.
    pub async fn permit(&self) -> Result<HashPermit, PasswordError> {
        let wrap = |permit| HashPermit {
            hasher: self.clone(),
            _permit: permit,
        };
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => return Ok(wrap(permit)),
            Err(tokio::sync::TryAcquireError::Closed) => {
                return Err(PasswordError::Internal("the hashing pool is closed".into()));
            }
            Err(tokio::sync::TryAcquireError::NoPermits) => {}
        }
        // Join the queue only if there is room; the count is checked and taken in one step.
        let joined = self
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.queue_limit).then_some(n + 1)
            })
            .is_ok();
        if !joined {
            return Err(PasswordError::Saturated);
        }
        let _waiting = Waiting(self.waiting.clone());
        match tokio::time::timeout(QUEUE_WAIT, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(wrap(permit)),
            Ok(Err(e)) => Err(PasswordError::Internal(e.to_string())),
            Err(_) => Err(PasswordError::Saturated),
        }
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

    /// Whether a stored hash may be verified under the current policy.
    fn check_stored_cost(&self, parsed: &Params) -> Result<(), PasswordError> {
        let ceiling =
            |current: u32, floor: u32| current.saturating_mul(STORED_COST_FACTOR).max(floor);
        let too_much = parsed.m_cost() > ceiling(self.params.m_cost(), STORED_MEMORY_FLOOR_KIB)
            || parsed.t_cost() > ceiling(self.params.t_cost(), STORED_ITERATIONS_FLOOR)
            || parsed.p_cost() > ceiling(self.params.p_cost(), STORED_PARALLELISM_FLOOR);
        if too_much {
            return Err(PasswordError::OutOfPolicy(format!(
                "m={},t={},p={}",
                parsed.m_cost(),
                parsed.t_cost(),
                parsed.p_cost()
            )));
        }
        Ok(())
    }
}

impl HashPermit {
    /// Verifies `password` against `stored` on the blocking pool. Over-long input is a mismatch
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
        self.hasher.check_stored_cost(&stored_params)?;
        let params = self.hasher.params.clone();
        let password = password.clone();
        let stored = stored.0.clone();
        self.hasher.verifications.fetch_add(1, Ordering::AcqRel);
        self.hasher
            .memory
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
            .memory
            .run(move |blocks| hash_with(&params, password.expose().as_bytes(), blocks))
            .await
    }
}

/// Whether a presented password is over [`MAX_PASSWORD_CHARS`]: such input is refused (or
/// fails to verify) without being hashed.
pub fn is_too_long(password: &Secret) -> bool {
    // Bytes first: a string of more than 4 x MAX bytes has more than MAX characters, and
    // counting characters of a megabyte is the work we are avoiding.
    let bytes = password.expose().len();
    bytes > MAX_PASSWORD_CHARS * 4
        || (bytes > MAX_PASSWORD_CHARS && password.expose().chars().count() > MAX_PASSWORD_CHARS)
}

/// One argon2 computation in `blocks` (resized to exactly what `params` needs: argon2 uses the
/// first `block_count` blocks and overwrites them before reading, so old contents never leak
/// into a result).
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    blocks: &mut Vec<Block>,
) -> Result<(), PasswordError> {
    blocks.resize(params.block_count(), Block::default());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, blocks.as_mut_slice())
        .map_err(|e| PasswordError::Internal(e.to_string()))
}

fn internal(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Internal(e.to_string())
}

/// A new argon2id hash with a fresh 16-byte salt, as a PHC string.
fn hash_with(
    params: &Params,
    password: &[u8],
    blocks: &mut Vec<Block>,
) -> Result<PasswordHash, PasswordError> {
    let salt = argon2::password_hash::generate_salt();
    let mut out = vec![0; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        &salt,
        &mut out,
        blocks,
    )?;
    let phc = phc::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(internal)?,
        salt: Some(Salt::new(&salt).map_err(internal)?),
        hash: Some(Output::new(&out).map_err(internal)?),
    };
    Ok(PasswordHash(phc.to_string()))
}

/// Verifies with the algorithm, version and parameters the hash was made with, whatever the
/// current settings; `needs_rehash` when those differ from `params` (or it is not argon2id).
fn verify_with(
    params: &Params,
    password: &[u8],
    stored: &str,
    blocks: &mut Vec<Block>,
) -> Result<Verification, PasswordError> {
    let parsed = phc::PasswordHash::new(stored)
        .map_err(|e| PasswordError::Internal(format!("stored hash is not PHC: {e}")))?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(internal)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(internal)?
        .unwrap_or_default();
    let stored_params = Params::try_from(&parsed).map_err(internal)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Ok(Verification::Mismatch);
    };
    let mut out = vec![0; expected.len()];
    compute(
        algorithm,
        version,
        stored_params.clone(),
        password,
        salt,
        &mut out,
        blocks,
    )?;
    // `Output` compares in constant time.
    if Output::new(&out).map_err(internal)? != *expected {
        return Ok(Verification::Mismatch);
    }
    let same_params = stored_params.m_cost() == params.m_cost()
        && stored_params.t_cost() == params.t_cost()
        && stored_params.p_cost() == params.p_cost();
    let needs_rehash = algorithm != Algorithm::Argon2id || !same_params;
    Ok(Verification::Match { needs_rehash })
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

    /// One buffer serves computations of different sizes, larger then smaller then larger, and
    /// every result is still right; the hasher keeps at most one buffer per slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reused_working_memory_gives_the_same_answers_and_stays_bounded() {
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
        let kept = big.memory.spare.lock().unwrap().len();
        assert!((1..=2).contains(&kept), "{kept} buffers kept");
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
    async fn a_full_pool_with_a_full_queue_refuses_at_once() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap().with_queue(0);
        // One slot: one permit computing, one getting ready.
        let held = hasher.permit().await.unwrap();
        let _ready = hasher.permit().await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            hasher.permit().await,
            Err(PasswordError::Saturated)
        ));
        assert!(started.elapsed() < Duration::from_millis(100));
        drop(held);
        assert!(hasher.permit().await.is_ok());
    }

    #[tokio::test]
    async fn a_queued_caller_gets_the_next_free_slot_and_gives_up_after_the_wait() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap().with_queue(1);
        let held = hasher.permit().await.unwrap();
        let _ready = hasher.permit().await.unwrap();
        // One waiter fits; a second is refused while the first waits.
        let waiter = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.permit().await.map(|_| ()) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(
            hasher.permit().await,
            Err(PasswordError::Saturated)
        ));
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
        // Nobody releases now: the waiter gives up after QUEUE_WAIT.
        let _held = hasher.permit().await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            hasher.permit().await,
            Err(PasswordError::Saturated)
        ));
        assert!(started.elapsed() >= QUEUE_WAIT);
    }

    #[tokio::test]
    async fn permit_holders_wait_for_a_slot_and_computations_never_outnumber_the_slots() {
        let memory = Arc::new(WorkingMemory::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let computations: Vec<_> = (0..8)
            .map(|_| {
                let (memory, running, peak) = (memory.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    memory
                        .run(move |_| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        for computation in computations {
            computation.await.unwrap().unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);

        // Both permits of a one-slot hasher verify at once: the second waits, it is not refused.
        let hasher = PasswordHasher::new(cheap(), 1).unwrap().with_queue(0);
        let hash = hasher.hash(&Secret::new("long enough")).await.unwrap();
        let (first, second) = (
            hasher.permit().await.unwrap(),
            hasher.permit().await.unwrap(),
        );
        let password = Secret::new("long enough");
        let (a, b) = tokio::join!(
            first.verify(&password, &hash),
            second.verify(&password, &hash)
        );
        assert!(matches!(a.unwrap(), Verification::Match { .. }));
        assert!(matches!(b.unwrap(), Verification::Match { .. }));
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

    #[test]
    fn the_common_password_list_is_the_real_top_ten_thousand() {
        assert_eq!(common_password_count(), 10_000);
        for common in [
            "123456",
            "password",
            "qwertyuiop",
            "Password1",
            "ILOVEYOU",
            "trustno1",
        ] {
            assert!(is_common_password(common), "{common}");
        }
        assert!(!is_common_password("correct horse battery staple"));
    }

    #[test]
    fn new_passwords_must_be_long_enough_and_uncommon() {
        let cases = [
            ("short", Some("TooShort")),
            ("password1", Some("Common")),
            ("baseball1", Some("Common")),
            ("Qwertyuiop", Some("Common")),
            ("a perfectly fine passphrase", None),
        ];
        for (password, expected) in cases {
            let got = check_new_password(&Secret::new(password))
                .err()
                .map(|e| match e {
                    PasswordError::TooShort => "TooShort",
                    PasswordError::Common => "Common",
                    _ => "other",
                });
            assert_eq!(got, expected, "{password}");
        }
        assert!(matches!(
            check_new_password(&Secret::new("é".repeat(MAX_PASSWORD_CHARS + 1))),
            Err(PasswordError::TooLong)
        ));
    }

    #[test]
    fn owasp_minimum_is_enforced_by_the_predicate() {
        assert!(Argon2Settings::default().meets_owasp_minimum());
        assert!(!cheap().meets_owasp_minimum());
    }
}
