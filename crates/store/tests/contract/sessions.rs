//! SessionIndex contract.

use crate::support::{at, store};
use palisade_core::StoreError;
use palisade_core::model::{SessionRecord, UserId};
use palisade_core::ports::SessionIndex;
use palisade_core::ports::UserRepository;

async fn user(store: &palisade_store::SqlStore, name: &str) -> UserId {
    crate::support::user(store, name).await.id
}

fn record(handle: &str, user: &UserId, key: &str, seen: i64, expires: i64) -> SessionRecord {
    SessionRecord {
        handle: handle.into(),
        user_id: user.clone(),
        session_key: key.into(),
        user_agent: Some("Firefox".into()),
        client_ip: Some("192.0.2.1".into()),
        created_at: at(1),
        last_seen_at: at(seen),
        expires_at: at(expires),
    }
}

#[tokio::test]
async fn sessions_are_listed_per_user_unexpired_and_found_by_handle_only_for_their_user() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store
        .record_session(record("h1", &alice, "session:a1", 10, 100))
        .await
        .unwrap();
    store
        .record_session(record("h2", &alice, "session:a2", 20, 100))
        .await
        .unwrap();
    store
        .record_session(record("h3", &alice, "session:a3", 30, 40))
        .await
        .unwrap();
    store
        .record_session(record("h4", &bob, "session:b1", 10, 100))
        .await
        .unwrap();

    let listed = store.sessions_of_user(&alice, at(50)).await.unwrap();
    let handles: Vec<&str> = listed.iter().map(|s| s.handle.as_str()).collect();
    assert_eq!(handles, ["h2", "h1"], "unexpired, most recently seen first");
    assert_eq!(listed[1], record("h1", &alice, "session:a1", 10, 100));

    assert!(
        store
            .find_session_by_handle(&alice, "h4")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .find_session_by_handle(&bob, "h4")
            .await
            .unwrap()
            .is_some()
    );

    store
        .touch_session("session:a1", at(60), at(200))
        .await
        .unwrap();
    store
        .touch_session("session:none", at(60), at(200))
        .await
        .unwrap();
    let touched = store
        .find_session_by_handle(&alice, "h1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (touched.last_seen_at, touched.expires_at),
        (at(60), at(200))
    );

    store.forget_session("session:a1").await.unwrap();
    store.forget_session("session:a1").await.unwrap();
    assert!(
        store
            .find_session_by_handle(&alice, "h1")
            .await
            .unwrap()
            .is_none()
    );

    assert_eq!(store.purge_expired_sessions(at(50)).await.unwrap(), 1, "h3");
    assert_eq!(
        store.sessions_of_user(&alice, at(0)).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn an_entry_needs_its_user_and_goes_with_it() {
    let (store, _db) = store().await;
    let ghost = UserId("no-such-user".into());
    let err = store
        .record_session(record("h1", &ghost, "session:g", 10, 100))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let alice = user(&store, "alice").await;
    store
        .record_session(record("h2", &alice, "session:a", 10, 100))
        .await
        .unwrap();
    store.delete_user(&alice).await.unwrap();
    assert_eq!(
        store.purge_expired_sessions(at(1_000)).await.unwrap(),
        0,
        "cascaded"
    );
}
