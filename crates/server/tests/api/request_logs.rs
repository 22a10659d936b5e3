//! What the request logs of the real binary say (docs/threat-model.md IN-11): the route path
//! without its query, and the client address the trusted-proxy rule resolves, never what a
//! direct client writes in `X-Forwarded-For` or `Forwarded`; and no token, code, hint or
//! password in any line, the engine's warnings included.

use crate::harness::{TEST_MASTER_KEY, free_port, palisade_binary};
use crate::support::{hidden, pkce_pair, query_param};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::Value;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const REDIRECT_URI: &str = "https://rp.example/cb";
const SIGNED_OUT: &str = "https://rp.example/signed-out";
const SPOOFED_FOR: &str = "203.0.113.9";
const SPOOFED_FORWARDED: &str = "198.51.100.7";

/// The real binary on its own storage, logging JSON at info to a pipe we read.
struct Server {
    child: Child,
    base: String,
    logs: std::thread::JoinHandle<String>,
    // Held: the binary's data directory and storage live as long as it does.
    _dir: tempfile::TempDir,
    _database: TestDatabase,
    _ephemeral: TestEphemeral,
}

/// The configuration every `palisade` run of a test shares: its storage, the test master key
/// and cheap argon2 parameters (the password hashes of CLI and server must agree).
fn configured(
    database: &TestDatabase,
    ephemeral: &TestEphemeral,
    dir: &std::path::Path,
) -> Command {
    let mut cmd = Command::new(palisade_binary());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", database.url())
        .env("PALISADE_DATA_DIR", dir)
        .env("PALISADE_MASTER_KEY", TEST_MASTER_KEY)
        .env("PALISADE_ARGON2__MEMORY_KIB", "1024")
        .env("PALISADE_ARGON2__ITERATIONS", "1")
        .env("PALISADE_ARGON2__PARALLELISM", "1")
        .arg("--insecure-dev");
    if let Some(url) = ephemeral.redis_url() {
        cmd.env("PALISADE_REDIS_URL", url)
            .env("PALISADE_REDIS_KEY_PREFIX", ephemeral.key_prefix());
    }
    cmd
}

/// Runs a CLI command of the binary to completion; its stdout.
fn cli(mut cmd: Command, args: &[&str], stdin: &str) -> String {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

/// A line `name: value` of CLI output.
fn field(output: &str, name: &str) -> String {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {output}"))
        .trim()
        .to_owned()
}

/// A user `alice` with `password` and a confidential client; the client's id and secret.
struct Fixture {
    client_id: String,
    client_secret: String,
}

impl Server {
    /// Creates the fixture with the CLI, then serves with `trusted_proxies` set (JSON list).
    async fn start(password: &str, trusted_proxies: Option<&str>) -> (Self, Fixture) {
        let database = TestDatabase::create().await;
        let ephemeral = TestEphemeral::create();
        let dir = tempfile::tempdir().unwrap();
        let run = || configured(&database, &ephemeral, dir.path());
        cli(run(), &["migrate"], "");
        cli(
            run(),
            &["user", "add", "alice", "--password-stdin"],
            &format!("{password}\n"),
        );
        let client = cli(
            run(),
            &[
                "client",
                "add",
                "--name",
                "Example RP",
                "--redirect-uri",
                REDIRECT_URI,
                "--post-logout-redirect-uri",
                SIGNED_OUT,
            ],
            "",
        );
        let fixture = Fixture {
            client_id: field(&client, "client_id"),
            client_secret: field(&client, "client_secret"),
        };
        let port = free_port();
        let mut serve = run();
        serve
            .env("PALISADE_BIND", format!("127.0.0.1:{port}"))
            .env("PALISADE_ISSUER", format!("http://127.0.0.1:{port}"))
            .env("PALISADE_LOG_FORMAT", "json")
            .env("PALISADE_LOG_FILTER", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(proxies) = trusted_proxies {
            serve.env("PALISADE_TRUSTED_PROXIES", proxies);
        }
        let mut child = serve.spawn().unwrap();
        // Read the pipe as it fills, so a chatty server never blocks on a full pipe.
        let mut stderr = child.stderr.take().unwrap();
        let logs = std::thread::spawn(move || {
            let mut text = String::new();
            stderr.read_to_string(&mut text).unwrap();
            text
        });
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = reqwest::get(format!("{base}/readyz")).await
                && res.status() == StatusCode::OK
            {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let server = Self {
            child,
            base,
            logs,
            _dir: dir,
            _database: database,
            _ephemeral: ephemeral,
        };
        (server, fixture)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the server gracefully (SIGTERM, so every span is closed and written); its logs.
    async fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server ignored SIGTERM");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.logs.join().unwrap()
    }
}

/// A browser behind nothing that claims to be behind proxies: every request says it was
/// forwarded for someone else.
fn spoofing_browser() -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_static(SPOOFED_FOR));
    headers.insert(
        "forwarded",
        HeaderValue::from_static("for=198.51.100.7;proto=https"),
    );
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .default_headers(headers)
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.url());
    res.headers()["location"].to_str().unwrap().to_owned()
}

/// The access-log line of each request.
fn access_lines(logs: &str) -> Vec<Value> {
    logs.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["target"] == "palisade::access")
        .collect()
}

