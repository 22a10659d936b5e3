//! `SessionIndex` on SQL: one row per browser login session, so a user's sessions can be
//! listed and ended (the sessions themselves live in the ephemeral store).

use crate::convert::{from_secs, to_secs};
use crate::pool::SqlStore;
use crate::schema::browser_sessions;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use palisade_core::model::{SessionRecord, UserId};
use palisade_core::ports::{SessionIndex, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = browser_sessions)]
struct SessionRow {
    handle: String,
    user_id: String,
    session_key: String,
    user_agent: Option<String>,
    client_ip: Option<String>,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl SessionRow {
    fn into_model(self) -> StoreResult<SessionRecord> {
        Ok(SessionRecord {
            handle: self.handle,
            user_id: UserId(self.user_id),
            session_key: self.session_key,
            user_agent: self.user_agent,
            client_ip: self.client_ip,
            created_at: from_secs(self.created_at)?,
            last_seen_at: from_secs(self.last_seen_at)?,
            expires_at: from_secs(self.expires_at)?,
        })
    }
}

#[async_trait]
impl SessionIndex for SqlStore {
    async fn record_session(&self, record: SessionRecord) -> StoreResult<()> {
        let row = SessionRow {
            handle: record.handle,
            user_id: record.user_id.0,
            session_key: record.session_key,
            user_agent: record.user_agent,
            client_ip: record.client_ip,
            created_at: to_secs(record.created_at),
            last_seen_at: to_secs(record.last_seen_at),
            expires_at: to_secs(record.expires_at),
        };
        self.run(move |conn| {
            diesel::insert_into(browser_sessions::table)
                .values(&row)
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn touch_session(
        &self,
        session_key: &str,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let key = session_key.to_owned();
        self.run(move |conn| {
            diesel::update(browser_sessions::table.filter(browser_sessions::session_key.eq(key)))
                .set((
                    browser_sessions::last_seen_at.eq(to_secs(last_seen_at)),
                    browser_sessions::expires_at.eq(to_secs(expires_at)),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn sessions_of_user(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let user = user.0.clone();
        self.run(move |conn| {
            let rows = browser_sessions::table
                .filter(browser_sessions::user_id.eq(user))
                .filter(browser_sessions::expires_at.gt(to_secs(now)))
                .order((
                    browser_sessions::last_seen_at.desc(),
                    browser_sessions::handle.asc(),
                ))
                .select(SessionRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(SessionRow::into_model)
                .collect::<StoreResult<_>>()?)
        })
        .await
    }

    async fn find_session_by_handle(
        &self,
        user: &UserId,
        handle: &str,
    ) -> StoreResult<Option<SessionRecord>> {
        let (user, handle) = (user.0.clone(), handle.to_owned());
        self.run(move |conn| {
            let row = browser_sessions::table
                .find(handle)
                .filter(browser_sessions::user_id.eq(user))
                .select(SessionRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(SessionRow::into_model).transpose()?)
        })
        .await
    }

    async fn forget_session(&self, session_key: &str) -> StoreResult<()> {
        let key = session_key.to_owned();
        self.run(move |conn| {
            diesel::delete(browser_sessions::table.filter(browser_sessions::session_key.eq(key)))
                .execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn purge_expired_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.run(move |conn| {
            let purged = diesel::delete(
                browser_sessions::table.filter(browser_sessions::expires_at.lt(to_secs(before))),
            )
            .execute(conn)?;
            Ok(purged as u64)
        })
        .await
    }
}
