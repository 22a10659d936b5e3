//! `GET`/`POST /logout` (the `end_session_endpoint`) and `POST /logout/confirm`:
//! OpenID Connect RP-Initiated Logout 1.0, decided by the engine
//! ([`palisade_flow::interaction`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use crate::forms;
use actix_web::{HttpRequest, HttpResponse, web};

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    start(&req, &state, forms::pairs(req.query_string().as_bytes())).await
}

pub async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    start(&req, &state, forms::pairs(&body)).await
}

async fn start(req: &HttpRequest, state: &AppState, params: Vec<(String, String)>) -> HttpResponse {
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
