//! How long this node's database pool has had no connection to give.
//!
//! A full pool for a moment is a busy node doing its job; a pool that stays full is a node
//! that answers 503 to most of what reaches it while its neighbours could serve it. Only the
//! second takes the node out of rotation: after `readiness_pool_exhausted_secs` of probes that
//! all found the pool exhausted (and the database answering beside it).

use std::time::{Duration, Instant};

/// The first of an unbroken run of probes that found the pool exhausted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PoolExhaustion {
    since: Option<Instant>,
}

impl PoolExhaustion {
    /// Records one probe's finding at `now`; any probe that got a connection ends the run.
    pub fn observe(&mut self, is_exhausted: bool, now: Instant) {
        self.since = match (is_exhausted, self.since) {
            (false, _) => None,
            (true, Some(since)) => Some(since),
            (true, None) => Some(now),
        };
    }

    /// How long the pool has been exhausted at `now`; `None` when the last probe found a
    /// connection.
    pub fn exhausted_for(&self, now: Instant) -> Option<Duration> {
        self.since.map(|since| now.saturating_duration_since(since))
    }

    /// Whether the run has lasted longer than `bound`.
    pub fn is_beyond(&self, bound: Duration, now: Instant) -> bool {
        self.exhausted_for(now).is_some_and(|lasted| lasted > bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(10);

    #[test]
    fn a_full_pool_takes_the_node_out_only_after_an_unbroken_run_longer_than_the_bound() {
        let start = Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut pool = PoolExhaustion::default();
        assert!(!pool.is_beyond(BOUND, at(0)));
        pool.observe(true, at(0));
        pool.observe(true, at(5));
        assert_eq!(pool.exhausted_for(at(10)), Some(Duration::from_secs(10)));
        assert!(
            !pool.is_beyond(BOUND, at(10)),
            "exactly the bound is still in"
        );
        assert!(pool.is_beyond(BOUND, at(11)));

        // One probe that got a connection starts the count again.
        pool.observe(false, at(11));
        assert_eq!(pool.exhausted_for(at(12)), None);
        pool.observe(true, at(12));
        assert!(!pool.is_beyond(BOUND, at(20)));
        assert!(pool.is_beyond(BOUND, at(23)));
    }
}
