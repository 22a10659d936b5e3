//! Second factors: what a sign-in proved ([`assurance`]: RFC 8176 `amr`, our `acr` values), how
//! strong a request needs it to be (`acr_values`, an essential `acr` claim, the MFA policy of the
//! server, the user's roles and the client), and the factors themselves: TOTP ([`totp`], RFC
//! 6238), passkeys ([`passkeys`], WebAuthn) and recovery codes ([`recovery`]). Every check of a
//! factor runs under the same attempt limits and account lock as a password ([`check`]).

pub mod assurance;
pub mod check;
pub mod passkeys;
pub mod recovery;
pub mod totp;

pub use assurance::{ACR_MFA, ACR_PASSWORD, ACR_VALUES_SUPPORTED, AcrRequest, Assurance};
pub use passkeys::Passkeys;
