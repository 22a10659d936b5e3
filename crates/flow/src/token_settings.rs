//! The `tokens` section of the configuration (`PALISADE_TOKENS__*`): [`TokenPolicy`]'s
//! lifetimes in whole seconds, as an operator writes them. The defaults are the policy's own,
//! so they are written once.

use crate::server::TokenPolicy;
use chrono::Duration;
use palisade_core::MAX_SETTING_SECS;
use serde::{Deserialize, Serialize};

/// Token lifetimes, in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenSettings {
    pub code_ttl_secs: i64,
    pub access_token_ttl_secs: i64,
    pub id_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub refresh_token_idle_secs: i64,
    pub refresh_reuse_grace_secs: i64,
    pub interaction_ttl_secs: i64,
    pub session_ttl_secs: i64,
    pub session_idle_secs: i64,
}

impl Default for TokenSettings {
    fn default() -> Self {
        let policy = TokenPolicy::default();
        Self {
            code_ttl_secs: policy.code_ttl.num_seconds(),
            access_token_ttl_secs: policy.access_token_ttl.num_seconds(),
            id_token_ttl_secs: policy.id_token_ttl.num_seconds(),
            refresh_token_ttl_secs: policy.refresh_token_ttl.num_seconds(),
            refresh_token_idle_secs: policy.refresh_token_idle_ttl.num_seconds(),
            refresh_reuse_grace_secs: policy.refresh_reuse_grace.num_seconds(),
            interaction_ttl_secs: policy.interaction_ttl.num_seconds(),
            session_ttl_secs: policy.session_ttl.num_seconds(),
            session_idle_secs: policy.session_idle_ttl.num_seconds(),
        }
    }
}

impl TokenSettings {
    /// Every lifetime is positive and at most ten years; the reuse grace is 0 (off) to 300 s.
    /// `Err((field, reason))` names the field at fault.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let positive = [
            ("code_ttl_secs", self.code_ttl_secs),
            ("access_token_ttl_secs", self.access_token_ttl_secs),
            ("id_token_ttl_secs", self.id_token_ttl_secs),
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
            ("refresh_token_idle_secs", self.refresh_token_idle_secs),
            ("interaction_ttl_secs", self.interaction_ttl_secs),
            ("session_ttl_secs", self.session_ttl_secs),
            ("session_idle_secs", self.session_idle_secs),
        ];
        for (field, value) in positive {
            if value <= 0 || value > MAX_SETTING_SECS {
                return Err((
                    field,
                    "must be a positive number of seconds, at most ten years",
                ));
            }
        }
        if !(0..=300).contains(&self.refresh_reuse_grace_secs) {
            return Err((
                "refresh_reuse_grace_secs",
                "must be between 0 (disabled) and 300 seconds",
            ));
        }
        Ok(())
    }

    /// The policy with these lifetimes (and the default algorithms).
    pub fn to_policy(&self) -> TokenPolicy {
        TokenPolicy {
            code_ttl: Duration::seconds(self.code_ttl_secs),
            access_token_ttl: Duration::seconds(self.access_token_ttl_secs),
            id_token_ttl: Duration::seconds(self.id_token_ttl_secs),
            refresh_token_ttl: Duration::seconds(self.refresh_token_ttl_secs),
            refresh_token_idle_ttl: Duration::seconds(self.refresh_token_idle_secs),
            refresh_reuse_grace: Duration::seconds(self.refresh_reuse_grace_secs),
            interaction_ttl: Duration::seconds(self.interaction_ttl_secs),
            session_ttl: Duration::seconds(self.session_ttl_secs),
            session_idle_ttl: Duration::seconds(self.session_idle_secs),
            ..TokenPolicy::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_policy_defaults_and_valid() {
        let settings = TokenSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        let (from_settings, default) = (settings.to_policy(), TokenPolicy::default());
        assert_eq!(format!("{from_settings:?}"), format!("{default:?}"));
        assert_eq!(settings.code_ttl_secs, 60);
        assert_eq!(settings.refresh_token_ttl_secs, 30 * 24 * 3600);
    }

    #[test]
    fn out_of_range_lifetimes_name_their_field() {
        type Spoil = fn(&mut TokenSettings);
        let cases: [(Spoil, &str); 6] = [
            (|s| s.code_ttl_secs = 0, "code_ttl_secs"),
            (
                |s| s.access_token_ttl_secs = i64::MAX,
                "access_token_ttl_secs",
            ),
            (|s| s.session_ttl_secs = -1, "session_ttl_secs"),
            (|s| s.session_idle_secs = 0, "session_idle_secs"),
            (|s| s.refresh_token_idle_secs = 0, "refresh_token_idle_secs"),
            (
                |s| s.refresh_reuse_grace_secs = 301,
                "refresh_reuse_grace_secs",
            ),
        ];
        for (spoil, field) in cases {
            let mut settings = TokenSettings::default();
            spoil(&mut settings);
            assert_eq!(settings.validate().map_err(|(f, _)| f), Err(field));
        }
    }
}
