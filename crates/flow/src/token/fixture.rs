//! What the grant tests share: relying parties registered on a [`TestServer`], a code as the
//! authorization endpoint issues it, and token requests as the token endpoint receives them
//! (the form, before any HTTP: status codes and headers are the server crate's to test).

use super::{TokenError, TokenResponse};
use crate::grant::{CodeGrant, Grant};
use crate::interaction::{code_key, grant_id_of, used_key};
use crate::pkce::{CodeChallenge, CodeVerifier};
use crate::scope::ScopeSet;
use crate::server::ttl;
use crate::test_server::{REDIRECT_URI, TestServer};
use palisade_core::model::{Client, ClientType, GrantType, TokenEndpointAuthMethod, User};
use palisade_core::{ErrorCode, TokenHash};

/// A registered client and, for a confidential one, its secret (sent as `client_secret_post`).
pub(super) struct RelyingParty {
    pub client: Client,
    secret: Option<String>,
}

impl RelyingParty {
    /// The test server's public client (authorization_code and refresh_token, PKCE, no secret).
    pub async fn public(server: &TestServer) -> Self {
        Self {
            client: server.client().await,
            secret: None,
        }
    }

    /// A confidential client allowed `grant_types` and `scopes`.
    pub async fn confidential(
        server: &TestServer,
        grant_types: &[GrantType],
        scopes: &[&str],
    ) -> Self {
        let secret = server.engine.secrets.token();
        let mut client = server.client().await;
        client.client_type = ClientType::Confidential;
        client.secret_hash = Some(TokenHash::of(&secret));
        client.token_endpoint_auth_method = TokenEndpointAuthMethod::ClientSecretPost;
        client.grant_types = grant_types.to_vec();
        client.scopes = scopes.iter().map(|s| (*s).to_owned()).collect();
        server
            .engine
            .clients
            .update_client(client.clone())
            .await
            .expect("update client");
        Self {
            client,
            secret: Some(secret),
        }
    }

    /// `POST /token` by this client with these parameters.
    pub async fn token(
        &self,
        server: &TestServer,
        params: &[(&str, &str)],
    ) -> Result<TokenResponse, TokenError> {
        let mut form: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        form.push(("client_id".into(), self.client.id.0.clone()));
        if let Some(secret) = &self.secret {
            form.push(("client_secret".into(), secret.clone()));
        }
        server.engine.token(None, &form, None, &[]).await
    }

    /// Redeems `code` with its verifier and the redirect URI it was sent to.
    pub async fn redeem(
        &self,
        server: &TestServer,
        code: &IssuedCode,
    ) -> Result<TokenResponse, TokenError> {
        self.token(server, &code.exchange()).await
    }

    /// Presents a refresh token, optionally asking for `scope`.
    pub async fn refresh(
        &self,
        server: &TestServer,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> Result<TokenResponse, TokenError> {
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        params.extend(scope.map(|s| ("scope", s)));
        self.token(server, &params).await
    }
}

/// A test server with its public client and a user, alice, who may sign in to it.
pub(super) async fn alice_and_a_public_client() -> (TestServer, RelyingParty, User) {
    let server = TestServer::start().await;
    let rp = RelyingParty::public(&server).await;
    let alice = server.user("alice").await;
    (server, rp, alice)
}

/// An authorization code in the store, and what its redemption needs.
pub(super) struct IssuedCode {
    pub code: String,
    pub verifier: String,
    pub grant_id: String,
}

impl IssuedCode {
    /// The token request that redeems it.
    pub fn exchange(&self) -> Vec<(&str, &str)> {
        vec![
            ("grant_type", "authorization_code"),
            ("code", &self.code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &self.verifier),
        ]
    }
}

/// Stores a code for `user` and `rp` as the authorization endpoint does once the user has
/// consented: the grant under the code's hash for the code's lifetime, and the replay marker
/// naming the grant.
pub(super) async fn issue_code(
    server: &TestServer,
    rp: &RelyingParty,
    user: &User,
    scope: &str,
) -> IssuedCode {
    let engine = &server.engine;
    let verifier = engine.secrets.token();
    let challenge = CodeChallenge::s256_of(&CodeVerifier::parse(&verifier).expect("verifier"));
    let now = engine.clock.now();
    let raw_code = engine.secrets.token();
    let code = CodeGrant {
        grant: Grant {
            id: grant_id_of(&raw_code),
            client_id: rp.client.id.0.clone(),
            user_id: user.id.0.clone(),
            scope: ScopeSet::parse(scope).expect("scope"),
            auth_time: now.timestamp(),
            amr: vec!["pwd".into()],
            resources: vec![],
            dpop_jkt: None,
        },
        redirect_uri: REDIRECT_URI.into(),
        code_challenge: challenge,
        nonce: Some("n-0S6_WzA2Mj".into()),
        dpop_jkt: None,
        issued_at: now.timestamp(),
    };
    let bytes = serde_json::to_vec(&code).expect("code grant JSON");
    engine
        .ephemeral
        .put(&code_key(&raw_code), &bytes, ttl(engine.policy.code_ttl))
        .await
        .expect("store the code");
    engine
        .ephemeral
        .put(
            &used_key(&raw_code),
            code.grant.id.as_bytes(),
            ttl(engine.policy.code_ttl * 2),
        )
        .await
        .expect("store the replay marker");
    IssuedCode {
        code: raw_code,
        verifier,
        grant_id: code.grant.id,
    }
}

/// The wire error code of a refused token request.
pub(super) fn error_code<T: std::fmt::Debug>(result: Result<T, TokenError>) -> ErrorCode {
    match result {
        Err(e) => e.error.code,
        Ok(issued) => panic!("expected an error, got {issued:?}"),
    }
}

/// Whether an access token still passes the resource-server check (signature, expiry,
/// revocation), as userinfo and introspection apply it.
pub(super) async fn is_access_token_active(server: &TestServer, access_token: &str) -> bool {
    match server.engine.validate_access_token(access_token).await {
        Ok(_) => true,
        Err(e) if e.code == ErrorCode::InvalidToken => false,
        Err(e) => panic!("validating the access token failed: {e:?}"),
    }
}
