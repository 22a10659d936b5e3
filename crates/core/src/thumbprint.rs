//! JWK thumbprints, RFC 7638: every signing key's `kid`, the id of a master key, and the `jkt`
//! of a DPoP proof key (RFC 9449 §6.1).
//!
//! RFC 7638 §3: hash (SHA-256) the JSON object made of the key type's *required* members only,
//! in lexicographic order, with no whitespace, then base64url-encode the hash without padding.
//! The required members are listed in RFC 7638 §3.2: `e kty n` (RSA), `crv kty x y` (EC),
//! `k kty` (oct); for OKP keys (Ed25519) RFC 8037 §2 gives `crv kty x`.
//!
//! A thumbprint as the `kid` (RFC 7517 §4.5 leaves the kid's form to the issuer) means the kid
//! is a pure function of the public key: two nodes can never disagree about it, and a stored
//! row whose kid does not match its key is detectably corrupt.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Why a thumbprint could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot compute a JWK thumbprint: {0}")]
pub struct ThumbprintError(pub &'static str);

/// The required members of each key type (RFC 7638 §3.2, RFC 8037 §2), `kty` excluded.
pub fn required_members(kty: &str) -> Option<&'static [&'static str]> {
    match kty {
        "RSA" => Some(&["e", "n"]),
        "EC" => Some(&["crv", "x", "y"]),
        "OKP" => Some(&["crv", "x"]),
        "oct" => Some(&["k"]),
        _ => None,
    }
}

/// The RFC 7638 SHA-256 thumbprint of a JWK, base64url without padding (43 characters).
///
/// Members other than the required ones (`kid`, `alg`, `use`, private members) are ignored,
/// so the thumbprint of a private JWK equals that of its public part.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Result<String, ThumbprintError> {
    let kty = match jwk.get("kty") {
        Some(Value::String(kty)) => kty.as_str(),
        _ => return Err(ThumbprintError("kty is missing or not a string")),
    };
    let members = required_members(kty).ok_or(ThumbprintError("unsupported kty"))?;
    // BTreeMap serializes its keys in lexicographic order, and serde_json's compact writer
    // adds no whitespace: exactly the canonical form of RFC 7638 §3.3.
    let mut canonical = BTreeMap::new();
    canonical.insert("kty", kty);
    for &member in members {
        match jwk.get(member) {
            Some(Value::String(value)) => {
                canonical.insert(member, value.as_str());
            }
            _ => {
                return Err(ThumbprintError(
                    "a required member is missing or not a string",
                ));
            }
        }
    }
    let json = serde_json::to_vec(&canonical)
        .map_err(|_| ThumbprintError("the canonical JSON could not be written"))?;
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(&json)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    /// RFC 7638 §3.1, the example RSA key and its thumbprint, verbatim.
    #[test]
    fn matches_the_rfc_7638_example() {
        let jwk = object(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        }));
        assert_eq!(
            jwk_thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn ignores_optional_and_private_members() {
        let public = object(json!({"kty": "OKP", "crv": "Ed25519", "x": "abc"}));
        let private = object(json!({
            "kty": "OKP", "crv": "Ed25519", "x": "abc", "d": "secret", "kid": "k", "use": "sig"
        }));
        assert_eq!(jwk_thumbprint(&public), jwk_thumbprint(&private));
    }

    #[test]
    fn refuses_keys_without_their_required_members() {
        let cases = [
            ("no kty", json!({"n": "x", "e": "AQAB"})),
            ("unknown kty", json!({"kty": "XYZ", "x": "a"})),
            (
                "EC without y",
                json!({"kty": "EC", "crv": "P-256", "x": "a"}),
            ),
            ("non-string n", json!({"kty": "RSA", "n": 5, "e": "AQAB"})),
        ];
        for (case, jwk) in cases {
            assert!(jwk_thumbprint(&object(jwk)).is_err(), "{case}");
        }
    }
}
