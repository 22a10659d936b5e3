//! Token endpoint: RFC 6749 §3.2, §5.1-5.2. Authenticate the client first, then dispatch on a
//! closed set of grant types; every answer is JSON with `Cache-Control: no-store`.

mod authorization_code;
mod client_credentials;
mod device_code;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod lifecycle_tests;
mod refresh_token;
mod successor;

pub use crate::issue::TokenResponse;
use crate::server::AuthorizationServer;
use palisade_core::model::{Client, GrantType};
use palisade_core::{ErrorCode, OAuthError};

/// A token-endpoint failure, and whether the client tried HTTP Basic (then a 401 carries
/// `WWW-Authenticate: Basic`, RFC 6749 §5.2).
#[derive(Debug)]
pub struct TokenError {
    pub error: OAuthError,
    pub basic_attempted: bool,
}

impl TokenError {
    /// How one request's failures become `TokenError`s: whether it tried HTTP Basic decides
    /// the 401's challenge, for every endpoint that authenticates clients like `/token`.
    pub(crate) fn for_request(
        authorization_header: Option<&str>,
    ) -> impl Fn(OAuthError) -> TokenError + Copy {
        let basic_attempted = authorization_header.is_some();
        move |error| TokenError {
            error,
            basic_attempted,
        }
    }
}

/// The form parameters of a token request.
pub(crate) struct TokenParams<'a> {
    pairs: &'a [(String, String)],
    /// Where the request came from, for the audit trail.
    pub client_ip: Option<std::net::IpAddr>,
    /// The request's DPoP proof, checked (RFC 9449 §5): the key the tokens are bound to.
    pub dpop: Option<crate::dpop::DpopProof>,
}

impl<'a> TokenParams<'a> {
    pub(crate) fn get(&self, name: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The `resource` values (RFC 8707 §2.2), checked, without duplicates.
    pub(crate) fn resources(&self) -> Result<Vec<String>, OAuthError> {
        crate::resource::requested(
            self.pairs
                .iter()
                .filter(|(k, _)| k == crate::resource::RESOURCE)
                .map(|(_, v)| v.as_str()),
        )
    }

    pub(crate) fn required(&self, name: &'static str) -> Result<&'a str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("the request has no {name}")))
    }
}

impl AuthorizationServer {
    /// Handles `POST /token`; `dpop_proofs` are the values of its `DPoP` headers (RFC 9449 §5),
    /// none for a bearer-token request.
    pub async fn token(
        &self,
        authorization_header: Option<&str>,
        form: &[(String, String)],
        client_ip: Option<std::net::IpAddr>,
        dpop_proofs: &[String],
    ) -> Result<TokenResponse, TokenError> {
        let fail = TokenError::for_request(authorization_header);
        let client = self
            .authenticate_form(authorization_header, form, client_ip, false)
            .await
            .map_err(fail)?;
        let mut params = TokenParams {
            pairs: form,
            client_ip,
            dpop: None,
        };
        let grant_type =
            GrantType::parse(params.required("grant_type").map_err(fail)?).map_err(|_| {
                fail(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    "this grant type is not supported",
                ))
            })?;
        check_client_may_use(&client, grant_type).map_err(fail)?;
        // Before the grant is looked at: a refused proof leaves the code or refresh token as it
        // was.
        params.dpop = self
            .token_request_proof(&client, dpop_proofs)
            .await
            .map_err(fail)?;
        let outcome = match grant_type {
            GrantType::AuthorizationCode => {
                self.exchange_authorization_code(&client, &params).await
            }
            GrantType::RefreshToken => self.refresh(&client, &params).await,
            GrantType::ClientCredentials => self.client_credentials(&client, &params).await,
            GrantType::DeviceCode => self.exchange_device_code(&client, &params).await,
        };
        outcome.map_err(fail)
    }
}

/// RFC 6749 §3.2: request parameters MUST NOT be included more than once (the introspection
/// and revocation endpoints apply it too).
pub(crate) fn check_no_repeats(form: &[(String, String)]) -> Result<(), OAuthError> {
    match first_repeated(form) {
        Some(_) => Err(OAuthError::invalid_request(
            "a parameter was sent more than once",
        )),
        None => Ok(()),
    }
}

/// The first parameter name sent twice, in one pass (a body may carry thousands of pairs).
/// `resource` is the one parameter that may repeat (RFC 8707 §2).
pub(crate) fn first_repeated(form: &[(String, String)]) -> Option<&str> {
    let mut seen = std::collections::HashSet::with_capacity(form.len());
    form.iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| *k != crate::resource::RESOURCE)
        .find(|k| !seen.insert(*k))
}

impl AuthorizationServer {
    /// The proof of a token request (RFC 9449 §5): checked against the token endpoint's URL,
    /// and required of a client registered with `dpop_bound_access_tokens` (§5.2).
    async fn token_request_proof(
        &self,
        client: &Client,
        proofs: &[String],
    ) -> Result<Option<crate::dpop::DpopProof>, OAuthError> {
        let url = self.token_endpoint();
        let proof = self
            .check_dpop_proof(&crate::dpop::ProofRequest {
                proofs,
                method: "POST",
                url: &url,
                access_token: None,
            })
            .await?;
        if proof.is_none() && client.dpop_bound_access_tokens {
            return Err(crate::dpop::invalid_dpop_proof(
                "this client must send a DPoP proof (dpop_bound_access_tokens)",
            ));
        }
        Ok(proof)
    }
}

/// The `token_type` of an access token bound to `jkt` (RFC 9449 §5) or not (RFC 6750).
pub(crate) fn token_type(jkt: Option<&str>) -> String {
    if jkt.is_some() { "DPoP" } else { "Bearer" }.into()
}

fn check_client_may_use(client: &Client, grant_type: GrantType) -> Result<(), OAuthError> {
    if client.grant_types.contains(&grant_type) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use this grant type",
        ))
    }
}
