//! What every browser-facing route reads before it calls the engine: the browser (cookies and
//! address) and, for a form post, the one opening every form shares (same-origin, form
//! encoding, body), and how the engine's [`Outcome`] becomes a response.

use crate::app::AppState;
use crate::forms;
use crate::respond::{error_page, html, see_other};
use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use palisade_core::OAuthError;
use palisade_flow::interaction::{
    Browser, LoginProblem, LoginView, Outcome, Refusal, RefusalStatus, Step, View,
};
use palisade_pages::{ConsentPage, LoggedOutPage, LoginPage, LogoutConfirmPage, ScopeLine};
use std::future::Future;
use std::pin::Pin;

/// The browser behind `req`: its binding and session cookies and its address.
pub fn browser_of(req: &HttpRequest, state: &AppState) -> Browser {
    Browser {
        binding: state.cookies.read_browser(req),
        session: state.cookies.read_session(req),
        client_ip: crate::client_ip::client_ip(req, &state.settings.trusted_proxies),
    }
}

/// A browser form post that passed the checks every form shares: not cross-site (403),
/// form-encoded and UTF-8 (400). Its fields are kept with repeats, in order.
pub struct BrowserForm {
    pub fields: Vec<(String, String)>,
}

impl BrowserForm {
    pub fn get(&self, name: &str) -> Option<&str> {
        forms::get(&self.fields, name)
    }
}

impl FromRequest for BrowserForm {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let refuse = |page: HttpResponse| InternalError::from_response("form refused", page);
            // Fail closed: without the issuer there is no same-origin check, so no form.
            let Some(state) = req.app_data::<web::Data<AppState>>() else {
                let error = OAuthError::server_error("the application state is not configured");
                return Err(refuse(error_page(&error)).into());
            };
            if let Err(error) = forms::check_same_origin(&req, &state.settings.issuer) {
                return Err(refuse(refusal_page(&Refusal::forbidden(error))).into());
            }
            if !forms::is_form(&req) {
                let error = OAuthError::invalid_request("the form must be form-encoded");
                return Err(refuse(error_page(&error)).into());
            }
            match forms::pairs(&body.await?) {
                Ok(fields) => Ok(Self { fields }),
                Err(error) => Err(refuse(error_page(&error)).into()),
            }
        })
    }
}

/// The one message for every failed login (docs/threat-model.md LF-02).
const INVALID_CREDENTIALS: &str = "The username or password is incorrect.";
/// When every password-hashing permit is held and the queue is full.
const BUSY: &str = "The service is busy. Please try again in a moment.";

/// Renders the engine's answer and applies its cookie changes.
pub fn respond(state: &AppState, outcome: Outcome) -> HttpResponse {
    let mut res = match outcome.step {
        Step::Show(view) => render(state, view),
        Step::Continue { page, step_id } => {
            see_other(&state.endpoint(&format!("{}?interaction={step_id}", page.path())))
        }
        Step::RedirectToClient(location) => see_other(&location),
        Step::Refuse(refusal) => refusal_page(&refusal),
    };
    let cookies = outcome.cookies;
    if let Some(binding) = cookies.browser {
        let _ = res.add_cookie(&state.cookies.browser(binding));
    }
    if let Some(session) = cookies.session {
        let max_age = state.engine.policy.session_ttl.num_seconds();
        let _ = res.add_cookie(&state.cookies.session(session, max_age));
    }
    if cookies.clear_session {
        let _ = res.add_cookie(&state.cookies.clear_session());
    }
    res
}

fn render(state: &AppState, view: View) -> HttpResponse {
    match view {
        View::Login(login) => login_page(state, &login),
        View::Consent(consent) => {
            let action = state.endpoint("/consent");
            html(
                ConsentPage {
                    client_name: &consent.client_name,
                    scopes: consent
                        .scopes
                        .iter()
                        .map(|s| ScopeLine {
                            name: &s.name,
                            description: s.description.as_str().into(),
                        })
                        .collect(),
                    is_client_verified: consent.is_client_verified,
                    csrf_token: &consent.csrf_token,
                    form_action: &action,
                    interaction_id: &consent.step_id,
                    user_display: &consent.user_display,
                }
                .render(),
            )
        }
        View::LogoutConfirm(confirm) => {
            let action = state.endpoint("/logout/confirm");
            html(
                LogoutConfirmPage {
                    csrf_token: &confirm.csrf_token,
                    form_action: &action,
                    client_name: confirm.client_name.as_deref(),
                    hidden_fields: confirm
                        .hidden_fields
                        .iter()
                        .map(|(k, v)| (*k, v.as_str()))
                        .collect(),
                }
                .render(),
            )
        }
        View::LoggedOut => html(LoggedOutPage {}.render()),
        // TODO(#14): the pages of these views (branch mfa-pages) replace this arm; the engine
        // at this commit never produces them.
        View::SecondFactor(_)
        | View::Enrolment(_)
        | View::RecoveryCodes(_)
        | View::AccountSecurity(_) => error_page(&OAuthError::server_error(
            "this sign-in page is not built yet",
        )),
    }
}

/// The login form; a failed attempt shows one generic message, a throttled one says when to
/// come back (RFC 6585 §4, 429), a saturated hashing pool answers 503 (RFC 9110 §15.6.4).
fn login_page(state: &AppState, login: &LoginView) -> HttpResponse {
    let throttled_message;
    let (error, status, retry_after) = match login.problem {
        None => (None, StatusCode::OK, None),
        Some(LoginProblem::InvalidCredentials) => (Some(INVALID_CREDENTIALS), StatusCode::OK, None),
        Some(LoginProblem::Throttled(throttled)) => {
            let minutes = throttled.retry_after_minutes();
            throttled_message = format!(
                "Too many failed sign-in attempts. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            );
            (
                Some(throttled_message.as_str()),
                StatusCode::TOO_MANY_REQUESTS,
                Some(throttled.retry_after_secs()),
            )
        }
        Some(LoginProblem::Busy { retry_after }) => (
            Some(BUSY),
            StatusCode::SERVICE_UNAVAILABLE,
            Some(retry_after.as_secs().max(1)),
        ),
    };
    let action = state.endpoint("/login");
    let page = html(
        LoginPage {
            client_name: Some(&login.client_name),
            username: &login.username,
            error,
            csrf_token: &login.csrf_token,
            form_action: &action,
            interaction_id: &login.step_id,
        }
        .render(),
    );
    with_status(page, status, retry_after)
}

/// An error page with the refusal's status: 403 for a forged form, 429 and `Retry-After` for a
/// throttled source, else by error code.
pub fn refusal_page(refusal: &Refusal) -> HttpResponse {
    let page = error_page(&refusal.error);
    match refusal.status {
        RefusalStatus::ByCode => page,
        RefusalStatus::Forbidden => with_status(page, StatusCode::FORBIDDEN, None),
        RefusalStatus::Throttled(throttled) => with_status(
            page,
            StatusCode::TOO_MANY_REQUESTS,
            Some(throttled.retry_after_secs()),
        ),
    }
}

/// Sets the status of a rendered page and, when given, its `Retry-After` (seconds).
fn with_status(
    mut page: HttpResponse,
    status: StatusCode,
    retry_after_secs: Option<u64>,
) -> HttpResponse {
    *page.status_mut() = status;
    if let Some(secs) = retry_after_secs
        && let Ok(value) = HeaderValue::from_str(&secs.to_string())
    {
        page.headers_mut().insert(header::RETRY_AFTER, value);
    }
    page
}
