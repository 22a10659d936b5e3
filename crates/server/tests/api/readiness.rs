//! `/readyz` answers for this node: a Redis outage (shared by every node) leaves it ready and
//! names Redis as degraded, while an exhausted pool of its own takes it out after the bound.

use crate::harness::{free_port, spawn_app_with};
use palisade_store::testing::{TestDatabase, TestEphemeral};
use reqwest::StatusCode;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway redis-server of our own, so stopping it disturbs no other test (keys.rs uses it
/// too).
pub(crate) struct RedisProcess {
    child: Child,
}

impl RedisProcess {
    pub(crate) fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (see README prerequisites)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !answers_ping(port) {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child }
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn answers_ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

#[tokio::test]
async fn losing_redis_degrades_the_node_without_taking_it_out_of_rotation() {
    let port = free_port();
    let mut redis = RedisProcess::start(port);
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    })
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["database"], "up");
    assert_eq!(body["checks"]["ephemeral_store"], "up");
    assert_eq!(body["checks"]["key_ring"], "ok");

    redis.stop();
    // Past the cache of the last look (250 ms).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = Instant::now();
    let degraded = app.client.get(app.url("/readyz")).send().await.unwrap();
    let answered_in = asked.elapsed();
    // Every node shares this Redis: the balancer must keep them all.
    assert_eq!(degraded.status(), StatusCode::OK);
    let body: serde_json::Value = degraded.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    let degraded = body["degraded"].as_array().unwrap();
    assert!(degraded.contains(&"ephemeral_store".into()), "{body}");
    assert_eq!(body["not_ready"], serde_json::json!([]));
    assert_ne!(body["checks"]["ephemeral_store"], "up");
    assert!(answered_in < Duration::from_secs(1), "took {answered_in:?}");
    // Monitoring asks the other question: is every dependency up?
    let dependencies = app
        .client
        .get(app.url("/readyz/dependencies"))
        .send()
        .await
        .unwrap();
    assert_eq!(dependencies.status(), StatusCode::SERVICE_UNAVAILABLE);
    let same: serde_json::Value = dependencies.json().await.unwrap();
    assert_eq!(same["degraded"], body["degraded"]);
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics.contains(r#"palisade_dependency_up{dependency="ephemeral_store"} 0"#),
        "{metrics}"
    );
    assert!(metrics.contains("palisade_ready "), "{metrics}");
    assert!(metrics.contains("palisade_draining "), "{metrics}");
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);

    let _redis_again = RedisProcess::start(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app
            .client
            .get(app.url("/readyz/dependencies"))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::OK {
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["status"], "ready", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "never saw Redis again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_pool_exhausted_past_the_bound_takes_the_node_out_while_the_database_stays_up() {
    use palisade_core::model::ClientId;
    use palisade_core::ports::ClientRepository as _;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.database_pool_size = 1;
        s.readiness_pool_exhausted_secs = 1;
    })
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let lock = app.database.hold_write_lock("clients");
    let stop = Arc::new(AtomicBool::new(false));
    // Writers that keep the one pooled connection busy, each waiting on the lock in turn.
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let (sql, stop) = (app.state.sql.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let _ = sql.delete_client(&ClientId("nobody".into())).await;
                }
            })
        })
        .collect();

    let exhausted = Instant::now();
    let deadline = exhausted + Duration::from_secs(15);
    let body = loop {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            break res.json::<serde_json::Value>().await.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "still ready with an exhausted pool"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let out_after = exhausted.elapsed();
    assert!(
        out_after > Duration::from_secs(1),
        "not before the bound: {out_after:?}"
    );
    assert_eq!(body["status"], "not_ready", "{body}");
    assert_eq!(
        body["not_ready"],
        serde_json::json!(["database_pool_exhausted"])
    );
    // The database itself answers: it is this node that has no connection to give.
    assert_eq!(body["checks"]["database"], "up", "{body}");
    assert_eq!(body["degraded"], serde_json::json!([]));
    let dependencies = app
        .client
        .get(app.url("/readyz/dependencies"))
        .send()
        .await
        .unwrap();
    assert_eq!(dependencies.status(), StatusCode::OK);

    stop.store(true, Ordering::Relaxed);
    drop(lock);
    for writer in writers {
        writer.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!("pool exhausted: out of rotation after {out_after:?} (bound 1 s)");
}
