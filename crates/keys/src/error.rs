//! What can go wrong with keys, apart from signing and verifying (those use core's
//! [`SigningError`](palisade_core::ports::SigningError) and
//! [`VerifyError`](palisade_core::ports::VerifyError)).
//!
//! No variant carries key material: JOSE library errors are kept as their message, and that
//! message never contains a key's value (josekit only names the offending parameter).

use palisade_core::OAuthError;
use palisade_core::ports::{SigningAlgorithm, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The repository failed; the server maps it (`Unavailable` -> 503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The rotation policy is inconsistent.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// A stored key cannot be used: bad JSON, wrong key type for its algorithm, a thumbprint
    /// that does not match its kid, or a private part that does not match its public part.
    #[error("stored key {kid} is unusable: {reason}")]
    MalformedKey { kid: String, reason: String },
    /// A key was encrypted under a master key that is not configured (add it as an older key).
    #[error("no master key with id {0:?} is configured")]
    UnknownMasterKey(String),
    /// The master key could not be read, parsed or created.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Encryption or decryption of a private key failed (wrong master key, tampered JWE).
    #[error("private key encryption: {0}")]
    Encryption(String),
    /// Key generation failed in the JOSE library.
    #[error("key generation for {alg:?} failed: {reason}")]
    Generation {
        alg: SigningAlgorithm,
        reason: String,
    },
    /// No stored key has this kid.
    #[error("no signing key with kid {0:?}")]
    UnknownKid(String),
    /// The algorithm is not enabled by the rotation policy.
    #[error("algorithm {0:?} is not enabled")]
    AlgorithmDisabled(SigningAlgorithm),
    /// After waiting, some enabled algorithms still had no current key.
    #[error("no current signing key for {0:?}")]
    NotReady(Vec<SigningAlgorithm>),
    /// A blocking task (key generation, ring building) panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl From<KeyError> for OAuthError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Store(StoreError::Unavailable(_)) => OAuthError::temporarily_unavailable(e),
            other => OAuthError::server_error(other),
        }
    }
}

impl From<KeyError> for palisade_core::ports::KeyOperationError {
    fn from(e: KeyError) -> Self {
        use palisade_core::ports::KeyOperationError as E;
        match e {
            KeyError::Store(e) => E::Store(e),
            KeyError::UnknownKid(kid) => E::UnknownKid(kid),
            KeyError::AlgorithmDisabled(alg) => E::AlgorithmDisabled(alg),
            KeyError::UnknownMasterKey(id) => E::Other(format!(
                "a signing key is encrypted under master key {id:?}, which is not configured: add that key to PALISADE_MASTER_KEYS_PREVIOUS"
            )),
            other => E::Other(other.to_string()),
        }
    }
}
