//! The `prompt` and `max_age` authorization request parameters: OIDC Core §3.1.2.1, with the
//! errors of §3.1.2.6 decided later by the authorization logic.
//!
//! `prompt` is a space-separated set of `none`, `login`, `consent` and `select_account`;
//! `none` with any other value, or an unknown value, is `invalid_request`. `max_age` is a
//! non-negative number of seconds since the user last actively authenticated.

use chrono::{DateTime, Utc};
use palisade_core::OAuthError;

/// One value of the `prompt` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PromptValue {
    /// Show no page at all; answer `login_required`, `consent_required` or
    /// `interaction_required` if one would be needed.
    None,
    /// Re-authenticate the user even if a session exists.
    Login,
    /// Ask for consent even if it was given before.
    Consent,
    /// Let the user choose an account.
    SelectAccount,
}

impl PromptValue {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Login => "login",
            Self::Consent => "consent",
            Self::SelectAccount => "select_account",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "none" => Some(Self::None),
            "login" => Some(Self::Login),
            "consent" => Some(Self::Consent),
            "select_account" => Some(Self::SelectAccount),
            _ => None,
        }
    }
}

/// The set of `prompt` values of one request; empty when the parameter was absent or blank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
    select_account: bool,
}

impl Prompt {
    /// Parses the `prompt` parameter. Values are case-sensitive and may repeat; runs of spaces
    /// are tolerated; a blank value is the empty set. An unknown value, or `none` together with
    /// another value, is `invalid_request` (OIDC Core §3.1.2.1).
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let mut prompt = Self::default();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            let value = PromptValue::parse(token).ok_or_else(|| {
                OAuthError::invalid_request(
                    "prompt may contain only none, login, consent and select_account",
                )
            })?;
            match value {
                PromptValue::None => prompt.none = true,
                PromptValue::Login => prompt.login = true,
                PromptValue::Consent => prompt.consent = true,
                PromptValue::SelectAccount => prompt.select_account = true,
            }
        }
        if prompt.none && (prompt.login || prompt.consent || prompt.select_account) {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other prompt values",
            ));
        }
        Ok(prompt)
    }

    pub fn contains(&self, value: PromptValue) -> bool {
        match value {
            PromptValue::None => self.none,
            PromptValue::Login => self.login,
            PromptValue::Consent => self.consent,
            PromptValue::SelectAccount => self.select_account,
        }
    }

    /// `prompt=none`: no page may be shown.
    pub fn is_none(&self) -> bool {
        self.none
    }

    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `prompt` contains `login`.
    pub fn requires_login(&self) -> bool {
        self.login
    }

    /// `prompt` contains `consent`.
    pub fn requires_consent(&self) -> bool {
        self.consent
    }

    /// `prompt` contains `select_account`.
    pub fn requires_select_account(&self) -> bool {
        self.select_account
    }

    /// The values, in the order of [`PromptValue`]'s declaration, for storage and logs.
    pub fn values(&self) -> impl Iterator<Item = PromptValue> + '_ {
        [
            PromptValue::None,
            PromptValue::Login,
            PromptValue::Consent,
            PromptValue::SelectAccount,
        ]
        .into_iter()
        .filter(|v| self.contains(*v))
    }
}

/// `max_age`: the longest time, in seconds, since the user last actively authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MaxAge(u64);

