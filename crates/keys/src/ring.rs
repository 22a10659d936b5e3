//! The key ring: an immutable snapshot of the signing keys, built once per change.
//!
//! It holds, ready to use on the hot path:
//! - per enabled algorithm, the signer of its `current` key (private part decrypted once);
//! - a `kid -> verifier` map of every published key (`next`, `current`, `retired`), built once
//!   because josekit's selector must hand out borrowed verifiers (docs/dependencies.md, josekit);
//! - the JWK Set document (RFC 7517 §5) already serialized, and a strong ETag of its bytes
//!   (RFC 9110 §8.8.3), so the JWKS endpoint answers without any work and every node serves
//!   identical bytes for identical keys.
//!
//! Revoked keys are in neither the JWKS nor the verifier map. JWKS members are copied from an
//! allow-list (`alg::public_jwk`): `kty`, `kid`, `use`, `alg` and the public key
//! parameters, never a private member.

use crate::alg;
use crate::error::KeyError;
use crate::master_key::MasterKeySet;
use crate::thumbprint::jwk_thumbprint;
use crate::verified::VerifiedTokens;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, JwsVerifier};
use palisade_core::model::{KeyState, StoredSigningKey};
use palisade_core::ports::SigningAlgorithm;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The serialized JWK Set and its validator; cheap to clone (reference-counted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksDocument {
    /// `{"keys":[...]}`, UTF-8 JSON, to be served as `application/json`.
    pub body: Bytes,
    /// A strong ETag, quotes included: `"<base64url of SHA-256(body), 22 chars>"`.
    pub etag: Arc<str>,
}

impl JwksDocument {
    fn from_body(body: Bytes) -> Self {
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
        Self {
            body,
            etag: etag.into(),
        }
    }

    fn of(keys: Vec<Map<String, Value>>) -> Result<Self, KeyError> {
        let mut document = Map::new();
        document.insert(
            "keys".into(),
            Value::Array(keys.into_iter().map(Value::Object).collect()),
        );
        let body = serde_json::to_vec(&document).map_err(|e| KeyError::MalformedKey {
            kid: String::new(),
            reason: format!("the JWKS could not be serialized: {e}"),
        })?;
        Ok(Self::from_body(Bytes::from(body)))
    }
}

/// The `current` key of an algorithm, ready to sign.
pub(crate) struct ActiveSigner {
    pub(crate) kid: String,
    pub(crate) signer: Box<dyn JwsSigner>,
}

/// A published key, ready to verify.
pub(crate) struct PublishedKey {
    pub(crate) alg: SigningAlgorithm,
    pub(crate) state: KeyState,
    pub(crate) verifier: Box<dyn JwsVerifier>,
}

/// An immutable snapshot of the keys. Build it with [`KeyRing::build`]; swap it in through
/// [`Keys`](crate::Keys).
pub struct KeyRing {
    pub(crate) signers: HashMap<SigningAlgorithm, ActiveSigner>,
    pub(crate) published: HashMap<String, PublishedKey>,
    jwks: JwksDocument,
    source_digest: [u8; 32],
    /// Tokens verified against exactly these keys (see [`crate::verified`]).
    pub(crate) verified: VerifiedTokens,
}

impl KeyRing {
    /// A ring with no keys: signs nothing, verifies nothing, publishes `{"keys":[]}`.
    pub fn empty() -> Self {
        Self {
            signers: HashMap::new(),
            published: HashMap::new(),
            jwks: JwksDocument::from_body(Bytes::from_static(br#"{"keys":[]}"#)),
            source_digest: [0; 32],
            verified: VerifiedTokens::default(),
        }
    }

    /// Builds the ring from stored keys: verifiers and JWKS entries for every published key of
    /// a known algorithm, and signers for the `current` key of each of `signing_algorithms`
    /// (the most recently activated one, should there be two). Fails — so the caller keeps its
    /// previous ring — if any published key is unusable or a current key cannot be decrypted
    /// or does not sign verifiably. CPU work (RSA private keys): call it on a blocking thread.
    pub fn build(
        keys: &[StoredSigningKey],
        master_keys: &MasterKeySet,
        signing_algorithms: &[SigningAlgorithm],
    ) -> Result<Self, KeyError> {
        let mut published = HashMap::new();
        let mut entries = Vec::new();
        for key in keys {
            if !matches!(
                key.state,
                KeyState::Next | KeyState::Current | KeyState::Retired
            ) {
                continue;
            }
            let Some(alg) = SigningAlgorithm::parse(&key.alg) else {
                tracing::warn!(kid = %key.kid, alg = %key.alg, "skipping a signing key of an unknown algorithm");
                continue;
            };
            let public = published_jwk(key, alg)?;
            let verifier = Jwk::from_map(public.clone())
                .map_err(|e| e.to_string())
                .and_then(|jwk| alg::verifier(alg, &jwk))
                .map_err(|reason| malformed(key, reason))?;
            entries.push((jwks_order(alg, key), public));
            published.insert(
                key.kid.clone(),
                PublishedKey {
                    alg,
                    state: key.state,
                    verifier,
                },
            );
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let jwks = JwksDocument::of(entries.into_iter().map(|(_, jwk)| jwk).collect())?;

        let mut signers = HashMap::new();
        for &alg in signing_algorithms {
            let current = keys
                .iter()
                .filter(|k| {
                    k.state == KeyState::Current && SigningAlgorithm::parse(&k.alg) == Some(alg)
                })
                .max_by(|a, b| {
                    (a.activated_at.unwrap_or(a.activates_at), &a.kid)
                        .cmp(&(b.activated_at.unwrap_or(b.activates_at), &b.kid))
                });
            let Some(key) = current else { continue };
            let private = master_keys.decrypt_private_jwk(key)?;
            let signer = alg::signer(alg, &private).map_err(|reason| malformed(key, reason))?;
            let verifier = published
                .get(&key.kid)
                .map(|p| &p.verifier)
                .ok_or_else(|| malformed(key, "the current key is not published".to_owned()))?;
            check_pair(signer.as_ref(), verifier.as_ref())
                .map_err(|reason| malformed(key, reason))?;
            signers.insert(
                alg,
                ActiveSigner {
                    kid: key.kid.clone(),
                    signer,
                },
            );
        }

        Ok(Self {
            signers,
            published,
            jwks,
            source_digest: source_digest(keys, signing_algorithms),
            verified: VerifiedTokens::default(),
        })
    }

    /// The JWKS document and its ETag.
    pub fn jwks(&self) -> &JwksDocument {
        &self.jwks
    }

    /// The kid of the key that signs for `alg`, if any.
    pub fn current_kid(&self, alg: SigningAlgorithm) -> Option<&str> {
        self.signers.get(&alg).map(|s| s.kid.as_str())
    }

    /// Whether `alg` can sign right now.
    pub fn can_sign(&self, alg: SigningAlgorithm) -> bool {
        self.signers.contains_key(&alg)
    }

    /// The state of a published key; `None` for unknown, removed or revoked kids.
    pub fn published_state(&self, kid: &str) -> Option<KeyState> {
        self.published.get(kid).map(|p| p.state)
    }

    /// A digest of everything the ring was built from; equal digests mean an equal ring, so a
    /// refresh that finds nothing changed can skip the rebuild.
    pub fn source_digest(&self) -> &[u8; 32] {
        &self.source_digest
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut signers: Vec<(&str, &str)> = self
            .signers
            .iter()
            .map(|(alg, s)| (alg.as_str(), s.kid.as_str()))
            .collect();
        signers.sort_unstable();
        let mut published: Vec<(&str, &str, &str)> = self
            .published
            .iter()
            .map(|(kid, p)| (kid.as_str(), p.alg.as_str(), p.state.as_str()))
            .collect();
        published.sort_unstable();
        f.debug_struct("KeyRing")
            .field("signers", &signers)
            .field("published", &published)
            .field("jwks_etag", &self.jwks.etag)
            .finish()
    }
}

fn malformed(key: &StoredSigningKey, reason: String) -> KeyError {
    KeyError::MalformedKey {
        kid: key.kid.clone(),
        reason,
    }
}

/// The allow-listed public JWK of a stored key, checked against its kid.
fn published_jwk(
    key: &StoredSigningKey,
    alg: SigningAlgorithm,
) -> Result<Map<String, Value>, KeyError> {
    let stored: Map<String, Value> = serde_json::from_str(&key.public_jwk)
        .map_err(|_| malformed(key, "the public JWK is not a JSON object".to_owned()))?;
    let public =
        alg::public_jwk(alg, &key.kid, &stored).map_err(|reason| malformed(key, reason))?;
    let thumbprint = jwk_thumbprint(&public).map_err(|e| malformed(key, e.to_string()))?;
    if thumbprint != key.kid {
        return Err(malformed(
            key,
            "the kid is not the public key's thumbprint".to_owned(),
        ));
    }
    Ok(public)
}

/// JWKS order: by algorithm, the signing key first, then the next, then retired ones; the same
/// keys always give the same bytes, hence the same ETag on every node.
fn jwks_order(alg: SigningAlgorithm, key: &StoredSigningKey) -> (usize, u8, DateTime<Utc>, String) {
    let alg_rank = SigningAlgorithm::ALL
        .iter()
        .position(|a| *a == alg)
        .unwrap_or(usize::MAX);
    let state_rank = match key.state {
        KeyState::Current => 0,
        KeyState::Next => 1,
        KeyState::Retired | KeyState::Revoked => 2,
    };
    (alg_rank, state_rank, key.activates_at, key.kid.clone())
}

/// Signs a fixed message and verifies it with the published key: catches a private part that
/// does not belong to its public part before it signs a single token.
fn check_pair(signer: &dyn JwsSigner, verifier: &dyn JwsVerifier) -> Result<(), String> {
    const PROBE: &[u8] = b"palisade key pair consistency check";
    let signature = signer.sign(PROBE).map_err(|e| e.to_string())?;
    verifier
        .verify(PROBE, &signature)
        .map_err(|_| "the private key does not match the published public key".to_owned())
}

/// Digest of the fields a ring depends on, independent of row order.
pub(crate) fn source_digest(
    keys: &[StoredSigningKey],
    signing_algorithms: &[SigningAlgorithm],
) -> [u8; 32] {
    let mut sorted: Vec<&StoredSigningKey> = keys.iter().collect();
    sorted.sort_by(|a, b| a.kid.cmp(&b.kid));
    let mut hasher = Sha256::new();
    for alg in signing_algorithms {
        hasher.update(alg.as_str());
        hasher.update([0]);
    }
    for key in sorted {
        let activated = key.activated_at.map(|t| t.timestamp()).unwrap_or(i64::MIN);
        for field in [
            key.kid.as_str(),
            key.alg.as_str(),
            key.state.as_str(),
            key.public_jwk.as_str(),
            key.encrypted_private_jwk.as_str(),
            key.master_key_id.as_str(),
        ] {
            hasher.update(field.len().to_be_bytes());
            hasher.update(field);
        }
        hasher.update(key.activates_at.timestamp().to_be_bytes());
        hasher.update(activated.to_be_bytes());
    }
    hasher.finalize().into()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alg::generate_signing_key;
    use crate::master_key::MasterKey;
    use crate::plan::KeyToGenerate;
    use chrono::Duration;

    /// A master key set and one stored key per (algorithm, state) given, created an hour apart.
    pub(crate) fn stored_keys(
        specs: &[(SigningAlgorithm, KeyState)],
    ) -> (MasterKeySet, Vec<StoredSigningKey>) {
        let masters = MasterKeySet::single(MasterKey::generate().unwrap());
        let start = Utc::now() - Duration::days(1);
        let keys = specs
            .iter()
            .enumerate()
            .map(|(i, &(alg, state))| {
                let at = start + Duration::hours(i as i64);
                let spec = KeyToGenerate {
                    alg,
                    state,
                    activates_at: at,
                    activated_at: (state != KeyState::Next).then_some(at),
                };
                generate_signing_key(&spec, at, &masters).unwrap()
            })
            .collect();
        (masters, keys)
    }

    fn all_states() -> Vec<(SigningAlgorithm, KeyState)> {
        let mut specs = Vec::new();
        for alg in SigningAlgorithm::ALL {
            for state in [
                KeyState::Retired,
                KeyState::Current,
                KeyState::Next,
                KeyState::Revoked,
            ] {
                specs.push((alg, state));
            }
        }
        specs
    }

    #[test]
    fn the_jwks_holds_only_public_members_of_published_keys() {
        let (masters, keys) = stored_keys(&all_states());
        let ring = KeyRing::build(&keys, &masters, &SigningAlgorithm::ALL).unwrap();
        let document: Value = serde_json::from_slice(&ring.jwks().body).unwrap();
        let jwks = document["keys"].as_array().unwrap();
        assert_eq!(jwks.len(), 9, "3 algorithms x next/current/retired");

        let allowed: &[(&str, &[&str])] = &[
            ("RSA", &["kty", "kid", "use", "alg", "n", "e"]),
            ("EC", &["kty", "kid", "use", "alg", "crv", "x", "y"]),
            ("OKP", &["kty", "kid", "use", "alg", "crv", "x"]),
        ];
        for jwk in jwks {
            let jwk = jwk.as_object().unwrap();
            let kty = jwk["kty"].as_str().unwrap();
            let members = allowed.iter().find(|(t, _)| *t == kty).unwrap().1;
            for name in jwk.keys() {
                assert!(members.contains(&name.as_str()), "{kty} publishes {name}");
            }
            for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
                assert!(!jwk.contains_key(private), "{kty} leaks {private}");
            }
            assert_eq!(jwk["use"], "sig");
            let kid = jwk["kid"].as_str().unwrap();
            let key = keys.iter().find(|k| k.kid == kid).unwrap();
            assert_eq!(jwk["alg"], key.alg.as_str());
            assert_ne!(key.state, KeyState::Revoked, "a revoked key is published");
        }
        // The signing key leads each algorithm's entries.
        assert_eq!(
            jwks[0]["kid"],
            ring.current_kid(SigningAlgorithm::RS256).unwrap()
        );
    }

    #[test]
    fn the_etag_is_a_strong_hash_of_the_bytes_and_independent_of_row_order() {
        let (masters, mut keys) = stored_keys(&all_states());
        let ring = KeyRing::build(&keys, &masters, &SigningAlgorithm::ALL).unwrap();
        let etag = &ring.jwks().etag;
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));
        keys.reverse();
        let again = KeyRing::build(&keys, &masters, &SigningAlgorithm::ALL).unwrap();
        assert_eq!(again.jwks(), ring.jwks());
        assert_eq!(again.source_digest(), ring.source_digest());

        keys.pop();
        let fewer = KeyRing::build(&keys, &masters, &SigningAlgorithm::ALL).unwrap();
        assert_ne!(fewer.jwks().etag, ring.jwks().etag);
        assert_ne!(fewer.source_digest(), ring.source_digest());
    }

    #[test]
    fn the_empty_ring_publishes_an_empty_set_with_a_matching_etag() {
        let ring = KeyRing::empty();
        let built = JwksDocument::of(Vec::new()).unwrap();
        assert_eq!(ring.jwks(), &built);
        assert!(!ring.can_sign(SigningAlgorithm::RS256));
    }

    #[test]
    fn only_current_keys_of_signing_algorithms_sign() {
        let (masters, keys) = stored_keys(&all_states());
        let ring = KeyRing::build(&keys, &masters, &[SigningAlgorithm::RS256]).unwrap();
        let current_rs256 = keys
            .iter()
            .find(|k| k.alg == "RS256" && k.state == KeyState::Current)
            .unwrap();
        assert_eq!(
            ring.current_kid(SigningAlgorithm::RS256),
            Some(current_rs256.kid.as_str())
        );
        assert!(!ring.can_sign(SigningAlgorithm::ES256), "ES256 not enabled");
        // Published keys of a disabled algorithm still verify.
        let es256_next = keys
            .iter()
            .find(|k| k.alg == "ES256" && k.state == KeyState::Next)
            .unwrap();
        assert_eq!(ring.published_state(&es256_next.kid), Some(KeyState::Next));
    }

    #[test]
    fn a_corrupt_published_key_fails_the_build() {
        let (masters, keys) = stored_keys(&[(SigningAlgorithm::ES256, KeyState::Current)]);
        let (_, other) = stored_keys(&[(SigningAlgorithm::ES256, KeyState::Retired)]);
        let cases = [
            (
                "public JWK of another key",
                StoredSigningKey {
                    public_jwk: other[0].public_jwk.clone(),
                    ..keys[0].clone()
                },
            ),
            (
                "not JSON",
                StoredSigningKey {
                    public_jwk: "nope".into(),
                    ..keys[0].clone()
                },
            ),
            (
                "wrong algorithm",
                StoredSigningKey {
                    alg: "RS256".into(),
                    ..keys[0].clone()
                },
            ),
        ];
        for (case, key) in cases {
            let error = KeyRing::build(&[key], &masters, &SigningAlgorithm::ALL)
                .map(|_| ())
                .unwrap_err();
            assert!(
                matches!(error, KeyError::MalformedKey { .. }),
                "{case}: {error}"
            );
        }
        let foreign_masters = MasterKeySet::single(MasterKey::generate().unwrap());
        assert!(matches!(
            KeyRing::build(&keys, &foreign_masters, &SigningAlgorithm::ALL),
            Err(KeyError::UnknownMasterKey(_))
        ));
    }

    #[test]
    fn the_ring_never_prints_private_material() {
        let (masters, keys) = stored_keys(&all_states());
        let ring = KeyRing::build(&keys, &masters, &SigningAlgorithm::ALL).unwrap();
        let debug = format!("{ring:?}");
        for key in keys.iter().filter(|k| k.state == KeyState::Current) {
            let private = masters.decrypt_private_jwk(key).unwrap();
            for member in ["d", "p", "q", "dp", "dq", "qi"] {
                if let Some(Value::String(value)) = private.parameter(member) {
                    assert!(!debug.contains(value.as_str()), "ring Debug shows {member}");
                }
            }
            assert!(!debug.contains(&key.encrypted_private_jwk));
        }
        assert!(debug.contains("KeyRing"));
    }
}
