//! `private_key_jwt` client authentication: RFC 7523 §2.2 and §3, RFC 7521 §4.2, OIDC Core §9;
//! the client's keys are its registered `jwks` (RFC 7591 §2, OIDC Registration §2).
//!
//! Two halves:
//!
//! - [`ClientJwks::parse`] judges a JWK Set at registration and parses it again at each
//!   authentication: public signing keys only (no `d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`, `k`;
//!   no `oct`), each usable with exactly one of RS256 (RSA >= 2048 bits), ES256 (P-256) or
//!   EdDSA (Ed25519), at most [`MAX_CLIENT_KEYS`], distinct `kid`s.
//! - [`AuthorizationServer::check_client_assertion`] verifies an assertion against those keys
//!   and its claims: `iss` = `sub` = client id, `aud` is the issuer identifier as a single
//!   string ([`AssertionAudience`]), `exp` present and at most [`MAX_ASSERTION_LIFETIME_SECS`] (plus skew) ahead, `jti` used
//!   once within the assertion's lifetime (`put_if_absent` in the shared ephemeral store, so
//!   the rule holds across nodes). The header must not carry or point at a key (`jwk`, `jku`,
//!   `x5u`, `x5c`): Palisade never fetches anything an assertion names (RFC 8725 §3.10).
//!
//! Every refusal is `invalid_client` (RFC 7521 §4.2.1); the reason goes to the log only.

use crate::server::{AuthorizationServer, ttl};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use palisade_core::model::Client;
use palisade_core::ports::SigningAlgorithm;
use palisade_core::{ErrorCode, OAuthError, TokenHash};
use serde_json::{Map, Value};
use std::fmt;

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
pub const JWT_BEARER_ASSERTION_TYPE: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// A registered JWK Set holds at most this many keys (enough for a rotation overlap).
pub const MAX_CLIENT_KEYS: usize = 10;
/// An assertion may not live longer than this: a long-lived assertion is a password.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// Tolerated clock difference between the client and us.
pub const CLOCK_SKEW_SECS: i64 = 60;
/// Assertions longer than this are refused before any parsing.
pub const MAX_ASSERTION_BYTES: usize = 8 * 1024;
/// `jti` values longer than this are refused (they become store keys, hashed).
const MAX_JTI_BYTES: usize = 256;

/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1;
/// RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
/// Header parameters that carry or point at a key (RFC 7515 §4.1.2-4.1.6).
const KEY_CARRYING_HEADERS: [&str; 4] = ["jwk", "jku", "x5u", "x5c"];

fn metadata_error(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

/// One registered public key, ready to verify.
struct ClientKey {
    kid: Option<String>,
    alg: SigningAlgorithm,
    verifier: Box<dyn JwsVerifier>,
}

/// A client's registered signing keys.
pub struct ClientJwks {
    keys: Vec<ClientKey>,
}

impl fmt::Debug for ClientJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|k| (k.kid.as_deref(), k.alg)))
            .finish()
    }
}

impl ClientJwks {
    /// Judges a JWK Set document (`{"keys": [...]}`); refusals are `invalid_client_metadata`.
    pub fn parse(document: &Value) -> Result<Self, OAuthError> {
        let Some(keys) = document.get("keys").and_then(Value::as_array) else {
            return Err(metadata_error(
                "jwks must be a JWK Set: an object with a keys array",
            ));
        };
        if keys.is_empty() {
            return Err(metadata_error("jwks must contain at least one key"));
        }
        if keys.len() > MAX_CLIENT_KEYS {
            return Err(metadata_error("jwks may contain at most 10 keys"));
        }
        let mut parsed: Vec<ClientKey> = Vec::with_capacity(keys.len());
        for key in keys {
            let key = parse_key(key)?;
            if key.kid.is_some() && parsed.iter().any(|k| k.kid == key.kid) {
                return Err(metadata_error("jwks keys must have distinct kid values"));
            }
            parsed.push(key);
        }
        Ok(Self { keys: parsed })
    }

