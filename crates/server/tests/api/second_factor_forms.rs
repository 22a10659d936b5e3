//! The second-factor forms as a browser without script posts them (RFC 6238 TOTP, recovery
//! codes): what every browser gets when passkeys are not offered, here on a server whose
//! issuer is an IP address (no WebAuthn relying party, so no script at all). A signed-in user
//! sets up an authenticator app on `/account/security` (the code computed by totp-rs, as an app
//! would), keeps the recovery codes, and the next sign-in asks for the second factor: a wrong
//! code gets the one generic message, a recovery code completes it and does not work twice, and
//! so does the app's code. The ID tokens say which (RFC 8176 `otp`).

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app, spawn_app_with};
use crate::support::{
    Authenticator, Browser, ClientSpec, PASSWORD, TestClient, create_user, hidden, location,
    pkce_pair, query_param, recovery_codes_in, register_client,
};
use base64::Engine as _;
use palisade::security_headers::CONTENT_SECURITY_POLICY;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use serde_json::Value;

/// A page with no script and the policy that allows none.
async fn scriptless_page(res: reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-security-policy"],
        CONTENT_SECURITY_POLICY
    );
    let html = res.text().await.unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(
        !html.contains("data-passkey"),
        "no passkey on an IP address: {html}"
    );
    html
}

/// Starts a sign-in and gives the password; returns where the server sent the browser and the
/// PKCE verifier.
async fn password_step(app: &TestApp, client: &TestClient, browser: &Browser) -> (String, String) {
    let (verifier, challenge) = pkce_pair();
    let login = location(
        &browser
            .get(&authorize_url(app, client, &challenge, &[]))
            .await,
    );
    let next = location(&browser.log_in(&login, "alice", PASSWORD).await);
    (next, verifier)
}

/// From `next` (consent, or already the client) to the `amr` of the ID token.
async fn amr_at_the_end(
    app: &TestApp,
    client: &TestClient,
    browser: &Browser,
    mut next: String,
    verifier: &str,
) -> Vec<String> {
    if next.contains("/consent?") {
        next = location(&browser.consent(&next, "allow").await);
    }
    let code = query_param(&next, "code").unwrap_or_else(|| panic!("no code in {next}"));
    let res = app
        .client
        .post(app.url("/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(id_token.split('.').nth(1).unwrap())
        .unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    claims["amr"]
        .as_array()
        .unwrap_or_else(|| panic!("no amr: {claims}"))
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

/// Signs alice in with her password and sets up an authenticator app on the account page;
/// returns the app and the recovery codes shown once.
async fn enrol_authenticator_app(
    app: &TestApp,
    client: &TestClient,
) -> (Authenticator, Vec<String>) {
    // Signed in with the password alone, alice sets up an authenticator app.
    let browser = Browser::new();
    let (next, verifier) = password_step(app, client, &browser).await;
    assert_eq!(
        amr_at_the_end(app, client, &browser, next, &verifier).await,
        ["pwd"]
    );
    let account = app.url("/account/security");
    let html = scriptless_page(browser.get(&account).await).await;
    let csrf = hidden(&html, "csrf_token");
    let start = browser
        .post_form(&account, &[("csrf_token", &csrf), ("action", "totp-start")])
        .await;
    let html = scriptless_page(start).await;
    assert!(html.contains("<svg"), "the QR code: {html}");
    let authenticator = Authenticator::from_page(&html);
    let confirmed = browser
        .post_form(
            &account,
            &[
                ("csrf_token", &csrf),
                ("action", "totp-confirm"),
                ("code", &authenticator.code(app, 0)),
                ("name", "Phone"),
            ],
        )
        .await;
    let html = scriptless_page(confirmed).await;
    let codes = recovery_codes_in(&html);
    assert_eq!(
        codes.len(),
        10,
        "the first factor brings recovery codes: {html}"
    );
    assert!(
        html.contains(r#"href="http://127.0.0.1"#),
        "back to the account: {html}"
    );
    let html = scriptless_page(browser.get(&account).await).await;
    assert!(
        html.contains(r#"<strong class="factor-name">Phone</strong>"#),
        "{html}"
    );
    assert!(
        html.contains("You have 10 unused recovery codes."),
        "{html}"
    );

    (authenticator, codes)
}

#[tokio::test]
async fn without_script_an_authenticator_app_and_recovery_codes_are_the_second_factor() {
    let app = spawn_app().await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (authenticator, codes) = enrol_authenticator_app(&app, &client).await;

    // A new browser: the password leads to the second step, which offers both forms.
    let browser = Browser::new();
    let (factor_url, verifier) = password_step(&app, &client, &browser).await;
    assert!(factor_url.contains("/login/factor?"), "{factor_url}");
    let html = scriptless_page(browser.get(&factor_url).await).await;
    assert!(html.contains(r#"<input type="hidden" name="method" value="totp">"#));
    assert!(html.contains(r#"<input type="hidden" name="method" value="recovery">"#));

    // A wrong code: the page again, with the one message for every wrong answer.
    let wrong = browser
        .answer_factor(&factor_url, "totp", &authenticator.wrong_code(&app))
        .await;
    let html = scriptless_page(wrong).await;
    assert!(
        html.contains(
            r#"role="alert">The code or passkey was not accepted. Please try again.</p>"#
        ),
        "{html}"
    );
    let wrong = browser
        .answer_factor(&factor_url, "recovery", "aaaa-bbbb-cccc-dddd")
        .await;
    assert!(
        scriptless_page(wrong)
            .await
            .contains("The code or passkey was not accepted.")
    );

    // A recovery code (typed in capitals, without dashes) completes the sign-in.
    let typed = codes[0].replace('-', "").to_uppercase();
    let next = location(&browser.answer_factor(&factor_url, "recovery", &typed).await);
    let amr = amr_at_the_end(&app, &client, &browser, next, &verifier).await;
    for method in ["pwd", "otp", "mfa"] {
        assert!(amr.iter().any(|m| m == method), "{method}: {amr:?}");
    }

    // The same recovery code does not work twice; the app's code does (a later time step: a
    // step once used is spent).
    app.clock.advance(chrono::Duration::seconds(30));
    let browser = Browser::new();
    let (factor_url, verifier) = password_step(&app, &client, &browser).await;
    let reused = browser
        .answer_factor(&factor_url, "recovery", &codes[0])
        .await;
    assert!(
        scriptless_page(reused)
            .await
            .contains("The code or passkey was not accepted.")
    );
    let code = authenticator.code(&app, 0);
    let next = location(&browser.answer_factor(&factor_url, "totp", &code).await);
    let amr = amr_at_the_end(&app, &client, &browser, next, &verifier).await;
    for method in ["pwd", "otp", "mfa"] {
        assert!(amr.iter().any(|m| m == method), "{method}: {amr:?}");
    }
}

#[tokio::test]
async fn too_many_wrong_codes_from_one_address_get_429_with_retry_after() {
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.attempt_limits.per_ip = 3;
    })
    .await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (authenticator, _) = enrol_authenticator_app(&app, &client).await;

    let browser = Browser::new();
    let (factor_url, _) = password_step(&app, &client, &browser).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let res = browser
            .answer_factor(&factor_url, "totp", &authenticator.wrong_code(&app))
            .await;
        statuses.push(res.status());
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry_after: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry_after >= 1);
            let html = res.text().await.unwrap();
            assert!(
                html.contains("Too many failed sign-in attempts. Try again in"),
                "{html}"
            );
            assert!(
                html.contains(r#"name="method" value="totp""#),
                "the form stays: {html}"
            );
            return;
        }
    }
    panic!("never throttled: {statuses:?}");
}
