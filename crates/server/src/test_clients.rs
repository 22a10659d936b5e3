//! A client repository for the caches' unit tests: it counts what reaches it, can be changed
//! behind a cache's back, and can be made to fail. The caches' behaviour against the real
//! database is tested over HTTP (tests/api/clients.rs, tests/api/cors.rs).

use async_trait::async_trait;
use palisade_core::StoreError;
use palisade_core::model::{
    ApplicationType, Client, ClientId, ClientType, TokenEndpointAuthMethod,
};
use palisade_core::ports::{ClientRepository, StoreResult};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Default)]
pub(crate) struct CountingClients {
    clients: Mutex<HashMap<String, Client>>,
    pub finds: AtomicUsize,
    pub lists: AtomicUsize,
    pub is_down: AtomicBool,
    /// How long a listing takes (so concurrent callers can pile up behind one).
    list_delay: Option<Duration>,
}

impl CountingClients {
    /// Each listing takes `delay`.
    pub fn with_slow_listing(delay: Duration) -> Self {
        Self {
            list_delay: Some(delay),
            ..Self::default()
        }
    }

    fn available(&self) -> StoreResult<()> {
        if self.is_down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl ClientRepository for CountingClients {
    async fn insert_client(&self, client: Client) -> StoreResult<()> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.insert(client.id.0.clone(), client);
        Ok(())
    }
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>> {
        self.finds.fetch_add(1, Ordering::SeqCst);
        self.available()?;
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        Ok(clients.get(&id.0).cloned())
    }
    async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        if let Some(delay) = self.list_delay {
            tokio::time::sleep(delay).await;
        }
        self.available()?;
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        Ok(clients.values().cloned().collect())
    }
    async fn update_client(&self, client: Client) -> StoreResult<()> {
        self.insert_client(client).await
    }
    async fn delete_client(&self, id: &ClientId) -> StoreResult<()> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.remove(&id.0);
        Ok(())
    }
}

/// A public web client named `name` with one redirect URI.
pub(crate) fn client(id: &str, name: &str, redirect_uri: &str) -> Client {
    Client {
        id: ClientId(id.into()),
        name: name.into(),
        client_type: ClientType::Public,
        application_type: ApplicationType::Web,
        secret_hash: None,
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        grant_types: vec![],
        response_types: vec![],
        redirect_uris: vec![redirect_uri.into()],
        post_logout_redirect_uris: vec![],
        scopes: vec![],
        access_token_ttl_secs: None,
        refresh_token_ttl_secs: None,
        id_token_signed_response_alg: None,
        registration_access_token_hash: None,
        jwks: None,
        require_mfa: false,
        dpop_bound_access_tokens: false,
        require_pushed_authorization_requests: false,
        resources: vec![],
        created_at: chrono::Utc::now(),
    }
}
