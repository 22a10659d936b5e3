//! What an interaction needs next: OIDC Core §3.1.2.1 (`prompt`, `max_age`), §3.1.2.3
//! (authentication), §3.1.2.4 (consent), §3.1.2.6 (`login_required`, `consent_required`).

use super::{Interaction, InteractionPage, Outcome, PendingAuthentication, Step};
use crate::authorize::{AuthorizationRequest, Ending, error_redirect};
use crate::mfa::Assurance;
use crate::prompt::MaxAge;
use crate::scope::ScopeSet;
use crate::server::AuthorizationServer;
use crate::session::BrowserSession;
use palisade_core::model::{Client, ClientId, Consent, User, UserId};
use palisade_core::{ErrorCode, OAuthError, StoreError};

/// What a sign-in still lacks in factors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FactorNeed {
    Satisfied,
    /// Prove a factor the user has (a step-up when the user holds a session).
    SecondFactor,
    /// Enrol a first factor.
    Enrolment,
}

impl Interaction {
    /// The interaction as stored for `page`: the factor pages work on a pending sign-in, which
    /// for a session being stepped up is the session's.
    pub(crate) fn awaiting(
        mut self,
        page: InteractionPage,
        session: Option<&BrowserSession>,
    ) -> Self {
        let works_on_pending = matches!(
            page,
            InteractionPage::SecondFactor | InteractionPage::Enrolment
        );
        if works_on_pending
            && self.pending.is_none()
            && let Some(session) = session
        {
            self.pending = Some(PendingAuthentication {
                user_id: session.user_id.clone(),
                amr: session.amr.clone(),
                complete: false,
                enrolment: false,
            });
        }
        if let Some(pending) = self.pending.as_mut() {
            pending.enrolment = page == InteractionPage::Enrolment;
        }
        self
    }
}

/// What the browser must do next for an interaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NextStep {
    /// The user must act on one of our pages.
    Page(InteractionPage),
    /// Back to the client (with a code, or with an error such as `login_required`).
    RedirectToClient(String),
    /// A device's request was approved (RFC 8628 §3.3): the page that says so.
    DeviceApproved(super::DeviceDoneView),
    /// A console sign-in is done: back to this console page.
    ToConsole(String),
}

/// Whether an operator made this client. One that registered itself (RFC 7591) carries a
/// registration access token and has not been vetted, nor has one known only by its metadata
/// document's URL: the consent page says so, and neither ever counts as trusted
/// (docs/threat-model.md RG-07).
pub fn is_operator_vetted(client: &Client) -> bool {
    client.registration_access_token_hash.is_none() && !client.is_metadata_document()
}

