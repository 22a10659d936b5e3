//! Token introspection: RFC 7662 §2.1 (request), §2.2 (response), §2.3 (errors), §4
//! (security: the caller authenticates, inactive tokens say nothing more).
//!
//! The caller authenticates as a confidential client with any method it registered
//! ([`crate::client_auth`]); public clients are refused (401 `invalid_client`). The answer for
//! any token that is not good right now — expired, revoked, unknown, malformed, signed by a
//! removed or revoked key, of a deleted client or a disabled user — is exactly
//! `{"active": false}`.
//!
//! Which tokens a caller may learn about:
//!
//! - access tokens: any authenticated confidential client. They are issued for this issuer's
//!   resource servers (`aud` is the issuer), and a resource server is a confidential client
//!   that must be able to ask about the tokens presented to it.
//! - refresh tokens: only the client they were issued to. Nobody else has a use for one, and a
//!   resource server must never be told "active" for a refresh token presented as a bearer.
//!
//! The token's shape decides which kind it is (a JWS has two dots; our refresh tokens are
//! 43 base64url characters), so `token_type_hint` is accepted and never needed (RFC 7662 §2.1
//! makes it a hint only). Storage trouble is 503, never a guess either way.

use crate::revocation::MarkersReadAhead;
use crate::server::AuthorizationServer;
use crate::token::TokenError;
use palisade_core::model::{Client, ClientId, RefreshTokenMatch};
use palisade_core::{ErrorCode, OAuthError, TokenHash};
use serde_json::{Map, Value, json};

/// The exact answer for a token that is not active (RFC 7662 §2.2).
pub fn inactive() -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("active".into(), Value::Bool(false));
    body
}

/// Whether `token` has the shape of a compact JWS (our access tokens).
pub(crate) fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// The `token` parameter (RFC 7662 §2.1, RFC 7009 §2.1: required).
pub(crate) fn token_param(form: &[(String, String)]) -> Result<&str, OAuthError> {
    form.iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("the request has no token"))
}

