//! Minting tokens: JWT access tokens (RFC 9068), ID tokens (OIDC Core §2, §3.1.3.6), opaque
//! refresh tokens (stored as hashes in a family, RFC 9700 §4.14).
//!
//! When the grant holds the `roles` scope (which only a client registered for it can be
//! granted, `scope::check_requested`), both the access token and the ID token carry a `roles`
//! claim: the user's role names, read at issuance — so a refresh reflects roles granted or
//! taken away since (RFC 9068 §7.2.1 `roles`).
//!
//! Every issuance is audited (`token.issue`: the client, the subject, the grant type, scope,
//! the access token's `jti`, the grant id, its resources (`aud`) and DPoP key (`jkt`) when it
//! has them — never a token).

use crate::grant::Grant;
use crate::scope::{OFFLINE_ACCESS, OPENID, ROLES};
use crate::server::AuthorizationServer;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use palisade_core::model::{
    AuditEvent, AuditOutcome, Client, ClientId, RefreshTokenFamily, UserId,
};
use palisade_core::ports::SigningAlgorithm;
use palisade_core::{OAuthError, TokenHash};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256, Sha512};
use std::net::IpAddr;

/// RFC 6749 §5.1 successful response (plus `id_token`, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Left out when no scope was granted: `""` is not a scope (RFC 6749 §3.3 needs one token).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
}

/// One issuance, as the audit trail records it.
pub(crate) struct Issuance<'a> {
    pub client: &'a Client,
    /// The user (`user:<id>`); none for client_credentials, where the client is the actor.
    pub subject: Option<String>,
    pub grant_type: &'a str,
    pub scope: &'a str,
    pub jti: &'a str,
    pub grant_id: Option<&'a str>,
    /// The address the token request came from.
    pub client_ip: Option<IpAddr>,
    /// The resources (RFC 8707) the access token is for; empty: this issuer.
    pub audience: &'a [String],
    /// The key the access token is bound to (RFC 9449 `cnf.jkt`), if any.
    pub dpop_jkt: Option<&'a str>,
}

pub(crate) struct MintedAccessToken {
    pub token: String,
    pub expires_in: i64,
    /// The token's `jti`, for the audit trail and revocation.
    pub jti: String,
    /// The token's `scope`, as the token response reports it (RFC 6749 §5.1).
    pub scope: String,
}

/// RFC 8707 §2 / RFC 9068 §3: the resources a token is for are its `aud` (one string for one,
/// an array for several); a token for no resource is for this issuer, as before.
fn audience_claim(issuer: &str, audience: &[String]) -> Value {
    match audience {
        [] => json!(issuer),
        [one] => json!(one),
        many => json!(many),
    }
}

impl AuthorizationServer {
    /// A JWT access token (RFC 9068 §2.2) for this issuer, without roles. `grant_id` (`gid`)
    /// ties it to its grant so revoking the grant revokes it; `dpop_jkt` binds it to a DPoP key
    /// (`cnf.jkt`, RFC 9449 §6.1). What unit tests need; the grants use
    /// [`Self::mint_access_token_with_roles`], which also takes the audience.
    #[cfg(test)]
    pub(crate) fn mint_access_token(
        &self,
        subject: &str,
        client_id: &str,
        scope: &str,
        grant: Option<&Grant>,
        dpop_jkt: Option<&str>,
    ) -> Result<MintedAccessToken, OAuthError> {
        self.mint_access_token_with_roles(subject, client_id, scope, grant, None, &[], dpop_jkt)
    }

