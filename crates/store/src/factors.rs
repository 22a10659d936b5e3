//! `FactorRepository` on SQL: second factors (TOTP, passkeys) and recovery codes.
//!
//! Every change a sign-in depends on is one conditional UPDATE whose affected-row count is the
//! answer: a TOTP step is claimed only while `last_used_step` is lower (RFC 6238 §5.2), a
//! recovery code is spent only while `used_at` is NULL. Two concurrent uses of one code both
//! run the statement, and the database lets exactly one of them change the row.
//!
//! The changes that span rows (deleting a factor and, with the last one, the recovery codes;
//! replacing the codes) run in one write transaction that first locks the user's row, so
//! two of them for one user take turns: two concurrent deletes of a user's last two factors
//! cannot each see the other's factor still there and both keep the codes.

use crate::convert::{from_secs, opt_from_secs, opt_to_secs, to_secs};
use crate::error::{DbError, DbResult, internal};
use crate::pool::{AnyConnection, SqlStore, write_transaction};
use crate::schema::{recovery_codes, user_factors, users};
use crate::users::one_row_or_not_found;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use palisade_core::factor::{Factor, FactorId, FactorKind, Sealed};
use palisade_core::model::UserId;
use palisade_core::ports::{FactorRepository, StoreResult, TAKEN_CREDENTIAL_ID};
use palisade_core::{StoreError, TokenHash};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = user_factors)]
struct FactorRow {
    id: String,
    user_id: String,
    kind: String,
    name: String,
    credential: String,
    master_key_id: Option<String>,
    credential_id: Option<String>,
    last_used_step: Option<i64>,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl FactorRow {
    fn from_model(factor: Factor) -> Self {
        Self {
            id: factor.id.0,
            user_id: factor.user_id.0,
            kind: factor.kind.as_str().to_owned(),
            name: factor.name,
            credential: factor.credential,
            master_key_id: factor.master_key_id,
            credential_id: factor.credential_id,
            last_used_step: factor.last_used_step,
            created_at: to_secs(factor.created_at),
            last_used_at: opt_to_secs(factor.last_used_at),
        }
    }

    /// An unknown kind is corrupt data, never skipped: skipping a factor could let a sign-in
    /// through at a lower level than the user enrolled for.
    fn into_model(self) -> StoreResult<Factor> {
        Ok(Factor {
            kind: FactorKind::parse(&self.kind).ok_or_else(|| {
                internal(format!("stored factor kind {:?} is unknown", self.kind))
            })?,
            id: FactorId(self.id),
            user_id: UserId(self.user_id),
            name: self.name,
            credential: self.credential,
            master_key_id: self.master_key_id,
            credential_id: self.credential_id,
            last_used_step: self.last_used_step,
            created_at: from_secs(self.created_at)?,
            last_used_at: opt_from_secs(self.last_used_at)?,
        })
    }
}

fn into_models(rows: Vec<FactorRow>) -> StoreResult<Vec<Factor>> {
    rows.into_iter().map(FactorRow::into_model).collect()
}

/// Whether the user exists, holding their row locked until the transaction ends. SQLite needs
/// no row lock: [`write_transaction`]'s `BEGIN IMMEDIATE` already holds the database's one
/// write lock.
fn lock_user(conn: &mut AnyConnection, user: &str) -> DbResult<bool> {
    let found = match conn {
        AnyConnection::Postgresql(c) => users::table
            .find(user)
            .select(users::id)
            .for_update()
            .first::<String>(c)
            .optional()?,
        AnyConnection::Sqlite(c) => users::table
            .find(user)
            .select(users::id)
            .first::<String>(c)
            .optional()?,
    };
    Ok(found.is_some())
}

fn delete_recovery_codes(conn: &mut AnyConnection, user: &str) -> DbResult<usize> {
    Ok(
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user)))
            .execute(conn)?,
    )
}

