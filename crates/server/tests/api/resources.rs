//! Resource indicators over HTTP (RFC 8707): `resource` at `/authorize` (errors redirected),
//! `/par` and `/token` (JSON 400 `invalid_target`); the access token's `aud` is the resource
//! and its scope what the resource accepts; a code exchange or a refresh may narrow the
//! granted resources, never widen them; client_credentials; introspection shows `aud` as it
//! is; userinfo refuses a token for another resource; only the operator sets a client's
//! resources.

use crate::admin_api::claims_of;
use crate::authorize_rules::authorize_url;
use crate::harness::TestApp;
use crate::par::{JsonAnswer, change_client, post_as, push, redeem, spawn_app_adjusted};
use crate::support::{
    Browser, ClientSpec, TestClient, create_user, location, pkce_pair, query_param, register_client,
};
use palisade_flow::resource::{ResourceRegistry, ResourceSetting};
use reqwest::StatusCode;
use serde_json::{Value, json};

const API: &str = "https://api.example/";
const REPORTS: &str = "https://reports.example/v1";
/// Known to the server, but no client here may ask for it.
const OTHER: &str = "https://other.example/";

/// A server that knows three resources: the API (read, write), reports (read) and another.
async fn app_with_resources() -> TestApp {
    spawn_app_adjusted(|s| {
        let setting = |uri: &str, scopes: &[&str]| ResourceSetting {
            uri: uri.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        };
        s.resources = ResourceRegistry::from_settings(&[
            setting(API, &["read", "write"]),
            setting(REPORTS, &["read"]),
            setting(OTHER, &["read"]),
        ])
        .unwrap();
    })
    .await
}

/// A confidential client registered for `read` and `write` that may ask for the API and reports.
async fn api_client(app: &TestApp, grant_types: Vec<&'static str>) -> TestClient {
    let client = register_client(
        app,
        ClientSpec {
            grant_types,
            scopes: vec!["read", "write"],
            ..ClientSpec::default()
        },
    )
    .await;
    change_client(app, &client, |c| {
        c.resources = vec![API.into(), REPORTS.into()]
    })
    .await;
    client
}

/// Alice's code for `params` (scope, resource...), through login and consent; and its verifier.
async fn code_for(app: &TestApp, client: &TestClient, params: &[(&str, &str)]) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let url = authorize_url(app, client, &challenge, params);
    let back = Browser::new().authorize(&url, "alice").await;
    (
        query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}")),
        verifier,
    )
}

/// `url` with `resource` appended once per value (a repeated parameter).
fn with_resources(url: &str, resources: &[&str]) -> String {
    let mut url = url::Url::parse(url).unwrap();
    for r in resources {
        url.query_pairs_mut().append_pair("resource", r);
    }
    url.to_string()
}

/// The resources a request may not name, and why.
fn invalid_resources() -> [(&'static str, &'static str); 5] {
    [
        ("a relative reference", "/api"),
        ("no scheme", "api.example"),
        ("a fragment", "https://api.example/#part"),
        ("known but not the client's", OTHER),
        ("unknown", "https://unknown.example/"),
    ]
}

fn assert_invalid_target(answer: &JsonAnswer, name: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{name}: {}",
        answer.body
    );
    assert_eq!(answer.error(), "invalid_target", "{name}: {}", answer.body);
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"), "{name}");
}

#[tokio::test]
async fn an_invalid_resource_at_authorize_is_invalid_target_redirected_to_the_client() {
    let app = app_with_resources().await;
    let client = api_client(&app, vec!["authorization_code"]).await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    for (name, resource) in invalid_resources() {
        let url = authorize_url(&app, &client, &challenge, &[("resource", resource)]);
        let back = location(&browser.get(&url).await);
        assert!(back.starts_with(&client.redirect_uri), "{name}: {back}");
        assert_eq!(
            query_param(&back, "error").as_deref(),
            Some("invalid_target"),
            "{name}: {back}"
        );
        assert_eq!(query_param(&back, "state").as_deref(), Some("st1"));
    }
    // One good and one bad value: the request is refused as a whole.
    let url = with_resources(
        &authorize_url(&app, &client, &challenge, &[]),
        &[API, "https://unknown.example/"],
    );
    let back = location(&browser.get(&url).await);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_target")
    );
}

