//! The account console's sessions page (`/account/sessions`), and the session list the admin console shows for a user.
//!
//! A session is listed from its durable index entry ([`crate::session`]) but only while it is
//! live in the ephemeral store (within both lifetimes) and its user's account events have not
//! voided it: the index may lag (it is touched at most once a minute, purged hourly), the
//! ephemeral entry does not. A session is named by its index handle, random and public: a
//! handle posted by another user, or made up, finds nothing and ends nothing.

use super::{Frame, Section, Viewer};
use crate::interaction::{Browser, Outcome, Refusal, Step, View, forged_form};
use crate::server::AuthorizationServer;
use crate::session::{BrowserSession, key};
use chrono::{DateTime, Utc};
use palisade_core::model::{AuditEvent, AuditOutcome, User};
use palisade_core::{OAuthError, StoreError};
use serde_json::json;

/// The audit action of a session ended from the sessions page (or by an administrator).
pub const SESSION_END_ACTION: &str = "account.session.end";

/// A page of this area.
#[derive(Debug)]
pub enum SessionsView {
    /// Where the user is signed in.
    List(SessionsPage),
}

/// The sessions page.
#[derive(Debug)]
pub struct SessionsPage {
    pub frame: Frame,
    pub sessions: Vec<SessionEntry>,
    pub notice: Option<SessionsNotice>,
}

/// One live session of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEntry {
    /// Names the session in the page's forms.
    pub handle: String,
    /// The browser's `User-Agent`, cleaned (the page names it shortly).
    pub user_agent: Option<String>,
    pub client_ip: Option<String>,
    /// The sign-in.
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// The session of the browser looking at the list.
    pub is_current: bool,
}

/// What the page says after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionsNotice {
    /// The chosen session was ended.
    Ended,
    /// The chosen session was already gone (ended elsewhere, expired, or not the user's).
    NotFound,
    /// Every other session was ended: how many.
    EndedOthers(usize),
}

/// A posted sessions form: `end` with a `handle`, or `end-others`.
#[derive(Debug)]
pub struct SessionsSubmission<'a> {
    pub csrf_token: Option<&'a str>,
    pub action: SessionsAction<'a>,
}

#[derive(Debug)]
pub enum SessionsAction<'a> {
    End {
        handle: &'a str,
    },
    EndOthers,
    /// An action the page never sends.
    Unknown,
}

impl<'a> SessionsAction<'a> {
    /// The action a form's fields name.
    pub fn from_form(field: impl Fn(&str) -> Option<&'a str>) -> Self {
        match field("action") {
            Some("end") => match field("handle") {
                Some(handle) => Self::End { handle },
                None => Self::Unknown,
            },
            Some("end-others") => Self::EndOthers,
            _ => Self::Unknown,
        }
    }
}

impl AuthorizationServer {
    /// The user's live sessions, most recently seen first; `current` (a raw cookie value)
    /// marks the one it belongs to.
    pub async fn sessions_of_user(
        &self,
        user: &User,
        current: Option<&str>,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let records = self
            .session_index
            .sessions_of_user(&user.id, self.clock.now())
            .await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = records.iter().map(|r| r.session_key.as_str()).collect();
        let stored = self.ephemeral.get_many(&keys).await?;
        let current_key = current.map(key);
        let mut entries = Vec::new();
        for (record, bytes) in records.into_iter().zip(stored) {
            let Some(session) = self.live(bytes) else {
                continue;
            };
            if session.user_id != user.id.0 || !user.authentication_stands(session.auth_time) {
                continue;
            }
            entries.push(SessionEntry {
                is_current: current_key.as_deref() == Some(record.session_key.as_str()),
                last_seen_at: last_seen(&session).unwrap_or(record.last_seen_at),
                handle: record.handle,
                user_agent: record.user_agent,
                client_ip: record.client_ip,
                created_at: record.created_at,
            });
        }
        entries.sort_by_key(|e| std::cmp::Reverse(e.last_seen_at));
        Ok(entries)
    }

