//! `GET`/`POST /logout` (the `end_session_endpoint`) and `POST /logout/confirm`:
//! OpenID Connect RP-Initiated Logout 1.0, decided by the engine
//! ([`palisade_flow::interaction`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use crate::forms;
use crate::respond::error_page;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    start(&req, &state, forms::pairs(req.query_string().as_bytes())).await
}

pub async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    start(&req, &state, forms::pairs(&body)).await
}

/// Parameters that are not UTF-8 get the error page (the post-logout redirect cannot be trusted).
async fn start(
    req: &HttpRequest,
    state: &AppState,
    params: Result<Vec<(String, String)>, OAuthError>,
) -> HttpResponse {
    let params = match params {
        Ok(params) => params,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(req, state);
    let outcome = state.engine.start_logout(&params, &browser).await;
    respond(state, outcome)
}

pub async fn confirm(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let outcome = state.engine.confirm_logout(&form.fields, &browser).await;
    respond(&state, outcome)
}
