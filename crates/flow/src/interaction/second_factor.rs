//! The second step of a sign-in (and of a step-up): a TOTP code, a recovery code or a passkey.

use super::{Browser, FactorSubmission, Outcome, PasskeySignIn, Refusal};
use crate::server::AuthorizationServer;
use palisade_core::OAuthError;

impl AuthorizationServer {
    /// `GET /login/factor`: the second-factor form of step `step_id`.
    pub async fn show_second_factor(&self, step_id: Option<&str>, browser: &Browser) -> Outcome {
        let _ = (step_id, browser);
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }

    /// `POST /login/factor`.
    pub async fn submit_second_factor(
        &self,
        form: FactorSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let _ = (form, browser);
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }

    /// `POST /login/passkey`: a passwordless sign-in with a discoverable passkey.
    pub async fn sign_in_with_passkey(
        &self,
        form: PasskeySignIn<'_>,
        browser: &Browser,
    ) -> Outcome {
        let _ = (form, browser);
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }
}
