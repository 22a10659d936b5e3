//! UserRepository contract.

use crate::support::{at, client, execute_raw, family, new_user, store, user};
use palisade_core::model::{Consent, Email, PasswordHash, RoleName, UserId, Username};
use palisade_core::ports::{
    ClientRepository, ConsentRepository, RefreshTokenRepository, RoleRepository, UserRepository,
};
use palisade_core::{StoreError, TokenHash};

#[tokio::test]
async fn an_inserted_user_is_found_by_id_and_by_username() {
    let (store, _db) = store().await;
    let new = new_user("Alice");
    let inserted = store.insert_user(new.clone()).await.unwrap();
    assert_eq!(inserted.id, new.id);
    assert_eq!(inserted.username.as_str(), "alice");
    assert_eq!(
        inserted.email.as_ref().map(Email::as_str),
        Some("alice@Example.com")
    );
    assert_eq!(inserted.display_name.as_deref(), Some("Alice Display"));
    assert_eq!(inserted.password_hash, new.password_hash);
    assert!(!inserted.email_verified);
    assert!(!inserted.is_disabled);
    assert_eq!(inserted.created_at, at(0));
    assert_eq!(inserted.updated_at, at(0));

    let by_id = store.find_user_by_id(&new.id).await.unwrap();
    assert_eq!(by_id.as_ref(), Some(&inserted));
    let by_name = store
        .find_user_by_username(&Username::parse("ALICE").unwrap())
        .await
        .unwrap();
    assert_eq!(by_name, Some(inserted));
}

#[tokio::test]
async fn unknown_users_are_not_found() {
    let (store, _db) = store().await;
    user(&store, "bob").await;
    assert_eq!(
        store.find_user_by_id(&UserId("nope".into())).await.unwrap(),
        None
    );
    let carol = Username::parse("carol").unwrap();
    assert_eq!(store.find_user_by_username(&carol).await.unwrap(), None);
}

#[tokio::test]
async fn a_username_differing_only_in_case_is_a_conflict() {
    let (store, _db) = store().await;
    user(&store, "alice").await;
    let err = store.insert_user(new_user("ALICE")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("username")), "{err:?}");
    assert_eq!(store.list_users(None, 10, 0).await.unwrap().len(), 1);
}

#[tokio::test]
async fn reusing_a_user_id_is_a_conflict_on_the_id() {
    let (store, _db) = store().await;
    let first = user(&store, "alice").await;
    let mut second = new_user("bob");
    second.id = first.id.clone();
    let err = store.insert_user(second).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("user id")), "{err:?}");
}

#[tokio::test]
async fn users_list_in_username_order_page_by_page() {
    let (store, _db) = store().await;
    for name in ["dave", "alice", "carol", "bob", "erin"] {
        user(&store, name).await;
    }
    let names = |users: Vec<palisade_core::model::User>| {
        users
            .into_iter()
            .map(|u| u.username.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_users(None, 100, 0).await.unwrap()),
        ["alice", "bob", "carol", "dave", "erin"]
    );
    assert_eq!(
        names(store.list_users(None, 2, 0).await.unwrap()),
        ["alice", "bob"]
    );
    assert_eq!(
        names(store.list_users(None, 2, 2).await.unwrap()),
        ["carol", "dave"]
    );
    assert_eq!(names(store.list_users(None, 2, 4).await.unwrap()), ["erin"]);
    assert!(store.list_users(None, 2, 5).await.unwrap().is_empty());
    assert!(store.list_users(None, 0, 0).await.unwrap().is_empty());
    assert!(store.list_users(None, -1, -1).await.unwrap().is_empty());
}

#[tokio::test]
async fn searching_matches_substrings_of_username_or_email_ignoring_case() {
    let (store, _db) = store().await;
    for name in ["alice", "bob", "malice", "a_b", "axb"] {
        user(&store, name).await;
    }
    let mut other = new_user("zed");
    other.email = Some(Email::parse("Zed.Alias@Corp.test").unwrap());
    store.insert_user(other).await.unwrap();
    let mut no_email = new_user("nomail");
    no_email.email = None;
    store.insert_user(no_email).await.unwrap();

    let search = |s: &'static str| {
        let store = store.clone();
        async move {
            store
                .list_users(Some(s), 100, 0)
                .await
                .unwrap()
                .into_iter()
                .map(|u| u.username.as_str().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(search("LIC").await, ["alice", "malice"]);
    // Email addresses are searched too, case-insensitively.
    assert_eq!(search("corp.TEST").await, ["zed"]);
    assert_eq!(search("alias").await, ["zed"]);
    // `_` is a literal underscore, not a wildcard.
    assert_eq!(search("a_b").await, ["a_b"]);
    assert_eq!(search("%").await, Vec::<String>::new());
    assert_eq!(search("nomail").await, ["nomail"]);
    assert_eq!(search("").await.len(), 7);
    // Paging applies to the search results.
    let page = store.list_users(Some("alice"), 1, 1).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].username.as_str(), "malice");
}

