//! The admin API's answers: JSON, `Cache-Control: no-store`, and an `error` member on failure.
//!
//! Authentication failures use RFC 6750 §3 (`401` + `WWW-Authenticate: Bearer`); a missing
//! permission is `403 insufficient_scope` (§3.1); protocol-style refusals from the engine
//! (`invalid_client_metadata`, `invalid_redirect_uri`, ...) keep their RFC codes; the rest are
//! `400 invalid_request`, `404 not_found`, `405 method_not_allowed` (with `Allow`), `409 conflict`,
//! `415`, `503 temporarily_unavailable`.
//! Storage causes are logged, never sent.

use crate::respond::{bearer_error, json_error};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use palisade_core::{ErrorCode, OAuthError, StoreError};
use palisade_flow::admin::AdminError;
use serde::Serialize;
use serde_json::json;
use std::borrow::Cow;
use std::fmt;

/// Why an admin request failed.
pub enum ApiError {
    /// No token, or a token that is not (or no longer) good: 401.
    Unauthenticated(Option<OAuthError>),
    /// The caller lacks a permission: 403 `insufficient_scope`.
    Forbidden(Cow<'static, str>),
    /// The request is malformed: 400 `invalid_request`.
    BadRequest(Cow<'static, str>),
    /// A refusal with its own RFC error code (e.g. `invalid_client_metadata`).
    Protocol(OAuthError),
    /// The body is not JSON: 415.
    UnsupportedMediaType,
    NotFound(&'static str),
    /// The path exists but does not serve this method: 405 with `Allow` (these methods).
    MethodNotAllowed(String),
    Conflict(Cow<'static, str>),
    /// Storage is unreachable: 503, try again.
    Unavailable(StoreError),
    /// A bug or corrupt data: 500, details only in the log.
    Internal(String),
}

impl ApiError {
    pub fn bad_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::BadRequest(description.into())
    }

    pub fn forbidden(description: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden(description.into())
    }

    /// The answer, with `no-store` on every branch.
    pub fn into_response(self) -> HttpResponse {
        self.response()
    }

    fn response(&self) -> HttpResponse {
        match self {
            Self::Unauthenticated(None) => {
                // RFC 6750 §3.1: a request without credentials gets a challenge without a code.
                let mut res = HttpResponse::Unauthorized();
                no_store(&mut res);
                res.insert_header((header::WWW_AUTHENTICATE, r#"Bearer realm="palisade-admin""#))
                    .json(json!({ "error": "invalid_token", "error_description": "a bearer access token is required" }))
            }
            Self::Unauthenticated(Some(error)) => bearer_error(error),
            Self::Forbidden(description) => bearer_error(&OAuthError::new(
                ErrorCode::InsufficientScope,
                description.clone(),
            )),
            Self::Protocol(error) if error.code == ErrorCode::InvalidToken => bearer_error(error),
            Self::Protocol(error) => json_error(error),
            Self::BadRequest(description) => {
                body(StatusCode::BAD_REQUEST, "invalid_request", description)
            }
            Self::UnsupportedMediaType => body(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "invalid_request",
                "the request body must be application/json",
            ),
            Self::NotFound(what) => body(StatusCode::NOT_FOUND, "not_found", what),
            Self::MethodNotAllowed(allow) => crate::routes::method_not_allowed::with_allow(
                body(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "this resource does not answer that method",
                ),
                allow,
            ),
            Self::Conflict(description) => body(StatusCode::CONFLICT, "conflict", description),
            Self::Unavailable(cause) => {
                json_error(&OAuthError::temporarily_unavailable(cause.to_string()))
            }
            Self::Internal(cause) => json_error(&OAuthError::server_error(cause.clone())),
        }
    }
}

fn body(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    tracing::info!(
        status = status.as_u16(),
        error,
        description,
        "admin request refused"
    );
    let mut res = HttpResponse::build(status);
    no_store(&mut res);
    res.json(json!({ "error": error, "error_description": description }))
}

fn no_store(res: &mut HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
}

/// A successful JSON answer with `no-store`.
pub fn ok_json(status: u16, value: &impl Serialize) -> HttpResponse {
    let mut res = HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK));
    no_store(&mut res);
    res.json(value)
}

/// `204 No Content` with `no-store`.
pub fn no_content() -> HttpResponse {
    let mut res = HttpResponse::NoContent();
    no_store(&mut res);
    res.finish()
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(_) => Self::Unavailable(e),
            StoreError::Conflict(what) => {
                Self::Conflict(format!("the {what} already exists").into())
            }
            StoreError::NotFound => Self::NotFound("not found"),
            StoreError::Internal(_) => Self::Internal(e.to_string()),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(description) => Self::BadRequest(description.into()),
            AdminError::Forbidden(description) => Self::Forbidden(description.into()),
            AdminError::NotFound(what) => Self::NotFound(what),
            AdminError::Conflict(description) => Self::Conflict(description.into()),
            AdminError::Protocol(e) => e.into(),
            AdminError::Store(e) => e.into(),
            AdminError::Internal(cause) => Self::Internal(cause),
        }
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> Self {
        match e.code {
            ErrorCode::InvalidToken => Self::Unauthenticated(Some(e)),
            ErrorCode::InsufficientScope | ErrorCode::AccessDenied => {
                Self::Forbidden(e.description)
            }
            _ => Self::Protocol(e),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthenticated(_) => f.write_str("unauthenticated"),
            Self::Forbidden(d) => write!(f, "forbidden: {d}"),
            Self::BadRequest(d) => write!(f, "bad request: {d}"),
            Self::Protocol(e) => write!(f, "{}: {}", e.code, e.description),
            Self::UnsupportedMediaType => f.write_str("unsupported media type"),
            Self::NotFound(w) => write!(f, "not found: {w}"),
            Self::MethodNotAllowed(allow) => write!(f, "method not allowed (allow: {allow})"),
            Self::Conflict(d) => write!(f, "conflict: {d}"),
            Self::Unavailable(e) => write!(f, "unavailable: {e}"),
            Self::Internal(e) => write!(f, "internal: {e}"),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Protocol(e) => {
                StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}
