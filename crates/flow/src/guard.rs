//! Attempt limiting and account lockout: the one choke point every credential check passes
//! through. OWASP Authentication Cheat Sheet ("Account Lockout"), Credential Stuffing Cheat
//! Sheet; NIST SP 800-63B §5.2.2 (rate limiting); RFC 6749 §10.10 and RFC 6819 §4.3.2,
//! §5.1.4.2.3 (online guessing); RFC 6585 §4 (`429 Too Many Requests`), RFC 9110 §10.2.3
//! (`Retry-After`). docs/threat-model.md LF-02, LF-04, LF-05, RC-05, FT-01.
//!
//! Three kinds of counter, all in the ephemeral store so every node sees the same numbers:
//!
//! - per client IP and per IP prefix (/24 for IPv4, /64 for IPv6): failed checks in a window;
//!   past the limit the caller gets [`Throttled`] (429 + `Retry-After`) before anything is
//!   verified. These hit an attacker first, so guessing spread over many accounts from one
//!   network stops there.
//! - nothing per client id: client secrets and registration access tokens are 256-bit
//!   server-generated values nobody can guess, and a limit keyed by a public client id would let
//!   anyone lock a relying party out of its own token endpoint.
//! - per account (the case-folded username, hashed): the streak of failures since the last
//!   success. Its counter is a *reservation*: it is incremented **before** the password is
//!   verified, and an attempt that finds `threshold` failures already counted is refused without
//!   a verification. The attempt that completes the streak writes the lock **durably** to SQL
//!   ([`LockoutRepository`]) with an exponential duration (base, doubling, capped), so flushing
//!   Redis unlocks nobody, and then clears the streak. The lock is read before the reservation
//!   and again after it (a reservation made after the clear always sees the lock), so N
//!   concurrent wrong attempts cost at most `threshold` verifications.
//!
//! Windows are "sliding-ish": two fixed windows, the previous one weighted by how much of it
//! still overlaps the sliding window (`current + previous * (1 - elapsed_fraction)`, the
//! approach of Cloudflare's and nginx's limiters). Window boundaries come from the injected
//! [`Clock`], and each window has its own key, so tests that move the clock move the windows;
//! the store's TTL (two windows of wall-clock time) only bounds how long a key lingers.
//!
//! Every store failure is an error, never a skipped check: callers answer 503 (fail closed).

use crate::server::AuthorizationServer;
use chrono::{DateTime, Utc};
use palisade_core::model::{AccountLockout, AuditEvent, AuditOutcome, User, UserId};
use palisade_core::ports::{AuditLog, EphemeralStore, LockoutRepository, StoreError, StoreResult};
use palisade_core::{Clock, ErrorCode, OAuthError, TokenHash};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The limits, as configured (`[attempt_limits]`, docs/configuration.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttemptLimits {
    /// Length of the window of the per-IP, per-prefix and per-client counters.
    pub window_secs: u64,
    /// Failed checks allowed from one IP address per window.
    pub per_ip: u64,
    /// Failed checks allowed from one /24 (IPv4) or /64 (IPv6) per window.
    pub per_prefix: u64,
    /// Consecutive failures that lock an account.
    pub lockout_threshold: u64,
    /// The failures must fall within this window to count as one streak.
    pub lockout_window_secs: u64,
    /// The first lock's duration; each further lock doubles it.
    pub lockout_base_secs: u64,
    /// The longest lock. A lock that ended longer ago than this no longer doubles the next one.
    pub lockout_max_secs: u64,
    /// Sign-ins (stored interactions) one IP address may start per `interaction_window_secs`.
    pub interactions_per_ip: u64,
    /// Sign-ins one /24 (IPv4) or /64 (IPv6) may start per `interaction_window_secs`.
    pub interactions_per_prefix: u64,
    /// The window of the two interaction limits.
    pub interaction_window_secs: u64,
}

impl Default for AttemptLimits {
    fn default() -> Self {
        Self {
            window_secs: 15 * 60,
            per_ip: 50,
            per_prefix: 200,
            lockout_threshold: 5,
            lockout_window_secs: 15 * 60,
            lockout_base_secs: 15 * 60,
            lockout_max_secs: 24 * 3600,
            // Two sign-ins a second from one address, ten from one network: above what a shared
            // office address starts, and it caps what one source keeps stored at
            // `interaction_ttl / window * limit` interactions, so it takes many networks to
            // fill the in-process store's 100,000 keys (docs/configuration.md).
            interactions_per_ip: 120,
            interactions_per_prefix: 600,
            interaction_window_secs: 60,
        }
    }
}

impl AttemptLimits {
    /// Checks the limits make sense; the error names the offending field.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        let positive = [
            ("window_secs", self.window_secs),
            ("per_ip", self.per_ip),
            ("per_prefix", self.per_prefix),
            ("lockout_threshold", self.lockout_threshold),
            ("lockout_window_secs", self.lockout_window_secs),
            ("lockout_base_secs", self.lockout_base_secs),
            ("lockout_max_secs", self.lockout_max_secs),
            ("interactions_per_ip", self.interactions_per_ip),
            ("interactions_per_prefix", self.interactions_per_prefix),
            ("interaction_window_secs", self.interaction_window_secs),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err((name, "must be at least 1"));
        }
        if self.lockout_base_secs > self.lockout_max_secs {
            return Err(("lockout_base_secs", "must not exceed lockout_max_secs"));
        }
        if self.interactions_per_ip > self.interactions_per_prefix {
            return Err((
                "interactions_per_prefix",
                "must be at least interactions_per_ip (a prefix holds the IP)",
            ));
        }
        if self.per_ip > self.per_prefix {
            return Err((
                "per_prefix",
                "must be at least per_ip (a prefix holds the IP)",
            ));
        }
        Ok(())
    }

    /// The duration of the `lock_count`-th lock in a row: base, doubling, capped.
    pub fn lock_duration(&self, lock_count: i32) -> Duration {
        let doublings = u32::try_from(lock_count.saturating_sub(1).max(0)).unwrap_or(0);
        let secs = 2u64
            .checked_pow(doublings)
            .and_then(|factor| self.lockout_base_secs.checked_mul(factor))
            .unwrap_or(u64::MAX);
        Duration::from_secs(secs.min(self.lockout_max_secs))
    }
}

