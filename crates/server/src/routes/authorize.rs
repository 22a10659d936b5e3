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

async fn handle(req: &HttpRequest, state: &AppState, pairs: Vec<(String, String)>) -> HttpResponse {
    let browser = browser_of(req, state);
    let outcome = state
        .engine
        .authorize(&AuthorizationParams::new(pairs), &browser)
        .await;
    respond(state, outcome)
}
