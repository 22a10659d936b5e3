//! Palisade's vocabulary.
//!
//! Everything the other crates agree on lives here: the domain newtypes, the one error type
//! that maps to RFC error codes, the port traits storage and signing implement, and the
//! injectable clock and secret generator. This crate knows nothing of HTTP, SQL, Redis or
//! HTML, so the protocol engine can be tested without any of them.

pub mod access;
pub mod change;
pub mod clock;
pub mod error;
pub mod factor;
pub mod form_encoding;
pub mod model;
pub mod ports;
pub mod secret;
pub mod text;
pub mod thumbprint;

pub use change::Change;
pub use clock::{Clock, MAX_SETTING_SECS, ManualClock, SystemClock};
pub use error::{ErrorCode, OAuthError};
pub use ports::StoreError;
pub use secret::{OsSecrets, Secret, SecretGenerator, TokenHash};