#[tokio::test]
async fn an_invalid_resource_at_par_is_a_json_invalid_target() {
    let app = app_with_resources().await;
    let client = api_client(&app, vec!["authorization_code"]).await;
    let (_, challenge) = pkce_pair();
    for (name, resource) in invalid_resources() {
        let answer = push(&app, &client, &challenge, &[("resource", resource)]).await;
        assert_invalid_target(&answer, name);
    }
    let answer = push(&app, &client, &challenge, &[("resource", API)]).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

#[tokio::test]
async fn an_invalid_resource_at_token_is_a_json_invalid_target() {
    let app = app_with_resources().await;
    let service = api_client(&app, vec!["client_credentials"]).await;
    for (name, resource) in invalid_resources() {
        let answer = post_as(
            &app,
            &service,
            "/token",
            &[("grant_type", "client_credentials"), ("resource", resource)],
        )
        .await;
        assert_invalid_target(&answer, name);
    }

    create_user(&app, "alice").await;
    let client = api_client(&app, vec!["authorization_code"]).await;
    for (name, resource) in invalid_resources() {
        let (code, verifier) = code_for(&app, &client, &[("resource", API)]).await;
        let answer = redeem(&app, &client, &code, &verifier, &[("resource", resource)]).await;
        assert_invalid_target(&answer, name);
    }
}

#[tokio::test]
async fn the_access_token_is_for_the_resources_with_the_scopes_they_accept() {
    let app = app_with_resources().await;
    create_user(&app, "alice").await;
    let client = api_client(&app, vec!["authorization_code"]).await;
    let (verifier, challenge) = pkce_pair();
    let url = with_resources(
        &authorize_url(&app, &client, &challenge, &[("scope", "openid read write")]),
        &[API, REPORTS],
    );
    let back = Browser::new().authorize(&url, "alice").await;
    let code = query_param(&back, "code").expect("a code");
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let access = claims_of(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], json!([API, REPORTS]));
    // `openid` is for this server, not for the APIs: the access token does not carry it.
    assert_eq!(access["scope"], "read write");
    assert_eq!(tokens.body["scope"], "read write");
    // The ID token is the client's, whatever the access token is for.
    let id_token = claims_of(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], client.id.as_str());

    // Without a resource, the token is for this server with every granted scope, as before.
    let (code, verifier) = code_for(&app, &client, &[("scope", "openid read")]).await;
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    let access = claims_of(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], app.base_url.as_str());
    assert_eq!(access["scope"], "openid read");
}

#[tokio::test]
async fn a_code_exchange_may_narrow_the_resources_to_a_subset() {
    let app = app_with_resources().await;
    create_user(&app, "alice").await;
    let client = api_client(&app, vec!["authorization_code"]).await;
    let (verifier, challenge) = pkce_pair();
    let url = with_resources(
        &authorize_url(&app, &client, &challenge, &[("scope", "openid read write")]),
        &[API, REPORTS],
    );
    let back = Browser::new().authorize(&url, "alice").await;
    let code = query_param(&back, "code").expect("a code");
    let tokens = redeem(&app, &client, &code, &verifier, &[("resource", REPORTS)]).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let access = claims_of(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], REPORTS, "one resource is one string");
    assert_eq!(access["scope"], "read");

    // A resource the client may ask for, but that this grant does not hold, widens it.
    let (code, verifier) = code_for(&app, &client, &[("resource", API)]).await;
    let widened = redeem(&app, &client, &code, &verifier, &[("resource", REPORTS)]).await;
    assert_invalid_target(&widened, "widening at the exchange");
}

