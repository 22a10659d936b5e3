//! The token endpoint over HTTP: what only HTTP shows. Status codes (400, 401 with
//! `WWW-Authenticate`, 413, 429 with `Retry-After`), `Cache-Control: no-store`, form parsing
//! (`client_id` in the body, a JSON body refused), a replayed code's tokens refused at userinfo;
//! and the bearer rules of userinfo. The grant rules themselves (codes single-use under
//! concurrency, PKCE and redirect_uri, expiry, refresh rotation, the grace window, reuse
//! revoking the family, scope narrowing) are tested in the engine, beside each grant in
//! `crates/flow/src/token/`.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app};
use crate::support::{
    Browser, ClientSpec, TestClient, create_user, pkce_pair, query_param, register_client,
};
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::Value;

struct Answer {
    status: StatusCode,
    www_authenticate: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

/// `POST /token` with HTTP Basic for confidential clients, `client_id` in the body otherwise.
async fn token(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> Answer {
    let mut req = app.client.post(app.url("/token")).form(form);
    match &client.secret {
        Some(secret) => {
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", client.id, secret));
            req = req.header("authorization", format!("Basic {basic}"));
        }
        None if !form.iter().any(|(k, _)| *k == "client_id") => {
            let mut with_id = form.to_vec();
            with_id.push(("client_id", client.id.as_str()));
            req = app.client.post(app.url("/token")).form(&with_id);
        }
        None => {}
    }
    let res = req.send().await.unwrap();
    let header = |name: &str| {
        res.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: res.status(),
        www_authenticate: header("www-authenticate"),
        cache_control: header("cache-control"),
        body: res.json().await.unwrap(),
    }
}

/// Logs alice in through `client` and returns a fresh code and its verifier.
async fn code_for(
    app: &TestApp,
    client: &TestClient,
    browser: &Browser,
    scope: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let back = browser
        .authorize(
            &authorize_url(app, client, &challenge, &[("scope", scope)]),
            "alice",
        )
        .await;
    (query_param(&back, "code").expect("a code"), verifier)
}

fn exchange<'a>(
    client: &'a TestClient,
    code: &'a str,
    verifier: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ]
}

async fn userinfo_status(app: &TestApp, access_token: &str) -> StatusCode {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_code_exchange_answers_with_no_store_and_all_tokens() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let browser = Browser::new();
    let (code, verifier) = code_for(&app, &client, &browser, "openid offline_access").await;
    let answer = token(&app, &client, &exchange(&client, &code, &verifier)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.body["expires_in"], 600);
    assert!(answer.body["id_token"].is_string() && answer.body["refresh_token"].is_string());
    // The access token is an RFC 9068 JWT: typ at+jwt, signed ES256.
    let header = answer.body["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
}

#[tokio::test]
async fn a_replayed_code_is_refused_and_revokes_every_token_issued_from_it() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (code, verifier) = code_for(&app, &client, &Browser::new(), "openid offline_access").await;
    let first = token(&app, &client, &exchange(&client, &code, &verifier)).await;
    assert_eq!(first.status, StatusCode::OK);
    let access = first.body["access_token"].as_str().unwrap().to_owned();
    let refresh = first.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(userinfo_status(&app, &access).await, StatusCode::OK);

    let replay = token(&app, &client, &exchange(&client, &code, &verifier)).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.body["error"], "invalid_grant");
    assert_eq!(
        userinfo_status(&app, &access).await,
        StatusCode::UNAUTHORIZED
    );
    let refreshed = token(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(refreshed.body["error"], "invalid_grant");
}

#[tokio::test]
async fn client_authentication_comes_first_and_fails_with_401_invalid_client() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let other = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (code, verifier) = code_for(&app, &client, &Browser::new(), "openid").await;
    let wrong_secret = TestClient {
        id: client.id.clone(),
        secret: Some("wrong".into()),
        redirect_uri: client.redirect_uri.clone(),
    };
    let unknown = TestClient {
        id: "nobody".into(),
        secret: Some("x".into()),
        redirect_uri: client.redirect_uri.clone(),
    };
    for who in [&wrong_secret, &unknown] {
        let answer = token(&app, who, &exchange(&client, &code, &verifier)).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.body["error"], "invalid_client");
        assert!(answer.www_authenticate.unwrap().starts_with("Basic"));
    }
    // The code survived the failed authentications; another client cannot redeem it.
    let stolen = token(&app, &other, &exchange(&client, &code, &verifier)).await;
    assert_eq!(stolen.body["error"], "invalid_grant");
    // Using a method the client did not register is invalid_client too.
    let post = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client.id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::UNAUTHORIZED);
    assert!(
        post.headers().get("www-authenticate").is_none(),
        "Basic was not tried"
    );
}

