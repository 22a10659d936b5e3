//! ConsentRepository contract.

use crate::support::{at, client, store, user};
use palisade_core::StoreError;
use palisade_core::model::{ClientId, Consent, UserId};
use palisade_core::ports::{ClientRepository, ConsentRepository};

#[tokio::test]
async fn saving_a_consent_again_replaces_its_scopes_and_time() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let web = client("web");
    store.insert_client(web.clone()).await.unwrap();
    assert_eq!(store.find_consent(&alice.id, &web.id).await.unwrap(), None);

    let first = Consent {
        user_id: alice.id.clone(),
        client_id: web.id.clone(),
        scopes: vec!["openid".into(), "profile".into()],
        granted_at: at(10),
    };
    store.save_consent(first.clone()).await.unwrap();
    assert_eq!(
        store.find_consent(&alice.id, &web.id).await.unwrap(),
        Some(first)
    );

    let second = Consent {
        scopes: vec!["openid".into(), "email".into(), "offline_access".into()],
        granted_at: at(20),
        ..store
            .find_consent(&alice.id, &web.id)
            .await
            .unwrap()
            .unwrap()
    };
    store.save_consent(second.clone()).await.unwrap();
    assert_eq!(
        store.find_consent(&alice.id, &web.id).await.unwrap(),
        Some(second)
    );
    assert_eq!(store.find_consent(&bob.id, &web.id).await.unwrap(), None);
}

#[tokio::test]
async fn revoking_a_consent_is_idempotent() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let web = client("web");
    store.insert_client(web.clone()).await.unwrap();
    store
        .save_consent(Consent {
            user_id: alice.id.clone(),
            client_id: web.id.clone(),
            scopes: vec!["openid".into()],
            granted_at: at(1),
        })
        .await
        .unwrap();
    store.revoke_consent(&alice.id, &web.id).await.unwrap();
    assert_eq!(store.find_consent(&alice.id, &web.id).await.unwrap(), None);
    store.revoke_consent(&alice.id, &web.id).await.unwrap();
    store
        .revoke_consent(&UserId("ghost".into()), &ClientId("ghost".into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_consent_for_an_unknown_user_or_client_is_not_found() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let web = client("web");
    store.insert_client(web.clone()).await.unwrap();
    for (user_id, client_id) in [
        (UserId("ghost".into()), web.id.clone()),
        (alice.id.clone(), ClientId("ghost".into())),
    ] {
        let err = store
            .save_consent(Consent {
                user_id,
                client_id,
                scopes: vec![],
                granted_at: at(1),
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound), "{err:?}");
    }
}
