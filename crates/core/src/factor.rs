//! Second factors a user has enrolled (TOTP authenticators and WebAuthn passkeys) and the
//! recovery codes that stand in for them. NIST SP 800-63B §5.1.4-5.1.5 (OTP), §5.1.8
//! (cryptographic authenticators), RFC 6238 (TOTP), WebAuthn Level 3.
//!
//! What is stored is what an attacker with a copy of the database must not be able to use:
//! a TOTP secret only sealed under the master key ([`SecretSealer`](crate::ports::SecretSealer)),
//! a passkey only as its public key (the webauthn-rs `Passkey` JSON holds no private part),
//! recovery codes only as digests.

use crate::model::UserId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A factor's id, server-generated (a UUID).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FactorId(pub String);

impl fmt::Display for FactorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kinds of second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorKind {
    /// A time-based one-time password authenticator (RFC 6238: SHA-1, 6 digits, 30 s).
    Totp,
    /// A WebAuthn credential (a passkey or a security key).
    Passkey,
}

impl FactorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Passkey => "passkey",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "totp" => Some(Self::Totp),
            "passkey" => Some(Self::Passkey),
            _ => None,
        }
    }
}

/// The longest name a user may give a factor, in characters.
pub const MAX_FACTOR_NAME_CHARS: usize = 64;

/// One enrolled factor.
#[derive(Clone, PartialEq, Eq)]
pub struct Factor {
    pub id: FactorId,
    pub user_id: UserId,
    pub kind: FactorKind,
    /// The user's name for it ("Phone", "YubiKey 5C"); shown in lists, never trusted.
    pub name: String,
    /// TOTP: the secret sealed under the master key (a compact JWE, [`Self::master_key_id`]
    /// names the key). Passkey: the credential as webauthn-rs serialises it (public key,
    /// counter, flags; nothing secret).
    pub credential: String,
    /// The master key that sealed a TOTP secret; `None` for a passkey.
    pub master_key_id: Option<String>,
    /// A passkey's credential id (base64url), unique across every user; `None` for TOTP.
    pub credential_id: Option<String>,
    /// TOTP: the last RFC 6238 time step accepted, so a code is accepted once (RFC 6238 §5.2).
    pub last_used_step: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Factor")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("credential", &"<redacted>")
            .field("master_key_id", &self.master_key_id)
            .field("credential_id", &self.credential_id)
            .field("last_used_step", &self.last_used_step)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish()
    }
}

/// A sealed value and the master key that sealed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// A compact JWE (`dir`, `A256GCM`) naming the master key in its header.
    pub ciphertext: String,
    pub master_key_id: String,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sealed")
            .field("master_key_id", &self.master_key_id)
            .finish_non_exhaustive()
    }
}
