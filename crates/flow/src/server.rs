//! The authorization server: the ports it works through and the policy it applies.
//!
//! One value holds everything the endpoints need; the HTTP layer builds it once and calls its
//! methods. Time and randomness come in as ports so tests can travel and repeat.

use crate::guard::CredentialGuard;
use crate::password::PasswordHasher;
use chrono::Duration;
use palisade_core::Clock;
use palisade_core::ports::{
    AuditLog, ClientRepository, ConsentRepository, EphemeralStore, FactorRepository,
    RefreshTokenRepository, RoleRepository, SecretSealer, SessionIndex, SigningAlgorithm,
    TokenSigner, UserRepository,
};
use palisade_core::secret::SecretGenerator;
use std::sync::Arc;

/// Lifetimes and algorithms (docs/design.md §3).
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    /// Authorization codes (RFC 6749 §4.1.2 recommends at most 10 minutes; we use 60 s).
    pub code_ttl: Duration,
    pub access_token_ttl: Duration,
    pub id_token_ttl: Duration,
    /// Absolute lifetime of a refresh-token family, from the original grant.
    pub refresh_token_ttl: Duration,
    /// A family not used (refreshed) for this long dies, whatever its absolute lifetime left.
    pub refresh_token_idle_ttl: Duration,
    /// How long a rotated refresh token, presented again, gets back the same successor pair
    /// instead of revoking its family (a client retrying after a lost response). Zero disables.
    pub refresh_reuse_grace: Duration,
    /// How long a user may take between /authorize and finishing login and consent.
    pub interaction_ttl: Duration,
    /// Absolute lifetime of a browser login session, from the sign-in.
    pub session_ttl: Duration,
    /// A session not used for this long ends, whatever its absolute lifetime left.
    pub session_idle_ttl: Duration,
    /// Access tokens are JWTs (RFC 9068) signed with this algorithm.
    pub access_token_alg: SigningAlgorithm,
    /// ID tokens use the client's `id_token_signed_response_alg`, else this (OIDC: RS256).
    pub id_token_default_alg: SigningAlgorithm,
    /// Which `aud` a `private_key_jwt` client assertion may carry.
    pub client_assertion_audience: crate::client_assertion::AssertionAudience,
    /// Every sign-in needs a second factor (on top of the roles' and clients' own rules).
    pub mfa_required: bool,
    /// The admin console (`/admin`) needs a session signed in with a second factor.
    pub admin_console_requires_mfa: bool,
    /// The device flow's lifetimes (RFC 8628).
    pub device: crate::device::DeviceSettings,
    /// Pushed authorization requests (RFC 9126): the `request_uri` lifetime, whether required.
    pub par: crate::par::ParPolicy,
    /// The resources tokens may be issued for (RFC 8707), with the scopes each accepts.
    pub resources: crate::resource::ResourceRegistry,
    /// DPoP proofs: their window and server nonces (RFC 9449, `crate::dpop`).
    pub dpop: crate::dpop::DpopPolicy,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self {
            code_ttl: Duration::seconds(60),
            access_token_ttl: Duration::minutes(10),
            id_token_ttl: Duration::hours(1),
            // Auth0's defaults (30 days absolute, 15 days idle); Keycloak's offline sessions
            // idle out after 30 days.
            refresh_token_ttl: Duration::days(30),
            refresh_token_idle_ttl: Duration::days(14),
            refresh_reuse_grace: Duration::seconds(10),
            interaction_ttl: Duration::minutes(10),
            // Keycloak's SSO session defaults: 10 hours at most, 30 minutes idle.
            session_ttl: Duration::hours(10),
            session_idle_ttl: Duration::minutes(30),
            access_token_alg: SigningAlgorithm::ES256,
            id_token_default_alg: SigningAlgorithm::RS256,
            client_assertion_audience: crate::client_assertion::AssertionAudience::IssuerOnly,
            mfa_required: false,
            admin_console_requires_mfa: true,
            device: crate::device::DeviceSettings::default(),
            par: crate::par::ParPolicy::default(),
            resources: crate::resource::ResourceRegistry::default(),
            dpop: crate::dpop::DpopPolicy::default(),
        }
    }
}

impl TokenPolicy {
    /// The longest any signed token stays valid: what a retired signing key must outlive.
    pub fn longest_signed_token(&self) -> Duration {
        self.access_token_ttl.max(self.id_token_ttl)
    }
}

/// The protocol engine, over its ports.
#[derive(Clone)]
pub struct AuthorizationServer {
    /// The issuer identifier without a trailing slash (`iss`, RFC 9207 `iss`).
    pub issuer: String,
    pub policy: TokenPolicy,
    pub clients: Arc<dyn ClientRepository>,
    pub users: Arc<dyn UserRepository>,
    pub roles: Arc<dyn RoleRepository>,
    pub consents: Arc<dyn ConsentRepository>,
    pub refresh_tokens: Arc<dyn RefreshTokenRepository>,
    /// Second factors and recovery codes.
    pub factors: Arc<dyn FactorRepository>,
    /// Seals TOTP secrets under the master key.
    pub sealer: Arc<dyn SecretSealer>,
    /// The WebAuthn relying party; `None` when the issuer cannot be one (an IP address).
    pub passkeys: Option<Arc<crate::mfa::Passkeys>>,
    pub ephemeral: Arc<dyn EphemeralStore>,
    pub signer: Arc<dyn TokenSigner>,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretGenerator>,
    pub passwords: PasswordHasher,
    /// Attempt limits and account lockout: every credential check goes through it.
    pub guard: CredentialGuard,
    /// Writes token-issuance audit events in batches (see [`crate::audit`]).
    pub issuance_audit: crate::audit::AuditBatcher,
    /// Client ID metadata documents, when the operator turned them on.
    pub client_documents: Option<Arc<crate::client_id_document::ClientDocuments>>,
    /// The durable index of browser sessions (see [`crate::session`]).
    pub session_index: Arc<dyn SessionIndex>,
    /// The audit trail, read back for the user's activity page.
    pub audit_log: Arc<dyn AuditLog>,
}

/// Converts a chrono duration to the std duration the ephemeral store takes (at least 1 s).
pub(crate) fn ttl(d: Duration) -> std::time::Duration {
    d.to_std()
        .unwrap_or(std::time::Duration::from_secs(1))
        .max(std::time::Duration::from_secs(1))
}
