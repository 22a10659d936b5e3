//! `GET`/`POST /authorize`: RFC 6749 §4.1.1-4.1.2, OIDC Core §3.1.2.
//!
//! Parse, validate (errors before the client and redirect URI are verified are pages), then
//! let the engine decide: redirect back at once, or start an interaction (login, consent)
//! bound to this browser.

use crate::app::AppState;
use crate::forms;
use crate::respond::{self, error_page, see_other};
use actix_web::{HttpRequest, HttpResponse, web};
use palisade_core::OAuthError;
use palisade_flow::authorize::{AuthorizationParams, AuthorizeError, error_redirect};
use palisade_flow::interaction::NextStep;

pub async fn get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    handle(&req, &state, forms::pairs(req.query_string().as_bytes())).await
}

pub async fn post(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    if !forms::is_form(&req) {
        return error_page(&OAuthError::invalid_request(
            "the request must be form-encoded",
        ));
    }
    handle(&req, &state, forms::pairs(&body)).await
}

async fn handle(req: &HttpRequest, state: &AppState, pairs: Vec<(String, String)>) -> HttpResponse {
    let engine = &state.engine;
    let request = match engine
        .validate_authorization_request(&AuthorizationParams::new(pairs))
        .await
    {
        Ok(request) => request,
        Err(AuthorizeError::Page(error)) => return error_page(&error),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state: client_state,
            error,
        }) => {
            respond::log(&error);
            return see_other(&error_redirect(
                &engine.issuer,
                &redirect_uri,
                client_state.as_deref(),
                &error,
            ));
        }
    };
    let session = match super::login::current_session(req, state).await {
        Ok(session) => session,
        Err(error) => return see_other(&engine.error_redirect_for(&request, &error)),
    };
    let (browser, new_browser) = match state.cookies.read_browser(req) {
        Some(existing) => (existing, None),
        None => {
            let fresh = engine.secrets.token();
            (fresh.clone(), Some(state.cookies.browser(fresh)))
        }
    };
    let interaction = engine.new_interaction(request, &browser);
    let step = match engine
        .next_step(&interaction, session.as_ref().map(|(_, s)| s))
        .await
    {
        Ok(step) => step,
        Err(error) => {
            respond::log(&error);
            return see_other(&engine.error_redirect_for(&interaction.request, &error));
        }
    };
    let page = match step {
        NextStep::RedirectToClient(location) => return see_other(&location),
        NextStep::Login => "login",
        NextStep::Consent => "consent",
    };
    if let Err(e) = engine.save_interaction(&interaction).await {
        let error: OAuthError = e.into();
        respond::log(&error);
        return see_other(&engine.error_redirect_for(&interaction.request, &error));
    }
    let mut res = see_other(&state.endpoint(&format!("/{page}?interaction={}", interaction.id)));
    if let Some(cookie) = new_browser {
        let _ = res.add_cookie(&cookie);
    }
    res
}
