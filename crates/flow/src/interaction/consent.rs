//! The consent step: OIDC Core §3.1.2.4. An allowed request is remembered; the page comes back
//! only for new scopes or `prompt=consent`. Submitting takes the step: one decision, one code.

use super::{
    Browser, ConsentView, InteractionPage, Outcome, PendingStep, Refusal, ScopeDescription, Step,
    View, is_operator_vetted,
};
use crate::authorize::Ending;
use crate::scope;
use crate::server::AuthorizationServer;
use crate::session::BrowserSession;
use palisade_core::OAuthError;
use palisade_core::model::{ClientId, User, UserId};

/// The user's answer on the consent page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentDecision {
    Allow,
    Deny,
}

impl ConsentDecision {
    /// The form's `decision` value.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            Some("allow") => Some(Self::Allow),
            Some("deny") => Some(Self::Deny),
            _ => None,
        }
    }
}

/// A submitted consent form.
#[derive(Debug)]
pub struct ConsentSubmission<'a> {
    pub step_id: Option<&'a str>,
    pub csrf_token: Option<&'a str>,
    /// `None` when the form carried neither `allow` nor `deny`.
    pub decision: Option<ConsentDecision>,
}

impl AuthorizationServer {
    /// `GET /consent`: the page for step `step_id`; without a session, the login form first.
    pub async fn show_consent(&self, step_id: Option<&str>, browser: &Browser) -> Outcome {
        let step = match self.open_step(step_id, browser).await {
            Ok(step) => step,
            Err(refusal) => return refusal.into(),
        };
        let user = match self.signed_in_user(browser).await {
            Ok(Some((user, _))) => user,
            Ok(None) => return login_first(step),
            Err(error) => return Refusal::page(error).into(),
        };
        let request = &step.interaction.request;
        let client = match self
            .clients
            .find_client(&ClientId(request.client_id.clone()))
            .await
        {
            Ok(client) => client,
            Err(e) => return Refusal::page(e.into()).into(),
        };
        let is_client_verified = client.as_ref().is_some_and(is_operator_vetted);
        let document_host = client
            .as_ref()
            .and_then(|c| c.metadata_document_host())
            .map(str::to_owned);
        let scopes = request
            .scope
            .iter()
            .map(|name| ScopeDescription {
                name: name.to_owned(),
                description: scope::describe(name).into_owned(),
            })
            .collect();
        Step::Show(View::Consent(ConsentView {
            client_name: request.client_name.clone(),
            scopes,
            is_client_verified,
            document_host,
            csrf_token: step.interaction.csrf_token.clone(),
            user_display: user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.to_string()),
            user_code: match &request.ends_in {
                Ending::RedirectWithCode | Ending::Console(_) => None,
                Ending::ApproveDevice(device) => Some(device.user_code.clone()),
            },
            step_id: step.id,
        }))
        .into()
    }

    /// `POST /consent`. Of concurrent submissions of one form exactly one is decided; the
    /// others find the step gone.
    pub async fn submit_consent(&self, form: ConsentSubmission<'_>, browser: &Browser) -> Outcome {
        let peeked = match self
            .posted_step(form.step_id, form.csrf_token, browser)
            .await
        {
            Ok(step) => step,
            Err(refusal) => return refusal.into(),
        };
        let session = match self.session_of(browser).await {
            Ok(Some(session)) => session,
            Ok(None) => return login_first(peeked),
            Err(e) => return Refusal::page(e.into()).into(),
        };
        let Some(decision) = form.decision else {
            return Refusal::page(OAuthError::invalid_request("choose Allow or Deny")).into();
        };
        let step = match self.claim_step(&peeked, browser).await {
            Ok(step) => step,
            Err(refusal) => return refusal.into(),
        };
        let mut interaction = step.interaction;
        match decision {
            ConsentDecision::Deny => match &interaction.request.ends_in {
                Ending::RedirectWithCode => {
                    Step::RedirectToClient(self.denied_redirect(&interaction.request)).into()
                }
                Ending::ApproveDevice(device) => {
                    self.deny_device(&interaction.request, device).await
                }
                // A console sign-in never reaches the consent page (next_step skips it).
                Ending::Console(_) => super::step_gone().into(),
            },
            ConsentDecision::Allow => {
                let user = UserId(session.user_id.clone());
                if let Err(e) = self.record_consent(&user, &interaction.request).await {
                    return Refusal::page(e.into()).into();
                }
                interaction.consented_during = true;
                self.advance(interaction, &session).await
            }
        }
    }

    /// The browser's session and its user, if both are live.
    async fn signed_in_user(
        &self,
        browser: &Browser,
    ) -> Result<Option<(User, BrowserSession)>, OAuthError> {
        let Some(session) = self.session_of(browser).await? else {
            return Ok(None);
        };
        let user = self
            .user_signed_in_at(&session.user_id, session.auth_time)
            .await?;
        Ok(user.map(|u| (u, session)))
    }
}

/// The consent page needs a signed-in user: the login form of the same step comes first.
fn login_first(step: PendingStep) -> Outcome {
    Step::Continue {
        page: InteractionPage::Login,
        step_id: step.id,
    }
    .into()
}
