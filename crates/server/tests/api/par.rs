//! Pushed authorization requests over HTTP (RFC 9126): `/par` authenticates the client and
//! answers 201 `{request_uri, expires_in}` or a JSON error; `/authorize` takes a `request_uri`
//! once, within its lifetime, for the client that pushed it, and reads nothing else beside
//! `client_id`; a client (or a server) that requires pushing is refused at the plain
//! `/authorize`; discovery names the endpoint.

use crate::harness::{TestApp, spawn_app, spawn_app_with};
use crate::support::{
    Browser, ClientSpec, TestClient, create_user, location, pkce_pair, query_param, register_client,
};
use base64::Engine as _;
use palisade::config::Settings;
use palisade_core::model::ClientId;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// A server whose settings `adjust` changes.
pub async fn spawn_app_adjusted(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(
        TestDatabase::create().await,
        TestEphemeral::create(),
        adjust,
    )
    .await
}

/// Changes a registered client through the engine's repository (so its cache forgets it).
pub async fn change_client(
    app: &TestApp,
    client: &TestClient,
    change: impl FnOnce(&mut palisade_core::model::Client),
) {
    let clients = &app.state.engine.clients;
    let mut stored = clients
        .find_client(&ClientId(client.id.clone()))
        .await
        .unwrap()
        .unwrap();
    change(&mut stored);
    clients.update_client(stored).await.unwrap();
}

/// A JSON answer (`/par`, `/token`), with the headers the tests look at.
pub struct JsonAnswer {
    pub status: StatusCode,
    pub cache_control: Option<String>,
    pub www_authenticate: Option<String>,
    pub body: Value,
}

impl JsonAnswer {
    async fn of(res: reqwest::Response) -> Self {
        let header = |name: &str| {
            res.headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (cache_control, www_authenticate) =
            (header("cache-control"), header("www-authenticate"));
        Self {
            status: res.status(),
            cache_control,
            www_authenticate,
            body: res.json().await.unwrap(),
        }
    }

    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

/// `POST path` with the client's credentials: HTTP Basic when it has a secret, else its
/// `client_id` in the body (added unless the form has one).
pub async fn post_as(
    app: &TestApp,
    client: &TestClient,
    path: &str,
    form: &[(&str, &str)],
) -> JsonAnswer {
    let mut form = form.to_vec();
    let mut req = app.client.post(app.url(path));
    match &client.secret {
        Some(secret) => {
            let basic = base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", client.id, secret));
            req = req.header("authorization", format!("Basic {basic}"));
        }
        None if !form.iter().any(|(k, _)| *k == "client_id") => {
            form.push(("client_id", client.id.as_str()));
        }
        None => {}
    }
    JsonAnswer::of(req.form(&form).send().await.unwrap()).await
}

/// The authorization request's parameters (as `authorize_rules::authorize_url` has them);
/// `overrides` replace or add, `""` removes.
pub fn request_params(
    client: &TestClient,
    challenge: &str,
    overrides: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("response_type", "code"),
        ("client_id", client.id.as_str()),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("scope", "openid profile"),
        ("state", "st1"),
        ("nonce", "n1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in overrides {
        params.retain(|(name, _)| name != k);
        if !v.is_empty() {
            params.push((k.to_string(), v.to_string()));
        }
    }
    params
}

/// Pushes the usual request with `overrides` (see [`request_params`]).
pub async fn push(
    app: &TestApp,
    client: &TestClient,
    challenge: &str,
    overrides: &[(&str, &str)],
) -> JsonAnswer {
    let params = request_params(client, challenge, overrides);
    let form: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post_as(app, client, "/par", &form).await
}

/// Pushes the usual request and returns its `request_uri`.
pub async fn pushed_request_uri(
    app: &TestApp,
    client: &TestClient,
    challenge: &str,
    overrides: &[(&str, &str)],
) -> String {
    let pushed = push(app, client, challenge, overrides).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    pushed.body["request_uri"].as_str().unwrap().to_owned()
}

/// `/authorize?client_id=..&request_uri=..` and `extra` parameters.
pub fn authorize_by_reference(
    app: &TestApp,
    client_id: &str,
    request_uri: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut url = Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

/// Redeems `code` at `/token` for `client`.
pub async fn redeem(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
    extra: &[(&str, &str)],
) -> JsonAnswer {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    form.extend_from_slice(extra);
    post_as(app, client, "/token", &form).await
}

/// A refused request at `/authorize` before anything is verified: a page with the error code,
/// no redirect.
async fn assert_refused_with_page(res: reqwest::Response, error: &str) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("<html"), "{body}");
    assert!(body.contains(error), "expected {error} in {body}");
}

fn assert_error_redirect(client: &TestClient, location: &str, error: &str) {
    assert!(location.starts_with(&client.redirect_uri), "{location}");
    assert_eq!(query_param(location, "error").as_deref(), Some(error));
    assert_eq!(query_param(location, "state").as_deref(), Some("st1"));
    assert!(query_param(location, "code").is_none());
}

#[tokio::test]
async fn a_pushed_request_runs_a_full_code_flow_to_tokens() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (verifier, challenge) = pkce_pair();

