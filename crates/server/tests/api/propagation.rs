//! Changes reach every node (docs/deployment.md, "Changes reach every node"): two nodes on one
//! database, a change made on one of them (or by the CLI) applied by the other within a
//! second, with no failed request. The nodes share an issuer, as behind a load balancer.
//!
//! Signing keys and clients are cached in memory and need PostgreSQL's announcements (the
//! change feed): those tests are PostgreSQL only. Users, roles and sessions are cached by no
//! node, so their test runs on both backends. The nodes' clock is a `ManualClock` nobody
//! moves, so the client cache's TTL never expires here: only an announcement can refresh it.

use crate::admin_api::{admin_client, user_with_roles};
use crate::cors::allowed_at;
use crate::harness::{TEST_MASTER_KEY, TestApp, TestNode, spawn_app, start_node};
use crate::keys::keys_command;
use crate::support::{ClientSpec, TestClient, register_client};
use base64::Engine as _;
use palisade::config::Settings;
use palisade_core::TokenHash;
use palisade_core::model::{ClientId, KeyState, User};
use palisade_core::ports::{SigningAlgorithm, SigningKeyRepository};
use palisade_flow::admin::Caller;
use palisade_store::testing::{DATABASE_URL_VAR, database_backend};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The bound each wait fails at: five times the promised second.
const DEADLINE: Duration = Duration::from_secs(5);

/// How many changes each delay is measured over.
const ROUNDS: usize = 20;

/// The PostgreSQL tests fail, rather than pass unexercised, without PostgreSQL.
fn require_postgres() {
    assert_eq!(
        database_backend(),
        palisade_store::Backend::Postgres,
        "this test needs PostgreSQL: set {DATABASE_URL_VAR}"
    );
}

/// Node B of `a`'s deployment, answering for the same issuer.
async fn second_node(a: &TestApp) -> TestNode {
    let issuer = a.state.settings.issuer.clone();
    start_node(a, move |s: &mut Settings| s.issuer = issuer).await
}

/// Polls `holds` until it is true; how long that took. Fails the test after [`DEADLINE`].
async fn within<F, Fut>(what: &str, mut holds: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if holds().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what}: not within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Prints the median and the maximum (the figures docs/deployment.md quotes).
fn report(what: &str, delays: &mut [Duration]) {
    delays.sort();
    let median = delays[delays.len() / 2];
    let max = delays[delays.len() - 1];
    eprintln!(
        "{what}: {} changes, p50 {median:?}, max {max:?}",
        delays.len()
    );
}

pub(crate) async fn jwks_kids(url: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn header_kid(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// One client_credentials request to `base_url`: the status, and the access token's kid.
async fn token_request(
    http: &reqwest::Client,
    base_url: &str,
    client: &TestClient,
    secret: &str,
) -> (StatusCode, Option<String>) {
    let res = http
        .post(format!("{base_url}/token"))
        .basic_auth(&client.id, Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "api:read")])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    (status, body["access_token"].as_str().map(header_kid))
}

