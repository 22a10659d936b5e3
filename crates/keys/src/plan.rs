//! The rotation plan: a pure function from (stored keys, now, policy) to the changes to make.
//!
//! Each algorithm has its own ring, and each key moves one way only:
//! `next -> current -> retired -> removed`, or `-> revoked` in an emergency. The rules, per
//! enabled algorithm, at instant `now`:
//!
//! 1. **Bootstrap.** No `current` and no `next` key (a fresh deployment, a newly enabled
//!    algorithm, or after every key was revoked): generate a key that is `current` at once.
//!    This is the one exception to "published before it signs", and it is safe for a fresh
//!    deployment because no verifier has cached a JWKS yet — there is nothing stale to miss
//!    the key. (For an algorithm enabled later, verifiers holding a cached JWKS meet an unknown
//!    `kid` until they refetch it; enable algorithms before clients are registered for them.)
//! 2. **Generate a successor.** A `current` key that has signed for
//!    `rotation_period - publish_ahead`, with no `next` key staged: generate a `next` key that
//!    activates at `now + publish_ahead`. It is in the JWKS from the moment it is stored.
//! 3. **Activate.** A `next` key whose `activates_at` has passed becomes `current`, and the old
//!    `current` key is retired in the same plan. If several are due, the newest wins and the
//!    others — which never signed anything — are removed.
//! 4. **Emergency promotion.** No `current` key but a `next` one (the current key was revoked):
//!    a `next` key becomes `current` now — the newest due one, else the one due soonest —
//!    rather than leave the algorithm unable to sign; it has been published since it was staged.
//! 5. **Retire.** Besides rule 3: extra `current` keys (only after a crash between two writes;
//!    the most recently activated one stays) and the `current` key of a disabled algorithm.
//!    A retired key gets `remove_after = now + max_token_lifetime + clock_skew +
//!    refresh_interval` ([`RotationPolicy::retired_key_retention`]).
//! 6. **Remove.** Retired keys past `remove_after`, revoked keys past theirs, and `next` keys
//!    of a disabled algorithm (they never signed).
//!
//! Rows whose `alg` this version does not know are left alone except for rule 6.
//! Apply a plan in field order — generate, activate, retire, remove — so that no instant has an
//! algorithm without a current key or a JWKS without the key that signs.

use crate::policy::RotationPolicy;
use chrono::{DateTime, Utc};
use palisade_core::model::{KeyState, StoredSigningKey};
use palisade_core::ports::SigningAlgorithm;

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyToGenerate {
    pub alg: SigningAlgorithm,
    /// `Next` normally; `Current` when bootstrapping an algorithm.
    pub state: KeyState,
    pub activates_at: DateTime<Utc>,
    /// Set for a key that is `current` at once.
    pub activated_at: Option<DateTime<Utc>>,
}

/// A `next` key becoming `current`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub kid: String,
    pub activated_at: DateTime<Utc>,
}

impl Activation {
    /// The stored key after this change.
    pub fn applied_to(&self, key: &StoredSigningKey) -> StoredSigningKey {
        StoredSigningKey {
            state: KeyState::Current,
            activated_at: Some(self.activated_at),
            ..key.clone()
        }
    }
}

/// A `current` key that stops signing and stays published until `remove_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retirement {
    pub kid: String,
    pub retired_at: DateTime<Utc>,
    pub remove_after: DateTime<Utc>,
}

impl Retirement {
    /// The stored key after this change.
    pub fn applied_to(&self, key: &StoredSigningKey) -> StoredSigningKey {
        StoredSigningKey {
            state: KeyState::Retired,
            retired_at: Some(self.retired_at),
            remove_after: Some(self.remove_after),
            ..key.clone()
        }
    }
}

/// What to change, in the order to apply it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationPlan {
    pub generate: Vec<KeyToGenerate>,
    pub activate: Vec<Activation>,
    pub retire: Vec<Retirement>,
    /// Kids to delete.
    pub remove: Vec<String>,
}

