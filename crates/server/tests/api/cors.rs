//! CORS for browser-based clients (the Fetch standard §3.2; crates/server/src/cors.rs): exactly
//! the endpoints a single-page application calls answer it, only for the origins of registered
//! redirect URIs, preflights included; nothing else answers it. The same rules in a real
//! browser are in headless_chromium.rs.

use crate::harness::{TestApp, spawn_app_with, start_node};
use crate::support::{ClientSpec, register_client};
use palisade::config::RegistrationMode;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SPA_ORIGIN: &str = "http://127.0.0.1:5173";
const SPA_REDIRECT_URI: &str = "http://127.0.0.1:5173/callback";

/// A server whose open registration is not rate-limited for the test's own requests.
async fn open_app() -> TestApp {
    spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Open;
        s.registration.max_per_minute = 10_000;
    })
    .await
}

/// A public client (PKCE, no secret) whose redirect URI is on `SPA_ORIGIN`.
async fn spa_client(app: &TestApp) {
    register_client(
        app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            redirect_uris: vec![SPA_REDIRECT_URI.into()],
            ..ClientSpec::default()
        },
    )
    .await;
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn cors_headers(&self) -> Vec<String> {
        self.headers
            .keys()
            .map(|name| name.as_str().to_owned())
            .filter(|name| name.starts_with("access-control-"))
            .collect()
    }

    fn varies_by_origin(&self) -> bool {
        self.headers
            .get_all("vary")
            .iter()
            .flat_map(|v| v.to_str().unwrap().split(','))
            .any(|v| v.trim().eq_ignore_ascii_case("origin"))
    }
}

/// `method path` from `origin` (none: no `Origin` header), with a form body for `POST`.
async fn call(app_url: &str, method: &str, path: &str, origin: Option<&str>) -> Answer {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = reqwest::Client::new().request(method.clone(), format!("{app_url}{path}"));
    if let Some(origin) = origin {
        req = req.header("origin", origin);
    }
    if method == Method::POST {
        req = req.form(&[("grant_type", "authorization_code"), ("code", "nope")]);
    }
    let res = req.send().await.unwrap();
    Answer {
        status: res.status(),
        headers: res.headers().clone(),
    }
}

/// A preflight for `method` with `headers` (the `Access-Control-Request-Headers` value).
async fn preflight(
    app_url: &str,
    path: &str,
    origin: &str,
    method: &str,
    headers: Option<&str>,
) -> Answer {
    let mut req = reqwest::Client::new()
        .request(Method::OPTIONS, format!("{app_url}{path}"))
        .header("origin", origin)
        .header("access-control-request-method", method);
    if let Some(headers) = headers {
        req = req.header("access-control-request-headers", headers);
    }
    let res = req.send().await.unwrap();
    Answer {
        status: res.status(),
        headers: res.headers().clone(),
    }
}

