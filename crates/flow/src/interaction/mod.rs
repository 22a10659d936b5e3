//! The browser interaction: everything between `/authorize` and the redirect back, as a state
//! machine the HTTP layer only drives. OIDC Core §3.1.2.3-3.1.2.4 (login and consent as named
//! prompts), RFC 6749 §4.1.2, OpenID Connect RP-Initiated Logout 1.0.
//!
//! An interaction started at `/device` (RFC 8628, [`crate::device`]) walks the same pages and
//! ends in approving or denying a device instead of a redirect: the request carries what it
//! ends in ([`crate::authorize::Ending`]).
//!
//! Each entry point takes what the browser sent (a [`Browser`] and the parsed parameters) and
//! returns an [`Outcome`]: show a page (with its view model), continue to our next page, redirect
//! to the client, or refuse with an error page, plus the cookies to change. The routes parse,
//! call and respond; every rule (prompt handling, `max_age`, session fixation, consent, the
//! verified-client rule, limits) lives here.
//!
//! **Steps are single-use.** An interaction waiting for the user is stored under a *step id*, an
//! unguessable value that appears in the page's URL and form. Submitting a step takes the stored
//! interaction out of the ephemeral store atomically ([`EphemeralStore::take`]): of N
//! concurrent identical submissions exactly one proceeds (one session, one code), and the
//! others find nothing and get an error page. When the user still has something to do, the
//! interaction is stored again under a *fresh* step id, so an old form can never be replayed
//! against the new state. A failed login (wrong password, throttled, busy) puts the interaction
//! back under the same step id so the user can try again.
//!
//! **Interactions are bounded** (docs/threat-model.md AZ-11): starting one is
//! limited per source address and network ([`crate::guard::CredentialGuard::admit_interaction`]),
//! a browser that already holds an open interaction for the same request gets it back, and an
//! interaction's stored size is capped.
//!
//! Each step is bound to the browser that started it (a hash of the browser-binding cookie), so
//! a form can only be completed by the browser that was sent to it (login CSRF).
//!
//! [`EphemeralStore::take`]: palisade_core::ports::EphemeralStore::take

pub(crate) mod admission;
mod code;
mod consent;
pub(crate) mod decision;
mod enrolment;
mod forms;
mod login;
mod logout;
mod outcome;
mod second_factor;
mod sign_in;
mod start;

pub(crate) use code::{code_key, grant_id_of, used_key};
pub use consent::{ConsentDecision, ConsentSubmission};
pub use decision::{is_operator_vetted, log_refusal};
pub use forms::{
    AccountAction, AccountSubmission, EnrolmentAnswer, EnrolmentSubmission, FactorAnswer,
    FactorSubmission, PasskeySignIn, Reauthentication, StepSubmission,
};
pub use login::LoginSubmission;
pub use outcome::{
    AccountSecurityView, ConsentView, CookieChanges, DeviceDoneView, DeviceEntryProblem,
    DeviceEntryView, EnrolmentView, FactorLine, FactorProblem, InteractionPage, LoginProblem,
    LoginView, LogoutConfirmView, Outcome, RecoveryCodesView, Refusal, RefusalStatus,
    ScopeDescription, SecondFactorView, SecurityMessage, Step, TotpSetup, View,
};

use crate::authorize::AuthorizationRequest;
use crate::server::{AuthorizationServer, ttl};
use palisade_core::{OAuthError, StoreError, TokenHash};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What the HTTP layer knows of the browser behind a request.
#[derive(Debug, Clone, Default)]
pub struct Browser {
    /// The browser-binding cookie's value, if the browser sent one.
    pub binding: Option<String>,
    /// The login-session cookie's value, if the browser sent one.
    pub session: Option<String>,
    /// The client's address (the socket peer, or the right-most untrusted forwarded hop).
    pub client_ip: Option<IpAddr>,
    /// The `User-Agent` header, as sent (the session index cleans it).
    pub user_agent: Option<String>,
}

