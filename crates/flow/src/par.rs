//! Pushed authorization requests: RFC 9126 §2 (the endpoint: client authentication, the same
//! validation as `/authorize`, JSON errors), §2.2 (`request_uri`, `expires_in`), §4 (the
//! authorization request that names it), §5-6 (`require_pushed_authorization_requests`).
//!
//! A pushed request is validated as the browser's would be, then kept in the ephemeral store
//! under the hash of the random part of its `request_uri` and the client's id, for a short
//! lifetime. At `/authorize` it is taken in one atomic step (single use), and it alone is the
//! request: every parameter beside `client_id` and `request_uri` is ignored (RFC 9126 §4).
//! Its expiry is judged by the clock too, not only by the store's TTL (which follows the wall
//! clock). Keyed by the client as well, a `request_uri` presented with another client's id
//! finds nothing and is not spent.

use crate::authorize::{AuthorizationParams, AuthorizationRequest, AuthorizeError, RequestChannel};
use crate::server::{AuthorizationServer, ttl};
use crate::token::TokenError;
use chrono::Duration;
use palisade_core::model::Client;
use palisade_core::{ErrorCode, OAuthError, TokenHash};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// RFC 9126 §2.2: the URN prefix of the request URIs this server issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Client authentication parameters: they authenticate the push and are no part of the
/// authorization request.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

/// How pushed requests are handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParPolicy {
    /// How long a `request_uri` may be used (RFC 9126 §2.2 `expires_in`).
    pub request_uri_ttl: Duration,
    /// Every client must push its authorization requests (RFC 9126 §5), whatever its own
    /// `require_pushed_authorization_requests`.
    pub required: bool,
}

impl Default for ParPolicy {
    fn default() -> Self {
        Self {
            // RFC 9126 §2.2's example is 60 s: time enough for a redirect, little for a thief.
            request_uri_ttl: Duration::seconds(60),
            required: false,
        }
    }
}

/// The `par` section of the configuration (`PALISADE_PAR__*`), as an operator writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParSettings {
    /// Seconds a `request_uri` may be used: 1 to 600 (RFC 9126 §2.2 suggests short-lived).
    pub request_uri_ttl_secs: i64,
    /// Every client must push its authorization requests.
    pub required: bool,
}

impl Default for ParSettings {
    fn default() -> Self {
        let policy = ParPolicy::default();
        Self {
            request_uri_ttl_secs: policy.request_uri_ttl.num_seconds(),
            required: policy.required,
        }
    }
}

impl ParSettings {
    /// `Err((field, reason))` names the field at fault.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        if !(1..=600).contains(&self.request_uri_ttl_secs) {
            return Err(("request_uri_ttl_secs", "must be between 1 and 600 seconds"));
        }
        Ok(())
    }

    pub fn to_policy(&self) -> ParPolicy {
        ParPolicy {
            request_uri_ttl: Duration::seconds(self.request_uri_ttl_secs),
            required: self.required,
        }
    }
}

/// RFC 9126 §2.2: the answer to a successful push (201 Created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedRequest {
    pub request_uri: String,
    pub expires_in: i64,
}

/// A validated request while it waits for the browser.
#[derive(Serialize, Deserialize)]
struct StoredRequest {
    request: AuthorizationRequest,
    /// Unix seconds, by the clock.
    expires_at: i64,
}

fn pushed_key(client_id: &str, random: &str) -> String {
    // Hashed: a dump of the store yields no usable request URI.
    format!(
        "par:{}",
        TokenHash::of(&format!("{client_id}\u{0}{random}")).as_str()
    )
}

fn invalid_request_uri(description: &'static str) -> AuthorizeError {
    AuthorizeError::Page(OAuthError::new(ErrorCode::InvalidRequestUri, description))
}

