//! `GET /jwks`: the public signing keys (RFC 7517 §5), served from memory with an ETag and a
//! cache lifetime tied to the rotation policy, so it keeps answering when storage is down.

use crate::app::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn document(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let ring = state.keys.snapshot();
    let jwks = ring.jwks();
    let cache_control = state.key_policy_cache_control.as_str();
    let is_fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == &*jwks.etag || t.trim() == "*"));
    if is_fresh {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, &*jwks.etag))
            .insert_header((header::CACHE_CONTROL, cache_control))
            .finish();
    }
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, &*jwks.etag))
        .insert_header((header::CACHE_CONTROL, cache_control))
        .body(jwks.body.clone())
}
