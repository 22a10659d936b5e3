//! Access-token validation and the UserInfo endpoint: RFC 6750 §2-3, RFC 9068 §4,
//! OIDC Core §5.3-5.4, and DPoP-bound tokens there (RFC 9449 §7).

use crate::revocation::MarkersReadAhead;
use crate::scope::{EMAIL, OPENID, PROFILE, ScopeSet};
use crate::server::AuthorizationServer;
use palisade_core::model::ClientId;
use palisade_core::{ErrorCode, OAuthError};
use serde_json::{Map, Value, json};

/// How far ahead of our clock a token's `nbf` may be (another node's clock).
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

/// How an access token was presented at a resource: `Authorization: Bearer` (or the form
/// body, RFC 6750 §2) or `Authorization: DPoP` with a proof (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScheme {
    Bearer,
    Dpop,
}

impl AccessTokenClaims {
    /// The thumbprint of the DPoP key the token is bound to (`cnf.jkt`, RFC 9449 §6.1).
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.claims.get("cnf")?.get("jkt")?.as_str()
    }

    /// Tokens issued from a user's grant carry `gid`; client_credentials tokens do not.
    pub fn is_user_token(&self) -> bool {
        self.grant_id.is_some()
    }

    /// The sign-in a user token rests on; a user token without one rests on nothing that can
    /// still stand.
    pub fn signed_in_at(&self) -> i64 {
        self.auth_time.unwrap_or(i64::MIN)
    }

    /// Whether `audience` is among the token's `aud` (a string or an array, RFC 7519 §4.1.3).
    pub fn is_for(&self, audience: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(one)) => one == audience,
            Some(Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        }
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
        // Our tokens carry `nbf` = `iat`: one from our future means our clock stepped back,
        // and it is refused rather than counted valid after its revocation marker expired.
        if exp <= now || number("nbf").is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECS) {
            return Err(bad());
        }
        let grant_id = text("gid");
        if self
            .is_access_token_revoked(&jti, grant_id.as_deref(), read_ahead)
            .await?
        {
            return Err(bad());
        }
        // RFC 9068 §2.2.3: `scope` lists what was granted. A token granted no scope (a
        // client_credentials token of a client registered for none) carries an empty one: that
        // is the empty set, not a malformed token.
        let scope = ScopeSet::try_from(text("scope").unwrap_or_default()).map_err(|_| bad())?;
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

    /// [`Self::validate_access_token`] for a token presented to this server itself (userinfo,
    /// the admin API): one issued for other resources (RFC 8707 `aud`) is `invalid_token`
    /// here, as a resource server refuses a token whose `aud` is not its own.
    pub async fn validate_access_token_for_issuer(
        &self,
        token: &str,
    ) -> Result<AccessTokenClaims, OAuthError> {
        let access = self.validate_access_token(token).await?;
        if !access.is_for(&self.issuer) {
            return Err(OAuthError::invalid_token(
                "the access token was issued for another resource",
            ));
        }
        Ok(access)
    }

    /// The claims about the token's user, by granted scope (OIDC Core §5.4), for a token
    /// presented as a bearer token.
    pub async fn userinfo(&self, token: &str) -> Result<Map<String, Value>, OAuthError> {
        self.userinfo_with_dpop(token, TokenScheme::Bearer, &[], "GET")
            .await
    }

    /// [`Self::userinfo`] for a token presented with `scheme`; with the DPoP scheme the
    /// request's `dpop_proofs` must hold one proof for `method` at the userinfo endpoint, signed
    /// by the key the token is bound to, with `ath` its hash (RFC 9449 §7.1). A DPoP-bound token
    /// presented as a bearer token is refused: whoever holds it must also hold the key. A token
    /// issued for other resources only (RFC 8707 `aud`) is refused too.
    pub async fn userinfo_with_dpop(
        &self,
        token: &str,
        scheme: TokenScheme,
        dpop_proofs: &[String],
        method: &str,
    ) -> Result<Map<String, Value>, OAuthError> {
        let access = self.validate_access_token_for_issuer(token).await?;
        self.check_token_presentation(&access, token, scheme, dpop_proofs, method)
            .await?;
        if !access.is_user_token() {
            return Err(OAuthError::invalid_token(
                "the access token does not represent a user",
            ));
        }
        // A removed client's tokens die with it, as at introspection.
        if self
            .clients
            .find_client(&ClientId(access.client_id.clone()))
            .await?
            .is_none()
        {
            return Err(OAuthError::invalid_token(
                "the access token was issued to a client that no longer exists",
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

    async fn check_token_presentation(
        &self,
        access: &AccessTokenClaims,
        token: &str,
        scheme: TokenScheme,
        dpop_proofs: &[String],
        method: &str,
    ) -> Result<(), OAuthError> {
        let bound = access.dpop_jkt();
        if scheme == TokenScheme::Bearer {
            return match bound {
                Some(_) => Err(OAuthError::invalid_token(
                    "the access token is DPoP-bound: present it with the DPoP scheme and a proof",
                )),
                None => Ok(()),
            };
        }
        let url = self.userinfo_endpoint();
        let proof = self
            .check_dpop_proof(&crate::dpop::ProofRequest {
                proofs: dpop_proofs,
                method,
                url: &url,
                access_token: Some(token),
            })
            .await?
            .ok_or_else(|| crate::dpop::invalid_dpop_proof("the DPoP scheme needs a DPoP proof"))?;
        match bound {
            Some(jkt) if jkt == proof.jkt => Ok(()),
            Some(_) => Err(OAuthError::invalid_token(
                "the access token is bound to another DPoP key",
            )),
            None => Err(OAuthError::invalid_token(
                "the access token is not DPoP-bound: present it as a bearer token",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::grant::Grant;
    use crate::scope::ScopeSet;
    use crate::test_server::TestServer;
    use palisade_core::ErrorCode;

    /// A signed access token of `scope` for alice at the test server's client.
    async fn alice_token(
        server: &TestServer,
        scope: &str,
    ) -> (String, palisade_core::model::Client) {
        let alice = server.user("alice").await;
        let client = server.client().await;
        let grant = Grant {
            id: server.engine.secrets.token(),
            client_id: client.id.0.clone(),
            user_id: alice.id.0.clone(),
            scope: ScopeSet::try_from(scope.to_owned()).unwrap(),
            auth_time: server.engine.clock.now().timestamp(),
            amr: vec!["pwd".into()],
            resources: vec![],
            dpop_jkt: None,
        };
        let minted = server
            .engine
            .mint_access_token(&alice.id.0, &client.id.0, scope, Some(&grant), None)
            .unwrap();
        (minted.token, client)
    }

    #[tokio::test]
    async fn userinfo_refuses_a_token_whose_client_was_removed() {
        let server = TestServer::start().await;
        let (token, client) = alice_token(&server, "openid profile").await;
        let claims = server.engine.userinfo(&token).await.unwrap();
        assert_eq!(claims["preferred_username"], "alice");

        server
            .engine
            .clients
            .delete_client(&client.id)
            .await
            .unwrap();
        let refused = server.engine.userinfo(&token).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidToken, "{refused:?}");
    }

    /// RFC 9068 §2.2.3: a token granted no scope is still a token.
    #[tokio::test]
    async fn an_access_token_granted_no_scope_is_valid_with_the_empty_set() {
        let server = TestServer::start().await;
        let (token, _) = alice_token(&server, "").await;
        let access = server.engine.validate_access_token(&token).await.unwrap();
        assert!(access.scope.is_empty());
        // ...and userinfo, which needs openid, says so rather than calling it invalid.
        let refused = server.engine.userinfo(&token).await.unwrap_err();
        assert_eq!(refused.code, ErrorCode::InsufficientScope);
    }
}