    /// Ends `user`'s session named `handle`, written to the audit trail as done by `actor`
    /// (`user:<id>`). Returns whether there was such a session; another user's handle, or an
    /// unknown one, ends nothing and records nothing.
    pub async fn end_session_by_handle(
        &self,
        user: &User,
        handle: &str,
        actor: &str,
        client_ip: Option<String>,
    ) -> Result<bool, StoreError> {
        let Some(record) = self
            .session_index
            .find_session_by_handle(&user.id, handle)
            .await?
        else {
            return Ok(false);
        };
        self.end_session_at_key(&record.session_key).await?;
        self.record_session_end(user, actor, client_ip, json!({ "sessions": 1 }))
            .await;
        Ok(true)
    }

    /// Ends every indexed session of `user` but the one of `current` (a raw cookie value),
    /// which stays signed in; returns how many ended.
    pub async fn end_other_sessions(
        &self,
        user: &User,
        current: &str,
        actor: &str,
        client_ip: Option<String>,
    ) -> Result<usize, StoreError> {
        let current_key = key(current);
        let records = self
            .session_index
            .sessions_of_user(&user.id, self.clock.now())
            .await?;
        let mut ended = 0;
        for record in records.iter().filter(|r| r.session_key != current_key) {
            self.end_session_at_key(&record.session_key).await?;
            ended += 1;
        }
        self.record_session_end(
            user,
            actor,
            client_ip,
            json!({ "sessions": ended, "all_but_current": true }),
        )
        .await;
        Ok(ended)
    }

    async fn record_session_end(
        &self,
        user: &User,
        actor: &str,
        client_ip: Option<String>,
        details: serde_json::Value,
    ) {
        self.guard
            .record(AuditEvent {
                occurred_at: self.clock.now(),
                actor: actor.to_owned(),
                action: SESSION_END_ACTION.into(),
                target: Some(format!("user:{}", user.id)),
                outcome: AuditOutcome::Success,
                client_ip,
                details: Some(details.to_string()),
            })
            .await;
    }

    /// `GET /account/sessions`.
    pub async fn show_sessions(&self, browser: &Browser) -> Outcome {
        match self.console_viewer(browser).await {
            Ok(viewer) => self.sessions_page(&viewer, None).await,
            Err(refusal) => refusal.into(),
        }
    }

    /// `POST /account/sessions`.
    pub async fn sessions_action(
        &self,
        form: SessionsSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let viewer = match self.console_viewer(browser).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        if !viewer.posted_by_its_page(form.csrf_token) {
            return forged_form().into();
        }
        let actor = format!("user:{}", viewer.user.id);
        let ip = browser.client_ip.map(|ip| ip.to_string());
        let notice = match form.action {
            SessionsAction::End { handle } => {
                match self
                    .end_session_by_handle(&viewer.user, handle, &actor, ip)
                    .await
                {
                    Ok(true) => SessionsNotice::Ended,
                    Ok(false) => SessionsNotice::NotFound,
                    Err(e) => return Refusal::page(e.into()).into(),
                }
            }
            SessionsAction::EndOthers => {
                match self
                    .end_other_sessions(&viewer.user, &viewer.raw_session, &actor, ip)
                    .await
                {
                    Ok(n) => SessionsNotice::EndedOthers(n),
                    Err(e) => return Refusal::page(e.into()).into(),
                }
            }
            SessionsAction::Unknown => {
                return Refusal::page(OAuthError::invalid_request(
                    "the form asked for something this page does not do",
                ))
                .into();
            }
        };
        // The viewer may have ended their own session by its handle: then they are signed out.
        match self.console_viewer(browser).await {
            Ok(viewer) => self.sessions_page(&viewer, Some(notice)).await,
            Err(refusal) => {
                let mut outcome: Outcome = refusal.into();
                outcome.cookies.clear_session = true;
                outcome
            }
        }
    }

    async fn sessions_page(&self, viewer: &Viewer, notice: Option<SessionsNotice>) -> Outcome {
        let page = async {
            let frame = self.account_frame(viewer, Section::Sessions).await?;
            let sessions = self
                .sessions_of_user(&viewer.user, Some(&viewer.raw_session))
                .await?;
            Ok::<_, OAuthError>(SessionsPage {
                frame,
                sessions,
                notice,
            })
        };
        match page.await {
            Ok(page) => Step::Show(View::Sessions(SessionsView::List(page))).into(),
            Err(error) => Refusal::page(error).into(),
        }
    }
}

