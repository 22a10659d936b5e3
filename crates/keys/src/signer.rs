//! Signing and verifying compact JWS tokens (RFC 7515 §7.1) with the key ring, and [`Keys`],
//! the handle every request uses.
//!
//! Signing sets the protected header to `alg`, `kid` and `typ` (RFC 7515 §4.1.1, §4.1.4,
//! §4.1.9; `typ` is `JWT` for ID tokens, `at+jwt` for access tokens per RFC 9068 §2.1).
//!
//! Verifying accepts only what this server could have signed (RFC 8725 §2.1, §3.1, §3.10):
//! - `alg` must be RS256, ES256 or EdDSA — never `none` (RFC 7518 §3.6) nor any `HS*`, which
//!   would let anyone holding the public key forge tokens;
//! - `kid` must name a published key (`next`, `current` or `retired`), and `alg` must be that
//!   key's algorithm: the key decides the algorithm, not the token;
//! - no `crit` (RFC 7515 §4.1.11: we understand no extension, so any listed one must fail);
//! - no `jwk`, `jku`, `x5u` or `x5c` (RFC 7515 §4.1.2-4.1.6): a token never brings its own key.
//!
//! Claims are parsed but not validated (expiry, audience): that is the caller's business.

use crate::ring::{JwksDocument, KeyRing, PublishedKey};
use crate::verified;
use josekit::JoseError;
use josekit::jws::{JwsHeader, JwsVerifier};
use palisade_core::ports::{
    SignedToken, SigningAlgorithm, SigningError, TokenSigner, VerifiedToken, VerifyError,
};
use serde_json::{Map, Value};
use std::cell::Cell;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

/// Tokens longer than this are refused before any parsing. Ours are ~1 KB; 32 KiB leaves room
/// for large claim sets and bounds the work an attacker can ask for.
pub const MAX_TOKEN_LEN: usize = 32 * 1024;

/// Header parameters that carry or point at a key (RFC 7515 §4.1.2-4.1.6).
const KEY_CARRYING_HEADERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

impl KeyRing {
    /// Signs `claims` with the current key of `alg`; header `alg`, `kid`, `typ`.
    pub fn sign(
        &self,
        alg: SigningAlgorithm,
        typ: &str,
        claims: &Map<String, Value>,
    ) -> Result<SignedToken, SigningError> {
        let active = self
            .signers
            .get(&alg)
            .ok_or(SigningError::NoCurrentKey(alg))?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(active.kid.clone());
        let payload =
            serde_json::to_vec(claims).map_err(|e| SigningError::Internal(Box::new(e)))?;
        // josekit writes `alg` from the signer, so header and key cannot disagree.
        let compact = josekit::jws::serialize_compact(&payload, &header, active.signer.as_ref())
            .map_err(|e| SigningError::Internal(Box::new(e)))?;
        Ok(SignedToken {
            compact,
            kid: active.kid.clone(),
        })
    }

