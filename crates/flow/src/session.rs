//! Browser login sessions (the user is logged in at Palisade, not at a client).
//!
//! The session id is a bearer secret in a cookie; the ephemeral store keeps the session under
//! the id's hash, so a leaked store dump does not yield usable cookies. A new id is minted at
//! every login (session fixation).
//!
//! A session ends at the first of: its absolute lifetime after the sign-in (`session_ttl`),
//! its idle lifetime after its last use (`session_idle_ttl`), logout, or an account event
//! (checked where the session's user is loaded: [`User::authentication_stands`]). Both lifetimes
//! are judged from times stored in the session, never from the store's TTL, which only
//! reclaims memory: a TTL refreshed at each use would stretch the absolute lifetime, and one
//! counted by another clock would disagree with ours.
//!
//! Each session also has a durable index entry ([`SessionRecord`], written at sign-in,
//! touched when the session's last use is written back, removed when it ends, purged once
//! expired) so the user can list where they are signed in and end a session from another
//! browser. The ephemeral entry stays the authority: a listed session is shown only while it
//! is live there and its user's account events have not voided it.

use crate::interaction::Browser;
use crate::server::{AuthorizationServer, ttl};
use chrono::Duration;
use palisade_core::model::{SessionRecord, User};
use palisade_core::{StoreError, TokenHash};
use serde::{Deserialize, Serialize};

/// The longest user agent the index keeps: enough to name the browser and system.
const USER_AGENT_MAX_CHARS: usize = 256;

