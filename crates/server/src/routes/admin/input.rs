//! Reading admin requests: JSON bodies (declared as such, unknown fields and repeated member
//! names refused) and query parameters, every failure a JSON 400/415 rather than actix's
//! plain-text default.

use super::error::ApiError;
use crate::forms;
use crate::json_body::JsonBodyError;
use actix_web::HttpRequest;
use actix_web::http::header;
use serde::de::DeserializeOwned;

/// Parses a JSON body; the content type must say JSON (a cross-site form cannot send that
/// without a CORS preflight, which the admin API never answers).
pub fn json<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    crate::json_body::parse(body).map_err(|e| match e {
        JsonBodyError::DuplicateMember(_) => ApiError::bad_request(e.description()),
        // serde's message names the field and the expected type; it never echoes the value.
        JsonBodyError::Malformed(_) => ApiError::bad_request(format!(
            "the request body is not valid: {}",
            e.description()
        )),
    })
}

/// The query parameters; a parameter sent twice is refused.
pub fn query(req: &HttpRequest) -> Result<Vec<(String, String)>, ApiError> {
    let pairs = forms::pairs(req.query_string().as_bytes())
        .map_err(|error| ApiError::bad_request(error.description))?;
    for (i, (k, _)) in pairs.iter().enumerate() {
        if pairs[..i].iter().any(|(earlier, _)| earlier == k) {
            return Err(ApiError::bad_request(format!(
                "the query parameter {k} was sent twice"
            )));
        }
    }
    Ok(pairs)
}

/// A non-empty query parameter.
pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    forms::get(pairs, name).filter(|v| !v.is_empty())
}

/// An integer query parameter within `min..=max`, or `default` when absent.
pub fn number(
    pairs: &[(String, String)],
    name: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ApiError> {
    match param(pairs, name) {
        None => Ok(default),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (min..=max).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name} must be a whole number from {min} to {max}"))
            }),
    }
}

/// A path segment the route declares (`{name}`).
pub fn path<'a>(req: &'a HttpRequest, name: &'static str) -> Result<&'a str, ApiError> {
    req.match_info()
        .get(name)
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::NotFound("no such resource"))
}
