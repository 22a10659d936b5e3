//! Administration: the one service the command line and the admin API both call (users and
//! their second factors, roles, clients, initial access tokens, signing keys, the audit trail). Every rule lives here — what a valid name,
//! email or role is, who may hand out what, which events are written — so the faces only parse
//! their input, call, and present the answer. docs/admin-api.md describes the API face.
//!
//! The rule that ties it together: nobody hands out, takes away or acts on more than they
//! hold ([`Caller::must_hold_all`]). A user-admin cannot grant `admin`, nor reset an
//! administrator's password and then sign in as them. The command line acts as the operator
//! ([`Caller::operator`]): whoever can run it can already write to the database.

pub mod audit;
pub mod bootstrap;
pub mod clients;
pub mod factors;
pub mod initial_access_tokens;
pub mod keys;
pub mod reviews;
pub mod roles;
pub mod users;

pub use audit::{Action, Auditor};
pub use keys::KeyAdmin;

use crate::guard::CredentialGuard;
use crate::password::{PasswordError, PasswordHasher};
use crate::userinfo::AccessTokenClaims;
use palisade_core::model::{ClientId, Permission, UserId};
use palisade_core::ports::{
    AuditLog, ClientRepository, FactorRepository, InitialAccessTokenRepository, LockoutRepository,
    RefreshTokenRepository, RoleRepository, SigningAlgorithm, UserRepository,
};
use palisade_core::{Clock, OAuthError, SecretGenerator, StoreError};
use std::collections::BTreeSet;
use std::sync::Arc;

/// The scope a user's access token must carry to be accepted for administration at all:
/// without it, any application the administrator signs in to would hold a token good for the
/// admin API (every access token's audience is the issuer).
pub const USER_SCOPE: &str = "admin";

/// Why an administrative action was refused or failed. Messages are safe to show the caller.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input breaks a rule (a name, an email, a password, a limit).
    #[error("{0}")]
    Invalid(String),
    /// The caller lacks a permission the action needs.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    /// A refusal with its own RFC error code (`invalid_client_metadata`, `invalid_token`...).
    #[error("{}: {}", .0.code, .0.description)]
    Protocol(OAuthError),
    /// Storage failed (unreachable: try again; anything else: a bug or corrupt data).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Something else failed (a key could not be generated or decrypted, ...): for the log
    /// and the operator, not for a remote caller.
    #[error("{0}")]
    Internal(String),
}

impl From<OAuthError> for AdminError {
    fn from(e: OAuthError) -> Self {
        Self::Protocol(e)
    }
}

impl From<PasswordError> for AdminError {
    fn from(e: PasswordError) -> Self {
        match e {
            PasswordError::TooShort | PasswordError::TooLong | PasswordError::Common => {
                Self::Invalid(format!("password: {e}"))
            }
            PasswordError::Saturated => Self::Store(StoreError::Unavailable(e.to_string().into())),
            PasswordError::InvalidSettings(_)
            | PasswordError::OutOfPolicy(_)
            | PasswordError::Internal(_) => Self::Internal(e.to_string()),
        }
    }
}

pub type AdminResult<T> = Result<T, AdminError>;

/// Who is acting, and the permissions they hold right now.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `user:<id>`, `client:<id>` or `cli`, as audit events name it.
    pub actor: String,
    permissions: BTreeSet<Permission>,
    /// Where the request came from, when it came over the network.
    pub client_ip: Option<String>,
}

impl Caller {
    /// The operator at the command line: holds every permission.
    pub fn operator() -> Self {
        Self {
            actor: "cli".into(),
            permissions: Permission::ALL.into_iter().collect(),
            client_ip: None,
        }
    }

    /// A signed-in user at the admin console, with the permissions their roles give now.
    pub fn for_user(
        user: &UserId,
        permissions: impl IntoIterator<Item = Permission>,
        client_ip: Option<String>,
    ) -> Self {
        Self {
            actor: format!("user:{user}"),
            permissions: permissions.into_iter().collect(),
            client_ip,
        }
    }

    /// Whether the caller holds no permission at all (nothing to administer).
    pub fn holds_nothing(&self) -> bool {
        self.permissions.is_empty()
    }

