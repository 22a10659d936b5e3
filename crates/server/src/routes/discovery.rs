//! `GET /.well-known/openid-configuration` (OIDC Discovery 1.0 §3-4) and
//! `GET /.well-known/oauth-authorization-server` (RFC 8414 §3), built with the `openidconnect`
//! crate's provider-metadata types and serialized once at start-up.
//!
//! The document lists exactly what is implemented: `code` only, `S256` only, no `password`
//! or `implicit` grants, `iss` in authorization responses (RFC 9207 §3).

use crate::app::AppState;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, IssuerUrl, JsonWebKeySetUrl,
    ProviderMetadata, RegistrationUrl, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use palisade_core::model::{GrantType, TokenEndpointAuthMethod};
use palisade_core::ports::SigningAlgorithm;
use palisade_flow::scope::STANDARD_SCOPES;
use serde::{Deserialize, Serialize};

/// Members the crate's `ProviderMetadata` has no field for (docs/dependencies.md, openidconnect).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PalisadeMetadata {
    code_challenge_methods_supported: Vec<String>,
    end_session_endpoint: String,
    authorization_response_iss_parameter_supported: bool,
    /// RFC 7662 §4 / RFC 8414 §2.
    introspection_endpoint: String,
    introspection_endpoint_auth_methods_supported: Vec<String>,
    introspection_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// RFC 7009 §2 / RFC 8414 §2.
    revocation_endpoint: String,
    revocation_endpoint_auth_methods_supported: Vec<String>,
    revocation_endpoint_auth_signing_alg_values_supported: Vec<String>,
    /// RFC 8628 §4.
    device_authorization_endpoint: String,
    /// RFC 9126 §5.
    pushed_authorization_request_endpoint: String,
    require_pushed_authorization_requests: bool,
    /// draft-ietf-oauth-client-id-metadata-document §5: a URL `client_id` is resolved. Left
    /// out (rather than `false`) when off, as the draft's examples do.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    client_id_metadata_document_supported: bool,
    /// RFC 9449 §5.1: the algorithms DPoP proofs may be signed with.
    dpop_signing_alg_values_supported: Vec<String>,
}

/// Client assertions (private_key_jwt) may be signed with any of these, whatever we sign with.
const CLIENT_ASSERTION_ALGS: [SigningAlgorithm; 3] = SigningAlgorithm::ALL;

impl AdditionalProviderMetadata for PalisadeMetadata {}

type PalisadeProviderMetadata = ProviderMetadata<
    PalisadeMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

fn jws_alg(alg: SigningAlgorithm) -> CoreJwsSigningAlgorithm {
    match alg {
        SigningAlgorithm::RS256 => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        SigningAlgorithm::ES256 => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        SigningAlgorithm::EdDSA => CoreJwsSigningAlgorithm::EdDsa,
    }
}

/// Exhaustive, so a grant added to [`GrantType`] cannot be left out of the document.
fn core_grant_type(grant: GrantType) -> CoreGrantType {
    match grant {
        GrantType::AuthorizationCode => CoreGrantType::AuthorizationCode,
        GrantType::RefreshToken => CoreGrantType::RefreshToken,
        GrantType::ClientCredentials => CoreGrantType::ClientCredentials,
        GrantType::DeviceCode => CoreGrantType::DeviceCode,
    }
}

fn core_auth_method(method: TokenEndpointAuthMethod) -> CoreClientAuthMethod {
    match method {
        TokenEndpointAuthMethod::ClientSecretBasic => CoreClientAuthMethod::ClientSecretBasic,
        TokenEndpointAuthMethod::ClientSecretPost => CoreClientAuthMethod::ClientSecretPost,
        TokenEndpointAuthMethod::PrivateKeyJwt => CoreClientAuthMethod::PrivateKeyJwt,
        TokenEndpointAuthMethod::None => CoreClientAuthMethod::None,
    }
}

