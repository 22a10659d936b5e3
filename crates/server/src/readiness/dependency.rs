//! The services every node shares, and one bounded look at each.
//!
//! A shared dependency that stops answering is a *degraded* node, never a not-ready one: every
//! node sees the same outage, so taking this one out of rotation would only move the failure
//! to the balancer (readiness/mod.rs says more). To watch another shared service, add a
//! variant to [`Dependency`] and an arm to [`Probes::look_at`].

use palisade_core::ports::{EphemeralStore, HealthCheck};
use palisade_store::{DatabaseProbe, SqlStore};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// How long one look at a dependency may take, in all.
pub const PROBE_DEADLINE: Duration = Duration::from_millis(800);

/// Of [`PROBE_DEADLINE`], how long the database probe waits for a pooled connection; the rest
/// is left for a connection beside the pool when none comes free (`SqlStore::probe`).
const POOL_WAIT: Duration = Duration::from_millis(500);

/// A service all nodes share. The name is the JSON key and the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dependency {
    Database,
    EphemeralStore,
    /// This node's `LISTEN` connection (change_feed.rs). Down, the node still serves, but
    /// hears of other nodes' key and client changes only at its periodic refresh: degraded.
    ChangeFeed,
}

impl Dependency {
    pub const ALL: [Self; 3] = [Self::Database, Self::EphemeralStore, Self::ChangeFeed];

    pub fn name(self) -> &'static str {
        match self {
            Self::Database => "database",
            Self::EphemeralStore => "ephemeral_store",
            Self::ChangeFeed => "change_feed",
        }
    }
}

/// What one look at a dependency found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DependencyState {
    Up,
    /// The configuration has no use for it (the embedded default has no change feed): counted
    /// as up.
    NotNeeded,
    /// Down, with a short reason fit for an operator (never a connection string).
    Down(&'static str),
}

impl DependencyState {
    pub fn is_up(self) -> bool {
        matches!(self, Self::Up | Self::NotNeeded)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::NotNeeded => "not needed",
            Self::Down(reason) => reason,
        }
    }
}

/// One round of looks at every dependency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub states: Vec<(Dependency, DependencyState)>,
    /// No pooled database connection came free while the database itself answered: a
    /// condition of this node, not of the database.
    pub is_pool_exhausted: bool,
}

/// The handles the looks go through. Clones share them.
#[derive(Clone)]
pub struct Probes {
    pub database: SqlStore,
    pub ephemeral: Arc<dyn EphemeralStore>,
    pub change_feed: crate::change_feed::ChangeFeedStatus,
}

impl Probes {
    /// Looks at every dependency at once; takes at most [`PROBE_DEADLINE`].
    pub async fn observe(&self) -> Observation {
        let mut looks = tokio::task::JoinSet::new();
        for dependency in Dependency::ALL {
            let probes = self.clone();
            looks.spawn(async move { probes.look_at(dependency).await });
        }
        let mut observation = Observation {
            states: Vec::with_capacity(Dependency::ALL.len()),
            is_pool_exhausted: false,
        };
        while let Some(found) = looks.join_next().await {
            // A look that panicked is a dependency we know nothing about; it is left out and
            // reported as not looked at (readiness/mod.rs).
            if let Ok((dependency, state, exhausted)) = found {
                observation.states.push((dependency, state));
                observation.is_pool_exhausted |= exhausted;
            }
        }
        observation
            .states
            .sort_by_key(|(dependency, _)| *dependency);
        observation
    }

    async fn look_at(&self, dependency: Dependency) -> (Dependency, DependencyState, bool) {
        let (state, exhausted) = match dependency {
            Dependency::Database => self.look_at_database().await,
            Dependency::EphemeralStore => (ping(self.ephemeral.as_ref()).await, false),
            Dependency::ChangeFeed => {
                let state = match self.change_feed.is_connected() {
                    None => DependencyState::NotNeeded,
                    Some(true) => DependencyState::Up,
                    Some(false) => DependencyState::Down("reconnecting"),
                };
                (state, false)
            }
        };
        if let DependencyState::Down(reason) = state {
            tracing::warn!(
                dependency = dependency.name(),
                reason,
                "dependency probe failed"
            );
        }
        (dependency, state, exhausted)
    }

    async fn look_at_database(&self) -> (DependencyState, bool) {
        match tokio::time::timeout(PROBE_DEADLINE, self.database.probe(POOL_WAIT)).await {
            Ok(DatabaseProbe::Answers) => (DependencyState::Up, false),
            Ok(DatabaseProbe::PoolExhausted) => (DependencyState::Up, true),
            Ok(DatabaseProbe::Unreachable(e)) => {
                tracing::debug!(error = %e, "the database probe found no database");
                (DependencyState::Down("unreachable"), false)
            }
            // Also when the pool was full and the fresh connection beside it was too slow:
            // unknown is counted as the shared outage, which keeps the node in rotation.
            Err(_) => (DependencyState::Down("timed out"), false),
        }
    }
}

async fn ping(service: &dyn HealthCheck) -> DependencyState {
    match tokio::time::timeout(PROBE_DEADLINE, service.ping()).await {
        Ok(Ok(())) => DependencyState::Up,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "ping failed");
            DependencyState::Down("unreachable")
        }
        Err(_) => DependencyState::Down("timed out"),
    }
}
