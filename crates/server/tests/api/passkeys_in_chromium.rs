//! Passkeys in a real browser (WebAuthn Level 3 §7.1-7.2, RFC 8176 `amr`): headless Chromium
//! with a WebDriver virtual authenticator (WebAuthn §11.3) registers a passkey on
//! `/account/security`, signs in with it alone (through the autofill's conditional request,
//! then with the login page's "Sign in with a passkey" button, which aborts that request for a
//! modal one), and then satisfies the second factor a password sign-in asks for. The ID tokens say how the
//! user signed in. What only a browser shows is checked too: `webauthn.js` loads under the
//! pages' CSP, the passkey parts appear only with it, and the console stays clean.
//!
//! The server runs with its issuer on `http://localhost:PORT`: a WebAuthn relying party id is
//! a domain, never an IP address. The browser helpers are headless_chromium.rs's.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app_on_localhost, spawn_app_on_localhost_with};
use crate::headless_chromium::{Chromium, PATIENCE, RelyingParty, client_of, redeem};
use crate::support::{PASSWORD, TestClient, create_user, pkce_pair, query_param};
use crate::virtual_authenticator::VirtualAuthenticator;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Waits until the element is shown (the passkey parts are `hidden` until the script runs).
async fn wait_until_displayed(browser: &Chromium, css: &str) -> fantoccini::elements::Element {
    let started = Instant::now();
    loop {
        let element = browser.wait_for(css).await;
        if element.is_displayed().await.unwrap() {
            return element;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "{css} stays hidden: did webauthn.js run?\n{}",
            browser.client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What a page that offers a passkey must be in a browser: our one script loaded (under the
/// CSP that allows it and nothing else), our stylesheet applied (a sign-in page's card, the
/// account console's header), nothing in the console.
async fn assert_scripted_page_is_sound(browser: &Chromium, page: &str) {
    let script = palisade_pages::assets::WEBAUTHN_SCRIPT.path();
    let scripts = browser
        .js("return Array.from(document.scripts, s => new URL(s.src).pathname)")
        .await;
    assert_eq!(scripts, json!([script]), "{page}: one script, ours");
    let inline = browser
        .js("return Array.from(document.scripts).filter(s => s.text.trim() !== '').length")
        .await;
    assert_eq!(inline, json!(0), "{page}: no inline script");
    let background = browser
        .js("return getComputedStyle(document.querySelector('.console-header') ?? document.querySelector('main')).backgroundColor")
        .await;
    assert_eq!(
        background,
        json!("rgb(255, 255, 255)"),
        "{page}: palisade.css did not apply"
    );
    let problems = browser.console_problems().await;
    assert!(
        problems.is_empty(),
        "{page}: the console reports {problems:#?}"
    );
}

/// From wherever the browser is, through the consent page if it comes, to the client's
/// callback; returns the URL it landed on.
async fn finish_at_client(browser: &Chromium, rp: &RelyingParty) -> String {
    let started = Instant::now();
    loop {
        let url = browser.client.current_url().await.unwrap().to_string();
        if url.starts_with(&rp.callback) {
            return url;
        }
        if url.contains("/consent?")
            && let Ok(allow) = browser
                .client
                .find(fantoccini::Locator::Css(
                    "button[name=decision][value=allow]",
                ))
                .await
        {
            allow.click().await.unwrap();
        }
        assert!(
            started.elapsed() < PATIENCE,
            "still at {url}, expected the client's callback:\n{}",
            browser.client.source().await.unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The claims of an ID token (its signature is the token endpoint tests' business).
fn claims_of(id_token: &str) -> Value {
    let payload = id_token.split('.').nth(1).expect("a JWS has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// The `amr` of the ID token the code in `landed` buys.
async fn amr_after(
    app: &TestApp,
    client: &TestClient,
    landed: &str,
    verifier: &str,
    state: &str,
) -> (Vec<String>, Value) {
    assert_eq!(query_param(landed, "state").as_deref(), Some(state));
    let code = query_param(landed, "code").unwrap_or_else(|| panic!("no code in {landed}"));
    let (status, tokens) = redeem(app, client, &code, verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    let amr = claims["amr"]
        .as_array()
        .unwrap_or_else(|| panic!("no amr in {claims}"))
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    (amr, claims)
}

/// Signs out through the confirmation page (no `id_token_hint`, so the server asks).
async fn sign_out(browser: &Chromium, app: &TestApp) {
    browser.client.goto(&app.url("/logout")).await.unwrap();
    browser
        .wait_for("button[name=confirm][value=yes]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_url_starting_with(&app.url("/logout"))
        .await;
    browser.wait_for("h1").await;
}

/// Starts a sign-in at the authorization endpoint; returns the PKCE verifier.
async fn start_sign_in(
    browser: &Chromium,
    app: &TestApp,
    client: &TestClient,
    state: &str,
) -> String {
    let (verifier, challenge) = pkce_pair();
    browser
        .client
        .goto(&authorize_url(app, client, &challenge, &[("state", state)]))
        .await
        .unwrap();
    verifier
}

#[tokio::test]
async fn a_passkey_registered_in_a_real_browser_signs_in_alone_and_then_as_the_second_factor() {
    let app = spawn_app_on_localhost().await;
    let rp = RelyingParty::start();
    let client = client_of(&app, &rp).await;
    create_user(&app, "alice").await;
    let browser = Chromium::launch().await;
    let mut authenticator = VirtualAuthenticator::add(&browser).await;

    // 1. A password sign-in; the login page already offers passkeys (to the autofill too).
    let verifier = start_sign_in(&browser, &app, &client, "pk-password").await;
    let offer = wait_until_displayed(&browser, "#passkey-sign-in").await;
    assert_eq!(offer.text().await.unwrap(), "Sign in with a passkey");
    assert_eq!(
        browser
            .wait_for("#username")
            .await
            .attr("autocomplete")
            .await
            .unwrap()
            .as_deref(),
        Some("username webauthn")
    );
    assert_scripted_page_is_sound(&browser, "login with passkeys").await;
    browser.screenshot("passkey-login").await;
    browser.sign_in("alice", PASSWORD).await;
    let landed = finish_at_client(&browser, &rp).await;
    let (amr, _) = amr_after(&app, &client, &landed, &verifier, "pk-password").await;
    assert_eq!(amr, ["pwd"], "a password alone");

    // 2. The account page: an authenticator app's QR code is drawn (and left unconfirmed),
    // then a passkey is registered in the authenticator.
    browser
        .client
        .goto(&app.url("/account/security"))
        .await
        .unwrap();
    browser
        .wait_for("input[name=action][value=totp-start] ~ .actions button")
        .await
        .click()
        .await
        .unwrap();
    let qr = browser.wait_for(".qr svg").await;
    let (_, _, width, height) = qr.rectangle().await.unwrap();
    assert!(
        width >= 150.0 && (width - height).abs() < 1.0,
        "a square QR code a phone can read: {width}x{height}"
    );
    assert!(
        !browser
            .wait_for("#totp-secret")
            .await
            .text()
            .await
            .unwrap()
            .is_empty(),
        "the secret as text too"
    );
    assert_scripted_page_is_sound(&browser, "authenticator app setup").await;
    browser.screenshot("totp-setup").await;
    browser
        .client
        .goto(&app.url("/account/security"))
        .await
        .unwrap();
    let add = wait_until_displayed(&browser, "#passkey-add").await;
    assert_scripted_page_is_sound(&browser, "account security").await;
    browser.screenshot("account-security").await;
    browser
        .wait_for("#passkey-name")
        .await
        .send_keys("Test key")
        .await
        .unwrap();
    add.click().await.unwrap();
    // A first factor may come with its recovery codes; they lead back to the account page.
    let started = Instant::now();
    loop {
        let html = browser.client.source().await.unwrap();
        if html.contains("class=\"codes\"") {
            browser.screenshot("recovery-codes").await;
            browser
                .wait_for("a[href$='/account/security']")
                .await
                .click()
                .await
                .unwrap();
        } else if html.contains("class=\"factor-name\"") {
            break;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the passkey was not added:\n{html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let names = browser
        .js("return Array.from(document.querySelectorAll('.factor-name'), e => e.textContent)")
        .await;
    assert_eq!(names, json!(["Test key"]));
    let held = authenticator.credentials(&browser).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0]["isResidentCredential"],
        json!(true),
        "a passkey must be discoverable to sign in without a username: {held:?}"
    );
    assert_eq!(held[0]["rpId"], json!("localhost"), "{held:?}");
    let sign_count = held[0]["signCount"].as_u64().unwrap();

    // 3. Signed out, the passkey alone signs in: first as the autofill offers it (the page's
    // conditional request, which the virtual authenticator answers at once)...
    sign_out(&browser, &app).await;
    let verifier = start_sign_in(&browser, &app, &client, "pk-autofill").await;
    let landed = finish_at_client(&browser, &rp).await;
    let (amr, claims) = amr_after(&app, &client, &landed, &verifier, "pk-autofill").await;
    assert_passkey_alone(&amr, &claims);

    // ... then with the button, which aborts the waiting conditional request (no
    // authenticator while the page loads) for a modal one.
    sign_out(&browser, &app).await;
    let held = authenticator.unplug(&browser).await;
    let verifier = start_sign_in(&browser, &app, &client, "pk-button").await;
    let button = wait_until_displayed(&browser, "#passkey-sign-in").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    authenticator.plug_in(&browser, &held).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.url("/login?")),
        "the waiting conditional request did not answer by itself: the button does the work"
    );
    button.click().await.unwrap();
    let landed = finish_at_client(&browser, &rp).await;
    let problems = browser.console_problems().await;
    assert!(
        problems.is_empty(),
        "the passkey sign-in logged {problems:#?}"
    );
    let (amr, claims) = amr_after(&app, &client, &landed, &verifier, "pk-button").await;
    assert_passkey_alone(&amr, &claims);

    // 4. A password sign-in now asks for the second factor, and the passkey gives it (the
    // authenticator is away while the password is typed, or the autofill would sign in).
    sign_out(&browser, &app).await;
    let held = authenticator.unplug(&browser).await;
    let verifier = start_sign_in(&browser, &app, &client, "pk-second").await;
    browser.wait_for("#username").await;
    browser.sign_in("alice", PASSWORD).await;
    let verify = wait_until_displayed(&browser, "#passkey-verify").await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.url("/login/factor?")),
        "the second step has its own page"
    );
    assert_scripted_page_is_sound(&browser, "second factor").await;
    browser.screenshot("second-factor").await;
    authenticator.plug_in(&browser, &held).await;
    verify.click().await.unwrap();
    let landed = finish_at_client(&browser, &rp).await;
    let (amr, claims) = amr_after(&app, &client, &landed, &verifier, "pk-second").await;
    for method in ["pwd", "mfa"] {
        assert!(amr.iter().any(|m| m == method), "{method}: {claims}");
    }
    assert!(
        amr.iter().any(|m| m == "hwk" || m == "swk"),
        "the passkey was the second factor: {claims}"
    );
    assert_eq!(claims["acr"], json!("urn:palisade:acr:mfa"), "{claims}");

    let held = authenticator.credentials(&browser).await;
    assert!(
        held[0]["signCount"].as_u64().unwrap() >= sign_count + 3,
        "three sign-ins used the authenticator: {held:?}"
    );
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "{problems:#?}");
    browser.close().await;
    assert_eq!(rp.callbacks().len(), 4, "{:?}", rp.callbacks());
}

/// A sign-in with a user-verified passkey alone: `hwk` (device-bound) or `swk` (synced), and
/// `mfa` (something held, verified by something known or something one is), RFC 8176.
fn assert_passkey_alone(amr: &[String], claims: &Value) {
    assert!(
        amr.iter().any(|m| m == "hwk" || m == "swk"),
        "a passkey sign-in says so: {claims}"
    );
    assert!(!amr.iter().any(|m| m == "pwd"), "no password: {claims}");
    assert!(
        amr.iter().any(|m| m == "mfa"),
        "a user-verified passkey is two factors: {claims}"
    );
    assert_eq!(claims["acr"], json!("urn:palisade:acr:mfa"), "{claims}");
}

#[tokio::test]
async fn a_user_who_must_have_a_second_factor_enrols_a_passkey_while_signing_in() {
    let app = spawn_app_on_localhost_with(|settings| settings.mfa_required = true).await;
    let rp = RelyingParty::start();
    let client = client_of(&app, &rp).await;
    create_user(&app, "alice").await;
    let browser = Chromium::launch().await;
    let authenticator = VirtualAuthenticator::add(&browser).await;

    // No factor yet: the password leads to the enrolment page, which draws the TOTP app's QR
    // code and offers a passkey instead.
    let verifier = start_sign_in(&browser, &app, &client, "pk-enrol").await;
    browser.wait_for("#username").await;
    browser.sign_in("alice", PASSWORD).await;
    let register = wait_until_displayed(&browser, "#passkey-register").await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.url("/login/enrol?")),
        "enrolment has its own page"
    );
    browser.wait_for(".qr svg").await;
    assert_scripted_page_is_sound(&browser, "enrolment").await;
    browser.screenshot("enrolment").await;
    register.click().await.unwrap();

    // The recovery codes, once; their form goes on with the sign-in.
    browser.wait_for(".codes code").await;
    let codes = browser
        .js("return Array.from(document.querySelectorAll('.codes code'), e => e.textContent)")
        .await;
    let codes = codes.as_array().unwrap();
    assert_eq!(codes.len(), 10, "{codes:?}");
    assert_eq!(
        browser.js("return document.scripts.length").await,
        json!(0),
        "the recovery codes page needs no script"
    );
    browser.screenshot("recovery-codes-sign-in").await;
    browser
        .wait_for("form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let landed = finish_at_client(&browser, &rp).await;
    let (amr, claims) = amr_after(&app, &client, &landed, &verifier, "pk-enrol").await;
    for method in ["pwd", "mfa"] {
        assert!(amr.iter().any(|m| m == method), "{method}: {claims}");
    }
    assert!(
        amr.iter().any(|m| m == "hwk" || m == "swk"),
        "the new passkey was the second factor: {claims}"
    );
    let held = authenticator.credentials(&browser).await;
    assert_eq!(held.len(), 1, "{held:?}");
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "{problems:#?}");
    browser.close().await;
}
