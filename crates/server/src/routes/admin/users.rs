//! `/admin/v1/users`: list and search, create, read, disable and enable, unlock, reset the
//! password, assign and revoke roles (docs/threat-model.md AD-02, AD-03).
//!
//! Acting on an existing user needs every permission that user holds: a user-admin cannot
//! reset an administrator's password (and then sign in as them), disable them, or take their
//! roles away. Granting or revoking a role also needs every permission of the role. The body
//! of a request names only what the operation changes; unknown fields (`password_hash`,
//! `roles`, `is_disabled`...) are refused, never silently applied or ignored.

use super::error::{ApiError, no_content, ok_json};
use super::{Caller, audit, input};
use crate::app::AppState;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::SecondsFormat;
use palisade_core::Secret;
use palisade_core::model::{NewUser, User, UserId, Username};
use palisade_core::ports::{LockoutRepository, RoleRepository, UserRepository};
use palisade_flow::password::PasswordError;
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

/// The user with roles and lockout state.
async fn detailed(state: &AppState, user: &User) -> Result<Value, ApiError> {
    let mut v = view(user);
    v["roles"] = json!(state.sql.roles_of_user(&user.id).await?);
    let lockout = state.sql.find_account_lockout(&user.id).await?;
    let now = state.clock.now();
    v["locked_until"] = json!(
        lockout
            .and_then(|l| l.locked_until)
            .filter(|until| *until > now)
            .map(|until| until.to_rfc3339_opts(SecondsFormat::Secs, true))
    );
    Ok(v)
}

async fn find(state: &AppState, req: &HttpRequest) -> Result<User, ApiError> {
    let id = UserId(input::path(req, "user_id")?.to_owned());
    state
        .sql
        .find_user_by_id(&id)
        .await?
        .ok_or(ApiError::NotFound("no such user"))
}

/// The target user, provided the caller holds every permission the user holds.
async fn find_manageable(
    state: &AppState,
    req: &HttpRequest,
    caller: &Caller,
) -> Result<User, ApiError> {
    let user = find(state, req).await?;
    let held = state.sql.permissions_of_user(&user.id).await?;
    if let Err(e) = caller.must_hold_all(held.iter().map(String::as_str), "managing this user") {
        return Err(audit::refused(state, caller, &target(&user.id), e).await);
    }
    Ok(user)
}

fn target(id: &UserId) -> String {
    format!("user:{}", id.0)
}

/// `GET /admin/v1/users?search=&limit=&offset=`: ordered by username; `search` matches a
/// substring of the username or email; `limit` 1..=100 (50).
pub async fn list(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let q = input::query(&req)?;
    let search = input::param(&q, "search");
    if search.is_some_and(|s| s.len() > 256) {
        return Err(ApiError::bad_request(
            "search must be at most 256 characters",
        ));
    }
    let limit = input::number(&q, "limit", 50, 1, 100)?;
    let offset = input::number(&q, "offset", 0, 0, i64::from(i32::MAX))?;
    let users = state.sql.list_users(search, limit, offset).await?;
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

/// `POST /admin/v1/users`: `{username, password, email?, display_name?}`; the password must
/// meet the password policy. The new user holds no role.
pub async fn create(
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let b: NewUserBody = input::json(&req, &body)?;
    let username = Username::parse(&b.username)
        .map_err(|e| ApiError::bad_request(format!("username: {e}")))?;
    let email = optional_text(b.email, "email", 320)?;
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(ApiError::bad_request("email must be an email address"));
    }
    let display_name = optional_text(b.display_name, "display_name", 200)?;
    let hash = state
        .passwords
        .hash(&b.password)
        .await
        .map_err(password_error)?;
    let user = state
        .sql
        .insert_user(NewUser {
            id: UserId(uuid::Uuid::new_v4().to_string()),
            username,
            email,
            display_name,
            password_hash: hash,
            created_at: state.clock.now(),
        })
        .await
        .map_err(|e| match e {
            palisade_core::StoreError::Conflict(_) => {
                ApiError::Conflict("a user with this username exists".into())
            }
            other => other.into(),
        })?;
    audit::success(
        &state,
        &caller,
        &target(&user.id),
        Some(json!({ "username": user.username.as_str() })),
    )
    .await;
    Ok(ok_json(201, &detailed(&state, &user).await?))
}

