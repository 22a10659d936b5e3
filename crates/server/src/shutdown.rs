//! Stopping on a signal.
//!
//! SIGTERM (what a service manager, an orchestrator or `kill` sends) drains first: the node
//! turns not-ready at once, keeps serving for `drain_grace_secs` while the balancer notices
//! and stops sending, then stops accepting, lets in-flight requests finish within
//! `shutdown_timeout_secs` and writes the audit rows still queued. SIGINT (Ctrl-C in a
//! terminal) skips the grace: nobody balances a terminal. A second signal during the grace
//! ends it early.

use crate::app::Application;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// How long a stopping server waits for the audit rows still queued.
const AUDIT_FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// Serves until SIGTERM or SIGINT, drains as the module doc says, and returns once the server
/// and its background tasks have stopped.
pub async fn run_until_signalled(app: Application) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let state = app.state();
    let audit = state.engine.issuance_audit.clone();
    let handle = app.handle();
    let grace = Duration::from_secs(state.settings.drain_grace_secs);
    let shutdown_timeout_secs = state.settings.shutdown_timeout_secs;
    let stopper = tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => {
                state.drain.start();
                tracing::info!(grace_secs = grace.as_secs(), "SIGTERM: not ready; serving on while the balancer moves away");
                tokio::select! {
                    () = tokio::time::sleep(grace) => {}
                    _ = terminate.recv() => tracing::info!("second SIGTERM: ending the drain early"),
                    _ = interrupt.recv() => tracing::info!("SIGINT: ending the drain early"),
                }
            }
            _ = interrupt.recv() => {
                state.drain.start();
                tracing::info!("SIGINT: stopping without the drain grace");
            }
        }
        tracing::info!(
            shutdown_timeout_secs,
            "no longer accepting connections; finishing in-flight requests"
        );
        handle.stop(true).await;
    });
    let served = app.run_until_stopped().await;
    stopper.abort();
    // Token issuance audit rows wait in memory for a moment (palisade_flow::audit).
    if !audit.flush(AUDIT_FLUSH_DEADLINE).await {
        tracing::error!("stopped with token issuance audit events not yet written");
    }
    Ok(served?)
}
