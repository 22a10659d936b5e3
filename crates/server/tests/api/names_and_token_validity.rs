//! Names people read and tokens resource servers check, over HTTP: usernames per RFC 8265 and
//! UTS #39 at the admin API and the login form, hidden characters in client names at
//! registration and the admin API (docs/threat-model.md AD-06, RG-08), a token granted no scope
//! at introspection, and a removed client's token at userinfo (UI-04).

use crate::admin_api::{admin_client, call, claims_of, tokens_for};
use crate::harness::{TestApp, spawn_app, spawn_app_with};
use crate::support::{ClientSpec, create_user, register_client, sign_in_and_redeem};
use palisade_core::model::{ClientId, RoleName};
use palisade_core::ports::RoleRepository;
use palisade_flow::registration::RegistrationMode;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn open_app() -> TestApp {
    spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Open;
        s.registration.max_per_minute = 10_000;
    })
    .await
}

/// An administrator's access token for the admin API.
async fn admin_token(app: &TestApp) -> String {
    let client = admin_client(app).await;
    let root = create_user(app, "root").await;
    app.state
        .sql
        .grant_role(&RoleName::parse("admin").unwrap(), &root)
        .await
        .unwrap();
    let tokens = tokens_for(app, &client, "root", "openid admin").await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn usernames(app: &TestApp, token: &str) -> Vec<String> {
    let listed = call(app, "GET", "/admin/v1/users?limit=100", Some(token), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    listed.body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_admin_api_refuses_a_new_username_confusable_with_an_existing_one() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let create =
        |username: &str| json!({ "username": username, "password": "a long enough password" });
    for username in ["alice", "ace"] {
        let created = call(
            &app,
            "POST",
            "/admin/v1/users",
            Some(&token),
            Some(&create(username)),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    }
    let before = usernames(&app, &token).await;
    let cases = [
        // Latin with a Cyrillic а: two scripts in one name.
        (
            "\u{0430}lice",
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "one script",
        ),
        // All Cyrillic, reading `ace`: the UTS #39 skeleton is taken.
        (
            "\u{0430}\u{0441}\u{0435}",
            StatusCode::CONFLICT,
            "conflict",
            "looks like an existing username",
        ),
        // RFC 8265: the same account in capitals or in fullwidth letters.
        ("ALICE", StatusCode::CONFLICT, "conflict", "already exists"),
        (
            "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}",
            StatusCode::CONFLICT,
            "conflict",
            "already exists",
        ),
    ];
    for (username, status, error, says) in cases {
        let refused = call(
            &app,
            "POST",
            "/admin/v1/users",
            Some(&token),
            Some(&create(username)),
        )
        .await;
        assert_eq!(refused.status, status, "{username:?}: {:?}", refused.body);
        assert_eq!(refused.body["error"], error, "{username:?}");
        let description = refused.body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{username:?}: {description}");
    }
    assert_eq!(usernames(&app, &token).await, before);
    assert_eq!(before, ["ace", "alice", "root"]);
}

#[tokio::test]
async fn signing_in_as_alice_in_capitals_or_fullwidth_letters_is_alice() {
    let app = spawn_app().await;
    let alice = create_user(&app, "alice").await;
    let client = register_client(&app, ClientSpec::default()).await;
    for typed in ["ALICE", "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}"] {
        let (_, tokens) = sign_in_and_redeem(&app, &client, typed, &[]).await;
        let id_token = tokens["id_token"].as_str().unwrap();
        assert_eq!(claims_of(id_token)["sub"], alice.0.as_str(), "{typed:?}");
    }
}

#[tokio::test]
async fn client_names_with_bidi_or_zero_width_characters_are_invalid_client_metadata() {
    let app = open_app().await;
    let token = admin_token(&app).await;
    let count = |app: &TestApp| {
        let token = token.clone();
        let url = app.url("/admin/v1/clients");
        async move {
            let listed: Value = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            listed["clients"].as_array().map_or(0, Vec::len)
        }
    };
    let before = count(&app).await;
    for hidden in [
        "\u{202E}", "\u{2067}", "\u{200B}", "\u{200D}", "\u{FEFF}", "\u{00AD}",
    ] {
        let metadata = json!({
            "client_name": format!("Wastry{hidden}App"),
            "redirect_uris": ["https://rp.example/cb"],
        });
        let registered = app
            .client
            .post(app.url("/register"))
            .json(&metadata)
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), StatusCode::BAD_REQUEST, "{hidden:?}");
        let body: Value = registered.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client_metadata", "{hidden:?}");

        let by_admin = call(
            &app,
            "POST",
            "/admin/v1/clients",
            Some(&token),
            Some(&metadata),
        )
        .await;
        assert_eq!(by_admin.status, StatusCode::BAD_REQUEST, "{hidden:?}");
        assert_eq!(
            by_admin.body["error"], "invalid_client_metadata",
            "{hidden:?}"
        );
    }
    assert_eq!(count(&app).await, before);
}

/// The bug of issue 13, end to end: RFC 7662 §2.2 says `scope` is an RFC 6749 §3.3 list (one
/// token at least), so a token granted no scope is active and has no `scope` member.
#[tokio::test]
async fn a_self_registered_machine_client_without_scopes_gets_a_token_introspection_calls_active() {
    let app = open_app().await;
    let registered: Value = app
        .client
        .post(app.url("/register"))
        .json(&json!({ "grant_types": ["client_credentials"], "client_name": "Robot" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["client_id"].as_str().unwrap();
    let secret = registered["client_secret"].as_str().unwrap();
    let issued = app
        .client
        .post(app.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(issued.status(), StatusCode::OK);
    let issued: Value = issued.json().await.unwrap();
    assert!(
        issued.get("scope").is_none(),
        "an empty scope is not a scope list: {issued}"
    );
    let access_token = issued["access_token"].as_str().unwrap();

    let described: Value = app
        .client
        .post(app.url("/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", access_token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(described["active"], true, "{described}");
    assert_eq!(described["client_id"], id);
    assert!(described.get("scope").is_none(), "{described}");
}

#[tokio::test]
async fn userinfo_refuses_the_token_of_a_client_that_was_removed() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = register_client(&app, ClientSpec::default()).await;
    let tokens = tokens_for(&app, &client, "alice", "openid profile").await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let userinfo = || {
        app.client
            .get(app.url("/userinfo"))
            .bearer_auth(access_token)
            .send()
    };
    assert_eq!(userinfo().await.unwrap().status(), StatusCode::OK);

    app.state
        .engine
        .clients
        .delete_client(&ClientId(client.id.clone()))
        .await
        .unwrap();
    let refused = userinfo().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}
