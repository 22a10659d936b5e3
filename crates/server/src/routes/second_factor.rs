//! `GET`/`POST /login/factor`: the second step of a sign-in, or a step-up on an existing
//! session: a TOTP code (RFC 6238), a recovery code, or a passkey assertion (WebAuthn §7.2).
//! Which factors are offered, the throttling and the one generic failure live in the engine
//! ([`palisade_flow::interaction`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond, show_step};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::interaction::{FactorAnswer, FactorSubmission, InteractionPage};

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    show_step(&req, &state, InteractionPage::SecondFactor).await
}

/// `method=totp|recovery` with `code`, or `method=passkey` with `credential`.
pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = FactorSubmission {
        step_id: form.get("interaction_id"),
        csrf_token: form.get("csrf_token"),
        answer: FactorAnswer::from_form(
            form.get("method"),
            form.get("code"),
            form.get("credential"),
        ),
    };
    let outcome = state
        .engine
        .submit_second_factor(submission, &browser)
        .await;
    respond(&state, outcome)
}
