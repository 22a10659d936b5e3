//! The second step of a sign-in (and of a step-up): a TOTP code, a recovery code or a passkey;
//! and the passwordless sign-in with a discoverable passkey from the login page. Each
//! submission takes its step (single-use, like the login form); a failed attempt puts it back
//! under the same id and counts against the same limits and lock as a wrong password
//! ([`crate::mfa::check`]).

use super::login::LOGIN_CEREMONY;
use super::sign_in::{ceremony_key, with_factor};
use super::{
    Browser, FactorProblem, FactorSubmission, InteractionPage, LoginProblem, Outcome,
    PasskeySignIn, PendingAuthentication, PendingStep, Refusal, SecondFactorView, Step, View,
    step_gone,
};
use crate::guard::{AttemptContext, CredentialKind};
use crate::mfa::assurance::amr;
use crate::mfa::check::{Attempt, FactorCheck};
use crate::server::AuthorizationServer;
use palisade_core::factor::FactorKind;
use palisade_core::model::User;

/// The purpose of a second-factor passkey ceremony's state ([`ceremony_key`]).
const FACTOR_CEREMONY: &str = "passkey-factor";

impl AuthorizationServer {
    /// `GET /login/factor`: the second-factor form of step `step_id`.
    pub async fn show_second_factor(&self, step_id: Option<&str>, browser: &Browser) -> Outcome {
        let step = match self.open_step(step_id, browser).await {
            Ok(step) => step,
            Err(refusal) => return refusal.into(),
        };
        match self.user_of_step(&step).await {
            Ok(Some(user)) => self.second_factor_form(&step, &user, None).await,
            Ok(None) => login_first(step),
            Err(refusal) => refusal.into(),
        }
    }

    /// `POST /login/factor`. Of concurrent submissions of one form exactly one is checked.
    pub async fn submit_second_factor(
        &self,
        form: FactorSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let (step, user, pending) = match self
            .spend_pending(form.step_id, form.csrf_token, browser, |p| !p.complete)
            .await
        {
            Ok(spent) => spent,
            Err(refusal) => return refusal.into(),
        };
        let context = AttemptContext {
            client_ip: browser.client_ip,
            // A console sign-in has no client.
            client_id: Some(step.interaction.request.client_id.clone()).filter(|id| !id.is_empty()),
        };
        let check = self
            .check_factor(
                &user,
                Attempt::Factor(form.answer),
                &ceremony_key(&step.id, FACTOR_CEREMONY),
                "login.second_factor",
                &context,
            )
            .await;
        let problem = match check {
            Ok(FactorCheck::Passed { amr: method }) => {
                let amr = with_factor(pending.amr, method);
                return self
                    .complete_sign_in(step.interaction, &user, amr, browser)
                    .await;
            }
            Ok(FactorCheck::Failed) => FactorProblem::InvalidCode,
            Ok(FactorCheck::Throttled(throttled)) => FactorProblem::Throttled(throttled),
            Err(error) => {
                let _ = self.put_step(&step).await;
                return Refusal::page(error).into();
            }
        };
        if let Err(error) = self.put_step(&step).await {
            return Refusal::page(error).into();
        }
        self.second_factor_form(&step, &user, Some(problem)).await
    }

    /// `POST /login/passkey`: a passwordless sign-in with a discoverable passkey. The
    /// credential names its user; the passkey's user verification makes it more than one
    /// factor, so nothing else is asked.
    pub async fn sign_in_with_passkey(
        &self,
        form: PasskeySignIn<'_>,
        browser: &Browser,
    ) -> Outcome {
        let step = match self
            .spend_step(form.step_id, form.csrf_token, browser)
            .await
        {
            Ok(step) => step,
            Err(refusal) => return refusal.into(),
        };
        let context = AttemptContext {
            client_ip: browser.client_ip,
            // A console sign-in has no client.
            client_id: Some(step.interaction.request.client_id.clone()).filter(|id| !id.is_empty()),
        };
        let state_key = ceremony_key(&step.id, LOGIN_CEREMONY);
        let outcome: Result<(Option<User>, FactorCheck), palisade_core::OAuthError> = async {
            // An address over its limit is turned away before any lookup, as at the password.
            if let Some(throttled) = self
                .guard
                .check_source(CredentialKind::Password, context.client_ip)
                .await?
            {
                return Ok((None, FactorCheck::Throttled(throttled)));
            }
            let Some((user, factor)) = self.passkey_owner(form.credential, &context).await? else {
                return Ok((None, FactorCheck::Failed));
            };
            let attempt = Attempt::DiscoverablePasskey {
                credential: form.credential,
                factor,
            };
            let check = self
                .check_factor(&user, attempt, &state_key, "login.passkey", &context)
                .await?;
            Ok((Some(user), check))
        }
        .await;
        let problem = match outcome {
            Ok((Some(user), FactorCheck::Passed { amr: method })) => {
                let amr = with_factor(vec![method.to_owned()], amr::MULTIPLE_FACTORS);
                return self
                    .complete_sign_in(step.interaction, &user, amr, browser)
                    .await;
            }
            Ok((_, FactorCheck::Throttled(throttled))) => LoginProblem::Throttled(throttled),
            Ok(_) => LoginProblem::InvalidCredentials,
            Err(error) => {
                let _ = self.put_step(&step).await;
                return Refusal::page(error).into();
            }
        };
        if let Err(error) = self.put_step(&step).await {
            return Refusal::page(error).into();
        }
        let hint = step.interaction.request.login_hint.clone();
        self.login_form(&step, hint.unwrap_or_default(), Some(problem))
            .await
    }