impl AuthorizationServer {
    /// Decides the next step for `interaction` given the browser's session.
    ///
    /// Login is needed without a session (or for a disabled user, or after an account event
    /// voided the session's sign-in), and with `prompt=login` or
    /// an exceeded `max_age` unless the user just logged in. Consent is needed with
    /// `prompt=consent` or when no remembered consent covers the scopes, unless given just now.
    /// With `prompt=none` either need becomes `login_required` / `consent_required`. When
    /// nothing is needed the code is issued.
    pub(crate) async fn next_step(
        &self,
        interaction: &Interaction,
        session: Option<&BrowserSession>,
    ) -> Result<NextStep, OAuthError> {
        let request = &interaction.request;
        let now = self.clock.now();
        let user = match session {
            Some(s) => self.user_signed_in_at(&s.user_id, s.auth_time).await?,
            None => None,
        };
        let reauthenticate = session.is_some_and(|s| {
            request.prompt.requires_login()
                || request.max_age.is_some_and(|secs| {
                    let auth_time = chrono::DateTime::from_timestamp(s.auth_time, 0).unwrap_or(now);
                    MaxAge::from_secs(secs).requires_reauthentication(auth_time, now)
                })
        });
        let (Some(user), Some(session)) = (user, session) else {
            return Ok(self.needs(request, InteractionPage::Login, ErrorCode::LoginRequired));
        };
        let signed_in_here = interaction.signed_in_during(session);
        if reauthenticate && !signed_in_here {
            return Ok(self.needs(request, InteractionPage::Login, ErrorCode::LoginRequired));
        }
        // A sign-in made during this interaction already ended with every factor the request
        // needs (interaction/sign_in.rs decided), so only an older session is asked again.
        let factor_need = if signed_in_here {
            FactorNeed::Satisfied
        } else {
            self.factor_need(request, &user, &session.amr).await?
        };
        match factor_need {
            FactorNeed::Satisfied => {}
            FactorNeed::SecondFactor => {
                return Ok(self.needs(
                    request,
                    InteractionPage::SecondFactor,
                    ErrorCode::LoginRequired,
                ));
            }
            FactorNeed::Enrolment => {
                return Ok(self.needs(
                    request,
                    InteractionPage::Enrolment,
                    ErrorCode::InteractionRequired,
                ));
            }
        }
        // The console is the server's own page: there is no client to consent to.
        if let Ending::Console(back) = &request.ends_in {
            return Ok(NextStep::ToConsole(back.path.clone()));
        }
        if !interaction.consented_during {
            let remembered = self
                .consents
                .find_consent(&user.id, &ClientId(request.client_id.clone()))
                .await?;
            let covered = remembered.is_some_and(|c| {
                let granted = ScopeSet::from_tokens(c.scopes).unwrap_or_default();
                request.scope.is_subset_of(&granted)
            });
            if request.prompt.requires_consent() || !covered {
                return Ok(self.needs(
                    request,
                    InteractionPage::Consent,
                    ErrorCode::ConsentRequired,
                ));
            }
        }
        match &request.ends_in {
            Ending::RedirectWithCode => self
                .issue_code(request, &user, session)
                .await
                .map(NextStep::RedirectToClient),
            Ending::ApproveDevice(device) => self
                .approve_device(request, device, &user, session)
                .await
                .map(NextStep::DeviceApproved),
            Ending::Console(back) => Ok(NextStep::ToConsole(back.path.clone())),
        }
    }

    /// What a sign-in with `amr` still lacks for `request` (docs/mfa.md "When a second factor
    /// is asked for"). More than one factor is needed when the server, the client, one of the
    /// user's roles or an essential `acr` claim requires it (enforced), or when `acr_values`
    /// prefers it (voluntary). A user who has a factor then proves it; a user who has none
    /// enrols one when the need is enforced, and goes on at one factor when it is voluntary.
    pub(crate) async fn factor_need(
        &self,
        request: &AuthorizationRequest,
        user: &User,
        amr: &[String],
    ) -> Result<FactorNeed, OAuthError> {
        if Assurance::of_amr(amr) == Assurance::MultiFactor {
            return Ok(FactorNeed::Satisfied);
        }
        let enforced = self.mfa_enforced(request, user).await?;
        let preferred = request.acr.preferred == Some(Assurance::MultiFactor);
        if !enforced && !preferred {
            return Ok(FactorNeed::Satisfied);
        }
        let has_factor = !self.factors.list_factors(&user.id).await?.is_empty();
        Ok(match (has_factor, enforced) {
            (true, _) => FactorNeed::SecondFactor,
            (false, true) => FactorNeed::Enrolment,
            (false, false) => FactorNeed::Satisfied,
        })
    }

    /// Whether this sign-in must end with more than one factor, whatever the user has: the
    /// cheap rules first, the user's roles (a query) last.
    pub(crate) async fn mfa_enforced(
        &self,
        request: &AuthorizationRequest,
        user: &User,
    ) -> Result<bool, OAuthError> {
        if self.policy.mfa_required
            || request.client_requires_mfa
            || request.acr.required == Some(Assurance::MultiFactor)
        {
            return Ok(true);
        }
        Ok(self
            .roles
            .roles_require_mfa(&user.id, self.clock.now())
            .await?)
    }

