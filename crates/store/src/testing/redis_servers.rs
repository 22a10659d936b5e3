//! Private Redis processes for tests of authentication, TLS and Sentinel failover: each on
//! free loopback ports, in a temporary directory of its own, killed when dropped.
//!
//! They run Debian's `redis-server` and `redis-sentinel` from the PATH; a missing binary is a
//! failed test, never a skipped one (`.ci/run` installs both).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A certificate authority and a server certificate it signed for 127.0.0.1 only, as PEM:
/// `(ca, server certificate, server key)`, for [`RedisServer::start_tls`] and the clients that
/// trust that CA.
pub fn private_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())
        .unwrap_or_else(|e| panic!("cannot make CA parameters: {e}"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("cannot make a CA key: {e}"));
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key)
        .unwrap_or_else(|e| panic!("cannot make a self-signed CA: {e}"));
    let key = KeyPair::generate().unwrap_or_else(|e| panic!("cannot make a server key: {e}"));
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap_or_else(|e| panic!("cannot make server certificate parameters: {e}"))
        .signed_by(&key, &*ca)
        .unwrap_or_else(|e| panic!("cannot make a server certificate: {e}"));
    (ca.pem(), cert.pem(), key.serialize_pem())
}

/// How long a process may take to listen, and a Sentinel group to know its members.
const STARTUP: Duration = Duration::from_secs(30);

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// One `redis-server` (or `redis-sentinel`) process.
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// `redis-server` on a free port with nothing kept on disk, plus `args` (e.g.
    /// `["--requirepass", "secret"]`).
    pub fn start(args: &[&str]) -> Self {
        let port = free_port();
        Self::start_on(port, &["--port", &port.to_string()], args)
    }

    /// `redis-server` speaking TLS only, on a free port, with this certificate and key (PEM).
    /// Clients need no certificate of their own.
    pub fn start_tls(cert_pem: &str, key_pem: &str, args: &[&str]) -> Self {
        let port = free_port();
        let dir = temp_dir();
        let cert = write(dir.path(), "server.crt", cert_pem);
        let key = write(dir.path(), "server.key", key_pem);
        let tls = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &cert,
            "--tls-key-file",
            &key,
            "--tls-auth-clients",
            "no",
        ];
        Self::spawn("redis-server", port, dir, &[&tls[..], args].concat())
    }

    fn start_on(port: u16, listen: &[&str], args: &[&str]) -> Self {
        Self::spawn("redis-server", port, temp_dir(), &[listen, args].concat())
    }

    fn spawn(program: &str, port: u16, dir: tempfile::TempDir, args: &[&str]) -> Self {
        let dir_arg = dir.path().to_string_lossy().into_owned();
        let log = dir.path().join("redis.log").to_string_lossy().into_owned();
        let child = Command::new(program)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &dir_arg, "--logfile", &log])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {program} (install Debian's redis-server and redis-sentinel): {e}"
                )
            });
        let server = Self { child, port, dir };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + STARTUP;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis on port {} did not listen: {}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the process logged, for a failed assertion's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
    }

    /// `kill -9`: no goodbye to replicas or clients.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("palisade-redis-")
        .tempdir()
        .unwrap_or_else(|e| panic!("a temporary directory: {e}"))
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {name}: {e}"));
    path.to_string_lossy().into_owned()
}

/// A synchronous connection to the plain server on `port`, for a test's own checks.
pub fn connect(port: u16) -> redis::Connection {
    connect_with(port, None)
}

