//! RefreshTokenRepository contract: lookup by current, previous or any spent hash, rotation as
//! one compare-and-swap, revocation (one family or all of a user's), purge.

use crate::support::{at, client, family, store, user};
use palisade_core::StoreError;
use palisade_core::TokenHash;
use palisade_core::model::{ClientId, RefreshTokenMatch, UserId};
use palisade_core::ports::{ClientRepository, RefreshTokenRepository};
use palisade_store::SqlStore;
use palisade_store::testing::TestDatabase;

/// A store with client `web`, user `alice` and family `f1` whose current token is `t1`.
async fn with_family() -> (SqlStore, TestDatabase) {
    let (store, db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_client(client("web")).await.unwrap();
    store
        .insert_refresh_token_family(family("f1", &ClientId("web".into()), Some(&alice.id), "t1"))
        .await
        .unwrap();
    (store, db)
}

#[tokio::test]
async fn a_family_is_found_by_its_current_hash_with_every_field() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_client(client("web")).await.unwrap();
    let f = family("f1", &ClientId("web".into()), Some(&alice.id), "t1");
    store.insert_refresh_token_family(f.clone()).await.unwrap();
    let mut machine = family("f2", &ClientId("web".into()), None, "t2");
    machine.scopes = vec![];
    store
        .insert_refresh_token_family(machine.clone())
        .await
        .unwrap();

    assert_eq!(
        store
            .find_refresh_token_family(&TokenHash::of("t1"))
            .await
            .unwrap(),
        Some((f, RefreshTokenMatch::Current))
    );
    assert_eq!(
        store
            .find_refresh_token_family(&TokenHash::of("t2"))
            .await
            .unwrap(),
        Some((machine, RefreshTokenMatch::Current))
    );
    assert_eq!(
        store
            .find_refresh_token_family(&TokenHash::of("nope"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_family_for_an_unknown_client_or_user_is_not_found_and_duplicates_conflict() {
    let (store, _db) = with_family().await;
    let err = store
        .insert_refresh_token_family(family("f9", &ClientId("ghost".into()), None, "t9"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    let ghost = UserId("ghost".into());
    let err = store
        .insert_refresh_token_family(family("f9", &ClientId("web".into()), Some(&ghost), "t9"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound), "{err:?}");
    // Same id, or same current hash as an existing family.
    for (id, token) in [("f1", "fresh"), ("f9", "t1")] {
        let err = store
            .insert_refresh_token_family(family(id, &ClientId("web".into()), None, token))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    }
}

#[tokio::test]
async fn rotating_makes_the_next_hash_current_and_the_old_one_previous() {
    let (store, _db) = with_family().await;
    let (t1, t2, t3) = (
        TokenHash::of("t1"),
        TokenHash::of("t2"),
        TokenHash::of("t3"),
    );
    assert!(
        store
            .rotate_refresh_token("f1", &t1, &t2, at(100))
            .await
            .unwrap()
    );

    let (current, matched) = store.find_refresh_token_family(&t2).await.unwrap().unwrap();
    assert_eq!(matched, RefreshTokenMatch::Current);
    assert_eq!(current.current_hash, t2);
    assert_eq!(current.previous_hash, Some(t1.clone()));
    assert_eq!(current.rotated_at, Some(at(100)));
    let (previous, matched) = store.find_refresh_token_family(&t1).await.unwrap().unwrap();
    assert_eq!(matched, RefreshTokenMatch::Previous);
    assert_eq!(previous.id, "f1");

    // Only the most recent token is kept as previous; older ones are spent.
    assert!(
        store
            .rotate_refresh_token("f1", &t2, &t3, at(200))
            .await
            .unwrap()
    );
    let (_, matched) = store.find_refresh_token_family(&t1).await.unwrap().unwrap();
    assert_eq!(matched, RefreshTokenMatch::Spent);
    let (_, matched) = store.find_refresh_token_family(&t2).await.unwrap().unwrap();
    assert_eq!(matched, RefreshTokenMatch::Previous);
}

#[tokio::test]
async fn rotating_with_a_stale_hash_changes_nothing() {
    let (store, _db) = with_family().await;
    let (t1, t2) = (TokenHash::of("t1"), TokenHash::of("t2"));
    assert!(
        store
            .rotate_refresh_token("f1", &t1, &t2, at(100))
            .await
            .unwrap()
    );
    let before = store.find_refresh_token_family(&t2).await.unwrap().unwrap();

    assert!(
        !store
            .rotate_refresh_token("f1", &t1, &TokenHash::of("t3"), at(200))
            .await
            .unwrap()
    );
    assert!(
        !store
            .rotate_refresh_token("nope", &t2, &TokenHash::of("t3"), at(200))
            .await
            .unwrap()
    );
    assert_eq!(
        store.find_refresh_token_family(&t2).await.unwrap().unwrap(),
        before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_rotations_with_the_same_hash_have_exactly_one_winner() {
    let (store, _db) = with_family().await;
    let attempts: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let next = TokenHash::of(&format!("next-{i}"));
                let won = store
                    .rotate_refresh_token("f1", &TokenHash::of("t1"), &next, at(100))
                    .await
                    .unwrap();
                (won, next)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for attempt in attempts {
        let (won, next) = attempt.await.unwrap();
        if won {
            winners.push(next);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one rotation may win");
    let (f, matched) = store
        .find_refresh_token_family(&winners[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(matched, RefreshTokenMatch::Current);
    assert_eq!(f.previous_hash, Some(TokenHash::of("t1")));
}

#[tokio::test]
async fn a_revoked_family_cannot_rotate_and_keeps_its_first_revocation_time() {
    let (store, _db) = with_family().await;
    store
        .revoke_refresh_token_family("f1", at(50))
        .await
        .unwrap();
    store
        .revoke_refresh_token_family("f1", at(70))
        .await
        .unwrap();
    store
        .revoke_refresh_token_family("unknown", at(70))
        .await
        .unwrap();

    let t1 = TokenHash::of("t1");
    assert!(
        !store
            .rotate_refresh_token("f1", &t1, &TokenHash::of("t2"), at(100))
            .await
            .unwrap()
    );
    let (f, matched) = store.find_refresh_token_family(&t1).await.unwrap().unwrap();
    assert_eq!(matched, RefreshTokenMatch::Current);
    assert_eq!(f.revoked_at, Some(at(50)));
    assert_eq!(f.current_hash, t1);
}

#[tokio::test]
async fn purging_deletes_families_expired_or_revoked_before_the_cutoff_only() {
    let (store, _db) = store().await;
    store.insert_client(client("web")).await.unwrap();
    let web = ClientId("web".into());
    let cases = [
        // (id, expires_at, revoked_at, survives a purge at t=1000)
        ("expired-long-ago", 500, None, false),
        ("expires-at-cutoff", 1000, None, true),
        ("still-valid", 5000, None, true),
        ("revoked-long-ago", 5000, Some(400), false),
        ("revoked-at-cutoff", 5000, Some(1000), true),
        ("revoked-later", 5000, Some(2000), true),
    ];
    for (id, expires, revoked, _) in cases {
        let mut f = family(id, &web, None, id);
        f.expires_at = at(expires);
        store.insert_refresh_token_family(f).await.unwrap();
        if let Some(revoked) = revoked {
            store
                .revoke_refresh_token_family(id, at(revoked))
                .await
                .unwrap();
        }
    }
    assert_eq!(
        store.purge_refresh_token_families(at(1000)).await.unwrap(),
        2
    );
    for (id, _, _, survives) in cases {
        let found = store
            .find_refresh_token_family(&TokenHash::of(id))
            .await
            .unwrap();
        assert_eq!(found.is_some(), survives, "{id}");
    }
    assert_eq!(
        store.purge_refresh_token_families(at(1000)).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn every_rotated_away_token_is_found_as_spent_for_the_familys_life() {
    let (store, _db) = with_family().await;
    let (t1, t2, t3) = (
        TokenHash::of("t1"),
        TokenHash::of("t2"),
        TokenHash::of("t3"),
    );
    assert!(
        store
            .rotate_refresh_token("f1", &t1, &t2, at(10))
            .await
            .unwrap()
    );
    assert!(
        store
            .rotate_refresh_token("f1", &t2, &t3, at(20))
            .await
            .unwrap()
    );

    let matched = |hash: TokenHash| {
        let store = store.clone();
        async move {
            store
                .find_refresh_token_family(&hash)
                .await
                .unwrap()
                .map(|(f, m)| (f.id, m))
        }
    };
    assert_eq!(
        matched(t3.clone()).await,
        Some(("f1".into(), RefreshTokenMatch::Current))
    );
    assert_eq!(
        matched(t2.clone()).await,
        Some(("f1".into(), RefreshTokenMatch::Previous))
    );
    assert_eq!(
        matched(t1.clone()).await,
        Some(("f1".into(), RefreshTokenMatch::Spent))
    );
    // A lost race spends nothing.
    assert!(
        !store
            .rotate_refresh_token("f1", &t1, &TokenHash::of("t9"), at(30))
            .await
            .unwrap()
    );
    assert_eq!(matched(TokenHash::of("t9")).await, None);
    // Revoked families are still found, so a replay can be recognised.
    store
        .revoke_refresh_token_family("f1", at(40))
        .await
        .unwrap();
    assert_eq!(
        matched(t1).await,
        Some(("f1".into(), RefreshTokenMatch::Spent))
    );
    // Purged with their family.
    assert_eq!(store.purge_refresh_token_families(at(41)).await.unwrap(), 1);
    assert_eq!(matched(TokenHash::of("t1")).await, None);
}

#[tokio::test]
async fn revoking_a_users_families_leaves_other_users_and_machines_alone() {
    let (store, _db) = with_family().await;
    let alice = UserId(
        store
            .find_refresh_token_family_by_id("f1")
            .await
            .unwrap()
            .unwrap()
            .user_id
            .unwrap()
            .0,
    );
    let bob = user(&store, "bob").await;
    let web = ClientId("web".into());
    store
        .insert_refresh_token_family(family("f2", &web, Some(&alice), "u2"))
        .await
        .unwrap();
    store
        .insert_refresh_token_family(family("f3", &web, Some(&bob.id), "u3"))
        .await
        .unwrap();
    store
        .insert_refresh_token_family(family("f4", &web, None, "u4"))
        .await
        .unwrap();

    assert_eq!(
        store
            .revoke_refresh_token_families_of_user(&alice, at(50))
            .await
            .unwrap(),
        2
    );
    for (id, revoked) in [("f1", true), ("f2", true), ("f3", false), ("f4", false)] {
        let family = store
            .find_refresh_token_family_by_id(id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(family.revoked_at.is_some(), revoked, "{id}");
    }
    // Already revoked families keep their first revocation time.
    assert_eq!(
        store
            .revoke_refresh_token_families_of_user(&alice, at(60))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .find_refresh_token_family_by_id("f1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(at(50))
    );
    assert_eq!(
        store.find_refresh_token_family_by_id("nope").await.unwrap(),
        None
    );
}
