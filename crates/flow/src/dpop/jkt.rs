//! JWK SHA-256 thumbprints (RFC 7638) of DPoP proof keys: the `jkt` of `cnf` (RFC 9449 §6.1)
//! and of `dpop_jkt` (§10), computed as `palisade_core::thumbprint` computes every thumbprint,
//! for asymmetric keys only: a proof key is RSA, EC or OKP, never `oct`.

use palisade_core::thumbprint::required_members;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// A thumbprint is the base64url of a SHA-256 digest: always 43 characters.
pub const JKT_LEN: usize = 43;

/// The public key reduced to `kty` and its required members, all strings; `None` if one is
/// missing or the key type is not an asymmetric one. The verifier is built from exactly these,
/// so nothing else in a proof's `jwk` (a private member, `x5c`) can change what is checked.
pub(crate) fn canonical_members(jwk: &Map<String, Value>) -> Option<BTreeMap<&str, &str>> {
    let kty = jwk.get("kty")?.as_str()?;
    if kty == "oct" {
        return None;
    }
    let mut canonical = BTreeMap::new();
    canonical.insert("kty", kty);
    for &member in required_members(kty)? {
        canonical.insert(member, jwk.get(member)?.as_str()?);
    }
    Some(canonical)
}

/// The RFC 7638 thumbprint of an asymmetric public JWK, base64url without padding.
pub fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    canonical_members(jwk)?;
    palisade_core::thumbprint::jwk_thumbprint(jwk).ok()
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
