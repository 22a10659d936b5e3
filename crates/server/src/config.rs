//! Layered configuration: built-in defaults, then an optional TOML file, then `PALISADE_*`
//! environment variables (nested keys with `__`, e.g. `PALISADE_ARGON2__MEMORY_KIB`).
//!
//! Every setting is checked once, at start-up; a bad one stops the process with a one-line
//! message that names it (exit code 2), so a typo never turns into a half-working server.

use crate::client_ip::IpCidr;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use palisade_core::Secret;
pub use palisade_flow::TokenSettings;
pub use palisade_flow::dpop::DpopSettings;
use palisade_flow::guard::AttemptLimits;
use palisade_flow::password::Argon2Settings;
pub use palisade_flow::registration::RegistrationMode;
use palisade_flow::registration::{DynamicRegistration, RegistrationSettings};
use palisade_keys::KeySettings;
use palisade_store::DatabaseUrl;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

/// A configuration problem, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {setting}: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

impl ConfigError {
    fn new(setting: &str, reason: impl Into<String>) -> Self {
        Self {
            setting: setting.to_owned(),
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// The settings as read, before validation (what the file and the environment can say).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    issuer: String,
    bind: String,
    data_dir: PathBuf,
    database_url: Option<String>,
    redis_url: Option<String>,
    redis_key_prefix: String,
    /// PEM certificate authorities trusted for `rediss://` instead of the system's.
    redis_ca_file: Option<PathBuf>,
    /// The sentinels' own password (`requirepass` in sentinel.conf), for Sentinel URLs.
    redis_sentinel_password: Option<String>,
    database_pool_size: usize,
    storage_timeout_ms: u64,
    database_statement_timeout_ms: u64,
    ephemeral_max_entries: usize,
    ephemeral_max_bytes: usize,
    log_format: LogFormat,
    log_filter: String,
    workers: Option<usize>,
    max_form_bytes: usize,
    max_json_bytes: usize,
    shutdown_timeout_secs: u64,
    drain_grace_secs: u64,
    readiness_pool_exhausted_secs: u64,
    argon2: Argon2Settings,
    hash_concurrency: Option<usize>,
    hash_queue: Option<usize>,
    attempt_limits: AttemptLimits,
    trusted_proxies: Vec<String>,
    insecure_dev: bool,
    master_key: Option<String>,
    /// Comma-separated base64 master keys (a TOML array of strings works too).
    master_keys_previous: KeyList,
    tokens: TokenSettings,
    keys: KeySettings,
    registration: RegistrationSettings,
    tls: TlsSettings,
    behind_tls_proxy: bool,
    /// Accept the token endpoint URL as a client assertion's `aud` (old clients); off.
    client_assertion_allow_token_endpoint_audience: bool,
    /// Every sign-in needs a second factor (docs/mfa.md); off.
    mfa_required: bool,
    /// The device authorization grant (RFC 8628, docs/device-flow.md).
    device: DeviceFlowSettings,
    /// Pushed authorization requests (RFC 9126, docs/par-and-resources.md).
    par: palisade_flow::par::ParSettings,
    /// The resources tokens may be issued for (RFC 8707), with the scopes each accepts.
    resources: Vec<palisade_flow::resource::ResourceSetting>,
    /// Client ID metadata documents (docs/clients.md); off.
    client_id_metadata_documents: crate::client_documents::ClientDocumentSettings,
    /// DPoP proofs (docs/dpop.md): server nonces and the proof window.
    dpop: DpopSettings,
    /// The consoles (`/account`, `/admin`, docs/console.md).
    console: ConsoleSettings,
}

/// `[console]`: the people-facing consoles (docs/console.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// The admin console opens only to a session signed in with a second factor: it can hand
    /// out every right the server has, so a stolen password alone must not open it. On.
    pub admin_requires_second_factor: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            admin_requires_second_factor: true,
        }
    }
}

/// `[device]`: lifetimes of the device authorization grant (RFC 8628, docs/device-flow.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceFlowSettings {
    /// How long a device code and its user code live (`expires_in`): 600 s.
    pub code_ttl_secs: i64,
    /// The least time between polls (`interval`) before any `slow_down`: 5 s.
    pub interval_secs: i64,
}

impl Default for DeviceFlowSettings {
    fn default() -> Self {
        let defaults = palisade_flow::device::DeviceSettings::default();
        Self {
            code_ttl_secs: defaults.code_ttl.num_seconds(),
            interval_secs: defaults.interval.num_seconds(),
        }
    }
}

impl DeviceFlowSettings {
    /// Checks the settings; the error names the offending field. A code lives at most 30
    /// minutes: its lifetime is what a guesser of user codes gets per code (docs/device-flow.md).
    fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(60..=1800).contains(&self.code_ttl_secs) {
            return Err(("code_ttl_secs", "must be between 60 and 1800 seconds"));
        }
        if !(1..=60).contains(&self.interval_secs) {
            return Err(("interval_secs", "must be between 1 and 60 seconds"));
        }
        Ok(())
    }

    /// The engine's device settings.
    pub fn to_settings(self) -> palisade_flow::device::DeviceSettings {
        palisade_flow::device::DeviceSettings {
            code_ttl: chrono::Duration::seconds(self.code_ttl_secs),
            interval: chrono::Duration::seconds(self.interval_secs),
        }
    }
}

