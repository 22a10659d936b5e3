//! The admin console in a real browser (issue 18): an administrator signs in through a client
//! with their password and an authenticator app, opens `/admin`, creates a user through the
//! form, finds them by search, disables and enables them, and registers a client whose secret,
//! shown once, then buys a token; a reader is offered no action and a form they post anyway is
//! refused. Every page is checked as the sign-in pages are (no script,
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
use palisade_core::ports::{AuditLog, RoleRepository, UserRepository};
use reqwest::StatusCode;

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
    browser.wait_for_text("p.notice", words).await;
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

/// An administrator who may read users but not change them (the built-in `auditor`) walks the
/// same pages as a person would: no form and no action button is offered; a form built by hand
/// in the page, with the session's own CSRF token, is refused by the administration service
/// (403, `access_denied`), changes nothing, and the refusal is audited.
#[tokio::test]
async fn a_reader_is_offered_no_action_in_a_real_browser_and_a_form_posted_anyway_is_refused() {
    let app = spawn_app().await;
    let rp = RelyingParty::start();
    let client = client_of(&app, &rp).await;
    let reader = create_user(&app, "reader").await;
    app.state
        .sql
        .grant_role(&RoleName::parse("auditor").unwrap(), &reader)
        .await
        .unwrap();
    require_mfa_by_role(&app, &reader).await;
    let bob = create_user(&app, "bob").await;
    let browser = Chromium::launch().await;
    browser
        .sign_in_enrolling_totp(&app, &client, &rp.callback, "reader")
        .await;

    browser.client.goto(&app.url("/admin/users")).await.unwrap();
    browser.wait_for("main h1").await;
    assert!(
        browser
            .client
            .find(Locator::Css("#new-username"))
            .await
            .is_err(),
        "a reader is offered the create form"
    );
    let user_page = app.url(&format!("/admin/users/{}", bob.0));
    browser.client.goto(&user_page).await.unwrap();
    browser.wait_for("#user-username").await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('main form, main button').length")
            .await,
        serde_json::json!(0),
        "a reader is offered an action"
    );
    check_and_picture(&browser, "admin-user-reader").await;

    // Posted anyway, from the page itself: same origin, the session's own token.
    browser
        .client
        .goto(&app.url("/account/security"))
        .await
        .unwrap();
    let csrf = browser
        .js("return document.querySelector('input[name=csrf_token]').value")
        .await;
    browser.client.goto(&user_page).await.unwrap();
    browser.wait_for("#user-username").await;
    browser
        .js(&format!(
            "const form = document.createElement('form');
             form.method = 'post';
             form.action = location.pathname;
             for (const [name, value] of [['csrf_token', {csrf}], ['action', 'disable']]) {{
                 const input = document.createElement('input');
                 input.type = 'hidden'; input.name = name; input.value = value;
                 form.append(input);
             }}
             document.body.append(form);
             form.submit();
             return true"
        ))
        .await;
    let refused = browser.wait_for_text("main", "access_denied").await;
    assert!(refused.contains("users:write"), "{refused}");
    let stored = app.state.sql.find_user_by_id(&bob).await.unwrap().unwrap();
    assert!(!stored.is_disabled, "the refused form disabled the user");
    let refusals = app
        .state
        .sql
        .query(palisade_core::model::AuditQuery {
            actor: Some(format!("user:{}", reader.0)),
            action: Some("admin.user.disable".into()),
            limit: 10,
            ..palisade_core::model::AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(
        refusals[0].outcome,
        palisade_core::model::AuditOutcome::Failure
    );
    browser.close().await;
}