    /// The interactive page, or under `prompt=none` the error that replaces it.
    fn needs(
        &self,
        request: &AuthorizationRequest,
        page: InteractionPage,
        silent_error: ErrorCode,
    ) -> NextStep {
        if request.prompt.is_none() {
            let error = OAuthError::new(silent_error, "user interaction is required");
            NextStep::RedirectToClient(self.error_redirect_for(request, &error))
        } else {
            NextStep::Page(page)
        }
    }

    /// After a step was taken: back to the client, or on to the next page under a fresh step
    /// id (the old one is spent). An error after the redirect URI was verified goes back to
    /// the client.
    pub(crate) async fn advance(
        &self,
        interaction: Interaction,
        session: &BrowserSession,
    ) -> Outcome {
        let request = interaction.request.clone();
        let next = match self.next_step(&interaction, Some(session)).await {
            Ok(next) => next,
            Err(error) => return self.redirect_error(&request, &error).into(),
        };
        match next {
            NextStep::RedirectToClient(location) => Step::RedirectToClient(location).into(),
            NextStep::DeviceApproved(done) => Step::Show(super::View::DeviceDone(done)).into(),
            NextStep::ToConsole(path) => Step::ToConsole(path).into(),
            NextStep::Page(page) => match self
                .store_step(interaction.awaiting(page, Some(session)))
                .await
            {
                Ok(step) => Step::Continue {
                    page,
                    step_id: step.id,
                }
                .into(),
                Err(error) => self.redirect_error(&request, &error).into(),
            },
        }
    }

    /// Remembers that `user` allowed the request's scopes for its client (added to any earlier
    /// consent).
    pub(crate) async fn record_consent(
        &self,
        user: &UserId,
        request: &AuthorizationRequest,
    ) -> Result<(), StoreError> {
        let client_id = ClientId(request.client_id.clone());
        let mut scopes = self
            .consents
            .find_consent(user, &client_id)
            .await?
            .map(|c| c.scopes)
            .unwrap_or_default();
        for s in request.scope.iter() {
            if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_owned());
            }
        }
        self.consents
            .save_consent(Consent {
                user_id: user.clone(),
                client_id,
                scopes,
                granted_at: self.clock.now(),
            })
            .await
    }

    /// The redirect for a user who declined (RFC 6749 §4.1.2.1 `access_denied`).
    pub(crate) fn denied_redirect(&self, request: &AuthorizationRequest) -> String {
        self.error_redirect_for(
            request,
            &OAuthError::access_denied("the user declined the request"),
        )
    }

    /// The redirect for a failure after the redirect URI was verified.
    pub(crate) fn error_redirect_for(
        &self,
        request: &AuthorizationRequest,
        error: &OAuthError,
    ) -> String {
        error_redirect(
            &self.issuer,
            &request.redirect_uri,
            request.state.as_deref(),
            error,
        )
    }

    /// [`Self::error_redirect_for`] as a step, logged (the client sees only the code).
    pub(crate) fn redirect_error(
        &self,
        request: &AuthorizationRequest,
        error: &OAuthError,
    ) -> Step {
        log_refusal(error);
        match request.ends_in {
            Ending::RedirectWithCode => {
                Step::RedirectToClient(self.error_redirect_for(request, error))
            }
            // A device's request and a console sign-in have no redirect URI: the error is
            // shown where the user is.
            Ending::ApproveDevice(_) | Ending::Console(_) => Step::Refuse(super::Refusal::page(
                OAuthError::new(error.code, error.description.clone()),
            )),
        }
    }
}

/// Logs an error sent to the client or shown on a page, with its private cause, at a level
/// fitting its kind.
pub fn log_refusal(error: &OAuthError) {
    match error.code {
        ErrorCode::ServerError => {
            tracing::error!(code = %error.code, cause = ?error.cause().map(ToString::to_string), "request failed")
        }
        ErrorCode::TemporarilyUnavailable => {
            tracing::warn!(code = %error.code, cause = ?error.cause().map(ToString::to_string), "storage unavailable")
        }
        _ => {
            tracing::info!(code = %error.code, description = %error.description, "request refused")
        }
    }
}
