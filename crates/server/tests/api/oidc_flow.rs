//! The whole browser login, driven by a real relying party: the `openidconnect` crate does
//! discovery, builds the authorization URL with PKCE and a nonce, exchanges the code, verifies
//! the ID token against the JWKS, calls userinfo and refreshes; `reqwest` with a cookie jar
//! plays the browser on the login and consent forms.

use crate::harness::spawn_app;
use crate::support::{Browser, ClientSpec, create_user, query_param, register_client};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreUserInfoClaims,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, JsonWebKey, Nonce,
    OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};

pub fn rp_http() -> openidconnect::reqwest::Client {
    // Relying parties must not follow redirects from the provider (SSRF).
    openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_relying_party_logs_a_user_in_verifies_the_id_token_reads_userinfo_and_refreshes() {
    let app = spawn_app().await;
    let rp = register_client(&app, ClientSpec::default()).await;
    let alice = create_user(&app, "alice").await;
    let http = rp_http();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http)
            .await
            .expect("discovery and JWKS");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = Browser::new();
    let back = browser.authorize(url.as_str(), "alice").await;
    assert!(back.starts_with(&rp.redirect_uri), "{back}");
    assert_eq!(
        query_param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(app.base_url.as_str())
    );
    let code = query_param(&back, "code").expect("a code");

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token for openid");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies against the JWKS");
    assert_eq!(claims.subject().as_str(), alice.0);
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.issuer().as_str(), app.base_url);

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject().as_str(), alice.0);
    assert_eq!(userinfo.preferred_username().unwrap().as_str(), "alice");
    assert_eq!(userinfo.email().unwrap().as_str(), "alice@example.com");

    let first_refresh = tokens
        .refresh_token()
        .expect("offline_access gives a refresh token");
    let refreshed = client
        .exchange_refresh_token(first_refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    // OIDC Core §12.2: a new ID token with the original auth_time and no nonce.
    let refreshed_id = refreshed
        .id_token()
        .expect("openid was granted")
        .claims(
            &client.id_token_verifier(),
            |nonce: Option<&Nonce>| match nonce {
                None => Ok(()),
                Some(_) => Err("a refreshed ID token carries no nonce".to_owned()),
            },
        )
        .expect("the refreshed ID token verifies");
    assert_eq!(refreshed_id.auth_time(), claims.auth_time());
    assert_eq!(refreshed_id.subject(), claims.subject());
    let second_refresh = refreshed
        .refresh_token()
        .expect("rotation gives a new refresh token");
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    let again = client
        .exchange_refresh_token(&RefreshToken::new(second_refresh.secret().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("the rotated token refreshes");
    assert!(again.refresh_token().is_some());
}

/// ES256 and EdDSA are signed with `ring` (RS256 with OpenSSL): a relying party library that
/// shares neither verifies the ID token of each algorithm, and the ES256 access token issued
/// beside it, against the published JWKS.
#[tokio::test]
async fn a_relying_party_verifies_es256_and_eddsa_tokens_against_the_jwks() {
    let app = spawn_app().await;
    create_user(&app, "alice").await;
    let http = rp_http();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.base_url.clone()).unwrap(), &http)
            .await
            .expect("discovery and JWKS");
    for (alg, rp_alg) in [
        ("ES256", CoreJwsSigningAlgorithm::EcdsaP256Sha256),
        ("EdDSA", CoreJwsSigningAlgorithm::EdDsa),
    ] {
        let rp = register_client(
            &app,
            ClientSpec {
                id_token_alg: Some(alg),
                ..ClientSpec::default()
            },
        )
        .await;
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(rp.id.clone()),
            Some(ClientSecret::new(rp.secret.clone().unwrap())),
        )
        .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.clone()).unwrap());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, _csrf, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge)
            .url();
        let back = Browser::new().authorize(url.as_str(), "alice").await;
        let code = query_param(&back, "code").expect("a code");
        let tokens = client
            .exchange_code(AuthorizationCode::new(code))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .expect("code exchange");

        let id_token = tokens.id_token().expect("an ID token for openid");
        let only_this_alg = client
            .id_token_verifier()
            .set_allowed_algs(vec![rp_alg.clone()]);
        id_token
            .claims(&only_this_alg, &nonce)
            .unwrap_or_else(|e| panic!("the {alg} ID token verifies against the JWKS: {e}"));

        // The access token (ES256, RFC 9068) against the published key its header names.
        let access = tokens.access_token().secret();
        let (signing_input, signature) = access.rsplit_once('.').unwrap();
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(signing_input.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            (&header["alg"], &header["typ"]),
            (&"ES256".into(), &"at+jwt".into())
        );
        let key = metadata
            .jwks()
            .keys()
            .iter()
            .find(|k| k.key_id().map(|kid| kid.as_str()) == header["kid"].as_str())
            .expect("the access token's key is published");
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        key.verify_signature(
            &CoreJwsSigningAlgorithm::EcdsaP256Sha256,
            signing_input.as_bytes(),
            &signature,
        )
        .expect("the access token verifies against the JWKS");
        let mut tampered = signature.clone();
        tampered[10] ^= 1;
        assert!(
            key.verify_signature(
                &CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                signing_input.as_bytes(),
                &tampered,
            )
            .is_err()
        );
    }
}
