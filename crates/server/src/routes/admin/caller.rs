//! Who is calling the admin API and what they may do: RFC 6750 §2.1 bearer tokens issued by
//! Palisade itself, checked on every request, and permissions resolved on every request too,
//! so taking a role away takes effect on the next call (docs/threat-model.md AD-04) — there is
//! no cache.
//!
//! - A user's token (it carries `gid`) must also carry the `admin` scope (see
//!   [`super::USER_SCOPE`]); the user must exist and not be disabled; the permissions are the
//!   union of the user's roles' permissions.
//! - A client_credentials token (no `gid`, `sub` = client id) gets the permissions named by its
//!   `admin:<permission>` scopes that are in the token *and* still registered on the client.
//!   A client that registered itself (RFC 7591, it holds a registration access token) never
//!   gets any: admin scopes are granted by an operator, not asked for.

use super::error::ApiError;
use super::{AdminRoute, CLIENT_SCOPE_PREFIX, Permission, USER_SCOPE, audit, find_route};
use crate::app::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use palisade_core::OAuthError;
use palisade_core::model::{AuditOutcome, ClientId, UserId};
use palisade_core::ports::{ClientRepository, RoleRepository, UserRepository};
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;

/// An authenticated caller holding the permission of the route it called.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `user:<id>` or `client:<id>`, as audit events name it.
    pub actor: String,
    pub permissions: BTreeSet<Permission>,
    /// The socket peer's address.
    pub client_ip: Option<String>,
    pub route: &'static AdminRoute,
}

impl Caller {
    /// Refuses unless the caller holds every permission in `needed`: nobody hands out, takes
    /// away or acts on more than they hold (a user-admin cannot grant `admin`, nor reset an
    /// administrator's password).
    pub fn must_hold_all<'a>(
        &self,
        needed: impl IntoIterator<Item = &'a str>,
        why: &str,
    ) -> Result<(), ApiError> {
        let missing: Vec<&str> = needed
            .into_iter()
            .filter(|p| Permission::parse(p).is_none_or(|p| !self.permissions.contains(&p)))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "{why} needs permissions you do not hold: {}",
                missing.join(", ")
            )))
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

async fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal("no application state".into()))?;
    let pattern = req.match_pattern().unwrap_or_default();
    let route = find_route(req.method(), &pattern).ok_or_else(|| {
        ApiError::Internal(format!(
            "{} {pattern} is not in the admin route table",
            req.method()
        ))
    })?;
    let token = bearer_token(req)?;
    let access = state.engine.validate_access_token(&token).await?;
    let (actor, permissions) = if access.is_user_token() {
        if !access.scope.contains(USER_SCOPE) {
            return Err(ApiError::forbidden(
                "the access token was not issued for administration (it lacks the admin scope)",
            ));
        }
        let user_id = UserId(access.subject.clone());
        let is_active = state
            .sql
            .find_user_by_id(&user_id)
            .await?
            .is_some_and(|u| !u.is_disabled);
        if !is_active {
            return Err(
                OAuthError::invalid_token("the user no longer exists or is disabled").into(),
            );
        }
        let held = state.sql.permissions_of_user(&user_id).await?;
        (
            format!("user:{}", user_id.0),
            held.iter().filter_map(|p| Permission::parse(p)).collect(),
        )
    } else {
        let client = state
            .sql
            .find_client(&ClientId(access.subject.clone()))
            .await?
            .ok_or_else(|| OAuthError::invalid_token("the client no longer exists"))?;
        let permissions = if client.registration_access_token_hash.is_some() {
            BTreeSet::new()
        } else {
            access
                .scope
                .iter()
                .filter(|s| s.starts_with(CLIENT_SCOPE_PREFIX))
                .filter(|s| client.scopes.iter().any(|r| r == s))
                .filter_map(Permission::from_scope)
                .collect()
        };
        (format!("client:{}", client.id.0), permissions)
    };
    let caller = Caller {
        actor,
        permissions,
        client_ip: crate::client_ip::client_ip(req, &state.settings.trusted_proxies)
            .map(|ip| ip.to_string()),
        route,
    };
    if !caller.permissions.contains(&route.permission) {
        if route.verb.is_mutation() {
            let target = req.path().to_owned();
            audit::record(state, &caller, &target, AuditOutcome::Failure, None).await;
        }
        return Err(ApiError::forbidden(format!(
            "this operation needs the {} permission",
            route.permission
        )));
    }
    Ok(caller)
}

impl Caller {
    /// The audit action of the route called, e.g. `admin.user.create`.
    pub fn action(&self) -> &'static str {
        self.route.operation.action()
    }
}

/// The token from the `Authorization` header — the only place the admin API reads it from.
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    crate::forms::bearer_from_header(req)?.ok_or(ApiError::Unauthenticated(None))
}
