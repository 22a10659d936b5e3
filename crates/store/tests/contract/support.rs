//! Fixtures shared by the contract tests.

use chrono::{DateTime, Duration, Utc};
use palisade_core::TokenHash;
use palisade_core::model::*;
use palisade_core::ports::{SigningAlgorithm, UserRepository};
use palisade_store::SqlStore;
use palisade_store::testing::{self, TestDatabase};

/// A migrated store on a database of its own; keep the guard alive for the whole test.
pub async fn store() -> (SqlStore, TestDatabase) {
    testing::sql_store().await
}

/// A whole-second instant (the SQL stores keep seconds), `secs` after a fixed origin.
pub fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap() + Duration::seconds(secs)
}

pub fn new_user(name: &str) -> NewUser {
    NewUser {
        id: UserId(uuid::Uuid::new_v4().to_string()),
        username: Username::parse(name).unwrap(),
        email: Some(Email::parse(&format!("{}@Example.com", name.to_lowercase())).unwrap()),
        display_name: Some(format!("{name} Display")),
        password_hash: PasswordHash(format!("$argon2id$v=19$m=19456,t=2,p=1${name}")),
        created_at: at(0),
    }
}

/// Runs statements on the test database behind the store's back, to plant rows the store
/// would never write (corrupt data).
pub fn execute_raw(db: &TestDatabase, statements: &[&str]) {
    use diesel::{Connection, RunQueryDsl};
    fn run<C: Connection>(conn: &mut C, statements: &[&str])
    where
        C::Backend: diesel::backend::Backend,
        diesel::query_builder::SqlQuery: diesel::query_dsl::methods::ExecuteDsl<C>,
    {
        for statement in statements {
            diesel::sql_query(*statement).execute(conn).unwrap();
        }
    }
    match db.backend() {
        palisade_store::Backend::Sqlite => {
            let path = db.url().trim_start_matches("sqlite://");
            run(
                &mut diesel::SqliteConnection::establish(path).unwrap(),
                statements,
            );
        }
        palisade_store::Backend::Postgres => {
            run(
                &mut diesel::PgConnection::establish(db.url()).unwrap(),
                statements,
            );
        }
    }
}

pub async fn user(store: &SqlStore, name: &str) -> User {
    store.insert_user(new_user(name)).await.unwrap()
}

pub fn client(id: &str) -> Client {
    Client {
        id: ClientId(id.to_owned()),
        name: format!("Client {id}"),
        client_type: ClientType::Confidential,
        application_type: ApplicationType::Web,
        secret_hash: Some(TokenHash::of(&format!("{id}-secret"))),
        token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        response_types: vec!["code".into(), "code id_token".into()],
        redirect_uris: vec![
            format!("https://{id}.example/cb"),
            "http://127.0.0.1/cb".into(),
            format!("https://{id}.example/another"),
        ],
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        post_logout_redirect_uris: vec![format!("https://{id}.example/bye")],
        access_token_ttl_secs: Some(600),
        refresh_token_ttl_secs: Some(86_400),
        id_token_signed_response_alg: Some(SigningAlgorithm::ES256),
        registration_access_token_hash: Some(TokenHash::of(&format!("{id}-rat"))),
        jwks: Some(r#"{"keys":[]}"#.into()),
        require_mfa: false,
        dpop_bound_access_tokens: false,
        require_pushed_authorization_requests: false,
        resources: vec![],
        created_at: at(0),
    }
}

pub fn family(
    id: &str,
    client: &ClientId,
    user: Option<&UserId>,
    raw_token: &str,
) -> RefreshTokenFamily {
    RefreshTokenFamily {
        id: id.to_owned(),
        client_id: client.clone(),
        user_id: user.cloned(),
        scopes: vec!["openid".into(), "offline_access".into()],
        grant: r#"{"auth_time":1700000000,"amr":["pwd"]}"#.into(),
        current_hash: TokenHash::of(raw_token),
        previous_hash: None,
        rotated_at: None,
        created_at: at(0),
        expires_at: at(3600),
        revoked_at: None,
    }
}

pub fn signing_key(kid: &str, created: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.to_owned(),
        alg: "ES256".into(),
        state: KeyState::Next,
        public_jwk: format!(r#"{{"kty":"EC","kid":"{kid}"}}"#),
        encrypted_private_jwk: format!("eyJhbGciOi.{kid}.jwe"),
        master_key_id: "m1".into(),
        created_at: at(created),
        activates_at: at(created + 600),
        activated_at: None,
        retired_at: None,
        remove_after: None,
    }
}
