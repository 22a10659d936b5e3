//! Resource indicators: RFC 8707 §2 (the `resource` parameter, its grammar and `invalid_target`),
//! §2.1 (at the authorization endpoint), §2.2 (at the token endpoint: narrowing a grant).
//!
//! A `resource` may be sent more than once; each value is an absolute URI without a fragment
//! (RFC 3986 §4.3). It must be a resource the server knows (the `[[resources]]` setting) and
//! one the client may ask for (`Client::resources`); values are compared byte for byte, as
//! configured, never normalised. What is granted is recorded in the grant; a token request may
//! name a subset of it (the access token's audience), never more.
//!
//! Scopes and resources: the access token's `scope` is what was granted, limited to the scopes
//! its audience accepts (the union over the resources named); a token for no resource keeps
//! every granted scope and the issuer as its audience, as before resource indicators.

use crate::scope::ScopeSet;
use palisade_core::model::Client;
use palisade_core::{ErrorCode, OAuthError};

/// At most this many `resource` values in one request.
pub const MAX_RESOURCES: usize = 10;
/// A resource indicator longer than this is refused.
const MAX_RESOURCE_BYTES: usize = 2048;

/// The name of the parameter; the one parameter that may repeat (RFC 8707 §2).
pub const RESOURCE: &str = "resource";

fn invalid_target(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidTarget, description)
}

/// A resource the server issues tokens for, and the scopes a token for it may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownResource {
    pub uri: String,
    pub scopes: Vec<String>,
}

/// One `[[resources]]` entry of the configuration: a resource and the scopes it accepts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceSetting {
    pub uri: String,
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl ResourceRegistry {
    /// The registry the settings describe: each `uri` an absolute URI without a fragment,
    /// listed once, each scope a valid scope token. `Err((index, reason))` names the entry.
    pub fn from_settings(settings: &[ResourceSetting]) -> Result<Self, (usize, String)> {
        let mut known: Vec<KnownResource> = Vec::with_capacity(settings.len());
        for (index, setting) in settings.iter().enumerate() {
            check_indicator(&setting.uri).map_err(|e| (index, e.description.into_owned()))?;
            if known.iter().any(|k| k.uri == setting.uri) {
                return Err((index, format!("{} is listed twice", setting.uri)));
            }
            let scopes = ScopeSet::from_tokens(setting.scopes.iter())
                .map_err(|e| (index, e.description.into_owned()))?;
            known.push(KnownResource {
                uri: setting.uri.clone(),
                scopes: scopes.into_vec(),
            });
        }
        Ok(Self::new(known))
    }
}

/// The server-wide list of known resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceRegistry {
    known: Vec<KnownResource>,
}

impl ResourceRegistry {
    pub fn new(known: Vec<KnownResource>) -> Self {
        Self { known }
    }

    fn find(&self, uri: &str) -> Option<&KnownResource> {
        self.known.iter().find(|r| r.uri == uri)
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// Whether `uri` is one of the known resources (byte for byte).
    pub fn knows(&self, uri: &str) -> bool {
        self.find(uri).is_some()
    }

    /// The scopes a token for `audience` may carry: `granted` limited to what the resources
    /// accept together; everything granted when there is no audience.
    pub fn scope_for(&self, granted: &ScopeSet, audience: &[String]) -> ScopeSet {
        if audience.is_empty() {
            return granted.clone();
        }
        let accepted = ScopeSet::from_tokens(
            audience
                .iter()
                .filter_map(|uri| self.find(uri))
                .flat_map(|r| r.scopes.iter()),
        )
        .unwrap_or_default();
        granted.intersection(&accepted)
    }
}

/// Checks the grammar of one resource indicator (RFC 8707 §2): an absolute URI, no fragment.
pub fn check_indicator(raw: &str) -> Result<(), OAuthError> {
    if raw.len() > MAX_RESOURCE_BYTES {
        return Err(invalid_target("a resource is too long"));
    }
    if raw.contains('#') {
        return Err(invalid_target("a resource must not contain a fragment"));
    }
    // `url` accepts only absolute URIs (a scheme is required); whitespace and other characters
    // RFC 3986 does not allow would be silently fixed by the parser, so they are refused here.
    if raw.bytes().any(|b| !b.is_ascii_graphic()) || url::Url::parse(raw).is_err() {
        return Err(invalid_target("a resource must be an absolute URI"));
    }
    Ok(())
}

/// The `resource` values of a request, each checked, without duplicates, in the order sent.
/// Empty values count as absent, as for every other parameter (RFC 6749 §3.1).
pub fn requested<'a>(values: impl Iterator<Item = &'a str>) -> Result<Vec<String>, OAuthError> {
    let mut resources: Vec<String> = Vec::new();
    for raw in values.filter(|v| !v.is_empty()) {
        check_indicator(raw)?;
        if !resources.iter().any(|r| r == raw) {
            resources.push(raw.to_owned());
        }
        if resources.len() > MAX_RESOURCES {
            return Err(invalid_target("too many resources in one request"));
        }
    }
    Ok(resources)
}

