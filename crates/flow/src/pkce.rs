//! Proof Key for Code Exchange: RFC 7636 §4.1-4.6, as profiled by RFC 9700 §2.1.1.
//!
//! Palisade requires PKCE of every client, public or confidential, and accepts only the `S256`
//! method: `plain` (and a challenge without a method, which RFC 7636 §4.3 says defaults to
//! `plain`) is refused, so a stolen authorization request never reveals the verifier.
//!
//! - At the authorization endpoint, [`CodeChallenge::parse`] turns `code_challenge` and
//!   `code_challenge_method` into a challenge or an `invalid_request` (RFC 7636 §4.4.1).
//! - At the token endpoint, [`CodeVerifier::parse`] checks the grammar of `code_verifier`
//!   (malformed: `invalid_request`), and [`CodeChallenge::verify`] compares it with the challenge
//!   the code was issued for (mismatch: the caller answers `invalid_grant`, RFC 7636 §4.6).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::OAuthError;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// The only `code_challenge_method` Palisade accepts.
pub const S256: &str = "S256";

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
const VERIFIER_MIN_CHARS: usize = 43;
const VERIFIER_MAX_CHARS: usize = 128;

/// An S256 challenge is the base64url (no padding) encoding of a 32-byte SHA-256 digest.
const CHALLENGE_CHARS: usize = 43;

/// RFC 3986 §2.3 `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// A `code_verifier` as sent to the token endpoint: 43 to 128 unreserved characters.
///
/// It is a one-time secret, so `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct CodeVerifier(String);

impl CodeVerifier {
    /// RFC 7636 §4.1 grammar; anything else is `invalid_request` (RFC 6749 §5.2: malformed).
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let len = raw.len();
        if !(VERIFIER_MIN_CHARS..=VERIFIER_MAX_CHARS).contains(&len) {
            return Err(OAuthError::invalid_request(
                "code_verifier must be 43 to 128 characters long",
            ));
        }
        if !raw.bytes().all(is_unreserved) {
            return Err(OAuthError::invalid_request(
                "code_verifier may contain only A-Z a-z 0-9 - . _ ~",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier(<redacted>)")
    }
}

/// An S256 `code_challenge`: `BASE64URL(SHA256(ASCII(code_verifier)))` (RFC 7636 §4.2).
///
/// Kept as the digest it encodes; serialises as the 43-character base64url text so a pending
/// grant can be stored as JSON and read back through the same check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CodeChallenge {
    digest: [u8; 32],
}

impl CodeChallenge {
    /// Reads `code_challenge` and `code_challenge_method` from an authorization request.
    ///
    /// Every refusal is `invalid_request` (RFC 7636 §4.4.1): a missing challenge (PKCE is
    /// required), a missing method (it would default to `plain`), `plain` or any other method
    /// than `S256` (case-sensitive), and a challenge that is not the 43-character base64url
    /// encoding of a SHA-256 digest.
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, OAuthError> {
        let Some(challenge) = challenge else {
            return Err(OAuthError::invalid_request(
                "code_challenge is required (PKCE with S256)",
            ));
        };
        match method {
            Some(S256) => {}
            Some("plain") => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method plain is not supported, use S256",
                ));
            }
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method is not supported, use S256",
                ));
            }
            None => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method is required and must be S256",
                ));
            }
        }
        Self::from_base64url(challenge)
    }

    /// The challenge a client would send for `verifier`; for tests and reference clients.
    pub fn s256_of(verifier: &CodeVerifier) -> Self {
        Self {
            digest: Sha256::digest(verifier.as_str().as_bytes()).into(),
        }
    }

    /// Whether `verifier` hashes to this challenge, compared in constant time (RFC 7636 §4.6).
    pub fn verify(&self, verifier: &CodeVerifier) -> bool {
        let computed: [u8; 32] = Sha256::digest(verifier.as_str().as_bytes()).into();
        computed.ct_eq(&self.digest).into()
    }

    /// The method, for storage and for discovery's `code_challenge_methods_supported`.
    pub fn method(&self) -> &'static str {
        S256
    }

    /// The challenge as the client sent it (base64url, no padding).
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.digest)
    }

    fn from_base64url(encoded: &str) -> Result<Self, OAuthError> {
        let malformed = || {
            OAuthError::invalid_request(
                "code_challenge must be 43 base64url characters (an S256 digest)",
            )
        };
        if encoded.len() != CHALLENGE_CHARS {
            return Err(malformed());
        }
        // The decoder refuses padding, `+ /`, and non-canonical trailing bits.
        let bytes = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|e| malformed().with_source(e))?;
        let digest: [u8; 32] = bytes.try_into().map_err(|_| malformed())?;
        Ok(Self { digest })
    }
}

impl TryFrom<String> for CodeChallenge {
    type Error = OAuthError;
    fn try_from(encoded: String) -> Result<Self, Self::Error> {
        Self::from_base64url(&encoded)
    }
}

