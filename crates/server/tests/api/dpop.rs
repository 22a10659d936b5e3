//! DPoP (RFC 9449) over HTTP: proofs at `/token` for every grant, the bound tokens at
//! `/userinfo` and `/introspect`, the refresh binding of public clients, `dpop_jkt`, the
//! `dpop_bound_access_tokens` client metadata, server nonces across two nodes, discovery.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app, spawn_app_with, start_node};
use crate::support::{
    Browser, ClientSpec, TestClient, create_user, pkce_pair, query_param, register_client,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::Clock as _;
use palisade_core::model::ClientId;
use palisade_core::ports::ClientRepository;
use palisade_flow::dpop::access_token_hash;
use palisade_flow::dpop::testing::ProofKey;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// An answer: status, headers, JSON body (`null` when there is none).
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Every `WWW-Authenticate` challenge, joined.
    fn challenges(&self) -> String {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

async fn answer(res: reqwest::Response) -> Answer {
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn now(app: &TestApp) -> i64 {
    app.clock.now().timestamp()
}

/// A proof for `POST /token` of `app`.
fn token_proof(app: &TestApp, key: &ProofKey) -> String {
    key.proof("POST", &app.url("/token"), now(app), &[])
}

/// `POST /token` as `client` with `form` and the DPoP headers `proofs`.
async fn token_at(
    base_url: &str,
    client: &TestClient,
    form: &[(&str, &str)],
    proofs: &[String],
) -> Answer {
    let mut form = form.to_vec();
    if client.secret.is_none() {
        form.push(("client_id", client.id.as_str()));
    }
    let mut req = reqwest::Client::new()
        .post(format!("{base_url}/token"))
        .form(&form);
    if let Some(secret) = &client.secret {
        req = req.basic_auth(&client.id, Some(secret));
    }
    for proof in proofs {
        req = req.header("dpop", proof);
    }
    answer(req.send().await.unwrap()).await
}

async fn token(
    app: &TestApp,
    client: &TestClient,
    form: &[(&str, &str)],
    proofs: &[String],
) -> Answer {
    token_at(&app.base_url, client, form, proofs).await
}

const CLIENT_CREDENTIALS: [(&str, &str); 1] = [("grant_type", "client_credentials")];

async fn service(app: &TestApp) -> TestClient {
    register_client(
        app,
        ClientSpec {
            grant_types: vec!["client_credentials"],
            ..ClientSpec::default()
        },
    )
    .await
}

async fn public_client(app: &TestApp) -> TestClient {
    register_client(
        app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            ..ClientSpec::default()
        },
    )
    .await
}

/// Registers `client` with `dpop_bound_access_tokens` (before any request has cached it).
async fn require_dpop_of(app: &TestApp, client: &TestClient) {
    let mut stored = app
        .state
        .sql
        .find_client(&ClientId(client.id.clone()))
        .await
        .unwrap()
        .unwrap();
    stored.dpop_bound_access_tokens = true;
    app.state.sql.update_client(stored).await.unwrap();
}

/// The claims of a JWT, unverified (the tests read what the server put there).
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// alice signs in through `client` (already consented after the first time) with `overrides`
/// on the authorization request; the code and its verifier.
async fn code_for(
    app: &TestApp,
    client: &TestClient,
    browser: &Browser,
    overrides: &[(&str, &str)],
) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let back = browser
        .authorize(&authorize_url(app, client, &challenge, overrides), "alice")
        .await;
    let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));
    (code, verifier)
}

async fn redeem(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
    proofs: &[String],
) -> Answer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", client.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    token(app, client, &form, proofs).await
}

async fn refresh(
    app: &TestApp,
    client: &TestClient,
    refresh_token: &str,
    proofs: &[String],
) -> Answer {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    token(app, client, &form, proofs).await
}

/// alice's tokens at `client` for `scope`, the code redeemed with a proof of `key`.
async fn user_tokens(app: &TestApp, client: &TestClient, scope: &str, key: &ProofKey) -> Answer {
    let (code, verifier) = code_for(app, client, &Browser::new(), &[("scope", scope)]).await;
    let issued = redeem(app, client, &code, &verifier, &[token_proof(app, key)]).await;
    assert_eq!(issued.status, StatusCode::OK, "{:?}", issued.body);
    issued
}

