//! Enrolment during a sign-in, when the user must have a second factor and has none.

use super::{Browser, EnrolmentSubmission, Outcome, Refusal, StepSubmission};
use crate::server::AuthorizationServer;
use palisade_core::OAuthError;

impl AuthorizationServer {
    /// `GET /login/enrol`.
    pub async fn show_enrolment(&self, step_id: Option<&str>, browser: &Browser) -> Outcome {
        let _ = (step_id, browser);
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }

    /// `POST /login/enrol`.
    pub async fn submit_enrolment(
        &self,
        form: EnrolmentSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let _ = (form, browser);
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }

    /// `POST /login/recovery-codes`: the user saw the codes; the sign-in goes on.
    pub async fn finish_recovery_codes(
        &self,
        form: StepSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let _ = (form, browser);
        Refusal::page(OAuthError::server_error("second factors are being built")).into()
    }
}
