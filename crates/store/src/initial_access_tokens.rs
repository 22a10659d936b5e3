//! `InitialAccessTokenRepository` on SQL: operator-minted tokens that allow dynamic client
//! registration (RFC 7591 §3), kept as SHA-256 hashes.
//!
//! Spending a use is one conditional `UPDATE ... SET uses = uses + 1 WHERE <not expired and
//! uses left>`: PostgreSQL re-checks the condition on the locked row and SQLite serialises
//! writers, so a token with one use left registers exactly one client under any concurrency.

use crate::convert::{from_secs, opt_from_secs, opt_to_secs, to_secs};
use crate::error::conflict_on_unique;
use crate::pool::SqlStore;
use crate::schema::initial_access_tokens;
use crate::users::one_row_or_not_found;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use palisade_core::TokenHash;
use palisade_core::model::InitialAccessToken;
use palisade_core::ports::{InitialAccessTokenRepository, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = initial_access_tokens)]
struct TokenRow {
    id: String,
    token_hash: String,
    created_at: i64,
    expires_at: Option<i64>,
    max_uses: Option<i32>,
    uses: i32,
}

impl TokenRow {
    fn into_model(self) -> StoreResult<InitialAccessToken> {
        Ok(InitialAccessToken {
            id: self.id,
            token_hash: TokenHash::from_stored(self.token_hash),
            created_at: from_secs(self.created_at)?,
            expires_at: opt_from_secs(self.expires_at)?,
            max_uses: self.max_uses,
            uses: self.uses,
        })
    }
}

#[async_trait]
impl InitialAccessTokenRepository for SqlStore {
    async fn insert_initial_access_token(&self, token: InitialAccessToken) -> StoreResult<()> {
        let row = TokenRow {
            id: token.id,
            token_hash: token.token_hash.as_str().to_owned(),
            created_at: to_secs(token.created_at),
            expires_at: opt_to_secs(token.expires_at),
            max_uses: token.max_uses,
            uses: token.uses,
        };
        self.run(move |conn| {
            diesel::insert_into(initial_access_tokens::table)
                .values(&row)
                .execute(conn)
                .map_err(conflict_on_unique("initial_access_token"))?;
            Ok(())
        })
        .await
    }

    async fn find_initial_access_token(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<InitialAccessToken>> {
        let hash = hash.as_str().to_owned();
        self.run(move |conn| {
            let row = initial_access_tokens::table
                .filter(initial_access_tokens::token_hash.eq(hash))
                .select(TokenRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(TokenRow::into_model).transpose()?)
        })
        .await
    }

    async fn consume_initial_access_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        use initial_access_tokens::dsl as t;
        let hash = hash.as_str().to_owned();
        let now = to_secs(now);
        self.run(move |conn| {
            let spent = diesel::update(
                t::initial_access_tokens
                    .filter(t::token_hash.eq(hash))
                    .filter(t::expires_at.is_null().or(t::expires_at.gt(now)))
                    .filter(
                        t::max_uses
                            .is_null()
                            .or(t::uses.lt(t::max_uses.assume_not_null())),
                    ),
            )
            .set(t::uses.eq(t::uses + 1))
            .execute(conn)?;
            Ok(spent == 1)
        })
        .await
    }

    async fn list_initial_access_tokens(&self) -> StoreResult<Vec<InitialAccessToken>> {
        self.run(|conn| {
            let rows = initial_access_tokens::table
                .order((
                    initial_access_tokens::created_at.asc(),
                    initial_access_tokens::id.asc(),
                ))
                .select(TokenRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(TokenRow::into_model)
                .collect::<StoreResult<_>>()?)
        })
        .await
    }

    async fn delete_initial_access_token(&self, id: &str) -> StoreResult<()> {
        let id = id.to_owned();
        self.run(move |conn| {
            let deleted = diesel::delete(initial_access_tokens::table.find(id)).execute(conn)?;
            one_row_or_not_found(deleted)
        })
        .await
    }
}
