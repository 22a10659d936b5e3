//! ClientRepository contract.

use crate::support::{at, client, family, store, user};
use palisade_core::StoreError;
use palisade_core::TokenHash;
use palisade_core::model::{
    ApplicationType, ClientId, ClientType, Consent, GrantType, TokenEndpointAuthMethod,
};
use palisade_core::ports::{ClientRepository, ConsentRepository, RefreshTokenRepository};
use palisade_store::testing::TestDatabase;

#[tokio::test]
async fn a_client_round_trips_with_every_field_and_its_redirect_uris_in_order() {
    let (store, _db) = store().await;
    let c = client("web");
    store.insert_client(c.clone()).await.unwrap();
    let found = store.find_client(&c.id).await.unwrap().unwrap();
    assert_eq!(found, c);
    assert_eq!(
        found.redirect_uris,
        [
            "https://web.example/cb",
            "http://127.0.0.1/cb",
            "https://web.example/another"
        ]
    );
    assert_eq!(found.response_types, ["code", "code id_token"]);
}

#[tokio::test]
async fn a_public_client_without_optional_metadata_round_trips() {
    let (store, _db) = store().await;
    let mut c = client("cli");
    c.client_type = ClientType::Public;
    c.secret_hash = None;
    c.token_endpoint_auth_method = TokenEndpointAuthMethod::None;
    c.redirect_uris = vec![];
    c.scopes = vec![];
    c.access_token_ttl_secs = None;
    c.refresh_token_ttl_secs = None;
    c.id_token_signed_response_alg = None;
    c.registration_access_token_hash = None;
    c.jwks = None;
    store.insert_client(c.clone()).await.unwrap();
    assert_eq!(store.find_client(&c.id).await.unwrap(), Some(c));
}

/// Sets `assignment` on client `id` with raw SQL, past the repository and past the table's
/// CHECK constraints (SQLite: ignored on this connection; PostgreSQL: dropped in this test's
/// own database), as a hand-run UPDATE or a faulty migration could.
async fn corrupt_client_row(db: &TestDatabase, id: &str, assignment: &str) {
    use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
    let update = format!("UPDATE clients SET {assignment} WHERE id = '{id}'");
    let (url, database_url) = (db.url().to_owned(), db.database_url().clone());
    tokio::task::spawn_blocking(move || match database_url.sqlite_path() {
        Some(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy()).unwrap();
            diesel::sql_query("PRAGMA ignore_check_constraints = ON").execute(&mut conn)?;
            diesel::sql_query(update).execute(&mut conn)
        }
        None => {
            let mut conn = PgConnection::establish(&url).unwrap();
            diesel::sql_query(
                "DO $$ DECLARE c record; BEGIN \
                 FOR c IN SELECT conname FROM pg_constraint \
                 WHERE conrelid = 'clients'::regclass AND contype = 'c' LOOP \
                 EXECUTE format('ALTER TABLE clients DROP CONSTRAINT %I', c.conname); \
                 END LOOP; END $$",
            )
            .execute(&mut conn)?;
            diesel::sql_query(update).execute(&mut conn)
        }
    })
    .await
    .unwrap()
    .unwrap();
}

/// A row changed behind the repository's back must not quietly read as a `web` client, a
/// default method or fewer grants: reading it fails, whatever the schema's CHECKs let through.
#[tokio::test]
async fn a_client_row_with_a_value_outside_its_closed_set_is_an_error_not_a_default() {
    let (store, db) = store().await;
    let corruptions = [
        ("bad-app-type", "application_type = 'bogus'"),
        (
            "bad-method",
            "token_endpoint_auth_method = 'client_secret_jwt'",
        ),
        ("bad-client-type", "client_type = 'trusted'"),
        (
            "bad-grant",
            r#"grant_types = '["authorization_code","password"]'"#,
        ),
        ("bad-alg", "id_token_signed_response_alg = 'none'"),
    ];
    for (id, _) in corruptions {
        store.insert_client(client(id)).await.unwrap();
    }
    store.insert_client(client("sound")).await.unwrap();
    for (id, assignment) in corruptions {
        corrupt_client_row(&db, id, assignment).await;
    }
    for (id, assignment) in corruptions {
        let err = store
            .find_client(&ClientId(id.into()))
            .await
            .expect_err(assignment);
        assert!(
            matches!(err, StoreError::Internal(_)),
            "{assignment}: {err:?}"
        );
    }
    assert_eq!(
        store.find_client(&ClientId("sound".into())).await.unwrap(),
        Some(client("sound"))
    );
    assert!(store.list_clients().await.is_err());
}

#[tokio::test]
async fn unknown_clients_are_not_found() {
    let (store, _db) = store().await;
    assert_eq!(
        store.find_client(&ClientId("nope".into())).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn a_duplicate_client_id_is_a_conflict_and_changes_nothing() {
    let (store, _db) = store().await;
    let original = client("web");
    store.insert_client(original.clone()).await.unwrap();
    let mut duplicate = client("web");
    duplicate.name = "Impostor".into();
    duplicate.redirect_uris = vec!["https://evil.example/cb".into()];
    let err = store.insert_client(duplicate).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("client_id")), "{err:?}");
    assert_eq!(
        store.find_client(&original.id).await.unwrap(),
        Some(original)
    );
}