#[tokio::test]
async fn request_logs_of_a_whole_sign_in_hold_no_secret_and_the_true_address() {
    let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
    let wrong_password = format!("wrong-{}", uuid::Uuid::new_v4().simple());
    let login_hint = format!("hint-{}@example.org", uuid::Uuid::new_v4().simple());
    let (server, rp) = Server::start(&password, None).await;
    let browser = spoofing_browser();
    let (verifier, challenge) = pkce_pair();

    let mut authorize = url::Url::parse(&server.url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", rp.client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile offline_access"),
        ("state", "st"),
        ("nonce", "n"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("login_hint", login_hint.as_str()),
        ("prompt", "consent"),
    ]);
    let login_url = location(&browser.get(authorize.as_str()).send().await.unwrap());
    assert!(login_url.contains("/login?"), "{login_url}");

    // One wrong password, then the right one.
    let mut next = String::new();
    for attempt in [wrong_password.as_str(), password.as_str()] {
        let page = browser.get(&login_url).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        let res = browser
            .post(server.url("/login"))
            .form(&[
                ("csrf_token", hidden(&html, "csrf_token").as_str()),
                ("interaction_id", hidden(&html, "interaction_id").as_str()),
                ("username", "alice"),
                ("password", attempt),
            ])
            .send()
            .await
            .unwrap();
        if attempt == password {
            next = location(&res);
        } else {
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "a failed login shows the form"
            );
        }
    }
    assert!(next.contains("/consent?"), "{next}");
    let html = browser
        .get(&next)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let back = location(
        &browser
            .post(server.url("/consent"))
            .form(&[
                ("csrf_token", hidden(&html, "csrf_token").as_str()),
                ("interaction_id", hidden(&html, "interaction_id").as_str()),
                ("decision", "allow"),
            ])
            .send()
            .await
            .unwrap(),
    );
    let code = query_param(&back, "code").unwrap_or_else(|| panic!("no code in {back}"));

    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let token = |form: &[(&str, &str)]| {
        browser
            .post(server.url("/token"))
            .basic_auth(&rp.client_id, Some(&rp.client_secret))
            .form(form)
            .send()
    };
    let res = token(&exchange).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();

    let userinfo = browser
        .get(server.url("/userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);

    let res = token(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed: Value = res.json().await.unwrap();
    let access_2 = refreshed["access_token"].as_str().unwrap().to_owned();
    let refresh_2 = refreshed["refresh_token"].as_str().unwrap().to_owned();

    let introspected = browser
        .post(server.url("/introspect"))
        .basic_auth(&rp.client_id, Some(&rp.client_secret))
        .form(&[("token", access_2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(introspected.status(), StatusCode::OK);

    let mut logout = url::Url::parse(&server.url("/logout")).unwrap();
    logout.query_pairs_mut().extend_pairs([
        ("id_token_hint", id_token.as_str()),
        ("post_logout_redirect_uri", SIGNED_OUT),
        ("state", "bye"),
    ]);
    let signed_out = location(&browser.get(logout.as_str()).send().await.unwrap());
    assert!(signed_out.starts_with(SIGNED_OUT), "{signed_out}");

    // The replayed code makes the engine warn (and revoke): that line holds no code either.
    let replay = token(&exchange).await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    let logs = server.stop().await;
    let secrets = [
        ("the access token", access.as_str()),
        ("the refreshed access token", access_2.as_str()),
        ("the refresh token", refresh.as_str()),
        ("the rotated refresh token", refresh_2.as_str()),
        ("the ID token", id_token.as_str()),
        ("the code", code.as_str()),
        ("the login hint", login_hint.as_str()),
        ("the password", password.as_str()),
        ("the wrong password", wrong_password.as_str()),
        ("the client secret", rp.client_secret.as_str()),
        ("the PKCE verifier", verifier.as_str()),
        ("a spoofed X-Forwarded-For", SPOOFED_FOR),
        ("a spoofed Forwarded", SPOOFED_FORWARDED),
    ];
    for (what, secret) in secrets {
        assert!(!logs.contains(secret), "{what} is in the logs:\n{logs}");
    }
    for (what, jwt) in [("access", &access), ("ID", &id_token)] {
        let signature = jwt.rsplit('.').next().unwrap();
        assert!(
            !logs.contains(signature),
            "a {what} token's signature is logged"
        );
    }
    let lines = access_lines(&logs);
    assert!(lines.len() >= 12, "{} request lines:\n{logs}", lines.len());
    for line in &lines {
        assert_eq!(line["client_ip"], "127.0.0.1", "{line}");
        let path = line["path"].as_str().unwrap();
        assert!(!path.contains('?'), "{line}");
        assert!(line["status"].as_u64().is_some(), "{line}");
        assert!(line["duration_us"].as_u64().is_some(), "{line}");
    }
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l["request_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), lines.len(), "request ids repeat:\n{logs}");
    for route in [
        "/authorize",
        "/login",
        "/consent",
        "/token",
        "/userinfo",
        "/logout",
    ] {
        assert!(
            lines.iter().any(|l| l["route"] == route),
            "no request line for {route}:\n{logs}"
        );
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_client_address_is_logged() {
    let (server, _) = Server::start("unused password", Some(r#"["127.0.0.1"]"#)).await;
    let res = spoofing_browser()
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let logs = server.stop().await;
    let lines = access_lines(&logs);
    let healthz: Vec<&Value> = lines.iter().filter(|l| l["route"] == "/healthz").collect();
    assert_eq!(healthz.len(), 1, "{logs}");
    assert_eq!(healthz[0]["status"], 200, "{logs}");
    // The proxy's X-Forwarded-For names the client; `Forwarded` is not read at all.
    assert_eq!(healthz[0]["client_ip"], SPOOFED_FOR, "{logs}");
    assert!(!logs.contains(SPOOFED_FORWARDED), "{logs}");
}
