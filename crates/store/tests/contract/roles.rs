//! RoleRepository contract.
//!
//! The schema ships built-in roles (`admin`, `user-admin`, `client-admin`, `auditor`, migration
//! `2025-07-01-000000_builtin_roles`), so these tests use other names and leave them out of
//! listings.

use crate::support::{store, user};
use palisade_core::StoreError;
use palisade_core::model::{Permission as P, Permission, Role, RoleName, UserId};
use palisade_core::ports::RoleRepository;

fn r(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

fn names(permissions: Vec<Permission>) -> Vec<&'static str> {
    permissions.into_iter().map(Permission::as_str).collect()
}

const BUILT_IN: [&str; 4] = ["admin", "auditor", "client-admin", "user-admin"];

#[tokio::test]
async fn the_built_in_roles_exist_with_their_permissions() {
    let (store, _db) = store().await;
    let listed: Vec<RoleName> = store
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    for name in BUILT_IN {
        assert!(
            listed.iter().any(|n| *n == name),
            "{name} missing from {listed:?}"
        );
    }
    let mut catalogue = Permission::ALL;
    catalogue.sort_by_key(|p| p.as_str());
    assert_eq!(
        store.permissions_of_role(&r("admin")).await.unwrap(),
        catalogue
    );
    assert_eq!(
        names(store.permissions_of_role(&r("user-admin")).await.unwrap()),
        ["roles:read", "users:read", "users:write"]
    );
    assert_eq!(
        names(store.permissions_of_role(&r("client-admin")).await.unwrap()),
        ["clients:read", "clients:write"]
    );
    assert_eq!(
        names(store.permissions_of_role(&r("auditor")).await.unwrap()),
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
        name: r(name),
        description: Some(format!("the {name} role")),
        require_mfa: false,
    }
}

