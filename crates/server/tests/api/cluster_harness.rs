//! Two `palisade serve` processes behind HAProxy, as an operator runs them: one fresh
//! PostgreSQL database, a private redis-server, a shared master key, and the issuer the
//! balancer's URL. Tests of the cluster (cluster.rs) start one with [`Cluster::start`], talk to
//! the balancer ([`Cluster::balancer_url`]) or to one node ([`Cluster::node_url`]), and stop,
//! restart or cut off what they need. Everything it started is killed when it is dropped.
//!
//! It needs PostgreSQL (`PALISADE_TEST_DATABASE_URL`), `redis-server` and `haproxy` (Debian's
//! package) and says so, failing, when one is missing.

use crate::harness::{TEST_MASTER_KEY, free_port, palisade_binary};
use crate::readiness::RedisProcess;
use palisade_store::Backend;
use palisade_store::testing::TestDatabase;
use reqwest::StatusCode;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to migrate, make its keys and answer `/readyz`.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// The balancer's health check, as docs/deployment.md recommends and deploy/haproxy.cfg
/// configures: every second, out after two failed checks, back after one good one.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(1);
pub const CHECK_FALL: u32 = 2;

/// What the nodes are started with (besides the defaults): `PALISADE_DRAIN_GRACE_SECS`.
pub const DRAIN_GRACE_SECS: u64 = 3;

/// How [`Cluster::start_with`] starts the nodes.
#[derive(Clone, Copy)]
enum Start {
    OneAfterTheOther,
    Together,
}

pub struct Cluster {
    /// An HTTP client without cookies or redirects, for API calls.
    pub http: reqwest::Client,
    issuer: String,
    database: TestDatabase,
    redis_port: u16,
    redis: Option<RedisProcess>,
    nodes: Vec<Node>,
    haproxy: Child,
    stats_port: u16,
    dir: tempfile::TempDir,
}

struct Node {
    port: u16,
    data_dir: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

impl Cluster {
    /// Starts Redis, two nodes on a fresh PostgreSQL database and HAProxy in front of them;
    /// returns once HAProxy counts both nodes up.
    pub async fn start() -> Self {
        Self::start_with(Start::OneAfterTheOther).await
    }

    /// As [`Self::start`], with both nodes started at the same instant on the fresh database,
    /// so both race to make the first signing keys (the rotation lease decides).
    pub async fn start_together() -> Self {
        Self::start_with(Start::Together).await
    }

    async fn start_with(start: Start) -> Self {
        assert_eq!(
            palisade_store::testing::database_backend(),
            Backend::Postgres,
            "the cluster tests need PostgreSQL: set PALISADE_TEST_DATABASE_URL (README)"
        );
        assert!(
            Command::new("haproxy")
                .arg("-v")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success()),
            "the cluster tests need haproxy on the PATH (apt-get install haproxy; .ci/run does)"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let redis_port = free_port();
        let redis = RedisProcess::start(redis_port);
        let database = TestDatabase::create().await;
        let front_port = free_port();
        let stats_port = free_port();
        let nodes = (0..2)
            .map(|i| Node {
                port: free_port(),
                data_dir: dir.path().join(format!("node{i}")),
                log_path: dir.path().join(format!("node{i}.log")),
                child: None,
            })
            .collect::<Vec<_>>();
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(
            &config,
            haproxy_config(front_port, stats_port, [nodes[0].port, nodes[1].port]),
        )
        .expect("write haproxy.cfg");
        let haproxy = Command::new("haproxy")
            // -db: in the foreground, so the test owns the process.
            .args(["-db", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("haproxy.log")).expect("log file"))
            .spawn()
            .expect("haproxy starts");
        let mut cluster = Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            issuer: format!("http://127.0.0.1:{front_port}"),
            database,
            redis_port,
            redis: Some(redis),
            nodes,
            haproxy,
            stats_port,
            dir,
        };
        match start {
            // One migration at a time is the database's business (an advisory lock), but the
            // first node also makes the signing keys: starting the second after it is quicker.
            Start::OneAfterTheOther => {
                cluster.start_node(0).await;
                cluster.start_node(1).await;
            }
            Start::Together => {
                cluster.spawn_node(0);
                cluster.spawn_node(1);
                cluster.wait_until_ready(0).await;
                cluster.wait_until_ready(1).await;
            }
        }
        cluster
    }

