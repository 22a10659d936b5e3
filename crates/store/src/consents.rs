//! `ConsentRepository` on SQL: what each user allowed each client, remembered.
//!
//! Saving is an upsert on (user, client) — `ON CONFLICT DO UPDATE`, written per backend since
//! the MultiConnection has no upsert (docs/dependencies.md, diesel) — so concurrent saves never
//! collide.

use crate::convert::{from_secs, list_from_text, list_to_text, to_secs};
use crate::pool::{SqlStore, on_backend};
use crate::schema::consents;
use async_trait::async_trait;
use diesel::prelude::*;
use diesel::upsert::excluded;
use palisade_core::model::{ClientId, Consent, UserId};
use palisade_core::ports::{ConsentRepository, StoreResult};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
struct ConsentRow {
    user_id: String,
    client_id: String,
    scopes: String,
    granted_at: i64,
}

impl ConsentRow {
    fn into_model(self) -> StoreResult<Consent> {
        Ok(Consent {
            user_id: UserId(self.user_id),
            client_id: ClientId(self.client_id),
            scopes: list_from_text(&self.scopes)?,
            granted_at: from_secs(self.granted_at)?,
        })
    }
}

#[async_trait]
impl ConsentRepository for SqlStore {
    async fn find_consent(&self, user: &UserId, client: &ClientId) -> StoreResult<Option<Consent>> {
        let key = (user.0.clone(), client.0.clone());
        self.run(move |conn| {
            let row = consents::table
                .find(key)
                .select(ConsentRow::as_select())
                .first(conn)
                .optional()?;
            Ok(row.map(ConsentRow::into_model).transpose()?)
        })
        .await
    }

    /// `NotFound` if the user or the client does not exist.
    async fn save_consent(&self, consent: Consent) -> StoreResult<()> {
        let row = ConsentRow {
            user_id: consent.user_id.0,
            client_id: consent.client_id.0,
            scopes: list_to_text(&consent.scopes),
            granted_at: to_secs(consent.granted_at),
        };
        self.run(move |conn| {
            on_backend!(conn, |c| {
                diesel::insert_into(consents::table)
                    .values(&row)
                    .on_conflict((consents::user_id, consents::client_id))
                    .do_update()
                    .set((
                        consents::scopes.eq(excluded(consents::scopes)),
                        consents::granted_at.eq(excluded(consents::granted_at)),
                    ))
                    .execute(c)?
            });
            Ok(())
        })
        .await
    }

    async fn revoke_consent(&self, user: &UserId, client: &ClientId) -> StoreResult<()> {
        let key = (user.0.clone(), client.0.clone());
        self.run(move |conn| {
            diesel::delete(consents::table.find(key)).execute(conn)?;
            Ok(())
        })
        .await
    }

    async fn list_consents_of_user(&self, user: &UserId) -> StoreResult<Vec<Consent>> {
        let user = user.0.clone();
        self.run(move |conn| {
            let rows = consents::table
                .filter(consents::user_id.eq(user))
                .order(consents::client_id.asc())
                .select(ConsentRow::as_select())
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(ConsentRow::into_model)
                .collect::<StoreResult<_>>()?)
        })
        .await
    }
}
