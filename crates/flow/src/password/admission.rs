//! Admission to password hashing, in two stages. A login first takes a permit
//! ([`Admission::enter`]), a place among the logins being decided or hashed: twice as many as
//! there are hashing slots, so that a slot that finishes one computation finds the next one
//! ready instead of idling through its caller's lock checks and database round trips. Callers
//! beyond that wait in a short, bounded queue (at most `queue_limit` callers, each at most
//! [`QUEUE_WAIT`]); past it the caller gets [`PasswordError::Saturated`] at once and answers
//! 503 + `Retry-After`, so a login flood costs memory for a few queued requests, not for every
//! one (OWASP Password Storage Cheat Sheet, "denial of service"; docs/threat-model.md LF-06).
//!
//! A permit holder then runs its computation on one of the hashing slots' dedicated threads
//! ([`super::slots`]), which own argon2's working memory and run at a lowered priority.

use super::PasswordError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a caller may wait in the queue for a permit before it is told to come back.
pub const QUEUE_WAIT: Duration = Duration::from_secs(1);
/// What `Retry-After` says when the pool is saturated: one verification's worth of patience.
pub const SATURATED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// How many permits there are per hashing slot: one computing, one getting ready.
const PERMITS_PER_SLOT: usize = 2;

/// The permits and the queue of callers waiting for one. Clones share them.
#[derive(Clone)]
pub(super) struct Admission {
    /// `PERMITS_PER_SLOT` x the hashing slots.
    permits: Arc<Semaphore>,
    /// How many callers may wait for a permit at once.
    pub(super) queue_limit: usize,
    waiting: Arc<AtomicUsize>,
}

impl Admission {
    /// Permits for `slots` hashing slots, and a queue of twice as many waiters.
    pub(super) fn new(slots: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(slots.saturating_mul(PERMITS_PER_SLOT))),
            queue_limit: slots.saturating_mul(2),
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Takes a permit: at once if one is free, else after waiting in the bounded queue for at
    /// most [`QUEUE_WAIT`]; `Saturated` when the queue is full or the wait runs out.
    pub(super) async fn enter(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => return Ok(permit),
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
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(e)) => Err(PasswordError::Internal(e.to_string())),
            Err(_) => Err(PasswordError::Saturated),
        }
    }

    /// How many callers wait in the queue now.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Acquire)
    }
}

/// Decrements the waiting count however the wait ends (including the request being dropped).
struct Waiting(Arc<AtomicUsize>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::tests::cheap;
    use crate::password::{PasswordHasher, Verification};
    use palisade_core::secret::Secret;

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

    /// On tokio's paused clock: the queue's wait runs out as soon as nothing else can happen.
    #[tokio::test(start_paused = true)]
    async fn a_queued_caller_gets_the_next_free_slot_and_gives_up_after_the_wait() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap().with_queue(1);
        let held = hasher.permit().await.unwrap();
        let _ready = hasher.permit().await.unwrap();
        // One waiter fits; a second is refused while the first waits.
        let waiter = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.permit().await.map(|_| ()) })
        };
        while hasher.admission.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            hasher.permit().await,
            Err(PasswordError::Saturated)
        ));
        drop(held);
        assert!(waiter.await.unwrap().is_ok());
        assert_eq!(hasher.admission.waiting(), 0);
        // Nobody releases now: the waiter gives up after QUEUE_WAIT.
        let _held = hasher.permit().await.unwrap();
        let started = tokio::time::Instant::now();
        assert!(matches!(
            hasher.permit().await,
            Err(PasswordError::Saturated)
        ));
        assert!(started.elapsed() >= QUEUE_WAIT);
        assert_eq!(hasher.admission.waiting(), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_permits_of_a_one_slot_hasher_verify_the_second_waits_and_is_not_refused() {
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
}
