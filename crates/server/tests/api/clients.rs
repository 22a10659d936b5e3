//! Clients and resource servers over HTTP: dynamic registration (RFC 7591) and management
//! (RFC 7592), the registration modes, client authentication (Basic, post, private_key_jwt,
//! none), the client_credentials grant, introspection (RFC 7662) and revocation (RFC 7009),
//! and the operator CLI. The `openidconnect` crate plays the client wherever it supports the
//! method.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, palisade_binary, spawn_app, spawn_app_with};
use crate::support::{
    Browser, ClientSpec, TestClient, create_user, pkce_pair, query_param, register_client,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use josekit::jwk::Jwk;
use josekit::jws::JwsHeader;
use openidconnect::core::{
    CoreClient, CoreClientAuthMethod, CoreClientRegistrationRequest, CoreGrantType,
    CoreProviderMetadata, CoreTokenIntrospectionResponse,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AccessToken, AuthType, ClientId, ClientSecret, IntrospectionUrl, IssuerUrl,
    OAuth2TokenResponse, RegistrationUrl, Scope, TokenIntrospectionResponse,
};
use palisade::config::{RegistrationMode, Settings};
use palisade_core::model::{AuditQuery, ClientId as CoreClientId, InitialAccessToken};
use palisade_core::ports::{AuditLog, ClientRepository, InitialAccessTokenRepository};
use palisade_core::{Clock, TokenHash};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use std::process::{Command, Output, Stdio};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
}

impl Reply {
    async fn of(res: reqwest::Response) -> Self {
        Self {
            status: res.status(),
            headers: res.headers().clone(),
            text: res.text().await.unwrap(),
        }
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {:?}", self.text))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// A server whose open registration is not rate-limited for the test's own requests, and
/// which lets self-registered clients hold `api:read`.
async fn open_app() -> TestApp {
    spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Open;
        s.registration.max_per_minute = 10_000;
        s.registration.allowed_scopes = vec!["api:read".into()];
    })
    .await
}

async fn register(app: &TestApp, body: &Value, bearer: Option<&str>) -> Reply {
    let mut req = app.client.post(app.url("/register")).json(body);
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    Reply::of(req.send().await.unwrap()).await
}

/// An RFC 7592 call on `registration_client_uri` with a registration access token.
async fn manage(
    app: &TestApp,
    method: reqwest::Method,
    uri: &str,
    token: &str,
    body: Option<&Value>,
) -> Reply {
    let mut request = app.client.request(method, uri).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    Reply::of(request.send().await.unwrap()).await
}

/// `POST path` with the form, authenticating as `caller`: Basic with a secret, else client_id.
async fn post_as(app: &TestApp, path: &str, caller: &TestClient, form: &[(&str, &str)]) -> Reply {
    let mut form = form.to_vec();
    let mut req = app.client.post(app.url(path));
    match &caller.secret {
        Some(secret) => req = req.header("authorization", basic(&caller.id, secret)),
        None => form.push(("client_id", &caller.id)),
    }
    Reply::of(req.form(&form).send().await.unwrap()).await
}

async fn introspect(app: &TestApp, caller: &TestClient, token: &str) -> Reply {
    post_as(app, "/introspect", caller, &[("token", token)]).await
}

async fn revoke(app: &TestApp, caller: &TestClient, token: &str, hint: Option<&str>) -> Reply {
    let mut form = vec![("token", token)];
    if let Some(hint) = hint {
        form.push(("token_type_hint", hint));
    }
    post_as(app, "/revoke", caller, &form).await
}

async fn client_credentials(app: &TestApp, client: &TestClient, scope: Option<&str>) -> Reply {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    post_as(app, "/token", client, &form).await
}

