//! Client configuration: RFC 7592 §2 (read, update, delete with the registration access
//! token, §3), and the operator's secret rotation.

use super::{ClientMetadata, Registered, RegistrationPolicy};
use crate::server::AuthorizationServer;
use palisade_core::model::{Client, ClientId};
use palisade_core::secret::SecretGenerator;
use palisade_core::{OAuthError, StoreError, TokenHash};
use serde_json::Value;

/// A new secret for a client that authenticates with one (operator action). Nothing is
/// stored yet; once the client is saved, the old secret no longer matches.
pub fn with_new_secret(
    mut client: Client,
    secrets: &dyn SecretGenerator,
) -> Result<Registered, OAuthError> {
    if !client.token_endpoint_auth_method.uses_secret() {
        return Err(OAuthError::invalid_request(
            "this client does not authenticate with a secret",
        ));
    }
    let secret = secrets.token();
    client.secret_hash = Some(TokenHash::of(&secret));
    Ok(Registered {
        client,
        client_secret: Some(secret),
        registration_access_token: None,
    })
}

impl AuthorizationServer {
    /// RFC 7592 §2: the client a registration access token manages. An unknown client, a
    /// client registered without a token, and a wrong token are the same 401 `invalid_token`,
    /// so the endpoint is no oracle for which client ids exist.
    pub async fn find_managed_client(
        &self,
        client_id: &str,
        registration_access_token: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<Client, OAuthError> {
        let check = self.check_registration_access_token(client_id, registration_access_token);
        self.guard
            .attempt(
                crate::guard::CredentialKind::RegistrationToken,
                client_ip,
                check,
            )
            .await
            .map_err(crate::client_auth::guard_error)
    }

    async fn check_registration_access_token(
        &self,
        client_id: &str,
        registration_access_token: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let refused = || OAuthError::invalid_token("the registration access token is invalid");
        let presented = TokenHash::of(registration_access_token.unwrap_or_default());
        let client = self
            .clients
            .find_client(&ClientId(client_id.to_owned()))
            .await?;
        match client {
            Some(client)
                if registration_access_token.is_some()
                    && client
                        .registration_access_token_hash
                        .as_ref()
                        .is_some_and(|stored| stored.is_same_as(&presented)) =>
            {
                Ok(client)
            }
            _ => Err(refused()),
        }
    }

    /// RFC 7592 §2.1: the client information response for a managed client. It must carry a
    /// registration access token (§3), and only the token's hash is stored, so each read
    /// issues a new token and the presented one stops working (§2.1 lets the server do so;
    /// the client must use the newest). Keycloak rotates the same way.
    pub async fn read_managed_client(&self, client: Client) -> Result<Registered, OAuthError> {
        self.save_managed_client(client, None).await
    }

    /// Saves a managed client with a new registration access token, and the answer that
    /// carries it (and `client_secret`, if one was just issued).
    async fn save_managed_client(
        &self,
        mut client: Client,
        client_secret: Option<String>,
    ) -> Result<Registered, OAuthError> {
        let token = self.secrets.token();
        client.registration_access_token_hash = Some(TokenHash::of(&token));
        self.clients
            .update_client(client.clone())
            .await
            .map_err(not_found_is_invalid_token)?;
        Ok(Registered {
            client,
            client_secret,
            registration_access_token: Some(token),
        })
    }

    /// RFC 7592 §2.2: replaces every metadata field of a managed client. The body must name
    /// the client (`client_id`) and may repeat its secret, which must then match; a new secret
    /// is issued only when the client moves to a secret-based method from one without. The
    /// answer carries a new registration access token; the presented one stops working.
    pub async fn update_managed_client(
        &self,
        mut client: Client,
        body: &Value,
        policy: &RegistrationPolicy,
    ) -> Result<Registered, OAuthError> {
        let named = body.get("client_id").and_then(Value::as_str);
        if named != Some(client.id.0.as_str()) {
            return Err(OAuthError::invalid_request(
                "the update must carry the client's own client_id",
            ));
        }
        if let Some(secret) = body.get("client_secret").filter(|v| !v.is_null()) {
            let matches = secret
                .as_str()
                .zip(client.secret_hash.as_ref())
                .is_some_and(|(secret, stored)| stored.matches(secret));
            if !matches {
                return Err(OAuthError::invalid_request(
                    "client_secret does not match the client's current secret",
                ));
            }
        }
        let metadata = ClientMetadata::from_request(body, policy)?;
        let client_secret = metadata.replace_on(&mut client, self.secrets.as_ref());
        // A new registration access token with every answer, as for a read.
        self.save_managed_client(client, client_secret).await
    }

    /// RFC 7592 §2.3: deletes a managed client with its consents and refresh tokens.
    pub async fn delete_managed_client(&self, client: &Client) -> Result<(), OAuthError> {
        self.clients
            .delete_client(&client.id)
            .await
            .map_err(not_found_is_invalid_token)
    }

    /// Issues a new secret for a client that authenticates with one (operator action); the
    /// old secret stops working at once on this node, and on the others when the database
    /// announces the change (at most the client cache's lifetime).
    pub async fn rotate_client_secret(&self, client: Client) -> Result<Registered, OAuthError> {
        let rotated = with_new_secret(client, self.secrets.as_ref())?;
        self.clients.update_client(rotated.client.clone()).await?;
        Ok(rotated)
    }
}

/// A client deleted between the token check and the change is as gone as an unknown one.
fn not_found_is_invalid_token(e: StoreError) -> OAuthError {
    match e {
        StoreError::NotFound => {
            OAuthError::invalid_token("the registration access token is invalid")
        }
        other => other.into(),
    }
}
