//! Client registration: RFC 7591 §3.1 (the request), §3.2.1 (the response); RFC 7592 (client
//! configuration). One job per module:
//!
//! | module | job |
//! | --- | --- |
//! | [`metadata`] | [`ClientMetadata`]: every rule a client's metadata must meet, for every way a client comes to exist |
//! | [`dynamic`] | `POST /register`: the registration mode (open / token / disabled) and its limits |
//! | [`initial_access_token`] | the token `token` mode asks for |
//! | [`management`] | RFC 7592 read, update, delete; secret rotation |
//!
//! Identifiers and secrets are never the caller's: `client_id`, `client_secret` and the
//! registration access token are generated here (256 bits from the OS CSPRNG), the secret
//! and the token are returned once and stored as SHA-256 hashes. The response lists what was
//! registered.

pub mod dynamic;
pub mod initial_access_token;
pub mod management;
pub mod metadata;

pub use dynamic::{
    DynamicRegistration, RegistrationError, RegistrationMode, RegistrationRequest,
    RegistrationSettings,
};
pub use initial_access_token::{check_initial_access_token, spend_initial_access_token};
pub use management::with_new_secret;
pub use metadata::{
    ClientMetadata, FETCHED_MEMBERS, MAX_CLIENT_NAME_CHARS, MAX_REDIRECT_URIS, RegistrationPolicy,
    check_fetched_members, check_unsupported_members,
};

use crate::server::AuthorizationServer;
use palisade_core::OAuthError;
use palisade_core::model::Client;
use serde_json::{Map, Value, json};

/// A client just registered, updated, or given a new secret, with the secrets to show once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub client: Client,
    /// Present when a secret was issued by this call.
    pub client_secret: Option<String>,
    /// Present when a registration access token was issued by this call.
    pub registration_access_token: Option<String>,
}

impl Registered {
    /// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the registered
    /// metadata, the identifiers, and the secrets issued by this call (never stored ones:
    /// only their hashes are kept).
    pub fn to_response(&self, registration_client_uri: Option<&str>) -> Map<String, Value> {
        let client = &self.client;
        let mut body = Map::new();
        body.insert("client_id".into(), json!(client.id.0));
        body.insert(
            "client_id_issued_at".into(),
            json!(client.created_at.timestamp()),
        );
        if let Some(secret) = &self.client_secret {
            body.insert("client_secret".into(), json!(secret));
        }
        if client.secret_hash.is_some() {
            // RFC 7591 §3.2.1: 0 means the secret does not expire.
            body.insert("client_secret_expires_at".into(), json!(0));
        }
        if let Some(token) = &self.registration_access_token {
            body.insert("registration_access_token".into(), json!(token));
        }
        if let Some(uri) = registration_client_uri {
            body.insert("registration_client_uri".into(), json!(uri));
        }
        body.insert("client_name".into(), json!(client.name));
        body.insert("application_type".into(), json!(client.application_type));
        body.insert(
            "token_endpoint_auth_method".into(),
            json!(client.token_endpoint_auth_method),
        );
        body.insert("grant_types".into(), json!(client.grant_types));
        body.insert("response_types".into(), json!(client.response_types));
        body.insert("redirect_uris".into(), json!(client.redirect_uris));
        body.insert(
            "post_logout_redirect_uris".into(),
            json!(client.post_logout_redirect_uris),
        );
        if !client.scopes.is_empty() {
            body.insert("scope".into(), json!(client.scopes.join(" ")));
        }
        if let Some(alg) = &client.id_token_signed_response_alg {
            body.insert("id_token_signed_response_alg".into(), json!(alg));
        }
        if let Some(jwks) = client
            .jwks
            .as_deref()
            .and_then(|j| serde_json::from_str::<Value>(j).ok())
        {
            body.insert("jwks".into(), jwks);
        }
        body.insert("subject_type".into(), json!("public"));
        // A Palisade extension member (metadata.rs), always echoed so a registrant sees it.
        body.insert("require_mfa".into(), json!(client.require_mfa));
        body.insert(
            "dpop_bound_access_tokens".into(),
            json!(client.dpop_bound_access_tokens),
        );
        body.insert(
            "require_pushed_authorization_requests".into(),
            json!(client.require_pushed_authorization_requests),
        );
        body
    }
}

impl AuthorizationServer {
    /// Registers a client (see [`ClientMetadata::into_new_client`]) and stores it.
    pub async fn register_client(
        &self,
        metadata: ClientMetadata,
        with_registration_access_token: bool,
    ) -> Result<Registered, OAuthError> {
        let registered = metadata.into_new_client(
            self.secrets.as_ref(),
            self.clock.now(),
            with_registration_access_token,
        );
        self.clients
            .insert_client(registered.client.clone())
            .await?;
        Ok(registered)
    }
}
