//! Port traits: what the protocol engine needs from storage and signing, and nothing more.
//!
//! Each trait states its contract in its doc comments; `palisade-store` implements the storage
//! ports for PostgreSQL, SQLite, Redis and in-process memory, and a contract test suite holds
//! every implementation to the same words. `palisade-keys` implements [`TokenSigner`].

use crate::factor::{Factor, FactorId, Sealed};
use crate::model::*;
use crate::secret::TokenHash;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service (database, Redis) could not be reached or timed out. Callers fail
    /// closed: 503 `temporarily_unavailable`, never a silent success.
    #[error("storage unavailable: {0}")]
    Unavailable(Cause),
    /// A uniqueness rule was violated (e.g. the username is taken); names the rule.
    #[error("already exists: {0}")]
    Conflict(&'static str),
    /// The row to change does not exist.
    #[error("not found")]
    NotFound,
    /// Anything else: a bug or corrupt data. Logged, answered as `server_error`.
    #[error("storage failure: {0}")]
    Internal(Cause),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Anything that can say whether its backing service answers.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Ok when a round trip to the backing service succeeds; `Unavailable` otherwise.
    async fn ping(&self) -> StoreResult<()>;
}

/// [`UserRepository::insert_user`]'s conflict when the username exists.
pub const TAKEN_USERNAME: &str = "username";
/// [`UserRepository::insert_user`]'s conflict when the username's UTS #39 skeleton
/// ([`Username::skeleton`]) is another user's: the names are confusable.
pub const CONFUSABLE_USERNAME: &str = "confusable username";

