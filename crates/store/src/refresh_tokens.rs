//! `RefreshTokenRepository` on SQL: refresh-token families (RFC 9700 §4.14.2).
//!
//! Every rotated-away token stays known (`refresh_token_spent`) for as long as its family
//! does, so presenting any of them, not only the latest, is recognised as a replay.
//!
//! Rotation is one compare-and-swap UPDATE (`WHERE id = ? AND current_hash = ? AND revoked_at
//! IS NULL`): the database serialises concurrent rotations of the same family and exactly one
//! sees its row still match, so two refreshes with one token can never both succeed.

use crate::convert::{
    from_secs, list_from_text, list_to_text, opt_from_secs, opt_to_secs, to_secs,
};
use crate::error::conflict_on_unique;
use crate::pool::{SqlStore, write_transaction};
use crate::schema::refresh_token_families as families;
use crate::schema::refresh_token_spent as spent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use palisade_core::TokenHash;
use palisade_core::model::{ClientId, RefreshTokenFamily, RefreshTokenMatch, UserId};
use palisade_core::ports::{RefreshTokenRepository, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = families)]
struct FamilyRow {
    id: String,
    client_id: String,
    user_id: Option<String>,
    scopes: String,
    grant_json: String,
    current_hash: String,
    previous_hash: Option<String>,
    rotated_at: Option<i64>,
    created_at: i64,
    expires_at: i64,
    revoked_at: Option<i64>,
}

impl FamilyRow {
    fn from_model(f: RefreshTokenFamily) -> Self {
        Self {
            id: f.id,
            client_id: f.client_id.0,
            user_id: f.user_id.map(|u| u.0),
            scopes: list_to_text(&f.scopes),
            grant_json: f.grant,
            current_hash: f.current_hash.as_str().to_owned(),
            previous_hash: f.previous_hash.map(|h| h.as_str().to_owned()),
            rotated_at: opt_to_secs(f.rotated_at),
            created_at: to_secs(f.created_at),
            expires_at: to_secs(f.expires_at),
            revoked_at: opt_to_secs(f.revoked_at),
        }
    }

    fn into_model(self) -> StoreResult<RefreshTokenFamily> {
        Ok(RefreshTokenFamily {
            id: self.id,
            client_id: ClientId(self.client_id),
            user_id: self.user_id.map(UserId),
            scopes: list_from_text(&self.scopes)?,
            grant: self.grant_json,
            current_hash: TokenHash::from_stored(self.current_hash),
            previous_hash: self.previous_hash.map(TokenHash::from_stored),
            rotated_at: opt_from_secs(self.rotated_at)?,
            created_at: from_secs(self.created_at)?,
            expires_at: from_secs(self.expires_at)?,
            revoked_at: opt_from_secs(self.revoked_at)?,
        })
    }
}

#[async_trait]
impl RefreshTokenRepository for SqlStore {
    /// `NotFound` if the client (or the user) does not exist; `Conflict("refresh_token_family")`
    /// if the id or the current hash is already stored.
    async fn insert_refresh_token_family(&self, family: RefreshTokenFamily) -> StoreResult<()> {
        let row = FamilyRow::from_model(family);
        self.run(move |conn| {
            diesel::insert_into(families::table)
                .values(&row)
                .execute(conn)
                .map_err(conflict_on_unique("refresh_token_family"))?;
            Ok(())
        })
        .await
    }

