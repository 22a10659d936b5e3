//! EphemeralStore contract, on Redis or in process as the environment selects; plus Redis's
//! behaviour when the server is out of reach or comes back.

use palisade_core::StoreError;
use palisade_core::ports::{EphemeralStore, HealthCheck};
use palisade_store::testing::{self, TestEphemeral};
use palisade_store::{RedisOptions, RedisStore};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MINUTE: Duration = Duration::from_secs(60);

/// The store, and the guard that keeps its namespace until the test ends.
async fn store() -> (Arc<dyn EphemeralStore>, TestEphemeral) {
    testing::ephemeral_store().await
}

#[tokio::test]
async fn a_value_is_readable_until_its_ttl_passes() {
    let (store, _guard) = store().await;
    store.ping().await.unwrap();
    store
        .put("short", b"code-grant", Duration::from_secs(1))
        .await
        .unwrap();
    store.put("long", b"session", MINUTE).await.unwrap();
    assert!(
        store
            .put_if_absent("jti", b"1", Duration::from_secs(1))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .increment("window", Duration::from_secs(1))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .increment("window", Duration::from_secs(1))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store.get("short").await.unwrap(),
        Some(b"code-grant".to_vec())
    );

    // Real time on purpose: Redis expires keys by its own clock, which no test can move, and
    // this contract holds both stores to the same expiry.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(store.get("short").await.unwrap(), None);
    assert_eq!(store.take("short").await.unwrap(), None);
    assert_eq!(store.get("long").await.unwrap(), Some(b"session".to_vec()));
    // An expired key is absent again, and a counter's window starts over.
    assert!(store.put_if_absent("jti", b"2", MINUTE).await.unwrap());
    assert_eq!(store.increment("window", MINUTE).await.unwrap(), 1);
}

#[tokio::test]
async fn put_replaces_the_value_and_get_does_not_consume_it() {
    let (store, _guard) = store().await;
    assert_eq!(store.get("k").await.unwrap(), None);
    store.put("k", b"one", MINUTE).await.unwrap();
    store.put("k", b"two", MINUTE).await.unwrap();
    assert_eq!(store.get("k").await.unwrap(), Some(b"two".to_vec()));
    assert_eq!(store.get("k").await.unwrap(), Some(b"two".to_vec()));
    // Binary values survive untouched.
    let binary = [0u8, 255, 10, 13, 0, 7];
    store.put("bin", &binary, MINUTE).await.unwrap();
    assert_eq!(store.get("bin").await.unwrap(), Some(binary.to_vec()));
}

#[tokio::test]
async fn get_many_answers_each_key_in_order_absent_and_expired_as_none() {
    let (store, _guard) = store().await;
    assert!(store.get_many(&[]).await.unwrap().is_empty());
    store.put("a", b"first", MINUTE).await.unwrap();
    store
        .put("brief", b"gone soon", Duration::from_millis(50))
        .await
        .unwrap();
    store.increment("counter", MINUTE).await.unwrap();
    store.increment("counter", MINUTE).await.unwrap();
    // Real time, as above: Redis's clock decides when "brief" is gone.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let values = store
        .get_many(&["counter", "missing", "a", "brief", "a"])
        .await
        .unwrap();
    assert_eq!(
        values,
        vec![
            Some(b"2".to_vec()),
            None,
            Some(b"first".to_vec()),
            None,
            Some(b"first".to_vec()),
        ]
    );
    // Reading consumed nothing.
    assert_eq!(store.get("a").await.unwrap(), Some(b"first".to_vec()));
}

#[tokio::test]
async fn put_if_absent_never_replaces_a_live_value() {
    let (store, _guard) = store().await;
    assert!(store.put_if_absent("k", b"first", MINUTE).await.unwrap());
    assert!(!store.put_if_absent("k", b"second", MINUTE).await.unwrap());
    assert_eq!(store.get("k").await.unwrap(), Some(b"first".to_vec()));
}