    /// A JWT access token (RFC 9068 §2.2) with the user's roles (the `roles` scope) and the
    /// resources it is for (`aud`, RFC 8707). `grant_id` (`gid`) ties it to its grant so
    /// revoking the grant revokes it; `dpop_jkt` binds it to a DPoP key (`cnf.jkt`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn mint_access_token_with_roles(
        &self,
        subject: &str,
        client_id: &str,
        scope: &str,
        grant: Option<&Grant>,
        roles: Option<&[String]>,
        audience: &[String],
        dpop_jkt: Option<&str>,
    ) -> Result<MintedAccessToken, OAuthError> {
        let now = self.clock.now().timestamp();
        let expires_in = self.policy.access_token_ttl.num_seconds();
        let jti = self.secrets.token();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": audience_claim(&self.issuer, audience),
            "client_id": client_id,
            "scope": scope,
            "jti": jti,
            "iat": now,
            "nbf": now,
            "exp": now + expires_in,
        });
        if let Some(grant) = grant {
            claims["gid"] = json!(grant.id);
            claims["auth_time"] = json!(grant.auth_time);
        }
        if let Some(roles) = roles {
            claims["roles"] = json!(roles);
        }
        if let Some(jkt) = dpop_jkt {
            claims["cnf"] = json!({ "jkt": jkt });
        }
        let token = self
            .signer
            .sign(self.policy.access_token_alg, "at+jwt", &as_map(claims)?)
            .map_err(OAuthError::server_error)?
            .compact;
        Ok(MintedAccessToken {
            token,
            expires_in,
            jti,
            scope: scope.to_owned(),
        })
    }

    /// An ID token for `client`, with `at_hash` of the access token issued beside it.
    fn mint_id_token(
        &self,
        grant: &Grant,
        client: &Client,
        nonce: Option<&str>,
        access_token: &str,
        roles: Option<&[String]>,
    ) -> Result<String, OAuthError> {
        let alg = client
            .id_token_signed_response_alg
            .unwrap_or(self.policy.id_token_default_alg);
        let now = self.clock.now().timestamp();
        let mut claims = json!({
            "iss": self.issuer,
            "sub": grant.user_id,
            "aud": client.id.0,
            "iat": now,
            "exp": now + self.policy.id_token_ttl.num_seconds(),
            "auth_time": grant.auth_time,
            "at_hash": left_half_hash(alg, access_token),
        });
        if !grant.amr.is_empty() {
            claims["amr"] = json!(grant.amr);
            // OIDC Core §2: how strong the sign-in was, in the values discovery lists.
            claims["acr"] = json!(crate::mfa::Assurance::of_amr(&grant.amr).acr());
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        if let Some(roles) = roles {
            claims["roles"] = json!(roles);
        }
        Ok(self
            .signer
            .sign(alg, "JWT", &as_map(claims)?)
            .map_err(OAuthError::server_error)?
            .compact)
    }

    /// Tokens for a user grant: an access token (for `audience`, the granted resources or a
    /// subset of them), an ID token when `openid` was granted, and a refresh token (a new
    /// family, keeping the whole grant) when `offline_access` was. With `dpop_jkt` the access
    /// token is bound to that DPoP key (RFC 9449 §5).
    pub(crate) async fn issue_for_grant(
        &self,
        grant: &Grant,
        audience: &[String],
        client: &Client,
        nonce: Option<&str>,
        client_ip: Option<IpAddr>,
        dpop_jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        self.issue_for_user_grant(
            grant,
            audience,
            client,
            nonce,
            "authorization_code",
            client_ip,
            dpop_jkt,
        )
        .await
    }

    /// [`Self::issue_for_grant`] for any grant type that ends a user's approval (the code,
    /// the device code), named so in the audit trail.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn issue_for_user_grant(
        &self,
        grant: &Grant,
        audience: &[String],
        client: &Client,
        nonce: Option<&str>,
        grant_type: &str,
        client_ip: Option<IpAddr>,
        dpop_jkt: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        let for_audience = Grant {
            resources: audience.to_vec(),
            ..grant.clone()
        };
        let (access, id_token) = self
            .mint_user_tokens(
                &for_audience,
                client,
                nonce,
                grant_type,
                client_ip,
                dpop_jkt,
            )
            .await?;
        let scope = access.scope.clone();
        let refresh_token = if grant.scope.contains(OFFLINE_ACCESS) {
            Some(self.start_refresh_family(grant).await?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token: access.token,
            token_type: crate::token::token_type(dpop_jkt),
            expires_in: access.expires_in,
            refresh_token,
            id_token,
            scope,
        })
    }

    /// The access token of a user grant and, when `openid` was granted, its ID token; both with
    /// the user's current roles when `roles` was granted. The access token is for the grant's
    /// resources and carries the granted scopes they accept ([`crate::resource`]). Used at the
    /// code exchange and at every refresh.
    pub(crate) async fn mint_user_tokens(
        &self,
        grant: &Grant,
        client: &Client,
        nonce: Option<&str>,
        grant_type: &str,
        client_ip: Option<IpAddr>,
        dpop_jkt: Option<&str>,
    ) -> Result<(MintedAccessToken, Option<String>), OAuthError> {
        let roles = if grant.scope.contains(ROLES) {
            Some(
                self.roles
                    .roles_of_user(&UserId(grant.user_id.clone()), self.clock.now())
                    .await?
                    .into_iter()
                    .map(String::from)
                    .collect::<Vec<_>>(),
            )
        } else {
            None
        };
        let access_scope = self
            .policy
            .resources
            .scope_for(&grant.scope, &grant.resources);
        let scope = access_scope.to_string();
        let access = self.mint_access_token_with_roles(
            &grant.user_id,
            &client.id.0,
            &scope,
            Some(grant),
            roles.as_deref().filter(|_| access_scope.contains(ROLES)),
            &grant.resources,
            dpop_jkt,
        )?;
        let id_token = if grant.scope.contains(OPENID) {
            Some(self.mint_id_token(grant, client, nonce, &access.token, roles.as_deref())?)
        } else {
            None
        };
        self.record_issuance(Issuance {
            client,
            subject: Some(format!("user:{}", grant.user_id)),
            grant_type,
            scope: &scope,
            jti: &access.jti,
            grant_id: Some(&grant.id),
            client_ip,
            audience: &grant.resources,
            dpop_jkt,
        })
        .await;
        Ok((access, id_token))
    }

    /// Audits an issuance (docs/threat-model.md AD-05): who got what for whom, from where, by
    /// `jti` and grant id so a later revocation can be matched; never the token itself.
    pub(crate) async fn record_issuance(&self, issued: Issuance<'_>) {
        let Issuance {
            client,
            subject,
            grant_type,
            scope,
            jti,
            grant_id,
            client_ip,
            audience,
            dpop_jkt,
        } = issued;
        let mut details =
            json!({ "grant_type": grant_type, "scope": scope, "jti": jti, "gid": grant_id });
        // Which API a token opens and which key holds it: what an investigation asks next.
        if !audience.is_empty() {
            details["aud"] = json!(audience);
        }
        if let Some(jkt) = dpop_jkt {
            details["jkt"] = json!(jkt);
        }
        let event = AuditEvent {
            occurred_at: self.clock.now(),
            actor: format!("client:{}", client.id.0),
            action: "token.issue".into(),
            target: subject,
            outcome: AuditOutcome::Success,
            client_ip: client_ip.map(|ip| ip.to_string()),
            details: Some(details.to_string()),
        };
        crate::guard::log_audit_event(&event);
        self.issuance_audit.record(event).await;
    }

    async fn start_refresh_family(&self, grant: &Grant) -> Result<String, OAuthError> {
        let raw = self.secrets.token();
        let now = self.clock.now();
        let family = RefreshTokenFamily {
            id: grant.id.clone(),
            client_id: ClientId(grant.client_id.clone()),
            user_id: Some(UserId(grant.user_id.clone())),
            scopes: grant.scope.to_vec(),
            grant: serde_json::to_string(grant).map_err(OAuthError::server_error)?,
            current_hash: TokenHash::of(&raw),
            previous_hash: None,
            rotated_at: None,
            created_at: now,
            expires_at: now + self.policy.refresh_token_ttl,
            revoked_at: None,
        };
        self.refresh_tokens
            .insert_refresh_token_family(family)
            .await?;
        Ok(raw)
    }
}

/// OIDC Core §3.1.3.6: the left-most half of the hash of the token, with the hash function of
/// the ID token's `alg` (SHA-256 for RS256/ES256; SHA-512 for EdDSA with Ed25519).
pub fn left_half_hash(alg: SigningAlgorithm, token: &str) -> String {
    let digest: Vec<u8> = match alg {
        SigningAlgorithm::RS256 | SigningAlgorithm::ES256 => Sha256::digest(token).to_vec(),
        SigningAlgorithm::EdDSA => Sha512::digest(token).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

fn as_map(v: Value) -> Result<Map<String, Value>, OAuthError> {
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(OAuthError::server_error(
            "token claims must be a JSON object",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_follows_the_oidc_example() {
        // OIDC Core Appendix A.3: access token and its at_hash for RS256.
        assert_eq!(
            left_half_hash(
                SigningAlgorithm::RS256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
