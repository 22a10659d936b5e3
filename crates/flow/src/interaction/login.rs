//! The login step: OIDC Core §3.1.2.3. The form is shown for a step; submitting it takes the
//! step (single-use), checks the credentials under the guard ([`crate::login`]), and on
//! success starts a new session (session fixation) and advances.

use super::sign_in::ceremony_key;
use super::{
    Browser, LoginProblem, LoginView, Outcome, PendingAuthentication, PendingStep, Refusal, Step,
    View,
};
use crate::guard::AttemptContext;
use crate::login::CredentialCheck;
use crate::mfa::assurance::amr;
use crate::server::AuthorizationServer;
use palisade_core::Secret;

/// A submitted login form.
#[derive(Debug)]
pub struct LoginSubmission<'a> {
    pub step_id: Option<&'a str>,
    pub csrf_token: Option<&'a str>,
    pub username: &'a str,
    pub password: Secret,
}

impl AuthorizationServer {
    /// `GET /login`: the form for step `step_id`.
    pub async fn show_login(&self, step_id: Option<&str>, browser: &Browser) -> Outcome {
        match self.open_step(step_id, browser).await {
            Ok(step) => {
                let hint = step.interaction.request.login_hint.clone();
                self.login_form(&step, hint.unwrap_or_default(), None).await
            }
            Err(refusal) => refusal.into(),
        }
    }

    /// `POST /login`. Of concurrent submissions of one form exactly one is checked; the others
    /// find the step gone. A failed attempt puts the step back so the user can try again.
    pub async fn submit_login(&self, form: LoginSubmission<'_>, browser: &Browser) -> Outcome {
        let step = match self
            .posted_step(form.step_id, form.csrf_token, browser)
            .await
        {
            Ok(peeked) => match self.claim_step(&peeked, browser).await {
                Ok(step) => step,
                Err(refusal) => return refusal.into(),
            },
            Err(refusal) => return refusal.into(),
        };
        let context = AttemptContext {
            client_ip: browser.client_ip,
            // A console sign-in has no client.
            client_id: Some(step.interaction.request.client_id.clone()).filter(|id| !id.is_empty()),
        };
        // The engine writes the audit events (login success/failure, lockout).
        let problem = match self
            .check_credentials(form.username, &form.password, &context)
            .await
        {
            Ok(CredentialCheck::Valid { user, has_factor }) => {
                return self.logged_in(step, &user, has_factor, browser).await;
            }
            Ok(CredentialCheck::Invalid) => LoginProblem::InvalidCredentials,
            Ok(CredentialCheck::Throttled(throttled)) => LoginProblem::Throttled(throttled),
            Ok(CredentialCheck::Busy { retry_after }) => LoginProblem::Busy { retry_after },
            Err(error) => {
                // The user may try again once the store is back.
                let _ = self.put_step(&step).await;
                return Refusal::page(error).into();
            }
        };
        if let Err(error) = self.put_step(&step).await {
            return Refusal::page(error).into();
        }
        self.login_form(&step, form.username.to_owned(), Some(problem))
            .await
    }

    /// After valid credentials: on to a second factor or an enrolment, or a new session
    /// ([`Self::continue_sign_in`]).
    async fn logged_in(
        &self,
        step: PendingStep,
        user: &palisade_core::model::User,
        has_factor: bool,
        browser: &Browser,
    ) -> Outcome {
        let pending = PendingAuthentication {
            user_id: user.id.0.clone(),
            amr: vec![amr::PASSWORD.into()],
            complete: false,
            enrolment: false,
        };
        self.continue_sign_in(step.interaction, pending, user, has_factor, browser)
            .await
    }

    /// The login form of `step`, with the challenge for a passwordless passkey sign-in when the
    /// issuer can be a WebAuthn relying party.
    pub(super) async fn login_form(
        &self,
        step: &PendingStep,
        username: String,
        problem: Option<LoginProblem>,
    ) -> Outcome {
        let passkey_request = match self.passkeys.as_deref().map(|p| p.start_discoverable()) {
            Some(Ok((options, state))) => {
                let stored = self
                    .ephemeral
                    .put(
                        &ceremony_key(&step.id, LOGIN_CEREMONY),
                        state.as_bytes(),
                        self.step_time_left(&step.interaction),
                    )
                    .await;
                match stored {
                    Ok(()) => Some(options),
                    Err(e) => return Refusal::page(e.into()).into(),
                }
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot start a passkey sign-in");
                None
            }
            None => None,
        };
        Step::Show(View::Login(LoginView {
            client_name: step.interaction.request.client_name.clone(),
            username,
            problem,
            csrf_token: step.interaction.csrf_token.clone(),
            step_id: step.id.clone(),
            passkey_request,
        }))
        .into()
    }
}

/// The purpose of a passwordless sign-in's ceremony state ([`ceremony_key`]).
pub(super) const LOGIN_CEREMONY: &str = "passkey-login";
