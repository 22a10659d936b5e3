//! The device flow's pages in a real browser (RFC 8628 §3.3, §5.4): headless Chromium opens
//! `verification_uri_complete`, finds the code filled in, continues, signs in, compares the
//! code on the consent page and allows; the device's next poll gets its tokens. Each page is
//! checked as the other browser tests check theirs (no script, the stylesheet applied, a quiet
//! console) and saved under `target/browser-artifacts/`. Needs Chromium, as
//! headless_chromium.rs says.

use crate::device_flow::{cli_client, poll, start};
use crate::harness::spawn_app;
use crate::headless_chromium::Chromium;
use crate::support::{PASSWORD, create_user};
use reqwest::StatusCode;

#[tokio::test]
async fn a_user_connects_a_device_in_a_real_browser_and_the_device_gets_its_tokens() {
    let app = spawn_app().await;
    let cli = cli_client(&app).await;
    create_user(&app, "alice").await;
    let (_, started) = start(&app, &cli, "openid offline_access").await;
    let user_code = started["user_code"].as_str().unwrap();
    let device_code = started["device_code"].as_str().unwrap();
    let browser = Chromium::launch().await;

    browser
        .client
        .goto(started["verification_uri_complete"].as_str().unwrap())
        .await
        .unwrap();
    let field = browser.wait_for("#user-code").await;
    assert_eq!(
        field.prop("value").await.unwrap().as_deref(),
        Some(user_code)
    );
    assert_eq!(
        browser.client.title().await.unwrap(),
        "Connect a device · Palisade"
    );
    browser.assert_page_is_sound("device").await;
    browser.screenshot("device").await;
    browser
        .wait_for("button[type=submit]")
        .await
        .click()
        .await
        .unwrap();

    browser
        .wait_for_url_starting_with(&app.url("/login?"))
        .await;
    browser.sign_in("alice", PASSWORD).await;
    let allow = browser.wait_for("button[name=decision][value=allow]").await;
    assert_eq!(
        browser.wait_for(".user-code").await.text().await.unwrap(),
        user_code,
        "the consent page shows the code to compare with the device"
    );
    browser.assert_page_is_sound("device consent").await;
    browser.screenshot("device-consent").await;
    allow.click().await.unwrap();

    // The consent page has no status line; the page that ends the flow has.
    browser.wait_for("p[role=status]").await;
    let heading = browser.wait_for("h1").await;
    assert_eq!(heading.text().await.unwrap(), "Device connected");
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "connecting logged {problems:#?}");
    browser.screenshot("device-connected").await;
    browser.close().await;

    let (status, tokens) = poll(&app, &cli, device_code).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(tokens["refresh_token"].is_string() && tokens["id_token"].is_string());
}
