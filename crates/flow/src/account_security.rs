//! The signed-in user's own factors (`/account/security`).

use crate::interaction::{AccountSubmission, Browser, Outcome, Refusal};
use crate::server::AuthorizationServer;
use palisade_core::OAuthError;

impl AuthorizationServer {
    /// `GET /account/security`.
    pub async fn show_account_security(&self, browser: &Browser) -> Outcome {
        let _ = browser;
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }

    /// `POST /account/security`.
    pub async fn account_security_action(
        &self,
        form: AccountSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let _ = (form, browser);
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }
}
