//! Users: create, list and search, read with roles and lockout state, disable and enable,
//! unlock, reset the password (giving and taking roles is in [`super::roles`]).
//!
//! Acting on an existing user needs every permission that user holds (a user-admin cannot
//! reset an administrator's password, disable them, or take their roles away).

use super::{Action, Admin, AdminError, AdminResult, Caller};
use chrono::{DateTime, Utc};
use palisade_core::model::{Email, NewUser, RoleName, User, UserId, Username};
use palisade_core::ports::CONFUSABLE_USERNAME;
use palisade_core::text::check_shown_text;
use palisade_core::{Secret, StoreError};
use serde_json::json;

/// The longest display name accepted.
const MAX_DISPLAY_NAME_CHARS: usize = 200;
/// The longest search text accepted.
const MAX_SEARCH_CHARS: usize = 256;

/// A user to create, as typed: every field is parsed by [`Admin::create_user`].
#[derive(Debug)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub password: &'a Secret,
    /// Blank means none.
    pub email: Option<&'a str>,
    /// Blank means none.
    pub display_name: Option<&'a str>,
}

/// A user with the roles it holds and the lock in force, if any.
#[derive(Debug, Clone)]
pub struct UserDetails {
    pub user: User,
    pub roles: Vec<RoleName>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// `user:<id>`, as audit events name a user.
pub fn target(id: &UserId) -> String {
    format!("user:{id}")
}

/// Trimmed; blank is none.
fn optional(raw: Option<&str>) -> Option<&str> {
    raw.map(str::trim).filter(|s| !s.is_empty())
}

impl Admin {
    /// The user with this id.
    pub async fn find_user(&self, id: &UserId) -> AdminResult<User> {
        self.users
            .find_user_by_id(id)
            .await?
            .ok_or(AdminError::NotFound("no such user"))
    }

    /// The user with this username (case-folded).
    pub async fn find_user_by_username(&self, raw: &str) -> AdminResult<User> {
        let username = parse_username(raw)?;
        self.users
            .find_user_by_username(&username)
            .await?
            .ok_or(AdminError::NotFound("no such user"))
    }

