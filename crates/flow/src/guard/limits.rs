//! The configured limits (`[attempt_limits]`, docs/configuration.md) and the lock durations
//! they imply.

use super::source::SourceLimit;
use std::time::Duration;

/// The limits, as configured (`[attempt_limits]`, docs/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttemptLimits {
    /// Length of the window of the per-IP, per-prefix and per-client counters.
    pub window_secs: u64,
    /// Failed checks allowed from one IP address per window.
    pub per_ip: u64,
    /// Failed checks allowed from one /24 (IPv4) or /64 (IPv6) per window.
    pub per_prefix: u64,
    /// Consecutive failures that lock an account.
    pub lockout_threshold: u64,
    /// The failures must fall within this window to count as one streak.
    pub lockout_window_secs: u64,
    /// The first lock's duration; each further lock doubles it.
    pub lockout_base_secs: u64,
    /// The longest lock. A lock that ended longer ago than this no longer doubles the next one.
    pub lockout_max_secs: u64,
    /// Sign-ins (stored interactions) one IP address may start per `interaction_window_secs`.
    pub interactions_per_ip: u64,
    /// Sign-ins one /24 (IPv4) or /64 (IPv6) may start per `interaction_window_secs`.
    pub interactions_per_prefix: u64,
    /// The window of the two interaction limits.
    pub interaction_window_secs: u64,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            per_ip: 50,
            per_prefix: 200,
            lockout_threshold: 5,
            lockout_window_secs: 15 * 60,
            lockout_base_secs: 15 * 60,
            lockout_max_secs: 24 * 3600,
            // Two sign-ins a second from one address, ten from one network: above what a shared
            // office address starts, and it caps what one source keeps stored at
            // `interaction_ttl / window * limit` interactions, so it takes many networks to
            // fill the in-process store's 100,000 keys (docs/configuration.md).
            interactions_per_ip: 120,
            interactions_per_prefix: 600,
            interaction_window_secs: 60,
        }
    }
}

impl AttemptLimits {
    /// Checks the limits make sense; the error names the offending field.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let positive = [
            ("window_secs", self.window_secs),
            ("per_ip", self.per_ip),
            ("per_prefix", self.per_prefix),
            ("lockout_threshold", self.lockout_threshold),
            ("lockout_window_secs", self.lockout_window_secs),
            ("lockout_base_secs", self.lockout_base_secs),
            ("lockout_max_secs", self.lockout_max_secs),
            ("interactions_per_ip", self.interactions_per_ip),
            ("interactions_per_prefix", self.interactions_per_prefix),
            ("interaction_window_secs", self.interaction_window_secs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err((name, "must be at least 1"));
        }
        if self.lockout_base_secs > self.lockout_max_secs {
            return Err(("lockout_base_secs", "must not exceed lockout_max_secs"));
        }
        if self.interactions_per_ip > self.interactions_per_prefix {
            return Err((
                "interactions_per_prefix",
                "must be at least interactions_per_ip (a prefix holds the IP)",
            ));
        }
        if self.per_ip > self.per_prefix {
            return Err((
                "per_prefix",
                "must be at least per_ip (a prefix holds the IP)",
            ));
        }
        Ok(())
    }

    /// The duration of the `lock_count`-th lock in a row: base, doubling, capped.
    pub fn lock_duration(&self, lock_count: i32) -> Duration {
        let doublings = u32::try_from(lock_count.saturating_sub(1).max(0)).unwrap_or(0);
        let secs = 2u64
            .checked_pow(doublings)
            .and_then(|factor| self.lockout_base_secs.checked_mul(factor))
            .unwrap_or(u64::MAX);
        Duration::from_secs(secs.min(self.lockout_max_secs))
    }

    /// The per-source limit on starting sign-ins (stored interactions).
    pub fn interactions_per_source(&self) -> SourceLimit {
        SourceLimit {
            window_secs: self.interaction_window_secs,
            per_ip: self.interactions_per_ip,
            per_prefix: self.interactions_per_prefix,
        }
    }

    /// The per-source limit on failed credential checks.
    pub fn failed_checks_per_source(&self) -> SourceLimit {
        SourceLimit {
            window_secs: self.window_secs,
            per_ip: self.per_ip,
            per_prefix: self.per_prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_durations_double_from_the_base_up_to_the_cap() {
        let limits = AttemptLimits::default();
        let minutes = |n: i32| limits.lock_duration(n).as_secs() / 60;
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 7, 50, i32::MAX].map(minutes),
            [15, 30, 60, 120, 240, 480, 960, 1440, 1440]
        );
        assert_eq!(limits.lock_duration(0).as_secs(), 15 * 60);
    }

    #[test]
    fn default_limits_are_valid_and_nonsense_is_named() {
        assert_eq!(AttemptLimits::default().validate(), Ok(()));
        let zero = AttemptLimits {
            lockout_threshold: 0,
            ..AttemptLimits::default()
        };
        assert_eq!(zero.validate().unwrap_err().0, "lockout_threshold");
        let inverted = AttemptLimits {
            lockout_base_secs: 100_000,
            ..AttemptLimits::default()
        };
        assert_eq!(inverted.validate().unwrap_err().0, "lockout_base_secs");
    }
}
