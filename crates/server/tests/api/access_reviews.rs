//! Role grants with an expiry, who holds a role, and access reviews, through the admin API and
//! the CLI (`palisade role grant --expires`, `palisade role review`). The engine's rules are
//! tested with it (palisade-flow `admin::reviews`); here, the faces and what they store.

use crate::admin_api::{admin_client, call, tokens_for, user_with_roles};
use crate::authorize_rules::authorize_url;
use crate::cli::{failed, palisade, succeeded};
use crate::harness::spawn_app;
use crate::second_factors::{enrol_totp, require_mfa_by_role};
use crate::support::{Browser, PASSWORD, create_user, hidden, location, pkce_pair, query_param};
use chrono::{Duration, SecondsFormat};
use palisade_core::Clock as _;
use palisade_core::model::{AuditQuery, Permission, Role, RoleName, UserId, Username};
use palisade_core::ports::{AuditLog, RoleRepository, UserRepository};
use palisade_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn role_name(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

async fn events(app: &crate::harness::TestApp, action: &str) -> Vec<Value> {
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
        .map(|e| {
            json!({
                "actor": e.actor,
                "target": e.target,
                "outcome": e.outcome.as_str(),
                "details": e.details,
            })
        })
        .collect()
}

fn usernames(grants: &Value) -> Vec<String> {
    grants
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{}:{}",
                g["username"].as_str().unwrap(),
                g["role"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn a_grant_with_an_expiry_lapses_for_the_api_at_that_instant_and_is_swept_as_system() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (root, admin_token) = user_with_roles(&app, &client, "root", &["admin"]).await;
    let bob = create_user(&app, "bob").await;
    let grant_path = format!("/admin/v1/users/{}/roles/auditor", bob.0);

    // An expiry that is not ahead, or not a date, is refused and grants nothing.
    let now = app.clock.now();
    for wrong in [
        json!({ "expires_at": (now - Duration::seconds(1)).to_rfc3339() }),
        json!({ "expires_at": "next tuesday" }),
        json!({ "expires_at": "2027-02-30" }),
        json!({ "expires": "2099-01-01" }),
    ] {
        let refused = call(&app, "PUT", &grant_path, Some(&admin_token), Some(&wrong)).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{wrong}: {}",
            refused.body
        );
    }
    assert!(
        app.state
            .sql
            .roles_of_user(&bob, now)
            .await
            .unwrap()
            .is_empty()
    );

    let expires = now + Duration::minutes(5);
    let granted = call(
        &app,
        "PUT",
        &grant_path,
        Some(&admin_token),
        Some(&json!({ "expires_at": expires.to_rfc3339() })),
    )
    .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.body["roles"], json!(["auditor"]));

    // Bob signs in (recorded) and reads the audit trail with the auditor's permission.
    let bob_token = tokens_for(&app, &client, "bob", "openid admin").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let read = call(&app, "GET", "/admin/v1/audit", Some(&bob_token), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);

    let holders = call(
        &app,
        "GET",
        "/admin/v1/roles/auditor/holders",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(holders.status, StatusCode::OK, "{}", holders.body);
    assert_eq!(holders.body["role"]["name"], "auditor");
    let held = &holders.body["holders"][0];
    assert_eq!(held["username"], "bob");
    assert_eq!(held["user_id"], bob.0.as_str());
    assert_eq!(held["granted_by"], format!("user:{}", root.0));
    assert_eq!(
        held["expires_at"],
        expires.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    assert!(held["granted_at"].is_string() && held["last_sign_in_at"].is_string());
    assert_eq!(held["confirmed_at"], Value::Null);
    assert_eq!(holders.body["next_page"], Value::Null);

    // Past the expiry (bob's token still within its ten minutes) the permission is gone.
    app.clock.advance(Duration::minutes(6));
    let read = call(&app, "GET", "/admin/v1/audit", Some(&bob_token), None).await;
    assert_eq!(read.status, StatusCode::FORBIDDEN, "{}", read.body);
    let holders = call(
        &app,
        "GET",
        "/admin/v1/roles/auditor/holders",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(holders.body["holders"], json!([]));
    let user = call(
        &app,
        "GET",
        &format!("/admin/v1/users/{}", bob.0),
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(user.body["roles"], json!([]));

    assert_eq!(app.state.admin.sweep_lapsed_grants().await.unwrap(), 1);
    let lapses = events(&app, "admin.user.role_lapse").await;
    assert_eq!(lapses.len(), 1, "{lapses:?}");
    assert_eq!(lapses[0]["actor"], "system");
    assert_eq!(lapses[0]["target"], format!("user:{}", bob.0));
    let grants = events(&app, "admin.user.role_grant").await;
    assert!(grants.iter().any(
        |e| e["outcome"] == "success" && e["details"].as_str().unwrap().contains("expires_at")
    ));

    let missing = call(
        &app,
        "GET",
        "/admin/v1/roles/nope/holders",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad_page = call(
        &app,
        "GET",
        "/admin/v1/roles/auditor/holders?page=-1",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(bad_page.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_review_lists_stale_grants_and_its_decisions_confirm_and_revoke_in_bulk() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (_, admin_token) = user_with_roles(&app, &client, "root", &["admin"]).await;
    let (_, auditor_token) = user_with_roles(&app, &client, "audra", &["auditor"]).await;
    app.state
        .sql
        .insert_role(Role {
            name: role_name("helpdesk"),
            description: None,
            require_mfa: false,
        })
        .await
        .unwrap();
    app.state
        .sql
        .grant_permission(&role_name("helpdesk"), Permission::UsersRead)
        .await
        .unwrap();
    let (carol, dave) = (
        create_user(&app, "carol").await,
        create_user(&app, "dave").await,
    );
    for user in [&carol, &dave] {
        app.state
            .sql
            .grant_role(&role_name("helpdesk"), user)
            .await
            .unwrap();
    }

    // Grants made before records began are unconfirmed: every one is stale, the signed-in
    // administrators' included.
    let review = call(
        &app,
        "GET",
        "/admin/v1/reviews?stale_after_days=30",
        Some(&admin_token),
        None,
    )
    .await;
    assert_eq!(review.status, StatusCode::OK, "{}", review.body);
    assert_eq!(review.body["stale_after_days"], 30);
    assert_eq!(
        usernames(&review.body["grants"]),
        [
            "audra:auditor",
            "carol:helpdesk",
            "dave:helpdesk",
            "root:admin"
        ]
    );
    let carol_row = &review.body["grants"][1];
    assert_eq!(carol_row["granted_by"], Value::Null);
    assert_eq!(carol_row["last_sign_in_at"], Value::Null);

    // An auditor may look but not decide; a refusal changes nothing.
    let decisions = json!({
        "confirm": [{ "user_id": carol.0, "role": "helpdesk" }],
        "revoke": [{ "user_id": dave.0, "role": "helpdesk" }],
    });
    let look = call(&app, "GET", "/admin/v1/reviews", Some(&auditor_token), None).await;
    assert_eq!(look.status, StatusCode::OK);
    let refused = call(
        &app,
        "POST",
        "/admin/v1/reviews/decisions",
        Some(&auditor_token),
        Some(&decisions),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let now = app.clock.now();
    assert_eq!(
        app.state.sql.roles_of_user(&dave, now).await.unwrap().len(),
        1
    );

    // Wrong input: the right answer, no side effect.
    for path in [
        "/admin/v1/reviews?stale_after_days=0",
        "/admin/v1/reviews?stale_after_days=ninety",
        "/admin/v1/reviews?stale_after_days=3651",
    ] {
        let answer = call(&app, "GET", path, Some(&admin_token), None).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
    }
    for body in [
        json!({ "confirm": [{ "user_id": carol.0, "role": "helpdesk" }], "revoke": [{ "user_id": carol.0, "role": "helpdesk" }] }),
        json!({ "confirm": [{ "user_id": carol.0, "role": "Not A Role" }] }),
        json!({ "approve": [] }),
        json!({ "confirm": [{ "user_id": carol.0 }] }),
    ] {
        let answer = call(
            &app,
            "POST",
            "/admin/v1/reviews/decisions",
            Some(&admin_token),
            Some(&body),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.body
        );
    }
    assert!(events(&app, "admin.user.role_confirm").await.is_empty());

    let decided = call(
        &app,
        "POST",
        "/admin/v1/reviews/decisions",
        Some(&admin_token),
        Some(&decisions),
    )
    .await;
    assert_eq!(decided.status, StatusCode::OK, "{}", decided.body);
    assert_eq!(
        decided.body,
        json!({
            "confirmed": [{ "user_id": carol.0, "role": "helpdesk" }],
            "revoked": [{ "user_id": dave.0, "role": "helpdesk" }],
            "not_held": [],
        })
    );
    assert!(
        app.state
            .sql
            .roles_of_user(&dave, now)
            .await
            .unwrap()
            .is_empty()
    );
    let review = call(
        &app,
        "GET",
        "/admin/v1/reviews?stale_after_days=30",
        Some(&admin_token),
        None,
    )
    .await;
    // Carol's grant is confirmed, but she has never signed in: it stays under review.
    assert_eq!(
        usernames(&review.body["grants"]),
        ["audra:auditor", "carol:helpdesk", "root:admin"]
    );
    assert!(review.body["grants"][1]["confirmed_at"].is_string());

    // Deciding again on what is gone is not an error: it names what was not held.
    let again = call(
        &app,
        "POST",
        "/admin/v1/reviews/decisions",
        Some(&admin_token),
        Some(&json!({ "revoke": [{ "user_id": dave.0, "role": "helpdesk" }] })),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(
        again.body["not_held"],
        json!([{ "user_id": dave.0, "role": "helpdesk" }])
    );

    let confirms = events(&app, "admin.user.role_confirm").await;
    assert_eq!(confirms.len(), 1, "{confirms:?}");
    assert_eq!(confirms[0]["target"], format!("user:{}", carol.0));
    let revokes = events(&app, "admin.user.role_revoke").await;
    assert!(
        revokes
            .iter()
            .any(|e| e["outcome"] == "success" && e["target"] == format!("user:{}", dave.0))
    );
    let decisions = events(&app, "admin.role.review").await;
    assert!(decisions.iter().any(|e| e["outcome"] == "failure"));
    assert_eq!(
        decisions
            .iter()
            .filter(|e| e["outcome"] == "success")
            .count(),
        2
    );
}

#[tokio::test]
async fn the_cli_grants_until_a_date_and_runs_a_review() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| palisade(&db, dir.path(), args, "");
    for user in ["bob", "carol"] {
        succeeded(palisade(
            &db,
            dir.path(),
            &["user", "add", user, "--password-stdin"],
            "a long enough password\n",
        ));
    }
    succeeded(run(&["role", "add", "ops"]));

    let out = succeeded(run(&[
        "role",
        "grant",
        "ops",
        "bob",
        "--expires",
        "2099-01-31",
    ]));
    assert!(
        out.contains("granted ops to bob until 2099-02-01T00:00:00Z"),
        "{out}"
    );
    succeeded(run(&["role", "grant", "ops", "carol"]));
    let refused = failed(run(&[
        "role",
        "grant",
        "ops",
        "carol",
        "--expires",
        "2000-01-01",
    ]));
    assert!(refused.contains("future"), "{refused}");
    let refused = failed(run(&["role", "grant", "ops", "carol", "--expires", "soon"]));
    assert!(refused.contains("YYYY-MM-DD"), "{refused}");

    let store = db.open().await;
    let find = |name: &str| {
        let store = store.clone();
        let name = name.to_owned();
        async move {
            store
                .find_user_by_username(&Username::parse(&name).unwrap())
                .await
                .unwrap()
                .unwrap()
                .id
        }
    };
    let (bob, carol): (UserId, UserId) = (find("bob").await, find("carol").await);
    let now = chrono::Utc::now();
    let held = store
        .find_role_grant(&role_name("ops"), &bob, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(held.granted_by.as_deref(), Some("cli"));
    assert_eq!(
        held.expires_at.unwrap().to_rfc3339(),
        "2099-02-01T00:00:00+00:00"
    );
    let carols = store
        .find_role_grant(&role_name("ops"), &carol, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        carols.expires_at, None,
        "the refused grants changed nothing"
    );

    // Neither has signed in: both are listed.
    let listing = succeeded(run(&["role", "review", "--stale-days", "30"]));
    let lines: Vec<&str> = listing.lines().collect();
    assert!(lines[0].starts_with("USER"), "{listing}");
    assert!(
        lines[1].starts_with("bob") && lines[1].contains("2099-02-01T00:00:00Z"),
        "{listing}"
    );
    assert!(
        lines[2].starts_with("carol") && lines[2].contains("cli"),
        "{listing}"
    );
    assert_eq!(lines.len(), 3, "{listing}");

    let unknown = failed(run(&["role", "review", "--revoke", "nobody:ops"]));
    assert!(unknown.contains("nobody"), "{unknown}");
    let malformed = failed(run(&["role", "review", "--confirm", "bob"]));
    assert!(malformed.contains("USERNAME:ROLE"), "{malformed}");
    assert!(
        store
            .find_role_grant(&role_name("ops"), &carol, now)
            .await
            .unwrap()
            .is_some()
    );

    let out = succeeded(run(&[
        "role",
        "review",
        "--confirm",
        "bob:ops",
        "--revoke",
        "carol:ops",
    ]));
    assert!(
        out.contains("confirmed bob:ops") && out.contains("revoked carol:ops"),
        "{out}"
    );
    assert!(
        store
            .find_role_grant(&role_name("ops"), &carol, chrono::Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    let bobs = store
        .find_role_grant(&role_name("ops"), &bob, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert!(bobs.confirmed_at.is_some());
    // Bob never signed in, so the grant stays on the review; carol's is gone.
    let listing = succeeded(run(&["role", "review"]));
    assert!(
        listing.contains("bob") && !listing.contains("carol"),
        "{listing}"
    );
}

/// A browser signed in as `username` with a TOTP app enrolled on the way (a role requiring a
/// second factor makes the sign-in ask for one), as the admin console requires.
async fn console_browser(app: &crate::harness::TestApp, username: &str, user: &UserId) -> Browser {
    require_mfa_by_role(app, user).await;
    let rp = crate::support::register_client(app, crate::support::ClientSpec::default()).await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(&browser.get(&authorize_url(app, &rp, &challenge, &[])).await);
    let enrol = location(&browser.log_in(&login, username, PASSWORD).await);
    let (_, consent) = enrol_totp(app, &browser, &enrol).await;
    let back = location(&browser.consent(&consent, "allow").await);
    assert!(query_param(&back, "code").is_some(), "{back}");
    browser
}

#[tokio::test]
async fn a_console_viewer_without_the_permission_sees_no_form_and_a_post_anyway_is_refused() {
    let app = spawn_app().await;
    let audra = create_user(&app, "audra").await;
    app.state
        .sql
        .grant_role(&role_name("auditor"), &audra)
        .await
        .unwrap();
    let bob = create_user(&app, "bob").await;
    let carol = create_user(&app, "carol").await;
    app.state
        .sql
        .grant_role(&role_name("client-admin"), &carol)
        .await
        .unwrap();
    let browser = console_browser(&app, "audra", &audra).await;

    // She may look: the pages open, without a form.
    let page = browser.get(&app.url("/admin/roles?role=auditor")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("audra") && !html.contains("name=\"action\""),
        "{html}"
    );
    let page = browser.get(&app.url("/admin/reviews")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("carol") && !html.contains("type=\"checkbox\""),
        "{html}"
    );
    assert!(!html.contains("name=\"decision\""), "{html}");

    // Posting anyway, with the session's own CSRF token (from the sign-out page's form), is
    // refused by the administration service and changes nothing.
    let logout = browser.get(&app.url("/logout")).await.text().await.unwrap();
    let csrf = hidden(&logout, "csrf_token");
    let grant = browser
        .post_form(
            &app.url("/admin/roles"),
            &[
                ("csrf_token", csrf.as_str()),
                ("action", "grant"),
                ("role", "auditor"),
                ("username", "bob"),
            ],
        )
        .await;
    assert_eq!(grant.status(), StatusCode::FORBIDDEN);
    let carols = format!("{}:client-admin", carol.0);
    let revoke = browser
        .post_form(
            &app.url("/admin/reviews"),
            &[
                ("csrf_token", csrf.as_str()),
                ("decision", "revoke"),
                ("grant", carols.as_str()),
            ],
        )
        .await;
    assert_eq!(revoke.status(), StatusCode::FORBIDDEN);
    let now = app.clock.now();
    assert!(
        app.state
            .sql
            .roles_of_user(&bob, now)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.state
            .sql
            .roles_of_user(&carol, now)
            .await
            .unwrap()
            .len(),
        1
    );
    let refusals = events(&app, "admin.user.role_revoke").await;
    assert!(
        refusals.iter().all(|e| e["outcome"] == "failure") && !refusals.is_empty(),
        "{refusals:?}"
    );

    // Wrong input answers a page, never a 500: a forged token, an unknown action, a grant name
    // that does not parse, a day count out of range.
    let forged = browser
        .post_form(
            &app.url("/admin/roles"),
            &[
                ("csrf_token", "forged"),
                ("action", "grant"),
                ("role", "auditor"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    for form in [
        vec![
            ("csrf_token", csrf.as_str()),
            ("action", "promote"),
            ("role", "auditor"),
        ],
        vec![
            ("csrf_token", csrf.as_str()),
            ("decision", "revoke"),
            ("grant", "no-colon"),
        ],
    ] {
        let path = if form[1].0 == "action" {
            "/admin/roles"
        } else {
            "/admin/reviews"
        };
        let answer = browser.post_form(&app.url(path), &form).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{form:?}");
    }
    let days = browser
        .get(&app.url("/admin/reviews?stale_after_days=0"))
        .await;
    assert_eq!(days.status(), StatusCode::BAD_REQUEST);
    let unknown = browser.get(&app.url("/admin/roles?role=nope")).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}
