//! Two nodes behind HAProxy (cluster_harness.rs): a sign-in spread over both nodes, a Redis
//! outage that the balancer never notices for the endpoints that need no Redis, and a rolling
//! restart under load with no failed request.

use crate::cluster_harness::Cluster;
use crate::propagation::{header_kid, jwks_kids};
use crate::support::{PASSWORD, REDIRECT_URI, hidden, pkce_pair, query_param};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The clients and user every cluster test uses, made with the operator's CLI.
struct Fixture {
    rp_id: String,
    rp_secret: String,
    service_id: String,
    service_secret: String,
}

fn field(stdout: &[u8], name: &str) -> String {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .trim()
        .to_owned()
}

fn fixture(cluster: &Cluster) -> Fixture {
    let rp = cluster.cli(
        &[
            "client",
            "add",
            "--name",
            "RP",
            "--redirect-uri",
            REDIRECT_URI,
        ],
        "",
    );
    let service = cluster.cli(
        &[
            "client",
            "add",
            "--name",
            "Service",
            "--grant",
            "client_credentials",
            "--scope",
            "reports:read",
        ],
        "",
    );
    cluster.cli(
        &["user", "add", "alice", "--password-stdin"],
        &format!("{PASSWORD}\n"),
    );
    Fixture {
        rp_id: field(&rp.stdout, "client_id"),
        rp_secret: field(&rp.stdout, "client_secret"),
        service_id: field(&service.stdout, "client_id"),
        service_secret: field(&service.stdout, "client_secret"),
    }
}

/// A browser: cookies (shared by every port of 127.0.0.1, as browsers share them), no
/// redirects followed.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{res:?}");
    res.headers()["location"].to_str().unwrap().to_owned()
}

/// Where each step of a sign-in goes: the balancer, or one node.
#[derive(Clone, Copy, Debug)]
enum Via {
    Balancer,
    Node(usize),
}

