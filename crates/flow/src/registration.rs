//! Client registration: RFC 7591 §2 (metadata), §2.1 (grant and response types agree), §3.1
//! (the request), §3.2.1 (the response), §3.2.2 (errors); RFC 7592 §2 (read, update, delete
//! with the registration access token); OIDC Registration §2 (`application_type`,
//! `id_token_signed_response_alg`, `jwks`), OIDC RP-Initiated Logout §3.1
//! (`post_logout_redirect_uris`).
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
//! | `post_logout_redirect_uris`, `scope`, `id_token_signed_response_alg`, `jwks`, `client_name` | `invalid_client_metadata` |
//!
//! Identifiers and secrets are never the caller's: `client_id`, `client_secret` and the
//! registration access token are generated here (256 bits from the OS CSPRNG), the secret
//! and the token are returned once and stored as SHA-256 hashes. Members a caller may not set
//! (`client_id`, `client_secret`, ...) and members Palisade does not implement (`client_uri`,
//! `contacts`, `software_statement`, ...) are ignored, as RFC 7591 §2 asks, and are absent from
//! the response, which lists what was registered.

use crate::client_assertion::ClientJwks;
use crate::redirect_uri::{ApplicationType, RedirectUri};
use crate::scope::{RESERVED_SCOPES, STANDARD_SCOPES, ScopeSet};
use crate::server::AuthorizationServer;
use chrono::{DateTime, Utc};
use palisade_core::model::{Client, ClientId, ClientType};
use palisade_core::ports::{InitialAccessTokenRepository, SigningAlgorithm};
use palisade_core::secret::SecretGenerator;
use palisade_core::{ErrorCode, OAuthError, StoreError, TokenHash};
use serde_json::{Map, Value, json};

/// A client may register at most this many redirect URIs (and as many post-logout URIs).
pub const MAX_REDIRECT_URIS: usize = 20;
/// `client_name` is shown on the consent page: one line of text.
pub const MAX_CLIENT_NAME_CHARS: usize = 100;

/// Members naming a URL the server would have to fetch (RFC 7591 §2, OIDC Registration §2).
/// Refused rather than fetched: no outbound request is ever made on a caller's behalf, which
/// removes server-side request forgery from registration altogether (THREATS RG-04).
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

/// `token_endpoint_auth_method` values Palisade accepts (OIDC Core §9, RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// A public client: no credentials (RFC 6749 §2.1).
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 4] = [
        Self::ClientSecretBasic,
        Self::ClientSecretPost,
        Self::PrivateKeyJwt,
        Self::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| {
                metadata_error(
                    "token_endpoint_auth_method must be client_secret_basic, client_secret_post, \
                 private_key_jwt or none",
                )
            })
    }

    /// Whether the client authenticates with a server-issued secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }

    pub fn client_type(self) -> ClientType {
        match self {
            Self::None => ClientType::Public,
            _ => ClientType::Confidential,
        }
    }
}

