//! What an interaction step answers: the typed outcome the HTTP layer renders. The views are
//! plain data (no HTML, no HTTP); `palisade-pages` turns them into pages.

use crate::guard::Throttled;
use palisade_core::OAuthError;
use std::time::Duration;

/// The answer to one browser request, and the cookies it changes.
#[derive(Debug)]
pub struct Outcome {
    pub step: Step,
    pub cookies: CookieChanges,
}

impl Outcome {
    pub(crate) fn new(step: Step) -> Self {
        Self {
            step,
            cookies: CookieChanges::default(),
        }
    }
}

impl From<Step> for Outcome {
    fn from(step: Step) -> Self {
        Self::new(step)
    }
}

impl From<Refusal> for Outcome {
    fn from(refusal: Refusal) -> Self {
        Self::new(Step::Refuse(refusal))
    }
}

/// What the browser sees next.
#[derive(Debug)]
pub enum Step {
    /// Render this page.
    Show(View),
    /// Go to our own page for this interaction (`/login?interaction=…`, `/consent?…`).
    Continue {
        page: InteractionPage,
        step_id: String,
    },
    /// Back to the client: a verified redirect URI carrying a code or an error, or a
    /// registered post-logout redirect URI.
    RedirectToClient(String),
    /// An error page; nothing is sent to the client.
    Refuse(Refusal),
}

/// Our pages an interaction moves between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionPage {
    Login,
    Consent,
}

impl InteractionPage {
    /// The page's path, relative to the issuer.
    pub fn path(self) -> &'static str {
        match self {
            Self::Login => "/login",
            Self::Consent => "/consent",
        }
    }
}

/// A page to render and its view model.
#[derive(Debug)]
pub enum View {
    Login(LoginView),
    Consent(ConsentView),
    LogoutConfirm(LogoutConfirmView),
    LoggedOut,
}

/// The login form of one step.
#[derive(Debug)]
pub struct LoginView {
    pub client_name: String,
    /// Prefilled: `login_hint`, or what was typed before a failed attempt.
    pub username: String,
    pub problem: Option<LoginProblem>,
    pub csrf_token: String,
    pub step_id: String,
}

/// Why the login form is shown again. Every wrong-credential case is one variant, so the page
/// cannot tell an unknown user from a wrong password (docs/threat-model.md LF-02).
#[derive(Debug, Clone, Copy)]
pub enum LoginProblem {
    InvalidCredentials,
    /// Too many failures from this address (429 + `Retry-After`).
    Throttled(Throttled),
    /// Every hashing permit is held (503 + `Retry-After`).
    Busy {
        retry_after: Duration,
    },
}

/// One requested scope, in words.
#[derive(Debug, Clone)]
pub struct ScopeDescription {
    pub name: String,
    pub description: String,
}

/// The consent page of one step.
#[derive(Debug)]
pub struct ConsentView {
    pub client_name: String,
    pub scopes: Vec<ScopeDescription>,
    /// `false` for a client that registered itself: the page warns the user (RG-07).
    pub is_client_verified: bool,
    pub csrf_token: String,
    pub step_id: String,
    /// Who is signed in (display name, else username).
    pub user_display: String,
}

/// The "sign out?" question of RP-initiated logout.
#[derive(Debug)]
pub struct LogoutConfirmView {
    pub csrf_token: String,
    pub client_name: Option<String>,
    /// Parameters carried to the confirmation POST.
    pub hidden_fields: Vec<(&'static str, String)>,
}

/// A refusal shown on an error page.
#[derive(Debug)]
pub struct Refusal {
    pub error: OAuthError,
    pub status: RefusalStatus,
}

/// How a refusal is answered beyond its error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalStatus {
    /// The status follows the error code (400, or 503 for storage trouble).
    ByCode,
    /// A forged or cross-site form (403).
    Forbidden,
    /// Too many interactions started from this source (429 + `Retry-After`).
    Throttled(Throttled),
}

impl Refusal {
    pub fn page(error: OAuthError) -> Self {
        Self {
            error,
            status: RefusalStatus::ByCode,
        }
    }

    /// Too many interactions from this source: `temporarily_unavailable` with 429.
    pub fn throttled(throttled: Throttled) -> Self {
        Self {
            error: OAuthError::new(
                palisade_core::ErrorCode::TemporarilyUnavailable,
                "too many sign-ins were started from your network; try again later",
            ),
            status: RefusalStatus::Throttled(throttled),
        }
    }

    pub fn forbidden(error: OAuthError) -> Self {
        Self {
            error,
            status: RefusalStatus::Forbidden,
        }
    }
}

/// Cookies an outcome sets or clears.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CookieChanges {
    /// A new browser-binding value (the browser had none and an interaction was stored).
    pub browser: Option<String>,
    /// A new login-session id (after a login: always a new one, against session fixation).
    pub session: Option<String>,
    /// The session cookie must be cleared (after a logout).
    pub clear_session: bool,
}
