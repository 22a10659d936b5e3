//! The self-service account console (`/account/...`): the profile, the password (a panel of
//! the security page, [`crate::account_security`]) and the connected applications.
//!
//! The rules live here, not in the pages: a profile is checked by the same parsers as the
//! administration service's; a password change needs the current password, checked by the
//! credential guard (rate-limited, and it can lock the account like a sign-in), and ends every
//! other session and grant of the user; disconnecting an application ends its consent, its
//! refresh-token families and the access tokens issued from them. The admin console shows a
//! user's applications and disconnects one through the same two functions.

use super::{Frame, Section, Viewer};
use crate::guard::AttemptContext;
use crate::interaction::{Browser, Outcome, Refusal, Step, View};
use crate::login::CredentialCheck;
use crate::password::PasswordError;
use crate::server::AuthorizationServer;
use crate::session::BrowserSession;
use chrono::{DateTime, Utc};
use palisade_core::model::{AuditEvent, AuditOutcome, ClientId, Profile, User, UserId};
use palisade_core::{OAuthError, Secret, StoreError};
use serde_json::json;
use std::collections::BTreeMap;

/// How many connected applications a page lists.
pub const APPLICATIONS_PER_PAGE: usize = 20;

/// A page of the account console.
#[derive(Debug)]
pub enum AccountView {
    Profile(ProfileView),
    Applications(ApplicationsView),
}

/// `/account`: who the user is and how they are shown and reached.
#[derive(Debug)]
pub struct ProfileView {
    pub frame: Frame,
    pub username: String,
    /// What the form shows: the stored values, or what was typed before a refused save.
    pub display_name: String,
    pub email: String,
    pub email_verified: bool,
    pub saved: bool,
    pub problem: Option<ProfileProblem>,
}

/// Why a profile was not saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileProblem {
    InvalidDisplayName,
    InvalidEmail,
}

/// What the profile form posts (`csrf_token`, `display_name`, `email`; blank is none).
#[derive(Debug)]
pub struct ProfileSubmission<'a> {
    pub csrf_token: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
}

/// `/account/applications`: the clients that hold a grant of the user.
#[derive(Debug)]
pub struct ApplicationsView {
    pub frame: Frame,
    /// One page of the list ([`APPLICATIONS_PER_PAGE`]).
    pub applications: Vec<ConnectedApplication>,
    pub notice: Option<ApplicationsNotice>,
    /// The page shown (from 1), and whether there are pages before and after it.
    pub page: usize,
    pub has_previous: bool,
    pub has_next: bool,
}

/// What the last action on the applications page did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationsNotice {
    /// The named application was disconnected.
    Disconnected(String),
    /// The application named is not connected (any more): nothing changed.
    NotConnected,
    /// The form named no action this page knows.
    UnknownAction,
}

/// What the applications form posts: `csrf_token`, `action=revoke` and `client_id`.
#[derive(Debug)]
pub struct ApplicationsSubmission<'a> {
    pub csrf_token: Option<&'a str>,
    pub action: Option<&'a str>,
    pub client_id: Option<&'a str>,
}

/// A client that holds a consent or a live refresh-token family of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedApplication {
    pub client_id: ClientId,
    /// The client's registered name (its id if the client is gone).
    pub client_name: String,
    /// Every scope granted: the consent's and the live families', each once, in order.
    pub scopes: Vec<String>,
    /// The earliest of the consent and the live families.
    pub connected_at: DateTime<Utc>,
    /// The latest of a family's issue or rotation and the consent's time.
    pub last_used_at: DateTime<Utc>,
}

/// Why a password change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordProblem {
    /// The current password was wrong (or the account is locked): one message for both.
    NotYou,
    /// Too many failed attempts; try again in this many minutes.
    Throttled {
        minutes: u64,
    },
    /// Every hashing permit is held.
    Busy,
    /// The two new passwords differ.
    Mismatch,
    TooShort,
    TooLong,
    Common,
}

/// What the password form posts: the current password and the new one twice.
#[derive(Debug)]
pub struct PasswordChange {
    pub current: Secret,
    pub new: Secret,
    pub repeated: Secret,
}

