//! The user's side of the device flow: RFC 8628 §3.3 (user interaction), §5.1 (user-code brute
//! force), §5.4 (remote phishing).
//!
//! `/device` shows a form for the user code (prefilled from `verification_uri_complete`).
//! Every entry passes the attempt limiter first ([`CredentialKind::UserCode`], per address and
//! per network): past its limit the form answers 429 without looking at the code, and every
//! wrong code counts. A known code starts an ordinary interaction — sign-in, second factor,
//! consent, the same pages as `/authorize` — whose request ends in approving the device
//! ([`Ending::ApproveDevice`]) instead of a redirect. Consent is always asked (`prompt=consent`),
//! showing the client's name and the user code to compare with the device: a user sent a
//! `verification_uri_complete` by someone else must not approve a stranger's device unawares.
//!
//! The decision (approve or deny) *takes* the user code, so a code is decided once, by one
//! browser, and then writes the decision for the device's next poll.

use super::{
    DeviceDecision, DeviceRequest, PendingDevice, UserCode, decision_key, request_key, stored_for,
    user_code_key,
};
use crate::authorize::{AuthorizationRequest, Ending};
use crate::grant::Grant;
use crate::guard::CredentialKind;
use crate::interaction::admission::Admission;
use crate::interaction::decision::NextStep;
use crate::interaction::{
    Browser, DeviceDoneView, DeviceEntryProblem, DeviceEntryView, Interaction, Outcome, Refusal,
    Step, View, csrf_matches, forged_form, log_refusal,
};
use crate::pkce::{CodeChallenge, CodeVerifier};
use crate::prompt::Prompt;
use crate::scope::{OFFLINE_ACCESS, ScopeSet};
use crate::server::AuthorizationServer;
use crate::session::BrowserSession;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::OAuthError;
use palisade_core::model::{ClientId, GrantType, User};
use palisade_core::secret::labelled_digest;

/// A submitted user-code form.
#[derive(Debug)]
pub struct DeviceEntrySubmission<'a> {
    pub user_code: Option<&'a str>,
    pub csrf_token: Option<&'a str>,
}

/// The CSRF token of the user-code form: derived from the browser-binding cookie, which a
/// cross-site page can neither read nor set, so no state is stored before a code is known.
fn entry_csrf_token(binding: &str) -> String {
    URL_SAFE_NO_PAD.encode(labelled_digest(b"palisade device-entry csrf v1\0", binding))
}

/// The refusal for a code that can no longer be decided (used by another browser, expired).
fn code_gone() -> OAuthError {
    OAuthError::invalid_request(
        "this code has expired or was already used; start again on your device",
    )
}

impl AuthorizationServer {
    /// `GET /device`: the user-code form, prefilled with `typed` when it is a well-formed code.
    pub async fn show_device_entry(&self, typed: Option<&str>, browser: &Browser) -> Outcome {
        let prefill = typed.and_then(UserCode::parse).map(|c| c.display());
        self.device_entry_page(browser, prefill.unwrap_or_default(), None)
    }

    /// `POST /device`: checks the code under the limiter and, when it is live, starts the
    /// interaction that ends in approving the device.
    pub async fn submit_device_entry(
        &self,
        form: DeviceEntrySubmission<'_>,
        browser: &Browser,
    ) -> Outcome {
        let Some(binding) = browser.binding.as_deref() else {
            return forged_form().into();
        };
        if !csrf_matches(&entry_csrf_token(binding), form.csrf_token) {
            return forged_form().into();
        }
        let typed = form.user_code.unwrap_or_default();
        // Bounded before it is echoed back into the form.
        let retyped: String = typed.chars().take(32).collect();
        match self
            .guard
            .check_source(CredentialKind::UserCode, browser.client_ip)
            .await
        {
            Ok(None) => {}
            Ok(Some(throttled)) => {
                tracing::info!(target: "audit", action = "device_entry", outcome = "throttled", client_ip = ?browser.client_ip, "too many wrong user codes from this address");
                return self.device_entry_page(
                    browser,
                    retyped,
                    Some(DeviceEntryProblem::Throttled(throttled)),
                );
            }
            Err(e) => return Refusal::page(e.into()).into(),
        }
        let found = match UserCode::parse(typed) {
            Some(code) => match self.live_device_request(&code).await {
                Ok(found) => {
                    found.map(|(device_code_hash, request)| (code, device_code_hash, request))
                }
                Err(error) => return Refusal::page(error).into(),
            },
            None => None,
        };
        let Some((code, device_code_hash, request)) = found else {
            if let Err(e) = self
                .guard
                .record_source_failure(CredentialKind::UserCode, browser.client_ip)
                .await
            {
                return Refusal::page(e.into()).into();
            }
            tracing::info!(target: "audit", action = "device_entry", outcome = "failure", client_ip = ?browser.client_ip, "an unknown user code was entered");
            return self.device_entry_page(browser, retyped, Some(DeviceEntryProblem::UnknownCode));
        };
        let pending = PendingDevice {
            device_code_hash,
            user_code_hash: code.hash(),
            user_code: code.display(),
        };
        match self
            .start_device_interaction(request, pending, binding, browser)
            .await
        {
            Ok(outcome) => outcome,
            Err(error) => {
                log_refusal(&error);
                Refusal::page(error).into()
            }
        }
    }

