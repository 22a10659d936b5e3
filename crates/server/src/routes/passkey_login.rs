//! `POST /login/passkey`: a passwordless sign-in from the login page with a discoverable
//! passkey (WebAuthn §7.2; the assertion's user handle names the user). The engine verifies
//! the assertion against the step's challenge ([`palisade_flow::interaction`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::interaction::PasskeySignIn;

/// `interaction_id`, `csrf_token` and `credential` (the `PublicKeyCredential` as JSON). A
/// missing credential is an empty one: the engine refuses it like any wrong answer.
pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = PasskeySignIn {
        step_id: form.get("interaction_id"),
        csrf_token: form.get("csrf_token"),
        credential: form.get("credential").unwrap_or_default(),
    };
    let outcome = state
        .engine
        .sign_in_with_passkey(submission, &browser)
        .await;
    respond(&state, outcome)
}
