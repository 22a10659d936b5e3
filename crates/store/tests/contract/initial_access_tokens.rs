//! InitialAccessTokenRepository contract.

use crate::support::{at, store};
use palisade_core::model::InitialAccessToken;
use palisade_core::ports::InitialAccessTokenRepository;
use palisade_core::{StoreError, TokenHash};

fn token(id: &str, expires_at: Option<i64>, max_uses: Option<i32>) -> InitialAccessToken {
    InitialAccessToken {
        id: id.to_owned(),
        token_hash: TokenHash::of(&format!("{id}-raw")),
        created_at: at(0),
        expires_at: expires_at.map(at),
        max_uses,
        uses: 0,
    }
}

#[tokio::test]
async fn a_token_round_trips_and_is_found_only_by_its_hash() {
    let (store, _db) = store().await;
    let t = token("t1", Some(3600), Some(5));
    store.insert_initial_access_token(t.clone()).await.unwrap();
    assert_eq!(
        store
            .find_initial_access_token(&t.token_hash)
            .await
            .unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        store
            .find_initial_access_token(&TokenHash::of("t1"))
            .await
            .unwrap(),
        None
    );
    let unlimited = token("t2", None, None);
    store
        .insert_initial_access_token(unlimited.clone())
        .await
        .unwrap();
    assert_eq!(
        store.list_initial_access_tokens().await.unwrap(),
        vec![t, unlimited]
    );
}

#[tokio::test]
async fn a_duplicate_id_or_hash_is_a_conflict() {
    let (store, _db) = store().await;
    store
        .insert_initial_access_token(token("t1", None, None))
        .await
        .unwrap();
    let same_id = InitialAccessToken {
        token_hash: TokenHash::of("other"),
        ..token("t1", None, None)
    };
    let same_hash = InitialAccessToken {
        id: "t2".into(),
        ..token("t1", None, None)
    };
    for duplicate in [same_id, same_hash] {
        let err = store
            .insert_initial_access_token(duplicate)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
}

#[tokio::test]
async fn uses_are_spent_one_at_a_time_until_none_are_left() {
    let (store, _db) = store().await;
    let t = token("t1", None, Some(2));
    store.insert_initial_access_token(t.clone()).await.unwrap();
    assert!(
        store
            .consume_initial_access_token(&t.token_hash, at(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .consume_initial_access_token(&t.token_hash, at(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_initial_access_token(&t.token_hash, at(3))
            .await
            .unwrap()
    );
    let found = store
        .find_initial_access_token(&t.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.uses, 2);
    assert!(
        !store
            .consume_initial_access_token(&TokenHash::of("unknown"), at(1))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn an_expired_token_spends_nothing_and_an_unlimited_one_never_runs_out() {
    let (store, _db) = store().await;
    let expiring = token("t1", Some(100), None);
    store
        .insert_initial_access_token(expiring.clone())
        .await
        .unwrap();
    assert!(
        store
            .consume_initial_access_token(&expiring.token_hash, at(99))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_initial_access_token(&expiring.token_hash, at(100))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .find_initial_access_token(&expiring.token_hash)
            .await
            .unwrap()
            .unwrap()
            .uses,
        1
    );
    let unlimited = token("t2", None, None);
    store
        .insert_initial_access_token(unlimited.clone())
        .await
        .unwrap();
    for i in 0..5 {
        assert!(
            store
                .consume_initial_access_token(&unlimited.token_hash, at(i))
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn of_concurrent_callers_holding_the_last_use_exactly_one_spends_it() {
    let (store, _db) = store().await;
    let t = token("t1", None, Some(1));
    store.insert_initial_access_token(t.clone()).await.unwrap();
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        let hash = t.token_hash.clone();
        tokio::spawn(async move { store.consume_initial_access_token(&hash, at(1)).await })
    });
    let mut wins = 0;
    for attempt in attempts {
        if attempt.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn a_token_is_deleted_by_id_once() {
    let (store, _db) = store().await;
    let t = token("t1", None, None);
    store.insert_initial_access_token(t.clone()).await.unwrap();
    store.delete_initial_access_token("t1").await.unwrap();
    assert_eq!(
        store
            .find_initial_access_token(&t.token_hash)
            .await
            .unwrap(),
        None
    );
    let err = store.delete_initial_access_token("t1").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
}
