//! The rotation policy: how long a key signs, how early it is published, how long it stays.
//!
//! The rules behind the numbers (docs/design.md §3):
//!
//! - A verifier may cache the JWKS for `jwks_max_age` (the `Cache-Control: max-age` of
//!   RFC 9111 §5.2.2.1 on the JWKS response, RFC 7517 §5), and every node picks up a new key only
//!   at its next refresh, up to `refresh_interval` later. So a new key must sit in the JWKS as
//!   `next` for at least `jwks_max_age + refresh_interval` before anyone signs with it:
//!   `publish_ahead` may not be shorter.
//! - A retired key must stay published until every token it signed has expired. A node may
//!   keep signing with it until its next refresh, so it stays for
//!   `max_token_lifetime + clock_skew + refresh_interval` after its retirement.
//! - RS256 can never be disabled: OpenID Connect Core §15.1 requires it for ID tokens.

use chrono::Duration;
use palisade_core::ports::SigningAlgorithm;

/// How keys rotate. Build with [`RotationPolicy::default`] and adjust fields, then call
/// [`RotationPolicy::validate`] (the [`KeyManager`](crate::KeyManager) refuses an invalid one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationPolicy {
    /// Algorithms that get a key ring; RS256 must be among them.
    pub enabled_algorithms: Vec<SigningAlgorithm>,
    /// How long a key is `current` before its successor takes over. Default 30 days.
    pub rotation_period: Duration,
    /// How long a key is published as `next` before it signs. Default 24 h.
    pub publish_ahead: Duration,
    /// The JWKS response's `Cache-Control: public, max-age`. Default 1 h.
    pub jwks_max_age: Duration,
    /// The longest lifetime of any token these keys sign: max(ID token, access token, ...).
    /// Default 1 h; the server sets it from its token lifetimes.
    pub max_token_lifetime: Duration,
    /// Leeway verifiers allow on `exp`. Default 60 s.
    pub clock_skew: Duration,
    /// How often every node refreshes its keys from the database (and the lease holder
    /// rotates). Default 10 min.
    pub refresh_interval: Duration,
}

impl Default for RotationPolicy {
    fn default() -> Self {
        Self {
            enabled_algorithms: SigningAlgorithm::ALL.to_vec(),
            rotation_period: Duration::days(30),
            publish_ahead: Duration::hours(24),
            jwks_max_age: Duration::hours(1),
            max_token_lifetime: Duration::hours(1),
            clock_skew: Duration::seconds(60),
            refresh_interval: Duration::minutes(10),
        }
    }
}

/// Why a policy was refused; each message names the fields involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid key rotation policy: {}", .0.join("; "))]
pub struct PolicyError(pub Vec<String>);

impl RotationPolicy {
    /// Sets `max_token_lifetime` to the longest of the token lifetimes given.
    pub fn with_token_lifetimes(mut self, lifetimes: impl IntoIterator<Item = Duration>) -> Self {
        if let Some(longest) = lifetimes.into_iter().max() {
            self.max_token_lifetime = longest;
        }
        self
    }

    /// Checks the rules of the module doc; lists every violation at once.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let mut problems = Vec::new();
        if !self.enabled_algorithms.contains(&SigningAlgorithm::RS256) {
            problems.push(
                "RS256 cannot be disabled: OpenID Connect requires it for ID tokens".to_owned(),
            );
        }
        let positive = [
            ("rotation_period", self.rotation_period),
            ("publish_ahead", self.publish_ahead),
            ("jwks_max_age", self.jwks_max_age),
            ("max_token_lifetime", self.max_token_lifetime),
            ("refresh_interval", self.refresh_interval),
        ];
        for (name, value) in positive {
            if value <= Duration::zero() {
                problems.push(format!("{name} must be positive"));
            }
        }
        if self.clock_skew < Duration::zero() {
            problems.push("clock_skew must not be negative".to_owned());
        }
        let minimum_ahead = self.jwks_max_age + self.refresh_interval;
        if self.publish_ahead < minimum_ahead {
            problems.push(format!(
                "publish_ahead ({}s) must be at least jwks_max_age + refresh_interval ({}s): \
                 verifiers could meet a key that is not yet in their cached JWKS",
                self.publish_ahead.num_seconds(),
                minimum_ahead.num_seconds()
            ));
        }
        if self.rotation_period <= self.publish_ahead {
            problems.push(format!(
                "rotation_period ({}s) must be longer than publish_ahead ({}s)",
                self.rotation_period.num_seconds(),
                self.publish_ahead.num_seconds()
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(PolicyError(problems))
        }
    }

    pub fn is_enabled(&self, alg: SigningAlgorithm) -> bool {
        self.enabled_algorithms.contains(&alg)
    }

    /// How long a retired key stays published after its retirement.
    pub fn retired_key_retention(&self) -> Duration {
        self.max_token_lifetime + self.clock_skew + self.refresh_interval
    }

    /// `max-age` for the JWKS response, in seconds.
    pub fn jwks_max_age_seconds(&self) -> u64 {
        u64::try_from(self.jwks_max_age.num_seconds()).unwrap_or(0)
    }

    /// The JWKS response's `Cache-Control` value, e.g. `public, max-age=3600`.
    pub fn jwks_cache_control(&self) -> String {
        format!("public, max-age={}", self.jwks_max_age_seconds())
    }

    /// The rotation lease's time to live: two refresh intervals, so a holder that misses one
    /// tick keeps it, and a dead holder is replaced within two.
    pub fn lease_ttl(&self) -> std::time::Duration {
        (self.refresh_interval * 2)
            .to_std()
            .unwrap_or(std::time::Duration::from_secs(1200))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        let policy = RotationPolicy::default();
        assert_eq!(policy.validate(), Ok(()));
        assert_eq!(policy.jwks_cache_control(), "public, max-age=3600");
        assert_eq!(policy.lease_ttl(), std::time::Duration::from_secs(1200));
    }

    #[test]
    fn refuses_policies_that_break_the_rules() {
        /// (case, how the default policy is broken, a word the error must name)
        type Case = (&'static str, fn(&mut RotationPolicy), &'static str);
        let cases: [Case; 5] = [
            (
                "RS256 disabled",
                |p| p.enabled_algorithms = vec![SigningAlgorithm::ES256],
                "RS256",
            ),
            (
                "published for less than the JWKS max-age",
                |p| p.publish_ahead = Duration::minutes(30),
                "publish_ahead",
            ),
            (
                "published for the max-age but not the refresh interval",
                |p| p.publish_ahead = Duration::hours(1),
                "publish_ahead",
            ),
            (
                "rotation shorter than publish_ahead",
                |p| p.rotation_period = Duration::hours(12),
                "rotation_period",
            ),
            (
                "zero token lifetime",
                |p| p.max_token_lifetime = Duration::zero(),
                "max_token_lifetime",
            ),
        ];
        for (case, change, expected) in cases {
            let mut policy = RotationPolicy::default();
            change(&mut policy);
            let error = policy.validate().expect_err(case);
            assert!(error.to_string().contains(expected), "{case}: {error}");
        }
    }

    #[test]
    fn the_longest_token_lifetime_wins() {
        let policy = RotationPolicy::default()
            .with_token_lifetimes([Duration::minutes(15), Duration::hours(2)]);
        assert_eq!(policy.max_token_lifetime, Duration::hours(2));
        assert_eq!(
            policy.retired_key_retention(),
            Duration::hours(2) + Duration::seconds(60) + Duration::minutes(10)
        );
    }
}
