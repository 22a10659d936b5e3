//! The admin API over HTTP (docs/threat-model.md P): every route × {no token, expired token, a user
//! lacking the route's permission, a user holding it}, driven from the router's own table;
//! privilege escalation refused; client_credentials admin scopes; revocation honoured at once;
//! the `roles` claim; and `palisade admin init` end to end.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, palisade_binary, spawn_app, spawn_app_with};
use crate::support::{
    Browser, ClientSpec, PASSWORD, TestClient, create_user, pkce_pair, query_param,
    register_client, sign_in_and_redeem,
};
use base64::Engine as _;
use palisade::routes::admin::{self, Operation, Permission};
use palisade_core::model::{AuditQuery, Role, RoleName, UserId, Username};
use palisade_core::ports::{
    AuditLog, ClientRepository, RoleRepository, SigningAlgorithm, UserRepository,
};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

/// A client registered for the scopes the admin API and the roles claim need.
pub async fn admin_client(app: &TestApp) -> TestClient {
    register_client(
        app,
        ClientSpec {
            scopes: vec!["admin", "roles"],
            ..ClientSpec::default()
        },
    )
    .await
}

/// Logs `username` in through `client` with `scope` and redeems the code; the token response.
pub async fn tokens_for(app: &TestApp, client: &TestClient, username: &str, scope: &str) -> Value {
    sign_in_and_redeem(app, client, username, &[("scope", scope)])
        .await
        .1
}

fn role_name(name: &str) -> RoleName {
    RoleName::parse(name).unwrap()
}

/// A user holding `roles`, and an access token of theirs carrying the `admin` scope.
pub async fn user_with_roles(
    app: &TestApp,
    client: &TestClient,
    username: &str,
    roles: &[&str],
) -> (UserId, String) {
    let id = create_user(app, username).await;
    for role in roles {
        app.state
            .sql
            .grant_role(&role_name(role), &id)
            .await
            .unwrap();
    }
    let tokens = tokens_for(app, client, username, "openid admin").await;
    (id, tokens["access_token"].as_str().unwrap().to_owned())
}

