//! `POST /introspect`: RFC 7662 §2. Form-encoded; the caller authenticates as a confidential
//! client; the answer is JSON with `Cache-Control: no-store` (RFC 7662 §4).

use crate::app::AppState;
use crate::forms;
use crate::respond::{client_auth_error, json_error, no_store};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;

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
    let form = match forms::pairs(&body) {
        Ok(form) => form,
        Err(error) => return json_error(&error),
    };
    match state
        .engine
        .introspect(
            forms::authorization_header(&req),
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
        Err(failure) => client_auth_error(&failure),
    }
}
