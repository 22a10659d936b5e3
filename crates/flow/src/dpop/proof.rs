//! One DPoP proof JWT checked as RFC 9449 §4.3 lists, steps 2-9 and 11-12 (the nonce, step
//! 10, and the `jti` replay check need the store: `mod.rs`). Pure: no store, no clock.
//!
//! The header must say `typ: dpop+jwt` (§4.2), an `alg` of [`DPOP_SIGNING_ALGS`] (asymmetric,
//! never `none` or an HMAC: §4.3 step 5), and carry the public key in `jwk` (never a private
//! or symmetric one: step 7) whose type fits the `alg`; the signature must verify with that
//! key. The claims must hold `jti`, `htm` equal to the request's method, `htu` equal to the
//! endpoint's URL without query and fragment (step 9, compared after RFC 3986 §6.2.2-6.2.3
//! normalization), `iat` within the window, and `ath` when an access token is presented.
//!
//! The signature is verified with ring directly from the key's members: a proof is a new key on
//! every request, and building a josekit (OpenSSL) key from a JWK cost more than the signature
//! check itself (docs/benchmarks.md, "Issue 17 — DPoP").

use super::jkt::{canonical_members, jwk_thumbprint};
use super::settings::DpopPolicy;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self as ring_sig, RsaPublicKeyComponents, UnparsedPublicKey};
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
    let [encoded_header, encoded_payload, signature] = segments.as_slice() else {
        return Err("the proof is not a compact JWS");
    };
    if signature.is_empty() {
        return Err("the proof is not signed");
    }
    let header = decode_segment(encoded_header).ok_or("the proof header is not a JSON object")?;
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
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "the signature is not base64url")?;
    // The JWS signing input: the two encoded segments as sent (RFC 7515 §5.2 step 8).
    let signing_input = &compact[..encoded_header.len() + 1 + encoded_payload.len()];
    verify_signature(alg, jwk, signing_input.as_bytes(), &signature)?;
    let claims = decode_segment(encoded_payload).ok_or("the proof claims are not a JSON object")?;
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

/// Verifies `signature` over `signing_input` with the public key `jwk`, which must be of the type
/// `alg` needs; only the key's required members are read (an `alg`, `use` or `kid` in the jwk
/// cannot change how it verifies).
fn verify_signature(
    alg: &str,
    jwk: &Map<String, Value>,
    signing_input: &[u8],
    signature: &[u8],
) -> Result<(), &'static str> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return Err("the jwk holds a private or symmetric key");
    }
    let members = canonical_members(jwk).ok_or("the jwk is not an RSA, EC or OKP public key")?;
    let member = |name: &str| -> Result<Vec<u8>, &'static str> {
        members
            .get(name)
            .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
            .ok_or("a jwk member is not base64url")
    };
    let fails = |_| "the signature does not verify with the jwk";
    match (alg, members.get("kty"), members.get("crv")) {
        ("ES256", Some(&"EC"), Some(&"P-256")) => {
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err("the jwk is not a P-256 point");
            }
            // An uncompressed SEC1 point; ring rejects one that is not on the curve.
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            UnparsedPublicKey::new(&ring_sig::ECDSA_P256_SHA256_FIXED, point)
                .verify(signing_input, signature)
                .map_err(fails)
        }
        ("EdDSA", Some(&"OKP"), Some(&"Ed25519")) => {
            let x = member("x")?;
            if x.len() != 32 {
                return Err("the jwk is not an Ed25519 key");
            }
            UnparsedPublicKey::new(&ring_sig::ED25519, x)
                .verify(signing_input, signature)
                .map_err(fails)
        }
        ("RS256" | "PS256", Some(&"RSA"), _) => {
            let key = RsaPublicKeyComponents {
                n: member("n")?,
                e: member("e")?,
            };
            // 2048 bits at least (RFC 7518 §3.3), as ring's parameters require.
            let params = if alg == "RS256" {
                &ring_sig::RSA_PKCS1_2048_8192_SHA256
            } else {
                &ring_sig::RSA_PSS_2048_8192_SHA256
            };
            key.verify(params, signing_input, signature)
                .map_err(|_| "the signature does not verify with the jwk (RSA keys need 2048 bits)")
        }
        _ => Err("the jwk's type does not fit the alg"),
    }
}
