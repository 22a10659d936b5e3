//! Scopes: RFC 6749 §3.3 (grammar and server policy), OIDC Core §3.1.2.1 (`openid`), §5.4
//! (`profile`, `email`) and §11 (`offline_access`).
//!
//! A request's `scope` is parsed into a [`ScopeSet`] (malformed: `invalid_scope`), then
//! [`check_requested`] keeps clients to the standard scopes and the ones they registered.
//! [`describe`] gives the consent page a sentence a person can understand for each scope.

use palisade_core::OAuthError;
use std::borrow::Cow;
use std::fmt;

/// OIDC Core §3.1.2.1: makes the request an OpenID Connect request (ID token, `sub`).
pub const OPENID: &str = "openid";
/// OIDC Core §5.4: name, preferred username and the other profile claims.
pub const PROFILE: &str = "profile";
/// OIDC Core §5.4: `email` and `email_verified`.
pub const EMAIL: &str = "email";
/// OIDC Core §11: a refresh token usable while the user is not present.
pub const OFFLINE_ACCESS: &str = "offline_access";
/// Palisade's role claims (RBAC). Reserved: its meaning is the server's, and a client gets it
/// only if registered for it.
pub const ROLES: &str = "roles";
/// Palisade's admin API: a user's access token is accepted there only with this scope (and then
/// with the permissions of the user's roles). Reserved: only clients registered for it.
pub const ADMIN: &str = "admin";

/// Scopes every client may request without registering them.
pub const STANDARD_SCOPES: [&str; 4] = [OPENID, PROFILE, EMAIL, OFFLINE_ACCESS];
/// Scopes whose meaning the server defines but which a client must be registered for.
pub const RESERVED_SCOPES: [&str; 2] = [ROLES, ADMIN];

/// A `scope` parameter longer than this is a malformed request (docs/threat-model.md IN-03).
pub const MAX_SCOPE_BYTES: usize = 2048;
/// At most this many scope tokens per request (docs/threat-model.md IN-03).
pub const MAX_SCOPE_TOKENS: usize = 64;

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII except
/// space, `"` and `\`.
fn is_scope_token_char(b: u8) -> bool {
    b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b)
}

/// A set of scope tokens, in the order first requested, without duplicates.
///
/// Equality is set equality: `openid email` equals `email openid`. Tokens are case-sensitive
/// (`OpenID` is not `openid`). Serialises as the space-separated string.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScopeSet(Vec<String>);

impl ScopeSet {
    pub fn empty() -> Self {
        Self::default()
    }

    /// Parses a `scope` parameter: space-separated scope tokens (RFC 6749 §3.3).
    ///
    /// Runs of spaces and leading or trailing spaces are tolerated; any other byte outside
    /// the token grammar (tab, newline, `"`, `\`, non-ASCII) is `invalid_scope`, as is a value
    /// with no token at all. A value over [`MAX_SCOPE_BYTES`] or [`MAX_SCOPE_TOKENS`] is
    /// `invalid_request`. Whether the scope was sent at all is the caller's question.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        if raw.len() > MAX_SCOPE_BYTES {
            return Err(OAuthError::invalid_request(
                "scope must be at most 2048 characters",
            ));
        }
        let set = Self::from_tokens(raw.split(' ').filter(|t| !t.is_empty()))?;
        if set.is_empty() {
            return Err(OAuthError::invalid_scope(
                "scope must name at least one scope",
            ));
        }
        Ok(set)
    }

    /// Builds a set from separate tokens (a stored grant, a client's registered scopes),
    /// checking each against the grammar and dropping duplicates.
    pub fn from_tokens<I, S>(tokens: I) -> Result<Self, OAuthError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut set = Vec::new();
        for (seen, token) in tokens.into_iter().enumerate() {
            if seen >= MAX_SCOPE_TOKENS {
                return Err(OAuthError::invalid_request(
                    "at most 64 scopes may be requested",
                ));
            }
            let token = token.as_ref();
            if token.is_empty() || !token.bytes().all(is_scope_token_char) {
                return Err(OAuthError::invalid_scope(
                    "a scope may contain only printable ASCII other than space, \" and \\",
                ));
            }
            if !set.iter().any(|t: &String| t == token) {
                set.push(token.to_owned());
            }
        }
        Ok(Self(set))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|t| t == scope)
    }

    /// Whether every scope here is also in `other` (the empty set is a subset of anything).
    pub fn is_subset_of(&self, other: &ScopeSet) -> bool {
        self.iter().all(|t| other.contains(t))
    }

    /// The scopes in both sets, in this set's order.
    pub fn intersection(&self, other: &ScopeSet) -> ScopeSet {
        Self(
            self.0
                .iter()
                .filter(|t| other.contains(t))
                .cloned()
                .collect(),
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens, for the `Vec<String>` fields of the core model.
    pub fn to_vec(&self) -> Vec<String> {
        self.0.clone()
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl PartialEq for ScopeSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.is_subset_of(other)
    }
}

impl Eq for ScopeSet {}

/// Space-joined, in request order: the `scope` of a token response.
impl fmt::Display for ScopeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

impl TryFrom<String> for ScopeSet {
    type Error = OAuthError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        if raw.is_empty() {
            return Ok(Self::empty());
        }
        Self::parse(&raw)
    }
}

