//! Dynamic client registration, `POST /register` (RFC 7591 §3). Who may register is the
//! registration mode (docs/configuration.md):
//!
//! - `open`: anyone, at most `max_per_minute` requests per client IPv4 address or IPv6 /64,
//!   counted in the shared ephemeral store so the limit holds across nodes; over it,
//!   [`RegistrationError::RateLimited`];
//! - `token`: the request carries an initial access token (RFC 7591 §3) minted by `palisade
//!   registration token`; wrong, expired or used up: `invalid_token`;
//! - `disabled`: `access_denied`, and discovery lists no `registration_endpoint`.
//!
//! The steps, in order: the mode's gate, the metadata ([`ClientMetadata::from_request`]),
//! spending the initial access token, storing the client.

use super::{
    ClientMetadata, Registered, RegistrationPolicy, check_initial_access_token,
    spend_initial_access_token,
};
use crate::guard::prefix_of;
use crate::scope::{RESERVED_SCOPES, ScopeSet};
use crate::server::AuthorizationServer;
use palisade_core::ports::{InitialAccessTokenRepository, SigningAlgorithm};
use palisade_core::{ErrorCode, OAuthError, StoreError};
use serde_json::Value;
use std::net::IpAddr;
use std::time::Duration;

/// The window of the open-mode rate limit.
pub const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Who may register clients dynamically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationMode {
    /// Anyone, rate-limited per client IPv4 address or IPv6 /64.
    Open,
    /// Only with an initial access token (`palisade registration token`).
    Token,
    /// `POST /register` is refused and not advertised.
    Disabled,
}

impl RegistrationMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Token => "token",
            Self::Disabled => "disabled",
        }
    }
}

/// Dynamic client registration as configured (`registration.*`), its mode decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicRegistration {
    pub mode: RegistrationMode,
    /// Open mode: registration requests per client IPv4 address or IPv6 /64 per
    /// [`RATE_WINDOW`].
    pub max_per_minute: u64,
    /// Scopes beyond openid/profile/email/offline_access a self-registered client may register.
    pub allowed_scopes: Vec<String>,
}

impl DynamicRegistration {
    /// Whether `POST /register` may be used at all (and is advertised).
    pub fn is_enabled(&self) -> bool {
        self.mode != RegistrationMode::Disabled
    }

    /// What a self-registering client may ask for; `signing_algorithms` are those the server
    /// publishes keys for.
    pub fn client_policy(&self, signing_algorithms: &[SigningAlgorithm]) -> RegistrationPolicy {
        RegistrationPolicy {
            is_operator: false,
            allowed_scopes: self.allowed_scopes.clone(),
            signing_algorithms: signing_algorithms.to_vec(),
        }
    }
}

/// The `registration` section of the configuration (`PALISADE_REGISTRATION__*`), as read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationSettings {
    /// Unset: `open` when the server is bound to a loopback address, `token` otherwise.
    pub mode: Option<RegistrationMode>,
    /// Open mode: registration requests per client IPv4 address or IPv6 /64 per minute.
    pub max_per_minute: u64,
    /// Scopes beyond openid/profile/email/offline_access a self-registered client may register.
    pub allowed_scopes: Vec<String>,
}

impl Default for RegistrationSettings {
    fn default() -> Self {
        Self {
            mode: None,
            max_per_minute: 20,
            allowed_scopes: Vec::new(),
        }
    }
}

impl RegistrationSettings {
    /// The checked settings, the mode decided: unset, it is `open` only on a server bound to
    /// a loopback address. `Err((field, reason))` names the field at fault.
    pub fn to_registration(
        self,
        is_bound_to_loopback: bool,
    ) -> Result<DynamicRegistration, (&'static str, String)> {
        if self.max_per_minute == 0 {
            return Err(("max_per_minute", "must be at least 1".to_owned()));
        }
        for scope in &self.allowed_scopes {
            let is_token = ScopeSet::from_tokens([scope]).is_ok_and(|s| s.len() == 1);
            if !is_token || RESERVED_SCOPES.contains(&scope.as_str()) {
                return Err((
                    "allowed_scopes",
                    format!("{scope:?} is not a scope a self-registered client may hold"),
                ));
            }
        }
        let mode = self.mode.unwrap_or(if is_bound_to_loopback {
            RegistrationMode::Open
        } else {
            RegistrationMode::Token
        });
        Ok(DynamicRegistration {
            mode,
            max_per_minute: self.max_per_minute,
            allowed_scopes: self.allowed_scopes,
        })
    }
}

