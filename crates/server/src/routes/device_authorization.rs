//! `POST /device_authorization`: RFC 8628 §3.1-3.2. Form-encoded; the client authenticates as
//! at `/token`; JSON answers with `no-store`, errors in the token endpoint's dialect (§3.2).

use crate::app::AppState;
use crate::forms;
use crate::respond::{client_auth_error, json_error, no_store};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;

pub async fn start(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if !forms::is_form(&req) {
        return json_error(&OAuthError::invalid_request(
            "the device authorization request must be application/x-www-form-urlencoded",
        ));
    }
    let form = match forms::pairs(&body) {
        Ok(form) => form,
        Err(error) => return json_error(&error),
    };
    match state
        .engine
        .device_authorization(
            forms::authorization_header(&req),
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(started) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.json(started)
        }
        Err(failure) => client_auth_error(&failure),
    }
}
