//! The code an interaction ends with: RFC 6749 §4.1.2 (single-use, short-lived), RFC 9207 `iss`,
//! and the replay marker that lets a second redemption revoke what the first one issued
//! (RFC 6749 §4.1.2, docs/threat-model.md TK-01, RC-01).

use crate::authorize::AuthorizationRequest;
use crate::grant::{CodeGrant, Grant};
use crate::redirect_uri;
use crate::scope::{OFFLINE_ACCESS, ScopeSet};
use crate::server::{AuthorizationServer, ttl};
use crate::session::BrowserSession;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::model::{ClientId, User};
use palisade_core::secret::labelled_digest;
use palisade_core::{OAuthError, TokenHash};

impl AuthorizationServer {
    /// Mints a single-use code for the request and returns the redirect carrying it
    /// (RFC 6749 §4.1.2, RFC 9207 `iss`).
    pub(super) async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        user: &User,
        session: &BrowserSession,
    ) -> Result<String, OAuthError> {
        let client = self
            .clients
            .find_client(&ClientId(request.client_id.clone()))
            .await?
            .ok_or_else(|| {
                OAuthError::invalid_request("the application is no longer registered")
            })?;
        // A refresh token needs both the user's consent to offline_access (given on the consent
        // page that listed it) and a client registered for the refresh_token grant.
        let may_refresh = client
            .grant_types
            .contains(&palisade_core::model::GrantType::RefreshToken);
        let scope = if may_refresh {
            request.scope.clone()
        } else {
            ScopeSet::from_tokens(request.scope.iter().filter(|s| *s != OFFLINE_ACCESS))
                .unwrap_or_default()
        };
        let raw_code = self.secrets.token();
        let code = CodeGrant {
            grant: Grant {
                id: grant_id_of(&raw_code),
                client_id: request.client_id.clone(),
                user_id: user.id.0.clone(),
                scope,
                auth_time: session.auth_time,
                amr: session.amr.clone(),
                resources: request.resources.clone(),
                dpop_jkt: None,
            },
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
            dpop_jkt: request.dpop_jkt.clone(),
            issued_at: self.clock.now().timestamp(),
        };
        let bytes = serde_json::to_vec(&code).map_err(OAuthError::server_error)?;
        self.ephemeral
            .put(&code_key(&raw_code), &bytes, ttl(self.policy.code_ttl))
            .await?;
        // Before the code leaves: from its first redemption on, a replay must find this. Only
        // as long as the code (and a minute): the redemption extends it to the tokens' lifetime,
        // so abandoned authorizations do not fill the store with long-lived markers.
        self.ephemeral
            .put(
                &used_key(&raw_code),
                code.grant.id.as_bytes(),
                ttl(self.policy.code_ttl + USED_MARKER_SLACK),
            )
            .await?;
        let mut params = vec![("code", raw_code.as_str())];
        if let Some(state) = request.state.as_deref() {
            params.push(("state", state));
        }
        params.push(("iss", self.issuer.as_str()));
        Ok(redirect_uri::append_query(&request.redirect_uri, &params))
    }
}

/// The id of the grant a code stands for, derived from the code: a replay long after the code's
/// markers are gone can still name the refresh-token family it produced (which lives for
/// weeks), so nothing about the code has to be kept that long. Labelled, so it is neither the
/// code's store key nor its replay marker's.
pub(crate) fn grant_id_of(raw_code: &str) -> String {
    URL_SAFE_NO_PAD.encode(labelled_digest(b"palisade grant-of-code v1\0", raw_code))
}

pub(crate) fn code_key(raw_code: &str) -> String {
    format!("code:{}", TokenHash::of(raw_code).as_str())
}

/// How much longer than its code the replay marker first lives: the redemption, which can
/// only happen within the code's lifetime, extends it well before this runs out.
pub(crate) const USED_MARKER_SLACK: chrono::Duration = chrono::Duration::seconds(60);

/// Names the code's grant: a code presented when it is no longer in the store (redeemed, or
/// expired) revokes that grant.
pub(crate) fn used_key(raw_code: &str) -> String {
    format!("code-used:{}", TokenHash::of(raw_code).as_str())
}
