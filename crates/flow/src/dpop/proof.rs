//! One DPoP proof JWT checked as RFC 9449 §4.3 lists, steps 2-9 and 11-12 (the nonce, step
//! 10, and the `jti` replay check need the store: `mod.rs`). Pure: no store, no clock.
//!
//! The header must say `typ: dpop+jwt` (§4.2), an `alg` of [`DPOP_SIGNING_ALGS`] (asymmetric,
//! never `none` or an HMAC: §4.3 step 5), and carry the public key in `jwk` (never a private
//! or symmetric one: step 7) whose type fits the `alg`; the signature must verify with that
//! key. The claims must hold `jti`, `htm` equal to the request's method, `htu` equal to the
//! endpoint's URL without query and fragment (step 9, compared after RFC 3986 §6.2.2-6.2.3
//! normalization), `iat` within the window, and `ath` when an access token is presented.

use super::jkt::{canonical_members, jwk_thumbprint};
use super::settings::DpopPolicy;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;

/// The proof signing algorithms accepted, in the order discovery lists them
/// (`dpop_signing_alg_values_supported`) and `WWW-Authenticate: DPoP algs="..."` names them.
pub const DPOP_SIGNING_ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];
/// A proof longer than this is refused before any parsing (an RSA-4096 key and every claim
/// fit in well under half of it).
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// `jti` values longer than this are refused (they become store keys, hashed).
const MAX_JTI_BYTES: usize = 256;
/// Nonces we hand out are 43 characters; anything much longer is not one of ours.
const MAX_NONCE_BYTES: usize = 256;
/// JWK members only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the request the proof comes with is.
pub(crate) struct Expected<'a> {
    pub method: &'a str,
    /// The endpoint's public URL (from the issuer), without query or fragment.
    pub url: &'a Url,
    pub access_token: Option<&'a str>,
    pub now: i64,
    pub policy: &'a DpopPolicy,
}

/// A proof whose signature and claims checked out.
#[derive(Debug)]
pub(crate) struct CheckedProof {
    pub jkt: String,
    pub jti: String,
    pub nonce: Option<String>,
}

/// base64url(SHA-256(access token)): the `ath` claim (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The endpoint URL as `htu` is compared with it: parsed (so normalized), no query, no fragment.
pub(crate) fn comparable_url(text: &str) -> Option<Url> {
    let mut url = Url::parse(text).ok()?;
    if !matches!(url.scheme(), "https" | "http") {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

fn decode_segment(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Checks `compact` against `expected`; the reason of a refusal is for the log only.
pub(crate) fn check(compact: &str, expected: &Expected<'_>) -> Result<CheckedProof, &'static str> {
    if compact.len() > MAX_PROOF_BYTES {
        return Err("the proof is too long");
    }
    let segments: Vec<&str> = compact.split('.').collect();
    let [header, _, signature] = segments.as_slice() else {
        return Err("the proof is not a compact JWS");
    };
    if signature.is_empty() {
        return Err("the proof is not signed");
    }
    let header = decode_segment(header).ok_or("the proof header is not a JSON object")?;
    let text = |name: &str| header.get(name).and_then(Value::as_str);
    if !text("typ").is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt")) {
        return Err("typ must be dpop+jwt");
    }
    let alg = text("alg").ok_or("the proof has no alg")?;
    if !DPOP_SIGNING_ALGS.contains(&alg) {
        return Err("the alg is not an accepted asymmetric algorithm");
    }
    if header.contains_key("crit") {
        return Err("crit is not understood");
    }
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err("the proof carries no jwk");
    };
    let verifier = public_key_verifier(alg, jwk)?;
    let payload =
        josekit::jws::deserialize_compact_with_selector(compact, |_| Ok(Some(verifier.as_ref())))
            .map_err(|_| "the signature does not verify with the jwk")?
            .0;
    let claims = match serde_json::from_slice(&payload) {
        Ok(Value::Object(claims)) => claims,
        _ => return Err("the proof claims are not a JSON object"),
    };
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);

    let jti = claim("jti").ok_or("the proof has no jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err("the jti is empty or too long");
    }
    if claim("htm") != Some(expected.method) {
        return Err("htm is not the request's method");
    }
    let htu = claim("htu")
        .and_then(comparable_url)
        .ok_or("htu is missing or not an http(s) URL")?;
    if &htu != expected.url {
        return Err("htu is not this endpoint's URL");
    }
    let iat = claims
        .get("iat")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
        .ok_or("the proof has no numeric iat")?;
    let policy = expected.policy;
    if iat < expected.now - policy.proof_max_age_secs {
        return Err("the proof is too old");
    }
    if iat > expected.now + policy.clock_skew_secs {
        return Err("the proof was issued in the future");
    }
    if let Some(token) = expected.access_token
        && claim("ath") != Some(access_token_hash(token).as_str())
    {
        return Err("ath is missing or is not the hash of the access token");
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) if !n.is_empty() && n.len() <= MAX_NONCE_BYTES => Some(n.clone()),
        Some(_) => return Err("the nonce is not a non-empty string"),
    };
    let jkt = jwk_thumbprint(jwk).ok_or("the jwk has no thumbprint")?;
    Ok(CheckedProof {
        jkt,
        jti: jti.to_owned(),
        nonce,
    })
}

/// The verifier of `alg` for the public key `jwk`, which must be of the type `alg` needs.
fn public_key_verifier(
    alg: &str,
    jwk: &Map<String, Value>,
) -> Result<Box<dyn JwsVerifier>, &'static str> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err("the jwk holds a private or symmetric key");
    }
    let members = canonical_members(jwk).ok_or("the jwk is not an RSA, EC or OKP public key")?;
    let fits = match alg {
        "ES256" => members.get("kty") == Some(&"EC") && members.get("crv") == Some(&"P-256"),
        "EdDSA" => members.get("kty") == Some(&"OKP") && members.get("crv") == Some(&"Ed25519"),
        "RS256" | "PS256" => members.get("kty") == Some(&"RSA"),
        _ => false,
    };
    if !fits {
        return Err("the jwk's type does not fit the alg");
    }
    // Only the key's own members reach josekit: an `alg`, `use` or `kid` in the jwk must not
    // change how it verifies.
    let mut public = Map::new();
    for (name, value) in members {
        public.insert(name.to_owned(), Value::String(value.to_owned()));
    }
    let jwk = Jwk::from_map(public).map_err(|_| "the jwk is not a valid key")?;
    let verifier: Result<Box<dyn JwsVerifier>, _> = match alg {
        "ES256" => josekit::jws::ES256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "EdDSA" => josekit::jws::EdDSA
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "RS256" => josekit::jws::RS256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        "PS256" => josekit::jws::PS256
            .verifier_from_jwk(&jwk)
            .map(|v| Box::new(v) as Box<dyn JwsVerifier>),
        _ => return Err("the alg is not an accepted asymmetric algorithm"),
    };
    verifier.map_err(|_| "the jwk cannot verify this alg (RSA keys need 2048 bits)")
}
