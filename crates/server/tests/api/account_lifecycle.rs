//! Account events over HTTP and at the command line: a password reset, "sign out everywhere",
//! disabling and deleting a user end every session, code, refresh token and access token the
//! user had, and enabling them again brings nothing back (docs/security.md "Account events").

use crate::admin_api::{admin_client, call, tokens_for};
use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app};
use crate::support::{
    Browser, ClientSpec, TestClient, create_user, pkce_pair, query_param, register_client,
    sign_in_and_redeem,
};
use palisade_core::model::{RoleName, UserId};
use palisade_core::ports::{RoleRepository, UserRepository};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// What alice holds after signing in to an application: a browser session, an access token and
/// a refresh token.
struct SignedIn {
    browser: Browser,
    access_token: String,
    refresh_token: String,
}

async fn signed_in(app: &TestApp, rp: &TestClient, username: &str) -> SignedIn {
    let (browser, tokens) = sign_in_and_redeem(
        app,
        rp,
        username,
        &[("scope", "openid profile offline_access")],
    )
    .await;
    SignedIn {
        browser,
        access_token: tokens["access_token"].as_str().unwrap().to_owned(),
        refresh_token: tokens["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Which of alice's credentials still work: (browser session, access token at introspection,
/// access token at userinfo, refresh token).
async fn what_still_works(app: &TestApp, rp: &TestClient, held: &SignedIn) -> [bool; 4] {
    let (_, challenge) = pkce_pair();
    let silent = authorize_url(app, rp, &challenge, &[("prompt", "none")]);
    let location = crate::support::location(&held.browser.get(&silent).await);
    let session = query_param(&location, "code").is_some();
    let introspected: Value = app
        .client
        .post(app.url("/introspect"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[("token", held.access_token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let userinfo = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&held.access_token)
        .send()
        .await
        .unwrap()
        .status()
        == StatusCode::OK;
    let refreshed = app
        .client
        .post(app.url("/token"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", held.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .status()
        == StatusCode::OK;
    [
        session,
        introspected["active"] == json!(true),
        userinfo,
        refreshed,
    ]
}

const ALL_WORK: [bool; 4] = [true; 4];
const NONE_WORK: [bool; 4] = [false; 4];

/// An administrator's access token.
async fn admin_token(app: &TestApp) -> String {
    let id = create_user(app, "root").await;
    app.state
        .sql
        .grant_role(&RoleName::parse("admin").unwrap(), &id)
        .await
        .unwrap();
    let client = admin_client(app).await;
    tokens_for(app, &client, "root", "openid admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A sign-in in the same second as an account event is void too (seconds are all `auth_time`
/// has): the clock moves on before alice signs in again.
fn a_second_later(app: &TestApp) {
    app.clock.advance(chrono::Duration::seconds(1));
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_grant_and_a_new_sign_in_works() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let token = admin_token(&app).await;
    let alice = create_user(&app, "alice").await;
    let held = signed_in(&app, &rp, "alice").await;
    assert_eq!(what_still_works(&app, &rp, &held).await, ALL_WORK);

    let reset = call(
        &app,
        "POST",
        &format!("/admin/v1/users/{alice}/password"),
        Some(&token),
        Some(&json!({ "password": "a brand new long password" })),
    )
    .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    assert_eq!(what_still_works(&app, &rp, &held).await, NONE_WORK);

    a_second_later(&app);
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let url = authorize_url(&app, &rp, &challenge, &[]);
    let login = crate::support::location(&browser.get(&url).await);
    let after = browser
        .log_in(&login, "alice", "a brand new long password")
        .await;
    assert_eq!(
        after.status(),
        StatusCode::SEE_OTHER,
        "the new password signs in"
    );
}

#[tokio::test]
async fn sign_out_everywhere_ends_everything_and_enabling_again_restores_nothing() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let token = admin_token(&app).await;
    let alice = create_user(&app, "alice").await;
    let user_path = format!("/admin/v1/users/{alice}");

    let held = signed_in(&app, &rp, "alice").await;
    let answer = call(
        &app,
        "POST",
        &format!("{user_path}/signout"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(what_still_works(&app, &rp, &held).await, NONE_WORK);

    a_second_later(&app);
    let held = signed_in(&app, &rp, "alice").await;
    assert_eq!(what_still_works(&app, &rp, &held).await, ALL_WORK);
    for verb in ["disable", "enable"] {
        let answer = call(
            &app,
            "POST",
            &format!("{user_path}/{verb}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{verb}");
    }
    assert_eq!(
        what_still_works(&app, &rp, &held).await,
        NONE_WORK,
        "enabling alice again brought her old sessions back"
    );
    let audit = call(
        &app,
        "GET",
        "/admin/v1/audit?action=admin.user.signout",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(audit.body["events"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn deleting_a_user_ends_everything_and_the_name_can_be_someone_new() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let token = admin_token(&app).await;
    let alice = create_user(&app, "alice").await;
    let held = signed_in(&app, &rp, "alice").await;

    let answer = call(
        &app,
        "DELETE",
        &format!("/admin/v1/users/{alice}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(what_still_works(&app, &rp, &held).await, NONE_WORK);
    assert!(
        app.state
            .sql
            .find_user_by_id(&alice)
            .await
            .unwrap()
            .is_none()
    );
    let again = call(
        &app,
        "DELETE",
        &format!("/admin/v1/users/{alice}"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    let new_alice = create_user(&app, "alice").await;
    assert_ne!(new_alice, alice);
    let held = signed_in(&app, &rp, "alice").await;
    assert_eq!(what_still_works(&app, &rp, &held).await, ALL_WORK);
}

#[tokio::test]
async fn an_administrator_cannot_delete_themselves() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let root = app
        .state
        .sql
        .find_user_by_username(&palisade_core::model::Username::parse("root").unwrap())
        .await
        .unwrap()
        .unwrap();
    let answer = call(
        &app,
        "DELETE",
        &format!("/admin/v1/users/{}", root.id),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{:?}", answer.body);
    assert!(
        app.state
            .sql
            .find_user_by_id(&root.id)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn the_command_line_signs_a_user_out_everywhere() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let _alice: UserId = create_user(&app, "alice").await;
    let held = signed_in(&app, &rp, "alice").await;

    let out = crate::cli::palisade(
        &app.database,
        app.data_dir.path(),
        &["user", "signout", "alice"],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    assert_eq!(what_still_works(&app, &rp, &held).await, NONE_WORK);

    let out = crate::cli::palisade(
        &app.database,
        app.data_dir.path(),
        &["user", "signout", "nobody"],
        "",
    );
    assert!(!out.status.success());
}
