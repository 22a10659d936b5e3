//! The authorization endpoint's rules: no redirect before the client and redirect URI are
//! verified, RFC errors after, PKCE required with S256 only, prompt handling, remembered consent.

use crate::harness::{TestApp, spawn_app};
use crate::support::{
    Browser, ClientSpec, PASSWORD, TestClient, create_user, location, pkce_pair, query_param,
    register_client,
};
use reqwest::StatusCode;
use url::Url;

/// `/authorize` with the usual parameters; `overrides` replace or add, `""` removes.
pub fn authorize_url(
    app: &TestApp,
    client: &TestClient,
    challenge: &str,
    overrides: &[(&str, &str)],
) -> String {
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
    let mut url = Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

async fn assert_error_page(res: reqwest::Response) {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("<html"), "{body}");
    assert!(!body.contains("evil"), "the page echoes the URI: {body}");
}

/// A redirect to the registered URI with `error`, `state` and `iss` and no code.
fn assert_error_redirect(app: &TestApp, client: &TestClient, location: &str, error: &str) {
    assert!(location.starts_with(&client.redirect_uri), "{location}");
    assert_eq!(
        query_param(location, "error").as_deref(),
        Some(error),
        "{location}"
    );
    assert_eq!(query_param(location, "state").as_deref(), Some("st1"));
    assert_eq!(
        query_param(location, "iss").as_deref(),
        Some(app.base_url.as_str())
    );
    assert!(query_param(location, "code").is_none());
}

#[tokio::test]
async fn unregistered_and_near_miss_redirect_uris_get_a_page_and_no_redirect() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    let near_misses = [
        "https://evil.test/cb",
        "https://rp.example/CB",
        "https://rp.example/cb/",
        "https://rp.example/cb/.",
        "https://rp.example/cb/..;/cb",
        "https://rp.example/%63b",
        "https://RP.example/cb",
        "https://rp.example:443/cb",
        "https://rp.example@evil.test/cb",
        "https://a@b@rp.example/cb",
        "https://rp.example.evil.test/cb",
        "https://evil.test\\@rp.example/cb",
        "http://rp.example/cb",
        "https://rp.example/cb#frag",
        "https://rp.example/cb?x=1",
    ];
    for uri in near_misses {
        let res = browser
            .get(&authorize_url(
                &app,
                &client,
                &challenge,
                &[("redirect_uri", uri)],
            ))
            .await;
        assert_error_page(res).await;
    }
    // OIDC makes redirect_uri required even with one registered URI.
    let res = browser
        .get(&authorize_url(
            &app,
            &client,
            &challenge,
            &[("redirect_uri", "")],
        ))
        .await;
    assert_error_page(res).await;
}

#[tokio::test]
async fn a_missing_unknown_or_repeated_client_id_gets_a_page_and_no_redirect() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    for id in ["", "no-such-client"] {
        let res = browser
            .get(&authorize_url(
                &app,
                &client,
                &challenge,
                &[("client_id", id), ("redirect_uri", "https://evil.test")],
            ))
            .await;
        assert_error_page(res).await;
    }
    let repeated = format!(
        "{}&client_id={}",
        authorize_url(&app, &client, &challenge, &[]),
        client.id
    );
    assert_error_page(browser.get(&repeated).await).await;
}

#[tokio::test]
async fn errors_after_verification_go_back_to_the_client_with_state_and_iss() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    let cases: [(&[(&str, &str)], &str); 12] = [
        (&[("response_type", "token")], "unsupported_response_type"),
        (
            &[("response_type", "id_token token")],
            "unsupported_response_type",
        ),
        (
            &[("response_type", "code token")],
            "unsupported_response_type",
        ),
        (&[("response_type", "")], "invalid_request"),
        (&[("response_mode", "web_message")], "invalid_request"),
        (&[("scope", "openid admin:all")], "invalid_scope"),
        (
            &[("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            &[("request_uri", "http://169.254.169.254/latest/meta-data/")],
            "request_uri_not_supported",
        ),
        (&[("code_challenge", "")], "invalid_request"),
        (&[("code_challenge_method", "plain")], "invalid_request"),
        (&[("code_challenge_method", "")], "invalid_request"),
        (&[("prompt", "none login")], "invalid_request"),
    ];
    for (overrides, error) in cases {
        let res = browser
            .get(&authorize_url(&app, &client, &challenge, overrides))
            .await;
        let to = location(&res);
        assert_error_redirect(&app, &client, &to, error);
        assert!(!to.contains("access_token"), "{to}");
    }
    let repeated = format!(
        "{}&scope=openid",
        authorize_url(&app, &client, &challenge, &[])
    );
    let to = location(&browser.get(&repeated).await);
    assert_error_redirect(&app, &client, &to, "invalid_request");
}

#[tokio::test]
async fn a_client_not_registered_for_the_code_flow_is_unauthorized() {
    let app = spawn_app().await;
    let client = register_client(
        &app,
        ClientSpec {
            grant_types: vec!["client_credentials"],
            ..ClientSpec::default()
        },
    )
    .await;
    let (_, challenge) = pkce_pair();
    let to = location(
        &Browser::new()
            .get(&authorize_url(&app, &client, &challenge, &[]))
            .await,
    );
    assert_error_redirect(&app, &client, &to, "unauthorized_client");
}

#[tokio::test]
async fn prompt_none_without_a_session_is_login_required_and_without_consent_consent_required() {
    let app = spawn_app().await;
    let first = register_client(&app, ClientSpec::default()).await;
    let second = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();

    let to = location(
        &browser
            .get(&authorize_url(
                &app,
                &first,
                &challenge,
                &[("prompt", "none")],
            ))
            .await,
    );
    assert_error_redirect(&app, &first, &to, "login_required");

    // Log in and consent for the first client only.
    let back = browser
        .authorize(&authorize_url(&app, &first, &challenge, &[]), "alice")
        .await;
    assert!(query_param(&back, "code").is_some());
    // Now silent authentication works for the first client...
    let to = location(
        &browser
            .get(&authorize_url(
                &app,
                &first,
                &challenge,
                &[("prompt", "none")],
            ))
            .await,
    );
    assert!(query_param(&to, "code").is_some(), "{to}");
    // ...but the second client has no consent yet.
    let to = location(
        &browser
            .get(&authorize_url(
                &app,
                &second,
                &challenge,
                &[("prompt", "none")],
            ))
            .await,
    );
    assert_error_redirect(&app, &second, &to, "consent_required");
}

#[tokio::test]
async fn remembered_consent_skips_the_page_unless_prompt_consent_or_new_scopes() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    browser
        .authorize(&authorize_url(&app, &client, &challenge, &[]), "alice")
        .await;

    let to = location(
        &browser
            .get(&authorize_url(&app, &client, &challenge, &[]))
            .await,
    );
    assert!(
        query_param(&to, "code").is_some(),
        "consent was not remembered: {to}"
    );
    let to = location(
        &browser
            .get(&authorize_url(
                &app,
                &client,
                &challenge,
                &[("prompt", "consent")],
            ))
            .await,
    );
    assert!(to.contains("/consent?"), "{to}");
    let to = location(
        &browser
            .get(&authorize_url(
                &app,
                &client,
                &challenge,
                &[("scope", "openid profile email")],
            ))
            .await,
    );
    assert!(to.contains("/consent?"), "{to}");
}

