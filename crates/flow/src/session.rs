//! Browser login sessions (the user is logged in at Palisade, not at a client).
//!
//! The session id is a bearer secret in a cookie; the ephemeral store keeps the session under
//! the id's hash, so a leaked store dump does not yield usable cookies. A new id is minted at
//! every login (session fixation).

use crate::interaction::Browser;
use crate::server::{AuthorizationServer, ttl};
use palisade_core::model::User;
use palisade_core::{StoreError, TokenHash};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSession {
    pub user_id: String,
    /// Unix seconds of the login.
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// Binds the logout confirmation form to this session.
    pub csrf_token: String,
}

fn key(raw_session_id: &str) -> String {
    format!("session:{}", TokenHash::of(raw_session_id).as_str())
}

impl AuthorizationServer {
    /// Starts a session for `user` and returns the raw id for the cookie.
    pub async fn start_session(
        &self,
        user: &User,
        amr: Vec<String>,
    ) -> Result<(String, BrowserSession), StoreError> {
        let raw = self.secrets.token();
        let session = BrowserSession {
            user_id: user.id.0.clone(),
            auth_time: self.clock.now().timestamp(),
            amr,
            csrf_token: self.secrets.token(),
        };
        let bytes = serde_json::to_vec(&session).map_err(|e| StoreError::Internal(e.into()))?;
        self.ephemeral
            .put(&key(&raw), &bytes, ttl(self.policy.session_ttl))
            .await?;
        Ok((raw, session))
    }

    /// The session behind a cookie value, if it exists and has not expired by our clock.
    pub async fn find_session(
        &self,
        raw_session_id: &str,
    ) -> Result<Option<BrowserSession>, StoreError> {
        let bytes = self.ephemeral.get(&key(raw_session_id)).await?;
        Ok(self.live(bytes))
    }

    /// The session of the browser's cookie, if any.
    pub async fn session_of(
        &self,
        browser: &Browser,
    ) -> Result<Option<BrowserSession>, StoreError> {
        match browser.session.as_deref() {
            Some(raw) => self.find_session(raw).await,
            None => Ok(None),
        }
    }

    /// Ends the session and returns it, atomically: of concurrent callers at most one gets it.
    pub async fn take_session(
        &self,
        raw_session_id: &str,
    ) -> Result<Option<BrowserSession>, StoreError> {
        let bytes = self.ephemeral.take(&key(raw_session_id)).await?;
        Ok(self.live(bytes))
    }

    fn live(&self, bytes: Option<Vec<u8>>) -> Option<BrowserSession> {
        let session = serde_json::from_slice::<BrowserSession>(&bytes?).ok()?;
        let age = self.clock.now().timestamp() - session.auth_time;
        (age <= self.policy.session_ttl.num_seconds()).then_some(session)
    }

    pub async fn end_session(&self, raw_session_id: &str) -> Result<(), StoreError> {
        self.ephemeral.delete(&key(raw_session_id)).await
    }
}
