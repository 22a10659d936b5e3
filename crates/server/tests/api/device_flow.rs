//! The device authorization grant (RFC 8628) end to end: a CLI-style client asks
//! `/device_authorization` and polls `/token`, while a browser enters the user code at
//! `/device`, signs in and consents.

use crate::harness::{TestApp, spawn_app};
use crate::oidc_flow::rp_http;
use crate::support::{Browser, ClientSpec, PASSWORD, TestClient, create_user, hidden, location};
use openidconnect::core::{CoreClient, CoreDeviceAuthorizationResponse, CoreProviderMetadata};
use openidconnect::{
    ClientId, DeviceAuthorizationUrl, IssuerUrl, Nonce, OAuth2TokenResponse, Scope,
};
use palisade_core::Clock as _;
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public CLI client registered for the device grant (and refresh tokens), no redirect URI.
pub(crate) async fn cli_client(app: &TestApp) -> TestClient {
    crate::support::register_client(
        app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            grant_types: vec![DEVICE_GRANT, "refresh_token"],
            redirect_uris: vec![],
            application_type: "native",
            ..ClientSpec::default()
        },
    )
    .await
}

/// `POST /device_authorization` as a public client: status and JSON body.
pub(crate) async fn start(app: &TestApp, client: &TestClient, scope: &str) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/device_authorization"))
        .form(&[("client_id", client.id.as_str()), ("scope", scope)])
        .send()
        .await
        .unwrap();
    let status = res.status();
    if status == StatusCode::OK {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
    (status, res.json().await.unwrap())
}

