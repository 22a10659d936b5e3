//! Revocation markers for self-contained access tokens.
//!
//! A JWT cannot be recalled, so revocation is recorded in the ephemeral store until the token
//! would have expired anyway: by `jti` for one token, by grant id (`gid`) for every token
//! issued from a grant (RFC 9700 §4.14.2 family revocation, RFC 6749 §4.1.2 code replay).
//! Every node shares the ephemeral store, so a revocation holds everywhere at once.

use crate::server::{AuthorizationServer, ttl};
use palisade_core::StoreError;

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
        self.ephemeral
            .put(
                &grant_key(grant_id),
                b"1",
                ttl(self.policy.access_token_ttl + chrono::Duration::seconds(60)),
            )
            .await?;
        self.refresh_tokens
            .revoke_refresh_token_family(grant_id, now)
            .await
    }

    /// Revokes one access token until `expires_in_secs` from now.
    pub async fn revoke_access_token(
        &self,
        jti: &str,
        expires_in_secs: i64,
    ) -> Result<(), StoreError> {
        let remaining = chrono::Duration::seconds(expires_in_secs.max(1) + 60);
        self.ephemeral
            .put(&jti_key(jti), b"1", ttl(remaining))
            .await
    }

    /// Whether an access token was revoked, by itself or through its grant.
    pub async fn is_access_token_revoked(
        &self,
        jti: &str,
        grant_id: Option<&str>,
    ) -> Result<bool, StoreError> {
        let by_token = jti_key(jti);
        let by_grant = grant_id.map(grant_key);
        // One read for both markers: this runs for every introspection and userinfo call.
        let keys: Vec<&str> = std::iter::once(by_token.as_str())
            .chain(by_grant.as_deref())
            .collect();
        let markers = self.ephemeral.get_many(&keys).await?;
        Ok(markers.iter().any(Option::is_some))
    }
}