/// An authorization request waiting for the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub request: AuthorizationRequest,
    /// Hidden in every form of this interaction and checked on every POST.
    pub csrf_token: String,
    /// Hash of the browser-binding cookie value.
    pub browser_binding: TokenHash,
    /// Unix seconds when `/authorize` started it: the interaction lives `interaction_ttl` from
    /// then, however often a failed login puts it back.
    pub started_at: i64,
    /// Set when the user signed in during this interaction (then `prompt=login`, `max_age`
    /// and the factors the request needs are satisfied, or the user would loop forever): which
    /// session that sign-in made, as the hash of its CSRF token (a per-session secret). It
    /// counts only for that session, not for one the browser swapped in meanwhile (in another
    /// tab, as another user).
    #[serde(default)]
    pub signed_in_session: Option<TokenHash>,
    /// Set when the user allowed the request on the consent page of this interaction.
    pub consented_during: bool,
    /// A sign-in under way: the user proved a first factor (or holds a session that must be
    /// stepped up) and has a second factor, or an enrolment, still to do.
    #[serde(default)]
    pub pending: Option<PendingAuthentication>,
}

/// A sign-in that has not made a session yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingAuthentication {
    pub user_id: String,
    /// RFC 8176 methods proved so far (`pwd`, then e.g. `otp` and `mfa`).
    pub amr: Vec<String>,
    /// Every factor the sign-in needs is proved: only showing the recovery codes of a new
    /// enrolment is left.
    #[serde(default)]
    pub complete: bool,
    /// The sign-in was sent to enrol a first factor (the user had none and one is required).
    /// Only then may the enrolment page add one: a password holder at the second-factor page
    /// must not enrol a factor of their own instead of proving the user's.
    #[serde(default)]
    pub enrolment: bool,
}

impl Interaction {
    /// A new interaction for `request`, bound to the browser whose binding cookie is `binding`,
    /// started now (by `/authorize` or by a user code entered at `/device`).
    pub(crate) fn start(
        server: &AuthorizationServer,
        request: AuthorizationRequest,
        binding: &str,
    ) -> Self {
        Self {
            request,
            csrf_token: server.secrets.token(),
            browser_binding: TokenHash::of(binding),
            started_at: server.clock.now().timestamp(),
            signed_in_session: None,
            consented_during: false,
            pending: None,
        }
    }

    /// Whether `session` is the one a sign-in during this interaction made: then `prompt=login`,
    /// `max_age` and the factors the request needs were all settled by that sign-in.
    pub(crate) fn signed_in_during(&self, session: &crate::session::BrowserSession) -> bool {
        self.signed_in_session
            .as_ref()
            .is_some_and(|made| made.matches(&session.csrf_token))
    }
}

/// An interaction as stored, together with the step id that names it.
#[derive(Debug, Clone)]
pub(crate) struct PendingStep {
    pub id: String,
    pub interaction: Interaction,
}

/// The most an interaction may take in the store. Every free-form parameter is capped at
/// validation (`state`, `nonce`, `login_hint`) and the rest is bounded by the client's
/// registration; this is the last line, so no request can make one flood key expensive.
pub const MAX_INTERACTION_BYTES: usize = 16 * 1024;

fn step_key(step_id: &str) -> String {
    format!("interaction:{}", TokenHash::of(step_id).as_str())
}

/// The refusal for a step that is gone: expired, opened in another browser, or already used.
pub(crate) fn step_gone() -> Refusal {
    Refusal::page(OAuthError::invalid_request(
        "this sign-in request has expired, was already completed, or was opened in another browser; go back to the application and start again",
    ))
}

/// The refusal for a form whose CSRF token is not its step's.
pub(crate) fn forged_form() -> Refusal {
    Refusal::forbidden(OAuthError::access_denied(
        "the form has expired; reload the page",
    ))
}

/// Compares a submitted CSRF token with the expected one in constant time.
pub(crate) fn csrf_matches(expected: &str, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|s| TokenHash::of(expected).matches(s))
}

impl AuthorizationServer {
    /// `GET` of one of the interaction's pages, for step `step_id`.
    pub async fn show_page(
        &self,
        page: InteractionPage,
        step_id: Option<&str>,
        browser: &Browser,
    ) -> Outcome {
        match page {
            InteractionPage::Login => self.show_login(step_id, browser).await,
            InteractionPage::SecondFactor => self.show_second_factor(step_id, browser).await,
            InteractionPage::Enrolment => self.show_enrolment(step_id, browser).await,
            InteractionPage::Consent => self.show_consent(step_id, browser).await,
        }
    }

    /// Stores `interaction` under a fresh step id for what is left of its lifetime.
    pub(crate) async fn store_step(
        &self,
        interaction: Interaction,
    ) -> Result<PendingStep, OAuthError> {
        let step = PendingStep {
            id: self.secrets.token(),
            interaction,
        };
        self.put_step(&step).await?;
        Ok(step)
    }