#[tokio::test]
async fn clients_list_oldest_first_each_with_its_own_redirect_uris() {
    let (store, _db) = store().await;
    let mut b = client("b");
    b.created_at = at(20);
    let mut a = client("a");
    a.created_at = at(10);
    let mut c = client("c");
    c.created_at = at(30);
    c.redirect_uris = vec![];
    for x in [&b, &c, &a] {
        store.insert_client(x.clone()).await.unwrap();
    }
    assert_eq!(store.list_clients().await.unwrap(), [a, b, c]);
}

#[tokio::test]
async fn updating_a_client_replaces_its_metadata_and_redirect_uris() {
    let (store, _db) = store().await;
    let original = client("web");
    store.insert_client(original.clone()).await.unwrap();
    store.insert_client(client("other")).await.unwrap();

    let mut changed = original.clone();
    changed.name = "Renamed".into();
    changed.secret_hash = Some(TokenHash::of("rotated"));
    changed.grant_types = vec![GrantType::ClientCredentials];
    changed.response_types = vec![];
    changed.redirect_uris = vec![
        "https://new.example/cb".into(),
        "https://web.example/cb".into(),
    ];
    changed.scopes = vec!["api".into()];
    changed.access_token_ttl_secs = None;
    changed.id_token_signed_response_alg = None;
    changed.registration_access_token_hash = None;
    changed.jwks = None;
    changed.application_type = ApplicationType::Native;
    changed.post_logout_redirect_uris = vec![];
    changed.created_at = at(999);
    store.update_client(changed.clone()).await.unwrap();

    let found = store.find_client(&original.id).await.unwrap().unwrap();
    // created_at records registration and is kept.
    assert_eq!(found.created_at, original.created_at);
    changed.created_at = original.created_at;
    assert_eq!(found, changed);
    assert_eq!(
        store.find_client(&ClientId("other".into())).await.unwrap(),
        Some(client("other"))
    );
}

#[tokio::test]
async fn require_mfa_round_trips_through_insert_and_update() {
    let (store, _db) = store().await;
    let mut strict = client("strict");
    strict.require_mfa = true;
    store.insert_client(strict.clone()).await.unwrap();
    store.insert_client(client("lax")).await.unwrap();
    assert_eq!(
        store.find_client(&strict.id).await.unwrap(),
        Some(strict.clone())
    );

    strict.require_mfa = false;
    store.update_client(strict.clone()).await.unwrap();
    assert_eq!(
        store.find_client(&strict.id).await.unwrap(),
        Some(strict.clone())
    );
    let mut lax = client("lax");
    lax.require_mfa = true;
    store.update_client(lax.clone()).await.unwrap();
    let listed = store.list_clients().await.unwrap();
    // Oldest first, then by id: both were registered at the same instant.
    assert_eq!(listed, [lax, strict]);
}

#[tokio::test]
async fn updating_or_deleting_a_missing_client_is_not_found() {
    let (store, _db) = store().await;
    assert!(matches!(
        store.update_client(client("ghost")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_client(&ClientId("ghost".into())).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.list_clients().await.unwrap().is_empty());
}

#[tokio::test]
async fn deleting_a_client_removes_its_consents_and_refresh_token_families() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let web = client("web");
    let other = client("other");
    store.insert_client(web.clone()).await.unwrap();
    store.insert_client(other.clone()).await.unwrap();
    for c in [&web, &other] {
        store
            .save_consent(Consent {
                user_id: alice.id.clone(),
                client_id: c.id.clone(),
                scopes: vec!["openid".into()],
                granted_at: at(5),
            })
            .await
            .unwrap();
    }
    let web_family = family("f-web", &web.id, Some(&alice.id), "web-token");
    let other_family = family("f-other", &other.id, Some(&alice.id), "other-token");
    store
        .insert_refresh_token_family(web_family.clone())
        .await
        .unwrap();
    store
        .insert_refresh_token_family(other_family.clone())
        .await
        .unwrap();

    store.delete_client(&web.id).await.unwrap();

    assert_eq!(store.find_client(&web.id).await.unwrap(), None);
    assert_eq!(store.find_consent(&alice.id, &web.id).await.unwrap(), None);
    assert_eq!(
        store
            .find_refresh_token_family(&web_family.current_hash)
            .await
            .unwrap(),
        None
    );
    // The other client keeps everything.
    assert!(
        store
            .find_consent(&alice.id, &other.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .find_refresh_token_family(&other_family.current_hash)
            .await
            .unwrap()
            .is_some()
    );
    // The id is free again, with no redirect URIs left over.
    let mut again = client("web");
    again.redirect_uris = vec!["https://again.example/cb".into()];
    store.insert_client(again.clone()).await.unwrap();
    assert_eq!(store.find_client(&web.id).await.unwrap(), Some(again));
}

#[tokio::test]
async fn dpop_par_and_resources_round_trip_through_insert_and_update() {
    let (store, _db) = store().await;
    let mut constrained = client("constrained");
    constrained.dpop_bound_access_tokens = true;
    constrained.require_pushed_authorization_requests = true;
    constrained.resources = vec![
        "https://api.example/".into(),
        "https://files.example/v1".into(),
    ];
    store.insert_client(constrained.clone()).await.unwrap();
    assert_eq!(
        store.find_client(&constrained.id).await.unwrap(),
        Some(constrained.clone())
    );

    constrained.dpop_bound_access_tokens = false;
    constrained.resources = vec!["https://api.example/".into()];
    store.update_client(constrained.clone()).await.unwrap();
    assert_eq!(
        store.find_client(&constrained.id).await.unwrap(),
        Some(constrained)
    );
}
