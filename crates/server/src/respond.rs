//! The error dialects of each kind of endpoint (docs/design.md §5), and the responses shared by
//! several routes. The private `source` of an error is logged here and never sent.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use askama::Template;
use palisade_core::{ErrorCode, OAuthError};
use palisade_pages::ErrorPage;
use serde_json::json;

/// Logs an error with its private cause at a level fitting its kind (one rule, in the engine).
pub use palisade_flow::interaction::log_refusal as log;

fn status(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// RFC 6749 §5.2 JSON error (token, registration, introspection, revocation endpoints).
pub fn json_error(error: &OAuthError) -> HttpResponse {
    log(error);
    let mut res = HttpResponse::build(status(error.code));
    no_store(&mut res);
    match (error.retry_after_secs, error.code) {
        (Some(secs), _) => {
            res.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        (None, ErrorCode::TemporarilyUnavailable) => {
            res.insert_header((header::RETRY_AFTER, STORAGE_RETRY_AFTER_SECS));
        }
        _ => {}
    }
    res.json(json!({
        "error": error.code.as_str(),
        "error_description": error.description,
    }))
}

/// The token, introspection and revocation endpoints' error: JSON, and the Basic challenge
/// when a failed client authentication tried HTTP Basic (RFC 6749 §5.2).
pub fn client_auth_error(failure: &palisade_flow::token::TokenError) -> HttpResponse {
    let mut res = json_error(&failure.error);
    if failure.error.code == ErrorCode::InvalidClient && failure.basic_attempted {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Basic realm="palisade""#),
        );
    }
    res
}

/// An HTML page for errors that must not be redirected (unverified client or redirect URI).
pub fn error_page(error: &OAuthError) -> HttpResponse {
    log(error);
    let (heading, message) = match error.code {
        ErrorCode::ServerError => (
            "Something went wrong",
            "The server could not complete the request.",
        ),
        ErrorCode::TemporarilyUnavailable => (
            "Temporarily unavailable",
            "The service is temporarily unavailable. Please try again in a moment.",
        ),
        _ => (
            "The request cannot be completed",
            error.description.as_ref(),
        ),
    };
    let message = as_sentence(message);
    let rendered = ErrorPage {
        heading,
        message: &message,
        error_code: Some(error.code.as_str()),
    }
    .render();
    let mut res = html(rendered);
    *res.status_mut() = match error.code {
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    if error.code == ErrorCode::TemporarilyUnavailable {
        // Every 503 page says when to come back, like the JSON endpoints.
        let secs = error.retry_after_secs.unwrap_or(STORAGE_RETRY_AFTER_SECS);
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

/// When to retry after a storage outage.
const STORAGE_RETRY_AFTER_SECS: u64 = 5;

/// Error descriptions are written for the wire (lower case, no full stop); a page shows them
/// as a sentence.
fn as_sentence(text: &str) -> String {
    let mut chars = text.chars();
    let mut sentence: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !sentence.ends_with(['.', '!', '?']) {
        sentence.push('.');
    }
    sentence
}

/// RFC 6750 §3: `WWW-Authenticate: Bearer error="..."` (userinfo, admin API).
pub fn bearer_error(error: &OAuthError) -> HttpResponse {
    log(error);
    let mut res = HttpResponse::build(status(error.code));
    no_store(&mut res);
    let challenge = match error.code {
        ErrorCode::InvalidToken | ErrorCode::InsufficientScope | ErrorCode::InvalidRequest => {
            format!(
                r#"Bearer error="{}", error_description="{}""#,
                error.code.as_str(),
                error.description.replace('"', "'")
            )
        }
        _ => "Bearer".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        res.insert_header((header::WWW_AUTHENTICATE, value));
    }
    res.json(json!({
        "error": error.code.as_str(),
        "error_description": error.description,
    }))
}

/// The `DPoP-Nonce` response header (RFC 9449 §8.1, §9).
pub const DPOP_NONCE: &str = "dpop-nonce";

/// RFC 9449 §7.1: the error of a request that presented its token with the DPoP scheme,
/// `WWW-Authenticate: DPoP error="...", algs="..."`: 401 for a token or proof problem, 403 for
/// `insufficient_scope`; with `DPoP-Nonce` when the proof must carry `nonce` (§9).
pub fn dpop_error(error: &OAuthError, nonce: Option<&str>) -> HttpResponse {
    log(error);
    let status = match error.code {
        ErrorCode::InvalidToken | ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => {
            StatusCode::UNAUTHORIZED
        }
        code => status(code),
    };
    let mut res = HttpResponse::build(status);
    no_store(&mut res);
    let algs = palisade_flow::dpop::challenge_algs();
    let challenge = match error.code {
        ErrorCode::InvalidToken
        | ErrorCode::InsufficientScope
        | ErrorCode::InvalidRequest
        | ErrorCode::InvalidDpopProof
        | ErrorCode::UseDpopNonce => format!(
            r#"DPoP error="{}", error_description="{}", algs="{algs}""#,
            error.code.as_str(),
            error.description.replace('"', "'")
        ),
        _ => format!(r#"DPoP algs="{algs}""#),
    };
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        res.insert_header((header::WWW_AUTHENTICATE, value));
    }
    if let Some(nonce) = nonce.and_then(|n| HeaderValue::from_str(n).ok()) {
        res.insert_header((DPOP_NONCE, nonce));
    }
    res.json(json!({
        "error": error.code.as_str(),
        "error_description": error.description,
    }))
}

/// Adds the `DPoP` challenge (RFC 9449 §7.2: a resource taking both schemes names both) to a
/// response that already carries the `Bearer` one.
pub fn add_dpop_challenge(res: &mut HttpResponse) {
    let challenge = format!(r#"DPoP algs="{}""#, palisade_flow::dpop::challenge_algs());
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        res.headers_mut().append(header::WWW_AUTHENTICATE, value);
    }
}

/// Adds `DPoP-Nonce: nonce` to a response (RFC 9449 §8.1-8.2).
pub fn add_dpop_nonce(res: &mut HttpResponse, nonce: Option<&str>) {
    if let Some(value) = nonce.and_then(|n| HeaderValue::from_str(n).ok()) {
        res.headers_mut()
            .insert(header::HeaderName::from_static(DPOP_NONCE), value);
    }
}

/// A `303 See Other` (RFC 9700 §4.12: never 307, which would repost the login form).
pub fn see_other(location: &str) -> HttpResponse {
    let mut res = HttpResponse::SeeOther();
    no_store(&mut res);
    res.insert_header((header::LOCATION, location)).finish()
}

/// Marks a response as carrying tokens, credentials or personal data.
pub fn no_store(res: &mut actix_web::HttpResponseBuilder) {
    res.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
}

/// Wraps a rendered page; a template failure is logged and answered with a bare 500.
pub fn html(rendered: Result<String, askama::Error>) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}
