//! PostgreSQL over TLS and through a libpq multi-host URL (docs/deployment.md, "PostgreSQL TLS
//! and failover"). libpq does the work; these show that Palisade's URL handling (the socket
//! limits it appends, redaction, backend detection) leaves it able to.
//!
//! They need the PostgreSQL of `PALISADE_TEST_DATABASE_URL` with `ssl = on` (Debian's default,
//! with its snake-oil certificate), and fail without it.

use crate::harness::{free_port, palisade_binary, spawn_app_with};
use crate::support::{ClientSpec, create_user, register_client, sign_in_and_redeem};
use palisade_store::testing::{self, TestDatabase, TestEphemeral};
use palisade_store::{Backend, DatabaseUrl};
use std::process::Command;

/// A fresh PostgreSQL database; panics when the environment names none.
async fn postgres_database() -> TestDatabase {
    assert!(
        std::env::var(testing::DATABASE_URL_VAR).is_ok_and(|v| !v.trim().is_empty()),
        "this test needs PostgreSQL: set {}",
        testing::DATABASE_URL_VAR
    );
    let database = TestDatabase::create().await;
    assert_eq!(database.backend(), Backend::Postgres);
    database
}

/// `scheme://[userinfo@]host/db…` as `(scheme, userinfo with its "@" or "", host, rest)`.
fn split_url(url: &str) -> (&str, &str, &str, &str) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (&rest[..=userinfo.len()], host),
        None => ("", authority),
    };
    (scheme, userinfo, host, path)
}

/// `url` with `params` added to its query.
fn with_params(url: &str, params: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{params}")
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_server_with_sslmode_require_signs_in_over_encrypted_connections() {
    let database = postgres_database().await;
    let url = with_params(database.url(), "sslmode=require");
    let app = spawn_app_with(database, TestEphemeral::create(), |s| {
        s.database_url = DatabaseUrl::parse(&url).unwrap();
    })
    .await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, tokens) = sign_in_and_redeem(&app, &client, "alice", &[]).await;
    assert!(tokens["access_token"].is_string());

    let sessions = app.database.sessions_using_tls().await;
    assert!(!sessions.is_empty(), "the server holds no connection");
    assert!(
        sessions.iter().all(|ssl| *ssl),
        "a connection in clear: {sessions:?}"
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn verify_ca_with_the_servers_own_certificate_serves() {
    let database = postgres_database().await;
    // Debian's snake-oil certificate is self-signed: it is its own root.
    let cert = Command::new("psql")
        .args([database.url(), "-tAc", "SHOW ssl_cert_file"])
        .output()
        .unwrap();
    let cert = String::from_utf8_lossy(&cert.stdout).trim().to_owned();
    assert!(!cert.is_empty(), "the server names no certificate file");
    let url = with_params(
        database.url(),
        &format!("sslmode=verify-ca&sslrootcert={cert}"),
    );
    let app = spawn_app_with(database, TestEphemeral::create(), |s| {
        s.database_url = DatabaseUrl::parse(&url).unwrap();
    })
    .await;
    create_user(&app, "alice").await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert!(
        app.database
            .sessions_using_tls()
            .await
            .iter()
            .all(|ssl| *ssl)
    );
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn verify_full_with_a_root_certificate_that_did_not_sign_the_servers_stops_start_up() {
    let database = postgres_database().await;
    let dir = tempfile::tempdir().unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let root = dir.path().join("root.crt");
    std::fs::write(&root, stranger.cert.pem()).unwrap();
    // A password in the URL, which nothing may print (trust authentication ignores it).
    let (scheme, userinfo, host, path) = split_url(database.url());
    let userinfo = match userinfo.strip_suffix('@') {
        Some(user) if !user.contains(':') => format!("{user}:hunter2@"),
        _ => userinfo.to_owned(),
    };
    let url = with_params(
        &format!("{scheme}://{userinfo}{host}/{path}"),
        &format!("sslmode=verify-full&sslrootcert={}", root.display()),
    );
    let port = free_port();
    let out = Command::new(palisade_binary())
        .args(["serve"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PALISADE_DATABASE_URL", &url)
        .env("PALISADE_DATA_DIR", dir.path())
        .env("PALISADE_BIND", format!("127.0.0.1:{port}"))
        .env("PALISADE_ISSUER", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot open the database (PALISADE_DATABASE_URL)")
            && stderr.contains("certificate verify failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
#[ignore = "needs PostgreSQL"]
async fn a_multi_host_url_whose_first_host_is_down_serves_from_the_second() {
    let database = postgres_database().await;
    // `postgres://postgres@127.0.0.1:5432/db` with a closed port named first.
    let (scheme, userinfo, host, path) = split_url(database.url());
    let url = format!(
        "{scheme}://{userinfo}127.0.0.1:{},{host}/{path}",
        free_port()
    );
    let url = with_params(&url, "target_session_attrs=read-write");
    let parsed = DatabaseUrl::parse(&url).unwrap();
    assert_eq!(parsed.backend(), Backend::Postgres);
    let app = spawn_app_with(database, TestEphemeral::create(), |s| {
        s.database_url = parsed;
    })
    .await;
    let client = register_client(&app, ClientSpec::default()).await;
    create_user(&app, "alice").await;
    let (_, tokens) = sign_in_and_redeem(&app, &client, "alice", &[]).await;
    assert!(tokens["access_token"].is_string());
}
