//! Token endpoint, client_credentials grant: RFC 6749 §4.4, RFC 9068 §2.2.
//!
//! Only confidential clients; scopes limited to the client's registered scopes; no refresh
//! token and no ID token. The token's `sub` is the client id, which can never equal a user's
//! `sub` (users' are UUIDs, client ids are 43-character random strings).

use super::TokenParams;
use crate::issue::{Issuance, TokenResponse};
use crate::scope::ScopeSet;
use crate::server::AuthorizationServer;
use palisade_core::model::{Client, ClientType};
use palisade_core::{ErrorCode, OAuthError};

impl AuthorizationServer {
    pub(super) async fn client_credentials(
        &self,
        client: &Client,
        params: &TokenParams<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        if client.client_type != ClientType::Confidential {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "only confidential clients may use client_credentials",
            ));
        }
        let registered = ScopeSet::from_tokens(client.scopes.iter()).unwrap_or_default();
        let scope = match params.get("scope") {
            Some(raw) => ScopeSet::parse(raw)?,
            None => registered.clone(),
        };
        if !scope.is_subset_of(&registered) {
            return Err(OAuthError::invalid_scope(
                "a requested scope is not registered for this client",
            ));
        }
        // RFC 8707 §2: the token is for the resources named, each known and the client's, and
        // carries the scopes they accept; without a resource it is for this issuer, as before.
        let audience = params.resources()?;
        crate::resource::check_allowed(&audience, client, &self.policy.resources)?;
        let scope = self
            .policy
            .resources
            .scope_for(&scope, &audience)
            .to_string();
        // RFC 9449 §5: with a proof, the token is bound to its key.
        let dpop_jkt = params.dpop.as_ref().map(|proof| proof.jkt.as_str());
        let access = self.mint_access_token_with_roles(
            &client.id.0,
            &client.id.0,
            &scope,
            None,
            None,
            &audience,
            dpop_jkt,
        )?;
        self.record_issuance(Issuance {
            client,
            subject: None,
            grant_type: "client_credentials",
            scope: &scope,
            jti: &access.jti,
            grant_id: None,
            client_ip: params.client_ip,
            audience: &audience,
            dpop_jkt,
        })
        .await;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: super::token_type(dpop_jkt),
            expires_in: access.expires_in,
            refresh_token: None,
            id_token: None,
            scope,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{RelyingParty, error_code};
    use crate::test_server::TestServer;
    use palisade_core::ErrorCode;
    use palisade_core::model::GrantType;

    const SERVICE_SCOPES: [&str; 2] = ["reports:read", "reports:write"];

    #[tokio::test]
    async fn the_scope_defaults_to_the_registered_ones_and_may_only_narrow_them() {
        let server = TestServer::start().await;
        let service =
            RelyingParty::confidential(&server, &[GrantType::ClientCredentials], &SERVICE_SCOPES)
                .await;
        let grant = [("grant_type", "client_credentials")];
        let all = service.token(&server, &grant).await.unwrap();
        assert_eq!(all.scope, "reports:read reports:write");

        let cases = [
            ("reports:read", Ok("reports:read")),
            (
                "reports:write reports:read",
                Ok("reports:write reports:read"),
            ),
            ("reports:read admin", Err(ErrorCode::InvalidScope)),
            ("openid", Err(ErrorCode::InvalidScope)),
        ];
        for (requested, expected) in cases {
            let answer = service
                .token(&server, &[grant[0], ("scope", requested)])
                .await;
            match expected {
                Ok(scope) => assert_eq!(answer.unwrap().scope, scope, "{requested}"),
                Err(code) => assert_eq!(error_code(answer), code, "{requested}"),
            }
        }
    }

    #[tokio::test]
    async fn the_token_is_the_client_s_own_with_no_refresh_or_id_token() {
        let server = TestServer::start().await;
        let service =
            RelyingParty::confidential(&server, &[GrantType::ClientCredentials], &SERVICE_SCOPES)
                .await;
        let issued = service
            .token(&server, &[("grant_type", "client_credentials")])
            .await
            .unwrap();
        assert_eq!((issued.refresh_token, issued.id_token), (None, None));
        let claims = server
            .engine
            .validate_access_token(&issued.access_token)
            .await
            .unwrap();
        assert_eq!(claims.subject, service.client.id.0);
        assert_eq!(claims.client_id, service.client.id.0);
        assert!(!claims.is_user_token());
    }

    #[tokio::test]
    async fn only_a_confidential_client_registered_for_the_grant_may_use_it() {
        let server = TestServer::start().await;
        let public = RelyingParty::public(&server).await;
        let mut client = public.client.clone();
        client.grant_types.push(GrantType::ClientCredentials);
        server.engine.clients.update_client(client).await.unwrap();
        let grant = [("grant_type", "client_credentials")];
        assert_eq!(
            error_code(public.token(&server, &grant).await),
            ErrorCode::UnauthorizedClient
        );
        let unregistered =
            RelyingParty::confidential(&server, &[GrantType::AuthorizationCode], &SERVICE_SCOPES)
                .await;
        assert_eq!(
            error_code(unregistered.token(&server, &grant).await),
            ErrorCode::UnauthorizedClient
        );
    }
}
