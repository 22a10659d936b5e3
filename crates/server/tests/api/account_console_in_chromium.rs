//! The account console in a real browser: a signed-out visitor is sent through the sign-in and
//! back, edits the profile, changes the password — and a second session (another browser, with
//! its own cookie jar) and an application's refresh token end — and disconnects an
//! application, whose refresh token is then refused. Each page is checked as the other browser
//! tests check theirs and saved under `target/browser-artifacts/` (desktop, and the
//! applications list at phone width). Needs Chromium, as headless_chromium.rs says.

use crate::accessibility::{DESKTOP, PHONE, check_and_picture};
use crate::account_console::{refresh, signed_in};
use crate::harness::spawn_app;
use crate::headless_chromium::Chromium;
use crate::support::{ClientSpec, PASSWORD, create_user, location, register_client};
use reqwest::StatusCode;

const NEW_PASSWORD: &str = "a much better passphrase";

/// Types `text` into the field labelled by `id`, replacing what it held.
async fn fill(browser: &Chromium, id: &str, text: &str) {
    let field = browser.wait_for(&format!("#{id}")).await;
    let label = browser.wait_for(&format!("label[for={id}]")).await;
    assert!(!label.text().await.unwrap().is_empty(), "#{id} is labelled");
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

#[tokio::test]
async fn a_user_changes_their_password_in_a_real_browser_and_their_other_session_ends() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    // Elsewhere: another browser signed in to an application, which holds a refresh token.
    let (elsewhere, refresh_token) = signed_in(&app, &rp, "alice").await;
    let browser = Chromium::launch().await;

    // Signed out, the console sends the browser to sign in and back.
    browser.client.goto(&app.url("/account")).await.unwrap();
    browser
        .wait_for_url_starting_with(&app.url("/login?"))
        .await;
    browser.sign_in("alice", PASSWORD).await;
    browser
        .wait_for_url_starting_with(&app.url("/account"))
        .await;
    assert_eq!(
        browser.client.title().await.unwrap(),
        "Profile · Your account · Palisade"
    );
    browser.assert_page_is_sound("profile").await;
    check_and_picture(&browser, "account-profile").await;
    fill(&browser, "display_name", "Alice Liddell").await;
    browser
        .wait_for("button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let notice = browser.wait_for("p[role=status]").await;
    assert_eq!(notice.text().await.unwrap(), "Your profile was saved.");
    assert!(
        browser
            .wait_for(".console-user strong")
            .await
            .text()
            .await
            .unwrap()
            .contains("Alice Liddell")
    );

    // To the security page through the navigation, and the password panel.
    browser
        .wait_for("nav a[href$='/account/security']")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_url_starting_with(&app.url("/account/security"))
        .await;
    browser.assert_page_is_sound("security").await;
    check_and_picture(&browser, "account-security").await;
    fill(&browser, "current-password", PASSWORD).await;
    fill(&browser, "new-password", NEW_PASSWORD).await;
    fill(&browser, "repeat-password", NEW_PASSWORD).await;
    browser
        .wait_for("section[aria-labelledby=password-heading] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let notice = browser.wait_for("p[role=status]").await;
    assert!(
        notice
            .text()
            .await
            .unwrap()
            .starts_with("Your password was changed. Every other browser and every application"),
    );
    browser.screenshot("account-password-changed").await;

    // The other browser is signed out, the application's refresh token is refused ...
    assert_eq!(
        location(&elsewhere.get(&app.url("/account")).await),
        app.url("/account/sign-in?return=%2Faccount")
    );
    assert_eq!(
        refresh(&app, &rp, &refresh_token).await,
        (StatusCode::BAD_REQUEST, Some("invalid_grant".into()))
    );
    // ... and this one is still signed in.
    browser
        .client
        .goto(&app.url("/account/applications"))
        .await
        .unwrap();
    let heading = browser.wait_for("h1").await;
    assert_eq!(heading.text().await.unwrap(), "Connected applications");
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "{problems:#?}");
    browser.close().await;
}

#[tokio::test]
async fn a_user_disconnects_an_application_in_a_real_browser_and_its_refresh_token_is_refused() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, refresh_token) = signed_in(&app, &rp, "alice").await;
    let browser = Chromium::launch().await;
    browser
        .client
        .goto(&app.url("/account/applications"))
        .await
        .unwrap();
    browser
        .wait_for_url_starting_with(&app.url("/login?"))
        .await;
    browser.sign_in("alice", PASSWORD).await;
    browser
        .wait_for_url_starting_with(&app.url("/account/applications"))
        .await;
    let disconnect = browser
        .wait_for("button[aria-label='Disconnect Example RP']")
        .await;
    let dates = browser
        .js("return Array.from(document.querySelectorAll('td time'), t => t.getAttribute('datetime')).length")
        .await;
    assert_eq!(dates, serde_json::json!(2), "connected and last used");
    check_and_picture(&browser, "account-applications").await;
    // At phone width each row is a card whose cells name their column.
    browser
        .client
        .set_window_size(PHONE.0, PHONE.1)
        .await
        .unwrap();
    let label = browser
        .js("return getComputedStyle(document.querySelector('table.list td[data-label]'), '::before').content")
        .await;
    assert_eq!(label, serde_json::json!("\"Application: \""));
    browser
        .client
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .unwrap();
    disconnect.click().await.unwrap();
    let notice = browser.wait_for("p[role=status]").await;
    assert!(
        notice
            .text()
            .await
            .unwrap()
            .starts_with("Example RP was disconnected"),
    );
    browser.wait_for("p.muted").await;
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "{problems:#?}");
    browser.close().await;

    assert_eq!(
        refresh(&app, &rp, &refresh_token).await,
        (StatusCode::BAD_REQUEST, Some("invalid_grant".into()))
    );
}