#[tokio::test]
async fn a_refresh_narrows_the_resources_and_never_widens_them() {
    let app = app_with_resources().await;
    create_user(&app, "alice").await;
    let client = api_client(&app, vec!["authorization_code", "refresh_token"]).await;
    let (verifier, challenge) = pkce_pair();
    let url = with_resources(
        &authorize_url(
            &app,
            &client,
            &challenge,
            &[("scope", "openid offline_access read write")],
        ),
        &[API, REPORTS],
    );
    let back = Browser::new().authorize(&url, "alice").await;
    let code = query_param(&back, "code").expect("a code");
    // The exchange narrows to reports; the grant (and so the refresh token) keeps both.
    let tokens = redeem(&app, &client, &code, &verifier, &[("resource", REPORTS)]).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let refresh = tokens.body["refresh_token"].as_str().unwrap().to_owned();

    let refresh_with = |refresh: String, resource: Option<&'static str>| {
        let app = &app;
        let client = &client;
        async move {
            let mut form = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ];
            if let Some(resource) = resource {
                form.push(("resource", resource));
            }
            post_as(app, client, "/token", &form).await
        }
    };
    for resource in [OTHER, "https://unknown.example/"] {
        let widened = refresh_with(refresh.clone(), Some(resource)).await;
        assert_invalid_target(&widened, resource);
    }
    // The refused refreshes spent nothing: the token still works.
    let narrowed = refresh_with(refresh.clone(), Some(API)).await;
    assert_eq!(narrowed.status, StatusCode::OK, "{}", narrowed.body);
    let access = claims_of(narrowed.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], API);
    assert_eq!(access["scope"], "read write");

    let refresh = narrowed.body["refresh_token"].as_str().unwrap().to_owned();
    let whole = refresh_with(refresh, None).await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    let access = claims_of(whole.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], json!([API, REPORTS]));
}

#[tokio::test]
async fn a_refresh_of_a_grant_without_resources_cannot_add_one() {
    let app = app_with_resources().await;
    create_user(&app, "alice").await;
    let client = api_client(&app, vec!["authorization_code", "refresh_token"]).await;
    let (code, verifier) =
        code_for(&app, &client, &[("scope", "openid offline_access read")]).await;
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    let refresh = tokens.body["refresh_token"].as_str().unwrap();
    let widened = post_as(
        &app,
        &client,
        "/token",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("resource", API),
        ],
    )
    .await;
    assert_invalid_target(&widened, "a resource the grant never had");
}

#[tokio::test]
async fn client_credentials_with_resources_are_for_them() {
    let app = app_with_resources().await;
    let service = api_client(&app, vec!["client_credentials"]).await;
    let answer = post_as(
        &app,
        &service,
        "/token",
        &[("grant_type", "client_credentials"), ("resource", REPORTS)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let access = claims_of(answer.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], REPORTS);
    assert_eq!(access["scope"], "read", "reports accept only read");
    assert_eq!(answer.body["scope"], "read");

    let both = post_as(
        &app,
        &service,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("resource", API),
            ("resource", REPORTS),
            ("scope", "write"),
        ],
    )
    .await;
    assert_eq!(both.status, StatusCode::OK, "{}", both.body);
    let access = claims_of(both.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], json!([API, REPORTS]));
    assert_eq!(access["scope"], "write");

    let plain = post_as(
        &app,
        &service,
        "/token",
        &[("grant_type", "client_credentials")],
    )
    .await;
    let access = claims_of(plain.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], app.base_url.as_str());
    assert_eq!(access["scope"], "read write");

    // The audit trail says which API each token opens (written in the background: wait a bit).
    let query = palisade_core::model::AuditQuery {
        action: Some("token.issue".into()),
        actor: Some(format!("client:{}", service.id)),
        limit: 10,
        ..Default::default()
    };
    let mut issued = Vec::new();
    for _ in 0..100 {
        issued = palisade_core::ports::AuditLog::query(&app.state.sql, query.clone())
            .await
            .unwrap();
        if issued.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut audiences: Vec<Value> = issued
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e.details.as_deref().unwrap()).unwrap()["aud"].clone()
        })
        .collect();
    audiences.sort_by_key(|a| a.to_string());
    assert_eq!(
        audiences,
        [json!([API, REPORTS]), json!([REPORTS]), Value::Null],
        "{issued:?}"
    );
}

