//! The first administrator, on a fresh installation (`palisade admin init`).
//!
//! There is no default account and no default password: the operator chooses the password,
//! and it must pass the password policy. Once an administrator exists this refuses — a second
//! bootstrap path would be a way around the rule that nobody grants what they do not hold.

use super::users::{self, NewAccount};
use super::{Action, Admin, AdminError, AdminResult, Caller};
use palisade_core::model::{NewRoleGrant, RoleName, User, Username};
use serde_json::json;

/// The built-in role holding every admin permission (migration `builtin_roles`).
pub const ADMIN_ROLE: &str = "admin";

/// How many users are read at a time while looking for an administrator.
const PAGE: i64 = 500;

impl Admin {
    /// Refuses when the first administrator cannot be made as `username`: the built-in role
    /// is missing, an administrator exists, or the username is taken. Checked again by
    /// [`Admin::init_administrator`]; this lets a face refuse before asking for a password.
    pub async fn check_administrator_init(&self, username: &str) -> AdminResult<RoleName> {
        let username = Username::parse_new(username)
            .map_err(|e| AdminError::Invalid(format!("username: {e}")))?;
        let role = self
            .find_role(ADMIN_ROLE)
            .await
            .map_err(|e| match e {
                AdminError::NotFound(_) => AdminError::Conflict(
                    "the built-in admin role is missing; run `palisade migrate` on this database"
                        .into(),
                ),
                other => other,
            })?
            .name;
        if let Some(existing) = self.find_administrator(&role).await? {
            return Err(AdminError::Conflict(format!(
                "an administrator already exists ({existing}); add more with `palisade role grant admin USERNAME` or the admin API"
            )));
        }
        if self.users.find_user_by_username(&username).await?.is_some() {
            return Err(AdminError::Conflict(format!(
                "user {username} already exists; make them an administrator with `palisade role grant admin {username}`"
            )));
        }
        Ok(role)
    }

    /// Creates the first administrator: a new user holding the built-in `admin` role.
    pub async fn init_administrator(
        &self,
        caller: &Caller,
        new: NewAccount<'_>,
    ) -> AdminResult<User> {
        let role = self.check_administrator_init(new.username).await?;
        let user = self.new_user(new).await?;
        let user = self.insert_user(user).await?;
        let grant = NewRoleGrant {
            granted_by: caller.actor.clone(),
            granted_at: self.clock.now(),
            expires_at: None,
        };
        self.roles
            .record_role_grant(&role, &user.id, &grant)
            .await?;
        self.auditor
            .success(
                caller,
                Action::Init,
                &users::target(&user.id),
                Some(json!({ "username": user.username.as_str(), "role": role })),
            )
            .await;
        Ok(user)
    }

    /// The username of some user holding `role`, if any (paged, so a large user table is read
    /// in bounded pieces).
    async fn find_administrator(&self, role: &RoleName) -> AdminResult<Option<Username>> {
        let mut offset = 0;
        loop {
            let page = self.users.list_users(None, PAGE, offset).await?;
            for user in &page {
                if self
                    .roles
                    .roles_of_user(&user.id, self.clock.now())
                    .await?
                    .contains(role)
                {
                    return Ok(Some(user.username.clone()));
                }
            }
            if (page.len() as i64) < PAGE {
                return Ok(None);
            }
            offset += PAGE;
        }
    }
}