/// Palisade's own TLS (crate::tls): PEM paths of the certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

/// A list given either as a TOML array or as one comma-separated string (environment).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(untagged)]
enum KeyList {
    #[default]
    None,
    Many(Vec<String>),
    Joined(String),
}

impl KeyList {
    fn into_secrets(self) -> Vec<Secret> {
        let items = match self {
            Self::None => Vec::new(),
            Self::Many(v) => v,
            Self::Joined(s) => s.split(',').map(str::to_owned).collect(),
        };
        items
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .map(Secret::new)
            .collect()
    }
}

impl Default for RawSettings {
    fn default() -> Self {
        // The storage libraries' own defaults, so each is written once.
        let pool = palisade_store::PoolOptions::default();
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            redis_url: None,
            redis_key_prefix: "palisade:".into(),
            redis_ca_file: None,
            redis_sentinel_password: None,
            database_pool_size: 16,
            storage_timeout_ms: millis(pool.timeout),
            database_statement_timeout_ms: pool.statement_timeout.map_or(0, millis),
            ephemeral_max_entries: palisade_store::InProcessOptions::default().max_entries,
            ephemeral_max_bytes: palisade_store::InProcessOptions::default().max_bytes,
            log_format: LogFormat::Human,
            log_filter: "info".into(),
            workers: None,
            max_form_bytes: 16 * 1024,
            max_json_bytes: 64 * 1024,
            shutdown_timeout_secs: 10,
            drain_grace_secs: 5,
            readiness_pool_exhausted_secs: 10,
            argon2: Argon2Settings::default(),
            hash_concurrency: None,
            hash_queue: None,
            attempt_limits: AttemptLimits::default(),
            trusted_proxies: Vec::new(),
            insecure_dev: false,
            master_key: None,
            master_keys_previous: KeyList::default(),
            tokens: TokenSettings::default(),
            keys: KeySettings::default(),
            registration: RegistrationSettings::default(),
            tls: TlsSettings::default(),
            behind_tls_proxy: false,
            client_assertion_allow_token_endpoint_audience: false,
            mfa_required: false,
            device: DeviceFlowSettings::default(),
            par: palisade_flow::par::ParSettings::default(),
            resources: Vec::new(),
            client_id_metadata_documents: Default::default(),
            dpop: DpopSettings::default(),
            console: ConsoleSettings::default(),
        }
    }
}

/// Validated settings: every field here has been checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer identifier (OIDC Core §2 `iss`): https, or http on a loopback host.
    pub issuer: Url,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: DatabaseUrl,
    /// `None` selects the in-process ephemeral store (one node only).
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    /// Certificate authorities for `rediss://` (`redis_ca_file`); `None`: the system's.
    pub redis_ca_file: Option<PathBuf>,
    /// The sentinels' password, for `redis+sentinel://` URLs.
    pub redis_sentinel_password: Option<Secret>,
    pub database_pool_size: usize,
    pub storage_timeout: std::time::Duration,
    /// PostgreSQL `statement_timeout` for pooled connections; `None` when set to 0.
    pub database_statement_timeout: Option<std::time::Duration>,
    /// Bounds of the in-process ephemeral store (ignored with Redis).
    pub ephemeral: palisade_store::InProcessOptions,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub workers: usize,
    pub max_form_bytes: usize,
    pub max_json_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// After SIGTERM, how long the node serves on while not ready, before it stops accepting
    /// (shutdown.rs); at least the balancer's check interval times its fall count.
    pub drain_grace_secs: u64,
    /// How long the database pool may have no connection to give (the database answering)
    /// before `/readyz` answers 503 (readiness/mod.rs).
    pub readiness_pool_exhausted_secs: u64,
    pub argon2: Argon2Settings,
    pub hash_concurrency: usize,
    /// Logins that may wait once every hashing permit (2 x concurrency) is held; past them the
    /// rest get 503 (default 2 x concurrency).
    pub hash_queue: usize,
    /// Failed-attempt limits and account lockout (palisade_flow::guard).
    pub attempt_limits: AttemptLimits,
    /// Proxies whose `X-Forwarded-For` is believed (crate::client_ip).
    pub trusted_proxies: Vec<IpCidr>,
    pub insecure_dev: bool,
    /// Base64 of 32 bytes; without it a key file in the data directory is used.
    pub master_key: Option<Secret>,
    /// Master keys being rotated out: still decrypt, never encrypt (`palisade keys rewrap`).
    pub master_keys_previous: Vec<Secret>,
    pub tokens: TokenSettings,
    pub key_policy: palisade_keys::RotationPolicy,
    /// Dynamic client registration (`registration.mode`, rate limit, allowed scopes).
    pub registration: DynamicRegistration,
    /// Serve HTTPS with these files (`tls.cert`, `tls.key`); `None` serves plain HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// A TLS-terminating proxy is in front: plain HTTP may be bound to a non-loopback address.
    pub behind_tls_proxy: bool,
    /// Whether a `private_key_jwt` assertion may name the token endpoint URL as its `aud`
    /// (always as one string), besides the issuer.
    pub client_assertion_allow_token_endpoint_audience: bool,
    /// Every sign-in needs a second factor, whatever the user's roles and the client
    /// (docs/mfa.md).
    pub mfa_required: bool,
    /// The device authorization grant's lifetimes (`[device]`).
    pub device: DeviceFlowSettings,
    /// Pushed authorization requests: the `request_uri` lifetime, whether every client must.
    pub par: palisade_flow::par::ParPolicy,
    /// The known resources (RFC 8707) and the scopes each accepts.
    pub resources: palisade_flow::resource::ResourceRegistry,
    /// Client ID metadata documents (docs/clients.md): off unless enabled.
    pub client_id_metadata_documents: crate::client_documents::ClientDocumentSettings,
    /// DPoP proofs: server nonces and the proof window (docs/dpop.md).
    pub dpop: DpopSettings,
    /// The consoles: whether the admin console needs a second factor (`[console]`).
    pub console: ConsoleSettings,
}