/// Which kind of credential is being checked; each has its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A user's password (the login form, and any future password path).
    Password,
    /// A client secret at the token, introspection or revocation endpoint.
    ClientSecret,
    /// A registration access token (RFC 7592).
    RegistrationToken,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "login",
            Self::ClientSecret => "client",
            Self::RegistrationToken => "registration",
        }
    }
}

/// Too many failed attempts: answer `429 Too Many Requests` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

impl Throttled {
    /// Whole seconds for `Retry-After` (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs().max(1)
    }

    /// Whole minutes for a message to a person (at least 1).
    pub fn retry_after_minutes(&self) -> u64 {
        self.retry_after_secs().div_ceil(60)
    }
}

/// The outcome of [`CredentialGuard::attempt`] when the check did not pass.
#[derive(Debug)]
pub enum GuardError {
    /// Refused before checking: 429 + `Retry-After`.
    Throttled(Throttled),
    /// The check itself failed (counted if it was a credential failure), or storage failed.
    Failed(OAuthError),
}

impl From<OAuthError> for GuardError {
    fn from(e: OAuthError) -> Self {
        Self::Failed(e)
    }
}

impl From<palisade_core::StoreError> for GuardError {
    fn from(e: palisade_core::StoreError) -> Self {
        Self::Failed(e.into())
    }
}

/// Why a login failed, for the audit trail only (the user always sees one generic message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    UnknownAccount,
    AccountDisabled,
    WrongPassword,
    /// The durable lock is in force.
    AccountLocked,
    /// The streak counter was full (the lock is being written by a concurrent attempt, or the
    /// account is unknown).
    TooManyFailures,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownAccount => "unknown_account",
            Self::AccountDisabled => "account_disabled",
            Self::WrongPassword => "wrong_password",
            Self::AccountLocked => "account_locked",
            Self::TooManyFailures => "too_many_failures",
        }
    }
}

/// Where an attempt came from, for limits and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AttemptContext {
    /// The client's IP (the socket peer, or the right-most untrusted `X-Forwarded-For` hop).
    pub client_ip: Option<IpAddr>,
    /// The OAuth client the user is signing in to, if any.
    pub client_id: Option<String>,
}

/// The counters and the lock of one account, named by its case-folded username.
#[derive(Debug, Clone)]
pub struct AccountKey(String);

impl AccountKey {
    /// Hashed, so that whatever was typed (valid username or not) makes a short, safe key.
    pub fn of(username: &str) -> Self {
        let folded = palisade_core::model::Username::parse(username)
            .map(|u| u.as_str().to_owned())
            .unwrap_or_else(|_| username.to_owned());
        Self(TokenHash::of(&folded).as_str().to_owned())
    }
}

/// One window's position at an instant.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WindowPosition {
    index: i64,
    /// How much of the current window has passed, in [0, 1).
    elapsed: f64,
    length: Duration,
}