    /// The device request `code` stands for, if it is live (by our clock) and undecided.
    async fn live_device_request(
        &self,
        code: &UserCode,
    ) -> Result<Option<(String, DeviceRequest)>, OAuthError> {
        let Some(device_code_hash) = self.ephemeral.get(&user_code_key(&code.hash())).await? else {
            return Ok(None);
        };
        let device_code_hash = String::from_utf8_lossy(&device_code_hash).into_owned();
        let Some(request) = self.device_request(&device_code_hash).await? else {
            return Ok(None);
        };
        let is_live = self.clock.now().timestamp() <= request.expires_at;
        Ok(is_live.then_some((device_code_hash, request)))
    }

    /// The stored request of a device code (by its hash).
    pub(crate) async fn device_request(
        &self,
        device_code_hash: &str,
    ) -> Result<Option<DeviceRequest>, OAuthError> {
        let Some(bytes) = self.ephemeral.get(&request_key(device_code_hash)).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(OAuthError::server_error)
    }

    /// An interaction for the device request, as `/authorize` starts one: admitted under the
    /// interaction limits, on to the sign-in or consent page.
    async fn start_device_interaction(
        &self,
        device: DeviceRequest,
        pending: PendingDevice,
        binding: &str,
        browser: &Browser,
    ) -> Result<Outcome, OAuthError> {
        let client = self
            .clients
            .find_client(&ClientId(device.client_id.clone()))
            .await?
            .ok_or_else(|| {
                OAuthError::invalid_request("the application is no longer registered")
            })?;
        let request = AuthorizationRequest {
            client_id: device.client_id,
            client_name: device.client_name,
            // Nothing is redirected for a device: the interaction ends on our own page.
            redirect_uri: String::new(),
            state: None,
            scope: device.scope,
            nonce: None,
            // A device interaction never ends in a code; should one ever be minted, this
            // challenge has a verifier nobody knows, so it could not be redeemed.
            code_challenge: CodeChallenge::s256_of(&CodeVerifier::parse(&self.secrets.token())?),
            // RFC 8628 §5.4: always ask, with the user code on the page, even when an earlier
            // consent covers the scopes.
            prompt: Prompt::parse("consent")?,
            max_age: None,
            login_hint: None,
            acr: Default::default(),
            client_requires_mfa: client.require_mfa,
            ends_in: Ending::ApproveDevice(pending),
            resources: vec![],
            // No code is issued for a device; its tokens are bound at the poll instead.
            dpop_jkt: None,
        };
        let session = self.session_of(browser).await?;
        let interaction = Interaction::start(self, request, binding);
        let page = match self.next_step(&interaction, session.as_ref()).await? {
            NextStep::Page(page) => page,
            // prompt=consent always stops at the consent page first.
            NextStep::RedirectToClient(_)
            | NextStep::DeviceApproved(_)
            | NextStep::ToConsole(_) => {
                return Err(OAuthError::server_error(
                    "a device interaction skipped its consent page",
                ));
            }
        };
        let interaction = interaction.awaiting(page, session.as_ref());
        Ok(match self.admit(interaction, browser).await? {
            Admission::Admitted(step_id) => Step::Continue { page, step_id }.into(),
            Admission::Throttled(throttled) => Refusal::throttled(throttled).into(),
        })
    }

