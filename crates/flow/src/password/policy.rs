//! The policy for passwords: NIST SP 800-63B §5.1.1.2. A new password has at least 8
//! characters, at most 1024, and is not one of the 10,000 most common passwords
//! ([`is_common_password`]); a presented one longer than that is refused without hashing.

use super::PasswordError;
use palisade_core::secret::Secret;
use std::collections::HashSet;
use std::sync::LazyLock;

/// Passwords shorter than this are refused when set (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longer passwords are refused before hashing, so nobody can make the server hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// The 10,000 most common passwords, lower-cased (see the header of the file for its source).
const COMMON_PASSWORDS_FILE: &str = include_str!("../../data/common-passwords.txt");

static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    COMMON_PASSWORDS_FILE
        .lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .collect()
});

/// Whether `password` is on the common-password list. Case-insensitive: `Dragon` is as
/// guessable as `dragon` (the list itself is lower-cased).
pub fn is_common_password(password: &str) -> bool {
    COMMON_PASSWORDS.contains(password.to_lowercase().as_str())
}

/// How many entries the common-password list holds (for docs and tests).
pub fn common_password_count() -> usize {
    COMMON_PASSWORDS.len()
}

/// Checks the length rules only: what every stored password, old or new, satisfies.
pub fn check_password_length(password: &Secret) -> Result<(), PasswordError> {
    let chars = password.expose().chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordError::TooLong);
    }
    Ok(())
}

/// The policy for a password being set (`user add`, `user passwd`, admin reset): the length
/// rules and the common-password list (NIST SP 800-63B §5.1.1.2).
pub fn check_new_password(password: &Secret) -> Result<(), PasswordError> {
    check_password_length(password)?;
    if is_common_password(password.expose()) {
        return Err(PasswordError::Common);
    }
    Ok(())
}

/// Whether a presented password is over [`MAX_PASSWORD_CHARS`]: such input is refused (or
/// fails to verify) without being hashed.
pub fn is_too_long(password: &Secret) -> bool {
    // Bytes first: a string of more than 4 x MAX bytes has more than MAX characters, and
    // counting characters of a megabyte is the work we are avoiding.
    let bytes = password.expose().len();
    bytes > MAX_PASSWORD_CHARS * 4
        || (bytes > MAX_PASSWORD_CHARS && password.expose().chars().count() > MAX_PASSWORD_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_password_list_is_the_real_top_ten_thousand() {
        assert_eq!(common_password_count(), 10_000);
        for common in [
            "123456",
            "password",
            "qwertyuiop",
            "Password1",
            "ILOVEYOU",
            "trustno1",
        ] {
            assert!(is_common_password(common), "{common}");
        }
        assert!(!is_common_password("correct horse battery staple"));
    }

    #[test]
    fn new_passwords_must_be_long_enough_and_uncommon() {
        let cases = [
            ("short", Some("TooShort")),
            ("password1", Some("Common")),
            ("baseball1", Some("Common")),
            ("Qwertyuiop", Some("Common")),
            ("a perfectly fine passphrase", None),
        ];
        for (password, expected) in cases {
            let got = check_new_password(&Secret::new(password))
                .err()
                .map(|e| match e {
                    PasswordError::TooShort => "TooShort",
                    PasswordError::Common => "Common",
                    _ => "other",
                });
            assert_eq!(got, expected, "{password}");
        }
        assert!(matches!(
            check_new_password(&Secret::new("é".repeat(MAX_PASSWORD_CHARS + 1))),
            Err(PasswordError::TooLong)
        ));
    }
}
