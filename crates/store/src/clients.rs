//! `ClientRepository` on SQL: registered OAuth clients and their redirect URIs.
//!
//! Redirect URIs live in their own table with a position, so the registered order survives a
//! round trip (the first one is the default). Insert, update and delete each run in one write
//! transaction; delete removes the client's consents and refresh-token families explicitly as
//! well as through the foreign keys' ON DELETE CASCADE.

use crate::convert::{from_secs, list_from_text, list_to_text, to_secs};
use crate::error::{DbError, conflict_on_unique, internal};
use crate::pool::{AnyConnection, SqlStore, write_transaction};
use crate::schema::{client_redirect_uris, clients, consents, refresh_token_families};
use crate::users::one_row_or_not_found;
use async_trait::async_trait;
use diesel::prelude::*;
use palisade_core::TokenHash;
use palisade_core::model::{
    ApplicationType, Client, ClientId, ClientType, ParseError, TokenEndpointAuthMethod,
};
use palisade_core::ports::{ClientRepository, SigningAlgorithm, StoreResult};
use std::collections::HashMap;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = clients)]
struct ClientRow {
    id: String,
    name: String,
    client_type: String,
    application_type: String,
    secret_hash: Option<String>,
    token_endpoint_auth_method: String,
    grant_types: String,
    response_types: String,
    scopes: String,
    post_logout_redirect_uris: String,
    access_token_ttl_secs: Option<i64>,
    refresh_token_ttl_secs: Option<i64>,
    id_token_signed_response_alg: Option<String>,
    registration_access_token_hash: Option<String>,
    jwks: Option<String>,
    created_at: i64,
    require_mfa: bool,
    dpop_bound_access_tokens: bool,
    require_pushed_authorization_requests: bool,
    resources: String,
}

/// Everything an update replaces: all metadata, but not the id or the registration time.
#[derive(AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true)]
struct ClientChanges<'a> {
    name: &'a str,
    client_type: &'a str,
    application_type: &'a str,
    secret_hash: Option<&'a str>,
    token_endpoint_auth_method: &'a str,
    grant_types: &'a str,
    response_types: &'a str,
    scopes: &'a str,
    post_logout_redirect_uris: &'a str,
    access_token_ttl_secs: Option<i64>,
    refresh_token_ttl_secs: Option<i64>,
    id_token_signed_response_alg: Option<&'a str>,
    registration_access_token_hash: Option<&'a str>,
    jwks: Option<&'a str>,
    require_mfa: bool,
    dpop_bound_access_tokens: bool,
    require_pushed_authorization_requests: bool,
    resources: &'a str,
}

impl ClientRow {
    fn from_model(client: &Client) -> Self {
        Self {
            id: client.id.0.clone(),
            name: client.name.clone(),
            client_type: client.client_type.as_str().to_owned(),
            application_type: client.application_type.as_str().to_owned(),
            secret_hash: client.secret_hash.as_ref().map(|h| h.as_str().to_owned()),
            token_endpoint_auth_method: client.token_endpoint_auth_method.as_str().to_owned(),
            grant_types: list_to_text(&client.grant_types),
            response_types: list_to_text(&client.response_types),
            scopes: list_to_text(&client.scopes),
            post_logout_redirect_uris: list_to_text(&client.post_logout_redirect_uris),
            access_token_ttl_secs: client.access_token_ttl_secs,
            refresh_token_ttl_secs: client.refresh_token_ttl_secs,
            id_token_signed_response_alg: client
                .id_token_signed_response_alg
                .map(|alg| alg.as_str().to_owned()),
            registration_access_token_hash: client
                .registration_access_token_hash
                .as_ref()
                .map(|h| h.as_str().to_owned()),
            jwks: client.jwks.clone(),
            created_at: to_secs(client.created_at),
            require_mfa: client.require_mfa,
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
            resources: list_to_text(&client.resources),
        }
    }

    fn changes(&self) -> ClientChanges<'_> {
        ClientChanges {
            name: &self.name,
            client_type: &self.client_type,
            application_type: &self.application_type,
            secret_hash: self.secret_hash.as_deref(),
            token_endpoint_auth_method: &self.token_endpoint_auth_method,
            grant_types: &self.grant_types,
            response_types: &self.response_types,
            scopes: &self.scopes,
            post_logout_redirect_uris: &self.post_logout_redirect_uris,
            access_token_ttl_secs: self.access_token_ttl_secs,
            refresh_token_ttl_secs: self.refresh_token_ttl_secs,
            id_token_signed_response_alg: self.id_token_signed_response_alg.as_deref(),
            registration_access_token_hash: self.registration_access_token_hash.as_deref(),
            jwks: self.jwks.as_deref(),
            require_mfa: self.require_mfa,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            resources: &self.resources,
        }
    }

    /// The row as a [`Client`]. A value outside its closed set (hand-edited or corrupt) is an
    /// error naming the column, never a default: a default could quietly widen what the
    /// client may do.
    fn into_model(self, redirect_uris: Vec<String>) -> StoreResult<Client> {
        let corrupt =
            |column: &str, e: ParseError| internal(format!("stored client {column}: {e}"));
        let id_token_signed_response_alg = match self.id_token_signed_response_alg.as_deref() {
            None => None,
            Some(raw) => Some(SigningAlgorithm::parse(raw).ok_or_else(|| {
                internal("stored client id_token_signed_response_alg: unknown algorithm")
            })?),
        };
        Ok(Client {
            id: ClientId(self.id),
            name: self.name,
            client_type: ClientType::parse(&self.client_type)
                .map_err(|e| corrupt("client_type", e))?,
            application_type: ApplicationType::parse(&self.application_type)
                .map_err(|e| corrupt("application_type", e))?,
            secret_hash: self.secret_hash.map(TokenHash::from_stored),
            token_endpoint_auth_method: TokenEndpointAuthMethod::parse(
                &self.token_endpoint_auth_method,
            )
            .map_err(|e| corrupt("token_endpoint_auth_method", e))?,
            grant_types: list_from_text(&self.grant_types)?,
            response_types: list_from_text(&self.response_types)?,
            redirect_uris,
            scopes: list_from_text(&self.scopes)?,
            post_logout_redirect_uris: list_from_text(&self.post_logout_redirect_uris)?,
            access_token_ttl_secs: self.access_token_ttl_secs,
            refresh_token_ttl_secs: self.refresh_token_ttl_secs,
            id_token_signed_response_alg,
            registration_access_token_hash: self
                .registration_access_token_hash
                .map(TokenHash::from_stored),
            jwks: self.jwks,
            require_mfa: self.require_mfa,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            resources: list_from_text(&self.resources)?,
            created_at: from_secs(self.created_at)?,
        })
    }
}

