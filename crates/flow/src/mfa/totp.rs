//! TOTP authenticators: RFC 6238 with the parameters every authenticator app reads (HMAC-SHA-1,
//! 6 digits, 30-second steps) and the Key Uri Format (`otpauth://`) they scan.
//!
//! A code is accepted for the step before, the step of, and the step after the server's clock
//! (RFC 6238 §5.2 allows one step of skew each way: clocks drift, people type slowly), and each
//! step once per factor: the store remembers the last accepted step and refuses any step not
//! after it, atomically ([`FactorRepository::claim_totp_step`]), so a code seen over a shoulder
//! or replayed by a phishing proxy after its use is worthless.
//!
//! [`FactorRepository::claim_totp_step`]: palisade_core::ports::FactorRepository::claim_totp_step

use palisade_core::secret::OsSecrets;
use std::fmt;
use totp_rs::{Algorithm, Builder, Secret as TotpSeed};
use url::form_urlencoded::byte_serialize;

/// 160 bits, the HMAC-SHA-1 block's worth that RFC 4226 §4 recommends.
pub const SECRET_BYTES: usize = 20;
/// What TOTP secrets are sealed for ([`palisade_core::ports::SecretSealer`]).
pub const SEAL_PURPOSE: &str = "totp";
const DIGITS: usize = 6;
const STEP_SECS: u64 = 30;
/// One step either way.
const SKEW_STEPS: u16 = 1;

/// A TOTP shared secret. Never logged; at rest only sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self(OsSecrets::token_bytes()[..SECRET_BYTES].to_vec())
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as apps take it typed in.
    pub fn base32(&self) -> String {
        TotpSeed::from(self.0.clone()).to_base32()
    }

    /// [`Self::base32`] in groups of four, for reading and typing.
    pub fn grouped(&self) -> String {
        let plain = self.base32();
        plain
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The Key Uri Format: `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&...`.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", encode(issuer), encode(account));
        format!(
            "otpauth://totp/{label}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.base32(),
            encode(issuer),
        )
    }

    /// The RFC 6238 time step `code` is valid for at `unix_time`, within one step of skew;
    /// `None` for a wrong or malformed code. Spaces are ignored (apps show `123 456`).
    pub fn matching_step(&self, code: &str, unix_time: i64) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let time = u64::try_from(unix_time).ok()?;
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(SKEW_STEPS)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0.clone())
            .build()
            .ok()?;
        totp.check(&code, time)
            .and_then(|step| i64::try_from(step).ok())
    }
}

fn encode(text: &str) -> String {
    byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// The secret an authenticator app reads from a setup page's text (tests scan it as a user
/// would type it).
#[cfg(test)]
pub(crate) fn scanned(setup: &crate::interaction::TotpSetup) -> TotpSecret {
    let typed = setup.secret.replace(' ', "");
    TotpSecret(TotpSeed::try_from_base32(typed).unwrap().to_vec())
}

/// The code an authenticator app shows for `secret` at `unix_time` (tests compute codes the
/// way an app does).
#[cfg(test)]
pub(crate) fn code_at(secret: &TotpSecret, unix_time: i64) -> String {
    let totp = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(0)
        .with_step_duration(STEP_SECS)
        .with_secret(secret.0.clone())
        .build()
        .unwrap();
    totp.generate(unix_time as u64).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 (its 8-digit values, last 6 digits).
    #[test]
    fn codes_follow_the_rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, eight_digits) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let code = &eight_digits[2..];
            assert_eq!(secret.matching_step(code, time), Some(time / 30), "{time}");
            assert_eq!(code_at(&secret, time), code);
        }
    }

    #[test]
    fn one_step_of_skew_each_way_and_no_more() {
        let secret = TotpSecret::generate();
        let now = 1_800_000_015;
        let step = now / 30;
        for offset in [-1, 0, 1] {
            let code = code_at(&secret, now + offset * 30);
            assert_eq!(secret.matching_step(&code, now), Some(step + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = code_at(&secret, now + offset * 30);
            let matched = secret.matching_step(&code, now);
            // A code of a farther step can collide with a near one by chance (1 in 10^6).
            assert!(matched.is_none() || matched != Some(step + offset));
        }
    }

    #[test]
    fn malformed_codes_match_nothing() {
        let secret = TotpSecret::generate();
        let code = code_at(&secret, 1_800_000_000);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(secret.matching_step(&spaced, 1_800_000_000).is_some());
        for bad in ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", "-12345"] {
            assert_eq!(secret.matching_step(bad, 1_800_000_000), None, "{bad:?}");
        }
    }

    #[test]
    fn the_uri_is_what_authenticator_apps_read() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            secret.otpauth_uri("id.example.com", "alice smith"),
            "otpauth://totp/id.example.com:alice%20smith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=id.example.com&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(secret.grouped().split(' ').count(), 8);
        assert!(!format!("{secret:?}").contains("GEZ"));
    }
}
