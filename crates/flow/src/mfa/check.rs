//! Checking a second factor under the same attempt limits and account lock as a password
//! ([`crate::login`]): someone who has the password must not get more guesses at a six-digit
//! code than at the password itself. The order is the login's: the source's limit first, then
//! the durable lock, then a reservation on the account's failure streak (which the password's
//! failures share: both count towards one lock), then the check; a failure counts against the
//! source and may complete the streak and lock the account, a success clears the streak.

use super::assurance::amr;
use super::recovery;
use super::totp::{SEAL_PURPOSE, TotpSecret};
use crate::guard::{AccountKey, AttemptContext, CredentialKind, Reservation, Throttled};
use crate::interaction::FactorAnswer;
use crate::server::AuthorizationServer;
use palisade_core::OAuthError;
use palisade_core::factor::{Factor, FactorKind};
use palisade_core::model::{AuditEvent, AuditOutcome, User};

/// What is tried: an answer from the second-factor form, or a passkey that was offered at the
/// login page without a username (its factor already looked up by credential id).
#[derive(Debug)]
pub enum Attempt<'a> {
    Factor(FactorAnswer<'a>),
    DiscoverablePasskey { credential: &'a str, factor: Factor },
}

/// The outcome of a second-factor check.
#[derive(Debug)]
pub enum FactorCheck {
    /// The factor was proved; `amr` is its RFC 8176 method.
    Passed { amr: &'static str },
    /// Wrong, replayed or unknown, or the account is locked: one answer for all.
    Failed,
    /// Too many failures from this address: 429 + `Retry-After`.
    Throttled(Throttled),
}

/// Why a second factor failed, for the audit trail only.
#[derive(Debug, Clone, Copy)]
enum Failure {
    WrongCode,
    /// A right code for a step already used (RFC 6238 §5.2).
    ReplayedCode,
    UnknownRecoveryCode,
    PasskeyRejected,
    AccountLocked,
    TooManyFailures,
}

impl Failure {
    fn as_str(self) -> &'static str {
        match self {
            Self::WrongCode => "wrong_code",
            Self::ReplayedCode => "replayed_code",
            Self::UnknownRecoveryCode => "unknown_recovery_code",
            Self::PasskeyRejected => "passkey_rejected",
            Self::AccountLocked => "account_locked",
            Self::TooManyFailures => "too_many_failures",
        }
    }
}

impl AuthorizationServer {
    /// Checks `attempt` as a factor of `user`. A passkey finishes the ceremony whose state is
    /// stored under `passkey_state_key` (taken: one try per challenge). `action` names the
    /// audit event (`login.second_factor`, `login.passkey`).
    pub(crate) async fn check_factor(
        &self,
        user: &User,
        attempt: Attempt<'_>,
        passkey_state_key: &str,
        action: &'static str,
        context: &AttemptContext,
    ) -> Result<FactorCheck, OAuthError> {
        let guard = &self.guard;
        if let Some(throttled) = guard
            .check_source(CredentialKind::Password, context.client_ip)
            .await?
        {
            return Ok(FactorCheck::Throttled(throttled));
        }
        if matches!(attempt, Attempt::Factor(FactorAnswer::Missing)) {
            // Nothing was tried, so nothing is counted.
            return Ok(FactorCheck::Failed);
        }
        let account = AccountKey::of(user.username.as_str());
        let lockout = guard.find_lockout(Some(&user.id)).await?;
        if guard.is_locked(lockout.as_ref()) {
            return self
                .factor_failed(user, Failure::AccountLocked, action, context)
                .await;
        }
        let Reservation::Granted { completes_streak } = guard.reserve(&account).await? else {
            // The streak is full. At the password this means a concurrent failure is writing
            // the lock; here the streak can also have been filled by the password's own
            // (successful) attempt, which locks nothing, so the lock is written now: guessing
            // codes past the threshold always ends in the durable, growing lock.
            guard.lock(&account, user, context).await?;
            return self
                .factor_failed(user, Failure::TooManyFailures, action, context)
                .await;
        };
        // As at the password: a lock written since the first read cleared the streak.
        let lockout = guard.find_lockout(Some(&user.id)).await?;
        if guard.is_locked(lockout.as_ref()) {
            return self
                .factor_failed(user, Failure::AccountLocked, action, context)
                .await;
        }
        match self.prove(user, attempt, passkey_state_key).await? {
            Ok(method) => {
                guard.reset(&account, &user.id, lockout.as_ref()).await?;
                self.audit_factor(user, action, AuditOutcome::Success, method, context)
                    .await;
                Ok(FactorCheck::Passed { amr: method })
            }
            Err(failure) => {
                if completes_streak {
                    guard.lock(&account, user, context).await?;
                }
                self.factor_failed(user, failure, action, context).await
            }
        }
    }

    /// Whether `answer` proves one of the user's factors (spending what it uses).
    async fn prove(
        &self,
        user: &User,
        attempt: Attempt<'_>,
        passkey_state_key: &str,
    ) -> Result<Result<&'static str, Failure>, OAuthError> {
        let now = self.clock.now();
        let answer = match attempt {
            Attempt::Factor(answer) => answer,
            Attempt::DiscoverablePasskey { credential, factor } => {
                let (Some(passkeys), Some(state)) = (
                    self.passkeys.as_ref(),
                    self.ephemeral.take(passkey_state_key).await?,
                ) else {
                    return Ok(Err(Failure::PasskeyRejected));
                };
                let state = String::from_utf8_lossy(&state);
                return match passkeys.finish_discoverable(credential, &state, &factor) {
                    Ok(verified) => {
                        self.factors
                            .record_factor_use(
                                &verified.factor.id,
                                verified.updated_credential.as_deref(),
                                now,
                            )
                            .await?;
                        Ok(Ok(key_amr(verified.backup_eligible)))
                    }
                    Err(e) => {
                        tracing::info!(user = %user.id, error = %e, "passkey sign-in refused");
                        Ok(Err(Failure::PasskeyRejected))
                    }
                };
            }
        };
        match answer {
            FactorAnswer::Missing => Ok(Err(Failure::WrongCode)),
            FactorAnswer::Totp(code) => {
                let factors = self.factors.list_factors(&user.id).await?;
                for factor in factors.iter().filter(|f| f.kind == FactorKind::Totp) {
                    let secret = self.open_totp_secret(factor)?;
                    if let Some(step) = secret.matching_step(code, now.timestamp()) {
                        return Ok(
                            if self.factors.claim_totp_step(&factor.id, step, now).await? {
                                Ok(amr::ONE_TIME_CODE)
                            } else {
                                Err(Failure::ReplayedCode)
                            },
                        );
                    }
                }
                Ok(Err(Failure::WrongCode))
            }
            FactorAnswer::RecoveryCode(typed) => {
                let Some(digest) = recovery::digest_of_typed(typed) else {
                    return Ok(Err(Failure::UnknownRecoveryCode));
                };
                let spent = self
                    .factors
                    .consume_recovery_code(&user.id, &digest, now)
                    .await?;
                if spent {
                    self.record_factor_event(user, "factor.recovery_code.used", None)
                        .await;
                }
                Ok(if spent {
                    Ok(amr::ONE_TIME_CODE)
                } else {
                    Err(Failure::UnknownRecoveryCode)
                })
            }
            FactorAnswer::Passkey(credential) => {
                let (Some(passkeys), Some(state)) = (
                    self.passkeys.as_ref(),
                    self.ephemeral.take(passkey_state_key).await?,
                ) else {
                    return Ok(Err(Failure::PasskeyRejected));
                };
                let state = String::from_utf8_lossy(&state);
                let factors = self.factors.list_factors(&user.id).await?;
                match passkeys.finish_authentication(credential, &state, &factors) {
                    Ok(verified) => {
                        self.factors
                            .record_factor_use(
                                &verified.factor.id,
                                verified.updated_credential.as_deref(),
                                now,
                            )
                            .await?;
                        Ok(Ok(key_amr(verified.backup_eligible)))
                    }
                    Err(e) => {
                        tracing::info!(user = %user.id, error = %e, "passkey refused as a second factor");
                        Ok(Err(Failure::PasskeyRejected))
                    }
                }
            }
        }
    }

    /// A TOTP factor's secret, unsealed.
    pub(crate) fn open_totp_secret(&self, factor: &Factor) -> Result<TotpSecret, OAuthError> {
        self.sealer
            .open(SEAL_PURPOSE, &factor.credential)
            .map(TotpSecret::from_bytes)
            .map_err(|e| {
                tracing::error!(factor = %factor.id, error = %e, "ALERT: a TOTP secret cannot be unsealed");
                OAuthError::server_error(e)
            })
    }

    async fn factor_failed(
        &self,
        user: &User,
        failure: Failure,
        action: &'static str,
        context: &AttemptContext,
    ) -> Result<FactorCheck, OAuthError> {
        self.guard
            .record_source_failure(CredentialKind::Password, context.client_ip)
            .await?;
        self.audit_factor(
            user,
            action,
            AuditOutcome::Failure,
            failure.as_str(),
            context,
        )
        .await;
        Ok(FactorCheck::Failed)
    }

    async fn audit_factor(
        &self,
        user: &User,
        action: &'static str,
        outcome: AuditOutcome,
        detail: &str,
        context: &AttemptContext,
    ) {
        let subject = format!("user:{}", user.id);
        let key = if outcome == AuditOutcome::Success {
            "method"
        } else {
            "reason"
        };
        self.guard
            .record(AuditEvent {
                occurred_at: self.clock.now(),
                actor: subject.clone(),
                action: action.into(),
                target: Some(subject),
                outcome,
                client_ip: context.client_ip.map(|ip| ip.to_string()),
                details: Some(
                    serde_json::json!({ key: detail, "client_id": context.client_id }).to_string(),
                ),
            })
            .await;
    }

    /// Writes a factor event of the user's own (enrol, rename, remove, recovery codes).
    pub(crate) async fn record_factor_event(
        &self,
        user: &User,
        action: &str,
        details: Option<serde_json::Value>,
    ) {
        let subject = format!("user:{}", user.id);
        self.guard
            .record(AuditEvent {
                occurred_at: self.clock.now(),
                actor: subject.clone(),
                action: action.into(),
                target: Some(subject),
                outcome: AuditOutcome::Success,
                client_ip: None,
                details: details.map(|d| d.to_string()),
            })
            .await;
    }
}

/// The `amr` of a passkey: synced (backup-eligible) keys are software keys.
pub(crate) fn key_amr(backup_eligible: bool) -> &'static str {
    if backup_eligible {
        amr::SOFTWARE_KEY
    } else {
        amr::HARDWARE_KEY
    }
}
