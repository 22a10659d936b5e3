//! `POST /login/recovery-codes`: the user has seen the recovery codes an enrolment made; the
//! sign-in goes on ([`palisade_flow::interaction`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::interaction::StepSubmission;

pub async fn finish(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = StepSubmission {
        step_id: form.get("interaction_id"),
        csrf_token: form.get("csrf_token"),
    };
    let outcome = state
        .engine
        .finish_recovery_codes(submission, &browser)
        .await;
    respond(&state, outcome)
}
