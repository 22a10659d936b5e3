//! The sessions, activity, audit-log and signing-key pages in a real browser: an administrator
//! signs in with a password and a TOTP code (enrolled on the way, as a role requires), signs
//! out their other session, reads their activity, filters the audit log, and rotates a key
//! through its confirmation page — by clicking links, filling labelled fields and submitting.
//! Each page ships no script, gets the console stylesheet, logs nothing and fits a 390 px
//! phone; each is saved as a PNG under `target/browser-artifacts/`. Needs Chromium, as
//! headless_chromium.rs says.

use crate::accessibility::check_and_picture;
use crate::authorize_rules::authorize_url;
use crate::harness::spawn_app;
use crate::headless_chromium::{Chromium, RelyingParty, client_of};
use crate::second_factors::require_mfa_by_role;
use crate::support::{Browser, create_user, pkce_pair, query_param};
use palisade_core::model::{KeyState, RoleName};
use palisade_core::ports::RoleRepository;
use serde_json::json;

/// The checks every console page passes: no script, the console stylesheet applied, a quiet
/// console, and no sideways scrolling at the window's width.
async fn assert_console_page_is_sound(browser: &Chromium, page: &str) {
    assert_eq!(
        browser.js("return document.scripts.length").await,
        json!(0),
        "{page}"
    );
    assert_eq!(
        browser
            .js("return getComputedStyle(document.querySelector('.console-main')).maxWidth")
            .await,
        json!("1024px"),
        "{page}: palisade.css did not apply"
    );
    let problems = browser.console_problems().await;
    assert!(
        problems.is_empty(),
        "{page}: the console reports {problems:#?}"
    );
    let fits = browser
        .js("return document.documentElement.scrollWidth <= window.innerWidth")
        .await;
    assert_eq!(fits, json!(true), "{page} scrolls sideways");
}

#[tokio::test]
async fn an_administrator_walks_sessions_activity_audit_log_and_keys_in_a_real_browser() {
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

    // Sign in: password, then the TOTP app the role requires (enrolled here), then consent.
    let authenticator = browser
        .sign_in_enrolling_totp(&app, &client, &rp.callback, "root")
        .await;

    // The same account signed in elsewhere (a script with its own cookie jar).
    let elsewhere = Browser::new();
    let (_, challenge) = pkce_pair();
    let code = authenticator.code(&app, 1);
    let back = elsewhere
        .authorize_with_factor(
            &authorize_url(&app, &client, &challenge, &[]),
            "root",
            Some(("totp", &code)),
        )
        .await;
    assert!(query_param(&back, "code").is_some(), "{back}");

    // Sessions: two, this one marked; sign the other out.
    browser
        .client
        .goto(&app.url("/account/sessions"))
        .await
        .unwrap();
    assert_eq!(
        browser.client.title().await.unwrap(),
        "Sessions · Your account · Palisade"
    );
    assert_eq!(
        browser
            .js("return document.querySelectorAll('table.list tbody tr').length")
            .await,
        json!(2)
    );
    browser.wait_for_text("table.list", "This browser").await;
    assert_console_page_is_sound(&browser, "sessions").await;
    check_and_picture(&browser, "account-sessions").await;
    browser.click("table.list form button.danger").await;
    browser
        .wait_for_text(".notice", "The session was signed out.")
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('table.list tbody tr').length")
            .await,
        json!(1)
    );
    let res = elsewhere.get(&app.url("/account/sessions")).await;
    assert_ne!(
        res.status(),
        reqwest::StatusCode::OK,
        "the other one is signed out"
    );

    // Activity, through the navigation.
    browser
        .click(".console-nav a[href$='/account/activity']")
        .await;
    browser
        .wait_for_url_starting_with(&app.url("/account/activity"))
        .await;
    let activity = browser
        .wait_for_text("table.list", "Signed out a session")
        .await;
    assert!(activity.contains("Password accepted"), "{activity}");
    assert!(activity.contains("Signed out a session"), "{activity}");
    assert_console_page_is_sound(&browser, "activity").await;
    check_and_picture(&browser, "account-activity").await;

    // The audit log: filter by a labelled field, then the export link is there.
    browser.client.goto(&app.url("/admin/audit")).await.unwrap();
    browser
        .wait_for("#f-action")
        .await
        .send_keys("account.session")
        .await
        .unwrap();
    browser.click("form.panel button[type=submit]").await;
    browser
        .wait_for_url_starting_with(&app.url("/admin/audit?"))
        .await;
    assert_eq!(
        browser
            .js("return document.querySelectorAll('table.list tbody tr').length")
            .await,
        json!(1)
    );
    let export = browser
        .wait_for("a[href*='/admin/audit/export?format=csv']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(export.contains("action=account.session"), "{export}");
    assert_console_page_is_sound(&browser, "audit log").await;
    check_and_picture(&browser, "admin-audit").await;

    // Keys: rotate ES256 through its confirmation page.
    browser.click(".console-nav a[href$='/admin/keys']").await;
    browser
        .wait_for_url_starting_with(&app.url("/admin/keys"))
        .await;
    assert_console_page_is_sound(&browser, "keys").await;
    check_and_picture(&browser, "admin-keys").await;
    browser
        .click("form input[name=alg][value=ES256] ~ p button")
        .await;
    browser
        .wait_for_text("h1", "Rotate this algorithm's key?")
        .await;
    assert_console_page_is_sound(&browser, "keys confirmation").await;
    check_and_picture(&browser, "admin-keys-confirm").await;
    browser.click("input[name=confirmed] ~ p button").await;
    browser.wait_for_text(".notice", "Staged ").await;
    let staged = app
        .state
        .key_admin
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.alg == "ES256" && k.state == KeyState::Next)
        .count();
    assert!(staged >= 1);

    browser.close().await;
}
