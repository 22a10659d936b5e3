//! Readiness: whether the load balancer should send this node requests, and which shared
//! dependencies are down.
//!
//! The question a balancer asks is "can this node serve what the others cannot?", so `/readyz`
//! answers 503 only for conditions of this node: it is draining after SIGTERM, its key ring
//! cannot sign with an enabled algorithm, or its database pool has had no connection to give
//! for longer than `readiness_pool_exhausted_secs` while the database answered beside it.
//!
//! A dependency every node shares (the database, Redis) that stops answering is reported as
//! *degraded* with a 200. Each node would see the same outage at the same moment; answering
//! 503 would make the balancer take every node out together, and requests that need nothing
//! from the lost dependency (JWKS, discovery, JWT introspection) would fail at the balancer
//! instead of being served. That holds for the database too: an unreachable database is the
//! same on every node, while an exhausted pool (the database answers, this node's connections
//! are all busy) is this node's own, and another node may well have connections free.
//!
//! "Starting up" is not a state here: the server answers HTTP only once it has migrated and
//! loaded its keys (`Application::build`), so a starting node does not answer probes at all.
//!
//! Looking at the dependencies costs round trips, so one look serves every caller for
//! [`CACHE_FOR`]: a balancer's checks, a monitor's and Prometheus's scrapes share it. Draining
//! and the key ring are read at every call, so SIGTERM turns the node not-ready at once.

pub mod dependency;
mod pool_exhaustion;

use crate::drain::Drain;
use dependency::{Dependency, DependencyState, Observation, Probes};
use palisade_core::ports::SigningAlgorithm;
use palisade_keys::Keys;
use pool_exhaustion::PoolExhaustion;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long one look at the dependencies answers every caller.
pub const CACHE_FOR: Duration = Duration::from_millis(250);

/// Gauges on `/metrics`: 1 or 0.
pub const DEPENDENCY_UP: &str = "palisade_dependency_up";
pub const READY: &str = "palisade_ready";
pub const DRAINING: &str = "palisade_draining";

/// The node's readiness, from its own state and its latest look at the dependencies.
pub struct Readiness {
    probes: Probes,
    drain: Drain,
    keys: Keys,
    algorithms: Vec<SigningAlgorithm>,
    pool_exhausted_bound: Duration,
    latest: tokio::sync::Mutex<Latest>,
}

#[derive(Default)]
struct Latest {
    observed: Option<(Instant, Observation)>,
    pool: PoolExhaustion,
}

/// Why this node is not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeProblem {
    Draining,
    KeyRing,
    DatabasePoolExhausted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Ready, every dependency up.
    Ready,
    /// Ready, some shared dependency down (named in `degraded`).
    Degraded,
    NotReady,
}

/// What `/readyz` and `/readyz/dependencies` answer, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub status: Status,
    /// Shared dependencies that are down.
    pub degraded: Vec<Dependency>,
    /// Conditions of this node that take it out of rotation.
    pub not_ready: Vec<NodeProblem>,
    /// Every check by name: "up"/"ok", or what is wrong.
    pub checks: BTreeMap<&'static str, String>,
}

impl Report {
    pub fn is_ready(&self) -> bool {
        self.not_ready.is_empty()
    }

    pub fn are_dependencies_up(&self) -> bool {
        self.degraded.is_empty()
    }
}

impl Readiness {
    pub fn new(
        probes: Probes,
        drain: Drain,
        keys: Keys,
        algorithms: Vec<SigningAlgorithm>,
        pool_exhausted_bound: Duration,
    ) -> Self {
        Self {
            probes,
            drain,
            keys,
            algorithms,
            pool_exhausted_bound,
            latest: tokio::sync::Mutex::new(Latest::default()),
        }
    }

    /// The node's readiness now; looks at the dependencies again when the latest look is
    /// older than [`CACHE_FOR`] (one look at a time: callers meanwhile wait for it). Also sets
    /// the readiness gauges.
    pub async fn report(&self) -> Report {
        let (observation, pool_exhausted_for) = {
            let mut latest = self.latest.lock().await;
            let is_fresh = latest
                .observed
                .as_ref()
                .is_some_and(|(at, _)| at.elapsed() < CACHE_FOR);
            if !is_fresh {
                let observation = self.probes.observe().await;
                let now = Instant::now();
                latest.pool.observe(observation.is_pool_exhausted, now);
                latest.observed = Some((now, observation));
            }
            let now = Instant::now();
            let pool_exhausted_for = latest
                .pool
                .is_beyond(self.pool_exhausted_bound, now)
                .then(|| latest.pool.exhausted_for(now))
                .flatten();
            let observation = latest
                .observed
                .as_ref()
                .map(|(_, observation)| observation.clone());
            (observation, pool_exhausted_for)
        };
        let report = self.assemble(observation.as_ref(), pool_exhausted_for);
        record_gauges(&report, self.drain.is_draining());
        report
    }

    fn assemble(
        &self,
        observation: Option<&Observation>,
        pool_exhausted_for: Option<Duration>,
    ) -> Report {
        let mut checks = BTreeMap::new();
        let mut degraded = Vec::new();
        for dependency in Dependency::ALL {
            let state = observation
                .and_then(|o| o.states.iter().find(|(d, _)| *d == dependency))
                .map_or(DependencyState::Down("not looked at"), |(_, state)| *state);
            if !state.is_up() {
                degraded.push(dependency);
            }
            checks.insert(dependency.name(), state.as_str().to_owned());
        }

        let mut not_ready = Vec::new();
        let is_draining = self.drain.is_draining();
        if is_draining {
            not_ready.push(NodeProblem::Draining);
        }
        checks.insert(
            "lifecycle",
            if is_draining { "draining" } else { "serving" }.to_owned(),
        );
        let ring = self.keys.snapshot();
        let unable: Vec<&str> = self
            .algorithms
            .iter()
            .filter(|alg| !ring.can_sign(**alg))
            .map(|alg| alg.as_str())
            .collect();
        if unable.is_empty() {
            checks.insert("key_ring", "ok".to_owned());
        } else {
            not_ready.push(NodeProblem::KeyRing);
            checks.insert("key_ring", format!("cannot sign {}", unable.join(", ")));
        }
        match pool_exhausted_for {
            Some(lasted) => {
                not_ready.push(NodeProblem::DatabasePoolExhausted);
                checks.insert(
                    "database_pool",
                    format!("exhausted for {} s", lasted.as_secs()),
                );
            }
            None => {
                checks.insert("database_pool", "ok".to_owned());
            }
        }

        let status = if !not_ready.is_empty() {
            Status::NotReady
        } else if !degraded.is_empty() {
            Status::Degraded
        } else {
            Status::Ready
        };
        Report {
            status,
            degraded,
            not_ready,
            checks,
        }
    }
}

fn record_gauges(report: &Report, is_draining: bool) {
    let one_if = |yes: bool| if yes { 1.0 } else { 0.0 };
    for dependency in Dependency::ALL {
        metrics::gauge!(DEPENDENCY_UP, "dependency" => dependency.name())
            .set(one_if(!report.degraded.contains(&dependency)));
    }
    metrics::gauge!(READY).set(one_if(report.is_ready()));
    metrics::gauge!(DRAINING).set(one_if(is_draining));
}
