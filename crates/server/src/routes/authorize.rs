//! `GET`/`POST /authorize`: RFC 6749 §4.1.1-4.1.2, OIDC Core §3.1.2. The engine validates and
//! decides ([`palisade_flow::interaction`]); this route parses and responds.

use crate::app::AppState;
use crate::browser::{browser_of, respond};
use crate::forms;
use crate::respond::error_page;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;
use palisade_flow::authorize::AuthorizationParams;

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    handle(&req, &state, forms::pairs(req.query_string().as_bytes())).await
}

pub async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if !forms::is_form(&req) {
        return error_page(&OAuthError::invalid_request(
            "the request must be form-encoded",
        ));
    }
    handle(&req, &state, forms::pairs(&body)).await
}

/// Parameters that are not UTF-8 get the error page: the redirect URI among them cannot be
/// trusted, so nothing is sent back to the client.
async fn handle(
    req: &HttpRequest,
    state: &AppState,
    pairs: Result<Vec<(String, String)>, OAuthError>,
) -> HttpResponse {
    let pairs = match pairs {
        Ok(pairs) => pairs,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(req, state);
    let outcome = state
        .engine
        .authorize(&AuthorizationParams::new(pairs), &browser)
        .await;
    respond(state, outcome)
}
