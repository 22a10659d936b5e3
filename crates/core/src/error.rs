//! The one error type of the protocol: a wire code, a public description, a private cause.
//!
//! `ErrorCode` covers the registered error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
//! RFC 7009 §2.2.1, RFC 7591 §3.2.2 and OpenID Connect Core §3.1.2.6. The server decides the
//! dialect (redirect, HTML page, JSON, `WWW-Authenticate`); this type only carries the facts.

use std::borrow::Cow;
use std::fmt;

/// A registered OAuth 2.0 / OpenID Connect error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: the request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (unknown client, no or wrong credentials).
    InvalidClient,
    /// RFC 6749 §5.2: the grant (code, refresh token) is invalid, expired, revoked or not this client's.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported by this server.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the scope is invalid, unknown, or exceeds what was granted.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: this response type is not supported.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: an unexpected condition; the details stay in the log.
    ServerError,
    /// RFC 6749 §4.1.2.1: the server cannot handle the request now (storage unreachable, overloaded).
    TemporarilyUnavailable,
    /// RFC 6750 §3.1: the access token is expired, revoked, malformed or invalid.
    InvalidToken,
    /// RFC 6750 §3.1: the token does not carry the scope the resource needs.
    InsufficientScope,
    /// RFC 7009 §2.2.1: the server cannot revoke this token type.
    UnsupportedTokenType,
    /// RFC 7591 §3.2.2: a redirect URI in the registration is invalid.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2: a metadata field is invalid.
    InvalidClientMetadata,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user is not logged in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but consent is needed.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but some other interaction is needed.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: the `request` parameter is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// OIDC Core §3.1.2.6: the `registration` parameter is not supported.
    RegistrationNotSupported,
    /// Too many failed credential checks from this source or for this subject: HTTP 429 with
    /// `Retry-After` (RFC 6585 §4). On the wire it is `temporarily_unavailable`, the registered
    /// code closest in meaning, so clients need no new code.
    TooManyAttempts,
    /// RFC 8628 §3.5: the user has not yet approved or denied the device's request.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device polls faster than its interval (which grows by 5 s).
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; the device must start again.
    ExpiredToken,
    /// RFC 8628 §3.5: the user denied the device's request. `access_denied` on the wire, but
    /// at the token endpoint, so 400 (RFC 6749 §5.2) rather than a page's 403.
    DeviceAccessDenied,
    /// RFC 8707 §2: a `resource` is not an absolute URI without a fragment, is unknown, or is
    /// not one the client may ask for (or widens what was granted).
    InvalidTarget,
    /// OIDC Core §3.1.2.6: the `request_uri` is unknown, expired, already used or another
    /// client's (RFC 9126 §4: pushed request URIs).
    InvalidRequestUri,
    /// RFC 9449 §5, §7.1: the DPoP proof is missing where one is required, malformed, or does
    /// not check out (signature, `htm`/`htu`, `iat`, `ath`, replayed `jti`, the bound key).
    InvalidDpopProof,
    /// RFC 9449 §8, §9: the DPoP proof must carry the nonce the server sends in `DPoP-Nonce`.
    UseDpopNonce,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::TooManyAttempts => "temporarily_unavailable",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::DeviceAccessDenied => "access_denied",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidRequestUri => "invalid_request_uri",
            Self::InvalidDpopProof => "invalid_dpop_proof",
            Self::UseDpopNonce => "use_dpop_nonce",
        }
    }

    /// The HTTP status this code carries when answered directly (not by redirect).
    ///
    /// RFC 6749 §5.2: 400, except `invalid_client` which is 401. RFC 6750 §3.1: `invalid_token`
    /// 401, `insufficient_scope` 403. Server-side failures are 500 and 503.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidClient | Self::InvalidToken => 401,
            Self::InsufficientScope | Self::AccessDenied => 403,
            Self::ServerError => 500,
            Self::TemporarilyUnavailable => 503,
            Self::TooManyAttempts => 429,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An OAuth error: what the client is told (`code`, `description`) and what only the log sees
