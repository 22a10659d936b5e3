//! Building and running the HTTP server.

use crate::config::{Settings, issuer_base};
use crate::cookies::CookiePolicy;
use crate::storage::Storage;
use crate::{cors, metrics, request_log, routes, security_headers};
use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpServer, web};
use metrics_exporter_prometheus::PrometheusHandle;
use palisade_core::ports::{EphemeralStore, TokenSigner};
use palisade_core::{Clock, OsSecrets};
use palisade_flow::AuthorizationServer;
use palisade_flow::guard::CredentialGuard;
use palisade_flow::password::PasswordHasher;
use palisade_keys::{KeyManager, Keys, MasterKey, MasterKeySet};
use palisade_store::SqlStore;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

/// Everything a route may need, shared by all workers.
pub struct AppState {
    pub settings: Settings,
    pub sql: SqlStore,
    pub ephemeral: Arc<dyn EphemeralStore>,
    pub clock: Arc<dyn Clock>,
    pub passwords: PasswordHasher,
    pub metrics: PrometheusHandle,
    pub engine: AuthorizationServer,
    /// Administration (users, roles, clients, audit): what the admin API calls.
    pub admin: palisade_flow::admin::Admin,
    pub key_admin: palisade_flow::admin::KeyAdmin,
    pub keys: Keys,
    pub key_manager: Arc<KeyManager>,
    pub key_policy_cache_control: String,
    pub discovery_document: web::Bytes,
    pub cookies: CookiePolicy,
    /// The web origins CORS allows (`cors.rs`), derived from the clients.
    pub cors_origins: crate::cors_origins::CorsOrigins,
    /// Whether this node hears of changes made elsewhere (`change_feed.rs`).
    pub change_feed: crate::change_feed::ChangeFeedStatus,
    /// Set on SIGTERM (shutdown.rs): not ready, connections closed after each response.
    pub drain: crate::drain::Drain,
    /// What `/readyz` answers (readiness/mod.rs).
    pub readiness: crate::readiness::Readiness,
}

impl AppState {
    /// The absolute URL of one of our endpoints.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", issuer_base(&self.settings.issuer))
    }
}

/// A bound, not yet running server.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
    rotation_task: tokio::task::JoinHandle<()>,
    purge_task: tokio::task::JoinHandle<()>,
}

/// The master keys from the configuration, or the embedded default's key file.
/// The engine's client ID metadata document resolver, when the operator turned it on.
fn client_documents(
    settings: &Settings,
) -> anyhow::Result<Option<Arc<palisade_flow::client_id_document::ClientDocuments>>> {
    let documents = &settings.client_id_metadata_documents;
    if !documents.enabled {
        return Ok(None);
    }
    let registration = settings
        .registration
        .client_policy(&settings.key_policy.enabled_algorithms);
    Ok(Some(Arc::new(
        palisade_flow::client_id_document::ClientDocuments {
            fetcher: Arc::new(crate::client_documents::HttpDocumentFetcher::new(
                documents,
            )?),
            policy: documents.policy(registration),
        },
    )))
}

