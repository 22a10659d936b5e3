//! Roles: the permission catalogue, roles with their permissions, creating a role, adding and
//! removing a permission, requiring a second factor of its holders, giving a role to a user
//! and taking it away.
//!
//! Permissions come from a fixed catalogue ([`Permission::ALL`]); anything else is refused, so
//! a typo cannot create a permission nobody checks. Creating a role or changing what a role
//! carries needs every permission involved: changing a role changes what all its holders may
//! do, so it is granting. Giving or taking a role needs every permission the role carries, and
//! every permission the user holds (as any action on a user), and `users:write` (checked here,
//! not only by the API's route, as the console calls the same function). A grant records who
//! made it and when, and may carry an expiry after which it gives nothing (see
//! [`super::reviews`] for access reviews and the sweep of lapsed grants). Whether a role requires a
//! second factor guards what its holders may do, so changing it, either way, needs every
//! permission the role carries: a holder of `roles:write` alone cannot take MFA off `admin`.

use super::users;
use super::{Action, Admin, AdminError, AdminResult, Caller};
use chrono::{DateTime, Utc};
use palisade_core::StoreError;
use palisade_core::model::{NewRoleGrant, Permission, Role, RoleName, User};
use serde_json::json;

/// The longest role description accepted.
const MAX_DESCRIPTION_CHARS: usize = 200;

/// A role and the permissions it carries.
#[derive(Debug, Clone)]
pub struct RoleDetails {
    pub role: Role,
    pub permissions: Vec<Permission>,
}

/// `role:<name>`, as audit events name a role.
pub fn target(name: &RoleName) -> String {
    format!("role:{name}")
}

