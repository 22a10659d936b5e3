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
use tokio::sync::mpsc;

/// Events waiting to be written; beyond this the caller writes directly.
const QUEUE_CAPACITY: usize = 4096;
/// Events written in one transaction at most.
const BATCH_SIZE: usize = 256;
/// How long the writer waits for a batch to fill once it holds one event; also the longest an
/// event waits before its write starts.
const LINGER: std::time::Duration = std::time::Duration::from_millis(10);

/// Queues audit events for a background writer. Clones share the queue.
#[derive(Clone)]
pub struct AuditBatcher {
    queue: mpsc::Sender<AuditEvent>,
    log: Arc<dyn AuditLog>,
}

impl AuditBatcher {
    /// Starts the writer task on the current tokio runtime.
    pub fn spawn(log: Arc<dyn AuditLog>) -> Self {
        let (queue, mut pending) = mpsc::channel::<AuditEvent>(QUEUE_CAPACITY);
        let writer = log.clone();
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = Vec::with_capacity(BATCH_SIZE);
                batch.push(first);
                // Let the batch fill for a moment: a commit (SQLite) or a round trip
                // (PostgreSQL) costs about as much as dozens of rows, and under load a batch
                // taken at once held only a handful.
                let deadline = tokio::time::Instant::now() + LINGER;
                while batch.len() < BATCH_SIZE {
                    match tokio::time::timeout_at(deadline, pending.recv()).await {
                        Ok(Some(event)) => batch.push(event),
                        Ok(None) | Err(_) => break,
                    }
                }
                let count = batch.len();
                if let Err(e) = writer.record_batch(batch).await {
                    tracing::error!(error = %e, events = count, "could not write audit events");
                }
            }
        });
        Self { queue, log }
    }

    /// Queues `event`, or writes it now when the queue is full or the writer has stopped.
    pub async fn record(&self, event: AuditEvent) {
        let event = match self.queue.try_send(event) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(e) | mpsc::error::TrySendError::Closed(e)) => e,
        };
        if let Err(e) = self.log.record(event).await {
            tracing::error!(error = %e, "could not write an audit event");
        }
    }
}