#[tokio::test]
async fn malformed_token_requests_get_rfc_errors() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "invalid_request"),
        (
            &[
                ("grant_type", "password"),
                ("username", "a"),
                ("password", "b"),
            ],
            "unsupported_grant_type",
        ),
        (
            &[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer")],
            "unsupported_grant_type",
        ),
        // Supported (RFC 8628), but this client is not registered for it.
        (
            &[("grant_type", "urn:ietf:params:oauth:grant-type:device_code")],
            "unauthorized_client",
        ),
        (
            &[("grant_type", "client_credentials")],
            "unauthorized_client",
        ),
    ];
    for (form, error) in cases {
        let answer = token(&app, &client, form).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{form:?}");
        assert_eq!(answer.body["error"], error, "{form:?}");
    }
    let json = app
        .client
        .post(app.url("/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::BAD_REQUEST);
    let huge = "x".repeat(64 * 1024);
    let too_big = app
        .client
        .post(app.url("/token"))
        .form(&[("grant_type", huge.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_public_client_redeems_with_pkce_and_no_secret() {
    let app = spawn_app().await;
    let client = register_client(
        &app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            ..ClientSpec::default()
        },
    )
    .await;
    create_user(&app, "alice").await;
    let (code, verifier) = code_for(&app, &client, &Browser::new(), "openid").await;
    let answer = token(&app, &client, &exchange(&client, &code, &verifier)).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn userinfo_refuses_every_bad_bearer_with_invalid_token() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (code, verifier) = code_for(&app, &client, &Browser::new(), "openid profile").await;
    let tokens = token(&app, &client, &exchange(&client, &code, &verifier)).await;
    let access = tokens.body["access_token"].as_str().unwrap().to_owned();
    let id_token = tokens.body["id_token"].as_str().unwrap().to_owned();

    let missing = app.client.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        missing.headers()["www-authenticate"],
        r#"Bearer realm="palisade""#
    );

    let mut tampered = access.clone();
    tampered.pop();
    tampered.push(if access.ends_with('A') { 'B' } else { 'A' });
    for bad in ["garbage", "a.b.c", tampered.as_str(), id_token.as_str()] {
        let res = app
            .client
            .get(app.url("/userinfo"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        let challenge = res.headers()["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{challenge}"
        );
    }
    let in_query = app
        .client
        .get(app.url(&format!("/userinfo?access_token={access}")))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), StatusCode::BAD_REQUEST);
    let by_post = app
        .client
        .post(app.url("/userinfo"))
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(by_post.status(), StatusCode::OK);
    assert_eq!(by_post.headers()["cache-control"], "no-store");

    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(
        userinfo_status(&app, &access).await,
        StatusCode::UNAUTHORIZED,
        "expired token accepted"
    );
}

#[tokio::test]
async fn guessing_client_secrets_from_one_address_is_throttled_with_429_and_retry_after() {
    let app = crate::harness::spawn_app_with(
        palisade_store::testing::TestDatabase::create().await,
        palisade_store::testing::TestEphemeral::create(),
        |s| s.attempt_limits.per_ip = 3,
    )
    .await;
    let client = register_client(
        &app,
        ClientSpec {
            grant_types: vec!["client_credentials"],
            ..ClientSpec::default()
        },
    )
    .await;
    let guessing = TestClient {
        id: client.id.clone(),
        secret: Some("guess".into()),
        redirect_uri: client.redirect_uri.clone(),
    };
    for _ in 0..3 {
        let answer = token(&app, &guessing, &[("grant_type", "client_credentials")]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // Past the limit the address is refused before any secret is compared, even the right one.
    for who in [&guessing, &client] {
        let res = app
            .client
            .post(app.url("/token"))
            .basic_auth(&who.id, who.secret.as_deref())
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let retry_after: u64 = res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry_after >= 1);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    // The window passes; the right secret works again.
    app.clock.advance(chrono::Duration::minutes(31));
    let answer = token(&app, &client, &[("grant_type", "client_credentials")]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}
