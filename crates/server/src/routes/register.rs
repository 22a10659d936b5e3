//! `POST /register`: dynamic client registration (RFC 7591 §3); `GET`, `PUT`, `DELETE
//! /register/{client_id}`: client configuration (RFC 7592 §2) with the registration access
//! token as a bearer token.
//!
//! Who may register (`registration.mode`: open, token, disabled) and the metadata rules are
//! `palisade_flow::registration`'s; this module reads the request, calls it, and answers: a
//! rate-limited open registration is 429 + `Retry-After`, a refused bearer token 401 with a
//! challenge, disabled registration 403. Answers are JSON with `Cache-Control: no-store`
//! (they carry secrets). A management request with a missing or wrong token, for any client
//! id, known or not, is the same 401 `invalid_token`.

use crate::app::AppState;
use crate::client_ip::client_ip;
use crate::json_body::JsonBodyError;
use crate::respond::{bearer_error, json_error, no_store};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::model::{AuditEvent, AuditOutcome};
use palisade_core::{ErrorCode, OAuthError};
use palisade_flow::registration::{
    Registered, RegistrationError, RegistrationPolicy, RegistrationRequest,
};
use serde_json::{Value, json};

/// What a self-registering client may ask for.
pub fn policy(state: &AppState) -> RegistrationPolicy {
    state
        .settings
        .registration
        .client_policy(&state.settings.key_policy.enabled_algorithms)
}

/// `POST /register`.
pub async fn create(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    let client_ip = client_ip(&req, &state.settings.trusted_proxies);
    let initial_access_token = bearer(&req);
    let request = RegistrationRequest {
        body: parse_body(&req, &body, &state),
        initial_access_token: initial_access_token.as_deref(),
        client_ip,
    };
    let registered = match state
        .engine
        .register_dynamically(
            &state.settings.registration,
            &policy(&state),
            &state.sql,
            request,
        )
        .await
    {
        Ok(registered) => registered,
        Err(RegistrationError::RateLimited { retry_after, error }) => {
            let mut res = json_error(&error);
            *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            res.headers_mut().insert(
                header::RETRY_AFTER,
                header::HeaderValue::from(retry_after.as_secs()),
            );
            return res;
        }
        Err(RegistrationError::Refused(e)) => return management_error(&e),
    };
    let ip = client_ip.map(|ip| ip.to_string());
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
    // A repeated member is metadata whose value we cannot know (RFC 7591 §3.2.2
    // `invalid_client_metadata`; the RFC defines no `invalid_request` for registration).
    crate::json_body::parse(body).map_err(|e| match e {
        JsonBodyError::DuplicateMember(_) => {
            OAuthError::new(ErrorCode::InvalidClientMetadata, e.description())
        }
        JsonBodyError::Malformed(e) => OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the registration request must be a JSON object",
        )
        .with_source(e),
    })
}

/// A refused bearer token (initial access or registration access) is a challenge, anything
/// else JSON.
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
