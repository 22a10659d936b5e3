//! RoleRepository contract.
//!
//! The schema ships built-in roles (`admin`, `user-admin`, `client-admin`, `auditor`, migration
//! `2025-07-01-000000_builtin_roles`), so these tests use other names and leave them out of
//! listings.

use crate::support::{store, user};
use palisade_core::StoreError;
use palisade_core::model::{Role, UserId};
use palisade_core::ports::RoleRepository;

const BUILT_IN: [&str; 4] = ["admin", "auditor", "client-admin", "user-admin"];

#[tokio::test]
async fn the_built_in_roles_exist_with_their_permissions() {
    let (store, _db) = store().await;
    let names: Vec<String> = store
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    for name in BUILT_IN {
        assert!(
            names.iter().any(|n| n == name),
            "{name} missing from {names:?}"
        );
    }
    assert_eq!(store.permissions_of_role("admin").await.unwrap().len(), 9);
    assert_eq!(
        store.permissions_of_role("user-admin").await.unwrap(),
        ["roles:read", "users:read", "users:write"]
    );
    assert_eq!(
        store.permissions_of_role("client-admin").await.unwrap(),
        ["clients:read", "clients:write"]
    );
    assert_eq!(
        store.permissions_of_role("auditor").await.unwrap(),
        [
            "audit:read",
            "clients:read",
            "keys:read",
            "roles:read",
            "users:read"
        ]
    );
}

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
            name: "helpdesk".into(),
            description: None,
        })
        .await
        .unwrap();
    let err = store.insert_role(role("helpdesk")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict("role")), "{err:?}");
    let listed: Vec<Role> = store
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| !BUILT_IN.contains(&r.name.as_str()))
        .collect();
    assert_eq!(
        listed,
        [
            Role {
                name: "helpdesk".into(),
                description: None
            },
            role("operator")
        ]
    );
}

#[tokio::test]
async fn granting_a_permission_is_idempotent_and_needs_the_role() {
    let (store, _db) = store().await;
    store.insert_role(role("helpdesk")).await.unwrap();
    store
        .grant_permission("helpdesk", "users.write")
        .await
        .unwrap();
    store
        .grant_permission("helpdesk", "users.write")
        .await
        .unwrap();
    store
        .grant_permission("helpdesk", "clients.read")
        .await
        .unwrap();
    assert_eq!(
        store.permissions_of_role("helpdesk").await.unwrap(),
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
async fn revoking_a_permission_is_idempotent_and_needs_the_role() {
    let (store, _db) = store().await;
    store.insert_role(role("helpdesk")).await.unwrap();
    store
        .grant_permission("helpdesk", "users:read")
        .await
        .unwrap();
    store
        .grant_permission("helpdesk", "users:write")
        .await
        .unwrap();
    store
        .revoke_permission("helpdesk", "users:write")
        .await
        .unwrap();
    store
        .revoke_permission("helpdesk", "users:write")
        .await
        .unwrap();
    assert_eq!(
        store.permissions_of_role("helpdesk").await.unwrap(),
        ["users:read"]
    );
    assert!(matches!(
        store.revoke_permission("nobody", "users:read").await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn granting_a_role_is_idempotent_and_needs_the_role_and_the_user() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_role(role("helpdesk")).await.unwrap();
    store.insert_role(role("reviewer")).await.unwrap();
    store.grant_role("reviewer", &alice.id).await.unwrap();
    store.grant_role("helpdesk", &alice.id).await.unwrap();
    store.grant_role("helpdesk", &alice.id).await.unwrap();
    assert_eq!(
        store.roles_of_user(&alice.id).await.unwrap(),
        ["helpdesk", "reviewer"]
    );

    assert!(matches!(
        store.grant_role("nobody", &alice.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.grant_role("helpdesk", &UserId("ghost".into())).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn revoking_a_role_is_idempotent() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_role(role("helpdesk")).await.unwrap();
    store.grant_role("helpdesk", &alice.id).await.unwrap();
    store.revoke_role("helpdesk", &alice.id).await.unwrap();
    store.revoke_role("helpdesk", &alice.id).await.unwrap();
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
    for name in ["helpdesk", "reviewer", "support"] {
        store.insert_role(role(name)).await.unwrap();
    }
    store
        .grant_permission("helpdesk", "users.write")
        .await
        .unwrap();
    store
        .grant_permission("helpdesk", "audit.read")
        .await
        .unwrap();
    store
        .grant_permission("reviewer", "audit.read")
        .await
        .unwrap();
    store
        .grant_permission("reviewer", "clients.read")
        .await
        .unwrap();
    store
        .grant_permission("support", "users.read")
        .await
        .unwrap();
    store.grant_role("helpdesk", &alice.id).await.unwrap();
    store.grant_role("reviewer", &alice.id).await.unwrap();
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

    store.revoke_role("helpdesk", &alice.id).await.unwrap();
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
