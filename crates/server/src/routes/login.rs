//! `GET`/`POST /login`: the login form of an interaction.
//!
//! Wrong credentials re-render the form with one generic message, whatever the reason (unknown
//! user, wrong password, disabled or locked account): byte-identical pages apart from the
//! echoed username. Too many failures from the client's address re-render it with status 429,
//! `Retry-After` and a "try again in N minutes" message (RFC 6585 §4); a saturated hashing pool
//! with 503 and `Retry-After` (RFC 9110 §15.6.4). A successful login always mints a new
//! session id. The limits and the lock live in the engine (palisade_flow::guard).

use crate::app::AppState;
use crate::client_ip::client_ip;
use crate::forms;
use crate::respond::{self, error_page, html, see_other};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use palisade_core::{OAuthError, Secret};
use palisade_flow::guard::AttemptContext;
use palisade_flow::interaction::{Interaction, NextStep};
use palisade_flow::login::CredentialCheck;
use palisade_flow::session::BrowserSession;
use palisade_pages::LoginPage;

/// The one message for every failed login.
const INVALID_CREDENTIALS: &str = "The username or password is incorrect.";
/// When every password-hashing permit is held and the queue is full.
const BUSY: &str = "The service is busy. Please try again in a moment.";

/// The browser's session, if its cookie names a live one.
pub async fn current_session(
    req: &HttpRequest,
    state: &AppState,
) -> Result<Option<(String, BrowserSession)>, OAuthError> {
    let Some(raw) = state.cookies.read_session(req) else {
        return Ok(None);
    };
    Ok(state.engine.find_session(&raw).await?.map(|s| (raw, s)))
}

/// Loads the interaction named in the request, if it belongs to this browser.
pub async fn interaction_of(
    req: &HttpRequest,
    state: &AppState,
    id: Option<&str>,
) -> Result<Interaction, HttpResponse> {
    let expired = || {
        error_page(&OAuthError::invalid_request(
            "This sign-in request has expired or was opened in another browser. Go back to the application and start again.",
        ))
    };
    let Some(id) = id.filter(|id| !id.is_empty()) else {
        return Err(expired());
    };
    match state
        .engine
        .find_interaction(id, state.cookies.read_browser(req).as_deref())
        .await
    {
        Ok(Some(interaction)) => Ok(interaction),
        Ok(None) => Err(expired()),
        Err(e) => Err(error_page(&e.into())),
    }
}

pub async fn show(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query = forms::pairs(req.query_string().as_bytes());
    let interaction = match interaction_of(&req, &state, forms::get(&query, "interaction")).await {
        Ok(i) => i,
        Err(page) => return page,
    };
    let hint = interaction.request.login_hint.clone().unwrap_or_default();
    render(&state, &interaction, &hint, None)
}

fn render(
    state: &AppState,
    interaction: &Interaction,
    username: &str,
    error: Option<&str>,
) -> HttpResponse {
    let action = state.endpoint("/login");
    html(
        LoginPage {
            client_name: Some(&interaction.request.client_name),
            username,
            error,
            csrf_token: &interaction.csrf_token,
            form_action: &action,
            interaction_id: &interaction.id,
        }
        .render(),
    )
}

pub async fn submit(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Err(e) = forms::check_same_origin(&req, &state.settings.issuer) {
        return forbidden(&e);
    }
    if !forms::is_form(&req) {
        return error_page(&OAuthError::invalid_request(
            "the form must be form-encoded",
        ));
    }
    let form = forms::pairs(&body);
    let mut interaction =
        match interaction_of(&req, &state, forms::get(&form, "interaction_id")).await {
            Ok(i) => i,
            Err(page) => return page,
        };
    if !forms::csrf_matches(&interaction.csrf_token, forms::get(&form, "csrf_token")) {
        return forbidden(&OAuthError::access_denied(
            "the form has expired; reload the page",
        ));
    }
    let username = forms::get(&form, "username").unwrap_or_default();
    let password = Secret::new(forms::get(&form, "password").unwrap_or_default());
    let engine = &state.engine;
    let context = AttemptContext {
        client_ip: client_ip(&req, &state.settings.trusted_proxies),
        client_id: Some(interaction.request.client_id.to_string()),
    };
    // The engine writes the audit events (login success/failure, lockout).
    let user = match engine
        .check_credentials(username, &password, &context)
        .await
    {
        Ok(CredentialCheck::Valid(user)) => user,
        Ok(CredentialCheck::Invalid) => {
            return render(&state, &interaction, username, Some(INVALID_CREDENTIALS));
        }
        Ok(CredentialCheck::Throttled(throttled)) => {
            let minutes = throttled.retry_after_minutes();
            let message = format!(
                "Too many failed sign-in attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            let page = render(&state, &interaction, username, Some(&message));
            return with_status(
                page,
                StatusCode::TOO_MANY_REQUESTS,
                throttled.retry_after_secs(),
            );
        }
        Ok(CredentialCheck::Busy { retry_after }) => {
            let page = render(&state, &interaction, username, Some(BUSY));
            return with_status(
                page,
                StatusCode::SERVICE_UNAVAILABLE,
                retry_after.as_secs().max(1),
            );
        }
        Err(error) => return error_page(&error),
    };
    // Session fixation: drop whatever session the browser had and mint a new id.
    if let Some(old) = state.cookies.read_session(&req) {
        let _ = engine.end_session(&old).await;
    }
    let (raw_session, session) = match engine.start_session(&user, vec!["pwd".into()]).await {
        Ok(s) => s,
        Err(e) => return error_page(&e.into()),
    };
    interaction.logged_in_during = true;
    let mut res = continue_interaction(&state, &interaction, &session).await;
    let _ = res.add_cookie(
        &state
            .cookies
            .session(raw_session, engine.policy.session_ttl.num_seconds()),
    );
    res
}

/// After a login or a consent: the next page, or back to the client.
pub async fn continue_interaction(
    state: &AppState,
    interaction: &Interaction,
    session: &BrowserSession,
) -> HttpResponse {
    let engine = &state.engine;
    let step = match engine.next_step(interaction, Some(session)).await {
        Ok(step) => step,
        Err(error) => {
            respond::log(&error);
            let _ = engine.finish_interaction(&interaction.id).await;
            return see_other(&engine.error_redirect_for(&interaction.request, &error));
        }
    };
    let page = match step {
        NextStep::RedirectToClient(location) => {
            let _ = engine.finish_interaction(&interaction.id).await;
            return see_other(&location);
        }
        NextStep::Login => "login",
        NextStep::Consent => "consent",
    };
    if let Err(e) = engine.save_interaction(interaction).await {
        return error_page(&e.into());
    }
    see_other(&state.endpoint(&format!("/{page}?interaction={}", interaction.id)))
}

/// Sets the status of a rendered page and its `Retry-After` (seconds).
fn with_status(mut page: HttpResponse, status: StatusCode, retry_after_secs: u64) -> HttpResponse {
    *page.status_mut() = status;
    if let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string()) {
        page.headers_mut().insert(header::RETRY_AFTER, value);
    }
    page
}

pub fn forbidden(error: &OAuthError) -> HttpResponse {
    let mut res = error_page(error);
    *res.status_mut() = actix_web::http::StatusCode::FORBIDDEN;
    res
}