/// A changed password: the fresh session that keeps this browser signed in.
#[derive(Debug)]
pub struct PasswordChanged {
    pub raw_session: String,
    pub session: BrowserSession,
    /// Refresh-token families revoked (the user's applications signed out).
    pub families_revoked: u64,
}

impl AuthorizationServer {
    /// `GET /account`.
    pub async fn show_profile(&self, browser: &Browser) -> Outcome {
        let viewer = match self.console_viewer(browser).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        let stored = as_typed(&viewer.user);
        self.profile_page(&viewer, stored, false, None).await
    }

    /// `POST /account`: saves the display name and email.
    pub async fn update_profile(&self, form: ProfileSubmission<'_>, browser: &Browser) -> Outcome {
        let viewer = match self.console_viewer(browser).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        if !viewer.posted_by_its_page(form.csrf_token) {
            return crate::interaction::forged_form().into();
        }
        let typed = (
            form.display_name.unwrap_or_default().to_owned(),
            form.email.unwrap_or_default().to_owned(),
        );
        match self
            .save_profile(&viewer.user, form.display_name, form.email)
            .await
        {
            Ok(Ok(user)) => {
                let viewer = Viewer { user, ..viewer };
                let stored = as_typed(&viewer.user);
                self.profile_page(&viewer, stored, true, None).await
            }
            Ok(Err(problem)) => {
                self.profile_page(&viewer, typed, false, Some(problem))
                    .await
            }
            Err(error) => Refusal::page(error.into()).into(),
        }
    }

    /// Saves `user`'s display name and email, parsed as the administration service parses
    /// them; a changed email is no longer verified. Returns the user as stored.
    pub async fn save_profile(
        &self,
        user: &User,
        display_name: Option<&str>,
        email: Option<&str>,
    ) -> Result<Result<User, ProfileProblem>, StoreError> {
        let Ok(display_name) = crate::admin::users::parse_display_name(display_name) else {
            return Ok(Err(ProfileProblem::InvalidDisplayName));
        };
        let Ok(email) = crate::admin::users::parse_email(email) else {
            return Ok(Err(ProfileProblem::InvalidEmail));
        };
        let email_changed = email != user.email;
        let profile = Profile {
            email_verified: user.email_verified && !email_changed,
            display_name,
            email,
        };
        if !email_changed && profile.display_name == user.display_name {
            return Ok(Ok(user.clone()));
        }
        self.users
            .update_profile(&user.id, &profile, self.clock.now())
            .await?;
        self.record_account_event(
            &user.id,
            &user_actor(&user.id),
            "account.profile.update",
            json!({
                "display_name_changed": profile.display_name != user.display_name,
                "email_changed": email_changed,
            }),
        )
        .await;
        let stored = self.users.find_user_by_id(&user.id).await?;
        Ok(Ok(stored.ok_or(StoreError::NotFound)?))
    }

    async fn profile_page(
        &self,
        viewer: &Viewer,
        (display_name, email): (String, String),
        saved: bool,
        problem: Option<ProfileProblem>,
    ) -> Outcome {
        let frame = match self.account_frame(viewer, Section::Profile).await {
            Ok(frame) => frame,
            Err(error) => return Refusal::page(error).into(),
        };
        Step::Show(View::Account(AccountView::Profile(ProfileView {
            frame,
            username: viewer.user.username.as_str().to_owned(),
            display_name,
            email,
            email_verified: viewer.user.email_verified,
            saved,
            problem,
        })))
        .into()
    }

