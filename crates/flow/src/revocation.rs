//! Revocation markers for self-contained access tokens.
//!
//! A JWT cannot be recalled, so revocation is recorded in the ephemeral store until the token
//! would have expired anyway: by `jti` for one token, by grant id (`gid`) for every token
//! issued from a grant (RFC 9700 §4.14.2 family revocation, RFC 6749 §4.1.2 code replay).
//! Every node shares the ephemeral store, so a revocation holds everywhere at once.
//!
//! A marker holds the absolute time (unix seconds) until which it must hold — the latest `exp`
//! of what it revokes — and the store keeps it [`CLOCK_STEP_ALLOWANCE`] longer than that. A
//! store's TTL runs on its own clock; if ours is stepped back, a token past its `exp` by the
//! store's reckoning can look unexpired by ours, and its marker must still be there. Larger
//! steps back than the token's age are caught where tokens are checked: a token issued in our
//! future (`nbf` over 60 s ahead) is not accepted.

use crate::server::{AuthorizationServer, ttl};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::StoreError;

/// Tokens longer than this get no read-ahead: ours are about 1 KB.
const MAX_READ_AHEAD_TOKEN_LEN: usize = 8 * 1024;
/// Nor do `jti` or `gid` claims longer than this: ours are 43 characters.
const MAX_READ_AHEAD_ID_LEN: usize = 128;

/// How far our clock may step back without a revoked token coming back to life.
pub const CLOCK_STEP_ALLOWANCE: chrono::Duration = chrono::Duration::hours(1);

fn grant_key(grant_id: &str) -> String {
    format!("revoked-grant:{grant_id}")
}
fn jti_key(jti: &str) -> String {
    format!("revoked-jti:{jti}")
}

impl AuthorizationServer {
    /// Revokes a grant: its refresh-token family (durably) and every access token issued from
    /// it (until the longest of them expires).
    pub async fn revoke_grant(&self, grant_id: &str) -> Result<(), StoreError> {
        let now = self.clock.now();
        // Every access token of the grant was issued by now, so expires by this.
        let holds_until = now + self.policy.access_token_ttl;
        self.put_marker(&grant_key(grant_id), holds_until.timestamp())
            .await?;
        self.refresh_tokens
            .revoke_refresh_token_family(grant_id, now)
            .await
    }

    /// Writes a marker that must hold until `holds_until` (unix seconds), by our clock.
    async fn put_marker(&self, key: &str, holds_until: i64) -> Result<(), StoreError> {
        let left = chrono::Duration::seconds((holds_until - self.clock.now().timestamp()).max(1));
        self.ephemeral
            .put(
                key,
                holds_until.to_string().as_bytes(),
                ttl(left + CLOCK_STEP_ALLOWANCE),
            )
            .await
    }

    /// Whether the grant's revocation marker is held (it is for as long as access tokens from
    /// the grant may live).
    pub(crate) async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool, StoreError> {
        Ok(self.ephemeral.get(&grant_key(grant_id)).await?.is_some())
    }

    /// Revokes one access token, which expires at `expires_at` (its `exp`, unix seconds).
    pub async fn revoke_access_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        self.put_marker(&jti_key(jti), expires_at).await
    }

    /// Whether an access token was revoked, by itself or through its grant. `read_ahead` holds
    /// markers read earlier in another round trip; they are used only if they are this
    /// token's, else the markers are read now.
    pub async fn is_access_token_revoked(
        &self,
        jti: &str,
        grant_id: Option<&str>,
        read_ahead: Option<&MarkersReadAhead>,
    ) -> Result<bool, StoreError> {
        let keys = marker_keys(jti, grant_id);
        if let Some(ahead) = read_ahead.filter(|ahead| ahead.keys == keys) {
            return Ok(ahead.values.iter().any(Option::is_some));
        }
        // One read for both markers: this runs for every introspection and userinfo call.
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let markers = self.ephemeral.get_many(&key_refs).await?;
        Ok(markers.iter().any(Option::is_some))
    }
}

/// The revocation markers of a token that is yet to be verified, read in the same round trip
/// as something else (introspection: the caller's attempt counters). The keys come from the
/// token's claims before its signature is checked, so they are only a guess; a verified token
/// whose `jti` or `gid` differ is checked with a read of its own.
#[derive(Debug, Clone, Default)]
pub struct MarkersReadAhead {
    keys: Vec<String>,
    values: Vec<Option<Vec<u8>>>,
}

impl MarkersReadAhead {
    /// The keys to read for `token`: none if it is not a JWT with a `jti`. This runs before
    /// the caller is authenticated, so oversized input reads nothing ahead (the token is then
    /// checked the ordinary way, and ours are far smaller).
    pub fn keys_for(token: &str) -> Vec<String> {
        #[derive(serde::Deserialize)]
        struct Claimed {
            jti: Option<String>,
            gid: Option<String>,
        }
        if token.len() > MAX_READ_AHEAD_TOKEN_LEN {
            return Vec::new();
        }
        let mut parts = token.split('.');
        let claimed = parts
            .nth(1)
            .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
            .and_then(|json| serde_json::from_slice::<Claimed>(&json).ok());
        let short = |id: &str| id.len() <= MAX_READ_AHEAD_ID_LEN;
        match claimed {
            Some(Claimed {
                jti: Some(jti),
                gid,
            }) if short(&jti) && gid.as_deref().is_none_or(short) => {
                marker_keys(&jti, gid.as_deref())
            }
            _ => Vec::new(),
        }
    }

    /// What was read for `keys` (as given by [`Self::keys_for`]).
    pub fn new(keys: Vec<String>, values: Vec<Option<Vec<u8>>>) -> Self {
        Self { keys, values }
    }
}

/// The markers that revoke an access token: its own, and its grant's if it has one.
fn marker_keys(jti: &str, grant_id: Option<&str>) -> Vec<String> {
    std::iter::once(jti_key(jti))
        .chain(grant_id.map(grant_key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.signature",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"at+jwt"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn read_ahead_keys_are_the_claimed_tokens_markers() {
        assert_eq!(
            MarkersReadAhead::keys_for(&jwt(r#"{"jti":"j1","gid":"g1"}"#)),
            ["revoked-jti:j1", "revoked-grant:g1"]
        );
        // client_credentials tokens have no grant.
        assert_eq!(
            MarkersReadAhead::keys_for(&jwt(r#"{"jti":"j2"}"#)),
            ["revoked-jti:j2"]
        );
        assert_eq!(
            marker_keys("j1", Some("g1")),
            MarkersReadAhead::keys_for(&jwt(r#"{"jti":"j1","gid":"g1"}"#)),
            "the keys checked after verification are the ones read ahead"
        );
    }

    #[test]
    fn tokens_without_a_readable_jti_read_nothing_ahead() {
        for token in [
            jwt(r#"{"sub":"s"}"#),
            jwt(r#"{"jti":7}"#),
            jwt("not json"),
            "a.!!!.c".to_owned(),
            jwt(&format!(r#"{{"jti":"{}"}}"#, "j".repeat(129))),
            jwt(&format!(r#"{{"jti":"j","gid":"{}"}}"#, "g".repeat(129))),
            jwt(&format!(
                r#"{{"jti":"j","pad":"{}"}}"#,
                "p".repeat(8 * 1024)
            )),
            "no-dots".to_owned(),
            String::new(),
        ] {
            assert!(MarkersReadAhead::keys_for(&token).is_empty(), "{token}");
        }
    }
}
