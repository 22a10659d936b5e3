//! `POST /register`: dynamic client registration (RFC 7591 §3); `GET`, `PUT`, `DELETE
//! /register/{client_id}`: client configuration (RFC 7592 §2) with the registration access
//! token as a bearer token.
//!
//! Who may register is `registration.mode` (docs/configuration.md):
//!
//! - `open`: anyone, at most `registration.max_per_minute` requests per client IP (counted in
//!   the shared ephemeral store, so the limit holds across nodes); over it, 429 + `Retry-After`;
//! - `token`: the request carries an initial access token (`Authorization: Bearer`, RFC 7591
//!   §3), minted by `palisade registration token`; wrong, expired or used up: 401
//!   `invalid_token`;
//! - `disabled`: 403, and discovery lists no `registration_endpoint`.
//!
//! The metadata rules are `palisade_flow::registration`'s, shared with the CLI. Answers are
//! JSON with `Cache-Control: no-store` (they carry secrets). A management request with a
//! missing or wrong token, for any client id, known or not, is the same 401 `invalid_token`.

use crate::app::AppState;
use crate::client_ip::client_ip;
use crate::config::RegistrationMode;
use crate::respond::{bearer_error, json_error, no_store};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::model::{AuditEvent, AuditOutcome};
use palisade_core::{ErrorCode, OAuthError};
use palisade_flow::registration::{ClientMetadata, Registered, RegistrationPolicy};
use serde_json::{Value, json};
use std::time::Duration;

/// The window of the open-mode rate limit.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// What a self-registering client may ask for.
pub fn policy(state: &AppState) -> RegistrationPolicy {
    RegistrationPolicy {
        is_operator: false,
        allowed_scopes: state.settings.registration.allowed_scopes.clone(),
        signing_algorithms: state.settings.key_policy.enabled_algorithms.clone(),
    }
}

/// `POST /register`.
pub async fn create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let ip = client_ip(&req, &state.settings.trusted_proxies).map(|ip| ip.to_string());
    let initial_token = match state.settings.registration.mode {
        RegistrationMode::Disabled => {
            return json_error(&OAuthError::access_denied(
                "dynamic client registration is disabled on this server",
            ));
        }
        RegistrationMode::Open => {
            if let Some(refusal) = rate_limit(&state, ip.as_deref()).await {
                return refusal;
            }
            None
        }
        RegistrationMode::Token => {
            let now = state.clock.now();
            match state
                .admin
                .check_initial_access_token(bearer(&req).as_deref(), now)
                .await
            {
                Ok(hash) => Some(hash),
                Err(e) => return bearer_error(&e),
            }
        }
    };
    let metadata = match parse_body(&req, &body, &state)
        .and_then(|value| ClientMetadata::from_request(&value, &policy(&state)))
    {
        Ok(metadata) => metadata,
        Err(e) => return json_error(&e),
    };
    // Spent only now, so a request with invalid metadata does not use up the token.
    if let Some(hash) = &initial_token
        && let Err(e) = state
            .admin
            .spend_initial_access_token(hash, state.clock.now())
            .await
    {
        return match e.code {
            ErrorCode::InvalidToken => bearer_error(&e),
            _ => json_error(&e),
        };
    }
    let registered = match state.engine.register_client(metadata, true).await {
        Ok(registered) => registered,
        Err(e) => return json_error(&e),
    };
    let mode = state.settings.registration.mode.as_str();
    audit(
        &state,
        &registered,
        "client.register",
        ip,
        Some(json!({"mode": mode})),
    )
    .await;
    respond(&state, StatusCode::CREATED, &registered)
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub async fn read(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state
        .engine
        .find_managed_client(
            &path,
            bearer(&req).as_deref(),
            client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(client) => match state.engine.read_managed_client(client).await {
            Ok(read) => respond(&state, StatusCode::OK, &read),
            Err(e) => management_error(&e),
        },
        Err(e) => management_error(&e),
    }
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): replaces the client's metadata.
pub async fn update(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let client = match state
        .engine
        .find_managed_client(
            &path,
            bearer(&req).as_deref(),
            client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(client) => client,
        Err(e) => return management_error(&e),
    };
    let value = match parse_body(&req, &body, &state) {
        Ok(value) => value,
        Err(e) => return json_error(&e),
    };
    match state
        .engine
        .update_managed_client(client, &value, &policy(&state))
        .await
    {
        Ok(updated) => {
            let ip = client_ip(&req, &state.settings.trusted_proxies).map(|ip| ip.to_string());
            audit(&state, &updated, "client.update", ip, None).await;
            respond(&state, StatusCode::OK, &updated)
        }
        Err(e) => management_error(&e),
    }
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): 204, and the client is gone with its
/// consents and refresh tokens.
pub async fn delete(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let client = match state
        .engine
        .find_managed_client(
            &path,
            bearer(&req).as_deref(),
            client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(client) => client,
        Err(e) => return management_error(&e),
    };
    match state.engine.delete_managed_client(&client).await {
        Ok(()) => {
            let ip = client_ip(&req, &state.settings.trusted_proxies).map(|ip| ip.to_string());
            let gone = Registered {
                client,
                client_secret: None,
                registration_access_token: None,
            };
            audit(&state, &gone, "client.delete", ip, None).await;
            let mut res = HttpResponse::NoContent();
            no_store(&mut res);
            res.finish()
        }
        Err(e) => management_error(&e),
    }
}