impl WindowPosition {
    fn at(now: DateTime<Utc>, length_secs: u64) -> Self {
        let length = i64::try_from(length_secs.max(1)).unwrap_or(i64::MAX);
        let millis = now.timestamp_millis();
        let length_millis = length.saturating_mul(1000);
        let index = millis.div_euclid(length_millis);
        let into = millis.rem_euclid(length_millis);
        Self {
            index,
            elapsed: into as f64 / length_millis as f64,
            length: Duration::from_secs(length_secs.max(1)),
        }
    }

    /// The sliding estimate from the current and previous windows' counts.
    fn estimate(&self, current: u64, previous: u64) -> u64 {
        current + (previous as f64 * (1.0 - self.elapsed)).floor() as u64
    }

    /// The longest wait among `sources` (key, limit) over their limit, given each one's
    /// current and previous window counts in pairs.
    fn worst_of(&self, sources: &[(String, u64)], counts: &[u64]) -> Option<Throttled> {
        let mut worst: Option<Throttled> = None;
        for ((_, limit), pair) in sources.iter().zip(counts.chunks_exact(2)) {
            let (limit, current, previous) = (*limit, pair[0], pair[1]);
            if self.estimate(current, previous) >= limit {
                let retry_after = self.time_until_below(limit, current, previous);
                if worst.is_none_or(|w| w.retry_after < retry_after) {
                    worst = Some(Throttled { retry_after });
                }
            }
        }
        worst
    }

    /// How long until the estimate drops below `limit`, assuming no new hits.
    fn time_until_below(&self, limit: u64, current: u64, previous: u64) -> Duration {
        let w = self.length.as_secs_f64();
        let left_in_window = (1.0 - self.elapsed) * w;
        let wait = if current < limit {
            // Within this window, as the previous one's weight shrinks.
            if previous == 0 {
                0.0
            } else {
                let fraction = 1.0 - self.elapsed - (limit - current) as f64 / previous as f64;
                (fraction * w).clamp(0.0, left_in_window)
            }
        } else {
            // Only once this window is the previous one and has shrunk enough.
            left_in_window + w * (1.0 - limit as f64 / current as f64)
        };
        // To the millisecond first, so float noise does not add a second.
        let wait = (wait.max(0.0) * 1000.0).round() / 1000.0;
        Duration::from_secs_f64(wait.ceil()).max(Duration::from_secs(1))
    }
}

/// The attempt limiter and account lock. Cheap to clone (ports behind `Arc`).
#[derive(Clone)]
pub struct CredentialGuard {
    pub limits: AttemptLimits,
    ephemeral: Arc<dyn EphemeralStore>,
    lockouts: Arc<dyn LockoutRepository>,
    audit: Arc<dyn AuditLog>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for CredentialGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialGuard")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// A failed credential check's effect on the account, decided by [`CredentialGuard::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead and verify; `completes_streak` when a failure now must lock the account.
    Granted { completes_streak: bool },
    /// The streak is full: fail without verifying.
    Refused,
}