/// The wire names of the client authentication methods `accepts` lets through.
fn auth_method_names(accepts: impl Fn(TokenEndpointAuthMethod) -> bool) -> Vec<String> {
    TokenEndpointAuthMethod::ALL
        .iter()
        .copied()
        .filter(|m| accepts(*m))
        .map(|m| m.as_str().to_owned())
        .collect()
}

/// Builds the metadata document for `issuer` (no trailing slash) and the enabled algorithms;
/// `registration_endpoint` is listed unless registration is disabled, and
/// `client_id_metadata_document_supported` when client ID metadata documents are on;
/// `par_required` is the server-wide `require_pushed_authorization_requests`.
pub fn build(
    issuer: &str,
    algorithms: &[SigningAlgorithm],
    has_registration: bool,
    resolves_client_documents: bool,
    par_required: bool,
) -> anyhow::Result<Vec<u8>> {
    let url = |path: &str| format!("{issuer}{path}");
    let assertion_algs = || {
        CLIENT_ASSERTION_ALGS
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let metadata = PalisadeProviderMetadata::new(
        IssuerUrl::new(issuer.to_owned())?,
        AuthUrl::new(url("/authorize"))?,
        JsonWebKeySetUrl::new(url("/jwks"))?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        algorithms.iter().copied().map(jws_alg).collect(),
        PalisadeMetadata {
            code_challenge_methods_supported: vec!["S256".into()],
            end_session_endpoint: url("/logout"),
            authorization_response_iss_parameter_supported: true,
            introspection_endpoint: url("/introspect"),
            // Introspection is for confidential clients only (RFC 7662 §2.1): no `none`.
            introspection_endpoint_auth_methods_supported: auth_method_names(|m| {
                m != TokenEndpointAuthMethod::None
            }),
            introspection_endpoint_auth_signing_alg_values_supported: assertion_algs(),
            revocation_endpoint: url("/revoke"),
            revocation_endpoint_auth_methods_supported: auth_method_names(|_| true),
            revocation_endpoint_auth_signing_alg_values_supported: assertion_algs(),
            device_authorization_endpoint: url("/device_authorization"),
            pushed_authorization_request_endpoint: url("/par"),
            require_pushed_authorization_requests: par_required,
            client_id_metadata_document_supported: resolves_client_documents,
            dpop_signing_alg_values_supported: palisade_flow::dpop::DPOP_SIGNING_ALGS
                .iter()
                .map(|alg| (*alg).to_owned())
                .collect(),
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(url("/token"))?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(url("/userinfo"))?))
    .set_scopes_supported(Some(
        STANDARD_SCOPES
            .into_iter()
            .map(|s| Scope::new(s.into()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(
        GrantType::ALL
            .iter()
            .copied()
            .map(core_grant_type)
            .collect(),
    ))
    .set_token_endpoint_auth_methods_supported(Some(
        TokenEndpointAuthMethod::ALL
            .iter()
            .copied()
            .map(core_auth_method)
            .collect(),
    ))
    .set_token_endpoint_auth_signing_alg_values_supported(Some(
        CLIENT_ASSERTION_ALGS.iter().copied().map(jws_alg).collect(),
    ))
    .set_registration_endpoint(
        has_registration
            .then(|| RegistrationUrl::new(url("/register")))
            .transpose()?,
    )
    .set_claims_supported(Some(
        [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "amr",
            "acr",
            "name",
            "preferred_username",
            "updated_at",
            "email",
            "email_verified",
        ]
        .into_iter()
        .map(|c| CoreClaimName::new(c.into()))
        .collect(),
    ))
    // OIDC Core §5.5: `claims` is read for an essential or voluntary `acr` (docs/mfa.md);
    // other requested claims may go unreturned without an error (§5.5.1).
    .set_claims_parameter_supported(Some(true))
    .set_acr_values_supported(Some(
        palisade_flow::mfa::ACR_VALUES_SUPPORTED
            .iter()
            .map(|v| AuthenticationContextClass::new((*v).into()))
            .collect(),
    ))
    .set_request_parameter_supported(Some(false))
    .set_request_uri_parameter_supported(Some(false));
    Ok(serde_json::to_vec(&metadata)?)
}

pub async fn document(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.discovery_document.clone())
}