/// One poll of `/token` by a public client: status and JSON body.
pub(crate) async fn poll(
    app: &TestApp,
    client: &TestClient,
    device_code: &str,
) -> (StatusCode, Value) {
    let res = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

fn error_of(answer: &(StatusCode, Value)) -> &str {
    answer.1["error"].as_str().unwrap_or("<none>")
}

/// Types `user_code` at `/device` in `browser`; the response to the POST.
async fn enter_code(app: &TestApp, browser: &Browser, user_code: &str) -> reqwest::Response {
    let page = browser.get(&app.url("/device")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    browser
        .post_form(
            &app.url("/device"),
            &[
                ("csrf_token", &hidden(&html, "csrf_token")),
                ("user_code", user_code),
            ],
        )
        .await
}

/// From the response to a code entry, through sign-in, to the consent page's URL.
async fn sign_in_to_consent(
    browser: &Browser,
    entered: reqwest::Response,
    username: &str,
) -> String {
    let next = location(&entered);
    assert!(next.contains("/login?interaction="), "{next}");
    let next = location(&browser.log_in(&next, username, PASSWORD).await);
    assert!(next.contains("/consent?interaction="), "{next}");
    next
}

#[tokio::test]
async fn a_cli_polls_slows_down_and_gets_tokens_once_the_user_approves_in_a_browser() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    create_user(&app, "alice").await;

    let (status, started) = start(&app, &cli, "openid profile offline_access").await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let device_code = started["device_code"].as_str().unwrap().to_owned();
    let user_code = started["user_code"].as_str().unwrap().to_owned();
    assert_eq!(started["verification_uri"], app.url("/device"));
    assert_eq!(
        started["verification_uri_complete"],
        format!("{}?user_code={user_code}", app.url("/device"))
    );
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 5);
    assert_eq!(user_code.len(), 9, "XXXX-XXXX: {user_code}");

    // Polling: pending, then too soon, then too soon for the grown interval, then pending.
    assert_eq!(
        error_of(&poll(&app, &cli, &device_code).await),
        "authorization_pending"
    );
    let too_fast = poll(&app, &cli, &device_code).await;
    assert_eq!(too_fast.0, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&too_fast), "slow_down");
    app.clock.advance(chrono::Duration::seconds(6));
    assert_eq!(
        error_of(&poll(&app, &cli, &device_code).await),
        "slow_down",
        "after one slow_down the interval is 10 s, not 5"
    );
    app.clock.advance(chrono::Duration::seconds(15));
    assert_eq!(
        error_of(&poll(&app, &cli, &device_code).await),
        "authorization_pending"
    );

    // The user opens verification_uri_complete: the code is prefilled.
    let browser = Browser::new();
    let page = browser
        .get(started["verification_uri_complete"].as_str().unwrap())
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!(r#"value="{user_code}""#)), "{html}");
    let entered = browser
        .post_form(
            &app.url("/device"),
            &[
                ("csrf_token", &hidden(&html, "csrf_token")),
                // Typed sloppily: case and dashes do not matter.
                ("user_code", &user_code.replace('-', "").to_lowercase()),
            ],
        )
        .await;
    let consent_url = sign_in_to_consent(&browser, entered, "alice").await;
    let consent = browser.get(&consent_url).await.text().await.unwrap();
    assert!(consent.contains("Example RP"), "{consent}");
    assert!(
        consent.contains(&format!(r#"<code class="user-code">{user_code}</code>"#)),
        "the consent page shows the code to compare with the device: {consent}"
    );
    let allowed = browser.consent(&consent_url, "allow").await;
    assert_eq!(allowed.status(), StatusCode::OK);
    assert!(allowed.text().await.unwrap().contains("Device connected"));

    app.clock.advance(chrono::Duration::seconds(10));
    let (status, tokens) = poll(&app, &cli, &device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["access_token"].is_string());
    assert!(tokens["id_token"].is_string(), "openid was granted");
    assert_eq!(tokens["scope"], "openid profile offline_access");
    let refresh_token = tokens["refresh_token"].as_str().expect("offline_access");

    let again = poll(&app, &cli, &device_code).await;
    assert_eq!(
        error_of(&again),
        "invalid_grant",
        "a device code is redeemed once"
    );

    let refreshed = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", cli.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "the refresh token works"
    );
}

#[tokio::test]
async fn the_openidconnect_crates_device_flow_polls_until_approved_and_verifies_the_id_token() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    let alice = create_user(&app, "alice").await;
    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http)
            .await
            .expect("discovery and JWKS");
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(cli.id.clone()), None)
        .set_device_authorization_url(
            DeviceAuthorizationUrl::new(app.url("/device_authorization")).unwrap(),
        );
    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&http)
        .await
        .expect("device authorization");
    assert_eq!(details.interval(), std::time::Duration::from_secs(5));

    // The crate "sleeps" by moving our clock; during its first wait the user approves.
    let approved = AtomicBool::new(false);
    let user_code = details.user_code().secret().clone();
    let sleep = |wait: std::time::Duration| {
        let (app, approved, user_code) = (&app, &approved, user_code.clone());
        async move {
            app.clock.advance(chrono::Duration::from_std(wait).unwrap());
            if !approved.swap(true, Ordering::SeqCst) {
                let browser = Browser::new();
                let entered = enter_code(app, &browser, &user_code).await;
                let consent_url = sign_in_to_consent(&browser, entered, "alice").await;
                let allowed = browser.consent(&consent_url, "allow").await;
                assert_eq!(allowed.status(), StatusCode::OK);
            }
        }
    };
    let tokens = client
        .exchange_device_access_token(&details)
        .unwrap()
        .set_time_fn(|| app.clock.now())
        .request_async(&http, sleep, None)
        .await
        .expect("tokens after approval");
    assert!(approved.load(Ordering::SeqCst), "it waited for the user");
    assert!(tokens.refresh_token().is_some());
    let id_token = tokens.extra_fields().id_token().expect("openid");
    let verifier = client.id_token_verifier().set_time_fn(|| app.clock.now());
    let claims = id_token
        .claims(&verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), alice.0);
    assert_eq!(claims.audiences()[0].as_str(), cli.id);
}