impl CredentialGuard {
    pub fn new(
        limits: AttemptLimits,
        ephemeral: Arc<dyn EphemeralStore>,
        lockouts: Arc<dyn LockoutRepository>,
        audit: Arc<dyn AuditLog>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            limits,
            ephemeral,
            lockouts,
            audit,
            clock,
        }
    }

    /// Runs a credential `check` of `kind` under the limits: refused with
    /// [`GuardError::Throttled`] before the check when the IP or its prefix is over its limit;
    /// a failed check (`invalid_client`, `invalid_token`) is counted against both. Other errors
    /// pass through uncounted.
    pub async fn attempt<T>(
        &self,
        kind: CredentialKind,
        client_ip: Option<IpAddr>,
        check: impl Future<Output = Result<T, OAuthError>>,
    ) -> Result<T, GuardError> {
        self.attempt_reading(kind, client_ip, &[], |_| check).await
    }

    /// [`Self::attempt`], also reading `also_read` from the ephemeral store in the same round
    /// trip as the attempt counters; `check` gets their values, in order. The reads happen
    /// before the credential is checked, so they must be ones an unauthenticated caller may
    /// cause (they are never shown to it): introspection reads the presented token's
    /// revocation markers this way, one round trip instead of two.
    pub async fn attempt_reading<T, Check>(
        &self,
        kind: CredentialKind,
        client_ip: Option<IpAddr>,
        also_read: &[&str],
        check: impl FnOnce(Vec<Option<Vec<u8>>>) -> Check,
    ) -> Result<T, GuardError>
    where
        Check: Future<Output = Result<T, OAuthError>>,
    {
        let (throttled, read) = self.read_source(kind, client_ip, also_read).await?;
        if let Some(throttled) = throttled {
            tracing::info!(target: "audit", action = kind.as_str(), outcome = "throttled", client_ip = ?client_ip, "too many failed attempts from this address");
            return Err(GuardError::Throttled(throttled));
        }
        match check(read).await {
            Ok(value) => Ok(value),
            Err(error)
                if matches!(
                    error.code,
                    ErrorCode::InvalidClient | ErrorCode::InvalidToken
                ) =>
            {
                self.record_source_failure(kind, client_ip).await?;
                tracing::info!(target: "audit", action = kind.as_str(), outcome = "failure", client_ip = ?client_ip, code = %error.code);
                Err(GuardError::Failed(error))
            }
            Err(error) => Err(GuardError::Failed(error)),
        }
    }

    /// Whether `client_ip` (or its prefix) is over its failure limit for `kind`.
    pub async fn check_source(
        &self,
        kind: CredentialKind,
        client_ip: Option<IpAddr>,
    ) -> StoreResult<Option<Throttled>> {
        Ok(self.read_source(kind, client_ip, &[]).await?.0)
    }

    /// [`Self::check_source`] and the values of `also_read`, in one read of the store.
    async fn read_source(
        &self,
        kind: CredentialKind,
        client_ip: Option<IpAddr>,
        also_read: &[&str],
    ) -> StoreResult<(Option<Throttled>, Vec<Option<Vec<u8>>>)> {
        let Some(ip) = client_ip else {
            let read = if also_read.is_empty() {
                Vec::new()
            } else {
                self.ephemeral.get_many(also_read).await?
            };
            return Ok((None, read));
        };
        let position = self.position(self.limits.window_secs);
        let sources = self.source_keys(kind, ip);
        // Every counter in one read: this runs before each client authentication.
        let keys: Vec<String> = sources
            .iter()
            .flat_map(|(key, _)| {
                [
                    window_key(key, position.index),
                    window_key(key, position.index - 1),
                ]
            })
            .collect();
        let key_refs: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .chain(also_read.iter().copied())
            .collect();
        let mut values = self.ephemeral.get_many(&key_refs).await?;
        // The stores promise one value per key; a short answer must fail, not pass as "no
        // revocation marker" for the keys read ahead.
        if values.len() != key_refs.len() {
            return Err(StoreError::Internal(
                "the store answered a different number of keys than asked".into(),
            ));
        }
        let read = values.split_off(keys.len());
        let counts: Vec<u64> = values
            .iter()
            .map(|value| parse_count(value.as_deref()))
            .collect();
        let worst = position.worst_of(&sources, &counts);
        Ok((worst, read))
    }

    /// Counts one failed check against `client_ip` and its prefix.
    pub async fn record_source_failure(
        &self,
        kind: CredentialKind,
        client_ip: Option<IpAddr>,
    ) -> StoreResult<()> {
        let Some(ip) = client_ip else {
            return Ok(());
        };
        let position = self.position(self.limits.window_secs);
        for (key, _) in self.source_keys(kind, ip) {
            self.ephemeral
                .increment(&window_key(&key, position.index), two_windows(position))
                .await?;
        }
        Ok(())
    }

    /// Admits one new sign-in (a stored interaction) from `client_ip`, or refuses it when the
    /// address or its network already started `interactions_per_ip` / `interactions_per_prefix`
    /// in the sliding window. Only admitted starts are counted, so a flood that is refused costs
    /// one read per request and its source is let back in as the window slides.
    pub async fn admit_interaction(
        &self,
        client_ip: Option<IpAddr>,
    ) -> StoreResult<Option<Throttled>> {
        let Some(ip) = client_ip else {
            return Ok(None);
        };
        let limits = &self.limits;
        let position = self.position(limits.interaction_window_secs);
        let ip = ip.to_canonical();
        let sources = [
            (
                format!("guard:interaction:ip:{ip}"),
                limits.interactions_per_ip,
            ),
            (
                format!("guard:interaction:net:{}", prefix_of(ip)),
                limits.interactions_per_prefix,
            ),
        ];
        let keys: Vec<String> = sources
            .iter()
            .flat_map(|(key, _)| {
                [
                    window_key(key, position.index),
                    window_key(key, position.index - 1),
                ]
            })
            .collect();
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = self.ephemeral.get_many(&key_refs).await?;
        if values.len() != key_refs.len() {
            return Err(StoreError::Internal(
                "the store answered a different number of keys than asked".into(),
            ));
        }
        let counts: Vec<u64> = values.iter().map(|v| parse_count(v.as_deref())).collect();
        let worst = position.worst_of(&sources, &counts);
        if worst.is_none() {
            for (key, _) in &sources {
                self.ephemeral
                    .increment(&window_key(key, position.index), two_windows(position))
                    .await?;
            }
        }
        Ok(worst)
    }

    /// The durable lock of `user`, if one is recorded. With `None` (unknown or disabled
    /// account) it still asks the store, for a name no account has, so both cost one query.
    pub async fn find_lockout(&self, user: Option<&UserId>) -> StoreResult<Option<AccountLockout>> {
        let nobody = UserId(String::new());
        let found = self
            .lockouts
            .find_account_lockout(user.unwrap_or(&nobody))
            .await?;
        Ok(found.filter(|_| user.is_some()))
    }

    /// Whether `lockout` is in force now.
    pub fn is_locked(&self, lockout: Option<&AccountLockout>) -> bool {
        let now = self.clock.now();
        lockout
            .and_then(|l| l.locked_until)
            .is_some_and(|until| until > now)
    }

    /// Reserves one attempt on the account's streak, before verifying (see the module docs).
    pub async fn reserve(&self, account: &AccountKey) -> StoreResult<Reservation> {
        let position = self.position(self.limits.lockout_window_secs);
        let key = account_key(account);
        let current = self
            .ephemeral
            .increment(&window_key(&key, position.index), two_windows(position))
            .await?;
        let previous = self.count(&window_key(&key, position.index - 1)).await?;
        // Failures (and attempts in flight) counted before this one.
        let before = position.estimate(current.saturating_sub(1), previous);
        let threshold = self.limits.lockout_threshold;
        Ok(if before >= threshold {
            Reservation::Refused
        } else {
            Reservation::Granted {
                completes_streak: before + 1 >= threshold,
            }
        })
    }

    /// After a success: the streak starts over, and a recorded lock history is forgotten.
    pub async fn reset(
        &self,
        account: &AccountKey,
        user: &UserId,
        lockout: Option<&AccountLockout>,
    ) -> StoreResult<()> {
        self.clear_streak(account).await?;
        if lockout.is_some() {
            self.lockouts.clear_account_lockout(user).await?;
        }
        Ok(())
    }

    async fn clear_streak(&self, account: &AccountKey) -> StoreResult<()> {
        let position = self.position(self.limits.lockout_window_secs);
        let key = account_key(account);
        self.ephemeral
            .delete(&window_key(&key, position.index))
            .await?;
        self.ephemeral
            .delete(&window_key(&key, position.index - 1))
            .await
    }

    /// Writes the lock that a completed streak earns: base duration, doubled for each lock in a
    /// row (a lock counts as "in a row" if the previous one ended less than `lockout_max_secs`
    /// ago), capped. Idempotent: if a lock is already in force, it is kept as is. The streak's
    /// counters are cleared so that attempts after the lock start a fresh streak.
    pub async fn lock(
        &self,
        account: &AccountKey,
        user: &User,
        context: &AttemptContext,
    ) -> StoreResult<AccountLockout> {
        let now = self.clock.now();
        let existing = self.lockouts.find_account_lockout(&user.id).await?;
        if let Some(current) = existing
            .as_ref()
            .filter(|l| l.locked_until.is_some_and(|u| u > now))
        {
            return Ok(current.clone());
        }
        let recent = chrono::Duration::seconds(
            i64::try_from(self.limits.lockout_max_secs).unwrap_or(i64::MAX),
        );
        let previous_locks = existing
            .as_ref()
            .filter(|l| l.locked_until.is_some_and(|until| now - until < recent))
            .map_or(0, |l| l.lock_count);
        let lock_count = previous_locks.saturating_add(1);
        let duration = self.limits.lock_duration(lock_count);
        let locked_until = now + chrono::Duration::from_std(duration).unwrap_or(recent);
        let lockout = AccountLockout {
            user_id: user.id.clone(),
            // The streak itself lives in the ephemeral counters; the row keeps what it earned.
            failure_streak: i32::try_from(self.limits.lockout_threshold).unwrap_or(i32::MAX),
            first_failure_at: None,
            locked_until: Some(locked_until),
            lock_count,
        };
        self.lockouts.save_account_lockout(lockout.clone()).await?;
        self.clear_streak(account).await?;
        self.record(AuditEvent {
            occurred_at: now,
            actor: "system".into(),
            action: "user.lockout".into(),
            target: Some(format!("user:{}", user.id)),
            outcome: AuditOutcome::Success,
            client_ip: context.client_ip.map(|ip| ip.to_string()),
            details: Some(
                serde_json::json!({
                    "locked_until": locked_until.to_rfc3339(),
                    "lock_count": lock_count,
                    "duration_secs": duration.as_secs(),
                })
                .to_string(),
            ),
        })
        .await;
        Ok(lockout)
    }

    /// Lifts the lock of `user` and forgets its streak and lock history (CLI and admin API).
    /// Returns whether a lock was in force. `actor` names who did it (`cli`, `user:<id>`).
    pub async fn unlock(&self, user: &User, actor: &str) -> StoreResult<bool> {
        let was_locked =
            self.is_locked(self.lockouts.find_account_lockout(&user.id).await?.as_ref());
        self.lockouts.clear_account_lockout(&user.id).await?;
        // The durable lock is what matters; a streak in an unreachable store expires anyway.
        if let Err(e) = self
            .clear_streak(&AccountKey::of(user.username.as_str()))
            .await
        {
            tracing::warn!(user = %user.id, error = %e, "could not clear the failure streak");
        }
        self.record(AuditEvent {
            occurred_at: self.clock.now(),
            actor: actor.to_owned(),
            action: "user.unlock".into(),
            target: Some(format!("user:{}", user.id)),
            outcome: AuditOutcome::Success,
            client_ip: None,
            details: Some(serde_json::json!({ "was_locked": was_locked }).to_string()),
        })
        .await;
        Ok(was_locked)
    }

    /// Writes an audit event and its structured log line (target `audit`). A failure to write
    /// is logged as an error; it does not undo what happened.
    pub async fn record(&self, event: AuditEvent) {
        log_audit_event(&event);
        if let Err(e) = self.audit.record(event).await {
            tracing::error!(error = %e, "could not write an audit event");
        }
    }

    fn position(&self, length_secs: u64) -> WindowPosition {
        WindowPosition::at(self.clock.now(), length_secs)
    }

    fn source_keys(&self, kind: CredentialKind, ip: IpAddr) -> [(String, u64); 2] {
        let ip = ip.to_canonical();
        [
            (
                format!("guard:{}:ip:{ip}", kind.as_str()),
                self.limits.per_ip,
            ),
            (
                format!("guard:{}:net:{}", kind.as_str(), prefix_of(ip)),
                self.limits.per_prefix,
            ),
        ]
    }

    async fn count(&self, key: &str) -> StoreResult<u64> {
        Ok(parse_count(self.ephemeral.get(key).await?.as_deref()))
    }
}

