//! Checking a user's password at the login form, under the attempt limits and the account lock
//! of [`crate::guard`]. OWASP Authentication Cheat Sheet ("Authentication and Error Messages",
//! "Account Lockout"); NIST SP 800-63B §5.2.2; docs/threat-model.md LF-02 to LF-06, RC-05.
//!
//! Every failure looks the same to the caller (unknown user, wrong password, disabled or
//! locked account) and costs about the same: unknown and disabled accounts get a dummy
//! verification, a locked account or a full streak gets none, whichever the account. The
//! order of the steps is the point:
//!
//! 1. the client IP and its prefix are under their limits (else 429, nothing else done);
//! 2. a hashing permit is free (else 503 at once, before any database work: saturation never
//!    costs the account an attempt; the permit guarantees a hashing slot afterwards);
//! 3. the account is looked up and its durable lock is not in force (checked while holding
//!    the permit);
//! 4. an attempt is reserved on the account's streak (else fail without verifying), and the
//!    lock is read once more: writing a lock clears the streak, so an attempt that passed
//!    step 3 just before a lock was written could otherwise start a fresh streak and verify.
//!    With both reads, concurrent wrong attempts cost at most `threshold` verifications. A
//!    live account's streak may be full of attempts still in flight, not of failures: the
//!    attempt waits for them to end (briefly, [`crate::guard::account::STREAK_WAIT`]) and then
//!    finds the streak cleared by a success, or the lock their failures wrote;
//! 5. the password is verified; a failure counts against the IP and may lock the account, a
//!    success upgrades an outdated hash and resets the streak — for a user with a second factor
//!    only once that factor is proved ([`crate::mfa::check`]), since wrong codes share it.

use crate::guard::account::STREAK_WAIT;
use crate::guard::{
    AccountKey, AttemptContext, CredentialKind, FailureReason, Reservation, Throttled,
};
use crate::password::{
    HashPermit, PasswordError, SATURATED_RETRY_AFTER, Verification, is_too_long,
};
use crate::server::AuthorizationServer;
use palisade_core::model::{AccountLockout, AuditEvent, AuditOutcome, User, Username};
use palisade_core::{OAuthError, Secret};
use std::time::Duration;

/// The outcome of a credential check.
#[derive(Debug)]
pub enum CredentialCheck {
    /// The password is right; `has_factor` when the user must still prove a second factor
    /// (so the failure streak was left as it is).
    Valid { user: User, has_factor: bool },
    /// Wrong credentials, or an account that may not log in now: one generic answer.
    Invalid,
    /// Too many failures from this address: 429 + `Retry-After`.
    Throttled(Throttled),
    /// Every hashing permit is held and the queue is full: 503 + `Retry-After`.
    Busy { retry_after: Duration },
}