    /// The issuer: HAProxy's frontend.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn balancer_url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub fn node_url(&self, node: usize, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.nodes[node].port)
    }

    /// The same request target on `node` instead of wherever `url` points (the balancer or
    /// the other node).
    pub fn on_node(&self, node: usize, url: &str) -> String {
        let mut url = url::Url::parse(url).expect("an absolute URL");
        url.set_port(Some(self.nodes[node].port)).expect("http URL");
        url.to_string()
    }

    /// Runs a `palisade` command (`client add ...`) on the cluster's configuration.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        use std::io::Write as _;
        let mut child = self
            .command(0)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("palisade runs");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("palisade ends");
        assert!(
            out.status.success(),
            "palisade {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Starts (or restarts) `node` and waits until it answers `/readyz` with 200 and HAProxy
    /// counts it up.
    pub async fn start_node(&mut self, node: usize) {
        self.spawn_node(node);
        self.wait_until_ready(node).await;
    }

    fn spawn_node(&mut self, node: usize) {
        assert!(self.nodes[node].child.is_none(), "node {node} is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.nodes[node].log_path)
            .expect("node log");
        let child = self
            .command(node)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("palisade serve starts");
        self.nodes[node].child = Some(child);
    }

    async fn wait_until_ready(&mut self, node: usize) {
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Ok(res) = self.http.get(self.node_url(node, "/readyz")).send().await
                && res.status() == StatusCode::OK
            {
                break;
            }
            if let Some(exit) = self.nodes[node]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("node {node} exited with {exit}:\n{}", self.node_log(node));
            }
            assert!(
                Instant::now() < deadline,
                "node {node} not ready in {START_DEADLINE:?}:\n{}",
                self.node_log(node)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.wait_for_balancer(node, true).await;
    }

    /// Sends `node` SIGTERM and waits for it to exit; its exit status.
    pub async fn stop_node(&mut self, node: usize) -> ExitStatus {
        let mut child = self.nodes[node].child.take().expect("node is running");
        let kill = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(DRAIN_GRACE_SECS + 30);
        loop {
            if let Some(exit) = child.try_wait().expect("wait") {
                return exit;
            }
            assert!(Instant::now() < deadline, "node {node} ignored SIGTERM");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the cluster's Redis (SIGKILL: an outage, not a shutdown).
    pub fn stop_redis(&mut self) {
        if let Some(mut redis) = self.redis.take() {
            redis.stop();
        }
    }

    /// Starts a new, empty Redis on the same port.
    pub fn start_redis(&mut self) {
        assert!(self.redis.is_none(), "redis is running");
        self.redis = Some(RedisProcess::start(self.redis_port));
    }

    /// Waits until HAProxy counts `node` up (`true`) or down.
    pub async fn wait_for_balancer(&self, node: usize, up: bool) {
        let deadline = Instant::now() + CHECK_INTERVAL * (CHECK_FALL + 1) * 5;
        loop {
            let status = self.balancer_stats(node).await.status;
            let is_there = if up {
                status == "UP"
            } else {
                status.starts_with("DOWN")
            };
            if is_there {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "HAProxy still says node {node} is {status}:\n{}",
                self.haproxy_log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// HAProxy's view of `node` (its stats page, as CSV).
    pub async fn balancer_stats(&self, node: usize) -> ServerStats {
        let csv = self
            .http
            .get(format!("http://127.0.0.1:{}/stats;csv", self.stats_port))
            .send()
            .await
            .expect("HAProxy's stats page answers")
            .text()
            .await
            .expect("stats text");
        ServerStats::parse(&csv, &format!("node{node}"))
    }

    /// What `node` has logged so far (stderr).
    pub fn node_log(&self, node: usize) -> String {
        std::fs::read_to_string(&self.nodes[node].log_path).unwrap_or_default()
    }

    /// `palisade` with the cluster's configuration for `node`.
    fn command(&self, node: usize) -> Command {
        let n = &self.nodes[node];
        let mut command = Command::new(palisade_binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PALISADE_DATABASE_URL", self.database.url())
            .env(
                "PALISADE_REDIS_URL",
                format!("redis://127.0.0.1:{}", self.redis_port),
            )
            .env("PALISADE_MASTER_KEY", TEST_MASTER_KEY)
            .env("PALISADE_ISSUER", &self.issuer)
            .env("PALISADE_BIND", format!("127.0.0.1:{}", n.port))
            .env("PALISADE_DATA_DIR", &n.data_dir)
            .env("PALISADE_WORKERS", "2")
            .env("PALISADE_DRAIN_GRACE_SECS", DRAIN_GRACE_SECS.to_string())
            // HAProxy's X-Forwarded-For names the client.
            .env("PALISADE_TRUSTED_PROXIES", r#"["127.0.0.1"]"#)
            // Cheap hashing, as every test server (harness::test_argon2).
            .env("PALISADE_INSECURE_DEV", "true")
            .env("PALISADE_ARGON2__MEMORY_KIB", "1024")
            .env("PALISADE_ARGON2__ITERATIONS", "1")
            .env("PALISADE_ARGON2__PARALLELISM", "1")
            .env("PALISADE_LOG_FILTER", "info,palisade::access=off");
        command
    }

    /// What HAProxy has logged so far (its alerts and warnings).
    pub fn haproxy_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = self.haproxy.kill();
        let _ = self.haproxy.wait();
    }
}

/// One server's line of HAProxy's stats.
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    /// `UP`, `DOWN`, `UP 1/2` (going down), `NOLB`...
    pub status: String,
    /// Requests HAProxy retried on another connection (`wretr`).
    pub retries: u64,
    /// Requests HAProxy sent to another server after a failure (`wredis`).
    pub redispatches: u64,
    /// Connections HAProxy sent this server, health checks aside (`stot`).
    pub sessions: u64,
}

impl ServerStats {
    fn parse(csv: &str, server: &str) -> Self {
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        let column = |name: &str| header.iter().position(|h| *h == name);
        let row: Vec<&str> = lines
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|fields| fields.get(1) == Some(&server))
            .unwrap_or_else(|| panic!("no {server} in HAProxy's stats:\n{csv}"));
        let field = |name: &str| column(name).and_then(|i| row.get(i)).copied().unwrap_or("");
        Self {
            status: field("status").to_owned(),
            retries: field("wretr").parse().unwrap_or(0),
            redispatches: field("wredis").parse().unwrap_or(0),
            sessions: field("stot").parse().unwrap_or(0),
        }
    }
}

/// The recommended configuration (docs/deployment.md, deploy/haproxy.cfg) on loopback ports.
fn haproxy_config(front_port: u16, stats_port: u16, node_ports: [u16; 2]) -> String {
    let inter_ms = CHECK_INTERVAL.as_millis();
    format!(
        "global
    maxconn 2000

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 10s
    timeout check 1s
    # A request that could not reach a node, or got no answer, goes to the other one.
    retries 3
    retry-on conn-failure empty-response
    option redispatch 1
    option forwardfor

frontend palisade
    bind 127.0.0.1:{front_port}
    default_backend palisade

backend palisade
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {inter_ms}ms fall {CHECK_FALL} rise 1
    server node0 127.0.0.1:{p0} check
    server node1 127.0.0.1:{p1} check

frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
",
        p0 = node_ports[0],
        p1 = node_ports[1],
    )
}