#[tokio::test]
async fn prompt_login_and_max_age_zero_ask_for_the_password_again() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    browser
        .authorize(&authorize_url(&app, &client, &challenge, &[]), "alice")
        .await;
    for overrides in [[("prompt", "login")], [("max_age", "0")]] {
        let to = location(
            &browser
                .get(&authorize_url(&app, &client, &challenge, &overrides))
                .await,
        );
        assert!(to.contains("/login?"), "{to}");
        let back = location(&browser.log_in(&to, "alice", PASSWORD).await);
        assert!(query_param(&back, "code").is_some(), "{back}");
    }
}

#[tokio::test]
async fn denying_consent_sends_access_denied_to_the_client() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    let login = location(
        &browser
            .get(&authorize_url(&app, &client, &challenge, &[]))
            .await,
    );
    let consent = location(&browser.log_in(&login, "alice", PASSWORD).await);
    let to = location(&browser.consent(&consent, "deny").await);
    assert_error_redirect(&app, &client, &to, "access_denied");
}

#[tokio::test]
async fn wrong_credentials_re_render_the_form_with_one_generic_message() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    let carol = create_user(&app, "carol").await;
    create_user(&app, "alice").await;
    palisade_core::ports::UserRepository::set_user_disabled(
        &app.state.sql,
        &carol,
        true,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    let login = location(
        &browser
            .get(&authorize_url(&app, &client, &challenge, &[]))
            .await,
    );
    let mut bodies = Vec::new();
    for (user, password) in [
        ("alice", "wrong password"),
        ("nobody", PASSWORD),
        ("carol", PASSWORD),
    ] {
        let res = browser.log_in(&login, user, password).await;
        assert_eq!(res.status(), StatusCode::OK, "{user}");
        let body = res.text().await.unwrap();
        assert!(
            body.contains("The username or password is incorrect."),
            "{body}"
        );
        // The same page apart from the username echoed back into the form.
        bodies.push(body.replace(&format!(r#"value="{user}""#), r#"value="""#));
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
}

#[tokio::test]
async fn a_login_form_cannot_be_completed_by_another_browser_or_without_its_csrf_token() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, challenge) = pkce_pair();
    let victim = Browser::new();
    let login = location(
        &victim
            .get(&authorize_url(&app, &client, &challenge, &[]))
            .await,
    );
    let page = victim.get(&login).await.text().await.unwrap();
    let interaction = crate::support::hidden(&page, "interaction_id");
    let csrf = crate::support::hidden(&page, "csrf_token");

    let attacker = Browser::new();
    let res = attacker
        .post_form(
            &app.url("/login"),
            &[
                ("csrf_token", &csrf),
                ("interaction_id", &interaction),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "another browser completed the form"
    );
    let res = victim
        .post_form(
            &app.url("/login"),
            &[
                ("csrf_token", "forged"),
                ("interaction_id", &interaction),
                ("username", "alice"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = victim
        .http
        .post(app.url("/login"))
        .header("origin", "https://evil.test")
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("interaction_id", &interaction),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn post_authorize_and_native_loopback_redirects_on_any_port_work() {
    let app = spawn_app().await;
    let native = register_client(
        &app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            application_type: "native",
            redirect_uris: vec!["http://127.0.0.1/callback".into()],
            ..ClientSpec::default()
        },
    )
    .await;
    create_user(&app, "alice").await;
    let (_, challenge) = pkce_pair();
    let browser = Browser::new();
    let url = authorize_url(
        &app,
        &native,
        &challenge,
        &[("redirect_uri", "http://127.0.0.1:49152/callback")],
    );
    let back = browser.authorize(&url, "alice").await;
    assert!(
        back.starts_with("http://127.0.0.1:49152/callback?"),
        "{back}"
    );

    let query = Url::parse(&url).unwrap().query().unwrap().to_owned();
    let res = browser
        .http
        .post(app.url("/authorize"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    assert!(query_param(&location(&res), "code").is_some());
}