    /// The user allowed the device's request (from [`Self::next_step`]): takes the user code
    /// (one decision per code) and leaves the grant for the device's next poll.
    pub(crate) async fn approve_device(
        &self,
        request: &AuthorizationRequest,
        device: &PendingDevice,
        user: &User,
        session: &BrowserSession,
    ) -> Result<DeviceDoneView, OAuthError> {
        let device_request = self.take_user_code(device).await?;
        let client = self
            .clients
            .find_client(&ClientId(device_request.client_id.clone()))
            .await?
            .ok_or_else(|| {
                OAuthError::invalid_request("the application is no longer registered")
            })?;
        // As for a code: a refresh token needs both consent to offline_access and a client
        // registered for the refresh_token grant.
        let scope = if client.grant_types.contains(&GrantType::RefreshToken) {
            request.scope.clone()
        } else {
            ScopeSet::from_tokens(request.scope.iter().filter(|s| *s != OFFLINE_ACCESS))
                .unwrap_or_default()
        };
        let grant = Grant {
            id: self.secrets.token(),
            client_id: device_request.client_id.clone(),
            user_id: user.id.0.clone(),
            scope,
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            // `/device_authorization` takes no `resource` (RFC 8707): the issuer's own audience.
            resources: vec![],
            // Bound (for a public client) to the key of the poll that redeems it, if any.
            dpop_jkt: None,
        };
        self.decide_device(device, DeviceDecision::Approved(grant))
            .await?;
        tracing::info!(target: "audit", action = "device_approve", client_id = %device_request.client_id, user_id = %user.id.0, "a device request was approved");
        Ok(DeviceDoneView {
            client_name: device_request.client_name,
            is_approved: true,
        })
    }

    /// The user denied the device's request on the consent page.
    pub(crate) async fn deny_device(
        &self,
        request: &AuthorizationRequest,
        device: &PendingDevice,
    ) -> Outcome {
        let decided = async {
            self.take_user_code(device).await?;
            self.decide_device(device, DeviceDecision::Denied).await
        };
        match decided.await {
            Ok(()) => {
                tracing::info!(target: "audit", action = "device_deny", client_id = %request.client_id, "a device request was denied");
                Step::Show(View::DeviceDone(DeviceDoneView {
                    client_name: request.client_name.clone(),
                    is_approved: false,
                }))
                .into()
            }
            Err(error) => self.redirect_error(request, &error).into(),
        }
    }

    /// Takes the user code: of concurrent decisions (two tabs, two browsers) exactly one gets
    /// the live request back.
    async fn take_user_code(&self, device: &PendingDevice) -> Result<DeviceRequest, OAuthError> {
        let taken = self
            .ephemeral
            .take(&user_code_key(&device.user_code_hash))
            .await?;
        if taken.as_deref() != Some(device.device_code_hash.as_bytes()) {
            return Err(code_gone());
        }
        let request = self
            .device_request(&device.device_code_hash)
            .await?
            .ok_or_else(code_gone)?;
        if self.clock.now().timestamp() > request.expires_at {
            return Err(code_gone());
        }
        Ok(request)
    }

    async fn decide_device(
        &self,
        device: &PendingDevice,
        decision: DeviceDecision,
    ) -> Result<(), OAuthError> {
        let bytes = serde_json::to_vec(&decision).map_err(OAuthError::server_error)?;
        let stored = self
            .ephemeral
            .put_if_absent(
                &decision_key(&device.device_code_hash),
                &bytes,
                stored_for(&self.policy.device),
            )
            .await?;
        if stored { Ok(()) } else { Err(code_gone()) }
    }

    fn device_entry_page(
        &self,
        browser: &Browser,
        user_code: String,
        problem: Option<DeviceEntryProblem>,
    ) -> Outcome {
        let fresh_binding;
        let binding = match browser.binding.as_deref() {
            Some(existing) => existing,
            None => {
                fresh_binding = self.secrets.token();
                fresh_binding.as_str()
            }
        };
        let mut outcome = Outcome::from(Step::Show(View::DeviceEntry(DeviceEntryView {
            user_code,
            csrf_token: entry_csrf_token(binding),
            problem,
        })));
        if browser.binding.is_none() {
            outcome.cookies.browser = Some(binding.to_owned());
        }
        outcome
    }
}
