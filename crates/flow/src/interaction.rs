//! Between /authorize and the redirect back: login and consent as named prompts with reasons
//! (OIDC Core §3.1.2.3-3.1.2.4), kept outside the protocol core as node-oidc-provider does.
//!
//! An interaction is stored in the ephemeral store under an unguessable id and bound to the
//! browser that started it (a hash of a cookie value), so a login or consent form can only
//! be completed by the browser that was sent to it (login CSRF).

use crate::authorize::{AuthorizationRequest, error_redirect};
use crate::grant::{CodeGrant, Grant};
use crate::prompt::MaxAge;
use crate::redirect_uri;
use crate::scope::{OFFLINE_ACCESS, ScopeSet};
use crate::server::{AuthorizationServer, ttl};
use crate::session::BrowserSession;
use palisade_core::model::{ClientId, Consent, User, UserId};
use palisade_core::{ErrorCode, OAuthError, StoreError, TokenHash};
use serde::{Deserialize, Serialize};

/// An authorization request waiting for the user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Interaction {
    pub id: String,
    pub request: AuthorizationRequest,
    /// Hidden in every form of this interaction and checked on every POST.
    pub csrf_token: String,
    /// Hash of the browser-binding cookie value.
    pub browser_binding: TokenHash,
    /// Set when the user logged in during this interaction (then `prompt=login` and `max_age`
    /// are satisfied, or the user would loop forever).
    pub logged_in_during: bool,
    /// Set when the user allowed the request on the consent page of this interaction.
    pub consented_during: bool,
}

/// What the browser should see next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Show the login form.
    Login,
    /// Show the consent page.
    Consent,
    /// Redirect to the client (with a code, or with an error such as `login_required`).
    RedirectToClient(String),
}

fn key(id: &str) -> String {
    format!("interaction:{id}")
}

impl AuthorizationServer {
    /// Starts an interaction for a validated request, bound to the browser holding
    /// `browser_secret`.
    pub fn new_interaction(
        &self,
        request: AuthorizationRequest,
        browser_secret: &str,
    ) -> Interaction {
        Interaction {
            id: self.secrets.token(),
            request,
            csrf_token: self.secrets.token(),
            browser_binding: TokenHash::of(browser_secret),
            logged_in_during: false,
            consented_during: false,
        }
    }