    /// Changes the signed-in user's password (the security page's "Password" panel): the
    /// current password must be right (checked by the credential guard, so wrong guesses are
    /// limited and can lock the account), the new one must meet the password policy. Then every
    /// sign-in of the user so far ends, as docs/security.md "Account events" says, and this
    /// browser gets a fresh session so it stays signed in.
    pub async fn change_password(
        &self,
        viewer: &Viewer,
        change: PasswordChange,
        context: &AttemptContext,
    ) -> Result<Result<PasswordChanged, PasswordProblem>, OAuthError> {
        let user = &viewer.user;
        // The policy first: a weak new password costs no guess at the current one.
        if change.new.expose() != change.repeated.expose() {
            return Ok(Err(PasswordProblem::Mismatch));
        }
        if let Err(problem) = crate::password::check_new_password(&change.new) {
            return Ok(Err(match problem {
                PasswordError::TooShort => PasswordProblem::TooShort,
                PasswordError::TooLong => PasswordProblem::TooLong,
                _ => PasswordProblem::Common,
            }));
        }
        match self
            .check_credentials(user.username.as_str(), &change.current, context)
            .await?
        {
            CredentialCheck::Valid { user: checked, .. } if checked.id == user.id => {}
            CredentialCheck::Valid { .. } | CredentialCheck::Invalid => {
                return Ok(Err(PasswordProblem::NotYou));
            }
            CredentialCheck::Throttled(throttled) => {
                return Ok(Err(PasswordProblem::Throttled {
                    minutes: throttled.retry_after_minutes(),
                }));
            }
            CredentialCheck::Busy { .. } => return Ok(Err(PasswordProblem::Busy)),
        }
        let hash = match self.passwords.hash(&change.new).await {
            Ok(hash) => hash,
            Err(PasswordError::Saturated) => return Ok(Err(PasswordProblem::Busy)),
            Err(e) => return Err(OAuthError::server_error(e)),
        };
        let now = self.clock.now();
        self.users
            .update_password_hash(&user.id, &hash, now)
            .await?;
        let families_revoked = crate::account_events::end_every_session(
            self.users.as_ref(),
            self.refresh_tokens.as_ref(),
            &user.id,
            now,
        )
        .await?;
        let _ = self.end_session(&viewer.raw_session).await;
        let (raw_session, session) = self
            .start_session_after(user, viewer.session.amr.clone(), &viewer.browser, now)
            .await?;
        self.record_account_event(
            &user.id,
            &user_actor(&user.id),
            "account.password.change",
            json!({ "refresh_token_families_revoked": families_revoked }),
        )
        .await;
        Ok(Ok(PasswordChanged {
            raw_session,
            session,
            families_revoked,
        }))
    }

    /// `GET /account/applications?page=N` (from 1; anything else is the first page).
    pub async fn show_applications(&self, page: Option<&str>, browser: &Browser) -> Outcome {
        let page = page
            .and_then(|p| p.parse::<usize>().ok())
            .filter(|p| (1..=10_000).contains(p))
            .unwrap_or(1);
        match self.console_viewer(browser).await {
            Ok(viewer) => self.applications_page(&viewer, None, page).await,
            Err(refusal) => refusal.into(),
        }
    }

    /// `POST /account/applications`: `action=revoke` disconnects `client_id`.
    pub async fn applications_action(
        &self,
        form: ApplicationsSubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let viewer = match self.console_viewer(browser).await {
            Ok(viewer) => viewer,
            Err(refusal) => return refusal.into(),
        };
        if !viewer.posted_by_its_page(form.csrf_token) {
            return crate::interaction::forged_form().into();
        }
        let notice = match (form.action, form.client_id) {
            (Some("revoke"), Some(client_id)) => {
                let client_id = ClientId(client_id.to_owned());
                let name = match self.connected_applications(&viewer.user.id).await {
                    Ok(apps) => apps
                        .into_iter()
                        .find(|app| app.client_id == client_id)
                        .map(|app| app.client_name),
                    Err(error) => return Refusal::page(error.into()).into(),
                };
                match self
                    .disconnect_application(&viewer.user, &client_id, &user_actor(&viewer.user.id))
                    .await
                {
                    Ok(true) => ApplicationsNotice::Disconnected(name.unwrap_or(client_id.0)),
                    Ok(false) => ApplicationsNotice::NotConnected,
                    Err(error) => return Refusal::page(error).into(),
                }
            }
            _ => ApplicationsNotice::UnknownAction,
        };
        self.applications_page(&viewer, Some(notice), 1).await
    }

