//! The login and consent pages in a real browser (OIDC Core §3.1.2.3-3.1.2.5, RFC 6749 §4.1.1-4.1.2,
//! RFC 9207 `iss`): headless Chromium driven over WebDriver types the credentials, submits,
//! consents and lands on a relying party we serve, whose code then buys tokens. What `reqwest`
//! cannot show is checked here: the stylesheet loads under the CSP, the pages ship no script,
//! the browser logs no error or CSP violation, and each page is saved as a PNG under
//! `target/browser-artifacts/` for a human to look at.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian `chromium`, `chromium-driver`;
//! `.ci/run` installs them). Without them the tests fail rather than skip.

use crate::authorize_rules::authorize_url;
use crate::harness::{TestApp, free_port, spawn_app};
use crate::support::{
    ClientSpec, PASSWORD, TestClient, create_user, pkce_pair, query_param, register_client,
};
use base64::Engine as _;
use fantoccini::key::Key;
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long any one wait for the browser may take before the test fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);
/// `--accent` in static/palisade.css (light scheme, which headless Chromium reports).
pub(crate) const ACCENT: &str = "rgb(37, 83, 199)";

fn artifacts_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A chromedriver process of our own on a free port, in its own process group so that the
/// Chromium it starts dies with it even when a test panics before closing the session.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    async fn start() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: the browser tests need the Debian packages `chromium` and \
                 `chromium-driver` (`.ci/run` installs them: apt-get install chromium chromium-driver)"
            );
        }
        let port = free_port();
        // Its complaints reach us anyway, as the error of the command that failed.
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let status = format!("{}/status", driver.url);
        let started = Instant::now();
        loop {
            if let Ok(res) = reqwest::get(&status).await
                && res.status() == StatusCode::OK
            {
                return driver;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "chromedriver did not answer on {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // The whole group: chromedriver and every Chromium process it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// chromedriver's console log (`goog:loggingPrefs`), where CSP violations and failed loads land.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base_url: &Url, session_id: Option<&str>) -> Result<Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// Headless Chromium with a fresh profile. `close` ends the session; dropping kills the driver's
/// process group whatever happened, then removes the profile.
pub(crate) struct Chromium {
    pub(crate) client: Client,
    // Fields drop in order: the driver (and its browser) before the profile they write to.
    _driver: Chromedriver,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Chromium on a loaded two-core machine sometimes dies before it writes its DevTools
    /// port ("DevToolsActivePort file doesn't exist"); a second start with a fresh profile
    /// rules out that startup race. A browser that cannot start twice fails the test.
    pub(crate) async fn launch() -> Self {
        let mut last_error = String::new();
        for _ in 0..2 {
            match Self::try_launch().await {
                Ok(chromium) => return chromium,
                Err(e) => last_error = e,
            }
        }
        panic!("{last_error}")
    }

    async fn try_launch() -> Result<Self, String> {
        let driver = Chromedriver::start().await;
        let profile = tempfile::tempdir().unwrap();
        let capabilities: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    // Root cannot use the sandbox; the pages are ours.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    // The network is closed: stop Chromium from calling home.
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1024,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }))
        .unwrap();
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .map_err(|e| {
                format!(
                    "no WebDriver session from chromedriver at {}: {e}",
                    driver.url
                )
            })?;
        Ok(Self {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    pub(crate) async fn close(self) {
        self.client.clone().close().await.unwrap();
    }

    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(artifacts_dir().join(format!("{name}.png")), png).unwrap();
    }

    pub(crate) async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    pub(crate) async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let at = self.client.current_url().await;
                let page = self.client.source().await.unwrap_or_default();
                panic!("no {css} at {at:?}: {e}\n{page}")
            }
        }
    }

    pub(crate) async fn wait_for_url_starting_with(&self, prefix: &str) -> String {
        let started = Instant::now();
        loop {
            let url = self.client.current_url().await.unwrap().to_string();
            if url.starts_with(prefix) {
                return url;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "still at {url}, expected {prefix}…"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the console logged since the last call, at warning level or above, except
    /// the 404 of the `/favicon.ico` Chromium asks every origin for (Palisade ships no icon, and
    /// a `data:` icon would break `img-src 'self'`).
    pub(crate) async fn console_problems(&self) -> Vec<String> {
        let entries = self.client.issue_cmd(BrowserLog).await.unwrap();
        entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| matches!(e["level"].as_str(), Some("SEVERE" | "WARNING")))
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .filter(|m| !m.contains("/favicon.ico - Failed to load resource"))
            .collect()
    }

    /// The checks every Palisade page must pass in a browser.
    pub(crate) async fn assert_page_is_sound(&self, page: &str) {
        assert_eq!(
            self.js("return document.scripts.length").await,
            json!(0),
            "{page} ships a script"
        );
        let source = self.client.source().await.unwrap();
        assert!(
            !source.contains("<script"),
            "{page} ships a script:\n{source}"
        );
        // The stylesheet loaded under the CSP: the primary button is not the user agent's grey.
        let background = self
            .js("return getComputedStyle(document.querySelector('button:not(.secondary)')).backgroundColor")
            .await;
        assert_eq!(
            background,
            json!(ACCENT),
            "{page}: palisade.css did not apply"
        );
        let problems = self.console_problems().await;
        assert!(
            problems.is_empty(),
            "{page}: the console reports {problems:#?}"
        );
    }

    /// The focused element (`#id` or tag) and the colour of its outline, if it shows one.
    async fn focus_ring(&self) -> (String, String) {
        let found = self
            .js(
                "const e = document.activeElement, s = getComputedStyle(e); \
                 return [e.id ? '#' + e.id : e.tagName.toLowerCase(), \
                         s.outlineStyle === 'none' ? 'none' : s.outlineColor]",
            )
            .await;
        (
            found[0].as_str().unwrap().to_owned(),
            found[1].as_str().unwrap().to_owned(),
        )
    }

    /// Clicks `css` once it is there; an element of the page being left (stale once the next
    /// page loads) is looked up again.
    pub(crate) async fn click(&self, css: &str) {
        let started = Instant::now();
        loop {
            match self.wait_for(css).await.click().await {
                Ok(()) => return,
                Err(_) if started.elapsed() < PATIENCE => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot click {css}: {e}"),
            }
        }
    }

    /// The text of `css` once the page shows one containing `expected` (pages that answer a
    /// POST at the same address give no other sign that they have loaded).
    pub(crate) async fn wait_for_text(&self, css: &str, expected: &str) -> String {
        let started = Instant::now();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && text.contains(expected)
            {
                return text;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no {css} with {expected:?}:\n{}",
                self.client.source().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs `username` (who must set up a second factor: a role or the server requires it) in
    /// through `client` as a person would: the password, the enrolment page's secret into an
    /// authenticator app and its code, the recovery codes acknowledged, consent, and back at the
    /// relying party's `callback`. The session then holds a second factor, as the admin console
    /// wants. Returns the authenticator, for later codes.
    pub(crate) async fn sign_in_enrolling_totp(
        &self,
        app: &TestApp,
        client: &TestClient,
        callback: &str,
        username: &str,
    ) -> crate::support::Authenticator {
        let (_, challenge) = pkce_pair();
        self.client
            .goto(&authorize_url(app, client, &challenge, &[]))
            .await
            .unwrap();
        self.sign_in(username, PASSWORD).await;
        self.wait_for("#totp-code").await;
        let authenticator =
            crate::support::Authenticator::from_page(&self.client.source().await.unwrap());
        self.wait_for("#totp-code")
            .await
            .send_keys(&authenticator.code(app, 0))
            .await
            .unwrap();
        self.click("form:not([hidden]) button[type=submit]").await;
        self.wait_for_text("form button[type=submit]", "I have stored them")
            .await;
        self.click("form button[type=submit]").await;
        self.wait_for_url_starting_with(&app.url("/consent")).await;
        self.click("button[name=decision][value=allow]").await;
        self.wait_for_url_starting_with(callback).await;
        authenticator
    }

    pub(crate) async fn sign_in(&self, username: &str, password: &str) {
        let field = self.wait_for("#username").await;
        field.clear().await.unwrap();
        field.send_keys(username).await.unwrap();
        self.wait_for("#password")
            .await
            .send_keys(password)
            .await
            .unwrap();
        self.wait_for("button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
    }
}

/// A relying party of our own: answers every request with a small page and records the request
/// targets, so the browser lands somewhere real and we see what reached the client.
pub(crate) struct RelyingParty {
    pub(crate) callback: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl RelyingParty {
    pub(crate) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        // Ends with the test process; a blocked accept costs nothing.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                if let Some(target) = request_line.split_whitespace().nth(1) {
                    seen.lock().unwrap().push(target.to_owned());
                }
                let body = "<!doctype html><title>Example RP</title><h1>signed in</h1>";
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Self {
            callback: format!("http://127.0.0.1:{port}/cb"),
            requests,
        }
    }

    pub(crate) fn callbacks(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|t| t.starts_with("/cb"))
            .cloned()
            .collect()
    }
}

/// A confidential client whose redirect URI is `rp`'s loopback callback.
pub(crate) async fn client_of(app: &TestApp, rp: &RelyingParty) -> TestClient {
    register_client(
        app,
        ClientSpec {
            redirect_uris: vec![rp.callback.clone()],
            ..ClientSpec::default()
        },
    )
    .await
}

/// Redeems `code` at the token endpoint (RFC 6749 §4.1.3) with HTTP Basic client credentials.
pub(crate) async fn redeem(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    verifier: &str,
) -> (StatusCode, Value) {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        client.id,
        client.secret.as_deref().unwrap()
    ));
    let res = app
        .client
        .post(app.url("/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_user_signs_in_and_consents_in_a_real_browser_and_the_client_gets_a_code_that_redeems() {
    let app = spawn_app().await;
    let rp = RelyingParty::start();
    let client = client_of(&app, &rp).await;
    create_user(&app, "alice").await;
    let browser = Chromium::launch().await;
    let (verifier, challenge) = pkce_pair();

    browser
        .client
        .goto(&authorize_url(
            &app,
            &client,
            &challenge,
            &[("state", "browser-st")],
        ))
        .await
        .unwrap();
    browser.wait_for("#username").await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.url("/login?"))
    );
    assert_eq!(browser.client.title().await.unwrap(), "Sign in · Palisade");
    assert_eq!(
        browser.wait_for(".lead strong").await.text().await.unwrap(),
        "Example RP"
    );
    assert_eq!(
        browser.js("return document.activeElement.tagName").await,
        json!("BODY")
    );
    browser.assert_page_is_sound("login").await;
    browser.screenshot("login").await;

    // Typed as a person would: the field in use shows a focus ring, and so does the button
    // reached with Tab (WCAG 2.4.7).
    browser
        .wait_for("#username")
        .await
        .send_keys("alice")
        .await
        .unwrap();
    assert_eq!(
        browser.focus_ring().await,
        ("#username".to_owned(), ACCENT.to_owned())
    );
    let password = browser.wait_for("#password").await;
    password.send_keys(PASSWORD).await.unwrap();
    password.send_keys(&Key::Tab).await.unwrap();
    assert_eq!(
        browser.focus_ring().await,
        ("button".to_owned(), ACCENT.to_owned())
    );
    browser.screenshot("login-focus").await;
    browser
        .wait_for("button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    let allow = browser.wait_for("button[name=decision][value=allow]").await;
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.url("/consent?"))
    );
    assert_eq!(
        browser.client.title().await.unwrap(),
        "Allow access? · Palisade"
    );
    let scopes = browser.wait_for("ul.scopes").await.text().await.unwrap();
    assert_eq!(
        scopes.lines().count(),
        2,
        "one line per scope of `openid profile`: {scopes}"
    );
    assert!(
        browser
            .wait_for(".muted")
            .await
            .text()
            .await
            .unwrap()
            .contains("alice Example")
    );
    browser.assert_page_is_sound("consent").await;
    browser.screenshot("consent").await;

    allow.click().await.unwrap();
    let landed = browser.wait_for_url_starting_with(&rp.callback).await;
    browser.wait_for("h1").await;
    browser.screenshot("landing").await;
    let problems = browser.console_problems().await;
    assert!(problems.is_empty(), "allowing logged {problems:#?}");
    browser.close().await;

    let code = query_param(&landed, "code").expect("a code in the redirect");
    assert_eq!(query_param(&landed, "state").as_deref(), Some("browser-st"));
    assert_eq!(
        query_param(&landed, "iss").as_deref(),
        Some(app.base_url.as_str())
    );
    assert_eq!(
        rp.callbacks().len(),
        1,
        "the client saw one callback: {:?}",
        rp.callbacks()
    );
    let (status, tokens) = redeem(&app, &client, &code, &verifier).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(
        tokens["access_token"].is_string() && tokens["id_token"].is_string(),
        "{tokens}"
    );
}