impl Settings {
    /// The database pool's options, with `max_size` connections.
    pub fn pool_options(&self, max_size: usize) -> palisade_store::PoolOptions {
        palisade_store::PoolOptions {
            max_size,
            timeout: self.storage_timeout,
            statement_timeout: self.database_statement_timeout,
        }
    }

    /// Reads defaults, then `file` (if given), then the environment.
    /// `insecure_dev` is the `--insecure-dev` flag: when set it wins over every layer.
    pub fn load(file: Option<&Path>, insecure_dev: bool) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(RawSettings::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::new(
                    "--config",
                    format!("{} is not a readable file", path.display()),
                ));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(Env::prefixed("PALISADE_").split("__"));
        if insecure_dev {
            figment = figment.merge(Serialized::default("insecure_dev", true));
        }
        let raw: RawSettings = figment.extract().map_err(figment_error)?;
        raw.validate()
    }

    /// Settings for tests and embedding: the defaults with a few overrides applied in code.
    pub fn defaults_with(f: impl FnOnce(&mut SettingsOverrides)) -> Result<Self, ConfigError> {
        let mut o = SettingsOverrides(RawSettings::default());
        f(&mut o);
        o.0.validate()
    }

    /// The token policy of the engine.
    pub fn token_policy(&self) -> palisade_flow::TokenPolicy {
        palisade_flow::TokenPolicy {
            client_assertion_audience:
                palisade_flow::client_assertion::AssertionAudience::allowing_token_endpoint(
                    self.client_assertion_allow_token_endpoint_audience,
                ),
            mfa_required: self.mfa_required,
            device: self.device.to_settings(),
            par: self.par.clone(),
            resources: self.resources.clone(),
            dpop: self.dpop.to_policy(),
            admin_console_requires_mfa: self.console.admin_requires_second_factor,
            ..self.tokens.to_policy()
        }
    }

    /// Where Redis is, with its CA file and sentinel password; `None`: the in-process store.
    /// Read when a store is opened, so a test (or embedder) may change `redis_url` after
    /// validation; validation has already checked the configured values.
    pub fn redis_address(&self) -> Result<Option<palisade_store::RedisAddress>, ConfigError> {
        redis_address(
            self.redis_url.as_deref(),
            self.redis_ca_file.as_deref(),
            self.redis_sentinel_password.as_ref(),
        )
    }

    /// Whether the issuer is served over HTTPS (cookies get `Secure` and the `__Host-` prefix).
    pub fn is_https(&self) -> bool {
        self.issuer.scheme() == "https"
    }

    /// Whether responses reach browsers over HTTPS, so they carry `Strict-Transport-Security`:
    /// our own TLS, or a TLS proxy in front of an https issuer.
    pub fn sends_hsts(&self) -> bool {
        self.tls.is_some() || (self.behind_tls_proxy && self.is_https())
    }
}

/// Code-level access to the raw settings, for tests and embedders.
pub struct SettingsOverrides(RawSettings);

impl SettingsOverrides {
    pub fn issuer(&mut self, v: &str) -> &mut Self {
        self.0.issuer = v.into();
        self
    }
    pub fn bind(&mut self, v: &str) -> &mut Self {
        self.0.bind = v.into();
        self
    }
    pub fn data_dir(&mut self, v: &Path) -> &mut Self {
        self.0.data_dir = v.into();
        self
    }
    pub fn database_url(&mut self, v: Option<String>) -> &mut Self {
        self.0.database_url = v;
        self
    }
    pub fn redis_url(&mut self, v: Option<String>) -> &mut Self {
        self.0.redis_url = v;
        self
    }
    pub fn redis_key_prefix(&mut self, v: &str) -> &mut Self {
        self.0.redis_key_prefix = v.into();
        self
    }
    pub fn argon2(&mut self, v: Argon2Settings) -> &mut Self {
        self.0.argon2 = v;
        self
    }
    pub fn insecure_dev(&mut self, v: bool) -> &mut Self {
        self.0.insecure_dev = v;
        self
    }
    pub fn master_key(&mut self, v: Option<String>) -> &mut Self {
        self.0.master_key = v;
        self
    }
    pub fn tokens(&mut self, v: TokenSettings) -> &mut Self {
        self.0.tokens = v;
        self
    }
    pub fn registration_mode(&mut self, v: RegistrationMode) -> &mut Self {
        self.0.registration.mode = Some(v);
        self
    }
    pub fn workers(&mut self, v: usize) -> &mut Self {
        self.0.workers = Some(v);
        self
    }
    pub fn tls(&mut self, cert: &Path, key: &Path) -> &mut Self {
        self.0.tls = TlsSettings {
            cert: Some(cert.into()),
            key: Some(key.into()),
        };
        self
    }
    pub fn behind_tls_proxy(&mut self, v: bool) -> &mut Self {
        self.0.behind_tls_proxy = v;
        self
    }
    pub fn client_assertion_allow_token_endpoint_audience(&mut self, v: bool) -> &mut Self {
        self.0.client_assertion_allow_token_endpoint_audience = v;
        self
    }
    pub fn client_id_metadata_documents(
        &mut self,
        v: crate::client_documents::ClientDocumentSettings,
    ) -> &mut Self {
        self.0.client_id_metadata_documents = v;
        self
    }

