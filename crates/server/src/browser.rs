//! What every browser-facing route reads before it calls the engine: the browser (cookies and
//! address) and, for a form post, the one opening every form shares (same-origin, form
//! encoding, body), and how the engine's [`Outcome`] becomes a response.

use crate::app::AppState;
use crate::forms;
use crate::respond::{error_page, html, see_other};
use crate::security_headers::allow_own_script;
use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use palisade_core::OAuthError;
use palisade_flow::guard::Throttled;
use palisade_flow::interaction::{
    AccountSecurityView, Browser, DeviceEntryProblem, DeviceEntryView, EnrolmentView,
    FactorProblem, InteractionPage, LoginProblem, LoginView, Outcome, RecoveryCodesView, Refusal,
    RefusalStatus, SecondFactorView, Step, View,
};
use palisade_pages::{
    AccountSecurityPage, ConsentPage, DeviceDonePage, DeviceEntryPage, EnrolmentPage, FactorItem,
    LoggedOutPage, LoginPage, LogoutConfirmPage, RecoveryCodesPage, ScopeLine, SecondFactorPage,
    TotpSetup,
};
use std::future::Future;
use std::pin::Pin;

/// The browser behind `req`: its binding and session cookies and its address.
pub fn browser_of(req: &HttpRequest, state: &AppState) -> Browser {
    Browser {
        binding: state.cookies.read_browser(req),
        session: state.cookies.read_session(req),
        client_ip: crate::client_ip::client_ip(req, &state.settings.trusted_proxies),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
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
/// The one message for every wrong second factor: code, recovery code, passkey or a locked
/// account, as on the login form.
const INVALID_FACTOR: &str = "The code or passkey was not accepted. Please try again.";

/// `GET` of an interaction page: the step `?interaction=` names, as the engine shows it.
pub async fn show_step(req: &HttpRequest, state: &AppState, page: InteractionPage) -> HttpResponse {
    let query = match forms::pairs(req.query_string().as_bytes()) {
        Ok(query) => query,
        Err(error) => return error_page(&error),
    };
    let browser = browser_of(req, state);
    let outcome = state
        .engine
        .show_page(page, forms::get(&query, "interaction"), &browser)
        .await;
    respond(state, outcome)
}

/// Renders the engine's answer and applies its cookie changes.
pub fn respond(state: &AppState, outcome: Outcome) -> HttpResponse {
    let mut res = match outcome.step {
        Step::Show(view) => render(state, view),
        Step::Continue { page, step_id } => {
            see_other(&state.endpoint(&format!("{}?interaction={step_id}", page.path())))
        }
        Step::RedirectToClient(location) => see_other(&location),
        Step::ToConsole(path) => see_other(&state.endpoint(&path)),
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
                    document_host: consent.document_host.as_deref(),
                    csrf_token: &consent.csrf_token,
                    form_action: &action,
                    interaction_id: &consent.step_id,
                    user_display: &consent.user_display,
                    user_code: consent.user_code.as_deref(),
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
        View::SecondFactor(factor) => second_factor_page(state, &factor),
        View::Enrolment(enrolment) => enrolment_page(state, &enrolment),
        View::RecoveryCodes(codes) => recovery_codes_page(state, &codes),
        View::AccountSecurity(account) => account_security_page(state, &account),
        View::Account(view) => crate::routes::console::account::render(state, view),
        View::Admin(view) => crate::routes::console::admin::render(state, view),
        View::Roles(view) => crate::routes::console::roles::render(state, view),
        View::Sessions(view) => crate::routes::console::sessions::render(state, view),
        View::Audit(view) => crate::routes::console::audit::render(state, view),
        View::Keys(view) => crate::routes::console::keys::render(state, view),
        View::DeviceEntry(entry) => device_entry_page(state, &entry),
        View::DeviceDone(done) => html(
            DeviceDonePage {
                client_name: &done.client_name,
                is_approved: done.is_approved,
            }
            .render(),
        ),
    }
}

/// The one message for every user code that is not live (unknown, expired, used, malformed).
const UNKNOWN_USER_CODE: &str =
    "That code was not recognised. Check the code on your device, or start again there.";

/// The device flow's user-code form: a wrong code says so (400), too many say when to come
/// back (429 + `Retry-After`, RFC 6585 §4).
fn device_entry_page(state: &AppState, view: &DeviceEntryView) -> HttpResponse {
    let (error, status, retry_after) = match view.problem {
        None => (None, StatusCode::OK, None),
        Some(DeviceEntryProblem::UnknownCode) => (
            Some(UNKNOWN_USER_CODE.to_owned()),
            StatusCode::BAD_REQUEST,
            None,
        ),
        Some(DeviceEntryProblem::Throttled(throttled)) => {
            let minutes = throttled.retry_after_minutes();
            (
                Some(format!(
                    "Too many wrong codes were entered. Try again in {minutes} minute{}.",
                    if minutes == 1 { "" } else { "s" }
                )),
                StatusCode::TOO_MANY_REQUESTS,
                Some(throttled.retry_after_secs()),
            )
        }
    };
    let action = state.endpoint("/device");
    let res = html(
        DeviceEntryPage {
            user_code: &view.user_code,
            csrf_token: &view.csrf_token,
            form_action: &action,
            error: error.as_deref(),
        }
        .render(),
    );
    with_status(res, status, retry_after)
}

/// A rendered page; one that loads `webauthn.js` gets the policy that allows it.
pub(crate) fn page(rendered: Result<String, askama::Error>, has_script: bool) -> HttpResponse {
    let mut res = html(rendered);
    if has_script && res.status().is_success() {
        allow_own_script(&mut res);
    }
    res
}

/// What a throttled form says: when to come back.
fn throttled_message(throttled: Throttled) -> String {
    let minutes = throttled.retry_after_minutes();
    format!(
        "Too many failed sign-in attempts. Try again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    )
}

/// A factor form's message, status and `Retry-After`: one generic message for any wrong answer,
/// 429 when throttled (RFC 6585 §4).
fn factor_problem(problem: Option<FactorProblem>) -> (Option<String>, StatusCode, Option<u64>) {
    match problem {
        None => (None, StatusCode::OK, None),
        Some(FactorProblem::InvalidCode) => (Some(INVALID_FACTOR.to_owned()), StatusCode::OK, None),
        Some(FactorProblem::Throttled(throttled)) => (
            Some(throttled_message(throttled)),
            StatusCode::TOO_MANY_REQUESTS,
            Some(throttled.retry_after_secs()),
        ),
    }
}

/// The second step of a sign-in: TOTP, recovery code, passkey.
fn second_factor_page(state: &AppState, view: &SecondFactorView) -> HttpResponse {
    let (error, status, retry_after) = factor_problem(view.problem);
    let action = state.endpoint("/login/factor");
    let factor = SecondFactorPage {
        client_name: Some(&view.client_name),
        csrf_token: &view.csrf_token,
        form_action: &action,
        interaction_id: &view.step_id,
        has_totp: view.has_totp,
        has_recovery_codes: view.has_recovery_codes,
        passkey_request: view.passkey_request.as_deref(),
        error: error.as_deref(),
    };
    let res = page(factor.render(), factor.has_script());
    with_status(res, status, retry_after)
}

/// Enrolment of a first factor during a sign-in.
fn enrolment_page(state: &AppState, view: &EnrolmentView) -> HttpResponse {
    let (error, status, retry_after) = factor_problem(view.problem);
    let action = state.endpoint("/login/enrol");
    let enrolment = EnrolmentPage {
        client_name: Some(&view.client_name),
        csrf_token: &view.csrf_token,
        form_action: &action,
        interaction_id: &view.step_id,
        totp: TotpSetup {
            secret: &view.totp.secret,
            otpauth_uri: &view.totp.otpauth_uri,
        },
        passkey_creation: view.passkey_creation.as_deref(),
        error: error.as_deref(),
    };
    let res = page(enrolment.render(), enrolment.has_script());
    with_status(res, status, retry_after)
}

/// Fresh recovery codes: during a sign-in the page continues it, else it links back to the
/// account page.
fn recovery_codes_page(state: &AppState, view: &RecoveryCodesView) -> HttpResponse {
    let action = state.endpoint("/login/recovery-codes");
    let account = state.endpoint("/account/security");
    html(
        RecoveryCodesPage {
            codes: &view.codes,
            csrf_token: &view.csrf_token,
            form_action: &action,
            step_id: view.step_id.as_deref(),
            account_url: &account,
        }
        .render(),
    )
}

/// The account console's security page: the password panel and the user's factors.
fn account_security_page(state: &AppState, view: &AccountSecurityView) -> HttpResponse {
    use palisade_flow::console::account::PasswordProblem;
    use palisade_flow::interaction::SecurityMessage;
    let t = &palisade_pages::catalogue::account::EN;
    let password_problem: Option<std::borrow::Cow<'static, str>> =
        view.password_problem.map(|problem| match problem {
            PasswordProblem::NotYou => t.password_not_you.into(),
            PasswordProblem::Throttled { minutes } => {
                palisade_pages::catalogue::account::password_throttled(minutes).into()
            }
            PasswordProblem::Busy => t.busy.into(),
            PasswordProblem::Mismatch => t.password_mismatch.into(),
            PasswordProblem::TooShort => t.password_too_short.into(),
            PasswordProblem::TooLong => t.password_too_long.into(),
            PasswordProblem::Common => t.password_common.into(),
        });
    let said = |message: SecurityMessage| -> std::borrow::Cow<'static, str> {
        match message {
            SecurityMessage::TotpAdded => t.totp_added.into(),
            SecurityMessage::PasskeyAdded => t.passkey_added.into(),
            SecurityMessage::Renamed => t.renamed.into(),
            SecurityMessage::StaleSignIn => t.stale_sign_in.into(),
            SecurityMessage::WrongTotpCode => t.wrong_totp_code.into(),
            SecurityMessage::PasskeyNotRegistered => t.passkey_not_registered.into(),
            SecurityMessage::NameMissing => t.name_missing.into(),
            SecurityMessage::NoSuchFactor => t.no_such_factor.into(),
            SecurityMessage::RecoveryCodesNeedAFactor => t.recovery_codes_need_a_factor.into(),
            SecurityMessage::UnknownAction => t.unknown_action.into(),
            SecurityMessage::MustKeepAFactor => t.must_keep_a_factor_to_remove.into(),
            SecurityMessage::Busy => t.busy.into(),
            SecurityMessage::NotYou => t.not_you.into(),
            SecurityMessage::Throttled { minutes } => {
                palisade_pages::catalogue::account::throttled(minutes).into()
            }
        }
    };
    let factor_notice = view.notice.map(said);
    let factor_problem = view.problem.map(said);
    let notice = if view.password_changed {
        Some(t.password_changed)
    } else {
        factor_notice.as_deref()
    };
    let problem = password_problem.as_deref().or(factor_problem.as_deref());
    let action = state.endpoint("/account/security");
    let account = AccountSecurityPage {
        frame: crate::routes::console::frame(state, &view.frame, None, notice, problem),
        text: t,
        password_refused: password_problem.is_some(),
        csrf_token: &view.csrf_token,
        form_action: &action,
        factors: view
            .factors
            .iter()
            .map(|f| FactorItem {
                id: &f.id,
                kind: f.kind,
                name: &f.name,
                created_at: &f.created_at,
                last_used_at: f.last_used_at.as_deref(),
            })
            .collect(),
        recovery_codes_left: view.recovery_codes_left,
        totp: view.totp.as_ref().map(|t| TotpSetup {
            secret: &t.secret,
            otpauth_uri: &t.otpauth_uri,
        }),
        passkey_creation: view.passkey_creation.as_deref(),
        must_keep_a_factor: view.must_keep_a_factor,
    };
    page(account.render(), account.has_script())
}

/// The login form; a failed attempt shows one generic message, a throttled one says when to
/// come back (RFC 6585 §4, 429), a saturated hashing pool answers 503 (RFC 9110 §15.6.4).
fn login_page(state: &AppState, login: &LoginView) -> HttpResponse {
    let throttled_message;
    let (error, status, retry_after) = match login.problem {
        None => (None, StatusCode::OK, None),
        Some(LoginProblem::InvalidCredentials) => (Some(INVALID_CREDENTIALS), StatusCode::OK, None),
        Some(LoginProblem::Throttled(throttled)) => {
            throttled_message = self::throttled_message(throttled);
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
    let passkey_action = state.endpoint("/login/passkey");
    let login = LoginPage {
        client_name: Some(&login.client_name),
        username: &login.username,
        error,
        csrf_token: &login.csrf_token,
        form_action: &action,
        interaction_id: &login.step_id,
        passkey_request: login.passkey_request.as_deref(),
        passkey_action: &passkey_action,
    };
    with_status(
        page(login.render(), login.has_script()),
        status,
        retry_after,
    )
}

/// An error page with the refusal's status: 403 for a forged form, 429 and `Retry-After` for a
/// throttled source, else by error code.
pub fn refusal_page(refusal: &Refusal) -> HttpResponse {
    let page = error_page(&refusal.error);
    match refusal.status {
        RefusalStatus::ByCode => page,
        RefusalStatus::Forbidden => with_status(page, StatusCode::FORBIDDEN, None),
        // The page says to sign in; the console's middleware turns it into the redirect there.
        RefusalStatus::SignInFirst { second_factor } => {
            let mut page = with_status(page, StatusCode::UNAUTHORIZED, None);
            page.extensions_mut()
                .insert(crate::routes::console::sign_in::SignInFirst { second_factor });
            page
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security_headers::SCRIPT_CONTENT_SECURITY_POLICY;
    use std::time::Duration;

    fn policy(res: &HttpResponse) -> Option<&str> {
        res.headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .map(|v| v.to_str().unwrap())
    }

    #[test]
    fn only_a_page_that_loads_the_script_gets_the_policy_that_allows_it() {
        let scripted = page(Ok("<p>passkey</p>".into()), true);
        assert_eq!(policy(&scripted), Some(SCRIPT_CONTENT_SECURITY_POLICY));
        // The default headers add the script-free policy to everything else.
        assert_eq!(policy(&page(Ok("<p>plain</p>".into()), false)), None);
        let failed = page(Err(askama::Error::Fmt), true);
        assert_eq!(failed.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(policy(&failed), None, "an error is no page for a script");
    }

    #[test]
    fn every_wrong_factor_reads_the_same_and_a_throttled_one_says_when_to_come_back() {
        assert_eq!(factor_problem(None), (None, StatusCode::OK, None));
        assert_eq!(
            factor_problem(Some(FactorProblem::InvalidCode)),
            (Some(INVALID_FACTOR.to_owned()), StatusCode::OK, None)
        );
        let throttled = Throttled {
            retry_after: Duration::from_secs(61),
        };
        let (message, status, retry_after) =
            factor_problem(Some(FactorProblem::Throttled(throttled)));
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(retry_after, Some(61));
        assert_eq!(
            message.as_deref(),
            Some("Too many failed sign-in attempts. Try again in 2 minutes.")
        );
    }
}