impl MaxAge {
    /// ASCII digits only (no sign, no spaces, no decimals); anything else is `invalid_request`.
    /// Values beyond `u64` saturate: they mean "no practical limit".
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OAuthError::invalid_request(
                "max_age must be a non-negative whole number of seconds",
            ));
        }
        Ok(Self(raw.parse().unwrap_or(u64::MAX)))
    }

    pub fn from_secs(seconds: u64) -> Self {
        Self(seconds)
    }

    pub fn seconds(self) -> u64 {
        self.0
    }

    /// Whether a session whose user authenticated at `auth_time` must authenticate again at
    /// `now`: more than `max_age` seconds have passed (OIDC Core §3.1.2.1), or `max_age` is
    /// `0`, which is equivalent to `prompt=login` (openid/connect issue #993, errata set 2).
    /// An `auth_time` in the future (clock skew) counts as now.
    ///
    /// Like `prompt=login`, this is asked of the session the request arrived with, not of a
    /// login completed during this same interaction: asking again after that login would send
    /// the user round in a loop when `max_age` is `0`.
    pub fn requires_reauthentication(self, auth_time: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        if self.0 == 0 {
            return true;
        }
        let elapsed = u64::try_from((now - auth_time).num_seconds()).unwrap_or(0);
        elapsed > self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PromptValue::{Consent, Login, None as PromptNone, SelectAccount};
    use chrono::{Duration, TimeZone};
    use palisade_core::ErrorCode;

    #[test]
    fn prompt_values_parse_into_a_set() {
        let cases: [(&str, &[PromptValue]); 9] = [
            ("", &[]),
            ("  ", &[]),
            ("none", &[PromptNone]),
            ("login", &[Login]),
            ("consent", &[Consent]),
            ("select_account", &[SelectAccount]),
            ("login consent", &[Login, Consent]),
            ("consent  login login", &[Login, Consent]),
            (
                "select_account consent login",
                &[Login, Consent, SelectAccount],
            ),
        ];
        for (raw, expected) in cases {
            let prompt = Prompt::parse(raw).unwrap();
            assert_eq!(prompt.values().collect::<Vec<_>>(), expected, "{raw:?}");
        }
    }

    #[test]
    fn none_with_another_value_or_an_unknown_value_is_invalid_request() {
        let cases = [
            "none login",
            "login none",
            "none consent",
            "none select_account",
            "none none consent",
            "None",
            "LOGIN",
            "create",
            "login,consent",
            "login\tconsent",
            "login+consent",
        ];
        for raw in cases {
            let err = Prompt::parse(raw).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{raw:?}");
        }
    }

    #[test]
    fn prompt_questions_read_like_the_spec() {
        let none = Prompt::parse("none none").unwrap();
        assert!(none.is_none() && !none.requires_login() && !none.is_empty());
        let both = Prompt::parse("login consent").unwrap();
        assert!(both.requires_login() && both.requires_consent() && !both.is_none());
        assert!(!both.requires_select_account());
        assert!(Prompt::parse("").unwrap().is_empty());
        assert_eq!(PromptValue::SelectAccount.as_str(), "select_account");
    }

    #[test]
    fn max_age_is_a_non_negative_whole_number_of_seconds() {
        let ok = [
            ("0", 0),
            ("1", 1),
            ("3600", 3600),
            ("007", 7),
            ("99999999999999999999999", u64::MAX),
        ];
        for (raw, seconds) in ok {
            assert_eq!(MaxAge::parse(raw).unwrap().seconds(), seconds, "{raw}");
        }
        let bad = [
            "", "-1", "+1", "1.5", " 1", "1 ", "1e3", "0x10", "ten", "\u{663}",
        ];
        for raw in bad {
            let err = MaxAge::parse(raw).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{raw:?}");
        }
    }

    #[test]
    fn max_age_asks_for_a_new_login_once_it_has_elapsed() {
        let auth_time = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let at = |secs: i64| auth_time + Duration::seconds(secs);
        let cases = [
            // (max_age, seconds since auth_time, must re-authenticate)
            (0, 0, true),
            (0, 10, true),
            (1, 0, false),
            (1, 1, false),
            (1, 2, true),
            (3600, 3600, false),
            (3600, 3601, true),
            (60, -30, false),
            (u64::MAX, 1_000_000_000, false),
        ];
        for (max_age, elapsed, expected) in cases {
            assert_eq!(
                MaxAge::from_secs(max_age).requires_reauthentication(auth_time, at(elapsed)),
                expected,
                "max_age={max_age} elapsed={elapsed}"
            );
        }
    }
}
