//! Client metadata: RFC 7591 §2 (members), §2.1 (grant and response types agree), §3.2.2
//! (errors); OIDC Registration §2 (`application_type`, `id_token_signed_response_alg`, `jwks`),
//! OIDC RP-Initiated Logout §3.1 (`post_logout_redirect_uris`).
//!
//! One validator serves every way a client comes to exist — dynamic registration, the
//! operator's `palisade client add`, the admin API — so they cannot drift. The steps, in order:
//!
//! | step | refuses with |
//! | --- | --- |
//! | [`check_fetched_members`]: `jwks_uri`, `logo_uri`, `sector_identifier_uri`, `request_uris` | `invalid_client_metadata` (Palisade never fetches a URL from a registration) |
//! | [`check_unsupported_members`]: pairwise subjects, encrypted or signed responses we do not produce | `invalid_client_metadata` |
//! | `application_type`, `token_endpoint_auth_method`, `grant_types`, `response_types` and their agreement | `invalid_client_metadata` |
//! | `redirect_uris` ([`RedirectUri::parse_for_registration`]) | `invalid_redirect_uri` |
//! | `post_logout_redirect_uris`, `scope`, `id_token_signed_response_alg`, `jwks`, `client_name`, `require_mfa`, `dpop_bound_access_tokens`, `require_pushed_authorization_requests` | `invalid_client_metadata` |
//!
//! `require_mfa` (a boolean, default false) is a Palisade extension member (RFC 7591 §2 allows
//! them): users signing in to the client must use a second factor. Any registrant may set it:
//! it only ever asks more of a sign-in. `dpop_bound_access_tokens` (RFC 9449 §5.2) and
//! `require_pushed_authorization_requests` (RFC 9126 §6) are booleans in the same way: each
//! only ever asks more of the client.
//!
//! `resources` (a Palisade extension member: an array of absolute URIs without a fragment,
//! RFC 8707 §2) lists the resources the client may ask tokens for. Only the operator (CLI,
//! admin API) may set it, as with reserved scopes: a self-registering client that sends a
//! non-empty one gets `invalid_client_metadata`, and its own updates (RFC 7592) keep what the
//! operator set. Each must also be a resource the server knows when a token is asked for.
//!
//! Members a caller may not set (`client_id`, `client_secret`, ...) and members Palisade does
//! not implement (`client_uri`, `contacts`, `software_statement`, ...) are ignored, as RFC 7591
//! §2 asks.

use super::Registered;
use crate::client_assertion::ClientJwks;
use crate::redirect_uri::RedirectUri;
use crate::scope::{RESERVED_SCOPES, STANDARD_SCOPES, ScopeSet};
use chrono::{DateTime, Utc};
use palisade_core::model::{
    ApplicationType, Client, ClientId, ClientType, GrantType, TokenEndpointAuthMethod,
};
use palisade_core::ports::SigningAlgorithm;
use palisade_core::secret::SecretGenerator;
use palisade_core::text::check_shown_text;
use palisade_core::{ErrorCode, OAuthError, TokenHash};
use serde_json::{Map, Value};

/// A client may register at most this many redirect URIs (and as many post-logout URIs).
pub const MAX_REDIRECT_URIS: usize = 20;
/// `client_name` is shown on the consent page: one line of text.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;

/// Members naming a URL the server would have to fetch (RFC 7591 §2, OIDC Registration §2).
/// Refused rather than fetched: no outbound request is ever made on a caller's behalf, which
/// removes server-side request forgery from registration altogether (docs/threat-model.md RG-04).
pub const FETCHED_MEMBERS: [&str; 4] = [
    "jwks_uri",
    "logo_uri",
    "sector_identifier_uri",
    "request_uris",
];

/// Members asking for features Palisade does not provide; accepting them silently would leave
/// the client expecting encrypted or signed responses it will never get.
const UNSUPPORTED_MEMBERS: [&str; 8] = [
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_signed_response_alg",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "request_object_signing_alg",
    "request_object_encryption_alg",
    "request_object_encryption_enc",
];

/// Who is registering, and what they may ask for.
#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    /// The operator (CLI, admin API) may register any scope, including reserved ones such as
    /// `roles`; a self-registering client only the standard scopes and `allowed_scopes`.
    pub is_operator: bool,
    /// Scopes beyond the standard ones a self-registering client may register.
    pub allowed_scopes: Vec<String>,
    /// The algorithms the server publishes keys for (`id_token_signed_response_alg`).
    pub signing_algorithms: Vec<SigningAlgorithm>,
}

