//! SigningKeyRepository contract: the shared key ring and the rotation lease.

use crate::support::{at, signing_key, store};
use palisade_core::StoreError;
use palisade_core::model::KeyState;
use palisade_core::ports::{SIGNING_KEY_CHANGED, SigningKeyRepository, SigningKeyWrite};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn keys_round_trip_and_list_oldest_first() {
    let (store, _db) = store().await;
    assert!(store.list_signing_keys().await.unwrap().is_empty());
    let newest = signing_key("k3", 300);
    let oldest = signing_key("k1", 100);
    let mut middle = signing_key("k2", 200);
    middle.alg = "RS256".into();
    middle.state = KeyState::Current;
    middle.activated_at = Some(at(800));
    middle.retired_at = Some(at(900));
    middle.remove_after = Some(at(1000));
    for k in [&newest, &oldest, &middle] {
        store.insert_signing_key(k.clone()).await.unwrap();
    }
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        [oldest, middle, newest]
    );
}

#[tokio::test]
async fn inserting_an_existing_kid_is_a_conflict() {
    let (store, _db) = store().await;
    store
        .insert_signing_key(signing_key("k1", 0))
        .await
        .unwrap();
    let err = store
        .insert_signing_key(signing_key("k1", 5))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("kid")), "{err:?}");
}

#[tokio::test]
async fn updating_a_key_replaces_its_state_timestamps_and_private_part() {
    let (store, _db) = store().await;
    let original = signing_key("k1", 0);
    store.insert_signing_key(original.clone()).await.unwrap();
    store
        .insert_signing_key(signing_key("k2", 1))
        .await
        .unwrap();

    let mut updated = original.clone();
    updated.state = KeyState::Retired;
    updated.activates_at = at(10);
    updated.activated_at = Some(at(20));
    updated.retired_at = Some(at(30));
    updated.remove_after = Some(at(40));
    updated.encrypted_private_jwk = "re-encrypted".into();
    updated.master_key_id = "m2".into();
    store.update_signing_key(updated.clone()).await.unwrap();
    let keys = store.list_signing_keys().await.unwrap();
    assert_eq!(keys, [updated.clone(), signing_key("k2", 1)]);

    // And back to no timestamps.
    let mut cleared = updated;
    cleared.state = KeyState::Revoked;
    cleared.activated_at = None;
    cleared.retired_at = None;
    cleared.remove_after = None;
    store.update_signing_key(cleared.clone()).await.unwrap();
    assert_eq!(store.list_signing_keys().await.unwrap()[0], cleared);
}

#[tokio::test]
async fn updating_a_missing_key_is_not_found_and_deleting_is_idempotent() {
    let (store, _db) = store().await;
    assert!(matches!(
        store.update_signing_key(signing_key("ghost", 0)).await,
        Err(StoreError::NotFound)
    ));
    store
        .insert_signing_key(signing_key("k1", 0))
        .await
        .unwrap();
    store
        .insert_signing_key(signing_key("k2", 1))
        .await
        .unwrap();
    store.delete_signing_key("k1").await.unwrap();
    store.delete_signing_key("k1").await.unwrap();
    store.delete_signing_key("ghost").await.unwrap();
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        [signing_key("k2", 1)]
    );
}

#[tokio::test]
async fn a_lease_belongs_to_one_holder_until_it_expires() {
    let (store, _db) = store().await;
    let lease = |holder: &'static str, now: i64| {
        let store = store.clone();
        async move {
            store
                .try_acquire_lease("key-rotation", holder, at(now), MINUTE)
                .await
                .unwrap()
        }
    };
    assert!(lease("node-a", 0).await, "a free lease is taken");
    assert!(!lease("node-b", 10).await, "another holder is refused");
    assert!(lease("node-a", 30).await, "the holder renews, now until 90");
    assert!(
        !lease("node-b", 60).await,
        "the renewal counts: not expired at 60"
    );
    assert!(!lease("node-b", 89).await);
    assert!(lease("node-b", 90).await, "expired at 90: B takes over");
    assert!(!lease("node-a", 100).await, "and A is now refused");
}

