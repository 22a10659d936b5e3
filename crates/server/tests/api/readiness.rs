//! `/readyz` follows the health of its stores: a Redis outage takes the node out of rotation
//! within a second, and its return puts it back, with no restart.

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
async fn readiness_turns_503_within_a_second_of_losing_redis_and_recovers_when_it_returns() {
    let port = free_port();
    let mut redis = RedisProcess::start(port);
    let app = spawn_app_with(TestDatabase::create().await, TestEphemeral::create(), |s| {
        s.redis_url = Some(format!("redis://127.0.0.1:{port}"));
    })
    .await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    redis.stop();
    let asked = Instant::now();
    let down = app.client.get(app.url("/readyz")).send().await.unwrap();
    let answered_in = asked.elapsed();
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = down.json().await.unwrap();
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["database"], "ok");
    assert_ne!(body["ephemeral_store"], "ok");
    assert!(answered_in < Duration::from_secs(1), "took {answered_in:?}");
    // Liveness is not readiness: the process is fine.
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);

    let _redis_again = RedisProcess::start(port);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = app.client.get(app.url("/readyz")).send().await.unwrap();
        if res.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "never became ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