/// Signs alice in through the RP: authorize, login page, login, consent page, consent, code
/// redemption, userinfo, refresh. Step `i` goes where `route(i)` says. Returns the refreshed
/// token response.
async fn sign_in(cluster: &Cluster, fx: &Fixture, route: impl Fn(usize) -> Via) -> Value {
    let at = |step: usize, url: &str| -> String {
        let absolute = if url.starts_with('/') {
            cluster.balancer_url(url)
        } else {
            url.to_owned()
        };
        match route(step) {
            Via::Balancer => absolute,
            Via::Node(node) => cluster.on_node(node, &absolute),
        }
    };
    let http = browser();
    let (verifier, challenge) = pkce_pair();
    let mut authorize = url::Url::parse(&cluster.balancer_url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", fx.rp_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid profile offline_access"),
        ("state", "s1"),
        ("nonce", "n1"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("prompt", "consent"),
    ]);
    let res = http.get(at(0, authorize.as_str())).send().await.unwrap();
    let login_url = location(&res);
    assert!(login_url.contains("/login?"), "{login_url}");

    let page = http.get(at(1, &login_url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let res = http
        .post(at(2, "/login"))
        .form(&[
            ("csrf_token", hidden(&html, "csrf_token").as_str()),
            ("interaction_id", hidden(&html, "interaction_id").as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let consent_url = location(&res);
    assert!(consent_url.contains("/consent?"), "{consent_url}");

    let page = http.get(at(3, &consent_url)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let res = http
        .post(at(4, "/consent"))
        .form(&[
            ("csrf_token", hidden(&html, "csrf_token").as_str()),
            ("interaction_id", hidden(&html, "interaction_id").as_str()),
            ("decision", "allow"),
        ])
        .send()
        .await
        .unwrap();
    let redirect = location(&res);
    let code = query_param(&redirect, "code").unwrap_or_else(|| panic!("no code: {redirect}"));

    let tokens: Value = cluster
        .http
        .post(at(5, "/token"))
        .basic_auth(&fx.rp_id, Some(&fx.rp_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"));
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"));
    assert!(tokens["id_token"].is_string());

    let userinfo = cluster
        .http
        .get(at(6, "/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
    let userinfo: Value = userinfo.json().await.unwrap();
    assert!(userinfo["sub"].is_string(), "{userinfo}");

    let refreshed = cluster
        .http
        .post(at(7, "/token"))
        .basic_auth(&fx.rp_id, Some(&fx.rp_secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    refreshed.json().await.unwrap()
}

#[tokio::test]
#[ignore = "needs PostgreSQL, Redis and haproxy"]
async fn a_sign_in_works_with_every_step_on_another_node_and_through_the_balancer() {
    let cluster = Cluster::start().await;
    let fx = fixture(&cluster);
    for node in 0..2 {
        let discovery: Value = cluster
            .http
            .get(cluster.node_url(node, "/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            discovery["issuer"],
            cluster.issuer(),
            "every node names the balancer"
        );
    }

    let refreshed = sign_in(&cluster, &fx, |step| Via::Node(step % 2)).await;
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    let refreshed = sign_in(&cluster, &fx, |step| Via::Node((step + 1) % 2)).await;
    assert!(refreshed["access_token"].is_string(), "{refreshed}");

    let refreshed = sign_in(&cluster, &fx, |_| Via::Balancer).await;
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    // Round robin: the balancer's sign-in went to both nodes.
    for node in 0..2 {
        let stats = cluster.balancer_stats(node).await;
        assert!(stats.sessions >= 3, "node {node} served {stats:?}");
    }
}

/// Requests sent and failed by a load loop, and the first few failures.
#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    failed: AtomicU64,
    failures: std::sync::Mutex<Vec<String>>,
    /// Tokens found inactive because the key that signed them was revoked meanwhile.
    inactive_as_revoked: AtomicU64,
}

impl Tally {
    fn record(&self, what: &str, outcome: Result<StatusCode, String>) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let failure = match outcome {
            Ok(status) if status.is_success() => return,
            Ok(status) => format!("{what}: {status}"),
            Err(e) => format!("{what}: {e}"),
        };
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = self.failures.lock().unwrap();
        if failures.len() < 20 {
            failures.push(failure);
        }
    }

    fn summary(&self) -> (u64, u64, Vec<String>) {
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.failures.lock().unwrap().clone(),
        )
    }
}

async fn status_of(res: reqwest::Result<reqwest::Response>) -> Result<StatusCode, String> {
    match res {
        // The body too: a response cut short is a failure.
        Ok(res) => {
            let status = res.status();
            res.bytes().await.map(|_| status).map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// A loop of the requests that need no Redis: discovery and the JWKS, through the balancer.
fn spawn_public_load(
    cluster: &Cluster,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let discovery = cluster.balancer_url("/.well-known/openid-configuration");
    let jwks = cluster.balancer_url("/jwks");
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            tally.record(
                "discovery",
                status_of(http.get(&discovery).send().await).await,
            );
            tally.record("jwks", status_of(http.get(&jwks).send().await).await);
        }
    })
}

#[tokio::test]
#[ignore = "needs PostgreSQL, Redis and haproxy"]
async fn a_redis_outage_leaves_both_nodes_in_rotation_and_fails_sign_ins_closed() {
    let mut cluster = Cluster::start().await;
    let fx = fixture(&cluster);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..3)
        .map(|_| spawn_public_load(&cluster, tally.clone(), stop.clone()))
        .collect();
    let login_form = open_login_form(&cluster, &fx).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    cluster.stop_redis();
    let outage = Instant::now();
    let mut sign_in_refusals = 0;
    while outage.elapsed() < Duration::from_secs(12) {
        for node in 0..2 {
            let res = cluster
                .http
                .get(cluster.node_url(node, "/readyz"))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "node {node} stays ready");
            let body: Value = res.json().await.unwrap();
            if outage.elapsed() > Duration::from_secs(1) {
                assert_eq!(body["status"], "degraded", "{body}");
                // (On a machine loaded to the full, the database's look may time out now and
                // then too: degraded as well, and still ready.)
                let degraded = body["degraded"].as_array().unwrap();
                assert!(degraded.contains(&"ephemeral_store".into()), "{body}");
                assert_eq!(body["not_ready"], serde_json::json!([]), "{body}");
                let dependencies = cluster
                    .http
                    .get(cluster.node_url(node, "/readyz/dependencies"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(dependencies.status(), StatusCode::SERVICE_UNAVAILABLE);
            }
        }
        if outage.elapsed() > Duration::from_secs(1) {
            assert_sign_in_fails_closed(&cluster, &fx, &login_form).await;
            sign_in_refusals += 1;
        }
        for node in 0..2 {
            let stats = cluster.balancer_stats(node).await;
            assert_eq!(stats.status, "UP", "HAProxy keeps node {node}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    cluster.start_redis();
    let restored = Instant::now();
    let deadline = restored + Duration::from_secs(15);
    for node in 0..2 {
        loop {
            let res = cluster
                .http
                .get(cluster.node_url(node, "/readyz/dependencies"))
                .send()
                .await
                .unwrap();
            if res.status() == StatusCode::OK {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node {node} never saw Redis again"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let recovered_in = restored.elapsed();
    let refreshed = sign_in(&cluster, &fx, |_| Via::Balancer).await;
    assert!(refreshed["access_token"].is_string());

    stop.store(true, Ordering::Relaxed);
    for handle in loops {
        handle.await.unwrap();
    }
    let (sent, failed, failures) = tally.summary();
    println!(
        "Redis outage of 12 s: {sent} discovery/JWKS requests through HAProxy, {failed} failed; \
         {sign_in_refusals} sign-ins refused with 503; dependencies up again {recovered_in:?} \
         after Redis returned"
    );
    assert_eq!(failed, 0, "{failures:#?}");
    assert!(sent > 100, "the load ran: {sent}");
}

/// The authorization request of a sign-in through the RP, through the balancer.
fn authorize_url(cluster: &Cluster, fx: &Fixture) -> String {
    let (_, challenge) = pkce_pair();
    let mut authorize = url::Url::parse(&cluster.balancer_url("/authorize")).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", fx.rp_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    authorize.to_string()
}

/// A browser on the login page of a sign-in, and the page's form fields.
struct LoginForm {
    browser: reqwest::Client,
    csrf_token: String,
    interaction_id: String,
}

async fn open_login_form(cluster: &Cluster, fx: &Fixture) -> LoginForm {
    let browser = browser();
    let res = browser
        .get(authorize_url(cluster, fx))
        .send()
        .await
        .unwrap();
    let login = location(&res);
    let html = browser
        .get(&login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    LoginForm {
        browser,
        csrf_token: hidden(&html, "csrf_token"),
        interaction_id: hidden(&html, "interaction_id"),
    }
}

/// Without Redis no sign-in gets through: a new one is sent back to the RP with
/// `temporarily_unavailable` (RFC 6749 §4.1.2.1: the client and redirect URI are known), and a
/// login form posted answers 503 with `Retry-After`: the attempt limiter cannot be consulted,
/// so the password is not even checked.
async fn assert_sign_in_fails_closed(cluster: &Cluster, fx: &Fixture, form: &LoginForm) {
    let res = browser()
        .get(authorize_url(cluster, fx))
        .send()
        .await
        .unwrap();
    let back = location(&res);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("temporarily_unavailable"),
        "{back}"
    );
    let res = form
        .browser
        .post(cluster.balancer_url("/login"))
        .form(&[
            ("csrf_token", form.csrf_token.as_str()),
            ("interaction_id", form.interaction_id.as_str()),
            ("username", "alice"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert!(res.headers().get("set-cookie").is_none(), "no session");
}

/// A loop of what relying parties and APIs do all day, through the balancer: discovery,
/// JWKS, a client_credentials token, its introspection.
/// `revoked`: a kid revoked during the load; a token it signed is inactive at introspection
/// by design (counted in [`Tally::inactive_as_revoked`], not as a failure).
fn spawn_api_load(
    cluster: &Cluster,
    fx: &Fixture,
    tally: Arc<Tally>,
    stop: Arc<AtomicBool>,
    revoked: Option<String>,
) -> tokio::task::JoinHandle<()> {
    let url = |path: &str| cluster.balancer_url(path);
    let (discovery, jwks, token, introspect) = (
        url("/.well-known/openid-configuration"),
        url("/jwks"),
        url("/token"),
        url("/introspect"),
    );
    let (id, secret) = (fx.service_id.clone(), fx.service_secret.clone());
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            tally.record(
                "discovery",
                status_of(http.get(&discovery).send().await).await,
            );
            tally.record("jwks", status_of(http.get(&jwks).send().await).await);
            let issued = http
                .post(&token)
                .basic_auth(&id, Some(&secret))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", "reports:read"),
                ])
                .send()
                .await;
            let access = match issued {
                Ok(res) if res.status().is_success() => match res.json::<Value>().await {
                    Ok(body) => {
                        tally.record("token", Ok(StatusCode::OK));
                        body["access_token"].as_str().map(str::to_owned)
                    }
                    Err(e) => {
                        tally.record("token", Err(e.to_string()));
                        None
                    }
                },
                other => {
                    tally.record("token", status_of(other).await);
                    None
                }
            };
            if let Some(access) = access {
                let res = http
                    .post(&introspect)
                    .basic_auth(&id, Some(&secret))
                    .form(&[("token", access.as_str())])
                    .send()
                    .await;
                match res {
                    Ok(res) if res.status().is_success() => {
                        let active = res
                            .json::<Value>()
                            .await
                            .map(|body| body["active"] == Value::Bool(true));
                        if matches!(active, Ok(false))
                            && revoked.as_deref() == Some(header_kid(&access).as_str())
                        {
                            tally.inactive_as_revoked.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        tally.record(
                            "introspection",
                            match active {
                                Ok(true) => Ok(StatusCode::OK),
                                Ok(false) => Err("token inactive".into()),
                                Err(e) => Err(e.to_string()),
                            },
                        );
                    }
                    other => tally.record("introspection", status_of(other).await),
                }
            }
        }
    })
}

#[tokio::test]
#[ignore = "needs PostgreSQL, Redis and haproxy"]
async fn a_rolling_restart_under_load_fails_no_request() {
    let mut cluster = Cluster::start().await;
    let fx = fixture(&cluster);
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..4)
        .map(|_| spawn_api_load(&cluster, &fx, tally.clone(), stop.clone(), None))
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;

    let started = Instant::now();
    let mut stops = Vec::new();
    for node in 0..2 {
        let asked = Instant::now();
        let exit = cluster.stop_node(node).await;
        let stopped_in = asked.elapsed();
        assert!(exit.success(), "node {node} exited with {exit}");
        cluster.start_node(node).await;
        stops.push((stopped_in, asked.elapsed()));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::Relaxed);
    for handle in loops {
        handle.await.unwrap();
    }
    let (sent, failed, failures) = tally.summary();
    let (mut retries, mut redispatches) = (0, 0);
    for node in 0..2 {
        let stats = cluster.balancer_stats(node).await;
        retries += stats.retries;
        redispatches += stats.redispatches;
    }
    println!(
        "rolling restart of 2 nodes in {:?}: {sent} requests through HAProxy, {failed} failed; \
         HAProxy retried {retries} and redispatched {redispatches}; per node (SIGTERM to \
         exit, SIGTERM to back in rotation): {stops:?}",
        started.elapsed()
    );
    assert_eq!(failed, 0, "{failures:#?}");
    assert!(sent > 100, "the load ran: {sent}");
}

/// A `client_credentials` token straight from `node`; the kid that signed it.
async fn signing_kid_of(cluster: &Cluster, fx: &Fixture, node: usize) -> String {
    let body: Value = cluster
        .http
        .post(cluster.node_url(node, "/token"))
        .basic_auth(&fx.service_id, Some(&fx.service_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "reports:read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    header_kid(token)
}

/// Polls until `done` holds on both nodes; how long that took after `since`.
async fn until_both_nodes<F, Fut>(since: Instant, what: &str, done: F) -> Duration
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = since + Duration::from_secs(10);
    loop {
        if done(0).await && done(1).await {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not on both nodes in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
#[ignore = "needs PostgreSQL, Redis and haproxy"]
async fn two_nodes_make_one_key_ring_and_a_rotation_and_a_revocation_reach_both_at_once() {
    // Both nodes start at once on an empty database: both try to make the first keys, the
    // rotation lease lets one.
    let cluster = Cluster::start_together().await;
    let generated: Vec<usize> = (0..2)
        .map(|node| {
            cluster
                .node_log(node)
                .matches("generated a signing key")
                .count()
        })
        .collect();
    assert!(
        generated.contains(&0) && generated.iter().sum::<usize>() > 0,
        "exactly one node generates keys: {generated:?}"
    );
    let initial = jwks_kids(&cluster.node_url(0, "/jwks")).await;
    assert_eq!(
        initial,
        jwks_kids(&cluster.node_url(1, "/jwks")).await,
        "one key ring"
    );
    assert_eq!(
        initial.len(),
        generated.iter().sum::<usize>(),
        "one key each"
    );
    let fx = fixture(&cluster);
    let signing = signing_kid_of(&cluster, &fx, 0).await;
    assert_eq!(signing, signing_kid_of(&cluster, &fx, 1).await);
    let alg = {
        let jwks: Value = reqwest::get(cluster.node_url(0, "/jwks"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == signing.as_str())
            .and_then(|k| k["alg"].as_str())
            .unwrap()
            .to_owned()
    };

    // An operator stages a key with the CLI: both nodes publish it at once.
    let asked = Instant::now();
    let staged = cluster.cli(&["keys", "rotate", "--alg", &alg], "");
    let staged = String::from_utf8_lossy(&staged.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let published = until_both_nodes(asked, "the staged key", |node| {
        let url = cluster.node_url(node, "/jwks");
        let staged = staged.clone();
        async move { jwks_kids(&url).await.contains(&staged) }
    })
    .await;

    // The current key is compromised: revoked under load through the balancer, both nodes
    // sign with the staged key at once and no request fails.
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let loops: Vec<_> = (0..2)
        .map(|_| {
            let revoked = Some(signing.clone());
            spawn_api_load(&cluster, &fx, tally.clone(), stop.clone(), revoked)
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = Instant::now();
    cluster.cli(&["keys", "revoke", &signing], "");
    let switched = until_both_nodes(asked, "the replacement", |node| {
        let (cluster, fx, staged, revoked) = (&cluster, &fx, staged.clone(), &signing);
        async move {
            signing_kid_of(cluster, fx, node).await == staged
                && !jwks_kids(&cluster.node_url(node, "/jwks"))
                    .await
                    .contains(revoked)
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for handle in loops {
        handle.await.unwrap();
    }
    let (sent, failed, failures) = tally.summary();
    // The replacement was the staged key: nobody generated another.
    let after = jwks_kids(&cluster.balancer_url("/jwks")).await;
    assert_eq!(after.len(), initial.len(), "{after:?}");
    println!(
        "one key ring from two nodes started together ({generated:?} keys generated per node); \
         a staged {alg} key in both nodes' JWKS {published:?} after `palisade keys rotate` \
         was asked; both signing with it and the revoked key unpublished {switched:?} after \
         `palisade keys revoke` was asked; {sent} requests through HAProxy meanwhile, {failed} \
         failed; {} tokens of the revoked key found inactive at introspection, as they must",
        tally.inactive_as_revoked.load(Ordering::Relaxed)
    );
    assert_eq!(failed, 0, "{failures:#?}");
}
