//! `UserRepository` on SQL: the system of record for people who log in.
//!
//! Usernames arrive in their RFC 8265 form (`Username::parse`), so a plain UNIQUE index enforces
//! "`Alice`, `ALICE` and `ａｌｉｃｅ` are one account"; a second UNIQUE index on the UTS #39
//! skeleton refuses a new account confusable with an existing one (`аlice` with a Cyrillic
//! `а`), atomically. Listing is ordered byte-wise by username on both dialects (PostgreSQL's
//! columns use the "C" collation).

use crate::convert::{from_secs, opt_from_secs, to_secs};
use crate::error::{DbError, DbResult, conflict_on_unique, internal};
use crate::pool::{AnyConnection, SqlStore, write_transaction};
use crate::schema::{
    account_lockouts, consents, recovery_codes, refresh_token_families, user_factors, user_roles,
    users,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text};
use palisade_core::StoreError;
use palisade_core::model::{Email, NewUser, PasswordHash, Profile, User, UserId, Username};
use palisade_core::ports::{CONFUSABLE_USERNAME, StoreResult, TAKEN_USERNAME, UserRepository};

diesel::define_sql_function! {
    /// Lower-cases text; SQLite's LIKE folds ASCII case and PostgreSQL's does not, so both
    /// sides are folded explicitly.
    fn lower(text: Nullable<Text>) -> Nullable<Text>;
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
struct UserRow {
    id: String,
    username: String,
    email: Option<String>,
    email_verified: bool,
    display_name: Option<String>,
    password_hash: String,
    is_disabled: bool,
    created_at: i64,
    updated_at: i64,
    sessions_revoked_at: Option<i64>,
    username_skeleton: Option<String>,
}

impl UserRow {
    fn from_new(user: NewUser) -> Self {
        let created_at = to_secs(user.created_at);
        Self {
            id: user.id.0,
            username: user.username.as_str().to_owned(),
            email: user.email.map(String::from),
            email_verified: false,
            display_name: user.display_name,
            password_hash: user.password_hash.0,
            is_disabled: false,
            created_at,
            updated_at: created_at,
            sessions_revoked_at: None,
            username_skeleton: Some(user.username.skeleton()),
        }
    }

    fn into_model(self) -> StoreResult<User> {
        Ok(User {
            username: Username::from_stored(&self.username)
                .map_err(|e| internal(format!("stored username is invalid: {e}")))?,
            id: UserId(self.id),
            email: self
                .email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(|e| internal(format!("stored email is invalid: {e}")))?,
            email_verified: self.email_verified,
            display_name: self.display_name,
            password_hash: PasswordHash(self.password_hash),
            is_disabled: self.is_disabled,
            created_at: from_secs(self.created_at)?,
            updated_at: from_secs(self.updated_at)?,
            sessions_revoked_at: opt_from_secs(self.sessions_revoked_at)?,
        })
    }
}

/// `%` and `_` in what the admin typed are literal characters, not wildcards.
fn like_pattern(search: &str) -> String {
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[async_trait]
impl UserRepository for SqlStore {
    async fn insert_user(&self, user: NewUser) -> StoreResult<User> {
        let row = UserRow::from_new(user);
        self.run(move |conn| {
            diesel::insert_into(users::table)
                .values(&row)
                .execute(conn)
                .map_err(|e| match conflict_on_unique(TAKEN_USERNAME)(e) {
                    DbError::Store(StoreError::Conflict(_)) => {
                        DbError::Store(StoreError::Conflict(broken_rule(conn, &row)))
                    }
                    other => other,
                })?;
            Ok(row.into_model()?)
        })
        .await
    }

    async fn find_user_by_id(&self, id: &UserId) -> StoreResult<Option<User>> {
        let id = id.0.clone();
        self.run(move |conn| {
            let row = users::table
                .find(id)
                .select(UserRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(UserRow::into_model).transpose()?)
        })
        .await
    }

    async fn find_user_by_username(&self, username: &Username) -> StoreResult<Option<User>> {
        let username = username.as_str().to_owned();
        self.run(move |conn| {
            let row = users::table
                .filter(users::username.eq(username))
                .select(UserRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(UserRow::into_model).transpose()?)
        })
        .await
    }

    /// A negative `limit` or `offset` counts as zero.
    async fn list_users(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<User>> {
        let pattern = search.map(like_pattern);
        let (limit, offset) = (limit.max(0), offset.max(0));
        self.run(move |conn| {
            let mut query = users::table
                .select(UserRow::as_select())
                .order(users::username.asc())
                .limit(limit)
                .offset(offset)
                .into_boxed();
            if let Some(pattern) = pattern {
                query = query.filter(
                    lower(users::username.nullable())
                        .like(pattern.clone())
                        .escape('\\')
                        .or(lower(users::email).like(pattern.clone()).escape('\\'))
                        .or(lower(users::display_name).like(pattern).escape('\\')),
                );
            }
            let rows = query.load(conn)?;
            Ok(rows
                .into_iter()
                .map(UserRow::into_model)
                .collect::<StoreResult<_>>()?)
        })
        .await
    }

    async fn update_password_hash(
        &self,
        id: &UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (id, hash) = (id.0.clone(), hash.0.clone());
        self.run(move |conn| {
            let changed = diesel::update(users::table.find(id))
                .set((
                    users::password_hash.eq(hash),
                    users::updated_at.eq(to_secs(now)),
                ))
                .execute(conn)?;
            one_row_or_not_found(changed)
        })
        .await
    }

    async fn update_profile(
        &self,
        id: &UserId,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = id.0.clone();
        let email = profile.email.as_ref().map(|e| e.as_str().to_owned());
        let (display_name, email_verified) = (profile.display_name.clone(), profile.email_verified);
        self.run(move |conn| {
            let changed = diesel::update(users::table.find(id))
                .set((
                    users::display_name.eq(display_name),
                    users::email.eq(email),
                    users::email_verified.eq(email_verified),
                    users::updated_at.eq(to_secs(now)),
                ))
                .execute(conn)?;
            one_row_or_not_found(changed)
        })
        .await
    }

    async fn set_user_disabled(
        &self,
        id: &UserId,
        is_disabled: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let id = id.0.clone();
        self.run(move |conn| {
            let changed = diesel::update(users::table.find(id))
                .set((
                    users::is_disabled.eq(is_disabled),
                    users::updated_at.eq(to_secs(now)),
                ))
                .execute(conn)?;
            one_row_or_not_found(changed)
        })
        .await
    }

    async fn revoke_user_sessions(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()> {
        let (id, at) = (id.0.clone(), to_secs(at));
        self.run(move |conn| {
            // Never backwards: a later event with an earlier clock reading keeps the later mark.
            let changed = diesel::update(users::table.find(&id))
                .filter(
                    users::sessions_revoked_at
                        .is_null()
                        .or(users::sessions_revoked_at.lt(at)),
                )
                .set(users::sessions_revoked_at.eq(Some(at)))
                .execute(conn)?;
            if changed == 0 {
                let exists = users::table.find(&id).count().get_result::<i64>(conn)? > 0;
                one_row_or_not_found(usize::from(exists))?;
            }
            Ok(())
        })
        .await
    }

    /// The dependent rows go explicitly, in one transaction, as a client's do.
    async fn delete_user(&self, id: &UserId) -> StoreResult<()> {
        let id = id.0.clone();
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                diesel::delete(user_roles::table.filter(user_roles::user_id.eq(&id)))
                    .execute(conn)?;
                diesel::delete(consents::table.filter(consents::user_id.eq(&id))).execute(conn)?;
                diesel::delete(account_lockouts::table.filter(account_lockouts::user_id.eq(&id)))
                    .execute(conn)?;
                diesel::delete(user_factors::table.filter(user_factors::user_id.eq(&id)))
                    .execute(conn)?;
                diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(&id)))
                    .execute(conn)?;
                // Their spent tokens go with them (ON DELETE CASCADE).
                diesel::delete(
                    refresh_token_families::table.filter(refresh_token_families::user_id.eq(&id)),
                )
                .execute(conn)?;
                let deleted = diesel::delete(users::table.find(&id)).execute(conn)?;
                one_row_or_not_found(deleted)
            })
        })
        .await
    }

    async fn record_sign_in(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()> {
        let (id, at) = (id.0.clone(), to_secs(at));
        self.run(move |conn| {
            diesel::update(users::table.find(id))
                .set(users::last_sign_in_at.eq(Some(at)))
                .execute(conn)?;
            Ok(())
        })
        .await
    }
}