    pub fn holds(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// Refuses unless the caller holds every permission in `needed`: nobody hands out, takes
    /// away or acts on more than they hold.
    pub fn must_hold_all(
        &self,
        needed: impl IntoIterator<Item = Permission>,
        why: &str,
    ) -> AdminResult<()> {
        let mut missing: Vec<Permission> = needed.into_iter().filter(|p| !self.holds(*p)).collect();
        missing.sort();
        missing.dedup();
        if missing.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = missing.iter().map(|p| p.as_str()).collect();
        Err(AdminError::Forbidden(format!(
            "{why} needs permissions you do not hold: {}",
            names.join(", ")
        )))
    }
}

/// The ports and settings administration works through.
pub struct AdminPorts {
    pub users: Arc<dyn UserRepository>,
    pub roles: Arc<dyn RoleRepository>,
    /// Writes through here reach every cache in front of the clients table on this node.
    pub clients: Arc<dyn ClientRepository>,
    /// The clients table itself, no cache in front: what a client may administer is decided
    /// on what is stored now, so taking an `admin:` scope away takes effect on the next call.
    pub client_records: Arc<dyn ClientRepository>,
    pub lockouts: Arc<dyn LockoutRepository>,
    /// Account events revoke the user's refresh-token families.
    pub refresh_tokens: Arc<dyn RefreshTokenRepository>,
    pub initial_access_tokens: Arc<dyn InitialAccessTokenRepository>,
    /// Users' second factors and recovery codes (listed and reset, never created here).
    pub factors: Arc<dyn FactorRepository>,
    pub audit: Arc<dyn AuditLog>,
    /// Unlocking goes through the guard, which owns the failure streak's keys.
    pub guard: CredentialGuard,
    pub passwords: PasswordHasher,
    pub clock: Arc<dyn Clock>,
    pub secrets: Arc<dyn SecretGenerator>,
    /// The algorithms a client may ask its ID tokens to be signed with.
    pub signing_algorithms: Vec<SigningAlgorithm>,
}

/// The administration service. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    users: Arc<dyn UserRepository>,
    roles: Arc<dyn RoleRepository>,
    clients: Arc<dyn ClientRepository>,
    client_records: Arc<dyn ClientRepository>,
    lockouts: Arc<dyn LockoutRepository>,
    refresh_tokens: Arc<dyn RefreshTokenRepository>,
    initial_access_tokens: Arc<dyn InitialAccessTokenRepository>,
    factors: Arc<dyn FactorRepository>,
    guard: CredentialGuard,
    passwords: PasswordHasher,
    clock: Arc<dyn Clock>,
    secrets: Arc<dyn SecretGenerator>,
    signing_algorithms: Vec<SigningAlgorithm>,
    auditor: Auditor,
}

impl Admin {
    pub fn new(ports: AdminPorts) -> Self {
        Self {
            auditor: Auditor::new(ports.audit, ports.clock.clone()),
            users: ports.users,
            roles: ports.roles,
            clients: ports.clients,
            client_records: ports.client_records,
            lockouts: ports.lockouts,
            refresh_tokens: ports.refresh_tokens,
            initial_access_tokens: ports.initial_access_tokens,
            factors: ports.factors,
            guard: ports.guard,
            passwords: ports.passwords,
            clock: ports.clock,
            secrets: ports.secrets,
            signing_algorithms: ports.signing_algorithms,
        }
    }

    /// The one writer of administrative audit events.
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// The caller a checked access token speaks for, with the permissions it holds now
    /// (resolved on every request, so taking a role away takes effect on the next call).
    ///
    /// - A user's token must carry the [`USER_SCOPE`]; the user must exist and not be
    ///   disabled; the permissions are those of the user's roles.
    /// - A client_credentials token gets the permissions named by its `admin:<permission>`
    ///   scopes that are in the token *and* still registered on the client. A client that
    ///   registered itself (RFC 7591) never gets any: admin scopes are granted by an operator.
    pub async fn caller(
        &self,
        access: &AccessTokenClaims,
        client_ip: Option<String>,
    ) -> AdminResult<Caller> {
        let (actor, permissions) = if access.is_user_token() {
            if !access.scope.contains(USER_SCOPE) {
                return Err(AdminError::Forbidden(
                    "the access token was not issued for administration (it lacks the admin scope)"
                        .into(),
                ));
            }
            let user_id = UserId(access.subject.clone());
            let is_active = self
                .users
                .find_user_by_id(&user_id)
                .await?
                .is_some_and(|u| u.authentication_stands(access.signed_in_at()));
            if !is_active {
                return Err(OAuthError::invalid_token(
                    "the user no longer exists, is disabled or has been signed out",
                )
                .into());
            }
            let held = self
                .roles
                .permissions_of_user(&user_id, self.clock.now())
                .await?;
            (format!("user:{user_id}"), held.into_iter().collect())
        } else {
            let client = self
                .client_records
                .find_client(&ClientId(access.subject.clone()))
                .await?
                .ok_or_else(|| OAuthError::invalid_token("the client no longer exists"))?;
            let permissions = if client.registration_access_token_hash.is_some() {
                BTreeSet::new()
            } else {
                access
                    .scope
                    .iter()
                    .filter(|s| client.scopes.iter().any(|r| r == s))
                    .filter_map(Permission::from_scope)
                    .collect()
            };
            (format!("client:{}", client.id), permissions)
        };
        Ok(Caller {
            actor,
            permissions,
            client_ip,
        })
    }
}

#[cfg(test)]
mod tests;