#[tokio::test]
async fn a_new_password_hash_replaces_the_old_and_bumps_updated_at() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let hash = PasswordHash("$argon2id$v=19$m=65536,t=3,p=1$new".into());
    store
        .update_password_hash(&alice.id, &hash, at(100))
        .await
        .unwrap();
    let found = store.find_user_by_id(&alice.id).await.unwrap().unwrap();
    assert_eq!(found.password_hash, hash);
    assert_eq!(found.updated_at, at(100));
    assert_eq!(found.created_at, at(0));
}

#[tokio::test]
async fn disabling_and_enabling_a_user_flips_the_flag() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store
        .set_user_disabled(&alice.id, true, at(50))
        .await
        .unwrap();
    let found = store.find_user_by_id(&alice.id).await.unwrap().unwrap();
    assert!(found.is_disabled);
    assert_eq!(found.updated_at, at(50));
    assert!(
        !store
            .find_user_by_id(&bob.id)
            .await
            .unwrap()
            .unwrap()
            .is_disabled
    );

    store
        .set_user_disabled(&alice.id, false, at(60))
        .await
        .unwrap();
    let found = store.find_user_by_id(&alice.id).await.unwrap().unwrap();
    assert!(!found.is_disabled);
    assert_eq!(found.updated_at, at(60));
}

