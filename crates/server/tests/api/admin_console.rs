//! The admin console's users and clients pages (issue 18) over HTTP, as a browser without
//! JavaScript uses them: a session signed in through a client with a password and a TOTP
//! code, then `/admin/...` in the same cookie jar. Who may enter (an admin role and a second
//! factor), what a reader sees and is refused, the secret shown once, and that every wrong
//! post (CSRF, origin, unknown id, unknown action) changes nothing.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app, spawn_app_with};
use crate::second_factors::{enrol_totp, require_mfa_by_role};
use crate::support::{
    Browser, ClientSpec, PASSWORD, TestClient, create_user, hidden, location, pkce_pair,
    query_param, register_client,
};
use chrono::Utc;
use palisade_core::Secret;
use palisade_core::model::{
    AuditOutcome, AuditQuery, ClientId, NewUser, Permission, Role, RoleName, UserId, Username,
};
use palisade_core::ports::{AuditLog, ClientRepository, RoleRepository, UserRepository};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;

fn role(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

/// A role holding exactly `permissions`, made in the store.
pub(crate) async fn role_with(app: &TestApp, name: &str, permissions: &[Permission]) {
    app.state
        .sql
        .insert_role(Role {
            name: role(name),
            description: None,
            require_mfa: false,
        })
        .await
        .unwrap();
    for p in permissions {
        app.state
            .sql
            .grant_permission(&role(name), *p)
            .await
            .unwrap();
    }
}

/// `username` holding `roles`, signed in through `rp` in a new browser with the password and a
/// TOTP app enrolled on the way (a role requiring a second factor leads them through
/// enrolment): the browser holds a session signed in with two factors.
pub(crate) async fn admin_session(
    app: &TestApp,
    rp: &TestClient,
    username: &str,
    roles: &[&str],
) -> (UserId, Browser) {
    let user = create_user(app, username).await;
    for name in roles {
        app.state.sql.grant_role(&role(name), &user).await.unwrap();
    }
    require_mfa_by_role(app, &user).await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(&browser.get(&authorize_url(app, rp, &challenge, &[])).await);
    let enrol = location(&browser.log_in(&login, username, PASSWORD).await);
    let (_, consent) = enrol_totp(app, &browser, &enrol).await;
    let back = location(&browser.consent(&consent, "allow").await);
    assert!(query_param(&back, "code").is_some(), "{back}");
    (user, browser)
}

/// `username` holding `roles`, signed in with the password alone.
async fn password_session(
    app: &TestApp,
    rp: &TestClient,
    username: &str,
    roles: &[&str],
) -> Browser {
    let user = create_user(app, username).await;
    for name in roles {
        app.state.sql.grant_role(&role(name), &user).await.unwrap();
    }
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let back = browser
        .authorize(&authorize_url(app, rp, &challenge, &[]), username)
        .await;
    assert!(query_param(&back, "code").is_some(), "{back}");
    browser
}

async fn page(browser: &Browser, app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = browser.get(&app.url(path)).await;
    let status = res.status();
    if status.is_success() {
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
    }
    (status, res.text().await.unwrap())
}

async fn ok_page(browser: &Browser, app: &TestApp, path: &str) -> String {
    let (status, html) = page(browser, app, path).await;
    assert_eq!(status, StatusCode::OK, "{path}:\n{html}");
    html
}

/// Posts `fields` with the page's CSRF token (read from `html`) to `path`.
async fn post(
    browser: &Browser,
    app: &TestApp,
    html: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (StatusCode, String) {
    let csrf = hidden(html, "csrf_token");
    let mut form = vec![("csrf_token", csrf.as_str())];
    form.extend_from_slice(fields);
    let res = browser.post_form(&app.url(path), &form).await;
    let status = res.status();
    (status, res.text().await.unwrap())
}

async fn user(app: &TestApp, id: &UserId) -> Option<palisade_core::model::User> {
    app.state.sql.find_user_by_id(id).await.unwrap()
}

async fn user_named(app: &TestApp, name: &str) -> Option<palisade_core::model::User> {
    app.state
        .sql
        .find_user_by_username(&Username::parse(name).unwrap())
        .await
        .unwrap()
}

async fn events(app: &TestApp, actor: &UserId, action: &str) -> Vec<AuditOutcome> {
    app.state
        .sql
        .query(AuditQuery {
            actor: Some(format!("user:{actor}")),
            target: None,
            action: Some(action.into()),
            since: None,
            until: None,
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.outcome)
        .collect()
}

fn rp_spec() -> ClientSpec {
    ClientSpec::default()
}

/// The users a list page links to, in order.
fn listed_usernames(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter(|s| s.contains("/admin/users/"))
        .filter_map(|s| s.split('>').nth(1)?.split('<').next().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn only_a_holder_of_an_admin_role_signed_in_with_a_second_factor_enters() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;

    // No administrative role: 403, whatever the factors.
    let (_, nobody) = admin_session(&app, &rp, "nobody", &[]).await;
    let (status, html) = page(&nobody, &app, "/admin").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    assert!(html.contains("no administrative role"), "{html}");
    assert_eq!(
        page(&nobody, &app, "/admin/users").await.0,
        StatusCode::FORBIDDEN
    );

    // An administrator signed in with the password alone is sent through the console's
    // sign-in to add a second factor, and back to the page.
    let single = password_session(&app, &rp, "single", &["admin"]).await;
    for path in ["/admin", "/admin/users", "/admin/clients"] {
        let res = single.get(&app.url(path)).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{path}");
        let mut back = url::form_urlencoded::Serializer::new(String::new());
        back.append_pair("return", path)
            .append_pair("second_factor", "1");
        assert_eq!(
            res.headers()["location"].to_str().unwrap(),
            app.url(&format!("/account/sign-in?{}", back.finish())),
            "{path}"
        );
    }

    // No session at all: sent to sign in, and back.
    let res = Browser::new().get(&app.url("/admin/users")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        app.url("/account/sign-in?return=%2Fadmin%2Fusers")
    );

    // With both: /admin leads to the first section, every page is no-store.
    let (_, root) = admin_session(&app, &rp, "root", &["admin"]).await;
    let res = root.get(&app.url("/admin")).await;
    assert_eq!(location(&res), app.url("/admin/users"));
    let html = ok_page(&root, &app, "/admin/users").await;
    assert!(html.contains(r#"aria-current="page">Users<"#), "{html}");
    ok_page(&root, &app, "/admin/clients").await;

    // A user's page shows where they are signed in and the applications they connected,
    // and a user who has done neither shows neither.
    let single_user = user_named(&app, "single").await.unwrap();
    let html = ok_page(&root, &app, &format!("/admin/users/{}", single_user.id)).await;
    let sessions = &html[html
        .find(r#"id="user-sessions""#)
        .expect("a sessions table")..];
    assert_eq!(
        sessions[..sessions.find("</table>").unwrap()]
            .matches("<tr>")
            .count(),
        2,
        "{html}"
    );
    let applications = &html[html
        .find(r#"id="user-applications""#)
        .expect("an applications table")..];
    assert!(
        applications[..applications.find("</table>").unwrap()]
            .contains(&format!("<code>{}</code>", rp.id)),
        "{html}"
    );
    create_user(&app, "idle").await;
    let idle = user_named(&app, "idle").await.unwrap();
    let html = ok_page(&root, &app, &format!("/admin/users/{}", idle.id)).await;
    assert!(
        html.contains("Not signed in anywhere.") && !html.contains(r#"id="user-sessions""#),
        "{html}"
    );
    assert!(!html.contains(r#"id="user-applications""#), "{html}");

    // A holder of only clients:read is led to the clients, and may not open the users.
    role_with(&app, "client-reader", &[Permission::ClientsRead]).await;
    let (_, reader) = admin_session(&app, &rp, "reader", &["client-reader"]).await;
    assert_eq!(
        location(&reader.get(&app.url("/admin")).await),
        app.url("/admin/clients")
    );
    assert_eq!(
        page(&reader, &app, "/admin/users").await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_operator_may_let_a_password_only_session_into_the_admin_console() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.console.admin_requires_second_factor = false;
    })
    .await;
    let rp = register_client(&app, rp_spec()).await;
    let single = password_session(&app, &rp, "single", &["admin"]).await;
    assert_eq!(
        location(&single.get(&app.url("/admin")).await),
        app.url("/admin/users")
    );
    ok_page(&single, &app, "/admin/users").await;
}

#[tokio::test]
async fn an_admin_finds_users_by_part_of_their_name_and_pages_through_them_fifty_at_a_time() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;
    let (_, root) = admin_session(&app, &rp, "root", &["admin"]).await;
    let hash = app
        .state
        .passwords
        .hash(&Secret::new(PASSWORD))
        .await
        .unwrap();
    for i in 0..120 {
        app.state
            .sql
            .insert_user(NewUser {
                id: UserId(uuid::Uuid::new_v4().to_string()),
                username: Username::parse(&format!("member{i:03}")).unwrap(),
                email: None,
                display_name: Some(format!("Member Number {i}")),
                password_hash: hash.clone(),
                created_at: Utc::now(),
            })
            .await
            .unwrap();
    }

    // 120 members, then "nobody"-free: root sorts after them. 50, 50, 21.
    let first = ok_page(&root, &app, "/admin/users").await;
    let names = listed_usernames(&first);
    assert_eq!(names.len(), 50, "{names:?}");
    assert_eq!(names[0], "member000");
    assert!(first.contains("?page=2"), "a next page");
    assert!(!first.contains("rel=\"prev\""));
    let second = listed_usernames(&ok_page(&root, &app, "/admin/users?page=2").await);
    assert_eq!(second.first().map(String::as_str), Some("member050"));
    assert_eq!(second.len(), 50);
    let third_html = ok_page(&root, &app, "/admin/users?page=3").await;
    let third = listed_usernames(&third_html);
    assert_eq!(third.len(), 21, "{third:?}");
    assert_eq!(third.last().map(String::as_str), Some("root"));
    assert!(!third_html.contains("rel=\"next\""));
    assert!(third_html.contains("rel=\"prev\""));
    assert!(listed_usernames(&ok_page(&root, &app, "/admin/users?page=4").await).is_empty());

    // Part of a username; part of a display name (case-folded); the pages keep the search.
    let found = listed_usernames(&ok_page(&root, &app, "/admin/users?q=member11").await);
    assert_eq!(found.len(), 10, "{found:?}");
    let by_name = ok_page(&root, &app, "/admin/users?q=number+7").await;
    let by_name_users = listed_usernames(&by_name);
    assert!(
        by_name_users.contains(&"member007".to_owned()),
        "{by_name_users:?}"
    );
    assert!(by_name_users.contains(&"member070".to_owned()));
    assert_eq!(by_name_users.len(), 11, "7 and 70..79");
    let many = ok_page(&root, &app, "/admin/users?q=member").await;
    assert!(many.contains("?q=member&#38;page=2"), "{many}");
    // A wildcard is a literal character.
    assert!(listed_usernames(&ok_page(&root, &app, "/admin/users?q=%25").await).is_empty());

    // A page number that is not one: 400, not a 500.
    for wrong in ["0", "-1", "x", "99999999999"] {
        let (status, _) = page(&root, &app, &format!("/admin/users?page={wrong}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{wrong}");
    }
    let (status, _) = page(&root, &app, &format!("/admin/users?q={}", "a".repeat(300))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_admin_creates_a_user_and_disables_unlocks_signs_out_resets_and_deletes_them() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;
    let (root_id, root) = admin_session(&app, &rp, "root", &["admin"]).await;
    let list = ok_page(&root, &app, "/admin/users").await;

    // A password below the policy: the form again, with what was typed and the rule.
    let (status, html) = post(
        &root,
        &app,
        &list,
        "/admin/users",
        &[
            ("username", "dora"),
            ("email", "dora@example.com"),
            ("display_name", "Dora"),
            ("password", "short"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains("Password"), "{html}");
    assert!(html.contains(r#"value="dora@example.com""#));
    assert!(user_named(&app, "dora").await.is_none());

    let (status, html) = post(
        &root,
        &app,
        &list,
        "/admin/users",
        &[
            ("username", "dora"),
            ("email", "dora@example.com"),
            ("display_name", "Dora"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("The user was created."), "{html}");
    let dora = user_named(&app, "dora").await.unwrap();
    assert_eq!(dora.display_name.as_deref(), Some("Dora"));
    let path = format!("/admin/users/{}", dora.id);

    // The same name again: a conflict, said on the page.
    let (status, html) = post(
        &root,
        &app,
        &list,
        "/admin/users",
        &[("username", "dora"), ("password", PASSWORD)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("already exists"), "{html}");

    let act = |action: &'static str| {
        let (root, app, path) = (&root, &app, path.clone());
        async move {
            let html = ok_page(root, app, &path).await;
            let (status, answer) = post(root, app, &html, &path, &[("action", action)]).await;
            assert_eq!(status, StatusCode::OK, "{action}:\n{answer}");
            answer
        }
    };
    assert!(act("disable").await.contains("disabled and signed out"));
    assert!(user(&app, &dora.id).await.unwrap().is_disabled);
    assert!(act("enable").await.contains("The user was enabled."));
    assert!(!user(&app, &dora.id).await.unwrap().is_disabled);
    assert!(act("unlock").await.contains("was not locked"));
    assert!(act("sign-out").await.contains("signed out everywhere"));
    assert!(
        user(&app, &dora.id)
            .await
            .unwrap()
            .sessions_revoked_at
            .is_some()
    );
    assert!(act("reset-factors").await.contains("0 second factors"));

    // The roles are listed, read-only, with the way to the roles page.
    let root_page = ok_page(&root, &app, &format!("/admin/users/{root_id}")).await;
    assert!(root_page.contains("<li>admin</li>"), "{root_page}");
    assert!(root_page.contains(r#"href="http"#) && root_page.contains("/admin/roles\""));
    // Nobody deletes themselves: no button, and refused when posted.
    assert!(!root_page.contains(r#"value="delete""#));
    let (status, html) = post(
        &root,
        &app,
        &root_page,
        &format!("/admin/users/{root_id}"),
        &[("action", "delete")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(user(&app, &root_id).await.is_some());

    let deleted = act("delete").await;
    assert!(deleted.contains("The user dora was deleted."), "{deleted}");
    assert!(user(&app, &dora.id).await.is_none());
    assert_eq!(page(&root, &app, &path).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        events(&app, &root_id, "admin.user.delete").await,
        vec![AuditOutcome::Success]
    );
}

#[tokio::test]
async fn a_reader_sees_no_form_or_button_and_is_refused_with_an_audited_403_when_posting() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;
    let (_, root) = admin_session(&app, &rp, "root", &["admin"]).await;
    role_with(
        &app,
        "reader",
        &[Permission::UsersRead, Permission::ClientsRead],
    )
    .await;
    let (reader_id, reader) = admin_session(&app, &rp, "reader", &["reader"]).await;
    let bob = create_user(&app, "bob").await;
    let client = register_client(&app, rp_spec()).await;

    // What the reader sees: lists and details, no form that changes anything.
    let users = ok_page(&reader, &app, "/admin/users").await;
    assert!(users.contains(">bob<"), "{users}");
    assert!(!users.contains(r#"method="post""#), "{users}");
    let bob_page = ok_page(&reader, &app, &format!("/admin/users/{bob}")).await;
    assert!(!bob_page.contains(r#"method="post""#), "{bob_page}");
    assert!(
        !bob_page.contains("/admin/roles\""),
        "no roles link without roles:read"
    );
    let clients = ok_page(&reader, &app, "/admin/clients").await;
    assert!(!clients.contains(r#"method="post""#), "{clients}");
    let client_page = ok_page(&reader, &app, &format!("/admin/clients/{}", client.id)).await;
    assert!(!client_page.contains(r#"method="post""#), "{client_page}");
    // The writer sees them.
    let root_users = ok_page(&root, &app, "/admin/users").await;
    assert!(root_users.contains(r#"method="post""#));

    // Posting anyway, with the reader's own valid session and token: 403, nothing changes.
    let forged: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/admin/users".into(),
            vec![("username", "mallory"), ("password", PASSWORD)],
        ),
        (format!("/admin/users/{bob}"), vec![("action", "disable")]),
        (format!("/admin/users/{bob}"), vec![("action", "delete")]),
        (
            format!("/admin/users/{bob}"),
            vec![("action", "reset-factors")],
        ),
        (
            "/admin/clients".into(),
            vec![
                ("action", "create"),
                ("client_name", "Evil"),
                ("client_type", "confidential"),
                ("grant_types", "client_credentials"),
            ],
        ),
        ("/admin/clients".into(), vec![("action", "mint-token")]),
        (
            format!("/admin/clients/{}", client.id),
            vec![("action", "rotate-secret")],
        ),
        (
            format!("/admin/clients/{}", client.id),
            vec![("action", "remove"), ("confirm_client_id", &client.id)],
        ),
    ];
    // The session's CSRF token, from a page of the reader's that has a form.
    let with_token = ok_page(&reader, &app, "/account/security").await;
    let clients_before = app.state.sql.list_clients().await.unwrap().len();
    for (path, fields) in &forged {
        let (status, html) = post(&reader, &app, &with_token, path, fields).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} {fields:?}:\n{html}");
        assert!(html.contains("permissions you do not hold"), "{html}");
    }
    assert!(user_named(&app, "mallory").await.is_none());
    let bob_now = user(&app, &bob).await.unwrap();
    assert!(!bob_now.is_disabled);
    assert_eq!(
        app.state.sql.list_clients().await.unwrap().len(),
        clients_before
    );
    let stored = app
        .state
        .sql
        .find_client(&ClientId(client.id.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.secret_hash,
        Some(palisade_core::TokenHash::of(
            client.secret.as_deref().unwrap()
        ))
    );
    assert!(
        app.state
            .admin
            .list_initial_access_tokens()
            .await
            .unwrap()
            .is_empty()
    );

    // The refusals are in the audit trail, as the admin API's are.
    for action in [
        "admin.user.create",
        "admin.user.disable",
        "admin.user.delete",
        "admin.user.mfa.reset",
        "admin.client.create",
        "admin.initial_access_token.create",
        "admin.client.secret_rotate",
        "admin.client.delete",
    ] {
        assert_eq!(
            events(&app, &reader_id, action).await,
            vec![AuditOutcome::Failure],
            "{action}"
        );
    }
}

async fn client_credentials(app: &TestApp, id: &str, secret: &str) -> StatusCode {
    app.client
        .post(app.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

/// The text of `<code id="{id}">` on a page.
pub(crate) fn code_with_id(html: &str, id: &str) -> Option<String> {
    let marker = format!(r#"<code id="{id}">"#);
    let start = html.find(&marker)? + marker.len();
    Some(html[start..start + html[start..].find('<')?].to_owned())
}

#[tokio::test]
async fn a_client_made_in_the_console_shows_its_secret_once_and_the_secret_buys_a_token() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;
    let (root_id, root) = admin_session(&app, &rp, "root", &["admin"]).await;
    let list = ok_page(&root, &app, "/admin/clients").await;

    // Refused metadata: the form again, nothing stored.
    let before = app.state.sql.list_clients().await.unwrap().len();
    let (status, html) = post(
        &root,
        &app,
        &list,
        "/admin/clients",
        &[
            ("action", "create"),
            ("client_name", "Shop"),
            ("client_type", "public"),
            ("grant_types", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(html.contains(r#"value="Shop""#), "{html}");
    assert_eq!(app.state.sql.list_clients().await.unwrap().len(), before);
    for client_type in ["", "private"] {
        let (status, html) = post(
            &root,
            &app,
            &list,
            "/admin/clients",
            &[
                ("action", "create"),
                ("client_name", "Shop"),
                ("client_type", client_type),
                ("grant_types", "client_credentials"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{client_type}");
        assert!(html.contains("public or confidential"), "{html}");
    }
    assert_eq!(app.state.sql.list_clients().await.unwrap().len(), before);

    let (status, html) = post(
        &root,
        &app,
        &list,
        "/admin/clients",
        &[
            ("action", "create"),
            ("client_name", "Inventory"),
            ("client_type", "confidential"),
            ("redirect_uris", ""),
            ("scope", "openid"),
            ("grant_types", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let id = code_with_id(&html, "client-id").unwrap();
    let secret = code_with_id(&html, "client-secret").expect("the secret, once");
    assert_eq!(client_credentials(&app, &id, &secret).await, StatusCode::OK);
    let path = format!("/admin/clients/{id}");
    let shown = ok_page(&root, &app, &path).await;
    assert!(!shown.contains(&secret), "never shown again");
    assert!(code_with_id(&shown, "client-secret").is_none());
    assert!(
        !ok_page(&root, &app, "/admin/clients")
            .await
            .contains(&secret)
    );

    // Rotation: the new secret once, the old one dead.
    let (status, rotated) = post(&root, &app, &shown, &path, &[("action", "rotate-secret")]).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new_secret = code_with_id(&rotated, "client-secret").unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(
        client_credentials(&app, &id, &secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client_credentials(&app, &id, &new_secret).await,
        StatusCode::OK
    );

    // Editing: redirect URIs one per line, scopes, grant types; a bad URI is refused.
    let (status, html) = post(
        &root,
        &app,
        &shown,
        &path,
        &[
            ("action", "update"),
            ("redirect_uris", "not a uri"),
            ("scope", "openid"),
            ("grant_types", "authorization_code"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    let (status, html) = post(
        &root,
        &app,
        &shown,
        &path,
        &[
            ("action", "update"),
            (
                "redirect_uris",
                "https://inventory.example/cb\r\nhttps://inventory.example/cb2",
            ),
            ("scope", "openid profile"),
            ("grant_types", "authorization_code"),
            ("grant_types", "refresh_token"),
            ("grant_types", "client_credentials"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("The client was updated."));
    let stored = app
        .state
        .sql
        .find_client(&ClientId(id.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.redirect_uris,
        vec![
            "https://inventory.example/cb",
            "https://inventory.example/cb2"
        ]
    );
    assert_eq!(stored.scopes, vec!["openid", "profile"]);
    assert_eq!(stored.grant_types.len(), 3);
    assert_eq!(stored.response_types, vec!["code"]);
    assert_eq!(
        client_credentials(&app, &id, &new_secret).await,
        StatusCode::OK,
        "same secret"
    );

    // Removal needs the client id typed.
    let (status, html) = post(
        &root,
        &app,
        &shown,
        &path,
        &[
            ("action", "remove"),
            ("confirm_client_id", "something else"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert!(
        app.state
            .sql
            .find_client(&ClientId(id.clone()))
            .await
            .unwrap()
            .is_some()
    );
    let (status, html) = post(
        &root,
        &app,
        &shown,
        &path,
        &[("action", "remove"), ("confirm_client_id", &id)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        app.state
            .sql
            .find_client(&ClientId(id.clone()))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        client_credentials(&app, &id, &new_secret).await,
        StatusCode::UNAUTHORIZED
    );
    for action in [
        "admin.client.create",
        "admin.client.secret_rotate",
        "admin.client.update",
        "admin.client.delete",
    ] {
        assert!(
            events(&app, &root_id, action)
                .await
                .contains(&AuditOutcome::Success),
            "{action}"
        );
    }
}

#[tokio::test]
async fn a_registration_token_is_shown_once_when_made_then_listed_by_id_and_revoked() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;
    let (_, root) = admin_session(&app, &rp, "root", &["admin"]).await;
    let list = ok_page(&root, &app, "/admin/clients").await;
    for (days, uses) in [("0", ""), ("x", ""), ("", "0"), ("4000", "")] {
        let (status, html) = post(
            &root,
            &app,
            &list,
            "/admin/clients",
            &[
                ("action", "mint-token"),
                ("expires_in_days", days),
                ("max_uses", uses),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{days} {uses}: {html}");
    }
    assert!(
        app.state
            .admin
            .list_initial_access_tokens()
            .await
            .unwrap()
            .is_empty()
    );
    let (status, html) = post(
        &root,
        &app,
        &list,
        "/admin/clients",
        &[
            ("action", "mint-token"),
            ("expires_in_days", "7"),
            ("max_uses", "2"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let token = code_with_id(&html, "minted-token").unwrap();
    let stored = app.state.admin.list_initial_access_tokens().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].max_uses, Some(2));
    assert_eq!(stored[0].token_hash, palisade_core::TokenHash::of(&token));
    let again = ok_page(&root, &app, "/admin/clients").await;
    assert!(!again.contains(&token));
    assert!(again.contains(&stored[0].id));

    let (status, html) = post(
        &root,
        &app,
        &again,
        "/admin/clients",
        &[("action", "revoke-token"), ("token_id", "no-such-token")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{html}");
    assert!(html.contains("no such registration token"), "{html}");
    let (status, html) = post(
        &root,
        &app,
        &again,
        "/admin/clients",
        &[("action", "revoke-token"), ("token_id", &stored[0].id)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        app.state
            .admin
            .list_initial_access_tokens()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_forged_or_foreign_post_an_unknown_id_or_action_answers_its_page_and_changes_nothing() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;
    let (_, root) = admin_session(&app, &rp, "root", &["admin"]).await;
    let bob = create_user(&app, "bob").await;
    let bob_path = format!("/admin/users/{bob}");
    let html = ok_page(&root, &app, &bob_path).await;

    // A wrong or missing CSRF token: 403.
    for token in ["wrong", ""] {
        let res = root
            .post_form(
                &app.url(&bob_path),
                &[("csrf_token", token), ("action", "disable")],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{token}");
    }
    let res = root
        .post_form(&app.url(&bob_path), &[("action", "disable")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // The right token from a foreign origin: 403 before the engine sees it.
    let csrf = hidden(&html, "csrf_token");
    let res = root
        .http
        .post(app.url(&bob_path))
        .header("origin", "https://evil.example")
        .form(&[("csrf_token", csrf.as_str()), ("action", "disable")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(!user(&app, &bob).await.unwrap().is_disabled);

    // An unknown action: 400; an unknown user or client: 404, on GET and POST.
    let (status, _) = post(&root, &app, &html, &bob_path, &[("action", "promote")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = post(&root, &app, &html, &bob_path, &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!user(&app, &bob).await.unwrap().is_disabled);
    for (path, action) in [
        ("/admin/users/no-such-user", "delete"),
        ("/admin/users/%3Cscript%3E", "disable"),
        ("/admin/clients/no-such-client", "remove"),
    ] {
        let (status, page_html) = page(&root, &app, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page_html.contains("<script"), "{page_html}");
        let fields = [("action", action), ("confirm_client_id", "no-such-client")];
        let (status, _) = post(&root, &app, &html, path, &fields).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = post(
        &root,
        &app,
        &html,
        "/admin/clients",
        &[("action", "launch")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Not form-encoded: 400.
    let res = root
        .http
        .post(app.url(&bob_path))
        .header("content-type", "application/json")
        .body(format!(r#"{{"csrf_token":"{csrf}","action":"disable"}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(!user(&app, &bob).await.unwrap().is_disabled);
}

#[tokio::test]
async fn a_user_admin_is_offered_no_action_on_an_administrator_and_is_refused_one_posted() {
    let app = spawn_app().await;
    let rp = register_client(&app, rp_spec()).await;
    let (root_id, _) = admin_session(&app, &rp, "root", &["admin"]).await;
    let (helper_id, helper) = admin_session(&app, &rp, "helper", &["user-admin"]).await;
    let bob = create_user(&app, "bob").await;

    let bob_page = ok_page(&helper, &app, &format!("/admin/users/{bob}")).await;
    assert!(bob_page.contains(r#"value="disable""#), "{bob_page}");
    let root_path = format!("/admin/users/{root_id}");
    let root_page = ok_page(&helper, &app, &root_path).await;
    assert!(!root_page.contains(r#"method="post""#), "{root_page}");
    assert!(root_page.contains(r#"id="outranks-you""#), "{root_page}");

    for action in ["disable", "sign-out", "reset-factors", "delete"] {
        let (status, html) =
            post(&helper, &app, &bob_page, &root_path, &[("action", action)]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}: {html}");
    }
    let root = user(&app, &root_id).await.unwrap();
    assert!(!root.is_disabled && root.sessions_revoked_at.is_none());
    assert_eq!(
        events(&app, &helper_id, "admin.user.disable").await,
        vec![AuditOutcome::Failure]
    );
}