fn assert_bound_to(issued: &Answer, key: &ProofKey) {
    assert_eq!(issued.status, StatusCode::OK, "{:?}", issued.body);
    assert_eq!(issued.body["token_type"], "DPoP");
    let access = claims_of(issued.body["access_token"].as_str().unwrap());
    assert_eq!(access["cnf"], json!({ "jkt": key.jkt() }));
}

fn assert_refused(answer: &Answer, code: &str, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{case}: {:?}",
        answer.body
    );
    assert_eq!(answer.error(), code, "{case}");
}

#[tokio::test]
async fn a_proof_of_each_algorithm_binds_the_token_and_introspection_shows_the_key() {
    let app = spawn_app().await;
    let client = service(&app).await;
    for alg in palisade_flow::dpop::DPOP_SIGNING_ALGS {
        let key = ProofKey::generate(alg);
        let issued = token(
            &app,
            &client,
            &CLIENT_CREDENTIALS,
            &[token_proof(&app, &key)],
        )
        .await;
        assert_bound_to(&issued, &key);
        let introspected = answer(
            app.client
                .post(app.url("/introspect"))
                .basic_auth(&client.id, client.secret.as_deref())
                .form(&[("token", issued.body["access_token"].as_str().unwrap())])
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(introspected.body["active"], true, "{alg}");
        assert_eq!(introspected.body["token_type"], "DPoP", "{alg}");
        assert_eq!(
            introspected.body["cnf"],
            json!({ "jkt": key.jkt() }),
            "{alg}"
        );
    }
    // Without a proof nothing changes: a bearer token without cnf.
    let plain = token(&app, &client, &CLIENT_CREDENTIALS, &[]).await;
    assert_eq!(plain.body["token_type"], "Bearer");
    let access = claims_of(plain.body["access_token"].as_str().unwrap());
    assert!(access.get("cnf").is_none());
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let key = ProofKey::generate("ES256");
    let proof = token_proof(&app, &key);
    let first = token(
        &app,
        &client,
        &CLIENT_CREDENTIALS,
        std::slice::from_ref(&proof),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let replayed = token(&app, &client, &CLIENT_CREDENTIALS, &[proof]).await;
    assert_refused(&replayed, "invalid_dpop_proof", "replayed proof");
}

#[tokio::test]
async fn a_proof_for_another_url_or_method_is_refused_whatever_the_host_header_says() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let key = ProofKey::generate("EdDSA");
    let t = now(&app);
    let cases = [
        (
            "htu of userinfo",
            key.proof("POST", &app.url("/userinfo"), t, &[]),
        ),
        ("htm GET", key.proof("GET", &app.url("/token"), t, &[])),
        (
            "htu on another port",
            key.proof("POST", "http://127.0.0.1:1/token", t, &[]),
        ),
        (
            "htu over https",
            key.proof(
                "POST",
                &app.url("/token").replace("http:", "https:"),
                t,
                &[],
            ),
        ),
    ];
    for (case, proof) in cases {
        let refused = token(&app, &client, &CLIENT_CREDENTIALS, &[proof]).await;
        assert_refused(&refused, "invalid_dpop_proof", case);
    }
    // The Host header names another server and the proof that server: still refused, `htu`
    // is compared with the issuer's URL.
    let forged = answer(
        app.client
            .post(app.url("/token"))
            .header("host", "evil.example")
            .header(
                "dpop",
                key.proof("POST", "http://evil.example/token", t, &[]),
            )
            .basic_auth(&client.id, client.secret.as_deref())
            .form(&CLIENT_CREDENTIALS)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_refused(&forged, "invalid_dpop_proof", "htu of the Host header");
}

#[tokio::test]
async fn proofs_with_a_wrong_typ_or_alg_a_private_key_or_twice_the_header_are_refused() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let key = ProofKey::generate("ES256");
    let claims = ProofKey::claims("POST", &app.url("/token"), now(&app));
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        encode(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public})),
        encode(&claims)
    );
    let hmac = {
        let header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": URL_SAFE_NO_PAD.encode([7u8; 32])}});
        let input = format!("{}.{}", encode(&header), encode(&claims));
        let signer = josekit::jws::HS256.signer_from_bytes([7u8; 32]).unwrap();
        let signature = josekit::jws::JwsSigner::sign(&signer, input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let cases = [
        (
            "typ JWT",
            vec![key.sign(
                &json!({"typ": "JWT", "alg": "ES256", "jwk": key.public}),
                &claims,
            )],
        ),
        (
            "no typ",
            vec![key.sign(&json!({"alg": "ES256", "jwk": key.public}), &claims)],
        ),
        ("alg none", vec![unsigned]),
        ("alg HS256", vec![hmac]),
        (
            "private jwk",
            vec![key.sign(
                &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": key.private}),
                &claims,
            )],
        ),
        (
            "two DPoP headers",
            vec![token_proof(&app, &key), token_proof(&app, &key)],
        ),
        ("not a JWT", vec!["garbage".to_owned()]),
    ];
    for (case, proofs) in cases {
        let refused = token(&app, &client, &CLIENT_CREDENTIALS, &proofs).await;
        assert_refused(&refused, "invalid_dpop_proof", case);
    }
}

#[tokio::test]
async fn a_proof_issued_outside_the_iat_window_is_refused() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let key = ProofKey::generate("ES256");
    let url = app.url("/token");
    let t = now(&app);
    let cases = [
        ("61 s old", t - 61, false),
        ("6 s ahead", t + 6, false),
        ("60 s old", t - 60, true),
        ("5 s ahead", t + 5, true),
    ];
    for (case, iat, accepted) in cases {
        let answer = token(
            &app,
            &client,
            &CLIENT_CREDENTIALS,
            &[key.proof("POST", &url, iat, &[])],
        )
        .await;
        if accepted {
            assert_eq!(answer.status, StatusCode::OK, "{case}: {:?}", answer.body);
        } else {
            assert_refused(&answer, "invalid_dpop_proof", case);
        }
    }
}

