//! `SigningKeyRepository` on SQL: the key ring every node shares, and named leases.
//!
//! A batch of key writes ([`SigningKeyRepository::apply_signing_key_writes`]) is one
//! transaction, so an emergency revocation and its replacement land together.
//!
//! A lease is one row per name. Taking it is insert-if-absent, else a conditional UPDATE
//! (`WHERE holder = me OR expires_at <= now`), inside one write transaction (`BEGIN IMMEDIATE`
//! on SQLite). Each statement is atomic on its own, and on PostgreSQL a competing UPDATE
//! re-checks its WHERE clause against the committed row, so at most one node wins.

use crate::convert::{from_secs, opt_from_secs, opt_to_secs, to_secs};
use crate::error::{DbResult, conflict_on_unique, internal};
use crate::pool::{AnyConnection, SqlStore, on_backend, write_transaction};
use crate::schema::{leases, signing_keys};
use crate::users::one_row_or_not_found;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use palisade_core::StoreError;
use palisade_core::model::{KeyState, StoredSigningKey};
use palisade_core::ports::{
    SIGNING_KEY_CHANGED, SigningKeyRepository, SigningKeyWrite, StoreResult,
};
use std::time::Duration;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    public_jwk: String,
    encrypted_private_jwk: String,
    master_key_id: String,
    created_at: i64,
    activates_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    remove_after: Option<i64>,
}

impl KeyRow {
    fn from_model(k: StoredSigningKey) -> Self {
        Self {
            kid: k.kid,
            alg: k.alg,
            state: k.state.as_str().to_owned(),
            public_jwk: k.public_jwk,
            encrypted_private_jwk: k.encrypted_private_jwk,
            master_key_id: k.master_key_id,
            created_at: to_secs(k.created_at),
            activates_at: to_secs(k.activates_at),
            activated_at: opt_to_secs(k.activated_at),
            retired_at: opt_to_secs(k.retired_at),
            remove_after: opt_to_secs(k.remove_after),
        }
    }

    fn into_model(self) -> StoreResult<StoredSigningKey> {
        Ok(StoredSigningKey {
            state: KeyState::parse(&self.state)
                .map_err(|e| internal(format!("stored key state: {e}")))?,
            kid: self.kid,
            alg: self.alg,
            public_jwk: self.public_jwk,
            encrypted_private_jwk: self.encrypted_private_jwk,
            master_key_id: self.master_key_id,
            created_at: from_secs(self.created_at)?,
            activates_at: from_secs(self.activates_at)?,
            activated_at: opt_from_secs(self.activated_at)?,
            retired_at: opt_from_secs(self.retired_at)?,
            remove_after: opt_from_secs(self.remove_after)?,
        })
    }
}

/// Replaces what may change of the key `row.kid` (see `update_signing_key`).
fn update_row(conn: &mut AnyConnection, row: &KeyRow) -> DbResult<()> {
    let changed = diesel::update(signing_keys::table.find(&row.kid))
        .set((
            signing_keys::state.eq(&row.state),
            signing_keys::activates_at.eq(row.activates_at),
            signing_keys::activated_at.eq(row.activated_at),
            signing_keys::retired_at.eq(row.retired_at),
            signing_keys::remove_after.eq(row.remove_after),
            signing_keys::encrypted_private_jwk.eq(&row.encrypted_private_jwk),
            signing_keys::master_key_id.eq(&row.master_key_id),
        ))
        .execute(conn)?;
    one_row_or_not_found(changed)
}

/// The row of `kid`, locked until the transaction ends on PostgreSQL (SQLite's write
/// transaction already excludes every other writer).
fn find_row_for_update(conn: &mut AnyConnection, kid: &str) -> DbResult<Option<KeyRow>> {
    let row = signing_keys::table.find(kid);
    Ok(match conn {
        AnyConnection::Postgresql(c) => row
            .select(KeyRow::as_select())
            .for_update()
            .first(c)
            .optional()?,
        AnyConnection::Sqlite(c) => row.select(KeyRow::as_select()).first(c).optional()?,
    })
}

