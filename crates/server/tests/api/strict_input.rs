//! Strict input, exact answers (docs/threat-model.md IN-07..IN-10): a method a route does not
//! serve is 405 with `Allow`, request parameters are strict UTF-8, JSON bodies with a repeated
//! member name are refused by name, and the metrics' method label is a fixed set.

use crate::admin_api::{admin_client, call, tokens_for};
use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app, spawn_app_with};
use crate::support::{Browser, ClientSpec, create_user, pkce_pair, query_param, register_client};
use palisade::config::RegistrationMode;
use palisade::routes;
use palisade_core::model::RoleName;
use palisade_core::ports::{ClientRepository, RoleRepository, UserRepository};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;

/// The methods every path is probed with: the standard ones (CONNECT aside: it names a host,
/// not a path) and extension methods nobody serves.
const PROBES: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "PROPFIND",
];

/// A concrete URL path for a route pattern (`{name}` segments become `x`).
fn concrete(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// Each path of the route table with the methods it serves.
fn served_by_path() -> Vec<(&'static str, BTreeSet<&'static str>)> {
    let mut paths: Vec<(&'static str, BTreeSet<&'static str>)> = Vec::new();
    for (method, path) in routes::all_routes() {
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, methods)) => {
                methods.insert(method);
            }
            None => paths.push((path, BTreeSet::from([method]))),
        }
    }
    paths
}

async fn send(app: &TestApp, method: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            app.url(path),
        )
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn every_route_answers_405_with_exactly_its_methods_for_any_other_method() {
    let app = spawn_app().await;
    let paths = served_by_path();
    assert!(paths.iter().any(|(p, _)| p.starts_with("/admin/v1/")));
    let mut refused = 0;
    for (path, served) in &paths {
        let url_path = concrete(path);
        for method in PROBES {
            let res = send(&app, method, &url_path).await;
            let what = format!("{method} {path} -> {}", res.status());
            if served.contains(method) {
                assert_ne!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{what}");
                continue;
            }
            assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{what}");
            let allow = res.headers()["allow"].to_str().unwrap().to_owned();
            let listed: Vec<&str> = allow.split(',').map(str::trim).collect();
            let unique: BTreeSet<&str> = listed.iter().copied().collect();
            assert_eq!(unique.len(), listed.len(), "{what}: Allow {allow} repeats");
            assert_eq!(&unique, served, "{what}: Allow {allow}");
            assert_eq!(res.headers()["cache-control"], "no-store", "{what}");
            let content_type = res
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = res.text().await.unwrap();
            if method == "HEAD" {
                assert!(body.is_empty(), "{what}");
            } else if path.starts_with("/admin/v1/") {
                // The admin API answers in its own JSON dialect.
                let body: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(body["error"], "method_not_allowed", "{what}");
            } else {
                assert!(content_type.starts_with("text/html"), "{what}");
                assert!(body.contains("Method not allowed"), "{what}");
            }
            refused += 1;
        }
    }
    assert!(refused > paths.len() * 5, "{refused} refusals");
    // Unknown paths stay 404, whatever the method.
    for (method, path) in [
        ("GET", "/tokens"),
        ("POST", "/token/"),
        ("TRACE", "/nowhere"),
        ("FOO", "/nowhere"),
        ("GET", "/register/x/y"),
        ("DELETE", "/admin/v1/nowhere"),
        ("GET", "/static/a/b"),
    ] {
        let res = send(&app, method, path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
        assert!(res.headers().get("allow").is_none(), "{method} {path}");
    }
}

/// An error page: 400, HTML, no redirect, saying why.
async fn assert_utf8_error_page(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
    assert!(res.headers().get("location").is_none(), "{what} redirected");
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(
        content_type.starts_with("text/html"),
        "{what}: {content_type}"
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("invalid_request"), "{what}: {body}");
    assert!(body.contains("is not valid UTF-8"), "{what}: {body}");
}

#[tokio::test]
async fn parameters_that_are_not_utf8_get_the_error_page_at_authorize_and_the_browser_routes() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    for bad in ["state=%FF", "state=%C3%28", "nonce=%ED%A0%80", "%FF=x"] {
        // Everything else is valid: leniently decoded, this request would go on to the login.
        let url = authorize_url(&app, &client, &challenge, &[("state", "")]) + "&" + bad;
        assert_utf8_error_page(browser.get(&url).await, &format!("GET /authorize {bad}")).await;
        let form = url.split_once('?').unwrap().1.to_owned();
        let res = browser
            .http
            .post(app.url("/authorize"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_utf8_error_page(res, &format!("POST /authorize {bad}")).await;
    }
    for path in [
        "/login?interaction=%FF",
        "/consent?interaction=%C3%28",
        "/logout?client_id=%FF",
    ] {
        assert_utf8_error_page(browser.get(&app.url(path)).await, path).await;
    }
    for (path, form) in [
        (
            "/login",
            "interaction_id=x&csrf_token=y&username=alice&password=%FF",
        ),
        ("/consent", "interaction_id=x&csrf_token=y&decision=%C3%28"),
        ("/logout/confirm", "csrf_token=%FF"),
        ("/logout", "id_token_hint=%FF"),
    ] {
        let res = browser
            .http
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .unwrap();
        assert_utf8_error_page(res, &format!("POST {path} {form}")).await;
    }
}

#[tokio::test]
async fn a_non_ascii_state_comes_back_exactly_as_sent() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, challenge) = pkce_pair();
    let state = "état✓ 🔒&=+%FF";
    let url = authorize_url(&app, &client, &challenge, &[("state", state)]);
    let back = Browser::new().authorize(&url, "alice").await;
    assert!(back.starts_with(&client.redirect_uri), "{back}");
    assert!(query_param(&back, "code").is_some(), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(state),
        "{back}"
    );
}