/// A registration request, as the HTTP layer read it.
#[derive(Debug)]
pub struct RegistrationRequest<'a> {
    /// The body as one JSON value, or why it is not one (content type, size and syntax are
    /// the HTTP layer's to judge). Looked at only once the caller has passed the mode's gate,
    /// so a refused caller learns nothing about its metadata.
    pub body: Result<Value, OAuthError>,
    /// `Authorization: Bearer` (RFC 6750 §2.1), if any.
    pub initial_access_token: Option<&'a str>,
    pub client_ip: Option<IpAddr>,
}

/// Why a registration was refused.
#[derive(Debug)]
pub enum RegistrationError {
    /// Open mode: this address is over its limit; answer 429 with `Retry-After`.
    RateLimited {
        retry_after: Duration,
        error: OAuthError,
    },
    /// Anything else; `invalid_token` is a bearer-token refusal (RFC 6750 §3).
    Refused(OAuthError),
}

impl From<OAuthError> for RegistrationError {
    fn from(error: OAuthError) -> Self {
        Self::Refused(error)
    }
}

impl From<StoreError> for RegistrationError {
    fn from(error: StoreError) -> Self {
        Self::Refused(error.into())
    }
}

impl AuthorizationServer {
    /// RFC 7591 §3: registers a client under `registration`'s mode, with `policy` for what it
    /// may ask, and answers with its credentials and a registration access token (RFC 7592
    /// §3). The initial access token, if the mode asks for one, is spent only once the
    /// metadata passed, so invalid metadata does not use it up.
    pub async fn register_dynamically(
        &self,
        registration: &DynamicRegistration,
        policy: &RegistrationPolicy,
        initial_access_tokens: &dyn InitialAccessTokenRepository,
        request: RegistrationRequest<'_>,
    ) -> Result<Registered, RegistrationError> {
        let initial_token = match registration.mode {
            RegistrationMode::Disabled => {
                return Err(OAuthError::access_denied(
                    "dynamic client registration is disabled on this server",
                )
                .into());
            }
            RegistrationMode::Open => {
                self.count_open_registration(registration, request.client_ip)
                    .await?;
                None
            }
            RegistrationMode::Token => Some(
                check_initial_access_token(
                    initial_access_tokens,
                    request.initial_access_token,
                    self.clock.now(),
                )
                .await?,
            ),
        };
        let metadata = ClientMetadata::from_request(&request.body?, policy)?;
        if let Some(hash) = &initial_token {
            spend_initial_access_token(initial_access_tokens, hash, self.clock.now()).await?;
        }
        Ok(self.register_client(metadata, true).await?)
    }

    /// Open mode: counts this request against its source's window. Fails closed: without
    /// the counter there is no limit to apply.
    async fn count_open_registration(
        &self,
        registration: &DynamicRegistration,
        client_ip: Option<IpAddr>,
    ) -> Result<(), RegistrationError> {
        let ip = client_ip.map(registration_source);
        let key = format!("register-ip:{}", ip.as_deref().unwrap_or("unknown"));
        let count = self.ephemeral.increment(&key, RATE_WINDOW).await?;
        if count <= registration.max_per_minute {
            return Ok(());
        }
        tracing::warn!(ip, "registration rate limit reached");
        Err(RegistrationError::RateLimited {
            retry_after: RATE_WINDOW,
            error: OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "too many registrations from this address; try again later",
            ),
        })
    }
}

