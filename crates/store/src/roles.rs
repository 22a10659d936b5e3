//! `RoleRepository` on SQL: roles, the permissions they carry, and the users who hold them.
//!
//! Grants are idempotent (insert-if-absent); a grant naming a missing role or user is
//! `NotFound`, checked inside the same write transaction as the insert. Role names and
//! permissions are parsed as they leave a row: one that does not parse is corrupt data.

use crate::error::{DbError, conflict_on_unique, internal};
use crate::pool::{AnyConnection, SqlStore, on_backend, write_transaction};
use crate::schema::{permissions, role_permissions, roles, user_roles, users};
use crate::users::one_row_or_not_found;
use async_trait::async_trait;
use diesel::prelude::*;
use palisade_core::StoreError;
use palisade_core::model::{Permission, Role, RoleName, UserId};
use palisade_core::ports::{RoleRepository, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
struct RoleRow {
    name: String,
    description: Option<String>,
    require_mfa: bool,
}

impl RoleRow {
    fn into_model(self) -> StoreResult<Role> {
        Ok(Role {
            name: role_name(&self.name)?,
            description: self.description,
            require_mfa: self.require_mfa,
        })
    }
}

fn role_name(stored: &str) -> StoreResult<RoleName> {
    RoleName::parse(stored).map_err(|e| internal(format!("stored role name is invalid: {e}")))
}

fn permission(stored: &str) -> StoreResult<Permission> {
    Permission::parse(stored)
        .map_err(|e| internal(format!("stored permission {stored:?} is invalid: {e}")))
}

fn role_exists(conn: &mut AnyConnection, role: &str) -> Result<bool, DbError> {
    let n: i64 = roles::table
        .filter(roles::name.eq(role))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

fn user_exists(conn: &mut AnyConnection, user: &str) -> Result<bool, DbError> {
    let n: i64 = users::table
        .filter(users::id.eq(user))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

#[async_trait]
impl RoleRepository for SqlStore {
    async fn insert_role(&self, role: Role) -> StoreResult<()> {
        let row = RoleRow {
            name: role.name.into(),
            description: role.description,
            require_mfa: role.require_mfa,
        };
        self.run(move |conn| {
            diesel::insert_into(roles::table)
                .values(&row)
                .execute(conn)
                .map_err(conflict_on_unique("role"))?;
            Ok(())
        })
        .await
    }

    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        let rows = self
            .run(|conn| {
                Ok(roles::table
                    .select(RoleRow::as_select())
                    .order(roles::name.asc())
                    .load(conn)?)
            })
            .await?;
        rows.into_iter().map(RoleRow::into_model).collect()
    }

    async fn find_role(&self, name: &RoleName) -> StoreResult<Option<Role>> {
        let name = name.as_str().to_owned();
        let row = self
            .run(move |conn| {
                Ok(roles::table
                    .filter(roles::name.eq(name))
                    .select(RoleRow::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await?;
        row.map(RoleRow::into_model).transpose()
    }

    /// The permission is created on first use.
    async fn grant_permission(&self, role: &RoleName, permission: Permission) -> StoreResult<()> {
        let (role, permission) = (role.as_str().to_owned(), permission.as_str());
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                if !role_exists(conn, &role)? {
                    return Err(StoreError::NotFound.into());
                }
                on_backend!(conn, |c| {
                    diesel::insert_into(permissions::table)
                        .values(permissions::name.eq(&permission))
                        .on_conflict_do_nothing()
                        .execute(c)?;
                    diesel::insert_into(role_permissions::table)
                        .values((
                            role_permissions::role_name.eq(&role),
                            role_permissions::permission_name.eq(&permission),
                        ))
                        .on_conflict_do_nothing()
                        .execute(c)?;
                });
                Ok(())
            })
        })
        .await
    }

    async fn revoke_permission(&self, role: &RoleName, permission: Permission) -> StoreResult<()> {
        let (role, permission) = (role.as_str().to_owned(), permission.as_str());
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                if !role_exists(conn, &role)? {
                    return Err(StoreError::NotFound.into());
                }
                diesel::delete(
                    role_permissions::table
                        .filter(role_permissions::role_name.eq(&role))
                        .filter(role_permissions::permission_name.eq(&permission)),
                )
                .execute(conn)?;
                Ok(())
            })
        })
        .await
    }

    async fn permissions_of_role(&self, role: &RoleName) -> StoreResult<Vec<Permission>> {
        let role = role.as_str().to_owned();
        let names: Vec<String> = self
            .run(move |conn| {
                Ok(role_permissions::table
                    .filter(role_permissions::role_name.eq(role))
                    .select(role_permissions::permission_name)
                    .order(role_permissions::permission_name.asc())
                    .load(conn)?)
            })
            .await?;
        names.iter().map(|p| permission(p)).collect()
    }

    async fn grant_role(&self, role: &RoleName, user: &UserId) -> StoreResult<()> {
        let (role, user) = (role.as_str().to_owned(), user.0.clone());
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                if !role_exists(conn, &role)? || !user_exists(conn, &user)? {
                    return Err(StoreError::NotFound.into());
                }
                on_backend!(conn, |c| {
                    diesel::insert_into(user_roles::table)
                        .values((
                            user_roles::user_id.eq(&user),
                            user_roles::role_name.eq(&role),
                        ))
                        .on_conflict_do_nothing()
                        .execute(c)?;
                });
                Ok(())
            })
        })
        .await
    }

    async fn revoke_role(&self, role: &RoleName, user: &UserId) -> StoreResult<()> {
        let (role, user) = (role.as_str().to_owned(), user.0.clone());
        self.run(move |conn| {
            diesel::delete(
                user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .filter(user_roles::role_name.eq(role)),
            )
            .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn roles_of_user(&self, user: &UserId) -> StoreResult<Vec<RoleName>> {
        let user = user.0.clone();
        let names: Vec<String> = self
            .run(move |conn| {
                Ok(user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .select(user_roles::role_name)
                    .order(user_roles::role_name.asc())
                    .load(conn)?)
            })
            .await?;
        names.iter().map(|r| role_name(r)).collect()
    }

    async fn permissions_of_user(&self, user: &UserId) -> StoreResult<Vec<Permission>> {
        let user = user.0.clone();
        let names: Vec<String> = self
            .run(move |conn| {
                let held_roles = user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .select(user_roles::role_name);
                Ok(role_permissions::table
                    .filter(role_permissions::role_name.eq_any(held_roles))
                    .select(role_permissions::permission_name)
                    .distinct()
                    .order(role_permissions::permission_name.asc())
                    .load(conn)?)
            })
            .await?;
        names.iter().map(|p| permission(p)).collect()
    }

    async fn set_role_requires_mfa(&self, role: &RoleName, required: bool) -> StoreResult<()> {
        let role = role.as_str().to_owned();
        self.run(move |conn| {
            let changed = diesel::update(roles::table.find(role))
                .set(roles::require_mfa.eq(required))
                .execute(conn)?;
            one_row_or_not_found(changed)
        })
        .await
    }

    async fn roles_require_mfa(&self, user: &UserId) -> StoreResult<bool> {
        let user = user.0.clone();
        self.run(move |conn| {
            let held_roles = user_roles::table
                .filter(user_roles::user_id.eq(user))
                .select(user_roles::role_name);
            let n: i64 = roles::table
                .filter(roles::name.eq_any(held_roles))
                .filter(roles::require_mfa.eq(true))
                .count()
                .get_result(conn)?;
            Ok(n > 0)
        })
        .await
    }
}