impl RotationPlan {
    pub fn is_empty(&self) -> bool {
        self.generate.is_empty()
            && self.activate.is_empty()
            && self.retire.is_empty()
            && self.remove.is_empty()
    }
}

/// `key` revoked at `now`: unpublished and refused at once; the row stays (for the audit trail)
/// until the time a retired key would have been removed.
pub fn revoked(
    key: &StoredSigningKey,
    now: DateTime<Utc>,
    policy: &RotationPolicy,
) -> StoredSigningKey {
    StoredSigningKey {
        state: KeyState::Revoked,
        retired_at: key.retired_at.or(Some(now)),
        remove_after: Some(now + policy.retired_key_retention()),
        ..key.clone()
    }
}

/// What keeps an algorithm signing when its `current` key is revoked
/// ([`replacement_for_revoked`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replacement {
    /// Nothing to do: the key was not signing, its algorithm is not enabled (or unknown), or
    /// another `current` key of its algorithm signs already.
    NotNeeded,
    /// This staged `next` key becomes `current` now (rule 4's choice: it has been published
    /// since it was staged).
    Promote(Activation),
    /// No key is staged: a fresh key, `current` at once (rule 1's exception: announced by no
    /// JWKS before it signs, met by verifiers as an unknown kid they refetch for).
    Generate(KeyToGenerate),
}

/// What must be written together with revoking `revoked` at `now` so that its algorithm never
/// stands without a signer: the same choice the plan makes at its next step (rules 4 and 1),
/// made in the same transaction as the revocation. `keys` is the ring as read before it.
pub fn replacement_for_revoked(
    keys: &[StoredSigningKey],
    revoked: &StoredSigningKey,
    now: DateTime<Utc>,
    policy: &RotationPolicy,
) -> Replacement {
    let Some(alg) = SigningAlgorithm::parse(&revoked.alg) else {
        return Replacement::NotNeeded;
    };
    if revoked.state != KeyState::Current || !policy.is_enabled(alg) {
        return Replacement::NotNeeded;
    }
    let of_alg = keys
        .iter()
        .filter(|k| k.kid != revoked.kid && SigningAlgorithm::parse(&k.alg) == Some(alg));
    if of_alg.clone().any(|k| k.state == KeyState::Current) {
        return Replacement::NotNeeded;
    }
    let nexts: Vec<&StoredSigningKey> = of_alg.filter(|k| k.state == KeyState::Next).collect();
    match emergency_promotion(&nexts, now) {
        Some(key) => Replacement::Promote(Activation {
            kid: key.kid.clone(),
            activated_at: now,
        }),
        None => Replacement::Generate(KeyToGenerate {
            alg,
            state: KeyState::Current,
            activates_at: now,
            activated_at: Some(now),
        }),
    }
}

/// Of the `next` keys whose `activates_at` has passed, the newest (rule 3's successor).
fn newest_due<'a>(
    nexts: &[&'a StoredSigningKey],
    now: DateTime<Utc>,
) -> Option<&'a StoredSigningKey> {
    nexts
        .iter()
        .copied()
        .filter(|k| k.activates_at <= now)
        .max_by(|a, b| {
            (a.activates_at, a.created_at, &a.kid).cmp(&(b.activates_at, b.created_at, &b.kid))
        })
}

/// Rule 4's choice among `next` keys when no key is current: the newest due one, else the one
/// due soonest.
fn emergency_promotion<'a>(
    nexts: &[&'a StoredSigningKey],
    now: DateTime<Utc>,
) -> Option<&'a StoredSigningKey> {
    newest_due(nexts, now).or_else(|| {
        nexts
            .iter()
            .copied()
            .min_by(|a, b| (a.activates_at, &a.kid).cmp(&(b.activates_at, &b.kid)))
    })
}

/// The time a `current` key started signing (`activates_at` if a row lacks `activated_at`).
fn signing_since(key: &StoredSigningKey) -> DateTime<Utc> {
    key.activated_at.unwrap_or(key.activates_at)
}