impl AuthorizationServer {
    /// Verifies `username` and `password` from `context`. Storage trouble is an error (fail
    /// closed, 503), never an "invalid" answer and never a skipped limit.
    pub async fn check_credentials(
        &self,
        username: &str,
        password: &Secret,
        context: &AttemptContext,
    ) -> Result<CredentialCheck, OAuthError> {
        let guard = &self.guard;
        if let Some(throttled) = guard
            .check_source(CredentialKind::Password, context.client_ip)
            .await?
        {
            tracing::info!(target: "audit", action = "login", outcome = "throttled", client_ip = ?context.client_ip, retry_after_secs = throttled.retry_after_secs());
            return Ok(CredentialCheck::Throttled(throttled));
        }
        // Over-long passwords fail like wrong ones, without a permit and without hashing.
        let permit = if is_too_long(password) {
            None
        } else {
            match self.passwords.permit().await {
                Ok(permit) => Some(permit),
                Err(PasswordError::Saturated) => {
                    // Debug only: under a flood a line per refusal would be the next bottleneck;
                    // the 503s show in the request metrics.
                    tracing::debug!(client_ip = ?context.client_ip, "password hashing saturated; login answered 503");
                    return Ok(CredentialCheck::Busy {
                        retry_after: SATURATED_RETRY_AFTER,
                    });
                }
                Err(e) => return Err(OAuthError::server_error(e)),
            }
        };
        let account = AccountKey::of(username);
        let user = match Username::parse(username) {
            Ok(name) => self.users.find_user_by_username(&name).await?,
            Err(_) => None,
        };
        let live = user.as_ref().filter(|u| !u.is_disabled);
        let lockout = guard.find_lockout(live.map(|u| &u.id)).await?;
        let failure = |reason| self.login_failed(user.as_ref(), reason, context);
        if guard.is_locked(lockout.as_ref()) {
            drop(permit);
            return failure(FailureReason::AccountLocked).await;
        }
        let patience = tokio::time::Instant::now() + STREAK_WAIT;
        let (completes_streak, lockout) = loop {
            let completes_streak = match guard.reserve(&account).await? {
                Reservation::Granted { completes_streak } => completes_streak,
                Reservation::Refused => {
                    // Concurrent sign-ins of a live account fill its streak while in flight
                    // (they count until they end): wait for them to end, then try again.
                    // Unknown and disabled accounts cannot succeed: nothing to wait for.
                    if live.is_some() && guard.wait_for_streak(&account, patience).await? {
                        continue;
                    }
                    drop(permit);
                    return failure(FailureReason::TooManyFailures).await;
                }
            };
            // Again: a lock written since the first read cleared the streak, so this
            // reservation may have opened a fresh one. The lock is saved before the streak is
            // cleared, so any reservation made after the clear sees it here.
            let lockout = guard.find_lockout(live.map(|u| &u.id)).await?;
            if guard.is_locked(lockout.as_ref()) {
                drop(permit);
                return failure(FailureReason::AccountLocked).await;
            }
            break (completes_streak, lockout);
        };
        let verification = match (live, &permit) {
            (_, None) => Ok(Verification::Mismatch),
            (Some(user), Some(permit)) => permit.verify(password, &user.password_hash).await,
            (None, Some(permit)) => permit.verify_dummy(password).await,
        }
        .map_err(|e| {
            if matches!(e, PasswordError::OutOfPolicy(_)) {
                tracing::error!(user = ?live.map(|u| &u.id), error = %e, "ALERT: a stored password hash is out of policy and was not verified");
            }
            OAuthError::server_error(e)
        })?;
        // The rest is bookkeeping: free the permit for the next login unless a rehash needs it.
        let permit =
            permit.filter(|_| matches!(verification, Verification::Match { needs_rehash: true }));
        let Some(user) = live else {
            let reason = match &user {
                Some(_) => FailureReason::AccountDisabled,
                None => FailureReason::UnknownAccount,
            };
            return failure(reason).await;
        };
        match verification {
            Verification::Mismatch => {
                if completes_streak {
                    guard.lock(&account, user, context).await?;
                }
                failure(FailureReason::WrongPassword).await
            }
            Verification::Match { needs_rehash } => {
                if needs_rehash && let Some(permit) = permit {
                    self.rehash(user, password, &permit).await;
                }
                // A user with a second factor has not signed in yet: the streak (which wrong
                // codes share) is cleared when the factor is proved, or a password holder could
                // clear it between rounds of guessing codes.
                let has_factor = !self.factors.list_factors(&user.id).await?.is_empty();
                if !has_factor {
                    guard.reset(&account, &user.id, lockout.as_ref()).await?;
                }
                self.login_succeeded(user, lockout.as_ref(), context).await;
                Ok(CredentialCheck::Valid {
                    user: user.clone(),
                    has_factor,
                })
            }
        }
    }

    /// Counts a failure against the client's address and writes the audit event.
    async fn login_failed(
        &self,
        user: Option<&User>,
        reason: FailureReason,
        context: &AttemptContext,
    ) -> Result<CredentialCheck, OAuthError> {
        self.guard
            .record_source_failure(CredentialKind::Password, context.client_ip)
            .await?;
        let subject = user.map(|u| format!("user:{}", u.id));
        self.guard
            .record(AuditEvent {
                occurred_at: self.clock.now(),
                actor: subject.clone().unwrap_or_else(|| "anonymous".into()),
                action: "login".into(),
                target: subject,
                outcome: AuditOutcome::Failure,
                client_ip: context.client_ip.map(|ip| ip.to_string()),
                details: Some(
                    serde_json::json!({
                        "reason": reason.as_str(),
                        "client_id": context.client_id,
                    })
                    .to_string(),
                ),
            })
            .await;
        Ok(CredentialCheck::Invalid)
    }

    async fn login_succeeded(
        &self,
        user: &User,
        lockout: Option<&AccountLockout>,
        context: &AttemptContext,
    ) {
        let subject = format!("user:{}", user.id);
        self.guard
            .record(AuditEvent {
                occurred_at: self.clock.now(),
                actor: subject.clone(),
                action: "login".into(),
                target: Some(subject),
                outcome: AuditOutcome::Success,
                client_ip: context.client_ip.map(|ip| ip.to_string()),
                details: Some(
                    serde_json::json!({
                        "client_id": context.client_id,
                        "previous_locks": lockout.map_or(0, |l| l.lock_count),
                    })
                    .to_string(),
                ),
            })
            .await;
    }