#[tokio::test]
async fn a_dpop_bound_client_without_a_proof_is_refused() {
    let app = spawn_app().await;
    let client = service(&app).await;
    require_dpop_of(&app, &client).await;
    let refused = token(&app, &client, &CLIENT_CREDENTIALS, &[]).await;
    assert_refused(&refused, "invalid_dpop_proof", "no proof");
    let key = ProofKey::generate("ES256");
    let bound = token(
        &app,
        &client,
        &CLIENT_CREDENTIALS,
        &[token_proof(&app, &key)],
    )
    .await;
    assert_bound_to(&bound, &key);
}

/// RFC 9449 §5: a public client has no credential, so its refresh token is bound to the key.
#[tokio::test]
async fn a_public_clients_refresh_token_is_bound_to_its_key_and_refused_with_another() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (key, other) = (ProofKey::generate("ES256"), ProofKey::generate("EdDSA"));
    let issued = user_tokens(&app, &client, "openid offline_access", &key).await;
    assert_bound_to(&issued, &key);
    let refresh_token = issued.body["refresh_token"].as_str().unwrap().to_owned();

    let with_other = refresh(&app, &client, &refresh_token, &[token_proof(&app, &other)]).await;
    assert_refused(&with_other, "invalid_dpop_proof", "another key");
    let without = refresh(&app, &client, &refresh_token, &[]).await;
    assert_refused(&without, "invalid_dpop_proof", "no proof");

    // Those refusals neither rotated nor revoked the family: its key still refreshes it.
    let refreshed = refresh(&app, &client, &refresh_token, &[token_proof(&app, &key)]).await;
    assert_bound_to(&refreshed, &key);
    let next = refreshed.body["refresh_token"].as_str().unwrap();
    let again = refresh(&app, &client, next, &[token_proof(&app, &other)]).await;
    assert_refused(
        &again,
        "invalid_dpop_proof",
        "the rotated token, another key",
    );
}

