//! RoleRepository contract.
//!
//! The schema ships built-in roles (`admin`, `user-admin`, `client-admin`, `auditor`, migration
//! `2025-07-01-000000_builtin_roles`), so these tests use other names and leave them out of
//! listings.

use crate::support::{store, user};
use palisade_core::StoreError;
use palisade_core::model::{NewRoleGrant, Permission as P, Permission, Role, RoleName, UserId};
use palisade_core::ports::{RoleRepository, UserRepository};

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
        store
            .roles_of_user(&alice.id, chrono::Utc::now())
            .await
            .unwrap(),
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
    assert!(
        store
            .roles_of_user(&alice.id, chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
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
        names(
            store
                .permissions_of_user(&alice.id, chrono::Utc::now())
                .await
                .unwrap()
        ),
        ["audit:read", "clients:read", "users:write"]
    );
    assert_eq!(
        names(
            store
                .permissions_of_user(&bob.id, chrono::Utc::now())
                .await
                .unwrap()
        ),
        ["users:read"]
    );

    store.revoke_role(&r("helpdesk"), &alice.id).await.unwrap();
    assert_eq!(
        names(
            store
                .permissions_of_user(&alice.id, chrono::Utc::now())
                .await
                .unwrap()
        ),
        ["audit:read", "clients:read"]
    );
    assert!(
        store
            .permissions_of_user(&UserId("ghost".into()), chrono::Utc::now())
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
        store
            .permissions_of_user(&alice.id, chrono::Utc::now())
            .await,
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
    assert!(
        !store
            .roles_require_mfa(&alice.id, chrono::Utc::now())
            .await
            .unwrap()
    );

    store
        .set_role_requires_mfa(&r("operator"), true)
        .await
        .unwrap();
    assert!(
        store
            .roles_require_mfa(&alice.id, chrono::Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .roles_require_mfa(&bob.id, chrono::Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !store
            .roles_require_mfa(&UserId("ghost".into()), chrono::Utc::now())
            .await
            .unwrap()
    );

    store.revoke_role(&r("operator"), &alice.id).await.unwrap();
    assert!(
        !store
            .roles_require_mfa(&alice.id, chrono::Utc::now())
            .await
            .unwrap()
    );
}

fn recorded(by: &str, at: chrono::DateTime<chrono::Utc>, expires: Option<i64>) -> NewRoleGrant {
    NewRoleGrant {
        granted_by: by.into(),
        granted_at: at,
        expires_at: expires.map(|secs| at + chrono::Duration::seconds(secs)),
    }
}

#[tokio::test]
async fn a_grant_past_its_expiry_gives_nothing_from_that_second_in_every_query() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    store.insert_role(role("helpdesk")).await.unwrap();
    store
        .grant_permission(&r("helpdesk"), P::UsersRead)
        .await
        .unwrap();
    store
        .set_role_requires_mfa(&r("helpdesk"), true)
        .await
        .unwrap();
    let at = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    store
        .record_role_grant(&r("helpdesk"), &alice.id, &recorded("cli", at, Some(60)))
        .await
        .unwrap();
    let before = at + chrono::Duration::seconds(59);
    let expiry = at + chrono::Duration::seconds(60);
    assert_eq!(
        store.roles_of_user(&alice.id, before).await.unwrap(),
        ["helpdesk"]
    );
    assert_eq!(
        names(store.permissions_of_user(&alice.id, before).await.unwrap()),
        ["users:read"]
    );
    assert!(store.roles_require_mfa(&alice.id, before).await.unwrap());
    assert!(
        store
            .find_role_grant(&r("helpdesk"), &alice.id, before)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        store
            .role_holders(&r("helpdesk"), before, 10, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .lapsed_role_grants(before, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .delete_lapsed_role_grant(&r("helpdesk"), &alice.id, before)
            .await
            .unwrap()
    );

    assert!(
        store
            .roles_of_user(&alice.id, expiry)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .permissions_of_user(&alice.id, expiry)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(!store.roles_require_mfa(&alice.id, expiry).await.unwrap());
    assert!(
        store
            .find_role_grant(&r("helpdesk"), &alice.id, expiry)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .role_holders(&r("helpdesk"), expiry, 10, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .stale_role_grants(expiry, expiry, 10, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !store
            .confirm_role_grant(&r("helpdesk"), &alice.id, expiry)
            .await
            .unwrap()
    );
    let lapsed = store.lapsed_role_grants(expiry, 10).await.unwrap();
    assert_eq!(lapsed.len(), 1);
    assert_eq!(lapsed[0].granted_by.as_deref(), Some("cli"));
    assert!(
        store
            .delete_lapsed_role_grant(&r("helpdesk"), &alice.id, expiry)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_lapsed_role_grant(&r("helpdesk"), &alice.id, expiry)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn recording_a_grant_again_replaces_its_record_and_keeps_its_confirmation() {
    let (store, _db) = store().await;
    let alice = user(&store, "alice").await;
    let bob = user(&store, "bob").await;
    store.insert_role(role("helpdesk")).await.unwrap();
    let at = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    // One made before records began, then recorded: the record fills in.
    store.grant_role(&r("helpdesk"), &alice.id).await.unwrap();
    let held = store
        .find_role_grant(&r("helpdesk"), &alice.id, at)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (held.granted_by, held.granted_at, held.expires_at),
        (None, None, None)
    );
    assert!(
        store
            .confirm_role_grant(&r("helpdesk"), &alice.id, at)
            .await
            .unwrap()
    );
    let later = at + chrono::Duration::days(1);
    store
        .record_role_grant(
            &r("helpdesk"),
            &alice.id,
            &recorded("user:root", later, Some(3600)),
        )
        .await
        .unwrap();
    let held = store
        .find_role_grant(&r("helpdesk"), &alice.id, later)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.granted_by.as_deref(), Some("user:root"));
    assert_eq!(held.granted_at, Some(later));
    assert_eq!(held.expires_at, Some(later + chrono::Duration::hours(1)));
    assert_eq!(held.confirmed_at, Some(at));
    // Renewing a lapsed grant without an expiry brings it back for good.
    let lapsed_at = later + chrono::Duration::hours(2);
    store
        .record_role_grant(&r("helpdesk"), &alice.id, &recorded("cli", lapsed_at, None))
        .await
        .unwrap();
    assert_eq!(
        store.roles_of_user(&alice.id, lapsed_at).await.unwrap(),
        ["helpdesk"]
    );
    assert!(matches!(
        store
            .record_role_grant(&r("nobody"), &alice.id, &recorded("cli", at, None))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .record_role_grant(
                &r("helpdesk"),
                &UserId("ghost".into()),
                &recorded("cli", at, None)
            )
            .await,
        Err(StoreError::NotFound)
    ));

    // Holders come with their username and last sign-in, by username, paged.
    store
        .record_role_grant(&r("helpdesk"), &bob.id, &recorded("cli", at, None))
        .await
        .unwrap();
    store.record_sign_in(&bob.id, later).await.unwrap();
    store
        .record_sign_in(&UserId("ghost".into()), later)
        .await
        .unwrap();
    assert_eq!(
        store.role_holder_counts(lapsed_at).await.unwrap(),
        [(r("helpdesk"), 2)]
    );
    let page = store
        .role_holders(&r("helpdesk"), lapsed_at, 1, 0)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].username.as_str(), "alice");
    assert_eq!(page[0].last_sign_in_at, None);
    let page = store
        .role_holders(&r("helpdesk"), lapsed_at, 1, 1)
        .await
        .unwrap();
    assert_eq!(page[0].username.as_str(), "bob");
    assert_eq!(page[0].last_sign_in_at, Some(later));

    // Stale as of `later`: bob signed in then (not before it) but his grant is older; alice
    // signs in now and her grant was just made again.
    store.record_sign_in(&alice.id, lapsed_at).await.unwrap();
    let stale = store
        .stale_role_grants(lapsed_at, later, 10, 0)
        .await
        .unwrap();
    let who: Vec<&str> = stale.iter().map(|g| g.username.as_str()).collect();
    assert_eq!(who, ["bob"]);
}
