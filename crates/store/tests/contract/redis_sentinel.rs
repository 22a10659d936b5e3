//! The Redis store behind Sentinel: it finds the primary through the sentinels, and follows
//! it when the sentinels move it to the replica. The kill -9 failover under sign-in load is
//! the server's test (crates/server/tests/api/redis_failover.rs).

use palisade_core::StoreError;
use palisade_core::ports::{EphemeralStore, HealthCheck};
use palisade_store::testing::redis_servers::{
    GroupPasswords, SentinelGroup, connect, connect_with, free_port,
};
use palisade_store::{RedisAddress, RedisOptions, RedisStore};
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

fn role(port: u16) -> String {
    let role: Vec<redis::Value> = redis::cmd("ROLE").query(&mut connect(port)).unwrap();
    match role.first() {
        Some(redis::Value::BulkString(name)) => String::from_utf8_lossy(name).into_owned(),
        other => panic!("ROLE answered {other:?}"),
    }
}

fn value_on(port: u16, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query(&mut connect(port))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs redis-server and redis-sentinel"]
async fn a_sentinel_failover_moves_every_write_to_the_new_primary_and_none_to_a_replica() {
    let group = SentinelGroup::start();
    let (first, replica) = (group.first_primary_port(), group.replica_port());
    // A dead sentinel first in the list costs nothing: every sentinel is asked at once.
    let url = group.url().replacen(
        "redis+sentinel://",
        &format!("redis+sentinel://127.0.0.1:{},", free_port()),
        1,
    );
    let store = RedisStore::connect(&url, "ha:").await.unwrap();
    store.put("before", b"1", MINUTE).await.unwrap();
    assert_eq!(value_on(first, "ha:before"), Some(b"1".to_vec()));

    // A planned failover: the replica is promoted and the old primary, still running, becomes
    // its replica. The store's connection to the old primary stays open, so the switch shows
    // itself as READONLY answers or a closed connection.
    let started = Instant::now();
    let _: String = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg(SentinelGroup::MASTER)
        .query(&mut connect(group.sentinel_ports()[0]))
        .unwrap();
    let mut refused = 0;
    let mut written_after_switch = Vec::new();
    let mut first_success_on_new_primary = None;
    let deadline = started + Duration::from_secs(30);
    for i in 0.. {
        assert!(
            Instant::now() < deadline,
            "the store never wrote to the new primary ({refused} refused): {}",
            group.logs()
        );
        let key = format!("k{i}");
        match store.put(&key, b"v", MINUTE).await {
            Ok(()) => {
                // Where did it land? On a server that is primary now (a replica refuses writes).
                if role(replica) == "master" && value_on(replica, &format!("ha:{key}")).is_some() {
                    first_success_on_new_primary.get_or_insert(started.elapsed());
                    written_after_switch.push(key);
                    if written_after_switch.len() == 20 {
                        break;
                    }
                }
            }
            Err(StoreError::Unavailable(_)) => refused += 1,
            Err(e) => panic!("a failover is an outage, never an internal error: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let switched_in = first_success_on_new_primary.unwrap_or_default();
    eprintln!(
        "first write on the new primary {switched_in:?} after SENTINEL FAILOVER; {refused} writes refused meanwhile"
    );

    assert_eq!(role(replica), "master");
    let deadline = Instant::now() + Duration::from_secs(30);
    while role(first) != "slave" {
        assert!(
            Instant::now() < deadline,
            "the old primary was never demoted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // From now on every write lands on the new primary, and reads see it.
    for key in &written_after_switch {
        assert_eq!(value_on(replica, &format!("ha:{key}")), Some(b"v".to_vec()));
    }
    for i in 0..20 {
        let key = format!("after{i}");
        store.put(&key, b"w", MINUTE).await.unwrap();
        assert_eq!(value_on(replica, &format!("ha:{key}")), Some(b"w".to_vec()));
        assert_eq!(store.increment("count", MINUTE).await.unwrap(), i + 1);
    }
    store.ping().await.unwrap();
}

#[tokio::test]
#[ignore = "needs redis-server and redis-sentinel"]
async fn sentinels_that_know_no_such_master_stop_start_up_with_a_clear_error() {
    let group = SentinelGroup::start();
    let url = group.url().replace(SentinelGroup::MASTER, "nosuchmaster");
    let err = RedisStore::connect(&url, "ha:").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("no sentinel names a usable Redis primary"),
        "{err}"
    );

    let nobody = format!(
        "redis+sentinel://127.0.0.1:{},127.0.0.1:{}/{}",
        free_port(),
        free_port(),
        SentinelGroup::MASTER
    );
    let started = Instant::now();
    let err = RedisStore::connect(&nobody, "ha:").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
#[ignore = "needs redis-server and redis-sentinel"]
async fn the_servers_password_is_in_the_url_and_the_sentinels_is_given_apart() {
    let group = SentinelGroup::start_with(GroupPasswords {
        redis: Some("data-secret"),
        sentinels: Some("watch-secret"),
    });
    let url = group.url();
    let address = |sentinel_password: &str| {
        RedisAddress::parse(&url)
            .unwrap()
            .with_sentinel_password(sentinel_password.to_owned())
            .unwrap()
    };
    let store = RedisStore::connect_to(&address("watch-secret"), "pw:", RedisOptions::default())
        .await
        .unwrap();
    store.put("k", b"v", MINUTE).await.unwrap();
    let stored: Option<Vec<u8>> = redis::cmd("GET")
        .arg("pw:k")
        .query(&mut connect_with(
            group.first_primary_port(),
            Some("data-secret"),
        ))
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"v"[..]));

    // No sentinel password, a wrong one, a wrong server password: each refused, none shown.
    let wrong_server = RedisAddress::parse(&url.replace("data-secret", "not-data"))
        .unwrap()
        .with_sentinel_password("watch-secret".to_owned())
        .unwrap();
    let refused = [
        RedisAddress::parse(&url).unwrap(),
        address("not-watch"),
        wrong_server,
    ];
    for address in refused {
        let err = RedisStore::connect_to(&address, "pw:", RedisOptions::default())
            .await
            .unwrap_err();
        let text = format!("{err} / {err:?}");
        assert!(
            matches!(err, StoreError::Unavailable(_)),
            "{address}: {text}"
        );
        assert!(
            !["data-secret", "watch-secret", "not-data", "not-watch"]
                .iter()
                .any(|secret| text.contains(secret)),
            "{text}"
        );
        eprintln!("{address}: {err}");
    }
}