/// RFC 9449 §5: a confidential client's refresh token is not bound; the new access token is
/// bound to the key of the refresh request's proof, if any.
#[tokio::test]
async fn a_confidential_clients_refresh_token_is_not_bound_but_each_access_token_is() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (key, other) = (ProofKey::generate("ES256"), ProofKey::generate("RS256"));
    let issued = user_tokens(&app, &client, "openid offline_access", &key).await;
    assert_bound_to(&issued, &key);

    let refresh_token = issued.body["refresh_token"].as_str().unwrap();
    let with_other = refresh(&app, &client, refresh_token, &[token_proof(&app, &other)]).await;
    assert_bound_to(&with_other, &other);
    let next = with_other.body["refresh_token"].as_str().unwrap();
    let without = refresh(&app, &client, next, &[]).await;
    assert_eq!(without.status, StatusCode::OK, "{:?}", without.body);
    assert_eq!(without.body["token_type"], "Bearer");
}

/// RFC 9449 §10: a code requested with `dpop_jkt` is redeemed only with that key.
#[tokio::test]
async fn dpop_jkt_binds_the_code_to_its_key() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (key, other) = (ProofKey::generate("ES256"), ProofKey::generate("ES256"));
    let browser = Browser::new();
    let bound = [("dpop_jkt", key.jkt())];
    let bound: Vec<(&str, &str)> = bound.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let (code, verifier) = code_for(&app, &client, &browser, &bound).await;
    let with_other = redeem(
        &app,
        &client,
        &code,
        &verifier,
        &[token_proof(&app, &other)],
    )
    .await;
    assert_refused(&with_other, "invalid_dpop_proof", "another key");

    let (code, verifier) = code_for(&app, &client, &browser, &bound).await;
    let without = redeem(&app, &client, &code, &verifier, &[]).await;
    assert_refused(&without, "invalid_dpop_proof", "no proof");

    let (code, verifier) = code_for(&app, &client, &browser, &bound).await;
    let with_key = redeem(&app, &client, &code, &verifier, &[token_proof(&app, &key)]).await;
    assert_bound_to(&with_key, &key);

    // A dpop_jkt that is no thumbprint is refused at /authorize, back to the client.
    let (_, challenge) = pkce_pair();
    let url = authorize_url(
        &app,
        &client,
        &challenge,
        &[("dpop_jkt", "not-a-thumbprint")],
    );
    let back = crate::support::location(&browser.get(&url).await);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
}

async fn userinfo(app: &TestApp, authorization: &str, proofs: &[String]) -> Answer {
    let mut req = app
        .client
        .get(app.url("/userinfo"))
        .header("authorization", authorization);
    for proof in proofs {
        req = req.header("dpop", proof);
    }
    answer(req.send().await.unwrap()).await
}

