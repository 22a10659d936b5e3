//! A DPoP client's key for tests: signs proofs, good and bad, as RFC 9449 §4.2 shapes them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair as _;
use josekit::jws::JwsSigner;
use serde_json::{Map, Value, json};

/// A key pair a client proves possession of.
pub struct ProofKey {
    pub alg: &'static str,
    signer: Box<dyn JwsSigner>,
    /// The public JWK, as a proof's header carries it.
    pub public: Map<String, Value>,
    /// The private JWK (a proof must never carry it).
    pub private: Map<String, Value>,
}

impl ProofKey {
    pub fn generate(alg: &'static str) -> Self {
        let (public, private) = match alg {
            "ES256" => {
                let pair = josekit::jws::ES256.generate_key_pair().unwrap();
                (pair.to_jwk_public_key(), pair.to_jwk_private_key())
            }
            "EdDSA" => {
                let pair = josekit::jws::EdDSA
                    .generate_key_pair(josekit::jwk::alg::ed::EdCurve::Ed25519)
                    .unwrap();
                (pair.to_jwk_public_key(), pair.to_jwk_private_key())
            }
            "RS256" => {
                let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
                (pair.to_jwk_public_key(), pair.to_jwk_private_key())
            }
            "PS256" => {
                let pair = josekit::jws::PS256.generate_key_pair(2048).unwrap();
                (pair.to_jwk_public_key(), pair.to_jwk_private_key())
            }
            other => panic!("no test key for {other}"),
        };
        let signer: Box<dyn JwsSigner> = match alg {
            "ES256" => Box::new(josekit::jws::ES256.signer_from_jwk(&private).unwrap()),
            "EdDSA" => Box::new(josekit::jws::EdDSA.signer_from_jwk(&private).unwrap()),
            "RS256" => Box::new(josekit::jws::RS256.signer_from_jwk(&private).unwrap()),
            _ => Box::new(josekit::jws::PS256.signer_from_jwk(&private).unwrap()),
        };
        let strip = |jwk: josekit::jwk::Jwk| {
            let mut map = jwk.as_ref().clone();
            map.remove("alg");
            map
        };
        Self {
            alg,
            signer,
            public: strip(public),
            private: strip(private),
        }
    }

    pub fn jkt(&self) -> String {
        super::jwk_thumbprint(&self.public).unwrap()
    }

    /// A compact JWS of `header` and `claims`, signed with this key whatever the header says.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.signer.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The header of a well-formed proof.
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public})
    }

    /// The claims of a well-formed proof for `method` `url` at `iat`.
    pub fn claims(method: &str, url: &str, iat: i64) -> Value {
        json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": iat,
        })
    }

    /// A well-formed proof for `method` `url` at `iat`, with `extra` claims (`ath`, `nonce`).
    pub fn proof(&self, method: &str, url: &str, iat: i64, extra: &[(&str, &str)]) -> String {
        let mut claims = Self::claims(method, url, iat);
        for (name, value) in extra {
            claims[*name] = json!(value);
        }
        self.sign(&self.header(), &claims)
    }
}
