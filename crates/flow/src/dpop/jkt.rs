//! JWK SHA-256 thumbprints (RFC 7638) of DPoP proof keys: the `jkt` of `cnf` (RFC 9449 §6.1)
//! and of `dpop_jkt` (§10).
//!
//! The same canonical form as `palisade_keys::thumbprint` (which names our signing keys); the
//! engine does not depend on the keys crate, and a proof key is only ever RSA, EC or OKP, so
//! the few lines are repeated here rather than adding that edge.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// A thumbprint is the base64url of a SHA-256 digest: always 43 characters.
pub const JKT_LEN: usize = 43;

/// The required members of each asymmetric key type (RFC 7638 §3.2, RFC 8037 §2), `kty`
/// excluded: the only members a thumbprint (and the verifier built from the key) looks at.
pub(crate) fn required_members(kty: &str) -> Option<&'static [&'static str]> {
    match kty {
        "RSA" => Some(&["e", "n"]),
        "EC" => Some(&["crv", "x", "y"]),
        "OKP" => Some(&["crv", "x"]),
        _ => None,
    }
}

/// The public key reduced to `kty` and its required members, all strings; `None` if one is
/// missing or the key type is not an asymmetric one.
pub(crate) fn canonical_members(jwk: &Map<String, Value>) -> Option<BTreeMap<&str, &str>> {
    let kty = jwk.get("kty")?.as_str()?;
    let mut canonical = BTreeMap::new();
    canonical.insert("kty", kty);
    for &member in required_members(kty)? {
        canonical.insert(member, jwk.get(member)?.as_str()?);
    }
    Some(canonical)
}

/// The RFC 7638 thumbprint of a public JWK, base64url without padding.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    // A BTreeMap serializes its keys in lexicographic order, and serde_json's compact writer
    // adds no whitespace: the canonical form of RFC 7638 §3.3.
    let json = serde_json::to_vec(&canonical_members(jwk)?).ok()?;
    Some(URL_SAFE_NO_PAD.encode(Sha256::digest(&json)))
}

/// Whether `text` has the shape of a thumbprint (`dpop_jkt` is checked at the edge of the
/// authorization request, before it is kept with the code).
pub fn is_thumbprint(text: &str) -> bool {
    text.len() == JKT_LEN
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
        let jkt = jwk_thumbprint(&jwk).unwrap();
        assert_eq!(jkt, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert!(is_thumbprint(&jkt));
    }

    #[test]
    fn refuses_symmetric_keys_and_keys_missing_a_member() {
        let cases = [
            ("oct", json!({"kty": "oct", "k": "c2VjcmV0"})),
            (
                "EC without y",
                json!({"kty": "EC", "crv": "P-256", "x": "a"}),
            ),
            ("non-string n", json!({"kty": "RSA", "n": 5, "e": "AQAB"})),
            ("no kty", json!({"crv": "Ed25519", "x": "a"})),
        ];
        for (case, jwk) in cases {
            assert!(jwk_thumbprint(&object(jwk)).is_none(), "{case}");
        }
    }

    #[test]
    fn a_thumbprint_is_43_base64url_characters() {
        assert!(!is_thumbprint("short"));
        assert!(!is_thumbprint(&"a".repeat(42)));
        assert!(!is_thumbprint(&format!("{}=", "a".repeat(42))));
        assert!(is_thumbprint(&"a-_9".repeat(11)[..43]));
    }
}
