//! The browser interaction over HTTP: what only the real server shows. Single-use steps under
//! real concurrency through actix, the flood of `/authorize` from one source, and the one form
//! opening every POST shares (docs/threat-model.md RC-06, AZ-11). The rules themselves are
//! unit-tested in crates/flow/src/interaction/tests.rs.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, spawn_app_with};
use crate::support::{
    Browser, ClientSpec, PASSWORD, create_user, hidden, location, pkce_pair, register_client,
};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use std::net::IpAddr;
use std::sync::Arc;

/// A browser whose connections leave from `source` (any address of 127.0.0.0/8 reaches the
/// server on 127.0.0.1), so one test can play several networks.
fn browser_from(source: &str) -> Browser {
    Browser {
        http: client_from(source).cookie_store(true).build().unwrap(),
    }
}

fn client_from(source: &str) -> reqwest::ClientBuilder {
    let source: IpAddr = source.parse().unwrap();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(source)
}

async fn app_with_interaction_limits(per_ip: u64, per_prefix: u64) -> TestApp {
    spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.attempt_limits.interactions_per_ip = per_ip;
        s.attempt_limits.interactions_per_prefix = per_prefix;
    })
    .await
}

#[tokio::test]
async fn twenty_concurrent_consent_posts_issue_exactly_one_code() {
    let app = app_with_interaction_limits(600, 3000).await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let browser = Browser::new();
    let (_, challenge) = pkce_pair();
    let login = location(
        &browser
            .get(&authorize_url(&app, &client, &challenge, &[]))
            .await,
    );
    let consent = location(&browser.log_in(&login, "alice", PASSWORD).await);
    assert!(consent.contains("/consent?"), "{consent}");
    let html = browser.get(&consent).await.text().await.unwrap();
    let form = Arc::new([
        ("csrf_token", hidden(&html, "csrf_token")),
        ("interaction_id", hidden(&html, "interaction_id")),
        ("decision", "allow".to_owned()),
    ]);
    let browser = Arc::new(browser);
    let posts = (0..20).map(|_| {
        let (browser, form, url) = (browser.clone(), form.clone(), app.url("/consent"));
        tokio::spawn(async move { browser.http.post(url).form(&*form).send().await.unwrap() })
    });
    let mut codes = 0;
    for post in posts {
        let res = post.await.unwrap();
        match res.status() {
            StatusCode::SEE_OTHER => {
                let to = location(&res);
                assert!(to.starts_with(&client.redirect_uri), "{to}");
                assert!(to.contains("code="), "{to}");
                codes += 1;
            }
            StatusCode::BAD_REQUEST => {
                let body = res.text().await.unwrap();
                assert!(body.contains("already completed"), "{body}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(codes, 1);
}

#[tokio::test]
async fn authorize_flood_from_one_source_leaves_other_sources_signing_in() {
    let (per_ip, per_prefix) = (20, 40);
    let app = app_with_interaction_limits(per_ip, per_prefix).await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let keys_before = app.state.ephemeral.key_count().await.unwrap().unwrap();

    // 400 cookie-less requests from one address, each with its own state (no reuse).
    let flooder = client_from("127.0.0.1").build().unwrap();
    let (_, challenge) = pkce_pair();
    let (mut admitted, mut throttled) = (0, 0);
    for i in 0..400 {
        let url = authorize_url(&app, &client, &challenge, &[("state", &i.to_string())]);
        let res = flooder.get(url).send().await.unwrap();
        match res.status() {
            StatusCode::SEE_OTHER => {
                let to = location(&res);
                assert!(to.contains("/login?"), "{to}");
                admitted += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after: u64 = res.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(retry_after >= 1);
                throttled += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        admitted, per_ip,
        "the flooding address is held to its limit"
    );
    assert_eq!(throttled, 400 - per_ip);
    let keys_after = app.state.ephemeral.key_count().await.unwrap().unwrap();
    // Each admitted interaction is one step (a cookie-less client gets no reuse pointer), plus
    // the two limit counters.
    assert!(
        keys_after - keys_before <= per_ip + 2,
        "{keys_before} keys before the flood, {keys_after} after"
    );

    // Another network signs in without noticing.
    let user = browser_from("127.1.0.1");
    let back = user
        .authorize(&authorize_url(&app, &client, &challenge, &[]), "alice")
        .await;
    assert!(
        back.starts_with(&client.redirect_uri) && back.contains("code="),
        "{back}"
    );

    // So does a neighbour of the flooder's network, until the network's own limit.
    let neighbour = browser_from("127.0.0.2");
    let res = neighbour
        .get(&authorize_url(&app, &client, &challenge, &[("state", "n")]))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_form_post_refuses_cross_site_and_non_form_bodies_before_the_engine() {
    let app = app_with_interaction_limits(600, 3000).await;
    for path in ["/login", "/consent", "/logout/confirm"] {
        let cross_site = app
            .client
            .post(app.url(path))
            .header("sec-fetch-site", "cross-site")
            .form(&[("csrf_token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(cross_site.status(), StatusCode::FORBIDDEN, "{path}");
        let json = app
            .client
            .post(app.url(path))
            .json(&serde_json::json!({"csrf_token": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(json.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            json.text().await.unwrap().contains("form-encoded"),
            "{path}"
        );
    }
}