#[tokio::test]
async fn roles_are_unique_and_listed_by_name() {
    let (store, _db) = store().await;
    store.insert_role(role("operator")).await.unwrap();
    store
        .insert_role(Role {
            name: r("helpdesk"),
            description: None,
            require_mfa: false,
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
                name: r("helpdesk"),
                description: None,
                require_mfa: false,
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
        .grant_permission(&r("helpdesk"), P::UsersWrite)
        .await
        .unwrap();
    store
        .grant_permission(&r("helpdesk"), P::UsersWrite)
        .await
        .unwrap();
    store
        .grant_permission(&r("helpdesk"), P::ClientsRead)
        .await
        .unwrap();
    assert_eq!(
        names(store.permissions_of_role(&r("helpdesk")).await.unwrap()),
        ["clients:read", "users:write"]
    );
    assert!(matches!(
        store.grant_permission(&r("nobody"), P::UsersWrite).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        store
            .permissions_of_role(&r("nobody"))
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
        .grant_permission(&r("helpdesk"), P::UsersRead)
        .await
        .unwrap();
    store
        .grant_permission(&r("helpdesk"), P::UsersWrite)
        .await
        .unwrap();
    store
        .revoke_permission(&r("helpdesk"), P::UsersWrite)
        .await
        .unwrap();
    store
        .revoke_permission(&r("helpdesk"), P::UsersWrite)
        .await
        .unwrap();
    assert_eq!(
        names(store.permissions_of_role(&r("helpdesk")).await.unwrap()),
        ["users:read"]
    );
    assert!(matches!(
        store.revoke_permission(&r("nobody"), P::UsersRead).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn granting_a_role_is_idempotent_and_needs_the_role_and_the_user() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_role(role("helpdesk")).await.unwrap();
    store.insert_role(role("reviewer")).await.unwrap();
    store.grant_role(&r("reviewer"), &alice.id).await.unwrap();
    store.grant_role(&r("helpdesk"), &alice.id).await.unwrap();
    store.grant_role(&r("helpdesk"), &alice.id).await.unwrap();
    assert_eq!(
        store.roles_of_user(&alice.id, chrono::Utc::now()).await.unwrap(),
        ["helpdesk", "reviewer"]
    );

    assert_eq!(
        store.find_role(&r("helpdesk")).await.unwrap(),
        Some(role("helpdesk"))
    );
    assert_eq!(store.find_role(&r("nobody")).await.unwrap(), None);
    assert!(matches!(
        store.grant_role(&r("nobody"), &alice.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .grant_role(&r("helpdesk"), &UserId("ghost".into()))
            .await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn revoking_a_role_is_idempotent() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_role(role("helpdesk")).await.unwrap();
    store.grant_role(&r("helpdesk"), &alice.id).await.unwrap();
    store.revoke_role(&r("helpdesk"), &alice.id).await.unwrap();
    store.revoke_role(&r("helpdesk"), &alice.id).await.unwrap();
    store
        .revoke_role(&r("nobody"), &UserId("ghost".into()))
        .await
        .unwrap();
    assert!(store.roles_of_user(&alice.id, chrono::Utc::now()).await.unwrap().is_empty());
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
        .grant_permission(&r("helpdesk"), P::UsersWrite)
        .await
        .unwrap();
    store
        .grant_permission(&r("helpdesk"), P::AuditRead)
        .await
        .unwrap();
    store
        .grant_permission(&r("reviewer"), P::AuditRead)
        .await
        .unwrap();
    store
        .grant_permission(&r("reviewer"), P::ClientsRead)
        .await
        .unwrap();
    store
        .grant_permission(&r("support"), P::UsersRead)
        .await
        .unwrap();
    store.grant_role(&r("helpdesk"), &alice.id).await.unwrap();
    store.grant_role(&r("reviewer"), &alice.id).await.unwrap();
    store.grant_role(&r("support"), &bob.id).await.unwrap();

    // audit.read comes from two roles and is listed once.
    assert_eq!(
        names(store.permissions_of_user(&alice.id, chrono::Utc::now()).await.unwrap()),
        ["audit:read", "clients:read", "users:write"]
    );
    assert_eq!(
        names(store.permissions_of_user(&bob.id, chrono::Utc::now()).await.unwrap()),
        ["users:read"]
    );

    store.revoke_role(&r("helpdesk"), &alice.id).await.unwrap();
    assert_eq!(
        names(store.permissions_of_user(&alice.id, chrono::Utc::now()).await.unwrap()),
        ["audit:read", "clients:read"]
    );
    assert!(
        store
            .permissions_of_user(&UserId("ghost".into()))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_stored_permission_outside_the_catalogue_is_an_error_not_a_default() {
    let (store, db) = store().await;
    store.insert_role(role("helpdesk")).await.unwrap();
    let alice = user(&store, "alice").await;
    store.grant_role(&r("helpdesk"), &alice.id).await.unwrap();
    crate::support::execute_raw(
        &db,
        &[
            "INSERT INTO permissions (name) VALUES ('users:delete')",
            "INSERT INTO role_permissions (role_name, permission_name) VALUES ('helpdesk', 'users:delete')",
        ],
    );
    assert!(matches!(
        store.permissions_of_role(&r("helpdesk")).await,
        Err(StoreError::Internal(_))
    ));
    assert!(matches!(
        store.permissions_of_user(&alice.id, chrono::Utc::now()).await,
        Err(StoreError::Internal(_))
    ));
}

#[tokio::test]
async fn a_role_requiring_mfa_round_trips_and_the_flag_can_be_switched() {
    let (store, _db) = store().await;
    let strict = Role {
        require_mfa: true,
        ..role("operator")
    };
    store.insert_role(strict.clone()).await.unwrap();
    assert_eq!(store.find_role(&r("operator")).await.unwrap(), Some(strict));

    store
        .set_role_requires_mfa(&r("operator"), false)
        .await
        .unwrap();
    assert_eq!(
        store.find_role(&r("operator")).await.unwrap(),
        Some(role("operator"))
    );
    store
        .set_role_requires_mfa(&r("operator"), true)
        .await
        .unwrap();
    let listed = store.list_roles().await.unwrap();
    let operator = listed.iter().find(|r| r.name == "operator").unwrap();
    assert!(operator.require_mfa);
    // The built-in roles start without it.
    assert!(
        listed
            .iter()
            .filter(|r| BUILT_IN.contains(&r.name.as_str()))
            .all(|r| !r.require_mfa)
    );
    assert!(matches!(
        store.set_role_requires_mfa(&r("ghost"), true).await,
        Err(StoreError::NotFound)
    ));
}

#[tokio::test]
async fn mfa_is_required_of_exactly_the_holders_of_a_role_that_requires_it() {
    let (store, _db) = store().await;
    store.insert_role(role("operator")).await.unwrap();
    store.insert_role(role("helpdesk")).await.unwrap();
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store.grant_role(&r("operator"), &alice.id).await.unwrap();
    store.grant_role(&r("helpdesk"), &alice.id).await.unwrap();
    store.grant_role(&r("helpdesk"), &bob.id).await.unwrap();
    assert!(!store.roles_require_mfa(&alice.id, chrono::Utc::now()).await.unwrap());

    store
        .set_role_requires_mfa(&r("operator"), true)
        .await
        .unwrap();
    assert!(store.roles_require_mfa(&alice.id, chrono::Utc::now()).await.unwrap());
    assert!(!store.roles_require_mfa(&bob.id, chrono::Utc::now()).await.unwrap());
    assert!(
        !store
            .roles_require_mfa(&UserId("ghost".into()))
            .await
            .unwrap()
    );

    store.revoke_role(&r("operator"), &alice.id).await.unwrap();
    assert!(!store.roles_require_mfa(&alice.id, chrono::Utc::now()).await.unwrap());
}
