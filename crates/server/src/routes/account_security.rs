//! `GET`/`POST /account/security`: the signed-in user's own second factors: add a TOTP app or a
//! passkey, rename or remove one (with the password or a code), new recovery codes. The session
//! decides who the user is and its CSRF token guards every form
//! ([`palisade_flow::account_security`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::interaction::{AccountAction, AccountSubmission};

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let outcome = state.engine.show_account_security(&browser).await;
    respond(&state, outcome)
}

/// `csrf_token` and `action` (`totp-start`, `totp-confirm`, `passkey-add`, `rename`, `remove`,
/// `recovery-codes`) with that action's fields.
pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = AccountSubmission {
        csrf_token: form.get("csrf_token"),
        action: AccountAction::from_form(|name| form.get(name)),
    };
    let outcome = state
        .engine
        .account_security_action(submission, &browser)
        .await;
    respond(&state, outcome)
}
