//! Client authentication at the token, introspection and revocation endpoints: RFC 6749
//! §2.3.1 (`client_secret_basic`, `client_secret_post`), §2.1 and §3.2.1 (public clients send
//! only `client_id`), RFC 7523 §2.2 and RFC 7521 §4.2 (`private_key_jwt`, checked in
//! [`crate::client_assertion`]), OIDC Core §9 (method names).
//!
//! A client uses exactly the method it registered, and one method per request. Secrets are
//! compared as SHA-256 hashes in constant time; an unknown client costs the same hash, so a
//! wrong secret takes as long whether the client exists or not.

use crate::client_assertion::{JWT_BEARER_ASSERTION_TYPE, unverified_subject};
use crate::guard::{CredentialKind, GuardError};
use crate::server::AuthorizationServer;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use palisade_core::form_encoding;
use palisade_core::model::{Client, ClientType, TokenEndpointAuthMethod};
use palisade_core::{ErrorCode, OAuthError, Secret, TokenHash};
use std::net::IpAddr;

/// The credentials a request presented.
#[derive(Debug, Clone)]
pub enum ClientCredentials {
    /// `Authorization: Basic` with form-urlencoded id and secret (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: Secret },
    /// `client_id` and `client_secret` in the form body.
    Post { client_id: String, secret: Secret },
    /// `client_assertion` with `client_assertion_type` jwt-bearer (RFC 7523 §2.2); the
    /// client id is the assertion's (not yet verified) `sub`.
    Assertion {
        client_id: String,
        assertion: Secret,
    },
    /// Only `client_id`: a public client.
    Public { client_id: String },
}

