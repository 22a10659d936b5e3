//! The signing algorithms, their keys and their JWK members.
//!
//! - RS256: RSASSA-PKCS1-v1_5 with SHA-256, RFC 7518 §3.3; keys of 2048 bits ("a key of size
//!   2048 bits or larger MUST be used"). OpenID Connect Core §15.1 makes it mandatory to support.
//! - ES256: ECDSA with P-256 and SHA-256, RFC 7518 §3.4; the default for access tokens.
//! - EdDSA: Ed25519, RFC 8037 §3.1.
//!
//! Public JWK members follow RFC 7518 §6.3.1 (RSA `n`, `e`), §6.2.1 (EC `crv`, `x`, `y`) and
//! RFC 8037 §2 (OKP `crv`, `x`); the common members `kty`, `use`, `alg`, `kid` are RFC 7517 §4.
//! A public JWK is built by *copying an allow-list* of members, never by deleting private ones,
//! so a private member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `k`, `oth`) can never leak into the JWKS.

use crate::error::KeyError;
use crate::master_key::MasterKeySet;
use crate::plan::KeyToGenerate;
use crate::ring_signer::RingSigner;
use crate::thumbprint::jwk_thumbprint;
use chrono::{DateTime, Utc};
use josekit::jwk::{Ed25519, Jwk, P_256};
use josekit::jws::{ES256, EdDSA, JwsSigner, JwsVerifier, RS256};
use palisade_core::model::StoredSigningKey;
use palisade_core::ports::SigningAlgorithm;
use serde_json::{Map, Value};

/// RFC 7518 §3.3: at least 2048 bits. Larger keys cost ~4-8x per signature for no need here.
pub const RSA_KEY_BITS: u32 = 2048;

/// The JWK `kty` of an algorithm's keys (RFC 7518 §6.1, RFC 8037 §2).
pub fn key_type(alg: SigningAlgorithm) -> &'static str {
    match alg {
        SigningAlgorithm::RS256 => "RSA",
        SigningAlgorithm::ES256 => "EC",
        SigningAlgorithm::EdDSA => "OKP",
    }
}

/// The JWK `crv` of an algorithm's keys, if its key type has curves.
pub fn curve(alg: SigningAlgorithm) -> Option<&'static str> {
    match alg {
        SigningAlgorithm::RS256 => None,
        SigningAlgorithm::ES256 => Some("P-256"),
        SigningAlgorithm::EdDSA => Some("Ed25519"),
    }
}

/// The key-specific members of a *public* JWK, in the order they are written.
pub fn public_key_members(alg: SigningAlgorithm) -> &'static [&'static str] {
    match alg {
        SigningAlgorithm::RS256 => &["n", "e"],
        SigningAlgorithm::ES256 => &["crv", "x", "y"],
        SigningAlgorithm::EdDSA => &["crv", "x"],
    }
}

/// Generates a key pair for `alg` and returns its private JWK with `kid` (the RFC 7638
/// thumbprint), `alg` and `use: "sig"` set. CPU-heavy for RS256 (RSA-2048: 200-500 ms):
/// call it on a blocking thread.
pub(crate) fn generate_private_jwk(alg: SigningAlgorithm) -> Result<Jwk, KeyError> {
    let generated = match alg {
        SigningAlgorithm::RS256 => Jwk::generate_rsa_key(RSA_KEY_BITS),
        SigningAlgorithm::ES256 => Jwk::generate_ec_key(P_256),
        SigningAlgorithm::EdDSA => Jwk::generate_ed_key(Ed25519),
    };
    let mut jwk = generated.map_err(|e| KeyError::Generation {
        alg,
        reason: e.to_string(),
    })?;
    let kid = jwk_thumbprint(jwk.as_ref()).map_err(|e| KeyError::Generation {
        alg,
        reason: e.to_string(),
    })?;
    jwk.set_key_id(kid);
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
    Ok(jwk)
}

/// The public JWK of key `kid`, built from an allow-list of members of `source` (a public or
/// private JWK): `kty`, `kid`, `use`, `alg`, then the key parameters. Checks that the key type
/// and curve fit `alg`; `Err` carries a reason naming no key value.
pub(crate) fn public_jwk(
    alg: SigningAlgorithm,
    kid: &str,
    source: &Map<String, Value>,
) -> Result<Map<String, Value>, String> {
    let kty = key_type(alg);
    if source.get("kty").and_then(Value::as_str) != Some(kty) {
        return Err(format!("{} keys must have kty {kty}", alg.as_str()));
    }
    if let Some(crv) = curve(alg)
        && source.get("crv").and_then(Value::as_str) != Some(crv)
    {
        return Err(format!("{} keys must have crv {crv}", alg.as_str()));
    }
    let mut public = Map::new();
    public.insert("kty".into(), Value::String(kty.into()));
    public.insert("kid".into(), Value::String(kid.into()));
    public.insert("use".into(), Value::String("sig".into()));
    public.insert("alg".into(), Value::String(alg.as_str().into()));
    for &member in public_key_members(alg) {
        match source.get(member) {
            Some(Value::String(value)) => {
                public.insert(member.into(), Value::String(value.clone()));
            }
            _ => return Err(format!("member {member} is missing or not a string")),
        }
    }
    Ok(public)
}