    /// A current-hash match wins over a previous-hash match. Revoked and expired families are
    /// returned too: the caller decides (a revoked family's token is a replay signal).
    async fn find_refresh_token_family(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<(RefreshTokenFamily, RefreshTokenMatch)>> {
        let hash = hash.as_str().to_owned();
        self.run(move |conn| {
            let current = families::table
                .filter(families::current_hash.eq(&hash))
                .select(FamilyRow::as_select())
                .first(conn)
                .optional()?;
            if let Some(row) = current {
                return Ok(Some((row.into_model()?, RefreshTokenMatch::Current)));
            }
            let previous = families::table
                .filter(families::previous_hash.eq(&hash))
                .select(FamilyRow::as_select())
                .first(conn)
                .optional()?;
            if let Some(row) = previous {
                return Ok(Some((row.into_model()?, RefreshTokenMatch::Previous)));
            }
            let earlier = spent::table
                .inner_join(families::table)
                .filter(spent::hash.eq(&hash))
                .select(FamilyRow::as_select())
                .first(conn)
                .optional()?;
            Ok(earlier
                .map(|row| row.into_model().map(|f| (f, RefreshTokenMatch::Spent)))
                .transpose()?)
        })
        .await
    }

    async fn find_refresh_token_family_by_id(
        &self,
        id: &str,
    ) -> StoreResult<Option<RefreshTokenFamily>> {
        let id = id.to_owned();
        self.run(move |conn| {
            let row = families::table
                .find(id)
                .select(FamilyRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(FamilyRow::into_model).transpose()?)
        })
        .await
    }

    /// Expiry is not checked here: the caller has already refused an expired family.
    async fn rotate_refresh_token(
        &self,
        family_id: &str,
        expected_current: &TokenHash,
        next: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let id = family_id.to_owned();
        let expected = expected_current.as_str().to_owned();
        let next = next.as_str().to_owned();
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                let changed = diesel::update(
                    families::table
                        .filter(families::id.eq(&id))
                        .filter(families::current_hash.eq(&expected))
                        .filter(families::revoked_at.is_null()),
                )
                .set((
                    families::current_hash.eq(&next),
                    families::previous_hash.eq(Some(&expected)),
                    families::rotated_at.eq(Some(to_secs(now))),
                ))
                .execute(conn)
                .map_err(conflict_on_unique("refresh_token"))?;
                if changed == 1 {
                    diesel::insert_into(spent::table)
                        .values((
                            spent::hash.eq(&expected),
                            spent::family_id.eq(&id),
                            spent::spent_at.eq(to_secs(now)),
                        ))
                        .execute(conn)
                        .map_err(conflict_on_unique("refresh_token"))?;
                }
                Ok(changed == 1)
            })
        })
        .await
    }

    /// Revoking an unknown family succeeds, like revoking an unknown token (RFC 7009 §2.2).
    async fn revoke_refresh_token_family(
        &self,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = family_id.to_owned();
        self.run(move |conn| {
            diesel::update(
                families::table
                    .filter(families::id.eq(id))
                    .filter(families::revoked_at.is_null()),
            )
            .set(families::revoked_at.eq(Some(to_secs(now))))
            .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn revoke_refresh_token_families_of_user(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let user = user.0.clone();
        self.run(move |conn| {
            let revoked = diesel::update(
                families::table
                    .filter(families::user_id.eq(user))
                    .filter(families::revoked_at.is_null()),
            )
            .set(families::revoked_at.eq(Some(to_secs(now))))
            .execute(conn)?;
            Ok(u64::try_from(revoked).unwrap_or(u64::MAX))
        })
        .await
    }

    async fn list_live_refresh_token_families_of_user(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<RefreshTokenFamily>> {
        let (user, now) = (user.0.clone(), to_secs(now));
        self.run(move |conn| {
            let rows = families::table
                .filter(families::user_id.eq(user))
                .filter(families::revoked_at.is_null())
                .filter(families::expires_at.gt(now))
                .order((families::created_at.asc(), families::id.asc()))
                .select(FamilyRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(FamilyRow::into_model)
                .collect::<StoreResult<_>>()?)
        })
        .await
    }

    async fn purge_refresh_token_families(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        let before = to_secs(before);
        self.run(move |conn| {
            let deleted = diesel::delete(
                families::table.filter(
                    families::expires_at
                        .lt(before)
                        .or(families::revoked_at.lt(before).assume_not_null()),
                ),
            )
            .execute(conn)?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }
}