    /// Verifies a compact JWS against the published keys; see the module doc for what is refused.
    pub fn verify(&self, compact: &str) -> Result<VerifiedToken, VerifyError> {
        if compact.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed);
        }
        let digest = verified::digest(compact);
        if let Some(token) = self.verified.recall(&digest) {
            return Ok(token);
        }
        let token = self.verify_signature(compact)?;
        self.verified.remember(digest, &token);
        Ok(token)
    }

    /// How many verified tokens this ring remembers (for tests and diagnostics).
    pub fn remembered_verifications(&self) -> usize {
        self.verified.len()
    }

    fn verify_signature(&self, compact: &str) -> Result<VerifiedToken, VerifyError> {
        // josekit's selector can only say "no verifier"; keep our precise reason beside it.
        let refusal: Cell<Option<VerifyError>> = Cell::new(None);
        let decoded = josekit::jwt::decode_with_verifier_selector(compact, |header| {
            match self.select_verifier(header) {
                Ok(published) => Ok(Some(published.verifier.as_ref() as &dyn JwsVerifier)),
                Err(reason) => {
                    refusal.set(Some(reason));
                    Ok(None)
                }
            }
        });
        let (payload, header) = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                return Err(refusal.take().unwrap_or(match error {
                    JoseError::InvalidSignature(_) => VerifyError::BadSignature,
                    _ => VerifyError::Malformed,
                }));
            }
        };
        // The selector accepted exactly these, so both are present.
        let kid = header.key_id().ok_or(VerifyError::Malformed)?.to_owned();
        let alg = header
            .algorithm()
            .and_then(SigningAlgorithm::parse)
            .ok_or(VerifyError::Malformed)?;
        Ok(VerifiedToken {
            kid,
            alg,
            typ: header.token_type().map(str::to_owned),
            claims: payload.into(),
        })
    }

    /// The published key a header names, if the header is acceptable.
    fn select_verifier(&self, header: &JwsHeader) -> Result<&PublishedKey, VerifyError> {
        let alg = match header.claim("alg") {
            Some(Value::String(alg)) => alg.as_str(),
            _ => return Err(VerifyError::Malformed),
        };
        if alg.eq_ignore_ascii_case("none") {
            return Err(VerifyError::UnacceptableHeader("alg none"));
        }
        if alg.to_ascii_uppercase().starts_with("HS") {
            return Err(VerifyError::UnacceptableHeader(
                "HMAC algorithms are not accepted",
            ));
        }
        let alg = SigningAlgorithm::parse(alg)
            .ok_or(VerifyError::UnacceptableHeader("unsupported alg"))?;
        if header.claim("crit").is_some() {
            return Err(VerifyError::UnacceptableHeader("crit"));
        }
        if KEY_CARRYING_HEADERS
            .iter()
            .any(|name| header.claim(name).is_some())
        {
            return Err(VerifyError::UnacceptableHeader(
                "embedded or referenced keys (jwk, jku, x5u, x5c) are not accepted",
            ));
        }
        let kid = match header.claim("kid") {
            Some(Value::String(kid)) => kid.as_str(),
            None => return Err(VerifyError::UnknownKey),
            Some(_) => return Err(VerifyError::Malformed),
        };
        let published = self.published.get(kid).ok_or(VerifyError::UnknownKey)?;
        if published.alg != alg {
            return Err(VerifyError::UnacceptableHeader(
                "alg does not match the key",
            ));
        }
        Ok(published)
    }
}

impl TokenSigner for KeyRing {
    fn sign(
        &self,
        alg: SigningAlgorithm,
        typ: &str,
        claims: &Map<String, Value>,
    ) -> Result<SignedToken, SigningError> {
        KeyRing::sign(self, alg, typ, claims)
    }

    fn verify(&self, compact: &str) -> Result<VerifiedToken, VerifyError> {
        KeyRing::verify(self, compact)
    }
}

/// The live key ring, shared by every request and swapped atomically when keys change.
/// Clones share the same ring. Readers take a snapshot (`Arc<KeyRing>`) and never wait for a
/// rebuild: the new ring is built aside and swapped in with one pointer write.
#[derive(Clone)]
pub struct Keys {
    ring: Arc<RwLock<Arc<KeyRing>>>,
}

impl Keys {
    pub fn new(ring: KeyRing) -> Self {
        Self {
            ring: Arc::new(RwLock::new(Arc::new(ring))),
        }
    }

    /// A handle to an empty ring: signs nothing until the first ring is swapped in.
    pub fn empty() -> Self {
        Self::new(KeyRing::empty())
    }

    /// The ring as it is now; later swaps do not affect it.
    pub fn snapshot(&self) -> Arc<KeyRing> {
        // A poisoned lock only means a writer panicked between two pointer writes that cannot
        // panic; the pointer inside is whole.
        Arc::clone(&self.ring.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Makes `ring` the live ring for every clone of this handle.
    pub fn replace(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        *self.ring.write().unwrap_or_else(PoisonError::into_inner) = ring;
    }

    /// The JWKS body and its ETag, ready to serve (reference-counted, no copy).
    pub fn jwks(&self) -> JwksDocument {
        self.snapshot().jwks().clone()
    }
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Keys").field(&self.snapshot()).finish()
    }
}

impl TokenSigner for Keys {
    fn sign(
        &self,
        alg: SigningAlgorithm,
        typ: &str,
        claims: &Map<String, Value>,
    ) -> Result<SignedToken, SigningError> {
        self.snapshot().sign(alg, typ, claims)
    }

