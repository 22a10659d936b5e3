//! Checking a user's password at the login form.
//!
//! Every failure looks the same to the caller (unknown user, wrong password, disabled
//! account) and costs the same: unknown and disabled accounts get a dummy verification.

use crate::password::Verification;
use crate::server::AuthorizationServer;
use palisade_core::model::{User, Username};
use palisade_core::{OAuthError, Secret};

/// The outcome of a credential check.
#[derive(Debug)]
pub enum CredentialCheck {
    Valid(User),
    Invalid,
}

impl AuthorizationServer {
    /// Verifies `username` and `password`. Storage trouble is an error (fail closed), not an
    /// "invalid" answer.
    pub async fn check_credentials(
        &self,
        username: &str,
        password: &Secret,
    ) -> Result<CredentialCheck, OAuthError> {
        let user = match Username::parse(username) {
            Ok(name) => self.users.find_user_by_username(&name).await?,
            Err(_) => None,
        };
        let Some(user) = user.filter(|u| !u.is_disabled) else {
            self.passwords
                .verify_dummy(password)
                .await
                .map_err(OAuthError::server_error)?;
            return Ok(CredentialCheck::Invalid);
        };
        match self
            .passwords
            .verify(password, &user.password_hash)
            .await
            .map_err(OAuthError::server_error)?
        {
            Verification::Mismatch => Ok(CredentialCheck::Invalid),
            Verification::Match { needs_rehash } => {
                if needs_rehash {
                    self.rehash(&user, password).await;
                }
                Ok(CredentialCheck::Valid(user))
            }
        }
    }

    /// Upgrades a hash made with older parameters; a failure only delays the upgrade.
    async fn rehash(&self, user: &User, password: &Secret) {
        let result = match self.passwords.hash_for_rehash(password).await {
            Ok(hash) => self
                .users
                .update_password_hash(&user.id, &hash, self.clock.now())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(user = %user.id, error = %e, "could not upgrade the password hash");
        }
    }
}