impl AuthorizationServer {
    /// Handles `POST /introspect`: authenticate the caller, then describe the token.
    pub async fn introspect(
        &self,
        authorization_header: Option<&str>,
        form: &[(String, String)],
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<Map<String, Value>, TokenError> {
        let fail = TokenError::for_request(authorization_header);
        // The token's revocation markers are read with the caller's attempt counters: one
        // round trip to the store instead of two. They are only looked at once the caller is
        // authenticated and the token verified.
        let marker_keys = token_param(form)
            .ok()
            .filter(|token| looks_like_jwt(token))
            .map(MarkersReadAhead::keys_for)
            .unwrap_or_default();
        let also_read: Vec<&str> = marker_keys.iter().map(String::as_str).collect();
        let (caller, markers) = self
            .authenticate_form_reading(authorization_header, form, client_ip, true, &also_read)
            .await
            .map_err(fail)?;
        let token = token_param(form).map_err(fail)?;
        let read_ahead = MarkersReadAhead::new(marker_keys, markers);
        self.introspect_token(&caller, token, &read_ahead)
            .await
            .map_err(fail)
    }

    /// The RFC 7662 §2.2 description of `token` as `caller` may see it.
    async fn introspect_token(
        &self,
        caller: &Client,
        token: &str,
        read_ahead: &MarkersReadAhead,
    ) -> Result<Map<String, Value>, OAuthError> {
        if looks_like_jwt(token) {
            self.introspect_access_token(token, read_ahead).await
        } else {
            self.introspect_refresh_token(caller, token).await
        }
    }

    async fn introspect_access_token(
        &self,
        token: &str,
        read_ahead: &MarkersReadAhead,
    ) -> Result<Map<String, Value>, OAuthError> {
        let access = match self
            .validate_access_token_with(token, Some(read_ahead))
            .await
        {
            Ok(access) => access,
            Err(e) if e.code == ErrorCode::InvalidToken => return Ok(inactive()),
            Err(e) => return Err(e),
        };
        // A deleted client's tokens die with it (the client cache makes this cheap).
        if self
            .clients
            .find_client(&ClientId(access.client_id.clone()))
            .await?
            .is_none()
        {
            return Ok(inactive());
        }
        let username = if access.is_user_token() {
            match self
                .active_username(&access.subject, access.signed_in_at())
                .await?
            {
                Some(username) => Some(username),
                None => return Ok(inactive()),
            }
        } else {
            None
        };
        let mut body = Map::new();
        body.insert("active".into(), json!(true));
        // RFC 7662 §2.2: `scope` is a list in the RFC 6749 §3.3 grammar, which has at least
        // one scope token; a token granted none has no `scope` member rather than "".
        if !access.scope.is_empty() {
            body.insert("scope".into(), json!(access.scope.to_string()));
        }
        body.insert("client_id".into(), json!(access.client_id));
        if let Some(username) = username {
            body.insert("username".into(), json!(username));
        }
        // RFC 9449 §6.2: a bound token says so, and names its key.
        match access.dpop_jkt() {
            Some(jkt) => {
                body.insert("token_type".into(), json!("DPoP"));
                body.insert("cnf".into(), json!({ "jkt": jkt }));
            }
            None => {
                body.insert("token_type".into(), json!("Bearer"));
            }
        }
        body.insert("exp".into(), json!(access.expires_at));
        body.insert("iat".into(), json!(access.issued_at));
        for name in ["nbf", "aud", "iss"] {
            if let Some(value) = access.claims.get(name) {
                body.insert(name.into(), value.clone());
            }
        }
        body.insert("sub".into(), json!(access.subject));
        body.insert("jti".into(), json!(access.jti));
        Ok(body)
    }

    async fn introspect_refresh_token(
        &self,
        caller: &Client,
        token: &str,
    ) -> Result<Map<String, Value>, OAuthError> {
        let Some((family, matched)) = self
            .refresh_tokens
            .find_refresh_token_family(&TokenHash::of(token))
            .await?
        else {
            return Ok(inactive());
        };
        let now = self.clock.now();
        // A rotated-away token is spent, even inside the retry grace window.
        if matched != RefreshTokenMatch::Current
            || !self.is_family_live(&family, now)
            || family.client_id != caller.id
        {
            return Ok(inactive());
        }
        // A family rests on the sign-in of its grant; one whose grant cannot be read rests on
        // nothing that stands.
        let signed_in_at = serde_json::from_str::<crate::grant::Grant>(&family.grant)
            .map_or(i64::MIN, |grant| grant.auth_time);
        let username = match &family.user_id {
            Some(user) => match self.active_username(&user.0, signed_in_at).await? {
                Some(username) => Some(username),
                None => return Ok(inactive()),
            },
            None => None,
        };
        let issued_at = family.rotated_at.unwrap_or(family.created_at);
        let mut body = Map::new();
        body.insert("active".into(), json!(true));
        body.insert("scope".into(), json!(family.scopes.join(" ")));
        body.insert("client_id".into(), json!(family.client_id.0));
        if let Some(username) = username {
            body.insert("username".into(), json!(username));
        }
        // Not a bearer type: says plainly that this token is no access token.
        body.insert("token_type".into(), json!("refresh_token"));
        body.insert("exp".into(), json!(family.expires_at.timestamp()));
        body.insert("iat".into(), json!(issued_at.timestamp()));
        if let Some(user) = &family.user_id {
            body.insert("sub".into(), json!(user.0));
        }
        body.insert("iss".into(), json!(self.issuer));
        Ok(body)
    }

    /// The username of an existing user whose sign-in at `auth_time` still stands; `None`
    /// otherwise.
    async fn active_username(
        &self,
        user_id: &str,
        auth_time: i64,
    ) -> Result<Option<String>, OAuthError> {
        Ok(self
            .user_signed_in_at(user_id, auth_time)
            .await?
            .map(|u| u.username.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_inactive_answer_says_nothing_else() {
        assert_eq!(Value::Object(inactive()), json!({"active": false}));
    }

    #[test]
    fn tokens_are_told_apart_by_shape() {
        assert!(looks_like_jwt("a.b.c"));
        assert!(!looks_like_jwt(
            "43-characters-of-base64url-without-any-dots"
        ));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d.e"));
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The bug of issue 13: a self-registered machine client with no scope got a token that
    /// introspection called inactive. RFC 7662 §2.2's `scope` is an RFC 6749 §3.3 list (at
    /// least one token), so a token granted none is active with no `scope` member.
    #[tokio::test]
    async fn a_client_credentials_token_granted_no_scope_is_active_without_a_scope_member() {
        use crate::registration::{ClientMetadata, RegistrationPolicy};
        let server = crate::test_server::TestServer::start().await;
        let engine = &server.engine;
        let policy = RegistrationPolicy {
            is_operator: false,
            allowed_scopes: vec![],
            signing_algorithms: vec![],
        };
        let metadata = ClientMetadata::from_request(
            &json!({
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_post",
            }),
            &policy,
        )
        .unwrap();
        let registered = engine.register_client(metadata, true).await.unwrap();
        let id = registered.client.id.0.as_str();
        let secret = registered.client_secret.as_deref().unwrap();
        let credentials = [("client_id", id), ("client_secret", secret)];

        let issued = engine
            .token(
                None,
                &form(&[&credentials[..], &[("grant_type", "client_credentials")]].concat()),
                None,
                &[],
            )
            .await
            .unwrap();
        assert_eq!(issued.scope, "");
        let answer = engine
            .introspect(
                None,
                &form(&[&credentials[..], &[("token", issued.access_token.as_str())]].concat()),
                None,
            )
            .await
            .unwrap();
        assert_eq!(answer["active"], json!(true), "{answer:?}");
        assert_eq!(answer["client_id"], json!(id));
        assert!(!answer.contains_key("scope"), "{answer:?}");
    }

    #[test]
    fn the_token_parameter_is_required_once() {
        assert_eq!(token_param(&form(&[("token", "t")])).unwrap(), "t");
        assert!(token_param(&form(&[("token", "")])).is_err());
        assert!(token_param(&form(&[])).is_err());
        assert!(crate::token::check_no_repeats(&form(&[("token", "a"), ("token", "b")])).is_err());
    }
}
