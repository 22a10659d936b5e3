//! `/admin/v1/clients`: list, register, read, replace metadata, rotate the secret, delete.
//! Metadata names follow RFC 7591 §2; the secret is generated here (256 bits from the OS
//! CSPRNG), shown once in the answer, and stored only as its SHA-256 (docs/design.md §3).
//!
//! Scopes `admin:<permission>` registered on a client grant that permission to its
//! client_credentials tokens, so registering them is granting: it needs the permission. So
//! does touching a client that already carries such scopes (rotating its secret would hand
//! over its powers).
//!
//! Metadata is checked by the same validator as dynamic registration and the CLI
//! (`palisade_flow::registration`, as the operator: reserved scopes such as `roles` allowed),
//! plus the rules of `admin:` scopes. Every write goes through the engine's client repository,
//! so this node's client cache forgets the old version at once.

use super::error::{ApiError, no_content, ok_json};
use super::{Caller, Permission, audit, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use palisade_core::model::{Client, ClientId, ClientType};
use palisade_core::ports::ClientRepository;
use palisade_core::{ErrorCode, OAuthError, TokenHash};
use palisade_flow::registration::{ClientMetadata, RegistrationPolicy};
use serde_json::{Value, json};

fn view(c: &Client, secret: Option<&str>) -> Value {
    let mut v = json!({
        "client_id": c.id.0,
        "client_name": c.name,
        "client_type": c.client_type.as_str(),
        "application_type": c.application_type,
        "token_endpoint_auth_method": c.token_endpoint_auth_method,
        "grant_types": c.grant_types,
        "response_types": c.response_types,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "scope": c.scopes.join(" "),
        "id_token_signed_response_alg": c.id_token_signed_response_alg,
        "access_token_ttl_secs": c.access_token_ttl_secs,
        "refresh_token_ttl_secs": c.refresh_token_ttl_secs,
        "registered_dynamically": c.registration_access_token_hash.is_some(),
        "created_at": c.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    if let Some(secret) = secret {
        v["client_secret"] = json!(secret);
    }
    v
}

fn target(id: &ClientId) -> String {
    format!("client:{}", id.0)
}

/// The permissions a client's `admin:*` scopes grant.
fn granted_permissions(scopes: &[String]) -> Vec<&'static str> {
    scopes
        .iter()
        .filter_map(|s| Permission::from_scope(s))
        .map(Permission::as_str)
        .collect()
}

async fn find(state: &AppState, req: &HttpRequest) -> Result<Client, ApiError> {
    let id = ClientId(input::path(req, "client_id")?.to_owned());
    state
        .engine
        .clients
        .find_client(&id)
        .await?
        .ok_or(ApiError::NotFound("no such client"))
}

/// The target client, provided the caller holds every permission its scopes grant.
async fn find_manageable(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
) -> Result<Client, ApiError> {
    let client = find(state, req).await?;
    if let Err(e) =
        caller.must_hold_all(granted_permissions(&client.scopes), "managing this client")
    {
        return Err(audit::refused(state, caller, &target(&client.id), e).await);
    }
    Ok(client)
}

/// `GET /admin/v1/clients`.
pub async fn list(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let clients: Vec<Value> = state
        .sql
        .list_clients()
        .await?
        .iter()
        .map(|c| view(c, None))
        .collect();
    Ok(ok_json(200, &json!({ "clients": clients })))
}

/// `GET /admin/v1/clients/{client_id}`.
pub async fn get(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    Ok(ok_json(200, &view(&find(&state, &req).await?, None)))
}

/// Validates an RFC 7591 metadata document as the operator, then the `admin:` scope rules:
/// each must name a permission, and only a confidential client may hold one.
fn metadata(state: &AppState, req: &HttpRequest, body: &[u8]) -> Result<ClientMetadata, ApiError> {
    let body: Value = input::json(req, body)?;
    let policy = RegistrationPolicy {
        is_operator: true,
        allowed_scopes: Vec::new(),
        signing_algorithms: state.settings.key_policy.enabled_algorithms.clone(),
    };
    let m = ClientMetadata::from_request(&body, &policy)?;
    for s in &m.scopes {
        if s.starts_with(super::CLIENT_SCOPE_PREFIX) && Permission::from_scope(s).is_none() {
            return Err(metadata_error(
                "an admin: scope must name a permission, e.g. admin:users:read",
            ));
        }
        if Permission::from_scope(s).is_some()
            && m.token_endpoint_auth_method.client_type() != ClientType::Confidential
        {
            return Err(metadata_error("admin: scopes need a confidential client"));
        }
    }
    Ok(m)
}

fn metadata_error(description: &'static str) -> ApiError {
    ApiError::Protocol(OAuthError::new(
        ErrorCode::InvalidClientMetadata,
        description,
    ))
}

/// `POST /admin/v1/clients`: RFC 7591 metadata in, the client with its `client_secret`
/// (secret-based methods; shown this once) out. No registration access token: the client is
/// managed here, by operators.
pub async fn create(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let m = metadata(&state, &req, &body)?;
    if let Err(e) = caller.must_hold_all(
        granted_permissions(&m.scopes),
        "registering these admin scopes",
    ) {
        return Err(audit::refused(&state, &caller, "client:new", e).await);
    }
    let registered = state.engine.register_client(m, false).await?;
    let client = &registered.client;
    audit::success(
        &state,
        &caller,
        &target(&client.id),
        Some(json!({ "client_name": client.name, "scope": client.scopes.join(" ") })),
    )
    .await;
    Ok(ok_json(
        201,
        &view(client, registered.client_secret.as_deref()),
    ))
}

/// `PUT /admin/v1/clients/{client_id}`: replaces the metadata (RFC 7592 §2.2 semantics). A
/// client that moves to a secret-based method gets a new secret (in the answer); one that
/// moves away from it loses its secret.
pub async fn update(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let m = metadata(&state, &req, &body)?;
    let mut client = find_manageable(&state, &req, &caller).await?;
    if let Err(e) = caller.must_hold_all(
        granted_permissions(&m.scopes),
        "registering these admin scopes",
    ) {
        return Err(audit::refused(&state, &caller, &target(&client.id), e).await);
    }
    let secret = (m.token_endpoint_auth_method.uses_secret() && client.secret_hash.is_none())
        .then(|| state.engine.secrets.token());
    client.name = if m.client_name.is_empty() {
        client.id.0.clone()
    } else {
        m.client_name
    };
    client.client_type = m.token_endpoint_auth_method.client_type();
    client.application_type = m.application_type;
    client.token_endpoint_auth_method = m.token_endpoint_auth_method;
    client.grant_types = m.grant_types;
    client.response_types = m.response_types;
    client.redirect_uris = m.redirect_uris;
    client.post_logout_redirect_uris = m.post_logout_redirect_uris;
    client.scopes = m.scopes;
    client.id_token_signed_response_alg = m.id_token_signed_response_alg;
    client.jwks = m.jwks;
    if let Some(s) = &secret {
        client.secret_hash = Some(TokenHash::of(s));
    }
    if !m.token_endpoint_auth_method.uses_secret() {
        client.secret_hash = None;
    }
    state.engine.clients.update_client(client.clone()).await?;
    audit::success(
        &state,
        &caller,
        &target(&client.id),
        Some(json!({ "scope": client.scopes.join(" ") })),
    )
    .await;
    Ok(ok_json(200, &view(&client, secret.as_deref())))
}

/// `POST /admin/v1/clients/{client_id}/secret`: a new secret, shown once; the old one stops
/// working at once.
pub async fn rotate_secret(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = find_manageable(&state, &req, &caller).await?;
    let rotated = state.engine.rotate_client_secret(client).await?;
    audit::success(&state, &caller, &target(&rotated.client.id), None).await;
    Ok(ok_json(
        200,
        &view(&rotated.client, rotated.client_secret.as_deref()),
    ))
}

/// `DELETE /admin/v1/clients/{client_id}`: with its consents and refresh tokens.
pub async fn delete(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let client = find_manageable(&state, &req, &caller).await?;
    state.engine.clients.delete_client(&client.id).await?;
    audit::success(&state, &caller, &target(&client.id), None).await;
    Ok(no_content())
}