/// Every (method, path) that answers CORS.
const CORS_CALLS: [(&str, &str); 8] = [
    ("POST", "/token"),
    ("POST", "/par"),
    ("GET", "/userinfo"),
    ("POST", "/userinfo"),
    ("POST", "/revoke"),
    ("GET", "/.well-known/openid-configuration"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/jwks"),
];

#[tokio::test]
async fn an_allowed_origin_is_echoed_with_vary_and_the_exposed_headers_on_every_cors_endpoint() {
    let app = open_app().await;
    spa_client(&app).await;
    for (method, path) in CORS_CALLS {
        let answer = call(&app.base_url, method, path, Some(SPA_ORIGIN)).await;
        assert_eq!(
            answer.header("access-control-allow-origin"),
            Some(SPA_ORIGIN),
            "{method} {path} ({})",
            answer.status
        );
        assert!(answer.varies_by_origin(), "{method} {path}");
        assert_eq!(
            answer.header("access-control-expose-headers"),
            Some("WWW-Authenticate, Retry-After, DPoP-Nonce"),
            "{method} {path}"
        );
        assert_eq!(
            answer.header("access-control-allow-credentials"),
            None,
            "{method} {path}: bearer tokens, never cookies"
        );
    }
    // The answer a page most needs to read: userinfo's challenge, error answers included.
    let userinfo = call(&app.base_url, "GET", "/userinfo", Some(SPA_ORIGIN)).await;
    assert_eq!(userinfo.status, StatusCode::UNAUTHORIZED);
    assert!(userinfo.header("www-authenticate").is_some());
    let token = call(&app.base_url, "POST", "/token", Some(SPA_ORIGIN)).await;
    assert_eq!(
        token.status,
        StatusCode::UNAUTHORIZED,
        "no client authentication"
    );
}

#[tokio::test]
async fn an_unknown_origin_gets_no_allow_origin_and_every_answer_varies_by_origin() {
    let app = open_app().await;
    spa_client(&app).await;
    for (method, path) in CORS_CALLS {
        for origin in [
            Some("https://evil.example"),
            Some("null"),
            Some("http://127.0.0.1:5174"),
            Some("http://127.0.0.1:5173/"),
            Some("*"),
            None,
        ] {
            let answer = call(&app.base_url, method, path, origin).await;
            assert_eq!(
                answer.cors_headers(),
                Vec::<String>::new(),
                "{method} {path} from {origin:?}"
            );
            assert!(
                answer.varies_by_origin(),
                "{method} {path} from {origin:?}: a cache must not hand this to another origin"
            );
        }
    }
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_approved_with_the_paths_methods_and_headers() {
    let app = open_app().await;
    spa_client(&app).await;
    let cases = [
        ("/userinfo", "GET", Some("authorization"), "GET, POST"),
        (
            "/userinfo",
            "POST",
            Some("authorization,content-type"),
            "GET, POST",
        ),
        ("/token", "POST", Some("content-type"), "POST"),
        ("/par", "POST", Some("content-type,dpop"), "POST"),
        ("/revoke", "POST", Some("Authorization"), "POST"),
        ("/jwks", "GET", None, "GET"),
        (
            "/.well-known/openid-configuration",
            "GET",
            Some("content-type"),
            "GET",
        ),
        (
            "/.well-known/oauth-authorization-server",
            "GET",
            None,
            "GET",
        ),
    ];
    for (path, method, headers, methods) in cases {
        let answer = preflight(&app.base_url, path, SPA_ORIGIN, method, headers).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{method} {path}");
        assert_eq!(
            answer.header("access-control-allow-origin"),
            Some(SPA_ORIGIN)
        );
        assert_eq!(answer.header("access-control-allow-methods"), Some(methods));
        assert_eq!(
            answer.header("access-control-allow-headers"),
            Some("Authorization, Content-Type")
        );
        assert_eq!(answer.header("access-control-max-age"), Some("600"));
        assert_eq!(answer.header("access-control-allow-credentials"), None);
        assert!(answer.varies_by_origin());
    }
}

#[tokio::test]
async fn a_preflight_from_another_origin_or_for_another_method_or_header_is_refused() {
    let app = open_app().await;
    spa_client(&app).await;
    let cases = [
        (
            "/userinfo",
            "https://evil.example",
            "GET",
            Some("authorization"),
        ),
        ("/token", "null", "POST", None),
        ("/token", "http://127.0.0.1:5174", "POST", None),
        ("/token", SPA_ORIGIN, "DELETE", None),
        ("/jwks", SPA_ORIGIN, "POST", None),
        ("/token", SPA_ORIGIN, "POST", Some("x-custom")),
        (
            "/userinfo",
            SPA_ORIGIN,
            "GET",
            Some("authorization, cookie"),
        ),
    ];
    for (path, origin, method, headers) in cases {
        let answer = preflight(&app.base_url, path, origin, method, headers).await;
        assert_eq!(
            answer.status,
            StatusCode::FORBIDDEN,
            "{method} {path} from {origin} asking {headers:?}"
        );
        assert_eq!(answer.cors_headers(), Vec::<String>::new());
    }
}

#[tokio::test]
async fn the_browser_pages_registration_introspection_and_admin_answer_no_cors_at_all() {
    let app = open_app().await;
    spa_client(&app).await;
    let calls = [
        ("GET", "/authorize"),
        ("POST", "/authorize"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/consent"),
        ("GET", "/logout"),
        ("POST", "/introspect"),
        ("POST", "/register"),
        ("GET", "/admin/v1/users"),
        ("GET", "/admin/v1/clients"),
        ("GET", "/"),
        ("GET", "/healthz"),
    ];
    for (method, path) in calls {
        let answer = call(&app.base_url, method, path, Some(SPA_ORIGIN)).await;
        assert_eq!(
            answer.cors_headers(),
            Vec::<String>::new(),
            "{method} {path} ({})",
            answer.status
        );
        assert!(!answer.varies_by_origin(), "{method} {path}");
        let answer = preflight(
            &app.base_url,
            path,
            SPA_ORIGIN,
            method,
            Some("authorization"),
        )
        .await;
        // Whatever the route table answers an OPTIONS, without these the browser refuses.
        assert_eq!(
            answer.cors_headers(),
            Vec::<String>::new(),
            "preflight of {method} {path} ({})",
            answer.status
        );
    }
}

/// Registers a public client on `origin` through `POST /register` (RFC 7591); its
/// `registration_client_uri` and registration access token.
async fn register_spa(app: &TestApp, redirect_uri: &str) -> (String, String) {
    let res = app
        .client
        .post(app.url("/register"))
        .json(&json!({
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none",
            "client_name": "New SPA",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    (
        body["registration_client_uri"].as_str().unwrap().to_owned(),
        body["registration_access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    )
}

pub(crate) async fn allowed_at(base_url: &str, origin: &str) -> bool {
    let answer = call(base_url, "GET", "/jwks", Some(origin)).await;
    answer.header("access-control-allow-origin") == Some(origin)
}

#[tokio::test]
async fn a_newly_registered_client_s_origin_is_allowed_at_once_and_a_deleted_one_s_no_longer() {
    let app = open_app().await;
    let origin = "https://new-spa.example";
    // Seen refused first, so the set is cached before the registration.
    assert!(!allowed_at(&app.base_url, origin).await);

    let (uri, token) = register_spa(&app, "https://new-spa.example/cb").await;
    assert!(
        allowed_at(&app.base_url, origin).await,
        "after registration"
    );

    let deleted = app
        .client
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!allowed_at(&app.base_url, origin).await, "after deletion");
    let answer = preflight(
        &app.base_url,
        "/userinfo",
        origin,
        "GET",
        Some("authorization"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn another_node_sees_a_new_or_removed_client_s_origin_within_the_cache_ttl() {
    let app = open_app().await;
    let other = start_node(&app, |_| {}).await;
    let origin = "https://elsewhere.example";
    assert!(!allowed_at(&other.base_url, origin).await);

    let (uri, token) = register_spa(&app, "https://elsewhere.example/cb").await;
    assert!(allowed_at(&app.base_url, origin).await);
    // On PostgreSQL the change is announced, and the other node may have it already
    // (propagation.rs measures how soon); the TTL is the bound without an announcement.
    if app.database.backend() == palisade_store::Backend::Sqlite {
        assert!(
            !allowed_at(&other.base_url, origin).await,
            "the other node's set is still cached"
        );
    }
    app.clock.advance(chrono::Duration::seconds(5));
    assert!(allowed_at(&other.base_url, origin).await, "after the TTL");

    let deleted = app
        .client
        .delete(&uri)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert!(!allowed_at(&app.base_url, origin).await);
    app.clock.advance(chrono::Duration::seconds(5));
    assert!(
        !allowed_at(&other.base_url, origin).await,
        "a removed client's origin stops working on every node within the TTL"
    );
}