#[tokio::test]
async fn changing_a_missing_user_is_not_found() {
    let (store, _db) = store().await;
    let ghost = UserId("ghost".into());
    let hash = PasswordHash("x".into());
    assert!(matches!(
        store.update_password_hash(&ghost, &hash, at(1)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.set_user_disabled(&ghost, true, at(1)).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_stored_email_that_does_not_parse_is_an_error_not_a_default() {
    let (store, db) = store().await;
    let alice = user(&store, "alice").await;
    execute_raw(
        &db,
        &[&format!(
            "UPDATE users SET email = 'not-an-email' WHERE id = '{}'",
            alice.id
        )],
    );
    assert!(matches!(
        store.find_user_by_id(&alice.id).await,
        Err(StoreError::Internal(_))
    ));
}

#[tokio::test]
async fn the_sessions_revocation_mark_only_moves_forward() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    assert_eq!(alice.sessions_revoked_at, None);
    store
        .revoke_user_sessions(&alice.id, at(100))
        .await
        .unwrap();
    store.revoke_user_sessions(&alice.id, at(50)).await.unwrap();
    let stored = store.find_user_by_id(&alice.id).await.unwrap().unwrap();
    assert_eq!(stored.sessions_revoked_at, Some(at(100)));
    assert!(!stored.authentication_stands(at(100).timestamp()));
    assert!(stored.authentication_stands(at(101).timestamp()));
    assert!(matches!(
        store
            .revoke_user_sessions(&UserId("nope".into()), at(1))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn deleting_a_user_takes_their_rows_and_frees_the_name() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let web = client("web");
    store.insert_client(web.clone()).await.unwrap();
    for who in [&alice, &bob] {
        store
            .save_consent(Consent {
                user_id: who.id.clone(),
                client_id: web.id.clone(),
                scopes: vec!["openid".into()],
                granted_at: at(5),
            })
            .await
            .unwrap();
        store
            .insert_refresh_token_family(family(
                &format!("f-{}", who.username),
                &web.id,
                Some(&who.id),
                &format!("t-{}", who.username),
            ))
            .await
            .unwrap();
    }
    store
        .grant_role(&RoleName::parse("admin").unwrap(), &alice.id)
        .await
        .unwrap();
    store
        .rotate_refresh_token(
            "f-alice",
            &TokenHash::of("t-alice"),
            &TokenHash::of("t2-alice"),
            at(6),
        )
        .await
        .unwrap();

    store.delete_user(&alice.id).await.unwrap();

    assert_eq!(store.find_user_by_id(&alice.id).await.unwrap(), None);
    assert_eq!(store.find_consent(&alice.id, &web.id).await.unwrap(), None);
    assert_eq!(
        store
            .find_refresh_token_family_by_id("f-alice")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .find_refresh_token_family(&TokenHash::of("t-alice"))
            .await
            .unwrap(),
        None,
        "a spent token outlived its family"
    );
    // Bob keeps everything.
    assert!(store.find_user_by_id(&bob.id).await.unwrap().is_some());
    assert!(
        store
            .find_consent(&bob.id, &web.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .find_refresh_token_family_by_id("f-bob")
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        store.delete_user(&alice.id).await,
        Err(StoreError::NotFound)
    ));
    let again = user(&store, "alice").await;
    assert_ne!(again.id, alice.id);
}

#[tokio::test]
async fn usernames_in_another_case_or_width_find_the_same_account() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    for typed in [
        "ALICE",
        "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}",
        " Alice ",
    ] {
        let found = store
            .find_user_by_username(&Username::parse(typed).unwrap())
            .await
            .unwrap();
        assert_eq!(found.map(|u| u.id), Some(alice.id.clone()), "{typed:?}");
    }
    let err = store
        .insert_user(new_user("\u{FF21}\u{FF2C}\u{FF29}\u{FF23}\u{FF25}"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict("username")), "{err:?}");
}

#[tokio::test]
async fn a_username_confusable_with_an_existing_one_is_a_conflict_and_stores_nothing() {
    let (store, _db) = store().await;
    user(&store, "alice").await;
    user(&store, "m").await;
    // Cyrillic а, Greek α; `rn` reads as `m`.
    for confusable in ["\u{0430}lice", "\u{03B1}lice", "rn"] {
        let err = store.insert_user(new_user(confusable)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("confusable username")),
            "{confusable:?}: {err:?}"
        );
    }
    let names: Vec<String> = store
        .list_users(None, 10, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username.as_str().to_owned())
        .collect();
    assert_eq!(names, ["alice", "m"]);
    // Names that only look alike in part are different accounts.
    user(&store, "alicia").await;
}

#[tokio::test]
async fn of_two_confusable_usernames_inserted_at_once_exactly_one_is_stored() {
    let (store, _db) = store().await;
    let (latin, cyrillic) = tokio::join!(
        store.insert_user(new_user("alice")),
        store.insert_user(new_user("\u{0430}lice")),
    );
    assert_eq!(
        [latin.is_ok(), cyrillic.is_ok()]
            .iter()
            .filter(|ok| **ok)
            .count(),
        1,
        "{latin:?} {cyrillic:?}"
    );
    assert_eq!(store.list_users(None, 10, 0).await.unwrap().len(), 1);
}

/// Rows from before the skeleton column: migrating gives them their RFC 8265 username and
/// their skeleton; of two that are now confusable, the older keeps the skeleton and the newer
/// keeps its name.
#[tokio::test]
async fn migrating_backfills_the_username_and_skeleton_of_older_rows() {
    let (store, db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let mut cyrillic = new_user("\u{0430}lice");
    cyrillic.created_at = at(10);
    // As an older server stored them: no skeleton, and `bob` in the fullwidth letters typed.
    execute_raw(
        &db,
        &[
            &format!(
                "INSERT INTO users (id, username, password_hash, is_disabled, email_verified, \
                 created_at, updated_at) VALUES ('{}', '\u{0430}lice', 'x', FALSE, FALSE, 10, 10)",
                cyrillic.id
            ),
            "UPDATE users SET username_skeleton = NULL",
            &format!(
                "UPDATE users SET username = '\u{FF42}\u{FF4F}\u{FF42}' WHERE id = '{}'",
                bob.id
            ),
        ],
    );
    // No migration is pending; the backfill runs all the same.
    assert!(store.migrate().await.unwrap().is_empty());

    let found = store
        .find_user_by_username(&Username::parse("BOB").unwrap())
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(bob.id));
    let legacy = store.find_user_by_id(&cyrillic.id).await.unwrap().unwrap();
    assert_eq!(legacy.username.as_str(), "\u{0430}lice");
    assert_eq!(
        store
            .find_user_by_id(&alice.id)
            .await
            .unwrap()
            .unwrap()
            .username
            .as_str(),
        "alice"
    );
    // alice (older) holds the skeleton again: a new look-alike is refused.
    let err = store
        .insert_user(new_user("\u{03B1}lice"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("confusable username")),
        "{err:?}"
    );
}
