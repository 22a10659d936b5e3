//! DPoP, RFC 9449: proofs of possession of a key, and the tokens bound to it.
//!
//! - [`AuthorizationServer::check_dpop_proof`] checks the `DPoP` header of a request
//!   (§4.3): exactly one proof ([`proof`] checks its header, key, signature and claims), the
//!   server nonce when one is required ([`nonce`], §8-9), and its `jti` used once: `put_if_absent`
//!   in the shared ephemeral store, keyed by the key's thumbprint and the `jti`, for as long as
//!   the proof's `iat` can pass (§11.1), so the rule holds across nodes.
//! - A checked proof is its key's thumbprint ([`jkt`], RFC 7638): the `cnf.jkt` of the access
//!   token (§6.1), the key a public client's refresh tokens are bound to (§5), what `dpop_jkt`
//!   at `/authorize` (§10) and `/par` (§10.1, [`AuthorizationServer::dpop_jkt_for_par`]) names.
//!
//! Refusals are `invalid_dpop_proof` and `use_dpop_nonce` (§5, §7.1, §8, §12.2); the reason goes
//! to the log only. The HTTP edge gives every `DPoP` header value, the method, and the
//! endpoint's URL built from the issuer (never from the `Host` header).

mod jkt;
mod nonce;
mod proof;
mod settings;
/// A client's proof key for tests, here and in the server's API tests (feature `testing`).
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use jkt::{is_thumbprint, jwk_thumbprint};
pub use proof::{DPOP_SIGNING_ALGS, MAX_PROOF_BYTES, access_token_hash};
pub use settings::{DpopPolicy, DpopSettings};

use crate::server::AuthorizationServer;
use palisade_core::{ErrorCode, OAuthError, TokenHash};
use std::borrow::Cow;

/// The `algs` of a `WWW-Authenticate: DPoP` challenge (RFC 9449 §7.1): the accepted
/// algorithms, space-separated.
pub fn challenge_algs() -> String {
    DPOP_SIGNING_ALGS.join(" ")
}

/// `invalid_dpop_proof` (RFC 9449 §5, §7.1).
pub fn invalid_dpop_proof(description: impl Into<Cow<'static, str>>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, description)
}

/// A DPoP proof that checked out: the thumbprint of the key it was signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopProof {
    pub jkt: String,
}

/// A request's DPoP proofs and what they must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The value of every `DPoP` header of the request (more than one is refused, §4.3).
    pub proofs: &'a [String],
    /// The request's method (`htm`).
    pub method: &'a str,
    /// The endpoint's public URL (`htu`): the issuer and the endpoint's path.
    pub url: &'a str,
    /// The access token presented with the proof, whose hash `ath` must be (§4.3 step 12).
    pub access_token: Option<&'a str>,
}

fn replay_key(jkt: &str, jti: &str) -> String {
    format!(
        "{}dpop-jti:{}",
        palisade_core::ports::REPLAY_KEY_PREFIX,
        TokenHash::of(&format!("{jkt}\u{0}{jti}")).as_str()
    )
}

impl AuthorizationServer {
    /// The userinfo endpoint's URL (a proof's `htu` there).
    pub fn userinfo_endpoint(&self) -> String {
        format!("{}/userinfo", self.issuer)
    }

    /// The pushed authorization request endpoint's URL (a proof's `htu` there).
    pub fn par_endpoint(&self) -> String {
        format!("{}/par", self.issuer)
    }

    /// Checks the DPoP proof of a request (RFC 9449 §4.3); `None` when it carries none.
    /// Storage trouble is 503, never a silent pass.
    pub async fn check_dpop_proof(
        &self,
        request: &ProofRequest<'_>,
    ) -> Result<Option<DpopProof>, OAuthError> {
        let compact = match request.proofs {
            [] => return Ok(None),
            [one] => one,
            _ => return Err(invalid_dpop_proof("send exactly one DPoP header")),
        };
        let url = proof::comparable_url(request.url)
            .ok_or_else(|| OAuthError::server_error("the endpoint URL does not parse"))?;
        let policy = &self.policy.dpop;
        let checked = proof::check(
            compact,
            &proof::Expected {
                method: request.method,
                url: &url,
                access_token: request.access_token,
                now: self.clock.now().timestamp(),
                policy,
            },
        )
        .map_err(|reason| invalid_dpop_proof("the DPoP proof is invalid").with_source(reason))?;
        if policy.require_nonce {
            let is_current = match checked.nonce.as_deref() {
                Some(nonce) => self.is_current_dpop_nonce(nonce).await?,
                None => false,
            };
            if !is_current {
                return Err(OAuthError::new(
                    ErrorCode::UseDpopNonce,
                    "the DPoP proof must carry the server's current nonce",
                ));
            }
        }
        // Last, so a proof refused for its nonce can be sent again once the client has one.
        let first_use = self
            .ephemeral
            .put_if_absent(
                &replay_key(&checked.jkt, &checked.jti),
                b"1",
                std::time::Duration::from_secs(policy.replay_window_secs()),
            )
            .await?;
        if !first_use {
            return Err(invalid_dpop_proof("the DPoP proof was already used"));
        }
        Ok(Some(DpopProof { jkt: checked.jkt }))
    }

    /// RFC 9449 §10.1: the key a pushed authorization request binds its code to. The proof
    /// sent to `/par` (checked like any other, `htu` the PAR endpoint) and the `dpop_jkt`
    /// parameter, when both are present, must name the same key; either alone names it.
    pub async fn dpop_jkt_for_par(
        &self,
        proofs: &[String],
        dpop_jkt: Option<&str>,
    ) -> Result<Option<String>, OAuthError> {
        if let Some(jkt) = dpop_jkt
            && !is_thumbprint(jkt)
        {
            return Err(OAuthError::invalid_request(
                "dpop_jkt must be a JWK SHA-256 thumbprint",
            ));
        }
        let url = self.par_endpoint();
        let proof = self
            .check_dpop_proof(&ProofRequest {
                proofs,
                method: "POST",
                url: &url,
                access_token: None,
            })
            .await?;
        match (proof, dpop_jkt) {
            (Some(proof), Some(jkt)) if proof.jkt != jkt => Err(invalid_dpop_proof(
                "dpop_jkt is not the thumbprint of the DPoP proof's key",
            )),
            (Some(proof), _) => Ok(Some(proof.jkt)),
            (None, jkt) => Ok(jkt.map(str::to_owned)),
        }
    }
}

#[cfg(test)]
mod tests;
