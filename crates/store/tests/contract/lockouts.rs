//! LockoutRepository contract.

use crate::support::{at, store, user};
use palisade_core::StoreError;
use palisade_core::model::{AccountLockout, UserId};
use palisade_core::ports::LockoutRepository;

#[tokio::test]
async fn a_lockout_is_saved_replaced_and_cleared() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    assert_eq!(store.find_account_lockout(&alice.id).await.unwrap(), None);

    let first = AccountLockout {
        user_id: alice.id.clone(),
        failure_streak: 1,
        first_failure_at: Some(at(10)),
        locked_until: None,
        lock_count: 0,
    };
    store.save_account_lockout(first.clone()).await.unwrap();
    assert_eq!(
        store.find_account_lockout(&alice.id).await.unwrap(),
        Some(first)
    );

    let locked = AccountLockout {
        user_id: alice.id.clone(),
        failure_streak: 5,
        first_failure_at: Some(at(10)),
        locked_until: Some(at(910)),
        lock_count: 2,
    };
    store.save_account_lockout(locked.clone()).await.unwrap();
    assert_eq!(
        store.find_account_lockout(&alice.id).await.unwrap(),
        Some(locked.clone())
    );

    let reset = AccountLockout {
        failure_streak: 0,
        first_failure_at: None,
        locked_until: None,
        ..locked
    };
    store.save_account_lockout(reset.clone()).await.unwrap();
    assert_eq!(
        store.find_account_lockout(&alice.id).await.unwrap(),
        Some(reset)
    );
    assert_eq!(store.find_account_lockout(&bob.id).await.unwrap(), None);

    store.clear_account_lockout(&alice.id).await.unwrap();
    assert_eq!(store.find_account_lockout(&alice.id).await.unwrap(), None);
    store.clear_account_lockout(&alice.id).await.unwrap();
}

#[tokio::test]
async fn a_lockout_for_an_unknown_user_is_not_found() {
    let (store, _db) = store().await;
    let err = store
        .save_account_lockout(AccountLockout {
            user_id: UserId("ghost".into()),
            failure_streak: 1,
            first_failure_at: Some(at(1)),
            locked_until: None,
            lock_count: 0,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    store
        .clear_account_lockout(&UserId("ghost".into()))
        .await
        .unwrap();
}