fn optional_text(v: Option<String>, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    match v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max => Err(ApiError::bad_request(format!(
            "{name} must be at most {max} characters"
        ))),
        other => Ok(other),
    }
}

fn password_error(e: PasswordError) -> ApiError {
    match e {
        PasswordError::TooShort | PasswordError::TooLong | PasswordError::Common => {
            ApiError::bad_request(format!("password: {e}"))
        }
        PasswordError::Saturated => ApiError::Unavailable(palisade_core::StoreError::Unavailable(
            "password hashing is saturated".into(),
        )),
        PasswordError::InvalidSettings(cause)
        | PasswordError::OutOfPolicy(cause)
        | PasswordError::Internal(cause) => ApiError::Internal(cause),
    }
}

/// `GET /admin/v1/users/{user_id}`.
pub async fn get(
    _caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find(&state, &req).await?;
    Ok(ok_json(200, &detailed(&state, &user).await?))
}

/// `POST /admin/v1/users/{user_id}/disable`: the user can no longer sign in, refresh, or use
/// an access token at userinfo or here.
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
    let user = find_manageable(&state, &req, &caller).await?;
    state
        .sql
        .set_user_disabled(&user.id, disabled, state.clock.now())
        .await?;
    audit::success(&state, &caller, &target(&user.id), None).await;
    let user = find(&state, &req).await?;
    Ok(ok_json(200, &detailed(&state, &user).await?))
}

/// `POST /admin/v1/users/{user_id}/unlock`: lifts a brute-force lockout and resets its
/// back-off.
pub async fn unlock(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = find_manageable(&state, &req, &caller).await?;
    // The engine clears the durable lock and the failure streak, as `palisade user unlock`.
    let was_locked = state
        .engine
        .unlock_account(&user.id, &caller.actor)
        .await?
        .ok_or(ApiError::NotFound("no such user"))?;
    audit::success(
        &state,
        &caller,
        &target(&user.id),
        Some(json!({ "was_locked": was_locked })),
    )
    .await;
    Ok(ok_json(200, &detailed(&state, &user).await?))
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
    let user = find_manageable(&state, &req, &caller).await?;
    let hash = state
        .passwords
        .hash(&b.password)
        .await
        .map_err(password_error)?;
    state
        .sql
        .update_password_hash(&user.id, &hash, state.clock.now())
        .await?;
    audit::success(&state, &caller, &target(&user.id), None).await;
    Ok(no_content())
}

/// `PUT /admin/v1/users/{user_id}/roles/{role}` (idempotent).
pub async fn assign_role(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change_role(caller, req, state, true).await
}

/// `DELETE /admin/v1/users/{user_id}/roles/{role}` (idempotent).
pub async fn revoke_role(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    change_role(caller, req, state, false).await
}

async fn change_role(
    caller: Caller,
    req: HttpRequest,
    state: web::Data<AppState>,
    grant: bool,
) -> Result<HttpResponse, ApiError> {
    let role = input::path(&req, "role")?.to_owned();
    let user = find_manageable(&state, &req, &caller).await?;
    if !state.sql.list_roles().await?.iter().any(|r| r.name == role) {
        return Err(ApiError::NotFound("no such role"));
    }
    let carried = state.sql.permissions_of_role(&role).await?;
    let why = if grant {
        "granting this role"
    } else {
        "revoking this role"
    };
    if let Err(e) = caller.must_hold_all(carried.iter().map(String::as_str), why) {
        return Err(audit::refused(&state, &caller, &target(&user.id), e).await);
    }
    if grant {
        state.sql.grant_role(&role, &user.id).await?;
    } else {
        state.sql.revoke_role(&role, &user.id).await?;
    }
    audit::success(
        &state,
        &caller,
        &target(&user.id),
        Some(json!({ "role": role })),
    )
    .await;
    Ok(ok_json(200, &detailed(&state, &user).await?))
}