    /// Parses the JWK Set stored with a client (it was judged when registered).
    pub fn parse_stored(text: &str) -> Result<Self, OAuthError> {
        let document: Value = serde_json::from_str(text)
            .map_err(|e| OAuthError::server_error(format!("stored jwks is not JSON: {e}")))?;
        Self::parse(&document)
            .map_err(|e| OAuthError::server_error(format!("stored jwks is invalid: {e}")))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Verifies a compact JWS against these keys and returns its claims. Refuses `none`, HMAC
    /// and every algorithm but RS256/ES256/EdDSA, `crit`, key-carrying headers, and a `kid`
    /// that names no registered key.
    pub fn verify(&self, compact: &str) -> Result<Map<String, Value>, &'static str> {
        if compact.len() > MAX_ASSERTION_BYTES {
            return Err("assertion too long");
        }
        let header = decode_segment(compact, 0).ok_or("malformed header")?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => alg.as_str(),
            _ => return Err("no alg"),
        };
        // SigningAlgorithm::parse is exact: `none`, `HS256`, `RS384`... are all refused here.
        let alg = SigningAlgorithm::parse(alg).ok_or("unacceptable alg")?;
        if header.contains_key("crit") {
            return Err("crit header");
        }
        if KEY_CARRYING_HEADERS.iter().any(|h| header.contains_key(*h)) {
            return Err("key-carrying header");
        }
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.as_str()),
            Some(_) => return Err("malformed kid"),
        };
        let candidates = self
            .keys
            .iter()
            .filter(|k| k.alg == alg && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)));
        for key in candidates {
            let verified = josekit::jws::deserialize_compact_with_selector(compact, |_| {
                Ok(Some(key.verifier.as_ref()))
            });
            if let Ok((payload, _)) = verified {
                return match serde_json::from_slice(&payload) {
                    Ok(Value::Object(claims)) => Ok(claims),
                    _ => Err("claims are not a JSON object"),
                };
            }
        }
        Err("no registered key verifies the signature")
    }
}