/// A role name as typed.
pub fn parse_role_name(raw: &str) -> AdminResult<RoleName> {
    RoleName::parse(raw).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// A permission as typed. The catalogue is short and public, so the refusal lists it (and
/// does not echo the input).
pub fn parse_permission(raw: &str) -> AdminResult<Permission> {
    Permission::parse(raw).map_err(|_| {
        let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        AdminError::Invalid(format!(
            "unknown permission; the permissions are {}",
            known.join(", ")
        ))
    })
}

impl Admin {
    /// The role with this name.
    pub async fn find_role(&self, raw: &str) -> AdminResult<Role> {
        let name = RoleName::parse(raw).map_err(|_| AdminError::NotFound("no such role"))?;
        self.roles
            .find_role(&name)
            .await?
            .ok_or(AdminError::NotFound("no such role"))
    }

    /// A role with its permissions.
    pub async fn role_details(&self, role: Role) -> AdminResult<RoleDetails> {
        let permissions = self.roles.permissions_of_role(&role.name).await?;
        Ok(RoleDetails { role, permissions })
    }

    /// Every role with its permissions, ordered by name.
    pub async fn list_roles(&self) -> AdminResult<Vec<RoleDetails>> {
        let mut roles = Vec::new();
        for role in self.roles.list_roles().await? {
            roles.push(self.role_details(role).await?);
        }
        Ok(roles)
    }

    /// Creates a role carrying `permissions` (each must be one the caller holds).
    pub async fn create_role(
        &self,
        caller: &Caller,
        name: &str,
        description: Option<&str>,
        permissions: &[String],
    ) -> AdminResult<RoleDetails> {
        let name = parse_role_name(name)?;
        let description = description
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        if let Some(description) = &description {
            if description.chars().count() > MAX_DESCRIPTION_CHARS {
                return Err(AdminError::Invalid(format!(
                    "description must be at most {MAX_DESCRIPTION_CHARS} characters"
                )));
            }
            palisade_core::text::check_shown_text(description)
                .map_err(|e| AdminError::Invalid(format!("description {e}")))?;
        }
        let mut carried: Vec<Permission> = permissions
            .iter()
            .map(|p| parse_permission(p))
            .collect::<AdminResult<_>>()?;
        carried.sort();
        carried.dedup();
        let target = target(&name);
        caller
            .must_hold_all_audited(
                &self.auditor,
                carried.iter().copied(),
                "creating this role",
                Action::CreateRole,
                &target,
            )
            .await?;
        let role = Role {
            name,
            description,
            require_mfa: false,
        };
        self.roles
            .insert_role(role.clone())
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    AdminError::Conflict(format!("a role named {} exists", role.name))
                }
                other => other.into(),
            })?;
        for p in &carried {
            self.roles.grant_permission(&role.name, *p).await?;
        }
        self.auditor
            .success(
                caller,
                Action::CreateRole,
                &target,
                Some(json!({ "permissions": carried })),
            )
            .await;
        self.role_details(role).await
    }

    /// Adds `permission` to the role (idempotent).
    pub async fn grant_permission(
        &self,
        caller: &Caller,
        role: &str,
        permission: &str,
    ) -> AdminResult<RoleDetails> {
        self.change_permission(caller, role, permission, true).await
    }

    /// Removes `permission` from the role (idempotent).
    pub async fn revoke_permission(
        &self,
        caller: &Caller,
        role: &str,
        permission: &str,
    ) -> AdminResult<RoleDetails> {
        self.change_permission(caller, role, permission, false)
            .await
    }

    async fn change_permission(
        &self,
        caller: &Caller,
        role: &str,
        permission: &str,
        grant: bool,
    ) -> AdminResult<RoleDetails> {
        let (action, why) = if grant {
            (Action::GrantPermission, "granting this permission")
        } else {
            (Action::RevokePermission, "revoking this permission")
        };
        let role = self.find_role(role).await?;
        let permission = parse_permission(permission)?;
        let target = target(&role.name);
        caller
            .must_hold_all_audited(&self.auditor, [permission], why, action, &target)
            .await?;
        if grant {
            self.roles.grant_permission(&role.name, permission).await?;
        } else {
            self.roles.revoke_permission(&role.name, permission).await?;
        }
        self.auditor
            .success(
                caller,
                action,
                &target,
                Some(json!({ "permission": permission })),
            )
            .await;
        self.role_details(role).await
    }

    /// Sets whether holding the role requires a second factor (idempotent).
    pub async fn set_role_requires_mfa(
        &self,
        caller: &Caller,
        role: &str,
        required: bool,
    ) -> AdminResult<RoleDetails> {
        let mut role = self.find_role(role).await?;
        let target = target(&role.name);
        let carried = self.roles.permissions_of_role(&role.name).await?;
        caller
            .must_hold_all_audited(
                &self.auditor,
                carried,
                "changing whether this role requires a second factor",
                Action::SetRoleMfa,
                &target,
            )
            .await?;
        self.roles
            .set_role_requires_mfa(&role.name, required)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => AdminError::NotFound("no such role"),
                other => other.into(),
            })?;
        self.auditor
            .success(
                caller,
                Action::SetRoleMfa,
                &target,
                Some(json!({ "required": required })),
            )
            .await;
        role.require_mfa = required;
        self.role_details(role).await
    }

    /// Gives `user` the role named `role`, until `expires_at` if given (which must be ahead).
    /// Granting a role the user holds again replaces who granted it, when and until when.
    pub async fn grant_role(
        &self,
        caller: &Caller,
        user: &User,
        role: &str,
        expires_at: Option<DateTime<Utc>>,
    ) -> AdminResult<()> {
        let now = self.clock.now();
        if expires_at.is_some_and(|at| at <= now) {
            return Err(AdminError::Invalid(
                "the expiry must be in the future".into(),
            ));
        }
        let role = self
            .may_change_role(caller, user, role, Action::GrantRole)
            .await?;
        let grant = NewRoleGrant {
            granted_by: caller.actor.clone(),
            granted_at: now,
            expires_at,
        };
        self.roles
            .record_role_grant(&role.name, &user.id, &grant)
            .await?;
        let mut details = json!({ "role": role.name });
        if let Some(at) = expires_at {
            details["expires_at"] = json!(at);
        }
        self.auditor
            .success(
                caller,
                Action::GrantRole,
                &users::target(&user.id),
                Some(details),
            )
            .await;
        Ok(())
    }

    /// Takes the role named `role` from `user` (idempotent).
    pub async fn revoke_role(&self, caller: &Caller, user: &User, role: &str) -> AdminResult<()> {
        let role = self
            .may_change_role(caller, user, role, Action::RevokeRole)
            .await?;
        self.roles.revoke_role(&role.name, &user.id).await?;
        self.auditor
            .success(
                caller,
                Action::RevokeRole,
                &users::target(&user.id),
                Some(json!({ "role": role.name })),
            )
            .await;
        Ok(())
    }

    /// The role, if `caller` may give it to `user` or take it away (`action`): `users:write`,
    /// every permission the user holds and every permission the role carries. A refusal is
    /// audited.
    pub(super) async fn may_change_role(
        &self,
        caller: &Caller,
        user: &User,
        role: &str,
        action: Action,
    ) -> AdminResult<Role> {
        let why = if action == Action::GrantRole {
            "granting this role"
        } else {
            "revoking this role"
        };
        caller
            .must_hold_all_audited(
                &self.auditor,
                [Permission::UsersWrite],
                why,
                action,
                &users::target(&user.id),
            )
            .await?;
        self.must_manage(caller, user, action).await?;
        let role = self.find_role(role).await?;
        let carried = self.roles.permissions_of_role(&role.name).await?;
        caller
            .must_hold_all_audited(
                &self.auditor,
                carried,
                why,
                action,
                &users::target(&user.id),
            )
            .await?;
        Ok(role)
    }
}
