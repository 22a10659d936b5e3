//! Which Redis server takes the ephemeral store's commands.
//!
//! With one server's URL, that server: the connection manager reconnects to it by itself.
//!
//! With Sentinel, the primary the sentinels name now. Every sentinel is asked at once, each
//! under the connect timeout, and the first answer wins, so a dead sentinel costs nothing; the
//! redis crate confirms the answer with `ROLE` on the server itself before it is used, so
//! commands never go to a replica that a sentinel still takes for the primary. A follower task
//! asks again every second, and at once when a command fails in a way a failover explains (the
//! connection refused or lost, a timeout, `READONLY` from a demoted primary); when the answer
//! is another server, the store switches to it. A failed command is not retried here: it
//! answered `Unavailable`, and the caller has already failed closed.

use super::redis_address::{RedisAddress, SentinelAddress, Target};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use palisade_core::StoreError;
use palisade_core::ports::StoreResult;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    Client, ConnectionAddr, ErrorKind, RedisError, ServerErrorKind, TlsCertificates, TlsMode,
};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// How often the follower asks the sentinels when nothing went wrong.
const RECHECK_EVERY: Duration = Duration::from_secs(1);
/// The least time between two questions, so a burst of failing commands asks ten times a
/// second at most.
const LEAST_GAP: Duration = Duration::from_millis(100);

/// The connection that commands go through. Clones share it.
#[derive(Clone)]
pub(crate) enum Primary {
    Fixed(ConnectionManager),
    Followed(Arc<Followed>),
}

/// The primary as last named by the sentinels, and the follower's wake-up call.
pub(crate) struct Followed {
    current: RwLock<Current>,
    suspicion: Notify,
}

#[derive(Clone)]
struct Current {
    address: ConnectionAddr,
    connection: ConnectionManager,
}

impl Primary {
    /// Connects to the server `address` names, or to the primary its sentinels name, within
    /// `connect_timeout`.
    pub(crate) async fn connect(
        address: &RedisAddress,
        config: ConnectionManagerConfig,
        connect_timeout: Duration,
    ) -> StoreResult<Self> {
        match address.target() {
            Target::Server(info) => {
                let client = match address.ca_pem() {
                    Some(pem) => Client::build_with_tls(info.clone(), trusting(pem)),
                    None => Client::open(info.clone()),
                }
                .map_err(|e| StoreError::Internal(Box::new(e)))?;
                let connection = connect_manager(client, config, connect_timeout).await?;
                Ok(Self::Fixed(connection))
            }
            Target::Sentinel(sentinel) => {
                let mut sentinels = Sentinels::new(
                    sentinel,
                    address.ca_pem(),
                    address.sentinel_password(),
                    connect_timeout,
                )?;
                let client = sentinels.primary().await?;
                let current = Current {
                    address: client.get_connection_info().addr().clone(),
                    connection: connect_manager(client, config.clone(), connect_timeout).await?,
                };
                let followed = Arc::new(Followed {
                    current: RwLock::new(current),
                    suspicion: Notify::new(),
                });
                tokio::spawn(follow(
                    Arc::downgrade(&followed),
                    sentinels,
                    config,
                    connect_timeout,
                ));
                Ok(Self::Followed(followed))
            }
        }
    }

    /// The connection to send the next command on.
    pub(crate) fn connection(&self) -> ConnectionManager {
        match self {
            Self::Fixed(connection) => connection.clone(),
            Self::Followed(followed) => followed.current().connection,
        }
    }

    /// Tells the follower that a command failed with `error` (or timed out, `None`); if a
    /// failover could explain it, the sentinels are asked again now.
    pub(crate) fn observe_failure(&self, error: Option<&RedisError>) {
        if let Self::Followed(followed) = self
            && error.is_none_or(failover_explains)
        {
            followed.suspicion.notify_one();
        }
    }
}

impl Followed {
    fn current(&self) -> Current {
        // A panic elsewhere cannot leave a half-written `Current`: replace is one assignment.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn replace(&self, current: Current) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = current;
    }
}

/// Lost or refused connections, and a demoted primary, are what a failover looks like.
fn failover_explains(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_unrecoverable_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
        )
}

/// Asks the sentinels again whenever told to (and every [`RECHECK_EVERY`]), and moves the
/// store to the primary they name. Ends when the store is dropped.
async fn follow(
    followed: Weak<Followed>,
    mut sentinels: Sentinels,
    config: ConnectionManagerConfig,
    connect_timeout: Duration,
) {
    loop {
        {
            let Some(followed) = followed.upgrade() else {
                return;
            };
            tokio::select! {
                () = followed.suspicion.notified() => {}
                () = tokio::time::sleep(RECHECK_EVERY) => {}
            }
        }
        match sentinels.primary().await {
            Ok(client) => {
                let Some(shared) = followed.upgrade() else {
                    return;
                };
                let address = client.get_connection_info().addr().clone();
                if address != shared.current().address {
                    match connect_manager(client, config.clone(), connect_timeout).await {
                        Ok(connection) => {
                            tracing::warn!(
                                primary = %address,
                                "Sentinel names a new Redis primary; the ephemeral store uses it now"
                            );
                            shared.replace(Current {
                                address,
                                connection,
                            });
                        }
                        Err(e) => tracing::warn!(
                            primary = %address,
                            error = %e,
                            "cannot connect to the Redis primary Sentinel names; asking again"
                        ),
                    }
                }
            }
            // Between a primary's failure and a replica's promotion no sentinel names a
            // healthy primary; that is expected for the length of the failover.
            Err(e) => tracing::debug!(error = %e, "no Redis primary from Sentinel yet"),
        }
        tokio::time::sleep(LEAST_GAP).await;
    }
}

