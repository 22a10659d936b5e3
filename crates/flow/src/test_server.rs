//! The engine over real stores for unit tests: a fresh SQL database and ephemeral store on the
//! backends the environment selects (SQLite + in-process by default, PostgreSQL + Redis with
//! `PALISADE_TEST_DATABASE_URL` / `PALISADE_TEST_REDIS_URL`), real signing keys, the manual
//! clock and cheap argon2 parameters.

use crate::guard::{AttemptLimits, CredentialGuard};
use crate::password::{Argon2Settings, PasswordHasher};
use crate::server::{AuthorizationServer, TokenPolicy};
use palisade_core::model::{
    ApplicationType, Client, ClientId, ClientType, GrantType, NewUser, TokenEndpointAuthMethod,
    User, UserId, Username,
};
use palisade_core::ports::TokenSigner;
use palisade_core::secret::OsSecrets;
use palisade_core::{ManualClock, Secret, SecretGenerator};
use palisade_keys::{KeyManager, MasterKey, MasterKeySet, RotationPolicy};
use palisade_store::testing::{EphemeralInspector, TestDatabase, TestEphemeral, sql_store};
use std::sync::Arc;

/// The engine, its clock, and the guards that clean its stores up.
pub(crate) struct TestServer {
    pub engine: AuthorizationServer,
    pub clock: ManualClock,
    /// The administration service over the same stores and clock (the consoles' tests).
    pub admin: crate::admin::Admin,
    database: TestDatabase,
    ephemeral: EphemeralInspector,
    // Cleans up a Redis namespace; none for a store made in process here.
    _ephemeral: Option<TestEphemeral>,
}

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const REDIRECT_URI: &str = "https://app.example/cb";

impl TestServer {
    pub async fn start() -> Self {
        Self::with_limits(AttemptLimits::default()).await
    }

    pub async fn with_limits(limits: AttemptLimits) -> Self {
        let ephemeral_guard = TestEphemeral::create();
        let (ephemeral, inspector) = ephemeral_guard.open_inspectable().await;
        Self::assemble(limits, Some(ephemeral_guard), ephemeral, inspector).await
    }

    /// On the in-process ephemeral store whatever the environment selects: for tests that
    /// move the store's clock (tokio's), which Redis does not follow.
    pub async fn with_in_process_store() -> Self {
        let store = Arc::new(palisade_store::InProcessStore::default());
        Self::assemble(
            AttemptLimits::default(),
            None,
            store.clone(),
            EphemeralInspector::InProcess(store),
        )
        .await
    }

