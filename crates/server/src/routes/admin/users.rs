//! `/admin/v1/users`: list and search, create, read, disable and enable, unlock, reset the
//! password, sign out everywhere, delete, list and reset second factors, assign and revoke
//! roles (docs/threat-model.md AD-02, AD-03) — each a call to
//! `palisade_flow::admin` (see its `users` module for the rules). The body of a request names only what the operation changes;
//! unknown fields (`password_hash`, `roles`, `is_disabled`...) are refused, never silently
//! applied or ignored.

use super::error::{ApiError, no_content, ok_json};
use super::{Caller, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use palisade_core::Secret;
use palisade_core::model::{User, UserId};
use palisade_flow::admin::factors::UserFactors;
use palisade_flow::admin::users::{NewAccount, UserDetails};
use serde::Deserialize;
use serde_json::{Value, json};

fn view(user: &User) -> Value {
    json!({
        "id": user.id.0,
        "username": user.username.as_str(),
        "email": user.email,
        "email_verified": user.email_verified,
        "display_name": user.display_name,
        "disabled": user.is_disabled,
        "created_at": user.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "updated_at": user.updated_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

fn detailed_view(details: &UserDetails) -> Value {
    let mut v = view(&details.user);
    v["roles"] = json!(details.roles);
    v["locked_until"] = json!(
        details
            .locked_until
            .map(|until| until.to_rfc3339_opts(SecondsFormat::Secs, true))
    );
    v
}

/// The user with roles and lockout state, as a 200 answer.
async fn detailed(state: &AppState, user: User) -> Result<HttpResponse, ApiError> {
    Ok(ok_json(
        200,
        &detailed_view(&state.admin.user_details(user).await?),
    ))
}

async fn find(state: &AppState, req: &HttpRequest) -> Result<User, ApiError> {
    let id = UserId(input::path(req, "user_id")?.to_owned());
    Ok(state.admin.find_user(&id).await?)
}

/// `GET /admin/v1/users?search=&limit=&offset=`: ordered by username; `search` matches a
/// substring of the username, email or display name; `limit` 1..=100 (50).
pub async fn list(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = input::query(&req)?;
    let search = input::param(&q, "search");
    let limit = input::number(&q, "limit", 50, 1, 100)?;
    let offset = input::number(&q, "offset", 0, 0, i64::from(i32::MAX))?;
    let users = state.admin.list_users(search, limit, offset).await?;
    let next_offset = (users.len() as i64 == limit).then_some(offset + limit);
    let users: Vec<Value> = users.iter().map(view).collect();
    Ok(ok_json(
        200,
        &json!({ "users": users, "limit": limit, "offset": offset, "next_offset": next_offset }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    username: String,
    password: Secret,
    email: Option<String>,
    display_name: Option<String>,
}

/// `POST /admin/v1/users`: `{username, password, email?, display_name?}`. The new user holds
/// no role.
pub async fn create(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b: NewUserBody = input::json(&req, &body)?;
    let user = state
        .admin
        .create_user(
            &caller,
            NewAccount {
                username: &b.username,
                password: &b.password,
                email: b.email.as_deref(),
                display_name: b.display_name.as_deref(),
            },
        )
        .await?;
    let details = state.admin.user_details(user).await?;
    Ok(ok_json(201, &detailed_view(&details)))
}

/// `GET /admin/v1/users/{user_id}`.
pub async fn get(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    detailed(&state, user).await
}

/// `POST /admin/v1/users/{user_id}/disable`: the user can no longer sign in, and every session
/// and grant they had ends (enabling them again restores none of it).
pub async fn disable(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(caller, req, state, true).await
}

/// `POST /admin/v1/users/{user_id}/enable`.
pub async fn enable(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    set_disabled(caller, req, state, false).await
}

async fn set_disabled(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    disabled: bool,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    let user = state
        .admin
        .set_user_disabled(&caller, &user, disabled)
        .await?;
    detailed(&state, user).await
}

/// `POST /admin/v1/users/{user_id}/unlock`: lifts a brute-force lockout and resets its
/// back-off.
pub async fn unlock(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    state.admin.unlock_user(&caller, &user).await?;
    detailed(&state, user).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: Secret,
}

/// `POST /admin/v1/users/{user_id}/password`: `{password}`; answers 204.
pub async fn reset_password(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b: PasswordBody = input::json(&req, &body)?;
    let user = find(&state, &req).await?;
    state
        .admin
        .reset_password(&caller, &user, &b.password)
        .await?;
    Ok(no_content())
}

/// `POST /admin/v1/users/{user_id}/signout`: ends every browser session, open interaction,
/// outstanding code, refresh token and access token of the user; answers 204.
pub async fn sign_out(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    state.admin.sign_out_everywhere(&caller, &user).await?;
    Ok(no_content())
}

/// `DELETE /admin/v1/users/{user_id}`: the user, their roles, consents and grants; answers 204.
pub async fn delete(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    state.admin.delete_user(&caller, &user).await?;
    Ok(no_content())
}

/// What an operator may see of a user's factors: never the sealed secret or the public key,
/// nor a passkey's credential id.
fn factors_view(listed: &UserFactors) -> Value {
    let factors: Vec<Value> = listed
        .factors
        .iter()
        .map(|f| {
            json!({
                "id": f.id.0,
                "kind": f.kind,
                "name": f.name,
                "created_at": f.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                "last_used_at": f
                    .last_used_at
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
            })
        })
        .collect();
    json!({ "factors": factors, "recovery_codes_left": listed.recovery_codes_left })
}

/// `GET /admin/v1/users/{user_id}/factors`: oldest first, with the unused recovery codes.
pub async fn list_factors(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    Ok(ok_json(
        200,
        &factors_view(&state.admin.user_factors(&user).await?),
    ))
}

/// `DELETE /admin/v1/users/{user_id}/factors`: every factor and recovery code of the user, and
/// every session and grant they have; answers 204 (also when there was nothing to delete).
pub async fn reset_factors(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    state.admin.reset_factors(&caller, &user).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleGrantBody {
    expires_at: Option<String>,
}

/// `PUT /admin/v1/users/{user_id}/roles/{role}`, with no body or `{expires_at?}` (RFC 3339,
/// or `YYYY-MM-DD`: through that day, UTC). Granting again replaces the grant's record and
/// expiry.
pub async fn assign_role(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let expires_at = if body.is_empty() {
        None
    } else {
        let b: RoleGrantBody = input::json(&req, &body)?;
        b.expires_at
            .as_deref()
            .map(palisade_flow::admin::reviews::parse_expiry)
            .transpose()?
    };
    let user = find(&state, &req).await?;
    let role = input::path(&req, "role")?;
    state
        .admin
        .grant_role(&caller, &user, role, expires_at)
        .await?;
    detailed(&state, user).await
}

/// `DELETE /admin/v1/users/{user_id}/roles/{role}` (idempotent).
pub async fn revoke_role(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    let role = input::path(&req, "role")?;
    state.admin.revoke_role(&caller, &user, role).await?;
    detailed(&state, user).await
}
