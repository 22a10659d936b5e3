//! Authorization endpoint, request validation: RFC 6749 §3.1, §4.1.1, §4.1.2.1; RFC 7636 §4.3;
//! RFC 9700 §2.1, §4.1; OIDC Core §3.1.2.1-3.1.2.2, §3.1.2.6; RFC 9207.
//!
//! The order is the rule: until the client and its redirect URI are verified, every error is
//! shown on a page and nothing is sent anywhere; after that, errors go back to the client's
//! verified redirect URI with `state` and `iss`.

use crate::mfa::AcrRequest;
use crate::pkce::CodeChallenge;
use crate::prompt::{MaxAge, Prompt};
use crate::redirect_uri::{self, ApplicationType};
use crate::scope::{self, ScopeSet};
use crate::server::AuthorizationServer;
use palisade_core::model::Client;
use palisade_core::{ErrorCode, OAuthError};
use serde::{Deserialize, Serialize};

/// Caps on echoed or stored free-form parameters, so one request cannot bloat storage.
const MAX_STATE_BYTES: usize = 2048;
const MAX_NONCE_BYTES: usize = 512;
const MAX_LOGIN_HINT_BYTES: usize = 256;
const MAX_CLAIMS_BYTES: usize = 4096;

/// A validated authorization request, kept while the user logs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub client_name: String,
    /// The verified redirect URI, exactly as requested.
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scope: ScopeSet,
    pub nonce: Option<String>,
    pub code_challenge: CodeChallenge,
    pub prompt: Prompt,
    pub max_age: Option<u64>,
    pub login_hint: Option<String>,
    /// What `acr_values` and the `claims` parameter ask of the sign-in's strength.
    #[serde(default)]
    pub acr: AcrRequest,
    /// The client requires a second factor of every user (its `require_mfa`).
    #[serde(default)]
    pub client_requires_mfa: bool,
    /// What the interaction ends in once the user has signed in and consented.
    #[serde(default)]
    pub ends_in: Ending,
    /// The resources asked for (RFC 8707 §2.1), each known and allowed for the client.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code will be bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

/// What an interaction ends in: the interaction's pages are the same either way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ending {
    /// A redirect to the verified `redirect_uri` with a code, or with an error
    /// (RFC 6749 §4.1.2).
    #[default]
    RedirectWithCode,
    /// Approving (or denying) a device's request (RFC 8628 §3.3): a page says how it went,
    /// and nothing is redirected anywhere.
    ApproveDevice(crate::device::PendingDevice),
    /// A sign-in to our own console (no client, no consent): back to the console page the
    /// visitor asked for.
    Console(crate::console::sign_in::ConsoleReturn),
}

/// Why a request was refused, and how the refusal must travel.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI is not verified: show a page, never redirect.
    Page(OAuthError),
    /// Everything needed to redirect safely is verified: tell the client.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// The request parameters, as received (query string or form body).
pub struct AuthorizationParams {
    pairs: Vec<(String, String)>,
}

impl AuthorizationParams {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Self { pairs }
    }

    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The single value of `name`; empty values count as absent (RFC 6749 §3.1).
    pub(crate) fn get<'a>(&'a self, name: &'a str) -> Option<&'a str> {
        self.all(name).next().filter(|v| !v.is_empty())
    }

    pub(crate) fn is_repeated(&self, name: &str) -> bool {
        self.all(name).count() > 1
    }

    /// The first parameter (if any) sent more than once (RFC 6749 §3.1: MUST NOT repeat).
    fn first_repeated(&self) -> Option<&str> {
        crate::token::first_repeated(&self.pairs)
    }
}

/// How the request reached the server: in the browser's URL or form, or pushed by the client
/// to `/par` (RFC 9126), where it was also authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestChannel {
    Browser,
    Pushed,
}

impl AuthorizationServer {
    /// Validates an authorization request sent through the browser, step by step.
    pub async fn validate_authorization_request(
        &self,
        params: &AuthorizationParams,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        self.validate_request(params, RequestChannel::Browser).await
    }