    pub fn mfa_required(&mut self, v: bool) -> &mut Self {
        self.0.mfa_required = v;
        self
    }
    pub fn console_admin_requires_second_factor(&mut self, v: bool) -> &mut Self {
        self.0.console.admin_requires_second_factor = v;
        self
    }
}

fn figment_error(e: figment::Error) -> ConfigError {
    // Figment names the offending key in `path`; report that as the setting.
    let setting = if e.path.is_empty() {
        "configuration".to_owned()
    } else {
        format!("PALISADE_{}", e.path.join("__").to_uppercase())
    };
    ConfigError::new(&setting, e.kind.to_string())
}

impl RawSettings {
    fn validate(self) -> Result<Settings, ConfigError> {
        let issuer = parse_issuer(&self.issuer)?;
        let bind: SocketAddr = self.bind.parse().map_err(|_| {
            ConfigError::new(
                "PALISADE_BIND",
                "expected HOST:PORT with an IP address, e.g. 127.0.0.1:8080",
            )
        })?;
        // An empty value (`PALISADE_REDIS_URL=`) means unset, as operators expect.
        let redis_url = self.redis_url.filter(|u| !u.trim().is_empty());
        let database_url = match self.database_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => DatabaseUrl::parse(&url)
                .map_err(|e| ConfigError::new("PALISADE_DATABASE_URL", e.to_string()))?,
            None => DatabaseUrl::sqlite_file(self.data_dir.join("palisade.db")),
        };
        let redis_sentinel_password = self
            .redis_sentinel_password
            .filter(|p| !p.is_empty())
            .map(Secret::new);
        let redis_ca_file = self.redis_ca_file.filter(|p| !p.as_os_str().is_empty());
        redis_address(
            redis_url.as_deref(),
            redis_ca_file.as_deref(),
            redis_sentinel_password.as_ref(),
        )?;
        if self.database_pool_size == 0 {
            return Err(ConfigError::new(
                "PALISADE_DATABASE_POOL_SIZE",
                "must be at least 1",
            ));
        }
        // PostgreSQL refuses a larger statement_timeout, which would fail every connection.
        if self.database_statement_timeout_ms > i32::MAX as u64 {
            return Err(ConfigError::new(
                "PALISADE_DATABASE_STATEMENT_TIMEOUT_MS",
                "must be at most 2147483647 (about 24 days); 0 turns it off",
            ));
        }
        if self.storage_timeout_ms == 0 {
            return Err(ConfigError::new(
                "PALISADE_STORAGE_TIMEOUT_MS",
                "must be at least 1",
            ));
        }
        // A grace longer than a few minutes is a typo, and would hold every rolling restart.
        if self.drain_grace_secs > 300 {
            return Err(ConfigError::new(
                "PALISADE_DRAIN_GRACE_SECS",
                "must be at most 300 seconds; 0 stops without a grace",
            ));
        }
        if !(1..=3600).contains(&self.readiness_pool_exhausted_secs) {
            return Err(ConfigError::new(
                "PALISADE_READINESS_POOL_EXHAUSTED_SECS",
                "must be between 1 and 3600 seconds",
            ));
        }
        if !self.argon2.meets_owasp_minimum() && !self.insecure_dev {
            return Err(ConfigError::new(
                "PALISADE_ARGON2",
                "below the OWASP minimum (memory_kib >= 19456, iterations >= 2); set PALISADE_INSECURE_DEV=true only for development",
            ));
        }
        let master_key = match self.master_key {
            Some(k) if k.trim().is_empty() => None,
            Some(k) => Some(Secret::new(k)),
            None => None,
        };
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_concurrency = self.hash_concurrency.unwrap_or(cores).max(1);
        if let Err((field, reason)) = self.attempt_limits.validate() {
            return Err(ConfigError::new(
                &format!("PALISADE_ATTEMPT_LIMITS__{}", field.to_uppercase()),
                reason,
            ));
        }
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| p.parse::<IpCidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ConfigError::new("PALISADE_TRUSTED_PROXIES", e))?;
        self.tokens.validate().map_err(|(field, reason)| {
            ConfigError::new(
                &format!("PALISADE_TOKENS__{}", field.to_uppercase()),
                reason,
            )
        })?;
        self.dpop.validate().map_err(|(field, reason)| {
            ConfigError::new(&format!("PALISADE_DPOP__{}", field.to_uppercase()), reason)
        })?;
        let key_policy = self
            .keys
            .to_policy([
                chrono::Duration::seconds(self.tokens.access_token_ttl_secs),
                chrono::Duration::seconds(self.tokens.id_token_ttl_secs),
            ])
            .map_err(|e| {
                let setting = match e.field {
                    Some(field) => format!("PALISADE_KEYS__{}", field.to_uppercase()),
                    None => "PALISADE_KEYS".to_owned(),
                };
                ConfigError::new(&setting, e.reason)
            })?;
        // The embedded default on a laptop is open; anything reachable from elsewhere is not.
        let registration = self
            .registration
            .to_registration(bind.ip().is_loopback())
            .map_err(|(field, reason)| {
                ConfigError::new(
                    &format!("PALISADE_REGISTRATION__{}", field.to_uppercase()),
                    reason,
                )
            })?;
        self.device.validate().map_err(|(field, reason)| {
            ConfigError::new(
                &format!("PALISADE_DEVICE__{}", field.to_uppercase()),
                reason,
            )
        })?;
        let tls = check_transport(&self.tls, self.behind_tls_proxy, &issuer, bind)?;
        self.par.validate().map_err(|(field, reason)| {
            ConfigError::new(&format!("PALISADE_PAR__{}", field.to_uppercase()), reason)
        })?;
        let resources = palisade_flow::resource::ResourceRegistry::from_settings(&self.resources)
            .map_err(|(index, reason)| {
            ConfigError::new(&format!("resources[{index}]"), reason)
        })?;
        self.client_id_metadata_documents
            .validate(&resources)
            .map_err(|(field, reason)| {
                ConfigError::new(
                    &format!(
                        "PALISADE_CLIENT_ID_METADATA_DOCUMENTS__{}",
                        field.to_uppercase()
                    ),
                    reason,
                )
            })?;
        Ok(Settings {
            issuer,
            bind,
            data_dir: self.data_dir,
            database_url,
            redis_url,
            redis_key_prefix: self.redis_key_prefix,
            redis_ca_file,
            redis_sentinel_password,
            database_pool_size: self.database_pool_size,
            storage_timeout: std::time::Duration::from_millis(self.storage_timeout_ms),
            database_statement_timeout: (self.database_statement_timeout_ms > 0)
                .then(|| std::time::Duration::from_millis(self.database_statement_timeout_ms)),
            ephemeral: palisade_store::InProcessOptions {
                max_entries: self.ephemeral_max_entries,
                max_bytes: self.ephemeral_max_bytes,
            },
            log_format: self.log_format,
            log_filter: self.log_filter,
            workers: self.workers.unwrap_or(cores).max(1),
            max_form_bytes: self.max_form_bytes,
            max_json_bytes: self.max_json_bytes,
            shutdown_timeout_secs: self.shutdown_timeout_secs,
            drain_grace_secs: self.drain_grace_secs,
            readiness_pool_exhausted_secs: self.readiness_pool_exhausted_secs,
            argon2: self.argon2,
            hash_concurrency,
            hash_queue: self
                .hash_queue
                .unwrap_or(hash_concurrency.saturating_mul(2)),
            attempt_limits: self.attempt_limits,
            trusted_proxies,
            insecure_dev: self.insecure_dev,
            master_key,
            master_keys_previous: self.master_keys_previous.into_secrets(),
            tokens: self.tokens,
            key_policy,
            registration,
            tls,
            behind_tls_proxy: self.behind_tls_proxy,
            client_assertion_allow_token_endpoint_audience: self
                .client_assertion_allow_token_endpoint_audience,
            mfa_required: self.mfa_required,
            device: self.device,
            par: self.par.to_policy(),
            resources,
            client_id_metadata_documents: self.client_id_metadata_documents,
            dpop: self.dpop,
            console: self.console,
        })
    }
}