/// One row per URI: the MultiConnection cannot do multi-row inserts (docs/dependencies.md, diesel).
fn insert_redirect_uris(
    conn: &mut AnyConnection,
    client_id: &str,
    uris: &[String],
) -> Result<(), DbError> {
    for (position, uri) in uris.iter().enumerate() {
        let position = i32::try_from(position).map_err(|_| internal("too many redirect URIs"))?;
        diesel::insert_into(client_redirect_uris::table)
            .values((
                client_redirect_uris::client_id.eq(client_id),
                client_redirect_uris::position.eq(position),
                client_redirect_uris::uri.eq(uri),
            ))
            .execute(conn)?;
    }
    Ok(())
}

#[async_trait]
impl ClientRepository for SqlStore {
    async fn insert_client(&self, client: Client) -> StoreResult<()> {
        let row = ClientRow::from_model(&client);
        let uris = client.redirect_uris;
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                diesel::insert_into(clients::table)
                    .values(&row)
                    .execute(conn)
                    .map_err(conflict_on_unique("client_id"))?;
                insert_redirect_uris(conn, &row.id, &uris)
            })
        })
        .await
    }

    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        let id = id.0.clone();
        self.run(move |conn| {
            let Some(row) = clients::table
                .find(&id)
                .select(ClientRow::as_select())
                .first(conn)
                .optional()?
            else {
                return Ok(None);
            };
            let uris = client_redirect_uris::table
                .filter(client_redirect_uris::client_id.eq(&id))
                .order(client_redirect_uris::position.asc())
                .select(client_redirect_uris::uri)
                .load(conn)?;
            Ok(Some(row.into_model(uris)?))
        })
        .await
    }

    /// Oldest first.
    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.run(|conn| {
            let rows = clients::table
                .select(ClientRow::as_select())
                .order((clients::created_at.asc(), clients::id.asc()))
                .load(conn)?;
            let all_uris: Vec<(String, String)> = client_redirect_uris::table
                .order((
                    client_redirect_uris::client_id.asc(),
                    client_redirect_uris::position.asc(),
                ))
                .select((client_redirect_uris::client_id, client_redirect_uris::uri))
                .load(conn)?;
            let mut uris_by_client: HashMap<String, Vec<String>> = HashMap::new();
            for (client_id, uri) in all_uris {
                uris_by_client.entry(client_id).or_default().push(uri);
            }
            Ok(rows
                .into_iter()
                .map(|row| {
                    let uris = uris_by_client.remove(&row.id).unwrap_or_default();
                    row.into_model(uris)
                })
                .collect::<StoreResult<_>>()?)
        })
        .await
    }

    /// `created_at` is kept from registration.
    async fn update_client(&self, client: Client) -> StoreResult<()> {
        let row = ClientRow::from_model(&client);
        let uris = client.redirect_uris;
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                let changed = diesel::update(clients::table.find(&row.id))
                    .set(row.changes())
                    .execute(conn)?;
                one_row_or_not_found(changed)?;
                diesel::delete(
                    client_redirect_uris::table.filter(client_redirect_uris::client_id.eq(&row.id)),
                )
                .execute(conn)?;
                insert_redirect_uris(conn, &row.id, &uris)
            })
        })
        .await
    }

    async fn delete_client(&self, id: &ClientId) -> StoreResult<()> {
        let id = id.0.clone();
        self.run(move |conn| {
            write_transaction(conn, |conn| {
                // Explicit as well as cascading, so nothing depends on the FK pragma being on.
                diesel::delete(consents::table.filter(consents::client_id.eq(&id)))
                    .execute(conn)?;
                diesel::delete(
                    refresh_token_families::table.filter(refresh_token_families::client_id.eq(&id)),
                )
                .execute(conn)?;
                diesel::delete(
                    client_redirect_uris::table.filter(client_redirect_uris::client_id.eq(&id)),
                )
                .execute(conn)?;
                let deleted = diesel::delete(clients::table.find(&id)).execute(conn)?;
                one_row_or_not_found(deleted)
            })
        })
        .await
    }
}