    fn verify(&self, compact: &str) -> Result<VerifiedToken, VerifyError> {
        self.snapshot().verify(compact)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ring::tests::stored_keys;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use palisade_core::model::KeyState;
    use serde_json::json;

    fn claims() -> Map<String, Value> {
        match json!({
            "iss": "https://id.example.com",
            "sub": "248289761001",
            "aud": "s6BhdRkqt3",
            "nonce": "n-0S6_WzA2Mj",
            "exp": 1_311_281_970,
            "iat": 1_311_280_970,
            "name": "Jane Doe",
        }) {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn keys_with(
        specs: &[(SigningAlgorithm, KeyState)],
    ) -> (Keys, Vec<palisade_core::model::StoredSigningKey>) {
        let (masters, stored) = stored_keys(specs);
        let ring = KeyRing::build(&stored, &masters, &SigningAlgorithm::ALL).unwrap();
        (Keys::new(ring), stored)
    }

    fn standard_keys() -> (Keys, Vec<palisade_core::model::StoredSigningKey>) {
        keys_with(&[
            (SigningAlgorithm::RS256, KeyState::Current),
            (SigningAlgorithm::ES256, KeyState::Current),
            (SigningAlgorithm::EdDSA, KeyState::Current),
            (SigningAlgorithm::ES256, KeyState::Retired),
            (SigningAlgorithm::ES256, KeyState::Next),
        ])
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    /// A token with a hand-written header, the payload of `claims()`, and `signature`.
    fn forged(header: Value, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&Value::Object(claims())),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    /// A hand-written header signed by the real current key of `alg` (so only the header is wrong).
    fn signed_with_header(keys: &Keys, alg: SigningAlgorithm, header: Value) -> String {
        let ring = keys.snapshot();
        let signer = &ring.signers.get(&alg).unwrap().signer;
        let input = format!("{}.{}", b64(&header), b64(&Value::Object(claims())));
        let signature = signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn signs_and_verifies_with_each_algorithm() {
        let (keys, _) = standard_keys();
        for alg in SigningAlgorithm::ALL {
            let token = keys.sign(alg, "at+jwt", &claims()).unwrap();
            let header: Value = serde_json::from_slice(
                &URL_SAFE_NO_PAD
                    .decode(token.compact.split('.').next().unwrap())
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(
                header,
                json!({"alg": alg.as_str(), "kid": token.kid, "typ": "at+jwt"})
            );
            let verified = keys.verify(&token.compact).unwrap();
            assert_eq!(verified.alg, alg);
            assert_eq!(verified.kid, token.kid);
            assert_eq!(verified.typ.as_deref(), Some("at+jwt"));
            assert_eq!(verified.claims, claims());
        }
    }

    #[test]
    fn tokens_of_next_and_retired_keys_verify() {
        let (keys, stored) = standard_keys();
        for state in [KeyState::Next, KeyState::Retired] {
            let key = stored.iter().find(|k| k.state == state).unwrap();
            let masters_ring = keys.snapshot();
            assert_eq!(masters_ring.published_state(&key.kid), Some(state));
        }
        // Sign with a key while current, then retire it: its tokens still verify.
        let (masters, mut rows) = stored_keys(&[(SigningAlgorithm::ES256, KeyState::Current)]);
        let ring = KeyRing::build(&rows, &masters, &SigningAlgorithm::ALL).unwrap();
        let token = ring
            .sign(SigningAlgorithm::ES256, "JWT", &claims())
            .unwrap();
        rows[0].state = KeyState::Retired;
        let retired = KeyRing::build(&rows, &masters, &SigningAlgorithm::ALL).unwrap();
        assert!(!retired.can_sign(SigningAlgorithm::ES256));
        assert!(retired.verify(&token.compact).is_ok());
        // Revoke it: refused at once.
        rows[0].state = KeyState::Revoked;
        let revoked = KeyRing::build(&rows, &masters, &SigningAlgorithm::ALL).unwrap();
        assert!(matches!(
            revoked.verify(&token.compact),
            Err(VerifyError::UnknownKey)
        ));
    }

    #[test]
    fn refuses_hand_crafted_headers() {
        let (keys, _) = standard_keys();
        let ring = keys.snapshot();
        let rs_kid = ring
            .current_kid(SigningAlgorithm::RS256)
            .unwrap()
            .to_owned();
        let es_kid = ring
            .current_kid(SigningAlgorithm::ES256)
            .unwrap()
            .to_owned();
        let rs = SigningAlgorithm::RS256;

        let unacceptable = |token: &str, case: &str| {
            let result = keys.verify(token);
            assert!(
                matches!(result, Err(VerifyError::UnacceptableHeader(_))),
                "{case}: {result:?}"
            );
        };
        // alg none, with an empty signature, as in the classic attack.
        unacceptable(
            &forged(json!({"alg": "none", "kid": rs_kid}), b""),
            "alg none",
        );
        unacceptable(
            &forged(json!({"alg": "None", "kid": rs_kid}), b""),
            "alg None",
        );
        // HS256 "signed" with the public key as the HMAC secret.
        unacceptable(
            &forged(json!({"alg": "HS256", "kid": rs_kid}), &[7; 32]),
            "HS256",
        );
        unacceptable(
            &forged(json!({"alg": "HS512", "kid": rs_kid}), &[7; 64]),
            "HS512",
        );
        unacceptable(
            &forged(json!({"alg": "PS256", "kid": rs_kid}), &[7; 256]),
            "unsupported alg",
        );
        // A valid RS256 signature, but the header brings extras we refuse.
        unacceptable(
            &signed_with_header(
                &keys,
                rs,
                json!({"alg": "RS256", "kid": rs_kid, "crit": ["exp"], "exp": 1}),
            ),
            "crit",
        );
        let jwk = json!({"kty": "oct", "k": "c2VjcmV0"});
        for (name, value) in [
            ("jwk", jwk),
            ("jku", json!("https://evil.example/jwks.json")),
            ("x5u", json!("https://evil.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
        ] {
            let mut header = json!({"alg": "RS256", "kid": rs_kid});
            header[name] = value;
            unacceptable(&signed_with_header(&keys, rs, header), name);
        }
        // The header claims ES256 for the RS256 key (and vice versa).
        unacceptable(
            &forged(json!({"alg": "ES256", "kid": rs_kid}), &[1; 64]),
            "alg/key mismatch",
        );
        unacceptable(
            &signed_with_header(&keys, rs, json!({"alg": "RS256", "kid": es_kid})),
            "alg/key mismatch",
        );
    }

    #[test]
    fn refuses_unknown_keys_bad_signatures_and_garbage() {
        let (keys, _) = standard_keys();
        let (other, _) = keys_with(&[(SigningAlgorithm::ES256, KeyState::Current)]);
        let foreign = other
            .sign(SigningAlgorithm::ES256, "JWT", &claims())
            .unwrap();
        assert!(matches!(
            keys.verify(&foreign.compact),
            Err(VerifyError::UnknownKey)
        ));

        let ring = keys.snapshot();
        let kid = ring.current_kid(SigningAlgorithm::ES256).unwrap();
        let no_kid = signed_with_header(&keys, SigningAlgorithm::ES256, json!({"alg": "ES256"}));
        assert!(matches!(keys.verify(&no_kid), Err(VerifyError::UnknownKey)));

        // Same kid, signature of other claims.
        let token = keys
            .sign(SigningAlgorithm::ES256, "JWT", &claims())
            .unwrap();
        let mut tampered_claims = claims();
        tampered_claims.insert("sub".into(), json!("admin"));
        let parts: Vec<&str> = token.compact.split('.').collect();
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(&Value::Object(tampered_claims)),
            parts[2]
        );
        assert!(matches!(
            keys.verify(&tampered),
            Err(VerifyError::BadSignature)
        ));
        let forged_sig = forged(json!({"alg": "ES256", "kid": kid}), &[1; 64]);
        assert!(matches!(
            keys.verify(&forged_sig),
            Err(VerifyError::BadSignature)
        ));

        for garbage in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.!!.!!",
            &"x".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(
                matches!(keys.verify(garbage), Err(VerifyError::Malformed)),
                "{garbage:.20}"
            );
        }
        let not_json = format!("{}.e30.AA", URL_SAFE_NO_PAD.encode("not json"));
        assert!(matches!(
            keys.verify(&not_json),
            Err(VerifyError::Malformed)
        ));
    }

    #[test]
    fn an_algorithm_without_a_current_key_cannot_sign() {
        let (keys, _) = keys_with(&[(SigningAlgorithm::RS256, KeyState::Current)]);
        assert!(matches!(
            keys.sign(SigningAlgorithm::EdDSA, "JWT", &claims()),
            Err(SigningError::NoCurrentKey(SigningAlgorithm::EdDSA))
        ));
        assert!(matches!(
            Keys::empty().sign(SigningAlgorithm::RS256, "JWT", &claims()),
            Err(SigningError::NoCurrentKey(_))
        ));
    }

    #[test]
    fn a_swapped_ring_is_seen_by_every_clone_while_snapshots_stay() {
        let (keys, _) = keys_with(&[(SigningAlgorithm::RS256, KeyState::Current)]);
        let clone = keys.clone();
        let before = keys.snapshot();
        let token = keys
            .sign(SigningAlgorithm::RS256, "JWT", &claims())
            .unwrap();
        keys.replace(KeyRing::empty());
        assert!(matches!(
            clone.verify(&token.compact),
            Err(VerifyError::UnknownKey)
        ));
        assert!(before.verify(&token.compact).is_ok());
        assert_eq!(&clone.jwks().body[..], br#"{"keys":[]}"#);
    }

    #[test]
    fn signers_never_print_private_material() {
        let (masters, stored) = stored_keys(&[
            (SigningAlgorithm::RS256, KeyState::Current),
            (SigningAlgorithm::ES256, KeyState::Current),
            (SigningAlgorithm::EdDSA, KeyState::Current),
        ]);
        let keys = Keys::new(KeyRing::build(&stored, &masters, &SigningAlgorithm::ALL).unwrap());
        let debug = format!("{keys:?} {:?}", keys.snapshot());
        for key in &stored {
            let private = masters.decrypt_private_jwk(key).unwrap();
            for member in ["d", "p", "q", "dp", "dq", "qi"] {
                if let Some(Value::String(value)) = private.parameter(member) {
                    assert!(
                        !debug.contains(value.as_str()),
                        "{} {member} printed",
                        key.alg
                    );
                }
            }
        }
        assert!(!debug.contains(masters.current().to_base64().expose()));
    }

    /// `claims()` with an `exp` an hour from now, so a verification may be remembered.
    fn live_claims() -> Map<String, Value> {
        let mut live = claims();
        let exp = chrono::Utc::now().timestamp() + 3600;
        live.insert("exp".into(), json!(exp));
        live
    }

    #[test]
    fn a_verified_token_is_remembered_and_recalled_with_the_same_answer() {
        let (masters, rows) = stored_keys(&[(SigningAlgorithm::ES256, KeyState::Current)]);
        let ring = KeyRing::build(&rows, &masters, &SigningAlgorithm::ALL).unwrap();
        let token = ring
            .sign(SigningAlgorithm::ES256, "at+jwt", &live_claims())
            .unwrap();
        let first = ring.verify(&token.compact).unwrap();
        assert_eq!(ring.remembered_verifications(), 1);
        let again = ring.verify(&token.compact).unwrap();
        assert_eq!(ring.remembered_verifications(), 1);
        assert_eq!(
            (again.kid, again.alg, again.typ, again.claims),
            (first.kid, first.alg, first.typ, first.claims)
        );
        // The same header and payload with another signature is another token: verified, refused.
        let (head, _) = token.compact.rsplit_once('.').unwrap();
        let tampered = format!("{head}.{}", URL_SAFE_NO_PAD.encode([7u8; 64]));
        assert!(matches!(
            ring.verify(&tampered),
            Err(VerifyError::BadSignature)
        ));
        assert_eq!(ring.remembered_verifications(), 1);
    }

    #[test]
    fn a_remembered_token_of_a_revoked_key_is_refused_by_the_next_ring() {
        let (masters, mut rows) = stored_keys(&[(SigningAlgorithm::ES256, KeyState::Current)]);
        let keys = Keys::new(KeyRing::build(&rows, &masters, &SigningAlgorithm::ALL).unwrap());
        let token = keys
            .sign(SigningAlgorithm::ES256, "at+jwt", &live_claims())
            .unwrap();
        assert!(keys.verify(&token.compact).is_ok());
        assert_eq!(keys.snapshot().remembered_verifications(), 1);
        rows[0].state = KeyState::Revoked;
        keys.replace(KeyRing::build(&rows, &masters, &SigningAlgorithm::ALL).unwrap());
        assert!(matches!(
            keys.verify(&token.compact),
            Err(VerifyError::UnknownKey)
        ));
    }

    #[test]
    fn expired_and_refused_tokens_are_not_remembered() {
        let (keys, _) = standard_keys();
        let ring = keys.snapshot();
        // `claims()` expired in 2011: verified each time, never stored.
        let expired = ring
            .sign(SigningAlgorithm::ES256, "JWT", &claims())
            .unwrap();
        assert!(ring.verify(&expired.compact).is_ok());
        let forged_token = forged(json!({"alg": "ES256", "kid": "nope"}), &[1u8; 64]);
        assert!(ring.verify(&forged_token).is_err());
        assert_eq!(ring.remembered_verifications(), 0);
    }

    #[test]
    fn the_memory_stays_bounded_under_a_flood_of_distinct_tokens() {
        let (masters, rows) = stored_keys(&[(SigningAlgorithm::EdDSA, KeyState::Current)]);
        let ring = KeyRing::build(&rows, &masters, &SigningAlgorithm::ALL).unwrap();
        for n in 0..(crate::verified::MAX_ENTRIES + 10) {
            let mut distinct = live_claims();
            distinct.insert("jti".into(), json!(format!("token-{n}")));
            let token = ring
                .sign(SigningAlgorithm::EdDSA, "at+jwt", &distinct)
                .unwrap();
            assert!(ring.verify(&token.compact).is_ok(), "token {n}");
            assert!(ring.remembered_verifications() <= crate::verified::MAX_ENTRIES);
        }
    }
}
