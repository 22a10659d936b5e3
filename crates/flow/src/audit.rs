//! A batching writer for the one high-volume audit event: token issuance.
//!
//! Writing every issuance synchronously costs a database round trip per token (it was most of
//! the token endpoint's CPU). Issuance events are queued instead and written in batches, one
//! transaction each, by a background task. Nothing is dropped: when the queue is full the
//! caller writes its event itself (back-pressure). The structured `audit` log line is still
//! emitted at once by the caller, so a crash can lose at most the queued rows (at most
//! [`LINGER`] old unless the database is slower than the traffic), never the log.
//! Rare, security-relevant events (logins, lockouts, admin changes) keep writing directly.

use palisade_core::model::AuditEvent;
use palisade_core::ports::AuditLog;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// Events waiting to be written; beyond this the caller writes directly.
const QUEUE_CAPACITY: usize = 4096;
/// Events written in one transaction at most.
const BATCH_SIZE: usize = 256;
/// How long the writer lets a batch fill once it holds one event (unless a full batch is
/// already queued); also the longest an event waits before its write starts.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Queues audit events for a background writer. Clones share the queue.
#[derive(Clone)]
pub struct AuditBatcher {
    queue: mpsc::Sender<AuditEvent>,
    log: Arc<dyn AuditLog>,
    /// Events queued and not yet written (or given up on), for [`Self::flush`].
    unwritten: Arc<AtomicUsize>,
}

impl AuditBatcher {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(log: Arc<dyn AuditLog>) -> Self {
        let (queue, mut pending) = mpsc::channel::<AuditEvent>(QUEUE_CAPACITY);
        let writer = log.clone();
        let unwritten = Arc::new(AtomicUsize::new(0));
        let written = unwritten.clone();
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = Vec::with_capacity(BATCH_SIZE);
                batch.push(first);
                // Let the batch fill for a moment: a commit (SQLite) or a round trip
                // (PostgreSQL) costs about as much as dozens of rows, and under load a batch
                // taken at once held only a handful. Sleep rather than wait on the queue:
                // a writer waiting on it is woken by every event, a thread wake-up and a
                // context switch per token (a sixth of the token endpoint's CPU).
                if pending.len() + 1 < BATCH_SIZE {
                    tokio::time::sleep(LINGER).await;
                }
                while batch.len() < BATCH_SIZE {
                    match pending.try_recv() {
                        Ok(event) => batch.push(event),
                        Err(_) => break,
                    }
                }
                let count = batch.len();
                if let Err(e) = writer.record_batch(batch).await {
                    tracing::error!(error = %e, events = count, "could not write audit events");
                }
                written.fetch_sub(count, Ordering::SeqCst);
            }
        });
        Self {
            queue,
            log,
            unwritten,
        }
    }

    /// Waits until every event queued so far is written, or `within` has passed; whether all
    /// were. For a stopping server: the queue lives in memory.
    pub async fn flush(&self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while self.unwritten.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(LINGER).await;
        }
        true
    }

    /// Queues `event`, or writes it now when the queue is full or the writer has stopped.
    pub async fn record(&self, event: AuditEvent) {
        // Counted before it is queued, so the writer never takes it below zero.
        self.unwritten.fetch_add(1, Ordering::SeqCst);
        let event = match self.queue.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e)) => {
                self.unwritten.fetch_sub(1, Ordering::SeqCst);
                e
            }
        };
        if let Err(e) = self.log.record(event).await {
            tracing::error!(error = %e, "could not write an audit event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use palisade_core::model::{AuditOutcome, AuditQuery};
    use palisade_core::ports::StoreResult;
    use std::sync::Mutex;

    /// The database under test (SQLite or PostgreSQL, as the environment picks), noting the
    /// size of every batch written.
    struct NotingBatches {
        store: palisade_store::SqlStore,
        batches: Mutex<Vec<usize>>,
    }

    #[async_trait]
    impl AuditLog for NotingBatches {
        async fn record(&self, event: AuditEvent) -> StoreResult<()> {
            self.store.record(event).await
        }
        async fn record_batch(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
            self.batches.lock().unwrap().push(events.len());
            self.store.record_batch(events).await
        }
        async fn query(&self, query: AuditQuery) -> StoreResult<Vec<AuditEvent>> {
            self.store.query(query).await
        }
    }

    fn issued(n: usize) -> AuditEvent {
        AuditEvent {
            occurred_at: chrono::Utc::now(),
            actor: "client:batcher-test".into(),
            action: "token.issue".into(),
            target: Some(format!("jti:{n}")),
            outcome: AuditOutcome::Success,
            client_ip: None,
            details: None,
        }
    }

    #[tokio::test]
    async fn every_queued_event_is_written_in_few_bounded_batches() {
        let (store, _database) = palisade_store::testing::sql_store().await;
        let log = Arc::new(NotingBatches {
            store,
            batches: Mutex::new(Vec::new()),
        });
        let batcher = AuditBatcher::spawn(log.clone());
        const EVENTS: usize = 600;
        for n in 0..EVENTS {
            batcher.record(issued(n)).await;
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let written = loop {
            let written = log
                .query(AuditQuery {
                    actor: Some("client:batcher-test".into()),
                    target: None,
                    action: None,
                    since: None,
                    until: None,
                    limit: 1000,
                    ..AuditQuery::default()
                })
                .await
                .unwrap();
            if written.len() >= EVENTS || tokio::time::Instant::now() > deadline {
                break written;
            }
            tokio::time::sleep(LINGER).await;
        };
        let mut targets: Vec<_> = written.iter().filter_map(|e| e.target.clone()).collect();
        targets.sort();
        targets.dedup();
        assert_eq!(targets.len(), EVENTS, "each event written once");
        let batches = log.batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), EVENTS, "{batches:?}");
        assert!(batches.iter().all(|b| *b <= BATCH_SIZE), "{batches:?}");
        // Queued in one burst: full batches, not one write per event.
        assert!(
            batches.len() <= EVENTS.div_ceil(BATCH_SIZE) + 1,
            "{batches:?}"
        );
    }

    #[tokio::test]
    async fn a_flush_returns_once_every_queued_event_is_written() {
        let (store, _database) = palisade_store::testing::sql_store().await;
        let log = Arc::new(NotingBatches {
            store,
            batches: Mutex::new(Vec::new()),
        });
        let batcher = AuditBatcher::spawn(log.clone());
        assert!(
            batcher.flush(std::time::Duration::ZERO).await,
            "nothing queued"
        );
        for n in 0..300 {
            batcher.record(issued(n)).await;
        }
        assert!(batcher.flush(std::time::Duration::from_secs(10)).await);
        let batches = log.batches.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 300, "{batches:?}");
    }
}
