//! Administration against the real stores the environment picks (SQLite or PostgreSQL;
//! in-process or Redis), with a manual clock.

use super::users::NewAccount;
use super::*;
use crate::guard::AttemptLimits;
use crate::password::Argon2Settings;
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery, Role, RoleName, User};
use palisade_core::{ErrorCode, ManualClock, OsSecrets, Secret};
use palisade_store::SqlStore;
use palisade_store::testing::{TestDatabase, TestEphemeral, ephemeral_store, sql_store};
use serde_json::json;

const PASSWORD: &str = "correct horse battery staple";

/// The administration service over fresh stores and a manual clock (also the access reviews'
/// tests' fixture).
pub(super) struct Fixture {
    pub(super) admin: Admin,
    pub(super) sql: SqlStore,
    pub(super) clock: Arc<ManualClock>,
    _database: TestDatabase,
    _ephemeral: TestEphemeral,
}

pub(super) async fn fixture() -> Fixture {
    let (sql, database) = sql_store().await;
    let (ephemeral, ephemeral_guard) = ephemeral_store().await;
    let store = Arc::new(sql.clone());
    let clock = Arc::new(ManualClock::starting_now());
    // Small argon2 parameters keep the tests fast; the policy checks are the same.
    let cheap = Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };
    let admin = Admin::new(AdminPorts {
        users: store.clone(),
        roles: store.clone(),
        clients: store.clone(),
        client_records: store.clone(),
        lockouts: store.clone(),
        refresh_tokens: store.clone(),
        initial_access_tokens: store.clone(),
        factors: store.clone(),
        audit: store.clone(),
        guard: CredentialGuard::new(
            AttemptLimits::default(),
            ephemeral,
            store.clone(),
            store,
            clock.clone(),
        ),
        passwords: PasswordHasher::new(cheap, 1).unwrap(),
        clock: clock.clone(),
        secrets: Arc::new(OsSecrets),
        signing_algorithms: vec![SigningAlgorithm::RS256, SigningAlgorithm::ES256],
    });
    Fixture {
        admin,
        sql,
        clock,
        _database: database,
        _ephemeral: ephemeral_guard,
    }
}

/// A caller holding exactly `permissions`.
fn holding(permissions: &[Permission]) -> Caller {
    Caller {
        actor: "user:helper".into(),
        permissions: permissions.iter().copied().collect(),
        client_ip: Some("192.0.2.7".into()),
    }
}

fn account<'a>(username: &'a str, email: Option<&'a str>, password: &'a Secret) -> NewAccount<'a> {
    NewAccount {
        username,
        password,
        email,
        display_name: None,
    }
}

async fn user(f: &Fixture, username: &str) -> User {
    let password = Secret::new(PASSWORD);
    f.admin
        .create_user(&Caller::operator(), account(username, None, &password))
        .await
        .unwrap()
}

