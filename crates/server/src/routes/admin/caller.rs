//! Who is calling the admin API: an RFC 6750 §2.1 bearer token issued by Palisade itself,
//! checked on every request, and the permissions it holds resolved on every request too, so
//! taking a role away takes effect on the next call (docs/threat-model.md AD-04) — there is
//! no cache. Which tokens count
//! and what they hold is `palisade_flow::admin::Admin::caller`'s rule; here the token is read
//! from the request and the route's permission demanded.

use super::error::ApiError;
use super::{AdminRoute, find_route};
use crate::app::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use palisade_core::model::AuditOutcome;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

/// An authenticated caller holding the permission of the route it called.
#[derive(Debug, Clone)]
pub struct Caller {
    caller: palisade_flow::admin::Caller,
    pub route: &'static AdminRoute,
}

impl Deref for Caller {
    type Target = palisade_flow::admin::Caller;
    fn deref(&self) -> &Self::Target {
        &self.caller
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
    let access = state
        .engine
        .validate_access_token_for_issuer(&token)
        .await?;
    // The admin API takes bearer tokens only: a DPoP-bound token (RFC 9449) is worth nothing
    // without its key, so presented bare it is refused as at userinfo.
    if access.dpop_jkt().is_some() {
        return Err(palisade_core::OAuthError::invalid_token(
            "a DPoP-bound access token is not accepted by the admin API",
        )
        .into());
    }
    let client_ip =
        crate::client_ip::client_ip(req, &state.settings.trusted_proxies).map(|ip| ip.to_string());
    let caller = state.admin.caller(&access, client_ip).await?;
    if !caller.holds(route.permission) {
        if route.verb.is_mutation() {
            state
                .admin
                .auditor()
                .record(
                    &caller,
                    route.operation.action(),
                    req.path(),
                    AuditOutcome::Failure,
                    None,
                )
                .await;
        }
        return Err(ApiError::forbidden(format!(
            "this operation needs the {} permission",
            route.permission
        )));
    }
    Ok(Caller { caller, route })
}

/// The token from the `Authorization` header — the only place the admin API reads it from.
fn bearer_token(req: &HttpRequest) -> Result<String, ApiError> {
    crate::forms::bearer_from_header(req)?.ok_or(ApiError::Unauthenticated(None))
}
