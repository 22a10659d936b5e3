//! `GET`/`POST /login/enrol`: a user who must have a second factor and has none sets one up
//! during the sign-in: a TOTP app (RFC 6238; the first code proves it) or a passkey (WebAuthn
//! §7.1). Success shows the recovery codes ([`super::recovery_codes`]); the rules live in the
//! engine ([`palisade_flow::interaction`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond, show_step};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::interaction::{EnrolmentAnswer, EnrolmentSubmission, InteractionPage};

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    show_step(&req, &state, InteractionPage::Enrolment).await
}

/// `method=totp` with `code`, or `method=passkey` with `credential`; `name` is optional.
pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = EnrolmentSubmission {
        step_id: form.get("interaction_id"),
        csrf_token: form.get("csrf_token"),
        answer: EnrolmentAnswer::from_form(
            form.get("method"),
            form.get("code"),
            form.get("credential"),
            form.get("name"),
        ),
    };
    let outcome = state.engine.submit_enrolment(submission, &browser).await;
    respond(&state, outcome)
}