/// [`connect`] to a server that wants `password`.
pub fn connect_with(port: u16, password: Option<&str>) -> redis::Connection {
    let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
    redis::Client::open(format!("redis://{auth}127.0.0.1:{port}"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .unwrap_or_else(|e| panic!("a connection to redis on {port}: {e}"))
}

/// The passwords of a [`SentinelGroup`]: the Redis servers' (`requirepass`, and `masterauth`
/// so a replica can follow) and the sentinels' own.
#[derive(Debug, Clone, Copy, Default)]
pub struct GroupPasswords {
    pub redis: Option<&'static str>,
    pub sentinels: Option<&'static str>,
}

/// A primary, one replica and three sentinels watching them under [`SentinelGroup::MASTER`],
/// quick to act: a primary silent for a second is down, a failover may take three.
pub struct SentinelGroup {
    primary: RedisServer,
    replica: RedisServer,
    sentinels: Vec<RedisServer>,
    passwords: GroupPasswords,
}

impl SentinelGroup {
    /// The name the sentinels know the primary by.
    pub const MASTER: &'static str = "palisade";

    /// Starts all five processes and waits until every sentinel knows the replica and the
    /// other two sentinels, so a failover can happen from then on.
    pub fn start() -> Self {
        Self::start_with(GroupPasswords::default())
    }

    /// [`SentinelGroup::start`], with passwords.
    pub fn start_with(passwords: GroupPasswords) -> Self {
        let auth: Vec<&str> = match passwords.redis {
            Some(p) => vec!["--requirepass", p, "--masterauth", p],
            None => Vec::new(),
        };
        let primary = RedisServer::start(&auth);
        let primary_port = primary.port.to_string();
        let replica =
            RedisServer::start(&[&auth[..], &["--replicaof", "127.0.0.1", &primary_port]].concat());
        let sentinels = (0..3)
            .map(|_| start_sentinel(primary.port, passwords))
            .collect::<Vec<_>>();
        let group = Self {
            primary,
            replica,
            sentinels,
            passwords,
        };
        group.wait_until_ready();
        group
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + STARTUP;
        while !self.is_ready() {
            assert!(
                Instant::now() < deadline,
                "the Sentinel group did not form: {}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn is_ready(&self) -> bool {
        let replica_synced = redis::cmd("INFO")
            .arg("replication")
            .query::<String>(&mut connect_with(self.replica.port, self.passwords.redis))
            .is_ok_and(|info| info.contains("master_link_status:up"));
        replica_synced
            && self.sentinels.iter().all(|sentinel| {
                let mut conn = connect_with(sentinel.port, self.passwords.sentinels);
                let replicas: Vec<Vec<String>> = redis::cmd("SENTINEL")
                    .arg("replicas")
                    .arg(Self::MASTER)
                    .query(&mut conn)
                    .unwrap_or_default();
                let others: Vec<Vec<String>> = redis::cmd("SENTINEL")
                    .arg("sentinels")
                    .arg(Self::MASTER)
                    .query(&mut conn)
                    .unwrap_or_default();
                let healthy = |entry: &Vec<String>| {
                    entry.chunks(2).any(|pair| {
                        pair.len() == 2
                            && pair[0] == "flags"
                            && !pair[1].contains("down")
                            && !pair[1].contains("disconnected")
                    })
                };
                replicas.iter().filter(|r| healthy(r)).count() == 1
                    && others.iter().filter(|s| healthy(s)).count() == 2
            })
    }

    /// `redis+sentinel://[:PASSWORD@]127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3/palisade`, with the
    /// Redis servers' password if they have one.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let auth = self
            .passwords
            .redis
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        format!(
            "redis+sentinel://{auth}{}/{}",
            hosts.join(","),
            Self::MASTER
        )
    }

    /// The port of the primary the group started with.
    pub fn first_primary_port(&self) -> u16 {
        self.primary.port
    }

    /// The port of the replica the group started with.
    pub fn replica_port(&self) -> u16 {
        self.replica.port
    }

    /// The sentinels' ports.
    pub fn sentinel_ports(&self) -> Vec<u16> {
        self.sentinels.iter().map(|s| s.port).collect()
    }

    /// `kill -9` of the primary the group started with.
    pub fn kill_first_primary(&mut self) {
        self.primary.kill();
    }

    /// The port of the primary each sentinel names now (`None` where one does not answer).
    pub fn named_primaries(&self) -> Vec<Option<u16>> {
        self.sentinels
            .iter()
            .map(|sentinel| {
                let auth = self
                    .passwords
                    .sentinels
                    .map(|p| format!(":{p}@"))
                    .unwrap_or_default();
                redis::Client::open(format!("redis://{auth}127.0.0.1:{}", sentinel.port))
                    .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                    .and_then(|mut conn| {
                        redis::cmd("SENTINEL")
                            .arg("get-master-addr-by-name")
                            .arg(Self::MASTER)
                            .query::<(String, u16)>(&mut conn)
                    })
                    .ok()
                    .map(|(_, port)| port)
            })
            .collect()
    }

    /// Every process's log, for a failed assertion's message.
    pub fn logs(&self) -> String {
        let mut logs = format!(
            "--- primary\n{}\n--- replica\n{}",
            self.primary.log(),
            self.replica.log()
        );
        for (i, sentinel) in self.sentinels.iter().enumerate() {
            logs.push_str(&format!("\n--- sentinel {i}\n{}", sentinel.log()));
        }
        logs
    }
}

fn start_sentinel(primary_port: u16, passwords: GroupPasswords) -> RedisServer {
    let port = free_port();
    let dir = temp_dir();
    let mut config = format!(
        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
         sentinel monitor {master} 127.0.0.1 {primary_port} 2\n\
         sentinel down-after-milliseconds {master} 1000\n\
         sentinel failover-timeout {master} 3000\n\
         sentinel parallel-syncs {master} 1\n",
        dir = dir.path().display(),
        master = SentinelGroup::MASTER,
    );
    if let Some(password) = passwords.redis {
        config.push_str(&format!(
            "sentinel auth-pass {} {password}\n",
            SentinelGroup::MASTER
        ));
    }
    // The sentinels' own password also logs them in to each other.
    if let Some(password) = passwords.sentinels {
        config.push_str(&format!("requirepass {password}\n"));
    }
    // Sentinel rewrites its configuration file as the group changes, so it gets its own.
    let file = write(dir.path(), "sentinel.conf", &config);
    let log = dir.path().join("redis.log").to_string_lossy().into_owned();
    let child = Command::new("redis-sentinel")
        .args([file.as_str(), "--logfile", &log])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start redis-sentinel (install Debian's redis-sentinel): {e}")
        });
    let sentinel = RedisServer { child, port, dir };
    sentinel.wait_until_listening();
    sentinel
}
