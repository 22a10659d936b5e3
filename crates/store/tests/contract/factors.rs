//! FactorRepository contract: second factors and recovery codes.

use crate::support::{at, store, user};
use palisade_core::StoreError;
use palisade_core::TokenHash;
use palisade_core::factor::{Factor, FactorId, FactorKind, Sealed};
use palisade_core::model::UserId;
use palisade_core::ports::{FactorRepository, TAKEN_CREDENTIAL_ID, UserRepository};
use palisade_store::SqlStore;

fn totp(id: &str, user: &UserId, created: i64) -> Factor {
    Factor {
        id: FactorId(id.to_owned()),
        user_id: user.clone(),
        kind: FactorKind::Totp,
        name: format!("Phone {id}"),
        credential: format!("eyJhbGciOiJkaXIi.{id}.jwe"),
        master_key_id: Some("m1".into()),
        credential_id: None,
        last_used_step: None,
        created_at: at(created),
        last_used_at: None,
    }
}

fn passkey(id: &str, user: &UserId, credential_id: &str, created: i64) -> Factor {
    Factor {
        id: FactorId(id.to_owned()),
        user_id: user.clone(),
        kind: FactorKind::Passkey,
        name: format!("Key {id}"),
        credential: format!(r#"{{"cred":{{"cred_id":"{credential_id}","counter":0}}}}"#),
        master_key_id: None,
        credential_id: Some(credential_id.to_owned()),
        last_used_step: None,
        created_at: at(created),
        last_used_at: None,
    }
}

fn f(id: &str) -> FactorId {
    FactorId(id.to_owned())
}

fn codes(user: &str, n: usize) -> Vec<TokenHash> {
    (0..n)
        .map(|i| TokenHash::of(&format!("{user}code{i}")))
        .collect()
}

async fn with_codes(store: &SqlStore, user: &UserId, n: usize) {
    store
        .replace_recovery_codes(user, codes(&user.0, n), at(1))
        .await
        .unwrap();
}

#[tokio::test]
async fn factors_round_trip_with_every_field_and_list_oldest_first() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let mut used = totp("t-used", &alice.id, 5);
    used.last_used_step = Some(56_666_666);
    used.last_used_at = Some(at(7));
    let key = passkey("p1", &alice.id, "Y3JlZC0x", 3);
    store.insert_factor(used.clone()).await.unwrap();
    store.insert_factor(key.clone()).await.unwrap();
    store
        .insert_factor(totp("t-bob", &bob.id, 1))
        .await
        .unwrap();

    assert_eq!(
        store.list_factors(&alice.id).await.unwrap(),
        [key.clone(), used]
    );
    assert_eq!(
        store
            .find_factor_by_credential_id("Y3JlZC0x")
            .await
            .unwrap(),
        Some(key)
    );
    assert_eq!(
        store
            .find_factor_by_credential_id("Y3JlZC0y")
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .list_factors(&UserId("ghost".into()))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_factor_of_an_unknown_user_is_not_found() {
    let (store, _db) = store().await;
    let ghost = UserId("ghost".into());
    assert!(matches!(
        store.insert_factor(totp("t1", &ghost, 0)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .replace_recovery_codes(&ghost, codes("g", 2), at(0))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn a_credential_id_taken_by_any_user_is_a_conflict_and_stores_nothing() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store
        .insert_factor(passkey("p1", &alice.id, "c2FtZQ", 0))
        .await
        .unwrap();
    for (id, who) in [("p2", &alice.id), ("p3", &bob.id)] {
        let err = store
            .insert_factor(passkey(id, who, "c2FtZQ", 1))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict(TAKEN_CREDENTIAL_ID)),
            "{err:?}"
        );
    }
    assert_eq!(store.list_factors(&alice.id).await.unwrap().len(), 1);
    assert!(store.list_factors(&bob.id).await.unwrap().is_empty());
    // TOTP factors have no credential id, and any number of them may leave it empty.
    store.insert_factor(totp("t1", &alice.id, 2)).await.unwrap();
    store.insert_factor(totp("t2", &bob.id, 2)).await.unwrap();
}

#[tokio::test]
async fn only_the_owner_renames_a_factor() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store.insert_factor(totp("t1", &alice.id, 0)).await.unwrap();
    assert!(
        !store
            .rename_factor(&bob.id, &f("t1"), "Stolen")
            .await
            .unwrap()
    );
    assert!(
        !store
            .rename_factor(&alice.id, &f("nope"), "Nothing")
            .await
            .unwrap()
    );
    assert!(
        store
            .rename_factor(&alice.id, &f("t1"), "Work phone")
            .await
            .unwrap()
    );
    assert_eq!(
        store.list_factors(&alice.id).await.unwrap()[0].name,
        "Work phone"
    );
}

#[tokio::test]
async fn deleting_the_last_factor_also_deletes_the_recovery_codes() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store.insert_factor(totp("t1", &alice.id, 0)).await.unwrap();
    store
        .insert_factor(passkey("p1", &alice.id, "a2V5", 1))
        .await
        .unwrap();
    store
        .insert_factor(totp("t-bob", &bob.id, 0))
        .await
        .unwrap();
    with_codes(&store, &alice.id, 10).await;
    with_codes(&store, &bob.id, 10).await;

    // Someone else's factor, or one that is gone, is not deleted.
    assert!(!store.delete_factor(&bob.id, &f("t1"), false).await.unwrap());
    assert!(
        !store
            .delete_factor(&alice.id, &f("nope"), false)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_factor(&UserId("ghost".into()), &f("t1"), false)
            .await
            .unwrap()
    );

    assert!(
        store
            .delete_factor(&alice.id, &f("t1"), false)
            .await
            .unwrap()
    );
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 10);
    assert!(
        !store
            .delete_factor(&alice.id, &f("t1"), false)
            .await
            .unwrap()
    );

    assert!(
        store
            .delete_factor(&alice.id, &f("p1"), false)
            .await
            .unwrap()
    );
    assert!(store.list_factors(&alice.id).await.unwrap().is_empty());
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 0);
    assert!(
        !store
            .consume_recovery_code(&alice.id, &codes("x", 1)[0], at(2))
            .await
            .unwrap()
    );
    // Bob keeps his.
    assert_eq!(store.list_factors(&bob.id).await.unwrap().len(), 1);
    assert_eq!(store.remaining_recovery_codes(&bob.id).await.unwrap(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_deletes_of_the_last_two_factors_leave_no_recovery_codes() {
    let (store, _db) = store().await;
    for round in 0..5 {
        let alice = user(&store, &format!("alice{round}")).await;
        let (a, b) = (format!("a{round}"), format!("b{round}"));
        store.insert_factor(totp(&a, &alice.id, 0)).await.unwrap();
        store.insert_factor(totp(&b, &alice.id, 0)).await.unwrap();
        with_codes(&store, &alice.id, 10).await;
        let (first, second) = tokio::join!(
            {
                let (store, user) = (store.clone(), alice.id.clone());
                tokio::spawn(async move { store.delete_factor(&user, &f(&a), false).await })
            },
            {
                let (store, user) = (store.clone(), alice.id.clone());
                tokio::spawn(async move { store.delete_factor(&user, &f(&b), false).await })
            }
        );
        assert!(first.unwrap().unwrap() && second.unwrap().unwrap());
        assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_removals_keeping_one_factor_exactly_one_succeeds() {
    let (store, _db) = store().await;
    for round in 0..5 {
        let alice = user(&store, &format!("keeper{round}")).await;
        let (a, b) = (format!("ka{round}"), format!("kb{round}"));
        store.insert_factor(totp(&a, &alice.id, 0)).await.unwrap();
        store.insert_factor(totp(&b, &alice.id, 0)).await.unwrap();
        let (first, second) = tokio::join!(
            {
                let (store, user) = (store.clone(), alice.id.clone());
                tokio::spawn(async move { store.delete_factor(&user, &f(&a), true).await })
            },
            {
                let (store, user) = (store.clone(), alice.id.clone());
                tokio::spawn(async move { store.delete_factor(&user, &f(&b), true).await })
            }
        );
        let removed = [first.unwrap().unwrap(), second.unwrap().unwrap()];
        assert_eq!(removed.iter().filter(|r| **r).count(), 1, "round {round}");
        assert_eq!(store.list_factors(&alice.id).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_totp_step_is_claimed_once_and_never_a_lower_one() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_factor(totp("t1", &alice.id, 0)).await.unwrap();
    assert!(store.claim_totp_step(&f("t1"), 100, at(10)).await.unwrap());
    let claimed = &store.list_factors(&alice.id).await.unwrap()[0];
    assert_eq!(claimed.last_used_step, Some(100));
    assert_eq!(claimed.last_used_at, Some(at(10)));

    assert!(
        !store.claim_totp_step(&f("t1"), 100, at(11)).await.unwrap(),
        "the same step"
    );
    assert!(
        !store.claim_totp_step(&f("t1"), 99, at(12)).await.unwrap(),
        "an earlier step"
    );
    let unchanged = &store.list_factors(&alice.id).await.unwrap()[0];
    assert_eq!(unchanged.last_used_step, Some(100));
    assert_eq!(unchanged.last_used_at, Some(at(10)));

    assert!(store.claim_totp_step(&f("t1"), 101, at(40)).await.unwrap());
    assert_eq!(
        store.list_factors(&alice.id).await.unwrap()[0].last_used_step,
        Some(101)
    );
    assert!(
        !store
            .claim_totp_step(&f("nope"), 500, at(40))
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_claims_of_one_totp_step_exactly_one_succeeds() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_factor(totp("t1", &alice.id, 0)).await.unwrap();
    for step in [1_000, 1_001, 1_002] {
        let claims: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.claim_totp_step(&f("t1"), step, at(1)).await })
            })
            .collect();
        let mut winners = 0;
        for claim in claims {
            if claim.await.unwrap().unwrap() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "step {step}");
    }
}

#[tokio::test]
async fn a_recovery_code_is_spent_once_and_only_by_its_owner() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    with_codes(&store, &alice.id, 10).await;
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 10);
    assert_eq!(store.remaining_recovery_codes(&bob.id).await.unwrap(), 0);

    let code = &codes(&alice.id.0, 10)[3];
    assert!(
        !store
            .consume_recovery_code(&bob.id, code, at(2))
            .await
            .unwrap(),
        "another user's code"
    );
    assert!(
        !store
            .consume_recovery_code(&alice.id, &TokenHash::of("guess"), at(2))
            .await
            .unwrap()
    );
    assert!(
        store
            .consume_recovery_code(&alice.id, code, at(2))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_recovery_code(&alice.id, code, at(3))
            .await
            .unwrap(),
        "spent already"
    );
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_uses_of_one_recovery_code_exactly_one_succeeds() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    with_codes(&store, &alice.id, 10).await;
    let code = codes(&alice.id.0, 10)[0].clone();
    let uses: Vec<_> = (0..8)
        .map(|_| {
            let (store, user, code) = (store.clone(), alice.id.clone(), code.clone());
            tokio::spawn(async move { store.consume_recovery_code(&user, &code, at(5)).await })
        })
        .collect();
    let mut winners = 0;
    for used in uses {
        if used.await.unwrap().unwrap() {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 9);
}

#[tokio::test]
async fn replacing_recovery_codes_voids_the_old_ones_used_or_not() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let old = codes("old", 10);
    store
        .replace_recovery_codes(&alice.id, old.clone(), at(1))
        .await
        .unwrap();
    with_codes(&store, &bob.id, 10).await;
    assert!(
        store
            .consume_recovery_code(&alice.id, &old[0], at(2))
            .await
            .unwrap()
    );

    let new = codes("new", 10);
    store
        .replace_recovery_codes(&alice.id, new.clone(), at(3))
        .await
        .unwrap();
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 10);
    for code in &old {
        assert!(
            !store
                .consume_recovery_code(&alice.id, code, at(4))
                .await
                .unwrap()
        );
    }
    assert!(
        store
            .consume_recovery_code(&alice.id, &new[0], at(4))
            .await
            .unwrap()
    );
    // Replacing with the same codes again restores them, unused.
    store
        .replace_recovery_codes(&alice.id, new.clone(), at(5))
        .await
        .unwrap();
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 10);
    assert_eq!(store.remaining_recovery_codes(&bob.id).await.unwrap(), 10);
}

