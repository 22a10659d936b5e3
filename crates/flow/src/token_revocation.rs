//! Token revocation: RFC 7009 §2.1 (request), §2.2 (response), §2.2.1 (errors); RFC 9700
//! §4.14.2 (revoking a refresh token ends its family).
//!
//! The caller authenticates as a client (public clients by `client_id`, RFC 7009 §2.1 and
//! RFC 6749 §2.3); then:
//!
//! - a refresh token of the caller revokes its whole grant: the family, durably, and every
//!   access token issued from it, by grant id in the shared ephemeral store
//!   ([`AuthorizationServer::revoke_grant`]);
//! - an access token of the caller is revoked by `jti` until it would have expired
//!   ([`AuthorizationServer::revoke_access_token`]);
//! - anything else — unknown, malformed, expired, already revoked, or another client's token —
//!   changes nothing, and the answer is the same 200, so the endpoint is no validity oracle.
//!
//! The token's shape decides its kind (see [`crate::introspection`]); `token_type_hint` is a
//! hint only and never changes the outcome. When storage cannot be reached the answer is 503,
//! never a 200 that revoked nothing (fosite GHSA-7mqr-2v3q-v2wm).

use crate::introspection::{looks_like_jwt, token_param};
use crate::server::AuthorizationServer;
use crate::token::TokenError;
use palisade_core::model::Client;
use palisade_core::{ErrorCode, OAuthError, TokenHash};

/// What a revocation request did; the HTTP answer is the same 200 for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    /// A refresh token's grant: the family and the access tokens issued from it.
    Grant,
    /// One access token.
    AccessToken,
    /// Nothing: unknown, invalid, or not the caller's.
    NoEffect,
}

impl AuthorizationServer {
    /// Handles `POST /revoke`.
    pub async fn revoke(
        &self,
        authorization_header: Option<&str>,
        form: &[(String, String)],
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<Revocation, TokenError> {
        let fail = TokenError::for_request(authorization_header);
        let client = self
            .authenticate_form(authorization_header, form, client_ip, false)
            .await
            .map_err(fail)?;
        let token = token_param(form).map_err(fail)?;
        self.revoke_token(&client, token).await.map_err(fail)
    }

    /// Revokes `token` if it is `client`'s (module docs).
    pub async fn revoke_token(
        &self,
        client: &Client,
        token: &str,
    ) -> Result<Revocation, OAuthError> {
        if looks_like_jwt(token) {
            let access = match self.validate_access_token(token).await {
                Ok(access) => access,
                // Expired, forged, already revoked: there is nothing left to revoke.
                Err(e) if e.code == ErrorCode::InvalidToken => return Ok(Revocation::NoEffect),
                Err(e) => return Err(e),
            };
            if access.client_id != client.id.0 {
                return Ok(Revocation::NoEffect);
            }
            self.revoke_access_token(&access.jti, access.expires_at)
                .await?;
            return Ok(Revocation::AccessToken);
        }
        let found = self
            .refresh_tokens
            .find_refresh_token_family(&TokenHash::of(token))
            .await?;
        match found {
            Some((family, _)) if family.client_id == client.id => {
                self.revoke_grant(&family.id).await?;
                Ok(Revocation::Grant)
            }
            _ => Ok(Revocation::NoEffect),
        }
    }
}
