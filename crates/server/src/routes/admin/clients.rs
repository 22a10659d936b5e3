//! `/admin/v1/clients`: list, register, read, replace metadata, rotate the secret, delete —
//! each a call to `palisade_flow::admin` (see its `clients` module for the rules: RFC 7591
//! metadata validated as the operator, `admin:` scopes as grants). Writes go through the
//! engine's client repository, so this node's client cache forgets the old version at once.

use super::error::{ApiError, no_content, ok_json};
use super::{Caller, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use palisade_core::model::Client;
use palisade_flow::registration::Registered;
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
        "require_mfa": c.require_mfa,
        "require_pushed_authorization_requests": c.require_pushed_authorization_requests,
        "resources": c.resources,
        "registered_dynamically": c.registration_access_token_hash.is_some(),
        "created_at": c.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    if let Some(secret) = secret {
        v["client_secret"] = json!(secret);
    }
    v
}

fn registered_view(r: &Registered) -> Value {
    view(&r.client, r.client_secret.as_deref())
}

/// `GET /admin/v1/clients`.
pub async fn list(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let clients: Vec<Value> = state
        .admin
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
    let client = state
        .admin
        .find_client(input::path(&req, "client_id")?)
        .await?;
    Ok(ok_json(200, &view(&client, None)))
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
    let metadata: Value = input::json(&req, &body)?;
    let registered = state.admin.register_client(&caller, &metadata).await?;
    Ok(ok_json(201, &registered_view(&registered)))
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
    let metadata: Value = input::json(&req, &body)?;
    let id = input::path(&req, "client_id")?;
    let updated = state.admin.update_client(&caller, id, &metadata).await?;
    Ok(ok_json(200, &registered_view(&updated)))
}

/// `POST /admin/v1/clients/{client_id}/secret`: a new secret, shown once; the old one stops
/// working at once.
pub async fn rotate_secret(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = input::path(&req, "client_id")?;
    let rotated = state.admin.rotate_client_secret(&caller, id).await?;
    Ok(ok_json(200, &registered_view(&rotated)))
}

/// `DELETE /admin/v1/clients/{client_id}`: with its consents and refresh tokens.
pub async fn delete(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id = input::path(&req, "client_id")?;
    state.admin.remove_client(&caller, id).await?;
    Ok(no_content())
}
