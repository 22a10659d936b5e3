//! `GET`/`POST /login`: the login form of an interaction step. The limits, the lock, the
//! generic failure and session fixation live in the engine
//! ([`palisade_flow::interaction`], [`palisade_flow::guard`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond, show_step};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::Secret;
use palisade_flow::interaction::InteractionPage;
use palisade_flow::interaction::LoginSubmission;

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    show_step(&req, &state, InteractionPage::Login).await
}

pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = LoginSubmission {
        step_id: form.get("interaction_id"),
        csrf_token: form.get("csrf_token"),
        username: form.get("username").unwrap_or_default(),
        password: Secret::new(form.get("password").unwrap_or_default()),
    };
    let outcome = state.engine.submit_login(submission, &browser).await;
    respond(&state, outcome)
}