impl ClientCredentials {
    /// Reads the credentials from the `Authorization` header and the form body. More than one
    /// method, or a malformed header, is `invalid_request`; none at all is `invalid_client`.
    pub fn from_request(
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<Self, OAuthError> {
        let body = |name: &str| {
            let mut values = form.iter().filter(move |(k, _)| k == name).map(|(_, v)| v);
            match (values.next(), values.next()) {
                (Some(_), Some(_)) => Err(OAuthError::invalid_request(format!(
                    "{name} was sent more than once"
                ))),
                (v, _) => Ok(v.filter(|v| !v.is_empty()).cloned()),
            }
        };
        let body_id = body("client_id")?;
        let body_secret = body("client_secret")?;
        let assertion = body("client_assertion")?;
        let assertion_type = body("client_assertion_type")?;
        if let Some(header) = authorization {
            let (client_id, secret) = parse_basic(header)?;
            if body_secret.is_some() || assertion.is_some() || assertion_type.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method per request",
                ));
            }
            if body_id.as_ref().is_some_and(|id| *id != client_id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            return Ok(Self::Basic {
                client_id,
                secret: Secret::new(secret),
            });
        }
        if let Some(assertion) = assertion {
            return Self::assertion(assertion, assertion_type, body_id, body_secret.is_some());
        }
        if assertion_type.is_some() {
            return Err(OAuthError::invalid_request(
                "client_assertion_type was sent without client_assertion",
            ));
        }
        match (body_id, body_secret) {
            (Some(client_id), Some(secret)) => Ok(Self::Post {
                client_id,
                secret: Secret::new(secret),
            }),
            (Some(client_id), None) => Ok(Self::Public { client_id }),
            (None, _) => Err(OAuthError::invalid_client(
                "client authentication is required",
            )),
        }
    }

    /// RFC 7523 §3: the assertion identifies the client by `sub`; a `client_id` sent beside
    /// it must agree (RFC 7521 §4.2).
    fn assertion(
        assertion: String,
        assertion_type: Option<String>,
        body_id: Option<String>,
        has_secret: bool,
    ) -> Result<Self, OAuthError> {
        if has_secret {
            return Err(OAuthError::invalid_request(
                "use one client authentication method per request",
            ));
        }
        match assertion_type.as_deref() {
            None => {
                return Err(OAuthError::invalid_request(
                    "client_assertion needs client_assertion_type",
                ));
            }
            Some(JWT_BEARER_ASSERTION_TYPE) => {}
            Some(_) => {
                return Err(OAuthError::invalid_client(
                    "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ));
            }
        }
        let client_id = unverified_subject(&assertion)
            .ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
        if body_id.is_some_and(|id| id != client_id) {
            return Err(OAuthError::invalid_client("client authentication failed"));
        }
        Ok(Self::Assertion {
            client_id,
            assertion: Secret::new(assertion),
        })
    }

    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { client_id, .. }
            | Self::Post { client_id, .. }
            | Self::Assertion { client_id, .. }
            | Self::Public { client_id } => client_id,
        }
    }

    /// The `token_endpoint_auth_method` this presentation corresponds to.
    pub fn method(&self) -> TokenEndpointAuthMethod {
        match self {
            Self::Basic { .. } => TokenEndpointAuthMethod::ClientSecretBasic,
            Self::Post { .. } => TokenEndpointAuthMethod::ClientSecretPost,
            Self::Assertion { .. } => TokenEndpointAuthMethod::PrivateKeyJwt,
            Self::Public { .. } => TokenEndpointAuthMethod::None,
        }
    }

    pub fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(header: &str) -> Result<(String, String), OAuthError> {
    let malformed = || OAuthError::invalid_client("malformed Basic credentials");
    let (scheme, encoded) = header.trim().split_once(' ').ok_or_else(malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(OAuthError::invalid_client(
            "only Basic client authentication is accepted in the Authorization header",
        ));
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // Strictly, as every other parameter: bytes that are not UTF-8 are refused, never read as
    // U+FFFD, and an `&` is part of the value, not the end of it.
    let unescape = |s: &str| form_encoding::decode(s.as_bytes()).map_err(|_| malformed());
    let id = unescape(id)?;
    if id.is_empty() {
        return Err(malformed());
    }
    Ok((id, unescape(secret)?))
}

impl AuthorizationServer {
    /// Authenticates the client (RFC 6749 §3.2.1) before anything else is looked at, under the
    /// credential guard: failures count against the client id, the source IP and its prefix,
    /// and past the limits the answer is 429 before any secret is compared. `also_read` is read
    /// in the guard's round trip to the store ([`crate::guard::CredentialGuard::attempt_reading`])
    /// and returned with the client.
    async fn authenticate_client(
        &self,
        credentials: &ClientCredentials,
        client_ip: Option<IpAddr>,
        also_read: &[&str],
    ) -> Result<(Client, Vec<Option<Vec<u8>>>), OAuthError> {
        self.guard
            .attempt_reading(
                CredentialKind::ClientSecret,
                client_ip,
                also_read,
                |read| async move { Ok((self.check_client_credentials(credentials).await?, read)) },
            )
            .await
            .map_err(guard_error)
    }

    async fn check_client_credentials(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<Client, OAuthError> {
        let failed = || OAuthError::invalid_client("client authentication failed");
        let client = self.find_client_by_id(credentials.client_id()).await?;
        // Hashed before the existence check, so an unknown client costs the same.
        let presented = match credentials {
            ClientCredentials::Basic { secret, .. } | ClientCredentials::Post { secret, .. } => {
                Some(TokenHash::of(secret.expose()))
            }
            ClientCredentials::Assertion { .. } | ClientCredentials::Public { .. } => None,
        };
        let Some(client) = client else {
            return Err(failed());
        };
        if client.token_endpoint_auth_method != credentials.method() {
            return Err(failed());
        }
        match (credentials, presented, &client.secret_hash) {
            (ClientCredentials::Public { .. }, None, _) => Ok(client),
            (ClientCredentials::Assertion { assertion, .. }, None, _) => {
                self.check_client_assertion(&client, assertion.expose())
                    .await?;
                Ok(client)
            }
            (_, Some(presented), Some(stored)) if presented.is_same_as(stored) => Ok(client),
            _ => Err(failed()),
        }
    }

    /// The start of every client-authenticated endpoint (token, introspection, revocation):
    /// no parameter repeated — checked first, so a refused request does not spend a client
    /// assertion's `jti` — then the presented credentials, of a confidential client only if
    /// `confidential` (RFC 7662 §2.1: introspection is for protected resources, never for
    /// public clients; a public client is `invalid_client`).
    pub(crate) async fn authenticate_form(
        &self,
        authorization_header: Option<&str>,
        form: &[(String, String)],
        client_ip: Option<IpAddr>,
        confidential: bool,
    ) -> Result<Client, OAuthError> {
        let (client, _) = self
            .authenticate_form_reading(authorization_header, form, client_ip, confidential, &[])
            .await?;
        Ok(client)
    }

    /// [`Self::authenticate_form`], also reading `also_read` from the ephemeral store in the
    /// same round trip as the attempt counters.
    pub(crate) async fn authenticate_form_reading(
        &self,
        authorization_header: Option<&str>,
        form: &[(String, String)],
        client_ip: Option<IpAddr>,
        confidential: bool,
        also_read: &[&str],
    ) -> Result<(Client, Vec<Option<Vec<u8>>>), OAuthError> {
        crate::token::check_no_repeats(form)?;
        let credentials = ClientCredentials::from_request(authorization_header, form)?;
        let (client, read) = self
            .authenticate_client(&credentials, client_ip, also_read)
            .await?;
        if confidential
            && (client.client_type != ClientType::Confidential
                || matches!(credentials, ClientCredentials::Public { .. }))
        {
            return Err(OAuthError::invalid_client(
                "this endpoint requires client authentication",
            ));
        }
        Ok((client, read))
    }
}

/// A throttled attempt is 429 with `Retry-After`; a failed one keeps its own error.
pub fn guard_error(error: GuardError) -> OAuthError {
    match error {
        GuardError::Throttled(t) => OAuthError::new(
            ErrorCode::TooManyAttempts,
            "too many failed attempts; try again later",
        )
        .with_retry_after(t.retry_after_secs()),
        GuardError::Failed(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64.
        let header = format!("Basic {}", STANDARD.encode("my%20client:p%3Ass+word"));
        let creds = ClientCredentials::from_request(Some(&header), &[]).unwrap();
        match creds {
            ClientCredentials::Basic { client_id, secret } => {
                assert_eq!(client_id, "my client");
                assert_eq!(secret.expose(), "p:ss word");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn basic_credentials_are_decoded_strictly_and_whole() {
        let basic = |raw: &[u8]| format!("Basic {}", STANDARD.encode(raw));
        // An `&` belongs to the secret (a lenient form parser ended the value there).
        for raw in [&b"c1:a&b"[..], b"c1:a%26b"] {
            match ClientCredentials::from_request(Some(&basic(raw)), &[]).unwrap() {
                ClientCredentials::Basic { secret, .. } => assert_eq!(secret.expose(), "a&b"),
                other => panic!("{other:?}"),
            }
        }
        // Bytes that are not UTF-8, percent-encoded or not, are refused, never read as U+FFFD.
        for raw in [&b"c1:%FF"[..], b"%C3%28:s1", b"c1:s%ED%A0%80"] {
            let error = ClientCredentials::from_request(Some(&basic(raw)), &[])
                .expect_err(&String::from_utf8_lossy(raw));
            assert_eq!(error.code, ErrorCode::InvalidClient);
        }
    }

    #[test]
    fn methods_are_told_apart_and_never_mixed() {
        let basic = format!("Basic {}", STANDARD.encode("c1:s1"));
        const JWT: &str = JWT_BEARER_ASSERTION_TYPE;
        // Only the shape matters here: the signature is checked against the client's keys.
        let assertion = format!(
            "{}.{}.sig",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256"}"#),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"c1","iss":"c1"}"#)
        );
        // (Authorization header, form body, method or error code)
        type Case<'a> = (
            Option<&'a str>,
            Vec<(String, String)>,
            Result<&'a str, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                None,
                form(&[("client_id", "c1"), ("client_secret", "s")]),
                Ok("client_secret_post"),
            ),
            (None, form(&[("client_id", "c1")]), Ok("none")),
            (None, form(&[]), Err("invalid_client")),
            (Some(&basic), form(&[]), Ok("client_secret_basic")),
            (
                Some(&basic),
                form(&[("client_id", "c1")]),
                Ok("client_secret_basic"),
            ),
            (
                Some(&basic),
                form(&[("client_secret", "s1")]),
                Err("invalid_request"),
            ),
            (
                Some(&basic),
                form(&[("client_id", "other")]),
                Err("invalid_request"),
            ),
            (Some("Bearer abc"), form(&[]), Err("invalid_client")),
            (Some("Basic !!!"), form(&[]), Err("invalid_client")),
            (
                None,
                form(&[("client_id", "a"), ("client_id", "b")]),
                Err("invalid_request"),
            ),
            (
                None,
                form(&[
                    ("client_assertion_type", JWT),
                    ("client_assertion", &assertion),
                ]),
                Ok("private_key_jwt"),
            ),
            (
                None,
                form(&[
                    ("client_id", "c1"),
                    ("client_assertion_type", JWT),
                    ("client_assertion", &assertion),
                ]),
                Ok("private_key_jwt"),
            ),
            (
                None,
                form(&[
                    ("client_id", "c2"),
                    ("client_assertion_type", JWT),
                    ("client_assertion", &assertion),
                ]),
                Err("invalid_client"),
            ),
            (
                None,
                form(&[("client_assertion", &assertion)]),
                Err("invalid_request"),
            ),
            (
                None,
                form(&[
                    ("client_assertion_type", "urn:x"),
                    ("client_assertion", &assertion),
                ]),
                Err("invalid_client"),
            ),
            (
                None,
                form(&[
                    ("client_assertion_type", JWT),
                    ("client_assertion", "garbage"),
                ]),
                Err("invalid_client"),
            ),
            (
                None,
                form(&[("client_assertion_type", JWT), ("client_id", "c1")]),
                Err("invalid_request"),
            ),
            (
                None,
                form(&[
                    ("client_secret", "s"),
                    ("client_assertion_type", JWT),
                    ("client_assertion", &assertion),
                ]),
                Err("invalid_request"),
            ),
            (
                Some(&basic),
                form(&[
                    ("client_assertion_type", JWT),
                    ("client_assertion", &assertion),
                ]),
                Err("invalid_request"),
            ),
        ];
        for (header, body, expected) in cases {
            let got = ClientCredentials::from_request(header, &body)
                .map(|c| c.method().as_str())
                .map_err(|e| e.code.as_str());
            assert_eq!(got, expected, "{header:?} {body:?}");
        }
    }
}
