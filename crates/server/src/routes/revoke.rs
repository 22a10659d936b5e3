//! `POST /revoke`: RFC 7009 §2. Form-encoded; the caller authenticates as a client (public
//! clients by `client_id`); 200 with an empty body whether or not anything was revoked, 503
//! when storage cannot be reached (never a 200 that revoked nothing).

use crate::app::AppState;
use crate::forms;
use crate::respond::{client_auth_error, json_error, no_store};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;

pub async fn revoke(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !forms::is_form(&req) {
        return json_error(&OAuthError::invalid_request(
            "the revocation request must be application/x-www-form-urlencoded",
        ));
    }
    let form = match forms::pairs(&body) {
        Ok(form) => form,
        Err(error) => return json_error(&error),
    };
    match state
        .engine
        .revoke(
            forms::authorization_header(&req),
            &form,
            crate::client_ip::client_ip(&req, &state.settings.trusted_proxies),
        )
        .await
    {
        Ok(outcome) => {
            tracing::debug!(?outcome, "revocation request");
            let mut res = HttpResponse::Ok();
            no_store(&mut res);
            res.finish()
        }
        Err(failure) => client_auth_error(&failure),
    }
}