/// Users, the system of record for people who log in.
#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Inserts a user, atomically refusing with `Conflict(TAKEN_USERNAME)` a username that
    /// exists and with `Conflict(CONFUSABLE_USERNAME)` one confusable with an existing one.
    async fn insert_user(&self, user: NewUser) -> StoreResult<User>;
    async fn find_user_by_id(&self, id: &UserId) -> StoreResult<Option<User>>;
    async fn find_user_by_username(&self, username: &Username) -> StoreResult<Option<User>>;
    /// Users ordered by username; `search` matches a substring of username, email or display
    /// name.
    async fn list_users(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<User>>;
    /// Replaces the password hash and bumps `updated_at`; `NotFound` if there is no such user.
    async fn update_password_hash(
        &self,
        id: &UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Sets the disabled flag and bumps `updated_at`; `NotFound` if there is no such user.
    async fn set_user_disabled(
        &self,
        id: &UserId,
        is_disabled: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Voids every authentication of the user up to `at` (`sessions_revoked_at`; it only ever
    /// moves forward); `NotFound` if there is no such user.
    async fn revoke_user_sessions(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()>;
    /// Replaces the display name and email (and whether the email is verified) and bumps
    /// `updated_at`; `NotFound` if there is no such user.
    async fn update_profile(
        &self,
        id: &UserId,
        profile: &Profile,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Deletes the user with its roles, consents, lockout, refresh-token families, second
    /// factors and recovery codes; `NotFound` if there is no such user.
    async fn delete_user(&self, id: &UserId) -> StoreResult<()>;
    /// Records a completed sign-in of the user at `at` (for access reviews); nothing for an
    /// unknown user.
    async fn record_sign_in(&self, id: &UserId, at: DateTime<Utc>) -> StoreResult<()>;
}

/// Roles, permissions and who holds them (RBAC). Names cross this port parsed: a stored role
/// name or permission that does not parse is `Internal` (corrupt data), never skipped.
#[async_trait]
pub trait RoleRepository: Send + Sync {
    /// `Conflict("role")` if the name exists.
    async fn insert_role(&self, role: Role) -> StoreResult<()>;
    /// Ordered by name.
    async fn list_roles(&self) -> StoreResult<Vec<Role>>;
    async fn find_role(&self, name: &RoleName) -> StoreResult<Option<Role>>;
    /// Idempotent; `NotFound` if the role does not exist.
    async fn grant_permission(&self, role: &RoleName, permission: Permission) -> StoreResult<()>;
    /// Idempotent: revoking a permission the role does not carry succeeds; `NotFound` if the
    /// role does not exist.
    async fn revoke_permission(&self, role: &RoleName, permission: Permission) -> StoreResult<()>;
    /// Ordered by name; empty for an unknown role.
    async fn permissions_of_role(&self, role: &RoleName) -> StoreResult<Vec<Permission>>;
    /// Idempotent; `NotFound` if the role or the user does not exist. The grant has no record
    /// (as one made before records began) and no expiry, and a grant the user has already is
    /// left as it is: for fixtures and the store's own tests; the engine grants through
    /// [`Self::record_role_grant`].
    async fn grant_role(&self, role: &RoleName, user: &UserId) -> StoreResult<()>;
    /// Gives `user` the role with who gave it, when and until when; a grant the user has
    /// already (live or lapsed) takes the new record and expiry, and keeps its confirmation.
    /// `NotFound` if the role or the user does not exist.
    async fn record_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        grant: &NewRoleGrant,
    ) -> StoreResult<()>;
    /// The user's grant of the role if it is live at `at` (not past its expiry).
    async fn find_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Option<RoleGrant>>;
    /// The grants of `role` live at `at`, ordered by the holder's username.
    async fn role_holders(
        &self,
        role: &RoleName,
        at: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HeldGrant>>;
    /// How many live grants at `at` each role has (roles nobody holds are left out).
    async fn role_holder_counts(&self, at: DateTime<Utc>) -> StoreResult<Vec<(RoleName, i64)>>;
    /// The grants live at `at` that are stale as of `stale_before`: the holder has not signed
    /// in since then (or never, as far as records go), or the grant was neither made nor
    /// confirmed since then. Ordered by username, then role.
    async fn stale_role_grants(
        &self,
        at: DateTime<Utc>,
        stale_before: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> StoreResult<Vec<HeldGrant>>;
    /// Records that a review confirmed the grant at `at`; false if the user holds no live
    /// grant of the role at `at`.
    async fn confirm_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Up to `limit` grants that have lapsed by `at` (`expires_at <= at`).
    async fn lapsed_role_grants(
        &self,
        at: DateTime<Utc>,
        limit: i64,
    ) -> StoreResult<Vec<RoleGrant>>;
    /// Deletes the grant if it has lapsed by `at`; false if it has not (granted again since)
    /// or is gone, so a sweep never deletes a grant renewed under it.
    async fn delete_lapsed_role_grant(
        &self,
        role: &RoleName,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Idempotent: revoking a role the user does not hold succeeds.
    async fn revoke_role(&self, role: &RoleName, user: &UserId) -> StoreResult<()>;
    /// The roles whose grants are live at `at`, ordered by name; empty for an unknown user.
    /// A grant past its expiry gives nothing from that instant, swept or not.
    async fn roles_of_user(&self, user: &UserId, at: DateTime<Utc>) -> StoreResult<Vec<RoleName>>;
    /// The union of the permissions of every role the user holds at `at`, each once.
    async fn permissions_of_user(
        &self,
        user: &UserId,
        at: DateTime<Utc>,
    ) -> StoreResult<Vec<Permission>>;
    /// Sets whether holding `role` requires a second factor; `NotFound` if the role does not
    /// exist.
    async fn set_role_requires_mfa(&self, role: &RoleName, required: bool) -> StoreResult<()>;
    /// Whether any role the user holds at `at` requires a second factor (false for an
    /// unknown user).
    async fn roles_require_mfa(&self, user: &UserId, at: DateTime<Utc>) -> StoreResult<bool>;
}

/// [`FactorRepository::insert_factor`]'s conflict when a passkey's credential id is registered
/// already (to this user or another).
pub const TAKEN_CREDENTIAL_ID: &str = "credential id";

/// Second factors and recovery codes (crate `palisade_core::factor`). Every change a sign-in
/// depends on is a single conditional statement, so two concurrent uses of one code cannot both
/// succeed.
#[async_trait]
pub trait FactorRepository: Send + Sync {
    /// `Conflict(TAKEN_CREDENTIAL_ID)` if a passkey's credential id exists; `NotFound` if the
    /// user does not exist.
    async fn insert_factor(&self, factor: Factor) -> StoreResult<()>;
    /// The user's factors, oldest first; empty for an unknown user.
    async fn list_factors(&self, user: &UserId) -> StoreResult<Vec<Factor>>;
    /// The passkey with this credential id (base64url), whoever it belongs to.
    async fn find_factor_by_credential_id(
        &self,
        credential_id: &str,
    ) -> StoreResult<Option<Factor>>;
    /// Renames the user's factor; false if the user has no such factor.
    async fn rename_factor(&self, user: &UserId, id: &FactorId, name: &str) -> StoreResult<bool>;
    /// Deletes the user's factor; false if the user has no such factor, or if `keep_one` and
    /// it is the user's last (checked in the same transaction, so two concurrent removals of a
    /// user's last two factors cannot both succeed). Deleting the last factor also deletes the
    /// user's recovery codes (they stand in for a factor that is gone).
    async fn delete_factor(
        &self,
        user: &UserId,
        id: &FactorId,
        keep_one: bool,
    ) -> StoreResult<bool>;
    /// Accepts TOTP time step `step` for the factor, atomically: true (and `last_used_step`,
    /// `last_used_at` set) only if the factor exists and its `last_used_step` is absent or
    /// lower. Of concurrent calls with the same step at most one gets true (RFC 6238 §5.2).
    async fn claim_totp_step(
        &self,
        id: &FactorId,
        step: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Records a use of the factor: `last_used_at`, and for a passkey its updated credential
    /// (signature counter, backup state) when `credential` is given.
    async fn record_factor_use(
        &self,
        id: &FactorId,
        credential: Option<&str>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Replaces a sealed TOTP secret (master-key rewrap); `NotFound` if the factor is gone.
    async fn update_factor_seal(&self, id: &FactorId, sealed: &Sealed) -> StoreResult<()>;
    /// Every sealed factor (TOTP) not sealed under `master_key_id`, for a rewrap.
    async fn factors_sealed_under_other_keys(
        &self,
        master_key_id: &str,
    ) -> StoreResult<Vec<Factor>>;
    /// Deletes every factor and recovery code of the user; returns how many factors went.
    async fn delete_factors_of_user(&self, user: &UserId) -> StoreResult<u64>;
    /// Replaces the user's recovery codes with `digests` (each a [`TokenHash`] of a normalised
    /// code), in one transaction.
    async fn replace_recovery_codes(
        &self,
        user: &UserId,
        digests: Vec<TokenHash>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Spends the user's unused recovery code with this digest, atomically: true once, false
    /// for an unknown or already used code.
    async fn consume_recovery_code(
        &self,
        user: &UserId,
        digest: &TokenHash,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// How many of the user's recovery codes are unused.
    async fn remaining_recovery_codes(&self, user: &UserId) -> StoreResult<u32>;
}

/// Seals small secrets (TOTP seeds) under the master key, as signing keys are sealed:
/// `palisade-keys` implements it over the master key set.
pub trait SecretSealer: Send + Sync {
    /// Seals `plaintext` under the current master key; `purpose` is bound into the
    /// ciphertext's header (`cty`) and must match when opening.
    fn seal(&self, purpose: &str, plaintext: &[u8]) -> Result<Sealed, SealError>;
    /// Opens a value sealed for `purpose` under any configured master key.
    fn open(&self, purpose: &str, sealed: &str) -> Result<Vec<u8>, SealError>;
    /// The id of the master key [`Self::seal`] uses now.
    fn current_master_key_id(&self) -> String;
}

/// Why sealing or opening failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The value names a master key this node does not have.
    #[error("sealed under master key {0}, which is not configured")]
    UnknownMasterKey(String),
    /// Damaged, forged, or sealed for another purpose.
    #[error("the sealed value cannot be opened: {0}")]
    Invalid(String),
}

/// Registered OAuth clients and their redirect URIs.
#[async_trait]
pub trait ClientRepository: Send + Sync {
    /// Inserts the client and its redirect URIs in one transaction; `Conflict("client_id")`.
    async fn insert_client(&self, client: Client) -> StoreResult<()>;
    async fn find_client(&self, id: &ClientId) -> StoreResult<Option<Client>>;
    async fn list_clients(&self) -> StoreResult<Vec<Client>>;
    /// Replaces all metadata and redirect URIs in one transaction; `NotFound` if absent.
    async fn update_client(&self, client: Client) -> StoreResult<()>;
    /// Deletes the client with its redirect URIs, consents and refresh-token families;
    /// `NotFound` if absent.
    async fn delete_client(&self, id: &ClientId) -> StoreResult<()>;
}

/// Remembered consents.
#[async_trait]
pub trait ConsentRepository: Send + Sync {
    async fn find_consent(&self, user: &UserId, client: &ClientId) -> StoreResult<Option<Consent>>;
    /// Inserts or replaces the consent for (user, client).
    async fn save_consent(&self, consent: Consent) -> StoreResult<()>;
    /// Idempotent.
    async fn revoke_consent(&self, user: &UserId, client: &ClientId) -> StoreResult<()>;
    /// Every consent the user gave, ordered by client id.
    async fn list_consents_of_user(&self, user: &UserId) -> StoreResult<Vec<Consent>>;
}

/// Refresh-token families. Rotation is one compare-and-swap so two concurrent refreshes with
/// the same token cannot both succeed.
#[async_trait]
pub trait RefreshTokenRepository: Send + Sync {
    async fn insert_refresh_token_family(&self, family: RefreshTokenFamily) -> StoreResult<()>;
    /// Finds the family whose current, previous or any earlier rotated-away token has this
    /// hash, and which one matched.
    async fn find_refresh_token_family(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<(RefreshTokenFamily, RefreshTokenMatch)>>;
    /// The family with this id (its grant id), revoked or not.
    async fn find_refresh_token_family_by_id(
        &self,
        id: &str,
    ) -> StoreResult<Option<RefreshTokenFamily>>;
    /// Atomically replaces the current hash by `next` (the old current becomes `previous`, and
    /// is kept as spent for the family's life), only if the family is not revoked and its
    /// current hash is still `expected_current`.
    /// Returns false, changing nothing, when another rotation won the race.
    async fn rotate_refresh_token(
        &self,
        family_id: &str,
        expected_current: &TokenHash,
        next: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Marks the family revoked (idempotent; the first revocation time is kept).
    async fn revoke_refresh_token_family(
        &self,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Revokes every live family of the user (an account event); returns how many.
    async fn revoke_refresh_token_families_of_user(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<u64>;
    /// The user's families that are neither revoked nor expired at `now`, oldest first.
    async fn list_live_refresh_token_families_of_user(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<RefreshTokenFamily>>;
    /// Deletes families that expired or were revoked before `before`; returns how many.
    async fn purge_refresh_token_families(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// [`SigningKeyRepository::apply_signing_key_writes`]' conflict when a row changed since it
/// was read.
pub const SIGNING_KEY_CHANGED: &str = "signing key changed since it was read";

/// One write of a batch that lands whole or not at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKeyWrite {
    /// A new key; the batch fails with `Conflict("kid")` if its kid exists.
    Insert(StoredSigningKey),
    /// `from` (the row as read) becomes `to` (same kid). The batch fails with
    /// `Conflict(SIGNING_KEY_CHANGED)` if the stored row no longer equals `from`, or is gone.
    Update {
        from: StoredSigningKey,
        to: StoredSigningKey,
    },
}

/// Signing keys shared by every node, and the lease that lets one node at a time rotate them.
#[async_trait]
pub trait SigningKeyRepository: Send + Sync {
    /// Every stored key (any state), oldest first.
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    /// `Conflict("kid")` if the kid exists.
    async fn insert_signing_key(&self, key: StoredSigningKey) -> StoreResult<()>;
    /// Replaces the state, timestamps and encrypted private part of an existing key (matched by
    /// kid); `NotFound` if absent.
    async fn update_signing_key(&self, key: StoredSigningKey) -> StoreResult<()>;
    /// Idempotent.
    async fn delete_signing_key(&self, kid: &str) -> StoreResult<()>;
    /// Applies `writes` in order in one transaction: every node reads the ring before the
    /// batch or after it, never in between. On any failure nothing is written; on a conflict
    /// (see [`SigningKeyWrite`]) re-read the keys and decide again. An `Update` compares the
    /// whole row with `from` inside the transaction, so a writer that got there first is never
    /// overwritten.
    async fn apply_signing_key_writes(&self, writes: Vec<SigningKeyWrite>) -> StoreResult<()>;
    /// Takes or renews the named lease for `holder` until `now + ttl`. Succeeds if the lease is
    /// free, expired, or already held by `holder`; false if another holder has it. Atomic across
    /// nodes sharing the database.
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> StoreResult<bool>;
}

/// Durable lockout state (issue: account protection).
#[async_trait]
pub trait LockoutRepository: Send + Sync {
    async fn find_account_lockout(&self, user: &UserId) -> StoreResult<Option<AccountLockout>>;
    /// Inserts or replaces the lockout row of `lockout.user_id`.
    async fn save_account_lockout(&self, lockout: AccountLockout) -> StoreResult<()>;
    /// Idempotent.
    async fn clear_account_lockout(&self, user: &UserId) -> StoreResult<()>;
}

/// Append-only audit trail.
#[async_trait]
pub trait AuditLog: Send + Sync {
    async fn record(&self, event: AuditEvent) -> StoreResult<()>;
    /// Records several events; implementations should do it in one transaction.
    async fn record_batch(&self, events: Vec<AuditEvent>) -> StoreResult<()> {
        for event in events {
            self.record(event).await?;
        }
        Ok(())
    }
    /// Newest first, at most `query.limit` (clamped to 1..=1000).
    async fn query(&self, query: AuditQuery) -> StoreResult<Vec<AuditEvent>>;
}

/// The durable index of browser login sessions (the sessions themselves are ephemeral).
#[async_trait]
pub trait SessionIndex: Send + Sync {
    /// Inserts the entry; `NotFound` if its user does not exist.
    async fn record_session(&self, record: SessionRecord) -> StoreResult<()>;
    /// Records a use of the session at `session_key`; nothing if it has no entry.
    async fn touch_session(
        &self,
        session_key: &str,
        last_seen_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The user's entries not expired at `now`, most recently seen first.
    async fn sessions_of_user(
        &self,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// The user's entry with this handle (another user's handle finds nothing).
    async fn find_session_by_handle(
        &self,
        user: &UserId,
        handle: &str,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Removes the entry of the session at `session_key`; idempotent.
    async fn forget_session(&self, session_key: &str) -> StoreResult<()>;
    /// Removes the entries that expired before `before`; returns how many.
    async fn purge_expired_sessions(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// Keys under this prefix are replay caches: a proof's or an assertion's `jti`, written once per
/// request by anyone who can sign one (a DPoP proof needs only a public client id). The
/// in-process store keeps them apart, with a capacity of their own, so a flood of proofs can
/// fill only them, never the room sessions, codes and counters need.
pub const REPLAY_KEY_PREFIX: &str = "replay:";

/// Short-lived shared state: codes, sessions, counters, replay caches (docs/design.md §2).
///
/// Every key expires. Implementations namespace keys with their own prefix. When the backing
/// service is unreachable every call returns `StoreError::Unavailable`.
#[async_trait]
pub trait EphemeralStore: HealthCheck + Send + Sync {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()>;
    /// Stores only if `key` is absent; true if this call stored it. Atomic: of concurrent
    /// callers exactly one gets true (used for `jti` replay detection).
    async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<bool>;
    async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// The values at `keys`, in order, read in one round trip (Redis `MGET`): the hot paths
    /// (attempt counters, revocation markers) read several keys per request.
    async fn get_many(&self, keys: &[&str]) -> StoreResult<Vec<Option<Vec<u8>>>>;
    /// Returns the value and removes it in one atomic step: of concurrent callers exactly one
    /// gets `Some` (single-use authorization codes).
    async fn take(&self, key: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Idempotent.
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Adds one to the counter at `key` and returns the new count; a new counter expires after
    /// `ttl` (a fixed window). Atomic: N concurrent calls yield N distinct counts.
    async fn increment(&self, key: &str, ttl: Duration) -> StoreResult<u64>;
    /// How many keys this store holds in its namespace (the in-process store counts expired
    /// keys not yet swept; Redis walks its prefix with `SCAN`, so this is O(keys)): for
    /// diagnostics and for tests that prove what a flood leaves behind. `None` when the
    /// store cannot tell.
    async fn key_count(&self) -> StoreResult<Option<u64>> {
        Ok(None)
    }
    /// Bytes of this process's memory the store holds (keys, values, bookkeeping), for the
    /// `/metrics` gauge: the in-process store's answer; `None` for a store whose data lives
    /// elsewhere (Redis).
    fn memory_held(&self) -> Option<u64> {
        None
    }
}

/// JWS algorithms Palisade signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SigningAlgorithm {
    RS256,
    ES256,
    EdDSA,
}

impl SigningAlgorithm {
    pub const ALL: [SigningAlgorithm; 3] = [Self::RS256, Self::ES256, Self::EdDSA];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A compact JWS and the key that signed it.
#[derive(Debug, Clone)]
pub struct SignedToken {
    pub compact: String,
    pub kid: String,
}

/// A token whose signature checked out against a published key. Claims are not yet validated
/// (expiry, audience): that is the caller's business.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub kid: String,
    pub alg: SigningAlgorithm,
    pub typ: Option<String>,
    pub claims: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// No key of that algorithm may sign right now (none current, or the algorithm is disabled).
    #[error("no current signing key for {0:?}")]
    NoCurrentKey(SigningAlgorithm),
    #[error("signing failed: {0}")]
    Internal(Cause),
}

/// Why a token was refused. Deliberately coarse: callers answer `invalid_token` either way.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unacceptable header: {0}")]
    UnacceptableHeader(&'static str),
    #[error("unknown or unpublished key")]
    UnknownKey,
    #[error("bad signature")]
    BadSignature,
}

/// Signs tokens with the current key of an algorithm and verifies them against published keys.
pub trait TokenSigner: Send + Sync {
    /// Signs `claims` with the current key for `alg`, setting `alg`, `kid` and `typ` (e.g.
    /// `JWT`, `at+jwt`) in the header.
    fn sign(
        &self,
        alg: SigningAlgorithm,
        typ: &str,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<SignedToken, SigningError>;
    /// Verifies the signature against a published (`next`, `current`, `retired`) key. Refuses
    /// `alg: none`, HMAC, a header `alg` that differs from the key's, unknown `kid`, `crit`,
    /// and embedded `jwk`/`jku`/`x5u`/`x5c` headers.
    fn verify(&self, compact: &str) -> Result<VerifiedToken, VerifyError>;
}

/// Initial access tokens for dynamic client registration (RFC 7591 §3), looked up by hash.
#[async_trait]
pub trait InitialAccessTokenRepository: Send + Sync {
    /// `Conflict("initial_access_token")` if the id or the hash exists.
    async fn insert_initial_access_token(&self, token: InitialAccessToken) -> StoreResult<()>;
    /// The token with this hash, whatever its state (expired or used up included).
    async fn find_initial_access_token(
        &self,
        hash: &TokenHash,
    ) -> StoreResult<Option<InitialAccessToken>>;
    /// Spends one use of the token with this hash, only if it has not expired at `now` and
    /// has uses left; true if this call spent it. Atomic: of concurrent callers holding the
    /// last use, exactly one gets true.
    async fn consume_initial_access_token(
        &self,
        hash: &TokenHash,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Every token, oldest first.
    async fn list_initial_access_tokens(&self) -> StoreResult<Vec<InitialAccessToken>>;
    /// `NotFound` if there is no token with this id.
    async fn delete_initial_access_token(&self, id: &str) -> StoreResult<()>;
}

/// The signing-key ring as an operator drives it (`palisade-keys`' key manager): staging,
/// withdrawing and re-encrypting keys, each effective on this node at once.
#[async_trait]
pub trait KeyOperations: Send + Sync {
    /// The algorithms keys are kept for.
    fn enabled_algorithms(&self) -> Vec<SigningAlgorithm>;
    /// Stages a new `next` key for `alg` now (it signs after the publish-ahead delay); its kid.
    async fn rotate_now(&self, alg: SigningAlgorithm) -> Result<String, KeyOperationError>;
    /// Withdraws the key at once: unpublished, tokens it signed refused. Idempotent.
    async fn revoke(&self, kid: &str) -> Result<(), KeyOperationError>;
    /// Re-encrypts every key not yet under the current master key.
    async fn rewrap(&self) -> Result<Rewrapped, KeyOperationError>;
}

/// What a re-encryption did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewrapped {
    /// Keys re-encrypted under the current master key.
    pub rewrapped: usize,
    /// Keys another writer changed meanwhile (run it again).
    pub skipped: usize,
    /// TOTP secrets re-sealed under the current master key.
    pub factor_secrets: usize,
}

/// Why a key-ring operation failed; the message is for the operator.
#[derive(Debug, thiserror::Error)]
pub enum KeyOperationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no signing key with kid {0:?}")]
    UnknownKid(String),
    #[error("algorithm {} is not enabled", .0.as_str())]
    AlgorithmDisabled(SigningAlgorithm),
    #[error("{0}")]
    Other(String),
}

/// Fetches client ID metadata documents (draft-ietf-oauth-client-id-metadata-document): the
/// one place Palisade makes an outbound request on a client's say-so, so the implementation
/// owns every network rule (addresses it may reach, redirects, size, time).
#[async_trait]
pub trait ClientDocumentFetcher: Send + Sync {
    /// GETs `url` (already checked for shape by the engine).
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, DocumentFetchError>;
}

/// A document as served: its bytes and what its HTTP cache headers allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedDocument {
    pub body: Vec<u8>,
    pub cache: DocumentCaching,
}

/// What the response's `Cache-Control` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentCaching {
    /// `no-store` or `no-cache`: fetch again on the next use.
    DoNotCache,
    /// `max-age` in seconds.
    MaxAge(u64),
    /// No usable directive: the server's default applies.
    Unspecified,
}

/// Why a document could not be had; the text is shown to the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentFetchError {
    /// The server's rules forbid it (an address, a redirect off the host, too large, not JSON).
    #[error("{0}")]
    Refused(String),
    /// The host did not answer well (connection, timeout, status).
    #[error("{0}")]
    Unreachable(String),
    /// This node is already fetching as many documents as it allows: nothing was asked of the
    /// host, so nothing about the document is known (or remembered).
    #[error("too many client metadata documents are being fetched; try again shortly")]
    Busy,
}