    /// Upgrades a hash made with older parameters, on the permit already held; a failure only
    /// delays the upgrade.
    async fn rehash(&self, user: &User, password: &Secret, permit: &HashPermit) {
        let result = match permit.hash_unchecked(password).await {
            Ok(hash) => self
                .users
                .update_password_hash(&user.id, &hash, self.clock.now())
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(user = %user.id, error = %e, "could not upgrade the password hash");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{PASSWORD, TestServer};

    async fn signs_in(server: &TestServer, username: &str, password: &str) -> bool {
        let check = server
            .engine
            .check_credentials(username, &Secret::new(password), &AttemptContext::default())
            .await
            .unwrap();
        matches!(check, CredentialCheck::Valid { .. })
    }

    /// RFC 8265 §3.3 for the username; the password exactly as set (no case, width or
    /// Unicode normalisation: docs/security.md).
    #[tokio::test]
    async fn the_username_is_enforced_per_rfc_8265_and_the_password_compared_exactly() {
        let server = TestServer::start().await;
        server.user("alice").await;
        for typed in [
            "alice",
            "ALICE",
            " Alice ",
            "\u{FF41}\u{FF4C}\u{FF49}\u{FF43}\u{FF45}",
        ] {
            assert!(signs_in(&server, typed, PASSWORD).await, "{typed:?}");
        }
        // A Cyrillic а is another name, not a spelling of this one.
        assert!(!signs_in(&server, "\u{0430}lice", PASSWORD).await);
        for wrong in [
            "Correct horse battery staple",
            "correct horse battery staple ",
            "\u{FF43}orrect horse battery staple",
        ] {
            assert!(!signs_in(&server, "alice", wrong).await, "{wrong:?}");
        }
    }

    /// Sign-ins in flight fill a live account's streak without a single failure (they count
    /// until they end); the next one, with the right password, waits for them to end instead
    /// of being refused unverified (issue 16, item 6: flows failed under 8 concurrent browsers).
    #[tokio::test]
    async fn a_streak_full_of_sign_ins_in_flight_is_waited_out_not_refused() {
        let server = TestServer::start().await;
        let alice = server.user("alice").await;
        let guard = &server.engine.guard;
        let account = AccountKey::of("alice");
        let threshold = guard.limits.lockout_threshold;
        for _ in 0..threshold {
            let granted = guard.reserve(&account).await.unwrap();
            assert!(matches!(granted, Reservation::Granted { .. }));
        }
        let (context, password) = (AttemptContext::default(), Secret::new(PASSWORD));
        let (check, ()) = tokio::join!(
            server
                .engine
                .check_credentials("alice", &password, &context),
            async {
                // The check has reserved, and found the streak full, once it counts one more;
                while guard.streak_estimate(&account).await.unwrap() <= threshold {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                // then one of the sign-ins in flight ends in a success.
                guard.reset(&account, &alice.id, None).await.unwrap();
            }
        );
        assert!(matches!(check.unwrap(), CredentialCheck::Valid { .. }));
        // An unknown account cannot succeed: its full streak is refused at once, unverified.
        let nobody = AccountKey::of("nobody");
        for _ in 0..threshold {
            guard.reserve(&nobody).await.unwrap();
        }
        let before = server.engine.passwords.verifications();
        let check = server
            .engine
            .check_credentials("nobody", &password, &context)
            .await;
        assert!(matches!(check.unwrap(), CredentialCheck::Invalid));
        assert_eq!(server.engine.passwords.verifications(), before);
    }

    #[tokio::test]
    async fn a_password_is_not_unicode_normalised() {
        let server = TestServer::start().await;
        let composed = "caf\u{00E9} au lait, sans sucre";
        let hash = server
            .engine
            .passwords
            .hash(&Secret::new(composed))
            .await
            .unwrap();
        let bob = server.user("bob").await;
        server
            .engine
            .users
            .update_password_hash(&bob.id, &hash, server.engine.clock.now())
            .await
            .unwrap();
        assert!(signs_in(&server, "bob", composed).await);
        assert!(!signs_in(&server, "bob", "cafe\u{0301} au lait, sans sucre").await);
    }
}