#[tokio::test]
async fn a_use_is_recorded_with_the_passkeys_new_credential() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let key = passkey("p1", &alice.id, "a2V5", 0);
    store.insert_factor(key.clone()).await.unwrap();
    store.insert_factor(totp("t1", &alice.id, 1)).await.unwrap();

    store
        .record_factor_use(&f("p1"), Some(r#"{"counter":7}"#), at(20))
        .await
        .unwrap();
    store
        .record_factor_use(&f("t1"), None, at(21))
        .await
        .unwrap();
    let listed = store.list_factors(&alice.id).await.unwrap();
    assert_eq!(listed[0].credential, r#"{"counter":7}"#);
    assert_eq!(listed[0].last_used_at, Some(at(20)));
    assert_eq!(listed[1].credential, totp("t1", &alice.id, 1).credential);
    assert_eq!(listed[1].last_used_at, Some(at(21)));
    assert_eq!(listed[1].last_used_step, None);
}

#[tokio::test]
async fn factors_sealed_under_other_keys_are_found_and_resealed() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    let mut current = totp("t-current", &alice.id, 2);
    current.master_key_id = Some("m2".into());
    store.insert_factor(current).await.unwrap();
    store
        .insert_factor(totp("t-old-a", &alice.id, 1))
        .await
        .unwrap();
    store
        .insert_factor(totp("t-old-b", &bob.id, 3))
        .await
        .unwrap();
    store
        .insert_factor(passkey("p1", &alice.id, "a2V5", 0))
        .await
        .unwrap();

    let stale = store.factors_sealed_under_other_keys("m2").await.unwrap();
    let ids: Vec<&str> = stale.iter().map(|f| f.id.0.as_str()).collect();
    assert_eq!(ids, ["t-old-a", "t-old-b"], "passkeys are not sealed");

    let resealed = Sealed {
        ciphertext: "eyJhbGciOiJkaXIi.resealed.jwe".into(),
        master_key_id: "m2".into(),
    };
    for factor in &stale {
        store
            .update_factor_seal(&factor.id, &resealed)
            .await
            .unwrap();
    }
    assert!(
        store
            .factors_sealed_under_other_keys("m2")
            .await
            .unwrap()
            .is_empty()
    );
    let moved = store.list_factors(&bob.id).await.unwrap();
    assert_eq!(moved[0].credential, resealed.ciphertext);
    assert_eq!(moved[0].master_key_id.as_deref(), Some("m2"));
    assert_eq!(
        store
            .factors_sealed_under_other_keys("m3")
            .await
            .unwrap()
            .len(),
        3
    );
    assert!(matches!(
        store.update_factor_seal(&f("gone"), &resealed).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn deleting_every_factor_of_a_user_takes_the_recovery_codes_and_nothing_else() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store.insert_factor(totp("t1", &alice.id, 0)).await.unwrap();
    store
        .insert_factor(passkey("p1", &alice.id, "a2V5", 1))
        .await
        .unwrap();
    store
        .insert_factor(totp("t-bob", &bob.id, 0))
        .await
        .unwrap();
    with_codes(&store, &alice.id, 10).await;
    with_codes(&store, &bob.id, 10).await;

    assert_eq!(store.delete_factors_of_user(&alice.id).await.unwrap(), 2);
    assert!(store.list_factors(&alice.id).await.unwrap().is_empty());
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 0);
    assert_eq!(store.delete_factors_of_user(&alice.id).await.unwrap(), 0);
    assert_eq!(
        store
            .delete_factors_of_user(&UserId("ghost".into()))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.list_factors(&bob.id).await.unwrap().len(), 1);
    assert_eq!(store.remaining_recovery_codes(&bob.id).await.unwrap(), 10);
    // The credential id is free again.
    store
        .insert_factor(passkey("p2", &bob.id, "a2V5", 2))
        .await
        .unwrap();
}

#[tokio::test]
async fn deleting_a_user_takes_their_factors_and_recovery_codes() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store
        .insert_factor(passkey("p1", &alice.id, "a2V5", 0))
        .await
        .unwrap();
    with_codes(&store, &alice.id, 10).await;
    store.delete_user(&alice.id).await.unwrap();
    assert!(store.list_factors(&alice.id).await.unwrap().is_empty());
    assert_eq!(store.remaining_recovery_codes(&alice.id).await.unwrap(), 0);
    assert_eq!(
        store.find_factor_by_credential_id("a2V5").await.unwrap(),
        None
    );
    store
        .insert_factor(passkey("p2", &bob.id, "a2V5", 1))
        .await
        .unwrap();
}

/// A kind outside the closed set (a hand-run UPDATE, past the CHECK constraint) is corrupt
/// data: reading it fails rather than skipping the factor or guessing its kind.
#[tokio::test]
async fn a_stored_factor_of_an_unknown_kind_is_an_error_not_skipped() {
    use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
    let (store, db) = store().await;
    let alice = user(&store, "alice").await;
    store
        .insert_factor(passkey("p1", &alice.id, "a2V5", 0))
        .await
        .unwrap();
    let update = "UPDATE user_factors SET kind = 'sms' WHERE id = 'p1'";
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
                 WHERE conrelid = 'user_factors'::regclass AND contype = 'c' LOOP \
                 EXECUTE format('ALTER TABLE user_factors DROP CONSTRAINT %I', c.conname); \
                 END LOOP; END $$",
            )
            .execute(&mut conn)?;
            diesel::sql_query(update).execute(&mut conn)
        }
    })
    .await
    .unwrap()
    .unwrap();
    assert!(matches!(
        store.list_factors(&alice.id).await,
        Err(StoreError::Internal(_))
    ));
    assert!(matches!(
        store.find_factor_by_credential_id("a2V5").await,
        Err(StoreError::Internal(_))
    ));
}
