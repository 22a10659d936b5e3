//! Signing keys as the outside world sees them: the JWKS (RFC 7517 §5) and its caching, key
//! rotation driven by the injectable clock, several nodes sharing one database, a Redis outage,
//! no private material anywhere, and the `palisade keys` commands (docs/keys.md).
//!
//! Rotation is driven by advancing `app.clock` and calling `key_manager.tick()`, exactly what
//! each node's background task does every refresh interval; nothing sleeps.

use crate::harness::{
    TEST_MASTER_KEY, TestApp, free_port, palisade_binary, spawn_app, spawn_app_with, start_node,
};
use crate::readiness::RedisProcess;
use chrono::{DateTime, Duration, Utc};
use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use josekit::jwt::JwtPayloadValidator;
use palisade_core::model::KeyState;
use palisade_core::ports::{SigningAlgorithm, SigningKeyRepository, TokenSigner, VerifyError};
use palisade_core::{Clock, Secret};
use palisade_keys::MasterKey;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration as StdDuration, Instant};

/// JWK members that carry private key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The 32 bytes `TEST_MASTER_KEY` encodes (0x00..=0x1f), to read stored keys as an attacker
/// with the master key would.
fn test_master_key_bytes() -> [u8; 32] {
    std::array::from_fn(|i| i as u8)
}

/// A JWKS response as a relying party receives it.
struct Jwks {
    body: Vec<u8>,
    etag: String,
    cache_control: String,
    keys: Vec<Map<String, Value>>,
}

impl Jwks {
    fn kids(&self) -> BTreeSet<String> {
        self.keys
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k["kid"] == kid)
    }
}

