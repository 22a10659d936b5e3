//! Token endpoint, device_code grant: RFC 8628 §3.4-3.5, §5.2 (device code: a high-entropy
//! secret, stored as its hash).
//!
//! One read fetches the request, the user's decision and the polling state. In order:
//! unknown (or already redeemed) → `invalid_grant`; another client's → `invalid_grant`; past its
//! lifetime by our clock → `expired_token`; denied → `access_denied`; approved → the decision is
//! *taken* (of concurrent polls exactly one gets it) and tokens are issued, the request deleted;
//! undecided → `slow_down` when polled sooner than the interval (which then grows by 5 s, for
//! this and every later poll), else `authorization_pending`.

use super::TokenParams;
use crate::device::{
    DeviceDecision, DeviceRequest, PollState, SLOW_DOWN_STEP, decision_key, device_code_hash,
    poll_key, request_key, stored_for,
};
use crate::grant::Grant;
use crate::issue::TokenResponse;
use crate::server::AuthorizationServer;
use palisade_core::model::{Client, ClientType, GrantType};
use palisade_core::{ErrorCode, OAuthError};

impl AuthorizationServer {
    pub(super) async fn exchange_device_code(
        &self,
        client: &Client,
        params: &TokenParams<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let unknown =
            || OAuthError::invalid_grant("the device code is invalid or was already used");
        let code_hash = device_code_hash(params.required("device_code")?);
        let (request_key, decision_key, poll_key) = (
            request_key(&code_hash),
            decision_key(&code_hash),
            poll_key(&code_hash),
        );
        let mut read = self
            .ephemeral
            .get_many(&[&request_key, &decision_key, &poll_key])
            .await?
            .into_iter();
        let (Some(request), decision, poll) = (
            read.next().flatten(),
            read.next().flatten(),
            read.next().flatten(),
        ) else {
            return Err(unknown());
        };
        let request: DeviceRequest =
            serde_json::from_slice(&request).map_err(OAuthError::server_error)?;
        if request.client_id != client.id.0 {
            return Err(OAuthError::invalid_grant(
                "the device code was issued to another client",
            ));
        }
        let now = self.clock.now().timestamp();
        if now > request.expires_at {
            return Err(OAuthError::new(
                ErrorCode::ExpiredToken,
                "the device code has expired; start again",
            ));
        }
        let decision: Option<DeviceDecision> = decision
            .map(|bytes| serde_json::from_slice(&bytes))
            .transpose()
            .map_err(OAuthError::server_error)?;
        match decision {
            Some(DeviceDecision::Denied) => Err(OAuthError::new(
                ErrorCode::DeviceAccessDenied,
                "the user denied the request",
            )),
            Some(DeviceDecision::Approved(_)) => {
                self.redeem_device_code(client, &code_hash, params).await
            }
            None => self.pending_poll(&code_hash, poll, now).await,
        }
    }

    /// Takes the approved decision: a concurrent poll that took it first leaves nothing.
    async fn redeem_device_code(
        &self,
        client: &Client,
        code_hash: &str,
        params: &TokenParams<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        // RFC 8707 §2.2 as at the code exchange, checked before the approval is spent: a device
        // grant holds no resources, so a `resource` here is `invalid_target`.
        let audience = crate::resource::narrowed(params.resources()?, &[])?;
        let Some(bytes) = self.ephemeral.take(&decision_key(code_hash)).await? else {
            return Err(OAuthError::invalid_grant(
                "the device code was already used",
            ));
        };
        // From here a poll finds no request: `invalid_grant`, never a second set of tokens.
        self.ephemeral.delete(&request_key(code_hash)).await?;
        self.ephemeral.delete(&poll_key(code_hash)).await?;
        let DeviceDecision::Approved(grant) =
            serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?
        else {
            return Err(OAuthError::new(
                ErrorCode::DeviceAccessDenied,
                "the user denied the request",
            ));
        };
        let user = self
            .user_signed_in_at(&grant.user_id, grant.auth_time)
            .await?;
        if user.is_none() {
            return Err(OAuthError::invalid_grant("the user can no longer sign in"));
        }
        // As at the code exchange (RFC 9449 §5): the tokens are bound to the poll's DPoP key,
        // and so are a public client's refresh tokens.
        let proof_jkt = params.dpop.as_ref().map(|proof| proof.jkt.as_str());
        let grant = Grant {
            dpop_jkt: proof_jkt
                .filter(|_| client.client_type == ClientType::Public)
                .map(str::to_owned),
            ..grant
        };
        self.issue_for_user_grant(
            &grant,
            &audience,
            client,
            None,
            GrantType::DeviceCode.as_str(),
            params.client_ip,
            proof_jkt,
        )
        .await
    }

    /// Still waiting for the user: `slow_down` (and a longer interval) for a poll sooner than
    /// the interval after the last one, else `authorization_pending`. Every poll counts as the
    /// last one. Two concurrent polls may both read the old state; neither can get tokens
    /// from it, so the race only decides which of them is told to slow down.
    async fn pending_poll(
        &self,
        code_hash: &str,
        poll: Option<Vec<u8>>,
        now: i64,
    ) -> Result<TokenResponse, OAuthError> {
        let previous: Option<PollState> =
            poll.and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let interval = previous
            .map(|p| p.interval_secs)
            .unwrap_or_else(|| self.policy.device.interval.num_seconds());
        let too_soon = previous.is_some_and(|p| now - p.last_poll < p.interval_secs);
        let state = PollState {
            last_poll: now,
            interval_secs: if too_soon {
                interval + SLOW_DOWN_STEP.num_seconds()
            } else {
                interval
            },
        };
        let bytes = serde_json::to_vec(&state).map_err(OAuthError::server_error)?;
        self.ephemeral
            .put(
                &poll_key(code_hash),
                &bytes,
                stored_for(&self.policy.device),
            )
            .await?;
        if too_soon {
            Err(OAuthError::new(
                ErrorCode::SlowDown,
                "polling too often; wait 5 seconds longer between requests",
            ))
        } else {
            Err(OAuthError::new(
                ErrorCode::AuthorizationPending,
                "the user has not yet approved the request",
            ))
        }
    }
}