/// Decides what to generate, activate, retire and remove at `now`. Pure: same input, same plan.
pub fn plan(
    keys: &[StoredSigningKey],
    now: DateTime<Utc>,
    policy: &RotationPolicy,
) -> RotationPlan {
    let mut plan = RotationPlan::default();
    let retention = policy.retired_key_retention();
    let retire = |key: &StoredSigningKey| Retirement {
        kid: key.kid.clone(),
        retired_at: now,
        remove_after: now + retention,
    };

    // Rule 6, for every row whatever its algorithm.
    for key in keys {
        let remove_after = match key.state {
            KeyState::Retired => key.remove_after.or(key.retired_at.map(|t| t + retention)),
            KeyState::Revoked => key.remove_after,
            KeyState::Next | KeyState::Current => None,
        };
        if remove_after.is_some_and(|t| t <= now) {
            plan.remove.push(key.kid.clone());
        }
    }

    for alg in SigningAlgorithm::ALL {
        let of_alg = keys
            .iter()
            .filter(|k| SigningAlgorithm::parse(&k.alg) == Some(alg));
        let mut currents: Vec<&StoredSigningKey> = of_alg
            .clone()
            .filter(|k| k.state == KeyState::Current)
            .collect();
        // Most recently activated first; the kid breaks ties so every node plans alike.
        currents.sort_by(|a, b| (signing_since(b), &b.kid).cmp(&(signing_since(a), &a.kid)));
        let nexts: Vec<&StoredSigningKey> = of_alg.filter(|k| k.state == KeyState::Next).collect();

        if !policy.is_enabled(alg) {
            plan.retire.extend(currents.iter().map(|k| retire(k)));
            plan.remove.extend(nexts.iter().map(|k| k.kid.clone()));
            continue;
        }

        let due: Vec<&StoredSigningKey> = nexts
            .iter()
            .copied()
            .filter(|k| k.activates_at <= now)
            .collect();
        let newest_due = newest_due(&nexts, now);

        let Some((current, older_currents)) = currents.split_first() else {
            // Rule 4, or rule 1 when there is nothing to promote.
            match emergency_promotion(&nexts, now) {
                Some(key) => {
                    plan.activate.push(Activation {
                        kid: key.kid.clone(),
                        activated_at: now,
                    });
                    plan.remove.extend(
                        due.iter()
                            .filter(|k| k.kid != key.kid)
                            .map(|k| k.kid.clone()),
                    );
                }
                None => plan.generate.push(KeyToGenerate {
                    alg,
                    state: KeyState::Current,
                    activates_at: now,
                    activated_at: Some(now),
                }),
            }
            continue;
        };

        plan.retire.extend(older_currents.iter().map(|k| retire(k)));
        if let Some(successor) = newest_due {
            // Rule 3.
            plan.activate.push(Activation {
                kid: successor.kid.clone(),
                activated_at: now,
            });
            plan.retire.push(retire(current));
            plan.remove.extend(
                due.iter()
                    .filter(|k| k.kid != successor.kid)
                    .map(|k| k.kid.clone()),
            );
        } else if nexts.is_empty()
            && now >= signing_since(current) + policy.rotation_period - policy.publish_ahead
        {
            // Rule 2.
            plan.generate.push(KeyToGenerate {
                alg,
                state: KeyState::Next,
                activates_at: now + policy.publish_ahead,
                activated_at: None,
            });
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use std::collections::HashMap;

    fn start() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap() // 2026-01-01T00:00:00Z
    }

    fn key(
        kid: &str,
        alg: SigningAlgorithm,
        state: KeyState,
        created_at: DateTime<Utc>,
    ) -> StoredSigningKey {
        StoredSigningKey {
            kid: kid.to_owned(),
            alg: alg.as_str().to_owned(),
            state,
            public_jwk: "{}".to_owned(),
            encrypted_private_jwk: String::new(),
            master_key_id: "m".to_owned(),
            created_at,
            activates_at: created_at,
            activated_at: (state == KeyState::Current).then_some(created_at),
            retired_at: None,
            remove_after: None,
        }
    }

    /// A key staged as `Next` at `created_at`, to become current at `activates_at`.
    fn staged(
        kid: &str,
        alg: SigningAlgorithm,
        created_at: DateTime<Utc>,
        activates_at: DateTime<Utc>,
    ) -> StoredSigningKey {
        StoredSigningKey {
            activates_at,
            ..key(kid, alg, KeyState::Next, created_at)
        }
    }

    /// Applies a plan to an in-memory key list the way the manager applies it to the
    /// repository, using the same `applied_to` functions; generated kids are `ALG-n`.
    fn apply(
        plan: &RotationPlan,
        keys: &mut Vec<StoredSigningKey>,
        now: DateTime<Utc>,
        serial: &mut u32,
    ) {
        for spec in &plan.generate {
            *serial += 1;
            let mut new = key(
                &format!("{}-{serial}", spec.alg.as_str()),
                spec.alg,
                spec.state,
                now,
            );
            new.activates_at = spec.activates_at;
            new.activated_at = spec.activated_at;
            keys.push(new);
        }
        for change in &plan.activate {
            let k = keys.iter_mut().find(|k| k.kid == change.kid).unwrap();
            *k = change.applied_to(k);
        }
        for change in &plan.retire {
            let k = keys.iter_mut().find(|k| k.kid == change.kid).unwrap();
            *k = change.applied_to(k);
        }
        keys.retain(|k| !plan.remove.contains(&k.kid));
    }

    fn state_rank(state: KeyState) -> u8 {
        match state {
            KeyState::Next => 0,
            KeyState::Current => 1,
            KeyState::Retired => 2,
            KeyState::Revoked => 3,
        }
    }

    #[derive(Debug)]
    struct Life {
        created_at: DateTime<Utc>,
        is_bootstrap: bool,
        activated_at: Option<DateTime<Utc>>,
        retired_at: Option<DateTime<Utc>>,
        last_state: KeyState,
    }

    /// Runs `policy` from an empty store for `length`, planning and applying at instants
    /// `start + sum(gaps)`, and checks every invariant after every step. Returns the number
    /// of activations per algorithm (bootstrap keys excluded).
    fn simulate(
        policy: &RotationPolicy,
        length: Duration,
        mut next_gap: impl FnMut() -> Duration,
    ) -> HashMap<SigningAlgorithm, u32> {
        let mut keys = Vec::new();
        let mut lives: HashMap<String, Life> = HashMap::new();
        let mut activations = HashMap::new();
        let mut serial = 0;
        let mut now = start();
        let end = start() + length;
        let mut is_first = true;
        while now <= end {
            let step = plan(&keys, now, policy);
            apply(&step, &mut keys, now, &mut serial);

            // JWKS never empty, and each enabled algorithm has exactly one current key.
            assert!(
                keys.iter().any(|k| k.state != KeyState::Revoked),
                "{now}: empty JWKS"
            );
            for &alg in &policy.enabled_algorithms {
                let currents = keys
                    .iter()
                    .filter(|k| k.alg == alg.as_str() && k.state == KeyState::Current)
                    .count();
                assert_eq!(currents, 1, "{now}: {alg:?} has {currents} current keys");
                let published = keys.iter().filter(|k| k.alg == alg.as_str()).count();
                let retired_at_once = policy.retired_key_retention().num_seconds()
                    / policy.rotation_period.num_seconds();
                let bound = 3 + usize::try_from(retired_at_once).unwrap();
                assert!(
                    published <= bound,
                    "{now}: {alg:?} publishes {published} keys"
                );
            }

            for k in &keys {
                let life = lives.entry(k.kid.clone()).or_insert_with(|| Life {
                    created_at: now,
                    is_bootstrap: is_first,
                    activated_at: None,
                    retired_at: None,
                    last_state: k.state,
                });
                // A key never goes back.
                assert!(
                    state_rank(k.state) >= state_rank(life.last_state),
                    "{now}: {} went back",
                    k.kid
                );
                life.last_state = k.state;
                if k.state == KeyState::Current && life.activated_at.is_none() {
                    life.activated_at = Some(now);
                    if !life.is_bootstrap {
                        *activations
                            .entry(SigningAlgorithm::parse(&k.alg).unwrap())
                            .or_insert(0) += 1;
                        // Published at least publish_ahead before it signs.
                        assert!(
                            now - life.created_at >= policy.publish_ahead,
                            "{now}: {} activated early",
                            k.kid
                        );
                    }
                }
                if k.state == KeyState::Retired && life.retired_at.is_none() {
                    life.retired_at = Some(now);
                    let activated = life.activated_at.unwrap();
                    // Rotation does happen, on time give or take one step.
                    assert!(
                        now - activated >= policy.rotation_period,
                        "{now}: {} retired early",
                        k.kid
                    );
                }
            }
            // Removed keys: a retired key outlives every token it signed.
            let gone: Vec<String> = lives
                .keys()
                .filter(|kid| !keys.iter().any(|k| &k.kid == *kid))
                .cloned()
                .collect();
            for kid in gone {
                let life = lives.remove(&kid).unwrap();
                if let Some(retired_at) = life.retired_at {
                    assert!(
                        now >= retired_at + policy.max_token_lifetime + policy.clock_skew,
                        "{now}: {kid} removed too soon"
                    );
                }
            }
            is_first = false;
            now += next_gap();
        }
        activations
    }

    #[test]
    fn six_months_in_ten_minute_ticks_keep_every_invariant() {
        let policy = RotationPolicy::default();
        let activations = simulate(&policy, Duration::days(182), || Duration::minutes(10));
        // 182 days / 30-day periods: the bootstrap key and 6 successors per algorithm.
        for alg in SigningAlgorithm::ALL {
            assert_eq!(activations.get(&alg), Some(&6), "{alg:?}");
        }
    }

    #[test]
    fn irregular_ticks_and_long_outages_keep_every_invariant() {
        // A deterministic LCG: gaps from 1 minute to ~4 hours, and every 500th a 3-day outage.
        let mut state: u64 = 0x5eed;
        let mut count = 0u32;
        let gaps = move || {
            count += 1;
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if count.is_multiple_of(500) {
                Duration::days(3)
            } else {
                Duration::minutes(1 + (state >> 33) as i64 % 240)
            }
        };
        let activations = simulate(&RotationPolicy::default(), Duration::days(365), gaps);
        assert!(activations.values().all(|&n| n >= 9), "{activations:?}");
    }

    #[test]
    fn long_token_lifetimes_and_short_rotations_keep_every_invariant() {
        // Retained keys outlive a rotation period here: several retired keys coexist.
        let policy = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256, SigningAlgorithm::ES256],
            rotation_period: Duration::days(1),
            publish_ahead: Duration::hours(2),
            max_token_lifetime: Duration::hours(36),
            ..RotationPolicy::default()
        };
        policy.validate().unwrap();
        let activations = simulate(&policy, Duration::days(60), || Duration::minutes(10));
        assert_eq!(activations.get(&SigningAlgorithm::RS256), Some(&60));
        assert_eq!(activations.get(&SigningAlgorithm::EdDSA), None);
    }

    #[test]
    fn a_fresh_deployment_gets_a_current_key_per_algorithm_at_once() {
        let now = start();
        let step = plan(&[], now, &RotationPolicy::default());
        assert_eq!(step.generate.len(), 3);
        for spec in &step.generate {
            assert_eq!(spec.state, KeyState::Current);
            assert_eq!(spec.activated_at, Some(now));
        }
        let only_rs256 = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256],
            ..RotationPolicy::default()
        };
        let step = plan(&[], now, &only_rs256);
        assert_eq!(step.generate.len(), 1);
        assert_eq!(step.generate[0].alg, SigningAlgorithm::RS256);
    }

    #[test]
    fn a_successor_is_staged_publish_ahead_before_the_period_ends() {
        let policy = RotationPolicy::default();
        let t0 = start();
        let keys = [key("a", SigningAlgorithm::RS256, KeyState::Current, t0)];
        let only_rs256 = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256],
            ..policy
        };
        let threshold = t0 + Duration::days(29);
        assert!(plan(&keys, threshold - Duration::seconds(1), &only_rs256).is_empty());
        let step = plan(&keys, threshold, &only_rs256);
        assert_eq!(
            step.generate,
            vec![KeyToGenerate {
                alg: SigningAlgorithm::RS256,
                state: KeyState::Next,
                activates_at: threshold + Duration::hours(24),
                activated_at: None,
            }]
        );
    }

    #[test]
    fn activation_retires_the_old_key_and_drops_superseded_staged_keys() {
        let policy = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256],
            ..RotationPolicy::default()
        };
        let t0 = start();
        let now = t0 + Duration::days(31);
        let scheduled = staged(
            "scheduled",
            SigningAlgorithm::RS256,
            t0 + Duration::days(29),
            t0 + Duration::days(30),
        );
        let rotated_now = staged(
            "rotated-now",
            SigningAlgorithm::RS256,
            t0 + Duration::days(29) + Duration::hours(1),
            t0 + Duration::days(30) + Duration::hours(1),
        );
        let keys = [
            key("old", SigningAlgorithm::RS256, KeyState::Current, t0),
            scheduled,
            rotated_now,
        ];
        let step = plan(&keys, now, &policy);
        assert_eq!(
            step.activate,
            vec![Activation {
                kid: "rotated-now".into(),
                activated_at: now
            }]
        );
        assert_eq!(
            step.retire,
            vec![Retirement {
                kid: "old".into(),
                retired_at: now,
                remove_after: now + policy.retired_key_retention()
            }]
        );
        assert_eq!(step.remove, vec!["scheduled".to_owned()]);
        assert!(step.generate.is_empty());
    }

    #[test]
    fn after_a_revocation_the_staged_key_is_promoted_or_a_new_one_made() {
        let policy = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256],
            ..RotationPolicy::default()
        };
        let t0 = start();
        let now = t0 + Duration::days(29) + Duration::hours(2);
        let current = key(
            "compromised",
            SigningAlgorithm::RS256,
            KeyState::Current,
            t0,
        );
        let staged = staged(
            "staged",
            SigningAlgorithm::RS256,
            t0 + Duration::days(29),
            t0 + Duration::days(30),
        );

        let revoked_key = revoked(&current, now, &policy);
        assert_eq!(revoked_key.state, KeyState::Revoked);
        let step = plan(&[revoked_key.clone(), staged.clone()], now, &policy);
        assert_eq!(
            step.activate,
            vec![Activation {
                kid: "staged".into(),
                activated_at: now
            }]
        );
        assert!(step.generate.is_empty());

        let step = plan(std::slice::from_ref(&revoked_key), now, &policy);
        assert_eq!(step.generate.len(), 1);
        assert_eq!(step.generate[0].state, KeyState::Current);

        // The revoked row is kept for the audit trail, then removed.
        let later = revoked_key.remove_after.unwrap();
        assert!(
            !plan(
                std::slice::from_ref(&revoked_key),
                later - Duration::seconds(1),
                &policy
            )
            .remove
            .contains(&"compromised".to_owned())
        );
        assert!(
            plan(std::slice::from_ref(&revoked_key), later, &policy)
                .remove
                .contains(&"compromised".to_owned())
        );
    }

    #[test]
    fn a_disabled_algorithm_stops_signing_but_stays_published_until_its_tokens_expire() {
        let policy = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256],
            ..RotationPolicy::default()
        };
        let t0 = start();
        let now = t0 + Duration::days(2);
        let keys = vec![
            key("rs", SigningAlgorithm::RS256, KeyState::Current, t0),
            key("ed", SigningAlgorithm::EdDSA, KeyState::Current, t0),
            key(
                "ed-next",
                SigningAlgorithm::EdDSA,
                KeyState::Next,
                t0 + Duration::days(1),
            ),
        ];
        let step = plan(&keys, now, &policy);
        assert_eq!(step.retire.len(), 1);
        assert_eq!(step.retire[0].kid, "ed");
        assert_eq!(step.remove, vec!["ed-next".to_owned()]);
        assert!(step.generate.is_empty() && step.activate.is_empty());
    }

    #[test]
    fn a_second_current_key_left_by_a_crash_is_retired() {
        let policy = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256],
            ..RotationPolicy::default()
        };
        let t0 = start();
        let keys = [
            key("older", SigningAlgorithm::RS256, KeyState::Current, t0),
            key(
                "newer",
                SigningAlgorithm::RS256,
                KeyState::Current,
                t0 + Duration::days(1),
            ),
        ];
        let step = plan(&keys, t0 + Duration::days(2), &policy);
        assert_eq!(step.retire.len(), 1);
        assert_eq!(step.retire[0].kid, "older");
    }

    #[test]
    fn revoking_a_signing_key_names_its_replacement_as_the_next_plan_would() {
        let policy = RotationPolicy::default();
        let t0 = start();
        let now = t0 + Duration::days(3);
        let current = key("cur", SigningAlgorithm::ES256, KeyState::Current, t0);
        let staged_late = staged(
            "late",
            SigningAlgorithm::ES256,
            t0 + Duration::days(2),
            now + Duration::hours(20),
        );
        let staged_soon = staged(
            "soon",
            SigningAlgorithm::ES256,
            t0 + Duration::days(1),
            now + Duration::hours(2),
        );
        let other_alg = key("rs", SigningAlgorithm::RS256, KeyState::Current, t0);
        let keys = vec![
            current.clone(),
            staged_late.clone(),
            staged_soon.clone(),
            other_alg.clone(),
        ];

        // The staged key due soonest, the same one the plan promotes once the revocation is in.
        let chosen = replacement_for_revoked(&keys, &current, now, &policy);
        assert_eq!(
            chosen,
            Replacement::Promote(Activation {
                kid: "soon".into(),
                activated_at: now
            })
        );
        let mut after = keys.clone();
        after[0] = revoked(&current, now, &policy);
        assert_eq!(plan(&after, now, &policy).activate, {
            let Replacement::Promote(activation) = chosen else {
                unreachable!()
            };
            vec![activation]
        });

        // Nothing staged: a fresh key, current at once.
        let alone = vec![current.clone(), other_alg.clone()];
        assert_eq!(
            replacement_for_revoked(&alone, &current, now, &policy),
            Replacement::Generate(KeyToGenerate {
                alg: SigningAlgorithm::ES256,
                state: KeyState::Current,
                activates_at: now,
                activated_at: Some(now),
            })
        );

        // Not signing, another key signs already, or a disabled algorithm: nothing to add.
        for (keys, target) in [
            (keys.clone(), staged_soon.clone()),
            (
                vec![
                    current.clone(),
                    key("cur2", SigningAlgorithm::ES256, KeyState::Current, t0),
                ],
                current.clone(),
            ),
        ] {
            assert_eq!(
                replacement_for_revoked(&keys, &target, now, &policy),
                Replacement::NotNeeded
            );
        }
        let only_rs256 = RotationPolicy {
            enabled_algorithms: vec![SigningAlgorithm::RS256],
            ..RotationPolicy::default()
        };
        let ed = key("ed", SigningAlgorithm::EdDSA, KeyState::Current, t0);
        assert_eq!(
            replacement_for_revoked(std::slice::from_ref(&ed), &ed, now, &only_rs256),
            Replacement::NotNeeded
        );
    }

    #[test]
    fn rows_of_unknown_algorithms_are_left_alone() {
        let t0 = start();
        let mut stranger = key("ps", SigningAlgorithm::RS256, KeyState::Current, t0);
        stranger.alg = "PS256".into();
        let step = plan(&[stranger], t0, &RotationPolicy::default());
        assert!(step.retire.is_empty() && step.remove.is_empty() && step.activate.is_empty());
        assert_eq!(step.generate.len(), 3);
    }
}