    pub(crate) async fn validate_request(
        &self,
        params: &AuthorizationParams,
        channel: RequestChannel,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let client = self.resolve_client(params).await?;
        let redirect_uri = check_redirect_uri(&client, params)?;
        let echoed_state = params.get("state").filter(|s| s.len() <= MAX_STATE_BYTES);
        let fail = |error: OAuthError| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: echoed_state.map(str::to_owned),
            error,
        };
        if channel == RequestChannel::Browser {
            self.check_not_required_to_push(&client).map_err(fail)?;
        }
        let state = check_state(params).map_err(fail)?;
        check_no_repeats(params).map_err(fail)?;
        check_unsupported_features(params).map_err(fail)?;
        check_response_type(params).map_err(fail)?;
        check_response_mode(params).map_err(fail)?;
        check_grant_allowed(&client).map_err(fail)?;
        let code_challenge = CodeChallenge::parse(
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        )
        .map_err(fail)?;
        let scope = check_scope(&client, params).map_err(fail)?;
        let prompt = Prompt::parse(params.get("prompt").unwrap_or("")).map_err(fail)?;
        let max_age = params
            .get("max_age")
            .map(MaxAge::parse)
            .transpose()
            .map_err(fail)?
            .map(MaxAge::seconds);
        let nonce = bounded(params.get("nonce"), MAX_NONCE_BYTES, "nonce").map_err(fail)?;
        let login_hint =
            bounded(params.get("login_hint"), MAX_LOGIN_HINT_BYTES, "login_hint").map_err(fail)?;
        let claims = bounded(params.get("claims"), MAX_CLAIMS_BYTES, "claims").map_err(fail)?;
        let acr = AcrRequest::parse(params.get("acr_values"), claims.as_deref()).map_err(fail)?;
        let resources = self.check_resources(&client, params).map_err(fail)?;
        let dpop_jkt = check_dpop_jkt(params).map_err(fail)?;
        // `ui_locales`, `display`, `claims_locales` and unknown parameters are accepted and
        // ignored (OIDC Core §3.1.2.1; RFC 6749 §3.1); of `claims`, only `acr` is acted on
        // (OIDC Core §5.5.1: other requested claims may go unreturned without an error).
        Ok(AuthorizationRequest {
            acr,
            client_requires_mfa: client.require_mfa,
            client_id: client.id.0,
            client_name: client.name,
            redirect_uri,
            state,
            scope,
            nonce,
            code_challenge,
            prompt,
            max_age,
            login_hint,
            ends_in: Ending::RedirectWithCode,
            resources,
            dpop_jkt,
        })
    }

    /// RFC 8707 §2.1: every `resource` well formed, known, and allowed for the client.
    fn check_resources(
        &self,
        client: &Client,
        params: &AuthorizationParams,
    ) -> Result<Vec<String>, OAuthError> {
        let requested = crate::resource::requested(params.all(crate::resource::RESOURCE))?;
        crate::resource::check_allowed(&requested, client, &self.policy.resources)?;
        Ok(requested)
    }

    async fn resolve_client(&self, params: &AuthorizationParams) -> Result<Client, AuthorizeError> {
        if params.is_repeated("client_id") {
            return Err(page(OAuthError::invalid_request(
                "client_id was sent more than once",
            )));
        }
        let Some(client_id) = params.get("client_id") else {
            return Err(page(OAuthError::invalid_request(
                "the request has no client_id",
            )));
        };
        match self.find_client_by_id(client_id).await {
            Ok(Some(client)) => Ok(client),
            Ok(None) => Err(page(OAuthError::invalid_request(
                "the application that sent you here is not registered",
            ))),
            Err(e) => Err(page(e)),
        }
    }
}

fn page(error: OAuthError) -> AuthorizeError {
    AuthorizeError::Page(error)
}

