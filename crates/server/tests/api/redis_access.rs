//! The server on a Redis that wants a login and TLS, as in production: it signs people in
//! through an ACL user over `rediss://` with a private CA, and a wrong password stops start-up
//! with a message that names the problem and hides the password.

use crate::harness::{free_port, palisade_binary, spawn_app_with};
use crate::support::{ClientSpec, create_user, register_client, sign_in_and_redeem};
use palisade_store::testing::redis_servers::{RedisServer, private_pki};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use std::process::Command;

#[tokio::test]
async fn a_server_signs_in_through_an_acl_user_over_tls_with_a_private_ca() {
    let (ca, cert, key) = private_pki();
    let ephemeral = TestEphemeral::create();
    // The ACL user reaches the test's own key prefix only.
    let keys = format!("~{}*", ephemeral.key_prefix());
    let redis = RedisServer::start_tls(
        &cert,
        &key,
        &[
            "--requirepass",
            "nobody-knows",
            "--user",
            "palisade",
            "on",
            ">acl-secret",
            &keys,
            "+@all",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("redis-ca.pem");
    std::fs::write(&ca_file, ca).unwrap();
    let url = format!("rediss://palisade:acl-secret@127.0.0.1:{}", redis.port());
    let app = spawn_app_with(TestDatabase::create().await, ephemeral, |s| {
        s.redis_url = Some(url);
        s.redis_ca_file = Some(ca_file);
    })
    .await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, tokens) = sign_in_and_redeem(&app, &client, "alice", &[]).await;
    assert!(tokens["access_token"].is_string(), "{tokens}");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test]
async fn a_wrong_redis_password_stops_start_up_naming_the_problem_not_the_password() {
    let redis = RedisServer::start(&["--requirepass", "the-right-one"]);
    let db = TestDatabase::create().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let out = Command::new(palisade_binary())
        .args(["serve"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", db.url())
        .env("PALISADE_DATA_DIR", dir.path())
        .env("PALISADE_BIND", format!("127.0.0.1:{port}"))
        .env("PALISADE_ISSUER", format!("http://127.0.0.1:{port}"))
        .env(
            "PALISADE_REDIS_URL",
            format!("redis://:a-wrong-one@127.0.0.1:{}", redis.port()),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains(&format!(
            "cannot use Redis at redis://:***@127.0.0.1:{} (PALISADE_REDIS_URL)",
            redis.port()
        )) && last.contains("refused the username or password"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("a-wrong-one") && !stderr.contains("the-right-one"),
        "{stderr}"
    );
}