    /// Users ordered by username, `limit` from `offset`; `search` matches a substring of the
    /// username, email or display name.
    pub async fn list_users(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> AdminResult<Vec<User>> {
        if search.is_some_and(|s| s.chars().count() > MAX_SEARCH_CHARS) {
            return Err(AdminError::Invalid(format!(
                "search must be at most {MAX_SEARCH_CHARS} characters"
            )));
        }
        Ok(self.users.list_users(search, limit, offset).await?)
    }

    /// The user with its roles and the lock in force now, if any.
    pub async fn user_details(&self, user: User) -> AdminResult<UserDetails> {
        let roles = self.roles.roles_of_user(&user.id, self.clock.now()).await?;
        let now = self.clock.now();
        let locked_until = self
            .lockouts
            .find_account_lockout(&user.id)
            .await?
            .and_then(|l| l.locked_until)
            .filter(|until| *until > now);
        Ok(UserDetails {
            user,
            roles,
            locked_until,
        })
    }

    /// Creates a user holding no role. The username, email and display name are parsed here
    /// and the password must meet the password policy, whichever face asked.
    pub async fn create_user(&self, caller: &Caller, new: NewAccount<'_>) -> AdminResult<User> {
        let user = self.new_user(new).await?;
        let user = self.insert_user(user).await?;
        self.auditor
            .success(
                caller,
                Action::CreateUser,
                &target(&user.id),
                Some(json!({ "username": user.username.as_str() })),
            )
            .await;
        Ok(user)
    }

    pub(super) async fn insert_user(&self, user: NewUser) -> AdminResult<User> {
        let username = user.username.clone();
        self.users.insert_user(user).await.map_err(|e| match e {
            StoreError::Conflict(CONFUSABLE_USERNAME) => AdminError::Conflict(format!(
                "username {username} looks like an existing username (UTS #39); choose another"
            )),
            StoreError::Conflict(_) => {
                AdminError::Conflict(format!("user {username} already exists"))
            }
            other => other.into(),
        })
    }

    pub(super) async fn new_user(&self, new: NewAccount<'_>) -> AdminResult<NewUser> {
        let username = Username::parse_new(new.username)
            .map_err(|e| AdminError::Invalid(format!("username: {e}")))?;
        let email = parse_email(new.email)?;
        let display_name = parse_display_name(new.display_name)?;
        let password_hash = self.passwords.hash(new.password).await?;
        Ok(NewUser {
            id: UserId(uuid::Uuid::new_v4().to_string()),
            username,
            email,
            display_name,
            password_hash,
            created_at: self.clock.now(),
        })
    }

    /// Refuses unless `caller` holds every permission `user` holds.
    pub(super) async fn must_manage(
        &self,
        caller: &Caller,
        user: &User,
        action: Action,
    ) -> AdminResult<()> {
        let held = self
            .roles
            .permissions_of_user(&user.id, self.clock.now())
            .await?;
        caller
            .must_hold_all_audited(
                &self.auditor,
                held,
                "managing this user",
                action,
                &target(&user.id),
            )
            .await
    }

    /// Stops the user from signing in and ends every session and grant they have (`disabled`
    /// true), or lets them sign in again (their old sessions and grants stay ended).
    pub async fn set_user_disabled(
        &self,
        caller: &Caller,
        user: &User,
        disabled: bool,
    ) -> AdminResult<User> {
        let action = if disabled {
            Action::DisableUser
        } else {
            Action::EnableUser
        };
        self.must_manage(caller, user, action).await?;
        self.users
            .set_user_disabled(&user.id, disabled, self.clock.now())
            .await?;
        // Enabling restores nothing: what the user had was voided when they were disabled.
        if disabled {
            self.end_every_session(&user.id).await?;
        }
        self.auditor
            .success(caller, action, &target(&user.id), None)
            .await;
        self.find_user(&user.id).await
    }

    /// Lifts a brute-force lock and forgets the failure streak; returns whether a lock was in
    /// force. The guard writes its own `user.unlock` event, as for every lock it manages.
    pub async fn unlock_user(&self, caller: &Caller, user: &User) -> AdminResult<bool> {
        self.must_manage(caller, user, Action::UnlockUser).await?;
        let was_locked = self.guard.unlock(user, &caller.actor).await?;
        self.auditor
            .success(
                caller,
                Action::UnlockUser,
                &target(&user.id),
                Some(json!({ "was_locked": was_locked })),
            )
            .await;
        Ok(was_locked)
    }

    /// Sets a new password, which must meet the password policy.
    pub async fn reset_password(
        &self,
        caller: &Caller,
        user: &User,
        password: &Secret,
    ) -> AdminResult<()> {
        self.must_manage(caller, user, Action::ResetPassword)
            .await?;
        let hash = self.passwords.hash(password).await?;
        self.users
            .update_password_hash(&user.id, &hash, self.clock.now())
            .await?;
        // Whoever held the old password may hold a session or a refresh token made with it.
        let ended = self.end_every_session(&user.id).await?;
        self.auditor
            .success(
                caller,
                Action::ResetPassword,
                &target(&user.id),
                Some(json!({ "refresh_token_families_revoked": ended })),
            )
            .await;
        Ok(())
    }

    /// "Sign out everywhere": ends every browser session, open interaction, outstanding code,
    /// refresh-token family and access token of the user (docs/security.md, "Account events").
    /// Returns how many refresh-token families were revoked.
    pub async fn sign_out_everywhere(&self, caller: &Caller, user: &User) -> AdminResult<u64> {
        self.must_manage(caller, user, Action::SignOutUser).await?;
        let ended = self.end_every_session(&user.id).await?;
        self.auditor
            .success(
                caller,
                Action::SignOutUser,
                &target(&user.id),
                Some(json!({ "refresh_token_families_revoked": ended })),
            )
            .await;
        Ok(ended)
    }

    /// Deletes the user with their roles, consents and grants. Their access tokens die with
    /// them (a token's user must exist), and a new user of the same name is someone else (a
    /// new id). A caller cannot delete themselves: the last administrator would be gone.
    pub async fn delete_user(&self, caller: &Caller, user: &User) -> AdminResult<()> {
        self.must_manage(caller, user, Action::DeleteUser).await?;
        if caller.actor == target(&user.id) {
            return Err(AdminError::Invalid(
                "you cannot delete yourself; ask another administrator".into(),
            ));
        }
        // Void the sign-ins first, so a token minted while the rows go is void too.
        self.end_every_session(&user.id).await?;
        self.users.delete_user(&user.id).await?;
        self.auditor
            .success(
                caller,
                Action::DeleteUser,
                &target(&user.id),
                Some(json!({ "username": user.username.as_str() })),
            )
            .await;
        Ok(())
    }

    pub(super) async fn end_every_session(&self, user: &UserId) -> AdminResult<u64> {
        Ok(crate::account_events::end_every_session(
            self.users.as_ref(),
            self.refresh_tokens.as_ref(),
            user,
            self.clock.now(),
        )
        .await?)
    }
}

fn parse_username(raw: &str) -> AdminResult<Username> {
    Username::parse(raw).map_err(|e| AdminError::Invalid(format!("username: {e}")))
}

/// An email as typed (blank is none), by the rules every face shares: the admin service's and
/// the account console's.
pub(crate) fn parse_email(raw: Option<&str>) -> AdminResult<Option<Email>> {
    optional(raw)
        .map(Email::parse)
        .transpose()
        .map_err(|e| AdminError::Invalid(format!("email: {e}")))
}

/// A display name as typed (blank is none): shown to people, so no hidden characters, and at
/// most [`MAX_DISPLAY_NAME_CHARS`].
pub(crate) fn parse_display_name(raw: Option<&str>) -> AdminResult<Option<String>> {
    let Some(name) = optional(raw) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(AdminError::Invalid(format!(
            "display_name must be at most {MAX_DISPLAY_NAME_CHARS} characters"
        )));
    }
    check_shown_text(name).map_err(|e| AdminError::Invalid(format!("display_name {e}")))?;
    Ok(Some(name.to_owned()))
}