fn assert_dpop_challenge(answer: &Answer, error: &str, case: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{case}: {:?}",
        answer.body
    );
    let challenge = answer.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with(&format!(r#"DPoP error="{error}""#))
            && challenge.contains(r#"algs="ES256 EdDSA RS256 PS256""#),
        "{case}: {challenge}"
    );
}

#[tokio::test]
async fn userinfo_takes_a_bound_token_with_its_proof_and_refuses_it_as_bearer() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let client = public_client(&app).await;
    let (key, other) = (ProofKey::generate("ES256"), ProofKey::generate("ES256"));
    let issued = user_tokens(&app, &client, "openid profile", &key).await;
    let at = issued.body["access_token"].as_str().unwrap().to_owned();
    let (url, t) = (app.url("/userinfo"), now(&app));
    let ath = access_token_hash(&at);
    let dpop = format!("DPoP {at}");

    let ok = userinfo(&app, &dpop, &[key.proof("GET", &url, t, &[("ath", &ath)])]).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["preferred_username"], "alice");

    let as_bearer = userinfo(&app, &format!("Bearer {at}"), &[]).await;
    assert_eq!(as_bearer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(as_bearer.error(), "invalid_token");
    let challenges = as_bearer.challenges();
    assert!(
        challenges.contains(r#"Bearer error="invalid_token""#) && challenges.contains("DPoP algs="),
        "{challenges}"
    );

    let cases = [
        (
            "ath of another token",
            vec![key.proof("GET", &url, t, &[("ath", &access_token_hash("other"))])],
            "invalid_dpop_proof",
        ),
        (
            "no ath",
            vec![key.proof("GET", &url, t, &[])],
            "invalid_dpop_proof",
        ),
        ("no proof", vec![], "invalid_dpop_proof"),
        (
            "a proof for POST",
            vec![key.proof("POST", &url, t, &[("ath", &ath)])],
            "invalid_dpop_proof",
        ),
        (
            "a proof for /token",
            vec![key.proof("GET", &app.url("/token"), t, &[("ath", &ath)])],
            "invalid_dpop_proof",
        ),
        (
            "another key",
            vec![other.proof("GET", &url, t, &[("ath", &ath)])],
            "invalid_token",
        ),
    ];
    for (case, proofs, error) in cases {
        assert_dpop_challenge(&userinfo(&app, &dpop, &proofs).await, error, case);
    }

    // An unbound token is a bearer token: as such it keeps working, with the DPoP scheme not.
    let plain_client = register_client(&app, ClientSpec::default()).await;
    let (code, verifier) = code_for(&app, &plain_client, &Browser::new(), &[]).await;
    let plain = redeem(&app, &plain_client, &code, &verifier, &[]).await;
    let plain_at = plain.body["access_token"].as_str().unwrap();
    let bearer = userinfo(&app, &format!("Bearer {plain_at}"), &[]).await;
    assert_eq!(bearer.status, StatusCode::OK);
    let proof = key.proof("GET", &url, t, &[("ath", &access_token_hash(plain_at))]);
    let unbound = userinfo(&app, &format!("DPoP {plain_at}"), &[proof]).await;
    assert_dpop_challenge(
        &unbound,
        "invalid_token",
        "an unbound token with the DPoP scheme",
    );
}

fn with_nonces(settings: &mut palisade::config::Settings) {
    settings.dpop.require_nonce = true;
}

/// RFC 9449 §8-9: the server asks for its nonce, then takes it, at /token and /userinfo.
#[tokio::test]
async fn a_required_nonce_is_asked_for_then_accepted() {
    let first = spawn_app_with(
        TestDatabase::create().await,
        TestEphemeral::create(),
        with_nonces,
    )
    .await;
    create_user(&first, "alice").await;
    let client = service(&first).await;
    let key = ProofKey::generate("ES256");

    let asked = token(
        &first,
        &client,
        &CLIENT_CREDENTIALS,
        &[token_proof(&first, &key)],
    )
    .await;
    assert_refused(&asked, "use_dpop_nonce", "no nonce");
    let nonce = asked.header("dpop-nonce").expect("a DPoP-Nonce header");

    let t = now(&first);
    let retried = key.proof("POST", &first.url("/token"), t, &[("nonce", &nonce)]);
    let issued = token(&first, &client, &CLIENT_CREDENTIALS, &[retried]).await;
    assert_bound_to(&issued, &key);
    assert_eq!(issued.header("dpop-nonce").as_deref(), Some(nonce.as_str()));

    // Userinfo asks in its own dialect: 401, `DPoP error="use_dpop_nonce"`, the nonce.
    let public = public_client(&first).await;
    let (code, verifier) = code_for(&first, &public, &Browser::new(), &[]).await;
    let proof = key.proof(
        "POST",
        &first.url("/token"),
        now(&first),
        &[("nonce", &nonce)],
    );
    let user = redeem(&first, &public, &code, &verifier, &[proof]).await;
    assert_bound_to(&user, &key);
    let at = user.body["access_token"].as_str().unwrap();
    let (url, ath) = (first.url("/userinfo"), access_token_hash(at));
    let dpop = format!("DPoP {at}");
    let asked = userinfo(
        &first,
        &dpop,
        &[key.proof("GET", &url, now(&first), &[("ath", &ath)])],
    )
    .await;
    assert_dpop_challenge(&asked, "use_dpop_nonce", "userinfo without a nonce");
    assert_eq!(asked.header("dpop-nonce").as_deref(), Some(nonce.as_str()));
    let with_nonce = key.proof(
        "GET",
        &url,
        now(&first),
        &[("ath", &ath), ("nonce", &nonce)],
    );
    let ok = userinfo(&first, &dpop, &[with_nonce]).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
}

/// The nonce one node hands out works on another of the same deployment. Nodes share only a
/// Redis store (an in-process store is one node's by design), so this runs in CI's Redis pass
/// and fails, never passes, without Redis.
#[tokio::test]
#[ignore = "needs Redis"]
async fn a_nonce_from_one_node_is_accepted_on_another() {
    let ephemeral = TestEphemeral::create();
    assert!(
        ephemeral.redis_url().is_some(),
        "this test needs Redis: set {}",
        palisade_store::testing::REDIS_URL_VAR
    );
    let first = spawn_app_with(TestDatabase::create().await, ephemeral, with_nonces).await;
    let client = service(&first).await;
    let key = ProofKey::generate("ES256");
    let asked = token(
        &first,
        &client,
        &CLIENT_CREDENTIALS,
        &[token_proof(&first, &key)],
    )
    .await;
    assert_refused(&asked, "use_dpop_nonce", "no nonce");
    let nonce = asked.header("dpop-nonce").expect("a DPoP-Nonce header");

    // A second node (its own issuer URL) sharing the ephemeral store takes the same nonce and
    // hands it out.
    let second = start_node(&first, with_nonces).await;
    let t = now(&first);
    let on_second = key.proof("POST", &second.url("/token"), t, &[("nonce", &nonce)]);
    let issued = token_at(&second.base_url, &client, &CLIENT_CREDENTIALS, &[on_second]).await;
    assert_eq!(issued.status, StatusCode::OK, "{:?}", issued.body);
    let wrong = key.proof(
        "POST",
        &second.url("/token"),
        t,
        &[("nonce", "not-the-nonce")],
    );
    let refused = token_at(&second.base_url, &client, &CLIENT_CREDENTIALS, &[wrong]).await;
    assert_refused(&refused, "use_dpop_nonce", "a made-up nonce");
    assert_eq!(
        refused.header("dpop-nonce").as_deref(),
        Some(nonce.as_str())
    );
}

#[tokio::test]
async fn discovery_lists_the_proof_algorithms() {
    let app = spawn_app().await;
    let metadata: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256", "PS256"])
    );
}

