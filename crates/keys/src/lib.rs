//! Palisade's signing keys: generation, rotation, JWS signing and verification, the JWKS.
//!
//! The pieces, from the bottom up:
//!
//! - [`alg`]: key generation and the JWK members of each algorithm (RS256 with RSA-2048,
//!   ES256 with P-256, EdDSA with Ed25519; RFC 7518 §3, RFC 8037).
//! - [`thumbprint`]: the RFC 7638 JWK thumbprint, which is every key's `kid`.
//! - [`master_key`]: the master key that encrypts private keys at rest (JWE `dir` + `A256GCM`,
//!   RFC 7516 / RFC 7518 §4.5, §5.3), and re-wrapping under a new master key.
//! - [`policy`] and [`mod@plan`]: the rotation policy and the pure function that decides, at a
//!   given instant, which keys to generate, activate, retire and remove.
//! - [`ring`]: an immutable snapshot of the keys (signers, verifiers, the pre-serialized JWKS).
//! - [`signer`]: [`Keys`], the swappable handle to the live ring; it implements
//!   [`palisade_core::ports::TokenSigner`].
//! - `ring_signer`: ES256 and EdDSA signatures computed with the `ring` crate behind josekit's
//!   signer interface (RS256 stays on OpenSSL).
//! - `verified`: each ring's memory of the tokens it already verified (a signature is checked
//!   once per token, not once per introspection).
//! - [`manager`]: [`KeyManager`], the async orchestration over the repository: rotation ticks
//!   under a lease, reloads, emergency revocation, master-key re-wrapping.
//!
//! Key lifecycle, per algorithm (docs/design.md §3):
//!
//! ```text
//!   generate ──> next ──(activates_at, >= publish_ahead later)──> current ──(rotation)──> retired ──(remove_after)──> removed
//!                  └────────────────────── revoke (emergency) ──> revoked: unpublished, refused at once
//! ```

pub mod alg;
pub mod error;
pub mod manager;
pub mod master_key;
pub mod plan;
pub mod policy;
pub mod ring;
mod ring_signer;
pub mod settings;
pub mod signer;
/// JWK thumbprints live in core: the engine needs them too (DPoP's `jkt`).
pub use palisade_core::thumbprint;
mod verified;

pub use error::KeyError;
pub use manager::{KeyManager, RewrapOutcome, TickOutcome};
pub use master_key::{MasterKey, MasterKeySet};
pub use plan::{Activation, KeyToGenerate, Replacement, Retirement, RotationPlan, plan};
pub use policy::{PolicyError, RotationPolicy};
pub use ring::{JwksDocument, KeyRing};
pub use settings::{KeySettings, KeySettingsError};
pub use signer::Keys;
