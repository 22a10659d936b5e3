//! The self-service account console over HTTP: the profile (`/account`), the password panel
//! of `/account/security` and the connected applications (`/account/applications`). Every
//! refusal answers with the right page and changes nothing.

use crate::harness::{TestApp, spawn_app};
use crate::support::{
    Browser, ClientSpec, PASSWORD, TestClient, create_user, hidden, location, register_client,
    sign_in_and_redeem,
};
use palisade_core::model::{Email, Profile, UserId};
use palisade_core::ports::UserRepository;
use reqwest::StatusCode;
use serde_json::Value;

const NEW_PASSWORD: &str = "a much better passphrase";

/// A browser signed in to `rp` as `username`, and the refresh token `rp` got.
pub async fn signed_in(app: &TestApp, rp: &TestClient, username: &str) -> (Browser, String) {
    let (browser, tokens) = sign_in_and_redeem(
        app,
        rp,
        username,
        &[("scope", "openid profile offline_access")],
    )
    .await;
    (
        browser,
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// The page at `path` and its CSRF token.
async fn page(app: &TestApp, browser: &Browser, path: &str) -> (String, String) {
    let res = browser.get(&app.url(path)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    let html = res.text().await.unwrap();
    let csrf = hidden(&html, "csrf_token");
    (html, csrf)
}

/// The answer of `/token` to a refresh: the status and the `error`, if any.
pub async fn refresh(app: &TestApp, rp: &TestClient, token: &str) -> (StatusCode, Option<String>) {
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&rp.id, rp.secret.as_deref())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    (status, body["error"].as_str().map(str::to_owned))
}

async fn stored(app: &TestApp, id: &UserId) -> palisade_core::model::User {
    app.state.sql.find_user_by_id(id).await.unwrap().unwrap()
}

async fn post_cross_site(
    app: &TestApp,
    browser: &Browser,
    path: &str,
    form: &[(&str, &str)],
) -> StatusCode {
    browser
        .http
        .post(app.url(path))
        .header("origin", "https://evil.test")
        .form(form)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn the_profile_is_edited_in_one_form_and_a_refused_edit_changes_nothing() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let alice = create_user(&app, "alice").await;
    let verified = Profile {
        display_name: Some("alice Example".into()),
        email: Some(Email::parse("alice@example.com").unwrap()),
        email_verified: true,
    };
    app.state
        .sql
        .update_profile(&alice, &verified, chrono::Utc::now())
        .await
        .unwrap();
    let (browser, _) = signed_in(&app, &rp, "alice").await;
    let (html, csrf) = page(&app, &browser, "/account").await;
    assert!(html.contains(r#"<h1>Profile</h1>"#), "{html}");
    assert!(html.contains(r#"value="alice@example.com""#));
    assert!(
        html.contains(r#"<a href="/account" aria-current="page">Profile</a>"#)
            || html.contains(r#"aria-current="page">Profile</a>"#)
    );

    // Refused: a forged token, a foreign origin, an address that is none.
    let forged = browser
        .post_form(
            &app.url("/account"),
            &[
                ("csrf_token", "forged"),
                ("display_name", "Mallory"),
                ("email", "m@evil.test"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross = post_cross_site(
        &app,
        &browser,
        "/account",
        &[
            ("csrf_token", &csrf),
            ("display_name", "Mallory"),
            ("email", "m@evil.test"),
        ],
    )
    .await;
    assert_eq!(cross, StatusCode::FORBIDDEN);
    let invalid = browser
        .post_form(
            &app.url("/account"),
            &[
                ("csrf_token", &csrf),
                ("display_name", "Alice"),
                ("email", "not an address"),
            ],
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::OK);
    let html = invalid.text().await.unwrap();
    assert!(
        html.contains("Enter an email address like name@example.com."),
        "{html}"
    );
    assert!(html.contains(r#"aria-invalid="true""#));
    assert_eq!(
        stored(&app, &alice).await.email,
        verified.email,
        "no change"
    );
    assert_eq!(
        stored(&app, &alice).await.display_name,
        verified.display_name
    );

    // Saved: a new address is not verified any more.
    let saved = browser
        .post_form(
            &app.url("/account"),
            &[
                ("csrf_token", &csrf),
                ("display_name", "Alice Liddell"),
                ("email", "alice@wonderland.example"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    let html = saved.text().await.unwrap();
    assert!(html.contains("Your profile was saved."), "{html}");
    assert!(
        html.contains("Signed in as <strong>Alice Liddell</strong>"),
        "{html}"
    );
    let user = stored(&app, &alice).await;
    assert_eq!(user.display_name.as_deref(), Some("Alice Liddell"));
    assert_eq!(user.email.unwrap().as_str(), "alice@wonderland.example");
    assert!(!user.email_verified);
}

#[tokio::test]
async fn a_password_change_keeps_this_browser_and_ends_every_other_session_and_grant() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let alice = create_user(&app, "alice").await;
    let (here, _) = signed_in(&app, &rp, "alice").await;
    let (elsewhere, refresh_token) = signed_in(&app, &rp, "alice").await;
    let (html, csrf) = page(&app, &here, "/account/security").await;
    assert!(
        html.contains(r#"<h2 id="password-heading">Password</h2>"#),
        "{html}"
    );
    let hash_before = stored(&app, &alice).await.password_hash;
    let change = |current: &'static str, new: &'static str, repeated: &'static str| {
        let csrf = csrf.clone();
        let here = &here;
        let url = app.url("/account/security");
        async move {
            here.post_form(
                &url,
                &[
                    ("csrf_token", csrf.as_str()),
                    ("action", "password"),
                    ("current_password", current),
                    ("new_password", new),
                    ("repeat_password", repeated),
                ],
            )
            .await
        }
    };

    // Refused: a wrong current password, a weak or mistyped new one, a forged form.
    for (current, new, repeated, says) in [
        (
            "not my password",
            NEW_PASSWORD,
            NEW_PASSWORD,
            "the current password is not right",
        ),
        (
            PASSWORD,
            "password",
            "password",
            "one of the most common passwords",
        ),
        (PASSWORD, "short", "short", "at least 8 characters"),
        (
            PASSWORD,
            NEW_PASSWORD,
            "a much better passfrase",
            "the two new passwords are different",
        ),
    ] {
        let refused = change(current, new, repeated).await;
        assert_eq!(refused.status(), StatusCode::OK);
        assert!(refused.headers().get("set-cookie").is_none());
        let html = refused.text().await.unwrap();
        assert!(html.contains(says), "{says}: {html}");
        assert!(html.contains(r#"id="current-password" name="current_password" autocomplete="current-password" required aria-invalid="true""#));
    }
    let forged = here
        .post_form(
            &app.url("/account/security"),
            &[
                ("csrf_token", "forged"),
                ("action", "password"),
                ("current_password", PASSWORD),
                ("new_password", NEW_PASSWORD),
                ("repeat_password", NEW_PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross = post_cross_site(
        &app,
        &here,
        "/account/security",
        &[
            ("csrf_token", &csrf),
            ("action", "password"),
            ("current_password", PASSWORD),
            ("new_password", NEW_PASSWORD),
            ("repeat_password", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(cross, StatusCode::FORBIDDEN);
    assert_eq!(stored(&app, &alice).await.password_hash, hash_before);
    assert_eq!(refresh(&app, &rp, &refresh_token).await.0, StatusCode::OK);
    let (_, rotated) = {
        // The refresh above rotated the token: sign in again for one we hold.
        signed_in(&app, &rp, "alice").await
    };
    assert_eq!(
        elsewhere.get(&app.url("/account")).await.status(),
        StatusCode::OK
    );

    let changed = change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), StatusCode::OK);
    assert!(
        changed
            .headers()
            .get_all("set-cookie")
            .iter()
            .any(|c| c.to_str().unwrap().starts_with("palisade=")),
        "a fresh session cookie"
    );
    let html = changed.text().await.unwrap();
    assert!(
        html.contains("Your password was changed. Every other browser and every application"),
        "{html}"
    );
    assert_ne!(
        hidden(&html, "csrf_token"),
        csrf,
        "a new session, a new token"
    );
    assert_ne!(stored(&app, &alice).await.password_hash, hash_before);

    // This browser stays; the other one and the application's refresh token are out.
    assert_eq!(
        here.get(&app.url("/account/security")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        location(&elsewhere.get(&app.url("/account")).await),
        app.url("/account/sign-in?return=%2Faccount"),
        "the other browser is signed out"
    );
    assert_eq!(
        refresh(&app, &rp, &rotated).await,
        (StatusCode::BAD_REQUEST, Some("invalid_grant".into()))
    );
}

#[tokio::test]
async fn disconnecting_an_application_ends_its_refresh_token_and_a_stranger_changes_nothing() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let other = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (browser, refresh_token) = signed_in(&app, &rp, "alice").await;
    let (html, csrf) = page(&app, &browser, "/account/applications").await;
    assert!(html.contains("<strong>Example RP</strong>"), "{html}");
    assert!(html.contains("openid profile offline_access"), "{html}");
    assert!(html.contains(&format!(r#"name="client_id" value="{}""#, rp.id)));

    // Refused: a client alice never connected, a forged form, a foreign origin, no action.
    let stranger = browser
        .post_form(
            &app.url("/account/applications"),
            &[
                ("csrf_token", &csrf),
                ("action", "revoke"),
                ("client_id", &other.id),
            ],
        )
        .await;
    assert_eq!(stranger.status(), StatusCode::OK);
    let html = stranger.text().await.unwrap();
    assert!(
        html.contains("That application is not connected to your account; nothing was changed."),
        "{html}"
    );
    let forged = browser
        .post_form(
            &app.url("/account/applications"),
            &[
                ("csrf_token", "forged"),
                ("action", "revoke"),
                ("client_id", &rp.id),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross = post_cross_site(
        &app,
        &browser,
        "/account/applications",
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("client_id", &rp.id),
        ],
    )
    .await;
    assert_eq!(cross, StatusCode::FORBIDDEN);
    let unknown = browser
        .post_form(
            &app.url("/account/applications"),
            &[
                ("csrf_token", &csrf),
                ("action", "delete-everything"),
                ("client_id", &rp.id),
            ],
        )
        .await;
    assert!(
        unknown
            .text()
            .await
            .unwrap()
            .contains("That is not something this page does.")
    );
    let (status, _) = refresh(&app, &rp, &refresh_token).await;
    assert_eq!(status, StatusCode::OK, "still connected");
    let (_, refresh_token) = signed_in(&app, &rp, "alice").await;

    let revoked = browser
        .post_form(
            &app.url("/account/applications"),
            &[
                ("csrf_token", &csrf),
                ("action", "revoke"),
                ("client_id", &rp.id),
            ],
        )
        .await;
    assert_eq!(revoked.status(), StatusCode::OK);
    let html = revoked.text().await.unwrap();
    assert!(html.contains("Example RP was disconnected"), "{html}");
    assert!(
        html.contains("No application is connected to your account."),
        "{html}"
    );
    assert_eq!(
        refresh(&app, &rp, &refresh_token).await,
        (StatusCode::BAD_REQUEST, Some("invalid_grant".into()))
    );
}

/// `/account/sign-in` with `return` (and the step-up flag), URL-encoded.
fn sign_in_url(app: &TestApp, return_to: &str, second_factor: bool) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("return", return_to);
    if second_factor {
        query.append_pair("second_factor", "1");
    }
    app.url(&format!("/account/sign-in?{}", query.finish()))
}

#[tokio::test]
async fn a_signed_out_visitor_signs_in_and_comes_back_to_the_console_page() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let browser = Browser::new();
    let to_sign_in = location(&browser.get(&app.url("/account/applications?x=1")).await);
    assert_eq!(
        to_sign_in,
        app.url("/account/sign-in?return=%2Faccount%2Fapplications%3Fx%3D1")
    );
    let login = location(&browser.get(&to_sign_in).await);
    assert!(
        login.starts_with(&app.url("/login?interaction=")),
        "{login}"
    );
    let login_page = browser.get(&login).await.text().await.unwrap();
    assert!(
        login_page.contains("<strong>Palisade</strong>"),
        "{login_page}"
    );
    let back = location(&browser.log_in(&login, "alice", PASSWORD).await);
    assert_eq!(back, app.url("/account/applications?x=1"));
    assert_eq!(browser.get(&back).await.status(), StatusCode::OK);
    // Signed in, the sign-in goes straight back, with no consent page on the way.
    assert_eq!(
        location(
            &browser
                .get(&sign_in_url(&app, "/account/security", false))
                .await
        ),
        app.url("/account/security")
    );

    // A form posted without a session: to the sign-in, and back to the page (not the post).
    let stranger = Browser::new();
    let posted = stranger
        .post_form(
            &app.url("/account"),
            &[("csrf_token", "x"), ("display_name", "M")],
        )
        .await;
    assert_eq!(
        location(&posted),
        app.url("/account/sign-in?return=%2Faccount")
    );
}

#[tokio::test]
async fn the_console_sign_in_only_ever_returns_to_a_console_page() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let signed_in = Browser::new();
    for foreign in [
        "https://evil.example/account",
        "//evil.example/account",
        "/\\evil.example",
        "/account/../token",
        "/account/%2e%2e/token",
        "/accountant",
        "/authorize?client_id=x",
        "javascript:alert(1)",
        "",
    ] {
        let browser = Browser::new();
        let login = location(&browser.get(&sign_in_url(&app, foreign, false)).await);
        let back = location(&browser.log_in(&login, "alice", PASSWORD).await);
        assert_eq!(back, app.url("/account"), "{foreign:?}");
        if foreign.is_empty() {
            let login = location(&signed_in.get(&app.url("/account/sign-in")).await);
            signed_in.log_in(&login, "alice", PASSWORD).await;
        }
    }
    for foreign in ["https://evil.example/", "//evil.example", "/token"] {
        assert_eq!(
            location(&signed_in.get(&sign_in_url(&app, foreign, false)).await),
            app.url("/account"),
            "{foreign}"
        );
    }
}

#[tokio::test]
async fn the_admin_consoles_sign_in_steps_a_password_session_up_and_comes_back() {
    let app = spawn_app().await;
    create_user(&app, "root").await;
    let browser = Browser::new();
    let login = location(&browser.get(&sign_in_url(&app, "/account", false)).await);
    assert_eq!(
        location(&browser.log_in(&login, "root", PASSWORD).await),
        app.url("/account")
    );
    // The password session is not enough for a page that needs a second factor: root has
    // none, so the step-up enrols one, then comes back.
    let enrol = location(&browser.get(&sign_in_url(&app, "/admin/users", true)).await);
    let (enrolled, back) = crate::second_factors::enrol_totp(&app, &browser, &enrol).await;
    assert_eq!(back, app.url("/admin/users"));
    assert_eq!(
        location(&browser.get(&sign_in_url(&app, "/admin/users", true)).await),
        app.url("/admin/users"),
        "stepped up: straight back"
    );

    // A signed-out visitor proves both factors on the way.
    let other = Browser::new();
    let login = location(&other.get(&sign_in_url(&app, "/admin/keys", true)).await);
    let factor = location(&other.log_in(&login, "root", PASSWORD).await);
    assert!(factor.contains("/login/factor?"), "{factor}");
    let wrong = other
        .answer_factor(&factor, "totp", &enrolled.authenticator.wrong_code(&app))
        .await;
    assert_eq!(wrong.status(), StatusCode::OK, "the factor page again");
    let code = enrolled.authenticator.code(&app, 1);
    let back = location(&other.answer_factor(&factor, "totp", &code).await);
    assert_eq!(back, app.url("/admin/keys"));
}
