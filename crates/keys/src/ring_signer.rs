//! ES256 and EdDSA signatures computed with `ring` behind josekit's [`JwsSigner`] interface,
//! so the key ring, the JWKS and verification do not change.
//!
//! Why: an access token is one ES256 signature, and through josekit (OpenSSL 3's EVP layer,
//! which fetches the algorithm and builds a signing context per call, then re-encodes the DER
//! signature) it cost about twice what `ring` takes for the same signature
//! (docs/benchmarks.md, "Issue 16 — token issuance"). `ring` is already in the build for TLS.
//! RS256 stays on OpenSSL: `ring` signs RSA-2048 2.2 times slower.
//!
//! The keys are the same private JWKs, decrypted once when the ring is built; `ring` checks
//! that the private part matches the public one (and the ring's own pair check then signs and
//! verifies a probe with the published key through josekit's verifier).

use ::ring::rand::SystemRandom;
use ::ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::JoseError;
use josekit::jwk::Jwk;
use josekit::jws::{JwsAlgorithm, JwsSigner};
use palisade_core::ports::SigningAlgorithm;
use serde_json::Value;
use std::fmt;
use std::sync::Arc;

/// ES256 (r || s, RFC 7518 §3.4) and Ed25519 (RFC 8037 §3.1) signatures are both 64 bytes.
const SIGNATURE_LEN: usize = 64;

enum KeyPair {
    /// ECDSA draws a fresh nonce from the system's random source for every signature.
    Es256(EcdsaKeyPair, SystemRandom),
    Ed25519(Ed25519KeyPair),
}

/// A signer for the private JWK of an ES256 or EdDSA key. Clones share the key.
#[derive(Clone)]
pub(crate) struct RingSigner {
    pair: Arc<KeyPair>,
    algorithm: &'static dyn JwsAlgorithm,
    kid: Option<String>,
}

impl RingSigner {
    /// The signer of `private` (a private JWK of `alg`); `None` for an algorithm `ring` does
    /// not sign here (RS256), `Err` for a key that is not a whole, consistent key of `alg`.
    pub(crate) fn for_jwk(alg: SigningAlgorithm, private: &Jwk) -> Option<Result<Self, String>> {
        let built = match alg {
            SigningAlgorithm::RS256 => return None,
            SigningAlgorithm::ES256 => es256(private).map(|pair| (pair, &josekit::jws::ES256 as _)),
            SigningAlgorithm::EdDSA => {
                ed25519(private).map(|pair| (pair, &josekit::jws::EdDSA as _))
            }
        };
        Some(built.map(|(pair, algorithm)| Self {
            pair: Arc::new(pair),
            algorithm,
            kid: private.key_id().map(str::to_owned),
        }))
    }
}

fn member(private: &Jwk, name: &str) -> Result<Vec<u8>, String> {
    let text = private
        .parameter(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the private JWK has no {name}"))?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| format!("the private JWK's {name} is not base64url"))
}

fn check_curve(private: &Jwk, kty: &str, crv: &str) -> Result<(), String> {
    if private.key_type() != kty || private.curve() != Some(crv) {
        return Err(format!("the private JWK is not a {kty} {crv} key"));
    }
    Ok(())
}

fn es256(private: &Jwk) -> Result<KeyPair, String> {
    check_curve(private, "EC", "P-256")?;
    // ring takes the uncompressed SEC1 point (0x04 || x || y).
    let mut point = vec![0x04];
    point.extend(member(private, "x")?);
    point.extend(member(private, "y")?);
    let rng = SystemRandom::new();
    let pair = EcdsaKeyPair::from_private_key_and_public_key(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        &member(private, "d")?,
        &point,
        &rng,
    )
    .map_err(|e| format!("the P-256 key was refused: {e}"))?;
    Ok(KeyPair::Es256(pair, rng))
}

fn ed25519(private: &Jwk) -> Result<KeyPair, String> {
    check_curve(private, "OKP", "Ed25519")?;
    // RFC 8037 §2: `d` is the 32-byte seed, `x` the public key.
    Ed25519KeyPair::from_seed_and_public_key(&member(private, "d")?, &member(private, "x")?)
        .map(KeyPair::Ed25519)
        .map_err(|e| format!("the Ed25519 key was refused: {e}"))
}

impl JwsSigner for RingSigner {
    fn algorithm(&self) -> &dyn JwsAlgorithm {
        self.algorithm
    }

    fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    fn signature_len(&self) -> usize {
        SIGNATURE_LEN
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, JoseError> {
        match self.pair.as_ref() {
            KeyPair::Es256(pair, rng) => pair
                .sign(rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|e| {
                    JoseError::InvalidSignature(anyhow::anyhow!("ring could not sign: {e}"))
                }),
            KeyPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    fn box_clone(&self) -> Box<dyn JwsSigner> {
        Box::new(self.clone())
    }
}

/// Names the algorithm and key, never the private part.
impl fmt::Debug for RingSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingSigner")
            .field("alg", &self.algorithm.name())
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::{generate_private_jwk, verifier};

    #[test]
    fn its_signatures_verify_with_the_published_key_through_josekit() {
        for alg in [SigningAlgorithm::ES256, SigningAlgorithm::EdDSA] {
            let private = generate_private_jwk(alg).unwrap();
            let signer = RingSigner::for_jwk(alg, &private).unwrap().unwrap();
            assert_eq!(signer.algorithm().name(), alg.as_str());
            let public = private.to_public_key().unwrap();
            let verifier = verifier(alg, &public).unwrap();
            let signature = signer.sign(b"header.payload").unwrap();
            assert_eq!(signature.len(), signer.signature_len());
            verifier.verify(b"header.payload", &signature).unwrap();
            assert!(verifier.verify(b"header.payload!", &signature).is_err());
        }
    }

    #[test]
    fn a_private_part_of_another_key_or_curve_is_refused() {
        let mut mixed = generate_private_jwk(SigningAlgorithm::ES256).unwrap();
        let other = generate_private_jwk(SigningAlgorithm::ES256).unwrap();
        mixed
            .set_parameter("d", other.parameter("d").cloned())
            .unwrap();
        assert!(
            RingSigner::for_jwk(SigningAlgorithm::ES256, &mixed)
                .unwrap()
                .is_err()
        );
        let ed = generate_private_jwk(SigningAlgorithm::EdDSA).unwrap();
        assert!(
            RingSigner::for_jwk(SigningAlgorithm::ES256, &ed)
                .unwrap()
                .is_err()
        );
        let mut ed_mixed = ed.clone();
        ed_mixed
            .set_parameter(
                "d",
                generate_private_jwk(SigningAlgorithm::EdDSA)
                    .unwrap()
                    .parameter("d")
                    .cloned(),
            )
            .unwrap();
        assert!(
            RingSigner::for_jwk(SigningAlgorithm::EdDSA, &ed_mixed)
                .unwrap()
                .is_err()
        );
        let rsa = generate_private_jwk(SigningAlgorithm::RS256).unwrap();
        assert!(RingSigner::for_jwk(SigningAlgorithm::RS256, &rsa).is_none());
    }

    #[test]
    fn debug_names_the_key_but_not_its_private_part() {
        let private = generate_private_jwk(SigningAlgorithm::EdDSA).unwrap();
        let signer = RingSigner::for_jwk(SigningAlgorithm::EdDSA, &private)
            .unwrap()
            .unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains("EdDSA"));
        let d = private.parameter("d").and_then(Value::as_str).unwrap();
        assert!(!debug.contains(d));
    }
}