/// The claims of a compact JWS (no verification: the server under test made it).
pub fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// One admin call; `body` is sent as JSON.
pub async fn call(
    app: &TestApp,
    verb: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let method = reqwest::Method::from_bytes(verb.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(method, app.url(path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// What the table's requests act on.
struct Fixture {
    target_user: UserId,
    /// Deleted by the table (the target must outlive every other operation).
    doomed_user: UserId,
    client_id: String,
    staged_kid: String,
}

/// The request that exercises `operation` successfully: its concrete path and body.
fn request(operation: Operation, f: &Fixture) -> (String, Option<Value>) {
    let user = &f.target_user.0;
    let client = &f.client_id;
    let metadata =
        json!({ "client_name": "Table RP", "redirect_uris": ["https://table.example/cb"] });
    match operation {
        Operation::ListUsers => ("/admin/v1/users?search=target&limit=10".into(), None),
        Operation::CreateUser => (
            "/admin/v1/users".into(),
            Some(json!({ "username": "created", "password": "a long enough password" })),
        ),
        Operation::GetUser => (format!("/admin/v1/users/{user}"), None),
        Operation::DisableUser => (format!("/admin/v1/users/{user}/disable"), None),
        Operation::EnableUser => (format!("/admin/v1/users/{user}/enable"), None),
        Operation::UnlockUser => (format!("/admin/v1/users/{user}/unlock"), None),
        Operation::ResetPassword => (
            format!("/admin/v1/users/{user}/password"),
            Some(json!({ "password": "another long password" })),
        ),
        Operation::SignOutUser => (format!("/admin/v1/users/{user}/signout"), None),
        Operation::DeleteUser => (format!("/admin/v1/users/{}", f.doomed_user.0), None),
        Operation::ListUserFactors => (format!("/admin/v1/users/{user}/factors"), None),
        Operation::ResetUserFactors => (format!("/admin/v1/users/{user}/factors"), None),
        Operation::AssignRole => (format!("/admin/v1/users/{user}/roles/helpdesk"), None),
        Operation::RevokeRole => (format!("/admin/v1/users/{user}/roles/helpdesk"), None),
        Operation::ListPermissions => ("/admin/v1/permissions".into(), None),
        Operation::ListRoles => ("/admin/v1/roles".into(), None),
        Operation::CreateRole => (
            "/admin/v1/roles".into(),
            Some(json!({ "name": "support", "permissions": ["users:read"] })),
        ),
        Operation::GrantPermission => (
            "/admin/v1/roles/helpdesk/permissions/users:read".into(),
            None,
        ),
        Operation::RevokePermission => (
            "/admin/v1/roles/helpdesk/permissions/users:read".into(),
            None,
        ),
        Operation::SetRoleMfa => (
            "/admin/v1/roles/helpdesk/mfa".into(),
            Some(json!({ "required": true })),
        ),
        Operation::ListRoleHolders => ("/admin/v1/roles/helpdesk/holders".into(), None),
        Operation::ReviewGrants => ("/admin/v1/reviews?stale_after_days=30".into(), None),
        Operation::DecideGrants => (
            "/admin/v1/reviews/decisions".into(),
            Some(json!({ "confirm": [{ "user_id": user, "role": "helpdesk" }] })),
        ),
        Operation::ListClients => ("/admin/v1/clients".into(), None),
        Operation::CreateClient => ("/admin/v1/clients".into(), Some(metadata)),
        Operation::GetClient => (format!("/admin/v1/clients/{client}"), None),
        Operation::UpdateClient => (format!("/admin/v1/clients/{client}"), Some(metadata)),
        Operation::RotateClientSecret => (format!("/admin/v1/clients/{client}/secret"), None),
        Operation::DeleteClient => (format!("/admin/v1/clients/{client}"), None),
        Operation::ListKeys => ("/admin/v1/keys".into(), None),
        Operation::RotateKeys => (
            "/admin/v1/keys/rotate".into(),
            Some(json!({ "alg": "ES256" })),
        ),
        Operation::RevokeKey => (format!("/admin/v1/keys/{}/revoke", f.staged_kid), None),
        Operation::QueryAudit => ("/admin/v1/audit?action=admin.user.create".into(), None),
    }
}

fn role_without(p: Permission) -> String {
    format!("all-but-{}", p.as_str().replace(':', "-"))
}

#[tokio::test]
async fn every_admin_route_answers_401_401_403_and_success_by_token_and_permission() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    // One role per permission holding every other permission, and a user holding it.
    let mut lacking = Vec::new();
    for missing in Permission::ALL {
        let role = role_without(missing);
        app.state
            .sql
            .insert_role(Role {
                name: role_name(&role),
                description: None,
                require_mfa: false,
            })
            .await
            .unwrap();
        for p in Permission::ALL.into_iter().filter(|p| *p != missing) {
            app.state
                .sql
                .grant_permission(&role_name(&role), p)
                .await
                .unwrap();
        }
        let username = format!("no-{}", missing.as_str().replace(':', "-"));
        let (_, token) = user_with_roles(&app, &client, &username, &[&role]).await;
        lacking.push((missing, token));
    }
    let (_, admin_token) = user_with_roles(&app, &client, "root", &["admin"]).await;
    app.state
        .sql
        .insert_role(Role {
            name: role_name("helpdesk"),
            description: None,
            require_mfa: false,
        })
        .await
        .unwrap();
    let target_user = create_user(&app, "target").await;
    let doomed_user = create_user(&app, "doomed").await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let staged_kid = app
        .state
        .key_manager
        .rotate_now(SigningAlgorithm::EdDSA)
        .await
        .unwrap();
    let fixture = Fixture {
        target_user,
        doomed_user,
        client_id: rp.id.clone(),
        staged_kid,
    };

    for route in admin::ROUTES {
        let (path, body) = request(route.operation, &fixture);
        let what = format!("{} {path}", route.verb.as_str());
        let verb = route.verb.as_str();

        let none = call(&app, verb, &path, None, body.as_ref()).await;
        assert_eq!(none.status, StatusCode::UNAUTHORIZED, "no token: {what}");
        assert!(
            none.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{what}"
        );
        assert_eq!(none.headers["cache-control"], "no-store", "{what}");

        let garbage = call(&app, verb, &path, Some("not.a.token"), body.as_ref()).await;
        assert_eq!(
            garbage.status,
            StatusCode::UNAUTHORIZED,
            "garbage token: {what}"
        );
        assert_eq!(garbage.body["error"], "invalid_token", "{what}");

        let token = &lacking
            .iter()
            .find(|(p, _)| *p == route.permission)
            .unwrap()
            .1;
        let denied = call(&app, verb, &path, Some(token), body.as_ref()).await;
        assert_eq!(
            denied.status,
            StatusCode::FORBIDDEN,
            "without {}: {what}",
            route.permission
        );
        assert_eq!(denied.body["error"], "insufficient_scope", "{what}");
        assert_eq!(denied.headers["cache-control"], "no-store", "{what}");

        let allowed = call(&app, verb, &path, Some(&admin_token), body.as_ref()).await;
        assert_eq!(
            allowed.status.as_u16(),
            route.success,
            "with {}: {what}: {}",
            route.permission,
            allowed.body
        );
        assert_eq!(allowed.headers["cache-control"], "no-store", "{what}");
    }

    // Every mutation left an audit event naming the administrator; the refusals did too.
    let admin_events = app
        .state
        .sql
        .query(AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    for route in admin::ROUTES.iter().filter(|r| r.verb.is_mutation()) {
        let action = route.operation.action().as_str();
        assert!(
            admin_events.iter().any(|e| e.action == action
                && e.outcome.as_str() == "success"
                && e.actor.starts_with("user:")),
            "no success event for {action}"
        );
        assert!(
            admin_events
                .iter()
                .any(|e| e.action == action && e.outcome.as_str() == "failure"),
            "no failure event for {action}"
        );
    }
    assert!(
        admin_events
            .iter()
            .filter(|e| e.action.starts_with("admin."))
            .all(|e| e.client_ip.as_deref() == Some("127.0.0.1"))
    );
    let text = format!("{admin_events:?}");
    assert!(
        !text.contains("another long password") && !text.contains("a long enough password"),
        "a password reached the audit trail"
    );

    // Expired: the same administrator's token, after its lifetime.
    app.clock.advance(chrono::Duration::seconds(
        app.state.settings.tokens.access_token_ttl_secs + 1,
    ));
    for route in admin::ROUTES {
        let (path, body) = request(route.operation, &fixture);
        let expired = call(
            &app,
            route.verb.as_str(),
            &path,
            Some(&admin_token),
            body.as_ref(),
        )
        .await;
        assert_eq!(
            expired.status,
            StatusCode::UNAUTHORIZED,
            "expired: {} {path}",
            route.verb.as_str()
        );
        assert_eq!(expired.body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn a_user_admin_cannot_grant_admin_nor_touch_an_administrator() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (root, _) = user_with_roles(&app, &client, "root", &["admin"]).await;
    let (helper, token) = user_with_roles(&app, &client, "helper", &["user-admin"]).await;
    let bob = create_user(&app, "bob").await;

    let cases = [
        (
            "PUT",
            format!("/admin/v1/users/{}/roles/admin", bob.0),
            None,
        ),
        (
            "PUT",
            format!("/admin/v1/users/{}/roles/admin", helper.0),
            None,
        ),
        (
            "PUT",
            format!("/admin/v1/users/{}/roles/client-admin", bob.0),
            None,
        ),
        (
            "POST",
            format!("/admin/v1/users/{}/password", root.0),
            Some(json!({ "password": "taken over now" })),
        ),
        ("POST", format!("/admin/v1/users/{}/disable", root.0), None),
        (
            "DELETE",
            format!("/admin/v1/users/{}/roles/admin", root.0),
            None,
        ),
        (
            "POST",
            "/admin/v1/roles".to_owned(),
            Some(json!({ "name": "mine", "permissions": ["keys:write"] })),
        ),
    ];
    for (verb, path, body) in &cases {
        let answer = call(&app, verb, path, Some(&token), body.as_ref()).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{verb} {path}: {}",
            answer.body
        );
        assert_eq!(answer.body["error"], "insufficient_scope");
    }
    assert!(
        app.state
            .sql
            .roles_of_user(&bob, chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.state
            .sql
            .roles_of_user(&helper, chrono::Utc::now())
            .await
            .unwrap(),
        ["user-admin"]
    );
    assert_eq!(
        app.state
            .sql
            .roles_of_user(&root, chrono::Utc::now())
            .await
            .unwrap(),
        ["admin"]
    );
    assert!(
        !app.state
            .sql
            .find_user_by_id(&root)
            .await
            .unwrap()
            .unwrap()
            .is_disabled
    );
    let refused = app
        .state
        .sql
        .query(AuditQuery {
            actor: Some(format!("user:{}", helper.0)),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let refused: Vec<_> = refused
        .iter()
        .filter(|e| e.action.starts_with("admin."))
        .collect();
    assert!(
        refused.len() >= cases.len() && refused.iter().all(|e| e.outcome.as_str() == "failure"),
        "{refused:?}"
    );

    // What the user-admin does hold works: a role carrying only permissions they have.
    let granted = call(
        &app,
        "PUT",
        &format!("/admin/v1/users/{}/roles/user-admin", bob.0),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.body);
    assert_eq!(granted.body["roles"], json!(["user-admin"]));

    // Unknown fields never slip through (docs/threat-model.md AD-03).
    let smuggled = call(
        &app,
        "POST",
        "/admin/v1/users",
        Some(&token),
        Some(&json!({ "username": "eve", "password": "long enough pass", "roles": ["admin"] })),
    )
    .await;
    assert_eq!(smuggled.status, StatusCode::BAD_REQUEST);
    assert!(
        app.state
            .sql
            .find_user_by_username(&Username::parse("eve").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn taking_a_role_away_takes_effect_on_the_next_call() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (auditor, token) = user_with_roles(&app, &client, "carol", &["auditor"]).await;
    assert_eq!(
        call(&app, "GET", "/admin/v1/audit", Some(&token), None)
            .await
            .status,
        StatusCode::OK
    );
    app.state
        .sql
        .revoke_role(&role_name("auditor"), &auditor)
        .await
        .unwrap();
    assert_eq!(
        call(&app, "GET", "/admin/v1/audit", Some(&token), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    // A disabled user's token stops working too.
    app.state
        .sql
        .grant_role(&role_name("auditor"), &auditor)
        .await
        .unwrap();
    app.state
        .sql
        .set_user_disabled(&auditor, true, app.state.clock.now())
        .await
        .unwrap();
    assert_eq!(
        call(&app, "GET", "/admin/v1/audit", Some(&token), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_user_token_without_the_admin_scope_is_refused_whatever_the_roles() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let id = create_user(&app, "root").await;
    app.state
        .sql
        .grant_role(&role_name("admin"), &id)
        .await
        .unwrap();
    // Any application the administrator signs in to gets a token like this one.
    let tokens = tokens_for(&app, &client, "root", "openid profile").await;
    let answer = call(
        &app,
        "GET",
        "/admin/v1/users",
        tokens["access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.body["error"], "insufficient_scope");

    // And a client not registered for `admin` cannot get it.
    let plain = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let res = Browser::new()
        .get(&authorize_url(
            &app,
            &plain,
            &challenge,
            &[("scope", "openid admin")],
        ))
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_scope")
    );
}

async fn client_credentials_token(app: &TestApp, client: &TestClient, scope: &str) -> String {
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_client_credentials_token_with_admin_users_read_can_list_users_but_not_create_them() {
    let app = spawn_app().await;
    let service = register_client(
        &app,
        ClientSpec {
            grant_types: vec!["client_credentials"],
            scopes: vec!["admin:users:read", "api:read"],
            ..ClientSpec::default()
        },
    )
    .await;
    let token = client_credentials_token(&app, &service, "admin:users:read").await;
    assert_eq!(
        call(&app, "GET", "/admin/v1/users", Some(&token), None)
            .await
            .status,
        StatusCode::OK
    );
    let create = call(
        &app,
        "POST",
        "/admin/v1/users",
        Some(&token),
        Some(&json!({ "username": "made-by-robot", "password": "long enough pass" })),
    )
    .await;
    assert_eq!(create.status, StatusCode::FORBIDDEN);

    // The issuance is in the audit trail, by jti, without the token. Issuance rows are written
    // by a batching writer in the background, so give it a moment.
    let query = AuditQuery {
        action: Some("token.issue".into()),
        actor: Some(format!("client:{}", service.id)),
        limit: 10,
        ..AuditQuery::default()
    };
    let mut issued = Vec::new();
    for _ in 0..50 {
        issued = app.state.sql.query(query.clone()).await.unwrap();
        if !issued.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(issued.len(), 1, "{issued:?}");
    let details: Value = serde_json::from_str(issued[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(details["jti"], claims_of(&token)["jti"]);
    assert_eq!(details["grant_type"], "client_credentials");
    assert_eq!(
        issued[0].client_ip.as_deref(),
        Some("127.0.0.1"),
        "the issuance names where the request came from"
    );
    assert!(!format!("{issued:?}").contains(&token));

    // A token without the admin scope gets nothing, even from the same client.
    let plain = client_credentials_token(&app, &service, "api:read").await;
    assert_eq!(
        call(&app, "GET", "/admin/v1/users", Some(&plain), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // The operator takes the scope away: the token already issued stops working for it.
    let mut stored = app
        .state
        .sql
        .find_client(&palisade_core::model::ClientId(service.id.clone()))
        .await
        .unwrap()
        .unwrap();
    stored.scopes.retain(|s| s != "admin:users:read");
    app.state.sql.update_client(stored).await.unwrap();
    assert_eq!(
        call(&app, "GET", "/admin/v1/users", Some(&token), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn registering_admin_scopes_on_a_client_needs_the_permissions_they_grant() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (_, token) = user_with_roles(&app, &client, "cara", &["client-admin"]).await;
    let metadata = |scope: &str| json!({ "client_name": "Robot", "grant_types": ["client_credentials"], "scope": scope });
    let escalating = call(
        &app,
        "POST",
        "/admin/v1/clients",
        Some(&token),
        Some(&metadata("admin:users:write")),
    )
    .await;
    assert_eq!(
        escalating.status,
        StatusCode::FORBIDDEN,
        "{}",
        escalating.body
    );
    let own = call(
        &app,
        "POST",
        "/admin/v1/clients",
        Some(&token),
        Some(&metadata("admin:clients:read")),
    )
    .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    let secret = own.body["client_secret"].as_str().unwrap();
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    let stored = app
        .state
        .sql
        .find_client(&palisade_core::model::ClientId(
            own.body["client_id"].as_str().unwrap().to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    assert!(
        stored
            .secret_hash
            .as_ref()
            .is_some_and(|h| h.matches(secret) && h.as_str() != secret)
    );
    let listed = call(&app, "GET", "/admin/v1/clients", Some(&token), None).await;
    assert!(
        !listed.body.to_string().contains(secret),
        "a listing never shows a secret"
    );

    // Unknown admin permissions and malformed metadata are client-metadata errors, not 500s.
    let unknown = call(
        &app,
        "POST",
        "/admin/v1/clients",
        Some(&token),
        Some(&metadata("admin:everything")),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert_eq!(unknown.body["error"], "invalid_client_metadata");
    let not_json = reqwest::Client::new()
        .post(app.url("/admin/v1/clients"))
        .bearer_auth(&token)
        .body("client_name=x")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_revoked_token_is_refused_at_once() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (_, token) = user_with_roles(&app, &client, "root", &["admin"]).await;
    assert_eq!(
        call(&app, "GET", "/admin/v1/roles", Some(&token), None)
            .await
            .status,
        StatusCode::OK
    );
    let claims = claims_of(&token);
    app.state
        .engine
        .revoke_access_token(
            claims["jti"].as_str().unwrap(),
            claims["exp"].as_i64().unwrap(),
        )
        .await
        .unwrap();
    let answer = call(&app, "GET", "/admin/v1/roles", Some(&token), None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["error"], "invalid_token");

    // Revoking the grant kills every token issued from it.
    let tokens = tokens_for(&app, &client, "root", "openid admin").await;
    let second = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        call(&app, "GET", "/admin/v1/roles", Some(second), None)
            .await
            .status,
        StatusCode::OK
    );
    app.state
        .engine
        .revoke_grant(claims_of(second)["gid"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(
        call(&app, "GET", "/admin/v1/roles", Some(second), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_roles_claim_is_in_both_tokens_only_when_roles_is_granted() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let id = create_user(&app, "dora").await;
    app.state
        .sql
        .grant_role(&role_name("auditor"), &id)
        .await
        .unwrap();
    app.state
        .sql
        .grant_role(&role_name("client-admin"), &id)
        .await
        .unwrap();

    let tokens = tokens_for(&app, &client, "dora", "openid roles offline_access").await;
    let expected = json!(["auditor", "client-admin"]);
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["roles"],
        expected
    );
    assert_eq!(
        claims_of(tokens["access_token"].as_str().unwrap())["roles"],
        expected
    );

    // A refresh reads the roles again.
    app.state
        .sql
        .revoke_role(&role_name("auditor"), &id)
        .await
        .unwrap();
    let refreshed: Value = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims_of(refreshed["id_token"].as_str().unwrap())["roles"],
        json!(["client-admin"])
    );
    assert_eq!(
        claims_of(refreshed["access_token"].as_str().unwrap())["roles"],
        json!(["client-admin"])
    );

    let without = tokens_for(&app, &client, "dora", "openid").await;
    assert!(
        claims_of(without["id_token"].as_str().unwrap())
            .get("roles")
            .is_none()
    );
    assert!(
        claims_of(without["access_token"].as_str().unwrap())
            .get("roles")
            .is_none()
    );

    // The consent page says what `roles` means.
    let browser = Browser::new();
    let other = admin_client(&app).await;
    let (_, challenge) = pkce_pair();
    let login = browser
        .get(&authorize_url(
            &app,
            &other,
            &challenge,
            &[("scope", "openid roles")],
        ))
        .await;
    let login_url = login.headers()["location"].to_str().unwrap().to_owned();
    let login_url = if login_url.starts_with('/') {
        app.url(&login_url)
    } else {
        login_url
    };
    let consent = browser.log_in(&login_url, "dora", PASSWORD).await;
    let consent_url = consent.headers()["location"].to_str().unwrap().to_owned();
    let consent_url = if consent_url.starts_with('/') {
        app.url(&consent_url)
    } else {
        consent_url
    };
    let page = browser.get(&consent_url).await.text().await.unwrap();
    assert!(page.contains("See your roles"), "{page}");

    // A client that is not registered for `roles` cannot have it.
    let plain = register_client(&app, ClientSpec::default()).await;
    let res = Browser::new()
        .get(&authorize_url(
            &app,
            &plain,
            &challenge,
            &[("scope", "openid roles")],
        ))
        .await;
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        query_param(&location, "error").as_deref(),
        Some("invalid_scope")
    );
}

fn admin_init(
    db: &TestDatabase,
    dir: &std::path::Path,
    args: &[&str],
    stdin: &str,
) -> std::process::Output {
    let mut child = Command::new(palisade_binary())
        .args(["admin", "init"])
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", db.url())
        .env("PALISADE_DATA_DIR", dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn admin_init_then_signing_in_gives_a_working_admin_token() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let short = admin_init(&db, dir.path(), &["root", "--password-stdin"], "short\n");
    assert_eq!(short.status.code(), Some(1), "the password policy applies");
    let out = admin_init(
        &db,
        dir.path(),
        &["root", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created administrator root"));
    let again = admin_init(
        &db,
        dir.path(),
        &["second", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(again.status.code(), Some(1));
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(
        message.contains("already exists") && message.contains("role grant admin"),
        "{message}"
    );

    let app = spawn_app_with(db, TestEphemeral::create(), |_| {}).await;
    let client = admin_client(&app).await;
    let tokens = tokens_for(&app, &client, "root", "openid roles admin").await;
    assert_eq!(
        claims_of(tokens["id_token"].as_str().unwrap())["roles"],
        json!(["admin"])
    );
    let users = call(
        &app,
        "GET",
        "/admin/v1/users",
        tokens["access_token"].as_str(),
        None,
    )
    .await;
    assert_eq!(users.status, StatusCode::OK);
    assert_eq!(users.body["users"][0]["username"], "root");
    let events = app
        .state
        .sql
        .query(AuditQuery {
            action: Some("admin.init".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
}

#[tokio::test]
async fn unlocking_through_the_api_lifts_a_lock_and_is_audited() {
    use palisade_core::model::AccountLockout;
    use palisade_core::ports::LockoutRepository;
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (_, token) = user_with_roles(&app, &client, "helper", &["user-admin"]).await;
    let bob = create_user(&app, "bob").await;
    let now = app.state.clock.now();
    app.state
        .sql
        .save_account_lockout(AccountLockout {
            user_id: bob.clone(),
            failure_streak: 5,
            first_failure_at: Some(now),
            locked_until: Some(now + chrono::Duration::minutes(15)),
            lock_count: 1,
        })
        .await
        .unwrap();
    let path = format!("/admin/v1/users/{}", bob.0);
    let before = call(&app, "GET", &path, Some(&token), None).await;
    assert!(before.body["locked_until"].is_string(), "{}", before.body);
    let unlocked = call(&app, "POST", &format!("{path}/unlock"), Some(&token), None).await;
    assert_eq!(unlocked.status, StatusCode::OK);
    assert!(unlocked.body["locked_until"].is_null(), "{}", unlocked.body);
    let events = app
        .state
        .sql
        .query(AuditQuery {
            target: Some(format!("user:{}", bob.0)),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e.action == "admin.user.unlock"
            && e.details.as_deref() == Some(r#"{"was_locked":true}"#)),
        "{events:?}"
    );
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_with_its_permission() {
    let app = spawn_app().await;
    let doc = call(&app, "GET", admin::OPENAPI_PATH, None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    for route in admin::ROUTES {
        let op = &doc.body["paths"][route.path][route.verb.as_str().to_ascii_lowercase()];
        assert_eq!(
            op["x-palisade-permission"],
            route.permission.as_str(),
            "{}",
            route.path
        );
    }
}

#[tokio::test]
async fn wrong_inputs_get_json_errors_never_a_500() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let (root, token) = user_with_roles(&app, &client, "root", &["admin"]).await;
    let cases: Vec<(&str, String, Option<Value>, u16)> = vec![
        ("GET", "/admin/v1/users?limit=0".into(), None, 400),
        ("GET", "/admin/v1/users?limit=abc".into(), None, 400),
        ("GET", "/admin/v1/users?limit=1&limit=2".into(), None, 400),
        ("GET", "/admin/v1/users/no-such-user".into(), None, 404),
        (
            "POST",
            "/admin/v1/users".into(),
            Some(json!({ "username": "root", "password": "long enough pass" })),
            409,
        ),
        (
            "POST",
            "/admin/v1/users".into(),
            Some(json!({ "username": "has space", "password": "long enough pass" })),
            400,
        ),
        (
            "POST",
            "/admin/v1/users".into(),
            Some(json!({ "username": "shorty", "password": "short" })),
            400,
        ),
        (
            "POST",
            "/admin/v1/users".into(),
            Some(
                json!({ "username": "mailless", "password": "long enough pass", "email": "not-an-email" }),
            ),
            400,
        ),
        (
            "POST",
            "/admin/v1/users".into(),
            Some(json!({ "username": "common", "password": "password123" })),
            400,
        ),
        (
            "POST",
            "/admin/v1/users".into(),
            Some(json!({ "username": 7 })),
            400,
        ),
        (
            "POST",
            format!("/admin/v1/users/{}/password", root.0),
            Some(json!({})),
            400,
        ),
        (
            "PUT",
            format!("/admin/v1/users/{}/roles/no-such-role", root.0),
            None,
            404,
        ),
        (
            "POST",
            "/admin/v1/roles".into(),
            Some(json!({ "name": "Bad Name" })),
            400,
        ),
        (
            "POST",
            "/admin/v1/roles".into(),
            Some(json!({ "name": "admin" })),
            409,
        ),
        (
            "POST",
            "/admin/v1/roles".into(),
            Some(json!({ "name": "x", "permissions": ["users:delete"] })),
            400,
        ),
        (
            "PUT",
            "/admin/v1/roles/admin/permissions/users:delete".into(),
            None,
            400,
        ),
        (
            "PUT",
            "/admin/v1/roles/nope/permissions/users:read".into(),
            None,
            404,
        ),
        ("GET", "/admin/v1/clients/nope".into(), None, 404),
        (
            "POST",
            "/admin/v1/clients".into(),
            Some(json!({ "client_name": "x", "redirect_uris": ["http://evil.example/cb"] })),
            400,
        ),
        (
            "POST",
            "/admin/v1/keys/rotate".into(),
            Some(json!({ "alg": "HS256" })),
            400,
        ),
        ("POST", "/admin/v1/keys/nope/revoke".into(), None, 404),
        ("GET", "/admin/v1/audit?since=yesterday".into(), None, 400),
        ("GET", "/admin/v1/nothing-here".into(), None, 404),
    ];
    for (verb, path, body, status) in cases {
        let answer = call(&app, verb, &path, Some(&token), body.as_ref()).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{verb} {path}: {}",
            answer.body
        );
        assert!(
            answer.body["error"].is_string(),
            "{verb} {path}: {}",
            answer.body
        );
        assert_eq!(answer.headers["cache-control"], "no-store");
    }
}
