//! RP-initiated logout (OIDC RP-Initiated Logout 1.0) and the discovery documents
//! (OIDC Discovery 1.0, RFC 8414).

use crate::authorize_rules::authorize_url;
use crate::harness::spawn_app;
use crate::support::{
    Browser, ClientSpec, create_user, hidden, location, pkce_pair, query_param, register_client,
    sign_in_and_redeem,
};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

/// Logs alice in and returns her browser and an ID token issued to `client`.
async fn signed_in(
    app: &crate::harness::TestApp,
    client: &crate::support::TestClient,
) -> (Browser, String) {
    let (browser, id_token, _) = signed_in_with_tokens(app, client).await;
    (browser, id_token)
}

/// As [`signed_in`], also returning the access token.
async fn signed_in_with_tokens(
    app: &crate::harness::TestApp,
    client: &crate::support::TestClient,
) -> (Browser, String, String) {
    let (browser, tokens) = sign_in_and_redeem(app, client, "alice", &[]).await;
    (
        browser,
        tokens["id_token"].as_str().unwrap().to_owned(),
        tokens["access_token"].as_str().unwrap().to_owned(),
    )
}

async fn silent_login_error(
    app: &crate::harness::TestApp,
    client: &crate::support::TestClient,
    browser: &Browser,
) -> Option<String> {
    let (_, challenge) = pkce_pair();
    let to = location(
        &browser
            .get(&authorize_url(
                app,
                client,
                &challenge,
                &[("prompt", "none")],
            ))
            .await,
    );
    query_param(&to, "error")
}

#[tokio::test]
async fn logout_with_a_valid_id_token_hint_ends_the_session_and_returns_to_the_registered_uri() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (browser, id_token) = signed_in(&app, &client).await;
    assert_eq!(silent_login_error(&app, &client, &browser).await, None);

    let mut url = Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://rp.example/signed-out")
        .append_pair("state", "bye1");
    let to = location(&browser.get(url.as_str()).await);
    assert_eq!(to, "https://rp.example/signed-out?state=bye1");
    assert_eq!(
        silent_login_error(&app, &client, &browser).await.as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn logout_without_a_hint_asks_for_confirmation_bound_to_the_session() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (browser, _) = signed_in(&app, &client).await;

    let page = browser.get(&app.url("/logout")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf_token");
    // A forged confirmation does nothing.
    let forged = browser
        .post_form(&app.url("/logout/confirm"), &[("csrf_token", "forged")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        silent_login_error(&app, &client, &browser).await,
        None,
        "still signed in"
    );

    let done = browser
        .post_form(&app.url("/logout/confirm"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("signed out"));
    assert_eq!(
        silent_login_error(&app, &client, &browser).await.as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn logout_never_redirects_to_an_unregistered_uri_or_trusts_a_forged_hint() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (browser, id_token, access_token) = signed_in_with_tokens(&app, &client).await;
    let cases = [
        // An access token names the user too, but is not an ID token.
        vec![("id_token_hint", access_token.as_str())],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "https://evil.test/"),
        ],
        vec![("post_logout_redirect_uri", "https://rp.example/signed-out")],
        vec![
            ("id_token_hint", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."),
            ("post_logout_redirect_uri", "https://rp.example/signed-out"),
        ],
        vec![
            ("client_id", "someone-else"),
            ("id_token_hint", id_token.as_str()),
        ],
    ];
    for params in cases {
        let mut url = Url::parse(&app.url("/logout")).unwrap();
        url.query_pairs_mut().extend_pairs(params.iter());
        let res = browser.get(url.as_str()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(res.headers().get("location").is_none());
    }
    assert_eq!(
        silent_login_error(&app, &client, &browser).await,
        None,
        "a refused logout logged out"
    );
}

#[tokio::test]
async fn both_discovery_documents_list_exactly_what_is_implemented() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = app
            .client
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], app.base_url, "{path}");
        assert_eq!(doc["authorization_endpoint"], app.url("/authorize"));
        assert_eq!(doc["token_endpoint"], app.url("/token"));
        assert_eq!(doc["jwks_uri"], app.url("/jwks"));
        assert_eq!(doc["end_session_endpoint"], app.url("/logout"));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(
            doc["code_challenge_methods_supported"],
            serde_json::json!(["S256"])
        );
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        let grants: Vec<&str> = doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g.as_str().unwrap())
            .collect();
        assert!(grants.contains(&"authorization_code") && grants.contains(&"refresh_token"));
        assert!(!grants.contains(&"password") && !grants.contains(&"implicit"));
        let algs: Vec<&str> = doc["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(algs.contains(&"RS256") && !algs.contains(&"none"));
    }
}