    /// What is left of `interaction`'s lifetime (negative once it is over).
    fn interaction_left(&self, interaction: &Interaction) -> chrono::Duration {
        let ends_at = interaction.started_at + self.policy.interaction_ttl.num_seconds();
        chrono::Duration::seconds(ends_at - self.clock.now().timestamp())
    }

    /// How long what belongs to `interaction`'s current step (a ceremony, a TOTP secret being
    /// set up) may be kept: the rest of the interaction's lifetime.
    pub(crate) fn step_time_left(&self, interaction: &Interaction) -> std::time::Duration {
        ttl(self.interaction_left(interaction))
    }

    /// Stores `step` under its id (a new step, or one put back after a failed login).
    pub(crate) async fn put_step(&self, step: &PendingStep) -> Result<(), OAuthError> {
        let bytes = serde_json::to_vec(&step.interaction).map_err(OAuthError::server_error)?;
        if bytes.len() > MAX_INTERACTION_BYTES {
            return Err(OAuthError::invalid_request(
                "the authorization request is too large",
            ));
        }
        let left = self.interaction_left(&step.interaction);
        if left <= chrono::Duration::zero() {
            return Err(step_gone().error);
        }
        self.ephemeral
            .put(&step_key(&step.id), &bytes, ttl(left))
            .await
            .map_err(OAuthError::from)
    }

    /// The step `id`, if it is stored and belongs to `browser`; it stays stored.
    pub(crate) async fn peek_step(
        &self,
        id: Option<&str>,
        browser: &Browser,
    ) -> Result<Option<PendingStep>, StoreError> {
        let Some(id) = id.filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let bytes = self.ephemeral.get(&step_key(id)).await?;
        Ok(self.owned_by(id, bytes, browser))
    }

    /// The step `id` of this browser, for showing its page.
    pub(crate) async fn open_step(
        &self,
        id: Option<&str>,
        browser: &Browser,
    ) -> Result<PendingStep, Refusal> {
        match self.peek_step(id, browser).await {
            Ok(Some(step)) => Ok(step),
            Ok(None) => Err(step_gone()),
            Err(e) => Err(Refusal::page(e.into())),
        }
    }

    /// The step a posted form names, if it is this browser's and the form carries the step's
    /// CSRF token (else 403). It stays stored: [`Self::claim_step`] spends it.
    pub(crate) async fn posted_step(
        &self,
        id: Option<&str>,
        csrf_token: Option<&str>,
        browser: &Browser,
    ) -> Result<PendingStep, Refusal> {
        let step = self.open_step(id, browser).await?;
        if !csrf_matches(&step.interaction.csrf_token, csrf_token) {
            return Err(forged_form());
        }
        Ok(step)
    }

    /// Spends `step`: of concurrent submissions exactly one gets it back, the others find it
    /// gone.
    pub(crate) async fn claim_step(
        &self,
        step: &PendingStep,
        browser: &Browser,
    ) -> Result<PendingStep, Refusal> {
        match self.take_step(&step.id, browser).await {
            Ok(Some(step)) => Ok(step),
            Ok(None) => Err(step_gone()),
            Err(e) => Err(Refusal::page(e.into())),
        }
    }

    /// Takes the step `id` out of the store: of concurrent callers at most one gets it.
    async fn take_step(
        &self,
        id: &str,
        browser: &Browser,
    ) -> Result<Option<PendingStep>, StoreError> {
        let bytes = self.ephemeral.take(&step_key(id)).await?;
        Ok(self.owned_by(id, bytes, browser))
    }

    /// A stored interaction, if it parses, has not outlived its lifetime by our clock, and
    /// belongs to `browser`.
    fn owned_by(&self, id: &str, bytes: Option<Vec<u8>>, browser: &Browser) -> Option<PendingStep> {
        let interaction = serde_json::from_slice::<Interaction>(&bytes?).ok()?;
        let age = self.clock.now().timestamp() - interaction.started_at;
        let is_live = age <= self.policy.interaction_ttl.num_seconds();
        let is_same_browser = browser
            .binding
            .as_deref()
            .is_some_and(|b| interaction.browser_binding.matches(b));
        (is_live && is_same_browser).then(|| PendingStep {
            id: id.to_owned(),
            interaction,
        })
    }
}

#[cfg(test)]
mod factor_tests;
#[cfg(test)]
mod tests;
