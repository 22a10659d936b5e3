//! Which web origins may call the endpoints a browser-based client uses (the Fetch standard's
//! CORS; RFC 9700 §2.1 and the OAuth 2.0 for Browser-Based Applications BCP for why a public
//! client needs it). The HTTP side is `crates/server/src/cors.rs`.
//!
//! The rule: an origin is allowed when it is the origin (RFC 6454 §4, serialised as in §6.2:
//! `scheme://host[:port]`, lower case, default port omitted) of a registered `http` or `https`
//! redirect URI of some client. A single-page application is served from the origin its
//! redirect URI names, so registering the redirect URI is registering the origin; nothing else
//! has to be configured, and removing the client removes the origin.
//!
//! - Private-use schemes (`com.example.app:/cb`) have an opaque origin, which serialises as
//!   `null`; `null` is never allowed (sandboxed frames, `file:` pages and redirects all send it).
//! - The incoming `Origin` header is compared byte for byte with the serialisations; browsers
//!   send exactly that form, so anything else (a trailing slash, upper case, an explicit
//!   default port) is not an origin a browser sends and is refused.
//! - A native client's loopback redirect URI (RFC 8252 §7.3) matches any port at `/authorize`;
//!   its origin here is the one port it names (usually the default). Native apps are not
//!   browsers and do not need CORS.

use palisade_core::model::Client;
use std::collections::HashSet;
use url::Url;

/// The serialised origin of a redirect URI, when it has a tuple origin (`http`, `https`).
pub fn origin_of(redirect_uri: &str) -> Option<String> {
    let url = Url::parse(redirect_uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let origin = url.origin();
    origin
        .is_tuple()
        .then(|| origin.ascii_serialization())
        .filter(|serialised| serialised != "null")
}

/// The origins allowed to make cross-origin calls, derived from every registered client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedOrigins(HashSet<String>);

impl AllowedOrigins {
    /// The origins of every client's `http`/`https` redirect URIs.
    pub fn of_clients<'a>(clients: impl IntoIterator<Item = &'a Client>) -> Self {
        Self(
            clients
                .into_iter()
                .flat_map(|client| client.redirect_uris.iter())
                .filter_map(|uri| origin_of(uri))
                .collect(),
        )
    }

    /// Whether `origin`, the value of an `Origin` request header, may call.
    pub fn allows(&self, origin: &str) -> bool {
        origin != "null" && self.0.contains(origin)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use palisade_core::model::{ApplicationType, ClientId, ClientType, TokenEndpointAuthMethod};

    fn client(redirect_uris: &[&str]) -> Client {
        Client {
            id: ClientId("c".into()),
            name: "C".into(),
            client_type: ClientType::Public,
            application_type: ApplicationType::Web,
            secret_hash: None,
            token_endpoint_auth_method: TokenEndpointAuthMethod::None,
            grant_types: vec![],
            response_types: vec![],
            redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
            post_logout_redirect_uris: vec![],
            scopes: vec![],
            access_token_ttl_secs: None,
            refresh_token_ttl_secs: None,
            id_token_signed_response_alg: None,
            registration_access_token_hash: None,
            jwks: None,
            require_mfa: false,
            dpop_bound_access_tokens: false,
            require_pushed_authorization_requests: false,
            resources: vec![],
            created_at: Utc::now(),
        }
    }

    #[test]
    fn the_origin_is_scheme_host_and_a_non_default_port_as_rfc_6454_serialises_it() {
        assert_eq!(
            origin_of("https://spa.example/cb?x=1").as_deref(),
            Some("https://spa.example")
        );
        assert_eq!(
            origin_of("https://spa.example:443/cb").as_deref(),
            Some("https://spa.example"),
            "the default port is omitted"
        );
        assert_eq!(
            origin_of("https://spa.example:8443/a/b").as_deref(),
            Some("https://spa.example:8443")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:5173/callback").as_deref(),
            Some("http://127.0.0.1:5173")
        );
        assert_eq!(
            origin_of("http://[::1]:8080/cb").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(
            origin_of("https://xn--bcher-kva.example/cb").as_deref(),
            Some("https://xn--bcher-kva.example")
        );
    }

    #[test]
    fn uris_without_a_tuple_origin_give_none() {
        for uri in [
            "com.example.app:/callback",
            "com.example.app://callback",
            "file:///tmp/cb",
            "data:text/html,x",
            "not a uri",
            "",
        ] {
            assert_eq!(origin_of(uri), None, "{uri}");
        }
    }

    #[test]
    fn only_origins_of_registered_redirect_uris_are_allowed_exactly_as_browsers_send_them() {
        let allowed = AllowedOrigins::of_clients(&[
            client(&["https://spa.example/cb", "com.example.app:/cb"]),
            client(&[
                "http://127.0.0.1:5173/callback",
                "https://spa.example/other",
            ]),
        ]);
        assert_eq!(allowed.len(), 2);
        assert!(allowed.allows("https://spa.example"));
        assert!(allowed.allows("http://127.0.0.1:5173"));
        for refused in [
            "https://spa.example/",
            "https://SPA.example",
            "https://spa.example:443",
            "http://spa.example",
            "https://evil.spa.example",
            "https://spa.example.evil",
            "http://127.0.0.1",
            "http://127.0.0.1:5174",
            "http://localhost:5173",
            "com.example.app:",
            "null",
            "*",
            "",
        ] {
            assert!(!allowed.allows(refused), "{refused}");
        }
    }

    #[test]
    fn no_clients_allow_nothing() {
        let allowed = AllowedOrigins::of_clients(&[]);
        assert!(allowed.is_empty());
        assert!(!allowed.allows("https://spa.example"));
    }
}
