//! Second factors as operators manage them (issue 14): `palisade user mfa list|reset`,
//! `palisade role require-mfa`, `palisade client add --require-mfa` / `client require-mfa`, the
//! admin API's factor and role-MFA routes, `require_mfa` in RFC 7591 registration, and
//! `palisade keys rewrap` refusing a TOTP secret no configured master key opens. Factors
//! are planted through the store: enrolling them is the sign-in engine's, tested with it.

use crate::admin_api::{admin_client, call, user_with_roles};
use crate::cli::{failed, palisade, stderr, succeeded};
use crate::harness::{TEST_MASTER_KEY, spawn_app, spawn_app_with};
use crate::keys::keys_command;
use crate::support::create_user;
use chrono::Utc;
use palisade::config::RegistrationMode;
use palisade_core::TokenHash;
use palisade_core::factor::{Factor, FactorId, FactorKind};
use palisade_core::model::{AuditQuery, ClientId, Role, RoleName, UserId, Username};
use palisade_core::ports::{
    AuditLog, ClientRepository, FactorRepository, RoleRepository, SecretSealer, UserRepository,
};
use palisade_keys::{MasterKey, MasterKeySet};
use palisade_store::SqlStore;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What a factor's stored secret looks like; no answer may show it.
const SEALED: &str = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..c2VhbGVk.c2VjcmV0.dGFn";

/// A TOTP authenticator and a passkey for `user`, and ten recovery codes of which one is used.
async fn enrol(store: &SqlStore, user: &UserId) {
    let now = Utc::now();
    let totp = Factor {
        id: FactorId(uuid::Uuid::new_v4().to_string()),
        user_id: user.clone(),
        kind: FactorKind::Totp,
        name: "Phone".into(),
        credential: SEALED.into(),
        master_key_id: Some("master-1".into()),
        credential_id: None,
        last_used_step: Some(58_000_000),
        created_at: now,
        last_used_at: Some(now),
    };
    store.insert_factor(totp.clone()).await.unwrap();
    store
        .insert_factor(Factor {
            id: FactorId(uuid::Uuid::new_v4().to_string()),
            kind: FactorKind::Passkey,
            name: "YubiKey".into(),
            credential: r#"{"cred":{"cred_id":"secret-looking"}}"#.into(),
            master_key_id: None,
            credential_id: Some(format!("credential-of-{user}")),
            last_used_step: None,
            last_used_at: None,
            ..totp
        })
        .await
        .unwrap();
    let codes: Vec<TokenHash> = (0..10)
        .map(|i| TokenHash::of(&format!("{user}-code-{i}")))
        .collect();
    let used = codes[0].clone();
    store
        .replace_recovery_codes(user, codes, now)
        .await
        .unwrap();
    assert!(store.consume_recovery_code(user, &used, now).await.unwrap());
}