#[tokio::test]
async fn a_user_who_denies_leaves_the_device_with_access_denied() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    create_user(&app, "bob").await;
    let (_, started) = start(&app, &cli, "openid").await;
    let device_code = started["device_code"].as_str().unwrap();

    let browser = Browser::new();
    let entered = enter_code(&app, &browser, started["user_code"].as_str().unwrap()).await;
    let consent_url = sign_in_to_consent(&browser, entered, "bob").await;
    let denied = browser.consent(&consent_url, "deny").await;
    assert_eq!(denied.status(), StatusCode::OK);
    assert!(denied.text().await.unwrap().contains("Access denied"));

    for _ in 0..2 {
        let answer = poll(&app, &cli, device_code).await;
        assert_eq!(answer.0, StatusCode::BAD_REQUEST);
        assert_eq!(error_of(&answer), "access_denied");
        app.clock.advance(chrono::Duration::seconds(5));
    }
    // The code was decided: it cannot be entered again to approve after all.
    let again = enter_code(&app, &browser, started["user_code"].as_str().unwrap()).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_expired_device_code_is_expired_token_and_its_user_code_is_refused() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    let (_, started) = start(&app, &cli, "openid").await;
    app.clock.advance(chrono::Duration::seconds(601));

    let answer = poll(&app, &cli, started["device_code"].as_str().unwrap()).await;
    assert_eq!(answer.0, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&answer), "expired_token");
    let browser = Browser::new();
    let entered = enter_code(&app, &browser, started["user_code"].as_str().unwrap()).await;
    assert_eq!(entered.status(), StatusCode::BAD_REQUEST);
    assert!(entered.text().await.unwrap().contains("not recognised"));
}

#[tokio::test]
async fn concurrent_polls_of_an_approved_device_code_get_tokens_once() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    create_user(&app, "carol").await;
    let (_, started) = start(&app, &cli, "openid").await;
    let device_code = started["device_code"].as_str().unwrap();
    let browser = Browser::new();
    let entered = enter_code(&app, &browser, started["user_code"].as_str().unwrap()).await;
    let consent_url = sign_in_to_consent(&browser, entered, "carol").await;
    assert_eq!(
        browser.consent(&consent_url, "allow").await.status(),
        StatusCode::OK
    );

    // A resource the grant does not hold (RFC 8707 §2.2) is refused before the approval is
    // spent: the polls below still get their one set of tokens.
    let with_resource = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", cli.id.as_str()),
            ("resource", "https://api.example/"),
        ])
        .send()
        .await
        .unwrap();
    let refused: Value = with_resource.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_target", "{refused}");

    let polls = (0..6).map(|_| poll(&app, &cli, device_code));
    let answers = futures_util::future::join_all(polls).await;
    let issued = answers.iter().filter(|a| a.0 == StatusCode::OK).count();
    assert_eq!(issued, 1, "{answers:?}");
    assert_eq!(
        error_of(&poll(&app, &cli, device_code).await),
        "invalid_grant"
    );
}

