//! Device authorization endpoint: RFC 8628 §3.1-3.2. The client authenticates as at the token
//! endpoint (a public client by `client_id` alone, §3.1), must be registered for the device
//! grant, and asks for scopes it may have; it gets a device code (a 256-bit secret, stored only
//! as its hash), a user code and where the user enters it.

use super::{DeviceRequest, UserCode, device_code_hash, request_key, stored_for, user_code_key};
use crate::scope::{self, ScopeSet};
use crate::server::AuthorizationServer;
use crate::token::TokenError;
use palisade_core::model::{Client, GrantType};
use palisade_core::{ErrorCode, OAuthError};
use serde::Serialize;

/// RFC 8628 §3.2 response.
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// A fresh user code colliding with a live one is astronomically unlikely; a few tries make
/// it impossible in practice, and a failure past them is a 500 rather than a shared code.
const USER_CODE_TRIES: usize = 4;

impl AuthorizationServer {
    /// Handles `POST /device_authorization`.
    pub async fn device_authorization(
        &self,
        authorization_header: Option<&str>,
        form: &[(String, String)],
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<DeviceAuthorizationResponse, TokenError> {
        let fail = TokenError::for_request(authorization_header);
        let client = self
            .authenticate_form(authorization_header, form, client_ip, false)
            .await
            .map_err(fail)?;
        check_registered_for_device_grant(&client).map_err(fail)?;
        let scope = requested_scope(&client, form).map_err(fail)?;
        self.admit_device_request(client_ip).await.map_err(fail)?;
        self.start_device_request(&client, scope)
            .await
            .map_err(fail)
    }

    /// Every request stores state for the code's lifetime, and a public client's id is no
    /// secret: started requests are bounded per address and network like started sign-ins
    /// (`interactions_per_ip` / `_per_prefix` per window, docs/threat-model.md AZ-11), with
    /// counters of their own.
    async fn admit_device_request(
        &self,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<(), OAuthError> {
        let Some(ip) = client_ip else {
            return Ok(());
        };
        let limiter = self.guard.source_limiter(
            "guard:device_authorization",
            self.guard.limits.interactions_per_source(),
        );
        match limiter.admit(ip).await? {
            None => Ok(()),
            Some(throttled) => {
                tracing::info!(target: "audit", action = "device_authorization", outcome = "throttled", client_ip = ?client_ip, "too many device authorization requests from this address");
                Err(OAuthError::new(
                    ErrorCode::TooManyAttempts,
                    "too many device authorization requests; try again later",
                )
                .with_retry_after(throttled.retry_after_secs()))
            }
        }
    }

    async fn start_device_request(
        &self,
        client: &Client,
        scope: ScopeSet,
    ) -> Result<DeviceAuthorizationResponse, OAuthError> {
        let settings = self.policy.device;
        let device_code = self.secrets.token();
        let code_hash = device_code_hash(&device_code);
        let keep = stored_for(&settings);
        let mut stored_user_code = None;
        for _ in 0..USER_CODE_TRIES {
            let candidate = UserCode::generate(self.secrets.as_ref());
            if self
                .ephemeral
                .put_if_absent(
                    &user_code_key(&candidate.hash()),
                    code_hash.as_bytes(),
                    keep,
                )
                .await?
            {
                stored_user_code = Some(candidate);
                break;
            }
        }
        let Some(user_code) = stored_user_code else {
            return Err(OAuthError::server_error(
                "no free user code after several tries",
            ));
        };
        let request = DeviceRequest {
            client_id: client.id.0.clone(),
            client_name: client.name.clone(),
            scope,
            expires_at: self.clock.now().timestamp() + settings.code_ttl.num_seconds(),
        };
        let bytes = serde_json::to_vec(&request).map_err(OAuthError::server_error)?;
        self.ephemeral
            .put(&request_key(&code_hash), &bytes, keep)
            .await?;
        tracing::info!(target: "audit", action = "device_authorization", client_id = %client.id.0, "a device authorization request was started");
        let verification_uri = format!("{}/device", self.issuer);
        Ok(DeviceAuthorizationResponse {
            verification_uri_complete: format!(
                "{verification_uri}?user_code={}",
                user_code.display()
            ),
            verification_uri,
            device_code,
            user_code: user_code.display(),
            expires_in: settings.code_ttl.num_seconds(),
            interval: settings.interval.num_seconds(),
        })
    }
}

fn check_registered_for_device_grant(client: &Client) -> Result<(), OAuthError> {
    if client.grant_types.contains(&GrantType::DeviceCode) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the device authorization grant",
        ))
    }
}

/// RFC 8628 §3.1 `scope`, judged as at `/authorize` (RFC 6749 §3.3): `invalid_scope` for one
/// the client may not have.
fn requested_scope(client: &Client, form: &[(String, String)]) -> Result<ScopeSet, OAuthError> {
    let raw = form
        .iter()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty());
    let requested = match raw {
        Some(raw) => ScopeSet::parse(raw)?,
        None => ScopeSet::empty(),
    };
    scope::check_requested(&requested, &client.scopes)?;
    Ok(requested)
}
