//! Initial access tokens for `registration.mode = token` (RFC 7591 §3: the registration
//! endpoint may require one). A token is returned once and stored as a SHA-256 hash; its id
//! (never the token) names it when listing and revoking.

use super::{Action, Admin, AdminError, AdminResult, Caller};
use chrono::Duration;
use palisade_core::model::InitialAccessToken;
use palisade_core::{StoreError, TokenHash};
use serde_json::json;

/// `initial_access_token:<id>`, as audit events name one.
pub fn target(id: &str) -> String {
    format!("initial_access_token:{id}")
}

/// A token just minted, with the token itself to show once.
#[derive(Debug)]
pub struct MintedInitialAccessToken {
    pub token: InitialAccessToken,
    pub raw: String,
}

impl Admin {
    /// Mints a token that expires after `lifetime` (`None`: never) and allows `max_uses`
    /// registrations (`None`: unlimited until it expires).
    pub async fn mint_initial_access_token(
        &self,
        caller: &Caller,
        lifetime: Option<Duration>,
        max_uses: Option<i32>,
    ) -> AdminResult<MintedInitialAccessToken> {
        if max_uses.is_some_and(|m| m < 1) {
            return Err(AdminError::Invalid("max_uses must be at least 1".into()));
        }
        let raw = self.secrets.token();
        let now = self.clock.now();
        let token = InitialAccessToken {
            id: uuid::Uuid::new_v4().simple().to_string(),
            token_hash: TokenHash::of(&raw),
            created_at: now,
            expires_at: lifetime.map(|d| now + d),
            max_uses,
            uses: 0,
        };
        self.initial_access_tokens
            .insert_initial_access_token(token.clone())
            .await?;
        self.auditor
            .success(
                caller,
                Action::CreateInitialAccessToken,
                &target(&token.id),
                Some(json!({ "max_uses": max_uses })),
            )
            .await;
        Ok(MintedInitialAccessToken { token, raw })
    }

    /// Every token, oldest first.
    pub async fn list_initial_access_tokens(&self) -> AdminResult<Vec<InitialAccessToken>> {
        Ok(self
            .initial_access_tokens
            .list_initial_access_tokens()
            .await?)
    }

    /// Revokes the token with this id.
    pub async fn revoke_initial_access_token(&self, caller: &Caller, id: &str) -> AdminResult<()> {
        self.initial_access_tokens
            .delete_initial_access_token(id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AdminError::NotFound("no such initial access token"),
                other => other.into(),
            })?;
        self.auditor
            .success(caller, Action::RevokeInitialAccessToken, &target(id), None)
            .await;
        Ok(())
    }
}