/// Client metadata that passed every rule, ready to become (or replace) a [`Client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMetadata {
    /// Empty when the caller gave none (the client id is shown instead).
    pub client_name: String,
    pub application_type: ApplicationType,
    pub token_endpoint_auth_method: TokenEndpointAuthMethod,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub id_token_signed_response_alg: Option<SigningAlgorithm>,
    /// The JWK Set as compact JSON text.
    pub jwks: Option<String>,
    /// Signing in to the client needs a second factor.
    pub require_mfa: bool,
    /// RFC 9449 §5.2: the client's access tokens must be DPoP-bound.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6: the client must push its authorization requests.
    pub require_pushed_authorization_requests: bool,
    /// RFC 8707: the resources the client may ask for; `None` when the caller may not set
    /// them (dynamic registration), which leaves a stored client's as they are.
    pub resources: Option<Vec<String>>,
}

fn metadata_error(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, description)
}

/// A string member; absent and `null` are both `None`.
fn string(
    body: &Map<String, Value>,
    name: &str,
    wrong_type: &'static str,
) -> Result<Option<String>, OAuthError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(metadata_error(wrong_type)),
    }
}

/// A boolean member that only ever asks more of the client; absent and `null` are `false`.
fn flag(
    body: &Map<String, Value>,
    name: &str,
    wrong_type: &'static str,
) -> Result<bool, OAuthError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(set)) => Ok(*set),
        Some(_) => Err(metadata_error(wrong_type)),
    }
}

/// An array-of-strings member, bounded; absent and `null` are both `None`.
fn strings(
    body: &Map<String, Value>,
    name: &str,
    wrong_type: &'static str,
) -> Result<Option<Vec<String>>, OAuthError> {
    let items = match body.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(metadata_error(wrong_type)),
    };
    if items.len() > MAX_REDIRECT_URIS {
        return Err(metadata_error(
            "a metadata list may have at most 20 entries",
        ));
    }
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| metadata_error(wrong_type))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Refuses members that would make the server fetch a URL (see [`FETCHED_MEMBERS`]).
pub fn check_fetched_members(body: &Map<String, Value>) -> Result<(), OAuthError> {
    if FETCHED_MEMBERS
        .iter()
        .any(|m| body.get(*m).is_some_and(|v| !v.is_null()))
    {
        return Err(metadata_error(
            "jwks_uri, logo_uri, sector_identifier_uri and request_uris are not accepted: \
             Palisade fetches no URL named in a registration; send keys inline as jwks",
        ));
    }
    Ok(())
}

/// Refuses requests for features Palisade does not implement.
pub fn check_unsupported_members(body: &Map<String, Value>) -> Result<(), OAuthError> {
    match string(body, "subject_type", "subject_type must be a string")?.as_deref() {
        None | Some("public") => {}
        Some(_) => return Err(metadata_error("only the public subject_type is supported")),
    }
    if UNSUPPORTED_MEMBERS
        .iter()
        .any(|m| body.get(*m).is_some_and(|v| !v.is_null()))
    {
        return Err(metadata_error(
            "encrypted ID tokens, signed or encrypted userinfo and request objects are not supported",
        ));
    }
    Ok(())
}

impl ClientMetadata {
    /// Validates a registration request body (RFC 7591 §3.1) under `policy`.
    pub fn from_request(body: &Value, policy: &RegistrationPolicy) -> Result<Self, OAuthError> {
        let Value::Object(body) = body else {
            return Err(metadata_error(
                "the registration request must be a JSON object",
            ));
        };
        check_fetched_members(body)?;
        check_unsupported_members(body)?;
        let application_type = match string(
            body,
            "application_type",
            "application_type must be a string",
        )? {
            Some(raw) => ApplicationType::parse(&raw).map_err(|e| metadata_error(e.0))?,
            None => ApplicationType::Web,
        };
        let auth_method = match string(
            body,
            "token_endpoint_auth_method",
            "token_endpoint_auth_method must be a string",
        )? {
            Some(raw) => TokenEndpointAuthMethod::parse(&raw).map_err(|e| metadata_error(e.0))?,
            // RFC 7591 §2: the default is client_secret_basic.
            None => TokenEndpointAuthMethod::ClientSecretBasic,
        };
        let grant_types = grant_types(body)?;
        let response_types = response_types(body, &grant_types)?;
        check_grant_consistency(&grant_types, auth_method)?;
        let redirect_uris = redirect_uris(body, application_type, &grant_types)?;
        let post_logout_redirect_uris = post_logout_redirect_uris(body, application_type)?;
        let scopes = scopes(body, policy)?;
        let id_token_signed_response_alg = id_token_alg(body, policy)?;
        let jwks = jwks(body, auth_method)?;
        check_auth_signing_alg(body, auth_method)?;
        let client_name = client_name(body)?;
        let require_mfa = flag(body, "require_mfa", "require_mfa must be a boolean")?;
        let dpop_bound_access_tokens = flag(
            body,
            "dpop_bound_access_tokens",
            "dpop_bound_access_tokens must be a boolean",
        )?;
        let require_pushed_authorization_requests = flag(
            body,
            "require_pushed_authorization_requests",
            "require_pushed_authorization_requests must be a boolean",
        )?;
        let resources = resources(body, policy)?;
        Ok(Self {
            client_name,
            application_type,
            token_endpoint_auth_method: auth_method,
            grant_types,
            response_types,
            redirect_uris,
            post_logout_redirect_uris,
            scopes,
            id_token_signed_response_alg,
            jwks,
            require_mfa,
            dpop_bound_access_tokens,
            require_pushed_authorization_requests,
            resources,
        })
    }

