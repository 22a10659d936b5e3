//! argon2id (RFC 9106) with OWASP Password Storage Cheat Sheet parameters: the computation
//! itself, in a caller's reusable working memory, and the cost a stored hash may ask for.

use super::PasswordError;
use argon2::password_hash::phc::{self, Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use palisade_core::model::PasswordHash;

/// The OWASP minimum for argon2id: 19 MiB, two passes, one lane.
pub const OWASP_MIN_MEMORY_KIB: u32 = 19_456;
pub const OWASP_MIN_ITERATIONS: u32 = 2;

/// A stored hash may cost at most this many times the configured memory or passes (and never
/// less than these floors) before we refuse to verify it: a planted `m=4194304,t=100` row must
/// not let one login pin a core and 4 GiB (docs/threat-model.md LF-06).
const STORED_COST_FACTOR: u32 = 4;
const STORED_MEMORY_FLOOR_KIB: u32 = 256 * 1024;
const STORED_ITERATIONS_FLOOR: u32 = 16;
const STORED_PARALLELISM_FLOOR: u32 = 16;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: OWASP_MIN_MEMORY_KIB,
            iterations: OWASP_MIN_ITERATIONS,
            parallelism: 1,
        }
    }
}

impl Argon2Settings {
    /// Whether these settings meet the OWASP minimum (m >= 19 MiB with t >= 2).
    pub fn meets_owasp_minimum(&self) -> bool {
        self.memory_kib >= OWASP_MIN_MEMORY_KIB && self.iterations >= OWASP_MIN_ITERATIONS
    }
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password is right. `needs_rehash` when the stored hash used other parameters.
    Match {
        needs_rehash: bool,
    },
    Mismatch,
}

/// Whether a stored hash made with `stored` parameters may be verified when the configured ones
/// are `current`.
pub(super) fn check_stored_cost(current: &Params, stored: &Params) -> Result<(), PasswordError> {
    let ceiling = |current: u32, floor: u32| current.saturating_mul(STORED_COST_FACTOR).max(floor);
    let too_much = stored.m_cost() > ceiling(current.m_cost(), STORED_MEMORY_FLOOR_KIB)
        || stored.t_cost() > ceiling(current.t_cost(), STORED_ITERATIONS_FLOOR)
        || stored.p_cost() > ceiling(current.p_cost(), STORED_PARALLELISM_FLOOR);
    if too_much {
        return Err(PasswordError::OutOfPolicy(format!(
            "m={},t={},p={}",
            stored.m_cost(),
            stored.t_cost(),
            stored.p_cost()
        )));
    }
    Ok(())
}

/// One argon2 computation in `blocks` (resized to exactly what `params` needs: argon2 uses the
/// first `block_count` blocks and overwrites them before reading, so old contents never leak
/// into a result).
fn compute(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    blocks: &mut Vec<Block>,
) -> Result<(), PasswordError> {
    blocks.resize(params.block_count(), Block::default());
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, blocks.as_mut_slice())
        .map_err(|e| PasswordError::Internal(e.to_string()))
}

fn internal(e: impl std::fmt::Display) -> PasswordError {
    PasswordError::Internal(e.to_string())
}

/// A new argon2id hash with a fresh 16-byte salt, as a PHC string.
pub(super) fn hash_with(
    params: &Params,
    password: &[u8],
    blocks: &mut Vec<Block>,
) -> Result<PasswordHash, PasswordError> {
    let salt = argon2::password_hash::generate_salt();
    let mut out = vec![0; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    compute(
        Algorithm::Argon2id,
        Version::V0x13,
        params.clone(),
        password,
        &salt,
        &mut out,
        blocks,
    )?;
    let phc = phc::PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(internal)?,
        salt: Some(Salt::new(&salt).map_err(internal)?),
        hash: Some(Output::new(&out).map_err(internal)?),
    };
    Ok(PasswordHash(phc.to_string()))
}

/// Verifies with the algorithm, version and parameters the hash was made with, whatever the
/// current settings; `needs_rehash` when those differ from `params` (or it is not argon2id).
pub(super) fn verify_with(
    params: &Params,
    password: &[u8],
    stored: &str,
    blocks: &mut Vec<Block>,
) -> Result<Verification, PasswordError> {
    let parsed = phc::PasswordHash::new(stored)
        .map_err(|e| PasswordError::Internal(format!("stored hash is not PHC: {e}")))?;
    let algorithm = Algorithm::try_from(parsed.algorithm.as_str()).map_err(internal)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(internal)?
        .unwrap_or_default();
    let stored_params = Params::try_from(&parsed).map_err(internal)?;
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Ok(Verification::Mismatch);
    };
    let mut out = vec![0; expected.len()];
    compute(
        algorithm,
        version,
        stored_params.clone(),
        password,
        salt,
        &mut out,
        blocks,
    )?;
    // `Output` compares in constant time.
    if Output::new(&out).map_err(internal)? != *expected {
        return Ok(Verification::Mismatch);
    }
    let same_params = stored_params.m_cost() == params.m_cost()
        && stored_params.t_cost() == params.t_cost()
        && stored_params.p_cost() == params.p_cost();
    let needs_rehash = algorithm != Algorithm::Argon2id || !same_params;
    Ok(Verification::Match { needs_rehash })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::tests::cheap;

    #[test]
    fn owasp_minimum_is_enforced_by_the_predicate() {
        assert!(Argon2Settings::default().meets_owasp_minimum());
        assert!(!cheap().meets_owasp_minimum());
    }
}
