//! The hashing slots: one dedicated thread per slot, started once with the hasher, each owning
//! its argon2 working memory and running at the lowest CPU priority Linux has for ordinary
//! threads (`SCHED_IDLE`, with [`HASHING_NICE`] as the fallback).
//!
//! Why dedicated threads rather than tokio's blocking pool: argon2id costs ~25 ms of one core
//! at the default parameters, and the server has as many slots as cores, so a sign-in storm
//! used to put every core to hashing at the same priority as the actix workers. A JWKS or
//! discovery request then waited for the scheduler to take a core back from argon2 (issue 16,
//! item 5: their p99 while the slots are saturated must stay within twice the idle p99). A
//! thread's priority is its own, so hashing gets threads of its own, demoted, and the workers
//! that serve cheap requests win every core they ask for; hashing takes the rest, which on an
//! otherwise idle server is all of it (docs/benchmarks.md, "Issue 16 — hashing priority and
//! sign-in storms").
//!
//! Working memory (19 MiB per computation at the defaults) lives as long as its thread and is
//! reused by every computation on it: memory is bounded by slots x memory cost, and no
//! computation pays to fault in fresh pages (allocated per computation on the blocking pool, a
//! login benchmark once reached 556 MiB of resident memory).
//!
//! The threads stop when the last handle to the slots is dropped (the channel closes).

use super::PasswordError;
use argon2::Block;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError, mpsc};

/// The nice value of the hashing threads when `SCHED_IDLE` is refused (Linux: a per-thread
/// attribute; 0 is the default, 19 the lowest priority). Under contention a nice-0 worker
/// outweighs a nice-19 thread 1024 to 15, but a waking worker may still wait for the rest of the
/// hashing thread's slice (~1-3 ms); a `SCHED_IDLE` thread is preempted the moment a worker wakes
/// (figures in docs/benchmarks.md, "Issue 16 — SCHED_IDLE"). Either way an idle core still goes
/// to hashing in full, so the sign-in rate of a server doing nothing else is unchanged.
pub const HASHING_NICE: i32 = 19;

/// One computation, with the reply to its caller inside.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The queue to the hashing threads. Nothing bounds it here: only permit holders
/// ([`super::admission`]) submit work, at most two per slot.
pub(super) struct HashingSlots {
    jobs: mpsc::Sender<Job>,
}

