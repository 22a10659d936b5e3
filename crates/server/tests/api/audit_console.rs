//! The user's activity page (`/account/activity`) and the admin console's audit log
//! (`/admin/audit`, `/admin/audit/export`), through the browser as people use them.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app};
use crate::sessions_console::{admin_browser, page, rp, sign_in};
use crate::support::{Browser, create_user, location, pkce_pair};
use chrono::{TimeZone, Utc};
use palisade_core::model::{AuditEvent, AuditOutcome, AuditQuery, UserId};
use palisade_core::ports::{AuditLog, RoleRepository};
use reqwest::StatusCode;

async fn plant(
    app: &TestApp,
    actor: &str,
    action: &str,
    target: Option<&str>,
    at: chrono::DateTime<Utc>,
) {
    app.state
        .sql
        .record(AuditEvent {
            occurred_at: at,
            actor: actor.into(),
            action: action.into(),
            target: target.map(str::to_owned),
            outcome: AuditOutcome::Success,
            client_ip: Some("192.0.2.9".into()),
            details: None,
        })
        .await
        .unwrap();
}

fn user(id: &UserId) -> String {
    format!("user:{id}")
}

/// Rows of a `table.list` on a page.
fn rows(html: &str) -> usize {
    html.split("<tbody>").nth(1).map_or(0, |body| {
        body.split("</tbody>")
            .next()
            .unwrap()
            .matches("<tr>")
            .count()
    })
}

/// A failed sign-in of `username` with a wrong password, in a fresh browser.
async fn fail_sign_in(app: &TestApp, rp: &crate::support::TestClient, username: &str) {
    let b = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(&b.get(&authorize_url(app, rp, &challenge, &[])).await);
    let res = b.log_in(&login, username, "not the password").await;
    assert_eq!(res.status(), StatusCode::OK, "the form again");
}