    let pushed = push(&app, &client, &challenge, &[]).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
    assert_eq!(pushed.cache_control.as_deref(), Some("no-store"));
    assert_eq!(pushed.body["expires_in"], 60);
    let request_uri = pushed.body["request_uri"].as_str().unwrap();
    assert!(request_uri.starts_with(REQUEST_URI_PREFIX), "{request_uri}");
    assert!(request_uri.len() > REQUEST_URI_PREFIX.len() + 40);

    let browser = Browser::new();
    let back = browser
        .authorize(
            &authorize_by_reference(&app, &client.id, request_uri, &[]),
            "alice",
        )
        .await;
    assert!(back.starts_with(&client.redirect_uri), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st1"));
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(app.base_url.as_str())
    );
    let code = query_param(&back, "code").expect("a code");
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.body["scope"], "openid profile");
    let id_token = crate::admin_api::claims_of(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(
        id_token["nonce"], "n1",
        "the pushed nonce reaches the ID token"
    );
    assert_eq!(id_token["aud"], client.id.as_str());
}

#[tokio::test]
async fn a_public_client_pushes_with_its_client_id_alone() {
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
    let (_, challenge) = pkce_pair();
    let pushed = push(&app, &client, &challenge, &[]).await;
    assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
}

#[tokio::test]
async fn a_request_uri_is_used_once() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let request_uri = pushed_request_uri(&app, &client, &challenge, &[]).await;
    let url = authorize_by_reference(&app, &client.id, &request_uri, &[]);

    let first = Browser::new().get(&url).await;
    assert!(location(&first).contains("/login?"), "{}", location(&first));
    let second = Browser::new().get(&url).await;
    assert_refused_with_page(second, "invalid_request_uri").await;
}

/// The store's TTL follows the wall clock, which the test cannot move: the stored request's
/// own expiry, judged by the server's clock, is what refuses it.
#[tokio::test]
async fn a_request_uri_past_its_lifetime_is_refused() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let early = pushed_request_uri(&app, &client, &challenge, &[]).await;
    let late = pushed_request_uri(&app, &client, &challenge, &[]).await;

    app.clock.advance(chrono::Duration::seconds(59));
    let within = Browser::new()
        .get(&authorize_by_reference(&app, &client.id, &early, &[]))
        .await;
    assert!(location(&within).contains("/login?"));

    app.clock.advance(chrono::Duration::seconds(2));
    let past = Browser::new()
        .get(&authorize_by_reference(&app, &client.id, &late, &[]))
        .await;
    assert_refused_with_page(past, "invalid_request_uri").await;
}

