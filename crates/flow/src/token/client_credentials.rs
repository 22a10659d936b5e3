//! Token endpoint, client_credentials grant: RFC 6749 §4.4, RFC 9068 §2.2.
//!
//! Only confidential clients; scopes limited to the client's registered scopes; no refresh
//! token and no ID token. The token's `sub` is the client id, which can never equal a user's
//! `sub` (users' are UUIDs, client ids are 43-character random strings).

use super::TokenParams;
use crate::issue::TokenResponse;
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
        let scope = scope.to_string();
        let access = self.mint_access_token(&client.id.0, &client.id.0, &scope, None)?;
        self.record_issuance(
            client,
            None,
            "client_credentials",
            &scope,
            &access.jti,
            None,
        )
        .await;
        Ok(TokenResponse {
            access_token: access.token,
            token_type: "Bearer".into(),
            expires_in: access.expires_in,
            refresh_token: None,
            id_token: None,
            scope,
        })
    }
}