#[tokio::test]
async fn the_activity_page_shows_the_users_own_sign_ins_and_failures_and_never_another_users() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let alice = create_user(&app, "alice").await;
    let bob = create_user(&app, "bob").await;
    fail_sign_in(&app, &rp, "alice").await;
    fail_sign_in(&app, &rp, "nobody-at-all").await;
    let browser = Browser::new();
    sign_in(&app, &rp, &browser, "alice").await;
    // Bob's events, and what alice did to bob as an administrator: not hers to see.
    let now = Utc::now();
    plant(&app, &user(&bob), "factor.enrol", Some(&user(&bob)), now).await;
    plant(
        &app,
        &user(&alice),
        "admin.user.disable",
        Some(&user(&bob)),
        now,
    )
    .await;
    // What an administrator did to alice: hers.
    plant(
        &app,
        &user(&bob),
        "admin.user.unlock",
        Some(&user(&alice)),
        now,
    )
    .await;
    // Not a security event: token issuance names her as target, and is left out.
    plant(&app, "client:x", "token.issue", Some(&user(&alice)), now).await;

    let (status, html) = page(&browser, &app.url("/account/activity")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Password accepted"), "{html}");
    assert!(html.contains("Failed sign-in (wrong password)"), "{html}");
    assert!(
        html.contains("An administrator changed your account"),
        "{html}"
    );
    assert!(!html.contains("Added a second factor"), "{html}");
    assert!(!html.contains("token.issue"), "{html}");
    assert!(!html.contains("unknown account"), "{html}");
    assert_eq!(rows(&html), 3, "{html}");
    assert!(html.contains("<time datetime=\""), "{html}");

    // The sign-in events the engine writes: `login`, with alice as actor and target.
    let logins = app
        .state
        .sql
        .query(AuditQuery {
            action: Some("login".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(logins.len(), 3, "{logins:?}");
    let anonymous = logins.iter().filter(|e| e.target.is_none()).count();
    assert_eq!(anonymous, 1, "the unknown username names no user");
}

#[tokio::test]
async fn the_activity_page_pages_on_the_server() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let alice = create_user(&app, "alice").await;
    let browser = Browser::new();
    sign_in(&app, &rp, &browser, "alice").await;
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    for i in 0..30 {
        let at = start + chrono::Duration::minutes(i);
        plant(
            &app,
            &user(&alice),
            "factor.rename",
            Some(&user(&alice)),
            at,
        )
        .await;
    }
    let (_, first) = page(&browser, &app.url("/account/activity")).await;
    assert_eq!(rows(&first), 25);
    assert!(
        first.contains(r#"href="http"#) && first.contains("page=2"),
        "{first}"
    );
    assert!(!first.contains(r#"rel="prev""#));
    let (_, second) = page(&browser, &app.url("/account/activity?page=2")).await;
    assert_eq!(rows(&second), 6, "30 planted and the sign-in: {second}");
    assert!(second.contains(r#"rel="prev""#) && !second.contains(r#"rel="next""#));
    for odd in ["0", "-1", "x", "99999999999"] {
        let (status, _) = page(&browser, &app.url(&format!("/account/activity?page={odd}"))).await;
        assert_eq!(status, StatusCode::OK, "page={odd}");
    }
    let stranger = Browser::new();
    assert_ne!(
        page(&stranger, &app.url("/account/activity")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_audit_log_filters_by_user_client_action_and_days() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let (_, admin) = admin_browser(&app, &rp, "root", "admin").await;
    let carol = create_user(&app, "carol").await;
    let dave = create_user(&app, "dave").await;
    let day = |d| Utc.with_ymd_and_hms(2020, 3, d, 12, 0, 0).unwrap();
    plant(&app, &user(&carol), "login", Some(&user(&carol)), day(1)).await;
    plant(
        &app,
        "client:shop",
        "token.issue",
        Some(&user(&carol)),
        day(2),
    )
    .await;
    plant(
        &app,
        "client:shop",
        "token.issue",
        Some(&user(&dave)),
        day(3),
    )
    .await;
    plant(
        &app,
        &user(&dave),
        "admin.user.disable",
        Some(&user(&carol)),
        day(4),
    )
    .await;
    plant(&app, &user(&dave), "login", Some(&user(&dave)), day(5)).await;

    let audit = |q: &str| app.url(&format!("/admin/audit{q}"));
    let (status, all) = page(&admin, &audit("")).await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert!(all.contains("Export as CSV"), "{all}");

    let (_, carols) = page(&admin, &audit("?user=Carol")).await;
    assert_eq!(rows(&carols), 3, "actor or target: {carols}");
    assert!(
        carols.contains(&format!(r#"<span title="user:{carol}">carol</span>"#)),
        "usernames are shown: {carols}"
    );
    let (_, shop) = page(&admin, &audit("?client=shop")).await;
    assert_eq!(rows(&shop), 2, "{shop}");
    let (_, shop_for_dave) = page(&admin, &audit("?client=shop&user=dave")).await;
    assert_eq!(rows(&shop_for_dave), 1, "{shop_for_dave}");
    let (_, admin_actions) = page(
        &admin,
        &audit("?action=admin.user&from=2020-03-01&to=2020-03-31"),
    )
    .await;
    assert_eq!(rows(&admin_actions), 1, "{admin_actions}");
    let (_, days) = page(&admin, &audit("?from=2020-03-02&to=2020-03-03")).await;
    assert_eq!(rows(&days), 2, "both days included: {days}");
    let (_, wildcard) = page(&admin, &audit("?action=%25")).await;
    assert!(
        wildcard.contains("Nothing here yet."),
        "a % is a character, not a wildcard"
    );

    let (status, bad) = page(&admin, &audit("?from=March")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bad.contains("Write dates as YYYY-MM-DD."), "{bad}");
    let (_, unknown) = page(&admin, &audit("?user=nobody")).await;
    assert!(unknown.contains("No user has this username."), "{unknown}");
    assert_eq!(rows(&unknown), 0);
    // The form keeps what was typed, escaped.
    let (_, echoed) = page(&admin, &audit("?client=%3Cb%3E")).await;
    assert!(!echoed.contains("<b>"), "{echoed}");
    assert!(
        echoed.contains("&#60;b&#62;") || echoed.contains("&lt;b&gt;"),
        "{echoed}"
    );
}

#[tokio::test]
async fn the_audit_log_needs_audit_read_and_a_second_factor() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    create_user(&app, "plain").await;
    let plain = Browser::new();
    sign_in(&app, &rp, &plain, "plain").await;
    for path in ["/admin/audit", "/admin/audit/export?format=csv"] {
        // access_denied: 403, never the log.
        let (status, html) = page(&plain, &app.url(path)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(html.contains("no administrative role"), "{html}");
    }
    // An administrator whose session was signed in with the password alone.
    let admin = create_user(&app, "pwd-admin").await;
    app.state
        .sql
        .grant_role(
            &palisade_core::model::RoleName::parse("admin").unwrap(),
            &admin,
        )
        .await
        .unwrap();
    let pwd_only = Browser::new();
    sign_in(&app, &rp, &pwd_only, "pwd-admin").await;
    // Sent to step up with a second factor, never shown the log.
    let res = pwd_only.get(&app.url("/admin/audit")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        app.url("/account/sign-in?return=%2Fadmin%2Faudit&second_factor=1")
    );
}

/// Parses RFC 4180 CSV (quoted fields with doubled quotes, CRLF records).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "ends with a record"
    );
    records
}

#[tokio::test]
async fn the_csv_export_parses_neutralises_formulas_and_is_audited() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let (root, admin) = admin_browser(&app, &rp, "root", "admin").await;
    let evil = create_user(&app, "@evil").await;
    let minus = create_user(&app, "-minus").await;
    let at = Utc.with_ymd_and_hms(2021, 5, 5, 5, 5, 5).unwrap();
    plant(&app, &user(&evil), "login", Some(&user(&evil)), at).await;
    plant(
        &app,
        &user(&minus),
        "factor.rename",
        Some(&user(&minus)),
        at,
    )
    .await;
    app.state
        .sql
        .record(AuditEvent {
            occurred_at: at,
            actor: "=HYPERLINK(\"http://evil.example\",\"x\")".into(),
            action: "odd, \"quoted\"\nevent".into(),
            target: None,
            outcome: AuditOutcome::Failure,
            client_ip: None,
            details: Some(r#"{"reason":"a,b"}"#.into()),
        })
        .await
        .unwrap();

    let res = admin
        .get(&app.url("/admin/audit/export?format=csv&from=2021-05-05&to=2021-05-05"))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let disposition = res.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        disposition.starts_with("attachment; filename=\"palisade-audit-"),
        "{disposition}"
    );
    assert_eq!(res.headers()["x-palisade-export-truncated"], "false");
    let body = res.text().await.unwrap();
    let records = parse_csv(&body);
    assert_eq!(records[0][0], "occurred_at");
    assert_eq!(records.len(), 4, "{body}");
    assert!(records.iter().all(|r| r.len() == 9), "{records:?}");
    let names: Vec<&str> = records.iter().map(|r| r[2].as_str()).collect();
    assert!(names.contains(&"'@evil"), "{names:?}");
    assert!(names.contains(&"'-minus"), "{names:?}");
    let odd = records.iter().find(|r| r[3].starts_with("odd")).unwrap();
    assert_eq!(odd[1], "'=HYPERLINK(\"http://evil.example\",\"x\")");
    assert_eq!(odd[3], "odd, \"quoted\"\nevent");
    assert_eq!(odd[8], r#"{"reason":"a,b"}"#);
    for record in &records {
        for cell in record {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "{cell}");
        }
    }

    let jsonl = admin
        .get(&app.url("/admin/audit/export?format=jsonl&user=@evil"))
        .await;
    assert_eq!(jsonl.status(), StatusCode::OK);
    let body = jsonl.text().await.unwrap();
    let lines: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{body}");
    assert_eq!(lines[0]["actor_name"], "@evil");

    let bad = admin.get(&app.url("/admin/audit/export?format=xlsx")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    let exports = app
        .state
        .sql
        .query(AuditQuery {
            action: Some("admin.audit.export".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(exports.len(), 2, "{exports:?}");
    assert!(exports.iter().all(|e| e.actor == user(&root)));
    let csv_export = exports
        .iter()
        .find(|e| e.details.as_deref().unwrap().contains("\"csv\""))
        .unwrap();
    assert!(
        csv_export
            .details
            .as_deref()
            .unwrap()
            .contains("\"rows\":3"),
        "{csv_export:?}"
    );
}