#[tokio::test]
async fn leases_with_different_names_are_independent() {
    let (store, _db) = store().await;
    assert!(
        store
            .try_acquire_lease("one", "a", at(0), MINUTE)
            .await
            .unwrap()
    );
    assert!(
        store
            .try_acquire_lease("two", "b", at(0), MINUTE)
            .await
            .unwrap()
    );
    assert!(
        !store
            .try_acquire_lease("one", "b", at(1), MINUTE)
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_many_nodes_racing_for_a_lease_exactly_one_wins() {
    let (store, _db) = store().await;
    for round in 0..2 {
        // Round 0: the lease is absent (insert race); round 1: it has expired (update race).
        let now = at(round * 1000);
        let attempts: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .try_acquire_lease("race", &format!("node-{i}"), now, MINUTE)
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for attempt in attempts {
            winners += usize::from(attempt.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn a_batch_of_key_writes_lands_whole() {
    let (store, _db) = store().await;
    let mut signing = signing_key("old", 0);
    signing.state = KeyState::Current;
    let staged = signing_key("staged", 10);
    for k in [&signing, &staged] {
        store.insert_signing_key(k.clone()).await.unwrap();
    }
    let mut revoked = signing.clone();
    revoked.state = KeyState::Revoked;
    revoked.remove_after = Some(at(500));
    let mut promoted = staged.clone();
    promoted.state = KeyState::Current;
    promoted.activated_at = Some(at(100));
    let fresh = signing_key("fresh", 20);
    store
        .apply_signing_key_writes(vec![
            SigningKeyWrite::Update {
                from: signing.clone(),
                to: revoked.clone(),
            },
            SigningKeyWrite::Update {
                from: staged.clone(),
                to: promoted.clone(),
            },
            SigningKeyWrite::Insert(fresh.clone()),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.list_signing_keys().await.unwrap(),
        [revoked, promoted, fresh]
    );
    store.apply_signing_key_writes(Vec::new()).await.unwrap();
}

#[tokio::test]
async fn a_batch_with_a_row_changed_since_it_was_read_or_an_existing_kid_writes_nothing() {
    let (store, _db) = store().await;
    let first = signing_key("k1", 0);
    let second = signing_key("k2", 1);
    for k in [&first, &second] {
        store.insert_signing_key(k.clone()).await.unwrap();
    }
    let before = store.list_signing_keys().await.unwrap();
    let mut revoked = first.clone();
    revoked.state = KeyState::Revoked;
    let mut as_read_earlier = second.clone();
    as_read_earlier.master_key_id = "another-master-key".into();
    let mut retired = second.clone();
    retired.state = KeyState::Retired;

    let cases = [
        (
            "a row changed by another writer",
            SigningKeyWrite::Update {
                from: as_read_earlier,
                to: retired.clone(),
            },
            StoreError::Conflict(SIGNING_KEY_CHANGED),
        ),
        (
            "a row gone",
            SigningKeyWrite::Update {
                from: signing_key("gone", 2),
                to: retired,
            },
            StoreError::Conflict(SIGNING_KEY_CHANGED),
        ),
        (
            "a kid that exists",
            SigningKeyWrite::Insert(signing_key("k2", 9)),
            StoreError::Conflict("kid"),
        ),
    ];
    for (case, failing, expected) in cases {
        let err = store
            .apply_signing_key_writes(vec![
                SigningKeyWrite::Update {
                    from: first.clone(),
                    to: revoked.clone(),
                },
                SigningKeyWrite::Insert(signing_key("k3", 3)),
                failing,
            ])
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), expected.to_string(), "{case}");
        assert_eq!(store.list_signing_keys().await.unwrap(), before, "{case}");
    }
}