    async fn applications_page(
        &self,
        viewer: &Viewer,
        notice: Option<ApplicationsNotice>,
        page: usize,
    ) -> Outcome {
        let view = async {
            let all = self.connected_applications(&viewer.user.id).await?;
            let skip = (page - 1) * APPLICATIONS_PER_PAGE;
            Ok::<_, OAuthError>(ApplicationsView {
                frame: self.account_frame(viewer, Section::Applications).await?,
                has_previous: page > 1,
                has_next: all.len() > skip + APPLICATIONS_PER_PAGE,
                applications: all
                    .into_iter()
                    .skip(skip)
                    .take(APPLICATIONS_PER_PAGE)
                    .collect(),
                notice,
                page,
            })
        };
        match view.await {
            Ok(view) => Step::Show(View::Account(AccountView::Applications(view))).into(),
            Err(error) => Refusal::page(error).into(),
        }
    }

    /// Every client that holds a consent or a live refresh-token family of `user`, ordered by
    /// name.
    pub async fn connected_applications(
        &self,
        user: &UserId,
    ) -> Result<Vec<ConnectedApplication>, StoreError> {
        let now = self.clock.now();
        let consents = self.consents.list_consents_of_user(user).await?;
        let families = self
            .refresh_tokens
            .list_live_refresh_token_families_of_user(user, now)
            .await?;
        let mut by_client: BTreeMap<String, ConnectedApplication> = BTreeMap::new();
        let mut add = |client: &ClientId, scopes: &[String], since, used| {
            let app = by_client
                .entry(client.0.clone())
                .or_insert_with(|| ConnectedApplication {
                    client_id: client.clone(),
                    client_name: String::new(),
                    scopes: Vec::new(),
                    connected_at: since,
                    last_used_at: used,
                });
            for scope in scopes {
                if !app.scopes.contains(scope) {
                    app.scopes.push(scope.clone());
                }
            }
            app.connected_at = app.connected_at.min(since);
            app.last_used_at = app.last_used_at.max(used);
        };
        for consent in &consents {
            add(
                &consent.client_id,
                &consent.scopes,
                consent.granted_at,
                consent.granted_at,
            );
        }
        for family in &families {
            add(
                &family.client_id,
                &family.scopes,
                family.created_at,
                family.rotated_at.unwrap_or(family.created_at),
            );
        }
        let mut applications = Vec::with_capacity(by_client.len());
        for (_, mut app) in by_client {
            app.client_name = self
                .clients
                .find_client(&app.client_id)
                .await?
                .map_or_else(|| app.client_id.0.clone(), |client| client.name);
            applications.push(app);
        }
        applications.sort_by(|a, b| {
            (a.client_name.to_lowercase(), &a.client_id.0)
                .cmp(&(b.client_name.to_lowercase(), &b.client_id.0))
        });
        Ok(applications)
    }

    /// Ends what `client` holds of `user`: its consent, its refresh-token families and the
    /// access tokens issued from them. `actor` names who asked (`user:<id>` for the user
    /// themselves, the administrator otherwise). False, changing nothing, when the client holds
    /// nothing of the user.
    pub async fn disconnect_application(
        &self,
        user: &User,
        client: &ClientId,
        actor: &str,
    ) -> Result<bool, OAuthError> {
        let consent = self.consents.find_consent(&user.id, client).await?;
        let families: Vec<_> = self
            .refresh_tokens
            .list_live_refresh_token_families_of_user(&user.id, self.clock.now())
            .await?
            .into_iter()
            .filter(|family| &family.client_id == client)
            .collect();
        if consent.is_none() && families.is_empty() {
            return Ok(false);
        }
        // The tokens first: a consent gone while its tokens live would hide a live grant.
        for family in &families {
            self.revoke_grant(&family.id).await?;
        }
        self.consents.revoke_consent(&user.id, client).await?;
        self.record_account_event(
            &user.id,
            actor,
            "account.application.revoke",
            json!({
                "client_id": client.0,
                "had_consent": consent.is_some(),
                "refresh_token_families_revoked": families.len(),
            }),
        )
        .await;
        Ok(true)
    }

    /// An audit event about `user`'s account.
    async fn record_account_event(
        &self,
        user: &UserId,
        actor: &str,
        action: &str,
        details: serde_json::Value,
    ) {
        self.guard
            .record(AuditEvent {
                occurred_at: self.clock.now(),
                actor: actor.to_owned(),
                action: action.into(),
                target: Some(user_actor(user)),
                outcome: AuditOutcome::Success,
                client_ip: None,
                details: Some(details.to_string()),
            })
            .await;
    }
}