/// The source a registration counts against: an IPv4 address itself, an IPv6 address its /64
/// ([`prefix_of`], as the login limiter's prefix counter). One IPv6 customer usually holds a
/// whole /64 and can send from any of its 2^64 addresses, so a per-address budget would not
/// limit it at all (docs/threat-model.md RG-09).
fn registration_source(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        v6 @ IpAddr::V6(_) => prefix_of(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_mode_is_open_only_on_a_loopback_server() {
        let decided = |loopback| {
            RegistrationSettings::default()
                .to_registration(loopback)
                .unwrap()
                .mode
        };
        assert_eq!(decided(true), RegistrationMode::Open);
        assert_eq!(decided(false), RegistrationMode::Token);
        let disabled = RegistrationSettings {
            mode: Some(RegistrationMode::Disabled),
            ..RegistrationSettings::default()
        };
        assert!(!disabled.to_registration(true).unwrap().is_enabled());
    }

    #[test]
    fn a_zero_limit_and_reserved_or_malformed_scopes_are_refused() {
        let cases: [(RegistrationSettings, &str); 3] = [
            (
                RegistrationSettings {
                    max_per_minute: 0,
                    ..RegistrationSettings::default()
                },
                "max_per_minute",
            ),
            (
                RegistrationSettings {
                    allowed_scopes: vec!["roles".into()],
                    ..RegistrationSettings::default()
                },
                "allowed_scopes",
            ),
            (
                RegistrationSettings {
                    allowed_scopes: vec!["two words".into()],
                    ..RegistrationSettings::default()
                },
                "allowed_scopes",
            ),
        ];
        for (settings, field) in cases {
            assert_eq!(
                settings.to_registration(true).map_err(|(f, _)| f),
                Err(field)
            );
        }
    }
}

/// The open-mode limit through [`AuthorizationServer::register_dynamically`], on real stores.
#[cfg(test)]
mod rate_limit_tests {
    use super::*;
    use crate::test_server::TestServer;
    use serde_json::json;

    async fn register(
        server: &TestServer,
        registration: &DynamicRegistration,
        // Open mode never reads it; a real store all the same.
        initial_access_tokens: &dyn InitialAccessTokenRepository,
        ip: &str,
    ) -> Result<Registered, RegistrationError> {
        let policy = registration.client_policy(&[SigningAlgorithm::ES256]);
        server
            .engine
            .register_dynamically(
                registration,
                &policy,
                initial_access_tokens,
                RegistrationRequest {
                    body: Ok(json!({"redirect_uris": ["https://rp.example/cb"]})),
                    initial_access_token: None,
                    client_ip: Some(ip.parse().unwrap()),
                },
            )
            .await
    }

    fn is_rate_limited(result: &Result<Registered, RegistrationError>) -> bool {
        matches!(result, Err(RegistrationError::RateLimited { .. }))
    }

    #[tokio::test]
    async fn open_registration_counts_an_ipv6_source_by_its_slash_64() {
        let server = TestServer::start().await;
        let (unused, _database) = palisade_store::testing::sql_store().await;
        let registration = DynamicRegistration {
            mode: RegistrationMode::Open,
            max_per_minute: 2,
            allowed_scopes: vec![],
        };
        let try_from = |ip: &'static str| register(&server, &registration, &unused, ip);

        // Two addresses of one /64 share its budget: the third request from it is refused,
        // whichever address sends it.
        assert!(try_from("2001:db8:1:2::1").await.is_ok());
        assert!(try_from("2001:db8:1:2:ffff:ffff:ffff:fffe").await.is_ok());
        assert!(is_rate_limited(&try_from("2001:db8:1:2::3").await));
        assert!(is_rate_limited(&try_from("2001:db8:1:2:a:b:c:d").await));
        // Another /64, even next door, has a budget of its own.
        assert!(try_from("2001:db8:1:3::1").await.is_ok());
        // IPv4 stays per address (a /24 is often many unrelated customers behind NAT).
        assert!(try_from("192.0.2.1").await.is_ok());
        assert!(try_from("192.0.2.1").await.is_ok());
        assert!(is_rate_limited(&try_from("192.0.2.1").await));
        assert!(try_from("192.0.2.2").await.is_ok());
        // An IPv4-mapped IPv6 address is the IPv4 address.
        assert!(is_rate_limited(&try_from("::ffff:192.0.2.1").await));
    }
}