/// The admin API takes bearer tokens only: a bound token, presented bare, is refused there too.
#[tokio::test]
async fn the_admin_api_refuses_a_dpop_bound_token_it_accepts_unbound() {
    let app = spawn_app().await;
    let robot = register_client(
        &app,
        ClientSpec {
            grant_types: vec!["client_credentials"],
            scopes: vec!["admin:users:read"],
            ..ClientSpec::default()
        },
    )
    .await;
    let key = ProofKey::generate("ES256");
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "admin:users:read"),
    ];
    let plain = token(&app, &robot, &form, &[]).await;
    let bound = token(&app, &robot, &form, &[token_proof(&app, &key)]).await;
    assert_bound_to(&bound, &key);
    let list_users = |token: String| {
        let req = app
            .client
            .get(app.url("/admin/v1/users"))
            .bearer_auth(token);
        async move { req.send().await.unwrap().status() }
    };
    let plain_token = plain.body["access_token"].as_str().unwrap().to_owned();
    let bound_token = bound.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(list_users(plain_token).await, StatusCode::OK);
    assert_eq!(list_users(bound_token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_audit_trail_names_the_key_a_token_is_bound_to() {
    let app = spawn_app().await;
    let client = service(&app).await;
    let key = ProofKey::generate("ES256");
    let issued = token(
        &app,
        &client,
        &CLIENT_CREDENTIALS,
        &[token_proof(&app, &key)],
    )
    .await;
    assert_bound_to(&issued, &key);
    let query = palisade_core::model::AuditQuery {
        action: Some("token.issue".into()),
        actor: Some(format!("client:{}", client.id)),
        limit: 10,
        ..Default::default()
    };
    let mut events = Vec::new();
    // Issuance rows are written by a batching writer in the background.
    for _ in 0..100 {
        events = palisade_core::ports::AuditLog::query(&app.state.sql, query.clone())
            .await
            .unwrap();
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(events.len(), 1, "{events:?}");
    let details: serde_json::Value =
        serde_json::from_str(events[0].details.as_deref().unwrap()).unwrap();
    assert_eq!(details["jkt"], serde_json::json!(key.jkt()));
}
