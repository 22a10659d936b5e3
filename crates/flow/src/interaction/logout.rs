//! RP-initiated logout from the browser's side: OpenID Connect RP-Initiated Logout 1.0 §2-3
//! (validation in [`crate::logout`]). Ending a session takes it out of the store atomically:
//! of N concurrent confirmations exactly one signs the user out; the others are told so.

use super::{Browser, LogoutConfirmView, Outcome, Refusal, Step, View};
use super::{csrf_matches, forged_form};
use crate::logout::LogoutRequest;
use crate::server::AuthorizationServer;
use palisade_core::OAuthError;

impl AuthorizationServer {
    /// `GET`/`POST /logout`: ends the session at once when the request proves it comes from
    /// the session user's own application, else asks the user.
    pub async fn start_logout(&self, params: &[(String, String)], browser: &Browser) -> Outcome {
        let request = match self.validate_logout(params).await {
            Ok(request) => request,
            Err(error) => return Refusal::page(error).into(),
        };
        let session = match self.session_of(browser).await {
            Ok(session) => session,
            Err(e) => return Refusal::page(e.into()).into(),
        };
        match session {
            Some(session) if request.needs_confirmation(Some(&session)) => {
                let mut hidden_fields = Vec::new();
                if let Some(id) = &request.client_id {
                    hidden_fields.push(("client_id", id.clone()));
                }
                if let Some(uri) = &request.post_logout_redirect_uri {
                    hidden_fields.push(("post_logout_redirect_uri", uri.clone()));
                }
                if let Some(state) = &request.state {
                    hidden_fields.push(("state", state.clone()));
                }
                Step::Show(View::LogoutConfirm(LogoutConfirmView {
                    csrf_token: session.csrf_token,
                    client_name: request.client_name,
                    hidden_fields,
                }))
                .into()
            }
            Some(_) => self.sign_out(&request, browser, false).await,
            None => signed_out(&request),
        }
    }

    /// `POST /logout/confirm`: the user said yes. The confirmation is single-use like every
    /// step: of concurrent confirmations one signs out, and the others (or a confirmation
    /// after the session ended some other way) are told the user is already signed out.
    pub async fn confirm_logout(&self, params: &[(String, String)], browser: &Browser) -> Outcome {
        let session = match self.session_of(browser).await {
            Ok(session) => session,
            Err(e) => return Refusal::page(e.into()).into(),
        };
        let submitted = params
            .iter()
            .find(|(k, _)| k == "csrf_token")
            .map(|(_, v)| v.as_str());
        if let Some(session) = &session
            && !csrf_matches(&session.csrf_token, submitted)
        {
            return forged_form().into();
        }
        let request = match self.validate_logout(params).await {
            Ok(request) => request,
            Err(error) => return Refusal::page(error).into(),
        };
        match session {
            Some(_) => self.sign_out(&request, browser, true).await,
            None => already_signed_out(),
        }
    }

    /// Ends the browser's session. With `must_be_first`, a session another request ended
    /// meanwhile is a refusal: that request signed the user out, this one did nothing.
    async fn sign_out(
        &self,
        request: &LogoutRequest,
        browser: &Browser,
        must_be_first: bool,
    ) -> Outcome {
        let Some(raw) = browser.session.as_deref() else {
            return signed_out(request);
        };
        match self.take_session(raw).await {
            Ok(Some(session)) => {
                tracing::info!(target: "audit", action = "logout", outcome = "success", user = %session.user_id);
                signed_out(request)
            }
            Ok(None) if must_be_first => already_signed_out(),
            Ok(None) => signed_out(request),
            Err(e) => Refusal::page(e.into()).into(),
        }
    }
}

/// The confirmation came after the session ended: nothing to do, and the user is told so.
fn already_signed_out() -> Outcome {
    let mut outcome: Outcome =
        Refusal::page(OAuthError::invalid_request("you are already signed out")).into();
    outcome.cookies.clear_session = true;
    outcome
}

/// Back to the application's registered post-logout URI, or the "signed out" page; the
/// session cookie goes either way.
fn signed_out(request: &LogoutRequest) -> Outcome {
    let step = match request.redirect_after() {
        Some(location) => Step::RedirectToClient(location),
        None => Step::Show(View::LoggedOut),
    };
    let mut outcome = Outcome::new(step);
    outcome.cookies.clear_session = true;
    outcome
}