/// The JSON object in segment `index` of a compact JWS, without verifying anything.
fn decode_segment(compact: &str, index: usize) -> Option<Map<String, Value>> {
    let segment = compact.split('.').nth(index)?;
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The `sub` of an assertion, read before verification to find the client it claims to be.
pub fn unverified_subject(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_BYTES || assertion.split('.').count() != 3 {
        return None;
    }
    decode_segment(assertion, 1)?
        .get("sub")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn parse_key(value: &Value) -> Result<ClientKey, OAuthError> {
    let Value::Object(members) = value else {
        return Err(metadata_error("each jwks key must be a JSON object"));
    };
    if PRIVATE_MEMBERS.iter().any(|m| members.contains_key(*m)) {
        return Err(metadata_error(
            "jwks must contain public keys only (no d, p, q, dp, dq, qi, oth or k)",
        ));
    }
    let text = |name: &str| members.get(name).and_then(Value::as_str);
    let kid = match members.get("kid") {
        None => None,
        Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= 256 => Some(kid.clone()),
        Some(_) => return Err(metadata_error("a jwks kid must be a non-empty string")),
    };
    let by_type = match (text("kty"), text("crv")) {
        (Some("RSA"), _) => SigningAlgorithm::RS256,
        (Some("EC"), Some("P-256")) => SigningAlgorithm::ES256,
        (Some("OKP"), Some("Ed25519")) => SigningAlgorithm::EdDSA,
        _ => {
            return Err(metadata_error(
                "jwks keys must be RSA, EC P-256 or OKP Ed25519 signing keys",
            ));
        }
    };
    let alg = match members.get("alg") {
        None => by_type,
        Some(Value::String(alg)) if SigningAlgorithm::parse(alg) == Some(by_type) => by_type,
        Some(_) => {
            return Err(metadata_error(
                "a jwks key's alg must be RS256 (RSA), ES256 (P-256) or EdDSA (Ed25519)",
            ));
        }
    };
    // The kid is matched here, not by josekit (which would then insist on a kid header).
    let mut anonymous = members.clone();
    anonymous.remove("kid");
    let jwk = Jwk::from_map(anonymous)
        .map_err(|e| metadata_error("a jwks key is not a valid JWK").with_source(e))?;
    let verifier: Result<Box<dyn JwsVerifier>, _> = match alg {
        SigningAlgorithm::RS256 => josekit::jws::RS256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        SigningAlgorithm::ES256 => josekit::jws::ES256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        SigningAlgorithm::EdDSA => josekit::jws::EdDSA
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
    };
    let verifier = verifier.map_err(|e| {
        metadata_error(
            "a jwks key cannot verify signatures (RSA keys need at least 2048 bits, \
             use must be sig)",
        )
        .with_source(e)
    })?;
    Ok(ClientKey { kid, alg, verifier })
}

/// Which `aud` a client assertion may carry. Always one JSON string, never an array: an
/// assertion naming several audiences is valid at each of them, and one naming an endpoint URL
/// can be replayed by a malicious authorization server whose metadata claims that URL as its own
/// endpoint (the 2025 audience-injection advisory on RFC 7523 private_key_jwt, fixed by
/// draft-ietf-oauth-rfc7523bis: the issuer identifier, alone, as a string). Arrays are refused
/// whatever the setting, even one holding only the issuer: the draft asks for a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssertionAudience {
    /// `aud` is exactly the issuer identifier (the default).
    #[default]
    IssuerOnly,
    /// `aud` is exactly the issuer identifier or exactly the token endpoint URL (OIDC Core §9
    /// told clients to use the latter): for clients not yet updated, at the operator's choice
    /// (`client_assertion_allow_token_endpoint_audience`, docs/configuration.md).
    IssuerOrTokenEndpoint,
}

impl AssertionAudience {
    /// `true` gives [`Self::IssuerOrTokenEndpoint`].
    pub fn allowing_token_endpoint(allow: bool) -> Self {
        if allow {
            Self::IssuerOrTokenEndpoint
        } else {
            Self::IssuerOnly
        }
    }
}

fn replay_key(client_id: &str, jti: &str) -> String {
    format!(
        "{}client-assertion-jti:{}",
        palisade_core::ports::REPLAY_KEY_PREFIX,
        TokenHash::of(&format!("{client_id}\u{0}{jti}")).as_str()
    )
}

impl AuthorizationServer {
    /// The token endpoint URL (an accepted `aud` of client assertions only when
    /// [`AssertionAudience::IssuerOrTokenEndpoint`] is configured).
    pub fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// Whether a client assertion's `aud` claim is acceptable here ([`AssertionAudience`]).
    fn is_assertion_audience(&self, aud: Option<&Value>) -> Result<(), &'static str> {
        let aud = match aud {
            Some(Value::String(aud)) => aud.as_str(),
            Some(Value::Array(_)) => return Err("aud must be a single string, not an array"),
            _ => return Err("aud must be the issuer identifier"),
        };
        if aud == self.issuer {
            return Ok(());
        }
        match self.policy.client_assertion_audience {
            AssertionAudience::IssuerOrTokenEndpoint if aud == self.token_endpoint() => Ok(()),
            AssertionAudience::IssuerOrTokenEndpoint => {
                Err("aud names neither the issuer nor the token endpoint")
            }
            AssertionAudience::IssuerOnly => Err("aud must be the issuer identifier"),
        }
    }

    /// Checks a `private_key_jwt` assertion presented by `client` (RFC 7523 §3). Storage
    /// trouble while recording the `jti` is 503, never a silent pass.
    pub(crate) async fn check_client_assertion(
        &self,
        client: &Client,
        assertion: &str,
    ) -> Result<(), OAuthError> {
        let refuse = |reason: &'static str| {
            OAuthError::invalid_client("client authentication failed").with_source(reason)
        };
        let Some(jwks) = client.jwks.as_deref() else {
            return Err(refuse("the client has no registered jwks"));
        };
        let claims = ClientJwks::parse_stored(jwks)?
            .verify(assertion)
            .map_err(refuse)?;
        let text = |name: &str| claims.get(name).and_then(Value::as_str);
        let number = |name: &str| claims.get(name).and_then(Value::as_i64);
        let client_id = client.id.0.as_str();
        if text("iss") != Some(client_id) || text("sub") != Some(client_id) {
            return Err(refuse("iss and sub must both be the client id"));
        }
        self.is_assertion_audience(claims.get("aud"))
            .map_err(refuse)?;
        let now = self.clock.now().timestamp();
        let Some(exp) = number("exp") else {
            return Err(refuse("exp is required"));
        };
        if exp + CLOCK_SKEW_SECS <= now {
            return Err(refuse("the assertion has expired"));
        }
        if exp > now + MAX_ASSERTION_LIFETIME_SECS + CLOCK_SKEW_SECS {
            return Err(refuse("the assertion lives longer than 5 minutes"));
        }
        if number("nbf").is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECS)
            || number("iat").is_some_and(|iat| iat > now + CLOCK_SKEW_SECS)
        {
            return Err(refuse("the assertion is not valid yet"));
        }
        let jti = match text("jti") {
            Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_BYTES => jti,
            _ => return Err(refuse("jti is required (at most 256 bytes)")),
        };
        // Remember the jti for as long as the assertion could still be accepted.
        let lifetime = chrono::Duration::seconds(exp - now + CLOCK_SKEW_SECS);
        let first_use = self
            .ephemeral
            .put_if_absent(&replay_key(client_id, jti), b"1", ttl(lifetime))
            .await?;
        if !first_use {
            return Err(refuse("the assertion's jti was already used"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::JwsHeader;
    use serde_json::json;

    fn ec_key() -> (Jwk, Value) {
        let key = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
        let public: Map<String, Value> = key.to_public_key().unwrap().into();
        (key, Value::Object(public))
    }

    fn sign(key: &Jwk, header: &[(&str, Value)], claims: Value) -> String {
        let mut h = JwsHeader::new();
        for (name, value) in header {
            h.set_claim(name, Some(value.clone())).unwrap();
        }
        let signer = josekit::jws::ES256.signer_from_jwk(key).unwrap();
        josekit::jws::serialize_compact(&serde_json::to_vec(&claims).unwrap(), &h, &signer).unwrap()
    }

    /// RFC 7523bis and the 2025 audience-injection advisory: `aud` is the issuer, alone, as a
    /// string; the token endpoint URL only when the operator allows it, and never an array.
    #[tokio::test]
    async fn the_audience_is_the_issuer_as_one_string_unless_the_token_endpoint_is_allowed() {
        use palisade_core::model::{ClientType, TokenEndpointAuthMethod};
        let mut server = crate::test_server::TestServer::start().await;
        let (key, public) = ec_key();
        let mut client = server.client().await;
        client.client_type = ClientType::Confidential;
        client.token_endpoint_auth_method = TokenEndpointAuthMethod::PrivateKeyJwt;
        client.jwks = Some(json!({ "keys": [public] }).to_string());
        server
            .engine
            .clients
            .update_client(client.clone())
            .await
            .unwrap();
        let issuer = server.engine.issuer.clone();
        let endpoint = server.engine.token_endpoint();
        let id = client.id.0.clone();
        let now = server.engine.clock.now().timestamp();
        let assertion = |aud: Option<Value>| {
            let mut claims = json!({
                "iss": id, "sub": id, "exp": now + 60, "jti": server.engine.secrets.token(),
            });
            if let Some(aud) = aud {
                claims["aud"] = aud;
            }
            sign(&key, &[("alg", json!("ES256"))], claims)
        };
        // (aud, accepted by default, accepted when the token endpoint is allowed)
        let cases = [
            (Some(json!(issuer)), true, true),
            (Some(json!(endpoint)), false, true),
            (Some(json!([issuer])), false, false),
            (
                Some(json!([issuer, "https://as.attacker.example"])),
                false,
                false,
            ),
            (Some(json!([endpoint])), false, false),
            (Some(json!(format!("{issuer}/"))), false, false),
            (Some(json!(format!("{issuer}/introspect"))), false, false),
            (Some(json!("https://as.attacker.example")), false, false),
            (Some(json!(7)), false, false),
            (None, false, false),
        ];
        for allow_endpoint in [false, true] {
            server.engine.policy.client_assertion_audience =
                AssertionAudience::allowing_token_endpoint(allow_endpoint);
            for (aud, by_default, when_allowed) in &cases {
                let expected = if allow_endpoint {
                    *when_allowed
                } else {
                    *by_default
                };
                let checked = server
                    .engine
                    .check_client_assertion(&client, &assertion(aud.clone()))
                    .await;
                match checked {
                    Ok(()) => assert!(expected, "{aud:?} accepted (allow {allow_endpoint})"),
                    Err(e) => {
                        assert!(!expected, "{aud:?} refused (allow {allow_endpoint}): {e:?}");
                        assert_eq!(e.code, ErrorCode::InvalidClient);
                    }
                }
            }
        }
    }

    #[test]
    fn a_jwk_set_of_public_signing_keys_is_accepted() {
        let (_, ec) = ec_key();
        let rsa: Map<String, Value> = Jwk::generate_rsa_key(2048)
            .unwrap()
            .to_public_key()
            .unwrap()
            .into();
        let ed: Map<String, Value> = Jwk::generate_ed_key(josekit::jwk::alg::ed::EdCurve::Ed25519)
            .unwrap()
            .to_public_key()
            .unwrap()
            .into();
        let set = ClientJwks::parse(&json!({"keys": [ec, rsa, ed]})).unwrap();
        assert_eq!(set.len(), 3);
    }

    #[test]
    fn private_symmetric_weak_and_foreign_keys_are_refused() {
        let (private, public) = ec_key();
        let private: Map<String, Value> = private.into();
        let small_rsa: Map<String, Value> = Jwk::generate_rsa_key(1024)
            .unwrap()
            .to_public_key()
            .unwrap()
            .into();
        let mut with_alg = public.clone();
        with_alg["alg"] = json!("HS256");
        let mut enc = public.clone();
        enc["use"] = json!("enc");
        let mut kid_a = public.clone();
        kid_a["kid"] = json!("a");
        let cases = [
            ("private EC key", json!({"keys": [private]})),
            (
                "symmetric key",
                json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            ),
            ("1024-bit RSA", json!({"keys": [small_rsa]})),
            (
                "P-384",
                json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}]}),
            ),
            ("alg HS256 on an EC key", json!({"keys": [with_alg]})),
            ("encryption key", json!({"keys": [enc]})),
            ("duplicate kid", json!({"keys": [kid_a.clone(), kid_a]})),
            ("no keys", json!({"keys": []})),
            ("not a set", json!([public])),
            ("eleven keys", json!({"keys": vec![public.clone(); 11]})),
        ];
        for (name, document) in cases {
            let err = ClientJwks::parse(&document).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidClientMetadata, "{name}");
        }
    }

    #[test]
    fn only_a_registered_key_with_an_acceptable_header_verifies() {
        let (key, public) = ec_key();
        let mut registered = public.clone();
        registered["kid"] = json!("k1");
        let set = ClientJwks::parse(&json!({"keys": [registered]})).unwrap();
        let claims = json!({"sub": "c1"});
        let alg = ("alg", json!("ES256"));
        assert!(
            set.verify(&sign(
                &key,
                &[alg.clone(), ("kid", json!("k1"))],
                claims.clone()
            ))
            .is_ok()
        );
        assert!(
            set.verify(&sign(&key, std::slice::from_ref(&alg), claims.clone()))
                .is_ok(),
            "kid is optional"
        );
        let refused = [
            vec![alg.clone(), ("kid", json!("other"))],
            vec![alg.clone(), ("jku", json!("https://evil.test/jwks"))],
            vec![alg.clone(), ("jwk", public.clone())],
            vec![alg.clone(), ("x5u", json!("https://evil.test/cert"))],
            vec![alg.clone(), ("crit", json!(["exp"]))],
        ];
        for header in refused {
            assert!(
                set.verify(&sign(&key, &header, claims.clone())).is_err(),
                "{header:?}"
            );
        }
        let (stranger, _) = ec_key();
        assert!(
            set.verify(&sign(&stranger, &[alg], claims.clone()))
                .is_err()
        );

        // alg none: a header and payload with an empty signature.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"c1"}"#)
        );
        assert!(set.verify(&none).is_err());
        // HS256 "signed" with anything: refused on the algorithm before any key is tried.
        let hmac = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"c1"}"#)
        );
        assert_eq!(set.verify(&hmac).unwrap_err(), "unacceptable alg");
        assert_eq!(unverified_subject(&none).as_deref(), Some("c1"));
        assert_eq!(unverified_subject("not-a-jwt"), None);
    }
}
