//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document, as the MCP
//! authorization spec uses it): a `client_id` that is an HTTPS URL names a JSON document of
//! RFC 7591 client metadata, which Palisade fetches instead of looking up a registration.
//!
//! The rules, in order (docs/clients.md "Client ID metadata documents"):
//!
//! | step | refuses |
//! | --- | --- |
//! | [`DocumentUrl::parse`] | not `https` (plain `http` only to a loopback host, and only when allowed), no path, dot segments, a fragment, user info, a form other than the canonical one, longer than [`MAX_URL_BYTES`] |
//! | the fetcher ([`ClientDocumentFetcher`], in the server) | addresses that are private or loopback unless allowed, redirects to another origin, a body over the size cap, a slow host, a status other than 200, a type other than JSON |
//! | [`document_client`] | not a JSON object, `client_id` other than the URL (simple string comparison), `client_secret` or `client_secret_expires_at` present, a shared-secret authentication method, then every rule of [`ClientMetadata::from_request`] as for a self-registered client |
//!
//! A document that passes becomes a [`Client`] whose id is the URL, saved in the client table
//! (so consents, refresh-token families and the audit trail refer to it like any client) and
//! re-fetched when its cache lifetime ends. It is never operator-vetted: its consent page
//! names it unverified, with its host. A failure is remembered for a short while, so a client
//! id that fails cannot make the server fetch it on every request.