/// The display name and email as the profile form shows them (blank for none).
fn as_typed(user: &User) -> (String, String) {
    (
        user.display_name.clone().unwrap_or_default(),
        user.email
            .as_ref()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
    )
}

/// `user:<id>`, as audit events name a user.
fn user_actor(user: &UserId) -> String {
    format!("user:{user}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{PASSWORD, TestServer};
    use palisade_core::TokenHash;
    use palisade_core::model::{Consent, RefreshTokenFamily};

    async fn signed_in(server: &TestServer, user: &User) -> Browser {
        let (raw, _) = server
            .engine
            .start_session(user, vec!["pwd".into()], &Browser::default())
            .await
            .unwrap();
        Browser {
            binding: None,
            session: Some(raw),
            client_ip: Some("198.51.100.7".parse().unwrap()),
            user_agent: None,
        }
    }

    async fn viewer(server: &TestServer, browser: &Browser) -> Viewer {
        server.engine.console_viewer(browser).await.unwrap()
    }

    fn context() -> AttemptContext {
        AttemptContext {
            client_ip: Some("198.51.100.7".parse().unwrap()),
            client_id: None,
        }
    }

    fn change(current: &str, new: &str, repeated: &str) -> PasswordChange {
        PasswordChange {
            current: Secret::new(current),
            new: Secret::new(new),
            repeated: Secret::new(repeated),
        }
    }

    async fn family(
        server: &TestServer,
        user: &User,
        client: &ClientId,
        scopes: &[&str],
    ) -> String {
        let id = format!("family-{}", server.engine.secrets.token());
        let now = server.engine.clock.now();
        server
            .engine
            .refresh_tokens
            .insert_refresh_token_family(RefreshTokenFamily {
                id: id.clone(),
                client_id: client.clone(),
                user_id: Some(user.id.clone()),
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                grant: "{}".into(),
                current_hash: TokenHash::of(&id),
                previous_hash: None,
                rotated_at: None,
                created_at: now,
                expires_at: now + chrono::Duration::days(30),
                revoked_at: None,
            })
            .await
            .unwrap();
        id
    }

    fn profile(outcome: &Outcome) -> &ProfileView {
        match &outcome.step {
            Step::Show(View::Account(AccountView::Profile(view))) => view,
            other => panic!("expected the profile page, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_profile_is_parsed_like_the_admin_services_and_a_new_email_is_unverified() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let verified = Profile {
            display_name: None,
            email: Some(palisade_core::model::Email::parse("alice@example.com").unwrap()),
            email_verified: true,
        };
        server
            .engine
            .users
            .update_profile(&alice.id, &verified, server.engine.clock.now())
            .await
            .unwrap();
        let b = signed_in(&server, &alice).await;
        let csrf = viewer(&server, &b).await.session.csrf_token;
        let submit = |name: &'static str, email: &'static str, csrf: String| {
            let b = &b;
            let engine = &server.engine;
            async move {
                engine
                    .update_profile(
                        ProfileSubmission {
                            csrf_token: Some(&csrf),
                            display_name: Some(name),
                            email: Some(email),
                        },
                        b,
                    )
                    .await
            }
        };

        // Refused: what was typed comes back, nothing is stored.
        let refused = submit("Alice\u{202e}", "alice@example.com", csrf.clone()).await;
        assert_eq!(
            profile(&refused).problem,
            Some(ProfileProblem::InvalidDisplayName)
        );
        assert_eq!(profile(&refused).display_name, "Alice\u{202e}");
        let refused = submit("Alice", "not an address", csrf.clone()).await;
        assert_eq!(
            profile(&refused).problem,
            Some(ProfileProblem::InvalidEmail)
        );
        let forged = submit("Alice", "alice@example.com", "forged".into()).await;
        assert!(matches!(forged.step, Step::Refuse(_)));
        let stored = server
            .engine
            .users
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.display_name, None);
        assert!(stored.email_verified);

        // The same email keeps its verification; a new one loses it.
        let saved = submit("  Alice Liddell ", "alice@example.com", csrf.clone()).await;
        assert!(profile(&saved).saved);
        let stored = server
            .engine
            .users
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.display_name.as_deref(), Some("Alice Liddell"));
        assert!(stored.email_verified);
        let saved = submit("Alice Liddell", "alice@wonderland.example", csrf.clone()).await;
        assert!(!profile(&saved).email_verified);
        let stored = server
            .engine
            .users
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.email.unwrap().as_str(), "alice@wonderland.example");
        assert!(!stored.email_verified);
        // Blank is none.
        submit("", "", csrf.clone()).await;
        let stored = server
            .engine
            .users
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((stored.display_name, stored.email), (None, None));
        // Saving what is stored changes nothing, and nothing is audited.
        let audited = server.everything_at_rest().await;
        assert!(audited.contains("account.profile.update"));
        let same = submit("", "", csrf.clone()).await;
        assert!(profile(&same).saved);
        assert_eq!(server.everything_at_rest().await, audited);
    }

    #[tokio::test]
    async fn a_password_change_needs_the_current_password_and_a_good_new_one() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let b = signed_in(&server, &alice).await;
        let v = viewer(&server, &b).await;
        let new = "a much better passphrase";
        for (attempt, problem) in [
            (change("wrong password", new, new), PasswordProblem::NotYou),
            (
                change(PASSWORD, new, "a much better passfrase"),
                PasswordProblem::Mismatch,
            ),
            (
                change(PASSWORD, "short", "short"),
                PasswordProblem::TooShort,
            ),
            (
                change(PASSWORD, "password123", "password123"),
                PasswordProblem::Common,
            ),
        ] {
            let refused = server
                .engine
                .change_password(&v, attempt, &context())
                .await
                .unwrap();
            assert_eq!(refused.unwrap_err(), problem);
        }
        let stored = server
            .engine
            .users
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.password_hash, alice.password_hash, "no change");
        assert_eq!(stored.sessions_revoked_at, None);
        assert!(
            server.engine.console_viewer(&b).await.is_ok(),
            "still signed in"
        );
    }

    #[tokio::test]
    async fn wrong_current_passwords_lock_the_account_like_failed_sign_ins() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let b = signed_in(&server, &alice).await;
        let v = viewer(&server, &b).await;
        let new = "a much better passphrase";
        let threshold = server.engine.guard.limits.lockout_threshold;
        for _ in 0..threshold {
            let refused = server
                .engine
                .change_password(&v, change("wrong password", new, new), &context())
                .await
                .unwrap();
            assert_eq!(refused.unwrap_err(), PasswordProblem::NotYou);
        }
        // Locked: the right password does not get through either, and reads the same.
        let refused = server
            .engine
            .change_password(&v, change(PASSWORD, new, new), &context())
            .await
            .unwrap();
        assert_eq!(refused.unwrap_err(), PasswordProblem::NotYou);
        let stored = server
            .engine
            .users
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.password_hash, alice.password_hash);
    }

    #[tokio::test]
    async fn a_password_change_ends_every_other_session_and_grant_but_keeps_this_browser() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let client = server.client().await;
        let here = signed_in(&server, &alice).await;
        let elsewhere = signed_in(&server, &alice).await;
        let family_id = family(&server, &alice, &client.id, &["openid"]).await;
        let v = viewer(&server, &here).await;
        let new = "a much better passphrase";
        let changed = server
            .engine
            .change_password(&v, change(PASSWORD, new, new), &context())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.families_revoked, 1);
        assert!(server.engine.console_viewer(&elsewhere).await.is_err());
        assert!(
            server.engine.console_viewer(&here).await.is_err(),
            "the old cookie"
        );
        let renewed = Browser {
            session: Some(changed.raw_session.clone()),
            ..here.clone()
        };
        let renewed = server.engine.console_viewer(&renewed).await.unwrap();
        assert_ne!(renewed.session.csrf_token, v.session.csrf_token);
        let family = server
            .engine
            .refresh_tokens
            .find_refresh_token_family_by_id(&family_id)
            .await
            .unwrap()
            .unwrap();
        assert!(family.revoked_at.is_some());
        let check = server
            .engine
            .check_credentials("alice", &Secret::new(new), &context())
            .await
            .unwrap();
        assert!(matches!(check, CredentialCheck::Valid { .. }));
        assert!(
            server
                .everything_at_rest()
                .await
                .contains("account.password.change")
        );
    }

    #[tokio::test]
    async fn the_applications_page_lists_a_fixed_number_per_page() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        for _ in 0..=APPLICATIONS_PER_PAGE {
            let client = server.client().await;
            family(&server, &alice, &client.id, &["openid"]).await;
        }
        let b = signed_in(&server, &alice).await;
        let page = |outcome: Outcome| match outcome.step {
            Step::Show(View::Account(AccountView::Applications(view))) => view,
            other => panic!("expected the applications page, got {other:?}"),
        };
        let first = page(server.engine.show_applications(None, &b).await);
        assert_eq!(first.applications.len(), APPLICATIONS_PER_PAGE);
        assert!(first.has_next && !first.has_previous);
        let second = page(server.engine.show_applications(Some("2"), &b).await);
        assert_eq!(second.applications.len(), 1);
        assert!(second.has_previous && !second.has_next);
        assert!(!first.applications.contains(&second.applications[0]));
        for odd in ["0", "-1", "x", "99999999999999999999"] {
            let shown = page(server.engine.show_applications(Some(odd), &b).await);
            assert_eq!(shown.page, 1, "{odd}");
        }
        let beyond = page(server.engine.show_applications(Some("9"), &b).await);
        assert!(beyond.applications.is_empty() && beyond.has_previous);
    }

    #[tokio::test]
    async fn connected_applications_join_consents_and_live_families_and_disconnect_ends_both() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let photos = server.client().await;
        let mail = server.client().await;
        let never = server.client().await;
        let granted_at = server.engine.clock.now();
        server
            .engine
            .consents
            .save_consent(Consent {
                user_id: alice.id.clone(),
                client_id: photos.id.clone(),
                scopes: vec!["openid".into(), "profile".into()],
                granted_at,
            })
            .await
            .unwrap();
        server.clock.advance(chrono::Duration::minutes(5));
        let photos_family =
            family(&server, &alice, &photos.id, &["openid", "offline_access"]).await;
        let mail_family = family(&server, &alice, &mail.id, &["openid"]).await;
        let bobs = family(&server, &bob, &photos.id, &["openid"]).await;

        let apps = server
            .engine
            .connected_applications(&alice.id)
            .await
            .unwrap();
        assert_eq!(apps.len(), 2);
        let shown = apps.iter().find(|a| a.client_id == photos.id).unwrap();
        assert_eq!(shown.scopes, ["openid", "profile", "offline_access"]);
        assert_eq!(shown.connected_at, granted_at);
        assert_eq!(
            shown.last_used_at,
            granted_at + chrono::Duration::minutes(5)
        );
        assert_eq!(shown.client_name, "Test App");

        // A client that holds nothing: no change, nothing audited.
        let before = server.everything_at_rest().await;
        assert!(
            !server
                .engine
                .disconnect_application(&alice, &never.id, "user:x")
                .await
                .unwrap()
        );
        assert_eq!(server.everything_at_rest().await, before);

        assert!(
            server
                .engine
                .disconnect_application(&alice, &photos.id, &format!("user:{}", alice.id))
                .await
                .unwrap()
        );
        let apps = server
            .engine
            .connected_applications(&alice.id)
            .await
            .unwrap();
        assert_eq!(
            apps.iter().map(|a| &a.client_id).collect::<Vec<_>>(),
            [&mail.id]
        );
        assert!(
            server
                .engine
                .is_grant_revoked(&photos_family)
                .await
                .unwrap()
        );
        assert!(!server.engine.is_grant_revoked(&mail_family).await.unwrap());
        assert!(
            !server.engine.is_grant_revoked(&bobs).await.unwrap(),
            "bob's stays"
        );
        assert!(
            server
                .engine
                .consents
                .find_consent(&alice.id, &photos.id)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            server
                .everything_at_rest()
                .await
                .contains("account.application.revoke")
        );
        // Twice is nothing.
        assert!(
            !server
                .engine
                .disconnect_application(&alice, &photos.id, "user:x")
                .await
                .unwrap()
        );
    }
}
