//! Admission to password hashing, in two stages. A login first takes a permit
//! ([`Admission::enter`]), a place among the logins being decided or hashed: twice as many as
//! there are hashing slots, so that a slot that finishes one computation finds the next one
//! ready instead of idling through its caller's lock checks and database round trips. Callers
//! beyond that wait in a short, bounded queue (at most `queue_limit` callers, each at most
//! [`QUEUE_WAIT`]); past it the caller gets [`PasswordError::Saturated`] at once and answers
//! 503 + `Retry-After`, so a login flood costs memory for a few queued requests, not for every
//! one (OWASP Password Storage Cheat Sheet, "denial of service"; docs/threat-model.md LF-06).
//!
//! A permit holder then runs its computation in a hashing slot ([`WorkingMemory::run`]) on
//! tokio's blocking pool: hashing costs ~25 ms of one core, so it never runs on an async
//! worker. argon2's working memory (19 MiB per computation at the defaults) is allocated once
//! per slot and reused. Allocated per computation, it came from whichever blocking thread ran
//! it, and the C allocator kept a freed 19 MiB block in each thread's arena: a login benchmark
//! reached 556 MiB of resident memory, and every computation on a new thread paid to fault in
//! 19 MiB of fresh pages. Kept, memory is bounded by the slots x the memory cost.

use super::PasswordError;
use argon2::Block;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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

/// The hashing slots and their argon2 working memory, kept between computations: at most one
/// buffer per slot, each as large as the largest computation it served.
pub(super) struct WorkingMemory {
    slots: Arc<Semaphore>,
    pub(super) spare: Mutex<Vec<Vec<Block>>>,
    keep: usize,
}

impl WorkingMemory {
    pub(super) fn new(slots: usize) -> Self {
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
    pub(super) async fn run<T: Send + 'static>(
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::tests::cheap;
    use crate::password::{PasswordHasher, Verification};
    use palisade_core::secret::Secret;
    use std::sync::Condvar;

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

    /// Closed until opened; computations wait at it, holding their slots.
    #[derive(Default)]
    struct Gate {
        is_open: Mutex<bool>,
        opened: Condvar,
    }

    impl Gate {
        fn pass(&self) {
            let mut is_open = self.is_open.lock().unwrap();
            while !*is_open {
                is_open = self.opened.wait(is_open).unwrap();
            }
        }

        fn open(&self) {
            *self.is_open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn permit_holders_wait_for_a_slot_and_computations_never_outnumber_the_slots() {
        let memory = Arc::new(WorkingMemory::new(2));
        let (asked, running, peak) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let gate = Arc::new(Gate::default());
        let computations: Vec<_> = (0..8)
            .map(|_| {
                let (memory, asked, running, peak, gate) = (
                    memory.clone(),
                    asked.clone(),
                    running.clone(),
                    peak.clone(),
                    gate.clone(),
                );
                tokio::spawn(async move {
                    asked.fetch_add(1, Ordering::SeqCst);
                    memory
                        .run(move |_| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            gate.pass();
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        // Every computation has asked for a slot and two hold one, stopped at the gate.
        while asked.load(Ordering::SeqCst) < 8 || running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        assert_eq!(memory.slots.available_permits(), 0);
        gate.open();
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
}
