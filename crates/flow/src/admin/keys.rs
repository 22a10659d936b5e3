//! Signing keys, as the operator drives them (docs/keys.md): list, stage new keys, withdraw
//! one in an emergency, re-encrypt under a new master key — the signing keys and every other
//! secret sealed under it (TOTP seeds). Only public facts leave here, never a private part.
//!
//! A service of its own, apart from [`super::Admin`]: key commands work on the database alone,
//! so an operator can revoke a key in the middle of an ephemeral-store outage.

use super::{Action, AdminError, AdminResult, Auditor, Caller};
use crate::mfa::totp::SEAL_PURPOSE as TOTP_SEAL_PURPOSE;
use palisade_core::StoreError;
use palisade_core::factor::{Factor, FactorKind};
use palisade_core::model::{KeyState, StoredSigningKey};
use palisade_core::ports::{
    FactorRepository, KeyOperationError, KeyOperations, Rewrapped, SecretSealer, SigningAlgorithm,
    SigningKeyRepository,
};
use serde_json::json;
use std::sync::Arc;

/// `key:<kid>`, as audit events name a signing key.
pub fn target(kid: &str) -> String {
    format!("key:{kid}")
}

impl From<KeyOperationError> for AdminError {
    fn from(e: KeyOperationError) -> Self {
        match e {
            KeyOperationError::Store(e) => e.into(),
            KeyOperationError::UnknownKid(_) => {
                AdminError::NotFound("no signing key with this kid")
            }
            KeyOperationError::AlgorithmDisabled(_) => AdminError::Invalid(
                "this algorithm is not enabled (PALISADE_KEYS__ALGORITHMS)".into(),
            ),
            KeyOperationError::Other(message) => AdminError::Internal(message),
        }
    }
}

/// A key just withdrawn, and the state it was in.
#[derive(Debug, Clone)]
pub struct RevokedKey {
    pub key: StoredSigningKey,
    pub was: KeyState,
}

/// What a re-encryption under the current master key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    pub keys: Rewrapped,
    /// Sealed factor secrets (TOTP seeds) resealed under the current master key.
    pub factors: usize,
    /// Factors deleted while they were being resealed (nothing left to do for them).
    pub factors_gone: usize,
}

/// The signing-key side of administration. Cheap to clone.
#[derive(Clone)]
pub struct KeyAdmin {
    operations: Arc<dyn KeyOperations>,
    repository: Arc<dyn SigningKeyRepository>,
    factors: Arc<dyn FactorRepository>,
    /// The master key set, for the secrets sealed under it that are not signing keys.
    sealer: Arc<dyn SecretSealer>,
    auditor: Auditor,
}

impl KeyAdmin {
    pub fn new(
        operations: Arc<dyn KeyOperations>,
        repository: Arc<dyn SigningKeyRepository>,
        factors: Arc<dyn FactorRepository>,
        sealer: Arc<dyn SecretSealer>,
        auditor: Auditor,
    ) -> Self {
        Self {
            operations,
            repository,
            factors,
            sealer,
            auditor,
        }
    }

    /// Every stored key, any state, oldest first.
    pub async fn list_keys(&self) -> AdminResult<Vec<StoredSigningKey>> {
        Ok(self.repository.list_signing_keys().await?)
    }

    pub async fn find_key(&self, kid: &str) -> AdminResult<StoredSigningKey> {
        self.list_keys()
            .await?
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or(AdminError::NotFound("no signing key with this kid"))
    }

    /// Stages a new `next` key for `alg`, or for every enabled algorithm; returns the staged
    /// keys. Each is published at once and signs after the publish-ahead delay.
    pub async fn rotate_keys(
        &self,
        caller: &Caller,
        alg: Option<SigningAlgorithm>,
    ) -> AdminResult<Vec<StoredSigningKey>> {
        let algorithms = match alg {
            Some(alg) => vec![alg],
            None => self.operations.enabled_algorithms(),
        };
        let mut staged = Vec::new();
        for alg in algorithms {
            let kid = self.operations.rotate_now(alg).await?;
            self.auditor
                .success(
                    caller,
                    Action::RotateKey,
                    &target(&kid),
                    Some(json!({ "alg": alg.as_str() })),
                )
                .await;
            staged.push(kid);
        }
        let keys = self.list_keys().await?;
        Ok(keys
            .into_iter()
            .filter(|k| staged.contains(&k.kid))
            .collect())
    }

    /// Emergency: withdraws the key at once. Revoking a revoked key changes nothing and
    /// records nothing.
    pub async fn revoke_key(&self, caller: &Caller, kid: &str) -> AdminResult<RevokedKey> {
        let before = self.find_key(kid).await?;
        if before.state != KeyState::Revoked {
            self.operations.revoke(kid).await?;
            self.auditor
                .success(
                    caller,
                    Action::RevokeKey,
                    &target(kid),
                    Some(json!({ "alg": before.alg, "was": before.state.as_str() })),
                )
                .await;
        }
        Ok(RevokedKey {
            key: self.find_key(kid).await?,
            was: before.state,
        })
    }

    /// Re-encrypts every signing key, then reseals every sealed factor secret, under the
    /// current master key, `master_key_id`. A secret no configured master key opens stops the
    /// run with an error naming the factor and the missing key, before it is written: the
    /// older key is still needed (PALISADE_MASTER_KEYS_PREVIOUS).
    pub async fn rewrap_keys(
        &self,
        caller: &Caller,
        master_key_id: &str,
    ) -> AdminResult<RewrapReport> {
        let keys = self.operations.rewrap().await?;
        let (factors, factors_gone) = self.reseal_factors().await?;
        if keys.rewrapped > 0 || factors > 0 {
            self.auditor
                .success(
                    caller,
                    Action::RewrapKeys,
                    &format!("master_key:{master_key_id}"),
                    Some(json!({ "keys": keys.rewrapped, "factors": factors })),
                )
                .await;
        }
        Ok(RewrapReport {
            keys,
            factors,
            factors_gone,
        })
    }

    /// Reseals every factor secret not under the current master key; returns how many were
    /// resealed and how many were deleted meanwhile.
    async fn reseal_factors(&self) -> AdminResult<(usize, usize)> {
        let current = self.sealer.current_master_key_id();
        let stale = self
            .factors
            .factors_sealed_under_other_keys(&current)
            .await?;
        let (mut resealed, mut gone) = (0, 0);
        for factor in stale {
            let sealed = self.reseal(&factor)?;
            match self.factors.update_factor_seal(&factor.id, &sealed).await {
                Ok(()) => resealed += 1,
                Err(StoreError::NotFound) => gone += 1,
                Err(e) => return Err(e.into()),
            }
        }
        if resealed > 0 {
            tracing::info!(factors = resealed, master_key_id = %current, "resealed factor secrets");
        }
        Ok((resealed, gone))
    }

    fn reseal(&self, factor: &Factor) -> AdminResult<palisade_core::factor::Sealed> {
        let purpose = match factor.kind {
            FactorKind::Totp => TOTP_SEAL_PURPOSE,
            // A passkey holds only a public key: a seal on one is corrupt data.
            FactorKind::Passkey => {
                return Err(AdminError::Internal(format!(
                    "factor {} is a passkey but names a master key",
                    factor.id
                )));
            }
        };
        let cannot = |e: palisade_core::ports::SealError| {
            AdminError::Internal(format!("cannot reseal factor {}: {e}", factor.id))
        };
        let secret = self
            .sealer
            .open(purpose, &factor.credential)
            .map_err(cannot)?;
        self.sealer.seal(purpose, &secret).map_err(cannot)
    }
}
