//! CORS as a browser enforces it (crates/server/src/cors.rs; docs/threat-model.md CO-01):
//! headless Chromium runs a single-page application served from a registered origin (a second
//! loopback port) through a whole PKCE sign-in, with its own `fetch` calls to discovery,
//! `/token`, `/userinfo` and `/revoke`; a page from an origin no client registered (a third
//! port) makes the same calls and the browser refuses them. The browser helpers are
//! headless_chromium.rs's.

use crate::harness::{TestApp, spawn_app};
use crate::headless_chromium::{Chromium, PATIENCE};
use crate::support::{ClientSpec, PASSWORD, create_user, register_client};
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::time::Instant;

/// A loopback HTTP server answering every `GET` with one HTML page (with script: the CSP is
/// the page's origin's business, not ours).
struct PageServer {
    listener: Option<TcpListener>,
    origin: String,
}

impl PageServer {
    fn bind() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        Self {
            listener: Some(listener),
            origin: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Starts serving `html`; the thread ends with the test process.
    fn serve(&mut self, html: String) {
        let listener = self.listener.take().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\n\
                     cache-control: no-store\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                    html.len()
                );
            }
        });
    }
}

/// The single-page application: `/` starts the sign-in (PKCE pair in `sessionStorage`, then to
/// the authorization endpoint found by discovery); `/callback` redeems the code, calls
/// userinfo, revokes the access token and calls userinfo again, and writes what it saw into
/// `#result`.
fn spa_page(issuer: &str, client_id: &str) -> String {
    SPA_PAGE
        .replace("{issuer}", issuer)
        .replace("{client_id}", client_id)
}

const SPA_PAGE: &str = r#"<!doctype html><title>SPA</title><pre id="result">pending</pre>
<script>
const issuer = "{issuer}", clientId = "{client_id}";
const redirectUri = location.origin + "/callback";
const b64url = bytes => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const show = value => { document.getElementById("result").textContent = JSON.stringify(value); };
const discover = async () => (await fetch(issuer + "/.well-known/openid-configuration")).json();
async function start() {
  const config = await discover();
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("verifier", verifier);
  const url = new URL(config.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: "code", client_id: clientId, redirect_uri: redirectUri,
    scope: "openid profile", state: "spa-state", nonce: "spa-nonce",
    code_challenge: challenge, code_challenge_method: "S256",
  });
  location.assign(url);
}
async function callback() {
  const params = new URLSearchParams(location.search);
  const config = await discover();
  const jwks = await (await fetch(config.jwks_uri)).json();
  const tokenRes = await fetch(config.token_endpoint, { method: "POST", body: new URLSearchParams({
    grant_type: "authorization_code", code: params.get("code"), redirect_uri: redirectUri,
    client_id: clientId, code_verifier: sessionStorage.getItem("verifier"),
  }) });
  const tokens = await tokenRes.json();
  const bearer = { headers: { Authorization: "Bearer " + tokens.access_token } };
  const userinfo = await fetch(config.userinfo_endpoint, bearer);
  const claims = await userinfo.json();
  const revoked = await fetch(config.revocation_endpoint, { method: "POST", body: new URLSearchParams({
    token: tokens.access_token, client_id: clientId,
  }) });
  const after = await fetch(config.userinfo_endpoint, bearer);
  show({
    state: params.get("state"), keys: jwks.keys.length, token_status: tokenRes.status,
    token_type: tokens.token_type, userinfo_status: userinfo.status, sub: claims.sub,
    revoke_status: revoked.status, after_status: after.status,
    after_challenge: after.headers.get("WWW-Authenticate"),
  });
}
(location.pathname === "/callback" ? callback() : start())
  .catch(e => show({ error: e.name, message: e.message }));
</script>"#;

/// A page of an origin no client registered, making the SPA's calls; each refused call is the
/// `TypeError` `fetch` rejects with.
const STRANGER_PAGE: &str = r#"<!doctype html><title>Elsewhere</title><pre id="result">pending</pre>
<script>
const issuer = "{issuer}", clientId = "{client_id}";
const attempt = async (request) => {
  try { const res = await request(); return "read " + res.status; } catch (e) { return e.name; }
};
(async () => {
  const result = {
    discovery: await attempt(() => fetch(issuer + "/.well-known/openid-configuration")),
    token: await attempt(() => fetch(issuer + "/token", { method: "POST", body: new URLSearchParams({
      grant_type: "authorization_code", code: "stolen", client_id: clientId,
      redirect_uri: "http://127.0.0.1/x", code_verifier: "v".repeat(43),
    }) })),
    userinfo: await attempt(() => fetch(issuer + "/userinfo", {
      headers: { Authorization: "Bearer stolen" } })),
  };
  document.getElementById("result").textContent = JSON.stringify(result);
})();
</script>"#;