impl AuthorizationServer {
    /// Handles `POST /par`: authenticate the client as at the token endpoint, validate the
    /// request as at `/authorize`, keep it, and name it. A proof among `dpop_proofs` (the
    /// request's `DPoP` headers) binds the code to its key, as `dpop_jkt` does (RFC 9449 §10.1,
    /// [`AuthorizationServer::dpop_jkt_for_par`]).
    pub async fn push_authorization_request(
        &self,
        authorization_header: Option<&str>,
        form: &[(String, String)],
        client_ip: Option<IpAddr>,
        dpop_proofs: &[String],
    ) -> Result<PushedRequest, TokenError> {
        let fail = TokenError::for_request(authorization_header);
        let client = self
            .authenticate_form(authorization_header, form, client_ip, false)
            .await
            .map_err(fail)?;
        self.push_for(&client, form, dpop_proofs)
            .await
            .map_err(fail)
    }

    async fn push_for(
        &self,
        client: &Client,
        form: &[(String, String)],
        dpop_proofs: &[String],
    ) -> Result<PushedRequest, OAuthError> {
        // RFC 9126 §2.1: a pushed request never names another.
        if form.iter().any(|(k, _)| k == "request_uri") {
            return Err(OAuthError::invalid_request(
                "a pushed authorization request must not contain request_uri",
            ));
        }
        let mut pairs: Vec<(String, String)> = form
            .iter()
            .filter(|(k, _)| !CLIENT_AUTH_PARAMS.contains(&k.as_str()))
            .cloned()
            .collect();
        // With HTTP Basic the body may leave `client_id` out; the authenticated client is the
        // one the request is for (a different body `client_id` was refused already).
        if !pairs.iter().any(|(k, _)| k == "client_id") {
            pairs.push(("client_id".into(), client.id.0.clone()));
        }
        let params = AuthorizationParams::new(pairs);
        let mut request = match self.validate_request(&params, RequestChannel::Pushed).await {
            Ok(request) => request,
            // RFC 9126 §2.3: whatever /authorize would show or redirect is a JSON error here.
            Err(AuthorizeError::Page(error) | AuthorizeError::Redirect { error, .. }) => {
                return Err(error);
            }
        };
        // After validation, so a refused request spends no proof's `jti`.
        request.dpop_jkt = self
            .dpop_jkt_for_par(dpop_proofs, request.dpop_jkt.as_deref())
            .await?;
        let random = self.secrets.token();
        let lifetime = self.policy.par.request_uri_ttl;
        let stored = StoredRequest {
            request,
            expires_at: self.clock.now().timestamp() + lifetime.num_seconds(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(OAuthError::server_error)?;
        self.ephemeral
            .put(&pushed_key(&client.id.0, &random), &bytes, ttl(lifetime))
            .await?;
        Ok(PushedRequest {
            request_uri: format!("{REQUEST_URI_PREFIX}{random}"),
            expires_in: lifetime.num_seconds(),
        })
    }

    /// The request behind `/authorize`: the pushed one its `request_uri` names (RFC 9126 §4),
    /// else the parameters themselves. A `request_uri` of another form is no pushed request:
    /// the request is validated as it stands, which refuses it (`request_uri_not_supported`)
    /// and never fetches it.
    pub(crate) async fn authorization_request(
        &self,
        params: &AuthorizationParams,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let names_pushed = params
            .get("request_uri")
            .is_some_and(|uri| uri.starts_with(REQUEST_URI_PREFIX));
        if names_pushed || params.is_repeated("request_uri") {
            self.take_pushed_request(params).await
        } else {
            self.validate_authorization_request(params).await
        }
    }

    /// Takes the pushed request once. Until it is found, nothing about the client's redirect
    /// URI is verified, so every refusal is a page.
    async fn take_pushed_request(
        &self,
        params: &AuthorizationParams,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        if params.is_repeated("request_uri") || params.is_repeated("client_id") {
            return Err(AuthorizeError::Page(OAuthError::invalid_request(
                "a parameter was sent more than once",
            )));
        }
        let Some(client_id) = params.get("client_id") else {
            return Err(AuthorizeError::Page(OAuthError::invalid_request(
                "the request has no client_id",
            )));
        };
        let Some(random) = params
            .get("request_uri")
            .and_then(|uri| uri.strip_prefix(REQUEST_URI_PREFIX))
            .filter(|random| !random.is_empty())
        else {
            return Err(invalid_request_uri(
                "request_uri does not name a pushed authorization request",
            ));
        };
        let taken = self
            .ephemeral
            .take(&pushed_key(client_id, random))
            .await
            .map_err(|e| AuthorizeError::Page(e.into()))?;
        let Some(bytes) = taken else {
            return Err(invalid_request_uri(
                "request_uri is unknown, expired, already used or another client's",
            ));
        };
        let stored: StoredRequest = serde_json::from_slice(&bytes)
            .map_err(|e| AuthorizeError::Page(OAuthError::server_error(e)))?;
        if stored.request.client_id != client_id {
            return Err(invalid_request_uri("request_uri is another client's"));
        }
        if self.clock.now().timestamp() > stored.expires_at {
            return Err(invalid_request_uri("request_uri has expired"));
        }
        // The client may have been removed since it pushed.
        match self.find_client_by_id(client_id).await {
            Ok(Some(_)) => Ok(stored.request),
            Ok(None) => Err(AuthorizeError::Page(OAuthError::invalid_request(
                "the application that sent you here is not registered",
            ))),
            Err(e) => Err(AuthorizeError::Page(e)),
        }
    }

    /// RFC 9126 §5-6: a client that must push (or every client, by the server's setting) may
    /// not send its request through the browser.
    pub(crate) fn check_not_required_to_push(&self, client: &Client) -> Result<(), OAuthError> {
        if self.policy.par.required || client.require_pushed_authorization_requests {
            Err(OAuthError::invalid_request(
                "this application must push its authorization requests to the par endpoint",
            ))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_server::{REDIRECT_URI, TestServer};
    use std::sync::Arc;

    /// RFC 7636 Appendix B.
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn form(client_id: &str) -> Vec<(String, String)> {
        [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn by_reference(client_id: &str, request_uri: &str) -> AuthorizationParams {
        AuthorizationParams::new(vec![
            ("client_id".into(), client_id.into()),
            ("request_uri".into(), request_uri.into()),
        ])
    }

    /// Of concurrent `/authorize` requests naming one pushed request, exactly one gets it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn ten_concurrent_uses_of_one_request_uri_succeed_exactly_once() {
        let server = Arc::new(TestServer::start().await);
        let client = server.client().await;
        let pushed = server
            .engine
            .push_authorization_request(None, &form(&client.id.0), None, &[])
            .await
            .unwrap();
        let mut uses = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (server, id, uri) = (
                server.clone(),
                client.id.0.clone(),
                pushed.request_uri.clone(),
            );
            uses.spawn(async move {
                server
                    .engine
                    .authorization_request(&by_reference(&id, &uri))
                    .await
            });
        }
        let mut granted = 0;
        while let Some(outcome) = uses.join_next().await {
            match outcome.unwrap() {
                Ok(request) => {
                    assert_eq!(request.client_id, client.id.0);
                    granted += 1;
                }
                Err(AuthorizeError::Page(e)) => assert_eq!(e.code, ErrorCode::InvalidRequestUri),
                Err(other) => panic!("{other:?}"),
            }
        }
        assert_eq!(granted, 1);
    }

    #[tokio::test]
    async fn the_store_holds_no_usable_request_uri() {
        let server = TestServer::start().await;
        let client = server.client().await;
        let pushed = server
            .engine
            .push_authorization_request(None, &form(&client.id.0), None, &[])
            .await
            .unwrap();
        let random = pushed.request_uri.strip_prefix(REQUEST_URI_PREFIX).unwrap();
        let at_rest = server.everything_at_rest().await;
        assert!(at_rest.contains("par:"), "the pushed request is kept");
        assert!(!at_rest.contains(random), "the request_uri rests in clear");
    }

    #[test]
    fn the_lifetime_setting_is_bounded() {
        assert_eq!(ParSettings::default().validate(), Ok(()));
        assert_eq!(ParSettings::default().to_policy(), ParPolicy::default());
        for secs in [0, 601, -1] {
            let settings = ParSettings {
                request_uri_ttl_secs: secs,
                required: false,
            };
            assert!(settings.validate().is_err(), "{secs}");
        }
    }
}
