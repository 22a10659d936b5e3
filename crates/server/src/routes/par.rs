//! `POST /par`: RFC 9126 §2. Form-encoded only; the client authenticates as at `/token`; the
//! answer is 201 with `request_uri` and `expires_in`, errors are JSON (400, 401 for client
//! authentication), all with `no-store`. The engine validates and keeps the request
//! ([`palisade_flow::par`]). The whole request is at hand here, so a header the engine will
//! need (a DPoP proof, RFC 9449 §10.1) can be read and passed on.

use crate::app::AppState;
use crate::forms;
use crate::respond::{client_auth_error, json_error, no_store};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;

pub async fn push(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if !forms::is_form(&req) {
        return json_error(&OAuthError::invalid_request(
            "the pushed authorization request must be application/x-www-form-urlencoded",
        ));
    }
    let authorization = forms::authorization_header(&req);
    let form = match forms::pairs(&body) {
        Ok(form) => form,
        Err(error) => return json_error(&error),
    };
    match state
        .engine
        .push_authorization_request(
            authorization,
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(pushed) => {
            let mut res = HttpResponse::Created();
            no_store(&mut res);
            res.json(pushed)
        }
        Err(failure) => client_auth_error(&failure),
    }
}
