//! The refresh grace window's answer cache: what a rotation answered, so that a client retrying
//! with the token it just rotated gets the very same pair back (see `refresh_token`).
//!
//! The answer holds a raw access token and a raw refresh token, and the product's promise is
//! that no usable token rests in any store. So it is sealed (JWE `dir` + `A256GCM`, RFC 7516)
//! under a key derived from the *presented* refresh token, which the store never sees (it
//! keeps that token's SHA-256 as the entry's name, and the key is a differently labelled
//! hash): only a caller who holds the old token can open it, and that caller could have
//! rotated it anyway. A dump of the ephemeral store yields no token.

use crate::issue::TokenResponse;
use josekit::jwe::{Dir, JweHeader};
use palisade_core::secret::labelled_digest;
use palisade_core::{OAuthError, TokenHash};

/// Domain separation: this hash of the token is a key, never a name stored anywhere.
const KEY_LABEL: &[u8] = b"palisade refresh-successor key v1\0";

/// The store key of the answer to a rotation of `presented`.
pub(super) fn cache_key(presented: &TokenHash) -> String {
    format!("refresh-successor:{}", presented.as_str())
}

fn sealing_key(raw_presented: &str) -> [u8; 32] {
    labelled_digest(KEY_LABEL, raw_presented)
}

/// The answer, sealed for whoever holds `raw_presented`.
pub(super) fn seal(raw_presented: &str, answer: &TokenResponse) -> Result<Vec<u8>, OAuthError> {
    let payload = serde_json::to_vec(answer).map_err(OAuthError::server_error)?;
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    let encrypter = Dir
        .encrypter_from_bytes(sealing_key(raw_presented))
        .map_err(OAuthError::server_error)?;
    josekit::jwe::serialize_compact(&payload, &header, &encrypter)
        .map(String::into_bytes)
        .map_err(OAuthError::server_error)
}

/// The answer sealed for `raw_presented`; `None` if `sealed` is not that (wrong key, damaged).
pub(super) fn open(raw_presented: &str, sealed: &[u8]) -> Option<TokenResponse> {
    let compact = std::str::from_utf8(sealed).ok()?;
    let decrypter = Dir.decrypter_from_bytes(sealing_key(raw_presented)).ok()?;
    let (payload, _) = josekit::jwe::deserialize_compact(compact, &decrypter).ok()?;
    serde_json::from_slice(&payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer() -> TokenResponse {
        TokenResponse {
            access_token: "access-token-value".into(),
            token_type: "Bearer".into(),
            expires_in: 600,
            refresh_token: Some("successor-refresh-token".into()),
            id_token: None,
            scope: "openid offline_access".into(),
        }
    }

    #[test]
    fn only_the_presented_token_opens_its_answer_and_nothing_is_in_clear() {
        let sealed = seal("presented-token", &answer()).unwrap();
        let text = String::from_utf8_lossy(&sealed);
        for secret in [
            "access-token-value",
            "successor-refresh-token",
            "presented-token",
        ] {
            assert!(!text.contains(secret), "{secret} is readable in {text}");
        }
        assert_eq!(open("presented-token", &sealed), Some(answer()));
        assert_eq!(open("another-token", &sealed), None);
        assert_eq!(open("presented-token", b"garbage"), None);
    }

    #[test]
    fn the_sealing_key_is_not_the_stored_name() {
        let name = TokenHash::of("presented-token");
        let key = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            sealing_key("presented-token"),
        );
        assert_ne!(name.as_str(), key);
    }
}
