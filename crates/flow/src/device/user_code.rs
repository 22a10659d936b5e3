//! The user code: RFC 8628 §6.1. Eight characters from twenty consonants (no vowels, so no
//! words; no digits, so nothing to confuse with letters), shown as `XXXX-XXXX` and accepted
//! whatever the case and dashes or spaces: 20^8 ≈ 2.56 × 10^10 codes, guessed only through
//! the attempt limiter (docs/device-flow.md "Limits and odds").

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::TokenHash;
use palisade_core::secret::SecretGenerator;
use std::fmt;

/// RFC 8628 §6.1's example character set: `BCDFGHJKLMNPQRSTVWXZ`.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

const LENGTH: usize = 8;

/// A user code in its normal form: eight characters of [`USER_CODE_ALPHABET`].
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    /// A fresh code from `secrets`, each character uniform over the alphabet (bytes at or above
    /// 240 are skipped, so the modulo has no bias).
    pub fn generate(secrets: &dyn SecretGenerator) -> Self {
        let mut code = String::with_capacity(LENGTH);
        while code.len() < LENGTH {
            let bytes = URL_SAFE_NO_PAD.decode(secrets.token()).unwrap_or_default();
            for byte in bytes {
                if code.len() == LENGTH {
                    break;
                }
                if usize::from(byte) < 240 {
                    code.push(char::from(USER_CODE_ALPHABET[usize::from(byte) % 20]));
                }
            }
        }
        Self(code)
    }

    /// What the user typed, normalised: case, dashes and spaces do not matter. `None` when it
    /// cannot be a user code (wrong length, a character outside the alphabet).
    pub fn parse(typed: &str) -> Option<Self> {
        let normal: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\t'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let is_valid =
            normal.len() == LENGTH && normal.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        is_valid.then_some(Self(normal))
    }

    /// The code as shown: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }

    /// The hash the code is stored under.
    pub fn hash(&self) -> String {
        TokenHash::of(&self.0).as_str().to_owned()
    }
}

impl fmt::Debug for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A live user code is a bearer secret for a few minutes: never in a log.
        f.write_str("UserCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::secret::OsSecrets;

    #[test]
    fn generated_codes_use_only_the_alphabet_and_show_as_two_groups() {
        for _ in 0..200 {
            let code = UserCode::generate(&OsSecrets);
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert!(
                shown
                    .bytes()
                    .filter(|b| *b != b'-')
                    .all(|b| USER_CODE_ALPHABET.contains(&b))
            );
            assert_eq!(UserCode::parse(&shown), Some(code));
        }
    }

    #[test]
    fn typing_ignores_case_dashes_and_spaces() {
        let code = UserCode::parse("BCDF-GHJK").unwrap();
        for typed in ["bcdfghjk", "bcdf-ghjk", " BCDF GHJK ", "Bc-Df-Gh-Jk"] {
            assert_eq!(UserCode::parse(typed), Some(code.clone()), "{typed}");
        }
    }

    #[test]
    fn what_cannot_be_a_code_is_refused() {
        for typed in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF-GHJA",
            "BCDF-GHJ1",
            "ВCDF-GHJK",
        ] {
            assert_eq!(UserCode::parse(typed), None, "{typed}");
        }
    }

    #[test]
    fn a_code_never_prints() {
        let code = UserCode::parse("BCDFGHJK").unwrap();
        assert!(!format!("{code:?}").contains("BCDF"));
    }
}
