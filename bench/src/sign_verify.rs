//! `sign-verify`: how many JWTs one core signs and verifies per second, per algorithm, through
//! palisade-keys (josekit, with ring's ES256 and EdDSA signatures), and what signing and
//! verifying with josekit alone or `ring` alone costs.
//!
//! Every "full JWT" figure is the whole job on a compact token: JSON, base64url, signature.
//! "signature only" figures time just the primitive on the JWS signing input, as a floor.

use crate::harness::{Settings, Throughput, measure, thousands};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use josekit::jwk::Jwk;
use josekit::jws::{JwsSigner, JwsVerifier};
use palisade_core::model::{KeyState, StoredSigningKey};
use palisade_core::ports::{SigningAlgorithm, TokenSigner};
use palisade_keys::alg::generate_signing_key;
use palisade_keys::{KeyRing, KeyToGenerate, Keys, MasterKey, MasterKeySet};
use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, UnparsedPublicKey};
use serde_json::{Map, Value, json};
use std::hint::black_box;

/// An ID token's claims, ~260 bytes of JSON: what an RP receives after a code exchange.
fn id_token_claims() -> Map<String, Value> {
    let claims = json!({
        "iss": "https://id.example.com",
        "sub": "6f1c9f0e-3b6a-4c1e-9d2f-8a7b5c4d3e2f",
        "aud": "s6BhdRkqt3",
        "exp": 1_767_229_200,
        "iat": 1_767_225_600,
        "auth_time": 1_767_225_590,
        "nonce": "n-0S6_WzA2Mj-hX9a7b",
        "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
        "name": "Jane Doe",
        "email": "jane@example.com",
    });
    match claims {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A public key prepared for ring, from the published JWK.
enum RingKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ecdsa(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl RingKey {
    fn from_public_jwk(alg: SigningAlgorithm, jwk: &Map<String, Value>) -> Result<Self, String> {
        let member = |name: &str| -> Result<Vec<u8>, String> {
            let text = jwk
                .get(name)
                .and_then(Value::as_str)
                .ok_or(format!("JWK member {name} missing"))?;
            URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())
        };
        Ok(match alg {
            SigningAlgorithm::RS256 => Self::Rsa {
                n: member("n")?,
                e: member("e")?,
            },
            SigningAlgorithm::ES256 => {
                // ring takes the uncompressed SEC1 point, not OpenSSL's PKCS#8
                // (docs/dependencies.md, ring).
                let mut point = vec![0x04];
                point.extend(member("x")?);
                point.extend(member("y")?);
                Self::Ecdsa(point)
            }
            SigningAlgorithm::EdDSA => Self::Ed25519(member("x")?),
        })
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Rsa { n, e } => ring_sig::RsaPublicKeyComponents { n, e }
                .verify(&ring_sig::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Self::Ecdsa(point) => UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok(),
            Self::Ed25519(x) => UnparsedPublicKey::new(&ring_sig::ED25519, x)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// A whole-JWT verification with ring, doing the same work as palisade-keys: split, decode and
/// check the header (alg, kid, no crit/jwk/jku/x5u/x5c), verify, decode and parse the claims.
fn ring_verify_jwt(
    token: &str,
    alg: SigningAlgorithm,
    kid: &str,
    key: &RingKey,
) -> Option<Map<String, Value>> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    let header: Map<String, Value> =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg").and_then(Value::as_str) != Some(alg.as_str())
        || header.get("kid").and_then(Value::as_str) != Some(kid)
        || ["crit", "jwk", "jku", "x5u", "x5c"]
            .iter()
            .any(|name| header.contains_key(*name))
    {
        return None;
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return None;
    }
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
}

/// A private key prepared for ring, from a private JWK (what palisade-keys decrypts).
enum RingSigner {
    Rsa(ring_sig::RsaKeyPair),
    Ecdsa(ring_sig::EcdsaKeyPair),
    Ed25519(ring_sig::Ed25519KeyPair),
}

impl RingSigner {
    fn from_private_jwk(alg: SigningAlgorithm, jwk: &Jwk) -> Result<Self, String> {
        let member = |name: &str| -> Result<Vec<u8>, String> {
            let text = jwk
                .parameter(name)
                .and_then(Value::as_str)
                .ok_or(format!("JWK member {name} missing"))?;
            URL_SAFE_NO_PAD.decode(text).map_err(|e| e.to_string())
        };
        Ok(match alg {
            SigningAlgorithm::RS256 => {
                let components = ring::rsa::KeyPairComponents {
                    public_key: ring::rsa::PublicKeyComponents {
                        n: member("n")?,
                        e: member("e")?,
                    },
                    d: member("d")?,
                    p: member("p")?,
                    q: member("q")?,
                    dP: member("dp")?,
                    dQ: member("dq")?,
                    qInv: member("qi")?,
                };
                Self::Rsa(
                    ring_sig::RsaKeyPair::from_components(&components)
                        .map_err(|e| e.to_string())?,
                )
            }
            SigningAlgorithm::ES256 => {
                let mut point = vec![0x04];
                point.extend(member("x")?);
                point.extend(member("y")?);
                Self::Ecdsa(
                    ring_sig::EcdsaKeyPair::from_private_key_and_public_key(
                        &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &member("d")?,
                        &point,
                        &SystemRandom::new(),
                    )
                    .map_err(|e| e.to_string())?,
                )
            }
            SigningAlgorithm::EdDSA => Self::Ed25519(
                ring_sig::Ed25519KeyPair::from_seed_and_public_key(&member("d")?, &member("x")?)
                    .map_err(|e| e.to_string())?,
            ),
        })
    }

    fn sign(&self, rng: &SystemRandom, message: &[u8]) -> Option<Vec<u8>> {
        match self {
            Self::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&ring_sig::RSA_PKCS1_SHA256, rng, message, &mut signature)
                    .ok()?;
                Some(signature)
            }
            Self::Ecdsa(pair) => pair.sign(rng, message).ok().map(|s| s.as_ref().to_vec()),
            Self::Ed25519(pair) => Some(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// A whole-JWT signature with ring, doing the same work as palisade-keys: the header and the
/// claims to JSON, base64url, the signature.
fn ring_sign_jwt(
    signer: &RingSigner,
    rng: &SystemRandom,
    alg: SigningAlgorithm,
    kid: &str,
    claims: &Map<String, Value>,
) -> Option<String> {
    let header =
        serde_json::to_vec(&json!({"typ": "JWT", "alg": alg.as_str(), "kid": kid})).ok()?;
    let payload = serde_json::to_vec(claims).ok()?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    let signature = signer.sign(rng, token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Some(token)
}

struct Fixture {
    alg: SigningAlgorithm,
    stored: StoredSigningKey,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let settings = Settings::parse(args)?;
    let masters = MasterKeySet::single(MasterKey::generate().map_err(|e| e.to_string())?);
    let now = Utc::now();
    let fixtures = SigningAlgorithm::ALL
        .into_iter()
        .map(|alg| {
            let spec = KeyToGenerate {
                alg,
                state: KeyState::Current,
                activates_at: now,
                activated_at: Some(now),
            };
            generate_signing_key(&spec, now, &masters)
                .map(|stored| Fixture { alg, stored })
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    let stored: Vec<StoredSigningKey> = fixtures.iter().map(|f| f.stored.clone()).collect();
    let keys = Keys::new(
        KeyRing::build(&stored, &masters, &SigningAlgorithm::ALL).map_err(|e| e.to_string())?,
    );
    let claims = id_token_claims();
    let payload_len = serde_json::to_vec(&claims)
        .map_err(|e| e.to_string())?
        .len();

    println!(
        "sign-verify: full compact JWT, {payload_len}-byte ID-token payload, one thread; \
         median of {} runs x {:.1} s (min-max)\n",
        settings.runs,
        settings.run_time.as_secs_f64()
    );
    println!("| alg | sign ops/s | verify ops/s | token bytes |\n|---|---:|---:|---:|");
    let mut tokens = Vec::new();
    for fixture in &fixtures {
        let alg = fixture.alg;
        let token = keys.sign(alg, "JWT", &claims).map_err(|e| e.to_string())?;
        keys.verify(&token.compact).map_err(|e| e.to_string())?;
        let sign = measure(settings, || keys.sign(alg, "JWT", &claims).is_ok());
        let verify = measure(settings, || keys.verify(&token.compact).is_ok());
        println!(
            "| {} | {} | {} | {} |",
            alg.as_str(),
            spread(&sign),
            spread(&verify),
            token.compact.len()
        );
        tokens.push(token);
    }

    println!(
        "\nverification, josekit vs ring (ops/s, median; the ratio is ring / josekit on the full JWT)\n"
    );
    println!(
        "| alg | josekit full JWT (palisade-keys) | ring full JWT | josekit signature only | ring signature only | ring / josekit |\n|---|---:|---:|---:|---:|---:|"
    );
    for (fixture, token) in fixtures.iter().zip(&tokens) {
        let alg = fixture.alg;
        let public: Map<String, Value> =
            serde_json::from_str(&fixture.stored.public_jwk).map_err(|e| e.to_string())?;
        let ring_key = RingKey::from_public_jwk(alg, &public)?;
        let josekit_verifier = josekit_verifier(alg, &public)?;
        let (signing_input, signature) = token
            .compact
            .rsplit_once('.')
            .ok_or("token without a signature")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| e.to_string())?;
        if ring_verify_jwt(&token.compact, alg, &token.kid, &ring_key).as_ref() != Some(&claims) {
            return Err(format!("ring refused the {} token", alg.as_str()));
        }
        josekit_verifier
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|e| e.to_string())?;

        let josekit_full = measure(settings, || keys.verify(&token.compact).is_ok());
        let ring_full = measure(settings, || {
            ring_verify_jwt(black_box(&token.compact), alg, &token.kid, &ring_key).is_some()
        });
        let josekit_raw = measure(settings, || {
            josekit_verifier
                .verify(black_box(signing_input.as_bytes()), &signature)
                .is_ok()
        });
        let ring_raw = measure(settings, || {
            ring_key.verify(black_box(signing_input.as_bytes()), &signature)
        });
        println!(
            "| {} | {} | {} | {} | {} | {:.2}x |",
            alg.as_str(),
            thousands(josekit_full.median()),
            thousands(ring_full.median()),
            thousands(josekit_raw.median()),
            thousands(ring_raw.median()),
            ring_full.median() / josekit_full.median().max(f64::MIN_POSITIVE)
        );
    }

    println!(
        "\nsigning, josekit vs ring (ops/s, median; the ratio is ring / josekit on the full JWT; \
         each signature checked by the published key's josekit verifier)\n"
    );
    println!(
        "| alg | josekit full JWT | ring full JWT | josekit signature only | ring signature only | ring / josekit |\n|---|---:|---:|---:|---:|---:|"
    );
    let rng = SystemRandom::new();
    for alg in SigningAlgorithm::ALL {
        // A key of the bench's own (palisade-keys keeps its private parts to itself); the
        // josekit signer is the one palisade-keys builds from the same kind of JWK.
        let private = match alg {
            SigningAlgorithm::RS256 => Jwk::generate_rsa_key(palisade_keys::alg::RSA_KEY_BITS),
            SigningAlgorithm::ES256 => Jwk::generate_ec_key(josekit::jwk::P_256),
            SigningAlgorithm::EdDSA => Jwk::generate_ed_key(josekit::jwk::Ed25519),
        }
        .map_err(|e| e.to_string())?;
        let josekit_signer = josekit_signer(alg, &private)?;
        let josekit_verifier = josekit_verifier(
            alg,
            &private
                .to_public_key()
                .map_err(|e| e.to_string())?
                .as_ref()
                .clone(),
        )?;
        let ring_signer = RingSigner::from_private_jwk(alg, &private)?;
        let token = ring_sign_jwt(&ring_signer, &rng, alg, "k", &claims)
            .ok_or(format!("ring could not sign {}", alg.as_str()))?;
        let (signing_input, signature) = token.rsplit_once('.').ok_or("no signature")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| e.to_string())?;
        josekit_verifier
            .verify(signing_input.as_bytes(), &signature)
            .map_err(|e| format!("josekit refused ring's {} signature: {e}", alg.as_str()))?;

        let josekit_full = measure(settings, || {
            josekit_sign_jwt(josekit_signer.as_ref(), "k", black_box(&claims)).is_some()
        });
        let ring_full = measure(settings, || {
            ring_sign_jwt(&ring_signer, &rng, alg, "k", black_box(&claims)).is_some()
        });
        let josekit_raw = measure(settings, || {
            josekit_signer
                .sign(black_box(signing_input.as_bytes()))
                .is_ok()
        });
        let ring_raw = measure(settings, || {
            ring_signer
                .sign(&rng, black_box(signing_input.as_bytes()))
                .is_some()
        });
        println!(
            "| {} | {} | {} | {} | {} | {:.2}x |",
            alg.as_str(),
            spread(&josekit_full),
            spread(&ring_full),
            thousands(josekit_raw.median()),
            thousands(ring_raw.median()),
            ring_full.median() / josekit_full.median().max(f64::MIN_POSITIVE)
        );
    }
    Ok(())
}

/// A whole-JWT signature with josekit alone (OpenSSL), as palisade-keys signed before issue 16.
fn josekit_sign_jwt(
    signer: &dyn JwsSigner,
    kid: &str,
    claims: &Map<String, Value>,
) -> Option<String> {
    let mut header = josekit::jws::JwsHeader::new();
    header.set_token_type("JWT");
    header.set_key_id(kid);
    let payload = serde_json::to_vec(claims).ok()?;
    josekit::jws::serialize_compact(&payload, &header, signer).ok()
}

fn josekit_signer(alg: SigningAlgorithm, private: &Jwk) -> Result<Box<dyn JwsSigner>, String> {
    let signer: Box<dyn JwsSigner> = match alg {
        SigningAlgorithm::RS256 => Box::new(
            josekit::jws::RS256
                .signer_from_jwk(private)
                .map_err(|e| e.to_string())?,
        ),
        SigningAlgorithm::ES256 => Box::new(
            josekit::jws::ES256
                .signer_from_jwk(private)
                .map_err(|e| e.to_string())?,
        ),
        SigningAlgorithm::EdDSA => Box::new(
            josekit::jws::EdDSA
                .signer_from_jwk(private)
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok(signer)
}

fn josekit_verifier(
    alg: SigningAlgorithm,
    public: &Map<String, Value>,
) -> Result<Box<dyn JwsVerifier>, String> {
    let jwk = Jwk::from_map(public.clone()).map_err(|e| e.to_string())?;
    let verifier: Box<dyn JwsVerifier> = match alg {
        SigningAlgorithm::RS256 => Box::new(
            josekit::jws::RS256
                .verifier_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        SigningAlgorithm::ES256 => Box::new(
            josekit::jws::ES256
                .verifier_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        SigningAlgorithm::EdDSA => Box::new(
            josekit::jws::EdDSA
                .verifier_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok(verifier)
}

/// `12,345 (11,900-12,800)`.
fn spread(t: &Throughput) -> String {
    format!(
        "{} ({}-{}) ~{:.0} µs",
        thousands(t.median()),
        thousands(t.min()),
        thousands(t.max()),
        t.micros_per_op()
    )
}
