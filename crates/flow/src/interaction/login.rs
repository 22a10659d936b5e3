//! The login step: OIDC Core §3.1.2.3. The form is shown for a step; submitting it takes the
//! step (single-use), checks the credentials under the guard ([`crate::login`]), and on
//! success starts a new session (session fixation) and advances.

use super::{Browser, LoginProblem, LoginView, Outcome, PendingStep, Refusal, Step, View};
use crate::guard::AttemptContext;
use crate::login::CredentialCheck;
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
                login_form(&step, hint.unwrap_or_default(), None)
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
            client_id: Some(step.interaction.request.client_id.clone()),
        };
        // The engine writes the audit events (login success/failure, lockout).
        let problem = match self
            .check_credentials(form.username, &form.password, &context)
            .await
        {
            Ok(CredentialCheck::Valid(user)) => return self.logged_in(step, &user, browser).await,
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
        login_form(&step, form.username.to_owned(), Some(problem))
    }

    /// After valid credentials: whatever session the browser had ends, a new one starts under
    /// a new id, and the interaction advances with the login counted.
    async fn logged_in(
        &self,
        step: PendingStep,
        user: &palisade_core::model::User,
        browser: &Browser,
    ) -> Outcome {
        if let Some(old) = browser.session.as_deref() {
            let _ = self.end_session(old).await;
        }
        let (raw_session, session) = match self.start_session(user, vec!["pwd".into()]).await {
            Ok(started) => started,
            Err(e) => return Refusal::page(e.into()).into(),
        };
        let mut interaction = step.interaction;
        interaction.logged_in_during = true;
        let mut outcome = self.advance(interaction, &session).await;
        outcome.cookies.session = Some(raw_session);
        outcome
    }
}

fn login_form(step: &PendingStep, username: String, problem: Option<LoginProblem>) -> Outcome {
    Step::Show(View::Login(LoginView {
        client_name: step.interaction.request.client_name.clone(),
        username,
        problem,
        csrf_token: step.interaction.csrf_token.clone(),
        step_id: step.id.clone(),
        passkey_request: None,
    }))
    .into()
}