/// Which UNIQUE rule a refused insert of `row` broke, told apart by looking (the error's
/// constraint name is not reported the same way by both dialects).
fn broken_rule(conn: &mut AnyConnection, row: &UserRow) -> &'static str {
    let count_where = |conn: &mut AnyConnection, by_name: bool| -> QueryResult<i64> {
        if by_name {
            users::table
                .filter(users::username.eq(&row.username))
                .count()
                .get_result(conn)
        } else {
            users::table
                .filter(users::username_skeleton.eq(&row.username_skeleton))
                .count()
                .get_result(conn)
        }
    };
    // If we cannot tell, the username is the likelier culprit.
    if count_where(conn, true).map_or(true, |n| n > 0) {
        TAKEN_USERNAME
    } else if count_where(conn, false).map_or(true, |n| n > 0) {
        CONFUSABLE_USERNAME
    } else {
        // The id is a fresh UUID; a clash there means a caller bug, not a taken name.
        "user id"
    }
}

/// Gives every user without a skeleton (rows from before the `username_skeletons`
/// migration) its RFC 8265 username and UTS #39 skeleton. Run by [`crate::SqlStore::migrate`]
/// after the migrations, under the same lock. A row whose enforced username or skeleton is
/// already another account's keeps its name and no skeleton (NULL never clashes in a UNIQUE
/// index): both accounts go on working, a warning names it for the operator, and no new
/// account confusable with either can be made. Returns how many rows were updated.
pub(crate) fn backfill_username_skeletons(conn: &mut AnyConnection) -> DbResult<usize> {
    let pending: Vec<(String, String)> = users::table
        .filter(users::username_skeleton.is_null())
        // The older account keeps the name when two are confusable.
        .order((users::created_at.asc(), users::id.asc()))
        .select((users::id, users::username))
        .load(conn)?;
    let mut updated = 0;
    for (id, stored) in pending {
        let Ok(username) = Username::parse(&stored) else {
            tracing::warn!(user = %id, "a stored username does not parse under RFC 8265; left without a skeleton");
            continue;
        };
        let result = diesel::update(users::table.find(&id))
            .set((
                users::username.eq(username.as_str()),
                users::username_skeleton.eq(username.skeleton()),
            ))
            .execute(conn);
        match result {
            Ok(_) => updated += 1,
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => {
                tracing::warn!(user = %id, "a stored username is, under RFC 8265 or UTS #39, the same as or confusable with another account's; left as it is, without a skeleton");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(updated)
}

pub(crate) fn one_row_or_not_found(changed: usize) -> Result<(), DbError> {
    if changed == 0 {
        Err(DbError::Store(StoreError::NotFound))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn search_wildcards_are_taken_literally() {
        assert_eq!(like_pattern("Ali"), "%ali%");
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }
}