#[tokio::test]
async fn the_request_uri_lifetime_is_a_setting() {
    let app = spawn_app_adjusted(|s| {
        s.par.request_uri_ttl = chrono::Duration::seconds(10);
    })
    .await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let pushed = push(&app, &client, &challenge, &[]).await;
    assert_eq!(pushed.body["expires_in"], 10);
    app.clock.advance(chrono::Duration::seconds(11));
    let request_uri = pushed.body["request_uri"].as_str().unwrap();
    let res = Browser::new()
        .get(&authorize_by_reference(&app, &client.id, request_uri, &[]))
        .await;
    assert_refused_with_page(res, "invalid_request_uri").await;
}

#[tokio::test]
async fn a_request_uri_of_another_client_is_refused_and_not_spent() {
    let app = spawn_app().await;
    let owner = register_client(&app, ClientSpec::default()).await;
    let other = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let request_uri = pushed_request_uri(&app, &owner, &challenge, &[]).await;

    let stolen = Browser::new()
        .get(&authorize_by_reference(&app, &other.id, &request_uri, &[]))
        .await;
    assert_refused_with_page(stolen, "invalid_request_uri").await;
    let own = Browser::new()
        .get(&authorize_by_reference(&app, &owner.id, &request_uri, &[]))
        .await;
    assert!(location(&own).contains("/login?"));
}

/// A URL is no pushed request: it is never fetched, and the request stands on its own
/// parameters, which here lack a redirect URI (a whole request with one is redirected
/// `request_uri_not_supported`, authorize_rules.rs).
#[tokio::test]
async fn request_uris_this_server_did_not_issue_and_a_missing_client_id_are_refused() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let browser = Browser::new();
    for request_uri in [
        REQUEST_URI_PREFIX,
        &format!("{REQUEST_URI_PREFIX}not-a-pushed-request"),
    ] {
        let res = browser
            .get(&authorize_by_reference(&app, &client.id, request_uri, &[]))
            .await;
        assert_refused_with_page(res, "invalid_request_uri").await;
    }
    let fetched = browser
        .get(&authorize_by_reference(
            &app,
            &client.id,
            "https://evil.example/request.jwt",
            &[],
        ))
        .await;
    assert_refused_with_page(fetched, "invalid_request").await;
    let (_, challenge) = pkce_pair();
    let request_uri = pushed_request_uri(&app, &client, &challenge, &[]).await;
    let mut url = Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("request_uri", &request_uri);
    assert_refused_with_page(browser.get(url.as_str()).await, "invalid_request").await;
}

/// RFC 9126 §4: the pushed request is the request. A redirect URI, state, scope, prompt or
/// response type in the query would, if read, change where the code goes or what it grants.
#[tokio::test]
async fn parameters_beside_client_id_and_request_uri_are_ignored() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (verifier, challenge) = pkce_pair();
    let request_uri = pushed_request_uri(&app, &client, &challenge, &[("scope", "openid")]).await;
    let (_, other_challenge) = pkce_pair();
    let url = authorize_by_reference(
        &app,
        &client.id,
        &request_uri,
        &[
            ("redirect_uri", "https://evil.example/cb"),
            ("state", "forged"),
            ("scope", "openid profile email"),
            ("prompt", "none"),
            ("response_type", "token"),
            ("code_challenge", &other_challenge),
            ("nonce", "forged"),
        ],
    );
    let back = Browser::new().authorize(&url, "alice").await;
    assert!(back.starts_with(&client.redirect_uri), "{back}");
    assert_eq!(query_param(&back, "state").as_deref(), Some("st1"));
    let code = query_param(&back, "code").expect("a code");
    let tokens = redeem(&app, &client, &code, &verifier, &[]).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    assert_eq!(tokens.body["scope"], "openid");
    let id_token = crate::admin_api::claims_of(tokens.body["id_token"].as_str().unwrap());
    assert_eq!(id_token["nonce"], "n1");
}

