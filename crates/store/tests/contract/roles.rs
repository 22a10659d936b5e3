//! RoleRepository contract.

use crate::support::{store, user};
use palisade_core::StoreError;
use palisade_core::model::{Role, UserId};
use palisade_core::ports::RoleRepository;

fn role(name: &str) -> Role {
    Role {
        name: name.into(),
        description: Some(format!("the {name} role")),
    }
}

#[tokio::test]
async fn roles_are_unique_and_listed_by_name() {
    let (store, _db) = store().await;
    store.insert_role(role("operator")).await.unwrap();
    store
        .insert_role(Role {
            name: "admin".into(),
            description: None,
        })
        .await
        .unwrap();
    let err = store.insert_role(role("admin")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role")), "{err:?}");
    assert_eq!(
        store.list_roles().await.unwrap(),
        [
            Role {
                name: "admin".into(),
                description: None
            },
            role("operator")
        ]
    );
}

#[tokio::test]
async fn granting_a_permission_is_idempotent_and_needs_the_role() {
    let (store, _db) = store().await;
    store.insert_role(role("admin")).await.unwrap();
    store
        .grant_permission("admin", "users.write")
        .await
        .unwrap();
    store
        .grant_permission("admin", "users.write")
        .await
        .unwrap();
    store
        .grant_permission("admin", "clients.read")
        .await
        .unwrap();
    assert_eq!(
        store.permissions_of_role("admin").await.unwrap(),
        ["clients.read", "users.write"]
    );
    assert!(matches!(
        store.grant_permission("nobody", "users.write").await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .permissions_of_role("nobody")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn granting_a_role_is_idempotent_and_needs_the_role_and_the_user() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_role(role("admin")).await.unwrap();
    store.insert_role(role("auditor")).await.unwrap();
    store.grant_role("auditor", &alice.id).await.unwrap();
    store.grant_role("admin", &alice.id).await.unwrap();
    store.grant_role("admin", &alice.id).await.unwrap();
    assert_eq!(
        store.roles_of_user(&alice.id).await.unwrap(),
        ["admin", "auditor"]
    );

    assert!(matches!(
        store.grant_role("nobody", &alice.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.grant_role("admin", &UserId("ghost".into())).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn revoking_a_role_is_idempotent() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_role(role("admin")).await.unwrap();
    store.grant_role("admin", &alice.id).await.unwrap();
    store.revoke_role("admin", &alice.id).await.unwrap();
    store.revoke_role("admin", &alice.id).await.unwrap();
    store
        .revoke_role("nobody", &UserId("ghost".into()))
        .await
        .unwrap();
    assert!(store.roles_of_user(&alice.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_users_permissions_are_the_union_of_their_roles_permissions() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    for name in ["admin", "auditor", "support"] {
        store.insert_role(role(name)).await.unwrap();
    }
    store
        .grant_permission("admin", "users.write")
        .await
        .unwrap();
    store.grant_permission("admin", "audit.read").await.unwrap();
    store
        .grant_permission("auditor", "audit.read")
        .await
        .unwrap();
    store
        .grant_permission("auditor", "clients.read")
        .await
        .unwrap();
    store
        .grant_permission("support", "users.read")
        .await
        .unwrap();
    store.grant_role("admin", &alice.id).await.unwrap();
    store.grant_role("auditor", &alice.id).await.unwrap();
    store.grant_role("support", &bob.id).await.unwrap();

    // audit.read comes from two roles and is listed once.
    assert_eq!(
        store.permissions_of_user(&alice.id).await.unwrap(),
        ["audit.read", "clients.read", "users.write"]
    );
    assert_eq!(
        store.permissions_of_user(&bob.id).await.unwrap(),
        ["users.read"]
    );

    store.revoke_role("admin", &alice.id).await.unwrap();
    assert_eq!(
        store.permissions_of_user(&alice.id).await.unwrap(),
        ["audit.read", "clients.read"]
    );
    assert!(
        store
            .permissions_of_user(&UserId("ghost".into()))
            .await
            .unwrap()
            .is_empty()
    );
}