/// The Redis address the three Redis settings make together (docs/deployment.md, "Redis high
/// availability"); each refusal names its setting and never the URL (it may hold a password).
fn redis_address(
    url: Option<&str>,
    ca_file: Option<&Path>,
    sentinel_password: Option<&Secret>,
) -> Result<Option<palisade_store::RedisAddress>, ConfigError> {
    let Some(url) = url else {
        if ca_file.is_some() {
            return Err(ConfigError::new(
                "PALISADE_REDIS_CA_FILE",
                "set without PALISADE_REDIS_URL",
            ));
        }
        if sentinel_password.is_some() {
            return Err(ConfigError::new(
                "PALISADE_REDIS_SENTINEL_PASSWORD",
                "set without PALISADE_REDIS_URL",
            ));
        }
        return Ok(None);
    };
    let mut address = palisade_store::RedisAddress::parse(url)
        .map_err(|e| ConfigError::new("PALISADE_REDIS_URL", e.to_string()))?;
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| {
            ConfigError::new(
                "PALISADE_REDIS_CA_FILE",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        address = address
            .with_ca_pem(pem)
            .map_err(|e| ConfigError::new("PALISADE_REDIS_CA_FILE", e.to_string()))?;
    }
    if let Some(password) = sentinel_password {
        address = address
            .with_sentinel_password(password.expose().to_owned())
            .map_err(|e| ConfigError::new("PALISADE_REDIS_SENTINEL_PASSWORD", e.to_string()))?;
    }
    Ok(Some(address))
}

/// Transport security (docs/threat-model.md HD-01): TLS files come in pairs and must load; an
/// https-only deployment never listens in clear on a reachable address by accident.
fn check_transport(
    tls: &TlsSettings,
    behind_tls_proxy: bool,
    issuer: &Url,
    bind: SocketAddr,
) -> Result<Option<crate::tls::TlsFiles>, ConfigError> {
    let files = match (&tls.cert, &tls.key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
        }),
        (Some(_), None) => {
            return Err(ConfigError::new(
                "PALISADE_TLS__KEY",
                "tls.cert is set, so tls.key must be too",
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "PALISADE_TLS__CERT",
                "tls.key is set, so tls.cert must be too",
            ));
        }
    };
    if let Some(files) = &files {
        crate::tls::server_config(files).map_err(|e| ConfigError::new(e.setting, e.reason))?;
        if issuer.scheme() != "https" {
            return Err(ConfigError::new(
                "PALISADE_ISSUER",
                "must be an https URL when TLS is configured",
            ));
        }
    }
    if files.is_none() && !behind_tls_proxy && !bind.ip().is_loopback() {
        return Err(ConfigError::new(
            "PALISADE_BIND",
            format!(
                "{bind} is not a loopback address and TLS is not configured: set PALISADE_TLS__CERT and PALISADE_TLS__KEY, or PALISADE_BEHIND_TLS_PROXY=true when a TLS-terminating proxy is in front"
            ),
        ));
    }
    if !bind.ip().is_loopback() && issuer.scheme() != "https" {
        return Err(ConfigError::new(
            "PALISADE_ISSUER",
            format!(
                "must be an https URL when binding the non-loopback address {bind} (PALISADE_BIND)"
            ),
        ));
    }
    Ok(files)
}

