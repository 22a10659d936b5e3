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
use crate::headless_chromium::{Chromium, PATIENCE, RelyingParty, client_of};
use crate::second_factors::require_mfa_by_role;
use crate::support::{Authenticator, Browser, PASSWORD, create_user, pkce_pair, query_param};
use fantoccini::Locator;
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

/// Clicks `css` once it is there; an element of the page being left (stale once the next
/// page loads) is looked up again.
async fn click(browser: &Chromium, css: &str) {
    let started = std::time::Instant::now();
    loop {
        match browser.wait_for(css).await.click().await {
            Ok(()) => return,
            Err(_) if started.elapsed() < PATIENCE => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot click {css}: {e}"),
        }
    }
}

/// The text of `css` once the page shows one containing `expected` (pages that answer a
/// POST at the same address give no other sign that they have loaded).
async fn wait_for_text(browser: &Chromium, css: &str, expected: &str) -> String {
    let started = std::time::Instant::now();
    loop {
        if let Ok(element) = browser.client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
            && text.contains(expected)
        {
            return text;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "no {css} with {expected:?}:\n{}",
            browser.client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
    let (_, challenge) = pkce_pair();
    browser
        .client
        .goto(&authorize_url(&app, &client, &challenge, &[]))
        .await
        .unwrap();
    browser.sign_in("root", PASSWORD).await;
    browser.wait_for("#totp-code").await;
    let authenticator = Authenticator::from_page(&browser.client.source().await.unwrap());
    browser
        .wait_for("#totp-code")
        .await
        .send_keys(&authenticator.code(&app, 0))
        .await
        .unwrap();
    click(&browser, "form:not([hidden]) button[type=submit]").await;
    wait_for_text(&browser, "form button[type=submit]", "I have stored them").await;
    click(&browser, "form button[type=submit]").await;
    browser
        .wait_for_url_starting_with(&app.url("/consent"))
        .await;
    click(&browser, "button[name=decision][value=allow]").await;
    browser.wait_for_url_starting_with(&rp.callback).await;

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
    wait_for_text(&browser, "table.list", "This browser").await;
    assert_console_page_is_sound(&browser, "sessions").await;
    check_and_picture(&browser, "account-sessions").await;
    click(&browser, "table.list form button.danger").await;
    wait_for_text(&browser, ".notice", "The session was signed out.").await;
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
    click(&browser, ".console-nav a[href$='/account/activity']").await;
    browser
        .wait_for_url_starting_with(&app.url("/account/activity"))
        .await;
    let activity = wait_for_text(&browser, "table.list", "Signed out a session").await;
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
    click(&browser, "form.panel button[type=submit]").await;
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
    click(&browser, ".console-nav a[href$='/admin/keys']").await;
    browser
        .wait_for_url_starting_with(&app.url("/admin/keys"))
        .await;
    assert_console_page_is_sound(&browser, "keys").await;
    check_and_picture(&browser, "admin-keys").await;
    click(&browser, "form input[name=alg][value=ES256] ~ p button").await;
    wait_for_text(&browser, "h1", "Rotate this algorithm's key?").await;
    assert_console_page_is_sound(&browser, "keys confirmation").await;
    check_and_picture(&browser, "admin-keys-confirm").await;
    click(&browser, "input[name=confirmed] ~ p button").await;
    wait_for_text(&browser, ".notice", "Staged ").await;
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