#[tokio::test]
async fn the_cli_lists_and_resets_a_users_factors_and_ends_their_sessions() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    succeeded(palisade(
        &db,
        dir.path(),
        &["user", "add", "bob", "--password-stdin"],
        "a long enough password\n",
    ));
    let store = db.open().await;
    let bob = store
        .find_user_by_username(&Username::parse("bob").unwrap())
        .await
        .unwrap()
        .unwrap();
    enrol(&store, &bob.id).await;

    let listing = succeeded(palisade(
        &db,
        dir.path(),
        &["user", "mfa", "list", "bob"],
        "",
    ));
    assert!(
        listing.contains("totp") && listing.contains("Phone"),
        "{listing}"
    );
    assert!(
        listing.contains("passkey") && listing.contains("YubiKey"),
        "{listing}"
    );
    assert!(listing.contains("never"), "the unused passkey: {listing}");
    assert!(listing.contains("recovery codes left: 9"), "{listing}");
    assert!(
        !listing.contains(SEALED) && !listing.contains("credential-of-"),
        "{listing}"
    );

    let reset = succeeded(palisade(
        &db,
        dir.path(),
        &["user", "mfa", "reset", "bob"],
        "",
    ));
    assert!(reset.contains("2 factors"), "{reset}");
    assert!(store.list_factors(&bob.id).await.unwrap().is_empty());
    assert_eq!(store.remaining_recovery_codes(&bob.id).await.unwrap(), 0);
    let bob_now = store.find_user_by_id(&bob.id).await.unwrap().unwrap();
    assert!(
        bob_now.sessions_revoked_at.is_some(),
        "a reset ends every session"
    );
    let events = store
        .query(AuditQuery {
            action: Some("admin.user.mfa.reset".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, "cli");
    assert_eq!(events[0].target, Some(format!("user:{}", bob.id)));

    let empty = succeeded(palisade(
        &db,
        dir.path(),
        &["user", "mfa", "list", "bob"],
        "",
    ));
    assert!(empty.contains("recovery codes left: 0"), "{empty}");
    let missing = failed(palisade(
        &db,
        dir.path(),
        &["user", "mfa", "reset", "nobody"],
        "",
    ));
    assert!(missing.contains("no user named nobody"), "{missing}");
}

#[tokio::test]
async fn the_cli_requires_mfa_of_a_role_and_of_a_client_and_turns_it_off() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let store = db.open().await;
    succeeded(palisade(&db, dir.path(), &["role", "add", "ops"], ""));
    let ops = RoleName::parse("ops").unwrap();

    succeeded(palisade(
        &db,
        dir.path(),
        &["role", "require-mfa", "ops"],
        "",
    ));
    assert!(store.find_role(&ops).await.unwrap().unwrap().require_mfa);
    let listing = succeeded(palisade(&db, dir.path(), &["role", "list"], ""));
    let line = |name: &str| {
        listing
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("{name} in {listing}"))
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_eq!(line("ROLE"), "REQUIRE_MFA");
    assert_eq!(line("ops"), "yes");
    assert_eq!(line("admin"), "no");

    succeeded(palisade(
        &db,
        dir.path(),
        &["role", "require-mfa", "ops", "--off"],
        "",
    ));
    assert!(!store.find_role(&ops).await.unwrap().unwrap().require_mfa);
    let missing = failed(palisade(
        &db,
        dir.path(),
        &["role", "require-mfa", "ghost"],
        "",
    ));
    assert!(missing.contains("no role named ghost"), "{missing}");

    let added = succeeded(palisade(
        &db,
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "Payroll",
            "--redirect-uri",
            "https://payroll.example/cb",
            "--require-mfa",
        ],
        "",
    ));
    let client_id = added
        .lines()
        .find_map(|l| l.strip_prefix("client_id: "))
        .unwrap()
        .to_owned();
    let id = ClientId(client_id.clone());
    let before = store.find_client(&id).await.unwrap().unwrap();
    assert!(before.require_mfa);
    let shown = succeeded(palisade(
        &db,
        dir.path(),
        &["client", "show", &client_id],
        "",
    ));
    assert!(shown.contains("require_mfa:                yes"), "{shown}");

    succeeded(palisade(
        &db,
        dir.path(),
        &["client", "require-mfa", &client_id, "--off"],
        "",
    ));
    let after = store.find_client(&id).await.unwrap().unwrap();
    assert!(!after.require_mfa);
    // Nothing else changed: not the secret, not the redirect URIs.
    let mut expected = before.clone();
    expected.require_mfa = false;
    assert_eq!(after, expected);
    succeeded(palisade(
        &db,
        dir.path(),
        &["client", "require-mfa", &client_id],
        "",
    ));
    assert!(store.find_client(&id).await.unwrap().unwrap().require_mfa);

    let plain = succeeded(palisade(
        &db,
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "Wiki",
            "--redirect-uri",
            "https://wiki.example/cb",
        ],
        "",
    ));
    let plain_id = plain
        .lines()
        .find_map(|l| l.strip_prefix("client_id: "))
        .unwrap();
    assert!(
        !store
            .find_client(&ClientId(plain_id.into()))
            .await
            .unwrap()
            .unwrap()
            .require_mfa
    );
}