#[tokio::test]
async fn a_wrong_password_in_a_real_browser_re_renders_the_form_with_the_generic_message_and_deny_reaches_the_client()
 {
    let app = spawn_app().await;
    let rp = RelyingParty::start();
    let client = client_of(&app, &rp).await;
    create_user(&app, "alice").await;
    let browser = Chromium::launch().await;
    let (_, challenge) = pkce_pair();

    browser
        .client
        .goto(&authorize_url(&app, &client, &challenge, &[]))
        .await
        .unwrap();
    browser.sign_in("alice", "not the password").await;
    let error = browser.wait_for("#login-error").await;
    assert_eq!(
        error.text().await.unwrap(),
        "The username or password is incorrect."
    );
    assert_eq!(error.attr("role").await.unwrap().as_deref(), Some("alert"));
    let username = browser.wait_for("#username").await;
    assert_eq!(
        username.prop("value").await.unwrap().as_deref(),
        Some("alice"),
        "the username is kept"
    );
    let password = browser.wait_for("#password").await;
    assert_eq!(
        password.prop("value").await.unwrap().as_deref(),
        Some(""),
        "the password is not echoed"
    );
    assert_eq!(
        password.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    // The message is shown in the danger colour, not just as text.
    assert_ne!(
        error.css_value("color").await.unwrap(),
        browser
            .js("return getComputedStyle(document.body).color")
            .await
    );
    browser.assert_page_is_sound("login with error").await;
    browser.screenshot("login-error").await;

    // The re-rendered form still works (fresh CSRF token, same interaction); then deny.
    browser.sign_in("alice", PASSWORD).await;
    browser
        .wait_for("button[name=decision][value=deny]")
        .await
        .click()
        .await
        .unwrap();
    let landed = browser.wait_for_url_starting_with(&rp.callback).await;
    browser.close().await;

    assert_eq!(
        query_param(&landed, "error").as_deref(),
        Some("access_denied"),
        "{landed}"
    );
    assert_eq!(query_param(&landed, "state").as_deref(), Some("st1"));
    assert_eq!(
        query_param(&landed, "iss").as_deref(),
        Some(app.base_url.as_str())
    );
    assert_eq!(query_param(&landed, "code"), None);
}

#[tokio::test]
async fn an_unregistered_redirect_uri_shows_the_error_page_in_a_real_browser_and_never_reaches_it()
{
    let app = spawn_app().await;
    let rp = RelyingParty::start();
    let client = client_of(&app, &rp).await;
    let browser = Chromium::launch().await;
    let (_, challenge) = pkce_pair();
    let elsewhere = rp.callback.replace("/cb", "/cb/elsewhere");

    browser
        .client
        .goto(&authorize_url(
            &app,
            &client,
            &challenge,
            &[("redirect_uri", &elsewhere)],
        ))
        .await
        .unwrap();
    let heading = browser.wait_for("h1").await.text().await.unwrap();
    assert!(
        browser
            .client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .starts_with(&app.url("/authorize?"))
    );
    assert!(!heading.is_empty());
    assert_eq!(browser.js("return document.scripts.length").await, json!(0));
    let color = browser
        .js("return getComputedStyle(document.querySelector('main')).backgroundColor")
        .await;
    assert_eq!(
        color,
        json!("rgb(255, 255, 255)"),
        "palisade.css did not apply to the error page"
    );
    browser.screenshot("error").await;
    browser.close().await;
    assert!(
        rp.callbacks().is_empty(),
        "the unregistered URI was visited: {:?}",
        rp.callbacks()
    );
}
