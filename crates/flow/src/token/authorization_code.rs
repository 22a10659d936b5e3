//! Token endpoint, authorization_code grant: RFC 6749 §4.1.3-4.1.4, RFC 7636 §4.5-4.6,
//! RFC 9700 §4.5 (code replay), OIDC Core §3.1.3.
//!
//! The code is taken from the store in one atomic step, so of any number of concurrent
//! redemptions exactly one proceeds. A code presented again after it was redeemed revokes
//! everything issued from it (RFC 6749 §4.1.2). The marker that recognises it is written with
//! the code itself, so a replay is caught even while the first redemption is still running
//! (written only at redemption, a replay arriving between the take and that write found
//! neither); the redemption then extends it to the tokens' lifetime.

use super::TokenParams;
use crate::grant::{CodeGrant, Grant};
use crate::interaction::{code_key, grant_id_of, used_key};
use crate::issue::TokenResponse;
use crate::pkce::CodeVerifier;
use crate::server::{AuthorizationServer, ttl};
use palisade_core::OAuthError;
use palisade_core::model::{Client, ClientType};

impl AuthorizationServer {
    pub(super) async fn exchange_authorization_code(
        &self,
        client: &Client,
        params: &TokenParams<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let invalid = || OAuthError::invalid_grant("the code is invalid, expired or already used");
        let raw_code = params.required("code")?;
        let Some(bytes) = self.ephemeral.take(&code_key(raw_code)).await? else {
            self.revoke_if_replayed(raw_code).await?;
            return Err(invalid());
        };
        let code: CodeGrant = serde_json::from_slice(&bytes).map_err(OAuthError::server_error)?;
        // The marker written with the code covers replays until here; from now on it must last
        // as long as the tokens this redemption may mint.
        self.ephemeral
            .put(
                &used_key(raw_code),
                code.grant.id.as_bytes(),
                ttl(self.policy.longest_signed_token() + self.policy.code_ttl),
            )
            .await?;
        if code.grant.client_id != client.id.0 {
            return Err(OAuthError::invalid_grant(
                "the code was issued to another client",
            ));
        }
        if self.clock.now().timestamp() > code.issued_at + self.policy.code_ttl.num_seconds() {
            return Err(invalid());
        }
        if params.get("redirect_uri") != Some(code.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri differs from the authorization request",
            ));
        }
        let Some(raw_verifier) = params.get("code_verifier") else {
            return Err(OAuthError::invalid_grant("code_verifier is required"));
        };
        let verifier = CodeVerifier::parse(raw_verifier)?;
        if !code.code_challenge.verify(&verifier) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the challenge",
            ));
        }
        let proof_jkt = params.dpop.as_ref().map(|proof| proof.jkt.as_str());
        // RFC 9449 §10: a code requested with `dpop_jkt` is redeemed only with that key.
        if let Some(bound) = code.dpop_jkt.as_deref()
            && proof_jkt != Some(bound)
        {
            return Err(crate::dpop::invalid_dpop_proof(
                "the code is bound to another DPoP key (dpop_jkt)",
            ));
        }
        let user = self
            .user_signed_in_at(&code.grant.user_id, code.grant.auth_time)
            .await?;
        if user.is_none() {
            return Err(OAuthError::invalid_grant("the user can no longer sign in"));
        }
        // RFC 9449 §5: a public client's refresh tokens are bound to the key of the proof that
        // got them (it has no other credential); a confidential client's are not.
        let grant = Grant {
            dpop_jkt: proof_jkt
                .filter(|_| client.client_type == ClientType::Public)
                .map(str::to_owned),
            ..code.grant.clone()
        };
        // RFC 8707 §2.2: the access token may be for fewer of the granted resources.
        let audience = crate::resource::narrowed(params.resources()?, &grant.resources)?;
        let issued = self
            .issue_for_grant(
                &grant,
                &audience,
                client,
                code.nonce.as_deref(),
                params.client_ip,
                proof_jkt,
            )
            .await?;
        // A replay while these were minted revoked the grant, perhaps before its refresh-token
        // family existed: revoke the family now that it does. (The access token carries the
        // grant id, so the grant's marker already revokes it.)
        if issued.refresh_token.is_some() && self.is_grant_revoked(&code.grant.id).await? {
            self.revoke_grant(&code.grant.id).await?;
        }
        Ok(issued)
    }

    /// A code no longer in the store: if it was redeemed this is a replay (RFC 6749 §4.1.2),
    /// and what it produced is revoked for as long as it can live. While its marker lasts (as
    /// long as the access tokens) the marker names the grant; after that only a refresh-token
    /// family can still be alive, and the grant id derived from the code names it.
    async fn revoke_if_replayed(&self, raw_code: &str) -> Result<(), OAuthError> {
        if let Some(grant_id) = self.ephemeral.get(&used_key(raw_code)).await? {
            let grant_id = String::from_utf8_lossy(&grant_id).into_owned();
            tracing::warn!(grant = %grant_id, "a redeemed or expired authorization code was presented; revoking its tokens");
            self.revoke_grant(&grant_id).await?;
            return Ok(());
        }
        let grant_id = grant_id_of(raw_code);
        let family = self
            .refresh_tokens
            .find_refresh_token_family_by_id(&grant_id)
            .await?;
        if family.is_some_and(|f| f.revoked_at.is_none()) {
            tracing::warn!(grant = %grant_id, "a long-redeemed authorization code was presented; revoking its refresh tokens");
            self.revoke_grant(&grant_id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{
        RelyingParty, alice_and_a_public_client, error_code, is_access_token_active, issue_code,
    };
    use crate::test_server::TestServer;
    use palisade_core::ErrorCode;
    use palisade_core::model::GrantType;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_code_is_redeemed_once_and_its_replay_revokes_every_token_issued_from_it() {
        let (server, rp, alice) = alice_and_a_public_client().await;
        let code = issue_code(&server, &rp, &alice, "openid offline_access").await;

        let issued = rp.redeem(&server, &code).await.unwrap();
        assert!(issued.id_token.is_some());
        let refresh = issued
            .refresh_token
            .expect("offline_access gives a refresh token");
        assert!(is_access_token_active(&server, &issued.access_token).await);

        assert_eq!(
            error_code(rp.redeem(&server, &code).await),
            ErrorCode::InvalidGrant
        );
        assert!(!is_access_token_active(&server, &issued.access_token).await);
        assert_eq!(
            error_code(rp.refresh(&server, &refresh, None).await),
            ErrorCode::InvalidGrant
        );
    }

    /// The other nineteen are replays, some arriving while the one redemption is still
    /// minting: every token it got ends up revoked all the same (RFC 6749 §4.1.2).
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn twenty_concurrent_redemptions_of_one_code_succeed_exactly_once_and_revoke_it() {
        let (server, rp, alice) = alice_and_a_public_client().await;
        let code = issue_code(&server, &rp, &alice, "openid offline_access").await;
        let (server, rp, code) = (Arc::new(server), Arc::new(rp), Arc::new(code));

        let mut redemptions = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (server, rp, code) = (server.clone(), rp.clone(), code.clone());
            redemptions.spawn(async move { rp.redeem(&server, &code).await });
        }
        let mut issued = Vec::new();
        while let Some(answer) = redemptions.join_next().await {
            match answer.unwrap() {
                Ok(tokens) => issued.push(tokens),
                Err(e) => assert_eq!(e.error.code, ErrorCode::InvalidGrant, "{e:?}"),
            }
        }
        assert_eq!(issued.len(), 1, "{issued:?}");
        let tokens = &issued[0];
        assert!(!is_access_token_active(&server, &tokens.access_token).await);
        let refresh = tokens.refresh_token.as_deref().unwrap();
        assert_eq!(
            error_code(rp.refresh(&server, refresh, None).await),
            ErrorCode::InvalidGrant
        );
    }

    #[tokio::test]
    async fn pkce_and_redirect_uri_mismatches_are_invalid_grant_and_use_up_the_code() {
        let (server, rp, alice) = alice_and_a_public_client().await;
        // A well-formed verifier of another request (RFC 7636 Appendix B).
        const OTHER_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        type Tamper = for<'a> fn(&mut Vec<(&'a str, &'a str)>);
        let cases: [(&str, Tamper, ErrorCode); 5] = [
            (
                "wrong verifier",
                |form| set(form, "code_verifier", OTHER_VERIFIER),
                ErrorCode::InvalidGrant,
            ),
            (
                "no verifier",
                |form| form.retain(|(k, _)| *k != "code_verifier"),
                ErrorCode::InvalidGrant,
            ),
            (
                "malformed verifier",
                |form| set(form, "code_verifier", "short"),
                ErrorCode::InvalidRequest,
            ),
            (
                "other redirect_uri",
                |form| set(form, "redirect_uri", "https://app.example/other"),
                ErrorCode::InvalidGrant,
            ),
            (
                "redirect_uri with a trailing slash",
                |form| set(form, "redirect_uri", "https://app.example/cb/"),
                ErrorCode::InvalidGrant,
            ),
        ];
        for (name, tamper, expected) in cases {
            let code = issue_code(&server, &rp, &alice, "openid").await;
            let mut form = code.exchange();
            tamper(&mut form);
            assert_eq!(
                error_code(rp.token(&server, &form).await),
                expected,
                "{name}"
            );
            // The failed attempt consumed the code: the right request no longer works.
            assert_eq!(
                error_code(rp.redeem(&server, &code).await),
                ErrorCode::InvalidGrant,
                "{name}"
            );
        }
    }

    fn set<'a>(form: &mut Vec<(&'a str, &'a str)>, name: &'a str, value: &'a str) {
        form.retain(|(k, _)| *k != name);
        form.push((name, value));
    }

    #[tokio::test]
    async fn a_code_issued_to_another_client_is_invalid_grant_and_used_up() {
        let (server, rp, alice) = alice_and_a_public_client().await;
        let thief = RelyingParty::public(&server).await;
        let code = issue_code(&server, &rp, &alice, "openid").await;
        let stolen = thief.redeem(&server, &code).await.unwrap_err();
        assert_eq!(stolen.error.code, ErrorCode::InvalidGrant);
        assert_eq!(
            error_code(rp.redeem(&server, &code).await),
            ErrorCode::InvalidGrant
        );
    }

    #[tokio::test]
    async fn a_failed_client_authentication_leaves_the_code_unspent() {
        let server = TestServer::start().await;
        let rp = RelyingParty::confidential(
            &server,
            &[GrantType::AuthorizationCode],
            &["openid", "profile"],
        )
        .await;
        let alice = server.user("alice").await;
        let code = issue_code(&server, &rp, &alice, "openid").await;
        let mut form: Vec<(String, String)> = code
            .exchange()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        form.push(("client_id".into(), rp.client.id.0.clone()));
        form.push(("client_secret".into(), "wrong".into()));
        let refused = server
            .engine
            .token(None, &form, None, &[])
            .await
            .unwrap_err();
        assert_eq!(refused.error.code, ErrorCode::InvalidClient);
        assert!(rp.redeem(&server, &code).await.is_ok());
    }

    #[tokio::test]
    async fn codes_expire_after_sixty_seconds_by_the_clock() {
        let (server, rp, alice) = alice_and_a_public_client().await;
        // Just inside the lifetime a code still works...
        let code = issue_code(&server, &rp, &alice, "openid").await;
        server.clock.advance(chrono::Duration::seconds(59));
        assert!(rp.redeem(&server, &code).await.is_ok());
        // ...and just past it, it does not, although the store still holds it.
        let code = issue_code(&server, &rp, &alice, "openid").await;
        server.clock.advance(chrono::Duration::seconds(61));
        assert_eq!(
            error_code(rp.redeem(&server, &code).await),
            ErrorCode::InvalidGrant
        );
    }

    #[tokio::test]
    async fn without_offline_access_there_is_no_refresh_token() {
        let (server, rp, alice) = alice_and_a_public_client().await;
        let code = issue_code(&server, &rp, &alice, "openid").await;
        let issued = rp.redeem(&server, &code).await.unwrap();
        assert_eq!(issued.refresh_token, None);
        assert_eq!(issued.scope, "openid");
    }

    /// The code stands for what the user allowed: its grant and user are in every token.
    #[tokio::test]
    async fn the_tokens_carry_the_code_s_grant_and_user() {
        let (server, rp, alice) = alice_and_a_public_client().await;
        let code = issue_code(&server, &rp, &alice, "openid").await;
        let issued = rp.redeem(&server, &code).await.unwrap();
        let claims = server
            .engine
            .validate_access_token(&issued.access_token)
            .await
            .unwrap();
        assert_eq!(claims.grant_id.as_deref(), Some(code.grant_id.as_str()));
        assert_eq!(claims.subject, alice.id.0);
        assert_eq!(claims.client_id, rp.client.id.0);
    }
}