async fn userinfo(app: &TestApp, access_token: &str) -> StatusCode {
    app.client
        .get(app.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

/// alice logs in through `client` with `scope`; the token response.
async fn user_tokens(app: &TestApp, client: &TestClient, scope: &str) -> Value {
    let (verifier, challenge) = pkce_pair();
    let back = Browser::new()
        .authorize(
            &authorize_url(app, client, &challenge, &[("scope", scope)]),
            "alice",
        )
        .await;
    let code = query_param(&back, "code").expect("a code");
    let reply = post_as(
        app,
        "/token",
        client,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()
}

fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn machine_spec() -> ClientSpec {
    ClientSpec {
        grant_types: vec!["client_credentials"],
        redirect_uris: vec!["https://unused.example/cb".into()],
        scopes: vec!["api:read", "api:write"],
        ..ClientSpec::default()
    }
}

fn offline_spec() -> ClientSpec {
    ClientSpec {
        scopes: vec!["openid", "offline_access"],
        ..ClientSpec::default()
    }
}

/// An EC P-256 key pair: the private JWK and the public JWK Set to register.
fn ec_keys(kid: &str) -> (Jwk, Value) {
    let private = Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
    let mut public: serde_json::Map<String, Value> = private.to_public_key().unwrap().into();
    public.insert("kid".into(), json!(kid));
    (private, json!({"keys": [public]}))
}

fn sign_assertion(key: &Jwk, header: &[(&str, Value)], claims: &Value) -> String {
    let mut h = JwsHeader::new();
    for (name, value) in header {
        h.set_claim(name, Some(value.clone())).unwrap();
    }
    let signer = josekit::jws::ES256.signer_from_jwk(key).unwrap();
    josekit::jws::serialize_compact(&serde_json::to_vec(claims).unwrap(), &h, &signer).unwrap()
}

/// Fresh assertion claims for `client_id` at the app's time, for the issuer (its identifier is
/// the base URL).
fn assertion_claims(app: &TestApp, client_id: &str) -> Value {
    let now = app.clock.now().timestamp();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": app.base_url,
        "jti": palisade_core::SecretGenerator::token(&palisade_core::OsSecrets),
        "iat": now,
        "exp": now + 120,
    })
}

async fn assertion_request(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        (
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        ),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    Reply::of(
        app.client
            .post(app.url("/token"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Registers a client_credentials client authenticating with private_key_jwt; its id.
async fn register_jwt_client(app: &TestApp, jwks: &Value) -> String {
    let reply = register(
        app,
        &json!({
            "client_name": "Signed machine",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
            "token_endpoint_auth_signing_alg": "ES256",
            "jwks": jwks,
            "scope": "api:read",
        }),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let body = reply.json();
    assert!(
        body.get("client_secret").is_none(),
        "private_key_jwt clients get no secret"
    );
    body["client_id"].as_str().unwrap().to_owned()
}

fn rp_http() -> openidconnect::reqwest::Client {
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Runs the `palisade` binary against the app's database.
fn palisade_cli(app: &TestApp, args: &[&str]) -> Output {
    Command::new(palisade_binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", app.database.url())
        .env("PALISADE_DATA_DIR", app.data_dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn field(output: &Output, name: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in {stdout}"))
        .trim()
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Dynamic client registration (RFC 7591) and management (RFC 7592)
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn registration_refuses_each_invalid_metadata_kind_and_stores_nothing() {
    let app = open_app().await;
    let web = |extra: Value| {
        let mut body = json!({"redirect_uris": ["https://rp.example/cb"]});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let uri = |u: &str| json!({"redirect_uris": [u]});
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "fragment",
            uri("https://rp.example/cb#f"),
            "invalid_redirect_uri",
        ),
        (
            "javascript",
            uri("javascript:alert(1)"),
            "invalid_redirect_uri",
        ),
        (
            "JaVaScRiPt",
            uri("JaVaScRiPt:alert(1)"),
            "invalid_redirect_uri",
        ),
        ("data", uri("data:text/html,hi"), "invalid_redirect_uri"),
        ("vbscript", uri("vbscript:x"), "invalid_redirect_uri"),
        ("file", uri("file:///etc/passwd"), "invalid_redirect_uri"),
        (
            "http web",
            uri("http://rp.example/cb"),
            "invalid_redirect_uri",
        ),
        (
            "wildcard host",
            uri("https://*.rp.example/cb"),
            "invalid_redirect_uri",
        ),
        (
            "wildcard path",
            uri("https://rp.example/*"),
            "invalid_redirect_uri",
        ),
        (
            "code in query",
            uri("https://rp.example/cb?code=x"),
            "invalid_redirect_uri",
        ),
        (
            "iss in fragment",
            uri("https://rp.example/cb#iss=x"),
            "invalid_redirect_uri",
        ),
        ("relative", uri("/cb"), "invalid_redirect_uri"),
        ("no redirect uri", json!({}), "invalid_redirect_uri"),
        (
            "response type token",
            web(json!({"response_types": ["token"]})),
            "invalid_client_metadata",
        ),
        (
            "implicit grant",
            web(json!({"grant_types": ["implicit"]})),
            "invalid_client_metadata",
        ),
        (
            "password grant",
            web(json!({"grant_types": ["password"]})),
            "invalid_client_metadata",
        ),
        (
            "client_secret_jwt",
            web(json!({"token_endpoint_auth_method": "client_secret_jwt"})),
            "invalid_client_metadata",
        ),
        (
            "id token alg none",
            web(json!({"id_token_signed_response_alg": "none"})),
            "invalid_client_metadata",
        ),
        (
            "id token alg HS256",
            web(json!({"id_token_signed_response_alg": "HS256"})),
            "invalid_client_metadata",
        ),
        (
            "application type",
            web(json!({"application_type": "desktop"})),
            "invalid_client_metadata",
        ),
        (
            "jwks_uri",
            web(json!({"jwks_uri": "https://127.0.0.1:6379/"})),
            "invalid_client_metadata",
        ),
        (
            "logo_uri",
            web(json!({"logo_uri": "http://169.254.169.254/"})),
            "invalid_client_metadata",
        ),
        (
            "sector_identifier_uri",
            web(json!({"sector_identifier_uri": "https://10.0.0.5/s"})),
            "invalid_client_metadata",
        ),
        (
            "request_uris",
            web(json!({"request_uris": ["https://[::1]/r"]})),
            "invalid_client_metadata",
        ),
        (
            "pairwise",
            web(json!({"subject_type": "pairwise"})),
            "invalid_client_metadata",
        ),
        (
            "roles scope",
            web(json!({"scope": "openid roles"})),
            "invalid_client_metadata",
        ),
        (
            "unlisted scope",
            web(json!({"scope": "api:admin"})),
            "invalid_client_metadata",
        ),
        (
            "private jwks",
            web(
                json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
            ),
            "invalid_client_metadata",
        ),
        (
            "logout uri",
            web(json!({"post_logout_redirect_uris": ["http://rp.example/bye"]})),
            "invalid_client_metadata",
        ),
        (
            "public machine",
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
        ),
        (
            "not an object",
            json!(["https://rp.example/cb"]),
            "invalid_client_metadata",
        ),
        (
            "2 000 redirect uris",
            json!({"redirect_uris": vec!["https://rp.example/cb"; 2_000]}),
            "invalid_client_metadata",
        ),
    ];
    for (name, body, error) in cases {
        let reply = register(&app, &body, None).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            reply.text
        );
        assert_eq!(reply.error(), error, "{name}: {}", reply.text);
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
    }

    let raw = |content_type: &str, body: Vec<u8>| {
        app.client
            .post(app.url("/register"))
            .header("content-type", content_type.to_owned())
            .body(body)
            .send()
    };
    let not_json = Reply::of(
        raw("application/json", b"{not json".to_vec())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(not_json.error(), "invalid_client_metadata");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested = Reply::of(raw("application/json", deep.into_bytes()).await.unwrap()).await;
    assert_eq!(nested.status, StatusCode::BAD_REQUEST);
    let form = Reply::of(
        raw(
            "application/x-www-form-urlencoded",
            b"redirect_uris=x".to_vec(),
        )
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(form.error(), "invalid_client_metadata");
    let huge = format!(r#"{{"client_name":"{}"}}"#, "x".repeat(100 * 1024));
    let too_big = raw("application/json", huge.into_bytes()).await.unwrap();
    assert_eq!(too_big.status(), StatusCode::PAYLOAD_TOO_LARGE);

    assert!(
        app.state.sql.list_clients().await.unwrap().is_empty(),
        "no client was stored"
    );
}

#[tokio::test]
async fn a_registration_gets_server_generated_credentials_shown_once_and_stored_hashed() {
    let app = open_app().await;
    let reply = register(
        &app,
        &json!({
            "client_id": "chosen-by-caller",
            "client_secret": "chosen-by-caller",
            "client_name": "<img src=x onerror=alert(1)>",
            "redirect_uris": ["https://rp.example/cb", "http://127.0.0.1:8080/cb"],
            "post_logout_redirect_uris": ["https://rp.example/bye"],
            "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "client_secret_post",
            "id_token_signed_response_alg": "ES256",
            "scope": "openid offline_access api:read",
            "client_uri": "https://rp.example",
        }),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    let id = body["client_id"].as_str().unwrap();
    let secret = body["client_secret"].as_str().unwrap();
    let rat = body["registration_access_token"].as_str().unwrap();
    assert_ne!(id, "chosen-by-caller");
    assert_ne!(secret, "chosen-by-caller");
    for generated in [id, secret, rat] {
        assert_eq!(generated.len(), 43, "256 bits, base64url: {generated}");
    }
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(
        body["registration_client_uri"],
        app.url(&format!("/register/{id}"))
    );
    assert!(body["client_id_issued_at"].as_i64().unwrap() > 0);
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["scope"], "openid offline_access api:read");
    assert_eq!(body["id_token_signed_response_alg"], "ES256");
    assert!(
        body.get("client_uri").is_none(),
        "unsupported metadata is not echoed"
    );

    let stored = app
        .state
        .sql
        .find_client(&CoreClientId(id.into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secret_hash, Some(TokenHash::of(secret)));
    assert_eq!(
        stored.registration_access_token_hash,
        Some(TokenHash::of(rat))
    );
    assert_eq!(stored.name, "<img src=x onerror=alert(1)>");

    let events = app
        .state
        .sql
        .query(AuditQuery {
            action: Some("client.register".into()),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].target.as_deref(),
        Some(format!("client:{id}").as_str())
    );
    assert!(
        !events[0]
            .details
            .clone()
            .unwrap_or_default()
            .contains(secret)
    );

    // The registered secret works with the method registered, and only that one.
    let client = TestClient {
        id: id.into(),
        secret: Some(secret.into()),
        redirect_uri: "https://rp.example/cb".into(),
    };
    let wrong_method = client_credentials(&app, &client, None).await;
    assert_eq!(
        wrong_method.status,
        StatusCode::UNAUTHORIZED,
        "Basic is not the registered method"
    );
}

#[tokio::test]
async fn the_openidconnect_crate_registers_a_machine_client_and_uses_it_with_basic_and_post() {
    let app = open_app().await;
    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let endpoint = metadata
        .registration_endpoint()
        .expect("registration_endpoint is advertised")
        .clone();
    for (method, auth_type) in [
        (CoreClientAuthMethod::ClientSecretBasic, AuthType::BasicAuth),
        (
            CoreClientAuthMethod::ClientSecretPost,
            AuthType::RequestBody,
        ),
    ] {
        let registered =
            CoreClientRegistrationRequest::new(vec![], EmptyAdditionalClientMetadata {})
                .set_grant_types(Some(vec![CoreGrantType::ClientCredentials]))
                .set_token_endpoint_auth_method(Some(method.clone()))
                .register_async(&endpoint, &http)
                .await
                .expect("registration");
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            registered.client_id().clone(),
            registered.client_secret().cloned(),
        )
        .set_auth_type(auth_type);
        let tokens = client
            .exchange_client_credentials()
            .unwrap()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{method:?}: {e:?}"));
        assert!(tokens.refresh_token().is_none());
        let claims = jwt_claims(tokens.access_token().secret());
        assert_eq!(claims["sub"], registered.client_id().as_str());
        assert_eq!(claims["client_id"], registered.client_id().as_str());
    }
}

#[tokio::test]
async fn client_management_with_a_missing_wrong_or_foreign_token_is_401_and_changes_nothing() {
    let app = open_app().await;
    let body = json!({"client_name": "C1", "redirect_uris": ["https://rp.example/cb"]});
    let c1 = register(&app, &body, None).await.json();
    let c2 = register(
        &app,
        &json!({"redirect_uris": ["https://rp2.example/cb"]}),
        None,
    )
    .await
    .json();
    let c1_id = c1["client_id"].as_str().unwrap();
    let c2_rat = c2["registration_access_token"].as_str().unwrap();
    let c1_rat = c1["registration_access_token"].as_str().unwrap();
    let before = app
        .state
        .sql
        .find_client(&CoreClientId(c1_id.into()))
        .await
        .unwrap()
        .unwrap();

    let update = json!({"client_id": c1_id, "client_name": "Hijacked", "redirect_uris": ["https://evil.example/cb"]});
    let paths = [
        format!("/register/{c1_id}"),
        "/register/no-such-client".to_owned(),
    ];
    let tokens: [Option<&str>; 4] = [None, Some("garbage"), Some(c2_rat), Some(c1_rat)];
    for path in &paths {
        for token in tokens {
            if token == Some(c1_rat) && path.contains(c1_id) {
                continue; // the one right combination
            }
            for method in [
                reqwest::Method::GET,
                reqwest::Method::PUT,
                reqwest::Method::DELETE,
            ] {
                let mut req = app.client.request(method.clone(), app.url(path));
                if method == reqwest::Method::PUT {
                    req = req.json(&update);
                }
                if let Some(token) = token {
                    req = req.bearer_auth(token);
                }
                let reply = Reply::of(req.send().await.unwrap()).await;
                assert_eq!(
                    reply.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} {token:?}"
                );
                assert_eq!(reply.error(), "invalid_token", "{method} {path} {token:?}");
                assert!(
                    reply
                        .header("www-authenticate")
                        .unwrap()
                        .starts_with("Bearer")
                );
            }
        }
    }
    let after = app
        .state
        .sql
        .find_client(&CoreClientId(c1_id.into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, before, "nothing changed");
}

#[tokio::test]
async fn client_management_reads_updates_and_deletes_with_the_registration_access_token() {
    let app = open_app().await;
    let created = register(
        &app,
        &json!({"client_name": "Mine", "redirect_uris": ["https://rp.example/cb"], "grant_types": ["authorization_code", "client_credentials"]}),
        None,
    )
    .await
    .json();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let first_rat = created["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let uri = created["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = TestClient {
        id: id.clone(),
        secret: Some(secret.clone()),
        redirect_uri: "https://rp.example/cb".into(),
    };
    assert_eq!(
        client_credentials(&app, &client, None).await.status,
        StatusCode::OK
    );

    let read = manage(&app, reqwest::Method::GET, &uri, &first_rat, None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(read.header("cache-control"), Some("no-store"));
    let read = read.json();
    assert_eq!(read["client_id"], id.as_str());
    assert_eq!(read["client_name"], "Mine");
    assert!(read.get("client_secret").is_none(), "only the hash is kept");
    assert_eq!(read["client_secret_expires_at"], 0);
    assert_eq!(read["registration_client_uri"], uri.as_str());
    // RFC 7592 §3: the answer carries a registration access token; only its hash is kept, so
    // it is a new one and the one just used is spent.
    let rat = read["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rat, first_rat);
    let spent = manage(&app, reqwest::Method::GET, &uri, &first_rat, None).await;
    assert_eq!(spent.status, StatusCode::UNAUTHORIZED);
    assert_eq!(spent.error(), "invalid_token");

    let missing_id = json!({"client_name": "New", "redirect_uris": ["https://rp.example/new"]});
    let refused = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&missing_id)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let wrong_secret = json!({"client_id": id, "client_secret": "nope", "redirect_uris": ["https://rp.example/new"]});
    let refused = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&wrong_secret)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let invalid = json!({"client_id": id, "redirect_uris": ["https://rp.example/cb#x"]});
    let refused = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&invalid)).await;
    assert_eq!(refused.error(), "invalid_redirect_uri");

    let update = json!({
        "client_id": id,
        "client_secret": secret,
        "client_name": "Renamed",
        "redirect_uris": ["https://rp.example/new"],
        "grant_types": ["authorization_code", "client_credentials"],
    });
    let updated = manage(&app, reqwest::Method::PUT, &uri, &rat, Some(&update)).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    let updated = updated.json();
    assert_eq!(updated["client_name"], "Renamed");
    assert_eq!(updated["redirect_uris"], json!(["https://rp.example/new"]));
    assert!(
        updated.get("client_secret").is_none(),
        "the secret did not change"
    );
    assert_eq!(
        client_credentials(&app, &client, None).await.status,
        StatusCode::OK
    );
    // Refused updates spent nothing; the successful one issued the next token.
    let rat = {
        let next = updated["registration_access_token"].as_str().unwrap();
        assert_ne!(next, rat);
        let spent = manage(&app, reqwest::Method::GET, &uri, &rat, None).await;
        assert_eq!(spent.status, StatusCode::UNAUTHORIZED);
        next.to_owned()
    };

    let deleted = manage(&app, reqwest::Method::DELETE, &uri, &rat, None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    // Gone at once on this node, cache or no cache.
    let after = client_credentials(&app, &client, None).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert_eq!(after.error(), "invalid_client");
    let read_again = manage(&app, reqwest::Method::GET, &uri, &rat, None).await;
    assert_eq!(read_again.status, StatusCode::UNAUTHORIZED);
    let actions: Vec<String> = app
        .state
        .sql
        .query(AuditQuery {
            target: Some(format!("client:{id}")),
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        ["client.delete", "client.update", "client.register"]
    );
}

// ---------------------------------------------------------------------------------------------
// Registration modes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn open_registration_is_rate_limited_per_address() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Open;
        s.registration.max_per_minute = 2;
    })
    .await;
    let body = json!({"redirect_uris": ["https://rp.example/cb"]});
    assert_eq!(
        register(&app, &body, None).await.status,
        StatusCode::CREATED
    );
    // Invalid requests count too: the limit is on asking, not on succeeding.
    assert_eq!(
        register(&app, &json!({}), None).await.status,
        StatusCode::BAD_REQUEST
    );
    let limited = register(&app, &body, None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.header("retry-after").is_some());
    assert_eq!(app.state.sql.list_clients().await.unwrap().len(), 1);
}

#[tokio::test]
async fn token_registration_needs_a_live_initial_access_token_and_honours_max_uses() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Token;
    })
    .await;
    let minted = palisade_cli(
        &app,
        &[
            "registration",
            "token",
            "--expires-in",
            "1h",
            "--max-uses",
            "1",
        ],
    );
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let token = field(&minted, "initial_access_token");
    let body = json!({"redirect_uris": ["https://rp.example/cb"]});

    for bearer in [None, Some("garbage")] {
        let refused = register(&app, &body, bearer).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{bearer:?}");
        assert_eq!(refused.error(), "invalid_token");
    }
    // Invalid metadata does not spend the token.
    let invalid = register(
        &app,
        &json!({"redirect_uris": ["javascript:x"]}),
        Some(&token),
    )
    .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);

    // A real client library sends the token as it should.
    let http = rp_http();
    let endpoint = RegistrationUrl::new(app.url("/register")).unwrap();
    let registered = CoreClientRegistrationRequest::new(
        vec![openidconnect::RedirectUrl::new("https://rp.example/cb".into()).unwrap()],
        EmptyAdditionalClientMetadata {},
    )
    .set_initial_access_token(Some(AccessToken::new(token.clone())))
    .register_async(&endpoint, &http)
    .await
    .expect("the first use registers");
    assert!(registered.registration_access_token().is_some());

    let second = register(&app, &body, Some(&token)).await;
    assert_eq!(
        second.status,
        StatusCode::UNAUTHORIZED,
        "max-uses 1: {}",
        second.text
    );
    assert_eq!(app.state.sql.list_clients().await.unwrap().len(), 1);

    let expired = InitialAccessToken {
        id: "expired".into(),
        token_hash: TokenHash::of("expired-token"),
        created_at: app.clock.now() - chrono::Duration::hours(2),
        expires_at: Some(app.clock.now() - chrono::Duration::hours(1)),
        max_uses: None,
        uses: 0,
    };
    app.state
        .sql
        .insert_initial_access_token(expired)
        .await
        .unwrap();
    assert_eq!(
        register(&app, &body, Some("expired-token")).await.status,
        StatusCode::UNAUTHORIZED
    );

    let listing = palisade_cli(&app, &["registration", "list"]);
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("1/1") && !listing.contains(&token),
        "{listing}"
    );
}

#[tokio::test]
async fn disabled_registration_is_refused_and_not_advertised() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Disabled;
    })
    .await;
    let reply = register(
        &app,
        &json!({"redirect_uris": ["https://rp.example/cb"]}),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let discovery: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        discovery.get("registration_endpoint").is_none(),
        "{discovery}"
    );
    assert!(app.state.sql.list_clients().await.unwrap().is_empty());
}

#[test]
fn registration_is_open_on_loopback_and_by_token_elsewhere_by_default() {
    let laptop = Settings::defaults_with(|_| {}).unwrap();
    assert_eq!(laptop.registration.mode, RegistrationMode::Open);
    let production = Settings::defaults_with(|o| {
        o.bind("0.0.0.0:8080")
            .issuer("https://id.example.com")
            .behind_tls_proxy(true);
    })
    .unwrap();
    assert_eq!(production.registration.mode, RegistrationMode::Token);
    let chosen = Settings::defaults_with(|o| {
        o.registration_mode(RegistrationMode::Disabled);
    })
    .unwrap();
    assert_eq!(chosen.registration.mode, RegistrationMode::Disabled);
}

#[tokio::test]
async fn discovery_lists_registration_introspection_revocation_and_private_key_jwt() {
    let app = spawn_app().await;
    let d: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["registration_endpoint"], app.url("/register"));
    assert_eq!(d["introspection_endpoint"], app.url("/introspect"));
    assert_eq!(d["revocation_endpoint"], app.url("/revoke"));
    let methods = d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("private_key_jwt")), "{methods:?}");
    let introspection = d["introspection_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(
        !introspection.contains(&json!("none")),
        "introspection needs credentials"
    );
    let algs = d["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(
        algs.contains(&json!("ES256"))
            && !algs.contains(&json!("none"))
            && !algs.contains(&json!("HS256"))
    );
}