/// A connection manager on `client` that has answered a `PING`, so a server that wants a
/// password the URL lacks stops start-up instead of failing every command later.
async fn connect_manager(
    client: Client,
    config: ConnectionManagerConfig,
    connect_timeout: Duration,
) -> StoreResult<ConnectionManager> {
    let connected = async {
        let mut connection = ConnectionManager::new_with_config(client, config).await?;
        redis::cmd("PING")
            .query_async::<()>(&mut connection)
            .await?;
        Ok::<_, RedisError>(connection)
    };
    tokio::time::timeout(connect_timeout, connected)
        .await
        .map_err(|_| StoreError::Unavailable("timed out connecting to Redis".into()))?
        .map_err(connect_error)
}

/// Redis refused the login: a wrong password (`WRONGPASS`) or none where one is needed
/// (`NOAUTH`).
pub(crate) fn is_refused_login(e: &RedisError) -> bool {
    e.kind() == ErrorKind::AuthenticationFailed || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
}

/// A refused login says so plainly (a wrong password is a configuration error, not an
/// outage); anything else about reaching Redis is `Unavailable`.
pub(crate) fn connect_error(e: RedisError) -> StoreError {
    if is_refused_login(&e) {
        StoreError::Unavailable(format!("Redis refused the username or password ({e})").into())
    } else {
        StoreError::Unavailable(Box::new(e))
    }
}

fn trusting(pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    }
}

/// One sentinel client per sentinel, so each is asked under its own deadline and one that
/// hangs cannot hold up the answer of another.
struct Sentinels {
    clients: Vec<SentinelClient>,
    timeout: Duration,
}

impl Sentinels {
    fn new(
        address: &SentinelAddress,
        ca_pem: Option<&[u8]>,
        sentinel_password: Option<&str>,
        timeout: Duration,
    ) -> StoreResult<Self> {
        let clients = address
            .sentinels
            .iter()
            .map(|(host, port)| {
                let sentinel = if address.tls {
                    ConnectionAddr::TcpTls {
                        host: host.clone(),
                        port: *port,
                        insecure: false,
                        tls_params: None,
                    }
                } else {
                    ConnectionAddr::Tcp(host.clone(), *port)
                };
                let mut builder = SentinelClientBuilder::new(
                    [sentinel],
                    &address.master,
                    SentinelServerType::Master,
                )?
                .set_client_to_redis_db(address.primary.db());
                if let Some(username) = address.primary.username() {
                    builder = builder.set_client_to_redis_username(username);
                }
                if let Some(password) = address.primary.password() {
                    builder = builder.set_client_to_redis_password(password);
                }
                if let Some(password) = sentinel_password {
                    builder = builder.set_client_to_sentinel_password(password);
                }
                if address.tls {
                    builder = builder
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure)
                        .set_client_to_redis_tls_mode(TlsMode::Secure);
                    if let Some(pem) = ca_pem {
                        builder = builder
                            .set_client_to_sentinel_certificates(trusting(pem))
                            .set_client_to_redis_certificates(trusting(pem));
                    }
                }
                builder.build()
            })
            .collect::<Result<Vec<_>, RedisError>>()
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(Self { clients, timeout })
    }

    /// A client for the primary that the first sentinel to answer names (and `ROLE` confirms).
    async fn primary(&mut self) -> StoreResult<Client> {
        let timeout = self.timeout;
        let mut lookups: FuturesUnordered<_> = self
            .clients
            .iter_mut()
            .map(|client| tokio::time::timeout(timeout, client.async_get_client()))
            .collect();
        let mut failure = None;
        while let Some(lookup) = lookups.next().await {
            match lookup {
                Ok(Ok(client)) => return Ok(client),
                // A refused password is the one failure worth naming over the others.
                Ok(Err(e)) if is_refused_login(&e) => {
                    failure = Some(StoreError::Unavailable(
                        format!(
                            "a sentinel or the Redis primary refused the username or password \
                             ({e}); the primary's are in the URL, the sentinels' is \
                             PALISADE_REDIS_SENTINEL_PASSWORD"
                        )
                        .into(),
                    ));
                }
                Ok(Err(e)) => {
                    if failure.is_none() {
                        failure = Some(StoreError::Unavailable(
                            format!("no sentinel names a usable Redis primary ({e})").into(),
                        ));
                    }
                }
                Err(_) => {
                    if failure.is_none() {
                        failure = Some(StoreError::Unavailable(
                            "no sentinel answered in time".into(),
                        ));
                    }
                }
            }
        }
        Err(failure.unwrap_or_else(|| StoreError::Internal("no sentinel is configured".into())))
    }
}