impl HashingSlots {
    /// Starts `count` hashing threads (at least one).
    pub(super) fn start(count: usize) -> Result<Self, PasswordError> {
        let count = count.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        // One receiver shared by the threads: whichever is idle takes the next job.
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("palisade-hash-{n}"))
                .spawn(move || serve(&queue))
                .map_err(|e| {
                    PasswordError::Internal(format!("cannot start a hashing thread: {e}"))
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `work` on the next free hashing thread, with that thread's working memory. The wait
    /// for a thread is unbounded: only permit holders get here, at most two per slot.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |blocks| {
            // The caller stopped waiting (its request was dropped) and its permit is free for
            // another login: a core spent on an answer nobody reads would be taken from it.
            if reply.is_closed() {
                return;
            }
            // A caller that left since reads nothing either; nothing to do about it.
            let _ = reply.send(work(blocks));
        });
        self.jobs
            .send(job)
            .map_err(|_| PasswordError::Internal("the hashing threads have stopped".into()))?;
        outcome.await.map_err(|_| {
            PasswordError::Internal("a hashing computation ended without an answer".into())
        })?
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until the queue closes.
fn serve(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    let mut blocks = Vec::new();
    loop {
        // The lock is held while waiting, so the idle threads queue up behind one receiver.
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok(job) = next else {
            return;
        };
        // A panicking computation must not take its slot with it: its caller gets an error
        // (the reply is dropped) and the thread goes on with fresh memory.
        if catch_unwind(AssertUnwindSafe(|| job(&mut blocks))).is_err() {
            tracing::error!("a password hashing computation panicked");
            blocks = Vec::new();
        }
    }
}

/// Demotes this thread to `SCHED_IDLE`, and also to [`HASHING_NICE`] (what counts if a kernel or
/// a seccomp profile refuses the policy). Hashing still works if neither can be set, only without
/// yielding to the workers, so a failure is a warning.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
            set_thread_priority_and_policy, thread_native_id,
        };
        // Lowering one's own policy needs no privilege. This call also sets nice 0 (the only
        // value SCHED_IDLE has), so the nice value comes after it.
        if let Err(e) = set_thread_priority_and_policy(
            thread_native_id(),
            ThreadPriority::Min,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
        ) {
            tracing::warn!(error = ?e, "could not put a password hashing thread under SCHED_IDLE; it runs at nice 19, and cheap requests may wait longer under a sign-in storm");
        }
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), HASHING_NICE) {
            tracing::warn!(error = %e, nice = HASHING_NICE, "could not lower the priority of a password hashing thread; hashing may slow down cheap requests under a sign-in storm");
        }
    }
    #[cfg(not(target_os = "linux"))]
    tracing::warn!(
        "the priority of password hashing threads is lowered on Linux only; hashing may slow down cheap requests under a sign-in storm"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Condvar;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Closed until opened; computations wait at it, holding their threads.
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
    async fn computations_never_outnumber_the_threads_and_all_get_answers() {
        let slots = Arc::new(HashingSlots::start(2).unwrap());
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let gate = Arc::new(Gate::default());
        let computations: Vec<_> = (0..8)
            .map(|n| {
                let (slots, running, peak, gate) =
                    (slots.clone(), running.clone(), peak.clone(), gate.clone());
                tokio::spawn(async move {
                    slots
                        .run(move |_| {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            peak.fetch_max(now, Ordering::SeqCst);
                            gate.pass();
                            running.fetch_sub(1, Ordering::SeqCst);
                            Ok(n)
                        })
                        .await
                })
            })
            .collect();
        while running.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        gate.open();
        for (n, computation) in computations.into_iter().enumerate() {
            assert_eq!(computation.await.unwrap().unwrap(), n);
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn computations_run_on_the_named_threads_at_the_lowered_priority() {
        // The test may itself run niced (`nice cargo test`): the runtime keeps whatever it had.
        let runtime_nice = rustix::process::getpriority_process(None).ok();
        let slots = HashingSlots::start(1).unwrap();
        let (name, nice, policy) = slots
            .run(|_| {
                let name = std::thread::current().name().map(str::to_owned);
                let policy = thread_priority::thread_schedule_policy().ok();
                Ok((
                    name,
                    rustix::process::getpriority_process(None).ok(),
                    policy,
                ))
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("palisade-hash-0"));
        // getpriority(PRIO_PROCESS, 0) reads the calling thread's nice value on Linux; raising
        // one's own nice value needs no privilege.
        assert_eq!(nice, Some(HASHING_NICE));
        assert_eq!(
            policy,
            Some(thread_priority::ThreadSchedulePolicy::Normal(
                thread_priority::NormalThreadSchedulePolicy::Idle
            ))
        );
        // The runtime's own threads are untouched.
        assert_eq!(
            rustix::process::getpriority_process(None).ok(),
            runtime_nice
        );
        assert_ne!(
            thread_priority::thread_schedule_policy().ok(),
            policy,
            "the runtime's thread was demoted too"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_computation_whose_caller_left_is_skipped_and_a_panic_keeps_the_thread() {
        let slots = Arc::new(HashingSlots::start(1).unwrap());
        let gate = Arc::new(Gate::default());
        let started = Arc::new(AtomicUsize::new(0));
        let busy = {
            let (slots, gate, started) = (slots.clone(), gate.clone(), started.clone());
            tokio::spawn(async move {
                slots
                    .run(move |_| {
                        started.fetch_add(1, Ordering::SeqCst);
                        gate.pass();
                        Ok(())
                    })
                    .await
            })
        };
        while started.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        // Queued behind the busy thread, then abandoned by its caller.
        let abandoned = Arc::new(AtomicUsize::new(0));
        {
            let ran = abandoned.clone();
            let mut queued = std::pin::pin!(slots.run(move |_| {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }));
            tokio::select! {
                biased;
                _ = &mut queued => panic!("answered while the only thread is busy"),
                () = std::future::ready(()) => {}
            }
        }
        gate.open();
        busy.await.unwrap().unwrap();
        let panicked = slots
            .run(|_| -> Result<(), PasswordError> { panic!("a computation panics") })
            .await;
        assert!(matches!(panicked, Err(PasswordError::Internal(_))));
        // The same thread answers the next computation; the abandoned one never ran.
        assert_eq!(slots.run(|_| Ok(7)).await.unwrap(), 7);
        assert_eq!(abandoned.load(Ordering::SeqCst), 0);
    }
}
