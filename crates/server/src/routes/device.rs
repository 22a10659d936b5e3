//! `GET`/`POST /device`: the user-code page of the device flow (RFC 8628 §3.3). The limiter,
//! the code check and the interaction it starts live in the engine
//! ([`palisade_flow::device`]).

use crate::app::AppState;
use crate::browser::{BrowserForm, browser_of, respond};
use crate::forms;
use crate::respond::error_page;
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_flow::device::DeviceEntrySubmission;

/// The form, prefilled from `?user_code=` (`verification_uri_complete`).
pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = match forms::pairs(req.query_string().as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(&req, &state);
    let outcome = state
        .engine
        .show_device_entry(forms::get(&query, "user_code"), &browser)
        .await;
    respond(&state, outcome)
}

pub async fn submit(
    req: HttpRequest,
    form: BrowserForm,
    state: web::Data<AppState>,
) -> HttpResponse {
    let browser = browser_of(&req, &state);
    let submission = DeviceEntrySubmission {
        user_code: form.get("user_code"),
        csrf_token: form.get("csrf_token"),
    };
    let outcome = state.engine.submit_device_entry(submission, &browser).await;
    respond(&state, outcome)
}
