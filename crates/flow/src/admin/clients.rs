//! Clients, as the operator manages them: list, register, read, replace the metadata, rotate
//! the secret, remove. Metadata names follow RFC 7591 §2 and go through the same validator as
//! dynamic registration ([`ClientMetadata`]), as the operator: reserved scopes such as `roles`
//! are allowed here and nowhere else. Secrets are generated here, shown once, and stored only
//! as their SHA-256.
//!
//! Scopes `admin:<permission>` registered on a client grant that permission to its
//! client_credentials tokens, so registering them is granting: it needs the permission. So
//! does touching a client that already carries such scopes (rotating its secret would hand
//! over its powers). Only a confidential client may hold one.

use super::{Action, Admin, AdminError, AdminResult, Caller};
use crate::registration::{ClientMetadata, Registered, RegistrationPolicy, with_new_secret};
use palisade_core::access::CLIENT_SCOPE_PREFIX;
use palisade_core::model::{Client, ClientId, ClientType, Permission};
use palisade_core::{ErrorCode, OAuthError, StoreError};
use serde_json::{Value, json};

/// `client:<id>`, as audit events name a client.
pub fn target(id: &ClientId) -> String {
    format!("client:{id}")
}

/// The permissions a client's `admin:*` scopes grant.
fn granted_permissions(scopes: &[String]) -> Vec<Permission> {
    scopes
        .iter()
        .filter_map(|s| Permission::from_scope(s))
        .collect()
}

fn metadata_error(description: &'static str) -> AdminError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description).into()
}

impl Admin {
    /// Every registered client.
    pub async fn list_clients(&self) -> AdminResult<Vec<Client>> {
        Ok(self.clients.list_clients().await?)
    }

    /// The client with this id.
    pub async fn find_client(&self, id: &str) -> AdminResult<Client> {
        self.clients
            .find_client(&ClientId(id.to_owned()))
            .await?
            .ok_or(AdminError::NotFound("no such client"))
    }

    /// The client with this id, provided the caller holds every permission its scopes grant.
    async fn find_manageable_client(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> AdminResult<Client> {
        let client = self.find_client(id).await?;
        caller
            .must_hold_all_audited(
                &self.auditor,
                granted_permissions(&client.scopes),
                "managing this client",
                action,
                &target(&client.id),
            )
            .await?;
        Ok(client)
    }

    /// Validates an RFC 7591 metadata document as the operator, then the `admin:` scope rules:
    /// each must name a permission, and only a confidential client may hold one.
    pub fn client_metadata(&self, body: &Value) -> AdminResult<ClientMetadata> {
        let policy = RegistrationPolicy {
            is_operator: true,
            allowed_scopes: Vec::new(),
            signing_algorithms: self.signing_algorithms.clone(),
        };
        let m = ClientMetadata::from_request(body, &policy)?;
        for s in &m.scopes {
            let permission = Permission::from_scope(s);
            if s.starts_with(CLIENT_SCOPE_PREFIX) && permission.is_none() {
                return Err(metadata_error(
                    "an admin: scope must name a permission, e.g. admin:users:read",
                ));
            }
            if permission.is_some()
                && m.token_endpoint_auth_method.client_type() != ClientType::Confidential
            {
                return Err(metadata_error("admin: scopes need a confidential client"));
            }
        }
        Ok(m)
    }

    /// Registers a client from RFC 7591 metadata: a secret for secret-based methods (shown
    /// once), no registration access token (the operator manages it).
    pub async fn register_client(&self, caller: &Caller, body: &Value) -> AdminResult<Registered> {
        let m = self.client_metadata(body)?;
        caller
            .must_hold_all_audited(
                &self.auditor,
                granted_permissions(&m.scopes),
                "registering these admin scopes",
                Action::CreateClient,
                "client:new",
            )
            .await?;
        let registered = m.into_new_client(self.secrets.as_ref(), self.clock.now(), false);
        self.clients
            .insert_client(registered.client.clone())
            .await?;
        let client = &registered.client;
        self.auditor
            .success(
                caller,
                Action::CreateClient,
                &target(&client.id),
                Some(json!({
                    "client_name": client.name,
                    "scope": client.scopes.join(" "),
                    "require_mfa": client.require_mfa,
                    "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
                    "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
                    "resources": client.resources,
                })),
            )
            .await;
        Ok(registered)
    }

    /// Replaces a client's metadata (RFC 7592 §2.2 semantics, see
    /// [`ClientMetadata::replace_on`]).
    pub async fn update_client(
        &self,
        caller: &Caller,
        id: &str,
        body: &Value,
    ) -> AdminResult<Registered> {
        let m = self.client_metadata(body)?;
        let mut client = self
            .find_manageable_client(caller, id, Action::UpdateClient)
            .await?;
        caller
            .must_hold_all_audited(
                &self.auditor,
                granted_permissions(&m.scopes),
                "registering these admin scopes",
                Action::UpdateClient,
                &target(&client.id),
            )
            .await?;
        let client_secret = m.replace_on(&mut client, self.secrets.as_ref());
        self.clients.update_client(client.clone()).await?;
        self.auditor
            .success(
                caller,
                Action::UpdateClient,
                &target(&client.id),
                Some(json!({
                    "scope": client.scopes.join(" "),
                    "require_mfa": client.require_mfa,
                    "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
                    "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
                    "resources": client.resources,
                })),
            )
            .await;
        Ok(Registered {
            client,
            client_secret,
            registration_access_token: None,
        })
    }

    /// Issues a new secret, shown once; the old one stops working.
    pub async fn rotate_client_secret(&self, caller: &Caller, id: &str) -> AdminResult<Registered> {
        let client = self
            .find_manageable_client(caller, id, Action::RotateClientSecret)
            .await?;
        let rotated = with_new_secret(client, self.secrets.as_ref())?;
        self.clients.update_client(rotated.client.clone()).await?;
        self.auditor
            .success(
                caller,
                Action::RotateClientSecret,
                &target(&rotated.client.id),
                None,
            )
            .await;
        Ok(rotated)
    }

    /// Deletes a client with its consents and refresh tokens.
    pub async fn remove_client(&self, caller: &Caller, id: &str) -> AdminResult<()> {
        let client = self
            .find_manageable_client(caller, id, Action::DeleteClient)
            .await?;
        self.clients
            .delete_client(&client.id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AdminError::NotFound("no such client"),
                other => other.into(),
            })?;
        self.auditor
            .success(caller, Action::DeleteClient, &target(&client.id), None)
            .await;
        Ok(())
    }
}
