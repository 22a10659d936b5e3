//! The admin console's roles pages and access review in headless Chromium (issue 18): an
//! administrator who signed in with a TOTP code grants a role until a date, the manual clock
//! passes it and the grant is gone from the page and from the holder's admin API token, then
//! a review revokes a stale grant in bulk; the audit trail holds each decision. Screenshots
//! land in `target/browser-artifacts/`.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver`, as every browser test here.

use crate::accessibility::check_and_picture;
use crate::admin_api::{admin_client, call, tokens_for};
use crate::harness::{TestApp, spawn_app};
use crate::headless_chromium::{Chromium, RelyingParty, client_of};
use crate::support::create_user;
use chrono::{Duration, Utc};
use palisade_core::Clock as _;
use palisade_core::model::{AuditQuery, RoleName, UserId};
use palisade_core::ports::{AuditLog, RoleRepository};
use reqwest::StatusCode;

fn role_name(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

async fn text_of(browser: &Chromium, css: &str) -> String {
    browser.wait_for(css).await.text().await.unwrap()
}

async fn audit_events(app: &TestApp, action: &str) -> Vec<(String, Option<String>, String)> {
    app.state
        .sql
        .query(AuditQuery {
            action: Some(action.into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.actor, e.target, e.outcome.as_str().to_owned()))
        .collect()
}

#[tokio::test]
async fn an_admin_grants_a_role_until_a_date_sees_it_lapse_and_revokes_a_stale_grant_in_a_review() {
    let app = spawn_app().await;
    // 23:40 UTC today: a grant "through today" lapses in twenty minutes, within the sessions'
    // idle time and the access tokens' ten minutes as the clock moves.
    let today = Utc::now().date_naive();
    app.clock
        .set(today.and_hms_opt(23, 40, 0).unwrap().and_utc());
    let rp = RelyingParty::start();
    let root = create_user(&app, "root").await;
    let admin = role_name("admin");
    app.state.sql.grant_role(&admin, &root).await.unwrap();
    app.state
        .sql
        .set_role_requires_mfa(&admin, true)
        .await
        .unwrap();
    let bob = create_user(&app, "bob").await;
    // Carol was made a client administrator before records began and has never signed in.
    let carol = create_user(&app, "carol").await;
    app.state
        .sql
        .grant_role(&role_name("client-admin"), &carol)
        .await
        .unwrap();

    let browser = Chromium::launch().await;
    let client = client_of(&app, &rp).await;
    browser
        .sign_in_enrolling_totp(&app, &client, &rp.callback, "root")
        .await;

    // The roles overview, then the auditor role's page through its link.
    browser.client.goto(&app.url("/admin/roles")).await.unwrap();
    assert_eq!(text_of(&browser, "h1").await, "Roles");
    let overview = text_of(&browser, "table.list tbody").await;
    assert!(
        overview.contains("1 holder") && overview.contains("nobody"),
        "{overview}"
    );
    check_and_picture(&browser, "admin-roles").await;
    browser
        .wait_for("a[href$='/admin/roles?role=auditor']")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "h1").await, "Role auditor");
    assert!(
        text_of(&browser, "main")
            .await
            .contains("Nobody holds this role.")
    );
    browser.assert_page_is_sound("a role's holders").await;

    // Grant it to bob through the end of today (the date field set as a date picker would).
    browser
        .wait_for("#grant-username")
        .await
        .send_keys("bob")
        .await
        .unwrap();
    let day = today.format("%Y-%m-%d").to_string();
    browser
        .js(&format!(
            "document.getElementById('grant-expires').value = '{day}'"
        ))
        .await;
    assert_eq!(
        browser
            .wait_for("label[for=grant-expires]")
            .await
            .text()
            .await
            .unwrap(),
        "Expires after (optional)"
    );
    browser
        .wait_for("#grant-heading ~ form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let notice = text_of(&browser, ".notice").await;
    let tomorrow = today.succ_opt().unwrap().format("%Y-%m-%d");
    assert_eq!(
        notice,
        format!("bob now holds auditor until {tomorrow} 00:00 UTC.")
    );
    let row = text_of(&browser, "#holders tbody tr").await;
    let granted_by = text_of(&browser, "#holders tbody tr td[data-label='Granted by']").await;
    assert_eq!(granted_by, "root");
    assert!(row.contains("bob"), "{row}");
    let expiry = browser
        .wait_for("#holders tbody tr td[data-label=Expires] time")
        .await
        .attr("datetime")
        .await
        .unwrap();
    assert_eq!(expiry, Some(format!("{tomorrow}T00:00:00Z")));
    check_and_picture(&browser, "admin-role-holders").await;

    // Bob signs in at 23:55 and his admin API token reads the audit trail as an auditor.
    app.clock.advance(Duration::minutes(15));
    let api_client = admin_client(&app).await;
    let bob_token = tokens_for(&app, &api_client, "bob", "openid admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = call(&app, "GET", "/admin/v1/audit", Some(&bob_token), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    // Midnight passes: the grant has lapsed, before any sweep.
    app.clock.advance(Duration::minutes(6));
    let read = call(&app, "GET", "/admin/v1/audit", Some(&bob_token), None).await;
    assert_eq!(read.status, StatusCode::FORBIDDEN, "{}", read.body);
    // Opened afresh (a reload would post the grant again).
    browser
        .client
        .goto(&app.url("/admin/roles?role=auditor"))
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "h1").await, "Role auditor");
    let page = text_of(&browser, "main").await;
    assert!(
        page.contains("Nobody holds this role.") && !page.contains("bob"),
        "{page}"
    );

    // The access review: carol's grant is stale (never signed in, never confirmed).
    browser
        .wait_for("nav a[href$='/admin/reviews']")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&browser, "h1").await, "Access reviews");
    let listed = text_of(&browser, "#review tbody").await;
    assert!(
        listed.contains("carol") && listed.contains("client-admin") && !listed.contains("bob"),
        "{listed}"
    );
    browser.assert_page_is_sound("the access review").await;
    check_and_picture(&browser, "admin-access-review").await;
    let carols = format!("{}:client-admin", carol.0);
    browser
        .wait_for(&format!("input[type=checkbox][value='{carols}']"))
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for("button[name=decision][value=revoke]")
        .await
        .click()
        .await
        .unwrap();
    assert_eq!(text_of(&browser, ".notice").await, "1 grant revoked.");
    let listed = text_of(&browser, "#review tbody").await;
    assert!(!listed.contains("carol"), "{listed}");
    assert!(listed.contains("root"), "only the ticked grant: {listed}");
    browser.screenshot("admin-access-review-decided").await;
    assert!(browser.console_problems().await.is_empty());
    browser.close().await;

    let now = app.clock.now();
    assert!(
        app.state
            .sql
            .roles_of_user(&carol, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.state
            .sql
            .roles_of_user(&bob, now)
            .await
            .unwrap()
            .is_empty()
    );

    // The sweep removes the lapsed grant; the audit trail holds every decision.
    assert_eq!(app.state.admin.sweep_lapsed_grants().await.unwrap(), 1);
    let by_root = format!("user:{}", root.0);
    let target = |user: &UserId| Some(format!("user:{user}"));
    assert_eq!(
        audit_events(&app, "admin.user.role_grant").await,
        [(by_root.clone(), target(&bob), "success".to_owned())]
    );
    assert_eq!(
        audit_events(&app, "admin.user.role_lapse").await,
        [("system".to_owned(), target(&bob), "success".to_owned())]
    );
    assert_eq!(
        audit_events(&app, "admin.user.role_revoke").await,
        [(by_root.clone(), target(&carol), "success".to_owned())]
    );
}
