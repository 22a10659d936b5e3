//! Token endpoint, refresh_token grant: RFC 6749 §6, RFC 9700 §4.14.2 (rotation and reuse
//! detection).
//!
//! Every use rotates the token; the family keeps the original grant. Presenting a rotated
//! token revokes the whole family, except within a short grace window, where the same old
//! token gets back the very pair it already produced — a client that retried after losing the
//! response is not logged out, and an attacker gains nothing the client did not already get.

use super::TokenParams;
use super::successor;
use crate::grant::Grant;
use crate::issue::TokenResponse;
use crate::scope::ScopeSet;
use crate::server::{AuthorizationServer, ttl};
use chrono::{DateTime, Utc};
use palisade_core::model::{Client, RefreshTokenFamily, RefreshTokenMatch};
use palisade_core::{OAuthError, StoreError, TokenHash};

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

impl AuthorizationServer {
    /// Whether a family may still be used at `now`: not revoked, within its absolute lifetime,
    /// and used (created or rotated) within its idle lifetime. Both are judged from the times
    /// stored in the family.
    pub(crate) fn is_family_live(&self, family: &RefreshTokenFamily, now: DateTime<Utc>) -> bool {
        let last_used = family.rotated_at.unwrap_or(family.created_at);
        family.revoked_at.is_none()
            && now < family.expires_at
            && now - last_used <= self.policy.refresh_token_idle_ttl
    }

    pub(super) async fn refresh(
        &self,
        client: &Client,
        params: &TokenParams<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let raw_presented = params.required("refresh_token")?;
        let presented = TokenHash::of(raw_presented);
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
        if !self.is_family_live(&family, now) {
            return Err(invalid());
        }
        let grant: Grant = serde_json::from_str(&family.grant).map_err(OAuthError::server_error)?;
        // RFC 9449 §5: a family bound to a DPoP key is refreshed only with a proof of that key,
        // checked before anything else happens to it (a retry within the grace window too).
        let proof_jkt = params.dpop.as_ref().map(|proof| proof.jkt.as_str());
        if let Some(bound) = grant.dpop_jkt.as_deref()
            && proof_jkt != Some(bound)
        {
            return Err(crate::dpop::invalid_dpop_proof(
                "the refresh token is bound to another DPoP key",
            ));
        }
        match matched {
            RefreshTokenMatch::Current => {}
            RefreshTokenMatch::Previous => {
                return self
                    .retry_or_revoke(&family, raw_presented, &presented, now)
                    .await;
            }
            RefreshTokenMatch::Spent => return self.revoke_as_reused(&family).await,
        }
        let scope = narrowed_scope(&grant, params)?;
        // RFC 8707 §2.2: a refresh may ask for fewer of the granted resources, never others.
        let resources = crate::resource::narrowed(params.resources()?, &grant.resources)?;
        let user = self
            .user_signed_in_at(&grant.user_id, grant.auth_time)
            .await?;
        if user.is_none() {
            self.revoke_grant(&family.id).await?;
            return Err(OAuthError::invalid_grant("the user can no longer sign in"));
        }

        let successor_raw = self.secrets.token();
        let issued = Grant {
            scope,
            resources,
            ..grant
        };
        let (access, id_token) = self
            .mint_user_tokens(
                &issued,
                client,
                None,
                "refresh_token",
                params.client_ip,
                proof_jkt,
            )
            .await?;
        let scope_text = access.scope.clone();
        let response = TokenResponse {
            access_token: access.token,
            token_type: super::token_type(proof_jkt),
            expires_in: access.expires_in,
            refresh_token: Some(successor_raw.clone()),
            id_token,
            scope: scope_text,
        };

        let grace = self.policy.refresh_reuse_grace;
        let cache_key = successor::cache_key(&presented);
        if grace > chrono::Duration::zero() {
            // Claim the rotation of this token: of concurrent requests presenting it, one
            // rotates and the others get the pair it produced.
            let sealed = successor::seal(raw_presented, &response)?;
            if !self
                .ephemeral
                .put_if_absent(&cache_key, &sealed, ttl(grace))
                .await?
            {
                return self
                    .successor_of(raw_presented, &presented)
                    .await?
                    .ok_or_else(invalid);
            }
        }
        let rotated = self
            .refresh_tokens
            .rotate_refresh_token(&family.id, &presented, &TokenHash::of(&successor_raw), now)
            .await;
        if !matches!(rotated, Ok(true)) {
            // The successor was never stored: a retry must not be handed it from the cache.
            self.ephemeral.delete(&cache_key).await?;
            rotated?;
            return Err(invalid());
        }
        Ok(response)
    }

    /// The token the last rotation replaced, presented again: the same pair within the grace
    /// window, else the family is revoked as a reuse.
    async fn retry_or_revoke(
        &self,
        family: &RefreshTokenFamily,
        raw_presented: &str,
        presented: &TokenHash,
        now: DateTime<Utc>,
    ) -> Result<TokenResponse, OAuthError> {
        let grace = self.policy.refresh_reuse_grace;
        let within_grace = grace > chrono::Duration::zero()
            && family.rotated_at.is_some_and(|at| now - at <= grace);
        if within_grace && let Some(response) = self.successor_of(raw_presented, presented).await? {
            return Ok(response);
        }
        self.revoke_as_reused(family).await
    }

    /// A rotated-away token was presented when no retry explains it: it was probably stolen,
    /// and the thief or the client holds a copy, so the whole family goes (RFC 9700 §4.14.2).
    async fn revoke_as_reused(
        &self,
        family: &RefreshTokenFamily,
    ) -> Result<TokenResponse, OAuthError> {
        tracing::warn!(family = %family.id, "rotated refresh token reused; revoking its family");
        self.revoke_grant(&family.id).await?;
        Err(OAuthError::invalid_grant(
            "the refresh token was already used; the session is revoked",
        ))
    }

