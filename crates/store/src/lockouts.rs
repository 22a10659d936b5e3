//! `LockoutRepository` on SQL: durable brute-force state, so flushing Redis unlocks nobody.
//!
//! Saving is an upsert on the user id, written per backend (no upsert on the MultiConnection).

use crate::convert::{opt_from_secs, opt_to_secs};
use crate::pool::{SqlStore, on_backend};
use crate::schema::account_lockouts;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::upsert::excluded;
use palisade_core::model::{AccountLockout, UserId};
use palisade_core::ports::{LockoutRepository, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = account_lockouts)]
struct LockoutRow {
    user_id: String,
    failure_streak: i32,
    first_failure_at: Option<i64>,
    locked_until: Option<i64>,
    lock_count: i32,
}

#[async_trait]
impl LockoutRepository for SqlStore {
    async fn find_account_lockout(&self, user: &UserId) -> StoreResult<Option<AccountLockout>> {
        let user = user.0.clone();
        self.run(move |conn| {
            let Some(row) = account_lockouts::table
                .find(user)
                .select(LockoutRow::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            Ok(Some(AccountLockout {
                user_id: UserId(row.user_id),
                failure_streak: row.failure_streak,
                first_failure_at: opt_from_secs(row.first_failure_at)?,
                locked_until: opt_from_secs(row.locked_until)?,
                lock_count: row.lock_count,
            }))
        })
        .await
    }

    /// `NotFound` if the user does not exist.
    async fn save_account_lockout(&self, lockout: AccountLockout) -> StoreResult<()> {
        let row = LockoutRow {
            user_id: lockout.user_id.0,
            failure_streak: lockout.failure_streak,
            first_failure_at: opt_to_secs(lockout.first_failure_at),
            locked_until: opt_to_secs(lockout.locked_until),
            lock_count: lockout.lock_count,
        };
        self.run(move |conn| {
            on_backend!(conn, |c| {
                diesel::insert_into(account_lockouts::table)
                    .values(&row)
                    .on_conflict(account_lockouts::user_id)
                    .do_update()
                    .set((
                        account_lockouts::failure_streak
                            .eq(excluded(account_lockouts::failure_streak)),
                        account_lockouts::first_failure_at
                            .eq(excluded(account_lockouts::first_failure_at)),
                        account_lockouts::locked_until.eq(excluded(account_lockouts::locked_until)),
                        account_lockouts::lock_count.eq(excluded(account_lockouts::lock_count)),
                    ))
                    .execute(c)?
            });
            Ok(())
        })
        .await
    }

    async fn clear_account_lockout(&self, user: &UserId) -> StoreResult<()> {
        let user = user.0.clone();
        self.run(move |conn| {
            diesel::delete(account_lockouts::table.find(user)).execute(conn)?;
            Ok(())
        })
        .await
    }
}