/// The grant types a client may register (RFC 9700 §2.1.2, §2.4: no implicit, no password).
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

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
    pub token_endpoint_auth_method: AuthMethod,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub id_token_signed_response_alg: Option<SigningAlgorithm>,
    /// The JWK Set as compact JSON text.
    pub jwks: Option<String>,
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
            Some(raw) => ApplicationType::parse(&raw)?,
            None => ApplicationType::Web,
        };
        let auth_method = match string(
            body,
            "token_endpoint_auth_method",
            "token_endpoint_auth_method must be a string",
        )? {
            Some(raw) => AuthMethod::parse(&raw)?,
            // RFC 7591 §2: the default is client_secret_basic.
            None => AuthMethod::ClientSecretBasic,
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
        })
    }

    /// The metadata of a stored client.
    pub fn of_client(client: &Client) -> Self {
        Self {
            client_name: client.name.clone(),
            application_type: ApplicationType::parse(&client.application_type).unwrap_or_default(),
            token_endpoint_auth_method: AuthMethod::parse(&client.token_endpoint_auth_method)
                .unwrap_or(AuthMethod::ClientSecretBasic),
            grant_types: client.grant_types.clone(),
            response_types: client.response_types.clone(),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            scopes: client.scopes.clone(),
            id_token_signed_response_alg: client
                .id_token_signed_response_alg
                .as_deref()
                .and_then(SigningAlgorithm::parse),
            jwks: client.jwks.clone(),
        }
    }

    /// Applies this metadata to `client`, keeping its id, its registration time and — when
    /// the method still uses one — its secret.
    fn apply_to(self, client: &mut Client) {
        client.name = if self.client_name.is_empty() {
            client.id.0.clone()
        } else {
            self.client_name
        };
        client.client_type = self.token_endpoint_auth_method.client_type();
        client.application_type = self.application_type.as_str().to_owned();
        client.token_endpoint_auth_method = self.token_endpoint_auth_method.as_str().to_owned();
        client.grant_types = self.grant_types;
        client.response_types = self.response_types;
        client.redirect_uris = self.redirect_uris;
        client.post_logout_redirect_uris = self.post_logout_redirect_uris;
        client.scopes = self.scopes;
        client.id_token_signed_response_alg = self
            .id_token_signed_response_alg
            .map(|a| a.as_str().to_owned());
        client.jwks = self.jwks;
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

fn grant_types(body: &Map<String, Value>) -> Result<Vec<String>, OAuthError> {
    const WRONG: &str = "grant_types must be an array of strings";
    // RFC 7591 §2: the default is authorization_code.
    let requested =
        strings(body, "grant_types", WRONG)?.unwrap_or_else(|| vec!["authorization_code".into()]);
    if requested.is_empty() {
        return Err(metadata_error(
            "grant_types must name at least one grant type",
        ));
    }
    let mut grants: Vec<String> = Vec::new();
    for grant in requested {
        if !GRANT_TYPES.contains(&grant.as_str()) {
            return Err(metadata_error(
                "grant_types may contain only authorization_code, refresh_token and client_credentials",
            ));
        }
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

fn response_types(body: &Map<String, Value>, grants: &[String]) -> Result<Vec<String>, OAuthError> {
    const WRONG: &str = "response_types must be an array of strings";
    let uses_code = grants.iter().any(|g| g == "authorization_code");
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

fn check_grant_consistency(grants: &[String], method: AuthMethod) -> Result<(), OAuthError> {
    let has = |g: &str| grants.iter().any(|x| x == g);
    if has("refresh_token") && !has("authorization_code") {
        return Err(metadata_error(
            "refresh_token is issued only with authorization_code; register both",
        ));
    }
    if has("client_credentials") && method == AuthMethod::None {
        return Err(metadata_error(
            "client_credentials is for confidential clients; choose a token_endpoint_auth_method other than none",
        ));
    }
    Ok(())
}

fn redirect_uris(
    body: &Map<String, Value>,
    application_type: ApplicationType,
    grants: &[String],
) -> Result<Vec<String>, OAuthError> {
    let raw = strings(
        body,
        "redirect_uris",
        "redirect_uris must be an array of strings",
    )?
    .unwrap_or_default();
    let uses_code = grants.iter().any(|g| g == "authorization_code");
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

fn jwks(body: &Map<String, Value>, method: AuthMethod) -> Result<Option<String>, OAuthError> {
    let document = match body.get("jwks") {
        None | Some(Value::Null) => None,
        Some(document) => Some(document),
    };
    match (method, document) {
        (AuthMethod::PrivateKeyJwt, None) => Err(metadata_error(
            "private_key_jwt needs the client's public keys in jwks",
        )),
        (AuthMethod::PrivateKeyJwt, Some(document)) => {
            ClientJwks::parse(document)?;
            Ok(Some(document.to_string()))
        }
        (_, None) => Ok(None),
        (_, Some(_)) => Err(metadata_error(
            "jwks is used only with token_endpoint_auth_method private_key_jwt",
        )),
    }
}

fn check_auth_signing_alg(body: &Map<String, Value>, method: AuthMethod) -> Result<(), OAuthError> {
    let Some(raw) = string(
        body,
        "token_endpoint_auth_signing_alg",
        "token_endpoint_auth_signing_alg must be a string",
    )?
    else {
        return Ok(());
    };
    if method != AuthMethod::PrivateKeyJwt || SigningAlgorithm::parse(&raw).is_none() {
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
    if name.chars().any(char::is_control) {
        return Err(metadata_error(
            "client_name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// A client just registered, updated, or given a new secret, with the secrets to show once.
#[derive(Debug, Clone)]
pub struct Registered {
    pub client: Client,
    /// Present when a secret was issued by this call.
    pub client_secret: Option<String>,
    /// Present when a registration access token was issued by this call.
    pub registration_access_token: Option<String>,
}

impl Registered {
    /// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): the registered
    /// metadata, the identifiers, and the secrets issued by this call (never stored ones:
    /// only their hashes are kept).
    pub fn to_response(&self, registration_client_uri: Option<&str>) -> Map<String, Value> {
        let client = &self.client;
        let mut body = Map::new();
        body.insert("client_id".into(), json!(client.id.0));
        body.insert(
            "client_id_issued_at".into(),
            json!(client.created_at.timestamp()),
        );
        if let Some(secret) = &self.client_secret {
            body.insert("client_secret".into(), json!(secret));
        }
        if client.secret_hash.is_some() {
            // RFC 7591 §3.2.1: 0 means the secret does not expire.
            body.insert("client_secret_expires_at".into(), json!(0));
        }
        if let Some(token) = &self.registration_access_token {
            body.insert("registration_access_token".into(), json!(token));
        }
        if let Some(uri) = registration_client_uri {
            body.insert("registration_client_uri".into(), json!(uri));
        }
        body.insert("client_name".into(), json!(client.name));
        body.insert("application_type".into(), json!(client.application_type));
        body.insert(
            "token_endpoint_auth_method".into(),
            json!(client.token_endpoint_auth_method),
        );
        body.insert("grant_types".into(), json!(client.grant_types));
        body.insert("response_types".into(), json!(client.response_types));
        body.insert("redirect_uris".into(), json!(client.redirect_uris));
        body.insert(
            "post_logout_redirect_uris".into(),
            json!(client.post_logout_redirect_uris),
        );
        if !client.scopes.is_empty() {
            body.insert("scope".into(), json!(client.scopes.join(" ")));
        }
        if let Some(alg) = &client.id_token_signed_response_alg {
            body.insert("id_token_signed_response_alg".into(), json!(alg));
        }
        if let Some(jwks) = client
            .jwks
            .as_deref()
            .and_then(|j| serde_json::from_str::<Value>(j).ok())
        {
            body.insert("jwks".into(), jwks);
        }
        body.insert("subject_type".into(), json!("public"));
        body
    }
}

/// Why an initial access token was refused; every case answers 401 `invalid_token`.
fn bad_initial_token() -> OAuthError {
    OAuthError::invalid_token("the initial access token is invalid, expired or used up")
}

/// Checks an initial access token (RFC 7591 §3) without spending it: it must exist, be
/// unexpired and have uses left.
pub async fn check_initial_access_token(
    tokens: &dyn InitialAccessTokenRepository,
    presented: Option<&str>,
    now: DateTime<Utc>,
) -> Result<TokenHash, OAuthError> {
    let Some(presented) = presented else {
        return Err(OAuthError::invalid_token(
            "this server requires an initial access token to register",
        ));
    };
    let hash = TokenHash::of(presented);
    let token = tokens
        .find_initial_access_token(&hash)
        .await?
        .ok_or_else(bad_initial_token)?;
    let is_expired = token.expires_at.is_some_and(|at| at <= now);
    let is_used_up = token.max_uses.is_some_and(|max| token.uses >= max);
    if is_expired || is_used_up {
        return Err(bad_initial_token());
    }
    Ok(hash)
}

/// Spends one use of a checked initial access token; losing a race for the last use is
/// `invalid_token` like any other refusal.
pub async fn spend_initial_access_token(
    tokens: &dyn InitialAccessTokenRepository,
    hash: &TokenHash,
    now: DateTime<Utc>,
) -> Result<(), OAuthError> {
    if tokens.consume_initial_access_token(hash, now).await? {
        Ok(())
    } else {
        Err(bad_initial_token())
    }
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
            application_type: String::new(),
            secret_hash: client_secret.as_deref().map(TokenHash::of),
            token_endpoint_auth_method: String::new(),
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

/// A new secret for a client that authenticates with one (operator action). Nothing is
/// stored yet; once the client is saved, the old secret no longer matches.
pub fn with_new_secret(
    mut client: Client,
    secrets: &dyn SecretGenerator,
) -> Result<Registered, OAuthError> {
    let method = AuthMethod::parse(&client.token_endpoint_auth_method)?;
    if !method.uses_secret() {
        return Err(OAuthError::invalid_request(
            "this client does not authenticate with a secret",
        ));
    }
    let secret = secrets.token();
    client.secret_hash = Some(TokenHash::of(&secret));
    Ok(Registered {
        client,
        client_secret: Some(secret),
        registration_access_token: None,
    })
}

impl AuthorizationServer {
    /// Registers a client (see [`ClientMetadata::into_new_client`]) and stores it.
    pub async fn register_client(
        &self,
        metadata: ClientMetadata,
        with_registration_access_token: bool,
    ) -> Result<Registered, OAuthError> {
        let registered = metadata.into_new_client(
            self.secrets.as_ref(),
            self.clock.now(),
            with_registration_access_token,
        );
        self.clients
            .insert_client(registered.client.clone())
            .await?;
        Ok(registered)
    }

    /// RFC 7592 §2: the client a registration access token manages. An unknown client, a
    /// client registered without a token, and a wrong token are the same 401 `invalid_token`,
    /// so the endpoint is no oracle for which client ids exist.
    pub async fn find_managed_client(
        &self,
        client_id: &str,
        registration_access_token: Option<&str>,
        client_ip: Option<std::net::IpAddr>,
    ) -> Result<Client, OAuthError> {
        let check = self.check_registration_access_token(client_id, registration_access_token);
        self.guard
            .attempt(
                crate::guard::CredentialKind::RegistrationToken,
                client_ip,
                check,
            )
            .await
            .map_err(crate::client_auth::guard_error)
    }

    async fn check_registration_access_token(
        &self,
        client_id: &str,
        registration_access_token: Option<&str>,
    ) -> Result<Client, OAuthError> {
        let refused = || OAuthError::invalid_token("the registration access token is invalid");
        let presented = TokenHash::of(registration_access_token.unwrap_or_default());
        let client = self
            .clients
            .find_client(&ClientId(client_id.to_owned()))
            .await?;
        match client {
            Some(client)
                if registration_access_token.is_some()
                    && client
                        .registration_access_token_hash
                        .as_ref()
                        .is_some_and(|stored| stored.is_same_as(&presented)) =>
            {
                Ok(client)
            }
            _ => Err(refused()),
        }
    }

    /// RFC 7592 §2.1: the client information response for a managed client. It must carry a
    /// registration access token (§3), and only the token's hash is stored, so each read
    /// issues a new token and the presented one stops working (§2.1 lets the server do so;
    /// the client must use the newest). Keycloak rotates the same way.
    pub async fn read_managed_client(&self, client: Client) -> Result<Registered, OAuthError> {
        self.save_managed_client(client, None).await
    }

    /// Saves a managed client with a new registration access token, and the answer that
    /// carries it (and `client_secret`, if one was just issued).
    async fn save_managed_client(
        &self,
        mut client: Client,
        client_secret: Option<String>,
    ) -> Result<Registered, OAuthError> {
        let token = self.secrets.token();
        client.registration_access_token_hash = Some(TokenHash::of(&token));
        self.clients
            .update_client(client.clone())
            .await
            .map_err(not_found_is_invalid_token)?;
        Ok(Registered {
            client,
            client_secret,
            registration_access_token: Some(token),
        })
    }

    /// RFC 7592 §2.2: replaces every metadata field of a managed client. The body must name
    /// the client (`client_id`) and may repeat its secret, which must then match; a new secret
    /// is issued only when the client moves to a secret-based method from one without. The
    /// answer carries a new registration access token; the presented one stops working.
    pub async fn update_managed_client(
        &self,
        mut client: Client,
        body: &Value,
        policy: &RegistrationPolicy,
    ) -> Result<Registered, OAuthError> {
        let named = body.get("client_id").and_then(Value::as_str);
        if named != Some(client.id.0.as_str()) {
            return Err(OAuthError::invalid_request(
                "the update must carry the client's own client_id",
            ));
        }
        if let Some(secret) = body.get("client_secret").filter(|v| !v.is_null()) {
            let matches = secret
                .as_str()
                .zip(client.secret_hash.as_ref())
                .is_some_and(|(secret, stored)| stored.matches(secret));
            if !matches {
                return Err(OAuthError::invalid_request(
                    "client_secret does not match the client's current secret",
                ));
            }
        }
        let metadata = ClientMetadata::from_request(body, policy)?;
        let client_secret = metadata.replace_on(&mut client, self.secrets.as_ref());
        // A new registration access token with every answer, as for a read.
        self.save_managed_client(client, client_secret).await
    }

    /// RFC 7592 §2.3: deletes a managed client with its consents and refresh tokens.
    pub async fn delete_managed_client(&self, client: &Client) -> Result<(), OAuthError> {
        self.clients
            .delete_client(&client.id)
            .await
            .map_err(not_found_is_invalid_token)
    }

    /// Issues a new secret for a client that authenticates with one (operator action); the
    /// old secret stops working at once on this node and within the client cache's lifetime
    /// on the others.
    pub async fn rotate_client_secret(&self, client: Client) -> Result<Registered, OAuthError> {
        let rotated = with_new_secret(client, self.secrets.as_ref())?;
        self.clients.update_client(rotated.client.clone()).await?;
        Ok(rotated)
    }
}

/// A client deleted between the token check and the change is as gone as an unknown one.
fn not_found_is_invalid_token(e: StoreError) -> OAuthError {
    match e {
        StoreError::NotFound => {
            OAuthError::invalid_token("the registration access token is invalid")
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(m.token_endpoint_auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(m.grant_types, ["authorization_code"]);
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
        ];
        for (name, body, code) in cases {
            let err = ClientMetadata::from_request(&body, &dcr()).unwrap_err();
            assert_eq!(err.code, code, "{name}: {err}");
        }
    }

    #[test]
    fn the_operator_may_register_reserved_and_custom_scopes() {
        let body = merged(json!({"scope": "openid roles api:admin"}));
        let m = ClientMetadata::from_request(&body, &operator()).unwrap();
        assert_eq!(m.scopes, ["openid", "roles", "api:admin"]);
    }

    #[test]
    fn caller_chosen_identifiers_are_ignored() {
        let body =
            merged(json!({"client_id": "mine", "client_secret": "mine", "contacts": ["a@b"]}));
        assert!(ClientMetadata::from_request(&body, &dcr()).is_ok());
    }
}
