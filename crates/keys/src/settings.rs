//! The `keys` section of the configuration (`PALISADE_KEYS__*`): [`RotationPolicy`] as an
//! operator writes it, in days, hours and seconds. The defaults are the policy's own, so they
//! are written once.

use crate::policy::RotationPolicy;
use chrono::Duration;
use palisade_core::MAX_SETTING_SECS;
use palisade_core::ports::SigningAlgorithm;
use serde::{Deserialize, Serialize};

/// Signing-key rotation (docs/keys.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeySettings {
    /// `RS256` (required), `ES256`, `EdDSA`.
    pub algorithms: Vec<String>,
    pub rotation_period_days: i64,
    pub publish_ahead_hours: i64,
    pub jwks_max_age_secs: i64,
    pub refresh_interval_secs: i64,
}

impl Default for KeySettings {
    fn default() -> Self {
        let policy = RotationPolicy::default();
        Self {
            algorithms: policy
                .enabled_algorithms
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            rotation_period_days: policy.rotation_period.num_days(),
            publish_ahead_hours: policy.publish_ahead.num_hours(),
            jwks_max_age_secs: policy.jwks_max_age.num_seconds(),
            refresh_interval_secs: policy.refresh_interval.num_seconds(),
        }
    }
}

/// Why the `keys` section was refused: the field at fault (`None`: the policy's rules as a
/// whole, [`RotationPolicy::validate`]) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySettingsError {
    pub field: Option<&'static str>,
    pub reason: String,
}

impl KeySettingsError {
    fn of(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            reason: reason.into(),
        }
    }
}

impl KeySettings {
    /// The checked policy; `token_lifetimes` are those of the tokens these keys sign, which a
    /// retired key must outlive. ES256 is always enabled: access tokens are signed with it.
    pub fn to_policy(
        &self,
        token_lifetimes: impl IntoIterator<Item = Duration>,
    ) -> Result<RotationPolicy, KeySettingsError> {
        let mut algorithms = Vec::new();
        for name in &self.algorithms {
            let alg = SigningAlgorithm::parse(name).ok_or_else(|| {
                KeySettingsError::of(
                    "algorithms",
                    format!("unknown algorithm {name:?} (RS256, ES256, EdDSA)"),
                )
            })?;
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        if !algorithms.contains(&SigningAlgorithm::ES256) {
            algorithms.push(SigningAlgorithm::ES256);
        }
        let bounded = [
            (
                "rotation_period_days",
                self.rotation_period_days.saturating_mul(86_400),
            ),
            (
                "publish_ahead_hours",
                self.publish_ahead_hours.saturating_mul(3_600),
            ),
            ("jwks_max_age_secs", self.jwks_max_age_secs),
            ("refresh_interval_secs", self.refresh_interval_secs),
        ];
        for (field, secs) in bounded {
            if secs.unsigned_abs() > MAX_SETTING_SECS.unsigned_abs() {
                return Err(KeySettingsError::of(field, "must be at most ten years"));
            }
        }
        let policy = RotationPolicy {
            enabled_algorithms: algorithms,
            rotation_period: Duration::days(self.rotation_period_days),
            publish_ahead: Duration::hours(self.publish_ahead_hours),
            jwks_max_age: Duration::seconds(self.jwks_max_age_secs),
            refresh_interval: Duration::seconds(self.refresh_interval_secs),
            ..RotationPolicy::default()
        }
        .with_token_lifetimes(token_lifetimes);
        policy.validate().map_err(|e| KeySettingsError {
            field: None,
            reason: e.to_string(),
        })?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_policy_defaults() {
        let policy = KeySettings::default().to_policy([]).unwrap();
        assert_eq!(policy, RotationPolicy::default());
    }

    #[test]
    fn es256_is_always_enabled_and_unknown_algorithms_are_named() {
        let only_rs256 = KeySettings {
            algorithms: vec!["RS256".into()],
            ..KeySettings::default()
        };
        let policy = only_rs256.to_policy([]).unwrap();
        assert_eq!(
            policy.enabled_algorithms,
            [SigningAlgorithm::RS256, SigningAlgorithm::ES256]
        );
        let unknown = KeySettings {
            algorithms: vec!["HS256".into()],
            ..KeySettings::default()
        };
        assert_eq!(unknown.to_policy([]).unwrap_err().field, Some("algorithms"));
        let huge = KeySettings {
            rotation_period_days: i64::MAX,
            ..KeySettings::default()
        };
        assert_eq!(
            huge.to_policy([]).unwrap_err().field,
            Some("rotation_period_days")
        );
    }
}
