//! The audit trail of what the guard decides (lockouts, unlocks): each event is a structured
//! log line (target `audit`) and a row in the audit log.

use super::CredentialGuard;
use palisade_core::model::AuditEvent;

impl CredentialGuard {
    /// Writes an audit event and its structured log line (target `audit`). A failure to write
    /// is logged as an error; it does not undo what happened.
    pub async fn record(&self, event: AuditEvent) {
        log_audit_event(&event);
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(error = %e, "could not write an audit event");
        }
    }
}

/// The structured log line of an audit event (target `audit`), emitted before it is stored.
pub fn log_audit_event(event: &AuditEvent) {
    tracing::info!(
        target: "audit",
        actor = %event.actor,
        action = %event.action,
        target_id = event.target.as_deref().unwrap_or("-"),
        outcome = event.outcome.as_str(),
        client_ip = event.client_ip.as_deref().unwrap_or("-"),
        details = event.details.as_deref().unwrap_or("{}"),
        at = %event.occurred_at.to_rfc3339(),
    );
}