    pub async fn save_interaction(&self, interaction: &Interaction) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(interaction).map_err(|e| StoreError::Internal(e.into()))?;
        self.ephemeral
            .put(
                &key(&interaction.id),
                &bytes,
                ttl(self.policy.interaction_ttl),
            )
            .await
    }

    /// The interaction `id`, if it exists and belongs to this browser.
    pub async fn find_interaction(
        &self,
        id: &str,
        browser_secret: Option<&str>,
    ) -> Result<Option<Interaction>, StoreError> {
        let Some(bytes) = self.ephemeral.get(&key(id)).await? else {
            return Ok(None);
        };
        let Ok(interaction) = serde_json::from_slice::<Interaction>(&bytes) else {
            return Ok(None);
        };
        let is_same_browser =
            browser_secret.is_some_and(|s| interaction.browser_binding.matches(s));
        Ok(is_same_browser.then_some(interaction))
    }

    pub async fn finish_interaction(&self, id: &str) -> Result<(), StoreError> {
        self.ephemeral.delete(&key(id)).await
    }

    /// Decides the next step for `interaction` given the browser's session.
    ///
    /// Login is needed without a session (or for a disabled user), and with `prompt=login` or
    /// an exceeded `max_age` unless the user just logged in. Consent is needed with
    /// `prompt=consent` or when no remembered consent covers the scopes, unless given just now.
    /// With `prompt=none` either need becomes `login_required` / `consent_required`.
    pub async fn next_step(
        &self,
        interaction: &Interaction,
        session: Option<&BrowserSession>,
    ) -> Result<NextStep, OAuthError> {
        let request = &interaction.request;
        let now = self.clock.now();
        let user = match session {
            Some(s) => self
                .users
                .find_user_by_id(&UserId(s.user_id.clone()))
                .await?
                .filter(|u| !u.is_disabled),
            None => None,
        };
        let reauthenticate = session.is_some_and(|s| {
            request.prompt.requires_login()
                || request.max_age.is_some_and(|secs| {
                    let auth_time = chrono::DateTime::from_timestamp(s.auth_time, 0).unwrap_or(now);
                    MaxAge::from_secs(secs).requires_reauthentication(auth_time, now)
                })
        });
        let (Some(user), Some(session)) = (user, session) else {
            return Ok(self.needs(request, NextStep::Login, ErrorCode::LoginRequired));
        };
        if reauthenticate && !interaction.logged_in_during {
            return Ok(self.needs(request, NextStep::Login, ErrorCode::LoginRequired));
        }
        if !interaction.consented_during {
            let remembered = self
                .consents
                .find_consent(&user.id, &ClientId(request.client_id.clone()))
                .await?;
            let covered = remembered.is_some_and(|c| {
                let granted = ScopeSet::from_tokens(c.scopes).unwrap_or_default();
                request.scope.is_subset_of(&granted)
            });
            if request.prompt.requires_consent() || !covered {
                return Ok(self.needs(request, NextStep::Consent, ErrorCode::ConsentRequired));
            }
        }
        self.issue_code(request, &user, session)
            .await
            .map(NextStep::RedirectToClient)
    }

    /// The interactive step, or under `prompt=none` the error that replaces it.
    fn needs(
        &self,
        request: &AuthorizationRequest,
        step: NextStep,
        silent_error: ErrorCode,
    ) -> NextStep {
        if request.prompt.is_none() {
            let error = OAuthError::new(silent_error, "user interaction is required");
            NextStep::RedirectToClient(error_redirect(
                &self.issuer,
                &request.redirect_uri,
                request.state.as_deref(),
                &error,
            ))
        } else {
            step
        }
    }

    /// Remembers that `user` allowed the request's scopes for its client (added to any earlier
    /// consent).
    pub async fn record_consent(
        &self,
        user: &UserId,
        request: &AuthorizationRequest,
    ) -> Result<(), StoreError> {
        let client_id = ClientId(request.client_id.clone());
        let mut scopes = self
            .consents
            .find_consent(user, &client_id)
            .await?
            .map(|c| c.scopes)
            .unwrap_or_default();
        for s in request.scope.iter() {
            if !scopes.iter().any(|have| have == s) {
                scopes.push(s.to_owned());
            }
        }
        self.consents
            .save_consent(Consent {
                user_id: user.clone(),
                client_id,
                scopes,
                granted_at: self.clock.now(),
            })
            .await
    }

    /// The redirect for a user who declined (RFC 6749 §4.1.2.1 `access_denied`).
    pub fn denied_redirect(&self, request: &AuthorizationRequest) -> String {
        error_redirect(
            &self.issuer,
            &request.redirect_uri,
            request.state.as_deref(),
            &OAuthError::access_denied("the user declined the request"),
        )
    }

    /// The redirect for a failure after the redirect URI was verified.
    pub fn error_redirect_for(&self, request: &AuthorizationRequest, error: &OAuthError) -> String {
        error_redirect(
            &self.issuer,
            &request.redirect_uri,
            request.state.as_deref(),
            error,
        )
    }

    /// Mints a single-use code for the request and returns the redirect carrying it
    /// (RFC 6749 §4.1.2, RFC 9207 `iss`).
    async fn issue_code(
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
                id: self.secrets.token(),
                client_id: request.client_id.clone(),
                user_id: user.id.0.clone(),
                scope,
                auth_time: session.auth_time,
                amr: session.amr.clone(),
            },
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            nonce: request.nonce.clone(),
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
