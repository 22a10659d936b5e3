//! How strong a sign-in was, and how strong a request needs it to be. RFC 8176 (`amr` values),
//! OIDC Core §2 (`acr`, `amr`), §3.1.2.1 (`acr_values`), §5.5.1.1 (requesting `acr` as an
//! essential claim).
//!
//! Two levels, ordered: one factor ([`ACR_PASSWORD`]) and more than one ([`ACR_MFA`]). A sign-in's
//! level follows from its `amr`: `mfa` is there exactly when two factors were proved (a password
//! and a code or a passkey) or a passkey verified its user (possession plus a PIN or biometric).

use palisade_core::OAuthError;
use serde::{Deserialize, Serialize};

/// One factor (a password, or a recovery code alone never happens: it is a second factor).
pub const ACR_PASSWORD: &str = "urn:palisade:acr:pwd";
/// Two factors, or a user-verifying passkey.
pub const ACR_MFA: &str = "urn:palisade:acr:mfa";
/// Discovery's `acr_values_supported`, weakest first.
pub const ACR_VALUES_SUPPORTED: [&str; 2] = [ACR_PASSWORD, ACR_MFA];

/// The `amr` values (RFC 8176 §2) Palisade writes.
pub mod amr {
    /// Password.
    pub const PASSWORD: &str = "pwd";
    /// A one-time code: TOTP, or a recovery code.
    pub const ONE_TIME_CODE: &str = "otp";
    /// A device-bound key (not backup-eligible): a security key or a platform authenticator.
    pub const HARDWARE_KEY: &str = "hwk";
    /// A key that may be synced between devices (backup-eligible).
    pub const SOFTWARE_KEY: &str = "swk";
    /// More than one factor.
    pub const MULTIPLE_FACTORS: &str = "mfa";
}

/// How strong a sign-in was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Assurance {
    SingleFactor,
    MultiFactor,
}

impl Assurance {
    /// The level a sign-in with these `amr` values reached.
    pub fn of_amr(amr: &[String]) -> Self {
        if amr.iter().any(|m| m == amr::MULTIPLE_FACTORS) {
            Self::MultiFactor
        } else {
            Self::SingleFactor
        }
    }

    /// The `acr` value of this level.
    pub fn acr(self) -> &'static str {
        match self {
            Self::SingleFactor => ACR_PASSWORD,
            Self::MultiFactor => ACR_MFA,
        }
    }

    fn from_acr(value: &str) -> Option<Self> {
        match value {
            ACR_PASSWORD => Some(Self::SingleFactor),
            ACR_MFA => Some(Self::MultiFactor),
            _ => None,
        }
    }
}

/// What an authorization request asks of the sign-in's strength.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcrRequest {
    /// Aimed for when the user can reach it (`acr_values`, a voluntary `acr` claim): the first
    /// supported value, in the client's order of preference.
    pub preferred: Option<Assurance>,
    /// Must be reached (an essential `acr` claim: the weakest of its supported values); a user
    /// with no factor is led through enrolment.
    pub required: Option<Assurance>,
}

impl AcrRequest {
    /// From `acr_values` (space-separated) and the `claims` parameter (a JSON object; only
    /// `id_token.acr` is acted on). Unknown `acr_values` are ignored (they are voluntary); an
    /// essential `acr` claim none of whose values is supported cannot be met, and `claims`
    /// that is not a JSON object is malformed: both `invalid_request`.
    pub fn parse(acr_values: Option<&str>, claims: Option<&str>) -> Result<Self, OAuthError> {
        let mut request = Self {
            preferred: acr_values
                .into_iter()
                .flat_map(str::split_ascii_whitespace)
                .find_map(Assurance::from_acr),
            required: None,
        };
        let Some(claims) = claims else {
            return Ok(request);
        };
        let claims: serde_json::Value = serde_json::from_str(claims)
            .ok()
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| OAuthError::invalid_request("claims must be a JSON object"))?;
        let acr = &claims["id_token"]["acr"];
        if acr.is_null() {
            return Ok(request);
        }
        if !acr.is_object() {
            return Err(OAuthError::invalid_request(
                "claims.id_token.acr must be null or an object",
            ));
        }
        let mut values: Vec<&str> = acr["values"]
            .as_array()
            .map(|v| v.iter().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        if let Some(value) = acr["value"].as_str() {
            values.push(value);
        }
        let supported: Vec<Assurance> = values
            .iter()
            .filter_map(|v| Assurance::from_acr(v))
            .collect();
        let essential = acr["essential"].as_bool().unwrap_or(false);
        match (essential, supported.iter().min()) {
            (true, Some(weakest)) => request.required = Some(*weakest),
            (true, None) if !values.is_empty() => {
                return Err(OAuthError::invalid_request(format!(
                    "none of the essential acr values is supported; supported: {}",
                    ACR_VALUES_SUPPORTED.join(" ")
                )));
            }
            // Essential without values: any acr will do, and every ID token carries one.
            (true, None) => {}
            (false, _) => {
                request.preferred = request.preferred.or_else(|| supported.first().copied());
            }
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_supported_acr_value_is_preferred_and_unknown_ones_are_ignored() {
        let request = AcrRequest::parse(Some("urn:other:gold urn:palisade:acr:mfa"), None).unwrap();
        assert_eq!(request.preferred, Some(Assurance::MultiFactor));
        assert_eq!(request.required, None);
        assert_eq!(
            AcrRequest::parse(Some("silver gold"), None).unwrap(),
            AcrRequest::default()
        );
    }

    #[test]
    fn an_essential_acr_claim_is_required_at_its_weakest_supported_value() {
        let claims = r#"{"id_token":{"acr":{"essential":true,"values":["urn:palisade:acr:mfa"]}}}"#;
        let request = AcrRequest::parse(None, Some(claims)).unwrap();
        assert_eq!(request.required, Some(Assurance::MultiFactor));
        let either = r#"{"id_token":{"acr":{"essential":true,"values":["urn:palisade:acr:mfa","urn:palisade:acr:pwd"]}}}"#;
        assert_eq!(
            AcrRequest::parse(None, Some(either)).unwrap().required,
            Some(Assurance::SingleFactor)
        );
        let voluntary = r#"{"id_token":{"acr":{"values":["urn:palisade:acr:mfa"]}}}"#;
        let request = AcrRequest::parse(None, Some(voluntary)).unwrap();
        assert_eq!(
            (request.preferred, request.required),
            (Some(Assurance::MultiFactor), None)
        );
    }

    #[test]
    fn malformed_claims_and_unmeetable_essential_acr_are_invalid_requests() {
        for claims in [
            "not json",
            "[1]",
            r#"{"id_token":{"acr":"urn:palisade:acr:mfa"}}"#,
            r#"{"id_token":{"acr":{"essential":true,"values":["urn:other:gold"]}}}"#,
        ] {
            let error = AcrRequest::parse(None, Some(claims)).unwrap_err();
            assert_eq!(
                error.code,
                palisade_core::ErrorCode::InvalidRequest,
                "{claims}"
            );
        }
    }

    #[test]
    fn the_level_follows_the_amr() {
        let amr = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(Assurance::of_amr(&amr(&["pwd"])), Assurance::SingleFactor);
        assert_eq!(
            Assurance::of_amr(&amr(&["pwd", "otp", "mfa"])),
            Assurance::MultiFactor
        );
        assert_eq!(Assurance::MultiFactor.acr(), ACR_MFA);
    }
}
