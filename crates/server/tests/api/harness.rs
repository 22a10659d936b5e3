//! Starting servers and binaries for tests.

use palisade::config::Settings;
use palisade::{AppState, Application};
use palisade_core::ManualClock;
use palisade_flow::password::Argon2Settings;
use palisade_store::testing::{TestDatabase, TestEphemeral};
use std::path::Path;
use std::sync::Arc;

/// The test clients drop a pooled connection idle this long, well before the server's
/// keep-alive timeout (actix's default, 5 s) closes it: a request sent on a connection the
/// server is closing at that instant fails with `IncompleteMessage` (seen after a long
/// Chromium session between two requests of one test).
const CLIENT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A running server and what the test needs to talk to it and travel in time.
pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: actix_web::web::Data<AppState>,
    pub handle: actix_web::dev::ServerHandle,
    // Kept alive for the test's duration: dropping them removes the database and namespace.
    pub database: TestDatabase,
    pub ephemeral: TestEphemeral,
    #[allow(dead_code)] // held, not read: the data directory lives as long as the server
    pub data_dir: tempfile::TempDir,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// The body of `GET path` with the app's client, whatever the status (`/metrics`, pages).
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop accepting and let workers finish; the runtime ends with the test.
        drop(self.handle.stop(false));
    }
}

/// Every test server of one test shares this master key (two nodes must agree on it).
pub const TEST_MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Cheap argon2 parameters so tests do not spend seconds hashing; the production defaults are
/// exercised by the password unit tests and the benchmarks.
pub fn test_argon2() -> Argon2Settings {
    Argon2Settings {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    }
}

/// Settings for a test server on `port` with its own storage; the issuer names that port.
pub fn test_settings(
    database: &TestDatabase,
    redis_url: Option<String>,
    redis_prefix: &str,
    data_dir: &Path,
    port: u16,
) -> Settings {
    let settings = Settings::defaults_with(|o| {
        o.bind(&format!("127.0.0.1:{port}"))
            .issuer(&format!("http://127.0.0.1:{port}"))
            .master_key(Some(TEST_MASTER_KEY.into()))
            .data_dir(data_dir)
            .database_url(Some(database.url().to_owned()))
            .redis_url(redis_url)
            .redis_key_prefix(redis_prefix)
            .argon2(test_argon2())
            .insecure_dev(true)
            .workers(2);
    });
    let mut settings = settings.expect("test settings are valid");
    // The suite runs many servers at once on two cores; opening a pooled connection can wait
    // behind that load for longer than the production 2 s. Tests of outages set their own.
    settings.storage_timeout = TEST_STORAGE_TIMEOUT;
    settings
}

/// How long a test server waits to open or borrow a database connection.
pub const TEST_STORAGE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts a server on the backends the environment selects.
pub async fn spawn_app() -> TestApp {
    let database = TestDatabase::create().await;
    let ephemeral = TestEphemeral::create();
    spawn_app_with(database, ephemeral, |_| {}).await
}

/// Starts a server whose issuer is `http://localhost:PORT`, and talks to it by that name. A
/// WebAuthn relying party id must be a domain, never an IP address, so a server whose issuer is
/// `127.0.0.1` offers no passkeys: tests of passkeys use this one. It listens on 127.0.0.1 as
/// always; browsers and reqwest resolve `localhost` there.
pub async fn spawn_app_on_localhost() -> TestApp {
    spawn_app_on_localhost_with(|_| {}).await
}

/// [`spawn_app_on_localhost`] with a hook to adjust settings.
pub async fn spawn_app_on_localhost_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let database = TestDatabase::create().await;
    let ephemeral = TestEphemeral::create();
    let mut app = spawn_app_with(database, ephemeral, |settings| {
        settings
            .issuer
            .set_host(Some("localhost"))
            .expect("localhost is a host name");
        adjust(settings);
    })
    .await;
    let port = app.state.settings.bind.port();
    app.base_url = format!("http://localhost:{port}");
    assert_eq!(
        palisade::config::issuer_base(&app.state.settings.issuer),
        app.base_url
    );
    app
}

/// Starts a server with its storage chosen by the caller and a hook to adjust settings.
pub async fn spawn_app_with(
    database: TestDatabase,
    ephemeral: TestEphemeral,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let clock = ManualClock::starting_now();
    start(database, ephemeral, clock, adjust).await
}

/// Starts a server with an explicit clock (several nodes of one test can share it).
pub async fn start(
    database: TestDatabase,
    ephemeral: TestEphemeral,
    clock: ManualClock,
    adjust: impl FnOnce(&mut Settings),
) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    let mut settings = test_settings(
        &database,
        ephemeral.redis_url().map(str::to_owned),
        ephemeral.key_prefix(),
        data_dir.path(),
        port,
    );
    adjust(&mut settings);
    let app = Application::build_with_listener(settings, Arc::new(clock.clone()), listener)
        .await
        .expect("server builds");
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestApp {
        base_url: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .pool_idle_timeout(CLIENT_IDLE_TIMEOUT)
            .build()
            .expect("http client"),
        clock,
        state,
        handle,
        database,
        ephemeral,
        data_dir,
    }
}

/// The `palisade` binary built for this test run.
pub fn palisade_binary() -> &'static str {
    env!("CARGO_BIN_EXE_palisade")
}

/// A loopback port that was free a moment ago (for processes that must be told their port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A second node of `first`'s deployment: the same database, ephemeral namespace, master key
/// and clock, on a port and data directory of its own. `first` owns the shared storage, so it
/// must outlive this node.
pub struct TestNode {
    pub base_url: String,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    pub handle: actix_web::dev::ServerHandle,
    // Kept alive for the node's duration (its generated files live there).
    _data_dir: tempfile::TempDir,
}

impl TestNode {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// Starts another node next to `first` (see [`TestNode`]).
pub async fn start_node(first: &TestApp, adjust: impl FnOnce(&mut Settings)) -> TestNode {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("bound").port();
    let mut settings = test_settings(
        &first.database,
        first.ephemeral.redis_url().map(str::to_owned),
        first.ephemeral.key_prefix(),
        data_dir.path(),
        port,
    );
    adjust(&mut settings);
    let app = Application::build_with_listener(settings, Arc::new(first.clock.clone()), listener)
        .await
        .expect("second node builds");
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    TestNode {
        base_url: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .pool_idle_timeout(CLIENT_IDLE_TIMEOUT)
            .build()
            .expect("http client"),
        state,
        handle,
        _data_dir: data_dir,
    }
}
