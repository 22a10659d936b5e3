//! `RoleRepository` on SQL: roles, the permissions they carry, and the users who hold them.
//!
//! Grants are idempotent (insert-if-absent, or an upsert of the record); a grant naming a
//! missing role or user is `NotFound`, checked inside the same write transaction as the
//! insert. Role names and permissions are parsed as they leave a row: one that does not parse
//! is corrupt data.
//!
//! A grant with an `expires_at` at or before the instant asked about gives nothing: every
//! query that resolves what a user holds takes that instant and filters on it ([`live_at`]),
//! so a grant lapses at its expiry whether or not the sweep has deleted it yet.

use crate::convert::{opt_from_secs, opt_to_secs, to_secs};
use crate::error::{DbError, conflict_on_unique, internal};
use crate::pool::{AnyConnection, SqlStore, on_backend, write_transaction};
use crate::schema::{permissions, role_permissions, roles, user_roles, users};
use crate::users::one_row_or_not_found;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::upsert::excluded;
use palisade_core::StoreError;
use palisade_core::model::{
    HeldGrant, NewRoleGrant, Permission, Role, RoleGrant, RoleName, UserId, Username,
};
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

/// Grants live at `at` (unix seconds): no expiry, or one still ahead.
#[diesel::dsl::auto_type]
fn live_at(at: i64) -> _ {
    user_roles::expires_at
        .is_null()
        .or(user_roles::expires_at.gt(at).assume_not_null())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = user_roles)]
struct GrantRow {
    user_id: String,
    role_name: String,
    granted_by: Option<String>,
    granted_at: Option<i64>,
    expires_at: Option<i64>,
    confirmed_at: Option<i64>,
}

impl GrantRow {
    fn into_model(self) -> StoreResult<RoleGrant> {
        Ok(RoleGrant {
            role: role_name(&self.role_name)?,
            user_id: UserId(self.user_id),
            granted_by: self.granted_by,
            granted_at: opt_from_secs(self.granted_at)?,
            expires_at: opt_from_secs(self.expires_at)?,
            confirmed_at: opt_from_secs(self.confirmed_at)?,
        })
    }
}

type HeldRow = (GrantRow, String, Option<i64>);