    async fn assemble(
        limits: AttemptLimits,
        ephemeral_guard: Option<TestEphemeral>,
        ephemeral: Arc<dyn palisade_core::ports::EphemeralStore>,
        inspector: EphemeralInspector,
    ) -> Self {
        let (sql, database) = sql_store().await;
        let clock = ManualClock::starting_now();
        let clock_port: Arc<dyn palisade_core::Clock> = Arc::new(clock.clone());
        let master = MasterKeySet::single(MasterKey::generate().expect("master key"));
        let keys = KeyManager::new(
            Arc::new(sql.clone()),
            clock_port.clone(),
            RotationPolicy::default(),
            master.clone(),
            "test-node",
        )
        .expect("key manager");
        keys.ensure_ready(std::time::Duration::from_secs(30))
            .await
            .expect("signing keys");
        let cheap = Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let admin = crate::admin::Admin::new(crate::admin::AdminPorts {
            users: Arc::new(sql.clone()),
            roles: Arc::new(sql.clone()),
            clients: Arc::new(sql.clone()),
            client_records: Arc::new(sql.clone()),
            lockouts: Arc::new(sql.clone()),
            refresh_tokens: Arc::new(sql.clone()),
            initial_access_tokens: Arc::new(sql.clone()),
            factors: Arc::new(sql.clone()),
            audit: Arc::new(sql.clone()),
            guard: CredentialGuard::new(
                limits,
                ephemeral.clone(),
                Arc::new(sql.clone()),
                Arc::new(sql.clone()),
                clock_port.clone(),
            ),
            passwords: PasswordHasher::new(cheap, 1).expect("hasher"),
            clock: clock_port.clone(),
            secrets: Arc::new(OsSecrets),
            signing_algorithms: vec![palisade_core::ports::SigningAlgorithm::RS256],
        });
        let engine = AuthorizationServer {
            issuer: "https://id.example".into(),
            policy: TokenPolicy::default(),
            clients: Arc::new(sql.clone()),
            users: Arc::new(sql.clone()),
            roles: Arc::new(sql.clone()),
            consents: Arc::new(sql.clone()),
            refresh_tokens: Arc::new(sql.clone()),
            factors: Arc::new(sql.clone()),
            sealer: Arc::new(master),
            passkeys: crate::mfa::Passkeys::for_issuer("https://id.example", "id.example")
                .map(Arc::new),
            ephemeral: ephemeral.clone(),
            signer: Arc::new(keys.keys()) as Arc<dyn TokenSigner>,
            clock: clock_port.clone(),
            secrets: Arc::new(OsSecrets),
            passwords: PasswordHasher::new(cheap, 2)
                .expect("hasher")
                .with_queue(64),
            issuance_audit: crate::audit::AuditBatcher::spawn(Arc::new(sql.clone())),
            client_documents: None,
            session_index: Arc::new(sql.clone()),
            audit_log: Arc::new(sql.clone()),
            guard: CredentialGuard::new(
                limits,
                ephemeral,
                Arc::new(sql.clone()),
                Arc::new(sql),
                clock_port,
            ),
        };
        Self {
            engine,
            clock,
            admin,
            database,
            ephemeral: inspector,
            _ephemeral: ephemeral_guard,
        }
    }

    /// Everything the server has put at rest, as text: every row of the database and every
    /// key and value of the ephemeral store.
    pub async fn everything_at_rest(&self) -> String {
        let mut text = self.database.dump_text().await;
        for (key, value) in self.ephemeral.dump().await {
            text.push_str(&key);
            text.push('=');
            text.push_str(&String::from_utf8_lossy(&value));
            text.push('\n');
        }
        text
    }

    /// A user with [`PASSWORD`].
    pub async fn user(&self, name: &str) -> User {
        let hash = self
            .engine
            .passwords
            .hash(&Secret::new(PASSWORD))
            .await
            .expect("hash");
        self.engine
            .users
            .insert_user(NewUser {
                id: UserId(OsSecrets.token()),
                username: Username::parse(name).expect("username"),
                email: None,
                display_name: None,
                password_hash: hash,
                created_at: self.engine.clock.now(),
            })
            .await
            .expect("insert user")
    }

    /// Gives `user` a new role `role` that requires a second factor.
    pub async fn grant_role_requiring_mfa(&self, user: &User, role: &str) {
        let role = palisade_core::model::RoleName::parse(role).expect("role name");
        let roles = &self.engine.roles;
        roles
            .insert_role(palisade_core::model::Role {
                name: role.clone(),
                description: None,
                require_mfa: true,
            })
            .await
            .expect("insert role");
        roles.grant_role(&role, &user.id).await.expect("grant role");
    }

    /// An operator-made public client allowed `openid profile offline_access`.
    pub async fn client(&self) -> Client {
        let client = Client {
            id: ClientId(OsSecrets.token()),
            name: "Test App".into(),
            client_type: ClientType::Public,
            application_type: ApplicationType::Web,
            secret_hash: None,
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            response_types: vec!["code".into()],
            redirect_uris: vec![REDIRECT_URI.into()],
            post_logout_redirect_uris: vec!["https://app.example/bye".into()],
            scopes: vec!["openid".into(), "profile".into(), "offline_access".into()],
            access_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            id_token_signed_response_alg: None,
            registration_access_token_hash: None,
            jwks: None,
            require_mfa: false,
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: false,
            resources: vec![],
            created_at: self.engine.clock.now(),
        };
        self.engine
            .clients
            .insert_client(client.clone())
            .await
            .expect("insert client");
        client
    }
}
