//! Reaching Redis as a production deployment does: a password or an ACL user in the URL, TLS
//! with a private certificate authority. Each test runs its own `redis-server`.

use palisade_core::StoreError;
use palisade_core::ports::{EphemeralStore, HealthCheck};
use palisade_store::testing::redis_servers::{RedisServer, private_pki};
use palisade_store::{RedisAddress, RedisOptions, RedisStore};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

/// Every kind of command the store sends (the Lua counter included) works on `store`.
async fn serves_every_operation(store: &RedisStore) {
    store.ping().await.unwrap();
    store.put("code", b"grant", MINUTE).await.unwrap();
    assert!(store.put_if_absent("jti", b"1", MINUTE).await.unwrap());
    assert!(!store.put_if_absent("jti", b"1", MINUTE).await.unwrap());
    assert_eq!(store.increment("ip", MINUTE).await.unwrap(), 1);
    assert_eq!(store.increment("ip", MINUTE).await.unwrap(), 2);
    assert_eq!(
        store.get_many(&["code", "none"]).await.unwrap(),
        vec![Some(b"grant".to_vec()), None]
    );
    assert_eq!(store.key_count().await.unwrap(), Some(3));
    assert_eq!(store.take("code").await.unwrap(), Some(b"grant".to_vec()));
    assert_eq!(store.take("code").await.unwrap(), None);
    store.delete("jti").await.unwrap();
}

/// The error's whole text, as a log line or the start-up message would show it.
fn shown(err: &StoreError) -> String {
    format!("{err} / {err:?}")
}

#[tokio::test]
async fn a_password_in_the_url_logs_in_and_a_wrong_one_is_refused_without_being_shown() {
    let server = RedisServer::start(&["--requirepass", "right-horse-battery"]);
    let port = server.port();
    let store = RedisStore::connect(
        &format!("redis://:right-horse-battery@127.0.0.1:{port}"),
        "auth:",
    )
    .await
    .unwrap();
    serves_every_operation(&store).await;

    // A wrong password, and none where one is needed, both stop start-up plainly.
    for url in [
        format!("redis://:wrong-staple@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}"),
    ] {
        let err = RedisStore::connect(&url, "auth:").await.unwrap_err();
        let text = shown(&err);
        assert!(matches!(err, StoreError::Unavailable(_)), "{text}");
        assert!(text.contains("refused the username or password"), "{text}");
        assert!(
            !text.contains("wrong-staple") && !text.contains("right-horse-battery"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_acl_user_confined_to_the_key_prefix_serves_every_operation() {
    // The default user needs a password nobody gives; `palisade` may touch `app:*` only, so
    // every key the store sends (Lua script keys included) must carry the prefix.
    let server = RedisServer::start(&[
        "--requirepass",
        "admin-only",
        "--user",
        "palisade",
        "on",
        ">app-secret",
        "~app:*",
        "+@all",
    ]);
    let url = format!("redis://palisade:app-secret@127.0.0.1:{}", server.port());
    let store = RedisStore::connect(&url, "app:").await.unwrap();
    serves_every_operation(&store).await;

    let wrong = format!("redis://palisade:not-it@127.0.0.1:{}", server.port());
    let err = RedisStore::connect(&wrong, "app:").await.unwrap_err();
    let text = shown(&err);
    assert!(text.contains("refused the username or password"), "{text}");
    assert!(
        !text.contains("not-it") && !text.contains("app-secret"),
        "{text}"
    );
}

fn trusting(url: &str, ca_pem: &str) -> RedisAddress {
    RedisAddress::parse(url)
        .unwrap()
        .with_ca_pem(ca_pem.as_bytes().to_vec())
        .unwrap()
}

#[tokio::test]
async fn rediss_trusting_a_private_ca_serves_and_any_other_certificate_is_refused() {
    let (ca, cert, key) = private_pki();
    let server = RedisServer::start_tls(&cert, &key, &["--requirepass", "tls-secret"]);
    let url = format!("rediss://:tls-secret@127.0.0.1:{}", server.port());

    let store = RedisStore::connect_to(&trusting(&url, &ca), "tls:", RedisOptions::default())
        .await
        .unwrap();
    serves_every_operation(&store).await;

    // The system's roots do not know the private CA; another CA did not sign the certificate;
    // the certificate names 127.0.0.1, not localhost. Each is refused at start-up.
    let (other_ca, _, _) = private_pki();
    let refused = [
        RedisAddress::parse(&url).unwrap(),
        trusting(&url, &other_ca),
        trusting(
            &format!("rediss://:tls-secret@localhost:{}", server.port()),
            &ca,
        ),
    ];
    for address in refused {
        let err = RedisStore::connect_to(&address, "tls:", RedisOptions::default())
            .await
            .unwrap_err();
        let text = shown(&err);
        assert!(
            matches!(err, StoreError::Unavailable(_)),
            "{address}: {text}"
        );
        assert!(!text.contains("tls-secret"), "{text}");
    }

    // Plain text to a TLS port gets nowhere either.
    let plain = format!("redis://:tls-secret@127.0.0.1:{}", server.port());
    let options = RedisOptions {
        command_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(1),
    };
    let refused = match RedisStore::connect_with(&plain, "tls:", options).await {
        Err(e) => e,
        Ok(store) => store.ping().await.unwrap_err(),
    };
    assert!(matches!(refused, StoreError::Unavailable(_)), "{refused:?}");
}
