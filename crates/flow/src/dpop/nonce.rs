//! Server-provided DPoP nonces (RFC 9449 §8 at the token endpoint, §9 at resource servers).
//!
//! One nonce per time window of `nonce_lifetime_secs`, kept in the shared ephemeral store: the
//! first node that needs the window's nonce creates it with `put_if_absent`, every other node
//! reads that one, so a nonce handed out by one node is accepted by all. A proof may carry the
//! current window's nonce or the previous one's (a client that fetched it just before the
//! window turned is not sent round again); older ones are refused with `use_dpop_nonce` and the
//! current one.

use crate::server::AuthorizationServer;
use palisade_core::OAuthError;

fn nonce_key(window: i64) -> String {
    format!("dpop-nonce:{window}")
}

impl AuthorizationServer {
    fn dpop_nonce_window(&self) -> i64 {
        let lifetime = self.policy.dpop.nonce_lifetime_secs.max(1);
        self.clock.now().timestamp().div_euclid(lifetime)
    }

    /// The nonce to send in `DPoP-Nonce`: the current window's, created if this node is the
    /// first to need it. `None` when nonces are not required.
    pub async fn dpop_nonce(&self) -> Result<Option<String>, OAuthError> {
        if !self.policy.dpop.require_nonce {
            return Ok(None);
        }
        let key = nonce_key(self.dpop_nonce_window());
        if let Some(nonce) = self.ephemeral.get(&key).await? {
            return Ok(Some(String::from_utf8_lossy(&nonce).into_owned()));
        }
        let fresh = self.secrets.token();
        // Kept while it is current and while it is the previous window's.
        let lifetime = u64::try_from(self.policy.dpop.nonce_lifetime_secs).unwrap_or(300);
        let ttl = std::time::Duration::from_secs(2 * lifetime + 1);
        if self
            .ephemeral
            .put_if_absent(&key, fresh.as_bytes(), ttl)
            .await?
        {
            return Ok(Some(fresh));
        }
        // Another node created it between our read and our write: theirs is the one.
        match self.ephemeral.get(&key).await? {
            Some(nonce) => Ok(Some(String::from_utf8_lossy(&nonce).into_owned())),
            None => Err(OAuthError::temporarily_unavailable(
                "the DPoP nonce vanished as it was created",
            )),
        }
    }

    /// Whether `nonce` is the current window's nonce or the previous one's.
    pub(super) async fn is_current_dpop_nonce(&self, nonce: &str) -> Result<bool, OAuthError> {
        let window = self.dpop_nonce_window();
        let (current, previous) = (nonce_key(window), nonce_key(window - 1));
        let known = self.ephemeral.get_many(&[&current, &previous]).await?;
        Ok(known
            .into_iter()
            .flatten()
            .any(|value| value == nonce.as_bytes()))
    }
}