#[tokio::test]
async fn parameters_that_are_not_utf8_are_invalid_request_at_the_json_endpoints() {
    let app = spawn_app().await;
    let confidential = register_client(&app, ClientSpec::default()).await;
    let secret = confidential.secret.clone().unwrap();
    let cases: [(&str, String, bool); 6] = [
        (
            "/token",
            format!(
                "grant_type=authorization_code&code=%FF&redirect_uri={}",
                confidential.redirect_uri
            ),
            true,
        ),
        (
            "/token",
            "grant_type=authorization_code&code=abc&client_id=%C3%28".into(),
            false,
        ),
        ("/token", "grant_type=client_%FFcredentials".into(), true),
        ("/introspect", "token=%FF".into(), true),
        ("/revoke", "token=%C3%28".into(), true),
        ("/userinfo", "access_token=%FF".into(), false),
    ];
    for (path, form, basic) in cases {
        let mut req = app
            .client
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone());
        if basic {
            req = req.basic_auth(&confidential.id, Some(&secret));
        }
        let res = req.send().await.unwrap();
        let what = format!("{path} {form}");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(res.headers()["cache-control"], "no-store", "{what}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{what}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("is not valid UTF-8"),
            "{what}: {body}"
        );
    }
    // In the query of a bearer-protected GET too.
    let res = app
        .client
        .get(app.url("/userinfo?claims=%FF"))
        .bearer_auth("any-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
}

/// A server with open registration, unthrottled for the test's own requests.
async fn open_registration_app() -> TestApp {
    spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Open;
        s.registration.max_per_minute = 10_000;
    })
    .await
}

