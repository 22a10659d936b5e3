//! Passwords: the policy for new ones ([`policy`]: NIST SP 800-63B §5.1.1.2), argon2id hashing
//! ([`argon2id`]: RFC 9106, OWASP Password Storage Cheat Sheet parameters), and admission to
//! the hashing work ([`admission`]: bounded permits and a short queue, so a login flood answers
//! 503 instead of queueing without end; docs/threat-model.md LF-06), and the hashing slots
//! ([`slots`]: dedicated low-priority threads with reused working memory, so hashing never
//! starves the workers serving cheap requests). [`PasswordHasher`] puts them together.

pub mod admission;
pub mod argon2id;
pub mod hasher;
pub mod policy;
pub mod slots;

pub use admission::{QUEUE_WAIT, SATURATED_RETRY_AFTER};
pub use argon2id::{Argon2Settings, OWASP_MIN_ITERATIONS, OWASP_MIN_MEMORY_KIB, Verification};
pub use hasher::{HashPermit, PasswordHasher};
pub use policy::{
    MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, check_new_password, check_password_length,
    common_password_count, is_common_password, is_too_long,
};
pub use slots::HASHING_NICE;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("this password is one of the 10,000 most common; choose another")]
    Common,
    #[error("invalid argon2 parameters: {0}")]
    InvalidSettings(String),
    /// Every permit is held and the queue is full (or the wait ran out): try again later.
    #[error("password hashing is saturated; retry later")]
    Saturated,
    /// The stored hash asks for more work than policy allows; it is not verified.
    #[error("stored password hash is out of policy: {0}")]
    OutOfPolicy(String),
    #[error("password hashing failed: {0}")]
    Internal(String),
}

#[cfg(test)]
pub(crate) mod tests {
    use super::Argon2Settings;

    /// Small parameters keep the unit tests fast; the production defaults are tested once.
    pub(crate) fn cheap() -> Argon2Settings {
        Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }
}
