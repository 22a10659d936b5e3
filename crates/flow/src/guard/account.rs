//! Per account (the case-folded username, hashed): the streak of failures since the last
//! success, and the durable lock a completed streak earns. OWASP Authentication Cheat Sheet
//! ("Account Lockout"); RFC 6819 §4.3.2, §5.1.4.2.3.
//!
//! The streak's counter is a *reservation*: it is incremented **before** the password is
//! verified, and an attempt that finds `threshold` failures already counted is refused without
//! a verification. The attempt that completes the streak writes the lock **durably** to SQL
//! ([`LockoutRepository`](palisade_core::ports::LockoutRepository)) with an exponential
//! duration (base, doubling, capped), so flushing Redis unlocks nobody, and then clears the
//! streak. The lock is read before the reservation and again after it (a reservation made
//! after the clear always sees the lock), so N concurrent wrong attempts cost at most
//! `threshold` verifications.
//!
//! Attempts in flight count as failures until they end, right or wrong: concurrent sign-ins of
//! one account (a family sharing it, a load test with one user) could fill the streak without
//! a single failure, and the next attempt, with the right password, was refused unverified
//! ("invalid credentials"; issue 16, item 6). So a live account's full streak is waited out
//! ([`CredentialGuard::wait_for_streak`]): attempts in flight end soon, in a success that
//! clears the streak or in failures whose last one writes the lock, and the waiting attempt
//! then reserves again, or finds the lock.

use super::window::{WindowPosition, parse_count};
use super::{AttemptContext, CredentialGuard};
use crate::server::AuthorizationServer;
use palisade_core::model::{AccountLockout, AuditEvent, AuditOutcome, User, UserId};
use palisade_core::ports::StoreResult;
use palisade_core::{OAuthError, TokenHash};

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

    fn streak_key(&self) -> String {
        format!("guard:login:account:{}", self.0)
    }
}

/// How long an attempt waits for a live account's full streak to clear (attempts in flight to
/// end) before it is refused. A verification takes ~25 ms at the default argon2 parameters; a
/// second is the same patience as a wait for a hashing permit.
pub const STREAK_WAIT: std::time::Duration = std::time::Duration::from_secs(1);
/// The first pause between two looks at a full streak; it doubles up to [`STREAK_POLL_MAX`].
const STREAK_POLL_FIRST: std::time::Duration = std::time::Duration::from_millis(2);
const STREAK_POLL_MAX: std::time::Duration = std::time::Duration::from_millis(50);

/// A failed credential check's effect on the account, decided by [`CredentialGuard::reserve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// Go ahead and verify; `completes_streak` when a failure now must lock the account.
    Granted { completes_streak: bool },
    /// The streak is full: fail without verifying.
    Refused,
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

impl CredentialGuard {
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
        let position = self.streak_position();
        let [current_key, previous_key] = position.current_and_previous_keys(&account.streak_key());
        let current = self
            .ephemeral
            .increment(&current_key, position.key_ttl())
            .await?;
        let previous = parse_count(self.ephemeral.get(&previous_key).await?.as_deref());
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

    /// Waits, until `deadline` at most, for the account's streak to be no longer full (a
    /// success cleared it, or a lock was written and cleared it); reads only, so waiting adds
    /// nothing to the streak. Returns whether it cleared in time; the caller then reserves
    /// again and reads the lock again.
    pub async fn wait_for_streak(
        &self,
        account: &AccountKey,
        deadline: tokio::time::Instant,
    ) -> StoreResult<bool> {
        let mut pause = STREAK_POLL_FIRST;
        loop {
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(STREAK_POLL_MAX);
            if self.streak_estimate(account).await? < self.limits.lockout_threshold {
                return Ok(true);
            }
        }
    }

    /// The account's streak as a reservation would count it (failures and attempts in
    /// flight), read without adding to it.
    pub(crate) async fn streak_estimate(&self, account: &AccountKey) -> StoreResult<u64> {
        let position = self.streak_position();
        let [current_key, previous_key] = position.current_and_previous_keys(&account.streak_key());
        let counts = self
            .ephemeral
            .get_many(&[current_key.as_str(), previous_key.as_str()])
            .await?;
        let count = |i: usize| parse_count(counts.get(i).and_then(|v| v.as_deref()));
        Ok(position.estimate(count(0), count(1)))
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
        for key in self
            .streak_position()
            .current_and_previous_keys(&account.streak_key())
        {
            self.ephemeral.delete(&key).await?;
        }
        Ok(())
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

    fn streak_position(&self) -> WindowPosition {
        WindowPosition::at(self.clock.now(), self.limits.lockout_window_secs)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_fold_case_and_hide_the_name() {
        assert_eq!(AccountKey::of("Alice").0, AccountKey::of(" alice ").0);
        assert_ne!(AccountKey::of("alice").0, AccountKey::of("bob").0);
        assert!(!AccountKey::of("alice").0.contains("alice"));
        // Not a valid username: still a key, never an error.
        assert_eq!(AccountKey::of("has space").0.len(), 43);
    }
}