pub fn master_keys(settings: &Settings) -> anyhow::Result<MasterKeySet> {
    let current = match &settings.master_key {
        Some(encoded) => MasterKey::from_base64(encoded.expose())
            .map_err(|e| anyhow::anyhow!("invalid PALISADE_MASTER_KEY: {e}"))?,
        None => {
            if settings.database_url.backend() != palisade_store::Backend::Sqlite {
                tracing::warn!(
                    "PALISADE_MASTER_KEY is not set: using a key file in the data directory; every node sharing this database needs the same key"
                );
            }
            crate::config::create_data_dir(&settings.data_dir)?;
            MasterKey::load_or_create(&settings.data_dir.join("master.key"))?
        }
    };
    let older = settings
        .master_keys_previous
        .iter()
        .map(|k| MasterKey::from_base64(k.expose()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("invalid PALISADE_MASTER_KEYS_PREVIOUS: {e}"))?;
    Ok(MasterKeySet::new(current, older)?)
}

/// The key manager for this node over the shared repository.
pub fn key_manager(
    settings: &Settings,
    sql: &SqlStore,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<KeyManager> {
    let node_id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4());
    Ok(KeyManager::new(
        Arc::new(sql.clone()),
        clock,
        settings.key_policy.clone(),
        master_keys(settings)?,
        node_id,
    )?)
}

impl Application {
    /// Opens storage, runs migrations, loads (or creates) signing keys and binds
    /// `settings.bind` (port 0 picks a free port).
    pub async fn build(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.bind)
            .map_err(|e| anyhow::anyhow!("cannot bind {} (PALISADE_BIND): {e}", settings.bind))?;
        Self::build_with_listener(settings, clock, listener).await
    }

    /// As [`Self::build`], on a listener the caller bound (tests bind first to learn the port
    /// the issuer must name).
    pub async fn build_with_listener(
        settings: Settings,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
    ) -> anyhow::Result<Self> {
        let storage = Storage::open(&settings).await?;
        let applied = storage.sql.migrate().await?;
        if !applied.is_empty() {
            tracing::info!(migrations = ?applied, "applied database migrations");
        }
        let passwords = PasswordHasher::new(settings.argon2, settings.hash_concurrency)?
            .with_queue(settings.hash_queue);
        let metrics = metrics::recorder().map_err(anyhow::Error::msg)?;
        let key_manager = Arc::new(key_manager(&settings, &storage.sql, clock.clone())?);
        key_manager.ensure_ready(Duration::from_secs(30)).await?;
        let keys = key_manager.keys();
        let sql = storage.sql.clone();
        // Client lookups on the hot path come from memory (client_cache.rs), and so do the
        // CORS origins derived from all clients (cors_origins.rs).
        let cached_clients = Arc::new(crate::client_cache::CachedClients::new(
            Arc::new(sql.clone()),
            clock.clone(),
        ));
        let cors_origins =
            crate::cors_origins::CorsOrigins::new(cached_clients.clone(), clock.clone());
        // Changes made anywhere reach this node's key ring and client cache (change_feed.rs).
        let change_feed = crate::change_feed::start(
            &settings,
            crate::change_feed::ChangeTargets {
                keys: key_manager.clone(),
                clients: cached_clients.clone(),
            },
        )?;
        let engine = AuthorizationServer {
            issuer: issuer_base(&settings.issuer),
            policy: settings.token_policy(),
            clients: cached_clients,
            users: Arc::new(sql.clone()),
            roles: Arc::new(sql.clone()),
            consents: Arc::new(sql.clone()),
            refresh_tokens: Arc::new(sql.clone()),
            factors: Arc::new(sql.clone()),
            sealer: Arc::new(master_keys(&settings)?),
            passkeys: palisade_flow::mfa::Passkeys::for_issuer(
                settings.issuer.as_str(),
                settings.issuer.host_str().unwrap_or("Palisade"),
            )
            .map(Arc::new),
            ephemeral: storage.ephemeral.clone(),
            signer: Arc::new(keys.clone()) as Arc<dyn TokenSigner>,
            clock: clock.clone(),
            secrets: Arc::new(OsSecrets),
            passwords: passwords.clone(),
            issuance_audit: palisade_flow::audit::AuditBatcher::spawn(Arc::new(sql.clone())),
            client_documents: client_documents(&settings)?,
            session_index: Arc::new(sql.clone()),
            audit_log: Arc::new(sql.clone()),
            guard: CredentialGuard::new(
                settings.attempt_limits,
                storage.ephemeral.clone(),
                Arc::new(sql.clone()),
                Arc::new(sql.clone()),
                clock.clone(),
            ),
        };
        let discovery_document = web::Bytes::from(routes::discovery::build(
            &engine.issuer,
            &settings.key_policy.enabled_algorithms,
            settings.registration.is_enabled(),
            settings.client_id_metadata_documents.enabled,
            settings.par.required,
        )?);
        let admin = storage.admin(
            &settings,
            passwords.clone(),
            clock.clone(),
            Some(engine.clients.clone()),
        );
        let key_admin = crate::storage::key_admin(
            &sql,
            key_manager.clone(),
            engine.sealer.clone(),
            clock.clone(),
        );
        let drain = crate::drain::Drain::default();
        let readiness = crate::readiness::Readiness::new(
            crate::readiness::dependency::Probes {
                database: sql.clone(),
                ephemeral: storage.ephemeral.clone(),
                change_feed: change_feed.clone(),
            },
            drain.clone(),
            keys.clone(),
            settings.key_policy.enabled_algorithms.clone(),
            Duration::from_secs(settings.readiness_pool_exhausted_secs),
        );
        let rotation_task = key_manager.spawn_rotation_task();
        let purge_task = engine.spawn_purge_task(admin.clone());
        let state = web::Data::new(AppState {
            cookies: CookiePolicy {
                secure: settings.is_https(),
            },
            key_policy_cache_control: settings.key_policy.jwks_cache_control(),
            settings,
            sql,
            ephemeral: storage.ephemeral,
            clock,
            passwords,
            metrics,
            engine,
            admin,
            key_admin,
            keys,
            key_manager,
            discovery_document,
            cors_origins,
            change_feed,
            drain,
            readiness,
        });
        Self::serve(state, listener, [rotation_task, purge_task])
    }

    fn serve(
        state: web::Data<AppState>,
        listener: TcpListener,
        [rotation_task, purge_task]: [tokio::task::JoinHandle<()>; 2],
    ) -> anyhow::Result<Self> {
        let settings = &state.settings;
        let port = listener.local_addr()?.port();
        let form_limit = settings.max_form_bytes;
        let json_limit = settings.max_json_bytes;
        let shared = state.clone();
        let hsts = settings.sends_hsts();
        let tls = settings
            .tls
            .as_ref()
            .map(crate::tls::server_config)
            .transpose()
            .map_err(|e| anyhow::anyhow!("{}: {e}", e.setting))?;
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(form_limit))
                // Innermost: the redirect it makes gets every header the others add.
                .wrap(from_fn(
                    routes::console::sign_in::send_signed_out_to_sign_in,
                ))
                .wrap(Compress::default())
                // Outside the route table: it answers CORS preflights itself (cors.rs).
                .wrap(from_fn(cors::handle))
                .wrap(security_headers::default_headers(hsts))
                .wrap(from_fn(request_log::observe))
                // Outermost: every response of a draining node closes its connection.
                .wrap(from_fn(crate::drain::close_connections_while_draining))
                .configure(|cfg| routes::configure(cfg, json_limit))
        })
        .workers(settings.workers)
        .shutdown_timeout(settings.shutdown_timeout_secs)
        // Signals are shutdown.rs's: SIGTERM drains before the stop.
        .disable_signals();
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        }
        .run();
        Ok(Self {
            port,
            server,
            state,
            rotation_task,
            purge_task,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Self::handle`] (actix stops accepting, finishes
    /// in-flight requests within `shutdown_timeout_secs`, then returns); signals are
    /// shutdown.rs's.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.rotation_task.abort();
        self.purge_task.abort();
        result
    }
}
