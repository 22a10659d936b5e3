//! `GET /jwks`: the public signing keys (RFC 7517 §5), served from memory with an ETag and a
//! cache lifetime tied to the rotation policy, so it keeps answering when storage is down.
//!
//! - The body is the key ring's pre-serialized JWK Set: every published key (`next`, `current`,
//!   `retired`) with `kty`, `kid`, `use: "sig"`, `alg` and its public members only. Revoked and
//!   removed keys are absent. Every node serving the same keys serves the same bytes.
//! - `Cache-Control: public, max-age=<jwks_max_age>` (RFC 9111 §5.2.2.1); the rotation policy
//!   publishes a key at least that long (plus one refresh interval) before it signs, so a
//!   verifier that honours the max-age never meets a kid it has not been offered.
//! - `ETag`: a strong validator, a hash of the bytes. `If-None-Match` is compared with the weak
//!   comparison function, as RFC 9110 §13.1.2 requires, so a tag that a proxy weakened to
//!   `W/"..."` still matches; `*` matches any current representation. A match answers
//!   304 Not Modified with the validator and cache headers and no body (RFC 9110 §15.4.5).

use crate::app::AppState;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn document(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let jwks = state.keys.jwks();
    let cache_control = state.key_policy_cache_control.as_str();
    if if_none_match_holds(req.headers(), &jwks.etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, &*jwks.etag))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, &*jwks.etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .body(jwks.body)
}

/// Whether any `If-None-Match` field line names `etag` (or is `*`), by the weak comparison:
/// opaque tags equal, `W/` prefixes ignored (RFC 9110 §8.8.3.2, §13.1.2).
fn if_none_match_holds(headers: &HeaderMap, etag: &str) -> bool {
    let ours = opaque_tag(etag);
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|list| list.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || opaque_tag(tag) == ours)
}

/// An entity tag without its weakness indicator: `W/"x"` and `"x"` both give `"x"`.
fn opaque_tag(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::IF_NONE_MATCH, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn if_none_match_uses_the_weak_comparison() {
        let etag = r#""abc""#;
        let cases: [(&str, &[&'static str], bool); 8] = [
            ("the same tag", &[r#""abc""#], true),
            ("weakened by a proxy", &[r#"W/"abc""#], true),
            ("in a list", &[r#""x", "abc""#], true),
            ("on a second field line", &[r#""x""#, r#""abc""#], true),
            ("any", &["*"], true),
            ("another tag", &[r#""abd""#], false),
            ("unquoted", &["abc"], false),
            ("absent", &[], false),
        ];
        for (case, values, expected) in cases {
            assert_eq!(
                if_none_match_holds(&headers(values), etag),
                expected,
                "{case}"
            );
        }
    }
}
