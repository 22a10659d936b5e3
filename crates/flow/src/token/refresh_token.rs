//! Token endpoint, refresh_token grant: RFC 6749 §6, RFC 9700 §4.14.2 (rotation and reuse
//! detection).
//!
//! Every use rotates the token; the family keeps the original grant. Presenting a rotated
//! token revokes the whole family, except within a short grace window, where the same old
//! token gets back the very pair it already produced — a client that retried after losing the
//! response is not logged out, and an attacker gains nothing the client did not already get.

use super::TokenParams;
use crate::grant::Grant;
use crate::issue::TokenResponse;
use crate::scope::ScopeSet;
use crate::server::{AuthorizationServer, ttl};
use chrono::{DateTime, Utc};
use palisade_core::model::{Client, RefreshTokenFamily, RefreshTokenMatch, UserId};
use palisade_core::{OAuthError, StoreError, TokenHash};

fn successor_key(presented: &TokenHash) -> String {
    format!("refresh-successor:{}", presented.as_str())
}

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

impl AuthorizationServer {
    pub(super) async fn refresh(
        &self,
        client: &Client,
        params: &TokenParams<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let presented = TokenHash::of(params.required("refresh_token")?);
        let Some((family, matched)) = self
            .refresh_tokens
            .find_refresh_token_family(&presented)
            .await?
        else {
            return Err(invalid());
        };
        if family.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        let now = self.clock.now();
        if family.revoked_at.is_some() || family.expires_at <= now {
            return Err(invalid());
        }
        if matched == RefreshTokenMatch::Previous {
            return self.retry_or_revoke(&family, &presented, now).await;
        }
        let grant: Grant = serde_json::from_str(&family.grant).map_err(OAuthError::server_error)?;
        let scope = narrowed_scope(&grant, params)?;
        let user = self
            .users
            .find_user_by_id(&UserId(grant.user_id.clone()))
            .await?;
        if user.is_none_or(|u| u.is_disabled) {
            self.revoke_grant(&family.id).await?;
            return Err(OAuthError::invalid_grant("the user can no longer sign in"));
        }

        let successor_raw = self.secrets.token();
        let issued = Grant { scope, ..grant };
        let scope_text = issued.scope.to_string();
        let (access, id_token) = self
            .mint_user_tokens(&issued, client, None, "refresh_token")
            .await?;
        let response = TokenResponse {
            access_token: access.token,
            token_type: "Bearer".into(),
            expires_in: access.expires_in,
            refresh_token: Some(successor_raw.clone()),
            id_token,
            scope: scope_text,
        };

        let grace = self.policy.refresh_reuse_grace;
        if grace > chrono::Duration::zero() {
            // Claim the rotation of this token: of concurrent requests presenting it, one
            // rotates and the others get the pair it produced.
            let bytes = serde_json::to_vec(&response).map_err(OAuthError::server_error)?;
            if !self
                .ephemeral
                .put_if_absent(&successor_key(&presented), &bytes, ttl(grace))
                .await?
            {
                return self.successor_of(&presented).await?.ok_or_else(invalid);
            }
        }
        let rotated = self
            .refresh_tokens
            .rotate_refresh_token(&family.id, &presented, &TokenHash::of(&successor_raw), now)
            .await;
        if !matches!(rotated, Ok(true)) {
            // The successor was never stored: a retry must not be handed it from the cache.
            self.ephemeral.delete(&successor_key(&presented)).await?;
            rotated?;
            return Err(invalid());
        }
        Ok(response)
    }

    /// A rotated token presented again: the same pair within the grace window, else the
    /// family is revoked as a reuse (the token was probably stolen).
    async fn retry_or_revoke(
        &self,
        family: &RefreshTokenFamily,
        presented: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let grace = self.policy.refresh_reuse_grace;
        let within_grace = grace > chrono::Duration::zero()
            && family.rotated_at.is_some_and(|at| now - at <= grace);
        if within_grace && let Some(response) = self.successor_of(presented).await? {
            return Ok(response);
        }
        tracing::warn!(family = %family.id, "rotated refresh token reused; revoking its family");
        self.revoke_grant(&family.id).await?;
        Err(OAuthError::invalid_grant(
            "the refresh token was already used; the session is revoked",
        ))
    }

    async fn successor_of(
        &self,
        presented: &TokenHash,
    ) -> Result<Option<TokenResponse>, StoreError> {
        Ok(self
            .ephemeral
            .get(&successor_key(presented))
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }
}

/// RFC 6749 §6: a refresh may ask for fewer scopes, never more.
fn narrowed_scope(grant: &Grant, params: &TokenParams<'_>) -> Result<ScopeSet, OAuthError> {
    match params.get("scope") {
        None => Ok(grant.scope.clone()),
        Some(raw) => {
            let requested = ScopeSet::parse(raw)?;
            if requested.is_subset_of(&grant.scope) {
                Ok(requested)
            } else {
                Err(OAuthError::invalid_scope(
                    "a refresh cannot add scopes to the grant",
                ))
            }
        }
    }
}
