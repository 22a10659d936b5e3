//! `POST /token`: RFC 6749 §3.2, §5. Form-encoded only; JSON answers with `no-store`.

use crate::app::AppState;
use crate::forms;
use crate::respond::{client_auth_error, json_error, no_store};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;

pub async fn exchange(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !forms::is_form(&req) {
        return json_error(&OAuthError::invalid_request(
            "the token request must be application/x-www-form-urlencoded",
        ));
    }
    let authorization = forms::authorization_header(&req);
    let form = match forms::pairs(&body) {
        Ok(form) => form,
        Err(error) => return json_error(&error),
    };
    match state
        .engine
        .token(
            authorization,
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(tokens) => {
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.json(tokens)
        }
        Err(failure) => client_auth_error(&failure),
    }
}
