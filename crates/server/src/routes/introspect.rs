//! `POST /introspect`: RFC 7662 §2. Form-encoded; the caller authenticates as a confidential
//! client; the answer is JSON with `Cache-Control: no-store` (RFC 7662 §4).

use crate::app::AppState;
use crate::forms;
use crate::respond::{json_error, no_store};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::{ErrorCode, OAuthError};
use palisade_flow::token::TokenError;

pub async fn introspect(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !forms::is_form(&req) {
        return json_error(&OAuthError::invalid_request(
            "the introspection request must be application/x-www-form-urlencoded",
        ));
    }
    let form = forms::pairs(&body);
    match state
        .engine
        .introspect(
            authorization(&req),
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(description) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.json(description)
        }
        Err(failure) => client_error(&failure),
    }
}

/// The `Authorization` header, if it is readable text.
pub(crate) fn authorization(req: &HttpRequest) -> Option<&str> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

/// A JSON error; a failed client authentication that tried HTTP Basic gets the Basic
/// challenge (RFC 6749 §5.2).
pub(crate) fn client_error(failure: &TokenError) -> HttpResponse {
    let mut res = json_error(&failure.error);
    if failure.error.code == ErrorCode::InvalidClient && failure.basic_attempted {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(r#"Basic realm="palisade""#),
        );
    }
    res
}
