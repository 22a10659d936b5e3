//! The admin console's signing keys (`/admin/keys`): the timeline, rotate and revoke with a
//! confirmation step, and the permission rules (keys:read to see, keys:write to change).

use crate::harness::{TestApp, spawn_app};
use crate::sessions_console::{admin_browser, page, rp};
use crate::support::{Browser, hidden};
use palisade_core::model::{AuditQuery, KeyState, StoredSigningKey};
use palisade_core::ports::AuditLog;
use reqwest::StatusCode;

async fn keys(app: &TestApp) -> Vec<StoredSigningKey> {
    app.state.key_admin.list_keys().await.unwrap()
}

async fn current(app: &TestApp, alg: &str) -> StoredSigningKey {
    keys(app)
        .await
        .into_iter()
        .find(|k| k.alg == alg && k.state == KeyState::Current)
        .unwrap()
}

/// The session's CSRF token, from a page that always has a form (the security page).
async fn csrf_of(app: &TestApp, browser: &Browser) -> String {
    let (status, html) = page(browser, &app.url("/account/security")).await;
    assert_eq!(status, StatusCode::OK);
    hidden(&html, "csrf_token")
}

async fn post(app: &TestApp, browser: &Browser, form: &[(&str, &str)]) -> (StatusCode, String) {
    let res = browser.post_form(&app.url("/admin/keys"), form).await;
    (res.status(), res.text().await.unwrap())
}