/// Whole seconds, rounded up so a sub-second TTL still holds the lease for a moment.
fn lease_expiry(now: DateTime<Utc>, ttl: Duration) -> StoreResult<i64> {
    let secs = ttl
        .as_secs()
        .saturating_add(u64::from(ttl.subsec_nanos() > 0));
    i64::try_from(secs)
        .ok()
        .and_then(|secs| to_secs(now).checked_add(secs))
        .ok_or_else(|| internal("lease TTL out of range"))
}

#[async_trait]
impl SigningKeyRepository for SqlStore {
    /// Oldest first (by `created_at`, then kid).
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        self.run(|conn| {
            let rows = signing_keys::table
                .select(KeyRow::as_select())
                .order((signing_keys::created_at.asc(), signing_keys::kid.asc()))
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(KeyRow::into_model)
                .collect::<StoreResult<_>>()?)
        })
        .await
    }

    async fn insert_signing_key(&self, key: StoredSigningKey) -> StoreResult<()> {
        let row = KeyRow::from_model(key);
        self.run(move |conn| {
            diesel::insert_into(signing_keys::table)
                .values(&row)
                .execute(conn)
                .map_err(conflict_on_unique("kid"))?;
            Ok(())
        })
        .await
    }

    /// Replaces state, `activates_at`, `activated_at`, `retired_at`, `remove_after`, the
    /// encrypted private JWK and its `master_key_id` (re-encryption under a new master key).
    /// `alg`, the public JWK and `created_at` are the key's identity and stay as inserted.
    async fn update_signing_key(&self, key: StoredSigningKey) -> StoreResult<()> {
        let row = KeyRow::from_model(key);
        self.run(move |conn| update_row(conn, &row)).await
    }

    /// One write transaction (`BEGIN IMMEDIATE` on SQLite, so writers take turns). On
    /// PostgreSQL each `Update` reads its row `FOR UPDATE`: a concurrent writer of that row
    /// waits for this transaction, then sees its result.
    async fn apply_signing_key_writes(&self, writes: Vec<SigningKeyWrite>) -> StoreResult<()> {
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                for write in writes {
                    match write {
                        SigningKeyWrite::Insert(key) => {
                            diesel::insert_into(signing_keys::table)
                                .values(&KeyRow::from_model(key))
                                .execute(conn)
                                .map_err(conflict_on_unique("kid"))?;
                        }
                        SigningKeyWrite::Update { from, to } => {
                            let stored = match find_row_for_update(conn, &from.kid)? {
                                Some(row) => Some(row.into_model()?),
                                None => None,
                            };
                            if stored.as_ref() != Some(&from) {
                                return Err(StoreError::Conflict(SIGNING_KEY_CHANGED).into());
                            }
                            update_row(conn, &KeyRow::from_model(to))?;
                        }
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()> {
        let kid = kid.to_owned();
        self.run(move |conn| {
            diesel::delete(signing_keys::table.find(kid)).execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<bool> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let expires_at = lease_expiry(now, ttl)?;
        let now = to_secs(now);
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                let inserted = on_backend!(conn, |c| {
                    diesel::insert_into(leases::table)
                        .values((
                            leases::name.eq(&name),
                            leases::holder.eq(&holder),
                            leases::expires_at.eq(expires_at),
                        ))
                        .on_conflict_do_nothing()
                        .execute(c)?
                });
                if inserted == 1 {
                    return Ok(true);
                }
                let taken = diesel::update(
                    leases::table
                        .filter(leases::name.eq(&name))
                        .filter(leases::holder.eq(&holder).or(leases::expires_at.le(now))),
                )
                .set((
                    leases::holder.eq(&holder),
                    leases::expires_at.eq(expires_at),
                ))
                .execute(conn)?;
                Ok(taken == 1)
            })
        })
        .await
    }
}
