//! Users' second factors, as the operator sees them: list a user's factors with the recovery
//! codes left, and reset them all when the user has lost their authenticators. Enrolling,
//! renaming and removing one factor are the user's own, on the account page; nothing here
//! creates a factor or shows a secret.
//!
//! A reset is an account event (docs/security.md "Account events"): whoever held the lost
//! authenticator may hold a session or a refresh token made with it, so every sign-in of the
//! user ends, as after a password reset. Acting on the user needs every permission the user
//! holds, as every action on a user ([`super::users`]).

use super::users::target;
use super::{Action, Admin, AdminResult, Caller};
use palisade_core::factor::Factor;
use palisade_core::model::User;
use serde_json::json;

/// A user's enrolled factors and how many unused recovery codes they have.
#[derive(Debug, Clone)]
pub struct UserFactors {
    /// Oldest first. Each `credential` is sealed or public; the faces show none of it.
    pub factors: Vec<Factor>,
    pub recovery_codes_left: u32,
}

/// What a reset took away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MfaReset {
    pub factors_deleted: u64,
    pub refresh_token_families_revoked: u64,
}

impl Admin {
    /// The user's factors and unused recovery codes (reading, so not audited).
    pub async fn user_factors(&self, user: &User) -> AdminResult<UserFactors> {
        let factors = self.factors.list_factors(&user.id).await?;
        let recovery_codes_left = self.factors.remaining_recovery_codes(&user.id).await?;
        Ok(UserFactors {
            factors,
            recovery_codes_left,
        })
    }

    /// Deletes every factor and recovery code of the user and ends every session and grant
    /// they have. The user signs in with their password alone afterwards, and enrols again
    /// wherever MFA is required of them.
    pub async fn reset_factors(&self, caller: &Caller, user: &User) -> AdminResult<MfaReset> {
        self.must_manage(caller, user, Action::ResetUserMfa).await?;
        let factors_deleted = self.factors.delete_factors_of_user(&user.id).await?;
        let refresh_token_families_revoked = self.end_every_session(&user.id).await?;
        self.auditor
            .success(
                caller,
                Action::ResetUserMfa,
                &target(&user.id),
                Some(json!({
                    "factors_deleted": factors_deleted,
                    "refresh_token_families_revoked": refresh_token_families_revoked,
                })),
            )
            .await;
        Ok(MfaReset {
            factors_deleted,
            refresh_token_families_revoked,
        })
    }
}
