//! `/admin/v1/roles`, `/admin/v1/permissions` and `/admin/v1/reviews`: the permission
//! catalogue, roles with their permissions, creating a role, granting and revoking a
//! permission on a role, requiring a second factor of its holders, who holds a role, and
//! access reviews of role grants — each a call to `palisade_flow::admin` (see its `roles` and
//! `reviews` modules for the rules).

use super::error::{ApiError, ok_json};
use super::{Caller, Permission, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use palisade_core::model::{HeldGrant, RoleName, UserId};
use palisade_flow::admin::reviews::{self, GrantKey, GrantPage};
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

fn time(t: Option<DateTime<Utc>>) -> Value {
    json!(t.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)))
}

fn grant_view(held: &HeldGrant) -> Value {
    let g = &held.grant;
    json!({
        "user_id": g.user_id.0,
        "username": held.username.as_str(),
        "role": g.role,
        "granted_by": g.granted_by,
        "granted_at": time(g.granted_at),
        "expires_at": time(g.expires_at),
        "confirmed_at": time(g.confirmed_at),
        "last_sign_in_at": time(held.last_sign_in_at),
    })
}

fn grants_view(page: &GrantPage) -> (Vec<Value>, Value) {
    let next = page.has_next.then(|| page.page + 1);
    (page.grants.iter().map(grant_view).collect(), json!(next))
}

fn page_param(q: &[(String, String)]) -> Result<u32, ApiError> {
    Ok(reviews::parse_page(input::param(q, "page"))?)
}

/// `GET /admin/v1/roles/{role}/holders?page=`: the role and one page of its live grants, by
/// username.
pub async fn holders(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = input::query(&req)?;
    let page = page_param(&q)?;
    let role = input::path(&req, "role")?;
    let found = state.admin.role_holders(&caller, role, page).await?;
    let (holders, next_page) = grants_view(&found.holders);
    Ok(ok_json(
        200,
        &json!({ "role": view(&found.details), "holders": holders, "next_page": next_page }),
    ))
}

/// `GET /admin/v1/reviews?stale_after_days=&page=`: one page of the stale grants.
pub async fn review(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = input::query(&req)?;
    let days = reviews::parse_stale_after_days(input::param(&q, "stale_after_days"))?;
    let page = page_param(&q)?;
    let found = state.admin.review(&caller, days, page).await?;
    let (grants, next_page) = grants_view(&found);
    Ok(ok_json(
        200,
        &json!({ "stale_after_days": days, "grants": grants, "next_page": next_page }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRef {
    user_id: String,
    role: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionsBody {
    #[serde(default)]
    confirm: Vec<GrantRef>,
    #[serde(default)]
    revoke: Vec<GrantRef>,
}

fn keys(refs: &[GrantRef]) -> Result<Vec<GrantKey>, ApiError> {
    refs.iter()
        .map(|r| {
            let role = RoleName::parse(&r.role)
                .map_err(|e| ApiError::bad_request(format!("role: {e}")))?;
            Ok(GrantKey {
                user_id: UserId(r.user_id.clone()),
                role,
            })
        })
        .collect()
}

fn refs_view(keys: &[GrantKey]) -> Vec<Value> {
    keys.iter()
        .map(|k| json!({ "user_id": k.user_id.0, "role": k.role }))
        .collect()
}

/// `POST /admin/v1/reviews/decisions`: `{confirm: [{user_id, role}], revoke: [...]}`. Both
/// lists are checked before either is applied (see `palisade_flow::admin::reviews`).
pub async fn decide(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b: DecisionsBody = input::json(&req, &body)?;
    let (confirm, revoke) = (keys(&b.confirm)?, keys(&b.revoke)?);
    let (confirmed, revoked) = state
        .admin
        .decide_grants(&caller, &confirm, &revoke)
        .await?;
    let not_held: Vec<GrantKey> = confirmed
        .not_held
        .iter()
        .chain(&revoked.not_held)
        .cloned()
        .collect();
    Ok(ok_json(
        200,
        &json!({
            "confirmed": refs_view(&confirmed.decided),
            "revoked": refs_view(&revoked.decided),
            "not_held": refs_view(&not_held),
        }),
    ))
}