/// A counter as the store holds it (decimal text); absent or unreadable counts as zero.
fn parse_count(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

impl AuthorizationServer {
    /// Lifts the lock of the user with this id (the admin API's unlock). `actor` names who did
    /// it, e.g. `user:<admin id>`. `Ok(None)` if there is no such user, else whether a lock was
    /// in force.
    pub async fn unlock_account(
        &self,
        user: &UserId,
        actor: &str,
    ) -> Result<Option<bool>, OAuthError> {
        let Some(user) = self.users.find_user_by_id(user).await? else {
            return Ok(None);
        };
        Ok(Some(self.guard.unlock(&user, actor).await?))
    }
}

fn account_key(account: &AccountKey) -> String {
    format!("guard:login:account:{}", account.0)
}

fn window_key(base: &str, index: i64) -> String {
    format!("{base}:{index}")
}

/// Keys live two windows: long enough to be read as "the previous window".
fn two_windows(position: WindowPosition) -> Duration {
    position.length.saturating_mul(2)
}

/// The network an address belongs to for the prefix limit: /24 for IPv4, /64 for IPv6 (one
/// customer's allocation, so rotating through its addresses does not escape the limit).
pub fn prefix_of(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
    }
}

/// The structured log line of an audit event (target `audit`), emitted before it is stored.
pub fn log_audit_event(event: &AuditEvent) {
    tracing::info!(
        target: "audit",
        actor = %event.actor,
        action = %event.action,
        target_id = event.target.as_deref().unwrap_or("-"),
        outcome = event.outcome.as_str(),
        client_ip = event.client_ip.as_deref().unwrap_or("-"),
        details = event.details.as_deref().unwrap_or("{}"),
        at = %event.occurred_at.to_rfc3339(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn prefixes_are_slash_24_and_slash_64() {
        let cases = [
            ("203.0.113.77", "203.0.113.0/24"),
            ("::ffff:203.0.113.77", "203.0.113.0/24"),
            ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
            ("::1", "::/64"),
        ];
        for (ip, prefix) in cases {
            assert_eq!(prefix_of(ip.parse().unwrap()), prefix, "{ip}");
        }
    }

    #[test]
    fn lock_durations_double_from_the_base_up_to_the_cap() {
        let limits = AttemptLimits::default();
        let minutes = |n: i32| limits.lock_duration(n).as_secs() / 60;
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 7, 50, i32::MAX].map(minutes),
            [15, 30, 60, 120, 240, 480, 960, 1440, 1440]
        );
        assert_eq!(limits.lock_duration(0).as_secs(), 15 * 60);
    }

    #[test]
    fn the_previous_window_counts_for_the_part_that_still_overlaps() {
        // 900 s windows; 300 s into window 2 the previous one weighs 2/3.
        let p = WindowPosition::at(at(2 * 900 + 300), 900);
        assert_eq!(p.index, 2);
        assert_eq!(p.estimate(1, 6), 1 + 4);
        assert_eq!(p.estimate(0, 0), 0);
        // At the start of a window the previous one counts fully.
        assert_eq!(WindowPosition::at(at(900), 900).estimate(0, 5), 5);
    }

    #[test]
    fn retry_after_is_when_the_estimate_falls_below_the_limit() {
        let p = WindowPosition::at(at(900 + 300), 900);
        // Over the limit in this window alone: wait for the window to end (600 s), then until
        // the weight of 10 falls below 5 (half of the next window, 450 s).
        assert_eq!(p.time_until_below(5, 10, 0).as_secs(), 600 + 450);
        // Over only through the previous window: 2 + 6 * (1 - f) < 5 once f > 1/2 (150 s).
        assert_eq!(p.time_until_below(5, 2, 6).as_secs(), 150);
        // Never less than a second.
        assert_eq!(p.time_until_below(5, 4, 0).as_secs(), 1);
    }

    #[test]
    fn default_limits_are_valid_and_nonsense_is_named() {
        assert_eq!(AttemptLimits::default().validate(), Ok(()));
        let zero = AttemptLimits {
            lockout_threshold: 0,
            ..AttemptLimits::default()
        };
        assert_eq!(zero.validate().unwrap_err().0, "lockout_threshold");
        let inverted = AttemptLimits {
            lockout_base_secs: 100_000,
            ..AttemptLimits::default()
        };
        assert_eq!(inverted.validate().unwrap_err().0, "lockout_base_secs");
    }

    /// The store under test (Redis or in-process, as the environment picks), counting reads.
    struct CountingReads {
        store: Arc<dyn EphemeralStore>,
        reads: std::sync::atomic::AtomicUsize,
    }

    impl CountingReads {
        fn reads(&self) -> usize {
            self.reads.load(std::sync::atomic::Ordering::SeqCst)
        }
        fn count(&self) {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[async_trait::async_trait]
    impl palisade_core::ports::HealthCheck for CountingReads {
        async fn ping(&self) -> StoreResult<()> {
            self.store.ping().await
        }
    }

    #[async_trait::async_trait]
    impl EphemeralStore for CountingReads {
        async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<()> {
            self.store.put(key, value, ttl).await
        }
        async fn put_if_absent(&self, key: &str, value: &[u8], ttl: Duration) -> StoreResult<bool> {
            self.store.put_if_absent(key, value, ttl).await
        }
        async fn get(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
            self.count();
            self.store.get(key).await
        }
        async fn get_many(&self, keys: &[&str]) -> StoreResult<Vec<Option<Vec<u8>>>> {
            self.count();
            self.store.get_many(keys).await
        }
        async fn take(&self, key: &str) -> StoreResult<Option<Vec<u8>>> {
            self.store.take(key).await
        }
        async fn delete(&self, key: &str) -> StoreResult<()> {
            self.store.delete(key).await
        }
        async fn increment(&self, key: &str, ttl: Duration) -> StoreResult<u64> {
            self.store.increment(key, ttl).await
        }
    }

    #[tokio::test]
    async fn what_is_read_ahead_comes_in_the_counters_read_and_only_if_not_throttled() {
        let (store, _cleanup) = palisade_store::testing::ephemeral_store().await;
        let counting = Arc::new(CountingReads {
            store,
            reads: Default::default(),
        });
        let limits = AttemptLimits {
            per_ip: 2,
            ..AttemptLimits::default()
        };
        let guard = CredentialGuard::new(
            limits,
            counting.clone(),
            Arc::new(Down),
            Arc::new(Down),
            Arc::new(palisade_core::ManualClock::starting_now()),
        );
        counting
            .put("marker", b"1", Duration::from_secs(60))
            .await
            .unwrap();
        let ip = Some("192.0.2.7".parse().unwrap());
        let keys = ["absent", "marker"];
        let kind = CredentialKind::ClientSecret;

        let read = guard
            .attempt_reading(kind, ip, &keys, |read| async move { Ok(read) })
            .await
            .unwrap();
        assert_eq!(read, vec![None, Some(b"1".to_vec())]);
        assert_eq!(counting.reads(), 1, "counters and markers in one read");

        // Without an address there are no counters, but the keys are still read.
        let read = guard
            .attempt_reading(kind, None, &keys, |read| async move { Ok(read) })
            .await
            .unwrap();
        assert_eq!(read, vec![None, Some(b"1".to_vec())]);

        // Past the limit the check never runs, and the read-ahead values are not handed out.
        for _ in 0..2 {
            guard.record_source_failure(kind, ip).await.unwrap();
        }
        let mut checked = false;
        let result = guard
            .attempt_reading(kind, ip, &keys, |_| async {
                checked = true;
                Ok::<_, OAuthError>(())
            })
            .await;
        assert!(
            matches!(result, Err(GuardError::Throttled(_))),
            "{result:?}"
        );
        assert!(!checked);
    }

    /// Every store call fails as an unreachable Redis/database would.
    struct Down;

    fn down<T>() -> StoreResult<T> {
        Err(palisade_core::StoreError::Unavailable(
            "connection refused".into(),
        ))
    }

    #[async_trait::async_trait]
    impl palisade_core::ports::HealthCheck for Down {
        async fn ping(&self) -> StoreResult<()> {
            down()
        }
    }

    #[async_trait::async_trait]
    impl EphemeralStore for Down {
        async fn put(&self, _: &str, _: &[u8], _: Duration) -> StoreResult<()> {
            down()
        }
        async fn put_if_absent(&self, _: &str, _: &[u8], _: Duration) -> StoreResult<bool> {
            down()
        }
        async fn get(&self, _: &str) -> StoreResult<Option<Vec<u8>>> {
            down()
        }
        async fn get_many(&self, _: &[&str]) -> StoreResult<Vec<Option<Vec<u8>>>> {
            down()
        }
        async fn take(&self, _: &str) -> StoreResult<Option<Vec<u8>>> {
            down()
        }
        async fn delete(&self, _: &str) -> StoreResult<()> {
            down()
        }
        async fn increment(&self, _: &str, _: Duration) -> StoreResult<u64> {
            down()
        }
    }

    #[async_trait::async_trait]
    impl LockoutRepository for Down {
        async fn find_account_lockout(&self, _: &UserId) -> StoreResult<Option<AccountLockout>> {
            down()
        }
        async fn save_account_lockout(&self, _: AccountLockout) -> StoreResult<()> {
            down()
        }
        async fn clear_account_lockout(&self, _: &UserId) -> StoreResult<()> {
            down()
        }
    }

    #[async_trait::async_trait]
    impl AuditLog for Down {
        async fn record(&self, _: AuditEvent) -> StoreResult<()> {
            down()
        }
        async fn query(&self, _: palisade_core::model::AuditQuery) -> StoreResult<Vec<AuditEvent>> {
            down()
        }
    }

    #[tokio::test]
    async fn an_unreachable_store_is_an_error_never_a_pass() {
        let guard = CredentialGuard::new(
            AttemptLimits::default(),
            Arc::new(Down),
            Arc::new(Down),
            Arc::new(Down),
            Arc::new(palisade_core::ManualClock::starting_now()),
        );
        let ip = Some("192.0.2.1".parse().unwrap());
        assert!(
            guard
                .check_source(CredentialKind::Password, ip)
                .await
                .is_err()
        );
        assert!(
            guard
                .record_source_failure(CredentialKind::Password, ip)
                .await
                .is_err()
        );
        assert!(guard.reserve(&AccountKey::of("alice")).await.is_err());
        assert!(guard.find_lockout(None).await.is_err());
        let mut checked = false;
        let result = guard
            .attempt(CredentialKind::ClientSecret, ip, async {
                checked = true;
                Ok::<_, OAuthError>(())
            })
            .await;
        match result {
            Err(GuardError::Failed(e)) => assert_eq!(e.code, ErrorCode::TemporarilyUnavailable),
            other => panic!("{other:?}"),
        }
        assert!(
            !checked,
            "the credential is not checked when the limiter cannot be asked"
        );
    }

    #[test]
    fn account_keys_fold_case_and_hide_the_name() {
        assert_eq!(AccountKey::of("Alice").0, AccountKey::of(" alice ").0);
        assert_ne!(AccountKey::of("alice").0, AccountKey::of("bob").0);
        assert!(!AccountKey::of("alice").0.contains("alice"));
        // Not a valid username: still a key, never an error.
        assert_eq!(AccountKey::of("has space").0.len(), 43);
    }
}
