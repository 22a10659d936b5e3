//! `/admin/v1/roles` and `/admin/v1/permissions`: the permission catalogue, roles with their
//! permissions, creating a role, granting and revoking a permission on a role, requiring a
//! second factor of its holders — each a call to
//! `palisade_flow::admin` (see its `roles` module for the rules).

use super::error::{ApiError, ok_json};
use super::{Caller, Permission, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::admin::roles::RoleDetails;
use serde::Deserialize;
use serde_json::{Value, json};

fn view(details: &RoleDetails) -> Value {
    json!({
        "name": details.role.name,
        "description": details.role.description,
        "permissions": details.permissions,
        "require_mfa": details.role.require_mfa,
    })
}

/// `GET /admin/v1/permissions`.
pub async fn list_permissions(_caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(ok_json(200, &json!({ "permissions": Permission::ALL })))
}

/// `GET /admin/v1/roles`.
pub async fn list(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let roles: Vec<Value> = state.admin.list_roles().await?.iter().map(view).collect();
    Ok(ok_json(200, &json!({ "roles": roles })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRoleBody {
    name: String,
    description: Option<String>,
    #[serde(default)]
    permissions: Vec<String>,
}

/// `POST /admin/v1/roles`: `{name, description?, permissions: [...]}`.
pub async fn create(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b: NewRoleBody = input::json(&req, &body)?;
    let role = state
        .admin
        .create_role(&caller, &b.name, b.description.as_deref(), &b.permissions)
        .await?;
    Ok(ok_json(201, &view(&role)))
}

/// `PUT /admin/v1/roles/{role}/permissions/{permission}` (idempotent).
pub async fn grant_permission(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (role, permission) = (input::path(&req, "role")?, input::path(&req, "permission")?);
    let role = state
        .admin
        .grant_permission(&caller, role, permission)
        .await?;
    Ok(ok_json(200, &view(&role)))
}

/// `DELETE /admin/v1/roles/{role}/permissions/{permission}` (idempotent).
pub async fn revoke_permission(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (role, permission) = (input::path(&req, "role")?, input::path(&req, "permission")?);
    let role = state
        .admin
        .revoke_permission(&caller, role, permission)
        .await?;
    Ok(ok_json(200, &view(&role)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleMfaBody {
    required: bool,
}

/// `PUT /admin/v1/roles/{role}/mfa`: `{required}` (idempotent).
pub async fn set_mfa(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b: RoleMfaBody = input::json(&req, &body)?;
    let role = input::path(&req, "role")?;
    let role = state
        .admin
        .set_role_requires_mfa(&caller, role, b.required)
        .await?;
    Ok(ok_json(200, &view(&role)))
}
