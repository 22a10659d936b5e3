//! Access-token validation and the UserInfo endpoint: RFC 6750 §2-3, RFC 9068 §4,
//! OIDC Core §5.3-5.4.

use crate::revocation::MarkersReadAhead;
use crate::scope::{EMAIL, OPENID, PROFILE, ScopeSet};
use crate::server::AuthorizationServer;
use palisade_core::{ErrorCode, OAuthError};
use serde_json::{Map, Value, json};

/// How far ahead of our clock a token's `iat` or `nbf` may be (another node's clock).
const CLOCK_SKEW_SECS: i64 = 60;

/// The claims of an access token that checked out.
#[derive(Debug, Clone)]
pub struct AccessTokenClaims {
    pub subject: String,
    pub client_id: String,
    pub scope: ScopeSet,
    pub jti: String,
    pub grant_id: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    /// When the user signed in (user tokens only).
    pub auth_time: Option<i64>,
    pub claims: Map<String, Value>,
}

impl AccessTokenClaims {
    /// Tokens issued from a user's grant carry `gid`; client_credentials tokens do not.
    pub fn is_user_token(&self) -> bool {
        self.grant_id.is_some()
    }

    /// The sign-in a user token rests on; a user token without one rests on nothing that can
    /// still stand.
    pub fn signed_in_at(&self) -> i64 {
        self.auth_time.unwrap_or(i64::MIN)
    }
}

impl AuthorizationServer {
    /// Verifies an access token: signature by a published key, `typ: at+jwt`, our issuer, not
    /// expired, not revoked. Every failure is `invalid_token`; storage trouble is 503.
    pub async fn validate_access_token(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims, OAuthError> {
        self.validate_access_token_with(token, None).await
    }

    /// [`Self::validate_access_token`] with revocation markers already read (introspection
    /// reads them with the caller's attempt counters).
    pub(crate) async fn validate_access_token_with(
        &self,
        token: &str,
        read_ahead: Option<&MarkersReadAhead>,
    ) -> Result<AccessTokenClaims, OAuthError> {
        let bad = || OAuthError::invalid_token("the access token is invalid or expired");
        let verified = self
            .signer
            .verify(token)
            .map_err(|e| bad().with_source(e))?;
        if verified
            .typ
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
            != Some("at+jwt")
        {
            return Err(bad());
        }
        let c = &verified.claims;
        let text = |name: &str| c.get(name).and_then(Value::as_str).map(str::to_owned);
        let number = |name: &str| c.get(name).and_then(Value::as_i64);
        if text("iss").as_deref() != Some(self.issuer.as_str()) {
            return Err(bad());
        }
        let (Some(subject), Some(client_id), Some(jti), Some(exp), Some(iat)) = (
            text("sub"),
            text("client_id"),
            text("jti"),
            number("exp"),
            number("iat"),
        ) else {
            return Err(bad());
        };
        let now = self.clock.now().timestamp();
        // Issued in the future means our clock stepped back: refuse rather than let a token
        // whose revocation marker has since expired count as valid again.
        if exp <= now
            || iat > now + CLOCK_SKEW_SECS
            || number("nbf").is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECS)
        {
            return Err(bad());
        }
        let grant_id = text("gid");
        if self
            .is_access_token_revoked(&jti, grant_id.as_deref(), read_ahead)
            .await?
        {
            return Err(bad());
        }
        let scope = ScopeSet::parse(&text("scope").unwrap_or_default()).map_err(|_| bad())?;
        Ok(AccessTokenClaims {
            subject,
            client_id,
            scope,
            jti,
            grant_id,
            issued_at: iat,
            expires_at: exp,
            auth_time: number("auth_time"),
            claims: verified.claims,
        })
    }

    /// The claims about the token's user, by granted scope (OIDC Core §5.4).
    pub async fn userinfo(&self, token: &str) -> Result<Map<String, Value>, OAuthError> {
        let access = self.validate_access_token(token).await?;
        if !access.is_user_token() {
            return Err(OAuthError::invalid_token(
                "the access token does not represent a user",
            ));
        }
        if !access.scope.contains(OPENID) {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ));
        }
        let user = self
            .user_signed_in_at(&access.subject, access.signed_in_at())
            .await?
            .ok_or_else(|| {
                OAuthError::invalid_token("the user no longer exists or has been signed out")
            })?;
        let mut claims = Map::new();
        claims.insert("sub".into(), json!(user.id.0));
        if access.scope.contains(PROFILE) {
            let name = user
                .display_name
                .clone()
                .unwrap_or_else(|| user.username.to_string());
            claims.insert("name".into(), json!(name));
            claims.insert("preferred_username".into(), json!(user.username.as_str()));
            claims.insert("updated_at".into(), json!(user.updated_at.timestamp()));
        }
        if access.scope.contains(EMAIL)
            && let Some(email) = &user.email
        {
            claims.insert("email".into(), json!(email));
            claims.insert("email_verified".into(), json!(user.email_verified));
        }
        Ok(claims)
    }
}