#[tokio::test]
async fn introspection_shows_aud_as_in_the_token_and_userinfo_refuses_a_token_for_an_api() {
    let app = app_with_resources().await;
    create_user(&app, "alice").await;
    let client = api_client(&app, vec!["authorization_code"]).await;
    let (verifier, challenge) = pkce_pair();
    let url = with_resources(
        &authorize_url(&app, &client, &challenge, &[("scope", "openid read")]),
        &[API, REPORTS],
    );
    let back = Browser::new().authorize(&url, "alice").await;
    let code = query_param(&back, "code").expect("a code");
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    let for_apis = tokens.body["access_token"].as_str().unwrap().to_owned();

    let introspected = post_as(&app, &client, "/introspect", &[("token", &for_apis)]).await;
    assert_eq!(introspected.body["active"], true, "{}", introspected.body);
    assert_eq!(introspected.body["aud"], json!([API, REPORTS]));

    let userinfo = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(&for_apis)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    let challenge_header = userinfo.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge_header.contains("invalid_token"),
        "{challenge_header}"
    );

    // A token for this server still reads userinfo.
    let (code, verifier) = code_for(&app, &client, &[("scope", "openid")]).await;
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    let for_us = tokens.body["access_token"].as_str().unwrap();
    let userinfo = app
        .client
        .get(app.url("/userinfo"))
        .bearer_auth(for_us)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_pushed_request_carries_its_resources_to_the_token() {
    let app = app_with_resources().await;
    create_user(&app, "alice").await;
    let client = api_client(&app, vec!["authorization_code"]).await;
    let (verifier, challenge) = pkce_pair();
    let mut form: Vec<(String, String)> =
        crate::par::request_params(&client, &challenge, &[("scope", "openid write")]);
    form.push(("resource".into(), API.into()));
    form.push(("resource".into(), REPORTS.into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let pushed = post_as(&app, &client, "/par", &form).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    let request_uri = pushed.body["request_uri"].as_str().unwrap();
    let url = crate::par::authorize_by_reference(&app, &client.id, request_uri, &[]);
    let back = Browser::new().authorize(&url, "alice").await;
    let code = query_param(&back, "code").expect("a code");
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    let access = claims_of(tokens.body["access_token"].as_str().unwrap());
    assert_eq!(access["aud"], json!([API, REPORTS]));
    assert_eq!(access["scope"], "write");
}

#[tokio::test]
async fn only_the_operator_sets_a_client_s_resources() {
    let app = app_with_resources().await;
    let body = json!({
        "redirect_uris": ["https://rp.example/cb"],
        "resources": [API],
    });
    let res = app
        .client
        .post(app.url("/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let refused: Value = res.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_client_metadata");

    let operator = palisade_flow::admin::Caller::operator();
    let registered = app
        .state
        .admin
        .register_client(&operator, &body)
        .await
        .unwrap();
    assert_eq!(registered.client.resources, vec![API]);
}

/// Runs the `palisade` binary against the app's database, as an operator would.
fn palisade_cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    std::process::Command::new(crate::harness::palisade_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", app.database.url())
        .env("PALISADE_DATA_DIR", app.data_dir.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test]
async fn palisade_client_add_resource_lets_the_client_ask_for_it() {
    let app = app_with_resources().await;
    let refused = palisade_cli(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Bad",
            "--grant",
            "client_credentials",
            "--resource",
            "https://api.example/#fragment",
        ],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("resource"));

    let added = palisade_cli(
        &app,
        &[
            "client",
            "add",
            "--name",
            "Reports job",
            "--grant",
            "client_credentials",
            "--scope",
            "read",
            "--resource",
            REPORTS,
        ],
    );
    let stdout = String::from_utf8_lossy(&added.stdout).into_owned();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {stdout}"))
            .trim()
            .to_owned()
    };
    let job = TestClient {
        id: field("client_id"),
        secret: Some(field("client_secret")),
        redirect_uri: String::new(),
    };
    let shown = palisade_cli(&app, &["client", "show", &job.id]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(REPORTS));

    let answer = post_as(
        &app,
        &job,
        "/token",
        &[("grant_type", "client_credentials"), ("resource", REPORTS)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(
        claims_of(answer.body["access_token"].as_str().unwrap())["aud"],
        REPORTS
    );
    let not_listed = post_as(
        &app,
        &job,
        "/token",
        &[("grant_type", "client_credentials"), ("resource", API)],
    )
    .await;
    assert_invalid_target(&not_listed, "a resource not listed for the client");
}
