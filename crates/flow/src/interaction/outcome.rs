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
    /// To a page of our own consoles (a path relative to the issuer, checked by
    /// [`crate::console::sign_in::ConsoleReturn`]): where a console sign-in ends.
    ToConsole(String),
}

/// Our pages an interaction moves between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteractionPage {
    Login,
    /// The second step of a sign-in: TOTP, passkey or recovery code (also step-up).
    SecondFactor,
    /// Enrolment of a first factor, when the user must have one and has none.
    Enrolment,
    Consent,
}

impl InteractionPage {
    /// The page's path, relative to the issuer.
    pub fn path(self) -> &'static str {
        match self {
            Self::Login => "/login",
            Self::SecondFactor => "/login/factor",
            Self::Enrolment => "/login/enrol",
            Self::Consent => "/consent",
        }
    }
}

/// A page to render and its view model.
#[derive(Debug)]
pub enum View {
    Login(LoginView),
    SecondFactor(SecondFactorView),
    Enrolment(EnrolmentView),
    /// Fresh recovery codes, shown once (after an enrolment during sign-in, or on the account
    /// page).
    RecoveryCodes(RecoveryCodesView),
    Consent(ConsentView),
    LogoutConfirm(LogoutConfirmView),
    LoggedOut,
    /// The signed-in user's factors (`/account/security`).
    AccountSecurity(AccountSecurityView),
    /// A page of the self-service account console.
    Account(crate::console::account::AccountView),
    /// A page of the admin console (users, clients, keys, audit).
    Admin(crate::console::admin::AdminView),
    /// A page of the admin console's roles and access reviews.
    Roles(crate::console::roles::RolesView),
    /// The account console's sessions page.
    Sessions(crate::console::sessions::SessionsView),
    /// The user's activity, or the admin console's audit log.
    Audit(crate::console::audit::AuditView),
    /// The admin console's signing keys.
    Keys(crate::console::keys::KeysView),
    /// The user-code form of the device flow (`/device`, RFC 8628 §3.3).
    DeviceEntry(DeviceEntryView),
    /// Where a device interaction ends: the device is connected, or was denied.
    DeviceDone(DeviceDoneView),
}

/// The user-code form (`POST /device` with `user_code` and `csrf_token`).
#[derive(Debug)]
pub struct DeviceEntryView {
    /// Prefilled: `?user_code=` (from `verification_uri_complete`) or what was typed before.
    pub user_code: String,
    pub csrf_token: String,
    pub problem: Option<DeviceEntryProblem>,
}

/// Why the user-code form is shown again.
#[derive(Debug, Clone, Copy)]
pub enum DeviceEntryProblem {
    /// Unknown, expired, already used or malformed: one message for all.
    UnknownCode,
    /// Too many wrong codes from this address (429 + `Retry-After`).
    Throttled(Throttled),
}

/// The end of a device interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceDoneView {
    pub client_name: String,
    /// `true`: the device gets its tokens at its next poll; `false`: the user denied it.
    pub is_approved: bool,
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
    /// `PublicKeyCredentialRequestOptions` for a passwordless sign-in with a discoverable
    /// passkey (JSON, as `navigator.credentials.get` takes it after
    /// `PublicKeyCredential.parseRequestOptionsFromJSON`); posted back to `/login/passkey`.
    pub passkey_request: Option<String>,
}

/// The second step of a sign-in, or a step-up on an existing session.
#[derive(Debug)]
pub struct SecondFactorView {
    pub client_name: String,
    pub csrf_token: String,
    pub step_id: String,
    /// Offer the TOTP code field.
    pub has_totp: bool,
    /// Offer the recovery-code field.
    pub has_recovery_codes: bool,
    /// Request options for the user's passkeys (JSON), when the user has any.
    pub passkey_request: Option<String>,
    pub problem: Option<FactorProblem>,
}

/// Why a factor form is shown again. One variant for every wrong answer (code, recovery code,
/// passkey, locked account), as on the login form.
#[derive(Debug, Clone, Copy)]
pub enum FactorProblem {
    InvalidCode,
    /// Too many failures from this address (429 + `Retry-After`).
    Throttled(Throttled),
}