fn last_seen(session: &BrowserSession) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(session.last_used_at.unwrap_or(session.auth_time), 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::TestServer;

    fn browser_with(agent: &str, ip: &str) -> Browser {
        Browser {
            binding: None,
            session: None,
            client_ip: Some(ip.parse().unwrap()),
            user_agent: Some(agent.into()),
        }
    }

    #[tokio::test]
    async fn sessions_are_listed_while_live_and_end_by_handle_only_for_their_user() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let (a1, _) = server
            .engine
            .start_session(
                &alice,
                vec!["pwd".into()],
                &browser_with(
                    "Mozilla/5.0 (X11; Linux x86_64) Chrome/120\u{202E}",
                    "198.51.100.1",
                ),
            )
            .await
            .unwrap();
        server.clock.advance(chrono::Duration::seconds(5));
        let (a2, _) = server
            .engine
            .start_session(
                &alice,
                vec!["pwd".into()],
                &browser_with("curl", "198.51.100.2"),
            )
            .await
            .unwrap();
        let (_b1, _) = server
            .engine
            .start_session(&bob, vec!["pwd".into()], &Browser::default())
            .await
            .unwrap();

        let listed = server
            .engine
            .sessions_of_user(&alice, Some(&a1))
            .await
            .unwrap();
        assert_eq!(listed.len(), 2);
        let current: Vec<_> = listed.iter().filter(|s| s.is_current).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(
            current[0].user_agent.as_deref(),
            Some("Mozilla/5.0 (X11; Linux x86_64) Chrome/120"),
            "hidden characters are dropped"
        );
        assert_eq!(current[0].client_ip.as_deref(), Some("198.51.100.1"));
        let other = listed.iter().find(|s| !s.is_current).unwrap().clone();

        // Bob cannot end Alice's session by its handle, nor can a made-up handle.
        let bob_id = format!("user:{}", bob.id);
        assert!(
            !server
                .engine
                .end_session_by_handle(&bob, &other.handle, &bob_id, None)
                .await
                .unwrap()
        );
        assert!(server.engine.find_session(&a2).await.unwrap().is_some());

        let alice_id = format!("user:{}", alice.id);
        assert!(
            server
                .engine
                .end_session_by_handle(&alice, &other.handle, &alice_id, None)
                .await
                .unwrap()
        );
        assert!(server.engine.find_session(&a2).await.unwrap().is_none());
        assert_eq!(
            server
                .engine
                .sessions_of_user(&alice, Some(&a1))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            server
                .engine
                .sessions_of_user(&bob, None)
                .await
                .unwrap()
                .len(),
            1
        );
    }

    #[tokio::test]
    async fn signing_out_others_keeps_this_one_and_expired_or_voided_sessions_are_not_listed() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let mut raws = Vec::new();
        for _ in 0..3 {
            let (raw, _) = server
                .engine
                .start_session(&alice, vec!["pwd".into()], &Browser::default())
                .await
                .unwrap();
            raws.push(raw);
        }
        let actor = format!("user:{}", alice.id);
        let ended = server
            .engine
            .end_other_sessions(&alice, &raws[0], &actor, None)
            .await
            .unwrap();
        assert_eq!(ended, 2);
        assert!(
            server
                .engine
                .find_session(&raws[0])
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            server
                .engine
                .find_session(&raws[1])
                .await
                .unwrap()
                .is_none()
        );
        let listed = server
            .engine
            .sessions_of_user(&alice, Some(&raws[0]))
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].is_current);

        // Idle past its lifetime: not listed, and the purge removes the row.
        server
            .clock
            .advance(server.engine.policy.session_idle_ttl + chrono::Duration::seconds(1));
        assert!(
            server
                .engine
                .sessions_of_user(&alice, None)
                .await
                .unwrap()
                .is_empty()
        );
        let purged = server
            .engine
            .session_index
            .purge_expired_sessions(server.engine.clock.now())
            .await
            .unwrap();
        assert_eq!(purged, 1);
    }

    #[tokio::test]
    async fn an_account_event_voids_the_listed_sessions() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let (raw, _) = server
            .engine
            .start_session(&alice, vec!["pwd".into()], &Browser::default())
            .await
            .unwrap();
        server.clock.advance(chrono::Duration::seconds(2));
        server
            .engine
            .users
            .revoke_user_sessions(&alice.id, server.engine.clock.now())
            .await
            .unwrap();
        let alice = server
            .engine
            .users
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            server
                .engine
                .sessions_of_user(&alice, Some(&raw))
                .await
                .unwrap()
                .is_empty()
        );
    }
}