impl From<ScopeSet> for String {
    fn from(set: ScopeSet) -> Self {
        set.to_string()
    }
}

/// Whether the client may ask for every scope in `requested`: each must be a standard scope
/// ([`STANDARD_SCOPES`]) or one in `client_registered`; otherwise `invalid_scope`
/// (RFC 6749 §3.3, §4.1.2.1). The description does not echo the scope.
pub fn check_requested(
    requested: &ScopeSet,
    client_registered: &[String],
) -> Result<(), OAuthError> {
    let is_allowed = |scope: &str| {
        STANDARD_SCOPES.contains(&scope) || client_registered.iter().any(|r| r == scope)
    };
    if requested.iter().all(is_allowed) {
        Ok(())
    } else {
        Err(OAuthError::invalid_scope(
            "a requested scope is not available to this client",
        ))
    }
}

/// What granting `scope` means, in words for the consent page.
///
/// Unknown scopes get `Access: <scope>`; the text is plain, so the template must escape it
/// (askama does).
pub fn describe(scope: &str) -> Cow<'static, str> {
    match scope {
        OPENID => "Sign you in and know who you are".into(),
        PROFILE => "See your name and username".into(),
        EMAIL => "See your email address".into(),
        OFFLINE_ACCESS => "Stay connected when you are not using the app".into(),
        ROLES => "See your roles".into(),
        ADMIN => "Administer this sign-in service with the permissions of your roles".into(),
        other => format!("Access: {other}").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_core::ErrorCode;

    fn set(raw: &str) -> ScopeSet {
        ScopeSet::parse(raw).unwrap()
    }

    #[test]
    fn a_scope_parameter_parses_into_ordered_distinct_tokens() {
        let cases: [(&str, &[&str]); 8] = [
            ("openid", &["openid"]),
            ("openid profile email", &["openid", "profile", "email"]),
            ("email openid email", &["email", "openid"]),
            ("openid  profile", &["openid", "profile"]),
            (" openid ", &["openid"]),
            (
                "api:read urn:x:y!#$%&'()*+,-./",
                &["api:read", "urn:x:y!#$%&'()*+,-./"],
            ),
            ("a[b]c^_`{|}~", &["a[b]c^_`{|}~"]),
            ("OpenID openid", &["OpenID", "openid"]),
        ];
        for (raw, expected) in cases {
            let parsed = set(raw);
            assert_eq!(parsed.iter().collect::<Vec<_>>(), expected, "{raw:?}");
        }
    }

    #[test]
    fn malformed_scope_parameters_are_refused() {
        let cases = [
            ("empty", String::new(), ErrorCode::InvalidScope),
            ("only spaces", "   ".to_owned(), ErrorCode::InvalidScope),
            (
                "a tab",
                "openid\tprofile".to_owned(),
                ErrorCode::InvalidScope,
            ),
            (
                "a newline",
                "openid\nprofile".to_owned(),
                ErrorCode::InvalidScope,
            ),
            (
                "a double quote",
                "open\"id".to_owned(),
                ErrorCode::InvalidScope,
            ),
            (
                "a backslash",
                "open\\id".to_owned(),
                ErrorCode::InvalidScope,
            ),
            (
                "a control character",
                "open\u{1}id".to_owned(),
                ErrorCode::InvalidScope,
            ),
            ("DEL", "open\u{7f}id".to_owned(), ErrorCode::InvalidScope),
            ("non-ASCII", "caf\u{e9}".to_owned(), ErrorCode::InvalidScope),
            (
                "a long run ending in a bad byte",
                format!("{}\"", "a".repeat(2000)),
                ErrorCode::InvalidScope,
            ),
            (
                "over 2048 bytes",
                "a".repeat(2049),
                ErrorCode::InvalidRequest,
            ),
            (
                "over 64 tokens",
                vec!["s"; 65].join(" "),
                ErrorCode::InvalidRequest,
            ),
        ];
        for (case, raw, code) in cases {
            let err = ScopeSet::parse(&raw).unwrap_err();
            assert_eq!(err.code, code, "{case}");
        }
    }

    #[test]
    fn sets_compare_contain_and_intersect_as_sets() {
        assert_eq!(set("openid email"), set("email openid"));
        assert_ne!(set("openid email"), set("openid"));
        assert!(set("openid").is_subset_of(&set("openid email")));
        assert!(!set("openid admin").is_subset_of(&set("openid email")));
        assert!(ScopeSet::empty().is_subset_of(&set("openid")));
        assert!(set("openid profile").contains("profile"));
        assert!(!set("openid profile").contains("Profile"));
        let both = set("email openid roles").intersection(&set("openid email profile"));
        assert_eq!(both.to_string(), "email openid");
        assert!(set("a").intersection(&set("b")).is_empty());
    }

    #[test]
    fn a_set_prints_space_joined_in_request_order() {
        assert_eq!(set("profile openid  profile").to_string(), "profile openid");
        assert_eq!(set("openid email").to_vec(), vec!["openid", "email"]);
    }

    #[test]
    fn a_set_survives_storage_as_json() {
        let json = serde_json::to_string(&set("openid email")).unwrap();
        assert_eq!(json, "\"openid email\"");
        assert_eq!(
            serde_json::from_str::<ScopeSet>(&json).unwrap(),
            set("openid email")
        );
        assert!(serde_json::from_str::<ScopeSet>("\"\"").unwrap().is_empty());
        assert!(serde_json::from_str::<ScopeSet>("\"a\\\"b\"").is_err());
    }

    #[test]
    fn clients_may_request_standard_scopes_and_their_registered_ones_only() {
        let registered = vec!["api:read".to_owned(), "roles".to_owned()];
        let cases = [
            ("openid", true),
            ("openid profile email offline_access", true),
            ("openid api:read", true),
            ("openid roles", true),
            ("api:read", true),
            ("openid admin:all", false),
            ("api:write", false),
            ("API:READ", false),
            ("OPENID", false),
        ];
        for (raw, allowed) in cases {
            let result = check_requested(&set(raw), &registered);
            assert_eq!(result.is_ok(), allowed, "{raw}");
            if let Err(e) = result {
                assert_eq!(e.code, ErrorCode::InvalidScope, "{raw}");
                assert!(!e.description.contains("admin"), "{raw} echoed");
            }
        }
        assert!(
            check_requested(&set("openid roles"), &[]).is_err(),
            "roles is reserved, not free for all"
        );
    }

    #[test]
    fn scopes_are_described_in_plain_language() {
        let cases = [
            ("openid", "Sign you in and know who you are"),
            ("profile", "See your name and username"),
            ("email", "See your email address"),
            (
                "offline_access",
                "Stay connected when you are not using the app",
            ),
            ("roles", "See your roles"),
            ("api:read", "Access: api:read"),
        ];
        for (scope, text) in cases {
            assert_eq!(describe(scope), text, "{scope}");
        }
    }

    #[test]
    fn tokens_from_storage_are_checked_too() {
        assert!(ScopeSet::from_tokens(["openid", "email", "openid"]).is_ok_and(|s| s.len() == 2));
        assert!(ScopeSet::from_tokens(["open id"]).is_err());
        assert!(ScopeSet::from_tokens([""]).is_err());
        assert!(ScopeSet::from_tokens(Vec::<String>::new()).is_ok_and(|s| s.is_empty()));
    }
}
