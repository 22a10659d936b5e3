//! `/authorize` from the browser's side: validate, then redirect back at once or start an
//! interaction. RFC 6749 §4.1.1-4.1.2.1, OIDC Core §3.1.2.

use super::admission::Admission;
use super::decision::{NextStep, log_refusal};
use super::{Browser, Interaction, Outcome, Refusal, Step};
use crate::authorize::{AuthorizationParams, AuthorizeError, error_redirect};
use crate::server::AuthorizationServer;

impl AuthorizationServer {
    /// Handles an authorization request (query string or form body) from `browser`.
    ///
    /// A `request_uri` names a pushed request, which is then the whole request (RFC 9126 §4).
    /// Errors before the client and redirect URI are verified are pages; after that they go
    /// back to the client. A browser with a live session that needs nothing more gets its code
    /// at once and nothing is stored; otherwise an interaction is admitted (or the browser's
    /// open one for the same request is reused) and the browser continues to its page.
    pub async fn authorize(&self, params: &AuthorizationParams, browser: &Browser) -> Outcome {
        let request = match self.authorization_request(params).await {
            Ok(request) => request,
            Err(AuthorizeError::Page(error)) => return Refusal::page(error).into(),
            Err(AuthorizeError::Redirect {
                redirect_uri,
                state,
                error,
            }) => {
                log_refusal(&error);
                let location =
                    error_redirect(&self.issuer, &redirect_uri, state.as_deref(), &error);
                return Step::RedirectToClient(location).into();
            }
        };
        let session = match self.session_of(browser).await {
            Ok(session) => session,
            Err(error) => return self.redirect_error(&request, &error.into()).into(),
        };
        let fresh_binding;
        let binding = match browser.binding.as_deref() {
            Some(existing) => existing,
            None => {
                fresh_binding = self.secrets.token();
                fresh_binding.as_str()
            }
        };
        let interaction = Interaction::start(self, request, binding);
        let page = match self.next_step(&interaction, session.as_ref()).await {
            Ok(NextStep::RedirectToClient(location)) => {
                return Step::RedirectToClient(location).into();
            }
            Ok(NextStep::Page(page)) => page,
            // Only an interaction started at `/device` ends in a device; never this one.
            Ok(NextStep::DeviceApproved(done)) => {
                return Step::Show(super::View::DeviceDone(done)).into();
            }
            // Only a console sign-in ends in the console; never this one.
            Ok(NextStep::ToConsole(path)) => return Step::ToConsole(path).into(),
            Err(error) => return self.redirect_error(&interaction.request, &error).into(),
        };
        let request = interaction.request.clone();
        let interaction = interaction.awaiting(page, session.as_ref());
        let step_id = match self.admit(interaction, browser).await {
            Ok(Admission::Admitted(step_id)) => step_id,
            Ok(Admission::Throttled(throttled)) => return Refusal::throttled(throttled).into(),
            Err(error) => return self.redirect_error(&request, &error).into(),
        };
        let mut outcome = Outcome::new(Step::Continue { page, step_id });
        if browser.binding.is_none() {
            outcome.cookies.browser = Some(binding.to_owned());
        }
        outcome
    }
}
