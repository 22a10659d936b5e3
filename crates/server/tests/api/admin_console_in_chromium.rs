//! The admin console in a real browser (issue 18): an administrator signs in through a client
//! with their password and an authenticator app, opens `/admin`, creates a user through the
//! form, finds them by search, disables and enables them, and registers a client whose secret,
//! shown once, then buys a token. Every page is checked as the sign-in pages are (no script,
//! the stylesheet applied, nothing in the console), against axe-core's WCAG A/AA rules at
//! desktop and phone width, and saved as PNGs at both widths (`target/browser-artifacts/`, or
//! `$PALISADE_SCREENSHOT_DIR`).

use crate::accessibility::check_and_picture;
use crate::harness::spawn_app;
use crate::headless_chromium::{Chromium, RelyingParty, client_of};
use crate::second_factors::require_mfa_by_role;
use crate::support::{PASSWORD, create_user};
use fantoccini::Locator;
use palisade_core::model::{RoleName, Username};
use palisade_core::ports::{RoleRepository, UserRepository};
use reqwest::StatusCode;
use std::time::Duration;

async fn fill(browser: &Chromium, css: &str, text: &str) {
    let field = browser.wait_for(css).await;
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the button of the form on the page that posts `action`.
async fn press(browser: &Chromium, action: &str) {
    browser
        .wait_for(&format!(
            "form:has(input[name=action][value={action}]) button[type=submit]"
        ))
        .await
        .click()
        .await
        .unwrap();
}

async fn text_of(browser: &Chromium, css: &str) -> String {
    browser.wait_for(css).await.text().await.unwrap()
}

/// Waits until the page's notice says `words`.
async fn notice_says(browser: &Chromium, words: &str) {
    let started = std::time::Instant::now();
    loop {
        if let Ok(notice) = browser.client.find(Locator::Css("p.notice")).await
            && notice.text().await.unwrap_or_default().contains(words)
        {
            return;
        }
        assert!(
            started.elapsed() < crate::headless_chromium::PATIENCE,
            "no notice saying {words:?}:\n{}",
            browser.client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_admin_creates_a_user_finds_them_disables_and_enables_them_and_registers_a_client() {
    let app = spawn_app().await;
    let rp = RelyingParty::start();
    let client = client_of(&app, &rp).await;
    let root = create_user(&app, "root").await;
    app.state
        .sql
        .grant_role(&RoleName::parse("admin").unwrap(), &root)
        .await
        .unwrap();
    require_mfa_by_role(&app, &root).await;
    let browser = Chromium::launch().await;
    browser
        .sign_in_enrolling_totp(&app, &client, &rp.callback, "root")
        .await;

    // /admin leads to the users.
    browser.client.goto(&app.url("/admin")).await.unwrap();
    browser
        .wait_for_url_starting_with(&app.url("/admin/users"))
        .await;
    browser.wait_for("#new-username").await;
    browser.assert_page_is_sound("the users page").await;
    check_and_picture(&browser, "admin-users").await;

    // Create a user through the form.
    fill(&browser, "#new-username", "carol").await;
    fill(&browser, "#new-email", "carol@example.com").await;
    fill(&browser, "#new-display-name", "Carol Example").await;
    fill(&browser, "#new-password", PASSWORD).await;
    browser
        .wait_for("section[aria-labelledby=create-heading] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    notice_says(&browser, "The user was created.").await;
    assert_eq!(text_of(&browser, "#user-username").await, "carol");
    let carol = app
        .state
        .sql
        .find_user_by_username(&Username::parse("carol").unwrap())
        .await
        .unwrap()
        .expect("carol was created");

    // Find her by part of her name, from the list.
    browser
        .client
        .find(Locator::LinkText("All users"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    fill(&browser, "#q", "carol ex").await;
    browser
        .wait_for("form[role=search] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_url_starting_with(&app.url("/admin/users?q="))
        .await;
    browser
        .client
        .wait()
        .at_most(crate::headless_chromium::PATIENCE)
        .for_element(Locator::LinkText("carol"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_for_url_starting_with(&app.url(&format!("/admin/users/{}", carol.id)))
        .await;
    browser.assert_page_is_sound("a user's page").await;
    check_and_picture(&browser, "admin-user").await;

    // Disable, then enable again.
    press(&browser, "disable").await;
    notice_says(&browser, "disabled and signed out").await;
    assert!(text_of(&browser, "#user-status").await.contains("Disabled"));
    assert!(
        app.state
            .sql
            .find_user_by_id(&carol.id)
            .await
            .unwrap()
            .unwrap()
            .is_disabled
    );
    press(&browser, "enable").await;
    notice_says(&browser, "The user was enabled.").await;
    assert!(text_of(&browser, "#user-status").await.contains("Active"));
    assert!(
        !app.state
            .sql
            .find_user_by_id(&carol.id)
            .await
            .unwrap()
            .unwrap()
            .is_disabled
    );

    // The actions, each with its consequence beside its button.
    browser
        .js("document.getElementById('actions-heading').scrollIntoView(); return null")
        .await;
    browser.screenshot("admin-user-actions-desktop").await;

    // Register a confidential client for client_credentials: its secret once, and it works.
    browser
        .client
        .find(Locator::Css("nav a[href$='/admin/clients']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("#client-name").await;
    browser.assert_page_is_sound("the clients page").await;
    check_and_picture(&browser, "admin-clients").await;
    fill(&browser, "#client-name", "Inventory").await;
    browser
        .wait_for("#type-confidential")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for("input[name=grant_types][value=client_credentials]")
        .await
        .click()
        .await
        .unwrap();
    press(&browser, "create").await;
    notice_says(&browser, "The client was registered.").await;
    let id = text_of(&browser, "#client-id").await;
    let secret = text_of(&browser, "#client-secret").await;
    browser.assert_page_is_sound("a new client's page").await;
    check_and_picture(&browser, "admin-client").await;
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Reloaded, the page no longer shows it.
    browser
        .client
        .goto(&app.url(&format!("/admin/clients/{id}")))
        .await
        .unwrap();
    browser.wait_for("#client-id").await;
    assert!(!browser.client.source().await.unwrap().contains(&secret));
    browser.close().await;
}
