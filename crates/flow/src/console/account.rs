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
    pub applications: Vec<ConnectedApplication>,
    pub notice: Option<ApplicationsNotice>,
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
        let typed = (
            viewer.user.display_name.clone().unwrap_or_default(),
            viewer
                .user
                .email
                .as_ref()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
        );
        self.profile_page(&viewer, typed, false, None).await
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
                let stored = (
                    viewer.user.display_name.clone().unwrap_or_default(),
                    viewer
                        .user
                        .email
                        .as_ref()
                        .map(|e| e.as_str().to_owned())
                        .unwrap_or_default(),
                );
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
            .start_session_after(user, viewer.session.amr.clone(), now)
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

    /// `GET /account/applications`.
    pub async fn show_applications(&self, browser: &Browser) -> Outcome {
        match self.console_viewer(browser).await {
            Ok(viewer) => self.applications_page(&viewer, None).await,
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
        self.applications_page(&viewer, Some(notice)).await
    }

    async fn applications_page(
        &self,
        viewer: &Viewer,
        notice: Option<ApplicationsNotice>,
    ) -> Outcome {
        let page = async {
            Ok::<_, OAuthError>(ApplicationsView {
                frame: self.account_frame(viewer, Section::Applications).await?,
                applications: self.connected_applications(&viewer.user.id).await?,
                notice,
            })
        };
        match page.await {
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
        // (scopes, connected, last used) per client.
        let mut grants: BTreeMap<String, (Vec<String>, DateTime<Utc>, DateTime<Utc>)> =
            BTreeMap::new();
        let mut add = |client: &ClientId, scopes: &[String], since, used| {
            let entry = grants
                .entry(client.0.clone())
                .or_insert_with(|| (Vec::new(), since, used));
            for scope in scopes {
                if !entry.0.contains(scope) {
                    entry.0.push(scope.clone());
                }
            }
            entry.1 = entry.1.min(since);
            entry.2 = entry.2.max(used);
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
        let mut applications = Vec::with_capacity(grants.len());
        for (client_id, (scopes, connected_at, last_used_at)) in grants {
            let client_id = ClientId(client_id);
            let client_name = self
                .clients
                .find_client(&client_id)
                .await?
                .map_or_else(|| client_id.0.clone(), |client| client.name);
            applications.push(ConnectedApplication {
                client_id,
                client_name,
                scopes,
                connected_at,
                last_used_at,
            });
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

/// `user:<id>`, as audit events name a user.
fn user_actor(user: &UserId) -> String {
    format!("user:{user}")
}