#[tokio::test]
async fn the_admin_api_lists_and_resets_factors_by_permission() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (root, admin_token) = user_with_roles(&app, &client, "root", &["admin"]).await;
    let (_, auditor_token) = user_with_roles(&app, &client, "watcher", &["auditor"]).await;
    let (_, user_admin_token) = user_with_roles(&app, &client, "helper", &["user-admin"]).await;
    let bob = create_user(&app, "bob").await;
    enrol(&app.state.sql, &bob).await;
    enrol(&app.state.sql, &root).await;
    let path = format!("/admin/v1/users/{bob}/factors");

    // users:read is enough to look.
    let listed = call(&app, "GET", &path, Some(&auditor_token), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["recovery_codes_left"], 9);
    let factors = listed.body["factors"].as_array().unwrap();
    assert_eq!(factors.len(), 2);
    let by_kind = |kind: &str| factors.iter().find(|f| f["kind"] == kind).unwrap();
    assert_eq!(by_kind("totp")["name"], "Phone");
    assert_eq!(by_kind("passkey")["name"], "YubiKey");
    assert!(by_kind("totp")["last_used_at"].is_string());
    assert!(by_kind("passkey")["last_used_at"].is_null());
    for f in factors {
        let mut members: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
        members.sort_unstable();
        assert_eq!(
            members,
            ["created_at", "id", "kind", "last_used_at", "name"],
            "only these, never the credential"
        );
    }
    let text = listed.body.to_string();
    assert!(!text.contains(SEALED) && !text.contains("credential-of-"));

    // Resetting needs users:write ...
    let refused = call(&app, "DELETE", &path, Some(&auditor_token), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.body["error"], "insufficient_scope");
    // ... and every permission the user holds: a user-admin cannot reset an administrator.
    let root_path = format!("/admin/v1/users/{root}/factors");
    let refused = call(&app, "DELETE", &root_path, Some(&user_admin_token), None).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(app.state.sql.list_factors(&root).await.unwrap().len(), 2);
    assert_eq!(
        app.state.sql.list_factors(&bob).await.unwrap().len(),
        2,
        "nothing was reset"
    );

    let reset = call(&app, "DELETE", &path, Some(&user_admin_token), None).await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT, "{}", reset.body);
    let after = call(&app, "GET", &path, Some(&admin_token), None).await;
    assert_eq!(
        after.body,
        json!({ "factors": [], "recovery_codes_left": 0 })
    );
    let bob_now = app.state.sql.find_user_by_id(&bob).await.unwrap().unwrap();
    assert!(bob_now.sessions_revoked_at.is_some());
    // Again: nothing left, still 204.
    let again = call(&app, "DELETE", &path, Some(&admin_token), None).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);

    let unknown = call(
        &app,
        "GET",
        "/admin/v1/users/no-such-user/factors",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let events = app
        .state
        .sql
        .query(AuditQuery {
            action: Some("admin.user.mfa.reset".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let outcomes: Vec<&str> = events.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["success", "success", "failure", "failure"]);
}

#[tokio::test]
async fn the_admin_api_sets_role_mfa_and_carries_require_mfa_in_role_and_client_json() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (_, admin_token) = user_with_roles(&app, &client, "root", &["admin"]).await;
    let (_, auditor_token) = user_with_roles(&app, &client, "watcher", &["auditor"]).await;
    app.state
        .sql
        .insert_role(Role {
            name: RoleName::parse("helpdesk").unwrap(),
            description: None,
            require_mfa: false,
        })
        .await
        .unwrap();
    let path = "/admin/v1/roles/helpdesk/mfa";

    let on = call(
        &app,
        "PUT",
        path,
        Some(&admin_token),
        Some(&json!({ "required": true })),
    )
    .await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);
    assert_eq!(on.body["name"], "helpdesk");
    assert_eq!(on.body["require_mfa"], true);
    let roles = call(&app, "GET", "/admin/v1/roles", Some(&auditor_token), None).await;
    let require_mfa = |name: &str| {
        roles.body["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()["require_mfa"]
            .clone()
    };
    assert_eq!(require_mfa("helpdesk"), true);
    assert_eq!(require_mfa("admin"), false);

    let refused = call(
        &app,
        "PUT",
        path,
        Some(&auditor_token),
        Some(&json!({ "required": false })),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    for wrong in [
        json!({ "required": "no" }),
        json!({}),
        json!({ "required": false, "permissions": [] }),
    ] {
        let answer = call(&app, "PUT", path, Some(&admin_token), Some(&wrong)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{wrong}");
        assert_eq!(answer.body["error"], "invalid_request", "{wrong}");
    }
    let helpdesk = RoleName::parse("helpdesk").unwrap();
    assert!(
        app.state
            .sql
            .find_role(&helpdesk)
            .await
            .unwrap()
            .unwrap()
            .require_mfa
    );
    let off = call(
        &app,
        "PUT",
        path,
        Some(&admin_token),
        Some(&json!({ "required": false })),
    )
    .await;
    assert_eq!(off.body["require_mfa"], false);
    let missing = call(
        &app,
        "PUT",
        "/admin/v1/roles/ghost/mfa",
        Some(&admin_token),
        Some(&json!({ "required": true })),
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Clients: require_mfa in the metadata and in the answer.
    let strict = json!({
        "client_name": "Payroll",
        "redirect_uris": ["https://payroll.example/cb"],
        "require_mfa": true,
    });
    let created = call(
        &app,
        "POST",
        "/admin/v1/clients",
        Some(&admin_token),
        Some(&strict),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["require_mfa"], true);
    let id = created.body["client_id"].as_str().unwrap().to_owned();
    let client_path = format!("/admin/v1/clients/{id}");
    let read = call(&app, "GET", &client_path, Some(&admin_token), None).await;
    assert_eq!(read.body["require_mfa"], true);
    let lax = json!({ "client_name": "Payroll", "redirect_uris": ["https://payroll.example/cb"] });
    let updated = call(&app, "PUT", &client_path, Some(&admin_token), Some(&lax)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
    assert_eq!(updated.body["require_mfa"], false);
    assert!(
        !app.state
            .sql
            .find_client(&ClientId(id))
            .await
            .unwrap()
            .unwrap()
            .require_mfa
    );
    let wrong = call(
        &app,
        "POST",
        "/admin/v1/clients",
        Some(&admin_token),
        Some(&json!({ "redirect_uris": ["https://x.example/cb"], "require_mfa": 1 })),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong.body["error"], "invalid_client_metadata");
}

#[tokio::test]
async fn registration_accepts_and_echoes_require_mfa() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Open;
        s.registration.max_per_minute = 10_000;
    })
    .await;
    let register = |body: Value| {
        let request = app.client.post(app.url("/register")).json(&body);
        async move {
            let res = request.send().await.unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap())
        }
    };

    let (status, created) = register(json!({
        "redirect_uris": ["https://rp.example/cb"],
        "require_mfa": true,
    }))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["require_mfa"], true);
    let id = ClientId(created["client_id"].as_str().unwrap().to_owned());
    assert!(
        app.state
            .sql
            .find_client(&id)
            .await
            .unwrap()
            .unwrap()
            .require_mfa
    );

    // RFC 7592: read echoes it; an update without it replaces it with the default.
    let uri = created["registration_client_uri"].as_str().unwrap();
    let token = created["registration_access_token"].as_str().unwrap();
    let read: Value = app
        .client
        .get(uri)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["require_mfa"], true);
    // The read answered with a new registration access token; the one used is spent.
    let token = read["registration_access_token"].as_str().unwrap();
    let updated = app
        .client
        .put(uri)
        .bearer_auth(token)
        .json(&json!({
            "client_id": id.0,
            "client_secret": created["client_secret"],
            "redirect_uris": ["https://rp.example/cb"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), StatusCode::OK);
    let updated: Value = updated.json().await.unwrap();
    assert_eq!(updated["require_mfa"], false);
    assert!(
        !app.state
            .sql
            .find_client(&id)
            .await
            .unwrap()
            .unwrap()
            .require_mfa
    );

    let (_, plain) = register(json!({ "redirect_uris": ["https://rp.example/cb"] })).await;
    assert_eq!(plain["require_mfa"], false);

    let before = app.state.sql.list_clients().await.unwrap().len();
    for wrong in [json!("true"), json!(1), json!({"on": true})] {
        let (status, refused) = register(json!({
            "redirect_uris": ["https://rp.example/cb"],
            "require_mfa": wrong,
        }))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
        assert_eq!(refused["error"], "invalid_client_metadata", "{wrong}");
    }
    assert_eq!(app.state.sql.list_clients().await.unwrap().len(), before);
}

/// The happy path is `keys::keys_rewrap_moves_every_key_to_a_new_master_key`; this is the
/// other one: a secret sealed under a master key this node lacks stops the run with a message
/// naming the factor and the key, before any factor is written.
#[tokio::test]
async fn keys_rewrap_names_a_totp_secret_no_configured_key_opens_and_writes_no_factor() {
    let db = TestDatabase::create().await;
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let old = MasterKey::from_base64(TEST_MASTER_KEY).unwrap();
    let new = MasterKey::from_bytes(std::array::from_fn(|i| 0x5c ^ i as u8));
    let new_base64 = new.to_base64().expose().to_owned();
    let stranger = MasterKey::from_bytes([7; 32]);
    let keys =
        |args: &[&str]| keys_command(&url, dir.path(), &new_base64, &[TEST_MASTER_KEY], args);
    // Signing keys (and the schema) under the old master key.
    assert!(
        keys_command(&url, dir.path(), TEST_MASTER_KEY, &[], &["list"])
            .status
            .success()
    );
    let store = db.open().await;
    let bob = create_user_in(&store, "bob").await;
    let seed = b"twenty bytes of seed".to_vec();
    // Whole seconds, as the store keeps them.
    let created_at = chrono::DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let totp_under = |key: &MasterKey, name: &str| {
        let sealed = MasterKeySet::single(key.clone())
            .seal("totp", &seed)
            .unwrap();
        Factor {
            id: FactorId(format!("totp-{name}")),
            user_id: bob.clone(),
            kind: FactorKind::Totp,
            name: name.into(),
            credential: sealed.ciphertext,
            master_key_id: Some(sealed.master_key_id),
            credential_id: None,
            last_used_step: None,
            created_at,
            last_used_at: None,
        }
    };
    let movable = totp_under(&old, "movable");
    let lost = totp_under(&stranger, "lost");
    store.insert_factor(movable.clone()).await.unwrap();
    store.insert_factor(lost.clone()).await.unwrap();

    let refused = keys(&["rewrap"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(
        err.contains(&lost.id.0) && err.contains(stranger.id()),
        "{err}"
    );
    let unchanged = store.list_factors(&bob).await.unwrap();
    let find = |id: &FactorId| unchanged.iter().find(|f| f.id == *id).unwrap().clone();
    assert_eq!(find(&movable.id), movable, "no factor was written");
    assert_eq!(find(&lost.id), lost);

    // Without the lost one, the rest moves.
    assert!(store.delete_factor(&bob, &lost.id, false).await.unwrap());
    let out = succeeded(keys(&["rewrap"]));
    assert!(out.contains("and 1 TOTP secret(s)"), "{out}");
    let moved = store.list_factors(&bob).await.unwrap();
    let moved = moved.iter().find(|f| f.id == movable.id).unwrap();
    assert_eq!(moved.master_key_id.as_deref(), Some(new.id()));
    assert_eq!(
        MasterKeySet::single(new.clone())
            .open("totp", &moved.credential)
            .unwrap(),
        seed
    );
}

/// A user straight in the store (the CLI's database may have no server in front of it).
async fn create_user_in(store: &SqlStore, username: &str) -> UserId {
    use palisade_core::model::{NewUser, PasswordHash};
    store
        .insert_user(NewUser {
            id: UserId(uuid::Uuid::new_v4().to_string()),
            username: Username::parse(username).unwrap(),
            email: None,
            display_name: None,
            password_hash: PasswordHash("$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA".into()),
            created_at: Utc::now(),
        })
        .await
        .unwrap()
        .id
}