/// The resources `client` may ask for: each known to the server and listed for the client.
pub fn check_allowed(
    requested: &[String],
    client: &Client,
    registry: &ResourceRegistry,
) -> Result<(), OAuthError> {
    for uri in requested {
        if registry.find(uri).is_none() {
            return Err(invalid_target("a resource is not known to this server"));
        }
        if !client.resources.iter().any(|r| r == uri) {
            return Err(invalid_target(
                "this client may not ask for one of the resources",
            ));
        }
    }
    Ok(())
}

/// RFC 8707 §2.2: a token request may narrow the granted resources, never widen them. No
/// `resource` means every granted one.
pub fn narrowed(requested: Vec<String>, granted: &[String]) -> Result<Vec<String>, OAuthError> {
    if requested.is_empty() {
        return Ok(granted.to_vec());
    }
    if requested.iter().all(|r| granted.contains(r)) {
        Ok(requested)
    } else {
        Err(invalid_target(
            "a resource was not part of the grant; a token request may only narrow it",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indicators_are_absolute_uris_without_a_fragment() {
        let cases = [
            ("https://api.example/", true),
            ("https://api.example/v1?tenant=a", true),
            ("urn:example:api", true),
            ("/relative/path", false),
            ("api.example", false),
            ("https://api.example/#frag", false),
            ("https://api.example/#", false),
            ("https://api .example/", false),
            ("", false),
        ];
        for (raw, valid) in cases {
            assert_eq!(check_indicator(raw).is_ok(), valid, "{raw:?}");
            if !valid {
                assert_eq!(
                    check_indicator(raw).unwrap_err().code,
                    ErrorCode::InvalidTarget
                );
            }
        }
    }

    #[test]
    fn repeated_values_are_kept_once_and_empty_ones_ignored() {
        let got = requested(
            [
                "https://a.example/",
                "",
                "https://b.example/",
                "https://a.example/",
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(got, vec!["https://a.example/", "https://b.example/"]);
        let too_many: Vec<String> = (0..=MAX_RESOURCES)
            .map(|i| format!("https://api{i}.example/"))
            .collect();
        assert_eq!(
            requested(too_many.iter().map(String::as_str))
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn a_request_narrows_the_granted_resources_and_never_widens_them() {
        let granted = vec!["https://a.example/".to_owned(), "https://b.example/".into()];
        assert_eq!(narrowed(vec![], &granted).unwrap(), granted);
        assert_eq!(
            narrowed(vec!["https://b.example/".into()], &granted).unwrap(),
            vec!["https://b.example/"]
        );
        assert_eq!(
            narrowed(vec!["https://c.example/".into()], &granted)
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            narrowed(vec!["https://a.example/".into()], &[])
                .unwrap_err()
                .code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn the_token_scope_is_what_its_audience_accepts() {
        let registry = ResourceRegistry::new(vec![
            KnownResource {
                uri: "https://a.example/".into(),
                scopes: vec!["read".into()],
            },
            KnownResource {
                uri: "https://b.example/".into(),
                scopes: vec!["write".into()],
            },
        ]);
        let granted = ScopeSet::parse("openid read write").unwrap();
        let scope = |aud: &[&str]| {
            let aud: Vec<String> = aud.iter().map(|s| s.to_string()).collect();
            registry.scope_for(&granted, &aud).to_string()
        };
        assert_eq!(scope(&[]), "openid read write");
        assert_eq!(scope(&["https://a.example/"]), "read");
        assert_eq!(
            scope(&["https://a.example/", "https://b.example/"]),
            "read write"
        );
    }
}