/// A signer for a private JWK of `alg`: `ring` for ES256 and EdDSA (faster for the same
/// signature, [`crate::ring_signer`]), josekit over OpenSSL for RS256.
pub(crate) fn signer(alg: SigningAlgorithm, private: &Jwk) -> Result<Box<dyn JwsSigner>, String> {
    if let Some(signer) = RingSigner::for_jwk(alg, private) {
        return signer.map(|s| Box::new(s) as _);
    }
    let signer: Result<Box<dyn JwsSigner>, _> = match alg {
        SigningAlgorithm::RS256 => RS256.signer_from_jwk(private).map(|s| Box::new(s) as _),
        SigningAlgorithm::ES256 => ES256.signer_from_jwk(private).map(|s| Box::new(s) as _),
        SigningAlgorithm::EdDSA => EdDSA.signer_from_jwk(private).map(|s| Box::new(s) as _),
    };
    signer.map_err(|e| e.to_string())
}

/// A josekit verifier for a public JWK of `alg`.
pub(crate) fn verifier(
    alg: SigningAlgorithm,
    public: &Jwk,
) -> Result<Box<dyn JwsVerifier>, String> {
    let verifier: Result<Box<dyn JwsVerifier>, _> = match alg {
        SigningAlgorithm::RS256 => RS256.verifier_from_jwk(public).map(|v| Box::new(v) as _),
        SigningAlgorithm::ES256 => ES256.verifier_from_jwk(public).map(|v| Box::new(v) as _),
        SigningAlgorithm::EdDSA => EdDSA.verifier_from_jwk(public).map(|v| Box::new(v) as _),
    };
    verifier.map_err(|e| e.to_string())
}

/// Generates a new signing key as `spec` says and returns it ready to insert: public JWK in
/// clear, private JWK encrypted under the current master key. CPU-heavy for RS256: call it
/// through `tokio::task::spawn_blocking` from async code.
pub fn generate_signing_key(
    spec: &KeyToGenerate,
    created_at: DateTime<Utc>,
    master_keys: &MasterKeySet,
) -> Result<StoredSigningKey, KeyError> {
    let private = generate_private_jwk(spec.alg)?;
    let kid = private.key_id().unwrap_or_default().to_owned();
    let public =
        public_jwk(spec.alg, &kid, private.as_ref()).map_err(|reason| KeyError::Generation {
            alg: spec.alg,
            reason,
        })?;
    let public_json = serde_json::to_string(&public).map_err(|e| KeyError::Generation {
        alg: spec.alg,
        reason: e.to_string(),
    })?;
    let private_json = serde_json::to_vec(&private).map_err(|e| KeyError::Generation {
        alg: spec.alg,
        reason: e.to_string(),
    })?;
    let (encrypted_private_jwk, master_key_id) = master_keys.encrypt_private_jwk(&private_json)?;
    Ok(StoredSigningKey {
        kid,
        alg: spec.alg.as_str().to_owned(),
        state: spec.state,
        public_jwk: public_json,
        encrypted_private_jwk,
        master_key_id,
        created_at,
        activates_at: spec.activates_at,
        activated_at: spec.activated_at,
        retired_at: None,
        remove_after: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "k", "oth"];

    #[test]
    fn generated_keys_carry_their_thumbprint_as_kid() {
        for alg in SigningAlgorithm::ALL {
            let private = generate_private_jwk(alg).unwrap();
            assert_eq!(
                private.key_id(),
                Some(jwk_thumbprint(private.as_ref()).unwrap().as_str())
            );
            assert_eq!(private.algorithm(), Some(alg.as_str()));
            assert_eq!(private.key_use(), Some("sig"));
            assert!(
                private.parameter("d").is_some(),
                "{alg:?} private part present"
            );
        }
    }

    #[test]
    fn public_jwks_copy_only_public_members() {
        for alg in SigningAlgorithm::ALL {
            let private = generate_private_jwk(alg).unwrap();
            let kid = private.key_id().unwrap().to_owned();
            let public = public_jwk(alg, &kid, private.as_ref()).unwrap();
            for member in PRIVATE_MEMBERS {
                assert!(!public.contains_key(member), "{alg:?} leaks {member}");
            }
            let mut expected: Vec<&str> = vec!["kty", "kid", "use", "alg"];
            expected.extend(public_key_members(alg));
            let mut names: Vec<&str> = public.keys().map(String::as_str).collect();
            names.sort_unstable();
            expected.sort_unstable();
            assert_eq!(names, expected, "{alg:?}");
            assert_eq!(jwk_thumbprint(&public).unwrap(), kid);
        }
    }

    #[test]
    fn public_jwks_refuse_a_key_of_another_type() {
        let ec = generate_private_jwk(SigningAlgorithm::ES256).unwrap();
        assert!(public_jwk(SigningAlgorithm::RS256, "k", ec.as_ref()).is_err());
        assert!(public_jwk(SigningAlgorithm::EdDSA, "k", ec.as_ref()).is_err());
    }
}
