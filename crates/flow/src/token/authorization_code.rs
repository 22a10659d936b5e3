//! Token endpoint, authorization_code grant: RFC 6749 §4.1.3-4.1.4, RFC 7636 §4.5-4.6,
//! RFC 9700 §4.5 (code replay), OIDC Core §3.1.3.
//!
//! The code is taken from the store in one atomic step, so of any number of concurrent
//! redemptions exactly one proceeds. A code presented again after it was redeemed revokes
//! everything issued from it (RFC 6749 §4.1.2). The marker that recognises it is written with
//! the code itself, so a replay is caught even while the first redemption is still running
//! (written only at redemption, a replay arriving between the take and that write found
//! neither); the redemption then extends it to the tokens' lifetime.

use super::TokenParams;
use crate::grant::CodeGrant;
use crate::interaction::{code_key, used_key};
use crate::issue::TokenResponse;
use crate::pkce::CodeVerifier;
use crate::server::{AuthorizationServer, ttl};
use palisade_core::OAuthError;
use palisade_core::model::{Client, UserId};

impl AuthorizationServer {
    pub(super) async fn exchange_authorization_code(
        &self,
        client: &Client,
        params: &TokenParams<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let invalid = || OAuthError::invalid_grant("the code is invalid, expired or already used");
        let raw_code = params.required("code")?;
        let Some(bytes) = self.ephemeral.take(&code_key(raw_code)).await? else {
            self.revoke_if_replayed(raw_code).await?;
            return Err(invalid());
        };
        let code: CodeGrant = serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?;
        // The marker written with the code covers replays until here; from now on it must last
        // as long as the tokens this redemption may mint.
        self.ephemeral
            .put(
                &used_key(raw_code),
                code.grant.id.as_bytes(),
                ttl(self.policy.longest_signed_token() + self.policy.code_ttl),
            )
            .await?;
        if code.grant.client_id != client.id.0 {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if self.clock.now().timestamp() > code.issued_at + self.policy.code_ttl.num_seconds() {
            return Err(invalid());
        }
        if params.get("redirect_uri") != Some(code.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        let Some(raw_verifier) = params.get("code_verifier") else {
            return Err(OAuthError::invalid_grant("code_verifier is required"));
        };
        let verifier = CodeVerifier::parse(raw_verifier)?;
        if !code.code_challenge.verify(&verifier) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the challenge",
            ));
        }
        let user = self
            .users
            .find_user_by_id(&UserId(code.grant.user_id.clone()))
            .await?;
        if user.is_none_or(|u| u.is_disabled) {
            return Err(OAuthError::invalid_grant("the user can no longer sign in"));
        }
        let issued = self
            .issue_for_grant(&code.grant, client, code.nonce.as_deref())
            .await?;
        // A replay while these were minted revoked the grant, perhaps before its refresh-token
        // family existed: revoke the family now that it does. (The access token carries the
        // grant id, so the grant's marker already revokes it.)
        if issued.refresh_token.is_some() && self.is_grant_revoked(&code.grant.id).await? {
            self.revoke_grant(&code.grant.id).await?;
        }
        Ok(issued)
    }

    /// A code no longer in the store whose marker is: it was redeemed (then this is a replay,
    /// RFC 6749 §4.1.2) or it expired unredeemed (then its grant holds nothing). Either way,
    /// revoke what it produced.
    async fn revoke_if_replayed(&self, raw_code: &str) -> Result<(), OAuthError> {
        if let Some(grant_id) = self.ephemeral.get(&used_key(raw_code)).await? {
            let grant_id = String::from_utf8_lossy(&grant_id).into_owned();
            tracing::warn!(grant = %grant_id, "a redeemed or expired authorization code was presented; revoking its tokens");
            self.revoke_grant(&grant_id).await?;
        }
        Ok(())
    }
}
