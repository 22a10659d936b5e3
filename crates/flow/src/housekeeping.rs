//! Removing grants that can no longer be used: refresh-token families past their absolute
//! lifetime or revoked, together with every spent token they kept for reuse detection
//! (`refresh_token_spent`, which grows by one row per rotation and is needed only while the
//! family could still be presented).
//!
//! Every node runs the purge; it is one idempotent DELETE, so nodes running it at once only
//! repeat each other's work.
//!
//! The same task sweeps role grants past their expiry ([`Admin::sweep_lapsed_grants`]). A
//! lapsed grant gives nothing from its expiry on whether swept or not; the sweep removes it
//! and writes the lapse to the audit trail.

use crate::admin::Admin;
use crate::server::AuthorizationServer;
use chrono::Duration;
use palisade_core::ports::RefreshTokenRepository;
use palisade_core::{Clock, StoreError};

/// How often a node purges.
pub const PURGE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

/// How long an ended family stays after it ended (a token of it presented again is
/// `invalid_grant` either way; the day leaves recent revocations for an operator to look at).
pub const ENDED_GRANT_RETENTION: Duration = Duration::days(1);

impl AuthorizationServer {
    /// Deletes the families that expired or were revoked more than
    /// [`ENDED_GRANT_RETENTION`] ago; returns how many.
    pub async fn purge_ended_grants(&self) -> Result<u64, StoreError> {
        purge(self.refresh_tokens.as_ref(), self.clock.as_ref()).await
    }

    /// Runs [`Self::purge_ended_grants`] and `admin`'s sweep of lapsed role grants every
    /// [`PURGE_INTERVAL`] until aborted.
    pub fn spawn_purge_task(&self, admin: Admin) -> tokio::task::JoinHandle<()> {
        let refresh_tokens = self.refresh_tokens.clone();
        let session_index = self.session_index.clone();
        let clock = self.clock.clone();
        tokio::spawn(async move {
            let start = tokio::time::Instant::now() + PURGE_INTERVAL;
            let mut interval = tokio::time::interval_at(start, PURGE_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                match purge(refresh_tokens.as_ref(), clock.as_ref()).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "purged ended refresh-token families"),
                    Err(error) => {
                        tracing::warn!(%error, "purging ended refresh-token families failed; trying again later")
                    }
                }
                match admin.sweep_lapsed_grants().await {
                    Ok(0) => {}
                    Ok(swept) => tracing::info!(swept, "removed role grants past their expiry"),
                    Err(error) => {
                        tracing::warn!(%error, "sweeping lapsed role grants failed; trying again later")
                    }
                }
                match session_index.purge_expired_sessions(clock.now()).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "purged expired session index entries"),
                    Err(error) => {
                        tracing::warn!(%error, "purging the session index failed; trying again later")
                    }
                }
            }
        })
    }
}

async fn purge(
    refresh_tokens: &dyn RefreshTokenRepository,
    clock: &dyn Clock,
) -> Result<u64, StoreError> {
    refresh_tokens
        .purge_refresh_token_families(clock.now() - ENDED_GRANT_RETENTION)
        .await
}
