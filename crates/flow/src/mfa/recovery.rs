//! Recovery codes: ten single-use codes that stand in for a lost factor. Each is 80 random bits
//! written as 16 base32 characters (`abcd-efgh-ijkl-mnop`), so a stolen database's digests
//! cannot be reversed by search and an online guess is hopeless under the attempt limits. The
//! store keeps only SHA-256 digests of the normalised code.

use palisade_core::TokenHash;
use palisade_core::secret::OsSecrets;

/// How many codes a set holds.
pub const CODES_PER_SET: usize = 10;
/// RFC 4648 base32, lowercase (easier to read back than uppercase).
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// 16 characters of 5 bits.
const CODE_CHARS: usize = 16;

/// A fresh set: the codes to show once, and the digests to store.
pub fn generate_set() -> (Vec<String>, Vec<TokenHash>) {
    let codes: Vec<String> = (0..CODES_PER_SET).map(|_| generate_code()).collect();
    let digests = codes.iter().map(|c| digest(c)).collect();
    (codes, digests)
}

fn generate_code() -> String {
    let bytes = OsSecrets::token_bytes();
    let chars: Vec<char> = bytes[..CODE_CHARS]
        .iter()
        .map(|b| ALPHABET[usize::from(b & 0x1f)] as char)
        .collect();
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// The digest of a code as typed: case, spaces and dashes do not matter. `None` when what was
/// typed cannot be a code, so it costs no store lookup.
pub fn digest_of_typed(typed: &str) -> Option<TokenHash> {
    let normalised: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let is_code =
        normalised.len() == CODE_CHARS && normalised.bytes().all(|b| ALPHABET.contains(&b));
    is_code.then(|| TokenHash::of(&normalised))
}

fn digest(code: &str) -> TokenHash {
    TokenHash::of(&code.replace('-', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_of_eighty_bits() {
        let (codes, digests) = generate_set();
        assert_eq!(codes.len(), 10);
        assert_eq!(digests.len(), 10);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert_eq!(code.split('-').count(), 4);
        }
    }

    #[test]
    fn a_code_matches_however_it_is_typed() {
        let (codes, digests) = generate_set();
        let code = &codes[3];
        for typed in [
            code.clone(),
            code.to_uppercase(),
            code.replace('-', ""),
            format!(" {} ", code.replace('-', " ")),
        ] {
            assert_eq!(
                digest_of_typed(&typed).as_ref(),
                Some(&digests[3]),
                "{typed}"
            );
        }
        for not_a_code in ["", "abcd", "abcd-efgh-ijkl-mno1", "abcd-efgh-ijkl-mnopq"] {
            assert!(digest_of_typed(not_a_code).is_none(), "{not_a_code}");
        }
    }
}