/// RFC 6750 §2.1: `Authorization: Bearer <token>`; a malformed header counts as none (the
/// answer is the same 401 `invalid_token` either way).
fn bearer(req: &HttpRequest) -> Option<String> {
    crate::forms::bearer_from_header(req).ok().flatten()
}

/// The request body as one JSON value: `application/json`, at most `max_json_bytes`.
fn parse_body(req: &HttpRequest, body: &[u8], state: &AppState) -> Result<Value, OAuthError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the registration request must be application/json",
        ));
    }
    if body.len() > state.settings.max_json_bytes {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the registration request is too large",
        ));
    }
    // serde_json refuses nesting deeper than 128 levels, so a deep document costs nothing.
    serde_json::from_slice(body).map_err(|e| {
        OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the registration request must be a JSON object",
        )
        .with_source(e)
    })
}

/// Open mode: counts this request against its IP's window; `Some` refusal when over.
async fn rate_limit(state: &AppState, ip: Option<&str>) -> Option<HttpResponse> {
    let key = format!("register-ip:{}", ip.unwrap_or("unknown"));
    match state.ephemeral.increment(&key, RATE_WINDOW).await {
        Ok(count) if count <= state.settings.registration.max_per_minute => None,
        Ok(_) => {
            tracing::warn!(ip, "registration rate limit reached");
            let error = OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many registrations from this address; try again later",
            );
            let mut res = json_error(&error);
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(RATE_WINDOW.as_secs()),
            );
            Some(res)
        }
        // Fail closed: without the counter there is no limit to apply.
        Err(e) => Some(json_error(&e.into())),
    }
}

/// RFC 7592 errors: a refused token is a bearer challenge, anything else JSON.
fn management_error(error: &OAuthError) -> HttpResponse {
    match error.code {
        ErrorCode::InvalidToken => bearer_error(error),
        _ => json_error(error),
    }
}

fn respond(state: &AppState, status: StatusCode, registered: &Registered) -> HttpResponse {
    let uri = state.endpoint(&format!("/register/{}", registered.client.id));
    let mut res = HttpResponse::build(status);
    no_store(&mut res);
    res.json(registered.to_response(Some(&uri)))
}

async fn audit(
    state: &AppState,
    registered: &Registered,
    action: &str,
    ip: Option<String>,
    details: Option<Value>,
) {
    let target = format!("client:{}", registered.client.id);
    // A self-managing client acts as itself; a new registration has no identity yet.
    let actor = if action == "client.register" {
        "anonymous".to_owned()
    } else {
        target.clone()
    };
    // The guard's writer: the same log line and row shape as every other audit event.
    let event = AuditEvent {
        occurred_at: state.clock.now(),
        actor,
        action: action.to_owned(),
        target: Some(target),
        outcome: AuditOutcome::Success,
        client_ip: ip,
        details: details.map(|d| d.to_string()),
    };
    state.engine.guard.record(event).await;
}