/// (`source`).
pub struct OAuthError {
    pub code: ErrorCode,
    /// Safe to send: never contains secrets, SQL, or unvalidated input.
    pub description: Cow<'static, str>,
    /// Seconds the client should wait before retrying (`Retry-After`), when known.
    pub retry_after_secs: Option<u64>,
    source: Option<Cause>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after_secs: None,
            source: None,
        }
    }

    /// Tells the client when to retry.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// Attaches the private cause; it is logged, never sent.
    pub fn with_source(mut self, source: impl Into<Cause>) -> Self {
        self.source = Some(source.into());
        self
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
    pub fn invalid_client(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }
    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }
    pub fn invalid_scope(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }
    pub fn invalid_token(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidToken, description)
    }
    pub fn access_denied(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::AccessDenied, description)
    }
    /// An internal failure: the client sees a generic text, the cause goes to the log.
    pub fn server_error(source: impl Into<Cause>) -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server encountered an internal error",
        )
        .with_source(source)
    }
    pub fn temporarily_unavailable(source: impl Into<Cause>) -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable, try again later",
        )
        .with_source(source)
    }

    pub fn cause(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        self.source.as_deref()
    }
}

impl fmt::Debug for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthError")
            .field("code", &self.code)
            .field("description", &self.description)
            .field("source", &self.source.as_ref().map(ToString::to_string))
            .finish()
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::ports::StoreError> for OAuthError {
    fn from(e: crate::ports::StoreError) -> Self {
        match e {
            crate::ports::StoreError::Unavailable(_) => Self::temporarily_unavailable(e),
            _ => Self::server_error(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_and_statuses_follow_the_rfcs() {
        let cases = [
            (ErrorCode::InvalidRequest, "invalid_request", 400),
            (ErrorCode::InvalidClient, "invalid_client", 401),
            (ErrorCode::InvalidGrant, "invalid_grant", 400),
            (
                ErrorCode::UnsupportedGrantType,
                "unsupported_grant_type",
                400,
            ),
            (ErrorCode::InvalidToken, "invalid_token", 401),
            (ErrorCode::InsufficientScope, "insufficient_scope", 403),
            (
                ErrorCode::TemporarilyUnavailable,
                "temporarily_unavailable",
                503,
            ),
            (ErrorCode::ServerError, "server_error", 500),
            (
                ErrorCode::InvalidClientMetadata,
                "invalid_client_metadata",
                400,
            ),
            (ErrorCode::LoginRequired, "login_required", 400),
            (ErrorCode::TooManyAttempts, "temporarily_unavailable", 429),
            (
                ErrorCode::AuthorizationPending,
                "authorization_pending",
                400,
            ),
            (ErrorCode::SlowDown, "slow_down", 400),
            (ErrorCode::ExpiredToken, "expired_token", 400),
            (ErrorCode::DeviceAccessDenied, "access_denied", 400),
            (ErrorCode::InvalidTarget, "invalid_target", 400),
            (ErrorCode::InvalidRequestUri, "invalid_request_uri", 400),
            (ErrorCode::InvalidDpopProof, "invalid_dpop_proof", 400),
            (ErrorCode::UseDpopNonce, "use_dpop_nonce", 400),
        ];
        for (code, wire, status) in cases {
            assert_eq!(code.as_str(), wire);
            assert_eq!(code.http_status(), status, "{wire}");
        }
    }

    #[test]
    fn the_cause_is_kept_but_not_displayed() {
        let e = OAuthError::server_error("connection refused at 10.0.0.7");
        assert_eq!(e.code, ErrorCode::ServerError);
        assert!(!e.to_string().contains("10.0.0.7"));
        assert!(
            e.cause()
                .is_some_and(|c| c.to_string().contains("10.0.0.7"))
        );
    }

    #[test]
    fn an_unavailable_store_becomes_temporarily_unavailable() {
        let e: OAuthError = crate::ports::StoreError::Unavailable("redis down".into()).into();
        assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
        assert_eq!(e.code.http_status(), 503);
    }
}
