//! Reading request parameters and guarding browser form posts.

use actix_web::HttpRequest;
use actix_web::http::header;
use palisade_core::{OAuthError, TokenHash};
use url::form_urlencoded;

/// Parses `application/x-www-form-urlencoded` bytes (a query string or a body) into pairs,
/// keeping repeats so the engine can refuse them.
pub fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub fn get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Whether the body is declared form-encoded (RFC 6749 §3.2 requires it at the token endpoint).
pub fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// Refuses cross-site form posts: `Sec-Fetch-Site` must be same-origin (or absent/none for
/// non-browser clients), and `Origin`, when sent, must be the issuer's origin.
pub fn check_same_origin(req: &HttpRequest, issuer: &url::Url) -> Result<(), OAuthError> {
    let refused = || OAuthError::access_denied("cross-site form submissions are not accepted");
    if let Some(site) = req.headers().get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refused());
    }
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok())
        && origin != issuer.origin().ascii_serialization()
    {
        return Err(refused());
    }
    Ok(())
}

/// Compares a submitted CSRF token with the expected one in constant time.
pub fn csrf_matches(expected: &str, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|s| TokenHash::of(expected).matches(s))
}
