//! Signing keys, as the operator drives them (docs/keys.md): list, stage new keys, withdraw
//! one in an emergency, re-encrypt under a new master key. Only public facts leave here, never
//! a private part.
//!
//! A service of its own, apart from [`super::Admin`]: key commands work on the database alone,
//! so an operator can revoke a key in the middle of an ephemeral-store outage.

use super::{Action, AdminError, AdminResult, Auditor, Caller};
use crate::mfa::totp::SEAL_PURPOSE as TOTP_SEAL_PURPOSE;
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

/// The signing-key side of administration. Cheap to clone.
#[derive(Clone)]
pub struct KeyAdmin {
    operations: Arc<dyn KeyOperations>,
    repository: Arc<dyn SigningKeyRepository>,
    auditor: Auditor,
    /// TOTP secrets are sealed under the master key too: a rewrap moves them with the keys.
    factors: Arc<dyn FactorRepository>,
    sealer: Arc<dyn SecretSealer>,
}

impl KeyAdmin {
    pub fn new(
        operations: Arc<dyn KeyOperations>,
        repository: Arc<dyn SigningKeyRepository>,
        auditor: Auditor,
        factors: Arc<dyn FactorRepository>,
        sealer: Arc<dyn SecretSealer>,
    ) -> Self {
        Self {
            operations,
            repository,
            auditor,
            factors,
            sealer,
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

    /// Re-encrypts every key, and every sealed TOTP secret, under the current master key,
    /// `master_key_id`.
    pub async fn rewrap_keys(
        &self,
        caller: &Caller,
        master_key_id: &str,
    ) -> AdminResult<Rewrapped> {
        let mut outcome = self.operations.rewrap().await?;
        outcome.factor_secrets = self.reseal_factor_secrets().await?;
        if outcome.rewrapped > 0 || outcome.factor_secrets > 0 {
            self.auditor
                .success(
                    caller,
                    Action::RewrapKeys,
                    &format!("master_key:{master_key_id}"),
                    Some(json!({
                        "keys": outcome.rewrapped,
                        "factor_secrets": outcome.factor_secrets,
                    })),
                )
                .await;
        }
        Ok(outcome)
    }

    /// Opens every TOTP secret sealed under an older master key and seals it under the current
    /// one. A secret no configured master key opens stops the run before anything else is
    /// written, as for signing keys.
    async fn reseal_factor_secrets(&self) -> AdminResult<usize> {
        let current = self.sealer.current_master_key_id();
        let stale = self
            .factors
            .factors_sealed_under_other_keys(&current)
            .await?;
        let mut resealed = Vec::with_capacity(stale.len());
        for factor in &stale {
            let plain = self
                .sealer
                .open(TOTP_SEAL_PURPOSE, &factor.credential)
                .map_err(|e| AdminError::Internal(format!("factor {}: {e}", factor.id)))?;
            let sealed = self
                .sealer
                .seal(TOTP_SEAL_PURPOSE, &plain)
                .map_err(|e| AdminError::Internal(format!("factor {}: {e}", factor.id)))?;
            resealed.push((factor.id.clone(), sealed));
        }
        let mut count = 0;
        for (id, sealed) in resealed {
            match self.factors.update_factor_seal(&id, &sealed).await {
                Ok(()) => count += 1,
                // Removed meanwhile: nothing left to move.
                Err(palisade_core::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(count)
    }
}