#[tokio::test]
async fn a_client_that_must_push_is_refused_at_the_plain_authorize_and_served_by_reference() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    change_client(&app, &client, |c| {
        c.require_pushed_authorization_requests = true
    })
    .await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();

    let plain = browser
        .get(&crate::authorize_rules::authorize_url(
            &app,
            &client,
            &challenge,
            &[],
        ))
        .await;
    assert_error_redirect(&client, &location(&plain), "invalid_request");

    let request_uri = pushed_request_uri(&app, &client, &challenge, &[]).await;
    let pushed = browser
        .get(&authorize_by_reference(&app, &client.id, &request_uri, &[]))
        .await;
    assert!(location(&pushed).contains("/login?"));
}

#[tokio::test]
async fn the_server_wide_setting_makes_every_client_push_and_discovery_says_so() {
    let app = spawn_app_adjusted(|s| s.par.required = true).await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    let plain = browser
        .get(&crate::authorize_rules::authorize_url(
            &app,
            &client,
            &challenge,
            &[],
        ))
        .await;
    assert_error_redirect(&client, &location(&plain), "invalid_request");
    let request_uri = pushed_request_uri(&app, &client, &challenge, &[]).await;
    let pushed = browser
        .get(&authorize_by_reference(&app, &client.id, &request_uri, &[]))
        .await;
    assert!(location(&pushed).contains("/login?"));

    let metadata: Value = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
}

#[tokio::test]
async fn discovery_names_the_par_endpoint_and_does_not_require_it_by_default() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let metadata: Value = app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            metadata["pushed_authorization_request_endpoint"],
            app.url("/par"),
            "{path}"
        );
        assert_eq!(
            metadata["require_pushed_authorization_requests"], false,
            "{path}"
        );
    }
}