#[tokio::test]
async fn wrong_user_codes_from_one_address_hit_the_limiter_before_any_code_is_checked() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    let (_, started) = start(&app, &cli, "openid").await;
    let limit = app.state.settings.attempt_limits.per_ip;
    let browser = Browser::new();
    let page = browser.get(&app.url("/device")).await.text().await.unwrap();
    let csrf = hidden(&page, "csrf_token");
    for attempt in 0..limit {
        let wrong = browser
            .post_form(
                &app.url("/device"),
                &[("csrf_token", csrf.as_str()), ("user_code", "BBBB-BBBB")],
            )
            .await;
        assert_eq!(wrong.status(), StatusCode::BAD_REQUEST, "attempt {attempt}");
    }
    // Past the limit even the right code is not looked at.
    let right = browser
        .post_form(
            &app.url("/device"),
            &[
                ("csrf_token", csrf.as_str()),
                ("user_code", started["user_code"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(right.headers().contains_key("retry-after"));
    assert!(right.text().await.unwrap().contains("Too many wrong codes"));
}

#[tokio::test]
async fn a_user_code_form_without_its_csrf_token_is_refused() {
    let app = spawn_app().await;
    let browser = Browser::new();
    browser.get(&app.url("/device")).await;
    let forged = browser
        .post_form(
            &app.url("/device"),
            &[("csrf_token", "forged"), ("user_code", "BCDF-GHJK")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_device_code_of_another_client_is_invalid_grant() {
    let app = spawn_app().await;
    let (owner, other) = (cli_client(&app).await, cli_client(&app).await);
    let (_, started) = start(&app, &owner, "openid").await;
    let answer = poll(&app, &other, started["device_code"].as_str().unwrap()).await;
    assert_eq!(error_of(&answer), "invalid_grant");
    let unknown = poll(&app, &owner, "not-a-device-code").await;
    assert_eq!(error_of(&unknown), "invalid_grant");
}

#[tokio::test]
async fn only_clients_registered_for_the_device_grant_may_use_it() {
    let app = spawn_app().await;
    let web_app = crate::support::register_client(
        &app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            ..ClientSpec::default()
        },
    )
    .await;
    let (status, body) = start(&app, &web_app, "openid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "unauthorized_client");
    let cli = cli_client(&app).await;
    let (_, started) = start(&app, &cli, "openid").await;
    let answer = poll(&app, &web_app, started["device_code"].as_str().unwrap()).await;
    assert_eq!(error_of(&answer), "unauthorized_client");
}

#[tokio::test]
async fn device_authorization_authenticates_confidential_clients_and_checks_scopes() {
    let app = spawn_app().await;
    let confidential = crate::support::register_client(
        &app,
        ClientSpec {
            grant_types: vec![DEVICE_GRANT],
            redirect_uris: vec![],
            ..ClientSpec::default()
        },
    )
    .await;
    let wrong_secret = app
        .client
        .post(app.url("/device_authorization"))
        .basic_auth(&confidential.id, Some("wrong"))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong_secret.headers().contains_key("www-authenticate"));
    let no_secret = start(&app, &confidential, "openid").await;
    assert_eq!(error_of(&no_secret), "invalid_client");
    let right = app
        .client
        .post(app.url("/device_authorization"))
        .basic_auth(&confidential.id, confidential.secret.as_deref())
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), StatusCode::OK);

    let cli = cli_client(&app).await;
    let (status, body) = start(&app, &cli, "openid admin:users").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn discovery_lists_the_device_endpoint_and_grant() {
    let app = spawn_app().await;
    let document: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        document["device_authorization_endpoint"],
        app.url("/device_authorization")
    );
    let grants = document["grant_types_supported"].as_array().unwrap();
    assert!(grants.iter().any(|g| g == DEVICE_GRANT), "{grants:?}");
}

#[tokio::test]
async fn device_authorization_requests_are_bounded_per_address() {
    let app = crate::harness::spawn_app_with(
        palisade_store::testing::TestDatabase::create().await,
        palisade_store::testing::TestEphemeral::create(),
        |settings| {
            settings.attempt_limits.interactions_per_ip = 3;
        },
    )
    .await;
    let cli = cli_client(&app).await;
    for _ in 0..3 {
        assert_eq!(start(&app, &cli, "openid").await.0, StatusCode::OK);
    }
    let (status, body) = start(&app, &cli, "openid").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn an_operator_registers_a_device_cli_without_a_redirect_uri() {
    let db = palisade_store::testing::TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let out = crate::cli::palisade(
        &db,
        dir.path(),
        &[
            "client",
            "add",
            "--name",
            "Example CLI",
            "--public",
            "--native",
            "--grant",
            DEVICE_GRANT,
            "--grant",
            "refresh_token",
        ],
        "",
    );
    assert!(out.status.success(), "{}", crate::cli::stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    let client_id = printed
        .lines()
        .find_map(|l| l.strip_prefix("client_id: "))
        .expect("the client id is printed")
        .trim();
    let client = palisade_core::ports::ClientRepository::find_client(
        &db.open().await,
        &palisade_core::model::ClientId(client_id.to_owned()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        client.grant_types,
        [
            palisade_core::model::GrantType::DeviceCode,
            palisade_core::model::GrantType::RefreshToken
        ]
    );
    assert!(client.redirect_uris.is_empty());
}

#[tokio::test]
async fn a_user_whose_role_requires_a_second_factor_enrols_one_on_the_way_to_approving_a_device() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    let dana = create_user(&app, "dana").await;
    crate::second_factors::require_mfa_by_role(&app, &dana).await;
    let (_, started) = start(&app, &cli, "openid").await;

    // The device interaction goes through the same sign-in steps as /authorize.
    let browser = Browser::new();
    let entered = enter_code(&app, &browser, started["user_code"].as_str().unwrap()).await;
    let login = location(&entered);
    let enrol = location(&browser.log_in(&login, "dana", PASSWORD).await);
    let (_, consent_url) = crate::second_factors::enrol_totp(&app, &browser, &enrol).await;
    assert!(consent_url.contains("/consent?"), "{consent_url}");
    let allowed = browser.consent(&consent_url, "allow").await;
    assert!(allowed.text().await.unwrap().contains("Device connected"));

    let (status, tokens) = poll(&app, &cli, started["device_code"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    use base64::Engine as _;
    let payload = tokens["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    let amr = claims["amr"].as_array().unwrap();
    assert!(amr.iter().any(|m| m == "mfa"), "{claims}");
}

/// One poll of `/token` by a public client with a DPoP proof (RFC 9449 §5).
async fn poll_with_proof(
    app: &TestApp,
    client: &TestClient,
    device_code: &str,
    key: &palisade_flow::dpop::testing::ProofKey,
) -> (StatusCode, Value) {
    let proof = key.proof("POST", &app.url("/token"), app.clock.now().timestamp(), &[]);
    let res = app
        .client
        .post(app.url("/token"))
        .header("dpop", proof)
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_poll_with_a_dpop_proof_gets_tokens_bound_to_its_key_and_the_refresh_family_too() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    create_user(&app, "erin").await;
    let (_, started) = start(&app, &cli, "openid offline_access").await;
    let browser = Browser::new();
    let entered = enter_code(&app, &browser, started["user_code"].as_str().unwrap()).await;
    let consent_url = sign_in_to_consent(&browser, entered, "erin").await;
    assert_eq!(
        browser.consent(&consent_url, "allow").await.status(),
        StatusCode::OK
    );

    let (key, other) = (
        palisade_flow::dpop::testing::ProofKey::generate("ES256"),
        palisade_flow::dpop::testing::ProofKey::generate("EdDSA"),
    );
    let device_code = started["device_code"].as_str().unwrap();
    let (status, tokens) = poll_with_proof(&app, &cli, device_code, &key).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    use base64::Engine as _;
    let payload = tokens["access_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let access: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(access["cnf"]["jkt"], key.jkt());

    // A public client's refresh family is bound to the key of the poll that got it.
    let refresh = |key: &palisade_flow::dpop::testing::ProofKey| {
        let proof = key.proof("POST", &app.url("/token"), app.clock.now().timestamp(), &[]);
        app.client
            .post(app.url("/token"))
            .header("dpop", proof)
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", cli.id.as_str()),
            ])
            .send()
    };
    let with_other: Value = refresh(&other).await.unwrap().json().await.unwrap();
    assert_eq!(with_other["error"], "invalid_dpop_proof", "{with_other}");
    let with_key = refresh(&key).await.unwrap();
    assert_eq!(with_key.status(), StatusCode::OK);
}
