//! Where every way of signing in meets: after a first factor the sign-in goes on to the second
//! factor (when the user has one), to an enrolment (when one is required and the user has
//! none), or ends in a new session. A step-up ends the same way. OWASP Session Management
//! Cheat Sheet ("Renew the Session ID After Any Privilege Level Change"): the session id is new
//! whenever a sign-in ends, and the old session is over.

use super::{Browser, Interaction, InteractionPage, Outcome, PendingAuthentication, Refusal, Step};
use crate::mfa::Assurance;
use crate::mfa::assurance::amr;
use crate::server::AuthorizationServer;
use palisade_core::TokenHash;
use palisade_core::model::User;

/// Names the state of a WebAuthn ceremony (or the TOTP secret being set up) that belongs to
/// one step: `purpose` keeps a login challenge from being spent as a second-factor one.
pub(crate) fn ceremony_key(step_or_session: &str, purpose: &str) -> String {
    format!(
        "ceremony:{}",
        TokenHash::of(&format!("{purpose}\n{step_or_session}")).as_str()
    )
}

/// `amr` with `method` proved on top: two methods make it `mfa`.
pub(crate) fn with_factor(mut amr: Vec<String>, method: &str) -> Vec<String> {
    if !amr.iter().any(|m| m == method) {
        amr.push(method.to_owned());
    }
    if amr.len() >= 2 && !amr.iter().any(|m| m == amr::MULTIPLE_FACTORS) {
        amr.push(amr::MULTIPLE_FACTORS.to_owned());
    }
    amr
}

impl AuthorizationServer {
    /// After a first factor (`pending.amr`): on to the second factor (`has_factor`) or an
    /// enrolment, or done.
    pub(crate) async fn continue_sign_in(
        &self,
        mut interaction: Interaction,
        pending: PendingAuthentication,
        user: &User,
        has_factor: bool,
        browser: &Browser,
    ) -> Outcome {
        let request = interaction.request.clone();
        let page = if Assurance::of_amr(&pending.amr) == Assurance::MultiFactor {
            None
        } else if has_factor {
            Some(InteractionPage::SecondFactor)
        } else {
            match self.mfa_enforced(&request, user).await {
                Ok(true) => Some(InteractionPage::Enrolment),
                Ok(false) => None,
                Err(error) => return self.redirect_error(&request, &error).into(),
            }
        };
        let Some(page) = page else {
            return self
                .complete_sign_in(interaction, user, pending.amr, browser)
                .await;
        };
        interaction.pending = Some(PendingAuthentication {
            enrolment: page == InteractionPage::Enrolment,
            ..pending
        });
        match self.store_step(interaction).await {
            Ok(step) => Step::Continue {
                page,
                step_id: step.id,
            }
            .into(),
            Err(error) => self.redirect_error(&request, &error).into(),
        }
    }

    /// The sign-in is done: whatever session the browser had ends, a new one starts under a
    /// new id with `amr`, and the interaction advances with the login counted.
    pub(crate) async fn complete_sign_in(
        &self,
        mut interaction: Interaction,
        user: &User,
        amr: Vec<String>,
        browser: &Browser,
    ) -> Outcome {
        if let Some(old) = browser.session.as_deref() {
            let _ = self.end_session(old).await;
        }
        let (raw_session, session) = match self.start_session(user, amr, browser).await {
            Ok(started) => started,
            Err(e) => return Refusal::page(e.into()).into(),
        };
        // For access reviews; a failure to record it must not fail the sign-in.
        if let Err(error) = self.users.record_sign_in(&user.id, self.clock.now()).await {
            tracing::warn!(%error, "could not record the sign-in time");
        }
        interaction.signed_in_session = Some(TokenHash::of(&session.csrf_token));
        interaction.pending = None;
        let mut outcome = self.advance(interaction, &session).await;
        outcome.cookies.session = Some(raw_session);
        outcome
    }

    /// The user of a pending sign-in, if they may still sign in.
    pub(crate) async fn pending_user(
        &self,
        pending: &PendingAuthentication,
    ) -> Result<Option<User>, palisade_core::OAuthError> {
        let user = self
            .users
            .find_user_by_id(&palisade_core::model::UserId(pending.user_id.clone()))
            .await?;
        Ok(user.filter(|u| !u.is_disabled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_method_makes_it_mfa_once() {
        let amr = with_factor(vec!["pwd".into()], "otp");
        assert_eq!(amr, ["pwd", "otp", "mfa"]);
        assert_eq!(with_factor(amr.clone(), "otp"), amr);
        assert_eq!(with_factor(vec![], "hwk"), ["hwk"]);
    }
}
