//! Account events end what rests on the account's earlier sign-ins (docs/security.md "Account
//! events").
//!
//! Changing or resetting a password, disabling or deleting a user, removing a factor and "sign
//! out everywhere" each void every authentication of the user so far: the user's
//! `sessions_revoked_at` moves to now, and every refresh-token family of the user is revoked.
//! Everything else that rests on a sign-in — a browser session, an open interaction, an
//! outstanding code, an access token — carries its `auth_time` and is refused wherever it is
//! used once [`User::authentication_stands`] says no. One durable mark does it, so nothing
//! needs listing and nothing returns when the user is enabled again.

use crate::server::AuthorizationServer;
use chrono::{DateTime, Utc};
use palisade_core::StoreError;
use palisade_core::model::{User, UserId};
use palisade_core::ports::{RefreshTokenRepository, UserRepository};

/// Voids every sign-in of `user` up to `now`; returns how many refresh-token families were
/// revoked. The mark comes first, so a code exchange racing with the event mints tokens that
/// are already void.
pub async fn end_every_session(
    users: &dyn UserRepository,
    refresh_tokens: &dyn RefreshTokenRepository,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    users.revoke_user_sessions(user, now).await?;
    refresh_tokens
        .revoke_refresh_token_families_of_user(user, now)
        .await
}

impl AuthorizationServer {
    /// The user, if it exists and its sign-in at `auth_time` still stands (enabled, and no
    /// account event since).
    pub(crate) async fn user_signed_in_at(
        &self,
        user_id: &str,
        auth_time: i64,
    ) -> Result<Option<User>, StoreError> {
        Ok(self
            .users
            .find_user_by_id(&UserId(user_id.to_owned()))
            .await?
            .filter(|user| user.authentication_stands(auth_time)))
    }
}