async fn fetch_jwks(client: &reqwest::Client, url: &str) -> Jwks {
    let res = client.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "GET {url}");
    let header = |name: reqwest::header::HeaderName| {
        res.headers()
            .get(&name)
            .unwrap_or_else(|| panic!("GET {url}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let (etag, cache_control) = (header(ETAG), header(CACHE_CONTROL));
    assert!(
        header(CONTENT_TYPE).starts_with("application/json"),
        "{url}"
    );
    let body = res.bytes().await.unwrap().to_vec();
    let document: Value = serde_json::from_slice(&body).unwrap();
    let keys = document["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_object().unwrap().clone())
        .collect();
    Jwks {
        body,
        etag,
        cache_control,
        keys,
    }
}

/// Checks the members of every published key: identification present, private parts absent.
fn assert_public_only(jwks: &Jwks) {
    for jwk in &jwks.keys {
        let (kty, alg) = (jwk["kty"].as_str().unwrap(), jwk["alg"].as_str().unwrap());
        let expected_kty = match alg {
            "RS256" => "RSA",
            "ES256" => "EC",
            "EdDSA" => "OKP",
            other => panic!("unexpected alg {other}"),
        };
        assert_eq!(kty, expected_kty, "{jwk:?}");
        assert!(!jwk["kid"].as_str().unwrap().is_empty(), "{jwk:?}");
        assert_eq!(jwk["use"], "sig", "{jwk:?}");
        for member in PRIVATE_MEMBERS {
            assert!(!jwk.contains_key(member), "{alg} key publishes {member}");
        }
    }
}

/// Claims of a token issued at `now` that expires `lifetime` later.
fn claims(now: DateTime<Utc>, lifetime: Duration) -> Map<String, Value> {
    match json!({
        "iss": "https://palisade.test",
        "sub": "alice",
        "aud": "resource-server",
        "iat": now.timestamp(),
        "exp": (now + lifetime).timestamp(),
    }) {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// Verifies `token` as an independent resource server would: the key chosen by the header's
/// `kid` from the published JWKS alone, the signature checked by josekit, `exp` checked at `now`.
fn verify_with_jwks(token: &str, jwks: &Jwks, now: DateTime<Utc>) -> Result<(), String> {
    let header = josekit::jwt::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header
        .claim("kid")
        .and_then(Value::as_str)
        .ok_or("the token names no kid")?;
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let alg = jwk["alg"].as_str().ok_or("the JWK has no alg")?;
    let jwk = Jwk::from_map(jwk.clone()).map_err(|e| e.to_string())?;
    let verifier: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(
            josekit::jws::RS256
                .verifier_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        "ES256" => Box::new(
            josekit::jws::ES256
                .verifier_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        "EdDSA" => Box::new(
            josekit::jws::EdDSA
                .verifier_from_jwk(&jwk)
                .map_err(|e| e.to_string())?,
        ),
        other => return Err(format!("unexpected alg {other}")),
    };
    let (payload, _) =
        josekit::jwt::decode_with_verifier(token, verifier.as_ref()).map_err(|e| e.to_string())?;
    let mut validator = JwtPayloadValidator::new();
    // josekit bounds `iat` by the real clock unless told otherwise; the test clock has travelled.
    validator.set_base_time(now.into());
    validator.set_max_issued_time(now.into());
    validator.validate(&payload).map_err(|e| e.to_string())
}

/// The kid that signs `alg` on this node now.
fn current_kid(app: &TestApp, alg: SigningAlgorithm) -> String {
    app.state
        .keys
        .snapshot()
        .current_kid(alg)
        .unwrap_or_else(|| panic!("no current {alg:?} key"))
        .to_owned()
}

// --- 1. The JWKS document and its caching -------------------------------------------------------

#[tokio::test]
async fn a_fresh_server_publishes_one_public_key_per_algorithm_at_the_discovered_jwks_uri() {
    let app = spawn_app().await;
    let discovery: Value = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwks_uri = discovery["jwks_uri"].as_str().unwrap();
    assert_eq!(jwks_uri, format!("{}/jwks", app.base_url));

    let jwks = fetch_jwks(&app.client, jwks_uri).await;
    assert_eq!(jwks.cache_control, "public, max-age=3600");
    assert!(
        jwks.etag.starts_with('"') && jwks.etag.ends_with('"') && jwks.etag.len() > 2,
        "a strong ETag: {}",
        jwks.etag
    );
    let algs: BTreeSet<&str> = jwks
        .keys
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, BTreeSet::from(["EdDSA", "ES256", "RS256"]));
    assert_eq!(
        jwks.keys.len(),
        3,
        "one key per algorithm on a fresh server"
    );
    assert_public_only(&jwks);
    for alg in SigningAlgorithm::ALL {
        assert!(
            jwks.has(&current_kid(&app, alg)),
            "{alg:?} signer unpublished"
        );
    }
    // The raw bytes, too, hold no private member name at all.
    let text = String::from_utf8(jwks.body.clone()).unwrap();
    for member in PRIVATE_MEMBERS {
        assert!(
            !text.contains(&format!("\"{member}\":")),
            "{member} in {text}"
        );
    }
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_without_a_body_and_a_rotation_changes_the_etag() {
    let app = spawn_app().await;
    let jwks = fetch_jwks(&app.client, &app.url("/jwks")).await;

    for (case, tag) in [
        ("the ETag", jwks.etag.clone()),
        ("the ETag weakened by a proxy", format!("W/{}", jwks.etag)),
        ("a list holding it", format!("\"stale\", {}", jwks.etag)),
    ] {
        let res = app
            .client
            .get(app.url("/jwks"))
            .header(IF_NONE_MATCH, &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{case}");
        assert_eq!(res.headers()[ETAG], jwks.etag.as_str(), "{case}");
        assert_eq!(
            res.headers()[CACHE_CONTROL],
            "public, max-age=3600",
            "{case}"
        );
        assert!(
            res.bytes().await.unwrap().is_empty(),
            "{case}: a 304 has no body"
        );
    }

    // Staging a key changes the set, so the old validator no longer matches.
    let staged = app
        .state
        .key_manager
        .rotate_now(SigningAlgorithm::ES256)
        .await
        .unwrap();
    let res = app
        .client
        .get(app.url("/jwks"))
        .header(IF_NONE_MATCH, &jwks.etag)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let new_etag = res.headers()[ETAG].to_str().unwrap().to_owned();
    assert_ne!(new_etag, jwks.etag);
    let rotated = fetch_jwks(&app.client, &app.url("/jwks")).await;
    assert_eq!(rotated.etag, new_etag);
    assert!(rotated.has(&staged) && rotated.keys.len() == 4);
    assert_public_only(&rotated);
}

// --- 2. Rotation: published before it signs, retired keys kept until their tokens expire --------

#[tokio::test]
async fn a_token_signed_before_a_rotation_verifies_against_the_jwks_until_it_expires() {
    let app = spawn_app().await;
    let manager = &app.state.key_manager;
    let policy = manager.policy().clone();
    assert_eq!(policy.rotation_period, Duration::days(30));
    assert_eq!(policy.publish_ahead, Duration::hours(24));
    assert!(policy.publish_ahead >= policy.jwks_max_age + policy.refresh_interval);
    let jwks_url = app.url("/jwks");
    let started = app.clock.now();
    let old: Vec<(SigningAlgorithm, String)> = SigningAlgorithm::ALL
        .into_iter()
        .map(|alg| (alg, current_kid(&app, alg)))
        .collect();
    let initial = fetch_jwks(&app.client, &jwks_url).await;

    // Until its successor is due nothing changes.
    app.clock
        .advance(policy.rotation_period - policy.publish_ahead - Duration::seconds(1));
    let outcome = manager.tick().await.unwrap();
    assert!(outcome.plan.is_empty(), "{outcome:?}");
    assert_eq!(fetch_jwks(&app.client, &jwks_url).await.etag, initial.etag);

    // publish_ahead before the current key's period ends, every algorithm stages a successor.
    app.clock.advance(Duration::seconds(1));
    let published_at = app.clock.now();
    let outcome = manager.tick().await.unwrap();
    assert!(outcome.is_lease_holder);
    assert_eq!(outcome.generated_kids.len(), 3, "{outcome:?}");
    let staged = fetch_jwks(&app.client, &jwks_url).await;
    assert_ne!(staged.etag, initial.etag);
    assert_eq!(staged.keys.len(), 6);
    assert_public_only(&staged);
    let ring = app.state.keys.snapshot();
    for kid in &outcome.generated_kids {
        assert!(staged.has(kid), "{kid} not published");
        assert_eq!(ring.published_state(kid), Some(KeyState::Next));
    }

    // Just before the successors activate, the old keys still sign: these are the tokens that
    // must survive the rotation. Each lives as long as the longest token the server issues.
    app.clock
        .advance(policy.publish_ahead - Duration::seconds(1));
    manager.tick().await.unwrap();
    let lifetime = policy.max_token_lifetime;
    let tokens: Vec<(SigningAlgorithm, String, String, DateTime<Utc>)> = old
        .iter()
        .map(|(alg, old_kid)| {
            let signed = app
                .state
                .keys
                .sign(*alg, "at+jwt", &claims(app.clock.now(), lifetime))
                .unwrap();
            assert_eq!(&signed.kid, old_kid, "{alg:?} switched keys early");
            (
                *alg,
                old_kid.clone(),
                signed.compact,
                app.clock.now() + lifetime,
            )
        })
        .collect();

    // The successors take over: each was published at least publish_ahead before it signs.
    app.clock.advance(Duration::seconds(1));
    let activated_at = app.clock.now();
    let outcome = manager.tick().await.unwrap();
    assert_eq!(outcome.plan.activate.len(), 3, "{outcome:?}");
    assert_eq!(outcome.plan.retire.len(), 3, "{outcome:?}");
    assert!(activated_at - published_at >= policy.publish_ahead);
    let after = fetch_jwks(&app.client, &jwks_url).await;
    assert_eq!(after.kids(), staged.kids(), "same keys, new roles");
    for (alg, old_kid, token, _) in &tokens {
        let signed = app
            .state
            .keys
            .sign(*alg, "at+jwt", &claims(app.clock.now(), lifetime))
            .unwrap();
        assert_ne!(&signed.kid, old_kid, "{alg:?} still signs with the old key");
        assert!(
            staged.has(&signed.kid),
            "{alg:?} signs with an unannounced key"
        );
        assert_eq!(
            app.state.keys.snapshot().published_state(old_kid),
            Some(KeyState::Retired)
        );
        verify_with_jwks(token, &after, app.clock.now())
            .unwrap_or_else(|e| panic!("{alg:?} token after rotation: {e}"));
        verify_with_jwks(&signed.compact, &after, app.clock.now()).unwrap();
    }

    // The old tokens verify up to their last second, with the old keys still published.
    let expiry = tokens.iter().map(|t| t.3).min().unwrap();
    app.clock
        .advance(expiry - app.clock.now() - Duration::seconds(1));
    manager.tick().await.unwrap();
    let near_expiry = fetch_jwks(&app.client, &jwks_url).await;
    for (alg, _, token, _) in &tokens {
        verify_with_jwks(token, &near_expiry, app.clock.now())
            .unwrap_or_else(|e| panic!("{alg:?} token a second before it expires: {e}"));
    }

    // A retired key stays until retired_at + max token lifetime + clock skew + refresh interval.
    let remove_at = activated_at + policy.retired_key_retention();
    assert_eq!(
        policy.retired_key_retention(),
        policy.max_token_lifetime + policy.clock_skew + policy.refresh_interval
    );
    app.clock
        .advance(remove_at - app.clock.now() - Duration::seconds(1));
    manager.tick().await.unwrap();
    let last_moment = fetch_jwks(&app.client, &jwks_url).await;
    for (_, old_kid, _, _) in &tokens {
        assert!(last_moment.has(old_kid), "{old_kid} left too early");
    }
    app.clock.advance(Duration::seconds(1));
    let outcome = manager.tick().await.unwrap();
    assert_eq!(outcome.plan.remove.len(), 3, "{outcome:?}");
    let cleaned = fetch_jwks(&app.client, &jwks_url).await;
    assert_eq!(cleaned.keys.len(), 3);
    assert_ne!(cleaned.etag, last_moment.etag);
    for (alg, old_kid, token, _) in &tokens {
        assert!(!cleaned.has(old_kid), "{old_kid} outlived its tokens");
        assert!(matches!(
            app.state.keys.verify(token),
            Err(VerifyError::UnknownKey)
        ));
        assert!(
            verify_with_jwks(token, &cleaned, app.clock.now()).is_err(),
            "{alg:?}"
        );
    }
    assert!(app.clock.now() - started > policy.rotation_period);
}

// --- 3. Several nodes, one database --------------------------------------------------------------

#[tokio::test]
async fn of_two_nodes_sharing_a_database_exactly_one_rotates_and_both_serve_the_same_jwks() {
    let first = spawn_app().await;
    let second = start_node(&first, |_| {}).await;
    let (a, b) = (&first.state.key_manager, &second.state.key_manager);
    let before_a = fetch_jwks(&first.client, &first.url("/jwks")).await;
    let before_b = fetch_jwks(&second.client, &second.url("/jwks")).await;
    assert_eq!(
        before_a.body, before_b.body,
        "both start from the same keys"
    );
    assert_eq!(before_a.etag, before_b.etag);

    // Both nodes' timers fire at the same moment, when successors are due.
    let policy = a.policy().clone();
    first
        .clock
        .advance(policy.rotation_period - policy.publish_ahead);
    let (outcome_a, outcome_b) = tokio::join!(a.tick(), b.tick());
    let outcomes = [outcome_a.unwrap(), outcome_b.unwrap()];
    let holders: Vec<_> = outcomes.iter().filter(|o| o.is_lease_holder).collect();
    assert_eq!(holders.len(), 1, "{outcomes:?}");
    assert_eq!(holders[0].generated_kids.len(), 3, "{outcomes:?}");
    let others: Vec<_> = outcomes.iter().filter(|o| !o.is_lease_holder).collect();
    assert!(
        others[0].generated_kids.is_empty() && others[0].plan.is_empty(),
        "{outcomes:?}"
    );
    let stored = first.state.sql.list_signing_keys().await.unwrap();
    assert_eq!(stored.len(), 6, "three successors, not six");

    // The next refresh brings both to the same ring: same bytes, same validator.
    a.reload().await.unwrap();
    b.reload().await.unwrap();
    let after_a = fetch_jwks(&first.client, &first.url("/jwks")).await;
    let after_b = fetch_jwks(&second.client, &second.url("/jwks")).await;
    assert_eq!(after_a.body, after_b.body);
    assert_eq!(after_a.etag, after_b.etag);
    assert_ne!(after_a.etag, before_a.etag);
    for kid in &holders[0].generated_kids {
        assert!(after_b.has(kid));
    }

    // A day later the successors sign on both nodes, and tokens cross nodes either way.
    first.clock.advance(policy.publish_ahead);
    let (outcome_a, outcome_b) = tokio::join!(a.tick(), b.tick());
    let outcomes = [outcome_a.unwrap(), outcome_b.unwrap()];
    assert_eq!(outcomes.iter().filter(|o| o.is_lease_holder).count(), 1);
    a.reload().await.unwrap();
    b.reload().await.unwrap();
    let now = first.clock.now();
    for alg in SigningAlgorithm::ALL {
        let on_a = first
            .state
            .keys
            .sign(alg, "JWT", &claims(now, Duration::minutes(5)))
            .unwrap();
        let on_b = second
            .state
            .keys
            .sign(alg, "JWT", &claims(now, Duration::minutes(5)))
            .unwrap();
        assert_eq!(on_a.kid, on_b.kid, "{alg:?}");
        assert!(holders[0].generated_kids.contains(&on_a.kid), "{alg:?}");
        assert!(second.state.keys.verify(&on_a.compact).is_ok());
        assert!(first.state.keys.verify(&on_b.compact).is_ok());
    }
    let final_a = fetch_jwks(&first.client, &first.url("/jwks")).await;
    let final_b = fetch_jwks(&second.client, &second.url("/jwks")).await;
    assert_eq!(final_a.body, final_b.body);
    assert_eq!(final_a.etag, final_b.etag);
}

// --- 4. No private material in the JWKS, in Debug output or in logs ------------------------------

/// The private JWK members of every stored key, decrypted with the test master key (what must
/// never leak), with the encrypted form of each.
async fn private_values(database_url: &str) -> Vec<String> {
    let store = palisade_store::SqlStore::connect(
        &palisade_store::DatabaseUrl::parse(database_url).unwrap(),
        palisade_store::PoolOptions::default(),
    )
    .await
    .unwrap();
    let decrypter = josekit::jwe::Dir
        .decrypter_from_bytes(test_master_key_bytes())
        .unwrap();
    let mut values = Vec::new();
    for key in store.list_signing_keys().await.unwrap() {
        let (plain, _) =
            josekit::jwe::deserialize_compact(&key.encrypted_private_jwk, &decrypter).unwrap();
        let private: Map<String, Value> = serde_json::from_slice(&plain).unwrap();
        assert!(
            private.contains_key("d"),
            "{} decrypts to a private key",
            key.kid
        );
        for member in PRIVATE_MEMBERS {
            if let Some(Value::String(value)) = private.get(member) {
                values.push(value.clone());
            }
        }
        values.push(key.encrypted_private_jwk);
    }
    assert!(!values.is_empty());
    values
}

/// The test master key in every spelling an accident could print it.
fn master_key_spellings() -> Vec<String> {
    let standard = TEST_MASTER_KEY.to_owned();
    let unpadded = standard.trim_end_matches('=').to_owned();
    let url_safe = unpadded.replace('+', "-").replace('/', "_");
    vec![standard, unpadded, url_safe]
}

fn assert_no_private_material(text: &str, secrets: &[String], what: &str) {
    for member in PRIVATE_MEMBERS {
        for spelling in [format!("\"{member}\":"), format!("\\\"{member}\\\":")] {
            assert!(!text.contains(&spelling), "{what} shows a {member} member");
        }
    }
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} shows private material"
        );
    }
    for spelling in master_key_spellings() {
        assert!(!text.contains(&spelling), "{what} shows the master key");
    }
}

#[tokio::test]
async fn debug_output_of_the_keys_the_manager_and_the_settings_shows_no_private_material() {
    let app = spawn_app().await;
    app.state
        .key_manager
        .rotate_now(SigningAlgorithm::RS256)
        .await
        .unwrap();
    let secrets = private_values(app.database.url()).await;
    let outputs = [
        (
            "Keys",
            format!("{:?} {:#?}", app.state.keys, app.state.keys),
        ),
        ("KeyRing", format!("{:?}", app.state.keys.snapshot())),
        (
            "KeyManager",
            format!("{:?} {:#?}", app.state.key_manager, app.state.key_manager),
        ),
        ("Settings", format!("{:?}", app.state.settings)),
        (
            "stored keys",
            format!("{:?}", app.state.sql.list_signing_keys().await.unwrap()),
        ),
    ];
    for (what, text) in &outputs {
        assert_no_private_material(text, &secrets, what);
    }
    // They do say something useful.
    assert!(
        outputs[0]
            .1
            .contains(&current_kid(&app, SigningAlgorithm::ES256))
    );
}

#[tokio::test]
async fn serving_at_trace_level_logs_no_private_key_material() {
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("stderr.log");
    let port = free_port();
    let mut child = Command::new(palisade_binary())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", db.url())
        .env("PALISADE_DATA_DIR", dir.path().join("data"))
        .env("PALISADE_MASTER_KEY", TEST_MASTER_KEY)
        .env("PALISADE_BIND", format!("127.0.0.1:{port}"))
        .env("PALISADE_ISSUER", format!("http://127.0.0.1:{port}"))
        .env("PALISADE_LOG_FILTER", "trace")
        .stdout(Stdio::null())
        // A file, not a pipe: trace output would fill a pipe nobody reads until the end.
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + StdDuration::from_secs(60);
    loop {
        if let Ok(res) = http.get(format!("{base}/readyz")).send().await
            && res.status() == StatusCode::OK
        {
            break;
        }
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }
    let jwks = fetch_jwks(&http, &format!("{base}/jwks")).await;
    assert_eq!(jwks.keys.len(), 3);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + StdDuration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server ignored SIGTERM");
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    }

    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logs.contains("generated a signing key") && logs.contains("TRACE"),
        "the keys were made while tracing: {} bytes of logs",
        logs.len()
    );
    let secrets = private_values(db.url()).await;
    assert_no_private_material(&logs, &secrets, "the trace log");
}

// --- 5. Redis outage -----------------------------------------------------------------------------

#[tokio::test]
async fn the_jwks_keeps_answering_from_memory_while_redis_is_down() {
    let port = free_port();
    let mut redis = RedisProcess::start(port);
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    })
    .await;
    let before = fetch_jwks(&app.client, &app.url("/jwks")).await;

    redis.stop();
    // Past the 250 ms the last look at the dependencies answers for.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let dependencies = app
        .client
        .get(app.url("/readyz/dependencies"))
        .send()
        .await
        .unwrap();
    assert_eq!(dependencies.status(), StatusCode::SERVICE_UNAVAILABLE);
    let during = fetch_jwks(&app.client, &app.url("/jwks")).await;
    assert_eq!(during.body, before.body);
    assert_eq!(during.etag, before.etag);
    let revalidated = app
        .client
        .get(app.url("/jwks"))
        .header(IF_NONE_MATCH, &before.etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    // Key refreshes need only the database, so rotation carries on too.
    app.state.key_manager.tick().await.unwrap();
}

// --- 6. The `palisade keys` commands -------------------------------------------------------------

/// Runs `palisade keys ARGS` against `database_url` with `master_key` (and older ones).
pub(crate) fn keys_command(
    database_url: &str,
    data_dir: &Path,
    master_key: &str,
    previous: &[&str],
    args: &[&str],
) -> Output {
    let mut command = Command::new(palisade_binary());
    command
        .arg("keys")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", database_url)
        .env("PALISADE_DATA_DIR", data_dir)
        .env("PALISADE_MASTER_KEY", master_key);
    if !previous.is_empty() {
        // The documented form: comma-separated.
        command.env("PALISADE_MASTER_KEYS_PREVIOUS", previous.join(","));
    }
    command.output().unwrap()
}

/// The command's standard output; fails the test with its standard error if it failed.
fn succeeded(out: Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// One row of `palisade keys list`.
#[derive(Debug, Clone)]
struct Listed {
    kid: String,
    alg: String,
    state: String,
    activates: String,
    activated: String,
    retired: String,
    remove_after: String,
    master_key: String,
}

fn parse_listing(stdout: &str) -> Vec<Listed> {
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "KID",
            "ALG",
            "STATE",
            "CREATED",
            "ACTIVATES",
            "ACTIVATED",
            "RETIRED",
            "REMOVE_AFTER",
            "MASTER_KEY"
        ]
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), 9, "{line}");
            Listed {
                kid: f[0].into(),
                alg: f[1].into(),
                state: f[2].into(),
                activates: f[4].into(),
                activated: f[5].into(),
                retired: f[6].into(),
                remove_after: f[7].into(),
                master_key: f[8].into(),
            }
        })
        .collect()
}