async fn post_json(app: &TestApp, method: reqwest::Method, url: &str, body: &str) -> (u16, Value) {
    let res = app
        .client
        .request(method, url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn registration_refuses_a_repeated_member_by_name_and_stores_nothing() {
    let app = open_registration_app().await;
    let register = app.url("/register");
    let cases = [
        (
            r#"{"redirect_uris":["https://rp.example/cb"],"client_name":"Good","client_name":"Evil"}"#,
            r#""client_name""#,
        ),
        (
            r#"{"redirect_uris":["https://rp.example/cb"],"redirect_uris":["https://evil.example/cb"]}"#,
            r#""redirect_uris""#,
        ),
        (
            r#"{"redirect_uris":["https://rp.example/cb"],"jwks":{"keys":[{"kty":"EC","kty":"RSA"}]}}"#,
            r#""jwks.keys[0].kty""#,
        ),
    ];
    for (body, named) in cases {
        let (status, answer) = post_json(&app, reqwest::Method::POST, &register, body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(
            answer["error"], "invalid_client_metadata",
            "{body}: {answer}"
        );
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.contains(named), "{body}: {description}");
    }
    assert!(app.state.sql.list_clients().await.unwrap().is_empty());

    // RFC 7592 update: the same rule, and the client keeps its metadata.
    let (status, created) = post_json(
        &app,
        reqwest::Method::POST,
        &register,
        r#"{"redirect_uris":["https://rp.example/cb"],"client_name":"Good"}"#,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["client_id"].as_str().unwrap();
    let uri = created["registration_client_uri"].as_str().unwrap();
    let token = created["registration_access_token"].as_str().unwrap();
    let update = format!(
        r#"{{"client_id":"{client_id}","redirect_uris":["https://rp.example/cb"],"client_name":"Evil","client_name":"Good"}}"#
    );
    let res = app
        .client
        .put(uri)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(update)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_client_metadata", "{answer}");
    assert!(
        answer["error_description"]
            .as_str()
            .unwrap()
            .contains(r#""client_name""#),
        "{answer}"
    );
    let stored = app
        .state
        .sql
        .find_client(&palisade_core::model::ClientId(client_id.to_owned()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.name, "Good");
}

#[tokio::test]
async fn the_admin_api_refuses_a_repeated_member_and_a_query_that_is_not_utf8() {
    let app = spawn_app().await;
    let client = admin_client(&app).await;
    let root = create_user(&app, "root").await;
    app.state
        .sql
        .grant_role(&RoleName::parse("admin").unwrap(), &root)
        .await
        .unwrap();
    let tokens = tokens_for(&app, &client, "root", "openid admin").await;
    let token = tokens["access_token"].as_str().unwrap();
    let cases = [
        (
            "/admin/v1/users",
            r#"{"username":"dupe","password":"long enough pass","username":"shadow"}"#,
            r#""username""#,
        ),
        (
            "/admin/v1/clients",
            r#"{"client_name":"x","redirect_uris":["https://rp.example/cb"],"redirect_uris":["https://evil.example/cb"]}"#,
            r#""redirect_uris""#,
        ),
    ];
    for (path, body, named) in cases {
        let res = app
            .client
            .post(app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let answer: Value = res.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request", "{answer}");
        let description = answer["error_description"].as_str().unwrap();
        assert!(description.contains(named), "{body}: {description}");
    }
    for username in ["dupe", "shadow"] {
        let found = app
            .state
            .sql
            .find_user_by_username(&palisade_core::model::Username::parse(username).unwrap())
            .await
            .unwrap();
        assert!(found.is_none(), "{username} was created");
    }
    // Only the admin client exists; no client was registered.
    assert_eq!(app.state.sql.list_clients().await.unwrap().len(), 1);

    let answer = call(&app, "GET", "/admin/v1/users?search=%FF", Some(token), None).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.body);
    assert_eq!(answer.body["error"], "invalid_request");
}

#[tokio::test]
async fn random_methods_are_counted_as_other_and_create_no_series() {
    let app = spawn_app().await;
    let methods: Vec<String> = (0..20)
        .map(|_| format!("XM{}", uuid::Uuid::new_v4().simple()).to_uppercase())
        .collect();
    for (i, method) in methods.iter().enumerate() {
        let path = ["/token", "/", "/no/such/page"][i % 3];
        let res = send(&app, method, path).await;
        assert!(res.status().is_client_error(), "{method} {path}");
    }
    let text = app.get_text("/metrics").await;
    for method in &methods {
        assert!(!text.contains(method.as_str()), "{method} became a label");
    }
    assert!(
        text.lines()
            .any(|l| l.starts_with("palisade_http_requests_total")
                && l.contains(r#"method="OTHER""#)
                && l.contains(r#"route="/token""#)
                && l.contains(r#"status="405""#)),
        "{text}"
    );
}
