//! `GET`/`POST /consent`: the user allows or denies the client's request (OIDC Core §3.1.2.4);
//! the engine decides what is shown and what follows ([`palisade_flow::interaction`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond, show_step};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::interaction::{ConsentDecision, ConsentSubmission, InteractionPage};

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    show_step(&req, &state, InteractionPage::Consent).await
}

pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = ConsentSubmission {
        step_id: form.get("interaction_id"),
        csrf_token: form.get("csrf_token"),
        decision: ConsentDecision::parse(form.get("decision")),
    };
    let outcome = state.engine.submit_consent(submission, &browser).await;
    respond(&state, outcome)
}