fn parse_issuer(raw: &str) -> Result<Url, ConfigError> {
    const SETTING: &str = "PALISADE_ISSUER";
    let url = Url::parse(raw).map_err(|e| ConfigError::new(SETTING, format!("not a URL ({e})")))?;
    // OIDC Discovery §3 / RFC 8414 §2: https, no query, no fragment.
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            SETTING,
            "an issuer has no query and no fragment",
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback_host(&url) => {}
        "http" => {
            return Err(ConfigError::new(
                SETTING,
                "must be https unless the host is a loopback address",
            ));
        }
        _ => return Err(ConfigError::new(SETTING, "must be an https URL")),
    }
    if url.host().is_none() {
        return Err(ConfigError::new(SETTING, "must have a host"));
    }
    Ok(url)
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

/// Creates the data directory readable by its owner only (0700): it holds the SQLite database
/// (password hashes) and the master key file. An existing directory is left as it is.
pub fn create_data_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// The issuer without a trailing slash, for building endpoint URLs.
pub fn issuer_base(issuer: &Url) -> String {
    issuer.as_str().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_give_the_embedded_shape() {
        let s = Settings::defaults_with(|_| {}).unwrap();
        assert_eq!(s.issuer.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(s.database_url.to_string(), "sqlite://./data/palisade.db");
        assert!(s.redis_url.is_none());
        assert_eq!(s.argon2, Argon2Settings::default());
        assert_eq!(
            s.database_statement_timeout,
            Some(std::time::Duration::from_secs(5))
        );
        // The documented defaults (docs/configuration.md), now the storage libraries'.
        assert_eq!(s.storage_timeout, std::time::Duration::from_secs(2));
        assert_eq!(s.ephemeral.max_entries, 100_000);
        assert_eq!(s.ephemeral.max_bytes, 64 * 1024 * 1024);
        assert_eq!(s.tokens.code_ttl_secs, 60);
        assert_eq!(s.registration.max_per_minute, 20);
        assert_eq!(s.drain_grace_secs, 5);
        assert_eq!(s.readiness_pool_exhausted_secs, 10);
    }

    #[test]
    fn the_drain_grace_and_the_pool_exhaustion_bound_are_bounded() {
        let cases = [
            (301, 10, "PALISADE_DRAIN_GRACE_SECS"),
            (5, 0, "PALISADE_READINESS_POOL_EXHAUSTED_SECS"),
            (5, 3601, "PALISADE_READINESS_POOL_EXHAUSTED_SECS"),
        ];
        for (drain_grace_secs, readiness_pool_exhausted_secs, setting) in cases {
            let raw = RawSettings {
                drain_grace_secs,
                readiness_pool_exhausted_secs,
                ..RawSettings::default()
            };
            assert_eq!(raw.validate().unwrap_err().setting, setting);
        }
        let no_grace = RawSettings {
            drain_grace_secs: 0,
            ..RawSettings::default()
        };
        assert_eq!(no_grace.validate().unwrap().drain_grace_secs, 0);
    }

    #[test]
    fn client_assertions_name_the_issuer_only_unless_the_operator_allows_the_token_endpoint() {
        use palisade_flow::client_assertion::AssertionAudience;
        let default = Settings::defaults_with(|_| {}).unwrap();
        assert_eq!(
            default.token_policy().client_assertion_audience,
            AssertionAudience::IssuerOnly
        );
        let allowed = Settings::defaults_with(|o| {
            o.client_assertion_allow_token_endpoint_audience(true);
        })
        .unwrap();
        assert_eq!(
            allowed.token_policy().client_assertion_audience,
            AssertionAudience::IssuerOrTokenEndpoint
        );
        // The lifetimes still come from the tokens section.
        assert_eq!(
            allowed.token_policy().code_ttl,
            default.token_policy().code_ttl
        );
    }

    #[test]
    fn the_admin_console_needs_a_second_factor_unless_the_file_says_otherwise() {
        assert!(
            Settings::defaults_with(|_| {})
                .unwrap()
                .token_policy()
                .admin_console_requires_mfa
        );
        let read = |toml: &str| {
            Figment::from(Serialized::defaults(RawSettings::default()))
                .merge(Toml::string(toml))
                .extract::<RawSettings>()
                .ok()
        };
        let off = read("[console]\nadmin_requires_second_factor = false\n").unwrap();
        assert!(
            !off.validate()
                .unwrap()
                .token_policy()
                .admin_console_requires_mfa
        );
        assert!(read("[console]\nadmin_requires_mfa = false\n").is_none());
        let overridden = Settings::defaults_with(|o| {
            o.console_admin_requires_second_factor(false);
        })
        .unwrap();
        assert!(!overridden.token_policy().admin_console_requires_mfa);
    }

    #[test]
    fn par_and_resources_are_read_from_the_file_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("palisade.toml");
        std::fs::write(
            &path,
            "[par]\nrequest_uri_ttl_secs = 30\nrequired = true\n\n\
             [[resources]]\nuri = \"https://api.example/\"\nscopes = [\"read\"]\n",
        )
        .unwrap();
        // The file alone: `Settings::load` would also read the environment, where the test
        // run's own PALISADE_TEST_* variables live.
        let raw: RawSettings = Figment::from(Serialized::defaults(RawSettings::default()))
            .merge(Toml::file_exact(&path))
            .extract()
            .unwrap();
        let policy = raw.validate().unwrap().token_policy();
        assert_eq!(policy.par.request_uri_ttl, chrono::Duration::seconds(30));
        assert!(policy.par.required);
        assert!(!policy.resources.is_empty());
        assert!(!Settings::defaults_with(|_| {}).unwrap().par.required);

        let setting = |uri: &str| palisade_flow::resource::ResourceSetting {
            uri: uri.into(),
            scopes: vec!["read".into()],
        };
        for resources in [
            vec![setting("/relative")],
            vec![setting("https://api.example/#f")],
            vec![setting("https://a.example/"), setting("https://a.example/")],
        ] {
            let raw = RawSettings {
                resources,
                ..RawSettings::default()
            };
            assert!(
                raw.validate()
                    .unwrap_err()
                    .setting
                    .starts_with("resources[")
            );
        }
        let raw = RawSettings {
            par: palisade_flow::par::ParSettings {
                request_uri_ttl_secs: 0,
                required: false,
            },
            ..RawSettings::default()
        };
        assert_eq!(
            raw.validate().unwrap_err().setting,
            "PALISADE_PAR__REQUEST_URI_TTL_SECS"
        );
    }

    #[test]
    fn a_zero_statement_timeout_turns_it_off() {
        let raw = RawSettings {
            database_statement_timeout_ms: 0,
            ..RawSettings::default()
        };
        let s = raw.clone().validate().unwrap();
        assert_eq!(s.database_statement_timeout, None);
        assert_eq!(s.pool_options(3).statement_timeout, None);
        assert_eq!(s.pool_options(3).max_size, 3);
        let too_long = RawSettings {
            database_statement_timeout_ms: i32::MAX as u64 + 1,
            ..raw
        };
        assert_eq!(
            too_long.validate().unwrap_err().setting,
            "PALISADE_DATABASE_STATEMENT_TIMEOUT_MS"
        );
    }

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        let cases = [
            ("https://id.example.com", true),
            ("http://127.0.0.1:8080", true),
            ("http://[::1]:8080", true),
            ("http://localhost:8080", true),
            ("http://id.example.com", false),
            ("https://id.example.com/?x=1", false),
            ("https://id.example.com/#frag", false),
            ("ftp://id.example.com", false),
            ("not a url", false),
        ];
        for (issuer, ok) in cases {
            let r = Settings::defaults_with(|o| {
                o.issuer(issuer);
            });
            assert_eq!(r.is_ok(), ok, "{issuer}");
            if let Err(e) = r {
                assert_eq!(e.setting, "PALISADE_ISSUER");
            }
        }
    }

    #[test]
    fn weak_argon2_parameters_need_the_insecure_dev_flag() {
        let weak = Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let e = Settings::defaults_with(|o| {
            o.argon2(weak);
        })
        .unwrap_err();
        assert_eq!(e.setting, "PALISADE_ARGON2");
        assert!(
            Settings::defaults_with(|o| {
                o.argon2(weak).insecure_dev(true);
            })
            .is_ok()
        );
    }

    #[test]
    fn a_non_loopback_bind_needs_tls_or_a_tls_proxy() {
        let e = Settings::defaults_with(|o| {
            o.bind("0.0.0.0:8080");
        })
        .unwrap_err();
        assert_eq!(e.setting, "PALISADE_BIND");
        let behind_proxy = Settings::defaults_with(|o| {
            o.bind("0.0.0.0:8080")
                .issuer("https://id.example.com")
                .behind_tls_proxy(true);
        })
        .unwrap();
        assert!(behind_proxy.sends_hsts());
        let loopback = Settings::defaults_with(|o| {
            o.behind_tls_proxy(true);
        })
        .unwrap();
        assert!(
            !loopback.sends_hsts(),
            "an http issuer is never told to browsers as HSTS"
        );
    }

    #[test]
    fn tls_files_come_in_pairs_and_must_load() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let mut raw = RawSettings {
            issuer: "https://127.0.0.1:8443".into(),
            ..RawSettings::default()
        };
        raw.tls.cert = Some(missing.clone());
        assert_eq!(
            raw.clone().validate().unwrap_err().setting,
            "PALISADE_TLS__KEY"
        );
        raw.tls.key = Some(missing);
        assert_eq!(raw.validate().unwrap_err().setting, "PALISADE_TLS__CERT");
    }

    #[test]
    fn trusted_proxies_and_attempt_limits_are_checked_at_start_up() {
        let mut raw = RawSettings {
            trusted_proxies: vec!["10.0.0.0/8".into(), "2001:db8::1".into()],
            ..RawSettings::default()
        };
        let s = raw.clone().validate().unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
        assert_eq!(s.hash_queue, s.hash_concurrency * 2);
        raw.trusted_proxies = vec!["10.0.0.0/40".into()];
        assert_eq!(
            raw.clone().validate().unwrap_err().setting,
            "PALISADE_TRUSTED_PROXIES"
        );
        raw.trusted_proxies = Vec::new();
        raw.attempt_limits.per_ip = 0;
        assert_eq!(
            raw.validate().unwrap_err().setting,
            "PALISADE_ATTEMPT_LIMITS__PER_IP"
        );
    }

    #[test]
    fn the_device_settings_default_to_rfc_8628s_and_are_bounded() {
        let s = RawSettings::default().validate().unwrap();
        let device = s.token_policy().device;
        assert_eq!(device.code_ttl, chrono::Duration::seconds(600));
        assert_eq!(device.interval, chrono::Duration::seconds(5));
        let cases = [
            (59, 5, "PALISADE_DEVICE__CODE_TTL_SECS"),
            (1801, 5, "PALISADE_DEVICE__CODE_TTL_SECS"),
            (600, 0, "PALISADE_DEVICE__INTERVAL_SECS"),
            (600, 61, "PALISADE_DEVICE__INTERVAL_SECS"),
        ];
        for (code_ttl_secs, interval_secs, setting) in cases {
            let raw = RawSettings {
                device: DeviceFlowSettings {
                    code_ttl_secs,
                    interval_secs,
                },
                ..RawSettings::default()
            };
            assert_eq!(raw.validate().unwrap_err().setting, setting);
        }
    }

    #[test]
    fn empty_urls_mean_unset_and_huge_durations_are_refused_not_a_panic() {
        let s = Settings::defaults_with(|o| {
            o.redis_url(Some(String::new()))
                .database_url(Some(" ".into()));
        })
        .unwrap();
        assert!(s.redis_url.is_none());
        assert_eq!(s.database_url.backend(), palisade_store::Backend::Sqlite);
        let e = Settings::defaults_with(|o| {
            o.tokens(TokenSettings {
                access_token_ttl_secs: i64::MAX,
                ..TokenSettings::default()
            });
        })
        .unwrap_err();
        assert_eq!(e.setting, "PALISADE_TOKENS__ACCESS_TOKEN_TTL_SECS");
    }

    #[test]
    fn the_redis_settings_are_checked_together_and_never_echo_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("not.pem");
        std::fs::write(&not_pem, "hunter2").unwrap();
        let missing = dir.path().join("missing.pem");
        let raw =
            |url: Option<&str>, ca: Option<&Path>, sentinel_password: Option<&str>| RawSettings {
                redis_url: url.map(str::to_owned),
                redis_ca_file: ca.map(Path::to_path_buf),
                redis_sentinel_password: sentinel_password.map(str::to_owned),
                ..RawSettings::default()
            };
        let cases = [
            (
                raw(Some("http://:hunter2@h"), None, None),
                "PALISADE_REDIS_URL",
            ),
            (
                raw(Some("redis+sentinel://:hunter2@h1,h2"), None, None),
                "PALISADE_REDIS_URL",
            ),
            (
                raw(Some("redis://:hunter2@h"), Some(&not_pem), None),
                "PALISADE_REDIS_CA_FILE",
            ),
            (
                raw(Some("rediss://:hunter2@h"), Some(&not_pem), None),
                "PALISADE_REDIS_CA_FILE",
            ),
            (
                raw(Some("rediss://:hunter2@h"), Some(&missing), None),
                "PALISADE_REDIS_CA_FILE",
            ),
            (raw(None, Some(&missing), None), "PALISADE_REDIS_CA_FILE"),
            (
                raw(Some("redis://:hunter2@h"), None, Some("pw")),
                "PALISADE_REDIS_SENTINEL_PASSWORD",
            ),
        ];
        for (raw, setting) in cases {
            let e = raw.validate().unwrap_err();
            assert_eq!(e.setting, setting, "{e}");
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }

        let s = raw(
            Some("redis+sentinel://:pw@10.0.0.1:26379,10.0.0.2/mymaster"),
            None,
            Some("sentinel-pw"),
        )
        .validate()
        .unwrap();
        let address = s.redis_address().unwrap().unwrap();
        assert!(address.is_sentinel());
        assert_eq!(
            address.to_string(),
            "redis+sentinel://:***@10.0.0.1:26379,10.0.0.2/mymaster"
        );
        assert!(!format!("{s:?}").contains("sentinel-pw"));
    }

    #[test]
    fn database_urls_select_a_known_backend() {
        let e = Settings::defaults_with(|o| {
            o.database_url(Some("mysql://x".into()));
        })
        .unwrap_err();
        assert_eq!(e.setting, "PALISADE_DATABASE_URL");
    }
}
