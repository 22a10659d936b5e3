//! The server's own endpoints: health, readiness, metrics, static assets, headers, 404s.

use crate::harness::spawn_app;
use reqwest::StatusCode;

#[tokio::test]
async fn health_and_readiness_answer_200_on_a_fresh_server() {
    let app = spawn_app().await;
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "up");
    assert_eq!(body["checks"]["ephemeral_store"], "up");
    assert_eq!(body["degraded"], serde_json::json!([]));
}

#[tokio::test]
async fn metrics_count_requests_per_route_and_status_and_report_the_pool() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.client.get(app.url("/healthz")).send().await.unwrap();
    }
    app.client
        .get(app.url("/no/such/page"))
        .send()
        .await
        .unwrap();
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    let healthz = text
        .lines()
        .find(|l| {
            l.starts_with("palisade_http_requests_total")
                && l.contains(r#"route="/healthz""#)
                && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no healthz counter in:\n{text}"));
    let count: f64 = healthz.rsplit(' ').next().unwrap().parse().unwrap();
    // The recorder is process-wide and tests run in parallel: at least our three.
    assert!(count >= 3.0, "{healthz}");
    assert!(text.contains(r#"route="unmatched""#) && text.contains(r#"status="404""#));
    assert!(text.contains("palisade_http_request_duration_seconds_bucket"));
    assert!(text.contains("palisade_db_pool_max_connections"));
}

#[tokio::test]
async fn metrics_report_the_memory_the_in_process_store_holds() {
    let app = spawn_app().await;
    let before = app.state.ephemeral.memory_held();
    if app.state.settings.redis_url.is_some() {
        // Redis holds its data in its own process: nothing of ours to report.
        assert_eq!(before, None);
        return;
    }
    let before = before.expect("the in-process store reports its bytes");
    app.state
        .ephemeral
        .put("test:bytes", &[0; 4096], std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let after = app.state.ephemeral.memory_held().unwrap();
    assert!(after >= before + 4096, "{before} -> {after}");
    let text = app.get_text("/metrics").await;
    // The recorder is process-wide: another test's store may have written the gauge last, so
    // what is checked is that it is there and counts bytes.
    let gauge = text
        .lines()
        .find(|l| l.starts_with("palisade_ephemeral_store_bytes "))
        .unwrap_or_else(|| panic!("no store gauge in:\n{text}"));
    let bytes: f64 = gauge.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(bytes > 0.0, "{gauge}");
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    for path in ["/", "/healthz", "/readyz", "/metrics", "/nowhere"] {
        let res = app.client.get(app.url(path)).send().await.unwrap();
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !h.contains_key("server"),
            "{path} announces a server banner"
        );
    }
}

#[tokio::test]
async fn unknown_paths_get_an_html_404_that_does_not_echo_the_path() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/%3Cscript%3Ealert(1)%3C%2Fscript%3E"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = res.text().await.unwrap();
    assert!(body.contains("Page not found"));
    assert!(!body.contains("script"), "{body}");
}

#[tokio::test]
async fn the_stylesheet_is_served_under_its_content_hash_and_cached_for_good() {
    let app = spawn_app().await;
    let home = app.get_text("/").await;
    let path = palisade_pages::assets::STYLESHEET.path();
    assert!(home.contains(path), "{home}");
    let css = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert_eq!(
        css.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let stale = app
        .client
        .get(app.url("/static/palisade.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_passkey_script_is_served_under_its_content_hash_as_javascript() {
    let app = spawn_app().await;
    let path = palisade_pages::assets::WEBAUTHN_SCRIPT.path();
    let script = app.client.get(app.url(path)).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    let header = |name: &str| script.headers()[name].to_str().unwrap().to_owned();
    assert_eq!(
        header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    // With nosniff, a script is only run when it is served as one.
    assert_eq!(header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(header("x-content-type-options"), "nosniff");
    let body = script.text().await.unwrap();
    assert!(body.contains("navigator.credentials"), "{body}");
    let stale = app
        .client
        .get(app.url("/static/webauthn.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::NOT_FOUND);
}