#[tokio::test]
async fn par_without_client_authentication_is_401_invalid_client() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let params = request_params(&client, &challenge, &[]);

    // A confidential client's id alone is no authentication.
    let bare = JsonAnswer::of(
        app.client
            .post(app.url("/par"))
            .form(&params)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(bare.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bare.error(), "invalid_client");

    let without_id: Vec<&(String, String)> =
        params.iter().filter(|(k, _)| k != "client_id").collect();
    let nothing = JsonAnswer::of(
        app.client
            .post(app.url("/par"))
            .form(&without_id)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(nothing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(nothing.error(), "invalid_client");

    let wrong_secret = JsonAnswer::of(
        app.client
            .post(app.url("/par"))
            .basic_auth(&client.id, Some("wrong"))
            .form(&params)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(wrong_secret.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_secret.error(), "invalid_client");
    assert!(wrong_secret.www_authenticate.is_some());
    assert_eq!(wrong_secret.cache_control.as_deref(), Some("no-store"));
}

#[tokio::test]
async fn par_refuses_a_request_uri_parameter_and_answers_errors_as_json() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let earlier = pushed_request_uri(&app, &client, &challenge, &[]).await;
    // (what is wrong, the parameters that make it so, the error)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 7] = [
        (
            "a request_uri",
            vec![("request_uri", earlier.as_str())],
            "invalid_request",
        ),
        (
            "an unregistered redirect_uri",
            vec![("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
        ),
        (
            "no redirect_uri",
            vec![("redirect_uri", "")],
            "invalid_request",
        ),
        (
            "the implicit flow",
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        ("no PKCE", vec![("code_challenge", "")], "invalid_request"),
        (
            "an unregistered scope",
            vec![("scope", "openid payments")],
            "invalid_scope",
        ),
        (
            "another client's id in the body",
            vec![("client_id", "someone-else")],
            "invalid_request",
        ),
    ];
    for (name, overrides, error) in cases {
        let answer = push(&app, &client, &challenge, &overrides).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            answer.body
        );
        assert_eq!(answer.error(), error, "{name}: {}", answer.body);
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"), "{name}");
    }
    // A form body only.
    let json = JsonAnswer::of(
        app.client
            .post(app.url("/par"))
            .basic_auth(&client.id, client.secret.as_deref())
            .json(&serde_json::json!({"response_type": "code"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(json.status, StatusCode::BAD_REQUEST);
    assert_eq!(json.error(), "invalid_request");
}

/// `POST /par` as a public client with the DPoP headers `proofs`.
async fn push_with_proofs(
    app: &TestApp,
    client: &TestClient,
    challenge: &str,
    extra: &[(&str, &str)],
    proofs: &[String],
) -> JsonAnswer {
    let mut params = request_params(client, challenge, &[]);
    params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let mut req = app.client.post(app.url("/par")).form(&params);
    for proof in proofs {
        req = req.header("dpop", proof);
    }
    JsonAnswer::of(req.send().await.unwrap()).await
}

/// RFC 9449 §10.1: a proof sent with the push binds the code to its key.
#[tokio::test]
async fn a_dpop_proof_at_par_binds_the_code_to_its_key() {
    use palisade_flow::dpop::testing::ProofKey;
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = register_client(
        &app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            ..ClientSpec::default()
        },
    )
    .await;
    let (key, other) = (ProofKey::generate("ES256"), ProofKey::generate("ES256"));
    let now = || palisade_core::Clock::now(&app.clock).timestamp();
    let par_proof = |key: &ProofKey| key.proof("POST", &app.url("/par"), now(), &[]);
    let token_proof = |key: &ProofKey| key.proof("POST", &app.url("/token"), now(), &[]);
    let redeem_with = |code: String, verifier: String, proofs: Vec<String>| {
        let (app, client) = (&app, &client);
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", client.redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
                ("client_id", client.id.as_str()),
            ];
            let mut req = app.client.post(app.url("/token")).form(&form);
            for proof in &proofs {
                req = req.header("dpop", proof);
            }
            JsonAnswer::of(req.send().await.unwrap()).await
        }
    };
    let code_through_par = |proofs: Vec<String>| {
        let (app, client) = (&app, &client);
        async move {
            let (verifier, challenge) = pkce_pair();
            let pushed = push_with_proofs(app, client, &challenge, &[], &proofs).await;
            assert_eq!(pushed.status, StatusCode::CREATED, "{}", pushed.body);
            let request_uri = pushed.body["request_uri"].as_str().unwrap();
            let back = Browser::new()
                .authorize(
                    &authorize_by_reference(app, &client.id, request_uri, &[]),
                    "alice",
                )
                .await;
            (query_param(&back, "code").expect("a code"), verifier)
        }
    };

    let (code, verifier) = code_through_par(vec![par_proof(&key)]).await;
    let without = redeem_with(code, verifier, vec![]).await;
    assert_eq!(without.error(), "invalid_dpop_proof", "{}", without.body);

    let (code, verifier) = code_through_par(vec![par_proof(&key)]).await;
    let with_other = redeem_with(code, verifier, vec![token_proof(&other)]).await;
    assert_eq!(
        with_other.error(),
        "invalid_dpop_proof",
        "{}",
        with_other.body
    );

    let (code, verifier) = code_through_par(vec![par_proof(&key)]).await;
    let bound = redeem_with(code, verifier, vec![token_proof(&key)]).await;
    assert_eq!(bound.status, StatusCode::OK, "{}", bound.body);
    assert_eq!(bound.body["token_type"], "DPoP");
    let access = crate::admin_api::claims_of(bound.body["access_token"].as_str().unwrap());
    assert_eq!(access["cnf"]["jkt"], key.jkt());

    // The proof and a dpop_jkt naming another key disagree; a proof for /token is no proof
    // for /par.
    let (_, challenge) = pkce_pair();
    let other_jkt = other.jkt();
    let disagreeing = push_with_proofs(
        &app,
        &client,
        &challenge,
        &[("dpop_jkt", other_jkt.as_str())],
        &[par_proof(&key)],
    )
    .await;
    assert_eq!(disagreeing.status, StatusCode::BAD_REQUEST);
    assert_eq!(disagreeing.error(), "invalid_dpop_proof");
    let misdirected = push_with_proofs(&app, &client, &challenge, &[], &[token_proof(&key)]).await;
    assert_eq!(
        misdirected.error(),
        "invalid_dpop_proof",
        "{}",
        misdirected.body
    );
}