async fn service_client(a: &TestApp) -> TestClient {
    register_client(
        a,
        ClientSpec {
            grant_types: vec!["client_credentials"],
            scopes: vec!["api:read"],
            ..ClientSpec::default()
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_key_staged_through_one_node_s_admin_api_is_in_the_other_node_s_jwks_within_a_second() {
    require_postgres();
    let a = spawn_app().await;
    let b = second_node(&a).await;
    let client = admin_client(&a).await;
    let (_, token) = user_with_roles(&a, &client, "root", &["admin"]).await;
    let b_jwks = b.url("/jwks");

    let mut delays = Vec::new();
    for _ in 0..ROUNDS {
        let res = a
            .client
            .post(a.url("/admin/v1/keys/rotate"))
            .bearer_auth(&token)
            .json(&json!({ "alg": "ES256" }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let staged: Value = res.json().await.unwrap();
        let kid = staged["keys"][0]["kid"].as_str().unwrap().to_owned();
        assert!(jwks_kids(&a.url("/jwks")).await.contains(&kid), "A at once");
        delays.push(
            within("B publishes the key A staged", || async {
                jwks_kids(&b_jwks).await.contains(&kid)
            })
            .await,
        );
    }
    report("key staged on A, in B's JWKS", &mut delays);
    let (on_a, on_b) = (
        reqwest::get(a.url("/jwks")).await.unwrap(),
        reqwest::get(&b_jwks).await.unwrap(),
    );
    assert_eq!(on_a.headers()["etag"], on_b.headers()["etag"], "same keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn revoking_the_signing_key_with_the_cli_while_both_nodes_issue_tokens_fails_no_request() {
    require_postgres();
    let a = spawn_app().await;
    let b = second_node(&a).await;
    let service = Arc::new(service_client(&a).await);
    let secret = service.secret.clone().unwrap();
    let revoked = es256_signer(&a.state.keys).unwrap();

    // Two loops per node, each request answered before the next is sent.
    let stop = Arc::new(AtomicBool::new(false));
    let mut loops = Vec::new();
    for base_url in [a.base_url.clone(), b.base_url.clone()] {
        for _ in 0..2 {
            let (stop, service, secret, base_url) = (
                stop.clone(),
                service.clone(),
                secret.clone(),
                base_url.clone(),
            );
            loops.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut answers = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    answers.push(token_request(&http, &base_url, &service, &secret).await);
                }
                answers
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (url, dir) = (a.database.url().to_owned(), tempfile::tempdir().unwrap());
    let out = tokio::task::spawn_blocking(move || {
        keys_command(
            &url,
            dir.path(),
            TEST_MASTER_KEY,
            &[],
            &["revoke", &revoked.clone()],
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("within a second"), "{stdout}");
    let cli_exited = Instant::now();
    let replacement = a
        .state
        .sql
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.alg == "ES256" && k.state == KeyState::Current)
        .expect("the replacement was written with the revocation")
        .kid;
    assert!(
        stdout.contains(&format!("{replacement} now signs ES256")),
        "{stdout}"
    );
    let revoked = a
        .state
        .sql
        .list_signing_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.state == KeyState::Revoked)
        .unwrap()
        .kid;
    for (name, keys) in [("A", &a.state.keys), ("B", &b.state.keys)] {
        let switched = within(&format!("{name} signs with the replacement"), || async {
            es256_signer(keys).as_ref() == Some(&replacement)
        })
        .await;
        eprintln!("{name} switched {switched:?} after the CLI exited");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut answers = Vec::new();
    for handle in loops {
        answers.push(handle.await.unwrap());
    }
    let total: usize = answers.iter().map(Vec::len).sum();
    let failed: Vec<_> = answers
        .iter()
        .flatten()
        .filter(|(status, _)| *status != StatusCode::OK)
        .collect();
    eprintln!(
        "CLI revocation under load: {total} token requests, {} failed (CLI exit {:?} ago)",
        failed.len(),
        cli_exited.elapsed()
    );
    assert!(failed.is_empty(), "{failed:?}");
    for loop_answers in &answers {
        let kids: Vec<&str> = loop_answers
            .iter()
            .filter_map(|(_, kid)| kid.as_deref())
            .collect();
        assert_eq!(kids.first(), Some(&revoked.as_str()), "signed before");
        assert_eq!(kids.last(), Some(&replacement.as_str()), "switched");
    }
    for node_jwks in [a.url("/jwks"), b.url("/jwks")] {
        let kids = jwks_kids(&node_jwks).await;
        assert!(!kids.contains(&revoked) && kids.contains(&replacement));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_client_secret_rotated_or_a_client_removed_on_one_node_is_refused_by_the_other_within_a_second()
 {
    require_postgres();
    let a = spawn_app().await;
    let b = second_node(&a).await;
    let service = service_client(&a).await;
    let id = ClientId(service.id.clone());
    let http = reqwest::Client::new();
    let first_secret = service.secret.clone().unwrap();
    assert_eq!(
        token_request(&http, &b.base_url, &service, &first_secret)
            .await
            .0,
        StatusCode::OK
    );

    let mut secret = first_secret.clone();
    let mut delays = Vec::new();
    for _ in 0..ROUNDS {
        // B holds the client in its cache, which the clock (never moved) keeps for ever.
        b.state.engine.clients.find_client(&id).await.unwrap();
        let rotated = a
            .state
            .admin
            .rotate_client_secret(&Caller::operator(), &id.0)
            .await
            .unwrap();
        secret = rotated.client_secret.unwrap();
        let expected = Some(TokenHash::of(&secret));
        delays.push(
            within("B forgets the old secret", || async {
                let seen = b.state.engine.clients.find_client(&id).await.unwrap();
                seen.unwrap().secret_hash == expected
            })
            .await,
        );
    }
    report("client secret rotated on A, applied by B", &mut delays);
    assert_eq!(
        token_request(&http, &b.base_url, &service, &first_secret)
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "an old secret"
    );
    assert_eq!(
        token_request(&http, &b.base_url, &service, &secret).await.0,
        StatusCode::OK
    );

    a.state
        .admin
        .remove_client(&Caller::operator(), &id.0)
        .await
        .unwrap();
    let removed = within("B forgets the removed client", || async {
        b.state
            .engine
            .clients
            .find_client(&id)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    eprintln!("client removed on A, forgotten by B after {removed:?}");
    assert_eq!(
        token_request(&http, &b.base_url, &service, &secret).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_new_client_s_cors_origin_is_allowed_by_the_other_node_within_a_second() {
    require_postgres();
    let a = spawn_app().await;
    let b = second_node(&a).await;
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for round in 0..ROUNDS / 2 {
        let origin = format!("https://spa-{round}.example");
        // Seen refused first, so B's set is cached before the client exists.
        assert!(!allowed_at(&b.base_url, &origin).await);
        let spa = register_client(
            &a,
            ClientSpec {
                confidential: false,
                auth_method: "none",
                redirect_uris: vec![format!("{origin}/cb")],
                ..ClientSpec::default()
            },
        )
        .await;
        added.push(
            within("B allows the new origin", || {
                allowed_at(&b.base_url, &origin)
            })
            .await,
        );
        a.state
            .admin
            .remove_client(&Caller::operator(), &spa.id)
            .await
            .unwrap();
        removed.push(
            within("B refuses the removed client's origin", || async {
                !allowed_at(&b.base_url, &origin).await
            })
            .await,
        );
    }
    report(
        "CORS origin of a client added on A, allowed by B",
        &mut added,
    );
    report(
        "CORS origin of a client removed on A, refused by B",
        &mut removed,
    );
}

/// No node caches users, roles or sessions: an account event or a role taken away on one node
/// is refused by the other at its very next request, on either backend.
#[tokio::test]
async fn a_user_disabled_signed_out_deleted_or_stripped_of_a_role_on_one_node_is_refused_by_the_other_at_once()
 {
    let a = spawn_app().await;
    let b = second_node(&a).await;
    let client = admin_client(&a).await;
    // The status B answers a bearer of `token` at `path`.
    let on_b = |path: &str, token: String| {
        let url = b.url(path);
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let userinfo = |token: String| on_b("/userinfo", token);
    let audit_on_b = |token: String| on_b("/admin/v1/audit", token);
    let operator = Caller::operator();

    // A role taken away: the next admin call on B is refused.
    let (_, audra) = user_with_roles(&a, &client, "audra", &["auditor"]).await;
    assert_eq!(audit_on_b(audra.clone()).await, StatusCode::OK);
    a.state
        .admin
        .revoke_role(&operator, &find_user(&a, "audra").await, "auditor")
        .await
        .unwrap();
    assert_eq!(audit_on_b(audra.clone()).await, StatusCode::FORBIDDEN);

    // Account events: the next request on B with what the user held is refused.
    for (name, event) in [("dora", "disable"), ("sam", "sign out"), ("dell", "delete")] {
        let (_, token) = user_with_roles(&a, &client, name, &[]).await;
        assert_eq!(userinfo(token.clone()).await, StatusCode::OK, "{event}");
        let held = find_user(&a, name).await;
        match event {
            "disable" => {
                a.state
                    .admin
                    .set_user_disabled(&operator, &held, true)
                    .await
                    .unwrap();
            }
            "sign out" => {
                a.state
                    .admin
                    .sign_out_everywhere(&operator, &held)
                    .await
                    .unwrap();
            }
            _ => a.state.admin.delete_user(&operator, &held).await.unwrap(),
        }
        assert_eq!(userinfo(token).await, StatusCode::UNAUTHORIZED, "{event}");
    }
    assert!(a.state.admin.find_user_by_username("dell").await.is_err());
}

/// The kid a node signs ES256 access tokens with now.
fn es256_signer(keys: &palisade_keys::Keys) -> Option<String> {
    keys.snapshot()
        .current_kid(SigningAlgorithm::ES256)
        .map(str::to_owned)
}

async fn find_user(a: &TestApp, name: &str) -> User {
    a.state.admin.find_user_by_username(name).await.unwrap()
}

/// A key revoked by hand in SQL (no replacement written with it) leaves an algorithm without
/// a signer only until the announcement: the lease holder's node promotes a replacement then,
/// not at its next tick, and the other node follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL"]
async fn a_signing_key_revoked_by_hand_in_sql_is_replaced_on_every_node_within_a_second() {
    require_postgres();
    let a = spawn_app().await;
    let b = second_node(&a).await;
    let revoked = es256_signer(&a.state.keys).unwrap();
    let changed = a
        .database
        .execute_sql(&format!(
            "UPDATE signing_keys SET state = 'revoked' WHERE kid = '{revoked}'"
        ))
        .await;
    assert_eq!(changed, 1);
    for (name, keys) in [("A", &a.state.keys), ("B", &b.state.keys)] {
        let replaced = within(&format!("{name} signs ES256 with another key"), || async {
            es256_signer(keys).is_some_and(|kid| kid != revoked)
        })
        .await;
        eprintln!("{name} replaced a key revoked in SQL after {replaced:?}");
        assert!(!jwks_kids(&a.url("/jwks")).await.contains(&revoked));
    }

    // What the nodes applied shows in their metrics.
    let metrics = reqwest::get(b.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("palisade_changes_applied_total{kind=\"signing_keys\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("palisade_change_feed_connected "),
        "{metrics}"
    );
    assert_eq!(b.state.change_feed.is_connected(), Some(true));
}

/// The embedded default has no feed: changes made through a node apply on it at once.
#[tokio::test]
async fn a_key_revoked_through_a_node_s_admin_api_is_replaced_on_that_node_at_once() {
    let a = spawn_app().await;
    let client = admin_client(&a).await;
    let (_, token) = user_with_roles(&a, &client, "root", &["admin"]).await;
    let revoked = es256_signer(&a.state.keys).unwrap();
    let res = a
        .client
        .post(a.url(&format!("/admin/v1/keys/{revoked}/revoke")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let now_signing = es256_signer(&a.state.keys);
    assert!(now_signing.is_some_and(|kid| kid != revoked));
    assert!(!jwks_kids(&a.url("/jwks")).await.contains(&revoked));
    if database_backend() == palisade_store::Backend::Sqlite {
        assert_eq!(
            a.state.change_feed.is_connected(),
            None,
            "no feed on SQLite"
        );
    }
}
