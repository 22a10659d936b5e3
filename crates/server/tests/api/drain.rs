//! SIGTERM drains: the node turns not-ready at once, serves on (closing each connection after
//! its response) for the grace, then stops accepting, finishes what is in flight and exits 0.
//! SIGINT stops without the grace.

use crate::harness::{TEST_MASTER_KEY, free_port, palisade_binary};
use reqwest::StatusCode;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const GRACE_SECS: u64 = 2;

/// A `palisade serve` process, killed if the test ends before it exits.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `palisade serve` on SQLite in a directory of its own, answering `/readyz`.
async fn serve(dir: &std::path::Path, port: u16) -> Serving {
    let server = Serving(
        Command::new(palisade_binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PALISADE_DATA_DIR", dir)
            .env("PALISADE_MASTER_KEY", TEST_MASTER_KEY)
            .env("PALISADE_BIND", format!("127.0.0.1:{port}"))
            .env("PALISADE_ISSUER", format!("http://127.0.0.1:{port}"))
            .env("PALISADE_DRAIN_GRACE_SECS", GRACE_SECS.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(res) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && res.status() == StatusCode::OK
        {
            return server;
        }
        assert!(Instant::now() < deadline, "the server did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

async fn wait_for_exit(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            return exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sigterm_turns_the_node_not_ready_serves_through_the_grace_finishes_in_flight_work_and_exits_0()
 {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = serve(dir.path(), port).await;
    let child = &mut server.0;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();

    // A request in flight across the whole drain: its head and half its body now, the rest
    // after the server has stopped accepting.
    let body = "grant_type=client_credentials&client_id=nobody&client_secret=x";
    let (first, rest) = body.split_at(20);
    let mut in_flight = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        in_flight,
        "POST /token HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    in_flight.flush().unwrap();

    signal(child, "TERM");
    let signalled = Instant::now();
    let deadline = signalled + Duration::from_secs(5);
    let not_ready_after = loop {
        let res = http.get(format!("{base}/readyz")).send().await.unwrap();
        if res.status() == StatusCode::SERVICE_UNAVAILABLE {
            let elapsed = signalled.elapsed();
            assert_eq!(res.headers()["connection"], "close");
            let report: Value = res.json().await.unwrap();
            assert_eq!(report["status"], "not_ready", "{report}");
            assert_eq!(
                report["not_ready"],
                serde_json::json!(["draining"]),
                "{report}"
            );
            break elapsed;
        }
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Everything else is still served during the grace, each answer closing its connection.
    let jwks = http.get(format!("{base}/jwks")).send().await.unwrap();
    assert_eq!(jwks.status(), StatusCode::OK);
    assert_eq!(jwks.headers()["connection"], "close");
    let live = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(live.status(), StatusCode::OK);

    // After the grace, new connections are refused while the process waits for the request
    // in flight.
    let deadline = signalled + Duration::from_secs(GRACE_SECS * 5);
    let refused_after = loop {
        if TcpStream::connect(("127.0.0.1", port)).is_err() {
            break signalled.elapsed();
        }
        assert!(Instant::now() < deadline, "still accepting after the grace");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        refused_after >= Duration::from_secs(GRACE_SECS),
        "accepting stopped only after the grace: {refused_after:?}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process waits for the request in flight"
    );

    in_flight.write_all(rest.as_bytes()).unwrap();
    in_flight
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the request in flight got its whole answer: {answer}"
    );
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );

    let exit = wait_for_exit(child, Duration::from_secs(10)).await;
    let exited_after = signalled.elapsed();
    assert!(exit.success(), "{exit:?}");
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(logs.contains("palisade stopped"), "{logs}");
    println!(
        "SIGTERM: not ready after {not_ready_after:?}, refusing connections after \
         {refused_after:?}, exited after {exited_after:?}"
    );
}

#[tokio::test]
async fn sigint_stops_without_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = serve(dir.path(), port).await;
    let child = &mut server.0;
    signal(child, "INT");
    let signalled = Instant::now();
    let exit = wait_for_exit(child, Duration::from_secs(10)).await;
    assert!(exit.success(), "{exit:?}");
    assert!(
        signalled.elapsed() < Duration::from_secs(GRACE_SECS),
        "no grace: {:?}",
        signalled.elapsed()
    );
}