fn held_grant((grant, username, last_sign_in_at): HeldRow) -> StoreResult<HeldGrant> {
    Ok(HeldGrant {
        grant: grant.into_model()?,
        username: Username::from_stored(&username)
            .map_err(|e| internal(format!("stored username is invalid: {e}")))?,
        last_sign_in_at: opt_from_secs(last_sign_in_at)?,
    })
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

    async fn record_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        grant: &NewRoleGrant,
    ) -> StoreResult<()> {
        let (role, user) = (role.as_str().to_owned(), user.0.clone());
        let (granted_by, granted_at, expires_at) = (
            grant.granted_by.clone(),
            to_secs(grant.granted_at),
            opt_to_secs(grant.expires_at),
        );
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
                            user_roles::granted_by.eq(Some(&granted_by)),
                            user_roles::granted_at.eq(Some(granted_at)),
                            user_roles::expires_at.eq(expires_at),
                        ))
                        .on_conflict((user_roles::user_id, user_roles::role_name))
                        .do_update()
                        .set((
                            user_roles::granted_by.eq(excluded(user_roles::granted_by)),
                            user_roles::granted_at.eq(excluded(user_roles::granted_at)),
                            user_roles::expires_at.eq(excluded(user_roles::expires_at)),
                        ))
                        .execute(c)?;
                });
                Ok(())
            })
        })
        .await
    }

    async fn find_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<RoleGrant>> {
        let (role, user, at) = (role.as_str().to_owned(), user.0.clone(), to_secs(at));
        let row = self
            .run(move |conn| {
                Ok(user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .filter(user_roles::role_name.eq(role))
                    .filter(live_at(at))
                    .select(GrantRow::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await?;
        row.map(GrantRow::into_model).transpose()
    }

    async fn role_holders(
        &self,
        role: &RoleName,
        at: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HeldGrant>> {
        let (role, at) = (role.as_str().to_owned(), to_secs(at));
        let rows: Vec<HeldRow> = self
            .run(move |conn| {
                Ok(user_roles::table
                    .inner_join(users::table)
                    .filter(user_roles::role_name.eq(role))
                    .filter(live_at(at))
                    .select((
                        GrantRow::as_select(),
                        users::username,
                        users::last_sign_in_at,
                    ))
                    .order(users::username.asc())
                    .limit(limit)
                    .offset(offset)
                    .load(conn)?)
            })
            .await?;
        rows.into_iter().map(held_grant).collect()
    }

    async fn role_holder_counts(&self, at: DateTime<Utc>) -> StoreResult<Vec<(RoleName, i64)>> {
        let at = to_secs(at);
        let rows: Vec<(String, i64)> = self
            .run(move |conn| {
                Ok(user_roles::table
                    .filter(live_at(at))
                    .group_by(user_roles::role_name)
                    .select((user_roles::role_name, diesel::dsl::count_star()))
                    .order(user_roles::role_name.asc())
                    .load(conn)?)
            })
            .await?;
        rows.into_iter()
            .map(|(name, n)| Ok((role_name(&name)?, n)))
            .collect()
    }

    async fn stale_role_grants(
        &self,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HeldGrant>> {
        let (at, before) = (to_secs(at), to_secs(stale_before));
        let rows: Vec<HeldRow> = self
            .run(move |conn| {
                let unused = users::last_sign_in_at
                    .is_null()
                    .or(users::last_sign_in_at.lt(before).assume_not_null());
                // The later of granting and confirming is before the cut-off (or unknown).
                let unconfirmed = user_roles::granted_at
                    .is_null()
                    .or(user_roles::granted_at.lt(before).assume_not_null())
                    .and(
                        user_roles::confirmed_at
                            .is_null()
                            .or(user_roles::confirmed_at.lt(before).assume_not_null()),
                    );
                Ok(user_roles::table
                    .inner_join(users::table)
                    .filter(live_at(at))
                    .filter(unused.or(unconfirmed))
                    .select((
                        GrantRow::as_select(),
                        users::username,
                        users::last_sign_in_at,
                    ))
                    .order((users::username.asc(), user_roles::role_name.asc()))
                    .limit(limit)
                    .offset(offset)
                    .load(conn)?)
            })
            .await?;
        rows.into_iter().map(held_grant).collect()
    }

    async fn confirm_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (role, user, at) = (role.as_str().to_owned(), user.0.clone(), to_secs(at));
        self.run(move |conn| {
            let changed = diesel::update(
                user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .filter(user_roles::role_name.eq(role))
                    .filter(live_at(at)),
            )
            .set(user_roles::confirmed_at.eq(Some(at)))
            .execute(conn)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn lapsed_role_grants(
        &self,
        at: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<RoleGrant>> {
        let at = to_secs(at);
        let rows: Vec<GrantRow> = self
            .run(move |conn| {
                Ok(user_roles::table
                    .filter(user_roles::expires_at.le(at))
                    .select(GrantRow::as_select())
                    .order((user_roles::expires_at.asc(), user_roles::user_id.asc()))
                    .limit(limit)
                    .load(conn)?)
            })
            .await?;
        rows.into_iter().map(GrantRow::into_model).collect()
    }

    async fn delete_lapsed_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (role, user, at) = (role.as_str().to_owned(), user.0.clone(), to_secs(at));
        self.run(move |conn| {
            let deleted = diesel::delete(
                user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .filter(user_roles::role_name.eq(role))
                    .filter(user_roles::expires_at.le(at)),
            )
            .execute(conn)?;
            Ok(deleted > 0)
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

    async fn roles_of_user(&self, user: &UserId, at: DateTime<Utc>) -> StoreResult<Vec<RoleName>> {
        let (user, at) = (user.0.clone(), to_secs(at));
        let names: Vec<String> = self
            .run(move |conn| {
                Ok(user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .filter(live_at(at))
                    .select(user_roles::role_name)
                    .order(user_roles::role_name.asc())
                    .load(conn)?)
            })
            .await?;
        names.iter().map(|r| role_name(r)).collect()
    }

    async fn permissions_of_user(
        &self,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Permission>> {
        let (user, at) = (user.0.clone(), to_secs(at));
        let names: Vec<String> = self
            .run(move |conn| {
                let held_roles = user_roles::table
                    .filter(user_roles::user_id.eq(user))
                    .filter(live_at(at))
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

    async fn roles_require_mfa(&self, user: &UserId, at: DateTime<Utc>) -> StoreResult<bool> {
        let (user, at) = (user.0.clone(), to_secs(at));
        self.run(move |conn| {
            let held_roles = user_roles::table
                .filter(user_roles::user_id.eq(user))
                .filter(live_at(at))
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