/// A TOTP authenticator being set up: the secret as text and as the `otpauth://` URI that the
/// page turns into a QR code.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    /// Base32 (RFC 4648), in groups of four for reading aloud or typing.
    pub secret: String,
    /// `otpauth://totp/...` (the Key Uri Format every authenticator app reads).
    pub otpauth_uri: String,
}

/// The enrolment page of a sign-in: set up a TOTP app, or register a passkey.
#[derive(Debug)]
pub struct EnrolmentView {
    pub client_name: String,
    pub csrf_token: String,
    pub step_id: String,
    pub totp: TotpSetup,
    /// `PublicKeyCredentialCreationOptions` (JSON) for `navigator.credentials.create`.
    pub passkey_creation: Option<String>,
    pub problem: Option<FactorProblem>,
}

/// Recovery codes shown once, and where the page's "continue" form posts.
#[derive(Debug)]
pub struct RecoveryCodesView {
    pub codes: Vec<String>,
    pub csrf_token: String,
    /// `Some(step)`: during a sign-in, the form posts `interaction_id` to
    /// `/login/recovery-codes`; `None`: on the account page, it links back there.
    pub step_id: Option<String>,
}

/// One enrolled factor, as the account page lists it.
#[derive(Debug, Clone)]
pub struct FactorLine {
    pub id: String,
    /// `totp` or `passkey`.
    pub kind: &'static str,
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// The account's second factors (`/account/security`). Every form posts to
/// `/account/security` with `csrf_token` and an `action`.
#[derive(Debug)]
pub struct AccountSecurityView {
    /// The account console's frame (its CSRF token is the one every form carries).
    pub frame: crate::console::Frame,
    pub csrf_token: String,
    pub factors: Vec<FactorLine>,
    pub recovery_codes_left: u32,
    /// A TOTP setup in progress (after `action=totp-start`).
    pub totp: Option<TotpSetup>,
    /// Creation options for adding a passkey (JSON).
    pub passkey_creation: Option<String>,
    /// The outcome of the last action (its words are in the pages' catalogue).
    pub notice: Option<SecurityMessage>,
    pub problem: Option<SecurityMessage>,
    /// Whether the user must keep at least one factor (policy): the page says so.
    pub must_keep_a_factor: bool,
    /// The password panel: changed (every other session and application signed out), or why
    /// not.
    pub password_changed: bool,
    pub password_problem: Option<crate::console::account::PasswordProblem>,
}

/// What the security page says after an action on a factor or the recovery codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityMessage {
    TotpAdded,
    PasskeyAdded,
    Renamed,
    /// Adding a factor needs a recent sign-in.
    StaleSignIn,
    WrongTotpCode,
    PasskeyNotRegistered,
    NameMissing,
    NoSuchFactor,
    /// Recovery codes without any factor to stand in for.
    RecoveryCodesNeedAFactor,
    UnknownAction,
    /// The last factor of a user whom policy requires to have one.
    MustKeepAFactor,
    /// No hashing slot free for the password check.
    Busy,
    /// The password or code given to confirm it is the user was not right.
    NotYou,
    Throttled {
        minutes: u64,
    },
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
    /// For a client known by its metadata document's URL, that URL's host: the only thing
    /// about such a client the user can check (its name is whatever the document says).
    pub document_host: Option<String>,
    pub csrf_token: String,
    pub step_id: String,
    /// Who is signed in (display name, else username).
    pub user_display: String,
    /// For a device's request: the user code, to compare with the device (RFC 8628 §5.4).
    pub user_code: Option<String>,
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
    /// A console page for a visitor who must sign in first (with a second factor when
    /// `second_factor`): the HTTP layer sends them to the console's sign-in, which brings them
    /// back to the page they asked for.
    SignInFirst { second_factor: bool },
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

    /// A console page needs a sign-in (with a second factor when `second_factor`).
    pub fn sign_in_first(error: OAuthError, second_factor: bool) -> Self {
        Self {
            error,
            status: RefusalStatus::SignInFirst { second_factor },
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