impl From<CodeChallenge> for String {
    fn from(challenge: CodeChallenge) -> Self {
        challenge.to_base64url()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::ErrorCode;

    /// RFC 7636 Appendix B, verbatim.
    const RFC_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const RFC_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn rfc_challenge() -> CodeChallenge {
        CodeChallenge::parse(Some(RFC_CHALLENGE), Some("S256")).unwrap()
    }

    #[test]
    fn the_rfc_7636_appendix_b_verifier_matches_its_challenge() {
        let verifier = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        assert!(rfc_challenge().verify(&verifier));
        assert_eq!(
            CodeChallenge::s256_of(&verifier).to_base64url(),
            RFC_CHALLENGE
        );
        assert_eq!(CodeChallenge::s256_of(&verifier), rfc_challenge());
    }

    #[test]
    fn a_different_verifier_does_not_match() {
        let cases = [
            // last character changed
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl",
            // first character changed
            "eBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            // the challenge itself, sent as the verifier (plain downgrade)
            RFC_CHALLENGE,
        ];
        for raw in cases {
            let verifier = CodeVerifier::parse(raw).unwrap();
            assert!(!rfc_challenge().verify(&verifier), "{raw}");
        }
    }

    #[test]
    fn verifiers_follow_the_rfc_grammar() {
        let ok = |s: &str| CodeVerifier::parse(s).is_ok();
        let cases: [(&str, String, bool); 10] = [
            ("43 characters, the minimum", "a".repeat(43), true),
            ("128 characters, the maximum", "a".repeat(128), true),
            (
                "every unreserved character",
                format!("{}-._~", "Az09".repeat(10)),
                true,
            ),
            ("42 characters", "a".repeat(42), false),
            ("129 characters", "a".repeat(129), false),
            ("empty", String::new(), false),
            ("a plus sign", format!("{}+", "a".repeat(42)), false),
            ("a slash", format!("{}/", "a".repeat(42)), false),
            ("padding", format!("{}=", "a".repeat(42)), false),
            ("non-ASCII", format!("{}é", "a".repeat(42)), false),
        ];
        for (case, raw, expected) in cases {
            assert_eq!(ok(&raw), expected, "{case}");
            if !expected {
                let err = CodeVerifier::parse(&raw).unwrap_err();
                assert_eq!(err.code, ErrorCode::InvalidRequest, "{case}");
            }
        }
    }

    #[test]
    fn challenges_other_than_a_well_formed_s256_are_invalid_request() {
        let c43 = "a".repeat(43);
        let cases: [(&str, Option<String>, Option<&str>); 14] = [
            ("no challenge, no method (PKCE is required)", None, None),
            ("method without challenge", None, Some("S256")),
            (
                "challenge without method (defaults to plain)",
                Some(c43.clone()),
                None,
            ),
            ("plain", Some(c43.clone()), Some("plain")),
            ("an unknown method", Some(c43.clone()), Some("bar")),
            ("the method in lower case", Some(c43.clone()), Some("s256")),
            ("an empty method", Some(c43.clone()), Some("")),
            ("an empty challenge", Some(String::new()), Some("S256")),
            ("42 characters", Some("a".repeat(42)), Some("S256")),
            ("44 characters", Some("a".repeat(44)), Some("S256")),
            ("129 characters", Some("a".repeat(129)), Some("S256")),
            (
                "an ampersand",
                Some(format!("{}&", "a".repeat(42))),
                Some("S256"),
            ),
            (
                "a plus sign (base64, not base64url)",
                Some(format!("{}+", "a".repeat(42))),
                Some("S256"),
            ),
            (
                "padding",
                Some(format!("{}=", "a".repeat(42))),
                Some("S256"),
            ),
        ];
        for (case, challenge, method) in cases {
            let err = CodeChallenge::parse(challenge.as_deref(), method).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRequest, "{case}");
        }
    }

    #[test]
    fn a_challenge_with_non_canonical_trailing_bits_is_refused() {
        // 43 base64url characters carry 258 bits; the last two must be zero for a 32-byte value.
        // "...-cM" is canonical; "...-cN" differs only in those two spare bits.
        let non_canonical = RFC_CHALLENGE.replace("-cM", "-cN");
        let err = CodeChallenge::parse(Some(&non_canonical), Some("S256")).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn a_challenge_survives_storage_as_json_and_stored_garbage_is_refused() {
        let json = serde_json::to_string(&rfc_challenge()).unwrap();
        assert_eq!(json, format!("\"{RFC_CHALLENGE}\""));
        let back: CodeChallenge = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rfc_challenge());
        assert!(serde_json::from_str::<CodeChallenge>("\"not-a-challenge\"").is_err());
    }

    #[test]
    fn a_verifier_never_prints() {
        let verifier = CodeVerifier::parse(RFC_VERIFIER).unwrap();
        assert!(!format!("{verifier:?}").contains(RFC_VERIFIER));
        assert_eq!(rfc_challenge().method(), "S256");
    }
}