fn in_state<'a>(rows: &'a [Listed], state: &str) -> Vec<&'a Listed> {
    rows.iter().filter(|r| r.state == state).collect()
}

#[tokio::test]
async fn keys_list_rotate_and_revoke_change_what_every_server_publishes() {
    let db = TestDatabase::create().await;
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let keys = |args: &[&str]| keys_command(&url, dir.path(), TEST_MASTER_KEY, &[], args);

    // First use creates the keys a server would create.
    let rows = parse_listing(&succeeded(keys(&["list"])));
    assert_eq!(rows.len(), 3, "{rows:?}");
    let current = in_state(&rows, "current");
    let algs: BTreeSet<&str> = current.iter().map(|r| r.alg.as_str()).collect();
    assert_eq!(algs, BTreeSet::from(["EdDSA", "ES256", "RS256"]));
    for row in &current {
        assert_ne!(row.activated, "-");
        assert_eq!(
            (row.retired.as_str(), row.remove_after.as_str()),
            ("-", "-")
        );
    }

    // Rotating one algorithm stages one `next` key, a day ahead.
    let out = succeeded(keys(&["rotate", "--alg", "ES256"]));
    assert_eq!(out.matches("staged ").count(), 1, "{out}");
    let rows = parse_listing(&succeeded(keys(&["list"])));
    let next = in_state(&rows, "next");
    assert_eq!(next.len(), 1, "{rows:?}");
    assert_eq!(next[0].alg, "ES256");
    assert_eq!(next[0].activated, "-");
    let activates = DateTime::parse_from_rfc3339(&next[0].activates).unwrap();
    let ahead = activates.with_timezone(&Utc) - Utc::now();
    assert!(
        ahead > Duration::hours(23) && ahead <= Duration::hours(24),
        "{ahead}"
    );

    // Without --alg, every enabled algorithm.
    let out = succeeded(keys(&["rotate"]));
    assert_eq!(out.matches("staged ").count(), 3, "{out}");
    let bad = keys(&["rotate", "--alg", "HS256"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "clap refuses an unknown algorithm"
    );
    let rows = parse_listing(&succeeded(keys(&["list"])));
    let next_algs: BTreeSet<&str> = in_state(&rows, "next")
        .iter()
        .map(|r| r.alg.as_str())
        .collect();
    assert_eq!(next_algs, BTreeSet::from(["EdDSA", "ES256", "RS256"]));
    let staged_es256: Vec<String> = in_state(&rows, "next")
        .iter()
        .filter(|r| r.alg == "ES256")
        .map(|r| r.kid.clone())
        .collect();
    assert_eq!(staged_es256.len(), 2, "{rows:?}");

    // A server on that database signs an access token with the current ES256 key.
    let app = spawn_app_with(db, TestEphemeral::create(), |_| {}).await;
    let revoked_kid = current_kid(&app, SigningAlgorithm::ES256);
    let token = app
        .state
        .keys
        .sign(
            SigningAlgorithm::ES256,
            "at+jwt",
            &claims(app.clock.now(), Duration::minutes(10)),
        )
        .unwrap();
    assert!(
        fetch_jwks(&app.client, &app.url("/jwks"))
            .await
            .has(&revoked_kid)
    );

    // Emergency: the operator revokes it and is told what that means.
    let out = succeeded(keys(&["revoke", &revoked_kid]));
    assert!(
        out.contains(&format!("revoked {revoked_kid} (ES256, was current)")),
        "{out}"
    );
    for consequence in ["within 10 min", "max-age, 1 h", "obtain new ones"] {
        assert!(
            out.contains(consequence),
            "{consequence:?} missing from:\n{out}"
        );
    }
    let rows = parse_listing(&succeeded(keys(&["list"])));
    let row = rows.iter().find(|r| r.kid == revoked_kid).unwrap();
    assert_eq!(row.state, "revoked");
    assert_ne!(row.remove_after, "-");
    // The staged ES256 key took over at once, rather than leave ES256 without a signer.
    let es256_current: Vec<_> = in_state(&rows, "current")
        .into_iter()
        .filter(|r| r.alg == "ES256")
        .collect();
    assert_eq!(es256_current.len(), 1, "{rows:?}");
    let successor = &es256_current[0].kid;
    assert!(
        staged_es256.contains(successor),
        "a staged key, published since: {rows:?}"
    );
    assert!(
        out.contains(&format!("{successor} now signs ES256")),
        "{out}"
    );

    // The running server drops it at its next refresh: unpublished, its token refused.
    app.state.key_manager.tick().await.unwrap();
    assert!(
        !fetch_jwks(&app.client, &app.url("/jwks"))
            .await
            .has(&revoked_kid)
    );
    assert!(matches!(
        app.state.keys.verify(&token.compact),
        Err(VerifyError::UnknownKey)
    ));
    assert_ne!(current_kid(&app, SigningAlgorithm::ES256), revoked_kid);

    // A server started afterwards never publishes it.
    let later = start_node(&app, |_| {}).await;
    let jwks = fetch_jwks(&later.client, &later.url("/jwks")).await;
    assert!(!jwks.has(&revoked_kid));
    assert_public_only(&jwks);
    assert!(later.state.keys.verify(&token.compact).is_err());

    // Revoking twice is harmless; an unknown kid is an error that names it.
    assert!(succeeded(keys(&["revoke", &revoked_kid])).contains("already revoked"));
    let unknown = keys(&["revoke", "no-such-kid"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no-such-kid"));
}

#[tokio::test]
async fn keys_rewrap_moves_every_key_to_a_new_master_key() {
    let db = TestDatabase::create().await;
    let url = db.url().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let new_key = MasterKey::from_bytes(std::array::from_fn(|i| 0xa0 ^ i as u8));
    let new_base64 = new_key.to_base64().expose().to_owned();
    let old_id = MasterKey::from_base64(TEST_MASTER_KEY)
        .unwrap()
        .id()
        .to_owned();

    succeeded(keys_command(
        &url,
        dir.path(),
        TEST_MASTER_KEY,
        &[],
        &["list"],
    ));
    succeeded(keys_command(
        &url,
        dir.path(),
        TEST_MASTER_KEY,
        &[],
        &["rotate"],
    ));
    let rows = parse_listing(&succeeded(keys_command(
        &url,
        dir.path(),
        TEST_MASTER_KEY,
        &[],
        &["list"],
    )));
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.master_key == old_id), "{rows:?}");
    // A user's TOTP secret is sealed under the master key too.
    let old_keys =
        palisade_keys::MasterKeySet::single(MasterKey::from_base64(TEST_MASTER_KEY).unwrap());
    let totp = sealed_totp_factor(&db, &old_keys).await;

    // The new key alone cannot read them, and says which key is missing.
    let refused = keys_command(&url, dir.path(), &new_base64, &[], &["rotate"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains(&old_id) && err.contains("PALISADE_MASTER_KEYS_PREVIOUS"),
        "{err}"
    );

    // Re-wrap with the old key as a previous one; a second run has nothing left to do.
    let out = succeeded(keys_command(
        &url,
        dir.path(),
        &new_base64,
        &[TEST_MASTER_KEY],
        &["rewrap"],
    ));
    assert!(
        out.contains(&format!(
            "re-encrypted 6 signing key(s) and 1 TOTP secret(s) under master key {}",
            new_key.id()
        )),
        "{out}"
    );
    let out = succeeded(keys_command(
        &url,
        dir.path(),
        &new_base64,
        &[TEST_MASTER_KEY],
        &["rewrap"],
    ));
    assert!(
        out.contains("re-encrypted 0 signing key(s) and 0 TOTP secret(s)"),
        "{out}"
    );
    // The secret now opens with the new master key alone, and is the same secret.
    let store = db.open().await;
    let factors = palisade_core::ports::FactorRepository::list_factors(&store, &totp.user_id)
        .await
        .unwrap();
    assert_eq!(factors[0].master_key_id.as_deref(), Some(new_key.id()));
    let new_only = palisade_keys::MasterKeySet::single(new_key.clone());
    let opened =
        palisade_core::ports::SecretSealer::open(&new_only, "totp", &factors[0].credential)
            .unwrap();
    assert_eq!(opened, b"12345678901234567890");
    let rows = parse_listing(&succeeded(keys_command(
        &url,
        dir.path(),
        &new_base64,
        &[],
        &["list"],
    )));
    assert!(!rows.is_empty(), "the listing shows the keys");
    assert!(
        rows.iter().all(|r| r.master_key == new_key.id()),
        "{rows:?}"
    );

    // A server with only the new master key signs with every algorithm.
    let app = spawn_app_with(db, TestEphemeral::create(), |s| {
        s.master_key = Some(Secret::new(new_base64.clone()));
        s.master_keys_previous = Vec::new();
    })
    .await;
    for alg in SigningAlgorithm::ALL {
        let token = app
            .state
            .keys
            .sign(alg, "JWT", &claims(app.clock.now(), Duration::minutes(5)))
            .unwrap();
        let jwks = fetch_jwks(&app.client, &app.url("/jwks")).await;
        verify_with_jwks(&token.compact, &jwks, app.clock.now()).unwrap();
    }
}

/// A user with a TOTP factor whose secret is sealed under `master_keys`.
async fn sealed_totp_factor(
    db: &TestDatabase,
    master_keys: &palisade_keys::MasterKeySet,
) -> palisade_core::factor::Factor {
    use palisade_core::factor::{Factor, FactorId, FactorKind};
    use palisade_core::model::{NewUser, PasswordHash, UserId, Username};
    use palisade_core::ports::{FactorRepository, SecretSealer, UserRepository};
    let store = db.open().await;
    let user = store
        .insert_user(NewUser {
            id: UserId(uuid::Uuid::new_v4().to_string()),
            username: Username::parse("totp-owner").unwrap(),
            email: None,
            display_name: None,
            password_hash: PasswordHash(
                "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
            ),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    let sealed = master_keys.seal("totp", b"12345678901234567890").unwrap();
    let factor = Factor {
        id: FactorId(uuid::Uuid::new_v4().to_string()),
        user_id: user.id,
        kind: FactorKind::Totp,
        name: "Phone".into(),
        credential: sealed.ciphertext,
        master_key_id: Some(sealed.master_key_id),
        credential_id: None,
        last_used_step: None,
        created_at: Utc::now(),
        last_used_at: None,
    };
    store.insert_factor(factor.clone()).await.unwrap();
    factor
}