// ---------------------------------------------------------------------------------------------
// Client authentication and client_credentials
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn client_credentials_answers_no_store_tokens_and_400_for_what_the_grant_refuses() {
    // The grant's rules (registered scopes, confidential clients only, the client's own
    // token) are tested in the engine: token::client_credentials::tests.
    let app = spawn_app().await;
    let machine = register_client(&app, machine_spec()).await;
    let reply = client_credentials(&app, &machine, Some("api:read")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["scope"], "api:read");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], machine.id.as_str());

    let too_much = client_credentials(&app, &machine, Some("api:read api:admin")).await;
    assert_eq!(too_much.status, StatusCode::BAD_REQUEST);
    assert_eq!(too_much.error(), "invalid_scope");
    let public = register_client(
        &app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            grant_types: vec!["client_credentials"],
            ..ClientSpec::default()
        },
    )
    .await;
    let refused = client_credentials(&app, &public, None).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error(), "unauthorized_client");
}

#[tokio::test]
async fn a_client_credentials_token_is_accepted_by_introspection_and_refused_by_userinfo() {
    let app = spawn_app().await;
    let machine = register_client(&app, machine_spec()).await;
    let token = client_credentials(&app, &machine, None).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // A resource server asks with openidconnect's introspection client (Basic).
    let http = rp_http();
    let rs = CoreClient::new(
        ClientId::new(machine.id.clone()),
        IssuerUrl::new(app.base_url.clone()).unwrap(),
        openidconnect::JsonWebKeySet::new(vec![]),
    )
    .set_client_secret(ClientSecret::new(machine.secret.clone().unwrap()))
    .set_introspection_url(IntrospectionUrl::new(app.url("/introspect")).unwrap());
    let described: CoreTokenIntrospectionResponse = rs
        .introspect(&AccessToken::new(token.clone()))
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(described.active());
    assert_eq!(described.client_id().unwrap().as_str(), machine.id);
    assert_eq!(described.sub(), Some(machine.id.as_str()));
    assert_eq!(
        described.scopes().unwrap(),
        &vec![
            Scope::new("api:read".into()),
            Scope::new("api:write".into())
        ]
    );
    assert!(described.username().is_none());

    assert_eq!(userinfo(&app, &token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn failed_client_authentication_is_401_with_the_basic_challenge_when_basic_was_tried() {
    let app = spawn_app().await;
    let machine = register_client(&app, machine_spec()).await;
    let unknown = TestClient {
        id: "no-such-client".into(),
        secret: Some("x".into()),
        redirect_uri: String::new(),
    };
    let wrong = TestClient {
        id: machine.id.clone(),
        secret: Some("wrong".into()),
        redirect_uri: String::new(),
    };
    for path in ["/token", "/introspect", "/revoke"] {
        for caller in [&unknown, &wrong] {
            let reply = post_as(
                &app,
                path,
                caller,
                &[("grant_type", "client_credentials"), ("token", "t")],
            )
            .await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
            assert_eq!(reply.error(), "invalid_client", "{path}");
            assert!(
                reply
                    .header("www-authenticate")
                    .unwrap()
                    .starts_with("Basic"),
                "{path}"
            );
        }
        // client_secret_post with a wrong secret: 401 without a Basic challenge.
        let reply = Reply::of(
            app.client
                .post(app.url(path))
                .form(&[
                    ("client_id", machine.id.as_str()),
                    ("client_secret", "wrong"),
                    ("token", "t"),
                    ("grant_type", "client_credentials"),
                ])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(reply.header("www-authenticate").is_none(), "{path}");
    }
}

#[tokio::test]
async fn private_key_jwt_authenticates_a_fresh_assertion_once_and_refuses_its_replay() {
    let app = open_app().await;
    let (key, jwks) = ec_keys("k1");
    let id = register_jwt_client(&app, &jwks).await;
    let assertion = sign_assertion(
        &key,
        &[("alg", json!("ES256")), ("kid", json!("k1"))],
        &assertion_claims(&app, &id),
    );

    let first = assertion_request(&app, &assertion, &[("client_id", &id)]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(
        jwt_claims(first.json()["access_token"].as_str().unwrap())["sub"],
        id.as_str()
    );
    let replay = assertion_request(&app, &assertion, &[]).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.error(), "invalid_client");

    // No kid is fine.
    let without_kid = sign_assertion(
        &key,
        &[("alg", json!("ES256"))],
        &assertion_claims(&app, &id),
    );
    assert_eq!(
        assertion_request(&app, &without_kid, &[]).await.status,
        StatusCode::OK
    );

    // The same assertion style authenticates at introspection too.
    let token = first.json()["access_token"].as_str().unwrap().to_owned();
    let at_introspection = sign_assertion(
        &key,
        &[("alg", json!("ES256"))],
        &assertion_claims(&app, &id),
    );
    let described = Reply::of(
        app.client
            .post(app.url("/introspect"))
            .form(&[
                ("token", token.as_str()),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &at_introspection),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(described.json()["active"], true, "{}", described.text);
}

/// `client_assertion_allow_token_endpoint_audience` (docs/configuration.md): old clients that
/// name the token endpoint URL, as OIDC Core §9 told them to, work again; still one string.
#[tokio::test]
async fn the_token_endpoint_audience_is_accepted_only_where_the_operator_allows_it() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.registration.mode = RegistrationMode::Open;
        s.registration.max_per_minute = 10_000;
        s.registration.allowed_scopes = vec!["api:read".into()];
        s.client_assertion_allow_token_endpoint_audience = true;
    })
    .await;
    let (key, jwks) = ec_keys("k1");
    let id = register_jwt_client(&app, &jwks).await;
    let es256 = [("alg", json!("ES256"))];
    let with_audience = |aud: Value| {
        let mut claims = assertion_claims(&app, &id);
        claims["aud"] = aud;
        sign_assertion(&key, &es256, &claims)
    };
    for (aud, status) in [
        (json!(app.url("/token")), StatusCode::OK),
        (json!(app.base_url), StatusCode::OK),
        (json!([app.url("/token")]), StatusCode::UNAUTHORIZED),
        (json!(app.url("/introspect")), StatusCode::UNAUTHORIZED),
    ] {
        let reply = assertion_request(&app, &with_audience(aud.clone()), &[]).await;
        assert_eq!(reply.status, status, "{aud}: {}", reply.text);
    }
}

#[tokio::test]
async fn concurrent_assertions_with_one_jti_authenticate_once() {
    let app = open_app().await;
    let (key, jwks) = ec_keys("k1");
    let id = register_jwt_client(&app, &jwks).await;
    let assertion = sign_assertion(
        &key,
        &[("alg", json!("ES256"))],
        &assertion_claims(&app, &id),
    );
    let attempts = (0..10).map(|_| assertion_request(&app, &assertion, &[]));
    let statuses: Vec<StatusCode> = futures_util::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn private_key_jwt_refuses_every_malformed_or_forged_assertion() {
    let app = open_app().await;
    let (key, jwks) = ec_keys("k1");
    let id = register_jwt_client(&app, &jwks).await;
    let (stranger, _) = ec_keys("k1");
    let es256 = || vec![("alg", json!("ES256"))];
    let now = app.clock.now().timestamp();
    let with = |name: &str, value: Value| {
        let mut c = assertion_claims(&app, &id);
        if value.is_null() {
            c.as_object_mut().unwrap().remove(name);
        } else {
            c[name] = value;
        }
        c
    };
    let public_jwk = serde_json::to_vec(&jwks["keys"][0]).unwrap();
    let hmac_with_public_key = {
        let signer = josekit::jws::HS256.signer_from_bytes(&public_jwk).unwrap();
        let mut h = JwsHeader::new();
        h.set_claim("kid", Some(json!("k1"))).unwrap();
        josekit::jws::serialize_compact(
            &serde_json::to_vec(&assertion_claims(&app, &id)).unwrap(),
            &h,
            &signer,
        )
        .unwrap()
    };
    let alg_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&assertion_claims(&app, &id)).unwrap())
    );
    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            sign_assertion(&key, &es256(), &with("exp", json!(now - 120))),
        ),
        (
            "no exp",
            sign_assertion(&key, &es256(), &with("exp", Value::Null)),
        ),
        (
            "lives an hour",
            sign_assertion(&key, &es256(), &with("exp", json!(now + 3600))),
        ),
        (
            "not yet valid",
            sign_assertion(&key, &es256(), &with("nbf", json!(now + 600))),
        ),
        (
            "other audience",
            sign_assertion(
                &key,
                &es256(),
                &with("aud", json!("https://other.example/token")),
            ),
        ),
        (
            "introspection endpoint audience",
            sign_assertion(&key, &es256(), &with("aud", json!(app.url("/introspect")))),
        ),
        // RFC 7523bis, the 2025 audience-injection advisory: the issuer alone, as a string.
        (
            "token endpoint audience (not allowed by default)",
            sign_assertion(&key, &es256(), &with("aud", json!(app.url("/token")))),
        ),
        (
            "an array naming the issuer",
            sign_assertion(&key, &es256(), &with("aud", json!([app.base_url]))),
        ),
        (
            "an array naming the issuer and another server",
            sign_assertion(
                &key,
                &es256(),
                &with("aud", json!([app.base_url, "https://as.attacker.example"])),
            ),
        ),
        (
            "iss differs from sub",
            sign_assertion(&key, &es256(), &with("iss", json!("someone-else"))),
        ),
        (
            "no jti",
            sign_assertion(&key, &es256(), &with("jti", Value::Null)),
        ),
        (
            "signed by another key",
            sign_assertion(&stranger, &es256(), &assertion_claims(&app, &id)),
        ),
        (
            "unknown kid",
            sign_assertion(
                &key,
                &[("alg", json!("ES256")), ("kid", json!("k2"))],
                &assertion_claims(&app, &id),
            ),
        ),
        (
            "jku header",
            sign_assertion(
                &key,
                &[
                    ("alg", json!("ES256")),
                    ("jku", json!("https://127.0.0.1/jwks")),
                ],
                &assertion_claims(&app, &id),
            ),
        ),
        (
            "x5u header",
            sign_assertion(
                &key,
                &[
                    ("alg", json!("ES256")),
                    ("x5u", json!("https://127.0.0.1/cert")),
                ],
                &assertion_claims(&app, &id),
            ),
        ),
        (
            "jwk header",
            sign_assertion(
                &key,
                &[("alg", json!("ES256")), ("jwk", jwks["keys"][0].clone())],
                &assertion_claims(&app, &id),
            ),
        ),
        ("alg none", alg_none),
        ("HS256 keyed with the public key", hmac_with_public_key),
        ("garbage", "not.a.jwt".into()),
    ];
    for (name, assertion) in cases {
        let reply = assertion_request(&app, &assertion, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "{name}: {}",
            reply.text
        );
        assert_eq!(reply.error(), "invalid_client", "{name}");
    }
    // A client_id beside the assertion must be the assertion's subject.
    let good = sign_assertion(&key, &es256(), &assertion_claims(&app, &id));
    let mismatched = assertion_request(&app, &good, &[("client_id", "another-client")]).await;
    assert_eq!(mismatched.error(), "invalid_client");
    // A secret-based client cannot switch to assertions, and vice versa.
    let basic_client = register_client(&app, machine_spec()).await;
    let pretend = sign_assertion(&key, &es256(), &assertion_claims(&app, &basic_client.id));
    assert_eq!(
        assertion_request(&app, &pretend, &[]).await.error(),
        "invalid_client"
    );
}