#[async_trait]
impl FactorRepository for SqlStore {
    async fn insert_factor(&self, factor: Factor) -> StoreResult<()> {
        let row = FactorRow::from_model(factor);
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                if !lock_user(conn, &row.user_id)? {
                    return Err(StoreError::NotFound.into());
                }
                diesel::insert_into(user_factors::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(|e| match e {
                        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                            // The id is a fresh UUID; only a passkey's credential id can be
                            // taken in practice.
                            let rule = if row.credential_id.is_some() {
                                TAKEN_CREDENTIAL_ID
                            } else {
                                "factor id"
                            };
                            DbError::Store(StoreError::Conflict(rule))
                        }
                        other => DbError::Diesel(other),
                    })?;
                Ok(())
            })
        })
        .await
    }

    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<Factor>> {
        let user = user.0.clone();
        let rows = self
            .run(move |conn| {
                Ok(user_factors::table
                    .filter(user_factors::user_id.eq(user))
                    .select(FactorRow::as_select())
                    .order((user_factors::created_at.asc(), user_factors::id.asc()))
                    .load(conn)?)
            })
            .await?;
        into_models(rows)
    }

    async fn find_factor_by_credential_id(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<Factor>> {
        let credential_id = credential_id.to_owned();
        let row = self
            .run(move |conn| {
                Ok(user_factors::table
                    .filter(user_factors::credential_id.eq(credential_id))
                    .select(FactorRow::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await?;
        row.map(FactorRow::into_model).transpose()
    }

    async fn rename_factor(&self, user: &UserId, id: &FactorId, name: &str) -> StoreResult<bool> {
        let (user, id, name) = (user.0.clone(), id.0.clone(), name.to_owned());
        self.run(move |conn| {
            let changed = diesel::update(
                user_factors::table
                    .filter(user_factors::id.eq(id))
                    .filter(user_factors::user_id.eq(user)),
            )
            .set(user_factors::name.eq(name))
            .execute(conn)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn delete_factor(
        &self,
        user: &UserId,
        id: &FactorId,
        keep_one: bool,
    ) -> StoreResult<bool> {
        let (user, id) = (user.0.clone(), id.0.clone());
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                if !lock_user(conn, &user)? {
                    return Ok(false);
                }
                // Under the user's lock: a concurrent removal waits here and then counts what
                // this one left.
                if keep_one {
                    let held: i64 = user_factors::table
                        .filter(user_factors::user_id.eq(&user))
                        .count()
                        .get_result(conn)?;
                    if held <= 1 {
                        return Ok(false);
                    }
                }
                let deleted = diesel::delete(
                    user_factors::table
                        .filter(user_factors::id.eq(&id))
                        .filter(user_factors::user_id.eq(&user)),
                )
                .execute(conn)?;
                if deleted == 0 {
                    return Ok(false);
                }
                let left: i64 = user_factors::table
                    .filter(user_factors::user_id.eq(&user))
                    .count()
                    .get_result(conn)?;
                if left == 0 {
                    delete_recovery_codes(conn, &user)?;
                }
                Ok(true)
            })
        })
        .await
    }

    async fn claim_totp_step(
        &self,
        id: &FactorId,
        step: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (id, at) = (id.0.clone(), to_secs(at));
        self.run(move |conn| {
            let changed = diesel::update(
                user_factors::table.filter(user_factors::id.eq(id)).filter(
                    user_factors::last_used_step
                        .is_null()
                        .or(user_factors::last_used_step.lt(step)),
                ),
            )
            .set((
                user_factors::last_used_step.eq(Some(step)),
                user_factors::last_used_at.eq(Some(at)),
            ))
            .execute(conn)?;
            Ok(changed == 1)
        })
        .await
    }

    /// A factor deleted meanwhile is not an error: the use it records already happened.
    async fn record_factor_use(
        &self,
        id: &FactorId,
        credential: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, credential, at) = (id.0.clone(), credential.map(str::to_owned), to_secs(at));
        self.run(move |conn| {
            let target = user_factors::table.filter(user_factors::id.eq(id));
            match credential {
                Some(credential) => diesel::update(target)
                    .set((
                        user_factors::credential.eq(credential),
                        user_factors::last_used_at.eq(Some(at)),
                    ))
                    .execute(conn)?,
                None => diesel::update(target)
                    .set(user_factors::last_used_at.eq(Some(at)))
                    .execute(conn)?,
            };
            Ok(())
        })
        .await
    }

    async fn update_factor_seal(&self, id: &FactorId, sealed: &Sealed) -> StoreResult<()> {
        let id = id.0.clone();
        let (ciphertext, master_key_id) = (sealed.ciphertext.clone(), sealed.master_key_id.clone());
        self.run(move |conn| {
            let changed = diesel::update(user_factors::table.find(id))
                .set((
                    user_factors::credential.eq(ciphertext),
                    user_factors::master_key_id.eq(Some(master_key_id)),
                ))
                .execute(conn)?;
            one_row_or_not_found(changed)
        })
        .await
    }

    async fn factors_sealed_under_other_keys(
        &self,
        master_key_id: &str,
    ) -> StoreResult<Vec<Factor>> {
        let master_key_id = master_key_id.to_owned();
        let rows = self
            .run(move |conn| {
                Ok(user_factors::table
                    .filter(user_factors::master_key_id.is_not_null())
                    .filter(user_factors::master_key_id.ne(master_key_id))
                    .select(FactorRow::as_select())
                    .order((user_factors::created_at.asc(), user_factors::id.asc()))
                    .load(conn)?)
            })
            .await?;
        into_models(rows)
    }

    async fn delete_factors_of_user(&self, user: &UserId) -> StoreResult<u64> {
        let user = user.0.clone();
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                lock_user(conn, &user)?;
                delete_recovery_codes(conn, &user)?;
                let deleted =
                    diesel::delete(user_factors::table.filter(user_factors::user_id.eq(&user)))
                        .execute(conn)?;
                Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
            })
        })
        .await
    }

    /// `NotFound` if the user does not exist. One statement per code: the MultiConnection
    /// cannot do multi-row inserts (docs/dependencies.md, diesel).
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        digests: Vec<TokenHash>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (user, at) = (user.0.clone(), to_secs(at));
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                if !lock_user(conn, &user)? {
                    return Err(StoreError::NotFound.into());
                }
                delete_recovery_codes(conn, &user)?;
                for digest in &digests {
                    diesel::insert_into(recovery_codes::table)
                        .values((
                            recovery_codes::user_id.eq(&user),
                            recovery_codes::digest.eq(digest.as_str()),
                            recovery_codes::created_at.eq(at),
                        ))
                        .execute(conn)?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn consume_recovery_code(
        &self,
        user: &UserId,
        digest: &TokenHash,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (user, digest, at) = (user.0.clone(), digest.as_str().to_owned(), to_secs(at));
        self.run(move |conn| {
            let changed = diesel::update(
                recovery_codes::table
                    .filter(recovery_codes::user_id.eq(user))
                    .filter(recovery_codes::digest.eq(digest))
                    .filter(recovery_codes::used_at.is_null()),
            )
            .set(recovery_codes::used_at.eq(Some(at)))
            .execute(conn)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn remaining_recovery_codes(&self, user: &UserId) -> StoreResult<u32> {
        let user = user.0.clone();
        let left: i64 = self
            .run(move |conn| {
                Ok(recovery_codes::table
                    .filter(recovery_codes::user_id.eq(user))
                    .filter(recovery_codes::used_at.is_null())
                    .count()
                    .get_result(conn)?)
            })
            .await?;
        u32::try_from(left).map_err(|_| internal(format!("{left} recovery codes left")))
    }
}
