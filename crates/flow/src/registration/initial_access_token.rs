//! Initial access tokens (RFC 7591 §3): in `token` mode, what a caller must present to
//! register. Checked before the metadata, spent only after it passed, so a request with
//! invalid metadata does not use one up.

use chrono::{DateTime, Utc};
use palisade_core::ports::InitialAccessTokenRepository;
use palisade_core::{OAuthError, TokenHash};

/// Why an initial access token was refused; every case answers 401 `invalid_token`.
fn bad_initial_token() -> OAuthError {
    OAuthError::invalid_token("the initial access token is invalid, expired or used up")
}

/// Checks an initial access token (RFC 7591 §3) without spending it: it must exist, be
/// unexpired and have uses left.
pub async fn check_initial_access_token(
    tokens: &dyn InitialAccessTokenRepository,
    presented: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TokenHash, OAuthError> {
    let Some(presented) = presented else {
        return Err(OAuthError::invalid_token(
            "this server requires an initial access token to register",
        ));
    };
    let hash = TokenHash::of(presented);
    let token = tokens
        .find_initial_access_token(&hash)
        .await?
        .ok_or_else(bad_initial_token)?;
    let is_expired = token.expires_at.is_some_and(|at| at <= now);
    let is_used_up = token.max_uses.is_some_and(|max| token.uses >= max);
    if is_expired || is_used_up {
        return Err(bad_initial_token());
    }
    Ok(hash)
}

/// Spends one use of a checked initial access token; losing a race for the last use is
/// `invalid_token` like any other refusal.
pub async fn spend_initial_access_token(
    tokens: &dyn InitialAccessTokenRepository,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    if tokens.consume_initial_access_token(hash, now).await? {
        Ok(())
    } else {
        Err(bad_initial_token())
    }
}