async fn events(f: &Fixture, action: Action) -> Vec<AuditEvent> {
    f.sql
        .query(AuditQuery {
            action: Some(action.as_str().into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

#[tokio::test]
async fn an_admin_cannot_grant_a_permission_it_does_not_hold() {
    let f = fixture().await;
    let helpdesk = f
        .admin
        .create_role(&Caller::operator(), "helpdesk", None, &[])
        .await
        .unwrap();
    assert!(helpdesk.permissions.is_empty());
    let role_admin = holding(&[Permission::RolesRead, Permission::RolesWrite]);

    let refused = f
        .admin
        .grant_permission(&role_admin, "helpdesk", "keys:write")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AdminError::Forbidden(m) if m.contains("keys:write")),
        "{refused:?}"
    );
    let refused = f
        .admin
        .create_role(&role_admin, "key-admin", None, &["keys:write".into()])
        .await
        .unwrap_err();
    assert!(matches!(refused, AdminError::Forbidden(_)), "{refused:?}");
    assert!(
        f.sql
            .permissions_of_role(&role("helpdesk"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(f.sql.find_role(&role("key-admin")).await.unwrap(), None);

    // What it holds, it may hand out.
    let granted = f
        .admin
        .grant_permission(&role_admin, "helpdesk", "roles:read")
        .await
        .unwrap();
    assert_eq!(granted.permissions, [Permission::RolesRead]);

    let failures: Vec<AuditEvent> = events(&f, Action::GrantPermission)
        .await
        .into_iter()
        .filter(|e| e.outcome == AuditOutcome::Failure)
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].actor, "user:helper");
    assert_eq!(failures[0].target.as_deref(), Some("role:helpdesk"));
    assert_eq!(failures[0].client_ip.as_deref(), Some("192.0.2.7"));
}

#[tokio::test]
async fn a_user_admin_cannot_make_an_administrator_nor_touch_one() {
    let f = fixture().await;
    let root = user(&f, "root").await;
    let bob = user(&f, "bob").await;
    f.admin
        .grant_role(&Caller::operator(), &root, "admin", None)
        .await
        .unwrap();
    let user_admin = holding(&[
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::RolesRead,
    ]);

    let granting = f.admin.grant_role(&user_admin, &bob, "admin", None).await;
    assert!(matches!(granting, Err(AdminError::Forbidden(_))));
    let resetting = f
        .admin
        .reset_password(&user_admin, &root, &Secret::new("another long password"))
        .await;
    assert!(matches!(resetting, Err(AdminError::Forbidden(_))));
    let disabling = f.admin.set_user_disabled(&user_admin, &root, true).await;
    assert!(matches!(disabling, Err(AdminError::Forbidden(_))));

    assert!(
        f.sql
            .roles_of_user(&bob.id, chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    let root_now = f.admin.find_user(&root.id).await.unwrap();
    assert!(!root_now.is_disabled);
    assert_eq!(root_now.password_hash, root.password_hash);
    // A user holding nothing is within reach.
    let bob = f
        .admin
        .set_user_disabled(&user_admin, &bob, true)
        .await
        .unwrap();
    assert!(bob.is_disabled);
}

#[tokio::test]
async fn creating_a_user_with_an_invalid_email_is_refused_from_every_entry_point() {
    let f = fixture().await;
    let password = Secret::new(PASSWORD);
    for email in [
        "not-an-email",
        "bob@",
        "@example.com",
        "bob smith@example.com",
    ] {
        let created = f
            .admin
            .create_user(&Caller::operator(), account("bob", Some(email), &password))
            .await;
        assert!(
            matches!(&created, Err(AdminError::Invalid(m)) if m.starts_with("email:")),
            "{email}: {created:?}"
        );
        let bootstrapped = f
            .admin
            .init_administrator(&Caller::operator(), account("root", Some(email), &password))
            .await;
        assert!(
            matches!(&bootstrapped, Err(AdminError::Invalid(m)) if m.starts_with("email:")),
            "{email}: {bootstrapped:?}"
        );
    }
    assert!(f.admin.list_users(None, 10, 0).await.unwrap().is_empty());

    // Blank is no email; a real one is kept as typed.
    let bob = f
        .admin
        .create_user(&Caller::operator(), account("bob", Some("  "), &password))
        .await
        .unwrap();
    assert_eq!(bob.email, None);
    let carol = f
        .admin
        .create_user(
            &Caller::operator(),
            account("Carol", Some(" Carol@Example.com "), &password),
        )
        .await
        .unwrap();
    assert_eq!(carol.username.as_str(), "carol");
    assert_eq!(
        carol.email.as_ref().map(|e| e.as_str()),
        Some("Carol@Example.com")
    );
}

#[tokio::test]
async fn usernames_passwords_and_duplicates_are_refused_alike() {
    let f = fixture().await;
    let operator = Caller::operator();
    let good = Secret::new(PASSWORD);
    let short = Secret::new("short");
    let cases = [
        ("bad name", &good, "username:"),
        ("dave", &short, "password:"),
    ];
    for (username, password, prefix) in cases {
        let refused = f
            .admin
            .create_user(&operator, account(username, None, password))
            .await;
        assert!(
            matches!(&refused, Err(AdminError::Invalid(m)) if m.starts_with(prefix)),
            "{username}: {refused:?}"
        );
    }
    user(&f, "erin").await;
    let again = f
        .admin
        .create_user(&operator, account("ERIN", None, &good))
        .await;
    assert!(matches!(again, Err(AdminError::Conflict(_))), "{again:?}");
    let created = events(&f, Action::CreateUser).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].details.as_deref(),
        Some(r#"{"username":"erin"}"#)
    );
}

#[tokio::test]
async fn the_first_administrator_is_made_once() {
    let f = fixture().await;
    let password = Secret::new(PASSWORD);
    let root = f
        .admin
        .init_administrator(&Caller::operator(), account("root", None, &password))
        .await
        .unwrap();
    assert_eq!(
        f.sql
            .roles_of_user(&root.id, chrono::Utc::now())
            .await
            .unwrap(),
        ["admin"]
    );
    let second = f.admin.check_administrator_init("second").await;
    assert!(
        matches!(&second, Err(AdminError::Conflict(m)) if m.contains("role grant admin")),
        "{second:?}"
    );
    let init = events(&f, Action::Init).await;
    assert_eq!(init.len(), 1);
    assert_eq!(init[0].actor, "cli");
}

#[tokio::test]
async fn admin_scopes_on_a_client_are_grants() {
    let f = fixture().await;
    let client_admin = holding(&[Permission::ClientsRead, Permission::ClientsWrite]);
    let reader = json!({
        "client_name": "reporting",
        "grant_types": ["client_credentials"],
        "scope": "admin:users:read",
    });
    let refused = f.admin.register_client(&client_admin, &reader).await;
    assert!(
        matches!(refused, Err(AdminError::Forbidden(_))),
        "{refused:?}"
    );

    let public = json!({
        "client_name": "spa",
        "token_endpoint_auth_method": "none",
        "redirect_uris": ["https://spa.example/cb"],
        "scope": "openid admin:users:read",
    });
    let refused = f.admin.register_client(&Caller::operator(), &public).await;
    assert!(
        matches!(&refused, Err(AdminError::Protocol(e)) if e.description.contains("confidential")),
        "{refused:?}"
    );
    let unknown = json!({ "grant_types": ["client_credentials"], "scope": "admin:users:delete" });
    let refused = f.admin.register_client(&Caller::operator(), &unknown).await;
    assert!(
        matches!(refused, Err(AdminError::Protocol(_))),
        "{refused:?}"
    );

    let registered = f
        .admin
        .register_client(&Caller::operator(), &reader)
        .await
        .unwrap();
    assert!(registered.client_secret.is_some());
    // Holding its powers is needed to touch it at all.
    let id = registered.client.id.0.as_str();
    let rotating = f.admin.rotate_client_secret(&client_admin, id).await;
    assert!(matches!(rotating, Err(AdminError::Forbidden(_))));
    let removing = f.admin.remove_client(&client_admin, id).await;
    assert!(matches!(removing, Err(AdminError::Forbidden(_))));
    assert!(f.admin.find_client(id).await.is_ok());
}

#[tokio::test]
async fn updating_a_client_replaces_its_metadata_through_client_metadata() {
    let f = fixture().await;
    let operator = Caller::operator();
    let public = json!({
        "client_name": "app",
        "token_endpoint_auth_method": "none",
        "redirect_uris": ["https://app.example/cb"],
    });
    let registered = f.admin.register_client(&operator, &public).await.unwrap();
    assert_eq!(registered.client_secret, None);
    let id = registered.client.id.0.clone();

    let confidential = json!({
        "client_name": "app v2",
        "redirect_uris": ["https://app.example/v2/cb"],
        "scope": "roles",
    });
    let updated = f
        .admin
        .update_client(&operator, &id, &confidential)
        .await
        .unwrap();
    let secret = updated
        .client_secret
        .expect("a new secret-based client gets a secret");
    let stored = f.admin.find_client(&id).await.unwrap();
    assert_eq!(stored.name, "app v2");
    assert_eq!(stored.redirect_uris, ["https://app.example/v2/cb"]);
    assert_eq!(
        stored.token_endpoint_auth_method,
        palisade_core::model::TokenEndpointAuthMethod::ClientSecretBasic
    );
    assert!(stored.scopes.iter().any(|s| s == "roles"));
    assert!(
        stored
            .secret_hash
            .as_ref()
            .is_some_and(|h| h.matches(&secret))
    );
    assert_eq!(stored.created_at, registered.client.created_at);

    let back = f
        .admin
        .update_client(&operator, &id, &public)
        .await
        .unwrap();
    assert_eq!(back.client_secret, None);
    assert_eq!(f.admin.find_client(&id).await.unwrap().secret_hash, None);
    let rotating = f.admin.rotate_client_secret(&operator, &id).await;
    assert!(
        matches!(rotating, Err(AdminError::Protocol(_))),
        "{rotating:?}"
    );
}

#[tokio::test]
async fn every_admin_action_is_one_event_shape() {
    let f = fixture().await;
    let operator = Caller::operator();
    let bob = user(&f, "bob").await;
    f.admin
        .create_role(
            &operator,
            "helpdesk",
            Some("front line"),
            &["users:read".into()],
        )
        .await
        .unwrap();
    f.admin
        .grant_role(&operator, &bob, "helpdesk", None)
        .await
        .unwrap();
    f.admin.unlock_user(&operator, &bob).await.unwrap();
    let expected = [
        (
            Action::CreateUser,
            format!("user:{}", bob.id),
            json!({ "username": "bob" }),
        ),
        (
            Action::CreateRole,
            "role:helpdesk".to_owned(),
            json!({ "permissions": ["users:read"] }),
        ),
        (
            Action::GrantRole,
            format!("user:{}", bob.id),
            json!({ "role": "helpdesk" }),
        ),
        (
            Action::UnlockUser,
            format!("user:{}", bob.id),
            json!({ "was_locked": false }),
        ),
    ];
    for (action, target, details) in expected {
        let written = events(&f, action).await;
        assert_eq!(written.len(), 1, "{action:?}");
        let e = &written[0];
        assert_eq!(e.actor, "cli");
        assert_eq!(e.outcome, AuditOutcome::Success);
        assert_eq!(e.target.as_deref(), Some(target.as_str()));
        let written: serde_json::Value =
            serde_json::from_str(e.details.as_deref().unwrap_or("null")).unwrap();
        assert_eq!(written, details, "{action:?}");
    }
}

#[tokio::test]
async fn a_missing_role_is_not_found_and_a_bad_name_is_refused() {
    let f = fixture().await;
    let operator = Caller::operator();
    let bob = user(&f, "bob").await;
    let missing = f.admin.grant_role(&operator, &bob, "nope", None).await;
    assert!(
        matches!(missing, Err(AdminError::NotFound(_))),
        "{missing:?}"
    );
    let bad = f.admin.create_role(&operator, "Bad Name", None, &[]).await;
    assert!(matches!(bad, Err(AdminError::Invalid(_))), "{bad:?}");
    let unknown = f
        .admin
        .create_role(&operator, "x", None, &["users:delete".into()])
        .await;
    assert!(
        matches!(&unknown, Err(AdminError::Invalid(m)) if m.contains("users:read")),
        "{unknown:?}"
    );
    let listed: Vec<Role> = f
        .admin
        .list_roles()
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.role)
        .collect();
    assert!(listed.iter().all(|r| r.name != "x"));
}

#[tokio::test]
async fn a_new_username_of_mixed_scripts_or_confusable_with_an_existing_one_is_refused() {
    let f = fixture().await;
    let operator = Caller::operator();
    let password = Secret::new(PASSWORD);
    user(&f, "alice").await;
    user(&f, "ace").await;
    type Expect = fn(&AdminResult<User>) -> bool;
    let cases: [(&str, Expect); 4] = [
        // Latin with a Cyrillic а: mixed scripts, refused whatever else exists.
        (
            "\u{0430}lice",
            |r| matches!(r, Err(AdminError::Invalid(m)) if m.starts_with("username:") && m.contains("one script")),
        ),
        // All Cyrillic, but it reads `ace`: the skeleton is taken.
        (
            "\u{0430}\u{0441}\u{0435}",
            |r| matches!(r, Err(AdminError::Conflict(m)) if m.contains("looks like an existing username")),
        ),
        // The same account in capitals or fullwidth letters.
        (
            "ALICE",
            |r| matches!(r, Err(AdminError::Conflict(m)) if m.contains("already exists")),
        ),
        (
            "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}",
            |r| matches!(r, Err(AdminError::Conflict(m)) if m.contains("already exists")),
        ),
    ];
    for (username, expected) in cases {
        let created = f
            .admin
            .create_user(&operator, account(username, None, &password))
            .await;
        assert!(expected(&created), "{username:?}: {created:?}");
        let bootstrapped = f
            .admin
            .init_administrator(&operator, account(username, None, &password))
            .await;
        assert!(bootstrapped.is_err(), "{username:?}: {bootstrapped:?}");
    }
    let names: Vec<String> = f
        .admin
        .list_users(None, 10, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.username.as_str().to_owned())
        .collect();
    assert_eq!(names, ["ace", "alice"]);
    assert_eq!(events(&f, Action::CreateUser).await.len(), 2);
}

#[tokio::test]
async fn hidden_characters_are_refused_in_every_string_an_admin_gives_people_to_read() {
    let f = fixture().await;
    let operator = Caller::operator();
    let password = Secret::new(PASSWORD);
    for hidden in [
        "\u{202E}", "\u{2066}", "\u{200B}", "\u{200D}", "\u{FEFF}", "\u{00AD}", "\u{2060}",
    ] {
        let shown = format!("Wastry{hidden}App");
        let created = f
            .admin
            .create_user(
                &operator,
                NewAccount {
                    display_name: Some(&shown),
                    ..account("dave", None, &password)
                },
            )
            .await;
        assert!(
            matches!(&created, Err(AdminError::Invalid(m)) if m.starts_with("display_name")),
            "{hidden:?}: {created:?}"
        );
        let email = format!("dave{hidden}@example.com");
        let created = f
            .admin
            .create_user(&operator, account("dave", Some(&email), &password))
            .await;
        assert!(
            matches!(&created, Err(AdminError::Invalid(m)) if m.starts_with("email")),
            "{hidden:?}: {created:?}"
        );
        let role = f
            .admin
            .create_role(&operator, "helpdesk", Some(&shown), &[])
            .await;
        assert!(
            matches!(&role, Err(AdminError::Invalid(m)) if m.starts_with("description")),
            "{hidden:?}: {role:?}"
        );
        let client = f
            .admin
            .register_client(
                &operator,
                &json!({"client_name": shown, "redirect_uris": ["https://rp.example/cb"]}),
            )
            .await;
        assert!(
            matches!(&client, Err(AdminError::Protocol(e)) if e.code == ErrorCode::InvalidClientMetadata),
            "{hidden:?}: {client:?}"
        );
    }
    assert!(f.admin.list_users(None, 10, 0).await.unwrap().is_empty());
    assert!(f.admin.list_clients().await.unwrap().is_empty());
    assert!(f.sql.find_role(&role("helpdesk")).await.unwrap().is_none());
}

fn totp_factor(id: &str, user: &User) -> palisade_core::factor::Factor {
    palisade_core::factor::Factor {
        id: palisade_core::factor::FactorId(id.into()),
        user_id: user.id.clone(),
        kind: palisade_core::factor::FactorKind::Totp,
        name: "Phone".into(),
        credential: "eyJhbGciOiJkaXIi.sealed.jwe".into(),
        master_key_id: Some("m1".into()),
        credential_id: None,
        last_used_step: None,
        created_at: chrono::Utc::now(),
        last_used_at: None,
    }
}

/// Two factors, ten recovery codes and a refresh-token family for `user`.
async fn enrolled(f: &Fixture, user: &User) -> String {
    use palisade_core::TokenHash;
    f.sql.insert_factor(totp_factor("t1", user)).await.unwrap();
    f.sql
        .insert_factor(palisade_core::factor::Factor {
            id: palisade_core::factor::FactorId(format!("p-{}", user.id)),
            kind: palisade_core::factor::FactorKind::Passkey,
            name: "YubiKey".into(),
            credential: r#"{"cred":{}}"#.into(),
            master_key_id: None,
            credential_id: Some(format!("cred-{}", user.id)),
            ..totp_factor("unused", user)
        })
        .await
        .unwrap();
    let codes = (0..10)
        .map(|i| TokenHash::of(&format!("code{i}")))
        .collect();
    f.sql
        .replace_recovery_codes(&user.id, codes, chrono::Utc::now())
        .await
        .unwrap();
    let client = f
        .admin
        .register_client(
            &Caller::operator(),
            &json!({"redirect_uris": ["https://app.example/cb"]}),
        )
        .await
        .unwrap()
        .client;
    let family = format!("family-{}", user.id);
    let now = chrono::Utc::now();
    f.sql
        .insert_refresh_token_family(palisade_core::model::RefreshTokenFamily {
            id: family.clone(),
            client_id: client.id,
            user_id: Some(user.id.clone()),
            scopes: vec!["openid".into(), "offline_access".into()],
            grant: "{}".into(),
            current_hash: TokenHash::of(&family),
            previous_hash: None,
            rotated_at: None,
            created_at: now,
            expires_at: now + chrono::Duration::hours(1),
            revoked_at: None,
        })
        .await
        .unwrap();
    family
}

#[tokio::test]
async fn resetting_a_users_factors_deletes_them_and_their_codes_and_ends_every_session() {
    let f = fixture().await;
    let bob = user(&f, "bob").await;
    let carol = user(&f, "carol").await;
    let family = enrolled(&f, &bob).await;
    f.sql
        .insert_factor(totp_factor("t-carol", &carol))
        .await
        .unwrap();

    let listed = f.admin.user_factors(&bob).await.unwrap();
    let kinds: Vec<&str> = listed.factors.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(kinds.len(), 2);
    assert!(kinds.contains(&"totp") && kinds.contains(&"passkey"));
    assert_eq!(listed.recovery_codes_left, 10);
    assert!(
        events(&f, Action::ReadUser).await.is_empty(),
        "reading is not audited"
    );

    let helpdesk = holding(&[Permission::UsersRead, Permission::UsersWrite]);
    let reset = f.admin.reset_factors(&helpdesk, &bob).await.unwrap();
    assert_eq!(
        reset,
        factors::MfaReset {
            factors_deleted: 2,
            refresh_token_families_revoked: 1
        }
    );
    let after = f.admin.user_factors(&bob).await.unwrap();
    assert!(after.factors.is_empty());
    assert_eq!(after.recovery_codes_left, 0);
    // Like a password reset: every sign-in so far is void.
    let bob_now = f.admin.find_user(&bob.id).await.unwrap();
    assert!(bob_now.sessions_revoked_at.is_some());
    let revoked = f
        .sql
        .find_refresh_token_family_by_id(&family)
        .await
        .unwrap()
        .unwrap();
    assert!(revoked.revoked_at.is_some());
    // Nobody else's.
    assert_eq!(f.admin.user_factors(&carol).await.unwrap().factors.len(), 1);
    assert!(
        f.admin
            .find_user(&carol.id)
            .await
            .unwrap()
            .sessions_revoked_at
            .is_none()
    );

    let written = events(&f, Action::ResetUserMfa).await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].action, "admin.user.mfa.reset");
    assert_eq!(written[0].actor, "user:helper");
    assert_eq!(written[0].outcome, AuditOutcome::Success);
    assert_eq!(
        written[0].target.as_deref(),
        Some(format!("user:{}", bob.id).as_str())
    );
    let details: serde_json::Value =
        serde_json::from_str(written[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(
        details,
        json!({"factors_deleted": 2, "refresh_token_families_revoked": 1})
    );

    // Nothing left to reset is not an error.
    let again = f.admin.reset_factors(&helpdesk, &bob).await.unwrap();
    assert_eq!(again.factors_deleted, 0);
}

#[tokio::test]
async fn a_user_admin_cannot_reset_an_administrators_factors() {
    let f = fixture().await;
    let root = user(&f, "root").await;
    f.admin
        .grant_role(&Caller::operator(), &root, "admin", None)
        .await
        .unwrap();
    enrolled(&f, &root).await;
    let user_admin = holding(&[
        Permission::UsersRead,
        Permission::UsersWrite,
        Permission::RolesRead,
    ]);
    let refused = f.admin.reset_factors(&user_admin, &root).await.unwrap_err();
    assert!(matches!(refused, AdminError::Forbidden(_)), "{refused:?}");
    let kept = f.admin.user_factors(&root).await.unwrap();
    assert_eq!(kept.factors.len(), 2);
    assert_eq!(kept.recovery_codes_left, 10);
    assert!(
        f.admin
            .find_user(&root.id)
            .await
            .unwrap()
            .sessions_revoked_at
            .is_none()
    );
    let written = events(&f, Action::ResetUserMfa).await;
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].outcome, AuditOutcome::Failure);
}

#[tokio::test]
async fn requiring_mfa_of_a_role_needs_every_permission_the_role_carries() {
    let f = fixture().await;
    let operator = Caller::operator();
    let bob = user(&f, "bob").await;
    f.admin
        .create_role(&operator, "helpdesk", None, &["users:read".into()])
        .await
        .unwrap();
    f.admin
        .grant_role(&operator, &bob, "helpdesk", None)
        .await
        .unwrap();

    let role_admin = holding(&[Permission::RolesRead, Permission::RolesWrite]);
    let refused = f
        .admin
        .set_role_requires_mfa(&role_admin, "helpdesk", true)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AdminError::Forbidden(m) if m.contains("users:read")),
        "{refused:?}"
    );
    assert!(
        !f.sql
            .roles_require_mfa(&bob.id, chrono::Utc::now())
            .await
            .unwrap()
    );

    let role_and_user_admin = holding(&[
        Permission::RolesRead,
        Permission::RolesWrite,
        Permission::UsersRead,
    ]);
    let details = f
        .admin
        .set_role_requires_mfa(&role_and_user_admin, "helpdesk", true)
        .await
        .unwrap();
    assert!(details.role.require_mfa);
    assert_eq!(details.permissions, [Permission::UsersRead]);
    assert!(f.admin.find_role("helpdesk").await.unwrap().require_mfa);
    assert!(
        f.sql
            .roles_require_mfa(&bob.id, chrono::Utc::now())
            .await
            .unwrap()
    );
    let listed = f.admin.list_roles().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|r| r.role.name == "helpdesk" && r.role.require_mfa)
    );

    let off = f
        .admin
        .set_role_requires_mfa(&role_and_user_admin, "helpdesk", false)
        .await
        .unwrap();
    assert!(!off.role.require_mfa);
    assert!(
        !f.sql
            .roles_require_mfa(&bob.id, chrono::Utc::now())
            .await
            .unwrap()
    );

    let missing = f
        .admin
        .set_role_requires_mfa(&operator, "nobody", true)
        .await
        .unwrap_err();
    assert!(matches!(missing, AdminError::NotFound(_)), "{missing:?}");

    let written = events(&f, Action::SetRoleMfa).await;
    let outcomes: Vec<(AuditOutcome, Option<String>)> = written
        .iter()
        .map(|e| (e.outcome, e.details.clone()))
        .collect();
    assert_eq!(written.len(), 3, "{outcomes:?}");
    assert!(
        written
            .iter()
            .all(|e| e.action == "admin.role.mfa" && e.target.as_deref() == Some("role:helpdesk"))
    );
    // Newest first.
    assert_eq!(written[0].details.as_deref(), Some(r#"{"required":false}"#));
    assert_eq!(written[1].details.as_deref(), Some(r#"{"required":true}"#));
    assert_eq!(written[2].outcome, AuditOutcome::Failure);
}

#[tokio::test]
async fn a_client_requires_mfa_when_registered_or_updated_with_it() {
    let f = fixture().await;
    let operator = Caller::operator();
    let strict = json!({
        "client_name": "payroll",
        "redirect_uris": ["https://payroll.example/cb"],
        "require_mfa": true,
    });
    let registered = f.admin.register_client(&operator, &strict).await.unwrap();
    let id = registered.client.id.0.clone();
    assert!(f.admin.find_client(&id).await.unwrap().require_mfa);

    let lax = json!({"client_name": "payroll", "redirect_uris": ["https://payroll.example/cb"]});
    f.admin.update_client(&operator, &id, &lax).await.unwrap();
    assert!(!f.admin.find_client(&id).await.unwrap().require_mfa);
    f.admin
        .update_client(&operator, &id, &strict)
        .await
        .unwrap();
    assert!(f.admin.find_client(&id).await.unwrap().require_mfa);

    let wrong = json!({"redirect_uris": ["https://x.example/cb"], "require_mfa": "yes"});
    let refused = f
        .admin
        .register_client(&operator, &wrong)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, AdminError::Protocol(e) if e.code == ErrorCode::InvalidClientMetadata),
        "{refused:?}"
    );
    let created = events(&f, Action::CreateClient).await;
    let details: serde_json::Value =
        serde_json::from_str(created[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(details["require_mfa"], json!(true));
}
