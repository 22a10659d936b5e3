//! The `[dpop]` settings (docs/configuration.md) and the policy the engine applies.

use serde::{Deserialize, Serialize};

/// DPoP settings as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopSettings {
    /// Every DPoP proof must carry a server nonce (RFC 9449 §8-9); off.
    pub require_nonce: bool,
    /// How old a proof's `iat` may be (RFC 9449 §11.1: a short window limits pre-generated
    /// proofs); 60 s.
    pub proof_max_age_secs: i64,
    /// How far ahead of our clock a proof's `iat` may be (the client's clock); 5 s.
    pub clock_skew_secs: i64,
    /// How long a server nonce is handed out before the next one; the previous one is still
    /// accepted for as long again. 300 s.
    pub nonce_lifetime_secs: i64,
}

impl Default for DpopSettings {
    fn default() -> Self {
        let policy = DpopPolicy::default();
        Self {
            require_nonce: policy.require_nonce,
            proof_max_age_secs: policy.proof_max_age_secs,
            clock_skew_secs: policy.clock_skew_secs,
            nonce_lifetime_secs: policy.nonce_lifetime_secs,
        }
    }
}

impl DpopSettings {
    /// The setting at fault and why, if any is out of range.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(1..=600).contains(&self.proof_max_age_secs) {
            return Err(("proof_max_age_secs", "must be between 1 and 600 seconds"));
        }
        if !(0..=60).contains(&self.clock_skew_secs) {
            return Err(("clock_skew_secs", "must be between 0 and 60 seconds"));
        }
        if !(10..=3600).contains(&self.nonce_lifetime_secs) {
            return Err(("nonce_lifetime_secs", "must be between 10 and 3600 seconds"));
        }
        Ok(())
    }

    pub fn to_policy(&self) -> DpopPolicy {
        DpopPolicy {
            require_nonce: self.require_nonce,
            proof_max_age_secs: self.proof_max_age_secs,
            clock_skew_secs: self.clock_skew_secs,
            nonce_lifetime_secs: self.nonce_lifetime_secs,
        }
    }
}

/// What the engine checks of DPoP proofs (the validated [`DpopSettings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    pub require_nonce: bool,
    pub proof_max_age_secs: i64,
    pub clock_skew_secs: i64,
    pub nonce_lifetime_secs: i64,
}

impl Default for DpopPolicy {
    fn default() -> Self {
        Self {
            require_nonce: false,
            // RFC 9449 §11.1 leaves the window to the server; a minute covers a slow network
            // and is the window of our client assertions.
            proof_max_age_secs: 60,
            clock_skew_secs: 5,
            nonce_lifetime_secs: 300,
        }
    }
}

impl DpopPolicy {
    /// How long a proof's `jti` must be remembered: as long as the proof can pass the `iat`
    /// check, plus a second for rounding.
    pub fn replay_window_secs(&self) -> u64 {
        u64::try_from(self.proof_max_age_secs + self.clock_skew_secs + 1).unwrap_or(600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_the_policy_defaults() {
        let settings = DpopSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert_eq!(settings.to_policy(), DpopPolicy::default());
    }

    #[test]
    fn out_of_range_settings_name_their_field() {
        type Spoil = fn(&mut DpopSettings);
        let cases: [(Spoil, &str); 4] = [
            (|s| s.proof_max_age_secs = 0, "proof_max_age_secs"),
            (|s| s.proof_max_age_secs = 3600, "proof_max_age_secs"),
            (|s| s.clock_skew_secs = -1, "clock_skew_secs"),
            (|s| s.nonce_lifetime_secs = 1, "nonce_lifetime_secs"),
        ];
        for (spoil, field) in cases {
            let mut settings = DpopSettings::default();
            spoil(&mut settings);
            assert_eq!(settings.validate().map_err(|(f, _)| f), Err(field));
        }
    }
}
