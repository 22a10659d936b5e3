//! `/admin/v1/roles` and `/admin/v1/permissions`: the permission catalogue, roles with their
//! permissions, creating a role, granting and revoking a permission on a role.
//!
//! Permissions come from a fixed catalogue ([`Permission::ALL`]); anything else is refused, so
//! a typo cannot create a permission nobody checks. Creating a role or changing what a role
//! carries needs every permission involved: changing a role changes what all its holders may
//! do, so it is granting.

use super::error::{ApiError, ok_json};
use super::{Caller, Permission, audit, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::StoreError;
use palisade_core::model::Role;
use palisade_core::ports::RoleRepository;
use serde::Deserialize;
use serde_json::{Value, json};

async fn view(state: &AppState, role: &Role) -> Result<Value, ApiError> {
    Ok(json!({
        "name": role.name,
        "description": role.description,
        "permissions": state.sql.permissions_of_role(&role.name).await?,
    }))
}

async fn find(state: &AppState, name: &str) -> Result<Role, ApiError> {
    state
        .sql
        .list_roles()
        .await?
        .into_iter()
        .find(|r| r.name == name)
        .ok_or(ApiError::NotFound("no such role"))
}

/// `GET /admin/v1/permissions`.
pub async fn list_permissions(_caller: Caller) -> Result<HttpResponse, ApiError> {
    let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    Ok(ok_json(200, &json!({ "permissions": names })))
}

/// `GET /admin/v1/roles`.
pub async fn list(_caller: Caller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut roles = Vec::new();
    for role in state.sql.list_roles().await? {
        roles.push(view(&state, &role).await?);
    }
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
    let name = parse_role_name(&b.name)?;
    if b.description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 200)
    {
        return Err(ApiError::bad_request(
            "description must be at most 200 characters",
        ));
    }
    let mut permissions = Vec::new();
    for p in &b.permissions {
        let p = Permission::parse(p).ok_or_else(unknown_permission)?;
        if !permissions.contains(&p) {
            permissions.push(p);
        }
    }
    let target = format!("role:{name}");
    if let Err(e) =
        caller.must_hold_all(permissions.iter().map(|p| p.as_str()), "creating this role")
    {
        return Err(audit::refused(&state, &caller, &target, e).await);
    }
    let role = Role {
        name: name.clone(),
        description: b.description.filter(|d| !d.trim().is_empty()),
    };
    state
        .sql
        .insert_role(role.clone())
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::Conflict("a role with this name exists".into()),
            other => other.into(),
        })?;
    for p in &permissions {
        state.sql.grant_permission(&name, p.as_str()).await?;
    }
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    audit::success(
        &state,
        &caller,
        &target,
        Some(json!({ "permissions": names })),
    )
    .await;
    Ok(ok_json(201, &view(&state, &role).await?))
}

/// `PUT /admin/v1/roles/{role}/permissions/{permission}` (idempotent).
pub async fn grant_permission(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change_permission(caller, req, state, true).await
}

/// `DELETE /admin/v1/roles/{role}/permissions/{permission}` (idempotent).
pub async fn revoke_permission(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change_permission(caller, req, state, false).await
}

async fn change_permission(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    grant: bool,
) -> Result<HttpResponse, ApiError> {
    let role = find(&state, input::path(&req, "role")?).await?;
    let raw = input::path(&req, "permission")?;
    let permission = Permission::parse(raw).ok_or_else(unknown_permission)?;
    let target = format!("role:{}", role.name);
    let why = if grant {
        "granting this permission"
    } else {
        "revoking this permission"
    };
    if let Err(e) = caller.must_hold_all([permission.as_str()], why) {
        return Err(audit::refused(&state, &caller, &target, e).await);
    }
    if grant {
        state
            .sql
            .grant_permission(&role.name, permission.as_str())
            .await?;
    } else {
        state
            .sql
            .revoke_permission(&role.name, permission.as_str())
            .await?;
    }
    audit::success(
        &state,
        &caller,
        &target,
        Some(json!({ "permission": permission.as_str() })),
    )
    .await;
    Ok(ok_json(200, &view(&state, &role).await?))
}

/// The catalogue is short and public, so the answer lists it (and does not echo the input).
fn unknown_permission() -> ApiError {
    let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    ApiError::bad_request(format!(
        "unknown permission; the permissions are {}",
        known.join(", ")
    ))
}

/// Role names: 1-64 lowercase letters, digits, `-`, `_`, `:` (as `palisade role add`).
fn parse_role_name(raw: &str) -> Result<String, ApiError> {
    let name = raw.trim();
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | ':'));
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ApiError::bad_request(
            "a role name has 1 to 64 characters: lowercase letters, digits, - _ :",
        ))
    }
}