// ---------------------------------------------------------------------------------------------
// Introspection and revocation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn introspection_describes_user_access_and_refresh_tokens_to_whom_it_may() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let c1 = register_client(&app, offline_spec()).await;
    let c2 = register_client(
        &app,
        ClientSpec {
            redirect_uris: vec!["https://rp2.example/cb".into()],
            ..offline_spec()
        },
    )
    .await;
    let tokens = user_tokens(&app, &c1, "openid profile offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let reply = introspect(&app, &c1, access).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let at = reply.json();
    let claims = jwt_claims(access);
    assert_eq!(at["active"], true);
    assert_eq!(at["token_type"], "Bearer");
    assert_eq!(at["client_id"], c1.id.as_str());
    assert_eq!(at["username"], "alice");
    assert_eq!(at["scope"], "openid profile offline_access");
    for name in ["sub", "aud", "iss", "jti", "exp", "iat", "nbf"] {
        assert_eq!(at[name], claims[name], "{name}");
    }
    // Any confidential client (a resource server) may ask about an access token.
    assert_eq!(introspect(&app, &c2, access).await.json()["active"], true);

    let rt = introspect(&app, &c1, refresh).await.json();
    assert_eq!(rt["active"], true);
    assert_eq!(rt["token_type"], "refresh_token");
    assert_eq!(rt["username"], "alice");
    assert_eq!(rt["sub"], claims["sub"]);
    // Only its own client may: a refresh token is never "active" to a resource server.
    assert_eq!(
        introspect(&app, &c2, refresh).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn introspection_answers_exactly_inactive_for_every_token_that_is_not_good_now() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let c1 = register_client(&app, offline_spec()).await;
    let tokens = user_tokens(&app, &c1, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let rotated = post_as(
        &app,
        "/token",
        &c1,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await
    .json();

    let mut tampered = access.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let (forger, _) = ec_keys("x");
    let forged = sign_assertion(
        &forger,
        &[("alg", json!("ES256")), ("typ", json!("at+jwt"))],
        &jwt_claims(&access),
    );
    for (name, token) in [
        ("garbage", "garbage".to_owned()),
        ("three dots of garbage", "a.b.c".to_owned()),
        ("tampered signature", tampered),
        ("signed by a stranger", forged),
        ("rotated-away refresh token", refresh.clone()),
        ("unknown refresh token", "x".repeat(43)),
    ] {
        let reply = introspect(&app, &c1, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(reply.text, r#"{"active":false}"#, "{name}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
    }
    let current_refresh = rotated["refresh_token"].as_str().unwrap();
    assert_eq!(
        introspect(&app, &c1, current_refresh).await.json()["active"],
        true
    );

    app.clock.advance(chrono::Duration::minutes(11));
    assert_eq!(
        introspect(&app, &c1, &access).await.text,
        r#"{"active":false}"#,
        "expired"
    );
}

#[tokio::test]
async fn introspection_requires_a_confidential_client() {
    let app = spawn_app().await;
    let machine = register_client(&app, machine_spec()).await;
    let token = client_credentials(&app, &machine, None).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let anonymous = Reply::of(
        app.client
            .post(app.url("/introspect"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.error(), "invalid_client");
    let public = register_client(
        &app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            ..ClientSpec::default()
        },
    )
    .await;
    let reply = introspect(&app, &public, &token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.error(), "invalid_client");
    let no_token = post_as(&app, "/introspect", &machine, &[]).await;
    assert_eq!(no_token.error(), "invalid_request");
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_family_and_access_tokens_at_introspection_and_userinfo()
{
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let c1 = register_client(&app, offline_spec()).await;
    let tokens = user_tokens(&app, &c1, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(userinfo(&app, access).await, StatusCode::OK);

    let reply = revoke(&app, &c1, refresh, Some("refresh_token")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.text.is_empty());
    assert_eq!(
        introspect(&app, &c1, access).await.json(),
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &c1, refresh).await.json(),
        json!({"active": false})
    );
    assert_eq!(userinfo(&app, access).await, StatusCode::UNAUTHORIZED);
    let refreshed = post_as(
        &app,
        "/token",
        &c1,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(refreshed.error(), "invalid_grant");
    // Revoking again, or revoking garbage, is the same quiet 200.
    assert_eq!(
        revoke(&app, &c1, refresh, None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        revoke(&app, &c1, "garbage", None).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn revoking_an_access_token_revokes_that_token_alone_whatever_the_hint() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let c1 = register_client(&app, offline_spec()).await;
    let tokens = user_tokens(&app, &c1, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    // The wrong hint is only a hint (RFC 7009 §2.1).
    assert_eq!(
        revoke(&app, &c1, access, Some("refresh_token"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        introspect(&app, &c1, access).await.json(),
        json!({"active": false})
    );
    assert_eq!(userinfo(&app, access).await, StatusCode::UNAUTHORIZED);
    let refreshed = post_as(
        &app,
        "/token",
        &c1,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(refreshed.status, StatusCode::OK, "the grant lives on");
    let new_access = refreshed.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(userinfo(&app, &new_access).await, StatusCode::OK);

    // A client_credentials token is revoked by its client too, and a public client revokes its
    // own refresh token with only its client_id.
    let machine = register_client(&app, machine_spec()).await;
    let machine_token = client_credentials(&app, &machine, None).await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        revoke(&app, &machine, &machine_token, Some("access_token"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        introspect(&app, &machine, &machine_token).await.json(),
        json!({"active": false})
    );
}

#[tokio::test]
async fn a_public_client_revokes_its_own_refresh_token_with_its_client_id() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let spa = register_client(
        &app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            redirect_uris: vec!["https://spa.example/cb".into()],
            ..offline_spec()
        },
    )
    .await;
    let tokens = user_tokens(&app, &spa, "openid offline_access").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        revoke(&app, &spa, refresh, None).await.status,
        StatusCode::OK
    );
    let refreshed = post_as(
        &app,
        "/token",
        &spa,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(refreshed.error(), "invalid_grant");
}

#[tokio::test]
async fn revocation_by_another_client_has_no_effect_and_answers_like_garbage() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let c1 = register_client(&app, offline_spec()).await;
    let c2 = register_client(
        &app,
        ClientSpec {
            redirect_uris: vec!["https://rp2.example/cb".into()],
            ..offline_spec()
        },
    )
    .await;
    let tokens = user_tokens(&app, &c1, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    let garbage = revoke(&app, &c2, "garbage", None).await;
    for token in [refresh, access] {
        let reply = revoke(&app, &c2, token, None).await;
        assert_eq!(reply.status, garbage.status);
        assert_eq!(reply.text, garbage.text);
        assert_eq!(
            reply.header("cache-control"),
            garbage.header("cache-control")
        );
        assert_eq!(reply.header("content-type"), garbage.header("content-type"));
    }
    assert_eq!(introspect(&app, &c1, access).await.json()["active"], true);
    assert_eq!(userinfo(&app, access).await, StatusCode::OK);
    let refreshed = post_as(
        &app,
        "/token",
        &c1,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "C1's refresh token still works"
    );
}

#[tokio::test]
async fn revocation_and_introspection_answer_503_when_the_ephemeral_store_is_down() {
    let port = crate::harness::free_port();
    let mut redis = crate::readiness::RedisProcess::start(port);
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    })
    .await;
    create_user(&app, "alice").await;
    let c1 = register_client(&app, offline_spec()).await;
    let tokens = user_tokens(&app, &c1, "openid offline_access").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    redis.stop();
    for token in [access, refresh] {
        let reply = revoke(&app, &c1, token, None).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "never a false 200: {}",
            reply.text
        );
        assert_eq!(reply.error(), "temporarily_unavailable");
    }
    let described = introspect(&app, &c1, access).await;
    assert_eq!(described.status, StatusCode::SERVICE_UNAVAILABLE);
}

// ---------------------------------------------------------------------------------------------
// The operator CLI
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn cli_client_add_show_and_rotate_secret_manage_a_client_a_running_server_honours() {
    let app = spawn_app().await;
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
            "reports:read",
            "--scope",
            "roles",
        ],
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let id = field(&added, "client_id");
    let secret = field(&added, "client_secret");
    let job = TestClient {
        id: id.clone(),
        secret: Some(secret.clone()),
        redirect_uri: String::new(),
    };
    let reply = client_credentials(&app, &job, Some("reports:read")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);

    let shown = palisade_cli(&app, &["client", "show", &id]);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(
        text.contains("Reports job")
            && text.contains("client_credentials")
            && text.contains("reports:read roles"),
        "{text}"
    );
    assert!(
        !text.contains(&secret) && !text.contains(TokenHash::of(&secret).as_str()),
        "{text}"
    );

    let rotated = palisade_cli(&app, &["client", "rotate-secret", &id]);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let new_secret = field(&rotated, "client_secret");
    assert_ne!(new_secret, secret);
    // Another process changed the database: the server sees it once its cached copy is as old
    // as the cache lifetime, by the server's clock.
    let renewed = TestClient {
        id: id.clone(),
        secret: Some(new_secret),
        redirect_uri: String::new(),
    };
    app.clock
        .advance(chrono::Duration::from_std(palisade::client_cache::DEFAULT_TTL).unwrap());
    assert_eq!(
        client_credentials(&app, &renewed, None).await.status,
        StatusCode::OK,
        "the new secret works"
    );
    assert_eq!(
        client_credentials(&app, &job, None).await.status,
        StatusCode::UNAUTHORIZED,
        "the old secret is dead"
    );

    let unknown = palisade_cli(&app, &["client", "show", "no-such-client"]);
    assert_eq!(unknown.status.code(), Some(1));
}

#[tokio::test]
async fn cli_client_add_applies_the_registration_rules_and_stores_nothing_on_refusal() {
    let app = spawn_app().await;
    let cases: [&[&str]; 4] = [
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://rp.example/cb#frag",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "http://rp.example/cb",
        ],
        &["client", "add", "--name", "X"],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--public",
            "--grant",
            "client_credentials",
        ],
    ];
    for args in cases {
        let out = palisade_cli(&app, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("invalid_redirect_uri") || err.contains("invalid_client_metadata"),
            "{args:?}: {err}"
        );
    }
    let public = palisade_cli(
        &app,
        &[
            "client",
            "add",
            "--name",
            "SPA",
            "--public",
            "--redirect-uri",
            "https://spa.example/cb",
        ],
    );
    assert!(
        public.status.success(),
        "{}",
        String::from_utf8_lossy(&public.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&public.stdout).contains("client_secret"),
        "public clients have no secret"
    );
    let native = palisade_cli(
        &app,
        &[
            "client",
            "add",
            "--name",
            "App",
            "--public",
            "--native",
            "--redirect-uri",
            "com.example.app:/cb",
        ],
    );
    assert!(
        native.status.success(),
        "{}",
        String::from_utf8_lossy(&native.stderr)
    );
    assert_eq!(app.state.sql.list_clients().await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_consent_page_escapes_a_self_registered_name_and_says_the_client_was_not_reviewed() {
    let app = open_app().await;
    create_user(&app, "alice").await;
    let hostile = "<img src=x onerror=alert(1)>";
    let body = register(
        &app,
        &json!({"client_name": hostile, "redirect_uris": ["https://rp.example/cb"]}),
        None,
    )
    .await
    .json();
    let dcr = TestClient {
        id: body["client_id"].as_str().unwrap().into(),
        secret: body["client_secret"].as_str().map(str::to_owned),
        redirect_uri: "https://rp.example/cb".into(),
    };
    let operator = register_client(&app, ClientSpec::default()).await;
    for (client, is_reviewed) in [(&dcr, false), (&operator, true)] {
        let browser = Browser::new();
        let (_, challenge) = pkce_pair();
        let login = crate::support::location(
            &browser
                .get(&authorize_url(&app, client, &challenge, &[]))
                .await,
        );
        let consent = crate::support::location(
            &browser
                .log_in(&login, "alice", crate::support::PASSWORD)
                .await,
        );
        let page = browser.get(&consent).await.text().await.unwrap();
        assert!(!page.contains(hostile), "the name is escaped");
        assert_eq!(
            page.contains("has not been reviewed"),
            !is_reviewed,
            "{page}"
        );
    }
}
