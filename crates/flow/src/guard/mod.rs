//! Attempt limiting and account lockout: the one choke point every credential check passes
//! through. OWASP Authentication Cheat Sheet ("Account Lockout"), Credential Stuffing Cheat
//! Sheet; NIST SP 800-63B §5.2.2 (rate limiting); RFC 6749 §10.10 and RFC 6819 §4.3.2,
//! §5.1.4.2.3 (online guessing); RFC 6585 §4 (`429 Too Many Requests`), RFC 9110 §10.2.3
//! (`Retry-After`). docs/threat-model.md LF-02, LF-04, LF-05, RC-05, FT-01.
//!
//! Three kinds of counter, all in the ephemeral store so every node sees the same numbers:
//!
//! - per client IP and per IP prefix (/24 for IPv4, /64 for IPv6): failed checks in a window
//!   ([`source`]); past the limit the caller gets [`Throttled`] (429 + `Retry-After`) before
//!   anything is verified. These hit an attacker first, so guessing spread over many accounts
//!   from one network stops there.
//! - nothing per client id: client secrets and registration access tokens are 256-bit
//!   server-generated values nobody can guess, and a limit keyed by a public client id would let
//!   anyone lock a relying party out of its own token endpoint.
//! - per account: the streak of failures since the last success, and the durable lock it
//!   earns ([`account`]).
//!
//! The windows are sliding estimates over two fixed windows ([`window`]); the limits are
//! configured as [`AttemptLimits`] ([`limits`]); lockouts and unlocks are audited ([`audit`]).
//!
//! Every store failure is an error, never a skipped check: callers answer 503 (fail closed).

pub mod account;
pub mod audit;
pub mod limits;
pub mod source;
mod window;

pub use account::{AccountKey, FailureReason, Reservation};
pub use audit::log_audit_event;
pub use limits::AttemptLimits;
pub use source::{SourceLimit, SourceLimiter, Throttled, prefix_of};

use palisade_core::ports::{AuditLog, EphemeralStore, LockoutRepository, StoreResult};
use palisade_core::{Clock, ErrorCode, OAuthError};
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

/// Which kind of credential is being checked; each has its own counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    /// A user's password (the login form, and any future password path).
    Password,
    /// A client secret at the token, introspection or revocation endpoint.
    ClientSecret,
    /// A registration access token (RFC 7592).
    RegistrationToken,
    /// A user code typed at `/device` (RFC 8628 §5.1: short, so guessing must hit a limit).
    UserCode,
}

impl CredentialKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "login",
            Self::ClientSecret => "client",
            Self::RegistrationToken => "registration",
            Self::UserCode => "user_code",
        }
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

/// Where an attempt came from, for limits and the audit trail.
#[derive(Debug, Clone, Default)]
pub struct AttemptContext {
    /// The client's IP (the socket peer, or the right-most untrusted `X-Forwarded-For` hop).
    pub client_ip: Option<IpAddr>,
    /// The OAuth client the user is signing in to, if any.
    pub client_id: Option<String>,
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

    /// A limiter on the same store and clock as this guard, with its own key prefix and limit
    /// (e.g. for an action that is not a credential check).
    pub fn source_limiter(
        &self,
        key_prefix: impl Into<String>,
        limit: SourceLimit,
    ) -> SourceLimiter {
        SourceLimiter::new(
            key_prefix,
            limit,
            self.ephemeral.clone(),
            self.clock.clone(),
        )
    }

    /// Admits one new sign-in (a stored interaction) from `client_ip`, or refuses it when the
    /// address or its network already started `interactions_per_ip` / `interactions_per_prefix`
    /// in the sliding window. Only admitted starts count, so a refused flood costs one read per
    /// request and its source is let back in as the window slides.
    pub async fn admit_interaction(
        &self,
        client_ip: Option<IpAddr>,
    ) -> StoreResult<Option<Throttled>> {
        let Some(ip) = client_ip else {
            return Ok(None);
        };
        self.source_limiter("guard:interaction", self.limits.interactions_per_source())
            .admit(ip)
            .await
    }

    /// The limiter of failed checks of `kind`.
    fn failed_checks(&self, kind: CredentialKind) -> SourceLimiter {
        self.source_limiter(
            format!("guard:{}", kind.as_str()),
            self.limits.failed_checks_per_source(),
        )
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
        let (throttled, read) = self
            .failed_checks(kind)
            .check_reading(client_ip, also_read)
            .await?;
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
        match client_ip {
            Some(ip) => self.failed_checks(kind).check(ip).await,
            None => Ok(None),
        }
    }

    /// Counts one failed check against `client_ip` and its prefix.
    pub async fn record_source_failure(
        &self,
        kind: CredentialKind,
        client_ip: Option<IpAddr>,
    ) -> StoreResult<()> {
        match client_ip {
            Some(ip) => self.failed_checks(kind).record(ip).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::model::{AccountLockout, AuditEvent, UserId};
    use std::time::Duration;

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
}