use crate::registration::{ClientMetadata, RegistrationPolicy};
use crate::server::{AuthorizationServer, ttl};
use chrono::Duration;
use palisade_core::model::{Client, ClientId, TokenEndpointAuthMethod, is_metadata_document_id};
use palisade_core::ports::{ClientDocumentFetcher, DocumentCaching, DocumentFetchError};
use palisade_core::{ErrorCode, OAuthError, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A client id longer than this is not resolved (it is stored and shown, and a URL this long is
/// not one a developer chose to be read).
pub const MAX_URL_BYTES: usize = 512;

/// What the operator allows (`[client_id_metadata_documents]`, docs/configuration.md).
#[derive(Debug, Clone)]
pub struct DocumentPolicy {
    /// Plain `http` URLs whose host is a loopback name or address (development and tests).
    pub allow_http_loopback: bool,
    /// How long a document without a usable `Cache-Control` stays fresh.
    pub default_freshness: Duration,
    /// The longest a document stays fresh, whatever its `max-age` says.
    pub max_freshness: Duration,
    /// How long a failure is remembered before the URL is fetched again.
    pub failure_memory: Duration,
    /// The rules a self-registered client's metadata follows; a document follows them too.
    pub registration: RegistrationPolicy,
    /// The resource indicators (RFC 8707) every document client may ask for: the operator's
    /// choice, never the document's (an MCP client names the MCP server it wants to reach).
    pub resources: Vec<String>,
}

/// Resolves document URLs into clients. Present on the engine only when the operator turned
/// the feature on.
pub struct ClientDocuments {
    pub fetcher: Arc<dyn ClientDocumentFetcher>,
    pub policy: DocumentPolicy,
}

/// A client id that is a document URL in its one canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentUrl(String);

impl DocumentUrl {
    /// Applies the draft's URL rules (§3) and ours: the string must be exactly what a URL
    /// parser would print for it, so no two spellings of one document exist.
    pub fn parse(raw: &str, allow_http_loopback: bool) -> Result<Self, OAuthError> {
        let refuse = |why: &str| {
            OAuthError::invalid_client(format!("the client_id URL is not usable: {why}"))
        };
        if raw.len() > MAX_URL_BYTES {
            return Err(refuse("it is longer than 512 bytes"));
        }
        let url = url::Url::parse(raw).map_err(|_| refuse("it is not a URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http_loopback && is_loopback_host(&url) => {}
            _ => return Err(refuse("it must use https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("it must not hold a user name or password"));
        }
        if url.fragment().is_some() {
            return Err(refuse("it must not have a fragment"));
        }
        if url.path() == "/" {
            return Err(refuse("it must have a path"));
        }
        // The parser removes dot segments; a raw string that had them differs from its
        // canonical form below, so this catches percent-encoded and other spellings too.
        if url.as_str() != raw {
            return Err(refuse(
                "it is not in canonical form (lower-case scheme and host, no default port, no dot segments)",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A document's body turned into the client it describes, or why it cannot be one.
pub fn document_client(
    url: &DocumentUrl,
    body: &[u8],
    policy: &DocumentPolicy,
    secrets: &dyn palisade_core::secret::SecretGenerator,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Client, OAuthError> {
    let refuse = |why: String| {
        OAuthError::invalid_client(format!(
            "the client metadata document at {} is not usable: {why}",
            url.as_str()
        ))
    };
    let mut document: Value =
        serde_json::from_slice(body).map_err(|_| refuse("it is not JSON".into()))?;
    let Value::Object(members) = &mut document else {
        return Err(refuse("it is not a JSON object".into()));
    };
    match members.get("client_id") {
        Some(Value::String(id)) if id == url.as_str() => {}
        Some(Value::String(_)) => {
            return Err(refuse(
                "its client_id is not the URL it was fetched from".into(),
            ));
        }
        _ => return Err(refuse("it has no client_id".into())),
    }
    // §4.1: there is no way to share a secret with a client nobody registered.
    if members.contains_key("client_secret") || members.contains_key("client_secret_expires_at") {
        return Err(refuse(
            "it holds a client_secret, which a metadata document must not".into(),
        ));
    }
    let method = match members.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => TokenEndpointAuthMethod::None,
        Some(Value::String(raw)) => TokenEndpointAuthMethod::parse(raw)
            .map_err(|e| refuse(format!("token_endpoint_auth_method: {}", e.0)))?,
        Some(_) => return Err(refuse("token_endpoint_auth_method must be a string".into())),
    };
    if method.uses_secret() {
        return Err(refuse(
            "token_endpoint_auth_method must be none or private_key_jwt".into(),
        ));
    }
    // RFC 7591's default is client_secret_basic; a document's is `none` (set it explicitly so
    // the shared validator sees what we decided).
    members.insert(
        "token_endpoint_auth_method".into(),
        Value::String(method.as_str().to_owned()),
    );
    let metadata = ClientMetadata::from_request(&document, &policy.registration)
        .map_err(|e| refuse(e.description.to_string()))?;
    let mut client = metadata.into_new_client(secrets, now, false).client;
    let shown_name_is_id = client.name == client.id.0;
    client.id = ClientId(url.as_str().to_owned());
    if shown_name_is_id {
        client.name = url.as_str().to_owned();
    }
    client.secret_hash = None;
    client.resources = policy.resources.clone();
    Ok(client)
}

/// What the ephemeral store remembers about one URL: fresh until, or failed until (with why).
#[derive(Serialize, Deserialize)]
enum Remembered {
    Fresh { until: i64 },
    Failed { until: i64, error: String },
}

fn memory_key(url: &DocumentUrl) -> String {
    let digest = Sha256::digest(url.as_str().as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("client-document:{hex}")
}

impl AuthorizationServer {
    /// The client `id` names, for the endpoints where a client first shows up (`/authorize`,
    /// and every endpoint that authenticates a client). A document URL is resolved when the
    /// feature is on; when it is off, no URL is a client, even one resolved while it was on
    /// (turning the feature off stops every such client at once).
    pub(crate) async fn find_client_by_id(&self, id: &str) -> Result<Option<Client>, OAuthError> {
        match (&self.client_documents, is_metadata_document_id(id)) {
            (Some(documents), true) => self.resolve_document(documents, id).await.map(Some),
            (None, true) => Ok(None),
            (_, false) => Ok(self.clients.find_client(&ClientId(id.to_owned())).await?),
        }
    }

    async fn resolve_document(
        &self,
        documents: &ClientDocuments,
        id: &str,
    ) -> Result<Client, OAuthError> {
        let url = DocumentUrl::parse(id, documents.policy.allow_http_loopback)?;
        let key = memory_key(&url);
        let now = self.clock.now();
        let remembered = self
            .ephemeral
            .get(&key)
            .await?
            .and_then(|bytes| serde_json::from_slice::<Remembered>(&bytes).ok());
        match remembered {
            Some(Remembered::Failed { until, error }) if until > now.timestamp() => {
                return Err(OAuthError::invalid_client(error));
            }
            Some(Remembered::Fresh { until }) if until > now.timestamp() => {
                if let Some(client) = self.clients.find_client(&ClientId(id.to_owned())).await? {
                    return Ok(client);
                }
            }
            _ => {}
        }
        match self.fetch_document(documents, &url).await {
            Ok((client, freshness)) => {
                self.save_document_client(&client).await?;
                if freshness > Duration::zero() {
                    let until = (now + freshness).timestamp();
                    self.remember(&key, &Remembered::Fresh { until }, freshness)
                        .await?;
                } else {
                    self.ephemeral.delete(&key).await?;
                }
                Ok(client)
            }
            Err(error) if error.code == ErrorCode::InvalidClient => {
                tracing::info!(client_id = id, reason = %error.description, "client metadata document refused");
                let memory = documents.policy.failure_memory;
                let until = (now + memory).timestamp();
                let failed = Remembered::Failed {
                    until,
                    error: error.description.to_string(),
                };
                self.remember(&key, &failed, memory).await?;
                Err(error)
            }
            Err(other) => Err(other),
        }
    }

    async fn fetch_document(
        &self,
        documents: &ClientDocuments,
        url: &DocumentUrl,
    ) -> Result<(Client, Duration), OAuthError> {
        let fetched = documents
            .fetcher
            .fetch(url.as_str())
            .await
            .map_err(|e| match e {
                DocumentFetchError::Refused(why) | DocumentFetchError::Unreachable(why) => {
                    OAuthError::invalid_client(format!(
                        "the client metadata document at {} could not be fetched: {why}",
                        url.as_str()
                    ))
                }
                // Not the document's fault: answered as 503 and not remembered.
                busy @ DocumentFetchError::Busy => {
                    OAuthError::new(ErrorCode::TemporarilyUnavailable, busy.to_string())
                }
            })?;
        let client = document_client(
            url,
            &fetched.body,
            &documents.policy,
            self.secrets.as_ref(),
            self.clock.now(),
        )?;
        let policy = &documents.policy;
        let freshness = match fetched.cache {
            DocumentCaching::DoNotCache => Duration::zero(),
            // Capped in seconds first: `Duration::seconds` panics beyond about 292 million years.
            DocumentCaching::MaxAge(secs) => Duration::seconds(
                i64::try_from(secs)
                    .unwrap_or(i64::MAX)
                    .min(policy.max_freshness.num_seconds()),
            ),
            DocumentCaching::Unspecified => policy.default_freshness,
        }
        .min(policy.max_freshness);
        Ok((client, freshness))
    }

    /// Saves (or refreshes) the client row a document stands for; two nodes resolving the same
    /// URL at once both end with the row.
    async fn save_document_client(&self, client: &Client) -> Result<(), OAuthError> {
        match self.clients.find_client(&client.id).await? {
            Some(stored) => {
                let mut updated = client.clone();
                // The first resolution's time is when this client first came to us.
                updated.created_at = stored.created_at;
                if updated != stored {
                    self.clients.update_client(updated).await?;
                }
                Ok(())
            }
            None => match self.clients.insert_client(client.clone()).await {
                Ok(()) => Ok(()),
                Err(StoreError::Conflict(_)) => {
                    Ok(self.clients.update_client(client.clone()).await?)
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    async fn remember(
        &self,
        key: &str,
        what: &Remembered,
        lifetime: Duration,
    ) -> Result<(), OAuthError> {
        let bytes = serde_json::to_vec(what).map_err(OAuthError::server_error)?;
        Ok(self.ephemeral.put(key, &bytes, ttl(lifetime)).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(raw: &str) -> Result<DocumentUrl, OAuthError> {
        DocumentUrl::parse(raw, false)
    }

    #[test]
    fn a_document_url_is_https_with_a_path_in_canonical_form() {
        assert!(url("https://app.example/oauth/client.json").is_ok());
        assert!(url("https://app.example:8443/c?v=1").is_ok());
        for (why, raw) in [
            ("plain http", "http://app.example/client.json"),
            ("no path", "https://app.example"),
            ("root path", "https://app.example/"),
            ("fragment", "https://app.example/c#x"),
            ("user info", "https://me@app.example/c"),
            ("password", "https://me:pw@app.example/c"),
            ("dot segment", "https://app.example/a/../c"),
            ("single dot", "https://app.example/./c"),
            ("upper-case host", "https://App.example/c"),
            ("default port", "https://app.example:443/c"),
            ("not a URL", "https//app.example/c"),
            ("another scheme", "ftp://app.example/c"),
        ] {
            let err = url(raw).expect_err(why);
            assert_eq!(err.code, ErrorCode::InvalidClient, "{why}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_URL_BYTES));
        assert!(url(&long).is_err());
    }

    #[test]
    fn plain_http_is_for_loopback_hosts_only_and_only_when_allowed() {
        assert!(DocumentUrl::parse("http://127.0.0.1:8080/c", true).is_ok());
        assert!(DocumentUrl::parse("http://localhost:8080/c", true).is_ok());
        assert!(DocumentUrl::parse("http://[::1]:8080/c", true).is_ok());
        assert!(DocumentUrl::parse("http://127.0.0.1:8080/c", false).is_err());
        assert!(DocumentUrl::parse("http://app.example/c", true).is_err());
        assert!(DocumentUrl::parse("http://10.0.0.1/c", true).is_err());
    }

    fn policy() -> DocumentPolicy {
        DocumentPolicy {
            allow_http_loopback: false,
            default_freshness: Duration::minutes(5),
            max_freshness: Duration::days(1),
            failure_memory: Duration::seconds(30),
            registration: RegistrationPolicy {
                is_operator: false,
                allowed_scopes: vec![],
                signing_algorithms: vec![palisade_core::ports::SigningAlgorithm::RS256],
            },
            resources: vec!["https://mcp.example/mcp".into()],
        }
    }

    const URL: &str = "https://mcp.example/client.json";

    fn client_from(document: Value) -> Result<Client, OAuthError> {
        document_client(
            &url(URL).unwrap(),
            document.to_string().as_bytes(),
            &policy(),
            &palisade_core::OsSecrets,
            chrono::Utc::now(),
        )
    }

    fn document() -> Value {
        json!({
            "client_id": URL,
            "client_name": "Example MCP client",
            "redirect_uris": ["https://mcp.example/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        })
    }

    #[test]
    fn a_valid_document_is_a_public_client_named_by_its_url() {
        let client = client_from(document()).unwrap();
        assert_eq!(client.id.0, URL);
        assert_eq!(client.name, "Example MCP client");
        assert_eq!(
            client.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
        assert!(client.secret_hash.is_none() && client.registration_access_token_hash.is_none());
        assert_eq!(client.redirect_uris, ["https://mcp.example/callback"]);
        assert!(client.is_metadata_document());
        assert_eq!(client.metadata_document_host(), Some("mcp.example"));
        assert_eq!(
            client.resources,
            ["https://mcp.example/mcp"],
            "the operator's list"
        );
    }

    #[test]
    fn a_document_cannot_choose_its_resources() {
        let mut claims = document();
        claims["resources"] = json!(["https://bank.example/api"]);
        assert_eq!(
            client_from(claims).unwrap_err().code,
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn a_document_that_does_not_name_itself_or_holds_a_secret_is_refused() {
        let mut other = document();
        other["client_id"] = json!("https://evil.example/client.json");
        let mut missing = document();
        missing.as_object_mut().unwrap().remove("client_id");
        let mut secret = document();
        secret["client_secret"] = json!("s3cret");
        let mut expires = document();
        expires["client_secret_expires_at"] = json!(0);
        let mut basic = document();
        basic["token_endpoint_auth_method"] = json!("client_secret_basic");
        let mut post = document();
        post["token_endpoint_auth_method"] = json!("client_secret_post");
        let mut reserved_scope = document();
        reserved_scope["scope"] = json!("openid roles");
        let mut fetched_member = document();
        fetched_member["jwks_uri"] = json!("https://mcp.example/jwks");
        for (why, doc) in [
            ("another client_id", other),
            ("no client_id", missing),
            ("a secret", secret),
            ("a secret expiry", expires),
            ("client_secret_basic", basic),
            ("client_secret_post", post),
            ("a reserved scope", reserved_scope),
            ("a member Palisade would fetch", fetched_member),
            ("not an object", json!(["client_id"])),
        ] {
            let err = client_from(doc).expect_err(why);
            assert_eq!(err.code, ErrorCode::InvalidClient, "{why}");
        }
        let not_json = document_client(
            &url(URL).unwrap(),
            b"<html>",
            &policy(),
            &palisade_core::OsSecrets,
            chrono::Utc::now(),
        );
        assert!(not_json.is_err());
    }

    #[test]
    fn a_document_without_a_name_is_shown_by_its_url() {
        let mut nameless = document();
        nameless.as_object_mut().unwrap().remove("client_name");
        assert_eq!(client_from(nameless).unwrap().name, URL);
    }
}