async fn events(app: &TestApp, action: &str) -> Vec<palisade_core::model::AuditEvent> {
    app.state
        .sql
        .query(AuditQuery {
            action: Some(action.into()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_keys_read_viewer_sees_the_timeline_without_forms_and_a_post_is_refused() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let (_, auditor) = admin_browser(&app, &rp, "reader", "auditor").await;
    let (status, html) = page(&auditor, &app.url("/admin/keys")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let es256 = current(&app, "ES256").await;
    assert!(html.contains(&es256.kid), "{html}");
    assert!(
        html.contains("ES256 keys") && html.contains("RS256 keys"),
        "{html}"
    );
    assert!(html.contains(r#"<time datetime=""#));
    assert!(!html.contains("<form"), "no forms for keys:read: {html}");
    assert!(html.contains("keys:write"), "says why: {html}");

    let before = keys(&app).await.len();
    let csrf = csrf_of(&app, &auditor).await;
    for form in [
        vec![
            ("csrf_token", csrf.as_str()),
            ("action", "rotate"),
            ("alg", "ES256"),
            ("confirmed", "yes"),
        ],
        vec![
            ("csrf_token", csrf.as_str()),
            ("action", "revoke"),
            ("kid", es256.kid.as_str()),
            ("confirmed", "yes"),
        ],
        vec![
            ("csrf_token", csrf.as_str()),
            ("action", "rotate"),
            ("alg", "ES256"),
        ],
    ] {
        let (status, html) = post(&app, &auditor, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
        assert!(html.contains("keys:write"), "{html}");
    }
    assert_eq!(keys(&app).await.len(), before, "nothing staged");
    assert_eq!(
        current(&app, "ES256").await.kid,
        es256.kid,
        "nothing revoked"
    );
    let refused = events(&app, "admin.key.rotate").await;
    assert_eq!(refused.len(), 2);
    assert!(
        refused
            .iter()
            .all(|e| e.outcome == palisade_core::model::AuditOutcome::Failure)
    );
    assert_eq!(events(&app, "admin.key.revoke").await.len(), 1);
}

#[tokio::test]
async fn rotating_through_the_page_asks_first_then_stages_a_next_key() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let (root, admin) = admin_browser(&app, &rp, "root", "admin").await;
    let (_, html) = page(&admin, &app.url("/admin/keys")).await;
    assert!(html.contains(r#"name="alg" value="ES256""#), "{html}");
    let csrf = hidden(&html, "csrf_token");
    let staged_before = |all: &[StoredSigningKey]| {
        all.iter()
            .filter(|k| k.alg == "ES256" && k.state == KeyState::Next)
            .count()
    };
    let before = staged_before(&keys(&app).await);

    let (status, confirm) = post(
        &app,
        &admin,
        &[
            ("csrf_token", &csrf),
            ("action", "rotate"),
            ("alg", "ES256"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirm}");
    assert!(confirm.contains("Rotate this algorithm"), "{confirm}");
    assert!(confirm.contains("publish-ahead delay"), "{confirm}");
    assert!(
        confirm.contains(r#"name="confirmed" value="yes""#),
        "{confirm}"
    );
    assert_eq!(
        staged_before(&keys(&app).await),
        before,
        "asking changed nothing"
    );

    let (status, done) = post(
        &app,
        &admin,
        &[
            ("csrf_token", &csrf),
            ("action", "rotate"),
            ("alg", &hidden(&confirm, "alg")),
            ("confirmed", "yes"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    let all = keys(&app).await;
    assert_eq!(staged_before(&all), before + 1);
    let staged = all
        .iter()
        .filter(|k| k.alg == "ES256" && k.state == KeyState::Next)
        .max_by_key(|k| k.created_at)
        .unwrap();
    assert!(
        done.contains(&format!("Staged {} as the next ES256 key.", staged.kid)),
        "{done}"
    );
    assert!(done.contains("Next (staged)"), "{done}");
    let rotated = events(&app, "admin.key.rotate").await;
    assert_eq!(rotated.len(), 1);
    assert_eq!(rotated[0].actor, format!("user:{root}"));
}

#[tokio::test]
async fn revoking_asks_to_confirm_first_and_states_what_replaces_a_current_key() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let (_, admin) = admin_browser(&app, &rp, "root", "admin").await;
    let (_, html) = page(&admin, &app.url("/admin/keys")).await;
    let csrf = hidden(&html, "csrf_token");
    let es256 = current(&app, "ES256").await;
    assert!(
        html.contains(&format!(r#"name="kid" value="{}""#, es256.kid)),
        "{html}"
    );

    let (status, confirm) = post(
        &app,
        &admin,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("kid", &es256.kid),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{confirm}");
    assert!(confirm.contains("Revoke this key?"), "{confirm}");
    assert!(confirm.contains("stop verifying at once"), "{confirm}");
    assert!(
        confirm.contains("replaces it") || confirm.contains("fresh key"),
        "{confirm}"
    );
    assert!(confirm.contains(r#"name="confirmed" value="yes""#));
    assert_eq!(
        current(&app, "ES256").await.kid,
        es256.kid,
        "asking revoked nothing"
    );
    assert!(events(&app, "admin.key.revoke").await.is_empty());

    let (status, done) = post(
        &app,
        &admin,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("kid", &es256.kid),
            ("confirmed", "yes"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert!(
        done.contains(&format!("Revoked {} (it was Current).", es256.kid)),
        "{done}"
    );
    let after = keys(&app).await;
    assert_eq!(
        after.iter().find(|k| k.kid == es256.kid).unwrap().state,
        KeyState::Revoked
    );
    assert_eq!(events(&app, "admin.key.revoke").await.len(), 1);

    let (_, again) = post(
        &app,
        &admin,
        &[
            ("csrf_token", &csrf),
            ("action", "revoke"),
            ("kid", &es256.kid),
            ("confirmed", "yes"),
        ],
    )
    .await;
    assert!(
        again.contains("was already revoked; nothing changed."),
        "{again}"
    );
    assert_eq!(events(&app, "admin.key.revoke").await.len(), 1);
}

#[tokio::test]
async fn wrong_key_forms_get_the_right_answer_and_change_nothing() {
    let app = spawn_app().await;
    let rp = rp(&app).await;
    let (_, admin) = admin_browser(&app, &rp, "root", "admin").await;
    let csrf = csrf_of(&app, &admin).await;
    let before = keys(&app).await;
    let cases: Vec<(Vec<(&str, &str)>, StatusCode)> = vec![
        (
            vec![
                ("csrf_token", &csrf),
                ("action", "rotate"),
                ("alg", "HS256"),
                ("confirmed", "yes"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![
                ("csrf_token", &csrf),
                ("action", "revoke"),
                ("kid", "no-such-kid"),
                ("confirmed", "yes"),
            ],
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![("csrf_token", &csrf), ("action", "explode")],
            StatusCode::BAD_REQUEST,
        ),
        (vec![("csrf_token", &csrf)], StatusCode::BAD_REQUEST),
        (
            vec![
                ("csrf_token", "forged"),
                ("action", "rotate"),
                ("alg", "ES256"),
                ("confirmed", "yes"),
            ],
            StatusCode::FORBIDDEN,
        ),
        (
            vec![("action", "rotate"), ("alg", "ES256"), ("confirmed", "yes")],
            StatusCode::FORBIDDEN,
        ),
    ];
    for (form, expected) in cases {
        let (status, html) = post(&app, &admin, &form).await;
        assert_eq!(status, expected, "{form:?}: {html}");
    }
    assert_eq!(keys(&app).await.len(), before.len());
    // An administrator without keys:read does not see the page.
    let (_, clients_only) = admin_browser(&app, &rp, "clientele", "client-admin").await;
    let (status, html) = page(&clients_only, &app.url("/admin/keys")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(
        html.contains("Your roles do not let you open this page"),
        "{html}"
    );
    let (status, _) = page(&clients_only, &app.url("/admin/audit")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