/// `#result` once the page's script has written it.
async fn result_of(browser: &Chromium) -> Value {
    let started = Instant::now();
    loop {
        let text = browser
            .wait_for("#result")
            .await
            .text()
            .await
            .unwrap_or_default();
        if text != "pending" {
            return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the page wrote no result at {:?}",
            browser.client.current_url().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A public client (PKCE, no secret) whose redirect URI is `spa`'s `/callback`.
async fn spa_client(app: &TestApp, spa: &PageServer) -> String {
    register_client(
        app,
        ClientSpec {
            confidential: false,
            auth_method: "none",
            redirect_uris: vec![format!("{}/callback", spa.origin)],
            ..ClientSpec::default()
        },
    )
    .await
    .id
}

#[tokio::test]
async fn a_single_page_application_on_a_registered_origin_signs_in_with_pkce_and_calls_userinfo_in_a_real_browser()
 {
    let app = spawn_app().await;
    let mut spa = PageServer::bind();
    let client_id = spa_client(&app, &spa).await;
    spa.serve(spa_page(&app.base_url, &client_id));
    let user = create_user(&app, "alice").await;
    let browser = Chromium::launch().await;

    browser.client.goto(&spa.origin).await.unwrap();
    browser
        .wait_for_url_starting_with(&app.url("/login?"))
        .await;
    browser.sign_in("alice", PASSWORD).await;
    browser
        .wait_for("button[name=decision][value=allow]")
        .await
        .click()
        .await
        .unwrap();
    browser
        .wait_for_url_starting_with(&format!("{}/callback?", spa.origin))
        .await;
    let result = result_of(&browser).await;
    browser.screenshot("cors-spa").await;
    // The one failure the page caused on purpose: userinfo after the revocation.
    let problems: Vec<String> = browser
        .console_problems()
        .await
        .into_iter()
        .filter(|p| {
            !p.contains(
                "/userinfo - Failed to load resource: the server responded with a status of 401",
            )
        })
        .collect();
    browser.close().await;

    assert_eq!(
        result,
        json!({
            "state": "spa-state",
            "keys": result["keys"],
            "token_status": 200,
            "token_type": "Bearer",
            "userinfo_status": 200,
            "sub": user.0,
            "revoke_status": 200,
            "after_status": 401,
            "after_challenge": result["after_challenge"],
        }),
        "{result}"
    );
    assert!(result["keys"].as_u64().unwrap() >= 1, "{result}");
    assert!(
        result["after_challenge"]
            .as_str()
            .is_some_and(|c| c.starts_with("Bearer") && c.contains("invalid_token")),
        "the exposed challenge: {result}"
    );
    assert!(problems.is_empty(), "the console reports {problems:#?}");
}

#[tokio::test]
async fn a_page_from_an_unregistered_origin_is_refused_by_the_browser() {
    let app = spawn_app().await;
    let spa = PageServer::bind();
    let client_id = spa_client(&app, &spa).await;
    let mut stranger = PageServer::bind();
    stranger.serve(
        STRANGER_PAGE
            .replace("{issuer}", &app.base_url)
            .replace("{client_id}", &client_id),
    );
    let browser = Chromium::launch().await;

    browser.client.goto(&stranger.origin).await.unwrap();
    let result = result_of(&browser).await;
    let problems = browser.console_problems().await;
    browser.close().await;

    assert_eq!(
        result,
        json!({"discovery": "TypeError", "token": "TypeError", "userinfo": "TypeError"}),
        "every call is refused"
    );
    // Refused by CORS, not by a network failure: Chromium says so for each call.
    let refusals = problems
        .iter()
        .filter(|p| p.contains("has been blocked by CORS policy"))
        .count();
    assert_eq!(refusals, 3, "{problems:#?}");
}