#[tokio::test]
async fn take_returns_the_value_once_and_delete_is_idempotent() {
    let (store, _guard) = store().await;
    store.put("code", b"grant", MINUTE).await.unwrap();
    assert_eq!(store.take("code").await.unwrap(), Some(b"grant".to_vec()));
    assert_eq!(store.take("code").await.unwrap(), None);
    assert_eq!(store.get("code").await.unwrap(), None);

    store.put("session", b"s", MINUTE).await.unwrap();
    store.delete("session").await.unwrap();
    assert_eq!(store.get("session").await.unwrap(), None);
    store.delete("session").await.unwrap();
    store.delete("never-existed").await.unwrap();
}

#[tokio::test]
async fn counters_count_from_one_and_read_back_as_decimal_text() {
    let (store, _guard) = store().await;
    for expected in 1..=3 {
        assert_eq!(store.increment("c", MINUTE).await.unwrap(), expected);
    }
    assert_eq!(store.get("c").await.unwrap(), Some(b"3".to_vec()));
    assert_eq!(store.increment("other", MINUTE).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_20_concurrent_put_if_absent_calls_exactly_one_stores() {
    let (store, _guard) = store().await;
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let value = format!("caller-{i}");
                let stored = store
                    .put_if_absent("jti", value.as_bytes(), MINUTE)
                    .await
                    .unwrap();
                (stored, value)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for call in calls {
        let (stored, value) = call.await.unwrap();
        if stored {
            winners.push(value);
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(
        store.get("jti").await.unwrap(),
        Some(winners[0].clone().into_bytes())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_20_concurrent_takes_exactly_one_gets_the_value() {
    let (store, _guard) = store().await;
    store.put("code", b"single-use", MINUTE).await.unwrap();
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take("code").await.unwrap() })
        })
        .collect();
    let mut got = Vec::new();
    for call in calls {
        if let Some(value) = call.await.unwrap() {
            got.push(value);
        }
    }
    assert_eq!(got, [b"single-use".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_increments_yield_distinct_counts() {
    let (store, _guard) = store().await;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(
                async move { store.increment("rate:login:1.2.3.4", MINUTE).await.unwrap() },
            )
        })
        .collect();
    let mut counts = HashSet::new();
    for call in calls {
        assert!(
            counts.insert(call.await.unwrap()),
            "a count was handed out twice"
        );
    }
    assert_eq!(counts, (1..=20).collect());
}

#[tokio::test]
async fn key_count_counts_this_namespace_only() {
    let ((a, _a), (b, _b)) = (store().await, store().await);
    assert_eq!(a.key_count().await.unwrap(), Some(0));
    for i in 0..1500 {
        a.put(&format!("k{i}"), b"v", MINUTE).await.unwrap();
    }
    a.increment("counter", MINUTE).await.unwrap();
    b.put("other", b"v", MINUTE).await.unwrap();
    assert_eq!(
        a.key_count().await.unwrap(),
        Some(1501),
        "past one SCAN page"
    );
    a.take("k0").await.unwrap();
    assert_eq!(a.key_count().await.unwrap(), Some(1500));
    assert_eq!(b.key_count().await.unwrap(), Some(1));
}

#[tokio::test]
async fn stores_with_different_prefixes_do_not_see_each_others_keys() {
    let ((a, _a), (b, _b)) = (store().await, store().await);
    a.put("shared-name", b"a", MINUTE).await.unwrap();
    assert_eq!(b.get("shared-name").await.unwrap(), None);
    assert_eq!(b.increment("shared-name", MINUTE).await.unwrap(), 1);
    assert_eq!(a.get("shared-name").await.unwrap(), Some(b"a".to_vec()));
}

#[tokio::test]
#[ignore = "needs Redis"]
async fn every_redis_key_carries_the_prefix_and_an_expiry() {
    let backend = TestEphemeral::create();
    // CI's Redis pass runs the ignored tests; run without Redis this one fails, never passes.
    let url = backend
        .redis_url()
        .unwrap_or_else(|| panic!("this test needs Redis: set {}", testing::REDIS_URL_VAR));
    let store = RedisStore::connect(url, backend.key_prefix())
        .await
        .unwrap();
    store.put("a", b"1", MINUTE).await.unwrap();
    assert!(store.put_if_absent("b", b"1", MINUTE).await.unwrap());
    store.increment("c", MINUTE).await.unwrap();
    store.increment("c", MINUTE).await.unwrap();

    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", backend.key_prefix()))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    let expected: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|k| format!("{}{k}", backend.key_prefix()))
        .collect();
    assert_eq!(keys, expected);
    for key in keys {
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(ttl_ms > 0 && ttl_ms <= 60_000, "{key}: {ttl_ms}");
    }

    // The test helper cleans up after itself.
    let prefix = backend.key_prefix().to_owned();
    drop(backend);
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn an_unreachable_redis_is_unavailable_quickly() {
    let started = Instant::now();
    let err = RedisStore::connect("redis://127.0.0.1:1", "p:")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_malformed_redis_url_is_refused() {
    let err = RedisStore::connect("not a url", "p:").await.unwrap_err();
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
}

/// A private `redis-server` on a free port, so the test can stop and restart it.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start(port: u16) -> Option<Self> {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(5) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self { port, child })
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_unavailable_quickly_and_recovery_needs_no_restart() {
    // redis-server is a prerequisite of the test suite (README); missing it is a failure.
    let server = PrivateRedis::start(free_port()).expect("redis-server is installed");
    let url = format!("redis://127.0.0.1:{}", server.port);
    let store = RedisStore::connect_with(&url, "outage:", RedisOptions::default())
        .await
        .unwrap();
    store.put("k", b"v", MINUTE).await.unwrap();
    let port = server.port;
    server.stop();

    // Several calls during the outage: each fails fast, none hangs, none claims success.
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.put("k", b"v2", MINUTE).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "{:?}",
            started.elapsed()
        );
        let err = store.ping().await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    let _server = PrivateRedis::start(port).expect("redis-server restarts");
    let started = Instant::now();
    loop {
        match store.put("k", b"back", MINUTE).await {
            Ok(()) => break,
            Err(StoreError::Unavailable(_)) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("Redis did not come back: {e:?}"),
        }
    }
    assert_eq!(store.get("k").await.unwrap(), Some(b"back".to_vec()));
    store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_answering_is_unavailable_within_the_command_timeout() {
    // redis-server is a prerequisite of the test suite (README); missing it is a failure.
    let server = PrivateRedis::start(free_port()).expect("redis-server is installed");
    let url = format!("redis://127.0.0.1:{}", server.port);
    let store = RedisStore::connect(&url, "frozen:").await.unwrap();
    store.put("k", b"v", MINUTE).await.unwrap();

    server.signal("-STOP");
    let started = Instant::now();
    let err = store.get("k").await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let err = store.increment("n", MINUTE).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store.get_many(&["k", "n"]).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");

    server.signal("-CONT");
    let started = Instant::now();
    loop {
        match store.get("k").await {
            Ok(value) => {
                assert_eq!(value, Some(b"v".to_vec()));
                break;
            }
            Err(StoreError::Unavailable(_)) if started.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("Redis did not come back: {e:?}"),
        }
    }
    // Answers are matched to their own requests after the stall.
    store.put("a", b"1", MINUTE).await.unwrap();
    store.put("b", b"2", MINUTE).await.unwrap();
    assert_eq!(store.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("b").await.unwrap(), Some(b"2".to_vec()));
}

#[tokio::test]
async fn a_redis_that_never_answers_is_unavailable_quickly() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    let options = RedisOptions {
        command_timeout: Duration::from_millis(500),
        connect_timeout: Duration::from_secs(1),
    };
    let started = Instant::now();
    // Either the handshake or the first command must give up, and say so.
    let err = match RedisStore::connect_with(&url, "p:", options).await {
        Err(e) => e,
        Ok(store) => store.ping().await.unwrap_err(),
    };
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