    async fn successor_of(
        &self,
        raw_presented: &str,
        presented: &TokenHash,
    ) -> Result<Option<TokenResponse>, StoreError> {
        Ok(self
            .ephemeral
            .get(&successor::cache_key(presented))
            .await?
            .and_then(|sealed| successor::open(raw_presented, &sealed)))
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

#[cfg(test)]
mod tests {
    use super::super::fixture::{
        RelyingParty, alice_and_a_public_client, error_code, is_access_token_active, issue_code,
    };
    use crate::test_server::TestServer;
    use palisade_core::ErrorCode;
    use std::sync::Arc;

    /// A server, its public client, and the first refresh token of alice's grant.
    async fn first_refresh_token(scope: &str) -> (TestServer, RelyingParty, String) {
        let (server, rp, alice) = alice_and_a_public_client().await;
        let code = issue_code(&server, &rp, &alice, scope).await;
        let issued = rp.redeem(&server, &code).await.unwrap();
        let refresh = issued.refresh_token.expect("a refresh token");
        (server, rp, refresh)
    }

    #[tokio::test]
    async fn every_refresh_rotates_the_token_and_keeps_the_grant() {
        let (server, rp, r1) = first_refresh_token("openid offline_access").await;
        let second = rp.refresh(&server, &r1, None).await.unwrap();
        let r2 = second.refresh_token.clone().expect("a successor");
        assert_ne!(r2, r1);
        assert_eq!(second.scope, "openid offline_access");
        assert!(second.id_token.is_some());
        let third = rp.refresh(&server, &r2, None).await.unwrap();
        assert_ne!(third.refresh_token.as_deref(), Some(r2.as_str()));
    }

    #[tokio::test]
    async fn a_retry_within_the_grace_window_gets_the_same_successor_pair() {
        let (server, rp, r1) = first_refresh_token("openid offline_access").await;
        let first = rp.refresh(&server, &r1, None).await.unwrap();
        server.clock.advance(chrono::Duration::seconds(3));
        let retry = rp.refresh(&server, &r1, None).await.unwrap();
        assert_eq!(first, retry, "the retry got a different pair");
        let r2 = first.refresh_token.as_deref().unwrap();
        assert!(
            rp.refresh(&server, r2, None).await.is_ok(),
            "the family survived the retry"
        );
    }

    /// Of concurrent requests presenting one token, one rotates and the others get its pair.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_refreshes_with_one_token_all_get_the_one_successor_pair() {
        let (server, rp, r1) = first_refresh_token("openid offline_access").await;
        let (server, rp) = (Arc::new(server), Arc::new(rp));
        let mut refreshes = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (server, rp, r1) = (server.clone(), rp.clone(), r1.clone());
            refreshes.spawn(async move { rp.refresh(&server, &r1, None).await });
        }
        let mut pairs = Vec::new();
        while let Some(answer) = refreshes.join_next().await {
            pairs.push(answer.unwrap().unwrap());
        }
        assert!(pairs.windows(2).all(|w| w[0] == w[1]), "{pairs:?}");
        let r2 = pairs[0].refresh_token.as_deref().unwrap();
        assert!(rp.refresh(&server, r2, None).await.is_ok());
    }

    #[tokio::test]
    async fn reusing_a_rotated_refresh_token_after_the_grace_window_revokes_the_family() {
        let (server, rp, r1) = first_refresh_token("openid offline_access").await;
        let second = rp.refresh(&server, &r1, None).await.unwrap();
        let r2 = second.refresh_token.clone().unwrap();
        assert!(is_access_token_active(&server, &second.access_token).await);

        server.clock.advance(chrono::Duration::seconds(11));
        assert_eq!(
            error_code(rp.refresh(&server, &r1, None).await),
            ErrorCode::InvalidGrant
        );
        // The whole family is gone: the current token too, and its access token.
        assert_eq!(
            error_code(rp.refresh(&server, &r2, None).await),
            ErrorCode::InvalidGrant
        );
        assert!(!is_access_token_active(&server, &second.access_token).await);
    }

    #[tokio::test]
    async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
        let (server, rp, r1) = first_refresh_token("openid offline_access").await;
        assert_eq!(
            error_code(rp.refresh(&server, &r1, Some("openid profile")).await),
            ErrorCode::InvalidScope
        );
        let narrower = rp.refresh(&server, &r1, Some("openid")).await.unwrap();
        assert_eq!(narrower.scope, "openid");
    }

    #[tokio::test]
    async fn another_client_cannot_use_the_token_and_it_stays_valid() {
        let (server, rp, r1) = first_refresh_token("openid offline_access").await;
        let thief = RelyingParty::public(&server).await;
        assert_eq!(
            error_code(thief.refresh(&server, &r1, None).await),
            ErrorCode::InvalidGrant
        );
        assert!(rp.refresh(&server, &r1, None).await.is_ok());
    }

    #[tokio::test]
    async fn an_unknown_or_expired_refresh_token_is_invalid_grant() {
        let (server, rp, r1) = first_refresh_token("openid offline_access").await;
        assert_eq!(
            error_code(rp.refresh(&server, "not-a-token", None).await),
            ErrorCode::InvalidGrant
        );
        server.clock.advance(server.engine.policy.refresh_token_ttl);
        assert_eq!(
            error_code(rp.refresh(&server, &r1, None).await),
            ErrorCode::InvalidGrant
        );
    }
}
