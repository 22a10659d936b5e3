//! Bounding what unauthenticated browsers can make us store (docs/threat-model.md AZ-11).
//! Every `/authorize` that needs the user stores an interaction for `interaction_ttl`; without
//! bounds a modest flood fills the in-process store (which then refuses every new key, so
//! every sign-in answers 503) or grows Redis without limit.
//!
//! Three bounds: a browser that already holds an open interaction for the same request gets it
//! back; a new one is admitted only under the per-address and per-network limits of
//! [`crate::guard::AttemptLimits`]; and its stored size is capped
//! ([`super::MAX_INTERACTION_BYTES`]).

use super::{Browser, Interaction};
use crate::authorize::AuthorizationRequest;
use crate::guard::Throttled;
use crate::server::{AuthorizationServer, ttl};
use palisade_core::{OAuthError, TokenHash};

/// Whether a browser may go on to its interaction's page.
#[derive(Debug)]
pub(crate) enum Admission {
    /// Under this step id: the browser's open interaction for the same request, or a new one.
    Admitted(String),
    /// The source started too many.
    Throttled(Throttled),
}

/// Names the open interaction of one browser for one request (every validated parameter).
fn open_key(binding: &str, request: &AuthorizationRequest) -> Result<String, OAuthError> {
    let request_json = serde_json::to_string(request).map_err(OAuthError::server_error)?;
    Ok(format!(
        "interaction-open:{}",
        TokenHash::of(&format!("{binding}\n{request_json}")).as_str()
    ))
}

impl AuthorizationServer {
    /// Stores `interaction` for `browser`, unless the browser has an open one for the same
    /// request or its source is over its limit. Only a browser that already holds a binding can
    /// come back with it and ask again, so only its interactions get a pointer for reuse: a
    /// client that never keeps cookies (a flood) costs one key per interaction, not two.
    pub(crate) async fn admit(
        &self,
        interaction: Interaction,
        browser: &Browser,
    ) -> Result<Admission, OAuthError> {
        let open = match browser.binding.as_deref() {
            Some(binding) => Some(open_key(binding, &interaction.request)?),
            None => None,
        };
        if let Some(open) = &open
            && let Some(id) = self.ephemeral.get(open).await?
            && let Ok(id) = String::from_utf8(id)
            && self.peek_step(Some(&id), browser).await?.is_some()
        {
            return Ok(Admission::Admitted(id));
        }
        if let Some(throttled) = self.guard.admit_interaction(browser.client_ip).await? {
            tracing::info!(target: "audit", action = "authorize", outcome = "throttled", client_ip = ?browser.client_ip, retry_after_secs = throttled.retry_after_secs(), "too many sign-ins started from this address");
            return Ok(Admission::Throttled(throttled));
        }
        let step = self.store_step(interaction).await?;
        if let Some(open) = &open {
            self.ephemeral
                .put(open, step.id.as_bytes(), ttl(self.policy.interaction_ttl))
                .await?;
        }
        Ok(Admission::Admitted(step.id))
    }
}
