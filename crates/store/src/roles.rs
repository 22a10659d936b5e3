//! `RoleRepository` on SQL: roles, the permissions they carry, and the users who hold them.
//!
//! Grants are idempotent (insert-if-absent); a grant naming a missing role or user is
//! `NotFound`, checked inside the same write transaction as the insert.

use crate::error::{DbError, conflict_on_unique};
use crate::pool::{AnyConnection, SqlStore, on_backend, write_transaction};
use crate::schema::{permissions, role_permissions, roles, user_roles, users};
use async_trait::async_trait;
use diesel::prelude::*;
use palisade_core::StoreError;
use palisade_core::model::{Role, UserId};
use palisade_core::ports::{RoleRepository, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = roles)]
struct RoleRow {
    name: String,
    description: Option<String>,
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
            name: role.name,
            description: role.description,
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

    /// Ordered by name.
    async fn list_roles(&self) -> StoreResult<Vec<Role>> {
        self.run(|conn| {
            let rows = roles::table
                .select(RoleRow::as_select())
                .order(roles::name.asc())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| Role {
                    name: r.name,
                    description: r.description,
                })
                .collect())
        })
        .await
    }

    /// The permission is created on first use.
    async fn grant_permission(&self, role: &str, permission: &str) -> StoreResult<()> {
        let (role, permission) = (role.to_owned(), permission.to_owned());
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

    async fn revoke_permission(&self, role: &str, permission: &str) -> StoreResult<()> {
        let (role, permission) = (role.to_owned(), permission.to_owned());
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

    /// Ordered by name; empty for an unknown role.
    async fn permissions_of_role(&self, role: &str) -> StoreResult<Vec<String>> {
        let role = role.to_owned();
        self.run(move |conn| {
            Ok(role_permissions::table
                .filter(role_permissions::role_name.eq(role))
                .select(role_permissions::permission_name)
                .order(role_permissions::permission_name.asc())
                .load(conn)?)
        })
        .await
    }

    async fn grant_role(&self, role: &str, user: &UserId) -> StoreResult<()> {
        let (role, user) = (role.to_owned(), user.0.clone());
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

    async fn revoke_role(&self, role: &str, user: &UserId) -> StoreResult<()> {
        let (role, user) = (role.to_owned(), user.0.clone());
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

    /// Ordered by name; empty for an unknown user.
    async fn roles_of_user(&self, user: &UserId) -> StoreResult<Vec<String>> {
        let user = user.0.clone();
        self.run(move |conn| {
            Ok(user_roles::table
                .filter(user_roles::user_id.eq(user))
                .select(user_roles::role_name)
                .order(user_roles::role_name.asc())
                .load(conn)?)
        })
        .await
    }

    /// Ordered by name, each permission once.
    async fn permissions_of_user(&self, user: &UserId) -> StoreResult<Vec<String>> {
        let user = user.0.clone();
        self.run(move |conn| {
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
        .await
    }
}