    /// The metadata of a stored client.
    pub fn of_client(client: &Client) -> Self {
        Self {
            client_name: client.name.clone(),
            application_type: client.application_type,
            token_endpoint_auth_method: client.token_endpoint_auth_method,
            grant_types: client.grant_types.clone(),
            response_types: client.response_types.clone(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            scopes: client.scopes.clone(),
            id_token_signed_response_alg: client.id_token_signed_response_alg,
            jwks: client.jwks.clone(),
            require_mfa: client.require_mfa,
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
            resources: Some(client.resources.clone()),
        }
    }

    /// Applies this metadata to `client`, keeping its id, its registration time and — when
    /// the method still uses one — its secret.
    pub(super) fn apply_to(self, client: &mut Client) {
        client.name = if self.client_name.is_empty() {
            client.id.0.clone()
        } else {
            self.client_name
        };
        client.client_type = self.token_endpoint_auth_method.client_type();
        client.application_type = self.application_type;
        client.token_endpoint_auth_method = self.token_endpoint_auth_method;
        client.grant_types = self.grant_types;
        client.response_types = self.response_types;
        client.redirect_uris = self.redirect_uris;
        client.post_logout_redirect_uris = self.post_logout_redirect_uris;
        client.scopes = self.scopes;
        client.id_token_signed_response_alg = self.id_token_signed_response_alg;
        client.jwks = self.jwks;
        client.require_mfa = self.require_mfa;
        client.dpop_bound_access_tokens = self.dpop_bound_access_tokens;
        client.require_pushed_authorization_requests = self.require_pushed_authorization_requests;
        if let Some(resources) = self.resources {
            client.resources = resources;
        }
        if !self.token_endpoint_auth_method.uses_secret() {
            client.secret_hash = None;
        }
    }

    /// Replaces every metadata field of a stored client (RFC 7592 §2.2 semantics): a client
    /// that moves to a secret-based method from one without gets a new secret, returned to be
    /// shown once; one that moves away from it loses its secret.
    pub fn replace_on(self, client: &mut Client, secrets: &dyn SecretGenerator) -> Option<String> {
        let issue_secret =
            self.token_endpoint_auth_method.uses_secret() && client.secret_hash.is_none();
        let client_secret = issue_secret.then(|| secrets.token());
        if let Some(secret) = &client_secret {
            client.secret_hash = Some(TokenHash::of(secret));
        }
        self.apply_to(client);
        client_secret
    }
}

fn grant_types(body: &Map<String, Value>) -> Result<Vec<GrantType>, OAuthError> {
    const WRONG: &str = "grant_types must be an array of strings";
    let Some(requested) = strings(body, "grant_types", WRONG)? else {
        // RFC 7591 §2: the default is authorization_code.
        return Ok(vec![GrantType::AuthorizationCode]);
    };
    if requested.is_empty() {
        return Err(metadata_error(
            "grant_types must name at least one grant type",
        ));
    }
    let mut grants: Vec<GrantType> = Vec::new();
    for grant in requested {
        let grant = GrantType::parse(&grant).map_err(|_| {
            metadata_error(
                "grant_types may contain only authorization_code, refresh_token, client_credentials and urn:ietf:params:oauth:grant-type:device_code",
            )
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

fn response_types(
    body: &Map<String, Value>,
    grants: &[GrantType],
) -> Result<Vec<String>, OAuthError> {
    const WRONG: &str = "response_types must be an array of strings";
    let uses_code = grants.contains(&GrantType::AuthorizationCode);
    let requested = match strings(body, "response_types", WRONG)? {
        Some(types) => types,
        // RFC 7591 §2 defaults to code; a client without the code grant has no response type.
        None if uses_code => vec!["code".into()],
        None => vec![],
    };
    if requested.iter().any(|t| t != "code") {
        return Err(metadata_error("response_types may contain only code"));
    }
    // RFC 7591 §2.1: `code` and `authorization_code` come together or not at all.
    let has_code = !requested.is_empty();
    if uses_code != has_code {
        return Err(metadata_error(
            "response_type code and grant_type authorization_code must be registered together",
        ));
    }
    Ok(if uses_code {
        vec!["code".into()]
    } else {
        vec![]
    })
}

fn check_grant_consistency(
    grants: &[GrantType],
    method: TokenEndpointAuthMethod,
) -> Result<(), OAuthError> {
    let has = |g: GrantType| grants.contains(&g);
    // A user grant is what a refresh token continues: the code's, or a device's (RFC 8628 §3.5).
    if has(GrantType::RefreshToken)
        && !has(GrantType::AuthorizationCode)
        && !has(GrantType::DeviceCode)
    {
        return Err(metadata_error(
            "refresh_token is issued only with authorization_code or the device_code grant; register one of them too",
        ));
    }
    if has(GrantType::ClientCredentials) && method == TokenEndpointAuthMethod::None {
        return Err(metadata_error(
            "client_credentials is for confidential clients; choose a token_endpoint_auth_method other than none",
        ));
    }
    Ok(())
}

fn redirect_uris(
    body: &Map<String, Value>,
    application_type: ApplicationType,
    grants: &[GrantType],
) -> Result<Vec<String>, OAuthError> {
    let raw = strings(
        body,
        "redirect_uris",
        "redirect_uris must be an array of strings",
    )?
    .unwrap_or_default();
    let uses_code = grants.contains(&GrantType::AuthorizationCode);
    if uses_code && raw.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    if !uses_code && !raw.is_empty() {
        return Err(metadata_error(
            "redirect_uris are used only by the authorization_code grant",
        ));
    }
    let mut uris: Vec<String> = Vec::with_capacity(raw.len());
    for uri in raw {
        let uri = RedirectUri::parse_for_registration(&uri, application_type)?.into_string();
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

fn post_logout_redirect_uris(
    body: &Map<String, Value>,
    application_type: ApplicationType,
) -> Result<Vec<String>, OAuthError> {
    let raw = strings(
        body,
        "post_logout_redirect_uris",
        "post_logout_redirect_uris must be an array of strings",
    )?
    .unwrap_or_default();
    let mut uris: Vec<String> = Vec::with_capacity(raw.len());
    for uri in raw {
        // The same rules as redirect URIs; the error names the member.
        let uri = RedirectUri::parse_for_registration(&uri, application_type)
            .map_err(|e| {
                OAuthError::new(
                    ErrorCode::InvalidClientMetadata,
                    format!("post_logout_redirect_uris: {}", e.description),
                )
            })?
            .into_string();
        if !uris.contains(&uri) {
            uris.push(uri);
        }
    }
    Ok(uris)
}

fn scopes(
    body: &Map<String, Value>,
    policy: &RegistrationPolicy,
) -> Result<Vec<String>, OAuthError> {
    let Some(raw) = string(body, "scope", "scope must be a space-separated string")? else {
        return Ok(vec![]);
    };
    if raw.trim().is_empty() {
        return Ok(vec![]);
    }
    let set = ScopeSet::parse(&raw).map_err(|_| {
        metadata_error("scope must be space-separated scope tokens (RFC 6749 §3.3)")
    })?;
    for scope in set.iter() {
        let allowed = STANDARD_SCOPES.contains(&scope)
            || policy.is_operator
            || (!RESERVED_SCOPES.contains(&scope)
                && policy.allowed_scopes.iter().any(|s| s == scope));
        if !allowed {
            return Err(metadata_error(
                "scope names a scope this server does not offer to self-registered clients",
            ));
        }
    }
    Ok(set.into_vec())
}

/// `resources`: the operator's to set (see the module documentation).
fn resources(
    body: &Map<String, Value>,
    policy: &RegistrationPolicy,
) -> Result<Option<Vec<String>>, OAuthError> {
    let listed = strings(
        body,
        "resources",
        "resources must be an array of absolute URIs",
    )?
    .unwrap_or_default();
    if !policy.is_operator {
        if listed.is_empty() {
            return Ok(None);
        }
        return Err(metadata_error(
            "resources are set by the operator, not by dynamic registration",
        ));
    }
    let mut resources: Vec<String> = Vec::with_capacity(listed.len());
    for uri in listed {
        crate::resource::check_indicator(&uri).map_err(|_| {
            metadata_error("each resource must be an absolute URI without a fragment")
        })?;
        if !resources.contains(&uri) {
            resources.push(uri);
        }
    }
    Ok(Some(resources))
}

fn id_token_alg(
    body: &Map<String, Value>,
    policy: &RegistrationPolicy,
) -> Result<Option<SigningAlgorithm>, OAuthError> {
    let Some(raw) = string(
        body,
        "id_token_signed_response_alg",
        "id_token_signed_response_alg must be a string",
    )?
    else {
        return Ok(None);
    };
    match SigningAlgorithm::parse(&raw) {
        Some(alg) if policy.signing_algorithms.contains(&alg) => Ok(Some(alg)),
        // `none` and HMAC are refused like any other unpublished algorithm (OIDC Core §10.1,
        // RFC 8725 §3.1): every ID token is signed with a key in our JWKS.
        _ => Err(metadata_error(
            "id_token_signed_response_alg must be one of the algorithms in the discovery document",
        )),
    }
}

fn jwks(
    body: &Map<String, Value>,
    method: TokenEndpointAuthMethod,
) -> Result<Option<String>, OAuthError> {
    let document = match body.get("jwks") {
        None | Some(Value::Null) => None,
        Some(document) => Some(document),
    };
    match (method, document) {
        (TokenEndpointAuthMethod::PrivateKeyJwt, None) => Err(metadata_error(
            "private_key_jwt needs the client's public keys in jwks",
        )),
        (TokenEndpointAuthMethod::PrivateKeyJwt, Some(document)) => {
            ClientJwks::parse(document)?;
            Ok(Some(document.to_string()))
        }
        (_, None) => Ok(None),
        (_, Some(_)) => Err(metadata_error(
            "jwks is used only with token_endpoint_auth_method private_key_jwt",
        )),
    }
}

fn check_auth_signing_alg(
    body: &Map<String, Value>,
    method: TokenEndpointAuthMethod,
) -> Result<(), OAuthError> {
    let Some(raw) = string(
        body,
        "token_endpoint_auth_signing_alg",
        "token_endpoint_auth_signing_alg must be a string",
    )?
    else {
        return Ok(());
    };
    if method != TokenEndpointAuthMethod::PrivateKeyJwt || SigningAlgorithm::parse(&raw).is_none() {
        return Err(metadata_error(
            "token_endpoint_auth_signing_alg must be RS256, ES256 or EdDSA, with private_key_jwt",
        ));
    }
    Ok(())
}

fn client_name(body: &Map<String, Value>) -> Result<String, OAuthError> {
    let name = string(body, "client_name", "client_name must be a string")?.unwrap_or_default();
    let name = name.trim();
    if name.chars().count() > MAX_CLIENT_NAME_CHARS {
        return Err(metadata_error(
            "client_name may have at most 100 characters",
        ));
    }
    if check_shown_text(name).is_err() {
        return Err(metadata_error(
            "client_name must not contain control or invisible formatting characters \
             (bidi overrides, zero-width characters, soft hyphens)",
        ));
    }
    Ok(name.to_owned())
}

impl ClientMetadata {
    /// A new client with this metadata (RFC 7591 §3.2.1): a fresh `client_id`, a secret when
    /// the method uses one, and — for dynamic registration — a registration access token
    /// (RFC 7592 §3). Nothing is stored yet.
    pub fn into_new_client(
        self,
        secrets: &dyn SecretGenerator,
        now: DateTime<Utc>,
        with_registration_access_token: bool,
    ) -> Registered {
        let client_secret = self
            .token_endpoint_auth_method
            .uses_secret()
            .then(|| secrets.token());
        let registration_access_token = with_registration_access_token.then(|| secrets.token());
        let mut client = Client {
            id: ClientId(secrets.token()),
            name: String::new(),
            client_type: ClientType::Confidential,
            application_type: self.application_type,
            secret_hash: client_secret.as_deref().map(TokenHash::of),
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            grant_types: vec![],
            response_types: vec![],
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            scopes: vec![],
            access_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            id_token_signed_response_alg: None,
            registration_access_token_hash: registration_access_token.as_deref().map(TokenHash::of),
            jwks: None,
            require_mfa: false,
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: false,
            resources: vec![],
            created_at: now,
        };
        self.apply_to(&mut client);
        Registered {
            client,
            client_secret,
            registration_access_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dcr() -> RegistrationPolicy {
        RegistrationPolicy {
            is_operator: false,
            allowed_scopes: vec!["api:read".into()],
            signing_algorithms: vec![SigningAlgorithm::RS256, SigningAlgorithm::ES256],
        }
    }

    fn operator() -> RegistrationPolicy {
        RegistrationPolicy {
            is_operator: true,
            ..dcr()
        }
    }

    fn merged(extra: Value) -> Value {
        let mut base = json!({"redirect_uris": ["https://rp.example/cb"]});
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        base
    }

    #[test]
    fn a_minimal_registration_gets_the_rfc_7591_defaults() {
        let m = ClientMetadata::from_request(&merged(json!({})), &dcr()).unwrap();
        assert_eq!(
            m.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic
        );
        assert_eq!(m.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(m.response_types, ["code"]);
        assert_eq!(m.application_type, ApplicationType::Web);
        assert_eq!(m.redirect_uris, ["https://rp.example/cb"]);
        assert!(m.scopes.is_empty() && m.client_name.is_empty());
    }

    #[test]
    fn a_machine_client_needs_no_redirect_uri_and_gets_no_response_type() {
        let body = json!({"grant_types": ["client_credentials"], "scope": "api:read"});
        let m = ClientMetadata::from_request(&body, &dcr()).unwrap();
        assert!(m.response_types.is_empty() && m.redirect_uris.is_empty());
        assert_eq!(m.scopes, ["api:read"]);
    }

    #[test]
    fn a_device_only_public_client_needs_no_redirect_uri_and_may_refresh() {
        let body = json!({
            "grant_types": ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        });
        let m = ClientMetadata::from_request(&body, &dcr()).unwrap();
        assert_eq!(
            m.grant_types,
            [GrantType::DeviceCode, GrantType::RefreshToken]
        );
        assert!(m.response_types.is_empty() && m.redirect_uris.is_empty());
        let alone = json!({"grant_types": ["refresh_token"]});
        let refused = ClientMetadata::from_request(&alone, &dcr()).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidClientMetadata);
    }

    #[test]
    fn every_invalid_metadata_kind_is_refused_with_its_rfc_7591_code() {
        use ErrorCode::{InvalidClientMetadata as Meta, InvalidRedirectUri as Uri};
        let cases: Vec<(&str, Value, ErrorCode)> = vec![
            ("not an object", json!(["x"]), Meta),
            (
                "fragment",
                json!({"redirect_uris": ["https://rp.example/cb#f"]}),
                Uri,
            ),
            (
                "javascript",
                json!({"redirect_uris": ["javascript:alert(1)"]}),
                Uri,
            ),
            (
                "http web",
                json!({"redirect_uris": ["http://rp.example/cb"]}),
                Uri,
            ),
            (
                "wildcard",
                json!({"redirect_uris": ["https://*.rp.example/cb"]}),
                Uri,
            ),
            ("no redirect uri", json!({"redirect_uris": []}), Uri),
            ("uris not strings", json!({"redirect_uris": [1]}), Meta),
            (
                "21 uris",
                json!({"redirect_uris": vec!["https://rp.example/cb"; 21]}),
                Meta,
            ),
            (
                "token response",
                merged(json!({"response_types": ["token"]})),
                Meta,
            ),
            (
                "id_token response",
                merged(json!({"response_types": ["code id_token"]})),
                Meta,
            ),
            (
                "implicit",
                merged(json!({"grant_types": ["implicit"]})),
                Meta,
            ),
            (
                "password",
                merged(json!({"grant_types": ["password"]})),
                Meta,
            ),
            ("no grant", merged(json!({"grant_types": []})), Meta),
            (
                "refresh alone",
                json!({"grant_types": ["refresh_token"]}),
                Meta,
            ),
            (
                "code without grant",
                json!({"grant_types": ["client_credentials"], "response_types": ["code"]}),
                Meta,
            ),
            (
                "uris without code",
                json!({"grant_types": ["client_credentials"], "redirect_uris": ["https://rp.example/cb"]}),
                Meta,
            ),
            (
                "public machine",
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
                Meta,
            ),
            (
                "client_secret_jwt",
                merged(json!({"token_endpoint_auth_method": "client_secret_jwt"})),
                Meta,
            ),
            (
                "unknown method",
                merged(json!({"token_endpoint_auth_method": "tls_client_auth"})),
                Meta,
            ),
            (
                "alg none",
                merged(json!({"id_token_signed_response_alg": "none"})),
                Meta,
            ),
            (
                "alg HS256",
                merged(json!({"id_token_signed_response_alg": "HS256"})),
                Meta,
            ),
            (
                "unpublished alg",
                merged(json!({"id_token_signed_response_alg": "EdDSA"})),
                Meta,
            ),
            (
                "application type",
                merged(json!({"application_type": "desktop"})),
                Meta,
            ),
            (
                "jwks_uri",
                merged(json!({"jwks_uri": "https://rp.example/jwks"})),
                Meta,
            ),
            (
                "logo_uri",
                merged(json!({"logo_uri": "http://169.254.169.254/"})),
                Meta,
            ),
            (
                "sector uri",
                merged(json!({"sector_identifier_uri": "https://rp.example/s.json"})),
                Meta,
            ),
            (
                "request_uris",
                merged(json!({"request_uris": ["https://rp.example/r"]})),
                Meta,
            ),
            (
                "pairwise",
                merged(json!({"subject_type": "pairwise"})),
                Meta,
            ),
            (
                "encrypted id token",
                merged(json!({"id_token_encrypted_response_alg": "RSA-OAEP"})),
                Meta,
            ),
            (
                "roles scope",
                merged(json!({"scope": "openid roles"})),
                Meta,
            ),
            (
                "unlisted scope",
                merged(json!({"scope": "api:admin"})),
                Meta,
            ),
            ("bad scope grammar", merged(json!({"scope": "a\\b"})), Meta),
            (
                "private_key_jwt without jwks",
                merged(json!({"token_endpoint_auth_method": "private_key_jwt"})),
                Meta,
            ),
            (
                "jwks with a secret",
                merged(json!({"jwks": {"keys": []}})),
                Meta,
            ),
            (
                "private jwks",
                merged(
                    json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}}),
                ),
                Meta,
            ),
            (
                "bad logout uri",
                merged(json!({"post_logout_redirect_uris": ["https://rp.example/bye#x"]})),
                Meta,
            ),
            (
                "long name",
                merged(json!({"client_name": "x".repeat(101)})),
                Meta,
            ),
            (
                "control in name",
                merged(json!({"client_name": "a\u{7}b"})),
                Meta,
            ),
            ("name not a string", merged(json!({"client_name": 7})), Meta),
            (
                "require_mfa as a string",
                merged(json!({"require_mfa": "true"})),
                Meta,
            ),
            (
                "require_mfa as a number",
                merged(json!({"require_mfa": 1})),
                Meta,
            ),
            (
                "dpop_bound_access_tokens as a string",
                merged(json!({"dpop_bound_access_tokens": "true"})),
                Meta,
            ),
            (
                "require_pushed_authorization_requests as a number",
                merged(json!({"require_pushed_authorization_requests": 1})),
                Meta,
            ),
        ];
        for (name, body, code) in cases {
            let err = ClientMetadata::from_request(&body, &dcr()).unwrap_err();
            assert_eq!(err.code, code, "{name}: {err}");
        }
    }

    /// docs/threat-model.md RG-08: the consent page shows `client_name`; a bidi override or a
    /// zero-width character would make it read as another name.
    #[test]
    fn a_client_name_with_a_format_or_control_character_is_invalid_client_metadata() {
        for hidden in [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{FEFF}',
            '\u{2060}',
            '\u{00AD}',
            '\u{061C}',
            '\u{E0041}',
            '\u{0007}',
            '\u{2028}',
        ] {
            let body = merged(json!({ "client_name": format!("Wastry{hidden}App") }));
            for policy in [dcr(), operator()] {
                let err = ClientMetadata::from_request(&body, &policy).unwrap_err();
                assert_eq!(
                    err.code,
                    ErrorCode::InvalidClientMetadata,
                    "U+{:04X}",
                    hidden as u32
                );
            }
        }
        let shown = merged(json!({"client_name": "Café Ünïcode 中文 — ok"}));
        assert_eq!(
            ClientMetadata::from_request(&shown, &dcr())
                .unwrap()
                .client_name,
            "Café Ünïcode 中文 — ok"
        );
    }

    #[test]
    fn the_operator_may_register_reserved_and_custom_scopes() {
        let body = merged(json!({"scope": "openid roles api:admin"}));
        let m = ClientMetadata::from_request(&body, &operator()).unwrap();
        assert_eq!(m.scopes, ["openid", "roles", "api:admin"]);
    }

    #[test]
    fn require_mfa_is_a_boolean_false_unless_given_and_replaced_on_update() {
        let absent = ClientMetadata::from_request(&merged(json!({})), &dcr()).unwrap();
        let null = ClientMetadata::from_request(&merged(json!({"require_mfa": null})), &dcr());
        assert!(!absent.require_mfa && !null.unwrap().require_mfa);
        let strict =
            ClientMetadata::from_request(&merged(json!({"require_mfa": true})), &dcr()).unwrap();
        assert!(strict.require_mfa);

        let registered = strict.into_new_client(&palisade_core::OsSecrets, Utc::now(), true);
        let mut client = registered.client.clone();
        assert!(client.require_mfa);
        assert_eq!(registered.to_response(None)["require_mfa"], json!(true));
        assert!(ClientMetadata::of_client(&client).require_mfa);
        // RFC 7592 §2.2: an update replaces every member; one without it turns it off.
        absent.replace_on(&mut client, &palisade_core::OsSecrets);
        assert!(!client.require_mfa);
    }

    #[test]
    fn dpop_and_par_requirements_are_booleans_false_unless_given_and_replaced_on_update() {
        let absent = ClientMetadata::from_request(&merged(json!({})), &dcr()).unwrap();
        assert!(!absent.dpop_bound_access_tokens && !absent.require_pushed_authorization_requests);
        let strict = ClientMetadata::from_request(
            &merged(json!({
                "dpop_bound_access_tokens": true,
                "require_pushed_authorization_requests": true,
            })),
            &dcr(),
        )
        .unwrap();
        let registered = strict.into_new_client(&palisade_core::OsSecrets, Utc::now(), true);
        let mut client = registered.client.clone();
        assert!(client.dpop_bound_access_tokens && client.require_pushed_authorization_requests);
        let response = registered.to_response(None);
        assert_eq!(response["dpop_bound_access_tokens"], json!(true));
        assert_eq!(
            response["require_pushed_authorization_requests"],
            json!(true)
        );
        let read_back = ClientMetadata::of_client(&client);
        assert!(
            read_back.dpop_bound_access_tokens && read_back.require_pushed_authorization_requests
        );
        absent.replace_on(&mut client, &palisade_core::OsSecrets);
        assert!(!client.dpop_bound_access_tokens && !client.require_pushed_authorization_requests);
    }

    #[test]
    fn resources_are_the_operator_s_to_set_and_kept_on_a_self_update() {
        let api = json!({"resources": ["https://api.example/", "https://api.example/"]});
        let by_operator = ClientMetadata::from_request(&merged(api.clone()), &operator()).unwrap();
        assert_eq!(
            by_operator.resources,
            Some(vec!["https://api.example/".to_owned()])
        );
        let refused = ClientMetadata::from_request(&merged(api), &dcr()).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidClientMetadata);
        for bad in [
            json!({"resources": ["/relative"]}),
            json!({"resources": ["https://api.example/#f"]}),
            json!({"resources": "https://api.example/"}),
            json!({"resources": [1]}),
        ] {
            let refused = ClientMetadata::from_request(&merged(bad.clone()), &operator());
            assert_eq!(
                refused.unwrap_err().code,
                ErrorCode::InvalidClientMetadata,
                "{bad}"
            );
        }

        let mut client = by_operator
            .into_new_client(&palisade_core::OsSecrets, Utc::now(), true)
            .client;
        assert_eq!(client.resources, vec!["https://api.example/"]);
        // The client's own update (RFC 7592) cannot name them, and leaves them as they are...
        let own_update = ClientMetadata::from_request(&merged(json!({})), &dcr()).unwrap();
        assert_eq!(own_update.resources, None);
        own_update.replace_on(&mut client, &palisade_core::OsSecrets);
        assert_eq!(client.resources, vec!["https://api.example/"]);
        // ...while the operator's replaces them, as every other member.
        let operator_update =
            ClientMetadata::from_request(&merged(json!({})), &operator()).unwrap();
        operator_update.replace_on(&mut client, &palisade_core::OsSecrets);
        assert!(client.resources.is_empty());
    }

    #[test]
    fn caller_chosen_identifiers_are_ignored() {
        let body =
            merged(json!({"client_id": "mine", "client_secret": "mine", "contacts": ["a@b"]}));
        assert!(ClientMetadata::from_request(&body, &dcr()).is_ok());
    }
}