    /// The enabled user and the passkey a discoverable credential names. An unknown or
    /// unreadable credential counts against the source like a wrong password (the account is
    /// unknown, so only the source can pay for it).
    async fn passkey_owner(
        &self,
        credential: &str,
        context: &AttemptContext,
    ) -> Result<Option<(User, palisade_core::factor::Factor)>, palisade_core::OAuthError> {
        let found = match self.passkeys.as_deref().map(|p| p.identify(credential)) {
            Some(Ok((credential_id, _))) => self
                .factors
                .find_factor_by_credential_id(&credential_id)
                .await?
                .filter(|f| f.kind == FactorKind::Passkey),
            _ => None,
        };
        let owner = match found {
            Some(factor) => self
                .users
                .find_user_by_id(&factor.user_id)
                .await?
                .filter(|u| !u.is_disabled)
                .map(|user| (user, factor)),
            None => None,
        };
        if owner.is_none() {
            self.guard
                .record_source_failure(CredentialKind::Password, context.client_ip)
                .await?;
            tracing::info!(target: "audit", action = "login.passkey", outcome = "failure", client_ip = ?context.client_ip, reason = "unknown_credential");
        }
        Ok(owner)
    }

    /// The posted step, spent: this browser's, with the right CSRF token, taken atomically.
    pub(super) async fn spend_step(
        &self,
        step_id: Option<&str>,
        csrf_token: Option<&str>,
        browser: &Browser,
    ) -> Result<PendingStep, Refusal> {
        let peeked = self.posted_step(step_id, csrf_token, browser).await?;
        self.claim_step(&peeked, browser).await
    }

    /// The posted step, spent, with its pending sign-in and that sign-in's user, when `accept`
    /// takes the pending sign-in (else the step is gone: it is at another page).
    pub(super) async fn spend_pending(
        &self,
        step_id: Option<&str>,
        csrf_token: Option<&str>,
        browser: &Browser,
        accept: fn(&PendingAuthentication) -> bool,
    ) -> Result<(PendingStep, User, PendingAuthentication), Refusal> {
        let step = self.spend_step(step_id, csrf_token, browser).await?;
        let pending = step
            .interaction
            .pending
            .clone()
            .filter(accept)
            .ok_or_else(step_gone)?;
        let user = self
            .pending_user(&pending)
            .await
            .map_err(Refusal::page)?
            .ok_or_else(step_gone)?;
        Ok((step, user, pending))
    }

    /// The user a step's pending sign-in is for; `None` when the step has none (it is at
    /// another page) or the user may no longer sign in.
    pub(super) async fn user_of_step(&self, step: &PendingStep) -> Result<Option<User>, Refusal> {
        match &step.interaction.pending {
            Some(pending) => self.pending_user(pending).await.map_err(Refusal::page),
            None => Ok(None),
        }
    }

    async fn second_factor_form(
        &self,
        step: &PendingStep,
        user: &User,
        problem: Option<FactorProblem>,
    ) -> Outcome {
        let factors = match self.factors.list_factors(&user.id).await {
            Ok(factors) => factors,
            Err(e) => return Refusal::page(e.into()).into(),
        };
        let recovery_codes_left = match self.factors.remaining_recovery_codes(&user.id).await {
            Ok(left) => left,
            Err(e) => return Refusal::page(e.into()).into(),
        };
        let passkey_request = match self
            .passkeys
            .as_deref()
            .map(|p| p.start_authentication(&factors))
        {
            Some(Ok(Some((options, state)))) => {
                let stored = self
                    .ephemeral
                    .put(
                        &ceremony_key(&step.id, FACTOR_CEREMONY),
                        state.as_bytes(),
                        self.step_time_left(&step.interaction),
                    )
                    .await;
                if let Err(e) = stored {
                    return Refusal::page(e.into()).into();
                }
                Some(options)
            }
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot start a passkey check");
                None
            }
            _ => None,
        };
        Step::Show(View::SecondFactor(SecondFactorView {
            client_name: step.interaction.request.client_name.clone(),
            csrf_token: step.interaction.csrf_token.clone(),
            step_id: step.id.clone(),
            has_totp: factors.iter().any(|f| f.kind == FactorKind::Totp),
            has_recovery_codes: recovery_codes_left > 0,
            passkey_request,
            problem,
        }))
        .into()
    }
}

/// A step that is not at a factor page: its login form comes first.
pub(super) fn login_first(step: PendingStep) -> Outcome {
    Step::Continue {
        page: InteractionPage::Login,
        step_id: step.id,
    }
    .into()
}