/// A session used again within this long of its last recorded use is not written back: idle
/// lifetimes are minutes long, and a write per request would double the store's traffic.
const TOUCH_AFTER: Duration = Duration::seconds(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserSession {
    pub user_id: String,
    /// Unix seconds of the login.
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// Binds the logout confirmation form to this session.
    pub csrf_token: String,
    /// Unix seconds of the last recorded use (none: the sign-in).
    #[serde(default)]
    pub last_used_at: Option<i64>,
}

impl BrowserSession {
    fn last_used_at(&self) -> i64 {
        self.last_used_at.unwrap_or(self.auth_time)
    }
}

/// The `User-Agent` as the index keeps it: hidden characters (palisade_core::text) dropped,
/// whitespace runs collapsed, at most [`USER_AGENT_MAX_CHARS`]; `None` if nothing is left.
pub fn clean_user_agent(raw: &str) -> Option<String> {
    let visible: String = raw
        .chars()
        .filter(|c| !palisade_core::text::is_hidden_character(*c))
        .collect();
    let cleaned: String = visible
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(USER_AGENT_MAX_CHARS)
        .collect();
    (!cleaned.is_empty()).then_some(cleaned)
}

pub(crate) fn key(raw_session_id: &str) -> String {
    format!("session:{}", TokenHash::of(raw_session_id).as_str())
}

impl AuthorizationServer {
    /// Starts a session for `user` in `browser`, indexes it, and returns the raw id for the
    /// cookie. An index that cannot be written fails the sign-in (fail closed: a session its
    /// user could not see or end must not exist).
    pub async fn start_session(
        &self,
        user: &User,
        amr: Vec<String>,
        browser: &Browser,
    ) -> Result<(String, BrowserSession), StoreError> {
        self.start_session_at(user, amr, browser, self.clock.now().timestamp())
            .await
    }

    /// Starts a session that outlives an account event at `event` which the user caused from
    /// this browser (a password change): an authentication stands only if it is later than the
    /// event's second, so the session's `auth_time` is the next second if now is the same one.
    pub async fn start_session_after(
        &self,
        user: &User,
        amr: Vec<String>,
        browser: &Browser,
        event: chrono::DateTime<chrono::Utc>,
    ) -> Result<(String, BrowserSession), StoreError> {
        let auth_time = self.clock.now().timestamp().max(event.timestamp() + 1);
        self.start_session_at(user, amr, browser, auth_time).await
    }

    async fn start_session_at(
        &self,
        user: &User,
        amr: Vec<String>,
        browser: &Browser,
        auth_time: i64,
    ) -> Result<(String, BrowserSession), StoreError> {
        let raw = self.secrets.token();
        let now = self.clock.now();
        let session = BrowserSession {
            user_id: user.id.0.clone(),
            auth_time,
            amr,
            csrf_token: self.secrets.token(),
            last_used_at: None,
        };
        self.session_index
            .record_session(SessionRecord {
                handle: self.secrets.token(),
                user_id: user.id.clone(),
                session_key: key(&raw),
                user_agent: browser.user_agent.as_deref().and_then(clean_user_agent),
                client_ip: browser.client_ip.map(|ip| ip.to_string()),
                created_at: now,
                last_seen_at: now,
                expires_at: self.session_expiry(&session),
            })
            .await?;
        if let Err(e) = self.save_session(&raw, &session).await {
            let _ = self.session_index.forget_session(&key(&raw)).await;
            return Err(e);
        }
        Ok((raw, session))
    }

    /// When the session ends if it is not used again: the sooner of its two lifetimes.
    pub(crate) fn session_expiry(&self, session: &BrowserSession) -> chrono::DateTime<chrono::Utc> {
        let absolute = session.auth_time + self.policy.session_ttl.num_seconds();
        let idle = session.last_used_at() + self.policy.session_idle_ttl.num_seconds();
        chrono::DateTime::from_timestamp(absolute.min(idle), 0).unwrap_or_else(|| self.clock.now())
    }

    async fn save_session(&self, raw: &str, session: &BrowserSession) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(session).map_err(|e| StoreError::Internal(e.into()))?;
        let now = self.clock.now().timestamp();
        let absolute_left = session.auth_time + self.policy.session_ttl.num_seconds() - now;
        let keep =
            Duration::seconds(absolute_left.clamp(1, self.policy.session_idle_ttl.num_seconds()));
        self.ephemeral.put(&key(raw), &bytes, ttl(keep)).await
    }

    /// The session behind a cookie value, if it is within both its lifetimes by our clock.
    /// A use records itself (at most once a minute), which keeps the idle lifetime going.
    pub async fn find_session(
        &self,
        raw_session_id: &str,
    ) -> Result<Option<BrowserSession>, StoreError> {
        let bytes = self.ephemeral.get(&key(raw_session_id)).await?;
        let Some(mut session) = self.live(bytes) else {
            return Ok(None);
        };
        let now = self.clock.now().timestamp();
        if now - session.last_used_at() >= TOUCH_AFTER.num_seconds() {
            session.last_used_at = Some(now);
            self.save_session(raw_session_id, &session).await?;
            // The index only shows when the session was last seen: a failed write must not
            // cost the user their page.
            if let Err(e) = self
                .session_index
                .touch_session(
                    &key(raw_session_id),
                    self.clock.now(),
                    self.session_expiry(&session),
                )
                .await
            {
                tracing::warn!(error = %e, "could not record a session's last use in the session index");
            }
        }
        Ok(Some(session))
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
        self.forget_indexed(&key(raw_session_id)).await;
        Ok(self.live(bytes))
    }

    pub(crate) fn live(&self, bytes: Option<Vec<u8>>) -> Option<BrowserSession> {
        let session = serde_json::from_slice::<BrowserSession>(&bytes?).ok()?;
        let now = self.clock.now().timestamp();
        let within_absolute = now - session.auth_time <= self.policy.session_ttl.num_seconds();
        let within_idle =
            now - session.last_used_at() <= self.policy.session_idle_ttl.num_seconds();
        (within_absolute && within_idle).then_some(session)
    }

    pub async fn end_session(&self, raw_session_id: &str) -> Result<(), StoreError> {
        self.end_session_at_key(&key(raw_session_id)).await
    }

    /// Ends the session stored at `session_key` and removes its index entry.
    pub(crate) async fn end_session_at_key(&self, session_key: &str) -> Result<(), StoreError> {
        self.ephemeral.delete(session_key).await?;
        self.forget_indexed(session_key).await;
        Ok(())
    }

    /// Removes a session's index entry once the session itself is gone. A failure only leaves
    /// a row behind: it is never listed (its session is not live) and the purge removes it,
    /// so it must not turn a sign-out that happened into an error page.
    async fn forget_indexed(&self, session_key: &str) {
        if let Err(e) = self.session_index.forget_session(session_key).await {
            tracing::warn!(error = %e, "could not remove an ended session from the session index");
        }
    }
}