/// OIDC Core §3.1.2.1 makes `redirect_uri` required; it must match a registered one exactly.
fn check_redirect_uri(
    client: &Client,
    params: &AuthorizationParams,
) -> Result<String, AuthorizeError> {
    if params.is_repeated("redirect_uri") {
        return Err(page(OAuthError::invalid_request(
            "redirect_uri was sent more than once",
        )));
    }
    let Some(requested) = params.get("redirect_uri") else {
        return Err(page(OAuthError::invalid_request(
            "the request has no redirect_uri",
        )));
    };
    // A metadata document's redirect URIs match exactly, loopback ports included: nobody
    // reviewed the client, so nothing about where its codes go is left open.
    let application_type: ApplicationType = if client.is_metadata_document() {
        ApplicationType::Web
    } else {
        client.application_type
    };
    redirect_uri::matches_registered(requested, &client.redirect_uris, application_type)
        .map(str::to_owned)
        .ok_or_else(|| {
            page(OAuthError::invalid_request(
                "the redirect URI is not registered for this application",
            ))
        })
}

/// `state` is echoed; an oversized one is refused without echoing it.
fn check_state(params: &AuthorizationParams) -> Result<Option<String>, OAuthError> {
    match params.get("state") {
        Some(s) if s.len() > MAX_STATE_BYTES => {
            Err(OAuthError::invalid_request("state is too long"))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

fn check_no_repeats(params: &AuthorizationParams) -> Result<(), OAuthError> {
    match params.first_repeated() {
        Some(_) => Err(OAuthError::invalid_request(
            "a parameter was sent more than once",
        )),
        None => Ok(()),
    }
}

/// Request objects and passing registration by value are not supported (OIDC Core §6, §3.1.2.6);
/// say so rather than ignore them, and never fetch a `request_uri`.
fn check_unsupported_features(params: &AuthorizationParams) -> Result<(), OAuthError> {
    if params.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    if params.get("registration").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }
    Ok(())
}

/// Only the authorization code flow (RFC 9700 §2.1.2: no implicit, no hybrid).
fn check_response_type(params: &AuthorizationParams) -> Result<(), OAuthError> {
    match params.get("response_type") {
        None => Err(OAuthError::invalid_request(
            "the request has no response_type",
        )),
        Some("code") => Ok(()),
        Some(_) => Err(OAuthError::new(
            ErrorCode::UnsupportedResponseType,
            "only response_type=code is supported",
        )),
    }
}

fn check_response_mode(params: &AuthorizationParams) -> Result<(), OAuthError> {
    match params.get("response_mode") {
        None | Some("query") => Ok(()),
        Some(_) => Err(OAuthError::invalid_request(
            "only response_mode=query is supported",
        )),
    }
}

fn check_grant_allowed(client: &Client) -> Result<(), OAuthError> {
    if client
        .grant_types
        .contains(&palisade_core::model::GrantType::AuthorizationCode)
    {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this application may not use the authorization code flow",
        ))
    }
}

fn check_scope(client: &Client, params: &AuthorizationParams) -> Result<ScopeSet, OAuthError> {
    let requested = match params.get("scope") {
        Some(raw) => ScopeSet::parse(raw)?,
        None => ScopeSet::empty(),
    };
    scope::check_requested(&requested, &client.scopes)?;
    Ok(requested)
}

/// RFC 9449 §10: `dpop_jkt` is a JWK SHA-256 thumbprint (43 base64url characters).
fn check_dpop_jkt(params: &AuthorizationParams) -> Result<Option<String>, OAuthError> {
    match params.get("dpop_jkt") {
        None => Ok(None),
        Some(jkt) if crate::dpop::is_thumbprint(jkt) => Ok(Some(jkt.to_owned())),
        Some(_) => Err(OAuthError::invalid_request(
            "dpop_jkt must be a JWK SHA-256 thumbprint",
        )),
    }
}

fn bounded(
    value: Option<&str>,
    max: usize,
    name: &'static str,
) -> Result<Option<String>, OAuthError> {
    match value {
        Some(v) if v.len() > max => Err(OAuthError::invalid_request(format!("{name} is too long"))),
        other => Ok(other.map(str::to_owned)),
    }
}

/// Builds the redirect carrying an error (RFC 6749 §4.1.2.1, RFC 9207 §2).
pub fn error_redirect(
    issuer: &str,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> String {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_ref()),
    ];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", issuer));
    redirect_uri::append_query(redirect_uri, &params)
}
